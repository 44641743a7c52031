"""The `signalr` command-line tool (tools/cli), run as a user runs it: exit statuses, help,
validated numbers, call timeouts, listen's wall-time limit and its failure when the server ends
the connection, Ctrl-C, --option. Against the real test server."""

import json
import os
import signal
import subprocess
import time

import pytest

LIMIT = 30  # seconds any one run may take


@pytest.fixture
def hub(signalr_server):
    return signalr_server.http + "/hubs/test"


def run(cli, *args, timeout=LIMIT):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------ usage (no server)

@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], ["--version"]])
def test_help_and_version_exit_0(cli, args):
    r = run(cli, *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout


@pytest.mark.parametrize("command", ["call", "send", "stream", "listen"])
def test_help_per_command(cli, command):
    r = run(cli, command, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: signalr {command}")
    assert "--timeout" in r.stdout and "--option" in r.stdout


def test_unknown_command_says_so(cli):
    r = run(cli, "cal", "http://127.0.0.1:1/hub", "Echo")
    assert r.returncode == 2
    assert "unknown command 'cal'" in r.stderr


@pytest.mark.parametrize("flag,value", [("--timeout", "abc"), ("--timeout", "-5"), ("--timeout", "10x"),
                                        ("--for", "1.5"), ("--timeout", "")])
def test_numbers_are_validated(cli, flag, value):
    r = run(cli, "listen", "http://127.0.0.1:1/hub", "--on", "X", flag, value)
    assert r.returncode == 2
    assert f"{flag} wants a number of milliseconds" in r.stderr


@pytest.mark.parametrize("args,text", [
    (["call", "http://127.0.0.1:1/hub"], "call needs a METHOD"),
    (["listen", "http://127.0.0.1:1/hub"], "at least one --on"),
    (["call", "http://127.0.0.1:1/hub", "Echo", "--bogus"], "unknown flag --bogus"),
    (["call", "http://127.0.0.1:1/hub", "Echo", "--timeout"], "--timeout needs a value"),
    (["call", "http://127.0.0.1:1/hub", "Echo", "--option", "novalue"], "--option wants KEY=VALUE"),
    (["call", "http://127.0.0.1:1/hub", "Echo", "--option", "keep_alive_interval_ms=abc"], "keep_alive_interval_ms"),
    (["call", "http://127.0.0.1:1/hub", "Echo", "--option", "no_such_option=1"], "no_such_option"),
    (["call", "ftp://127.0.0.1/hub", "Echo"], "url"),
])
def test_bad_usage_exits_2_with_the_reason(cli, args, text):
    r = run(cli, *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert text in r.stderr


# ------------------------------------------------------------------ against the hub

def test_call_prints_the_result(cli, hub):
    r = run(cli, "call", hub, "Echo", '"hi"')
    assert (r.returncode, r.stdout) == (0, '"hi"\n'), r.stderr


def test_call_reports_the_hubs_error(cli, hub):
    r = run(cli, "call", hub, "NoSuchMethod")
    assert r.returncode == 1
    assert "Failed to invoke 'NoSuchMethod'" in r.stderr and "SIGNALR_EHUB" in r.stderr


def test_call_has_a_timeout(cli, hub):
    started = time.monotonic()
    r = run(cli, "call", hub, "DelayedEcho", "20000", '"late"', "--timeout", "500")
    assert r.returncode == 1
    assert "no result within 500 ms" in r.stderr
    assert time.monotonic() - started < 15  # not the 20 s the method takes


def test_option_reaches_the_builder(cli, hub):
    r = run(cli, "call", hub, "GetTransport", "--option", "transports=longpolling")
    assert (r.returncode, r.stdout.strip()) == (0, '"LongPolling"'), r.stderr


def test_send_and_stream(cli, hub):
    assert run(cli, "send", hub, "Echo", '"x"').returncode == 0
    r = run(cli, "stream", hub, "Counter", "3", "1")
    assert (r.returncode, r.stdout.split()) == (0, ["0", "1", "2"]), r.stderr


def test_listen_prints_calls_and_for_is_wall_time(cli, hub):
    # A flood the listener cannot finish in 1 s: --for ends it by the clock, not by poll count.
    total = 3_000_000
    started = time.monotonic()
    r = run(cli, "listen", hub, "--on", "Numbered", "--invoke", "SendNumbered", str(total), "--for", "1000")
    took = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert json.loads(lines[0]) == {"method": "Numbered", "arguments": [1]}
    assert took >= 1.0
    assert len(lines) < total  # ended before the flood did


@pytest.mark.parametrize("method,args,text", [
    ("CloseWithError", ['"bye"', "false"], "The server closed the connection with the following error: bye"),
    ("AbortConnection", [], "the server closed the connection"),
])
def test_listen_fails_when_the_server_ends_the_connection(cli, hub, method, args, text):
    r = run(cli, "listen", hub, "--on", "X", "--invoke", method, *args)
    assert r.returncode == 1
    assert text in r.stderr


def test_ctrl_c_exits_130(cli, hub):
    p = subprocess.Popen([cli, "listen", hub, "--on", "Callback", "--invoke", "Callback", '"ready"'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()  # connected and listening: the hub's call came back
        assert json.loads(first) == {"method": "Callback", "arguments": ["ready"]}
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=LIMIT)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130
    assert "interrupted" in err
