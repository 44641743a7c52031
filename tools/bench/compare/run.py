#!/usr/bin/env python3
"""Side-by-side client benchmark: libsignalr (C poll, C direct, Python, Go, Rust) against Microsoft's
Node and .NET clients, the same workloads against the bundled test hub, interleaved.

    tools/bench/compare/run.py [--build-dir build] [--rounds 3] [--messages 10000]
                               [--only echo,flood] [--protocols json] [--clients c-poll,node]
                               [--json results.json]

Builds what is missing into the build dir (bench_compare_c with CMake, a venv with the
Python package, `npm ci` of the Node packages, `dotnet publish` of the .NET client), starts
tests/server through tests/harness/testserver.py, then for every round runs every
(workload, protocol) cell with every client, one process each, and prints the median client
CPU time per message and the ratios. Standard library only (Debian python3).

Exit status: 0 when every run succeeded, 1 when a client failed or timed out (its cell shows
FAIL; the rest still runs), 2 on a setup error (build, server).
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
HARNESS = ROOT / "tests" / "harness" / "testserver.py"

WORKLOADS = ["echo", "inflight64", "flood", "upload"]
PROTOCOLS = ["json", "messagepack"]
CLIENTS = ["c-poll", "c-direct", "python", "go", "rust", "node", "dotnet"]
TITLES = {"c-poll": "C poll", "c-direct": "C direct", "python": "Python", "go": "Go", "rust": "Rust",
          "node": "Node", "dotnet": ".NET"}
NA_EXIT = 3  # a client's "this workload cannot be expressed" exit code


def log(msg):
    print("[compare] " + msg, file=sys.stderr, flush=True)


def loud(msg):
    bar = "*" * 78
    print(f"{bar}\n*** {msg}\n{bar}", file=sys.stderr, flush=True)


class SetupError(RuntimeError):
    pass


def run_step(cmd, what, timeout, env=None, cwd=None):
    """Runs a build step; raises SetupError with the output's tail on failure."""
    log(what + ": " + " ".join(str(c) for c in cmd))
    t0 = time.monotonic()
    try:
        p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, env=env, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what}: timed out after {timeout} s")
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        raise SetupError(f"{what} failed (exit {p.returncode}):\n{out[-4000:]}")
    log(f"{what}: done in {time.monotonic() - t0:.1f} s")
    return out


def newest_mtime(paths):
    newest = 0.0
    for base in paths:
        base = Path(base)
        if base.is_file():
            newest = max(newest, base.stat().st_mtime)
            continue
        for root, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if d not in ("build", "bin", "obj", "node_modules", "__pycache__")
                       and not d.startswith(".") and not d.endswith(".egg-info")]
            for f in files:
                newest = max(newest, (Path(root) / f).stat().st_mtime)
    return newest


def stale(stamp, sources):
    return not stamp.is_file() or stamp.stat().st_mtime < newest_mtime(sources)


def write_stamp(stamp, started):
    stamp.write_text(f"built {time.ctime()}\n")
    os.utime(stamp, (started, started))  # an edit made during the build counts as newer


def dotnet_env():
    env = dict(os.environ)
    env.setdefault("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
    env.setdefault("DOTNET_NOLOGO", "1")
    env.setdefault("DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "1")
    return env


# ----------------------------------------------------------------------------- setup
def setup_c(build, no_build):
    exe = build / "tools" / "bench" / "bench_compare_c"
    if not no_build:
        if not (build / "CMakeCache.txt").is_file():
            run_step(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                     "cmake configure", 600)
        # Always asked: a no-op when up to date, and the library may have changed.
        run_step(["cmake", "--build", build, "-j", str(os.cpu_count() or 2), "--target",
                  "bench_compare_c", "signalr_static"], "cmake build", 1800)
    if not exe.is_file():
        raise SetupError(f"{exe} does not exist (build the target bench_compare_c)")
    return [str(exe)]


def setup_python(build, work, no_build):
    venv = work / "pyvenv"
    py = venv / "bin" / "python"
    stamp = venv / ".bench-compare-stamp"
    lib = build / "core" / "libsignalr.a"
    if not no_build and (not py.is_file() or stale(stamp, [ROOT / "python", lib])):
        started = time.time()
        if not py.is_file():
            run_step(["/usr/bin/python3" if Path("/usr/bin/python3").is_file() else sys.executable,
                      "-m", "venv", "--system-site-packages", venv], "python venv", 300)
        env = dict(os.environ, SIGNALR_BUILD_DIR=str(build))
        run_step([py, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-cache-dir",
                  "--force-reinstall", "--no-deps", ROOT / "python"], "pip install ./python", 900, env=env)
        write_stamp(stamp, started)
    if not py.is_file():
        raise SetupError(f"{py} does not exist (run without --no-build)")
    check = subprocess.run([str(py), "-c", "import signalr; print(signalr.version())"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if check.returncode != 0:
        raise SetupError("the venv cannot import signalr:\n" + check.stderr.decode()[-2000:])
    return [str(py), str(HERE / "bench_py.py")], check.stdout.decode().strip()


def setup_go(build, work, no_build):
    """bindings/go/bench/compare, built against the build tree (bindings/go/env.sh)."""
    src = ROOT / "bindings" / "go"
    if not shutil.which("go") or not (src / "bench" / "compare").is_dir():
        loud("SKIPPING the Go column: go (Debian golang-go) or bindings/go/bench/compare missing")
        return None
    exe = work / "go" / "compare"
    if not no_build:
        (work / "go").mkdir(parents=True, exist_ok=True)
        script = (f'. "{src}/env.sh" "{build}" && cd "{src}" && '
                  f'go build -o "{exe}" ./bench/compare')
        run_step(["bash", "-c", script], "go build ./bench/compare", 900,
                 env=dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local",
                          GOCACHE=str(work / "go" / "cache"), GOPATH=str(work / "go" / "path")))
    if not exe.is_file():
        loud(f"SKIPPING the Go column: {exe} does not exist")
        return None
    return [str(exe)]


def setup_rust(build, work, no_build):
    """bindings/rust's example bench_compare, built offline against the build tree."""
    src = ROOT / "bindings" / "rust"
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).is_file() or not (src / "examples" / "bench_compare.rs").is_file():
        loud("SKIPPING the Rust column: cargo or bindings/rust/examples/bench_compare.rs missing")
        return None
    target = work / "rust-target"
    exe = target / "release" / "examples" / "bench_compare"
    if not no_build:
        run_step([cargo, "build", "--offline", "--release", "--example", "bench_compare"],
                 "cargo build --example bench_compare", 1800, cwd=src,
                 env=dict(os.environ, SIGNALR_BUILD_DIR=str(build), CARGO_TARGET_DIR=str(target)))
    if not exe.is_file():
        loud(f"SKIPPING the Rust column: {exe} does not exist")
        return None
    return [str(exe)]


def setup_node(work, no_build):
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        loud("SKIPPING the Node column: node/npm not found (apt-get install nodejs npm)")
        return None, None
    ndir = work / "node"
    src_lock = HERE / "node" / "package-lock.json"
    lock = ndir / "package-lock.json"
    modules = ndir / "node_modules"
    fresh = (modules / "@microsoft" / "signalr").is_dir() and lock.is_file() \
        and lock.read_bytes() == src_lock.read_bytes()
    if not fresh and not no_build:
        ndir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(HERE / "node" / "package.json", ndir / "package.json")
        shutil.copy2(src_lock, lock)
        run_step([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], "npm ci", 600, cwd=ndir)
    if not (modules / "@microsoft" / "signalr").is_dir():
        loud(f"SKIPPING the Node column: {modules} has no @microsoft/signalr (npm ci failed?)")
        return None, None
    version = json.loads((modules / "@microsoft" / "signalr" / "package.json").read_text())["version"]
    return [node, str(HERE / "node" / "bench_node.js")], version


def setup_dotnet(work, no_build):
    dotnet = shutil.which("dotnet")
    if not dotnet:
        loud("SKIPPING the .NET column: dotnet not found")
        return None
    out = work / "dotnet"
    dll = out / "BenchDotnet.dll"
    stamp = out / ".bench-compare-stamp"
    if not no_build and (not dll.is_file() or stale(stamp, [HERE / "dotnet"])):
        started = time.time()
        run_step([dotnet, "publish", HERE / "dotnet", "-c", "Release", "-o", out, "--artifacts-path",
                  work / "dotnet-obj", "-p:RestoreLockedMode=true", "-nologo"], "dotnet publish", 900,
                 env=dotnet_env())
        write_stamp(stamp, started)
    if not dll.is_file():
        loud(f"SKIPPING the .NET column: {dll} does not exist")
        return None
    return [dotnet, str(dll)]


# ----------------------------------------------------------------------------- server
class Server:
    def __init__(self, build, work):
        self.state = work / "server-state.json"
        self.log = work / "server.log"
        self.build = build
        self.url = None

    def start(self):
        cmd = [sys.executable, str(HARNESS), "start", "--build-dir", str(self.build / "tests" / "server-bin"),
               "--state", str(self.state), "--log", str(self.log), "--parent-pid", str(os.getpid())]
        run_step(cmd, "test server", 900)
        data = json.loads(self.state.read_text())
        if "skipped" in data:
            raise SetupError("the test server was skipped: " + data["skipped"] +
                             " (the benchmark needs it: install the .NET SDK 10)")
        self.url = data["http"].rstrip("/") + "/hubs/test"
        log(f"test server pid {data.get('pid')}: {self.url} (log {self.log})")

    def stop(self):
        if self.state.exists():
            subprocess.run([sys.executable, str(HARNESS), "stop", "--state", str(self.state)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


# ----------------------------------------------------------------------------- one run
def run_client(cmd, client, workload, protocol, a, url, env):
    """One process: returns ("ok", result dict) | ("n/a", reason) | ("fail", reason)."""
    args = list(cmd)
    if client.startswith("c-"):
        args += ["--mode", client[2:]]
    args += ["--url", url, "--workload", workload, "--protocol", protocol, "--messages",
             str(a.messages), "--warmup", str(a.warmup), "--timeout", str(a.timeout)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=a.timeout + 15)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        return "fail", f"killed after {a.timeout + 15:.0f} s\n{err.decode('utf-8', 'replace')[-1500:]}"
    text, errtext = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    last = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                last = json.loads(line)
            except ValueError:
                pass
    if p.returncode == NA_EXIT and last and "n/a" in last:
        return "n/a", last["n/a"]
    if p.returncode != 0 or not last or "cpu_us" not in last:
        lines = [l for l in errtext.splitlines() if l.strip()]
        first = lines[-1].strip() if lines else "(no output on stderr)"
        return "fail", f"exit {p.returncode}: {first}\n{errtext[-1500:]}{text[-500:]}"
    if last.get("messages") != a.messages or last.get("workload") != workload or last.get("protocol") != protocol:
        return "fail", f"unexpected result line {last}"
    return "ok", last


# ----------------------------------------------------------------------------- output
def fmt_us(v):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def ratio(a, b):
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b <= 0:
        return "n/a"
    return f"{a / b:.2f}"


def table(cells, clients, metric):
    head = ["workload", "protocol"] + [TITLES[c] for c in clients]
    # Ratios: C (poll / direct) against Node and .NET, Python against Node; only those whose
    # clients were chosen.
    ratios = []
    if metric == "cpu":
        has_c = "c-poll" in clients or "c-direct" in clients
        for other, title in (("node", "C/Node (poll / direct)"), (".NET", "C/.NET (poll / direct)")):
            key = "dotnet" if other == ".NET" else other
            if has_c and key in clients:
                ratios.append((title, lambda v, k=key: f"{ratio(v['c-poll'], v[k])} / {ratio(v['c-direct'], v[k])}"))
        for k in ("python", "go", "rust"):
            if k in clients and "node" in clients:
                ratios.append((f"{TITLES[k]}/Node", lambda v, k=k: ratio(v[k], v["node"])))
    head += [t for t, _ in ratios]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for (w, p), per in cells.items():
        vals = {c: per.get(c, {}).get(metric) for c in CLIENTS}
        row = [w, p] + [fmt_us(vals[c]) for c in clients] + [f(vals) for _, f in ratios]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=str(ROOT / "build"), help="CMake build dir (default: build/)")
    p.add_argument("--rounds", type=int, default=5, help="rounds; the median per cell is shown (default 5)")
    p.add_argument("--messages", type=int, default=10000, help="messages measured per run (default 10000)")
    p.add_argument("--warmup", type=int, default=1000, help="warm-up messages per run (default 1000)")
    p.add_argument("--only", default="", help="workloads, comma-separated: " + ",".join(WORKLOADS))
    p.add_argument("--protocols", default=",".join(PROTOCOLS), help="json,messagepack (default both)")
    p.add_argument("--clients", default=",".join(CLIENTS), help="default: " + ",".join(CLIENTS))
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per client run (default 120)")
    p.add_argument("--time-limit", type=float, default=3600.0,
                   help="seconds for all the runs; what is left is not run (default 3600)")
    p.add_argument("--json", metavar="FILE", help="also write every run and the medians as JSON")
    p.add_argument("--no-build", action="store_true", help="build nothing; use what the build dir has")
    a = p.parse_args()

    def pick(text, allowed, what):
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            p.error(f"{what}: {','.join(bad) or '(empty)'}: choose from {','.join(allowed)}")
        return [x for x in allowed if x in items]

    workloads = pick(a.only, WORKLOADS, "--only") if a.only else list(WORKLOADS)
    protocols = pick(a.protocols, PROTOCOLS, "--protocols")
    clients = pick(a.clients, CLIENTS, "--clients")
    if a.rounds < 1 or a.messages < 1 or a.warmup < 0 or a.timeout <= 0:
        p.error("--rounds and --messages must be >= 1, --warmup >= 0, --timeout > 0")

    build = Path(a.build_dir).resolve()
    work = build / "bench-compare"
    work.mkdir(parents=True, exist_ok=True)
    if not shutil.which("dotnet"):
        loud("dotnet not found: the test server (tests/server) needs the .NET SDK 10; nothing can run")
        return 2

    cmds, versions, skipped = {}, {}, {}
    server = Server(build, work)
    try:
        try:
            if {"c-poll", "c-direct", "python"} & set(clients):
                c = setup_c(build, a.no_build)
                for k in ("c-poll", "c-direct"):
                    if k in clients:
                        cmds[k] = c
            if "python" in clients:
                cmds["python"], versions["python"] = setup_python(build, work, a.no_build)
            for k, setup in (("go", setup_go), ("rust", setup_rust)):
                if k in clients:
                    cmd = setup(build, work, a.no_build)
                    if cmd:
                        cmds[k] = cmd
                    else:
                        skipped[k] = f"{TITLES[k]} toolchain or binding missing"
            if "node" in clients:
                cmd, version = setup_node(work, a.no_build)
                if cmd:
                    cmds["node"], versions["node"] = cmd, version
                else:
                    skipped["node"] = "node/npm or its packages missing"
            if "dotnet" in clients:
                cmd = setup_dotnet(work, a.no_build)
                if cmd:
                    cmds["dotnet"] = cmd
                else:
                    skipped["dotnet"] = "dotnet client not built"
            server.start()
        except SetupError as e:
            print(f"[compare] ERROR: {e}", file=sys.stderr)
            return 2

        env = dict(dotnet_env())
        env["NODE_PATH"] = str(work / "node" / "node_modules")
        # the Go and Rust clients may link the build tree's shared library
        env["LD_LIBRARY_PATH"] = ":".join(x for x in (str(build / "core"), os.environ.get("LD_LIBRARY_PATH")) if x)
        env.pop("SIGNALR_TEST_SERVER", None)

        cells = [(w, pr) for w in workloads for pr in protocols]
        runs = []
        results = {cell: {c: [] for c in clients} for cell in cells}
        na = {}
        failures = []
        order = [c for c in clients if c in cmds]
        deadline = time.monotonic() + a.time_limit
        out_of_time = False
        t0 = time.monotonic()
        for rnd in range(a.rounds):
            # Rotate the client order each round so that no client always runs first.
            rot = order[rnd % len(order):] + order[:rnd % len(order)] if order else []
            for cell in cells:
                for client in rot:
                    if time.monotonic() > deadline:
                        out_of_time = True
                        break
                    if (cell, client) in na:
                        continue
                    w, pr = cell
                    status, res = run_client(cmds[client], client, w, pr, a, server.url, env)
                    if status == "ok":
                        per = res["cpu_us"] / res["messages"]
                        results[cell][client].append(res)
                        runs.append(dict(res, round=rnd + 1))
                        log(f"round {rnd + 1}/{a.rounds} {w:<10} {pr:<11} {client:<8} "
                            f"{per:8.2f} us CPU/msg  {res['wall_ms'] * 1e3 / res['messages']:8.2f} us wall/msg")
                    elif status == "n/a":
                        na[(cell, client)] = res
                        log(f"round {rnd + 1}/{a.rounds} {w:<10} {pr:<11} {client:<8} n/a: {res}")
                    else:
                        failures.append((cell, client, res))
                        runs.append({"client": client, "workload": w, "protocol": pr, "round": rnd + 1,
                                     "failed": res})
                        print(f"[compare] FAILED: {client} {w} {pr} (round {rnd + 1}): {res}",
                              file=sys.stderr, flush=True)
                if out_of_time:
                    break
            if out_of_time:
                loud(f"--time-limit {a.time_limit:.0f} s reached: the remaining runs were not made")
                break
        elapsed = time.monotonic() - t0
    finally:
        server.stop()

    # Medians per cell.
    medians = {}
    for cell in cells:
        medians[cell] = {}
        for client in clients:
            rs = results[cell][client]
            if rs:
                cpu = [r["cpu_us"] / r["messages"] for r in rs]
                wall = [r["wall_ms"] * 1e3 / r["messages"] for r in rs]
                medians[cell][client] = {"cpu": statistics.median(cpu), "wall": statistics.median(wall),
                                         "runs": len(rs), "cpu_min": min(cpu), "cpu_max": max(cpu)}
            elif (cell, client) in na:
                medians[cell][client] = {"cpu": "n/a", "wall": "n/a", "why": na[(cell, client)]}
            elif client in skipped:
                medians[cell][client] = {"cpu": "skipped", "wall": "skipped", "why": skipped[client]}
            elif any(f[0] == cell and f[1] == client for f in failures):
                medians[cell][client] = {"cpu": "FAIL", "wall": "FAIL"}
            else:
                medians[cell][client] = {"cpu": "not run", "wall": "not run"}

    cver = next((r.get("version") for r in runs if r.get("client", "").startswith("c-") and "version" in r), "?")
    dver = next((r.get("version") for r in runs if r.get("client") == "dotnet" and "version" in r), "?")
    print()
    print(f"Client CPU per message, µs (median of {a.rounds} rounds; {a.messages} messages per run after "
          f"{a.warmup} warm-up; WebSockets; user+sys of the client process only, the server not counted)")
    print(f"libsignalr {cver}; Python package {versions.get('python', '?')}; "
          f"@microsoft/signalr {versions.get('node', '?')}; Microsoft.AspNetCore.SignalR.Client {dver}; "
          f"{platform.machine()}, {os.cpu_count()} CPUs; {elapsed:.0f} s")
    print()
    print(table(medians, clients, "cpu"))
    print()
    print("Ratios below 1: the first client needs less CPU per message.")
    print()
    print("Wall time per message, µs (median; includes the server, which shares the machine)")
    print()
    print(table(medians, clients, "wall"))
    for (cell, client), why in sorted(na.items()):
        print(f"n/a: {client} {cell[0]} {cell[1]}: {why}")
    for client, why in skipped.items():
        print(f"skipped: {client}: {why}")
    for cell, client, why in failures:
        print(f"FAILED: {client} {cell[0]} {cell[1]}: {why.splitlines()[0] if why else ''}")

    if a.json:
        doc = {
            "args": vars(a), "elapsed_s": round(elapsed, 1),
            "versions": {"libsignalr": cver, "python": versions.get("python"), "node": versions.get("node"),
                         "dotnet": dver},
            "machine": {"machine": platform.machine(), "cpus": os.cpu_count(), "system": platform.platform()},
            "medians": [dict(workload=w, protocol=pr, client=c, **v)
                        for (w, pr), per in medians.items() for c, v in per.items()],
            "runs": runs,
        }
        Path(a.json).write_text(json.dumps(doc, indent=1) + "\n")
        log(f"wrote {a.json}")
    if failures or out_of_time:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
