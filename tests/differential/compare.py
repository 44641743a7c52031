#!/usr/bin/env python3
"""Differential test: Microsoft's .NET SignalR client and libsignalr run the same scenarios
against the test hub (/hubs/test) and must observe the same thing. See README.md.

    tests/differential/compare.py [--build-dir build] [--libsignalr-side EXE]
                                  [--cells websockets/json,longpolling/messagepack]

Uses the server of SIGNALR_SERVER_STATE (the CTest fixture) when set, else starts one through
tests/harness/testserver.py and stops it after. Publishes dotnet/ into BUILD/tests/differential
(stamp-based). Exit status: 0 all cells agree (known differences included, see
known_differences.json; SIGNALR_DIFFERENTIAL_STRICT=1 counts them as differences), 1 a difference or a failed run, 2 a setup error; 0 with a loud SKIP
when dotnet or the server is missing, unless SIGNALR_REQUIRE_SERVER=1 (then 1).
Standard library only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HARNESS = ROOT / "tests" / "harness" / "testserver.py"
TRANSPORTS = ["websockets", "serversentevents", "longpolling"]
PROTOCOLS = ["json", "messagepack"]
# Cells that cannot exist, with the reason.
IMPOSSIBLE = {
    ("serversentevents", "messagepack"):
        "Server-Sent Events carry text only; the binary MessagePack protocol cannot run over them",
}
RUN_TIMEOUT = 180


def log(msg):
    print("[differential] " + msg, file=sys.stderr, flush=True)


def loud(msg):
    bar = "*" * 78
    print(f"{bar}\n*** {msg}\n{bar}", flush=True)


def skip_or_fail(msg):
    if os.environ.get("SIGNALR_REQUIRE_SERVER") == "1":
        loud("FAILING (SIGNALR_REQUIRE_SERVER=1): " + msg)
        return 1
    loud("SKIPPING the differential .NET oracle test: " + msg)
    return 0


def dotnet_env():
    env = dict(os.environ)
    env.setdefault("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
    env.setdefault("DOTNET_NOLOGO", "1")
    env.setdefault("DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "1")
    return env


def newest_mtime(base):
    newest = 0.0
    for root, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if d not in ("bin", "obj") and not d.startswith(".")]
        for f in files:
            newest = max(newest, (Path(root) / f).stat().st_mtime)
    return newest


def publish_dotnet(dotnet, build):
    out = build / "tests" / "differential" / "dotnet"
    dll = out / "DiffDotnet.dll"
    stamp = out / ".differential-stamp"
    src = HERE / "dotnet"
    if dll.is_file() and stamp.is_file() and stamp.stat().st_mtime >= newest_mtime(src):
        return dll
    started = time.time()
    # -p:PublishDir rather than -o: SDK 10.0.401 mis-parses -o in some argument orders.
    cmd = [dotnet, "publish", str(src / "DiffDotnet.csproj"), "-c", "Release",
           f"-p:PublishDir={out}/", "--artifacts-path", str(build / "tests" / "differential" / "dotnet-obj"),
           "-p:RestoreLockedMode=true", "-nologo"]
    log("publishing the .NET side: " + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       env=dotnet_env(), timeout=900)
    if p.returncode != 0 or not dll.is_file():
        raise RuntimeError("dotnet publish failed:\n" + p.stdout.decode("utf-8", "replace")[-4000:])
    stamp.write_text(f"built {time.ctime()}\n")
    os.utime(stamp, (started, started))  # an edit made during the build counts as newer
    return dll


def run_side(cmd, what):
    """Runs one side; returns ({scenario: observation}, order, problem or None)."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env=dotnet_env(), timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        return {}, [], f"{what}: timed out after {RUN_TIMEOUT} s", (e.stderr or b"").decode("utf-8", "replace")
    obs, order = {}, []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        obs[rec["scenario"]] = rec["observed"]
        order.append(rec["scenario"])
    problem = None if p.returncode == 0 else f"{what}: exit status {p.returncode}"
    return obs, order, problem, p.stderr.decode("utf-8", "replace")


def canon(v):
    """Canonical JSON: parsed and dumped again with sorted keys (so key order, spacing and
    string escapes do not count, values and texts do)."""
    return json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def load_known():
    data = json.loads((HERE / "known_differences.json").read_text())
    return data["differences"]


def known_match(known, scenario, cell, dn, ls):
    for k in known:
        if k["scenario"] != scenario:
            continue
        if k.get("cells", "*") != "*" and cell not in k["cells"]:
            continue
        if canon(k["dotnet"]) == canon(dn) and canon(k["libsignalr"]) == canon(ls):
            return k
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    ap.add_argument("--libsignalr-side", help="the differential_libsignalr_side executable "
                    "(default BUILD/tests/differential_libsignalr_side)")
    ap.add_argument("--cells", help="comma-separated transport/protocol cells (default: all)")
    a = ap.parse_args()
    build = Path(a.build_dir).resolve()
    lside = Path(a.libsignalr_side) if a.libsignalr_side else build / "tests" / "differential_libsignalr_side"
    if not lside.is_file():
        loud(f"{lside} does not exist: build the target differential_libsignalr_side")
        return 2

    dotnet = shutil.which(os.environ.get("DOTNET", "dotnet")) or shutil.which("dotnet")
    if not dotnet:
        return skip_or_fail("dotnet not found (the .NET SDK 10 is needed for the .NET client)")

    started_server = None
    state_env = os.environ.get("SIGNALR_SERVER_STATE")
    try:
        if state_env:
            state_file = Path(state_env)
            if not state_file.is_file():
                return skip_or_fail(f"SIGNALR_SERVER_STATE={state_env} does not exist (server_start did not run)")
        else:
            state_file = build / "tests" / "differential" / "server-state.json"
            state_file.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, str(HARNESS), "start", "--build-dir", str(build / "tests" / "server-bin"),
                   "--state", str(state_file), "--log", str(state_file.with_name("server.log")),
                   "--parent-pid", str(os.getpid())]
            log("starting the test server: " + " ".join(cmd))
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, timeout=900)
            if p.returncode != 0:
                loud("the test server did not start (see the log above)")
                return 2
            started_server = state_file
        state = json.loads(state_file.read_text())
        if "skipped" in state:
            return skip_or_fail("the test server was skipped: " + str(state["skipped"]))
        url = state["http"].rstrip("/") + "/hubs/test"

        try:
            dll = publish_dotnet(dotnet, build)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            loud(str(e))
            return 2

        known = load_known()
        cells = [(t, p) for t in TRANSPORTS for p in PROTOCOLS]
        if a.cells:
            want = set(a.cells.split(","))
            cells = [c for c in cells if f"{c[0]}/{c[1]}" in want]
        results = {}   # (scenario, cell) -> "ok" | "known" | "DIFF"
        scenarios = []
        failures, knowns = [], {}
        for cell in cells:
            name = f"{cell[0]}/{cell[1]}"
            if cell in IMPOSSIBLE:
                log(f"{name}: skipped: {IMPOSSIBLE[cell]}")
                continue
            args = ["--url", url, "--transport", cell[0], "--protocol", cell[1]]
            log(f"{name}: running both clients")
            dn, dn_order, dn_problem, dn_err = run_side([dotnet, str(dll)] + args, ".NET")
            ls, ls_order, ls_problem, ls_err = run_side([str(lside)] + args, "libsignalr")
            for problem, err in ((dn_problem, dn_err), (ls_problem, ls_err)):
                if problem:
                    failures.append(f"{name}: {problem}\n{err[-3000:]}")
            for s in dn_order + [s for s in ls_order if s not in dn]:
                if s not in scenarios:
                    scenarios.append(s)
            for s in scenarios:
                if s not in dn and s not in ls:
                    continue
                d, l = dn.get(s, "<missing>"), ls.get(s, "<missing>")
                if canon(d) == canon(l):
                    results[(s, name)] = "ok"
                    continue
                k = known_match(known, s, name, d, l)
                if k and os.environ.get("SIGNALR_DIFFERENTIAL_STRICT") != "1":
                    results[(s, name)] = "known"
                    knowns.setdefault(s, (k["why"], []))[1].append(name)
                else:
                    results[(s, name)] = "DIFF"
                    failures.append(f"{s} [{name}]:\n    .NET:       {canon(d)}\n    libsignalr: {canon(l)}")

        # ------------------------------------------------------------------ report
        names = [f"{t}/{p}" for t, p in cells]
        short = {n: n.replace("websockets", "ws").replace("serversentevents", "sse")
                 .replace("longpolling", "lp").replace("messagepack", "msgpack") for n in names}
        width = max([len(s) for s in scenarios] + [8])
        print(f"{'scenario':<{width}}  " + "  ".join(f"{short[n]:>10}" for n in names))
        for s in scenarios:
            row = []
            for n in names:
                cell = tuple(n.split("/"))
                row.append("n/a" if cell in IMPOSSIBLE else results.get((s, n), "missing"))
            print(f"{s:<{width}}  " + "  ".join(f"{r:>10}" for r in row))
        for cell, why in IMPOSSIBLE.items():
            if cell in cells:
                print(f"n/a: {cell[0]}/{cell[1]}: {why}")
        if knowns:
            print("\nknown differences (known_differences.json; these pass while they stay exactly so):")
            for s, (why, where) in knowns.items():
                print(f"  {s} [{', '.join(where)}]:\n    {why}")
        if failures:
            print("\nDIFFERENCES / FAILURES:")
            for f in failures:
                print("  " + f)
            return 1
        if not scenarios:
            print("no scenario ran")
            return 1
        ran = len(names) - sum(c in IMPOSSIBLE for c in cells)
        print(f"\nall {len(scenarios)} scenarios agree in {ran} cells"
              + (f" ({len(knowns)} scenarios pass as known differences)" if knowns else ""))
        return 0
    finally:
        if started_server is not None:
            subprocess.run([sys.executable, str(HARNESS), "stop", "--state", str(started_server)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


if __name__ == "__main__":
    sys.exit(main())
