"""Hub values: Python objects <-> the one buffer that crosses into C.

Arguments, results and stream items cross the C ABI as one encoded buffer per call: JSON
text on JSON connections, MessagePack bytes on MessagePack connections (the library never
has to transcode). Python's ``json`` does JSON; :mod:`signalr._msgpack` does MessagePack.

Python -> hub:
    None, bool, int, float, str, list/tuple, dict as JSON types;
    bytes/bytearray/memoryview as MessagePack bin, or base64 strings on JSON (what the
    official clients send for byte arrays);
    datetime as the MessagePack timestamp, or an ISO-8601 string on JSON (UTC datetimes
    end in ``Z``); date/time as ISO-8601 strings; UUID and Decimal as strings / numbers;
    enums as their value; dataclasses as dicts; sets as lists; objects with a
    ``__signalr__()`` or ``to_json()``/``_asdict()`` method as what it returns.
Hub -> Python: JSON types; MessagePack bin as bytes and timestamps as aware UTC datetimes.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import enum
import json
import json.scanner
import uuid
from typing import Any, Sequence

from . import _msgpack

JSON = 1
"""SIGNALR_ENCODING_JSON"""
MSGPACK = 2
"""SIGNALR_ENCODING_MSGPACK"""

__all__ = ["JSON", "MSGPACK", "encode", "encode_args", "decode", "to_jsonable"]


def to_jsonable(obj: Any, binary_as_base64: bool = True) -> Any:
    """Converts a non-JSON object to a JSON-compatible one (the ``default`` hook)."""
    if hasattr(obj, "__signalr__"):
        return obj.__signalr__()
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, _dt.datetime):
        if obj.tzinfo is not None and obj.utcoffset() == _dt.timedelta(0):
            return obj.replace(tzinfo=None).isoformat() + "Z"
        return obj.isoformat()
    if isinstance(obj, (_dt.date, _dt.time)):
        return obj.isoformat()
    if isinstance(obj, _dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if hasattr(obj, "_asdict"):
        return obj._asdict()
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if hasattr(obj, "__iter__") and not isinstance(obj, (str, dict)):
        return list(obj)
    raise TypeError("%s is not a hub value (JSON types, bytes, datetime ...)" % type(obj).__name__)


def _msgpack_default(obj: Any) -> Any:
    if isinstance(obj, (_dt.date, _dt.time)) and not isinstance(obj, _dt.datetime):
        return obj.isoformat()
    return to_jsonable(obj)


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                          default=to_jsonable).encode
_json_decoder = json.JSONDecoder()
_decode_json = _json_decoder.decode
# The common cases without json's Python layers: arguments that are all scalars (nothing
# that could be circular) through one cached C encoder, and a text that is one JSON value
# (no surrounding whitespace) through the decoder's scanner; anything else takes the full path.
_SCALARS = frozenset((str, int, float, bool, type(None)))
try:
    from json.encoder import c_make_encoder as _c_make_encoder  # type: ignore[attr-defined]
    from json.encoder import encode_basestring as _encode_basestring
except ImportError:  # pragma: no cover - a Python without the _json accelerator
    _c_make_encoder = None
try:
    _flat_encode = _c_make_encoder(None, to_jsonable, _encode_basestring, None, ":", ",", False, False, False)
except Exception:  # pragma: no cover - no accelerator, or another signature
    _flat_encode = None
_scan_json = json.scanner.make_scanner(_json_decoder)


def encode(value: Any, encoding: int) -> bytes:
    """One value (a result, an upload item) in the given encoding."""
    if encoding == MSGPACK:
        return _msgpack.packb(value, _msgpack_default)
    try:
        return _dumps(value).encode("utf-8")
    except ValueError as e:
        if "Out of range float" in str(e):
            raise ValueError("NaN and infinity are not JSON values") from None
        raise


def encode_args(args: Sequence[Any], encoding: int) -> bytes:
    """The arguments of a call: one array in the given encoding."""
    if encoding == MSGPACK:
        return _msgpack.packb(list(args), _msgpack_default)
    if not args:
        return b"[]"
    if _flat_encode is not None:
        for a in args:
            if type(a) not in _SCALARS:
                break
        else:
            try:
                return "".join(_flat_encode(list(args), 0)).encode("utf-8")
            except ValueError:
                pass  # NaN or infinity: the full path raises the error
    return encode(list(args), JSON)


def decode(data: bytes, encoding: int) -> Any:
    """A received value (arguments array, result or item) in its wire encoding."""
    if encoding == MSGPACK:
        return _msgpack.unpackb(data)
    text = data.decode("utf-8")
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:  # not a value at 0 (whitespace first, say): the full path
        return _decode_json(text)
    if end == len(text):
        return value
    return _decode_json(text)
