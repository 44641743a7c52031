"""A small MessagePack value codec (hub values only, not hub messages).

Framing and the hub messages themselves are libsignalr's job (C). What the binding does is
what the official clients' serializers do: turn the application's values into MessagePack
bytes and back, with

- ``bytes`` / ``bytearray`` / ``memoryview`` <-> bin,
- ``datetime`` <-> the timestamp extension (type -1; naive datetimes are taken as UTC,
  received ones are timezone-aware UTC, nanoseconds truncated to microseconds),
- integers in their smallest encoding (up to uint64 / int64), floats as float64,
- other extension types <-> :class:`ExtType`.

The encoding follows the rules of tests/vectors/README.md, so the bytes equal the C
encoder's for the same JSON value.
"""

from __future__ import annotations

import datetime as _dt
import struct
from typing import Any, Callable, NamedTuple, Optional, Tuple

__all__ = ["ExtType", "Timestamp", "packb", "unpackb", "MessagePackError"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_UTC = _dt.timezone.utc


class ExtType(NamedTuple):
    """A MessagePack extension value other than a timestamp."""

    code: int
    data: bytes


class Timestamp(_dt.datetime):
    """A UTC datetime that keeps a MessagePack timestamp's nanoseconds.

    ``nanosecond`` (0-999) is the part below ``microsecond``; received timestamps with
    sub-microsecond precision decode to this type so that they round-trip exactly.
    """

    nanosecond: int = 0

    def __new__(cls, *args: Any, nanosecond: int = 0, **kwargs: Any) -> "Timestamp":
        obj = super().__new__(cls, *args, **kwargs)
        if not 0 <= nanosecond <= 999:
            raise ValueError("nanosecond must be 0..999")
        obj.nanosecond = nanosecond
        return obj

    def __reduce__(self):
        return (_make_timestamp, (_dt.datetime(self.year, self.month, self.day, self.hour, self.minute,
                                               self.second, self.microsecond, self.tzinfo), self.nanosecond))

    def __repr__(self) -> str:
        return "Timestamp(%s, nanosecond=%d)" % (self.isoformat(), self.nanosecond)


def _make_timestamp(d: _dt.datetime, nanosecond: int) -> Timestamp:
    return Timestamp(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond, d.tzinfo,
                     nanosecond=nanosecond)


class MessagePackError(ValueError):
    """The bytes are not one valid MessagePack value."""


_pack_double = struct.Struct(">Bd").pack


def packb(value: Any, default: Optional[Callable[[Any], Any]] = None) -> bytes:
    """Encodes one value. ``default(obj)`` converts objects of other types (or raises TypeError)."""
    out = bytearray()
    _pack(value, out, default, 0)
    return bytes(out)


def _pack_len(out: bytearray, n: int, fix: int, fix_max: int, b8: Optional[int], b16: int, b32: int) -> None:
    if n <= fix_max and fix >= 0:
        out.append(fix | n)
    elif b8 is not None and n <= 0xFF:
        out += bytes((b8, n))
    elif n <= 0xFFFF:
        out.append(b16)
        out += n.to_bytes(2, "big")
    elif n <= 0xFFFFFFFF:
        out.append(b32)
        out += n.to_bytes(4, "big")
    else:
        raise ValueError("MessagePack cannot hold a length of %d" % n)


def _pack_int(v: int, out: bytearray) -> None:
    if 0 <= v <= 0x7F:
        out.append(v)
    elif -32 <= v < 0:
        out.append(v & 0xFF)
    elif v > 0:
        if v <= 0xFF:
            out += bytes((0xCC, v))
        elif v <= 0xFFFF:
            out.append(0xCD)
            out += v.to_bytes(2, "big")
        elif v <= 0xFFFFFFFF:
            out.append(0xCE)
            out += v.to_bytes(4, "big")
        elif v <= 0xFFFFFFFFFFFFFFFF:
            out.append(0xCF)
            out += v.to_bytes(8, "big")
        else:
            raise OverflowError("integer %d does not fit in 64 bits" % v)
    else:
        if v >= -0x80:
            out.append(0xD0)
            out += v.to_bytes(1, "big", signed=True)
        elif v >= -0x8000:
            out.append(0xD1)
            out += v.to_bytes(2, "big", signed=True)
        elif v >= -0x80000000:
            out.append(0xD2)
            out += v.to_bytes(4, "big", signed=True)
        elif v >= -0x8000000000000000:
            out.append(0xD3)
            out += v.to_bytes(8, "big", signed=True)
        else:
            raise OverflowError("integer %d does not fit in 64 bits" % v)


def _pack_timestamp(value: _dt.datetime, out: bytearray) -> None:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    delta = value - _EPOCH
    sec = delta.days * 86400 + delta.seconds
    nsec = delta.microseconds * 1000 + getattr(value, "nanosecond", 0)
    if nsec == 0 and 0 <= sec < 2**32:
        out += b"\xd6\xff" + sec.to_bytes(4, "big")
    elif 0 <= sec < 2**34:
        out += b"\xd7\xff" + ((nsec << 34) | sec).to_bytes(8, "big")
    else:
        out += b"\xc7\x0c\xff" + nsec.to_bytes(4, "big") + sec.to_bytes(8, "big", signed=True)


def _pack(v: Any, out: bytearray, default, depth: int) -> None:
    if depth > 512:
        raise ValueError("value nested too deeply for MessagePack")
    t = type(v)
    if v is None:
        out.append(0xC0)
    elif v is True:
        out.append(0xC3)
    elif v is False:
        out.append(0xC2)
    elif t is int:
        _pack_int(v, out)
    elif t is float:
        out += _pack_double(0xCB, v)
    elif t is str:
        b = v.encode("utf-8")
        _pack_len(out, len(b), 0xA0, 31, 0xD9, 0xDA, 0xDB)
        out += b
    elif t is list or t is tuple:
        _pack_len(out, len(v), 0x90, 15, None, 0xDC, 0xDD)
        for x in v:
            _pack(x, out, default, depth + 1)
    elif t is dict:
        _pack_len(out, len(v), 0x80, 15, None, 0xDE, 0xDF)
        for k, x in v.items():
            _pack(k, out, default, depth + 1)
            _pack(x, out, default, depth + 1)
    elif t is bytes or t is bytearray or t is memoryview:
        b = bytes(v)
        _pack_len(out, len(b), -1, -1, 0xC4, 0xC5, 0xC6)
        out += b
    elif isinstance(v, _dt.datetime):
        _pack_timestamp(v, out)
    elif t is ExtType:
        n = len(v.data)
        fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}.get(n)
        if fixed:
            out.append(fixed)
        else:
            _pack_len(out, n, -1, -1, 0xC7, 0xC8, 0xC9)
        out += v.code.to_bytes(1, "big", signed=True)
        out += v.data
    elif isinstance(v, bool):
        out.append(0xC3 if v else 0xC2)
    elif isinstance(v, int):
        _pack_int(int(v), out)
    elif isinstance(v, float):
        out += _pack_double(0xCB, float(v))
    elif isinstance(v, str):
        _pack(str(v), out, default, depth)
    elif isinstance(v, (list, tuple)):
        _pack(list(v), out, default, depth)
    elif isinstance(v, dict):
        _pack(dict(v), out, default, depth)
    elif default is not None:
        _pack(default(v), out, None if depth > 256 else default, depth + 1)
    else:
        raise TypeError("cannot encode %s as MessagePack" % t.__name__)


# ---------------------------------------------------------------- decoding

def unpackb(data: bytes) -> Any:
    """Decodes exactly one value (trailing bytes are an error)."""
    mv = memoryview(data)
    try:
        value, pos = _unpack(mv, 0, 0)
    except (IndexError, struct.error):
        raise MessagePackError("truncated MessagePack value") from None
    if pos != len(mv):
        raise MessagePackError("%d bytes after the MessagePack value" % (len(mv) - pos))
    return value


def _need(mv: memoryview, pos: int, n: int) -> None:
    if pos + n > len(mv):
        raise MessagePackError("truncated MessagePack value")


def _timestamp(data: bytes) -> _dt.datetime:
    if len(data) == 4:
        sec, nsec = int.from_bytes(data, "big"), 0
    elif len(data) == 8:
        v = int.from_bytes(data, "big")
        sec, nsec = v & 0x3FFFFFFFF, v >> 34
    elif len(data) == 12:
        nsec = int.from_bytes(data[:4], "big")
        sec = int.from_bytes(data[4:], "big", signed=True)
    else:
        raise MessagePackError("bad timestamp length %d" % len(data))
    if nsec > 999_999_999:
        raise MessagePackError("bad timestamp nanoseconds")
    try:
        d = _EPOCH + _dt.timedelta(seconds=sec, microseconds=nsec // 1000)
        if nsec % 1000:
            return _make_timestamp(d, nsec % 1000)
        return d
    except OverflowError:
        raise MessagePackError("timestamp out of datetime's range") from None


def _ext(code: int, data: bytes) -> Any:
    if code == -1:
        return _timestamp(data)
    return ExtType(code, data)


_unpack_f32 = struct.Struct(">f").unpack_from
_unpack_f64 = struct.Struct(">d").unpack_from


def _unpack(mv: memoryview, pos: int, depth: int) -> Tuple[Any, int]:
    if depth > 512:
        raise MessagePackError("MessagePack value nested too deeply")
    b = mv[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        _need(mv, pos, n)
        return _str(mv[pos:pos + n]), pos + n
    if 0x90 <= b <= 0x9F:
        return _array(mv, pos, b & 0x0F, depth)
    if 0x80 <= b <= 0x8F:
        return _map(mv, pos, b & 0x0F, depth)
    if b == 0xC0:
        return None, pos
    if b == 0xC2:
        return False, pos
    if b == 0xC3:
        return True, pos
    if 0xCC <= b <= 0xCF:
        n = 1 << (b - 0xCC)
        _need(mv, pos, n)
        return int.from_bytes(mv[pos:pos + n], "big"), pos + n
    if 0xD0 <= b <= 0xD3:
        n = 1 << (b - 0xD0)
        _need(mv, pos, n)
        return int.from_bytes(mv[pos:pos + n], "big", signed=True), pos + n
    if b == 0xCA:
        _need(mv, pos, 4)
        return _unpack_f32(mv, pos)[0], pos + 4
    if b == 0xCB:
        _need(mv, pos, 8)
        return _unpack_f64(mv, pos)[0], pos + 8
    if b in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
        width = {0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC4: 1, 0xC5: 2, 0xC6: 4}[b]
        _need(mv, pos, width)
        n = int.from_bytes(mv[pos:pos + width], "big")
        pos += width
        _need(mv, pos, n)
        raw = mv[pos:pos + n]
        return (_str(raw) if b >= 0xD9 else bytes(raw)), pos + n
    if b in (0xDC, 0xDD, 0xDE, 0xDF):
        width = 2 if b in (0xDC, 0xDE) else 4
        _need(mv, pos, width)
        n = int.from_bytes(mv[pos:pos + width], "big")
        pos += width
        return (_array if b <= 0xDD else _map)(mv, pos, n, depth)
    if 0xD4 <= b <= 0xD8:
        n = 1 << (b - 0xD4)
        _need(mv, pos, 1 + n)
        code = int.from_bytes(mv[pos:pos + 1], "big", signed=True)
        return _ext(code, bytes(mv[pos + 1:pos + 1 + n])), pos + 1 + n
    if b in (0xC7, 0xC8, 0xC9):
        width = {0xC7: 1, 0xC8: 2, 0xC9: 4}[b]
        _need(mv, pos, width + 1)
        n = int.from_bytes(mv[pos:pos + width], "big")
        pos += width
        code = int.from_bytes(mv[pos:pos + 1], "big", signed=True)
        pos += 1
        _need(mv, pos, n)
        return _ext(code, bytes(mv[pos:pos + n])), pos + n
    raise MessagePackError("invalid MessagePack type byte 0x%02x" % b)


def _str(raw: memoryview) -> str:
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError:
        raise MessagePackError("MessagePack string is not valid UTF-8") from None


def _array(mv: memoryview, pos: int, n: int, depth: int) -> Tuple[list, int]:
    if n > len(mv) - pos:  # every element takes at least one byte
        raise MessagePackError("truncated MessagePack array")
    out = []
    append = out.append
    for _ in range(n):
        v, pos = _unpack(mv, pos, depth + 1)
        append(v)
    return out, pos


def _map(mv: memoryview, pos: int, n: int, depth: int) -> Tuple[dict, int]:
    if 2 * n > len(mv) - pos:
        raise MessagePackError("truncated MessagePack map")
    out = {}
    for _ in range(n):
        k, pos = _unpack(mv, pos, depth + 1)
        v, pos = _unpack(mv, pos, depth + 1)
        if isinstance(k, list):
            k = tuple(k)
        elif isinstance(k, dict):
            raise MessagePackError("a MessagePack map key is a map")
        out[k] = v
    return out, pos
