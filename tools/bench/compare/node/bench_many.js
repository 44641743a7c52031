#!/usr/bin/env node
// Many connections in one Node process with Microsoft's @microsoft/signalr (10.0.11, the
// package-lock next to this file), for side-by-side figures with `signalr bench`: the same
// BenchHub (tests/server, /hubs/bench), the same scenarios and the same figures.
//
//   NODE_PATH=<build>/bench-compare/node/node_modules node bench_many.js --url URL/hubs/bench
//       --connections N [--scenario idle|echo|broadcast] [--duration S] [--interval MS]
//       [--size BYTES] [--parallel K] [--transport websockets|serversentevents|longpolling]
//
// Connects N connections (K connects in flight at once), measures RSS and V8 heap per
// connection (process.memoryUsage(), after a forced GC when node runs with --expose-gc), then
// runs the scenario for S seconds: echo = every connection sends Echo(timestamp, payload)
// every MS ms and times the reply; broadcast = connection 0 invokes Broadcast(run, timestamp,
// seq, payload) every MS ms and every connection counts what it gets. Prints one JSON line.
// --large BYTES: after connecting, one Echo of BYTES per connection, then memory again.
// Install the packages as tools/bench/compare/run.py does: `npm ci` of package-lock.json in
// <build>/bench-compare/node.
"use strict";

function parseArgs(argv) {
  const a = { url: "", connections: 100, scenario: "idle", duration: 10, interval: -1, size: 16,
              parallel: 100, transport: "websockets", drain: 10, large: 0 };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i], v = argv[++i];
    if (v === undefined) usage();
    if (k === "--url") a.url = v;
    else if (k === "--connections") a.connections = parseInt(v, 10);
    else if (k === "--scenario") a.scenario = v;
    else if (k === "--duration") a.duration = parseInt(v, 10);
    else if (k === "--interval") a.interval = parseInt(v, 10);
    else if (k === "--size") a.size = parseInt(v, 10);
    else if (k === "--parallel") a.parallel = parseInt(v, 10);
    else if (k === "--transport") a.transport = v;
    else if (k === "--drain") a.drain = parseInt(v, 10);
    else if (k === "--large") a.large = parseInt(v, 10);
    else usage();
  }
  if (a.interval < 0) a.interval = a.scenario === "echo" ? 1000 : 100;
  if (!a.url || !(a.connections > 0) || !["idle", "echo", "broadcast"].includes(a.scenario)) usage();
  return a;
}

function usage() {
  process.stderr.write("usage: bench_many.js --url URL --connections N [--scenario idle|echo|broadcast] " +
    "[--duration S] [--interval MS] [--size BYTES] [--parallel K] [--transport T] [--large BYTES]\n");
  process.exit(2);
}

const nowUs = () => Math.round(performance.now() * 1000);
const cpuUs = () => { const c = process.cpuUsage(); return c.user + c.system; };
function mem() {
  if (global.gc) global.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers };
}
function pct(sorted, q) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function main() {
  const a = parseArgs(process.argv);
  const signalR = require("@microsoft/signalr");
  const transports = { websockets: signalR.HttpTransportType.WebSockets,
                       serversentevents: signalR.HttpTransportType.ServerSentEvents,
                       longpolling: signalR.HttpTransportType.LongPolling };
  const payload = "x".repeat(a.size);
  const run = Math.floor(Math.random() * 2 ** 40);
  const latencies = [];
  const received = new Array(a.connections).fill(0);
  let totalReceived = 0, foreign = 0, largePhase = false, largeBack = 0;

  const m0 = mem();
  const c0 = cpuUs(), t0 = Date.now();
  const conns = [];
  let failed = 0, next = 0;
  const errors = {};
  async function worker() {
    while (next < a.connections) {
      const i = next++;
      const conn = new signalR.HubConnectionBuilder()
        .withUrl(a.url, { transport: transports[a.transport] })
        .configureLogging(signalR.LogLevel.None)
        .build();
      if (a.scenario === "echo" || a.large) conn.on("Echo", (ts) => {
        if (largePhase) { largeBack++; return; }
        latencies.push(nowUs() - ts); received[i]++; totalReceived++;
      });
      if (a.scenario === "broadcast") conn.on("Broadcast", (r, ts) => {
        if (r !== run) { foreign++; return; }
        latencies.push(nowUs() - ts); received[i]++; totalReceived++;
      });
      try {
        await conn.start();
        conns[i] = conn;
      } catch (e) {
        failed++;
        const k = String(e && e.message).slice(0, 120);
        errors[k] = (errors[k] || 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(a.parallel, a.connections) }, worker));
  const rampMs = Date.now() - t0, cpuRamp = cpuUs() - c0;
  const connected = conns.filter(Boolean).length;
  const m1 = mem();

  // ---- --large: one large echo per connection (as signalr bench --large), then memory again
  let mLarge = null, largeSent = 0;
  if (a.large) {
    largePhase = true;
    const big = "y".repeat(a.large);
    const ids = conns.map((c, i) => (c ? i : -1)).filter((i) => i >= 0);
    let k = 0, seen = 0, last = Date.now();
    while (largeBack < ids.length && Date.now() - last < 60000) {
      while (k < ids.length && largeSent - largeBack < 500) {
        conns[ids[k++]].send("Echo", nowUs(), big).catch(() => {});
        largeSent++;
      }
      await new Promise((res) => setTimeout(res, 5));
      if (largeBack !== seen) { seen = largeBack; last = Date.now(); }
    }
    largePhase = false;
    mLarge = mem();
  }

  // ---- run
  const c1 = cpuUs(), tr0 = Date.now();
  let sent = 0, acked = 0, callFailed = 0, seq = 0;
  const live = conns.map((c, i) => (c ? i : -1)).filter((i) => i >= 0);
  if (a.scenario !== "idle" && live.length) {
    const pool = a.scenario === "echo" ? live : [live[0]];
    let done = 0, cursor = 0;
    await new Promise((resolve) => {
      const tick = setInterval(() => {
        const el = Date.now() - tr0;
        if (el >= a.duration * 1000) { clearInterval(tick); resolve(); return; }
        const due = Math.floor(el * pool.length / a.interval);
        while (done < due) {
          done++;
          const c = conns[pool[cursor]];
          cursor = (cursor + 1) % pool.length;
          if (a.scenario === "echo") {
            c.send("Echo", nowUs(), payload).catch(() => {});
          } else {
            c.invoke("Broadcast", run, nowUs(), seq++, payload).then(() => acked++, () => callFailed++);
          }
          sent++;
        }
      }, 2);
    });
  } else {
    await new Promise((r) => setTimeout(r, a.duration * 1000));
  }
  const expected = () => (a.scenario === "echo" ? sent : a.scenario === "broadcast" ? acked * live.length : 0);
  const drainEnd = Date.now() + a.drain * 1000;
  while (Date.now() < drainEnd && (totalReceived < expected() || acked + callFailed < (a.scenario === "broadcast" ? sent : 0)))
    await new Promise((r) => setTimeout(r, 10));
  const runMs = Date.now() - tr0, cpuRun = cpuUs() - c1;
  const m2 = mem();
  latencies.sort((x, y) => x - y);
  const n = connected || 1;
  const out = {
    client: "node", version: require("@microsoft/signalr/package.json").version, node: process.version,
    scenario: a.scenario, transport: a.transport, requested: a.connections, connected, failed, errors,
    messages: { sent, acked, received: totalReceived, expected: expected(), lost: Math.max(0, expected() - totalReceived),
                foreign, per_s: Math.round(totalReceived / (runMs / 1000)) },
    latency_ms: { count: latencies.length, p50: pct(latencies, 0.5) / 1000, p90: pct(latencies, 0.9) / 1000,
                  p99: pct(latencies, 0.99) / 1000, max: (latencies[latencies.length - 1] || 0) / 1000 },
    cpu_us: { ramp: cpuRamp, run: cpuRun, setup_per_connection: Math.round(cpuRamp / n),
              per_message: totalReceived ? Math.round(cpuRun / totalReceived * 10) / 10 : 0 },
    wall_ms: { ramp: rampMs, run: runMs },
    memory: { gc: !!global.gc, baseline: m0, after_ramp: m1, after_run: m2,
              rss_per_connection: Math.round((m1.rss - m0.rss) / n),
              heap_per_connection: Math.round((m1.heap - m0.heap) / n),
              external_per_connection: Math.round((m1.external - m0.external) / n),
              rss_per_connection_after_run: Math.round((m2.rss - m0.rss) / n),
              large_bytes: a.large, large_sent: largeSent, large_received: largeBack, after_large: mLarge,
              rss_per_connection_after_large: mLarge ? Math.round((mLarge.rss - m0.rss) / n) : 0,
              heap_per_connection_after_large: mLarge ? Math.round((mLarge.heap - m0.heap) / n) : 0,
              external_per_connection_after_large: mLarge ? Math.round((mLarge.external - m0.external) / n) : 0 },
  };
  process.stdout.write(JSON.stringify(out) + "\n");
  await Promise.all(conns.filter(Boolean).map((c) => c.stop().catch(() => {})));
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`bench_many: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
