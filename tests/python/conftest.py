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
