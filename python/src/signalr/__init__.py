"""libsignalr for Python: a SignalR client for ASP.NET Core hubs and Azure SignalR Service.

All protocol logic runs in the C library (libsignalr); this package is a thin binding:
a SWIG-generated low-level module (:mod:`signalr.lowlevel`) and the Pythonic API here
(blocking, with handlers on a dedicated Python thread) and in :mod:`signalr.aio` (asyncio).

::

    import signalr

    conn = (signalr.HubConnectionBuilder()
            .with_url("http://localhost:5000/hubs/chat")
            .with_automatic_reconnect()
            .build())
    conn.on("ReceiveMessage", lambda user, text: print(user, text))
    with conn:
        conn.send("SendMessage", "me", "hello")
        print(conn.invoke("Echo", "hi"))
        for item in conn.stream("Counter", 5, 100):
            print(item)

Errors are :class:`SignalRError` subclasses (:class:`HubError`, :class:`NegotiateError`,
:class:`TransportError`, :class:`HandshakeError`, :class:`TimeoutError` ...) carrying the C
error's ``code``, ``http_status`` and ``hint``. Library logs go to the ``signalr`` logger.
"""

from . import _errors
from ._core import (TRACE, HttpTransportType, HubConnectionState, RetryContext, Subscription, UploadStream,
                    options, version)
from ._errors import ErrorCode, SignalRError, error_class, error_from_code
from ._errors import *  # noqa: F401,F403  (the generated exception classes)
from ._msgpack import ExtType, Timestamp
from ._sync import HubConnection, HubConnectionBuilder, Stream, Subject

__version__ = "0.2.0"

__all__ = [
    "HubConnectionBuilder", "HubConnection", "HubConnectionState", "HttpTransportType",
    "RetryContext", "Stream", "Subject", "Subscription", "UploadStream", "ExtType", "Timestamp",
    "ErrorCode", "SignalRError", "error_class", "error_from_code", "options", "version", "TRACE",
    "lowlevel",
] + [n for n in _errors.__all__ if n not in ("ErrorCode", "SignalRError", "error_class", "error_from_code")]


def __getattr__(name: str):
    if name == "lowlevel":  # the SWIG module, for those who want the C API itself
        from . import _lowlevel
        return _lowlevel
    if name == "aio":
        import importlib
        return importlib.import_module(".aio", __name__)
    raise AttributeError("module 'signalr' has no attribute %r" % name)
