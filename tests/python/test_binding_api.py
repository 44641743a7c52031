"""The Python binding over the API additions of issue 14: cookies kept by libcurl's engine,
the User-Agent naming Python, whole long server texts, an invoke timeout that releases the
call, the URL changed while reconnecting, timeouts changed on a live connection. Against the
real server's /hubs/api, which records what each request carried (tests/server/ApiEndpoints.cs).
"""
import platform
import re
import threading
import time
import uuid

import pytest

from conftest import _import_signalr, poll, stop_and_close

signalr = _import_signalr()

T = 15


@pytest.fixture
def build(signalr_server):
    made = []

    def make(path, transport="websockets", configure=None):
        b = signalr.HubConnectionBuilder().with_url(signalr_server.http + path, transport=transport)
        if configure:
            configure(b)
        conn = b.build()
        made.append(conn)
        return conn

    yield make
    stop_and_close(made, T)


def key(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex)


def wait_for(pred, timeout=T):
    return poll(pred, timeout)


def test_user_agent_names_python_on_every_request(build, transport):
    k = key("py-ua")
    conn = build("/hubs/api?key=" + k, transport)
    conn.start(timeout=T)
    seen = conn.invoke("Seen", k, timeout=T)
    want = re.compile(r"libsignalr/\d+\.\d+ \(\d+\.\d+\.\d+; [^;()]+; Python; %s\)$"
                      % re.escape(platform.python_version()))
    assert len(seen) >= 2
    for s in seen:
        assert want.match(s["UserAgent"] or ""), s
        assert s["SignalRUserAgent"] is None


def test_cookie_jar_replaces_and_expires(build, transport):
    k = key("py-cookies")
    conn = build("/hubs/api?key=" + k, transport)
    conn.start(timeout=T)
    conn.stop(timeout=T)
    conn.start(timeout=T)
    seen = conn.invoke("Seen", k, timeout=T)
    rounds, negotiates = {1: set(), 2: set()}, 0
    for s in seen:
        if s["Kind"] == "negotiate":
            negotiates += 1
            continue
        rounds[negotiates].add(s["Cookie"])
    assert negotiates == 2
    norm = {n: {"; ".join(sorted(c.split("; "))) for c in v} for n, v in rounds.items()}
    assert norm[1] == {"gone=soon; keep=yes; sec=yes; ver=1"}
    assert norm[2] == {"keep=yes; sec=yes; ver=2"}  # replaced, and the deleted one is gone


def test_long_hub_error_text_is_whole(build):
    text = "".join("<%08d>" % i for i in range(0, 5000, 10))
    conn = build("/hubs/api")
    conn.start(timeout=T)
    with pytest.raises(signalr.HubError) as e:
        conn.invoke("ThrowHubException", text, timeout=T)
    assert str(e.value).endswith(text) or text in str(e.value)
    assert len(str(e.value)) > len(text)


def test_invoke_timeout_cancels_the_call(build):
    conn = build("/hubs/api")
    conn.start(timeout=T)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        conn.invoke("DelayedEcho", 2000, "late", timeout=0.1)
    assert time.monotonic() - t0 < 1.5  # not the server's 2 s
    # the server still answers it later (the hub runs one call at a time): dropped, and the
    # next call gets its own result
    assert conn.invoke("Echo", "after", timeout=T) == "after"


def test_url_changed_while_reconnecting(build, signalr_server, transport):
    ka, kb = key("py-url-a"), key("py-url-b")
    moved = []
    conn = build("/hubs/api?key=" + ka, transport,
                 configure=lambda b: b.with_automatic_reconnect(lambda ctx: 0 if ctx.previous_retry_count < 5 else None))

    def on_reconnecting(err):
        conn.url = signalr_server.http + "/hubs/api?key=" + kb
        moved.append(conn.url)

    reconnected = threading.Event()
    conn.on_reconnecting(on_reconnecting)
    conn.on_reconnected(lambda cid: reconnected.set())
    conn.start(timeout=T)
    with pytest.raises(signalr.InvalidStateError):
        conn.url = signalr_server.http + "/hubs/api?key=" + kb  # connected: not now
    with pytest.raises(ValueError):
        conn.url = "ftp://example.com/hub"
    assert conn.invoke("CloseWithError", "moving", True, timeout=T) is True
    assert reconnected.wait(T)
    assert moved
    at_a = conn.invoke("Seen", ka, timeout=T)
    at_b = conn.invoke("Seen", kb, timeout=T)
    assert [s["Kind"] for s in at_a].count("negotiate") == 1
    assert [s["Kind"] for s in at_b].count("negotiate") == 1
    assert conn.url.endswith(kb)


def test_server_timeout_changed_on_a_live_connection(build, transport):
    conn = build("/hubs/silent", transport)
    closed = []
    done = threading.Event()
    conn.on_close(lambda err: (closed.append(err), done.set()))
    conn.start(timeout=T)
    assert conn.server_timeout == 30.0
    t0 = time.monotonic()
    conn.server_timeout = 0.4
    assert conn.server_timeout == 0.4
    assert done.wait(10)
    assert time.monotonic() - t0 < 5
    assert isinstance(closed[0], TimeoutError), closed


@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_raw_connection_echo(build, transport, fmt):
    if transport == "serversentevents" and fmt == "binary":
        pytest.skip("Server-Sent Events carry text only")
    conn = build("/raw/echo", transport, configure=lambda b: b.with_raw(fmt))
    got = bytearray()
    lock = threading.Lock()

    def on_receive(data):
        with lock:
            got.extend(data)

    conn.on_receive(on_receive)
    conn.start(timeout=T)
    expect = b""
    msgs = [b"hello", "caf\u00e9 \u20ac".encode(), b"x" * 30000]
    if fmt == "binary":
        msgs.append(bytes(range(256)))
    for m in msgs:
        expect += m
        conn.send_raw(m)
        assert wait_for(lambda: len(got) >= len(expect)), (len(got), len(expect))
    assert bytes(got) == expect
    with pytest.raises(signalr.SignalRError):
        conn.invoke("Echo", "x", timeout=T)
    conn.stop(timeout=T)


def test_send_raw_on_a_hub_connection_is_refused(build):
    conn = build("/hubs/api")
    conn.start(timeout=T)
    with pytest.raises(ValueError):
        conn.send_raw(b"x")
