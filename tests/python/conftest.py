"""pytest fixtures for the SignalR interop tests.

`signalr_server` (session scope) builds tests/server if needed (dotnet publish into
$SIGNALR_BUILD_DIR/tests/server-bin, default <repo>/build) and starts it; the server's
parent-pid watchdog is this pytest process, so it never outlives the run.
If dotnet is missing the fixture skips loudly, or fails when SIGNALR_REQUIRE_SERVER=1.
"""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "harness"))

import testserver  # noqa: E402


def _build_dir():
    return Path(os.environ.get("SIGNALR_BUILD_DIR", str(REPO_ROOT / "build"))).resolve()


def _skip_or_fail(reason):
    msg = f"*** SKIPPING interop tests: {reason} ***"
    sys.stderr.write("\n" + "*" * 78 + "\n" + msg + "\n" + "*" * 78 + "\n")
    if testserver.require_server():
        pytest.fail(f"{reason} (SIGNALR_REQUIRE_SERVER=1)", pytrace=False)
    pytest.skip(msg)


def _built_server(build_dir):
    """Publishes tests/server into build_dir/tests/server-bin if it is not up to date; returns
    that directory (skips or fails the test when that cannot be done)."""
    outdir = build_dir / "tests" / "server-bin"
    try:
        testserver.build(outdir)
    except testserver.DotnetMissing as e:
        _skip_or_fail(str(e))
    except testserver.ServerError as e:
        pytest.fail(f"building the SignalR test server failed: {e}", pytrace=False)
    return outdir


def _running(srv, what):
    """For a fixture's `yield from`: starts srv (a TestServer or a cluster), yields it, stops it."""
    try:
        srv.start()
    except testserver.ServerError as e:
        pytest.fail(f"starting {what} failed: {e}", pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def signalr_server():
    if testserver.find_dotnet() is None:
        _skip_or_fail("dotnet not found")
    build_dir = _build_dir()
    outdir = _built_server(build_dir)
    yield from _running(testserver.TestServer(outdir, build_dir / "tests" / "server-pytest.log"),
                        "the SignalR test server")


@pytest.fixture(scope="session")
def cli():
    """The path of the built `signalr` command-line tool ($SIGNALR_BUILD_DIR/tools/signalr), for
    the tests that run it as a user does (test_cli, test_bench, test_doctor, ...)."""
    exe = _build_dir() / "tools" / "signalr"
    if not exe.exists():
        _skip_or_fail(f"the signalr CLI is not built ({exe})")
    return str(exe)


# ------------------------------------------------------------------ the Python binding
#
# The tests of the `signalr` package (test_binding_*.py) import the installed package
# (tools/test.sh installs ./python into a venv first). Without it they skip loudly.

import asyncio  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402

VECTORS_DIR = REPO_ROOT / "tests" / "vectors"


def _import_signalr():
    try:
        import signalr  # noqa: F401
        import signalr.aio  # noqa: F401
        return signalr
    except ImportError as e:
        msg = (f"*** SKIPPING Python binding tests: cannot import signalr ({e}); "
               "install it with `pip install ./python` ***")
        sys.stderr.write("\n" + msg + "\n")
        if os.environ.get("SIGNALR_REQUIRE_BINDING", "") not in ("", "0"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg, allow_module_level=True)


TRANSPORTS = [
    pytest.param("websockets", id="ws"),
    pytest.param("serversentevents", id="sse"),
    pytest.param("longpolling", id="lp"),
]
TRANSPORT_NAMES = {"websockets": "WebSockets", "serversentevents": "ServerSentEvents",
                   "longpolling": "LongPolling"}
PROTOCOLS = ["json", "messagepack"]


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


@pytest.fixture(params=PROTOCOLS)
def protocol(request, signalr_server):
    if (request.param == "messagepack" and "transport" in request.fixturenames
            and request.getfixturevalue("transport") == "serversentevents"):
        # Not a gap: SSE carries text only (test_sse_refuses_messagepack checks the error).
        pytest.skip("Server-Sent Events cannot carry the binary MessagePack protocol")
    return request.param


def run_async(fn):
    """Runs an async test function with asyncio.run (no pytest-asyncio needed), 60 s at most."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))
    return wrapper


def poll(pred, timeout, interval=0.01):
    """Calls pred every `interval` s until it is true or `timeout` s have passed; returns its
    last value (for the binding tests' wait_for: they wait on what the hub reports, which no
    event announces)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def stop_and_close(conns, timeout):
    """A test's teardown of the connections it made: stop each (an error is ignored: the test may
    have ended it already) and free it."""
    for conn in conns:
        try:
            conn.stop(timeout=timeout)
        except Exception:
            pass
        conn.close()


def load_vectors(name):
    with open(VECTORS_DIR / name, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture
def signalr_logs(caplog):
    """caplog capturing the `signalr` logger at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="signalr")
    return caplog


# ------------------------------------------------------------------ the fault proxy
#
# tests/faults' TCP proxy as a process (build/tests/faults/fault_proxy, or
# $SIGNALR_FAULT_PROXY): between a client and the test server, steered by one command per line
# (see tests/faults/fault_proxy_main.c); each answer comes once the command is in effect.

import subprocess  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402


class FaultProxy:
    def __init__(self, exe, target_port):
        self.proc = subprocess.Popen([str(exe), "127.0.0.1", str(target_port)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer.startswith("error"):
            raise RuntimeError(f"fault proxy: {line}: {answer}")
        return answer

    def stall(self, on=True):
        self.command("stall on" if on else "stall off")

    def stats(self):
        return {k: int(v) for k, v in (kv.split("=") for kv in self.command("stats").split())}

    def delivered_to_client(self):
        return self.stats()["to_client"]

    def delivery_settles(self, after_bytes=0, quiet=0.5, within=20.0):
        """Waits (without touching any client) until the bytes delivered to the client have
        passed `after_bytes` and then not grown for `quiet` seconds: the client stopped
        reading. Returns the bytes delivered, or None if that did not happen `within` s."""
        deadline = time.monotonic() + within
        last, still_since = self.delivered_to_client(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = self.delivered_to_client()
            if now != last:
                last, still_since = now, time.monotonic()
            elif now > after_bytes and time.monotonic() - still_since >= quiet:
                return now
        return None

    def close(self):
        try:
            self.proc.stdin.close()  # end of input: the proxy stops
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def _fault_proxy_exe():
    exe = os.environ.get("SIGNALR_FAULT_PROXY")
    return Path(exe) if exe else _build_dir() / "tests" / "faults" / "fault_proxy"


@pytest.fixture
def fault_proxy(signalr_server):
    """A FaultProxy in front of the test server's HTTP port (`.url` replaces its base URL)."""
    exe = _fault_proxy_exe()
    if not exe.is_file():
        _skip_or_fail(f"the fault proxy {exe} is not built (cmake --build build --target fault_proxy)")
    proxy = FaultProxy(exe, urlsplit(signalr_server.http).port)
    try:
        yield proxy
    finally:
        proxy.close()


def rss_kb():
    """This process's resident set (VmRSS), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")
