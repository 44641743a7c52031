"""Hub values in the Python binding, offline (no server): the shared wire vectors, the
MessagePack codec against the C library's transcoder, JSON conversions, the exception table."""

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import math
import uuid

import pytest

from conftest import _import_signalr, load_vectors

signalr = _import_signalr()
from signalr import _msgpack, _values, lowlevel  # noqa: E402

UTC = datetime.timezone.utc
VECTORS = load_vectors("hub_messages.json")["vectors"]


def _payload_value(v):
    """Vector payload notation -> Python: {"$binary": b64} -> bytes, {"$timestamp": iso} -> datetime."""
    if isinstance(v, list):
        return [_payload_value(x) for x in v]
    if isinstance(v, dict):
        if set(v) == {"$binary"}:
            return base64.b64decode(v["$binary"])
        if set(v) == {"$timestamp"}:
            return _parse_iso(v["$timestamp"])
        return {k: _payload_value(x) for k, x in v.items()}
    return v


def _parse_iso(text):
    date, _, frac = text.rstrip("Z").partition(".")
    d = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    nanos = int((frac + "000000000")[:9]) if frac else 0
    d = d.replace(microsecond=nanos // 1000)
    if nanos % 1000:
        return _msgpack.Timestamp(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond, UTC,
                                  nanosecond=nanos % 1000)
    return d


def _varint_split(raw):
    length, shift, i = 0, 0, 0
    while True:
        b = raw[i]
        length |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            break
        shift += 7
    assert len(raw) - i == length
    return raw[i:]


def _payloads(message):
    """(field, value) of the message's payloads."""
    t = message["type"]
    if t in (1, 4):
        return [("arguments", message["arguments"])]
    if t == 2:
        return [("item", message["item"])]
    if t == 3 and "result" in message:
        return [("result", message["result"])]
    return []


def _msgpack_payload(decoded, message):
    t = message["type"]
    if t in (1, 4):
        return decoded[4]
    if t == 2:
        return decoded[3]
    if t == 3:
        return decoded[4]
    raise AssertionError


def _same(a, b):
    """Equality that also compares float NaN and types of numbers loosely like JSON."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, datetime.datetime) and isinstance(b, datetime.datetime):
        return a == b and getattr(a, "nanosecond", 0) == getattr(b, "nanosecond", 0)
    return a == b and type(a) is type(b) or (isinstance(a, (int, float)) and not isinstance(a, bool)
                                             and isinstance(b, (int, float)) and a == b)


MSGPACK_VECTORS = [v for v in VECTORS if v["msgpack"]]


@pytest.mark.parametrize("vector", MSGPACK_VECTORS, ids=[v["name"] for v in MSGPACK_VECTORS])
def test_msgpack_vectors_round_trip(vector):
    """Our codec decodes each vector's message body and re-encodes it byte for byte (the C
    encoder's bytes), and its payload is the vector's value."""
    body = _varint_split(bytes.fromhex(vector["msgpack"]))
    decoded = _msgpack.unpackb(body)
    assert _msgpack.packb(decoded) == body
    assert decoded[0] == vector["message"]["type"]
    for field, value in _payloads(vector["message"]):
        assert _same(_msgpack_payload(decoded, vector["message"]), _payload_value(value)), field
        # and the binding's own encoder gives the payload's bytes as they sit in the message
        assert _values.encode(_payload_value(value), _values.MSGPACK) in body
    for alt in vector.get("decode_also", []):
        if "msgpack" in alt:
            other = _msgpack.unpackb(_varint_split(bytes.fromhex(alt["msgpack"])))
            for field, value in _payloads(vector["message"]):
                assert _same(_msgpack_payload(other, vector["message"]), _payload_value(value))


@pytest.mark.parametrize("vector", MSGPACK_VECTORS, ids=[v["name"] for v in MSGPACK_VECTORS])
def test_payloads_agree_with_the_c_transcoder(vector):
    for field, value in _payloads(vector["message"]):
        py = _payload_value(value)
        packed = _values.encode(py, _values.MSGPACK)
        rc, text = lowlevel.signalr_msgpack_to_json(packed)
        assert rc == 0
        if vector["json"] is None:  # bin / timestamp: the accessor's JSON view
            assert text.decode() == vector["json_view"]
        else:
            assert _same(json.loads(text), value)
            # JSON -> MessagePack in C gives the same bytes as the Python encoder
            rc, from_c = lowlevel.signalr_json_to_msgpack(_values.encode(value, _values.JSON))
            assert rc == 0 and from_c == packed, field


JSON_VECTORS = [v for v in VECTORS if v["json"]]


@pytest.mark.parametrize("vector", JSON_VECTORS, ids=[v["name"] for v in JSON_VECTORS])
def test_json_vectors_payloads(vector):
    """The payload text in each JSON vector decodes to the message's value, and the binding's
    JSON encoder produces text the C library accepts as the same value."""
    frame = vector["json"]
    assert frame.endswith("\x1e")
    msg = json.loads(frame[:-1])
    for field, value in _payloads(vector["message"]):
        assert _same(_values.decode(json.dumps(msg[field]).encode(), _values.JSON), value)
        encoded = _values.encode(value, _values.JSON)
        rc, packed = lowlevel.signalr_json_to_msgpack(encoded)
        assert rc == 0
        assert _same(_msgpack.unpackb(packed), value)


# ------------------------------------------------------------------ the codec itself

@pytest.mark.parametrize("value,hexbytes", [
    (None, "c0"), (True, "c3"), (False, "c2"), (0, "00"), (127, "7f"), (128, "cc80"), (255, "ccff"),
    (256, "cd0100"), (65536, "ce00010000"), (2**32, "cf0000000100000000"), (2**64 - 1, "cf" + "ff" * 8),
    (-1, "ff"), (-32, "e0"), (-33, "d0df"), (-129, "d1ff7f"), (-2**31, "d280000000"),
    (-2**63, "d38000000000000000"), (1.5, "cb3ff8000000000000"), ("", "a0"), ("a" * 32, "d920" + "61" * 32),
    (b"", "c400"), (b"\x01\x02", "c4020102"), ([], "90"), ({}, "80"), ([1, [2]], "920191" + "02"),
    ({"a": 1}, "81a16101"),
    (datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), "d6ff00000001"),
])
def test_msgpack_encodings(value, hexbytes):
    assert _msgpack.packb(value).hex() == hexbytes
    back = _msgpack.unpackb(bytes.fromhex(hexbytes))
    assert back == value or (isinstance(value, tuple) and list(value) == back)


def test_msgpack_sizes_and_types():
    big = "é" * 40000
    assert _msgpack.unpackb(_msgpack.packb(big)) == big
    blob = bytes(range(256)) * 300
    assert _msgpack.unpackb(_msgpack.packb(blob)) == blob
    arr = list(range(70000))
    assert _msgpack.unpackb(_msgpack.packb(arr)) == arr
    m = {str(i): i for i in range(20)}
    assert _msgpack.unpackb(_msgpack.packb(m)) == m
    assert _msgpack.unpackb(_msgpack.packb((1, 2))) == [1, 2]
    ext = _msgpack.ExtType(5, b"abcd")
    assert _msgpack.unpackb(_msgpack.packb(ext)) == ext
    with pytest.raises(OverflowError):
        _msgpack.packb(2**64)
    with pytest.raises(TypeError):
        _msgpack.packb(object())
    for bad in (b"", b"\xc1", b"\x92\x01", b"\xa5ab", b"\x01\x02", b"\xd9\x05abc", b"\xa2\xff\xfe"):
        with pytest.raises(_msgpack.MessagePackError):
            _msgpack.unpackb(bad)
    assert _msgpack.unpackb(b"\xca\x3f\xc0\x00\x00") == 1.5  # float32


def test_datetimes():
    naive = datetime.datetime(2024, 1, 2, 3, 4, 5, 600000)
    aware = naive.replace(tzinfo=UTC)
    assert _msgpack.unpackb(_msgpack.packb(naive)) == aware  # naive is taken as UTC
    plus2 = aware.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    assert _msgpack.unpackb(_msgpack.packb(plus2)) == aware
    ts = _msgpack.Timestamp(2002, 4, 1, 10, 20, 15, 123456, UTC, nanosecond=789)
    back = _msgpack.unpackb(_msgpack.packb(ts))
    assert back == ts and back.nanosecond == 789
    assert _values.encode(aware, _values.JSON) == b'"2024-01-02T03:04:05.600000Z"'
    assert _values.encode(naive, _values.JSON) == b'"2024-01-02T03:04:05.600000"'


def test_json_conversions():
    class Color(enum.Enum):
        RED = "red"

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    args = [b"\x01\x02\x03", Color.RED, Point(1, 2), u, decimal.Decimal("2.5"), {1, 2} and [1], "é"]
    text = _values.encode_args(args, _values.JSON)
    assert json.loads(text) == ["AQID", "red", {"x": 1, "y": 2}, str(u), 2.5, [1], "é"]
    assert "é".encode() in text  # raw UTF-8, like the official clients
    assert _values.encode_args([], _values.JSON) == b"[]"
    with pytest.raises(ValueError):
        _values.encode(float("nan"), _values.JSON)
    with pytest.raises(TypeError):
        _values.encode(object(), _values.JSON)
    packed = _values.encode_args([b"\x00", Color.RED, Point(1, 2)], _values.MSGPACK)
    assert _msgpack.unpackb(packed) == [b"\x00", "red", {"x": 1, "y": 2}]
    # what C makes of it: bin becomes base64 in its JSON view
    rc, text = lowlevel.signalr_msgpack_to_json(packed)
    assert rc == 0 and json.loads(text) == ["AA==", "red", {"x": 1, "y": 2}]


def test_c_transcoder_rejects_bad_input():
    rc, _ = lowlevel.signalr_json_to_msgpack(b"[1,")
    assert rc == signalr.ErrorCode.EENCODING
    rc, _ = lowlevel.signalr_msgpack_to_json(b"\xc1")
    assert rc < 0
    rc, _ = lowlevel.signalr_json_to_msgpack("[\"str input\"]")
    assert rc == 0


def test_version_and_options():
    assert signalr.version().count(".") == 2
    assert lowlevel.signalr_version_number() == int(lowlevel.SIGNALR_VERSION_NUMBER)
    table = {o[0]: o for o in signalr.options()}
    assert table["protocol"][2] == "json"


def test_json_fast_paths_agree_with_the_full_codec():
    # all-scalar arguments take a cached C encoder; anything else the full path
    for args in (["hello"], [1, 2.5, True, None, "é\n\"x"], [2 ** 70, -0.0], [{"a": [1]}, "x"], [[1, 2], (3,)]):
        assert _values.encode_args(args, _values.JSON) == _values.encode(list(args), _values.JSON)
    with pytest.raises(ValueError, match="NaN and infinity"):
        _values.encode_args([1, float("inf")], _values.JSON)
    circular = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular"):
        _values.encode_args([circular], _values.JSON)
    # one value at 0 through the scanner; whitespace or trailing text through the decoder
    assert _values.decode(b'"hello"', _values.JSON) == "hello"
    assert _values.decode(b'[1,{"a":null}]', _values.JSON) == [1, {"a": None}]
    assert _values.decode(b' \n[1] ', _values.JSON) == [1]
    assert _values.decode(b'NaN', _values.JSON) != _values.decode(b'NaN', _values.JSON)  # nan
    for bad in (b'', b'[1] x', b'"open', b'{'):
        with pytest.raises(json.JSONDecodeError):
            _values.decode(bad, _values.JSON)
