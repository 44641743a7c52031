#!/usr/bin/env python3
"""The Python client of tools/bench/compare: the project's `signalr` package (sync API).

    python bench_py.py --url URL --workload echo|inflight64|flood|upload
                       --protocol json|messagepack [--messages N] [--warmup N] [--timeout S]

Connects over WebSockets, warms up with --warmup messages of the same workload, measures
--messages and prints one JSON line {"client":"python","workload":..,"protocol":..,
"messages":N,"cpu_us":..,"wall_ms":..}: cpu_us is resource.getrusage(RUSAGE_SELF)
user+sys over the measured phase (every thread: the caller, "signalr-events" and
libsignalr's I/O thread). A workload the API cannot express prints "n/a" (exit 3).
"""

import argparse
import json
import resource
import sys
import threading
import time

INFLIGHT = 64


def cpu_us():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1e6


class Bench:
    def __init__(self, signalr, url, protocol, deadline):
        self.signalr = signalr
        self.deadline = deadline
        self.conn = (signalr.HubConnectionBuilder()
                     .with_url(url, transport=signalr.HttpTransportType.WebSockets)
                     .with_hub_protocol(protocol)
                     .configure_logging("warning")
                     .build())
        self.lock = threading.Lock()
        self.flood_target = 0
        self.flood_count = 0
        self.flood_done = threading.Event()
        self.conn.on("Numbered", self._on_numbered)

    def left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the time limit ran out")
        return left

    def _on_numbered(self, _i):
        # Runs on the "signalr-events" thread only: no lock needed for the count.
        self.flood_count += 1
        if self.flood_count == self.flood_target:
            self.flood_done.set()

    def start(self):
        self.conn.start(timeout=min(30.0, self.left()))

    def stop(self):
        try:
            self.conn.stop(timeout=5)
        finally:
            self.conn.close()

    def echo(self, n):
        invoke = self.conn.invoke
        for _ in range(n):
            r = invoke("Echo", "hello", timeout=self.left())
            if r != "hello":
                raise RuntimeError("Echo returned %r" % (r,))

    def inflight64(self, n):
        # The next invoke is issued from the completion of one (on the events thread).
        state = {"issued": 0, "done": 0, "error": None}
        finished = threading.Event()
        lock = self.lock
        invoke_future = self.conn.invoke_future

        def on_done(fut):
            more = False
            with lock:
                exc = fut.exception()
                if exc is not None or fut.result() != "hello":
                    state["error"] = state["error"] or exc or RuntimeError("Echo returned %r" % fut.result())
                    finished.set()
                    return
                state["done"] += 1
                if state["issued"] < n:
                    state["issued"] += 1
                    more = True
                elif state["done"] == n:
                    finished.set()
            if more:
                invoke_future("Echo", "hello").add_done_callback(on_done)

        first = min(INFLIGHT, n)
        with lock:
            state["issued"] = first
        for _ in range(first):
            invoke_future("Echo", "hello").add_done_callback(on_done)
        if not finished.wait(self.left()):
            raise TimeoutError("inflight64: %d of %d done" % (state["done"], n))
        if state["error"] is not None:
            raise state["error"]

    def flood(self, n):
        self.flood_done.clear()
        self.flood_count = 0
        self.flood_target = n
        sent = self.conn.invoke("SendNumbered", n, timeout=self.left())
        if sent != n:
            raise RuntimeError("SendNumbered returned %r" % (sent,))
        if not self.flood_done.wait(self.left()):
            raise TimeoutError("flood: %d of %d received" % (self.flood_count, n))

    def upload(self, n):
        subject = self.signalr.Subject()
        fut = self.conn.invoke_future("UploadSum", subject)
        nxt = subject.next
        for i in range(n):
            nxt(1)
            if (i & 1023) == 0:
                self.left()
        subject.complete()
        total = fut.result(self.left())
        if total != n:
            raise RuntimeError("UploadSum returned %r, expected %d" % (total, n))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--workload", required=True, choices=["echo", "inflight64", "flood", "upload"])
    p.add_argument("--protocol", default="json", choices=["json", "messagepack"])
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args()
    deadline = time.monotonic() + a.timeout
    # The time limit also covers a hang inside the library: a watchdog ends the process.
    watchdog = threading.Timer(a.timeout + 5, lambda: (sys.stderr.write(
        "bench_py: no result within the time limit; exiting\n"), sys.stderr.flush(),
        __import__("os")._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    try:
        import signalr
    except ImportError as e:
        print("bench_py: cannot import signalr (%s); install it with pip install ./python" % e,
              file=sys.stderr)
        return 1
    b = Bench(signalr, a.url, a.protocol, deadline)
    run = getattr(b, a.workload, None)
    if run is None:
        print(json.dumps({"client": "python", "workload": a.workload, "protocol": a.protocol,
                          "messages": a.messages, "n/a": "the Python API cannot run it"}))
        return 3
    try:
        b.start()
        if a.warmup > 0:
            run(a.warmup)
        c0, w0 = cpu_us(), time.perf_counter()
        run(a.messages)
        cpu, wall = cpu_us() - c0, time.perf_counter() - w0
        print(json.dumps({"client": "python", "workload": a.workload, "protocol": a.protocol,
                          "messages": a.messages, "cpu_us": round(cpu), "wall_ms": round(wall * 1e3, 1),
                          "version": signalr.version()}), flush=True)
        b.stop()
    except Exception as e:
        print("bench_py: %s %s: %s: %s" % (a.workload, a.protocol, type(e).__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
