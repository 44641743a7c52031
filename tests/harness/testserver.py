#!/usr/bin/env python3
"""Build, start and stop the ASP.NET Core SignalR test server (tests/server).

Standard library only (Debian python3.11).

Library use::

    from testserver import build, TestServer
    build(outdir)                       # dotnet publish if outdir is stale
    with TestServer(outdir, "server.log") as srv:
        print(srv.http, srv.https, srv.cert, srv.messagepack, srv.info)

Command line (used by CTest, see tests/server/server.cmake)::

    testserver.py build --build-dir DIR
    testserver.py start --build-dir DIR --state STATE.json --log LOG [--parent-pid PID] [--port N] [--https-port N]
    testserver.py stop  --state STATE.json
    testserver.py env   --state STATE.json     # SIGNALR_TEST_SERVER=... lines
    testserver.py run   --build-dir DIR [--log LOG] [--port N] [--https-port N]   # foreground

DIR is the directory the server is published into (it holds SignalRTestServer.dll);
CMake uses <build>/tests/server-bin. Intermediate files go to DIR + "-obj".

If `dotnet` is not installed, `start` prints a loud SKIPPING message, writes
{"skipped": "<reason>"} to the state file and exits 0 -- unless the environment has
SIGNALR_REQUIRE_SERVER=1, in which case it exits 1.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_DIR = REPO_ROOT / "tests" / "server"
DLL_NAME = "SignalRTestServer.dll"
STAMP_NAME = ".signalr-build-stamp"
SOURCE_SUFFIXES = {".cs", ".csproj", ".props", ".targets", ".json"}
SKIP_DIRS = {".artifacts", "bin", "obj"}


class ServerError(RuntimeError):
    """Building or starting the server failed."""


class DotnetMissing(ServerError):
    """The dotnet host is not installed."""


def require_server():
    return os.environ.get("SIGNALR_REQUIRE_SERVER", "") not in ("", "0", "false", "no")


def find_dotnet():
    """Path of the dotnet host, or None. $DOTNET overrides the PATH lookup."""
    env = os.environ.get("DOTNET")
    if env and Path(env).is_file():
        return env
    found = shutil.which("dotnet")
    if found:
        return found
    for cand in ("/usr/share/dotnet/dotnet", "/usr/lib/dotnet/dotnet", str(Path.home() / ".dotnet" / "dotnet")):
        if Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def server_sources():
    out = []
    for root, dirs, files in os.walk(SERVER_DIR):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for f in files:
            if Path(f).suffix in SOURCE_SUFFIXES:
                out.append(Path(root) / f)
    return out


def is_up_to_date(outdir):
    stamp = Path(outdir) / STAMP_NAME
    dll = Path(outdir) / DLL_NAME
    if not stamp.is_file() or not dll.is_file():
        return False
    newest = max((p.stat().st_mtime for p in server_sources()), default=0)
    return stamp.stat().st_mtime >= newest


def _dotnet_env():
    env = dict(os.environ)
    env.setdefault("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
    env.setdefault("DOTNET_NOLOGO", "1")
    env.setdefault("DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "1")
    env.setdefault("DOTNET_GENERATE_ASPNET_CERTIFICATE", "false")
    return env


def build(outdir, force=False, quiet=False):
    """dotnet publish tests/server into outdir unless it is already up to date."""
    outdir = Path(outdir).resolve()
    if not force and is_up_to_date(outdir):
        # Refresh the stamp so make/ninja (which also depend on this script) see it as new.
        os.utime(outdir / STAMP_NAME, None)
        return outdir
    dotnet = find_dotnet()
    if dotnet is None:
        raise DotnetMissing("dotnet not found (install the .NET SDK 10 with ASP.NET Core)")
    outdir.mkdir(parents=True, exist_ok=True)
    artifacts = outdir.parent / (outdir.name + "-obj")
    cmd = [dotnet, "publish", str(SERVER_DIR), "-c", "Release", "-o", str(outdir),
           "--artifacts-path", str(artifacts), "-nologo"]
    if not quiet:
        print("[testserver] " + " ".join(cmd), file=sys.stderr, flush=True)
    started = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, env=_dotnet_env())
    if proc.returncode != 0:
        tail = proc.stdout.decode("utf-8", "replace")[-6000:]
        hint = ""
        if any(code in tail for code in ("NU1101", "NU1301", "NU1102", "NU1403")):
            hint = ("\nhint: the server's NuGet packages (Microsoft.AspNetCore.SignalR.Protocols."
                    "MessagePack and .StackExchangeRedis, pinned in tests/server/packages.lock.json) could "
                    "not be restored: they need a reachable NuGet feed once per machine, or a NuGet cache "
                    "that holds them")
        raise ServerError(f"dotnet publish failed (exit {proc.returncode}):\n{tail}{hint}")
    if not (outdir / DLL_NAME).is_file():
        raise ServerError(f"dotnet publish produced no {DLL_NAME} in {outdir}")
    stamp = outdir / STAMP_NAME
    stamp.write_text(f"built {time.ctime()}\n")
    # Stamp time = when the build started, so an edit made during the build still counts
    # as newer next time.
    os.utime(stamp, (started, started))
    if not quiet:
        print(f"[testserver] built server in {time.time() - started:.1f}s -> {outdir}", file=sys.stderr, flush=True)
    return outdir


def _raise_fd_limit():
    """In the server's process, before exec: as many descriptors as allowed (root may raise the
    hard limit up to fs.nr_open), so scale benchmarks are limited by the client, not by this."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 20
    try:
        with open("/proc/sys/fs/nr_open") as f:
            want = min(want, int(f.read()))
    except (OSError, ValueError):
        pass
    for limit in ((want, want), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            return
        except (ValueError, OSError):
            continue


def log_tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


class TestServer:
    """One running SignalR test server process.

    stdout and stderr of the server both go to log_path; the first stdout line (the JSON
    info object) is found there. Attributes after start(): http, https, cert, messagepack,
    info (the dict), pid, proc.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, outdir, log_path, port=None, parent_pid=None, detached=False,
                 start_timeout=60.0, extra_args=(), https_port=None):
        self.outdir = Path(outdir).resolve()
        self.log_path = Path(log_path).resolve()
        self.port = port
        self.https_port = https_port
        self.parent_pid = parent_pid
        self.detached = detached
        self.start_timeout = start_timeout
        self.extra_args = list(extra_args)
        self.proc = None
        self.pid = None
        self.info = None
        self.http = self.https = self.cert = None
        self.messagepack = False

    def start(self):
        dotnet = find_dotnet()
        if dotnet is None:
            raise DotnetMissing("dotnet not found")
        dll = self.outdir / DLL_NAME
        if not dll.is_file():
            raise ServerError(f"{dll} does not exist; build first")
        parent = self.parent_pid if self.parent_pid else os.getpid()
        cmd = [dotnet, str(dll), "--parent-pid", str(parent)]
        if self.port:
            cmd += ["--port", str(self.port)]
        if self.https_port:
            cmd += ["--https-port", str(self.https_port)]
        cmd += self.extra_args
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        log.write(f"\n===== {time.ctime()} starting: {' '.join(cmd)}\n".encode())
        log.flush()
        offset = log.tell()
        env = _dotnet_env()
        env.pop("ASPNETCORE_URLS", None)
        env.setdefault("ASPNETCORE_ENVIRONMENT", "Production")
        try:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         env=env, cwd=str(self.outdir),
                                         start_new_session=self.detached,
                                         preexec_fn=_raise_fd_limit)
        finally:
            log.close()
        self.pid = self.proc.pid
        try:
            self.info = self._wait_for_info(offset)
            self.http = self.info["http"]
            self.https = self.info.get("https")
            self.cert = self.info.get("cert")
            self.messagepack = bool(self.info.get("messagepack", False))
            self._wait_for_http()
        except BaseException:
            self.stop()
            raise
        return self

    def _fail(self, msg):
        raise ServerError(f"{msg}\n--- tail of {self.log_path} ---\n{log_tail(self.log_path)}")

    def _wait_for_info(self, offset):
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with open(self.log_path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except OSError:
                data = b""
            for raw in data.split(b"\n")[:-1]:  # complete lines only
                line = raw.strip()
                if line.startswith(b'{"http"'):
                    try:
                        return json.loads(line.decode("utf-8"))
                    except ValueError:
                        self._fail(f"server printed an unparsable info line: {line[:200]!r}")
            if self.proc.poll() is not None:
                self._fail(f"server exited with code {self.proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                self._fail(f"server printed no info line within {self.start_timeout:.0f}s")
            time.sleep(0.05)

    def _wait_for_http(self):
        deadline = time.monotonic() + self.start_timeout
        url = self.http + "/health"
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail(f"server exited with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError) as e:
                last = e
            time.sleep(0.1)
        self._fail(f"{url} did not answer within {self.start_timeout:.0f}s ({last})")

    def restart(self, timeout=5.0):
        """Stop and start again on the same HTTP and HTTPS ports (for fault tests)."""
        from urllib.parse import urlsplit
        if self.http:
            self.port = urlsplit(self.http).port
        if self.https:
            self.https_port = urlsplit(self.https).port
        self.stop(timeout)
        return self.start()

    def stop(self, timeout=5.0):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout)
            self.proc = None
        elif self.pid:
            kill_pid(self.pid, timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] != b"Z"
    except (OSError, ValueError):
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _is_our_server(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return DLL_NAME.encode() in f.read()
    except OSError:
        return True  # no /proc: trust the state file


def kill_pid(pid, timeout=5.0):
    if not _pid_alive(pid) or not _is_our_server(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ----------------------------------------------------------------------------- CLI
def _write_state(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _skip(state, reason):
    banner = "*" * 78
    msg = f"*** SKIPPING interop tests: {reason} ***"
    print(f"{banner}\n{msg}\n{banner}", file=sys.stderr, flush=True)
    print(msg, flush=True)
    if require_server():
        print("SIGNALR_REQUIRE_SERVER=1: failing instead of skipping.", file=sys.stderr)
        return 1
    if state:
        _write_state(state, {"skipped": reason})
    return 0


def cmd_build(a):
    try:
        build(a.build_dir, force=a.force)
    except DotnetMissing as e:
        return _skip(None, str(e))
    except ServerError as e:
        print(f"[testserver] ERROR: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_start(a):
    state = Path(a.state)
    if state.exists():
        # A stale server from an earlier run: stop it first.
        try:
            old = json.loads(state.read_text())
            if old.get("pid"):
                kill_pid(int(old["pid"]))
        except (ValueError, OSError):
            pass
        state.unlink(missing_ok=True)
    if find_dotnet() is None:
        return _skip(state, "dotnet not found")
    try:
        build(a.build_dir)
    except ServerError as e:
        print(f"[testserver] ERROR: {e}", file=sys.stderr)
        return 1
    parent = a.parent_pid if a.parent_pid else os.getppid()
    srv = TestServer(a.build_dir, a.log, port=a.port, https_port=a.https_port, parent_pid=parent,
                     detached=True, start_timeout=a.timeout)
    try:
        srv.start()
    except ServerError as e:
        print(f"[testserver] ERROR: {e}", file=sys.stderr)
        return 1
    data = dict(srv.info)
    data["pid"] = srv.pid
    data["log"] = str(srv.log_path)
    data["build_dir"] = str(srv.outdir)
    data["parent_pid"] = parent
    _write_state(state, data)
    # Do not reap the child: it keeps running after this script exits.
    srv.proc = None
    print(f"[testserver] started pid {data['pid']}: {data['http']} {data.get('https')} "
          f"(watchdog on pid {parent}; log {srv.log_path})", flush=True)
    return 0


def cmd_stop(a):
    state = Path(a.state)
    if not state.exists():
        print(f"[testserver] no state file {state}; nothing to stop")
        return 0
    try:
        data = json.loads(state.read_text())
    except ValueError:
        data = {}
    if data.get("pid"):
        kill_pid(int(data["pid"]))
        print(f"[testserver] stopped pid {data['pid']}")
    elif "skipped" in data:
        print(f"[testserver] server was skipped: {data['skipped']}")
    state.unlink(missing_ok=True)
    return 0


def cmd_env(a):
    try:
        data = json.loads(Path(a.state).read_text())
    except (OSError, ValueError) as e:
        print(f"[testserver] cannot read {a.state}: {e}", file=sys.stderr)
        return 1
    if "skipped" in data:
        print(f"SIGNALR_TEST_SERVER_SKIPPED={data['skipped']}")
        return 0
    print(f"SIGNALR_TEST_SERVER={data['http']}")
    print(f"SIGNALR_TEST_SERVER_HTTPS={data.get('https', '')}")
    print(f"SIGNALR_TEST_SERVER_CERT={data.get('cert', '')}")
    print(f"SIGNALR_TEST_SERVER_MESSAGEPACK={'1' if data.get('messagepack') else '0'}")
    return 0


def cmd_run(a):
    try:
        build(a.build_dir)
    except ServerError as e:
        print(f"[testserver] ERROR: {e}", file=sys.stderr)
        return 1
    with TestServer(a.build_dir, a.log, port=a.port, https_port=a.https_port, start_timeout=a.timeout) as srv:
        print(json.dumps(srv.info), flush=True)
        print(f"[testserver] running; log {srv.log_path}; Ctrl-C to stop", file=sys.stderr, flush=True)
        try:
            srv.proc.wait()
        except KeyboardInterrupt:
            pass
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("build", help="dotnet publish the server if stale")
    b.add_argument("--build-dir", required=True)
    b.add_argument("--force", action="store_true")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("start", help="build if needed, start detached, write state JSON")
    s.add_argument("--build-dir", required=True)
    s.add_argument("--state", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--parent-pid", type=int, default=0,
                   help="server exits when this pid is gone (default: this script's parent)")
    s.add_argument("--port", type=int, default=0, help="fixed HTTP port (default: any free port)")
    s.add_argument("--https-port", type=int, default=0, help="fixed HTTPS port (default: any free port)")
    s.add_argument("--timeout", type=float, default=60.0)
    s.set_defaults(func=cmd_start)

    t = sub.add_parser("stop", help="stop the server named in the state file")
    t.add_argument("--state", required=True)
    t.set_defaults(func=cmd_stop)

    e = sub.add_parser("env", help="print SIGNALR_TEST_SERVER=... lines")
    e.add_argument("--state", required=True)
    e.set_defaults(func=cmd_env)

    r = sub.add_parser("run", help="build and run in the foreground")
    r.add_argument("--build-dir", required=True)
    r.add_argument("--log", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "signalr-test-server-run.log"))
    r.add_argument("--port", type=int, default=0)
    r.add_argument("--https-port", type=int, default=0)
    r.add_argument("--timeout", type=float, default=60.0)
    r.set_defaults(func=cmd_run)

    a = p.parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
