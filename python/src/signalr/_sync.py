"""The synchronous API: blocking calls, handlers on the "signalr-events" thread."""

from __future__ import annotations

import collections.abc
import concurrent.futures
import queue
import threading
import time
from typing import Any, Iterator, List, Optional

from . import _lowlevel as _ll
from ._core import (_NO_RESULT, ITEM, BaseConnection, HubConnectionBuilder as _Builder, UploadStream,
                    Waiter, completion_target, in_event_thread, log, sync_core)
from ._errors import SignalRError, check, error_from_code, error_from_tuple
from ._values import decode

__all__ = ["HubConnection", "HubConnectionBuilder", "Stream", "Subject"]

_SLICE = 0.25  # waits are cut in slices so that Ctrl-C is seen promptly


def _wait(fut: "concurrent.futures.Future[Any]", timeout: Optional[float], what: str) -> Any:
    """Waits for fut like fut.result(timeout), in short slices (KeyboardInterrupt-safe)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if deadline is None:
            step = _SLICE
        else:
            step = min(_SLICE, max(0.0, deadline - time.monotonic()))
        try:
            return fut.result(timeout=step)
        except concurrent.futures.TimeoutError:
            if fut.done():
                raise  # the call's own TimeoutError
            if deadline is not None and time.monotonic() >= deadline:
                raise error_from_code(_ll.SIGNALR_ETIMEOUT, "%s did not complete within %g s" % (what, timeout)) \
                    from None


def _wait_event(event: threading.Event, deadline: Optional[float]) -> bool:
    """event.wait() until deadline (None: no limit), in short slices (KeyboardInterrupt-safe)."""
    while True:
        step = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
        if step <= 0:
            return event.is_set()
        if event.wait(step):
            return True


class HubConnection(BaseConnection):
    """A connection to a SignalR hub, with blocking methods.

    Made by :class:`HubConnectionBuilder`. Handlers and the ``on_*`` callbacks run on one
    thread of the library's Python side ("signalr-events"), never on the library's I/O
    thread; blocking calls made from there raise :class:`RecursiveCallError` (use
    :meth:`send` or :meth:`invoke_future`), except :meth:`stop`, which then only begins the stop.

    A handler answers a client-result call with its return value; one that needs longer
    (another thread, more I/O) returns a ``concurrent.futures.Future`` instead, and the
    server gets the Future's result or exception when it completes.

    Use as a context manager to start and stop it::

        with builder.build() as conn:
            print(conn.invoke("Echo", "hello"))
    """

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: Optional[float] = None) -> None:
        """Connects (negotiate, transport, handshake); raises the failure's exception."""
        self._not_on_event_thread("start")
        _wait(self.start_future(), timeout, "start")

    def start_future(self) -> "concurrent.futures.Future[None]":
        """Begins connecting; the Future completes when connected or failed."""
        core, _thread = sync_core()
        ptr = self._ensure_native(core)
        fut: "concurrent.futures.Future[None]" = concurrent.futures.Future()
        self._start_native(ptr, completion_target(fut, decode_result=False))
        return fut

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stops gracefully: pending invocations fail with ConnectionClosedError. From a handler
        or callback it only begins the stop."""
        fut = self.stop_future()
        if in_event_thread():
            return
        _wait(fut, timeout, "stop")

    def stop_future(self) -> "concurrent.futures.Future[None]":
        """Begins stopping; the Future completes once stopped."""
        fut: "concurrent.futures.Future[None]" = concurrent.futures.Future()
        if not self._stop_native(completion_target(fut, decode_result=False)):
            fut.set_result(None)
        return fut

    def __enter__(self) -> "HubConnection":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.stop()
        except SignalRError as e:
            log.debug("signalr: stop on exit failed: %s", e)

    # ------------------------------------------------------------ calls

    def invoke(self, method: str, *args: Any, timeout: Optional[float] = None) -> Any:
        """Calls a hub method and returns its result.

        Raises :class:`HubError` when the hub method threw, :class:`TimeoutError` after
        ``timeout`` seconds (the call is canceled: the library forgets it and drops a late result;
        the hub method itself runs on, SignalR has no cancel for it),
        :class:`ConnectionClosedError` when the connection closed first.
        """
        if in_event_thread():
            self._not_on_event_thread("invoke", "use invoke_future() or send()")
        thread = sync_core()[1]
        thread.waiting(1)
        try:
            call = self._invoke_call(method, args)
            if call is not None:
                return self._wait_call(call, timeout, "invoke %r" % (method,))
        finally:
            thread.waiting(-1)
        waiter = Waiter()
        self._invoke_native(method, args, waiter)
        return waiter.wait(timeout, "invoke %r" % (method,))

    def invoke_future(self, method: str, *args: Any) -> "concurrent.futures.Future[Any]":
        """Calls a hub method; the Future completes with its result. Usable from handlers."""
        fut: "concurrent.futures.Future[Any]" = concurrent.futures.Future()
        self._invoke_native(method, args, completion_target(fut))
        return fut

    def send(self, method: str, *args: Any, timeout: Optional[float] = None) -> None:
        """Calls a hub method without waiting for (or getting) a result.

        Returns once the message is accepted. While the outgoing buffer is full (a server
        that does not read fast enough; see the ``transport_max_buffer_size`` option) it waits
        for room, at most ``timeout`` seconds (then :class:`TimeoutError`: nothing was sent);
        on the "signalr-events" thread it raises :class:`WouldBlockError` instead of waiting.
        :class:`InvalidStateError` when not connected, :class:`ConnectionClosedError` when the
        connection closed while the send waited. A message accepted and then not written
        (the connection was lost first, say) is reported to :meth:`on_send_failed`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        waited = False
        while True:
            gen = self._try_send(method, args, waited)
            if gen is None:
                return
            if in_event_thread():
                raise error_from_code(_ll.SIGNALR_EAGAIN, "send %r: the outgoing buffer is full (a handler "
                                                          "cannot wait for room)" % method)
            waited = True
            ready = threading.Event()
            if self._when_writable(gen, ready.set):
                try:
                    if not _wait_event(ready, deadline):
                        raise error_from_code(_ll.SIGNALR_ETIMEOUT, "send %r: no room in the outgoing buffer "
                                                                    "within %g s" % (method, timeout))
                finally:
                    self._forget_writable(ready.set)

    def stream(self, method: str, *args: Any) -> "Stream":
        """Starts a server-to-client stream: an iterator of its items (closing it cancels)."""
        return Stream(self, method, args)

    # ------------------------------------------------------------ internals

    def _not_on_event_thread(self, what: str, advice: str = "") -> None:
        if in_event_thread():
            raise error_from_code(_ll.SIGNALR_ERECURSIVE,
                                  "%s() would block the thread that runs handlers%s" %
                                  (what, ": " + advice if advice else ""))

    def _call_handler(self, h: Any, args: list) -> Any:
        result = h.fn(*args)
        if not isinstance(result, concurrent.futures.Future):
            return result
        answer = self._defer_answer(h)
        if answer is not None:
            def settle(f: "concurrent.futures.Future[Any]") -> None:
                if f.cancelled():
                    answer(None, concurrent.futures.CancelledError("the handler's Future was canceled"))
                else:
                    answer(f.result() if f.exception() is None else None, f.exception())
            result.add_done_callback(settle)
        return _NO_RESULT

    def _is_upload(self, arg: Any) -> bool:
        return isinstance(arg, (Subject, UploadStream)) or (
            isinstance(arg, collections.abc.Iterator) and not isinstance(arg, (str, bytes, dict)))

    def _pump_uploads(self, ptr: Any, sources: List[Any], handles: List[int]) -> None:
        for source, handle in zip(sources, handles):
            if isinstance(source, Subject):
                source._attach(self, ptr, handle)
            else:
                it = source.source if isinstance(source, UploadStream) else source
                t = threading.Thread(target=self._upload_from, args=(ptr, handle, it),
                                     name="signalr-upload", daemon=True)
                t.start()

    def _upload_from(self, ptr: Any, handle: int, iterable: Any) -> None:
        error: Optional[str] = None
        try:
            for item in iterable:
                self._write_blocking(ptr, handle, item)
        except SignalRError as e:
            log.debug("signalr: upload stream stopped: %s", e)
            error = str(e.message)
        except Exception as e:
            log.error("signalr: the upload stream's iterable raised", exc_info=True)
            error = "%s: %s" % (type(e).__name__, e)
        self._upload_complete(ptr, handle, error)

    def _write_blocking(self, ptr: Any, handle: int, item: Any) -> None:
        # A full outgoing buffer: wait for the library's writable (or closed) event, no timer.
        while True:
            gen = self._writable_gen
            rc = self._upload_write(ptr, handle, item)
            if rc != _ll.SIGNALR_EAGAIN:
                check(rc, "upload write")
                return
            if in_event_thread():
                raise error_from_code(rc, "the outgoing buffer is full")
            ready = threading.Event()
            if self._when_writable(gen, ready.set):
                ready.wait()


class Stream(Iterator[Any]):
    """The items of a server-to-client stream, in order.

    Iterate it (``for item in conn.stream("Counter", 10, 100)``); iteration ends when the
    server completes the stream and raises the stream's error (a :class:`HubError`, say).
    ``close()`` (or leaving a ``with`` block) cancels the stream on the server.
    """

    def __init__(self, conn: HubConnection, method: str, args: Any) -> None:
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._finished = False
        self._closed = False
        q = self._queue

        def target(kind: int, data: Optional[bytes], enc: int, err: Any) -> None:
            if kind == ITEM:
                try:
                    q.put((True, decode(data, enc)))
                except Exception as e:
                    q.put((True, _DecodeFailure(e)))
            else:
                q.put((False, error_from_tuple(err)))

        self._conn = conn  # keeps the connection (and its native) alive while the stream is
        self._ptr, self._op, self._handle = conn._stream_native(method, args, target)
        self.method = method

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Any:
        return self._take(None)

    def next(self, timeout: Optional[float] = None) -> Any:
        """The next item, waiting at most ``timeout`` seconds (TimeoutError); StopIteration at
        the end."""
        return self._take(timeout)

    def _take(self, timeout: Optional[float]) -> Any:
        if self._finished:
            raise StopIteration
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = _SLICE
            if deadline is not None:
                step = min(step, deadline - time.monotonic())
                if step <= 0:
                    raise error_from_code(_ll.SIGNALR_ETIMEOUT, "no stream item within %g s" % timeout)
            try:
                is_item, value = self._queue.get(timeout=step)
            except queue.Empty:
                continue
            if is_item:
                if isinstance(value, _DecodeFailure):
                    raise error_from_code(_ll.SIGNALR_EENCODING,
                                          "a stream item could not be decoded: %s" % value.error)
                return value
            self._finished = True
            if value is None or (self._closed and value.code == _ll.SIGNALR_ECANCELED):
                raise StopIteration
            raise value

    def close(self) -> None:
        """Cancels the stream (the server sees its CancellationToken fire)."""
        if self._finished or self._closed:
            return
        self._closed = True
        self._finished = True
        self._conn._stream_cancel(self._ptr, self._handle)

    cancel = close

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._finished:
                self.close()
        except Exception:
            pass


class _DecodeFailure:
    def __init__(self, error: Exception) -> None:
        self.error = error


class Subject:
    """A client-to-server stream you write to (the official clients' Subject / ChannelWriter).

    Pass it as an argument of :meth:`HubConnection.send` / :meth:`HubConnection.invoke_future`
    (the hub method receives it as a ``ChannelReader<T>`` / ``IAsyncEnumerable<T>``), then
    call :meth:`next` for each item and :meth:`complete` at the end. Items written before the
    call was sent are kept and sent then. As a context manager it completes on exit (with the
    exception's text as the error if one is raised).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._conn: Optional[HubConnection] = None
        self._ptr: Any = None
        self._handle = 0
        self._pending: List[Any] = []
        self._done: Optional[List[Optional[str]]] = None

    def next(self, item: Any) -> None:
        """Sends one item (waits while the connection's outgoing buffer is full)."""
        with self._lock:
            if self._done is not None:
                raise error_from_code(_ll.SIGNALR_ESTATE, "the stream was completed")
            if self._conn is None:
                self._pending.append(item)
                return
            self._conn._write_blocking(self._ptr, self._handle, item)

    send = next

    def complete(self) -> None:
        """Ends the stream normally."""
        self._finish(None)

    def error(self, error: Any) -> None:
        """Ends the stream with an error (an exception or a message) the hub method observes."""
        self._finish(str(error) or type(error).__name__)

    def _finish(self, error: Optional[str]) -> None:
        with self._lock:
            if self._done is not None:
                return
            self._done = [error]
            if self._conn is not None:
                self._conn._upload_complete(self._ptr, self._handle, error)

    def _attach(self, conn: HubConnection, ptr: Any, handle: int) -> None:
        with self._lock:
            if self._conn is not None:
                conn._upload_complete(ptr, handle, "the stream is already attached to a call")
                raise error_from_code(_ll.SIGNALR_ESTATE, "a Subject can be passed to one call only")
            self._conn, self._ptr, self._handle = conn, ptr, handle
            try:
                for item in self._pending:
                    conn._write_blocking(ptr, handle, item)
            finally:
                self._pending = []
            if self._done is not None:
                conn._upload_complete(ptr, handle, self._done[0])

    def __enter__(self) -> "Subject":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self.complete()
        else:
            self.error(exc)


class HubConnectionBuilder(_Builder):
    __doc__ = _Builder.__doc__
    _connection_class = HubConnection

    def build(self) -> HubConnection:
        """Checks the options and returns the :class:`HubConnection` (not started)."""
        return super().build()
