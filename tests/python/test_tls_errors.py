"""TLS failures through the public API (the `signalr` CLI's call, which prints the error's text,
code and hint), against the test server's listeners with one certificate fault each
(tests/server/DoctorEndpoints.cs, GET /doctor/tls): an untrusted issuer (with and without a CA
file), a certificate for another host name, an expired one, https:// to the plain-HTTP port, a CA
file that does not exist. Negotiate, Server-Sent Events and Long Polling go through libcurl; a
WebSocket with skip_negotiation through libwebsockets, which says less (only whether a
certificate was rejected): both must read as words, never as OpenSSL's 'error:00000001'."""

import json
import subprocess
import urllib.request

import pytest

LIMIT = 30


@pytest.fixture(scope="module")
def tls(signalr_server):
    with urllib.request.urlopen(signalr_server.http + "/doctor/tls", timeout=10) as r:
        t = json.load(r)
    t["untrusted"] = signalr_server.https
    t["good_cert"] = signalr_server.cert
    t["plain"] = "https://" + signalr_server.http.split("://", 1)[1]
    return t


def call(cli, url, *args):
    r = subprocess.run([cli, "call", url + "/hubs/test", "Echo", '"x"', "--timeout", "10000", *args],
                       capture_output=True, text=True, timeout=LIMIT)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "SIGNALR_ETLS" in r.stderr, r.stderr
    assert "error:00000001" not in r.stderr, r.stderr
    hint = [l for l in r.stderr.splitlines() if l.strip().startswith("hint:")]
    return r.stderr, hint[0] if hint else ""


CASES = [
    # name, url key, CA file key, curl text, hint text, libwebsockets text
    ("untrusted", "untrusted", None, "is not trusted by this system's CA store", "set tls_ca_file",
     "certificate was rejected"),
    ("untrusted-by-the-ca-file", "untrusted", "wrong_name_cert", "is not trusted by the CA file given",
     "set tls_ca_file", "certificate was rejected"),
    ("hostname", "wrong_name", "wrong_name_cert", "is not valid for this host name", "subjectAltName",
     "certificate was rejected"),
    ("expired", "expired", "expired_cert", "has expired or is not valid yet", "renew it",
     "certificate was rejected"),
    ("not-tls", "plain", None, "does not speak TLS", "use http://", "does not speak TLS"),
]


@pytest.mark.parametrize("transport", ["websockets", "serversentevents", "longpolling"])
@pytest.mark.parametrize("name,url,ca,text,hint,_", CASES, ids=[c[0] for c in CASES])
def test_tls_failures_through_negotiate(cli, tls, transport, name, url, ca, text, hint, _):
    args = ["--transport", transport] + (["--ca-file", tls[ca]] if ca else [])
    err, h = call(cli, tls[url], *args)
    assert text in err, err
    assert hint in h, err
    if name == "hostname":
        assert "tls_ca_file" not in h  # a CA file does not fix a name


@pytest.mark.parametrize("name,url,ca,_t,_h,text", CASES, ids=[c[0] for c in CASES])
def test_tls_failures_of_a_websocket_without_negotiate(cli, tls, name, url, ca, _t, _h, text):
    wss = "wss://" + tls[url].split("://", 1)[1]
    args = ["--skip-negotiation", "--transport", "websockets"] + (["--ca-file", tls[ca]] if ca else [])
    err, h = call(cli, wss, *args)
    assert text in err, err
    assert h, err


def test_ca_file_that_does_not_exist(cli, tls):
    err, h = call(cli, tls["untrusted"], "--ca-file", "/nonexistent/ca.pem")
    assert "could not be used" in err and "/nonexistent/ca.pem" in err, err
    assert "PEM" in h


def test_each_fault_is_fixed_by_its_remedy(cli, tls):
    """The listeners are otherwise sound: with the right CA file the main HTTPS port works."""
    r = subprocess.run([cli, "call", tls["untrusted"] + "/hubs/test", "Echo", '"x"', "--ca-file", tls["good_cert"]],
                       capture_output=True, text=True, timeout=LIMIT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == '"x"'
