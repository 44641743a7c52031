"""HubConnection.diagnostics() (signalr_connection_diagnostics through the Python binding): what
the last connect attempt saw, for the negotiate redirects, a failed start and the server's pings."""

import pytest

from conftest import _import_signalr

signalr = _import_signalr()
T = 15


def build(url, **kw):
    return signalr.HubConnectionBuilder().with_url(url, **kw).build()


def test_a_connected_connection(signalr_server):
    conn = build(signalr_server.http + "/redirect/chain/2", transport="longpolling")
    try:
        conn.start(timeout=T)
        d = conn.diagnostics()
        assert d["phase"] == "connected" and d["transport"] == "LongPolling" and d["protocol"] == "json"
        assert d["negotiate"]["status"] == 200 and d["negotiate"]["redirect_count"] == 2
        assert d["negotiate"]["redirects"][-1].endswith("/hubs/test?redirects=2")
        assert d["negotiate"]["response"]["connectionToken"] == "(present)"
        conn.stop(timeout=T)
    finally:
        conn.close()
    assert conn.diagnostics() == {}


def test_a_failed_start_keeps_what_it_saw(signalr_server):
    conn = build(signalr_server.http + "/hubs/auth")
    try:
        with pytest.raises(signalr.SignalRError):
            conn.start(timeout=T)
        d = conn.diagnostics()
        assert d["phase"] == "negotiate" and d["negotiate"]["status"] == 401
    finally:
        conn.close()


def test_the_servers_pings_are_counted(signalr_server):
    conn = (signalr.HubConnectionBuilder().with_url(signalr_server.http + "/hubs/short-timeout")
            .with_option("keep_alive_interval_ms", 1000).build())
    try:
        conn.start(timeout=T)
        import time
        deadline = time.monotonic() + 10
        while conn.diagnostics()["server_pings"]["count"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling an observable counter: the pings come on the server's clock
        pings = conn.diagnostics()["server_pings"]
        assert pings["count"] >= 2 and pings["max_gap_ms"] > 0, pings
        conn.stop(timeout=T)
    finally:
        conn.close()
