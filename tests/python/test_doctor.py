"""`signalr doctor URL` (tools/cli/doctor.c) against test-server endpoints that each show one
failure of the troubleshooting guide: a healthy hub, WebSockets not offered, a 503 on the
WebSocket upgrade, 401 / 403, a 307 to https, a wrong hub path (404), several servers without
sticky sessions (a 404 after negotiate), a self-signed certificate, a refused port, a name that
does not resolve, a keep-alive interval too long for the client's server timeout, negotiate
redirects. Checks the report's lines, the exit status and the --json report."""

import json
import subprocess

import pytest

LIMIT = 90  # seconds one doctor run may take (each run makes up to ~10 connections)
PASS, FAIL, SKIP = "\u2714", "\u2718", "\u2013"
QUICK = ["--keepalive-wait", "0", "--sticky", "1", "--timeout", "10000"]


def doctor(cli, url, *args):
    return subprocess.run([cli, "doctor", url, *args], capture_output=True, text=True, timeout=LIMIT)


def line(report, name):
    """The report's line for one check: (mark, text), and the hint line after it (or "")."""
    lines = report.splitlines()
    for i, l in enumerate(lines):
        mark, _, rest = l.partition(" ")
        if rest.startswith(name + " ") and mark in (PASS, FAIL, SKIP):
            hint = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].strip().startswith("hint:") else ""
            return mark, rest[len(name):].strip(), hint
    raise AssertionError(f"no line for {name!r} in:\n{report}")


def checks(r):
    report = json.loads(r.stdout)
    return report, {c["name"]: c for c in report["checks"]}


# ------------------------------------------------------------------ usage (no server)

def test_help_exits_0(cli):
    r = subprocess.run([cli, "doctor", "--help"], capture_output=True, text=True, timeout=LIMIT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: signalr doctor URL")
    assert "--json" in r.stdout and "--keepalive-wait" in r.stdout


@pytest.mark.parametrize("args,text", [
    ([], "doctor needs a URL"),
    (["ftp://127.0.0.1/hub"], "is not an http://"),
    (["http://127.0.0.1:1/hub", "--bogus"], "unknown flag --bogus"),
    (["http://127.0.0.1:1/hub", "--sticky", "abc"], "--sticky wants a number"),
    (["http://127.0.0.1:1/hub", "--option", "no_such_option=1"], "no_such_option"),
    (["http://127.0.0.1:1/hub", "--timeout"], "--timeout needs a value"),
])
def test_bad_usage_exits_2(cli, args, text):
    r = subprocess.run([cli, "doctor", *args], capture_output=True, text=True, timeout=LIMIT)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert text in r.stderr


def test_nothing_listening(cli):
    r = doctor(cli, "http://127.0.0.1:1/hubs/test", *QUICK)
    assert r.returncode == 1, r.stdout + r.stderr
    assert line(r.stdout, "DNS")[0] == PASS
    mark, text, hint = line(r.stdout, "TCP")
    assert mark == FAIL and "Connection refused" in text and "SIGNALR_ECONNREFUSED" in text
    assert "Nothing is listening" in hint
    assert line(r.stdout, "negotiate") == (SKIP, "not reached", "")


def test_name_that_does_not_resolve(cli):
    r = doctor(cli, "http://no-such-host.invalid/hubs/test", *QUICK)
    assert r.returncode == 1
    mark, text, hint = line(r.stdout, "DNS")
    assert mark == FAIL and "no-such-host.invalid does not resolve" in text
    assert "host name" in hint
    assert line(r.stdout, "TCP")[0] == SKIP


# ------------------------------------------------------------------ against the test server

def test_healthy_hub(cli, signalr_server):
    # The short-timeout hub pings every second (and drops a client silent for 3 s: the client
    # pings every second too), so the keep-alive is measured in about 3 s.
    r = doctor(cli, signalr_server.http + "/hubs/short-timeout", "--keepalive-wait", "8000",
               "--option", "keep_alive_interval_ms=1000")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert line(out, "TLS")[0] == SKIP
    mark, text, _ = line(out, "negotiate")
    assert mark == PASS and "HTTP 200, negotiateVersion 1, connection token present" in text
    mark, text, _ = line(out, "transports offered")
    assert text == "WebSockets (Text, Binary), ServerSentEvents (Text), LongPolling (Text, Binary)"
    assert line(out, "stateful reconnect")[0] == SKIP
    for cell in ["WebSockets/json", "WebSockets/messagepack", "ServerSentEvents/json", "LongPolling/json",
                 "LongPolling/messagepack"]:
        mark, text, _ = line(out, cell)
        assert mark == PASS and "connected and handshaken" in text and "round trip" in text, (cell, out)
    assert line(out, "ServerSentEvents/messagepack")[0] == SKIP
    mark, text, _ = line(out, "keep-alive")
    assert mark == PASS and "the server pings every" in text, out
    gap = int(text.split("every ")[1].split(" ms")[0])
    assert 700 <= gap <= 3000, text  # ASP.NET Core checks the interval on a 1 s tick
    mark, text, _ = line(out, "sticky sessions")
    assert mark == PASS and "3 of 3" in text
    assert out.rstrip().endswith("result: the hub is usable")


def test_healthy_hub_json(cli, signalr_server):
    r = doctor(cli, signalr_server.http + "/hubs/stateful", "--json", *QUICK)
    assert r.returncode == 0, r.stdout + r.stderr
    report, by = checks(r)
    assert report["usable"] is True and report["problems"] == 0
    assert by["negotiate"]["status"] == "pass"
    assert by["stateful reconnect"]["status"] == "pass"
    assert by["WebSockets/json"]["round_trip_ms"] > 0
    assert by["ServerSentEvents/messagepack"]["status"] == "skip"
    diag = report["diagnostics"]
    assert diag["phase"] == "connected" and diag["negotiate"]["status"] == 200
    assert diag["negotiate"]["response"]["connectionToken"] == "(present)"  # no secret in the report
    assert diag["transport"] == "WebSockets" and diag["stateful_reconnect"] is True


def test_websockets_not_offered(cli, signalr_server):
    r = doctor(cli, signalr_server.http + "/hubs/no-websockets", *QUICK)
    assert r.returncode == 0, r.stdout + r.stderr  # usable over SSE and Long Polling
    assert line(r.stdout, "WebSockets/json") == (SKIP, "not offered by the server", "")
    assert line(r.stdout, "ServerSentEvents/json")[0] == PASS
    # Asking for WebSockets only: negotiate says none of the client's transports is offered.
    r = doctor(cli, signalr_server.http + "/hubs/no-websockets", "--transport", "websockets", *QUICK)
    assert r.returncode == 1
    mark, text, hint = line(r.stdout, "negotiate")
    assert mark == FAIL and "SIGNALR_EUNSUPPORTED" in text and "ServerSentEvents" in text
    assert hint


def test_websocket_upgrade_refused_503(cli, signalr_server):
    r = doctor(cli, signalr_server.http + "/hubs/ws-rejected", *QUICK)
    assert r.returncode == 1, r.stdout
    mark, text, hint = line(r.stdout, "WebSockets/json")
    assert mark == FAIL and text.startswith("HTTP 503") and "[failed at: transport]" in text
    assert "WebSockets are probably not enabled" in hint
    assert line(r.stdout, "LongPolling/json")[0] == PASS
    assert line(r.stdout, "sticky sessions")[0] == PASS  # a transport that works is used for it
    _, by = checks(doctor(cli, signalr_server.http + "/hubs/ws-rejected", "--json", *QUICK))
    assert by["WebSockets/messagepack"]["http_status"] == 503
    assert by["WebSockets/messagepack"]["status"] == "fail"


def test_auth_required_401_then_token(cli, signalr_server):
    url = signalr_server.http + "/hubs/auth"
    r = doctor(cli, url, *QUICK)
    assert r.returncode == 1
    mark, text, hint = line(r.stdout, "negotiate")
    assert mark == FAIL and text.startswith("HTTP 401") and "SIGNALR_EAUTH" in text
    assert "access token" in hint
    assert line(r.stdout, "transports")[0] == SKIP
    import urllib.request
    token = urllib.request.urlopen(signalr_server.http + "/token?user=doctor", timeout=10).read().decode()
    r = doctor(cli, url, "--token", token, *QUICK)
    assert r.returncode == 0, r.stdout + r.stderr
    # Authenticated without the role the hub wants: 403.
    r = doctor(cli, signalr_server.http + "/hubs/doctor-forbidden", "--token", token, *QUICK)
    assert r.returncode == 1
    mark, text, hint = line(r.stdout, "negotiate")
    assert mark == FAIL and text.startswith("HTTP 403") and "not authorized" in hint


def test_http_redirected_to_https_307(cli, signalr_server):
    r = doctor(cli, signalr_server.http + "/https-redirect/hubs/test", *QUICK)
    assert r.returncode == 1
    mark, text, hint = line(r.stdout, "negotiate")
    assert mark == FAIL and text.startswith("HTTP 307") and "https://" in hint


def test_wrong_hub_path_404(cli, signalr_server):
    r = doctor(cli, signalr_server.http + "/hubs/nosuchhub", "--json", *QUICK)
    assert r.returncode == 1
    _, by = checks(r)
    assert by["negotiate"]["http_status"] == 404 and "hub path" in by["negotiate"]["hint"]


def test_several_servers_without_sticky_sessions(cli, signalr_server):
    r = doctor(cli, signalr_server.http + "/hubs/doctor-nosticky", *QUICK)
    assert r.returncode == 1
    assert line(r.stdout, "negotiate")[0] == PASS
    mark, text, hint = line(r.stdout, "WebSockets/json")
    assert mark == FAIL and text.startswith("HTTP 404") and "SIGNALR_ENOTFOUND" in text
    assert "sticky sessions" in hint
    mark, text, hint = line(r.stdout, "sticky sessions")
    assert mark == FAIL and "after a successful negotiate got HTTP 404" in text and "sticky sessions" in hint


def test_negotiate_redirects_are_counted(cli, signalr_server):
    r = doctor(cli, signalr_server.http + "/redirect/chain/3", *QUICK)
    assert r.returncode == 0, r.stdout + r.stderr
    mark, text, _ = line(r.stdout, "negotiate")
    assert mark == PASS and "3 redirects followed" in text and "/hubs/test?redirects=3" in text


def test_self_signed_certificate(cli, signalr_server):
    url = signalr_server.https + "/hubs/test"
    r = doctor(cli, url, *QUICK)
    assert r.returncode == 1
    mark, text, hint = line(r.stdout, "TLS")
    assert mark == FAIL and "SIGNALR_ETLS" in text and "tls_ca_file" in hint
    assert line(r.stdout, "negotiate")[0] == SKIP
    r = doctor(cli, url, "--ca-file", signalr_server.cert, *QUICK)
    assert r.returncode == 0, r.stdout + r.stderr
    assert line(r.stdout, "TLS") == (PASS, "handshake completed, certificate verified", "")


def test_keepalive_longer_than_half_the_server_timeout(cli, signalr_server):
    r = doctor(cli, signalr_server.http + "/hubs/short-timeout", "--transport", "websockets", "--protocol", "json",
               "--sticky", "0", "--keepalive-wait", "8000", "--option", "keep_alive_interval_ms=500",
               "--option", "server_timeout_ms=1900")
    assert r.returncode == 1, r.stdout + r.stderr
    mark, text, hint = line(r.stdout, "keep-alive")
    # The server pings every 1 to 2 s here (a 1 s interval checked on a 1 s tick, so the gap
    # depends on how the two line up): either is more than half of 1.9 s.
    assert mark == FAIL and "KeepAliveInterval" in hint, r.stdout


@pytest.mark.parametrize("fault,text", [("wrong_name", "is not valid for this host name"),
                                        ("expired", "has expired or is not valid yet")])
def test_certificate_faults(cli, signalr_server, fault, text):
    import urllib.request
    with urllib.request.urlopen(signalr_server.http + "/doctor/tls", timeout=10) as resp:
        tls = json.load(resp)
    r = doctor(cli, tls[fault] + "/hubs/test", "--ca-file", tls[fault + "_cert"], *QUICK)
    assert r.returncode == 1
    mark, line_text, hint = line(r.stdout, "TLS")
    assert mark == FAIL and text in line_text and "SIGNALR_ETLS" in line_text, r.stdout
    assert hint


def test_https_to_a_plain_http_port(cli, signalr_server):
    r = doctor(cli, "https://" + signalr_server.http.split("://", 1)[1] + "/hubs/test", *QUICK)
    assert r.returncode == 1
    mark, text, hint = line(r.stdout, "TLS")
    assert mark == FAIL and "does not speak TLS" in text and "http://" in hint


@pytest.mark.parametrize("status,hint", [(405, "HTTP method"), (413, "access token"), (500, "server's log"),
                                         (403, "not authorized")])
def test_negotiate_statuses_of_the_guide(cli, signalr_server, status, hint):
    r = doctor(cli, signalr_server.http + f"/status/{status}", "--json", *QUICK)
    assert r.returncode == 1
    _, by = checks(r)
    assert by["negotiate"]["status"] == "fail" and by["negotiate"]["http_status"] == status
    assert hint in by["negotiate"]["hint"], by["negotiate"]


def test_skip_negotiation_checks_the_websocket_only(cli, signalr_server):
    r = doctor(cli, signalr_server.http + "/hubs/test", "--skip-negotiation", "--transport", "websockets", *QUICK)
    assert r.returncode == 0, r.stdout + r.stderr
    assert line(r.stdout, "negotiate") == (SKIP, "skipped (skip_negotiation)", "")
    assert line(r.stdout, "WebSockets/json")[0] == PASS
    assert line(r.stdout, "LongPolling/json")[0] == SKIP
    assert line(r.stdout, "sticky sessions")[0] == SKIP


def test_redirect_with_an_access_token_and_a_real_echo(cli, signalr_server):
    # Azure SignalR-style: negotiate answers url + accessToken for an auth-only hub; every
    # probe follows it. --echo times a hub method of the user's choice instead.
    r = doctor(cli, signalr_server.http + "/redirect/token", "--echo", "Echo", "--json", *QUICK)
    assert r.returncode == 0, r.stdout + r.stderr
    report, by = checks(r)
    assert "1 redirect followed" in by["negotiate"]["detail"]
    assert report["diagnostics"]["negotiate"]["response"]["connectionToken"] == "(present)"
    assert "error reply" not in by["WebSockets/json"]["detail"] and by["WebSockets/json"]["round_trip_ms"] > 0
    # A method that fails is a failed check, not a round trip.
    r = doctor(cli, signalr_server.http + "/hubs/test", "--echo", "NoSuchMethod", "--transport", "websockets",
               "--protocol", "json", *QUICK)
    assert r.returncode == 1
    mark, text, _ = line(r.stdout, "WebSockets/json")
    assert mark == FAIL and "the invocation failed" in text and "SIGNALR_EHUB" in text
