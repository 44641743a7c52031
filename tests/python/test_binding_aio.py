"""The asyncio API (signalr.aio) against the real ASP.NET Core server: the same scenarios
as test_binding_sync.py, with await, async for, async handlers and async client results."""

import asyncio
import base64
import logging
import os
import signal
import time
import urllib.request

import pytest

from conftest import (TRANSPORT_NAMES, _import_signalr, run_async)

signalr = _import_signalr()
aio = signalr.aio

T = 15


class Connector:
    """Builds connections for one test and stops them at the end (inside the test's loop)."""

    def __init__(self, server):
        self.server = server
        self.made = []

    async def __call__(self, path="/hubs/test", transport="websockets", protocol="json", start=True,
                       base=None, configure=None, **url_kw):
        b = (aio.HubConnectionBuilder()
             .with_url((base or self.server.http) + path, transport=transport, **url_kw)
             .with_hub_protocol(protocol))
        if configure:
            configure(b)
        conn = b.build()
        self.made.append(conn)
        if start:
            await conn.start(timeout=T)
        return conn

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        for conn in self.made:
            try:
                await conn.stop(timeout=T)
            except Exception:
                pass
            conn.close()


async def wait_for(pred, timeout=T):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.01)
    return pred()


def fetch_token(server, user):
    with urllib.request.urlopen(f"{server.http}/token?user={user}", timeout=10) as r:
        return r.read().decode()


# ------------------------------------------------------------------ invoke

@run_async
async def test_invoke_values(signalr_server, transport, protocol):
    async with Connector(signalr_server) as connect:
        conn = await connect(transport=transport, protocol=protocol)
        assert conn.state == signalr.HubConnectionState.Connected
        assert await conn.invoke("Echo", "héllo 中文") == "héllo 中文"
        assert await conn.invoke("EchoInt", 2**53 + 1) == 2**53 + 1
        assert await conn.invoke("EchoDouble", -0.125) == -0.125
        assert await conn.invoke("EchoNull") is None
        nested = {"a": [1, 2.5, True, None], "b": {"c": "d"}}
        assert await conn.invoke("EchoAny", nested) == nested
        assert await conn.invoke("Add", 2, 40) == 42
        assert await conn.invoke("NoReturn") is None
        assert await conn.invoke("GetTransport") == TRANSPORT_NAMES[transport]
        assert await conn.invoke("GetConnectionId") == conn.connection_id
        echoed = await conn.invoke("EchoBytes", b"\x00\x01\xff")
        assert (base64.b64decode(echoed) if protocol == "json" else echoed) == b"\x00\x01\xff"
        results = await asyncio.gather(*(conn.invoke("EchoInt", i) for i in range(100)))
        assert results == list(range(100))


@run_async
async def test_thousand_invokes_in_flight(signalr_server):
    async with Connector(signalr_server) as connect:
        conn = await connect()
        futures = [conn.invoke_future("EchoInt", i) for i in range(1000)]
        results = await asyncio.wait_for(asyncio.gather(*futures), 60)
        assert results == list(range(1000))
        # and as coroutines, mixed with other work
        results = await asyncio.gather(*(conn.invoke("Echo", str(i)) for i in range(1000)))
        assert results == [str(i) for i in range(1000)]


@run_async
async def test_timeout_cancel_and_stop(signalr_server):
    async with Connector(signalr_server) as connect:
        conn = await connect()
        with pytest.raises(signalr.TimeoutError):
            await conn.invoke("DelayedEcho", 2000, "late", timeout=0.2)
        task = asyncio.ensure_future(conn.invoke("DelayedEcho", 2000, "late"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await conn.invoke("Echo", "alive") == "alive"
        pending = conn.invoke_future("DelayedEcho", 5000, "late")
        await asyncio.sleep(0.1)
        await conn.stop()
        with pytest.raises(signalr.ConnectionClosedError):
            await pending
        await conn.start()
        assert await conn.invoke("Echo", "again") == "again"


# ------------------------------------------------------------------ errors

@run_async
async def test_errors(signalr_server, transport):
    async with Connector(signalr_server) as connect:
        conn = await connect(transport=transport)
        with pytest.raises(signalr.HubError) as e:
            await conn.invoke("Throw", "boom")
        assert "InvalidOperationException: boom" in e.value.message
        with pytest.raises(signalr.HubError) as e:
            await conn.invoke("NoSuchMethod")
        assert "Method does not exist" in e.value.message
        assert await conn.invoke("Echo", "ok") == "ok"
    async with Connector(signalr_server) as connect:
        with pytest.raises(signalr.NotFoundError) as e:
            await connect("/no/such/hub")
        assert e.value.http_status == 404 and "hub path" in e.value.hint
        with pytest.raises(signalr.NegotiateError) as e:
            await connect("/negotiate-error")
        assert e.value.message == "This connection is not allowed."
        with pytest.raises(signalr.AuthenticationError) as e:
            await connect("/hubs/auth")
        assert e.value.http_status == 401


# ------------------------------------------------------------------ handlers

@run_async
async def test_handlers_sync_and_async(signalr_server, transport, protocol):
    async with Connector(signalr_server) as connect:
        conn = await connect(transport=transport, protocol=protocol)
        seen = []

        async def slow_handler(v):
            await asyncio.sleep(0.01)
            seen.append(("async", v))

        conn.on("Callback", lambda v: seen.append(("sync", v)))
        conn.on("callback", slow_handler)
        await conn.send("Callback", "x")
        assert await wait_for(lambda: len(seen) == 2)
        assert sorted(seen) == [("async", "x"), ("sync", "x")]
        conn.off("Callback")
        await conn.invoke("Callback", "y")
        await asyncio.sleep(0.1)
        assert len(seen) == 2
        numbers = []
        conn.on("Numbered", numbers.append)
        assert await conn.invoke("SendNumbered", 300) == 300
        assert numbers == list(range(1, 301))


@run_async
async def test_handler_exceptions_are_logged_and_not_fatal(signalr_server, signalr_logs):
    async with Connector(signalr_server) as connect:
        conn = await connect()
        ok = []

        def bad(v):
            raise ValueError("sync bug")

        async def bad_async(v):
            await asyncio.sleep(0)
            raise ValueError("async bug")

        conn.on("Callback", bad)
        conn.on("Callback", bad_async)
        conn.on("Callback", ok.append)
        await conn.invoke("Callback", "a")
        assert await wait_for(lambda: ok == ["a"])
        await asyncio.sleep(0.05)
        messages = [r.getMessage() for r in signalr_logs.records if r.name == "signalr" and r.exc_info]
        assert any("handler for 'Callback' raised" in m for m in messages), messages
        assert any("async bug" in str(r.exc_info[1]) for r in signalr_logs.records if r.exc_info)
        assert await conn.invoke("Echo", "alive") == "alive"


# ------------------------------------------------------------------ client results

@run_async
async def test_client_results(signalr_server, transport, protocol):
    async with Connector(signalr_server) as connect:
        conn = await connect(transport=transport, protocol=protocol)
        conn.on("Sync", lambda x: x + 1)

        async def immediate(x):  # finishes without suspending: answered from the coroutine
            return {"doubled": x * 2}

        async def raises():
            raise KeyError("nope")

        conn.on("Async", immediate)
        conn.on("Raises", raises)
        assert await conn.invoke("GetClientResult", "Sync", 1) == 2
        assert await conn.invoke("GetClientResult", "Async", 21) == {"doubled": 42}
        assert (await conn.invoke("GetClientResultNoArgs", "Raises")).startswith("error: KeyError")
        assert "didn't provide a result" in await conn.invoke("GetClientResultNoArgs", "Missing")


@run_async
async def test_async_client_result_that_awaits(signalr_server, transport):
    async with Connector(signalr_server) as connect:
        conn = await connect(transport=transport)

        async def later():
            await asyncio.sleep(0.05)
            return "later"

        async def later_fails():
            await asyncio.sleep(0.01)
            raise KeyError("gone")

        async def later_none():
            await asyncio.sleep(0.01)

        conn.on("Later", later)
        conn.on("LaterFails", later_fails)
        conn.on("LaterNone", later_none)
        assert await conn.invoke("GetClientResultNoArgs", "Later") == "later"
        assert (await conn.invoke("GetClientResultNoArgs", "LaterFails")).startswith("error: KeyError")
        assert await conn.invoke("GetClientResultNoArgs", "LaterNone") is None
        # several at once, answered out of order
        delays = {"A": 0.08, "B": 0.01, "C": 0.04}

        def slow(name):
            async def answer(arg):
                await asyncio.sleep(delays[name])
                return name + str(arg)
            return answer

        for name in delays:
            conn.on(name, slow(name))
        got = await asyncio.gather(*(conn.invoke("GetClientResult", name, i) for i, name in enumerate(delays)))
        assert got == ["A0", "B1", "C2"]
        assert await conn.invoke("Echo", "alive") == "alive"


@run_async
async def test_upload_into_stream_invocation(signalr_server):
    async with Connector(signalr_server) as connect:
        conn = await connect()

        async def numbers():
            for i in range(1, 4):
                await asyncio.sleep(0)
                yield i

        assert [i async for i in conn.stream("UploadEcho", numbers())] == [1, 2, 3]


# ------------------------------------------------------------------ streams

@run_async
async def test_streams(signalr_server, transport, protocol):
    async with Connector(signalr_server) as connect:
        conn = await connect(transport=transport, protocol=protocol)
        assert [i async for i in conn.stream("Counter", 5, 0)] == [0, 1, 2, 3, 4]
        assert [i async for i in conn.stream("EmptyStream")] == []
        items = []
        with pytest.raises(signalr.HubError) as e:
            async for item in conn.stream("StreamThenFail", 2, "broken"):
                items.append(item)
        assert items == [0, 1] and "broken" in e.value.message
        key = "py-aio-" + transport
        async with conn.stream("InfiniteStream", key, 5) as s:
            async for item in s:
                if item >= 2:
                    break
        assert await wait_for_async(lambda: conn.invoke("WasStreamCanceled", key))
        # two streams at once, interleaved with invokes
        a = conn.stream("Counter", 20, 1)
        b = conn.stream("CounterChannel", 20, 1)
        got_a, got_b, echo = await asyncio.gather(collect(a), collect(b), conn.invoke("Echo", "mid"))
        assert got_a == got_b == list(range(20)) and echo == "mid"


async def collect(stream):
    return [i async for i in stream]


async def wait_for_async(make_coro, timeout=T):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await make_coro():
            return True
        await asyncio.sleep(0.05)
    return False


@run_async
async def test_upload_streams(signalr_server, transport):
    async with Connector(signalr_server) as connect:
        conn = await connect(transport=transport)

        async def numbers(n):
            for i in range(n):
                await asyncio.sleep(0)
                yield i

        assert await conn.invoke("UploadSum", numbers(101)) == 5050
        subject = aio.Subject()
        fut = conn.invoke_future("UploadConcat", subject)
        for part in "abc":
            await subject.send(part)
        subject.complete()
        assert await fut == "abc"
        assert await conn.invoke("UploadSum", iter([1, 2, 3])) == 6


@run_async
async def test_upload_awaits_room_instead_of_failing(signalr_server):
    # A small outgoing buffer: writes meet EAGAIN and await the library's writable event.
    async with Connector(signalr_server) as connect:
        conn = await connect(configure=lambda b: b.with_option("transport_max_buffer_size", 1024))
        n = 20000
        assert await conn.invoke("UploadSum", iter(range(n))) == n * (n - 1) // 2


# ------------------------------------------------------------------ auth, headers, redirects

@run_async
async def test_auth_headers_redirects(signalr_server):
    async with Connector(signalr_server) as connect:
        token = fetch_token(signalr_server, "alice")

        async def async_factory():
            await asyncio.sleep(0)
            return token

        conn = await connect("/hubs/auth", access_token_factory=async_factory)
        assert await conn.invoke("GetUserName") == "alice"
        conn = await connect("/hubs/auth", access_token_factory=lambda: token)
        assert await conn.invoke("GetUserName") == "alice"
        conn = await connect(headers={"X-Test-Header": "aio"})
        assert await conn.invoke("GetHeader", "X-Test-Header") == "aio"
        conn = await connect("/redirect/chain/2")
        assert await conn.invoke("GetRedirects") == 2
        conn = await connect("/redirect/token")
        assert await conn.invoke("GetUserName") == "redirected-user"


@run_async
async def test_async_token_provider_answered_later(signalr_server):
    calls = []

    async def factory():
        calls.append(1)
        await asyncio.sleep(0.01)
        return fetch_token(signalr_server, "dave")

    async with Connector(signalr_server) as connect:
        conn = await connect("/hubs/auth", access_token_factory=factory)
        assert await conn.invoke("GetUserName") == "dave"
        assert len(calls) >= 2


# ------------------------------------------------------------------ lifecycle

@run_async
async def test_lifecycle(signalr_server):
    closed = []
    async with Connector(signalr_server) as connect:
        conn = await connect(start=False)

        async def on_close(err):
            closed.append(err)

        conn.on_close(on_close)
        async with conn:
            assert conn.state == signalr.HubConnectionState.Connected
        assert await wait_for(lambda: closed == [None])
        conn2 = await connect()
        errors = []
        conn2.on_close(errors.append)
        assert await conn2.invoke("CloseWithError", "bye", False) is True
        assert await wait_for(lambda: len(errors) == 1)
        assert "bye" in errors[0].message


@run_async
async def test_automatic_reconnect(signalr_server):
    async with Connector(signalr_server) as connect:
        conn = await connect(configure=lambda b: b.with_automatic_reconnect([0, 0.1]))
        events = []
        conn.on_reconnecting(lambda e: events.append("reconnecting"))

        async def reconnected(cid):
            events.append("reconnected")

        conn.on_reconnected(reconnected)
        assert await conn.invoke("DropTransport") is True
        assert await wait_for(lambda: "reconnected" in events)
        assert await conn.invoke("Echo", "back") == "back"


@run_async
async def test_retry_policy_object(signalr_server):
    class Policy:
        def __init__(self):
            self.asked = []

        def next_retry_delay(self, ctx):
            self.asked.append(ctx)
            return 0.05

    policy = Policy()
    async with Connector(signalr_server) as connect:
        conn = await connect(configure=lambda b: b.with_automatic_reconnect(policy))
        back = []
        conn.on_reconnected(back.append)
        await conn.invoke("DropTransport")
        assert await wait_for(lambda: back)
        assert policy.asked


# ------------------------------------------------------------------ loops and Ctrl-C

def test_connections_on_successive_loops(signalr_server):
    """A connection can be used from one asyncio.run, stopped, and restarted in another."""
    conn = aio.HubConnectionBuilder().with_url(signalr_server.http + "/hubs/test").build()

    async def use(word):
        await conn.start(timeout=T)
        try:
            return await conn.invoke("Echo", word)
        finally:
            await conn.stop()

    assert asyncio.run(use("one")) == "one"
    assert asyncio.run(use("two")) == "two"
    conn.close()


def test_keyboard_interrupt_during_await(signalr_server):
    conn = aio.HubConnectionBuilder().with_url(signalr_server.http + "/hubs/test").build()

    async def main():
        await conn.start(timeout=T)
        asyncio.get_running_loop().call_later(0.3, os.kill, os.getpid(), signal.SIGINT)
        await conn.invoke("DelayedEcho", 3000, "slow", timeout=T)

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())
    assert time.monotonic() - started < 2.5

    async def after():
        # still connected, but on the first loop (closed now): using it here is refused ...
        with pytest.raises(signalr.InvalidStateError):
            await conn.invoke("Echo", "wrong loop", timeout=T)
        # ... and starting it again moves it to this loop
        await conn.start(timeout=T)
        try:
            return await conn.invoke("Echo", "after", timeout=T)
        finally:
            await conn.stop()

    assert asyncio.run(after()) == "after"
    conn.close()


@run_async
async def test_logging(signalr_server, signalr_logs):
    conn = (aio.HubConnectionBuilder().with_url(signalr_server.http + "/hubs/test")
            .configure_logging(logging.DEBUG).build())
    async with conn:
        pass
    conn.close()
    assert any("negotiat" in r.getMessage() for r in signalr_logs.records if r.name == "signalr")


@run_async
async def test_https_cookies_skip_negotiation_groups(signalr_server):
    async with Connector(signalr_server) as connect:
        conn = await connect(base=signalr_server.https,
                             configure=lambda b: b.with_tls(ca_file=signalr_server.cert))
        assert await conn.invoke("Echo", "tls") == "tls"
        with pytest.raises(signalr.TlsError):
            await connect(base=signalr_server.https)
        conn = await connect("/hubs/cookie")
        assert await conn.invoke("GetCookie", "testCookie") == "negotiate-cookie"
        conn = await connect(skip_negotiation=True)
        assert await conn.invoke("Echo", "direct") == "direct" and conn.connection_id is None
        a, b = await connect(), await connect(transport="longpolling")
        got = []
        b.on("GroupMessage", lambda g, m: got.append((g, m)))
        await b.invoke("JoinGroup", "py-aio-group")
        await a.invoke("SendToGroup", "py-aio-group", "hi")
        assert await wait_for(lambda: got == [("py-aio-group", "hi")])


@run_async
async def test_stateful_reconnect(signalr_server):
    async with Connector(signalr_server) as connect:
        conn = await connect("/hubs/stateful",
                             configure=lambda b: b.with_automatic_reconnect().with_stateful_reconnect())
        assert await conn.invoke("IsStatefulReconnect") is True
        cid = conn.connection_id
        seen = []
        conn.on("Numbered", seen.append)
        await conn.invoke("DropTransport")
        assert await conn.invoke("SendNumbered", 50) == 50
        assert seen == list(range(1, 51))
        assert conn.connection_id == cid


@run_async
async def test_upload_errors(signalr_server):
    async with Connector(signalr_server) as connect:
        conn = await connect()

        async def broken():
            yield "a"
            raise RuntimeError("source broke")

        with pytest.raises(signalr.HubError):
            await conn.invoke("UploadConcat", broken(), timeout=T)
        subject = aio.Subject()
        fut = conn.invoke_future("UploadConcat", subject)
        await subject.send("x")
        subject.error(ValueError("giving up"))
        with pytest.raises(signalr.HubError):
            await asyncio.wait_for(fut, T)
        assert await conn.invoke("Echo", "alive") == "alive"
