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


@pytest.fixture(scope="session")
def signalr_server():
    if testserver.find_dotnet() is None:
        _skip_or_fail("dotnet not found")
    build_dir = _build_dir()
    outdir = build_dir / "tests" / "server-bin"
    log = build_dir / "tests" / "server-pytest.log"
    try:
        testserver.build(outdir)
    except testserver.DotnetMissing as e:
        _skip_or_fail(str(e))
    except testserver.ServerError as e:
        pytest.fail(f"building the SignalR test server failed: {e}", pytrace=False)
    srv = testserver.TestServer(outdir, log)
    try:
        srv.start()
    except testserver.ServerError as e:
        pytest.fail(f"starting the SignalR test server failed: {e}", pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


# ------------------------------------------------------------------ the Python binding
#
# The tests of the `signalr` package (test_binding_*.py) import the installed package
# (tools/test.sh installs ./python into a venv first). Without it they skip loudly.

import asyncio  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402

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
    if request.param == "messagepack" and not signalr_server.messagepack:
        pytest.skip("the test server has no MessagePack hub protocol (/info says messagepack: false)")
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


def load_vectors(name):
    with open(VECTORS_DIR / name, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture
def signalr_logs(caplog):
    """caplog capturing the `signalr` logger at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="signalr")
    return caplog
