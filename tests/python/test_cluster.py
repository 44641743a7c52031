"""The `signalr` package against a scale-out cluster of its own (tests/harness/cluster.py):
three ASP.NET Core servers on one redis-server backplane, a round-robin proxy and a sticky one.

Exact delivery counts across nodes on every transport; the missing-stickiness error; a node
killed under load (clients reconnect to another node, pending invokes fail, nothing twice),
with and without stateful reconnect; `signalr bench` broadcasting over the nodes' own URLs,
with each node's deliveries and latency (<build>/tests/cluster-bench.json). The failover
figures (time to reconnect p50/p99, messages lost) are printed and written to
<build>/tests/cluster-failover.json."""

import json
import os
import statistics
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import _build_dir, _built_server, _import_signalr, _running, _skip_or_fail, poll, stop_and_close

import cluster as cluster_harness  # tests/harness, on sys.path through conftest
import testserver

signalr = _import_signalr()

T = 20  # seconds: every blocking call here is bounded


@pytest.fixture(scope="module")
def cluster():
    if testserver.find_dotnet() is None:
        _skip_or_fail("dotnet not found")
    if cluster_harness.find_redis() is None:
        _skip_or_fail("redis-server not found (tools/bootstrap.sh installs it)")
    build_dir = _build_dir()
    outdir = _built_server(build_dir)
    c = cluster_harness.Cluster(outdir, build_dir / "tests" / "cluster-pytest", nodes=3, app=True)
    yield from _running(c, "the cluster")


def wait_for(pred, timeout=T):
    return poll(pred, timeout, 0.005)


class Counter:
    """Counts every message of one method by its first argument (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}

    def __call__(self, *args):
        with self.lock:
            self.seen[args[-1]] = self.seen.get(args[-1], 0) + 1

    def count(self, prefix):
        with self.lock:
            return sum(n for k, n in self.seen.items() if isinstance(k, str) and k.startswith(prefix))

    def get(self, key):
        with self.lock:
            return self.seen.get(key, 0)


def build(url, transport="websockets", reconnect=None, stateful=False):
    b = signalr.HubConnectionBuilder().with_url(url, transport=transport)
    if reconnect is not None:
        b.with_automatic_reconnect(reconnect)
    if stateful:
        b.with_stateful_reconnect()
    return b.build()


@pytest.fixture
def conns():
    made = []
    yield made
    stop_and_close(made, T)


# ------------------------------------------------------------------ delivery

@pytest.mark.parametrize("transport", ["websockets", "serversentevents", "longpolling"])
def test_delivery_across_nodes_exactly_once(cluster, conns, transport):
    tag = uuid.uuid4().hex[:8]
    group, user_a, user_b = f"{tag}-g", f"{tag}-a", f"{tag}-b"
    M = 15
    members = []
    for i, node in enumerate(cluster.nodes):
        for user in (user_a, user_b):
            c = build(f"{node.http}/hubs/test?userId={user}", transport)
            conns.append(c)
            counters = {m: Counter() for m in ("Broadcast", "GroupMessage", "UserMessage")}
            for m, h in counters.items():
                c.on(m, h)
            c.start(timeout=T)
            assert c.invoke("GetNode", timeout=T) == f"node{i}"
            c.invoke("JoinGroup", group, timeout=T)
            members.append((c, user, counters))
    sender = members[0][0]
    for j in range(M):
        sender.invoke("Broadcast", f"{tag}-b-{j}", timeout=T)
        sender.invoke("SendToGroup", group, f"{tag}-g-{j}", timeout=T)
        sender.invoke("SendToUser", user_a, f"{tag}-u-{j}", timeout=T)
    for u in (user_a, user_b):  # one fence per Redis channel: duplicates would precede it
        sender.invoke("SendToUser", u, f"{tag}-fence", timeout=T)
    sender.invoke("Broadcast", f"{tag}-fence", timeout=T)
    sender.invoke("SendToGroup", group, f"{tag}-fence", timeout=T)
    assert wait_for(lambda: all(all(k.get(f"{tag}-fence") == 1 for k in cs.values()) for _, _, cs in members))
    total = 0
    for _, user, cs in members:
        for j in range(M):
            assert cs["Broadcast"].get(f"{tag}-b-{j}") == 1
            assert cs["GroupMessage"].get(f"{tag}-g-{j}") == 1
            assert cs["UserMessage"].get(f"{tag}-u-{j}") == (1 if user == user_a else 0)
        total += cs["Broadcast"].count(f"{tag}-b-") + cs["GroupMessage"].count(f"{tag}-g-") + \
            cs["UserMessage"].count(f"{tag}-u-")
    n = len(members)
    assert total == n * M * 2 + (n // 2) * M
    print(f"\n[cluster] python {transport}: {n} clients on {len(cluster.nodes)} nodes, {M} of each kind: "
          f"{total} deliveries, none missing or duplicated")


@pytest.mark.parametrize("transport", ["serversentevents", "longpolling"])
def test_without_stickiness_the_error_says_so(cluster, conns, transport):
    c = build(cluster.proxy.url + "/hubs/test", transport)
    conns.append(c)
    with pytest.raises(signalr.SignalRError) as ei:
        c.start(timeout=T)
    text = str(ei.value) + " " + (getattr(ei.value, "hint", None) or "")
    assert "sticky sessions" in text, text


def test_websockets_skip_negotiation_through_round_robin(cluster, conns):
    seen = set()
    for _ in cluster.nodes:
        c = (signalr.HubConnectionBuilder()
             .with_url(cluster.proxy.url + "/hubs/test", transport="websockets", skip_negotiation=True).build())
        conns.append(c)
        c.start(timeout=T)
        seen.add(c.invoke("GetNode", timeout=T))
    assert len(seen) == len(cluster.nodes)


# ------------------------------------------------------------------ signalr bench across the nodes

BENCH_N = 60        # connections, round-robin over the nodes' own URLs
BENCH_DURATION = 3  # seconds of broadcasting


def test_bench_broadcast_across_nodes_reports_each_node(cluster, tmp_path):
    """`signalr bench` with one URL per node: one sender (on node0) broadcasts, the backplane
    carries it to every node, and the report gives each node's deliveries, loss and latency."""
    exe = _build_dir() / "tools" / "signalr"
    if not exe.exists():
        _skip_or_fail(f"the signalr CLI is not built ({exe})")
    urls = [n.http + "/hubs/bench" for n in cluster.nodes]
    out = tmp_path / "bench.json"
    r = subprocess.run([str(exe), "bench", *urls, "--scenario", "broadcast", "--connections", str(BENCH_N),
                        "--duration", str(BENCH_DURATION), "--interval", "50", "--json", str(out)],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    fig = json.loads(out.read_text())
    assert fig["urls"] == urls
    assert fig["connected"] == BENCH_N and fig["failed"] == 0 and fig["closed"] == 0, fig
    assert fig["errors"] == [] and fig["ok"] is True, fig["errors"]
    m = fig["messages"]
    assert m["receivers"] == BENCH_N
    assert m["acked"] == m["sent"] >= BENCH_DURATION * 10, m  # ~20 a second from one sender
    assert m["received"] == m["expected"] == m["acked"] * BENCH_N, m
    assert m["lost"] == 0 and m["connections_missing"] == 0 and m["call_failed"] == 0, m

    per = fig["per_url"]
    assert [p["url"] for p in per] == urls
    per_node = BENCH_N // len(urls)
    for p in per:
        assert p["connections"] == p["connected"] == p["receivers"] == per_node, p
        assert p["received"] == p["expected"] == m["acked"] * per_node, p
        assert p["lost"] == 0 and p["connections_missing"] == 0, p
        lat = p["latency_us"]
        assert lat["count"] == p["received"], p
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"], p
    assert sum(p["connections"] for p in per) == BENCH_N
    assert sum(p["received"] for p in per) == m["received"]
    assert sum(p["latency_us"]["count"] for p in per) == fig["latency_us"]["count"]
    assert sum(p["sent"] for p in per) == m["sent"] and per[0]["sent"] == m["sent"]  # the sender is on node0
    assert "per URL:" in r.stdout

    summary = [{"node": f"node{i}", "url": p["url"], "connections": p["connections"], "received": p["received"],
                "lost": p["lost"], "p50_ms": p["latency_us"]["p50"] / 1000, "p99_ms": p["latency_us"]["p99"] / 1000,
                "max_ms": p["latency_us"]["max"] / 1000} for i, p in enumerate(per)]
    print(f"\n[cluster] bench broadcast: {m['acked']} broadcasts to {BENCH_N} connections on {len(urls)} nodes, "
          f"{m['received']} deliveries, {m['lost']} lost; per node: {json.dumps(summary)}")
    dest = _build_dir() / "tests" / "cluster-bench.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({"figures": summary, "bench": fig}, indent=2) + "\n")


# ------------------------------------------------------------------ the Azure-style flow

def _app_negotiates(cluster):
    with urllib.request.urlopen(cluster.app.http + "/cluster/stats", timeout=10) as r:
        return json.loads(r.read())["appNegotiates"]


def test_azure_style_redirect_token_refresh_and_limit(cluster, conns):
    before = _app_negotiates(cluster)
    reconnected = []
    c = (signalr.HubConnectionBuilder()
         .with_url(cluster.app.http + "/app?hub=test&user=frank&ttl=2", transport="websockets")
         .with_automatic_reconnect([0, 0.1, 0.5]).build())
    conns.append(c)
    c.on_reconnected(reconnected.append)
    c.start(timeout=T)
    assert c.invoke("GetUserIdentifier", timeout=T) == "frank"
    assert c.invoke("GetNode", timeout=T).startswith("node")  # on the service (a node behind the proxy)
    assert _app_negotiates(cluster) == before + 1
    time.sleep(3.1)  # the token's lifetime is wall-clock time: wait it out
    assert c.invoke("CloseWithReconnect", timeout=T) is True
    assert wait_for(lambda: reconnected)
    assert c.invoke("GetUserIdentifier", timeout=T) == "frank"
    assert _app_negotiates(cluster) == before + 2, "the reconnect did not fetch a new token"

    too_many = signalr.HubConnectionBuilder().with_url(cluster.app.http + "/app?hub=test&bounce=101").build()
    conns.append(too_many)
    with pytest.raises(signalr.SignalRError) as ei:
        too_many.start(timeout=T)
    assert ei.value.name == "SIGNALR_EREDIRECT", repr(ei.value)


# ------------------------------------------------------------------ a node killed under load

def _failover_round(cluster, conns, stateful, victim, transport="websockets", per_node=4):
    """Clients through the sticky proxy, a sender on a surviving node broadcasting all along;
    kills `victim`; returns the figures."""
    tag = uuid.uuid4().hex[:8]
    hub = "/hubs/stateful" if stateful else "/hubs/test"
    delays = [0, 0.05, 0.1, 0.2, 0.5, 1, 1, 1, 1, 1]
    clients = []
    # Enough clients that every node gets some (the proxy balances new ones round-robin).
    for _ in range(per_node * len(cluster.nodes)):
        c = build(cluster.sticky_proxy.url + hub, transport, reconnect=delays, stateful=stateful)
        conns.append(c)
        rec = {"conn": c, "counter": Counter(), "reconnected": [], "reconnecting": [], "closed": []}
        c.on("Broadcast", rec["counter"])
        c.on_reconnecting(lambda e, r=rec: r["reconnecting"].append((time.monotonic(), e)))
        c.on_reconnected(lambda cid, r=rec: r["reconnected"].append((time.monotonic(), cid)))
        c.on_close(lambda e, r=rec: r["closed"].append(e))
        c.start(timeout=T)
        rec["node"] = c.invoke("GetNode", timeout=T)
        rec["id"] = c.connection_id
        clients.append(rec)
    survivor = next(i for i in range(len(cluster.nodes)) if i != victim)
    sender = build(cluster.nodes[survivor].http + "/hubs/test")
    conns.append(sender)
    sender.start(timeout=T)
    on_victim = [r for r in clients if r["node"] == f"node{victim}"]
    others = [r for r in clients if r["node"] != f"node{victim}"]
    assert on_victim and others, [r["node"] for r in clients]

    sent = []
    stop = threading.Event()

    def pump():
        i = 0
        while not stop.is_set():
            msg = f"{tag}-{i}"
            try:
                sender.invoke("Broadcast", msg, timeout=T)
                sent.append(msg)
            except signalr.SignalRError:
                pass
            i += 1
            time.sleep(0.002)

    pumper = threading.Thread(target=pump)
    pump_started = time.monotonic()
    pumper.start()
    assert wait_for(lambda: all(r["counter"].count(tag) >= 20 for r in clients))
    # Invokes pending on the victim when it dies: each must complete, with an error.
    pending = [r["conn"].invoke_future("DelayedEcho", 30000, "never") for r in on_victim]
    killed_at = time.monotonic()
    cluster.kill_node(victim)
    outcomes = []
    for f in pending:
        try:
            f.result(timeout=T)
            outcomes.append("completed")
        except signalr.SignalRError as e:
            outcomes.append(type(e).__name__)
        except Exception as e:  # noqa: BLE001 - a timeout here is the bug we test for
            outcomes.append(f"hang: {e!r}")
    assert all(o not in ("completed",) and not o.startswith("hang") for o in outcomes), outcomes
    ok = wait_for(lambda: all(r["reconnected"] or r["closed"] for r in on_victim), 30)
    assert ok, [(r["reconnecting"], r["reconnected"], r["closed"]) for r in on_victim]
    # After everyone is back, a little more traffic, then stop and fence.
    base = len(sent)
    assert wait_for(lambda: len(sent) >= base + 20)
    stop.set()
    pumper.join(T)
    pump_seconds = time.monotonic() - pump_started
    sender.invoke("Broadcast", f"{tag}-fence", timeout=T)
    assert wait_for(lambda: all(r["counter"].get(f"{tag}-fence") == 1 for r in clients if not r["closed"]))

    times, lost_victim, lost_others, dup = [], [], [], 0
    for r in clients:
        got = r["counter"]
        dup += sum(1 for m in sent if got.get(m) > 1)
        lost = sum(1 for m in sent if got.get(m) == 0)
        (lost_victim if r in on_victim else lost_others).append(lost)
    for r in on_victim:
        assert not r["closed"], r["closed"]
        assert r["reconnecting"], "no reconnecting event"
        t, cid = r["reconnected"][0]
        times.append((t - killed_at) * 1000)
        node = r["conn"].invoke("GetNode", timeout=T)
        assert node != f"node{victim}"
        # The new node cannot resume the old connection: a fresh one, with a new id.
        assert cid != r["id"] and r["conn"].connection_id == cid
    assert dup == 0, "a message was delivered twice"
    assert all(n == 0 for n in lost_others), lost_others
    return {"stateful": stateful, "transport": transport, "victim": f"node{victim}", "clients": len(clients), "on_victim": len(on_victim),
            "sent": len(sent), "send_rate_per_s": round(len(sent) / pump_seconds, 1), "reconnect_ms": times, "lost_per_victim_client": lost_victim,
            "lost_on_other_nodes": sum(lost_others), "duplicates": dup, "pending_invokes": outcomes}


def _pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def _report(name, rounds):
    times = [t for r in rounds for t in r["reconnect_ms"]]
    lost = [n for r in rounds for n in r["lost_per_victim_client"]]
    fig = {"reconnect_samples": len(times), "reconnect_p50_ms": round(_pct(times, 50), 1),
           "reconnect_p99_ms": round(_pct(times, 99), 1), "reconnect_max_ms": round(max(times), 1),
           "messages_sent": sum(r["sent"] for r in rounds),
           "send_rate_per_s": round(statistics.mean(r["send_rate_per_s"] for r in rounds), 1),
           "lost_per_moved_client_mean": round(statistics.mean(lost), 1), "lost_per_moved_client_max": max(lost),
           "lost_on_surviving_nodes": sum(r["lost_on_other_nodes"] for r in rounds),
           "duplicates": sum(r["duplicates"] for r in rounds)}
    print(f"\n[cluster] failover {name}: {json.dumps(fig)}")
    out = _build_dir() / "tests" / "cluster-failover.json"
    try:
        data = json.loads(out.read_text()) if out.exists() else {}
    except ValueError:
        data = {}
    data[name] = {"figures": fig, "rounds": rounds}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    return fig


@pytest.mark.parametrize("transport,stateful", [("websockets", False), ("serversentevents", False),
                                                ("longpolling", False), ("websockets", True)],
                         ids=["ws", "sse", "lp", "ws-stateful"])
def test_node_killed_under_load(cluster, transport, stateful):
    rounds = []
    # SIGNALR_CLUSTER_FAILOVER_ROUNDS=N kills nodes N times per mode (default 2) for more samples.
    n = int(os.environ.get("SIGNALR_CLUSTER_FAILOVER_ROUNDS", "2"))
    for victim in [1 + k % (len(cluster.nodes) - 1) for k in range(n)]:
        made = []
        try:
            rounds.append(_failover_round(cluster, made, stateful, victim, transport))
        finally:
            stop_and_close(made, T)
            cluster.restart_node(victim)
    fig = _report(("stateful_reconnect_" if stateful else "automatic_reconnect_") + transport, rounds)
    assert fig["duplicates"] == 0 and fig["lost_on_surviving_nodes"] == 0
