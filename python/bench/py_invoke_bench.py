#!/usr/bin/env python3
"""Invoke round trips from asyncio through the Python binding, against the bundled hub.

    python3 python/bench/py_invoke_bench.py                     # starts tests/server itself
    python3 python/bench/py_invoke_bench.py --url http://127.0.0.1:5000/hubs/test
    python3 python/bench/py_invoke_bench.py --in-flight 64 --count 50000 --method EchoInt

Keeps --in-flight invocations outstanding on one connection (a new one is issued as each
completes) and prints round trips per second and the client's CPU time per round trip:
the whole process (Python thread + libsignalr's I/O thread) and the event-loop thread alone.
The server runs on the same machine and shares its cores; its CPU is not counted.
Also runs the sync API (one thread, one call at a time) for comparison with --sync.
"""

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def start_server(build_dir):
    sys.path.insert(0, str(REPO / "tests" / "harness"))
    import testserver
    outdir = Path(build_dir) / "tests" / "server-bin"
    testserver.build(outdir)
    srv = testserver.TestServer(outdir, Path(tempfile.gettempdir()) / "py-invoke-bench-server.log")
    srv.start()
    return srv


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def bench_aio(url, in_flight, count, method, warmup, protocol):
    import signalr.aio
    conn = (signalr.aio.HubConnectionBuilder().with_url(url).with_hub_protocol(protocol)
            .configure_logging("warning").build())
    await conn.start(timeout=15)
    arg = 1 if method == "EchoInt" else "x" * 16

    async def run(n):
        issued = 0
        done = 0
        loop = asyncio.get_running_loop()
        finished = loop.create_future()

        def on_done(fut):
            nonlocal issued, done
            fut.result()
            done += 1
            if issued < n:
                issued += 1
                conn.invoke_future(method, arg).add_done_callback(on_done)
            elif done == n and not finished.done():
                finished.set_result(None)

        for _ in range(min(in_flight, n)):
            issued += 1
            conn.invoke_future(method, arg).add_done_callback(on_done)
        await finished

    await run(warmup)
    wall0, cpu0, thr0 = time.perf_counter(), cpu(), time.thread_time()
    await run(count)
    wall, cpu_s, thr = time.perf_counter() - wall0, cpu() - cpu0, time.thread_time() - thr0
    await conn.stop()
    conn.close()
    return wall, cpu_s, thr


def bench_sync(url, count, method, protocol):
    import signalr
    conn = (signalr.HubConnectionBuilder().with_url(url).with_hub_protocol(protocol)
            .configure_logging("warning").build())
    conn.start(timeout=15)
    arg = 1 if method == "EchoInt" else "x" * 16
    for _ in range(200):
        conn.invoke(method, arg)
    wall0, cpu0 = time.perf_counter(), cpu()
    for _ in range(count):
        conn.invoke(method, arg)
    wall, cpu_s = time.perf_counter() - wall0, cpu() - cpu0
    conn.stop()
    conn.close()
    return wall, cpu_s


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="hub URL (default: start tests/server and use its /hubs/test)")
    p.add_argument("--build-dir", default=os.environ.get("SIGNALR_BUILD_DIR", str(REPO / "build")),
                   help="where tests/server is published (<build>/tests/server-bin)")
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--count", type=int, default=50000)
    p.add_argument("--warmup", type=int, default=2000)
    p.add_argument("--method", default="EchoInt", choices=["EchoInt", "Echo"])
    p.add_argument("--protocol", default="json", choices=["json", "messagepack"])
    p.add_argument("--sync", action="store_true", help="also measure the sync API, one call at a time")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args()
    srv = None
    url = a.url
    if not url:
        srv = start_server(a.build_dir)
        url = srv.http + "/hubs/test"
    try:
        import signalr
        wall, cpu_s, thr = asyncio.run(bench_aio(url, a.in_flight, a.count, a.method, a.warmup,
                                                   a.protocol))
        out = {
            "api": "asyncio", "protocol": a.protocol, "method": a.method, "in_flight": a.in_flight, "round_trips": a.count,
            "round_trips_per_s": round(a.count / wall),
            "cpu_us_per_round_trip": round(cpu_s / a.count * 1e6, 1),
            "loop_thread_cpu_us_per_round_trip": round(thr / a.count * 1e6, 1),
            "libsignalr": signalr.version(), "python": sys.version.split()[0],
        }
        results = [out]
        if a.sync:
            n = max(1000, a.count // 10)
            wall, cpu_s = bench_sync(url, n, a.method, a.protocol)
            results.append({"api": "sync", "protocol": a.protocol, "method": a.method, "in_flight": 1, "round_trips": n,
                            "round_trips_per_s": round(n / wall),
                            "cpu_us_per_round_trip": round(cpu_s / n * 1e6, 1)})
        for r in results:
            if a.json:
                print(json.dumps(r))
            else:
                extra = (", loop thread %.1f us" % r["loop_thread_cpu_us_per_round_trip"]
                         if "loop_thread_cpu_us_per_round_trip" in r else "")
                print("%-7s %-11s %-8s in flight %3d: %8d round trips/s, CPU %.1f us per round trip%s"
                      % (r["api"], r["protocol"], r["method"], r["in_flight"], r["round_trips_per_s"],
                         r["cpu_us_per_round_trip"], extra))
    finally:
        if srv is not None:
            srv.stop()


if __name__ == "__main__":
    main()
