"""Process-level behaviour of the binding: interpreter exit with connections still open
(sync and asyncio) neither hangs nor crashes; garbage-collected connections are freed."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import _import_signalr

signalr = _import_signalr()

EXIT_LIMIT = 10  # seconds a script may take, including its work


def run_script(body, server, timeout=EXIT_LIMIT + 20):
    prelude = textwrap.dedent(f"""
        import asyncio, gc, logging, os, sys, threading, time
        import signalr, signalr.aio
        URL = {server.http + "/hubs/test"!r}
        logging.basicConfig(level=logging.WARNING)
    """)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", prelude + textwrap.dedent(body)],
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
    elapsed = time.monotonic() - started
    assert "Fatal Python error" not in proc.stderr, proc.stderr
    assert "Segmentation fault" not in proc.stderr, proc.stderr
    return proc, elapsed


def test_exit_with_open_sync_connection(signalr_server):
    proc, elapsed = run_script("""
        conn = signalr.HubConnectionBuilder().with_url(URL).build()
        conn.on("Callback", print)
        conn.start(timeout=10)
        pending = conn.invoke_future("DelayedEcho", 5000, "never seen")
        stream = conn.stream("InfiniteStream", "py-exit-sync", 5)
        next(stream)
        print("ready", flush=True)
        # no stop(), no close(): the interpreter exits with all of it open
    """, signalr_server)
    assert proc.returncode == 0, proc.stderr
    assert "ready" in proc.stdout
    assert elapsed < EXIT_LIMIT, elapsed


def test_exit_while_a_handler_runs(signalr_server):
    proc, elapsed = run_script("""
        conn = signalr.HubConnectionBuilder().with_url(URL).build()
        entered = threading.Event()
        def slow(v):
            entered.set()
            time.sleep(1.0)
        conn.on("Callback", slow)
        conn.start(timeout=10)
        conn.send("Callback", "x")
        entered.wait(10)
        print("ready", flush=True)
    """, signalr_server)
    assert proc.returncode == 0, proc.stderr
    assert elapsed < EXIT_LIMIT, elapsed


def test_exit_with_blocked_invoke_in_a_daemon_thread(signalr_server):
    proc, elapsed = run_script("""
        conn = signalr.HubConnectionBuilder().with_url(URL).build()
        conn.start(timeout=10)
        t = threading.Thread(target=lambda: conn.invoke("DelayedEcho", 8000, "x"), daemon=True)
        t.start()
        time.sleep(0.2)
        sys.exit(3)
    """, signalr_server)
    assert proc.returncode == 3, proc.stderr
    assert elapsed < EXIT_LIMIT, elapsed


def test_exit_after_asyncio_run_with_open_connection(signalr_server):
    proc, elapsed = run_script("""
        async def main():
            conn = signalr.aio.HubConnectionBuilder().with_url(URL).build()
            await conn.start(timeout=10)
            assert await conn.invoke("Echo", "x") == "x"
            conn.invoke_future("DelayedEcho", 5000, "never")
            globals()["keep"] = conn
        asyncio.run(main())
        print("ready", flush=True)
    """, signalr_server)
    assert proc.returncode == 0, proc.stderr
    assert "ready" in proc.stdout
    assert elapsed < EXIT_LIMIT, elapsed


def test_exit_with_a_loop_never_closed(signalr_server):
    proc, elapsed = run_script("""
        loop = asyncio.new_event_loop()
        conn = signalr.aio.HubConnectionBuilder().with_url(URL).build()
        loop.run_until_complete(conn.start(timeout=10))
        async def call():
            return conn.invoke_future("DelayedEcho", 5000, "x")
        fut = loop.run_until_complete(call())
        print("ready", flush=True)
    """, signalr_server)
    assert proc.returncode == 0, proc.stderr
    assert elapsed < EXIT_LIMIT, elapsed


def test_garbage_collected_connections_are_freed(signalr_server):
    proc, elapsed = run_script("""
        import weakref
        from signalr import _core
        for i in range(20):
            conn = signalr.HubConnectionBuilder().with_url(URL).build()
            conn.on("Callback", lambda v, conn=conn: conn)  # a cycle through the handler
            conn.start(timeout=10)
            ref = weakref.ref(conn)
            del conn
            gc.collect()
            assert ref() is None, "connection kept alive"
        assert len(_core._live_natives) == 0, len(_core._live_natives)
        async def main():
            for i in range(5):
                conn = signalr.aio.HubConnectionBuilder().with_url(URL).build()
                await conn.start(timeout=10)
                del conn
                gc.collect()
            assert len(_core._live_natives) == 0
        asyncio.run(main())
        gc.collect()
        print("ok", flush=True)
    """, signalr_server, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout
