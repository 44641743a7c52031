#!/usr/bin/env python3
"""Writes the libFuzzer seed corpora from the shared wire vectors (tests/vectors).

usage: make_corpus.py VECTORS_DIR OUT_DIR

OUT_DIR/<target>/ gets one file per seed (named by content hash, so re-running is
idempotent) and OUT_DIR/signalr.dict a dictionary of the protocol's JSON tokens.
Generated at build/fuzz time into the build directory; nothing here is committed.
"""
import hashlib
import json
import os
import sys


def unhex(h):
    return bytes.fromhex(h.replace(" ", ""))


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def strip_varint(b):
    n, shift, i = 0, 0, 0
    while True:
        c = b[i]
        n |= (c & 0x7F) << shift
        i += 1
        if not c & 0x80:
            break
        shift += 7
    assert len(b) - i == n, "bad vector framing"
    return b[i:]


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


class Corpus:
    def __init__(self, root):
        self.root = root
        self.count = {}

    def add(self, target, data):
        if isinstance(data, str):
            data = data.encode()
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()
        path = os.path.join(d, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
            self.count[target] = self.count.get(target, 0) + 1


def framing_header(flags, max_byte, seeds):
    assert len(seeds) == 8
    return bytes([flags, max_byte]) + bytes(seeds)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    vec_dir, out = sys.argv[1], sys.argv[2]
    c = Corpus(out)
    with open(os.path.join(vec_dir, "hub_messages.json"), encoding="utf-8") as f:
        hub = json.load(f)["vectors"]
    with open(os.path.join(vec_dir, "handshake.json"), encoding="utf-8") as f:
        hs = json.load(f)
    with open(os.path.join(vec_dir, "negotiate.json"), encoding="utf-8") as f:
        neg = json.load(f)

    text_stream, bin_stream = b"", b""
    for v in hub:
        m = v["message"]
        if v.get("json") is not None:
            rec = v["json"].encode()
            c.add("fuzz_json_message", rec[:-1])  # without the 0x1e
            text_stream += rec
            c.add("fuzz_framing", framing_header(0x04, 0xFF, [3, 0, 17, 1, 64, 5, 200, 2]) + rec * 2)
        if v.get("msgpack") is not None:
            framed = unhex(v["msgpack"])
            body = strip_varint(framed)
            c.add("fuzz_msgpack_message", body)
            c.add("fuzz_transcode", body)
            bin_stream += framed
            c.add("fuzz_framing", framing_header(0x05, 0xFF, [1, 2, 3, 0, 9, 40, 7, 255]) + framed * 2)
        for alt in v.get("decode_also", []):
            if "json" in alt:
                rec = alt["json"].encode()
                c.add("fuzz_json_message", rec[:-1] if rec.endswith(b"\x1e") else rec)
            if "msgpack" in alt:
                framed = unhex(alt["msgpack"])
                c.add("fuzz_msgpack_message", strip_varint(framed))
        for key in ("arguments", "item", "result"):
            if key in m and v.get("json") is not None:
                c.add("fuzz_transcode", compact(m[key]))
        if v.get("json_view"):
            c.add("fuzz_transcode", v["json_view"])

    # Whole streams, cut in several ways, with a roomy and a tight limit.
    for seeds in ([255] * 8, [1] * 8, [7, 0, 13, 2, 255, 31, 5, 64]):
        c.add("fuzz_framing", framing_header(0x04, 0xFF, seeds) + text_stream)
        c.add("fuzz_framing", framing_header(0x00, 0x3F, seeds) + text_stream)
        c.add("fuzz_framing", framing_header(0x05, 0xFF, seeds) + bin_stream)
        c.add("fuzz_framing", framing_header(0x01, 0x3F, seeds) + bin_stream)
        # the handshake in text, then binary frames in the same stream
        c.add("fuzz_framing", framing_header(0x06, 0xFF, seeds) + b"{}\x1e" + bin_stream)
        c.add("fuzz_framing", framing_header(0x1D, 0x10, seeds) + bin_stream)

    for r in hs["requests"]:
        c.add("fuzz_handshake", b"\x40" + r["bytes"].encode())
    for group in ("responses", "bad_responses", "incomplete"):
        for r in hs[group]:
            if "bytes" in r:
                b = r["bytes"].encode()
            else:
                b = unhex(r["bytes_hex"])
            c.add("fuzz_handshake", b"\x40" + b)
            c.add("fuzz_handshake", b"\x02" + b)  # max 8 bytes: exercises ETOOBIG

    for r in neg["responses"]:
        c.add("fuzz_negotiate", r["body"])
    for u in neg["urls"]:
        c.add("fuzz_negotiate", u["base"] + ("\x04" if u.get("stateful") else "\x00"))
    for u in neg["transport_urls"]:
        sel = {"WebSockets": 0x00, "ServerSentEvents": 0x08, "LongPolling": 0x10}.get(u["transport"], 0)
        c.add("fuzz_negotiate", u["base"] + "\n" + (u["token"] or "") + chr(sel))

    # Event streams as the server writes them (a ":" comment, then one event per chunk of hub
    # messages, CRLF line ends), plus every line-end style, multi-line data, comments, other
    # fields and a byte order mark, cut in several ways and with a tight limit.
    sse_streams = [b":\r\n\r\n" + b"".join(b"data: " + line + b"\r\n\r\n" for line in text_stream.split(b"\x1e")[:8] if line),
                   b"data: a\ndata: b\n\ndata:c\r\rdata\r\n\r\n",
                   b"\xef\xbb\xbfdata: bom\n\n: comment\nevent: x\nid: 1\nretry: 5\ndata:  two spaces\n\n",
                   b"\xef\xbbdata: partial bom\n\ndata: ok\r\n\r\ndata: unterminated"]
    for seeds in ([255] * 8, [1] * 8, [7, 0, 13, 2, 255, 31, 5, 64]):
        for st in sse_streams:
            c.add("fuzz_sse", bytes([0x01, 0xFF]) + bytes(seeds) + st)
            c.add("fuzz_sse", bytes([0x06, 0x10]) + bytes(seeds) + st)

    # A dictionary of protocol tokens for the JSON-shaped targets.
    words = ['"type"', '"invocationId"', '"target"', '"arguments"', '"streamIds"', '"item"',
             '"result"', '"error"', '"headers"', '"allowReconnect"', '"sequenceId"',
             '"protocol"', '"version"', '"json"', '"messagepack"', '"connectionId"',
             '"connectionToken"', '"negotiateVersion"', '"availableTransports"',
             '"transport"', '"transferFormats"', '"WebSockets"', '"ServerSentEvents"',
             '"LongPolling"', '"Text"', '"Binary"', '"url"', '"accessToken"',
             '"ProtocolVersion"', '"useStatefulReconnect"', "true", "false", "null",
             "\\u0000", "\\ud83d\\ude00", "\\u001e", "\x1e", "1e400", "-0", "9007199254740993",
             "18446744073709551616", "?negotiateVersion=1", "&useStatefulReconnect=true",
             "https://", "http://", "#", "data:", "data: ", ":", "\r\n", "event:", "id:", "retry:",
             "\xef\xbb\xbf"]
    with open(os.path.join(out, "signalr.dict"), "w", encoding="utf-8") as f:
        for w in words:
            esc = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\' else
                          ("\\" + ch if ch in '"\\' else "\\x%02X" % ord(ch)) for ch in w)
            f.write('"%s"\n' % esc)

    for t in sorted(c.count):
        print("corpus: %-22s %4d new seeds" % (t, c.count[t]))


if __name__ == "__main__":
    main()
