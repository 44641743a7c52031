"""The asyncio API: the same surface as :mod:`signalr`, with ``await`` and ``async for``.

The library's events reach the running loop through ``loop.add_reader`` on the context's
wakeup fd: handlers, completions and stream items run on the loop's thread, in order. One
libsignalr context (one I/O thread) is shared by the connections of a loop.

::

    import asyncio, signalr.aio

    async def main():
        conn = signalr.aio.HubConnectionBuilder().with_url("http://localhost:5000/hubs/chat").build()
        conn.on("ReceiveMessage", lambda user, text: print(user, text))
        async with conn:
            print(await conn.invoke("Echo", "hello"))
            async for item in conn.stream("Counter", 3, 100):
                print(item)

    asyncio.run(main())

Handlers and the ``on_*`` callbacks may be plain functions or coroutine functions. A client
result is the handler's return value; an ``async`` handler's value (or exception) is sent
when its coroutine finishes, however long it awaits (a coroutine that finishes without
suspending is answered at once, without a task).
"""

from __future__ import annotations

import asyncio
import collections.abc
import functools
import inspect
import types
import weakref
from typing import Any, AsyncIterator, Callable, List, Optional, Set

from . import _lowlevel as _ll
from ._core import (ITEM, BaseConnection, ContextCore, HubConnectionBuilder as _Builder,
                    HubConnectionState, HttpTransportType, RetryContext, UploadStream, context_finalizer,
                    _NO_RESULT, _token_text, completion_target, log)
from ._errors import SignalRError, check, error_from_code, error_from_tuple
from ._values import decode

__all__ = ["HubConnection", "HubConnectionBuilder", "AsyncStream", "Subject", "UploadStream",
           "HubConnectionState", "HttpTransportType", "RetryContext"]


# ================================================================== one context per loop

_loop_cores: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[ContextCore]]" = \
    weakref.WeakKeyDictionary()


def _on_readable(core_ref: "weakref.ref[ContextCore]") -> None:
    core = core_ref()
    if core is not None and core.ptr is not None:
        _ll.pysr_context_poll(core.ptr, 0, core.dispatch)


def _detach_and_free(loop_ref: "weakref.ref[asyncio.AbstractEventLoop]", fd: int, ptr: Any) -> None:
    """Finalizer of a loop's context: stop watching its fd, then free it."""
    from ._core import _free_context
    loop = loop_ref()

    def remove() -> None:
        if loop is not None and not loop.is_closed():
            try:
                loop.remove_reader(fd)
            except Exception:  # pragma: no cover
                pass

    if loop is not None and not loop.is_closed() and loop.is_running():
        # On the loop's thread, outside any poll (a finalizer may run inside one, where the
        # context cannot be freed).
        try:
            loop.call_soon_threadsafe(functools.partial(_free_context, ptr, remove))
            return
        except RuntimeError:  # closed meanwhile
            pass
    _free_context(ptr, remove)


def _loop_core(loop: asyncio.AbstractEventLoop) -> ContextCore:
    ref = _loop_cores.get(loop)
    core = ref() if ref is not None else None
    if core is None:
        core = ContextCore()
        core.loop_ref = weakref.ref(loop)
        loop.add_reader(core.fd, _on_readable, weakref.ref(core))
        context_finalizer(core, _detach_and_free, weakref.ref(loop), core.fd, core.ptr)
        _loop_cores[loop] = weakref.ref(core)
    return core


# ================================================================== coroutines started eagerly

@types.coroutine
def _resume(coro: Any, first: Any) -> Any:
    """Continues a coroutine that was stepped once by hand and yielded ``first``."""
    value = first
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                value = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                value = coro.send(sent)
            except StopIteration as stop:
                return stop.value


_tasks: Set["asyncio.Task[Any]"] = set()


def _keep(task: "asyncio.Task[Any]", what: str) -> None:
    _tasks.add(task)

    def done(t: "asyncio.Task[Any]") -> None:
        _tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("signalr: %s raised", what, exc_info=t.exception())

    task.add_done_callback(done)


def _run_eagerly(coro: Any, what: str, answer_later: Optional[Callable[[], Any]] = None) -> Any:
    """Steps ``coro`` now: returns its value if it finishes without suspending, else runs the
    rest as a task and returns _NO_RESULT. Exceptions propagate. ``answer_later`` (handlers):
    called when the coroutine suspends; the answer function it returns (or None) gets the
    task's outcome."""
    try:
        first = coro.send(None)
    except StopIteration as stop:
        return stop.value
    answer = answer_later() if answer_later is not None else None
    task = asyncio.ensure_future(_resume(coro, first))
    _keep(task, what)
    if answer is not None:
        _answer_when_done(task, answer)
    return _NO_RESULT


def _answer_when_done(fut: "asyncio.Future[Any]", answer: Callable[[Any, Optional[BaseException]], None]) -> None:
    def settle(f: "asyncio.Future[Any]") -> None:
        if f.cancelled():
            answer(None, asyncio.CancelledError("the handler was canceled"))
        else:
            answer(f.result() if f.exception() is None else None, f.exception())
    fut.add_done_callback(settle)


# ================================================================== the connection


async def _await_call(fut: "asyncio.Future[Any]", timeout: Optional[float], what: str) -> Any:
    if timeout is None:
        return await fut
    try:
        return await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        if fut.done() and not fut.cancelled():
            return fut.result()
        raise error_from_code(_ll.SIGNALR_ETIMEOUT, "%s did not complete within %g s" % (what, timeout)) from None


class HubConnection(BaseConnection):
    """A connection to a SignalR hub for asyncio (made by :class:`HubConnectionBuilder`).

    ``async with conn:`` starts and stops it.
    """

    # ------------------------------------------------------------ lifecycle

    async def start(self, timeout: Optional[float] = None) -> None:
        """Connects (negotiate, transport, handshake); raises the failure's exception."""
        loop = asyncio.get_running_loop()
        core = _loop_core(loop)
        ptr = self._ensure_native(core)
        fut = loop.create_future()
        self._start_native(ptr, completion_target(fut, decode_result=False))
        await _await_call(fut, timeout, "start")

    async def stop(self, timeout: Optional[float] = None) -> None:
        """Stops gracefully; pending invocations fail with ConnectionClosedError."""
        fut = asyncio.get_running_loop().create_future()
        if self._stop_native(completion_target(fut, decode_result=False)):
            await _await_call(fut, timeout, "stop")

    async def __aenter__(self) -> "HubConnection":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.stop()
        except SignalRError as e:
            log.debug("signalr: stop on exit failed: %s", e)

    # ------------------------------------------------------------ calls

    async def invoke(self, method: str, *args: Any, timeout: Optional[float] = None) -> Any:
        """Calls a hub method and returns its result (HubError when it threw)."""
        return await _await_call(self.invoke_future(method, *args), timeout, "invoke %r" % method)

    def invoke_future(self, method: str, *args: Any) -> "asyncio.Future[Any]":
        """Calls a hub method now; the returned future completes with its result."""
        fut = asyncio.get_running_loop().create_future()
        self._invoke_native(method, args, completion_target(fut))
        return fut

    async def send(self, method: str, *args: Any, timeout: Optional[float] = None) -> None:
        """Calls a hub method without waiting for a result; returns once the message is
        accepted.

        While the outgoing buffer is full (a server that does not read fast enough; see the
        ``transport_max_buffer_size`` option) it awaits room, at most ``timeout`` seconds
        (then :class:`TimeoutError`: nothing was sent). :class:`InvalidStateError` when not
        connected, :class:`ConnectionClosedError` when the connection closed while the send
        waited. A message accepted and then not written (the connection was lost first, say)
        is reported to :meth:`on_send_failed`.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        waited = False
        while True:
            gen = self._try_send(method, args, waited)
            if gen is None:
                return
            waited = True
            ready = loop.create_future()

            def wake(ready: "asyncio.Future[None]" = ready) -> None:
                loop.call_soon_threadsafe(lambda: ready.done() or ready.set_result(None))

            if not self._when_writable(gen, wake):
                continue
            try:
                await asyncio.wait_for(ready, None if deadline is None else max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise error_from_code(_ll.SIGNALR_ETIMEOUT, "send %r: no room in the outgoing buffer within %g s"
                                      % (method, timeout)) from None
            finally:
                self._forget_writable(wake)

    def stream(self, method: str, *args: Any) -> "AsyncStream":
        """Starts a server-to-client stream: ``async for item in conn.stream(...)``;
        ``aclose()`` (or leaving ``async with``) cancels it."""
        return AsyncStream(self, method, args)

    # ------------------------------------------------------------ hooks

    def _check_caller(self) -> None:
        core = self._native.core
        if core is None:
            return  # not started: the call reports that
        loop = core.loop_ref() if core.loop_ref is not None else None
        if loop is not asyncio.get_running_loop():
            raise error_from_code(_ll.SIGNALR_ESTATE, "the connection was started on another event loop: "
                                                      "start it again on this one")

    def _call_handler(self, h: Any, args: list) -> Any:
        result = h.fn(*args)
        what = "the handler for '%s'" % h.method
        if inspect.isawaitable(result) and not asyncio.iscoroutine(result):
            fut = asyncio.ensure_future(result)
            _keep(fut, what)
            answer = self._defer_answer(h)
            if answer is not None:
                _answer_when_done(fut, answer)
            return _NO_RESULT
        if asyncio.iscoroutine(result):
            return _run_eagerly(result, what, lambda: self._defer_answer(h))
        return result

    def _call_user(self, fn: Callable, *args: Any) -> None:
        try:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                _run_eagerly(result, "the %s callback" % getattr(fn, "__name__", "event"))
        except Exception:
            log.exception("signalr: the %s callback raised", getattr(fn, "__name__", "event"))

    def _token_later(self, awaitable: Any) -> int:
        native = self._native
        ptr = native.ptr

        async def answer() -> None:
            try:
                token = _token_text(await awaitable)
            except Exception:
                log.exception("signalr: the access_token_factory raised")
                token = _ll.SIGNALR_EAUTH
            if isinstance(token, int):
                native.call(ptr, _ll.signalr_connection_answer_token, None, token)
            else:
                native.call(ptr, _ll.signalr_connection_answer_token, token, 0)

        _keep(asyncio.ensure_future(answer()), "the access_token_factory")
        return _ll.SIGNALR_EAGAIN

    def _is_upload(self, arg: Any) -> bool:
        return isinstance(arg, (Subject, UploadStream, collections.abc.AsyncIterator)) or (
            isinstance(arg, collections.abc.Iterator) and not isinstance(arg, (str, bytes, dict)))

    def _pump_uploads(self, ptr: Any, sources: List[Any], handles: List[int]) -> None:
        for source, handle in zip(sources, handles):
            if isinstance(source, Subject):
                source._attach(self, ptr, handle)
            else:
                it = source.source if isinstance(source, UploadStream) else source
                _keep(asyncio.ensure_future(self._upload_from(ptr, handle, it)), "an upload stream")

    async def _upload_from(self, ptr: Any, handle: int, source: Any) -> None:
        error: Optional[str] = None
        try:
            if isinstance(source, collections.abc.AsyncIterable):
                async for item in source:
                    await self._write(ptr, handle, item)
            else:
                for item in source:
                    await self._write(ptr, handle, item)
        except SignalRError as e:
            log.debug("signalr: upload stream stopped: %s", e)
            error = e.message
        except asyncio.CancelledError:
            error = "the upload was canceled"
            raise
        except Exception as e:
            log.error("signalr: the upload stream's iterable raised", exc_info=True)
            error = "%s: %s" % (type(e).__name__, e)
        finally:
            self._upload_complete(ptr, handle, error)

    async def _write(self, ptr: Any, handle: int, item: Any) -> None:
        # A full outgoing buffer: await the library's writable (or closed) event, no timer.
        while True:
            gen = self._writable_gen
            rc = self._upload_write(ptr, handle, item)
            if rc != _ll.SIGNALR_EAGAIN:
                check(rc, "upload write")
                return
            loop = asyncio.get_running_loop()
            ready = loop.create_future()

            def wake() -> None:
                loop.call_soon_threadsafe(lambda: ready.done() or ready.set_result(None))

            if self._when_writable(gen, wake):
                await ready


class AsyncStream(AsyncIterator[Any]):
    """The items of a server-to-client stream: ``async for``; ends when the server completes
    it, raises its error; ``aclose()`` cancels it on the server."""

    def __init__(self, conn: HubConnection, method: str, args: Any) -> None:
        self._queue: "asyncio.Queue[Any]" = asyncio.Queue()
        self._finished = False
        self._closed = False
        q = self._queue

        def target(kind: int, data: Optional[bytes], enc: int, err: Any) -> None:
            if kind == ITEM:
                try:
                    q.put_nowait((True, decode(data, enc)))
                except Exception as e:
                    q.put_nowait((True, error_from_code(_ll.SIGNALR_EENCODING,
                                                        "a stream item could not be decoded: %s" % e)))
            else:
                q.put_nowait((False, error_from_tuple(err)))

        self._conn = conn  # keeps the connection (and its native) alive while the stream is
        self._ptr, self._op, self._handle = conn._stream_native(method, args, target)
        self.method = method

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> Any:
        if self._finished:
            raise StopAsyncIteration
        is_item, value = await self._queue.get()
        if is_item:
            if isinstance(value, SignalRError):
                raise value
            return value
        self._finished = True
        if value is None or (self._closed and value.code == _ll.SIGNALR_ECANCELED):
            raise StopAsyncIteration
        raise value

    async def aclose(self) -> None:
        """Cancels the stream (the server sees its CancellationToken fire)."""
        self.cancel()

    def cancel(self) -> None:
        """Cancels the stream now (not a coroutine)."""
        if self._finished or self._closed:
            return
        self._closed = True
        self._finished = True
        self._conn._stream_cancel(self._ptr, self._handle)

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.cancel()

    def __del__(self) -> None:
        try:
            if not self._finished:
                self.cancel()
        except Exception:
            pass


class Subject:
    """A client-to-server stream you write to, for asyncio: pass it as an argument, then
    ``await subject.send(item)`` for each item and ``subject.complete()`` at the end."""

    def __init__(self) -> None:
        self._conn: Optional[HubConnection] = None
        self._ptr: Any = None
        self._handle = 0
        self._pending: List[Any] = []
        self._done: Optional[List[Optional[str]]] = None
        self._attached: Optional["asyncio.Future[None]"] = None

    async def send(self, item: Any) -> None:
        """Sends one item (waits while the connection's outgoing buffer is full)."""
        if self._done is not None:
            raise error_from_code(_ll.SIGNALR_ESTATE, "the stream was completed")
        if self._conn is None or self._pending:
            self._pending.append(item)
            return
        await self._conn._write(self._ptr, self._handle, item)

    asend = send

    def next(self, item: Any) -> None:
        """Sends one item without waiting (WouldBlockError when the buffer is full)."""
        if self._done is not None:
            raise error_from_code(_ll.SIGNALR_ESTATE, "the stream was completed")
        if self._conn is None or self._pending:
            self._pending.append(item)
            return
        check(self._conn._upload_write(self._ptr, self._handle, item), "upload write")

    def complete(self) -> None:
        """Ends the stream normally."""
        self._finish(None)

    def error(self, error: Any) -> None:
        """Ends the stream with an error the hub method observes."""
        self._finish(str(error) or type(error).__name__)

    def _finish(self, error: Optional[str]) -> None:
        if self._done is not None:
            return
        self._done = [error]
        if self._conn is not None and not self._pending:
            self._conn._upload_complete(self._ptr, self._handle, error)

    def _attach(self, conn: HubConnection, ptr: Any, handle: int) -> None:
        if self._conn is not None:
            conn._upload_complete(ptr, handle, "the stream is already attached to a call")
            raise error_from_code(_ll.SIGNALR_ESTATE, "a Subject can be passed to one call only")
        self._conn, self._ptr, self._handle = conn, ptr, handle
        if self._pending:
            _keep(asyncio.ensure_future(self._flush()), "an upload stream")
        elif self._done is not None:
            conn._upload_complete(ptr, handle, self._done[0])

    async def _flush(self) -> None:
        assert self._conn is not None
        try:
            while self._pending:
                await self._conn._write(self._ptr, self._handle, self._pending[0])
                self._pending.pop(0)
        except SignalRError:
            self._pending = []
        if self._done is not None:
            self._conn._upload_complete(self._ptr, self._handle, self._done[0])

    async def __aenter__(self) -> "Subject":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self.complete()
        else:
            self.error(exc)


class HubConnectionBuilder(_Builder):
    __doc__ = _Builder.__doc__
    _connection_class = HubConnection

    def build(self) -> HubConnection:
        """Checks the options and returns the :class:`signalr.aio.HubConnection` (not started)."""
        return super().build()
