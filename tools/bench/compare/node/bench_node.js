#!/usr/bin/env node
// The Node client of tools/bench/compare: Microsoft's @microsoft/signalr (and
// @microsoft/signalr-protocol-msgpack) against the bundled test hub, over WebSockets.
//
//   node bench_node.js --url URL --workload echo|inflight64|flood|upload
//                      --protocol json|messagepack [--messages N] [--warmup N] [--timeout S]
//
// Connects, warms up with --warmup messages of the same workload, measures --messages and
// prints one JSON line {"client":"node","workload":..,"protocol":..,"messages":N,
// "cpu_us":..,"wall_ms":..}: cpu_us is process.cpuUsage() user+system over the measured
// phase (the whole process). The packages are found through NODE_PATH (run.py installs them
// with `npm ci` into the build dir) or a node_modules next to this file.
"use strict";

const INFLIGHT = 64;

function parseArgs(argv) {
  const a = { url: "", workload: "echo", protocol: "json", messages: 10000, warmup: 1000, timeout: 120 };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (v === undefined) usage();
    if (k === "--url") a.url = v;
    else if (k === "--workload") a.workload = v;
    else if (k === "--protocol") a.protocol = v;
    else if (k === "--messages") a.messages = parseInt(v, 10);
    else if (k === "--warmup") a.warmup = parseInt(v, 10);
    else if (k === "--timeout") a.timeout = parseFloat(v);
    else usage();
  }
  if (!a.url || !(a.messages > 0) || !(a.warmup >= 0) || !(a.timeout > 0) ||
      !["echo", "inflight64", "flood", "upload"].includes(a.workload) ||
      !["json", "messagepack"].includes(a.protocol)) usage();
  return a;
}

function usage() {
  process.stderr.write("usage: bench_node.js --url URL --workload echo|inflight64|flood|upload " +
    "--protocol json|messagepack [--messages N] [--warmup N] [--timeout S]\n");
  process.exit(2);
}

async function main() {
  const a = parseArgs(process.argv);
  // Everything must end within the time limit, whatever hangs.
  const killer = setTimeout(() => {
    process.stderr.write(`bench_node: ${a.workload} ${a.protocol}: timed out after ${a.timeout} s\n`);
    process.exit(1);
  }, a.timeout * 1000);
  killer.unref();

  const signalR = require("@microsoft/signalr");
  const builder = new signalR.HubConnectionBuilder()
    .withUrl(a.url, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.Warning);
  if (a.protocol === "messagepack") {
    let msgpack;
    try {
      msgpack = require("@microsoft/signalr-protocol-msgpack");
    } catch (e) {
      // Not installed (not served by the registry): the MessagePack cells are n/a.
      process.stdout.write(JSON.stringify({
        client: "node", workload: a.workload, protocol: a.protocol, messages: a.messages,
        "n/a": "@microsoft/signalr-protocol-msgpack is not installed",
      }) + "\n");
      process.exit(3);
    }
    builder.withHubProtocol(new msgpack.MessagePackHubProtocol());
  }
  const conn = builder.build();

  let floodTarget = 0, floodCount = 0, floodResolve = null;
  conn.on("Numbered", () => {
    if (++floodCount === floodTarget) floodResolve();
  });

  const check = (r, want, what) => {
    if (r !== want) throw new Error(`${what} returned ${JSON.stringify(r)}, expected ${JSON.stringify(want)}`);
  };

  const workloads = {
    async echo(n) {
      for (let i = 0; i < n; i++) check(await conn.invoke("Echo", "hello"), "hello", "Echo");
    },
    async inflight64(n) {
      // 64 workers, each awaiting one invoke at a time: 64 outstanding until the last ones.
      let issued = 0;
      const worker = async () => {
        while (issued < n) {
          issued++;
          check(await conn.invoke("Echo", "hello"), "hello", "Echo");
        }
      };
      const workers = [];
      for (let i = 0; i < Math.min(INFLIGHT, n); i++) workers.push(worker());
      await Promise.all(workers);
    },
    async flood(n) {
      floodCount = 0;
      floodTarget = n;
      const all = new Promise((resolve) => { floodResolve = resolve; });
      check(Number(await conn.invoke("SendNumbered", n)), n, "SendNumbered");
      await all;
    },
    async upload(n) {
      const subject = new signalR.Subject();
      const result = conn.invoke("UploadSum", subject);
      for (let i = 0; i < n; i++) subject.next(1);
      subject.complete();
      check(Number(await result), n, "UploadSum");
    },
  };
  const run = workloads[a.workload];

  await conn.start();
  if (a.warmup > 0) await run(a.warmup);
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  await run(a.messages);
  const wall = Number(process.hrtime.bigint() - w0) / 1e6;
  const c = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({
    client: "node", workload: a.workload, protocol: a.protocol, messages: a.messages,
    cpu_us: c.user + c.system, wall_ms: Math.round(wall * 10) / 10,
    version: require("@microsoft/signalr/package.json").version,
  }) + "\n");
  await conn.stop();
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`bench_node: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
