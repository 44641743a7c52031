"""What the sync and the asyncio APIs share: contexts, event routing, the builder, and the
connection logic that does not depend on how the application waits.

Threading: libsignalr runs its I/O on its own thread and queues every event (completions,
stream items, handler calls, lifecycle events, logs) to the application. Python code only
runs inside ``pysr_context_poll`` on a thread Python created: the sync API's event thread
("signalr-events") or the asyncio loop's thread (through ``loop.add_reader`` on the
context's wakeup fd); and inside ``pysr_connection_free``, where libsignalr completes the
freed connection's pending calls with SIGNALR_ECLOSED on the freeing thread. No Python object is ever handed to C: callbacks carry an integer key,
``connection id << SHIFT | operation id``, routed here to the connection's target.
"""

from __future__ import annotations

import atexit
import enum
import itertools
import json
import logging
import platform
import select
import struct
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from . import _lowlevel as _ll
from ._errors import (SignalRError, check, error_from_code, error_from_tuple)
from ._values import JSON, MSGPACK, decode, encode, encode_args

log = logging.getLogger("signalr")
log.addHandler(logging.NullHandler())  # a library: output only where the application configures it

TRACE = 5
"""The ``logging`` level used for libsignalr's trace messages (below DEBUG)."""
logging.addLevelName(TRACE, "TRACE")

# C log level -> logging level
_TO_LOGGING = {0: TRACE, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR,
               5: logging.CRITICAL}
_C_LEVEL_NAMES = ("trace", "debug", "information", "warning", "error", "critical", "none")
_C_LEVEL_ALIASES = {"info": "information", "warn": "warning", "fatal": "critical", "off": "none",
                    "trce": "trace", "dbug": "debug", "fail": "error", "crit": "critical"}

COMPLETION = _ll.PYSR_COMPLETION
ITEM = _ll.PYSR_ITEM
HANDLER = _ll.PYSR_HANDLER
LIFECYCLE = _ll.PYSR_LIFECYCLE
LOG = _ll.PYSR_LOG
TOKEN = _ll.PYSR_TOKEN
RETRY = _ll.PYSR_RETRY

EVENT_CONNECTED = _ll.SIGNALR_EVENT_CONNECTED
EVENT_CLOSED = _ll.SIGNALR_EVENT_CLOSED
EVENT_SLOW = _ll.SIGNALR_EVENT_SLOW
EVENT_RECONNECTING = _ll.SIGNALR_EVENT_RECONNECTING
EVENT_RECONNECTED = _ll.SIGNALR_EVENT_RECONNECTED
EVENT_WRITABLE = _ll.SIGNALR_EVENT_WRITABLE
EVENT_SEND_FAILED = _ll.SIGNALR_EVENT_SEND_FAILED

# Keys: connection id in the high bits, operation id in the low bits of a uintptr_t.
_SHIFT = 32 if struct.calcsize("P") >= 8 else 16
_MASK = (1 << _SHIFT) - 1
# Fixed operation ids of a connection's long-lived targets; calls count up from _FIRST_OP.
_OP_LIFECYCLE, _OP_LOG, _OP_TOKEN, _OP_RETRY, _OP_RAW = 1, 2, 3, 4, 5
_FIRST_OP = 16

_conn_ids = itertools.count(1)


class HubConnectionState(enum.IntEnum):
    """The connection's state (the official clients' names)."""

    Disconnected = _ll.SIGNALR_STATE_DISCONNECTED
    Connecting = _ll.SIGNALR_STATE_CONNECTING
    Connected = _ll.SIGNALR_STATE_CONNECTED
    Reconnecting = _ll.SIGNALR_STATE_RECONNECTING
    Disconnecting = _ll.SIGNALR_STATE_DISCONNECTING


class HttpTransportType(enum.IntFlag):
    """Transports, combinable with ``|`` (the .NET client's values)."""

    None_ = 0
    WebSockets = 1
    ServerSentEvents = 2
    LongPolling = 4


_TRANSPORT_NAMES = {HttpTransportType.WebSockets: "websockets",
                    HttpTransportType.ServerSentEvents: "serversentevents",
                    HttpTransportType.LongPolling: "longpolling"}


@dataclass(frozen=True)
class RetryContext:
    """What a retry policy is told before each reconnect attempt (the .NET client's shape).

    Attributes:
        previous_retry_count: attempts made so far (0 before the first).
        elapsed: seconds since the connection was lost (or since the start began).
        retry_reason: why the last attempt (or the connection) failed.
    """

    previous_retry_count: int
    elapsed: float
    retry_reason: Optional[SignalRError]


RetryPolicy = Union[Callable[[RetryContext], Optional[float]], Any]
"""A callable ``(RetryContext) -> seconds | None`` or an object with ``next_retry_delay``."""


def version() -> str:
    """The version of the loaded libsignalr."""
    return _ll.signalr_version()


def options() -> List[Tuple[str, str, str, str]]:
    """Every builder option of libsignalr: ``[(name, type, default, description), ...]``."""
    return [tuple(o) for o in _ll.pysr_option_table()]


def _c_log_level(level: Union[str, int, None]) -> str:
    """A C log level name from a name ("debug", "Information") or a ``logging`` level."""
    if level is None:
        level = log.getEffectiveLevel()
    if isinstance(level, str):
        name = level.strip().lower()
        name = _C_LEVEL_ALIASES.get(name, name)
        if name not in _C_LEVEL_NAMES:
            raise ValueError("log level must be one of %s" % ", ".join(_C_LEVEL_NAMES))
        return name
    level = int(level)
    if level <= TRACE:
        return "trace"
    if level <= logging.DEBUG:
        return "debug"
    if level <= logging.INFO:
        return "information"
    if level <= logging.WARNING:
        return "warning"
    if level <= logging.ERROR:
        return "error"
    if level <= logging.CRITICAL:
        return "critical"
    return "none"


def _logging_level(c_name: str) -> int:
    return {"trace": TRACE, "debug": logging.DEBUG, "information": logging.INFO,
            "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL,
            "none": logging.CRITICAL + 10}[c_name]


# ================================================================== contexts

class ContextCore:
    """Owns one libsignalr context (its I/O thread and event queue).

    Connections hold a strong reference to the core of their context; the C context is freed
    when the core is finalized (after its connections), or at interpreter exit.
    """

    def __init__(self) -> None:
        rc, ptr = _ll.signalr_context_new(0)
        check(rc, "signalr_context_new")
        self.ptr = ptr
        self.fd: int = _ll.signalr_context_wakeup_fd(ptr)
        self.conns: Dict[int, "weakref.ref[BaseConnection]"] = {}
        self.loop_ref: Optional["weakref.ref[Any]"] = None  # the asyncio loop that polls it
        self.dispatch = _make_dispatch(self.conns)

    def poll(self, timeout_ms: int) -> int:
        """Runs the queued events (see pysr_context_poll)."""
        return _ll.pysr_context_poll(self.ptr, timeout_ms, self.dispatch)

    def interrupt(self) -> None:
        _ll.signalr_context_interrupt(self.ptr)


def _make_dispatch(conns: Dict[int, "weakref.ref[BaseConnection]"]) -> Callable:
    def dispatch(kind: int, key: int, a: Any, b: Any, c: Any) -> Any:
        ref = conns.get(key >> _SHIFT)
        conn = ref() if ref is not None else None
        if conn is None:
            return None
        try:
            return conn._route(kind, key & _MASK, a, b, c)
        except Exception:  # a bug in a target: never into C
            log.exception("signalr: an event callback failed")
            return None
    return dispatch


def _free_context(ptr: Any, before: Optional[Callable[[], None]] = None) -> None:
    """Frees a C context once its connections are gone (a finalizer: never raises)."""
    try:
        if before is not None:
            before()
        rc = _ll.signalr_context_free(ptr)
        if rc:
            log.warning("signalr: the context could not be freed: %s", _ll.signalr_strerror(rc))
    except Exception:  # pragma: no cover - finalizers must not raise
        log.exception("signalr: freeing a context failed")


def context_finalizer(obj: Any, fn: Callable, *args: Any) -> weakref.finalize:
    """A finalizer that the exit handler below runs in order (not weakref's own at-exit pass)."""
    fin = weakref.finalize(obj, fn, *args)
    fin.atexit = False
    _context_finalizers[:] = [f for f in _context_finalizers if f.alive]
    _context_finalizers.append(fin)
    return fin


class Waiter:
    """The completion target of a blocking call (the sync invoke): one preacquired lock that
    the completion releases, the cheapest hand-off between two threads (a
    concurrent.futures.Future makes a Condition and a lock per wait). The result is decoded
    on the waiting thread."""

    __slots__ = ("_lock", "_done", "_data", "_enc", "_err")

    def __init__(self) -> None:
        lock = threading.Lock()
        lock.acquire()
        self._lock = lock
        self._done = False
        self._data: Optional[bytes] = None
        self._enc = 0
        self._err: Any = None

    def settle(self, data: Optional[bytes], enc: int, err: Any) -> bool:
        """Keeps the outcome; False when it already came (nothing to wake)."""
        if self._done:
            return False
        self._data, self._enc, self._err = data, enc, err
        self._done = True
        return True

    def wake(self) -> None:
        self._lock.release()

    def __call__(self, kind: int, data: Optional[bytes], enc: int, err: Any) -> None:
        """A completion target that wakes the waiter at once."""
        if self.settle(data, enc, err):
            self._lock.release()

    def wait(self, timeout: Optional[float], what: str) -> Any:
        """The call's result (or its exception) once completed; waits in short slices
        (KeyboardInterrupt-safe), at most ``timeout`` seconds (then TimeoutError)."""
        acquire = self._lock.acquire
        if not acquire(False):
            if timeout is None:
                while not acquire(True, _SLICE):
                    pass
            else:
                deadline = _monotonic() + timeout
                while True:
                    left = deadline - _monotonic()
                    if left <= 0:
                        if acquire(False):
                            break
                        raise error_from_code(_ll.SIGNALR_ETIMEOUT, "%s did not complete within %g s" %
                                              (what, timeout))
                    if acquire(True, left if left < _SLICE else _SLICE):
                        break
        err = self._err
        if err is not None:
            raise error_from_tuple(err)
        data = self._data
        if data is None:
            return None
        try:
            return decode(data, self._enc)
        except Exception as e:
            raise error_from_code(_ll.SIGNALR_EENCODING, "the result could not be decoded: %s" % e) from None


_SLICE = 0.25  # blocking waits are cut in slices so that Ctrl-C is seen promptly
_SLICE_MS = int(_SLICE * 1000)
_monotonic = time.monotonic


class EventThread:
    """A Python thread that runs a context's events (the sync API's "signalr-events").

    Its dispatch holds back the wake-up of a blocking call's :class:`Waiter` completed by a
    poll until that poll's batch has run (or until the next event that may run application
    code): the woken thread's next call then finds this thread back in the poll, running
    the library's I/O, instead of making the library hand its I/O back to its own thread
    (and contending for the GIL). Nothing of the application runs while a wake-up is held.
    """

    def __init__(self, core: ContextCore) -> None:
        self._core = core
        self._stopping = False
        self._ident: Optional[int] = None
        self._held: List[Waiter] = []
        self._depth = 0  # dispatches running on this thread (a completion inside a handler)
        self._sync_waiters = 0  # threads in a call_wait (see _run); under _waiters_lock
        self._waiters_lock = threading.Lock()
        self._lending = False  # this thread's poll runs the library's I/O
        core.dispatch = self._make_dispatch(core.dispatch)
        self._thread = threading.Thread(target=self._run, args=(core.ptr, core.dispatch),
                                        name="signalr-events", daemon=True)
        self._thread.start()

    @property
    def ident(self) -> Optional[int]:
        return self._thread.ident

    def _make_dispatch(self, base: Callable) -> Callable:
        """The context's dispatch for the sync API (what ``base`` does, plus the held
        wake-ups; ``base`` serves the other threads: pysr_connection_free there)."""
        conns = self._core.conns
        held = self._held
        get_ident = threading.get_ident
        wake_held = self._wake_held
        state = self

        def dispatch(kind: int, key: int, a: Any, b: Any, c: Any) -> Any:
            if get_ident() != state._ident:
                return base(kind, key, a, b, c)
            if held:
                wake_held()  # before anything that may run application code
            ref = conns.get(key >> _SHIFT)
            conn = ref() if ref is not None else None
            if conn is None:
                return None
            if kind == COMPLETION:
                t = conn._calls.pop(key & _MASK, None)
                if t is None:
                    return None
                if t.__class__ is Waiter and not state._depth:
                    if t.settle(a, b, c):
                        held.append(t)
                    return None
            elif kind == ITEM:
                t = conn._calls.get(key & _MASK)
            else:
                t = conn._ops.get(key & _MASK)
            if t is None:
                return None
            state._depth += 1
            try:
                return t(kind, a, b, c)
            except Exception:  # a bug in a target: never into C
                log.exception("signalr: an event callback failed")
                return None
            finally:
                state._depth -= 1
        return dispatch

    def _wake_held(self) -> None:
        held = self._held
        while held:
            held.pop(0).wake()

    def _run(self, ptr: Any, dispatch: Callable) -> None:
        self._ident = threading.get_ident()
        poll = _ll.pysr_context_poll
        held = self._held
        fd_waiter = select.poll()
        fd_waiter.register(self._core.fd, select.POLLIN)
        wait_fd = fd_waiter.poll
        while not self._stopping:
            try:
                # While a thread waits for a call's outcome it runs the library's I/O itself
                # (signalr_call_wait); this thread then only waits for events on the wakeup
                # fd, so that the loop is free for it. Otherwise its poll runs the I/O.
                if self._sync_waiters:
                    wait_fd()
                    poll(ptr, 0, dispatch)
                else:
                    self._lending = True
                    if not self._sync_waiters:  # (a waiter that came meanwhile saw the flag)
                        poll(ptr, -1, dispatch)
                    self._lending = False
            except BaseException:  # e.g. SystemExit raised by a handler: keep serving events
                if held:
                    self._wake_held()
                if self._stopping:
                    break
                log.exception("signalr: an event callback raised")
            if held:
                self._wake_held()
        self._ident = None
        if held:
            self._wake_held()

    def waiting(self, delta: int) -> None:
        """A thread begins (+1) or ends (-1) waiting in signalr_call_wait: the first one takes
        the loop from this thread's poll, which then waits on the wakeup fd (see _run)."""
        with self._waiters_lock:
            self._sync_waiters += delta
            first = delta > 0 and self._sync_waiters == 1
        if first and self._lending:
            self._core.interrupt()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stops the thread; False if it did not finish in time (a handler still running)."""
        self._stopping = True
        if threading.current_thread() is self._thread:
            return False
        self._core.interrupt()
        self._thread.join(timeout)
        return not self._thread.is_alive()


_sync_lock = threading.Lock()
_sync_core: Optional[ContextCore] = None
_sync_thread: Optional[EventThread] = None
_context_finalizers: List[weakref.finalize] = []


def sync_core() -> Tuple[ContextCore, EventThread]:
    """The process-wide context of the sync API and its event thread (made on first use)."""
    global _sync_core, _sync_thread
    with _sync_lock:
        if _sync_core is None:
            if _shutting_down:
                raise error_from_code(_ll.SIGNALR_ECLOSED, "the interpreter is shutting down")
            core = ContextCore()
            thread = EventThread(core)
            context_finalizer(core, _free_context, core.ptr, thread.stop)
            _sync_core, _sync_thread = core, thread
        return _sync_core, _sync_thread


def in_event_thread() -> bool:
    """True on the sync API's event thread (inside a handler or a callback)."""
    t = _sync_thread
    return t is not None and t._ident == threading.get_ident()


# ================================================================== interpreter exit

_live_natives: "weakref.WeakSet[_Native]" = weakref.WeakSet()
_shutting_down = False


def _shutdown() -> None:
    """At exit: free every connection, stop the event thread, free the contexts. Never waits
    for a server: connections are dropped, not stopped gracefully."""
    global _shutting_down
    _shutting_down = True
    for native in list(_live_natives):
        native.release()
    thread = _sync_thread
    stuck = False
    if thread is not None:
        stuck = not thread.stop(2.0)
    for fin in reversed(_context_finalizers):
        if stuck and fin.peek() is not None and fin.peek()[0] is _sync_core:
            fin.detach()  # a handler still runs on it: leave the context to the OS
            continue
        fin()


atexit.register(_shutdown)


# ================================================================== native connection

class _Native:
    """The C connection of a HubConnection. Knows nothing of the Python connection, so its
    finalizer can free it after the connection object is gone."""

    __slots__ = ("ptr", "core", "lock", "__weakref__")

    def __init__(self) -> None:
        self.ptr: Any = None
        self.core: Optional[ContextCore] = None
        # Held around every C call on ptr, so that no call runs on a freed connection. Objects
        # that call through it (streams, subjects, uploads) keep the connection alive, so a
        # finalizer never releases it from inside such a call on the same thread.
        self.lock = threading.Lock()

    def release(self, dispatch: Optional[Callable] = None) -> None:
        """Frees the C connection. libsignalr completes each of its pending operations once,
        with SIGNALR_ECLOSED, on this thread before the free returns; those completions are
        routed through ``dispatch``, by default the context's (to the connection's targets,
        while the connection object lives). The free runs outside the lock (calls made from
        those completions find the connection gone instead of deadlocking)."""
        with self.lock:
            ptr, core = self.ptr, self.core
            self.ptr = self.core = None
        if ptr is not None and core is not None:
            _ll.pysr_connection_free(ptr, dispatch if dispatch is not None else core.dispatch)
        _live_natives.discard(self)

    def call(self, ptr: Any, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(ptr, *args) if ptr is still this native connection, else SIGNALR_ECLOSED."""
        with self.lock:
            if ptr is None or self.ptr is not ptr:
                return _ll.SIGNALR_ECLOSED
            return fn(ptr, *args)




# ================================================================== upload sources

class UploadStream:
    """Marks an iterable (or async iterable) as a client-to-server stream argument.

    ``conn.invoke("UploadSum", UploadStream(range(10)))``. Generators and other iterators
    are upload streams without the wrapper; a list is a plain array argument.
    """

    def __init__(self, source: Any) -> None:
        self.source = source


def _release_orphan(native: _Native, calls: Dict[int, Callable]) -> None:
    """Finalizer of a connection object: frees its native connection; the calls still in
    flight (whose futures may be held elsewhere) get their ECLOSED completions."""
    def dispatch(kind: int, key: int, a: Any, b: Any, c: Any) -> None:
        t = calls.pop(key & _MASK, None) if kind == COMPLETION else None
        if t is not None:
            try:
                t(kind, a, b, c)
            except Exception:
                log.exception("signalr: completing a call of a collected connection failed")
    native.release(dispatch)


def _forget(conns: Dict[int, "weakref.ref[BaseConnection]"], conn_id: int) -> Callable[[Any], None]:
    """The weakref callback that removes a dead connection's routing entry (not before: a
    completion of a freed native connection may still be on its way to the connection)."""
    def forget(ref: Any) -> None:
        if conns.get(conn_id) is ref:
            del conns[conn_id]
    return forget


class _Handler:
    __slots__ = ("method", "key", "fn", "op", "handle", "conn_ref")

    def __init__(self, method: str, fn: Callable, op: int, conn: "BaseConnection") -> None:
        self.method = method
        self.key = method.lower()
        self.fn = fn
        self.op = op
        self.handle: Optional[int] = None
        self.conn_ref = weakref.ref(conn)


class Subscription:
    """What :meth:`on` returns: ``dispose()`` (or ``off()``) removes that handler."""

    __slots__ = ("_handler",)

    def __init__(self, handler: _Handler) -> None:
        self._handler = handler

    @property
    def method(self) -> str:
        return self._handler.method

    def dispose(self) -> None:
        conn = self._handler.conn_ref()
        if conn is not None:
            conn._remove_handler(self._handler)

    off = dispose

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.dispose()


# ================================================================== the connection

class BaseConnection:
    """The connection logic shared by :class:`signalr.HubConnection` and
    :class:`signalr.aio.HubConnection`. Not used directly."""

    def __init__(self, settings: "_Settings") -> None:
        self._settings = settings
        self._url = settings.url
        self._encoding = MSGPACK if settings.protocol == "messagepack" else JSON
        self._null_result = (encode(None, self._encoding), self._encoding)
        self._handlers: Dict[str, List[_Handler]] = {}
        # Routing tables, key -> target: the long-lived targets (handlers, lifecycle, log,
        # token, retry), and the calls in flight (start, stop, invoke, stream), whose targets
        # hold no reference to the connection: C completes every call once (with
        # SIGNALR_ECLOSED when the native connection is freed), so the table empties itself.
        self._ops: Dict[int, Callable] = {}
        self._calls: Dict[int, Callable] = {}
        self._op_ids = itertools.count(_FIRST_OP)
        self._close_callbacks: List[Callable] = []
        self._reconnecting_callbacks: List[Callable] = []
        self._reconnected_callbacks: List[Callable] = []
        self._slow_callbacks: List[Callable] = []
        # Upload writes that met a full outgoing buffer wait for SIGNALR_EVENT_WRITABLE (or the
        # close): a generation counter so that an event between the write and the wait counts.
        self._writable_lock = threading.Lock()
        self._writable_gen = 0
        self._writable_waiters: List[Callable[[], None]] = []
        self._send_failed_callbacks: List[Callable] = []
        self._native = _Native()
        # One id for the object's lifetime (the high bits of every key it hands to C): a
        # completion of a freed native connection, however late, still reaches its target.
        self._conn_id = next(_conn_ids) & _MASK
        self._key_base = self._conn_id << _SHIFT
        self._finalizer = weakref.finalize(self, _release_orphan, self._native, self._calls)
        self._finalizer.atexit = False  # _shutdown releases every native connection first
        self._ops[_OP_LIFECYCLE] = self._on_lifecycle
        self._ops[_OP_LOG] = self._on_log
        self._ops[_OP_TOKEN] = self._on_token
        self._ops[_OP_RETRY] = self._on_retry
        self._ops[_OP_RAW] = self._on_raw
        self._receive_callbacks: List[Callable] = []

    # ------------------------------------------------------------ public, both APIs

    @property
    def url(self) -> str:
        """The hub URL."""
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        """Changes the hub URL for the next connect attempt, as the official clients' ``baseUrl``:
        allowed while disconnected and while reconnecting (typically from an
        :meth:`on_reconnecting` callback: the reconnect goes there); InvalidStateError otherwise,
        ValueError for a URL that is not http(s):// or ws(s)://. With the default reconnect
        delays the first attempt starts at once and may keep the old URL; a retry policy is asked
        after the callback, so its first attempt has the new one."""
        if not isinstance(value, str) or not value.lower().startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("url must start with http://, https://, ws:// or wss://")
        native = self._native
        with native.lock:
            if native.ptr is not None:
                check(_ll.signalr_connection_set_url(native.ptr, value), "set url")
            self._settings.url = self._url = value  # (a native connection made later gets it too)

    def _set_timeout(self, key: str, ms: str, server: bool) -> None:
        native = self._native
        with native.lock:
            if native.ptr is not None:
                v = int(ms)
                check(_ll.signalr_connection_set_timeouts(native.ptr, v if server else -1, -1 if server else v),
                      "set " + key)
            self._settings.options = [(k, v) for k, v in self._settings.options if k != key] + [(key, ms)]

    def _timeout(self, key: str, default_ms: int) -> float:
        ms = default_ms
        for k, v in self._settings.options:
            if k == key:
                ms = int(v)
        return ms / 1000.0

    @property
    def server_timeout(self) -> float:
        """Seconds without a message from the server before the connection closes (0: never).
        Settable on a live connection, as the official clients' serverTimeoutInMilliseconds: in
        effect at once, counted from the last message received."""
        return self._timeout("server_timeout_ms", 30000)

    @server_timeout.setter
    def server_timeout(self, seconds: Union[float, timedelta]) -> None:
        self._set_timeout("server_timeout_ms", _seconds_to_ms(seconds, "server timeout"), True)

    @property
    def keep_alive_interval(self) -> float:
        """Seconds without sending before a Ping goes to the server (0: never). Settable on a
        live connection (keepAliveIntervalInMilliseconds of the official clients)."""
        return self._timeout("keep_alive_interval_ms", 15000)

    @keep_alive_interval.setter
    def keep_alive_interval(self, seconds: Union[float, timedelta]) -> None:
        self._set_timeout("keep_alive_interval_ms", _seconds_to_ms(seconds, "keep-alive interval"), False)

    @property
    def protocol(self) -> str:
        """The hub protocol: ``"json"`` or ``"messagepack"``."""
        return self._settings.protocol

    @property
    def state(self) -> HubConnectionState:
        """The connection's state."""
        native = self._native
        with native.lock:
            if native.ptr is None:
                return HubConnectionState.Disconnected
            return HubConnectionState(_ll.signalr_connection_state(native.ptr))

    @property
    def connection_id(self) -> Optional[str]:
        """The connection id the server gave (None while not connected: before start, after the
        close, while reconnecting; and with skip_negotiation)."""
        native = self._native
        with native.lock:
            if native.ptr is None:
                return None
            rc, cid = _ll.signalr_connection_id(native.ptr)
        return cid if rc == 0 and cid else None

    def diagnostics(self) -> Dict[str, Any]:
        """What the last connect attempt saw (signalr_connection_diagnostics): a dict with
        ``phase`` (how far it got), ``negotiate`` (status, the server's answer with its secrets
        redacted, the redirects followed), ``transport``, ``protocol``, ``stateful_reconnect``
        and ``server_pings`` (count and gaps in ms). Never blocks; {} once the connection is
        closed for good."""
        native = self._native
        with native.lock:
            if native.ptr is None:
                return {}
            rc, text = _ll.signalr_connection_diagnostics(native.ptr)
        return json.loads(text) if rc == 0 and text else {}

    def on(self, method: str, handler: Callable[..., Any]) -> Subscription:
        """Registers ``handler`` for the client method ``method`` (case-insensitive).

        The handler is called with the server's arguments. Its return value answers a server
        invocation that expects a result (client results); an exception is logged to the
        ``signalr`` logger and sent to the server as the error of such an invocation, and
        never closes the connection. Several handlers per method run in registration order.
        Returns a :class:`Subscription` whose ``dispose()`` removes this handler.
        """
        if not isinstance(method, str) or not method:
            raise TypeError("method must be a non-empty str")
        if not callable(handler):
            raise TypeError("handler must be callable")
        h = _Handler(method, handler, next(self._op_ids), self)
        self._ops[h.op] = self._handler_target(h)
        self._handlers.setdefault(h.key, []).append(h)
        with self._native.lock:
            if self._native.ptr is not None:
                self._register_handler(h, self._native.ptr)
        return Subscription(h)

    def off(self, method: str, handler: Optional[Callable[..., Any]] = None) -> None:
        """Removes ``handler`` from ``method``, or every handler of ``method``."""
        for h in list(self._handlers.get(method.lower(), ())):
            if handler is None or h.fn == handler:
                self._remove_handler(h)

    def on_close(self, callback: Callable[[Optional[SignalRError]], Any]) -> Callable:
        """``callback(error)`` when the connection closes (``None``: stopped by the application,
        or a Close message from the server without an error, as the official clients report it)."""
        self._close_callbacks.append(callback)
        return callback

    def on_reconnecting(self, callback: Callable[[Optional[SignalRError]], Any]) -> Callable:
        """``callback(error)`` when the connection is lost and automatic reconnect begins."""
        self._reconnecting_callbacks.append(callback)
        return callback

    def on_reconnected(self, callback: Callable[[Optional[str]], Any]) -> Callable:
        """``callback(connection_id)`` when a reconnect succeeded."""
        self._reconnected_callbacks.append(callback)
        return callback

    def on_slow(self, callback: Callable[[], Any]) -> Callable:
        """``callback()`` when nothing arrived for 2/3 of the server timeout."""
        self._slow_callbacks.append(callback)
        return callback

    def on_send_failed(self, callback: Callable[[SignalRError], Any]) -> Callable:
        """``callback(error)`` when a message that :meth:`send` accepted could not be written
        (the connection was lost or stopped first, say); ``error`` names the method. It is
        also logged to the ``signalr`` logger at ERROR."""
        self._send_failed_callbacks.append(callback)
        return callback

    def close(self) -> None:
        """Releases the native connection at once (drops it without a graceful stop).

        Every pending call (invoke, stream, start, stop) fails with
        :class:`ConnectionClosedError` before this returns (libsignalr completes them on
        this thread; with asyncio, call it on the loop's thread), and writers waiting for
        room in the outgoing buffer wake and fail the same way. The object can be started
        again afterwards (a new native connection is made)."""
        self._native.release()
        self._writable_signal()

    def __repr__(self) -> str:
        return "<%s %s %s>" % (type(self).__name__, self._url, self.state.name)

    # ------------------------------------------------------------ subclass hooks

    def _call_handler(self, h: _Handler, args: list) -> Any:
        """Runs a handler; returns its result (the asyncio API deals with coroutines)."""
        return h.fn(*args)

    def _defer_answer(self, h: _Handler) -> Optional[Callable[[Any, Optional[BaseException]], None]]:
        """Inside a handler: takes the answer to the server's call out of the handler.

        Returns ``answer(value, exception)``, to call once, from any thread, or None when the
        call wants no result (or an earlier handler answered it)."""
        native = self._native
        ptr = native.ptr
        if ptr is None:
            return None
        rc, ticket = _ll.signalr_connection_defer_result(ptr)
        if rc:
            return None
        encoding = self._encoding
        method = h.method

        def answer(value: Any, exc: Optional[BaseException]) -> None:
            data, error = None, None
            if exc is not None:
                error = "%s: %s" % (type(exc).__name__, exc)
            elif value is not None:
                try:
                    data = encode(value, encoding)
                except Exception as e:
                    log.error("signalr: the result of the handler for '%s' could not be encoded: %s", method, e)
                    error = "The client's result could not be encoded: %s" % e
            rc = native.call(ptr, _ll.signalr_connection_answer_result, ticket, data, encoding, error)
            if rc:
                log.debug("signalr: the answer to '%s' was not sent: %s", method, _ll.signalr_strerror(rc))
        return answer

    def _call_user(self, fn: Callable, *args: Any) -> None:
        """Runs an application callback, logging its exception."""
        try:
            fn(*args)
        except Exception:
            log.exception("signalr: the %s callback raised", getattr(fn, "__name__", "event"))

    def _token_later(self, awaitable: Any) -> int:
        """An awaitable token (asyncio only)."""
        raise TypeError("the access_token_factory returned an awaitable: use signalr.aio")

    # ------------------------------------------------------------ native connection

    def _ensure_native(self, core: ContextCore) -> Any:
        """Makes the C connection on ``core`` (again, if it lives on another context)."""
        native = self._native
        if native.ptr is not None:
            if native.core is core:
                return native.ptr
            native.release()
        s = self._settings
        rc, b = _ll.signalr_builder_new()
        check(rc, "signalr_builder_new")
        try:
            for key, value in s.option_pairs():
                rc, err = _ll.signalr_builder_set(b, key, value)
                if rc:
                    raise error_from_code(rc, "option %s: %s" % (key, err or _ll.signalr_strerror(rc)))
            base = self._key_base
            if s.log_level != "none":
                check(_ll.pysr_builder_set_log(b, base | _OP_LOG), "signalr_builder_set_log")
            check(_ll.pysr_builder_set_lifecycle(b, base | _OP_LIFECYCLE), "signalr_builder_set_lifecycle")
            if s.token_factory is not None:
                check(_ll.pysr_builder_set_token_provider(b, base | _OP_TOKEN), "token provider")
            if s.retry_policy is not None:
                check(_ll.pysr_builder_set_retry_policy(b, base | _OP_RETRY), "retry policy")
            if s.raw:
                check(_ll.pysr_builder_set_raw_receive(b, base | _OP_RAW), "raw receive")
            rc, ptr, err = _ll.signalr_builder_build(b, core.ptr)
            if rc:
                raise error_from_code(rc, err or _ll.signalr_strerror(rc))
        finally:
            _ll.signalr_builder_free(b)
        with native.lock:
            native.ptr, native.core = ptr, core
            if core.conns.get(self._conn_id) is None:
                core.conns[self._conn_id] = weakref.ref(self, _forget(core.conns, self._conn_id))
            _live_natives.add(native)
            for handlers in self._handlers.values():
                for h in handlers:
                    self._register_handler(h, ptr)
        return ptr

    def _key(self, op: int) -> int:
        return self._key_base | op

    def _register_handler(self, h: _Handler, ptr: Any) -> None:
        """Registers h on the native connection (native.lock held)."""
        rc, handle = _ll.pysr_connection_on(ptr, h.method, self._key(h.op))
        check(rc, "signalr_connection_on(%r)" % h.method)
        h.handle = handle

    def _remove_handler(self, h: _Handler) -> None:
        lst = self._handlers.get(h.key)
        if lst and h in lst:
            lst.remove(h)
            if not lst:
                del self._handlers[h.key]
        self._ops.pop(h.op, None)
        with self._native.lock:
            if h.handle is not None and self._native.ptr is not None:
                _ll.signalr_connection_off(self._native.ptr, h.handle)
            h.handle = None

    def _live_ptr(self) -> Any:
        """The native connection (call with native.lock held), or InvalidStateError."""
        ptr = self._native.ptr
        if ptr is None:
            raise error_from_code(_ll.SIGNALR_ESTATE, "the connection is not started")
        return ptr

    def _check_caller(self) -> None:
        """Raises when the calling context may not use the connection (asyncio: another loop)."""

    # ------------------------------------------------------------ routing (event thread / loop)

    def _route(self, kind: int, op: int, a: Any, b: Any, c: Any) -> Any:
        # (EventThread's dispatch does the same inline for the sync API.)
        if kind == COMPLETION:
            t = self._calls.pop(op, None)
        elif kind == ITEM:
            t = self._calls.get(op)
        else:
            t = self._ops.get(op)
        if t is None:
            return None
        return t(kind, a, b, c)

    def _new_op(self, target: Callable) -> Tuple[int, int]:
        op = next(self._op_ids) & _MASK
        if op < _FIRST_OP:  # wrapped around
            self._op_ids = itertools.count(_FIRST_OP)
            op = next(self._op_ids)
        self._calls[op] = target
        return op, self._key_base | op

    def _handler_target(self, h: _Handler) -> Callable:
        handlers = self._handlers
        null_result = self._null_result
        encoding = self._encoding

        def target(kind: int, data: bytes, enc: int, _c: Any) -> Any:
            try:
                args = decode(data, enc)
            except Exception as e:
                log.error("signalr: the arguments of '%s' could not be decoded: %s", h.method, e)
                return "The client could not decode the arguments: %s" % e
            try:
                result = self._call_handler(h, args)
            except Exception as e:
                log.error("signalr: the handler for '%s' raised", h.method, exc_info=True)
                return "%s: %s" % (type(e).__name__, e)
            if result is _NO_RESULT:
                return None
            if result is None:
                return null_result if len(handlers.get(h.key, ())) == 1 else None
            try:
                return (encode(result, encoding), encoding)
            except Exception as e:
                log.error("signalr: the result of the handler for '%s' could not be encoded: %s",
                          h.method, e)
                return "The client's result could not be encoded: %s" % e

        return target

    def _writable_signal(self) -> None:
        with self._writable_lock:
            self._writable_gen += 1
            waiters, self._writable_waiters = self._writable_waiters, []
        for wake in waiters:
            try:
                wake()
            except Exception:  # e.g. the waiter's event loop is closed: nobody waits there
                log.debug("signalr: waking a writer failed", exc_info=True)

    def _when_writable(self, gen: int, wake: Callable[[], None]) -> bool:
        """Calls wake() at the next writable (or close) event after generation gen; False
        when it already came (write again at once)."""
        with self._writable_lock:
            if self._writable_gen != gen:
                return False
            self._writable_waiters.append(wake)
            return True

    def _forget_writable(self, wake: Callable[[], None]) -> None:
        """Withdraws a waiter of :meth:`_when_writable` that stopped waiting (a timeout)."""
        with self._writable_lock:
            try:
                self._writable_waiters.remove(wake)
            except ValueError:
                pass

    def _on_raw(self, kind: int, data: bytes, binary: int, _c: Any) -> None:
        for cb in list(self._receive_callbacks):
            self._call_user(cb, data)

    def on_receive(self, callback: Callable[[bytes], Any]) -> Callable:
        """Raw connections (:meth:`HubConnectionBuilder.with_raw`): ``callback(data: bytes)`` for
        each message the transport received, on the event thread / the event loop. A byte stream:
        what the server wrote in one piece may arrive in several, and the other way round."""
        self._receive_callbacks.append(callback)
        return callback

    def send_raw(self, data: Union[bytes, bytearray, memoryview, str]) -> None:
        """Raw connections: sends ``data`` (str as UTF-8) as it is. WouldBlockError at the send
        bound (SIGNALR_EAGAIN), InvalidStateError when not connected, ValueError on a hub
        connection."""
        if not self._settings.raw:
            raise ValueError("send_raw is for raw connections (HubConnectionBuilder.with_raw)")
        native = self._native
        with native.lock:
            ptr = _started(native)
            rc = _ll.signalr_connection_send_raw(ptr, data)
        check(rc, "send_raw")

    def _on_lifecycle(self, kind: int, event: int, _b: Any, err: Any) -> None:
        exc = error_from_tuple(err)
        if event in (EVENT_WRITABLE, EVENT_CLOSED, EVENT_RECONNECTING):
            self._writable_signal()  # room again, or a writer's next try fails at once
        if event == EVENT_SEND_FAILED:
            log.error("signalr: %s", exc)
            for cb in list(self._send_failed_callbacks):
                self._call_user(cb, exc)
        elif event == EVENT_CLOSED:
            for cb in list(self._close_callbacks):
                self._call_user(cb, exc)
        elif event == EVENT_RECONNECTING:
            for cb in list(self._reconnecting_callbacks):
                self._call_user(cb, exc)
        elif event == EVENT_RECONNECTED:
            cid = self.connection_id
            for cb in list(self._reconnected_callbacks):
                self._call_user(cb, cid)
        elif event == EVENT_SLOW:
            for cb in list(self._slow_callbacks):
                self._call_user(cb)

    def _on_log(self, kind: int, level: int, message: str, _c: Any) -> None:
        log.log(_TO_LOGGING.get(level, logging.INFO), "%s", message)

    def _on_token(self, kind: int, _a: Any, _b: Any, _c: Any) -> Any:
        factory = self._settings.token_factory
        try:
            token = factory() if factory is not None else None
        except Exception:
            log.exception("signalr: the access_token_factory raised")
            return _ll.SIGNALR_EAUTH
        if hasattr(token, "__await__"):
            return self._token_later(token)
        return _token_text(token)

    def _on_retry(self, kind: int, attempt: int, elapsed_ms: int, err: Any) -> int:
        policy = self._settings.retry_policy
        ctx = RetryContext(attempt - 1, elapsed_ms / 1000.0, error_from_tuple(err))
        try:
            fn = getattr(policy, "next_retry_delay", policy)
            delay = fn(ctx)
        except Exception:
            log.exception("signalr: the retry policy raised; giving up")
            return -1
        if delay is None:
            return -1
        if isinstance(delay, timedelta):
            delay = delay.total_seconds()
        return max(0, int(round(float(delay) * 1000)))

    # ------------------------------------------------------------ calls (shared parts)

    def _is_upload(self, arg: Any) -> bool:
        raise NotImplementedError

    def _pump_uploads(self, ptr: Any, sources: List[Any], handles: List[int]) -> None:
        """Feeds each upload source into its attached stream handle."""
        raise NotImplementedError

    def _split_args(self, args: Sequence[Any]) -> Tuple[Sequence[Any], List[Any]]:
        for a in args:
            if type(a) not in _PLAIN_TYPES:
                break
        else:
            return args, []  # the common case: no upload stream among the arguments
        plain: List[Any] = []
        uploads: List[Any] = []
        for a in args:
            (uploads if self._is_upload(a) else plain).append(a)
        return plain, uploads

    def _open_uploads(self, ptr: Any, count: int) -> List[int]:
        handles: List[int] = []
        try:
            for _ in range(count):
                rc, h = _ll.signalr_connection_upload_open(ptr)
                check(rc, "signalr_connection_upload_open")
                handles.append(h)
        except BaseException:
            self._abort_uploads(ptr, handles, "the call was not sent")
            raise
        return handles

    @staticmethod
    def _abort_uploads(ptr: Any, handles: Iterable[int], why: str) -> None:
        for h in handles:
            _ll.signalr_connection_upload_complete(ptr, h, why)

    def _call_native(self, what: str, method: str, args: Sequence[Any], target: Optional[Callable],
                     issue: Callable[[Any, bytes, List[int], Any], Any]) -> Tuple[Any, Optional[int], Any]:
        """One hub call: encodes the plain arguments, opens a stream handle per upload source,
        ``issue(ptr, data, handles, key)`` (the C call; it returns rc or [rc, ...]), then feeds
        the upload sources. Returns the pointer, the op of ``target`` and what issue returned."""
        self._check_caller()
        plain, uploads = self._split_args(args)
        data = encode_args(plain, self._encoding)
        with self._native.lock:
            ptr = self._live_ptr()
            op, key = self._new_op(target) if target is not None else (None, 0)
            try:
                handles = self._open_uploads(ptr, len(uploads))
                out = issue(ptr, data, handles, key)
                rc = out[0] if isinstance(out, list) else out
                if rc:
                    self._abort_uploads(ptr, handles, "the call was not sent")
                check(rc, "%s %r" % (what, method))
            except BaseException:
                if op is not None:
                    self._calls.pop(op, None)
                raise
        self._pump_uploads(ptr, uploads, handles)
        return ptr, op, out

    def _send_native(self, method: str, args: Sequence[Any]) -> None:
        enc = self._encoding
        self._call_native("send", method, args, None, lambda ptr, data, handles, key:
                          _ll.pysr_connection_send_with_uploads(ptr, method, data, enc, handles))

    def _try_send(self, method: str, args: Sequence[Any], waited: bool) -> Optional[int]:
        """One try at a send: None when it was accepted; the writable generation to wait on
        (:meth:`_when_writable`) when the outgoing buffer is full (nothing was accepted).
        ``waited``: an earlier try met a full buffer, so a connection that is gone now was
        closed under the waiting send (ConnectionClosedError, not InvalidStateError)."""
        gen = self._writable_gen
        try:
            self._send_native(method, args)
        except SignalRError as e:
            if e.code == _ll.SIGNALR_EAGAIN:
                return gen
            if waited and e.code in (_ll.SIGNALR_ESTATE, _ll.SIGNALR_ECLOSED):
                raise error_from_code(_ll.SIGNALR_ECLOSED, "send %r: the connection closed while the send "
                                      "waited for room in the outgoing buffer" % method) from None
            raise
        return None

    def _invoke_native(self, method: str, args: Sequence[Any], target: Callable) -> None:
        """Invokes with ``target`` as the completion."""
        enc = self._encoding
        data = self._plain_args(args)
        if data is not None:  # the common case, no upload stream: the steps of _call_native without uploads
            native = self._native
            with native.lock:
                ptr = _started(native)
                op, key = self._new_op(target)
                try:
                    rc = _ll.pysr_connection_invoke_with_uploads(ptr, method, data, enc, (), key)
                except BaseException:
                    self._calls.pop(op, None)
                    raise
                if rc:
                    self._calls.pop(op, None)
                    check(rc, "invoke %r" % (method,))
            return
        self._call_native("invoke", method, args, target, lambda ptr, data, handles, key:
                          _ll.pysr_connection_invoke_with_uploads(ptr, method, data, enc, handles, key))

    def _plain_args(self, args: Sequence[Any]) -> Optional[bytes]:
        """The encoded arguments when none is an upload stream (the common case), else None."""
        for a in args:
            if type(a) not in _PLAIN_TYPES:
                return None
        self._check_caller()
        return encode_args(args, self._encoding)

    def _invoke_call(self, method: str, args: Sequence[Any]) -> Any:
        """Starts an invoke whose outcome this thread waits for itself (signalr_call_wait: the
        waiting thread runs the library's I/O, no hand-off between threads per call); None
        when the arguments hold an upload stream (then the completion path serves)."""
        data = self._plain_args(args)
        if data is None:
            return None
        enc = self._encoding
        native = self._native
        with native.lock:
            ptr = _started(native)
            # ordered: handlers for what the server sent first have run when it returns
            rc, call = _ll.signalr_connection_invoke_call(ptr, method, data, enc, _ll.SIGNALR_CALL_ORDERED)
        check(rc, "invoke %r" % (method,))
        return call

    def _wait_call(self, call: Any, timeout: Optional[float], what: str) -> Any:
        """The outcome of an :meth:`_invoke_call`, waited for in slices without the GIL (Ctrl-C
        is seen between them); TimeoutError after ``timeout`` seconds (freeing the call cancels
        it in the library: released, a late result dropped). Frees the call."""
        wait = _ll.pysr_call_wait
        again = _ll.SIGNALR_EAGAIN
        try:
            if timeout is None:
                while True:
                    rc, data, err = wait(call, _SLICE_MS)
                    if rc != again:
                        break
            else:
                deadline = _monotonic() + timeout
                while True:
                    left = deadline - _monotonic()
                    rc, data, err = wait(call, max(0, min(_SLICE_MS, int(left * 1000))))
                    if rc != again:
                        break
                    if left <= 0:
                        raise error_from_code(_ll.SIGNALR_ETIMEOUT, "%s did not complete within %g s" %
                                              (what, timeout))
        finally:
            _ll.signalr_call_free(call)
        if rc:
            raise error_from_tuple(err) if err is not None else error_from_code(rc, what)
        if data is None:
            return None
        try:
            return decode(data, self._encoding)
        except Exception as e:
            raise error_from_code(_ll.SIGNALR_EENCODING, "the result could not be decoded: %s" % e) from None

    def _stream_native(self, method: str, args: Sequence[Any], target: Callable) -> Tuple[Any, int, int]:
        """Starts a stream with ``target`` for items and the end; returns pointer, op, handle."""
        enc = self._encoding
        ptr, op, out = self._call_native("stream", method, args, target, lambda ptr, data, handles, key:
                                         _ll.pysr_connection_stream_with_uploads(ptr, method, data, enc,
                                                                                 handles, key))
        return ptr, op, out[1]

    def _start_native(self, ptr: Any, target: Callable) -> None:
        op, key = self._new_op(target)
        rc = self._native.call(ptr, _ll.pysr_connection_start, key)
        if rc:
            self._calls.pop(op, None)
            check(rc, "start")

    def _stop_native(self, target: Callable) -> bool:
        """Begins a stop; False when there is no native connection (nothing to stop)."""
        with self._native.lock:
            ptr = self._native.ptr
            if ptr is None:
                return False
            op, key = self._new_op(target)
            rc = _ll.pysr_connection_stop(ptr, key)
            if rc:
                self._calls.pop(op, None)
                check(rc, "stop")
        return True

    def _upload_write(self, ptr: Any, handle: int, item: Any) -> int:
        """One upload item; returns the C code (EAGAIN: retry later)."""
        data = encode(item, self._encoding)
        return self._native.call(ptr, _ll.signalr_connection_upload_write, handle, data, self._encoding)

    def _upload_complete(self, ptr: Any, handle: int, error: Optional[str]) -> int:
        return self._native.call(ptr, _ll.signalr_connection_upload_complete, handle, error)

    def _stream_cancel(self, ptr: Any, handle: int) -> int:
        return self._native.call(ptr, _ll.signalr_connection_stream_cancel, handle)


def _started(native: Any) -> Any:
    """The native pointer of a started connection (under native.lock), else InvalidStateError."""
    ptr = native.ptr
    if ptr is None:
        raise error_from_code(_ll.SIGNALR_ESTATE, "the connection is not started")
    return ptr


_PLAIN_TYPES = frozenset((str, int, float, bool, type(None), list, dict, tuple, bytes))


class _NoResult:
    def __repr__(self) -> str:
        return "NO_RESULT"


_NO_RESULT = _NoResult()
"""Returned internally by a handler that will not answer (an async handler still running)."""


def _token_text(token: Any) -> Any:
    if token is None or token == "":
        return None
    if isinstance(token, bytes):
        token = token.decode("utf-8")
    if not isinstance(token, str):
        log.error("signalr: the access_token_factory returned %s, not a str", type(token).__name__)
        return _ll.SIGNALR_EAUTH
    return token


# ================================================================== builder

class _Settings:
    """A snapshot of the builder's choices, copied into each connection."""

    def __init__(self) -> None:
        self.url: str = ""
        self.protocol = "json"
        self.options: List[Tuple[str, str]] = []
        self.token_factory: Optional[Callable[[], Any]] = None
        self.retry_policy: Optional[RetryPolicy] = None
        self.log_level: str = "information"
        self.raw: bool = False

    def copy(self) -> "_Settings":
        s = _Settings()
        s.__dict__.update(self.__dict__)
        s.options = list(self.options)
        return s

    def option_pairs(self) -> List[Tuple[str, str]]:
        # The binding is reported in the User-Agent.
        pairs = [("url", self.url), ("protocol", self.protocol), ("log_level", self.log_level),
                 ("binding", "Python %s" % platform.python_version())]
        return pairs + self.options


def _seconds_to_ms(value: Union[float, int, timedelta], what: str) -> str:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    ms = int(round(float(value) * 1000))
    if ms < 0:
        raise ValueError("%s must not be negative" % what)
    return str(ms)


class HubConnectionBuilder:
    """Configures and builds a hub connection (the official clients' builder).

    ::

        conn = (signalr.HubConnectionBuilder()
                .with_url("https://example.com/hubs/chat", access_token_factory=get_token)
                .with_hub_protocol("messagepack")
                .with_automatic_reconnect([0, 2, 10, 30])
                .configure_logging("debug")
                .build())

    Every libsignalr option (see :func:`signalr.options`) can be set with :meth:`with_option`.
    Options are checked by :meth:`build`.
    """

    _connection_class: Any = None  # set by signalr / signalr.aio

    def __init__(self) -> None:
        self._s = _Settings()
        self._log_level: Union[str, int, None] = None

    def with_url(self, url: str, *, transport: Union[HttpTransportType, str, Iterable[str], None] = None,
                 headers: Optional[Mapping[str, str]] = None,
                 access_token_factory: Optional[Callable[[], Any]] = None,
                 access_token: Optional[str] = None,
                 skip_negotiation: bool = False,
                 options: Optional[Mapping[str, Any]] = None) -> "HubConnectionBuilder":
        """The hub URL (http, https, ws, wss) and how to reach it.

        Args:
            transport: allowed transports, an :class:`HttpTransportType` (combinable with ``|``),
                a name ("websockets", "serversentevents", "longpolling") or a list of names.
            headers: HTTP headers sent with every request.
            access_token_factory: called before each negotiate and each connect (and on every
                reconnect) for a bearer token; returns a str or None (asyncio: may be async).
            access_token: a fixed bearer token.
            skip_negotiation: connect straight to the WebSocket (transport must be WebSockets).
            options: more libsignalr options by name (see :func:`signalr.options`).
        """
        if not isinstance(url, str) or not url:
            raise TypeError("url must be a non-empty str")
        self._s.url = url
        if transport is not None:
            self._set("transports", _transports_text(transport))
        for name, value in (headers or {}).items():
            self._s.options.append(("header", "%s: %s" % (name, value)))
        if access_token_factory is not None:
            if not callable(access_token_factory):
                raise TypeError("access_token_factory must be callable")
            self._s.token_factory = access_token_factory
        if access_token is not None:
            self._set("access_token", access_token)
        if skip_negotiation:
            self._set("skip_negotiation", "true")
        for key, value in (options or {}).items():
            self.with_option(key, value)
        return self

    def with_hub_protocol(self, protocol: str) -> "HubConnectionBuilder":
        """``"json"`` (default) or ``"messagepack"``."""
        p = str(protocol).lower()
        if p == "msgpack":
            p = "messagepack"
        if p not in ("json", "messagepack"):
            raise ValueError("protocol must be 'json' or 'messagepack'")
        self._s.protocol = p
        return self

    def with_automatic_reconnect(self, policy: Union[Sequence[Union[float, timedelta]], RetryPolicy, None] = None
                                 ) -> "HubConnectionBuilder":
        """Reconnect when the connection is lost.

        Args:
            policy: ``None`` for the default delays (0, 2, 10, 30 seconds, then give up); a list of
                delays in seconds (or timedeltas); or a retry policy: a callable
                ``(RetryContext) -> seconds | None`` or an object with ``next_retry_delay``
                (``None`` gives up). A policy runs on the event thread / the event loop and must
                not block or be async.
        """
        self._s.retry_policy = None
        if policy is None:
            self._set("reconnect", "true")
        elif callable(policy) or hasattr(policy, "next_retry_delay"):
            self._s.retry_policy = policy
        else:
            delays = [_seconds_to_ms(d, "a reconnect delay") for d in policy]
            if not delays:
                raise ValueError("give at least one delay (or use with_automatic_reconnect())")
            self._set("reconnect_delays_ms", ",".join(delays))
        return self

    def with_raw(self, transfer_format: str = "text") -> "HubConnectionBuilder":
        """A raw connection (the official clients' HttpConnection) to an ASP.NET Core
        ConnectionHandler instead of a hub: negotiate and the transport, no hub protocol.
        ``transfer_format``: ``"text"`` or ``"binary"`` (not over Server-Sent Events). Bytes go
        out with :meth:`send_raw` and arrive at :meth:`on_receive` callbacks; invoke, send and
        streams are refused. Server timeout and keep-alive are off (set them after this to
        have a server timeout)."""
        if transfer_format not in ("text", "binary"):
            raise ValueError("transfer_format must be 'text' or 'binary'")
        self._set("raw", transfer_format)
        self._s.raw = True
        return self

    def with_stateful_reconnect(self, buffer_size: Optional[int] = None) -> "HubConnectionBuilder":
        """Ask for stateful reconnect (ASP.NET Core 8+): messages survive a dropped connection."""
        self._set("stateful_reconnect", "true")
        if buffer_size is not None:
            self._set("stateful_reconnect_buffer_size", str(int(buffer_size)))
        return self

    def with_server_timeout(self, seconds: Union[float, timedelta]) -> "HubConnectionBuilder":
        """Close when nothing arrives from the server for this long (default 30 s)."""
        return self._set("server_timeout_ms", _seconds_to_ms(seconds, "server timeout"))

    def with_keep_alive_interval(self, seconds: Union[float, timedelta]) -> "HubConnectionBuilder":
        """Ping the server after this long without sending (default 15 s)."""
        return self._set("keep_alive_interval_ms", _seconds_to_ms(seconds, "keep-alive interval"))

    def with_handshake_timeout(self, seconds: Union[float, timedelta]) -> "HubConnectionBuilder":
        """How long to wait for the handshake response (default 15 s)."""
        return self._set("handshake_timeout_ms", _seconds_to_ms(seconds, "handshake timeout"))

    def with_tls(self, *, ca_file: Optional[str] = None, verify: bool = True,
                 client_cert: Optional[str] = None, client_key: Optional[str] = None) -> "HubConnectionBuilder":
        """TLS for https/wss: trusted CAs (PEM), verification, client certificate."""
        if ca_file is not None:
            self._set("tls_ca_file", str(ca_file))
        if not verify:
            self._set("tls_insecure", "true")
        if client_cert is not None:
            self._set("tls_client_cert", str(client_cert))
        if client_key is not None:
            self._set("tls_client_key", str(client_key))
        return self

    def with_proxy(self, url: str) -> "HubConnectionBuilder":
        """An HTTP proxy for every request."""
        return self._set("proxy", url)

    def with_option(self, key: str, value: Any) -> "HubConnectionBuilder":
        """Any libsignalr option by name (:func:`signalr.options` lists them)."""
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        if key == "url":
            self._s.url = str(value)
        elif key == "protocol":
            self.with_hub_protocol(str(value))
        elif key == "log_level":
            self.configure_logging(str(value))
        elif key == "header":
            self._s.options.append((key, str(value)))
        else:
            self._set(key, str(value))
        return self

    def configure_logging(self, level: Union[str, int]) -> "HubConnectionBuilder":
        """The least severe library log delivered to the ``signalr`` logger: a name (trace,
        debug, information, warning, error, critical, none) or a ``logging`` level. Also sets
        the ``signalr`` logger's level. Default: follow that logger's effective level."""
        self._log_level = level
        return self

    def build(self) -> Any:
        """Checks the options and returns the connection (not started)."""
        if not self._s.url:
            raise ValueError("with_url() is required")
        s = self._s.copy()
        s.log_level = _c_log_level(self._log_level)
        if self._log_level is not None:
            log.setLevel(_logging_level(s.log_level))
        _check_options(s)
        cls = self._connection_class
        if cls is None:
            raise TypeError("use signalr.HubConnectionBuilder or signalr.aio.HubConnectionBuilder")
        return cls(s)

    def _set(self, key: str, value: str) -> "HubConnectionBuilder":
        self._s.options = [(k, v) for k, v in self._s.options if k != key]
        self._s.options.append((key, value))
        return self


def _transports_text(transport: Any) -> str:
    if isinstance(transport, HttpTransportType):
        names = [n for flag, n in _TRANSPORT_NAMES.items() if transport & flag]
        if not names:
            raise ValueError("no transport selected")
        return ",".join(names)
    if isinstance(transport, int):
        return _transports_text(HttpTransportType(transport))
    if isinstance(transport, str):
        return transport
    return ",".join(_transports_text(t) for t in transport)


def _check_options(s: _Settings) -> None:
    """Applies the options to a scratch C builder so that mistakes surface at build()."""
    rc, b = _ll.signalr_builder_new()
    check(rc, "signalr_builder_new")
    try:
        for key, value in s.option_pairs():
            rc, err = _ll.signalr_builder_set(b, key, value)
            if rc:
                raise error_from_code(rc, "option %s=%r: %s" % (key, value, err or _ll.signalr_strerror(rc)))
    finally:
        _ll.signalr_builder_free(b)


def completion_target(fut: Any, decode_result: bool = True) -> Callable:
    """The completion callback that settles ``fut`` (a concurrent.futures or asyncio Future,
    set on the thread that polls the context) with the decoded result or the error."""
    def target(kind: int, data: Optional[bytes], enc: int, err: Any) -> None:
        if fut.done():
            return
        if err is not None:
            fut.set_exception(error_from_tuple(err))
            return
        try:
            result = decode(data, enc) if (decode_result and data is not None) else None
        except Exception as e:
            fut.set_exception(error_from_code(_ll.SIGNALR_EENCODING, "the result could not be decoded: %s" % e))
            return
        fut.set_result(result)
    return target
