"""Exceptions, generated from libsignalr's own table of error codes.

Every failure the C library reports becomes a :class:`SignalRError` subclass that carries
the C error's ``code`` (a negative ``SIGNALR_E*`` number), its ``name``, the server's or the
library's ``message``, the ``http_status`` involved (0 when none), a troubleshooting
``hint`` (or ``None``) and ``allow_reconnect`` (for a server Close).

The classes are made from :func:`signalr_error_next` at import time, so a code added to
the C library later still gets its own class (named after the code) without a change here;
the well-known codes get the names below and sensible built-in bases (``TimeoutError``,
``ConnectionError``, ``ValueError`` ...).
"""

from __future__ import annotations

import builtins
import enum
from typing import Dict, Optional, Tuple, Type

from . import _lowlevel as _ll

__all__ = [
    "ErrorCode",
    "SignalRError",
    "error_class",
    "error_from_code",
]


class SignalRError(Exception):
    """Base class of every error libsignalr reports.

    Attributes:
        code: the C error code (negative ``SIGNALR_E*``), also ``ErrorCode(code)``.
        name: the code's symbolic name, e.g. ``"SIGNALR_EHUB"``.
        message: what happened; the server's text where there is one.
        http_status: the HTTP status involved, or 0.
        hint: what to do about it (from the troubleshooting guide), or ``None``.
        allow_reconnect: the server closed the connection and allowed a reconnect.
    """

    code: int = -1
    name: str = "SIGNALR_ERROR"

    def __init__(self, message: str = "", *, code: Optional[int] = None, http_status: int = 0,
                 hint: Optional[str] = None, allow_reconnect: bool = False) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
            self.name = _ll.signalr_error_name(code) or "SIGNALR_E%d" % -code
        self.message = message
        self.http_status = http_status
        self.hint = hint
        self.allow_reconnect = allow_reconnect

    def __str__(self) -> str:
        text = self.message or _ll.signalr_strerror(self.code)
        if self.http_status and ("HTTP %d" % self.http_status) not in text:
            text += " (HTTP %d)" % self.http_status
        if self.hint:
            text += "\nhint: " + self.hint
        return text

    def __repr__(self) -> str:
        return "%s(%r, code=%s, http_status=%d)" % (type(self).__name__, self.message, self.name,
                                                      self.http_status)

    def __reduce__(self):  # picklable (multiprocessing, concurrent.futures)
        return (_rebuild, (self.code, self.message, self.http_status, self.hint, self.allow_reconnect))


def _rebuild(code, message, http_status, hint, allow_reconnect):
    return error_from_code(code, message, http_status=http_status, hint=hint,
                           allow_reconnect=allow_reconnect)


# Nicer names and built-in bases for the codes this binding knows about. Codes missing here
# (added to the C library later) get a class named after the code.
_KNOWN: Dict[str, Tuple[str, Tuple[type, ...], str]] = {
    # C name: (class name, extra bases, parent class name or "")
    "SIGNALR_EINVAL": ("InvalidArgumentError", (ValueError,), ""),
    "SIGNALR_ENOMEM": ("OutOfMemoryError", (MemoryError,), ""),
    "SIGNALR_EPROTO": ("ProtocolError", (), ""),
    "SIGNALR_ETOOBIG": ("MessageTooLargeError", (), "ProtocolError"),
    "SIGNALR_EHANDSHAKE": ("HandshakeError", (), ""),
    "SIGNALR_ENEGOTIATE": ("NegotiateError", (), ""),
    "SIGNALR_ETRANSPORT": ("TransportError", (ConnectionError,), ""),
    "SIGNALR_ETIMEOUT": ("TimeoutError", (builtins.TimeoutError,), ""),
    "SIGNALR_ECLOSED": ("ConnectionClosedError", (), ""),
    "SIGNALR_EHUB": ("HubError", (), ""),
    "SIGNALR_ECANCELED": ("OperationCanceledError", (), ""),
    "SIGNALR_ESTATE": ("InvalidStateError", (), ""),
    "SIGNALR_ERECURSIVE": ("RecursiveCallError", (), "InvalidStateError"),
    "SIGNALR_EUNSUPPORTED": ("UnsupportedError", (), ""),
    "SIGNALR_EHTTP": ("HttpError", (), "TransportError"),
    "SIGNALR_ETLS": ("TlsError", (), "TransportError"),
    "SIGNALR_ECONNREFUSED": ("ConnectionRefusedError", (builtins.ConnectionRefusedError,), "TransportError"),
    "SIGNALR_EAUTH": ("AuthenticationError", (PermissionError,), "HttpError"),
    "SIGNALR_ENOTFOUND": ("NotFoundError", (), "HttpError"),
    "SIGNALR_EREDIRECT": ("RedirectError", (), "NegotiateError"),
    "SIGNALR_EENCODING": ("EncodingError", (), "InvalidArgumentError"),
    "SIGNALR_EDEPTH": ("DepthError", (), "EncodingError"),
    "SIGNALR_EAGAIN": ("WouldBlockError", (BlockingIOError,), ""),
    "SIGNALR_ENOHANDLER": ("NoHandlerError", (), ""),
    "SIGNALR_ELEGACY": ("LegacyServerError", (), "NegotiateError"),
}

_BY_CODE: Dict[int, Type[SignalRError]] = {}
_BY_NAME: Dict[str, Type[SignalRError]] = {}


def _class_name(c_name: str) -> str:
    suffix = c_name[len("SIGNALR_E"):] if c_name.startswith("SIGNALR_E") else c_name
    return "".join(p.capitalize() for p in suffix.split("_")) + "Error"


def _generate() -> None:
    table = [t for t in _ll.pysr_error_table() if t[0] != 0]
    enum_members = {name[len("SIGNALR_"):]: code for code, name, _ in table}
    globals()["ErrorCode"] = enum.IntEnum("ErrorCode", enum_members, module=__name__)
    pending = list(table)
    # Parents first: repeat until every class whose parent exists is made.
    while pending:
        progress = False
        for entry in list(pending):
            code, c_name, description = entry
            cls_name, bases, parent = _KNOWN.get(c_name, (_class_name(c_name), (), ""))
            if parent and parent not in _BY_NAME:
                continue
            base = _BY_NAME[parent] if parent else SignalRError
            all_bases = (base,) + tuple(b for b in bases if not issubclass(base, b))
            doc = "%s (%s, code %d)." % (description[:1].upper() + description[1:], c_name, code)
            cls = type(cls_name, all_bases, {"__doc__": doc, "__module__": "signalr", "code": code,
                                             "name": c_name,
                                             "__str__": SignalRError.__str__,
                                             "__init__": SignalRError.__init__})
            _BY_CODE[code] = cls
            _BY_NAME[cls_name] = cls
            globals()[cls_name] = cls
            __all__.append(cls_name)
            pending.remove(entry)
            progress = True
        if not progress:  # an unknown parent: should not happen
            for code, c_name, _ in pending:
                cls = type(_class_name(c_name), (SignalRError,), {"code": code, "name": c_name,
                                                                  "__module__": "signalr"})
                _BY_CODE[code] = cls
                globals()[cls.__name__] = cls
                __all__.append(cls.__name__)
            break


_generate()
ErrorCode: Type[enum.IntEnum]


def error_class(code: int) -> Type[SignalRError]:
    """The exception class for a C error code (``SignalRError`` for an unknown one)."""
    return _BY_CODE.get(code, SignalRError)


def error_from_code(code: int, message: Optional[str] = None, *, http_status: int = 0,
                    hint: Optional[str] = None, allow_reconnect: bool = False) -> SignalRError:
    """An exception instance for a C error code (message defaults to ``signalr_strerror``)."""
    cls = error_class(code)
    if message is None:
        message = _ll.signalr_strerror(code)
    return cls(message, code=code, http_status=http_status, hint=hint, allow_reconnect=allow_reconnect)


def error_from_tuple(t: Optional[tuple]) -> Optional[SignalRError]:
    """Converts the low-level error tuple (code, message, http_status, hint, allow_reconnect)."""
    if t is None:
        return None
    code, message, http_status, hint, allow_reconnect = t
    return error_from_code(code, message, http_status=http_status, hint=hint, allow_reconnect=allow_reconnect)


def check(rc: int, what: str = "") -> int:
    """Raises the exception for a negative return code; returns rc otherwise."""
    if rc < 0:
        msg = _ll.signalr_strerror(rc)
        raise error_from_code(rc, "%s: %s" % (what, msg) if what else msg)
    return rc
