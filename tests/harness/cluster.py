#!/usr/bin/env python3
"""A SignalR scale-out cluster for the tests: one redis-server, N test servers on it, and a
small HTTP/WebSocket load balancer in front of them. Standard library only.

    redis-server (loopback, free port, no persistence, own temp dir)
    node0..nodeN-1   tests/server --redis 127.0.0.1:P --node nodeI
    app              tests/server --node app --service-url <sticky proxy>   (Azure-style app server)
    proxy            round-robin, one backend per HTTP request (no stickiness)
    sticky_proxy     round-robin for a first request, then pinned by the cookie it sets

The proxies read each request's head, pick a node, forward it with "Connection: close" (so the
next request opens a new TCP connection and is balanced again), and then copy bytes both ways
until either side closes: long polling, SSE streams and WebSocket upgrades all pass as raw byte
pipes. A node that refuses the TCP connection is skipped (as a load balancer's health check
would), so clients of a killed node land on another one. `GET /__proxy/stats` on a proxy answers
{"requests": [per node], "sticky": bool}.

Library use (pytest)::

    with Cluster(server_bin, workdir, nodes=3) as c:
        c.proxy.url, c.sticky_proxy.url, c.nodes[0].http, c.app.http
        c.kill_node(1)

Command line (CTest fixture, see tests/server/cluster.cmake)::

    cluster.py start --build-dir DIR --state STATE.json --log-dir DIR [--nodes 3] [--parent-pid PID]
    cluster.py stop  --state STATE.json

`start` runs a detached supervisor process that owns everything and writes STATE.json when the
cluster is up; it exits when `stop` signals it or when the parent pid is gone. Without dotnet or
redis-server, `start` prints a loud SKIPPING banner and writes {"skipped": reason} -- unless
SIGNALR_REQUIRE_SERVER=1, when it fails.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import testserver  # noqa: E402

STICKY_COOKIE = "SignalRTestNode"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """Popen preexec_fn: redis-server gets SIGTERM when the process that started it dies
    (it has no parent-pid watchdog of its own, as the test servers have)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def find_redis():
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)


class Redis:
    """One redis-server on loopback: no RDB/AOF, its own temp dir, gone with the process."""

    def __init__(self, workdir):
        self.dir = Path(tempfile.mkdtemp(prefix="redis-", dir=workdir))
        self.port = None
        self.proc = None

    def start(self, timeout=20.0):
        exe = find_redis()
        if not exe:
            raise testserver.ServerError("redis-server not found (apt-get install redis-server)")
        for _ in range(5):  # a free port can be taken between probe and bind: retry
            self.port = free_port()
            log = open(self.dir / "redis.log", "ab")
            self.proc = subprocess.Popen(
                [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.dir), "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise testserver.ServerError(f"redis-server did not start; see {self.dir / 'redis.log'}")

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


# ----------------------------------------------------------------------------- proxy
class Proxy:
    """Round-robin HTTP/WebSocket balancer on a free loopback port (runs in its own thread)."""

    def __init__(self, backends, sticky=False, name="proxy"):
        self.backends = list(backends)  # [(host, port)], index = node number
        self.sticky = sticky
        self.name = name
        self.port = None
        self.requests = [0] * len(self.backends)  # requests sent to each backend
        self._next = 0
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._server = None
        self._ready = threading.Event()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise testserver.ServerError(f"{self.name} did not start")
        return self

    def stop(self):
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop = None

    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0, limit=1 << 20))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for t in asyncio.all_tasks(self._loop):
                t.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    def _order(self, pinned):
        """Backends to try, in order: the pinned one first (sticky), else round-robin."""
        n = len(self.backends)
        with self._lock:
            if pinned is None:
                pinned = self._next
                self._next = (self._next + 1) % n
        return [(pinned + k) % n for k in range(n)]

    async def _client(self, reader, writer):
        upstream = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            request_line, headers = lines[0], [h for h in lines[1:] if h]
            if request_line.startswith("GET /__proxy/stats"):
                body = json.dumps({"requests": self.requests, "sticky": self.sticky}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
                return
            upgrade = any(h.lower().startswith("upgrade:") and "websocket" in h.lower() for h in headers)
            pinned = None
            if self.sticky:
                for h in headers:
                    if h.lower().startswith("cookie:"):
                        for c in h.split(":", 1)[1].split(";"):
                            k, _, v = c.strip().partition("=")
                            if k == STICKY_COOKIE and v.isdigit() and int(v) < len(self.backends):
                                pinned = int(v)
            if not upgrade:
                headers = [h for h in headers if not h.lower().startswith(("connection:", "keep-alive:"))]
                headers.append("Connection: close")
            chosen = None
            for i in self._order(pinned):
                try:
                    up_r, up_w = await asyncio.open_connection(*self.backends[i], limit=1 << 20)
                except OSError:
                    continue  # a dead node: the balancer sends the request elsewhere
                chosen, upstream = i, up_w
                break
            if chosen is None:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            with self._lock:
                self.requests[chosen] += 1
            up_w.write(("\r\n".join([request_line] + headers) + "\r\n\r\n").encode("latin-1"))
            await up_w.drain()
            to_up = asyncio.ensure_future(self._pipe(reader, up_w, half_close=True))
            if self.sticky:
                # Pin the client: add our cookie to the response head, then copy the rest.
                rhead = await up_r.readuntil(b"\r\n\r\n")
                rlines = rhead.decode("latin-1").split("\r\n")
                rlines.insert(1, f"Set-Cookie: {STICKY_COOKIE}={chosen}; Path=/")
                writer.write("\r\n".join(rlines).encode("latin-1"))
            await self._pipe(up_r, writer, half_close=False)
            to_up.cancel()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    try:
                        w.close()
                    except Exception:
                        pass

    @staticmethod
    async def _pipe(src, dst, half_close):
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    break
                dst.write(data)
                await dst.drain()
            if half_close and dst.can_write_eof():
                dst.write_eof()
        except (ConnectionError, OSError):
            pass


# ----------------------------------------------------------------------------- cluster
class Cluster:
    """redis + N nodes (+ an app server) + the two proxies; see the module docstring."""

    __test__ = False

    def __init__(self, server_bin, workdir, nodes=3, app=True, parent_pid=None, start_timeout=90.0):
        self.server_bin = Path(server_bin)
        self.workdir = Path(workdir)
        self.count = nodes
        self.with_app = app
        self.parent_pid = parent_pid
        self.start_timeout = start_timeout
        self.redis = None
        self.nodes = []
        self.app = None
        self.proxy = self.sticky_proxy = None

    def _server(self, name, extra):
        return testserver.TestServer(self.server_bin, self.workdir / f"{name}.log", parent_pid=self.parent_pid,
                                     start_timeout=self.start_timeout, extra_args=extra)

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        if find_redis() is None:
            raise testserver.DotnetMissing("redis-server not found (tools/bootstrap.sh installs it)")
        if testserver.find_dotnet() is None:
            raise testserver.DotnetMissing("dotnet not found")
        try:
            self.redis = Redis(self.workdir).start()
            # Node ports are chosen here so a restarted node comes back on the same address.
            self.nodes = [self._server(f"node{i}", ["--redis", self.redis.address, "--node", f"node{i}"])
                          for i in range(self.count)]
            for n in self.nodes:
                n.port = free_port()
            threads = [threading.Thread(target=n.start) for n in self.nodes]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for n in self.nodes:
                if not n.http:
                    raise testserver.ServerError(f"a node did not start; see {n.log_path}")
            backends = [("127.0.0.1", n.port) for n in self.nodes]
            self.proxy = Proxy(backends, sticky=False, name="proxy").start()
            self.sticky_proxy = Proxy(backends, sticky=True, name="sticky-proxy").start()
            if self.with_app:
                self.app = self._server("app", ["--node", "app", "--service-url", self.sticky_proxy.url]).start()
        except BaseException:
            self.stop()
            raise
        return self

    def kill_node(self, i):
        """SIGKILL node i (no graceful close: its clients see the TCP connections drop)."""
        n = self.nodes[i]
        if n.proc and n.proc.poll() is None:
            n.proc.kill()
            n.proc.wait(10)
        n.proc = None

    def restart_node(self, i):
        n = self.nodes[i]
        n.start()
        return n

    def state(self):
        return {
            "redis": self.redis.address,
            "nodes": [{"node": f"node{i}", "http": n.http, "pid": n.pid} for i, n in enumerate(self.nodes)],
            "proxy": self.proxy.url,
            "sticky_proxy": self.sticky_proxy.url,
            "app": self.app.http if self.app else "",
            "version": 1,
        }

    def stop(self):
        for p in (self.proxy, self.sticky_proxy):
            if p:
                p.stop()
        for s in ([self.app] if self.app else []) + self.nodes:
            try:
                s.stop()
            except Exception:
                pass
        if self.redis:
            self.redis.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# ----------------------------------------------------------------------------- CLI
def cmd_start(a):
    state = Path(a.state)
    _stop_state(state)
    reason = None
    if testserver.find_dotnet() is None:
        reason = "dotnet not found"
    elif find_redis() is None:
        reason = "redis-server not found (tools/bootstrap.sh installs it)"
    if reason:
        banner = "*" * 78
        print(f"{banner}\n*** SKIPPING the cluster tests: {reason} ***\n{banner}", file=sys.stderr, flush=True)
        if testserver.require_server():
            print("SIGNALR_REQUIRE_SERVER=1: failing instead of skipping.", file=sys.stderr)
            return 1
        testserver._write_state(state, {"skipped": reason})
        return 0
    try:
        testserver.build(a.build_dir)
    except testserver.ServerError as e:
        print(f"[cluster] ERROR: {e}", file=sys.stderr)
        return 1
    log_dir = Path(a.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    parent = a.parent_pid or os.getppid()
    log = open(log_dir / "supervisor.log", "ab")
    proc = subprocess.Popen([sys.executable, __file__, "supervise", "--build-dir", a.build_dir, "--state", a.state,
                             "--log-dir", a.log_dir, "--nodes", str(a.nodes), "--parent-pid", str(parent)],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        if state.exists():
            print(f"[cluster] up (supervisor pid {proc.pid}): {state.read_text()}", flush=True)
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    print(f"[cluster] ERROR: the cluster did not start\n--- {log_dir / 'supervisor.log'} ---\n"
          f"{testserver.log_tail(log_dir / 'supervisor.log')}", file=sys.stderr)
    if proc.poll() is None:
        proc.terminate()
    return 1


def cmd_supervise(a):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cluster = Cluster(a.build_dir, a.log_dir, nodes=a.nodes, parent_pid=os.getpid())
    try:
        cluster.start()
    except testserver.ServerError as e:
        print(f"[cluster] ERROR: {e}", file=sys.stderr, flush=True)
        return 1
    data = cluster.state()
    data["supervisor_pid"] = os.getpid()
    testserver._write_state(a.state, data)
    print(f"[cluster] running: {json.dumps(data)}", flush=True)
    while not stop.wait(0.2):
        if not testserver._pid_alive(a.parent_pid):
            print(f"[cluster] parent {a.parent_pid} is gone; stopping", flush=True)
            break
    cluster.stop()
    return 0


def _stop_state(state):
    if not state.exists():
        return
    try:
        data = json.loads(state.read_text())
    except (OSError, ValueError):
        data = {}
    pid = data.get("supervisor_pid")
    if pid and testserver._pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while testserver._pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if testserver._pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        print(f"[cluster] stopped supervisor pid {pid}")
    state.unlink(missing_ok=True)


def cmd_stop(a):
    _stop_state(Path(a.state))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, fn in (("start", cmd_start), ("supervise", cmd_supervise)):
        s = sub.add_parser(name)
        s.add_argument("--build-dir", required=True)
        s.add_argument("--state", required=True)
        s.add_argument("--log-dir", required=True)
        s.add_argument("--nodes", type=int, default=3)
        s.add_argument("--parent-pid", type=int, default=0)
        s.add_argument("--timeout", type=float, default=240.0)
        s.set_defaults(func=fn)
    t = sub.add_parser("stop")
    t.add_argument("--state", required=True)
    t.set_defaults(func=cmd_stop)
    a = p.parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
