"""The sync API of the `signalr` package against the real ASP.NET Core server.

Mirrors the C interop scenarios (tests/interop): invoke, send, handlers, client results,
streams both ways, errors with hints, auth, headers, redirects, lifecycle, over every
transport and hub protocol."""

import base64
import concurrent.futures
import datetime
import logging
import os
import signal
import threading
import time
import urllib.request

import pytest

from conftest import TRANSPORT_NAMES, _import_signalr, poll, stop_and_close

signalr = _import_signalr()

T = 15  # seconds: every blocking call in these tests is bounded


@pytest.fixture
def connect(signalr_server):
    """connect(path, transport=..., protocol=..., start=True, configure=fn(builder), **with_url_kw)"""
    made = []

    def make(path="/hubs/test", transport="websockets", protocol="json", start=True, base=None,
             configure=None, **url_kw):
        b = (signalr.HubConnectionBuilder()
             .with_url((base or signalr_server.http) + path, transport=transport, **url_kw)
             .with_hub_protocol(protocol))
        if configure:
            configure(b)
        conn = b.build()
        made.append(conn)
        if start:
            conn.start(timeout=T)
        return conn

    yield make
    stop_and_close(made, T)


def wait_for(pred, timeout=T):
    return poll(pred, timeout)


def fetch_token(server, user="alice"):
    with urllib.request.urlopen(f"{server.http}/token?user={user}", timeout=10) as r:
        return r.read().decode()


# ------------------------------------------------------------------ invoke

def test_invoke_values(connect, transport, protocol):
    conn = connect(transport=transport, protocol=protocol)
    assert conn.state == signalr.HubConnectionState.Connected
    assert conn.invoke("Echo", "héllo 中文", timeout=T) == "héllo 中文"
    assert conn.invoke("EchoInt", 2**53 + 1, timeout=T) == 2**53 + 1
    assert conn.invoke("EchoInt", -7, timeout=T) == -7
    assert conn.invoke("EchoDouble", 1.5, timeout=T) == 1.5
    assert conn.invoke("EchoBool", True, timeout=T) is True
    assert conn.invoke("EchoNull", timeout=T) is None
    nested = {"a": [1, 2.5, True, None, "x"], "b": {"c": {"d": []}}}
    assert conn.invoke("EchoAny", nested, timeout=T) == nested
    obj = {"Name": "n", "Number": 3, "Value": 0.25, "Flag": True, "Items": ["i"], "Map": {"k": 1}, "Nested": None}
    assert conn.invoke("EchoObject", obj, timeout=T) == obj
    assert conn.invoke("EchoArray", [1, 2, 3], timeout=T) == [1, 2, 3]
    assert conn.invoke("EchoStringArray", ("a", "b"), timeout=T) == ["a", "b"]
    assert conn.invoke("Add", 2, 40, timeout=T) == 42
    assert conn.invoke("Concat", "a", "b", timeout=T) == "ab"
    assert conn.invoke("NoReturn", timeout=T) is None
    assert conn.invoke("NoReturnAsync", timeout=T) is None
    assert conn.invoke("GetTransport", timeout=T) == TRANSPORT_NAMES[transport]
    assert conn.invoke("GetProtocol", timeout=T) == protocol
    assert conn.invoke("GetConnectionId", timeout=T) == conn.connection_id
    large = conn.invoke("LargeMessage", 100_000, timeout=T)
    assert isinstance(large, str) and len(large) == 100_000


def test_bytes_and_datetime(connect, transport, protocol):
    conn = connect(transport=transport, protocol=protocol)
    payload = bytes(range(256))
    echoed = conn.invoke("EchoBytes", payload, timeout=T)
    if protocol == "json":  # byte arrays travel as base64 strings (as with the official clients)
        assert base64.b64decode(echoed) == payload
    else:
        assert echoed == payload
    assert conn.invoke("BytesLength", b"\x00" * 1000, timeout=T) == 1000
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    echoed = conn.invoke("EchoAny", when, timeout=T)
    assert echoed in ("2024-05-06T07:08:09Z", when)


def test_invoke_many_threads(connect):
    conn = connect()
    results = {}

    def worker(n):
        results[n] = [conn.invoke("EchoInt", n * 100 + i, timeout=T) for i in range(20)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T)
    assert results == {n: [n * 100 + i for i in range(20)] for n in range(8)}
    futures = [conn.invoke_future("EchoInt", i) for i in range(200)]
    assert [f.result(T) for f in futures] == list(range(200))


def test_invoke_timeout_and_stop_fails_pending(connect):
    conn = connect()
    with pytest.raises(signalr.TimeoutError) as e:
        conn.invoke("DelayedEcho", 2000, "late", timeout=0.2)
    assert isinstance(e.value, TimeoutError)  # also the built-in
    assert e.value.code == signalr.ErrorCode.ETIMEOUT
    pending = conn.invoke_future("DelayedEcho", 5000, "late")
    conn.stop(timeout=T)  # (commands keep their order: the invocation went out first)
    assert conn.state == signalr.HubConnectionState.Disconnected
    with pytest.raises(signalr.ConnectionClosedError):
        pending.result(T)
    with pytest.raises(signalr.SignalRError):
        conn.invoke("Echo", "x", timeout=T)
    # restart after stop
    conn.start(timeout=T)
    assert conn.invoke("Echo", "again", timeout=T) == "again"


# ------------------------------------------------------------------ errors

def test_hub_errors(connect, transport, protocol):
    conn = connect(transport=transport, protocol=protocol)
    with pytest.raises(signalr.HubError) as e:
        conn.invoke("Throw", "boom", timeout=T)
    assert "InvalidOperationException: boom" in e.value.message
    assert e.value.code == -10 and e.value.name == "SIGNALR_EHUB"
    with pytest.raises(signalr.HubError) as e:
        conn.invoke("ThrowHubException", "nope", timeout=T)
    assert "HubException: nope" in str(e.value)
    with pytest.raises(signalr.HubError) as e:
        conn.invoke("NoSuchMethod", timeout=T)
    assert "Method does not exist" in e.value.message
    # the connection survives hub errors
    assert conn.invoke("Echo", "still here", timeout=T) == "still here"


def test_hub_errors_without_detail(connect):
    conn = connect("/hubs/test-nodetail")
    with pytest.raises(signalr.HubError) as e:
        conn.invoke("Throw", "secret", timeout=T)
    assert "secret" not in e.value.message
    assert "An unexpected error occurred invoking 'Throw'" in e.value.message


def test_connect_errors_have_status_and_hints(connect, signalr_server):
    with pytest.raises(signalr.NotFoundError) as e:
        connect("/no/such/hub")
    assert e.value.http_status == 404
    assert "hub path" in e.value.hint
    assert isinstance(e.value, signalr.HttpError) and isinstance(e.value, signalr.TransportError)

    with pytest.raises(signalr.NegotiateError) as e:
        connect("/negotiate-error")
    assert e.value.message == "This connection is not allowed."

    with pytest.raises(signalr.SignalRError) as e:
        connect("/hubs/ws-rejected", transport="websockets")
    assert e.value.http_status == 503
    assert e.value.hint

    with pytest.raises(signalr.SignalRError) as e:
        connect("/status/503")
    assert e.value.http_status == 503

    with pytest.raises(signalr.LegacyServerError):
        connect("/legacy")

    with pytest.raises(signalr.SignalRError) as e:
        connect("/https-redirect/hubs/test")
    assert e.value.http_status == 307
    assert "https" in (e.value.hint or "").lower()


def test_connection_refused():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conn = signalr.HubConnectionBuilder().with_url(f"http://127.0.0.1:{port}/hubs/test").build()
    with pytest.raises(signalr.TransportError) as e:
        conn.start(timeout=T)
    assert e.value.code in (signalr.ErrorCode.ECONNREFUSED, signalr.ErrorCode.ETRANSPORT)
    conn.close()


def test_sse_refuses_messagepack(connect):
    # Server-Sent Events carry text only: the binary protocol cannot use them.
    with pytest.raises(signalr.SignalRError) as e:
        connect("/hubs/sse", transport="serversentevents", protocol="messagepack")
    assert e.value.code == signalr.ErrorCode.EUNSUPPORTED
    assert "ServerSentEvents (text only)" in e.value.message
    # An endpoint without WebSockets: MessagePack ends on Long Polling (JSON would pick SSE).
    conn = connect("/hubs/no-websockets", transport=None, protocol="messagepack")
    assert conn.invoke("GetTransport", timeout=T) == "LongPolling"


def test_bad_options_fail_at_build():
    with pytest.raises(signalr.InvalidArgumentError) as e:
        signalr.HubConnectionBuilder().with_url("ftp://x/hub").build()
    assert "url" in str(e.value)
    with pytest.raises(signalr.InvalidArgumentError):
        signalr.HubConnectionBuilder().with_url("http://x/hub").with_option("no_such_option", 1).build()
    with pytest.raises(signalr.InvalidArgumentError):
        signalr.HubConnectionBuilder().with_url("http://x/hub", transport="carrier-pigeon").build()
    with pytest.raises(ValueError):
        signalr.HubConnectionBuilder().with_hub_protocol("xml")
    names = [o[0] for o in signalr.options()]
    assert "url" in names and "server_timeout_ms" in names


def test_error_classes_cover_every_c_code():
    from signalr import lowlevel
    for code, name, _desc in lowlevel.pysr_error_table():
        if code == 0:
            continue
        cls = signalr.error_class(code)
        assert cls is not signalr.SignalRError, name
        assert cls.code == code and cls.name == name
        assert signalr.ErrorCode[name[len("SIGNALR_"):]] == code
        err = signalr.error_from_code(code, "m", http_status=418, hint="h")
        assert isinstance(err, signalr.SignalRError) and err.http_status == 418
        assert "hint: h" in str(err)
    assert issubclass(signalr.TimeoutError, TimeoutError)
    assert issubclass(signalr.TransportError, ConnectionError)
    assert issubclass(signalr.InvalidArgumentError, ValueError)
    import pickle
    e = pickle.loads(pickle.dumps(signalr.error_from_code(-10, "x", http_status=0)))
    assert type(e) is signalr.HubError and e.message == "x"


# ------------------------------------------------------------------ handlers

def test_handlers(connect, transport, protocol):
    conn = connect(transport=transport, protocol=protocol)
    seen = []
    lock = threading.Lock()

    def record(*args):
        with lock:
            seen.append(args)

    conn.on("callback", lambda v: record("lower", v))
    sub = conn.on("CALLBACK", lambda v: record("upper", v))
    conn.on("Callback1", lambda v: record("one", v))
    conn.on("Callback2", lambda v, n: record("two", v, n))
    conn.on("NoArgs", lambda: record("none"))
    conn.send("Callback", "x")
    assert wait_for(lambda: len(seen) >= 2)
    assert seen[:2] == [("lower", "x"), ("upper", "x")]
    sub.dispose()
    conn.invoke("Callback", "y", timeout=T)
    conn.invoke("CallbackMulti", "y", timeout=T)
    assert wait_for(lambda: len(seen) >= 6)
    assert seen[2:] == [("lower", "y"), ("one", "y"), ("two", "y", 42), ("none",)]
    conn.off("callback")
    conn.off("Callback1")
    conn.off("Callback2")
    conn.off("NoArgs")
    conn.invoke("CallbackMulti", "z", timeout=T)
    conn.invoke("Callback", "z", timeout=T)
    # (no wait: a sync invoke returns after the handlers for what the server sent before its
    # result have run, so calls to the removed handlers would have been seen by now)
    assert len(seen) == 6
    # handlers registered before start are registered on the native connection at start
    c2 = connect(start=False, transport=transport, protocol=protocol)
    got = []
    c2.on("Callback", got.append)
    c2.start(timeout=T)
    c2.invoke("Callback", "early", timeout=T)
    assert wait_for(lambda: got == ["early"])


def test_handlers_run_in_order_before_completion(connect):
    conn = connect()
    seen = []
    conn.on("Numbered", seen.append)
    assert conn.invoke("SendNumbered", 500, timeout=T) == 500
    assert seen == list(range(1, 501))


def test_handler_exceptions_are_logged_and_not_fatal(connect, signalr_logs):
    conn = connect()
    ok = []

    def bad(v):
        raise ValueError("handler bug " + v)

    conn.on("Callback", bad)
    conn.on("Callback", ok.append)
    conn.invoke("Callback", "a", timeout=T)
    assert wait_for(lambda: ok == ["a"])
    assert any("handler for 'Callback' raised" in r.getMessage() and r.exc_info
               for r in signalr_logs.records if r.name == "signalr")
    assert conn.state == signalr.HubConnectionState.Connected
    assert conn.invoke("Echo", "alive", timeout=T) == "alive"


def test_blocking_calls_inside_handlers(connect):
    conn = connect()
    outcome = {}

    def handler(v):
        try:
            conn.invoke("Echo", "nested", timeout=1)
        except signalr.RecursiveCallError as e:
            outcome["recursive"] = e
        fut = conn.invoke_future("Echo", "from handler")
        fut.add_done_callback(lambda f: outcome.setdefault("future", f.result()))
        conn.send("Echo", "sent from handler")

    conn.on("Callback", handler)
    conn.invoke("Callback", "x", timeout=T)
    assert wait_for(lambda: "future" in outcome)
    assert isinstance(outcome["recursive"], signalr.InvalidStateError)
    assert outcome["future"] == "from handler"


# ------------------------------------------------------------------ client results

def test_client_results(connect, transport, protocol):
    conn = connect(transport=transport, protocol=protocol)
    conn.on("GetValue", lambda: {"from": "python", "n": [1, 2]})
    conn.on("Double", lambda x: x * 2)
    conn.on("ReturnsNone", lambda: None)

    def fails():
        raise RuntimeError("no value today")

    conn.on("Fails", fails)
    assert conn.invoke("GetClientResultNoArgs", "GetValue", timeout=T) == {"from": "python", "n": [1, 2]}
    assert conn.invoke("GetClientResultNoArgs", "getvalue", timeout=T) == {"from": "python", "n": [1, 2]}
    assert conn.invoke("GetClientResult", "Double", 21, timeout=T) == 42
    assert conn.invoke("GetClientResultNoArgs", "ReturnsNone", timeout=T) is None
    assert conn.invoke("GetClientResultNoArgs", "Fails", timeout=T) == "error: RuntimeError: no value today"
    missing = conn.invoke("GetClientResultNoArgs", "Missing", timeout=T)
    assert "didn't provide a result" in missing


# ------------------------------------------------------------------ server-to-client streams

def test_streams(connect, transport, protocol):
    conn = connect(transport=transport, protocol=protocol)
    assert list(conn.stream("Counter", 5, 0)) == [0, 1, 2, 3, 4]
    assert list(conn.stream("CounterChannel", 3, 10)) == [0, 1, 2]
    assert list(conn.stream("EmptyStream")) == []
    items = []
    with pytest.raises(signalr.HubError) as e:
        for item in conn.stream("StreamThenFail", 2, "broken"):
            items.append(item)
    assert items == [0, 1]
    assert "broken" in e.value.message
    with pytest.raises(signalr.HubError) as e:
        list(conn.stream("StreamThenHubException", 1, "hub-broken"))
    assert "hub-broken" in e.value.message


def test_stream_cancel(connect, transport):
    conn = connect(transport=transport)
    key = "py-sync-" + transport
    with conn.stream("InfiniteStream", key, 5) as s:
        first = [s.next(timeout=T), s.next(timeout=T)]
    assert first == [0, 1]
    assert list(s) == []  # closed: iteration ends
    assert wait_for(lambda: conn.invoke("WasStreamCanceled", key, timeout=T) is True)
    # breaking out of a for loop and closing also cancels
    s2 = conn.stream("InfiniteStream", key + "-2", 5)
    for item in s2:
        if item >= 2:
            break
    s2.close()
    assert wait_for(lambda: conn.invoke("WasStreamCanceled", key + "-2", timeout=T) is True)


# ------------------------------------------------------------------ client-to-server streams

def test_upload_streams(connect, transport, protocol):
    conn = connect(transport=transport, protocol=protocol)
    subject = signalr.Subject()
    fut = conn.invoke_future("UploadConcat", subject)
    for part in ("a", "b", "c"):
        subject.next(part)
    subject.complete()
    assert fut.result(T) == "abc"
    # from a generator (an iterator argument is an upload stream)
    assert conn.invoke("UploadSum", (i for i in range(101)), timeout=T) == 5050
    # from any iterable, explicitly
    assert conn.invoke("UploadSum", signalr.UploadStream([1, 2, 3]), timeout=T) == 6
    # two streams and a plain argument
    a, b = signalr.Subject(), signalr.Subject()
    fut = conn.invoke_future("UploadTwo", a, b)
    a.next("x"), b.next("y"), a.next("z")
    a.complete(), b.complete()
    assert fut.result(T) == "xz|y"
    # items written before the call are sent with it; send() works too
    s = signalr.Subject()
    s.next({"k": 1})
    s.next([1, 2])
    conn.send("UploadRecord", "py-sync-rec", s)
    s.complete()
    assert wait_for(lambda: conn.invoke("GetRecorded", "py-sync-rec", timeout=T) == [{"k": 1}, [1, 2]])


def test_upload_waits_for_room_instead_of_failing(connect):
    # A small outgoing buffer: the writes meet EAGAIN many times and wait for the library's
    # writable event; every item arrives, in order (the sum and the count are exact).
    conn = connect(configure=lambda b: b.with_option("transport_max_buffer_size", 1024))
    n = 20000
    assert conn.invoke("UploadSum", (i for i in range(n)), timeout=T) == n * (n - 1) // 2
    # invokes meeting the same full buffer wait too (no WouldBlockError)
    futs = [conn.invoke_future("Echo", "x" * 300) for _ in range(50)]
    assert [f.result(T) for f in futs] == ["x" * 300] * 50


def test_upload_stream_error(connect):
    conn = connect()

    def gen():
        yield "a"
        raise RuntimeError("source broke")

    with pytest.raises(signalr.HubError):
        conn.invoke("UploadConcat", gen(), timeout=T)
    assert conn.invoke("Echo", "alive", timeout=T) == "alive"


def test_upload_into_stream_invocation(connect):
    conn = connect()
    subject = signalr.Subject()
    s = conn.stream("UploadEcho", subject)
    subject.next(1)
    subject.next(2)
    subject.complete()
    assert list(s) == [1, 2]
    assert list(conn.stream("UploadEcho", iter([5, 6, 7]))) == [5, 6, 7]


def test_client_result_from_a_future(connect):
    conn = connect()
    pool = concurrent.futures.ThreadPoolExecutor(2)

    def later(x):
        time.sleep(0.05)
        return x * 3

    def fails():
        raise KeyError("gone")

    conn.on("Later", lambda x: pool.submit(later, x))
    conn.on("LaterFails", lambda: pool.submit(fails))
    try:
        assert conn.invoke("GetClientResult", "Later", 14, timeout=T) == 42
        assert conn.invoke("GetClientResultNoArgs", "LaterFails", timeout=T).startswith("error: KeyError")
    finally:
        pool.shutdown()


# ------------------------------------------------------------------ auth, headers, cookies, redirects

def test_auth(connect, signalr_server):
    with pytest.raises(signalr.AuthenticationError) as e:
        connect("/hubs/auth")
    assert e.value.http_status == 401 and e.value.hint
    token = fetch_token(signalr_server, "alice")
    conn = connect("/hubs/auth", access_token=token)
    assert conn.invoke("GetUserName", timeout=T) == "alice"
    calls = []

    def factory():
        calls.append(1)
        return fetch_token(signalr_server, "bob")

    conn = connect("/hubs/auth", access_token_factory=factory)
    assert conn.invoke("GetUserName", timeout=T) == "bob"
    assert calls


def test_token_provider_asked_for_each_request(connect, signalr_server):
    calls = []

    def factory():
        calls.append(1)
        return fetch_token(signalr_server, "carol")

    conn = connect("/hubs/auth", access_token_factory=factory)
    assert conn.invoke("GetUserName", timeout=T) == "carol"
    assert len(calls) >= 2  # negotiate and the transport connect


def test_auth_factory_errors(connect):
    def factory():
        raise RuntimeError("vault is down")
    with pytest.raises(signalr.SignalRError):
        connect("/hubs/auth", access_token_factory=factory)


def test_headers(connect, transport):
    conn = connect(transport=transport, headers={"X-Test-Header": "py-value", "X-Other": "2"})
    assert conn.invoke("GetHeader", "X-Test-Header", timeout=T) == "py-value"
    assert conn.invoke("GetHeader", "X-Other", timeout=T) == "2"
    assert conn.invoke("GetHeader", "X-Missing", timeout=T) is None


def test_cookies_from_negotiate(connect):
    conn = connect("/hubs/cookie")
    assert conn.invoke("GetCookie", "testCookie", timeout=T) == "negotiate-cookie"


def test_redirects(connect, signalr_server):
    conn = connect("/redirect/url")
    assert conn.invoke("GetRedirects", timeout=T) == 1
    conn = connect("/redirect/chain/3")
    assert conn.invoke("GetRedirects", timeout=T) == 3
    conn = connect("/redirect/token")  # the redirect's accessToken is used for the target
    assert conn.invoke("GetUserName", timeout=T) == "redirected-user"
    with pytest.raises(signalr.RedirectError):
        connect("/redirect/loop")


def test_https(connect, signalr_server):
    conn = connect(base=signalr_server.https, configure=lambda b: b.with_tls(ca_file=signalr_server.cert))
    assert conn.invoke("Echo", "tls", timeout=T) == "tls"
    with pytest.raises(signalr.TransportError) as e:
        connect(base=signalr_server.https)
    assert e.value.code == signalr.ErrorCode.ETLS


def test_skip_negotiation(connect, signalr_server):
    conn = connect(skip_negotiation=True)
    assert conn.invoke("Echo", "direct", timeout=T) == "direct"
    assert conn.connection_id is None
    with pytest.raises(signalr.InvalidArgumentError):
        connect(skip_negotiation=True, transport="longpolling")


def test_transport_flags_and_fallback(connect):
    conn = connect("/hubs/test", transport=signalr.HttpTransportType.WebSockets)
    assert conn.invoke("GetTransport", timeout=T) == "WebSockets"


def test_fallback_when_websockets_rejected(connect):
    conn = connect("/hubs/ws-rejected", transport=None)
    assert conn.invoke("GetTransport", timeout=T) in ("ServerSentEvents", "LongPolling")


# ------------------------------------------------------------------ groups, broadcast, two clients

def test_groups_and_direct_messages(connect):
    a, b = connect(), connect()
    got_a, got_b = [], []
    a.on("GroupMessage", lambda g, m: got_a.append((g, m)))
    b.on("GroupMessage", lambda g, m: got_b.append((g, m)))
    b.on("Direct", lambda sender, m: got_b.append(("direct", sender, m)))
    a.invoke("JoinGroup", "py-group", timeout=T)
    b.invoke("JoinGroup", "py-group", timeout=T)
    a.invoke("SendToGroup", "py-group", "hello", timeout=T)
    assert wait_for(lambda: got_a == [("py-group", "hello")] and got_b == [("py-group", "hello")])
    a.invoke("SendToConnection", b.connection_id, "psst", timeout=T)
    assert wait_for(lambda: ("direct", a.connection_id, "psst") in got_b)


# ------------------------------------------------------------------ lifecycle

def test_lifecycle_events(connect):
    conn = connect(start=False)
    closed = []
    conn.on_close(closed.append)
    with conn:
        assert conn.state == signalr.HubConnectionState.Connected
        assert conn.connection_id
    assert wait_for(lambda: closed == [None])
    assert conn.state == signalr.HubConnectionState.Disconnected
    assert conn.connection_id is None  # as the official clients, once disconnected


def test_server_close_with_error(connect):
    conn = connect()
    closed = []
    conn.on_close(closed.append)
    assert conn.invoke("CloseWithError", "server says bye", False, timeout=T) is True
    assert wait_for(lambda: len(closed) == 1)
    assert isinstance(closed[0], signalr.SignalRError)
    assert "server says bye" in closed[0].message
    assert conn.state == signalr.HubConnectionState.Disconnected


def test_abort_from_server(connect):
    conn = connect()
    closed = []
    conn.on_close(closed.append)
    with pytest.raises(signalr.SignalRError):
        conn.invoke("AbortConnection", timeout=T)
    assert wait_for(lambda: len(closed) == 1)


def test_automatic_reconnect(connect):
    events = []
    conn = connect(configure=lambda b: b.with_automatic_reconnect([0, 0.1, 0.5]))
    conn.on_reconnecting(lambda e: events.append(("reconnecting", e)))
    conn.on_reconnected(lambda cid: events.append(("reconnected", cid)))
    assert conn.invoke("DropTransport", timeout=T) is True
    assert wait_for(lambda: any(e[0] == "reconnected" for e in events))
    assert events[0][0] == "reconnecting"
    assert conn.invoke("Echo", "back", timeout=T) == "back"


def test_reconnect_on_server_request(connect):
    events = []
    conn = connect(configure=lambda b: b.with_automatic_reconnect())
    conn.on_reconnected(lambda cid: events.append(cid))
    conn.invoke("CloseWithReconnect", timeout=T)
    assert wait_for(lambda: events)
    assert conn.invoke("Echo", "back", timeout=T) == "back"


def test_custom_retry_policy(connect):
    asked = []

    def policy(ctx):
        asked.append(ctx)
        return 0.05 if ctx.previous_retry_count < 3 else None

    conn = connect(configure=lambda b: b.with_automatic_reconnect(policy))
    reconnected = []
    conn.on_reconnected(reconnected.append)
    conn.invoke("DropTransport", timeout=T)
    assert wait_for(lambda: reconnected)
    assert asked and asked[0].previous_retry_count == 0
    assert isinstance(asked[0], signalr.RetryContext)


def test_stateful_reconnect_keeps_connection_id(connect):
    conn = connect("/hubs/stateful", configure=lambda b: b.with_automatic_reconnect().with_stateful_reconnect())
    assert conn.invoke("IsStatefulReconnect", timeout=T) is True
    cid = conn.connection_id
    reconnected = []
    conn.on_reconnected(reconnected.append)
    conn.invoke("DropTransport", timeout=T)
    seen = []
    conn.on("Numbered", seen.append)
    assert conn.invoke("SendNumbered", 50, timeout=T) == 50
    assert seen == list(range(1, 51))
    assert conn.connection_id == cid


# ------------------------------------------------------------------ logging

def test_library_logs_reach_the_signalr_logger(signalr_server, signalr_logs):
    conn = (signalr.HubConnectionBuilder().with_url(signalr_server.http + "/hubs/test")
            .configure_logging("debug").build())
    try:
        conn.start(timeout=T)
        conn.stop(timeout=T)
    finally:
        conn.close()
    messages = [r.getMessage() for r in signalr_logs.records if r.name == "signalr"]
    assert any("negotiat" in m for m in messages), messages
    assert any(r.levelno == logging.DEBUG for r in signalr_logs.records if r.name == "signalr")


# ------------------------------------------------------------------ Ctrl-C

@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="needs the main thread")
def test_keyboard_interrupt_during_blocking_invoke(connect):
    conn = connect()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        conn.invoke("DelayedEcho", 3000, "slow", timeout=T)
    assert time.monotonic() - started < 2.5
    timer.join()
    # the connection is unharmed; the abandoned call's late result is dropped
    # The hub runs one invocation at a time: this Echo completes after the abandoned
    # DelayedEcho did, so its late result has come (and was dropped) by then.
    assert conn.invoke("Echo", "after ctrl-c", timeout=T) == "after ctrl-c"
    assert conn.invoke("Echo", "still", timeout=T) == "still"


def test_blocking_invoke_waiter_outcomes(connect, protocol):
    # invoke waits on a lock the completion releases (no Future): results, hub errors,
    # timeouts (timeout=0 too) and a close while it waits all come out as before
    conn = connect(protocol=protocol)
    assert conn.invoke("Echo", "hello", timeout=T) == "hello"
    assert conn.invoke("Echo", "é \"x\"", timeout=T) == "é \"x\""
    assert conn.invoke("EchoInt", 42, timeout=T) == 42
    with pytest.raises(signalr.HubError):
        conn.invoke("Throw", "boom", timeout=T)
    with pytest.raises(signalr.TimeoutError):
        conn.invoke("DelayedEcho", 2000, "late", timeout=0)
    t0 = time.monotonic()
    with pytest.raises(signalr.TimeoutError):
        conn.invoke("DelayedEcho", 2000, "late", timeout=0.3)
    assert time.monotonic() - t0 < 1.5
    threading.Timer(0.3, conn.close).start()
    with pytest.raises(signalr.ConnectionClosedError):
        conn.invoke("DelayedEcho", 5000, "late", timeout=T)
    conn.start(timeout=T)
    assert conn.invoke("Echo", "again", timeout=T) == "again"

