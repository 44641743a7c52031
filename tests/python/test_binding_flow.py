"""The data path through the Python API, sync and asyncio (issue 10; the C side is
tests/interop/test_flow_control.cpp): a flood the application does not drain stays under a
memory bound and loses nothing; a peer that stops reading gets sends refused visibly and a
stop bounded by close_timeout_ms; invokes and sends wait for the stateful-reconnect Ack
instead of failing; close() completes every pending call with ConnectionClosedError.

Every wait is bounded and waits for something observable (a future, an event, a callback,
the proxy's byte counters); none is a bare sleep."""

import asyncio
import threading
import time

import pytest

from conftest import _import_signalr, rss_kb, run_async

signalr = _import_signalr()
aio = signalr.aio

T = 15  # seconds: every blocking call here is bounded

FLOOD = 300_000             # "Numbered" invocations, ~16 MB of JSON: far past every buffer
APP_BUFFER = 256 * 1024     # application_max_buffer_size for the flood
RSS_BOUND_KB = 64 * 1024    # what the process may grow by while it does not drain
FLOOD_WIRE_BYTES = FLOOD * len('{"type":1,"target":"Numbered","arguments":[100000]}\x1e')
CLOSE_TIMEOUT_MS = 1000
STOP_MARGIN_S = 2.0
RECORD_ITEM = "x" * 10_000


def figure(name, **values):
    print("FIGURE %s %s" % (name, " ".join("%s=%s" % kv for kv in values.items())))


def sync_conn(server, base=None, start=True, **options):
    b = signalr.HubConnectionBuilder().with_url((base or server.http) + "/hubs/test", transport="websockets")
    for k, v in options.items():
        b.with_option(k, v)
    conn = b.build()
    if start:
        conn.start(timeout=T)
    return conn


def aio_conn(server, base=None, **options):
    b = aio.HubConnectionBuilder().with_url((base or server.http) + "/hubs/test", transport="websockets")
    for k, v in options.items():
        b.with_option(k, v)
    return b.build()


@pytest.fixture
def closing():
    """closing(conn) -> conn, closed at the end of the test whatever happened."""
    made = []
    yield lambda conn: made.append(conn) or conn
    for conn in made:
        conn.close()


# ------------------------------------------------------------------ a flood nobody drains

def test_flood_not_drained_stays_bounded_and_loses_nothing(signalr_server, fault_proxy, closing):
    """Sync: the one handler thread is held inside the first handler, so nothing is drained
    while the server floods; memory stays bounded (the connection stops reading); released,
    every message arrives, in order, and the call completes."""
    conn = closing(sync_conn(signalr_server, fault_proxy.url, application_max_buffer_size=APP_BUFFER))
    seen = []
    held, release = threading.Event(), threading.Event()

    def on_numbered(i):
        if not held.is_set():
            held.set()
            release.wait(T)  # the "signalr-events" thread drains nothing meanwhile
        seen.append(i)

    conn.on("Numbered", on_numbered)
    rss0 = rss_kb()
    done = conn.invoke_future("SendNumbered", FLOOD)
    try:
        assert held.wait(T)
        delivered = fault_proxy.delivery_settles(after_bytes=APP_BUFFER, quiet=0.5, within=T)
        grown = rss_kb() - rss0
        figure("py_sync_flood_paused", delivered_bytes=delivered, rss_growth_kb=grown)
        assert delivered is not None, "the client kept reading"
        assert delivered < FLOOD_WIRE_BYTES // 2, "the client read the flood although nothing was drained"
        assert grown < RSS_BOUND_KB, "memory grew without bound while the application did not drain"
        assert conn.state == signalr.HubConnectionState.Connected
        assert not done.done()
    finally:
        release.set()
    assert done.result(T) == FLOOD
    assert len(seen) == FLOOD
    assert seen == list(range(1, FLOOD + 1))


@run_async
async def test_flood_not_drained_stays_bounded_and_loses_nothing_aio(signalr_server, fault_proxy):
    """asyncio: the loop is kept busy (a blocking wait on the loop's thread) while the server
    floods; once it runs again it drains in bounded batches (the loop is never frozen by
    one poll) and every message arrives, in order."""
    conn = aio_conn(signalr_server, fault_proxy.url, application_max_buffer_size=APP_BUFFER)
    seen = []
    conn.on("Numbered", seen.append)
    await conn.start(timeout=T)
    try:
        rss0 = rss_kb()
        done = conn.invoke_future("SendNumbered", FLOOD)
        # No await from here on: the loop cannot poll the context.
        delivered = fault_proxy.delivery_settles(after_bytes=APP_BUFFER, quiet=0.5, within=T)
        grown = rss_kb() - rss0
        figure("py_aio_flood_paused", delivered_bytes=delivered, rss_growth_kb=grown)
        assert delivered is not None, "the client kept reading"
        assert delivered < FLOOD_WIRE_BYTES // 2, "the client read the flood although nothing was drained"
        assert grown < RSS_BOUND_KB, "memory grew without bound while the application did not drain"
        assert seen == [] and not done.done()

        # Drain; a ticker measures how long the loop is held at a time.
        loop = asyncio.get_running_loop()
        gaps = []

        async def tick():
            last = loop.time()
            while not done.done():
                await asyncio.sleep(0)
                now = loop.time()
                gaps.append(now - last)
                last = now

        ticker = asyncio.ensure_future(tick())
        assert await asyncio.wait_for(done, T) == FLOOD
        await ticker
        figure("py_aio_flood_drain", longest_loop_hold_ms="%.1f" % (1000 * max(gaps)), turns=len(gaps))
        assert max(gaps) < 0.5, "one poll held the event loop for %.2f s" % max(gaps)
        assert len(seen) == FLOOD
        assert seen == list(range(1, FLOOD + 1))
    finally:
        await conn.stop(timeout=T)
        conn.close()


# ------------------------------------------------------------------ a peer that stops reading

def fill_until_refused(send):
    """Sends 10 KB messages with send(item, timeout) until one is refused for want of room
    (TimeoutError: nothing was sent); returns (accepted, the refusal)."""
    for accepted in range(3000):  # 30 MB: far more than the outgoing buffer and the socket buffers
        try:
            send(RECORD_ITEM, 0.5)
        except signalr.TimeoutError as e:
            return accepted, e
    return 3000, None


def start_waiting_sender(conn, key):
    """A thread that sends until a send fails; returns (thread, outcome list) once it waits
    for room. (A send may be accepted after a refusal: room below the bound comes back before
    the writable event, which waits for half of it; so it sends until it has to wait.)"""
    outcome = []

    def run():
        try:
            while True:
                conn.send("Record", key, RECORD_ITEM, timeout=T)
        except Exception as e:
            outcome.append(e)

    sender = threading.Thread(target=run)
    sender.start()
    deadline = time.monotonic() + T
    while not conn._writable_waiters and time.monotonic() < deadline and sender.is_alive():
        time.sleep(0.005)  # until the sender waits for room (an internal, but observable, state)
    assert conn._writable_waiters, "the sender did not wait for room: %r" % outcome
    return sender, outcome


def test_peer_that_stops_reading_refuses_sends_and_stop_is_bounded(signalr_server, fault_proxy, closing):
    """Sync: with the proxy holding everything, sends are accepted until the outgoing buffer
    is full, then refused visibly (TimeoutError: nothing sent); stop() returns within
    close_timeout_ms plus a margin, and a send that was waiting for room fails."""
    conn = closing(sync_conn(signalr_server, fault_proxy.url, close_timeout_ms=CLOSE_TIMEOUT_MS))
    closed = threading.Event()
    conn.on_close(lambda error: closed.set())
    fault_proxy.stall(True)
    accepted, refused = fill_until_refused(lambda item, t: conn.send("Record", "py-stalled", item, timeout=t))
    figure("py_sync_stalled_sends", accepted=accepted)
    assert refused is not None, "30 MB accepted by a peer that reads nothing"
    assert refused.code == signalr.ErrorCode.ETIMEOUT and "outgoing buffer" in refused.message
    sender, outcome = start_waiting_sender(conn, "py-stalled")

    t0 = time.monotonic()
    conn.stop(timeout=T)
    took = time.monotonic() - t0
    figure("py_sync_stalled_stop", ms="%.0f" % (1000 * took))
    assert took < CLOSE_TIMEOUT_MS / 1000 + STOP_MARGIN_S, "stop waited for a peer that does not read"
    assert conn.state == signalr.HubConnectionState.Disconnected
    assert closed.wait(T)
    sender.join(T)
    assert not sender.is_alive(), "a send still waits for room on a stopped connection"
    # Closed while it waited, or woken by the stop and refused as not connected.
    assert isinstance(outcome[0], (signalr.ConnectionClosedError, signalr.InvalidStateError)), outcome
    fault_proxy.stall(False)


@run_async
async def test_peer_that_stops_reading_refuses_sends_and_stop_is_bounded_aio(signalr_server, fault_proxy):
    """asyncio: the same; a send awaiting room is woken by the stop and raises."""
    conn = aio_conn(signalr_server, fault_proxy.url, close_timeout_ms=CLOSE_TIMEOUT_MS)
    closed = asyncio.Event()
    conn.on_close(lambda error: closed.set())
    await conn.start(timeout=T)
    loop = asyncio.get_running_loop()
    try:
        fault_proxy.stall(True)
        accepted, refused = 0, None
        for _ in range(3000):
            try:
                await conn.send("Record", "py-stalled-aio", RECORD_ITEM, timeout=0.5)
                accepted += 1
            except signalr.TimeoutError as e:
                refused = e
                break
        figure("py_aio_stalled_sends", accepted=accepted)
        assert refused is not None, "30 MB accepted by a peer that reads nothing"

        async def sender():
            while True:
                await conn.send("Record", "py-stalled-aio", RECORD_ITEM)

        waiting = asyncio.ensure_future(sender())
        deadline = loop.time() + T
        while not conn._writable_waiters and not waiting.done() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        assert conn._writable_waiters, "the send did not wait for room"

        t0 = loop.time()
        await conn.stop(timeout=T)
        took = loop.time() - t0
        figure("py_aio_stalled_stop", ms="%.0f" % (1000 * took))
        assert took < CLOSE_TIMEOUT_MS / 1000 + STOP_MARGIN_S, "stop waited for a peer that does not read"
        assert conn.state == signalr.HubConnectionState.Disconnected
        await asyncio.wait_for(closed.wait(), T)
        with pytest.raises((signalr.ConnectionClosedError, signalr.InvalidStateError)):
            await asyncio.wait_for(waiting, T)
    finally:
        fault_proxy.stall(False)
        conn.close()


def test_sends_to_a_peer_that_stops_reading_are_delivered_or_reported(signalr_server, fault_proxy, closing):
    """Every send accepted while the peer did not read is, once the peer reads again,
    recorded by the hub or reported to on_send_failed (one message cut in the middle of a
    TCP write may be neither)."""
    key = "py-accounted"
    direct = closing(sync_conn(signalr_server))
    direct.invoke("ClearRecord", key, timeout=T)
    conn = closing(sync_conn(signalr_server, fault_proxy.url, close_timeout_ms=CLOSE_TIMEOUT_MS))
    failed = []
    conn.on_send_failed(failed.append)
    closed = threading.Event()
    conn.on_close(lambda error: closed.set())
    fault_proxy.stall(True)
    accepted, refused = fill_until_refused(lambda item, t: conn.send("Record", key, item, timeout=t))
    assert refused is not None
    conn.stop(timeout=T)
    assert closed.wait(T)
    assert conn.invoke_future("Echo", "x").exception(T) is not None  # every event of the close has run
    fault_proxy.stall(False)  # what the proxy and the kernels held reaches the hub now
    deadline = time.monotonic() + 5
    recorded = last = -1
    still_since = time.monotonic()
    while time.monotonic() < deadline and recorded + len(failed) < accepted - 1:
        recorded = direct.invoke("GetRecordedCount", key, timeout=T)
        if recorded != last:
            last, still_since = recorded, time.monotonic()
        elif time.monotonic() - still_since > 1.0:
            break  # the hub's count settled
        time.sleep(0.02)
    figure("py_stalled_accounting", accepted=accepted, recorded=recorded, send_failed=len(failed))
    assert accepted - 1 <= recorded + len(failed) <= accepted, "accepted sends vanished without a report"


# ------------------------------------------------------------------ the stateful-reconnect buffer

BIG = "z" * 2500   # with a 3000-byte stateful buffer: one message fits, two do not
# ... and with a 4 KiB outgoing bound, a burst of sends meets EAGAIN (the stateful bound alone
# is checked against bytes the I/O thread has already taken), so sends wait for the writable
# event that the server's Ack brings.
STATEFUL = dict(stateful_reconnect=True, stateful_reconnect_buffer_size=3000, transport_max_buffer_size=4096)


def test_invokes_and_sends_wait_for_the_stateful_ack(signalr_server, closing):
    """Sync: a second large invoke is not refused (no WouldBlockError): it waits for the
    server's Ack; sends that meet the full buffer wait for room too, and all arrive."""
    conn = closing(sync_conn(signalr_server, **STATEFUL))
    futures = [conn.invoke_future("Echo", BIG) for _ in range(4)]
    assert [f.result(T) for f in futures] == [BIG] * 4
    conn.invoke("ClearRecord", "py-stateful", timeout=T)
    for _ in range(8):
        conn.send("Record", "py-stateful", BIG, timeout=T)
    assert conn.invoke("GetRecordedCount", "py-stateful", timeout=T) == 8
    conn.stop(timeout=T)


@run_async
async def test_invokes_and_sends_wait_for_the_stateful_ack_aio(signalr_server):
    """asyncio: the second large invoke awaits the Ack and completes; sends await room."""
    conn = aio_conn(signalr_server, **STATEFUL)
    await conn.start(timeout=T)
    try:
        first = conn.invoke_future("Echo", BIG)
        second = conn.invoke_future("Echo", BIG)  # meets the full buffer: does not raise
        assert await asyncio.wait_for(asyncio.gather(first, second), T) == [BIG, BIG]
        assert await asyncio.wait_for(asyncio.gather(*(conn.invoke("Echo", BIG) for _ in range(4))), T) == [BIG] * 4
        await conn.invoke("ClearRecord", "py-stateful-aio", timeout=T)
        for _ in range(8):
            await conn.send("Record", "py-stateful-aio", BIG, timeout=T)
        assert await conn.invoke("GetRecordedCount", "py-stateful-aio", timeout=T) == 8
    finally:
        await conn.stop(timeout=T)
        conn.close()


# ------------------------------------------------------------------ close() completes what is pending

def test_close_completes_pending_calls_with_connection_closed(signalr_server, fault_proxy, closing):
    """Sync: an invoke, a stream, a start and a stop in flight all fail with
    ConnectionClosedError, each by the time close() returns (libsignalr completes them
    during the free), and so does a send waiting for room; nothing hangs."""
    conn = closing(sync_conn(signalr_server))
    invoke = conn.invoke_future("DelayedEcho", 10_000, "never")
    stream = conn.stream("Counter", 1000, 1000)
    conn.close()
    assert invoke.done(), "close() returned with the invoke still pending"
    with pytest.raises(signalr.ConnectionClosedError):
        invoke.result(0)
    with pytest.raises(signalr.ConnectionClosedError):
        stream.next(timeout=T)

    # A start that cannot finish (the proxy holds everything).
    fault_proxy.stall(True)
    starting = closing(sync_conn(signalr_server, fault_proxy.url, start=False))
    start = starting.start_future()
    starting.close()
    assert start.done(), "close() returned with the start still pending"
    with pytest.raises(signalr.ConnectionClosedError):
        start.result(0)
    fault_proxy.stall(False)

    # A stop that cannot finish (its close frame waits behind a full outgoing queue, for up
    # to close_timeout_ms), and a send waiting for room in that queue.
    full = closing(sync_conn(signalr_server, fault_proxy.url, close_timeout_ms=10_000))
    fault_proxy.stall(True)
    assert fill_until_refused(lambda item, t: full.send("Record", "py-close", item, timeout=t))[1] is not None
    sender, outcome = start_waiting_sender(full, "py-close")
    stop = full.stop_future()
    assert not stop.done()
    full.close()
    assert stop.done(), "close() returned with the stop still pending"
    with pytest.raises(signalr.ConnectionClosedError):
        stop.result(0)
    sender.join(T)
    assert not sender.is_alive(), "a send still waits for room on a closed connection"
    assert isinstance(outcome[0], signalr.ConnectionClosedError), outcome
    fault_proxy.stall(False)

    # The object can be started again, and works.
    conn.start(timeout=T)
    assert conn.invoke("Echo", "again", timeout=T) == "again"
    conn.stop(timeout=T)


def test_dropped_connection_completes_its_pending_calls(signalr_server):
    """A connection object that is garbage collected with a call in flight: the call's
    future (held elsewhere) fails with ConnectionClosedError instead of hanging."""
    import gc
    conn = sync_conn(signalr_server)
    invoke = conn.invoke_future("DelayedEcho", 10_000, "never")
    del conn
    gc.collect()
    with pytest.raises(signalr.ConnectionClosedError):
        invoke.result(T)


@run_async
async def test_close_completes_pending_calls_with_connection_closed_aio(signalr_server, fault_proxy):
    """asyncio: the same, on the loop's thread: the futures are done when close() returns."""
    conn = aio_conn(signalr_server)
    await conn.start(timeout=T)
    invoke = conn.invoke_future("DelayedEcho", 10_000, "never")
    waiter = asyncio.ensure_future(conn.invoke("DelayedEcho", 10_000, "never either"))
    items = []

    async def consume():
        async for item in conn.stream("Counter", 1000, 1000):
            items.append(item)

    consumer = asyncio.ensure_future(consume())
    await asyncio.sleep(0)  # one turn: the waiter and the consumer have started their calls
    conn.close()
    assert invoke.done(), "close() returned with the invoke still pending"
    with pytest.raises(signalr.ConnectionClosedError):
        invoke.result()
    with pytest.raises(signalr.ConnectionClosedError):
        await asyncio.wait_for(waiter, T)
    with pytest.raises(signalr.ConnectionClosedError):
        await asyncio.wait_for(consumer, T)

    fault_proxy.stall(True)
    starting = aio_conn(signalr_server, fault_proxy.url)
    start = asyncio.ensure_future(starting.start(timeout=T))
    await asyncio.sleep(0)  # one turn: the start has begun
    starting.close()
    with pytest.raises(signalr.ConnectionClosedError):
        await asyncio.wait_for(start, T)
    fault_proxy.stall(False)

    # Started again, the same object works.
    await conn.start(timeout=T)
    assert await conn.invoke("Echo", "again", timeout=T) == "again"
    await conn.stop(timeout=T)
    conn.close()
