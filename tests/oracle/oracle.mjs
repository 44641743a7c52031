// Outside oracle for libsignalr's wire vectors.
//
// Runs Microsoft's own SignalR protocol code (the pinned npm packages
// @microsoft/signalr and @microsoft/signalr-protocol-msgpack) over
// tests/vectors/*.json and checks that our bytes and theirs agree.
//
//   node tests/oracle/oracle.mjs [--out <file>] [--vectors <dir>] [--verbose]
//
// Exit code 0 when every check passes; the last line is "N passed, M failed".

import { createRequire } from "node:module";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const require = createRequire(import.meta.url);
const signalr = require("@microsoft/signalr");
const { MessagePackHubProtocol } = require("@microsoft/signalr-protocol-msgpack");
// HandshakeProtocol is not exported from the package index; load it from the package's CommonJS build.
const { HandshakeProtocol } = require("@microsoft/signalr/dist/cjs/HandshakeProtocol.js");
// The plain msgpack codec the Microsoft package itself uses (a dependency of it), for layout checks.
const msgpack = require("@msgpack/msgpack");

const here = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------- arguments
const args = process.argv.slice(2);
let outFile = null;
let vectorsDir = resolve(here, "..", "vectors");
let verbose = false;
for (let i = 0; i < args.length; i++) {
    if (args[i] === "--out") outFile = args[++i];
    else if (args[i] === "--vectors") vectorsDir = resolve(args[++i]);
    else if (args[i] === "--verbose" || args[i] === "-v") verbose = true;
    else if (args[i] === "--help" || args[i] === "-h") {
        console.log("usage: node oracle.mjs [--out <file>] [--vectors <dir>] [--verbose]");
        process.exit(0);
    } else {
        console.error(`unknown argument: ${args[i]}`);
        process.exit(2);
    }
}

// ---------------------------------------------------------------- bookkeeping
let passed = 0;
let failed = 0;
const notes = [];      // informational: where Microsoft's code differs from ours in an allowed way
const failures = [];

function pass(what) {
    passed++;
    if (verbose) console.log(`ok    ${what}`);
}
function fail(what, detail) {
    failed++;
    failures.push(what);
    console.log(`FAIL  ${what}`);
    if (detail) for (const line of String(detail).split("\n")) console.log(`        ${line}`);
}
function note(what, detail) {
    notes.push(`${what}: ${detail}`);
    if (verbose) console.log(`note  ${what}: ${detail}`);
}
function check(what, cond, detail) {
    if (cond) pass(what); else fail(what, typeof detail === "function" ? detail() : detail);
    return cond;
}

const logger = { log() { } };  // silent ILogger

// ---------------------------------------------------------------- helpers
const RS = "\u001e";
const hexToBytes = (hex) => {
    const clean = hex.replace(/\s+/g, "");
    const out = new Uint8Array(clean.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
    return out;
};
const bytesToHex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join(" ");
const toArrayBuffer = (u8) => u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength);
const show = (v) => JSON.stringify(v, (k, x) => {
    if (x instanceof Uint8Array) return { $bytes: bytesToHex(x) };
    if (x === undefined) return "<undefined>";
    return x;
});
// Date.prototype.toJSON runs before the replacer sees the value, so Dates show as ISO strings.

// $binary -> Uint8Array, $timestamp -> Date (recursively); everything else as is.
function revive(v) {
    if (Array.isArray(v)) return v.map(revive);
    if (v !== null && typeof v === "object") {
        const keys = Object.keys(v);
        if (keys.length === 1 && keys[0] === "$binary") return new Uint8Array(Buffer.from(v.$binary, "base64"));
        if (keys.length === 1 && keys[0] === "$timestamp") {
            const d = new Date(v.$timestamp);
            if (Number.isNaN(d.getTime())) throw new Error(`bad $timestamp ${v.$timestamp}`);
            return d;
        }
        const o = {};
        for (const k of keys) o[k] = revive(v[k]);
        return o;
    }
    return v;
}

// Deep equality where Dates compare by time, Uint8Arrays by content, objects ignore key order.
function valueEqual(a, b) {
    if (a instanceof Date || b instanceof Date) {
        return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
    }
    if (a instanceof Uint8Array || b instanceof Uint8Array) {
        return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
    }
    if (Array.isArray(a) || Array.isArray(b)) {
        if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
        return a.every((x, i) => valueEqual(x, b[i]));
    }
    if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
        const ka = Object.keys(a).sort();
        const kb = Object.keys(b).sort();
        if (!isDeepStrictEqual(ka, kb)) return false;
        return ka.every((k) => valueEqual(a[k], b[k]));
    }
    return Object.is(a, b) || (a === 0 && b === 0);
}

const KNOWN_FIELDS = ["type", "headers", "invocationId", "target", "arguments", "streamIds", "item", "result", "error", "allowReconnect", "sequenceId"];

// Bring a message (ours, or what Microsoft's parser produced) to one neutral shape:
// only known fields, no undefined values, empty headers/streamIds dropped,
// Close: null error and false allowReconnect dropped (they mean "absent").
function normalize(msg, { dropStreamIds = false } = {}) {
    const out = {};
    for (const k of KNOWN_FIELDS) {
        if (!(k in msg)) continue;
        const v = msg[k];
        if (v === undefined) continue;
        if (k === "headers" && v && typeof v === "object" && Object.keys(v).length === 0) continue;
        if (k === "streamIds" && (dropStreamIds || (Array.isArray(v) && v.length === 0))) continue;
        if (msg.type === 7 && k === "error" && v === null) continue;
        if (msg.type === 7 && k === "allowReconnect" && v === false) continue;
        if (msg.type === 1 && k === "invocationId" && v === null) continue;
        out[k] = v;
    }
    return out;
}

// Our message -> the object Microsoft's TS HubConnection would build for it (same key order as
// HubConnection._createInvocation / _createStreamInvocation / _createStreamItemMessage /
// _createCompletionMessage / _createCancelInvocation / _createCloseMessage, MessageBuffer's Ack and
// Sequence). The TS client never sends headers; when a vector has them they go first.
function toTsShape(m) {
    const o = {};
    if (m.headers && Object.keys(m.headers).length) o.headers = m.headers;
    switch (m.type) {
        case 1:
        case 4:
            o.target = m.target;
            o.arguments = m.arguments;
            if (m.invocationId !== undefined) o.invocationId = m.invocationId;
            if (m.streamIds && m.streamIds.length) o.streamIds = m.streamIds;
            o.type = m.type;
            break;
        case 2:
            o.invocationId = m.invocationId;
            o.item = m.item;
            o.type = 2;
            break;
        case 3:
            if ("error" in m) {
                o.error = m.error;
                o.invocationId = m.invocationId;
            } else {
                o.invocationId = m.invocationId;
                if ("result" in m) o.result = m.result;
            }
            o.type = 3;
            break;
        case 5:
            o.invocationId = m.invocationId;
            o.type = 5;
            break;
        case 6:
            o.type = 6;
            break;
        case 7:
            // The TS client only ever sends a bare Close; a server-style Close keeps our field order.
            o.type = 7;
            if (m.error !== undefined) o.error = m.error;
            if (m.allowReconnect) o.allowReconnect = true;
            break;
        case 8:
        case 9:
            o.type = m.type;
            o.sequenceId = m.sequenceId;
            break;
        default:
            throw new Error(`unknown type ${m.type}`);
    }
    return o;
}

// Our message in our writer's field order (see tests/vectors/README.md).
function toOurOrder(m) {
    const o = {};
    o.type = m.type;
    if (m.headers && Object.keys(m.headers).length) o.headers = m.headers;
    if (m.invocationId !== undefined) o.invocationId = m.invocationId;
    if (m.target !== undefined) o.target = m.target;
    if (m.arguments !== undefined) o.arguments = m.arguments;
    if (m.streamIds && m.streamIds.length) o.streamIds = m.streamIds;
    if ("item" in m) o.item = m.item;
    if ("error" in m) o.error = m.error;
    else if ("result" in m) o.result = m.result;
    if (m.allowReconnect === true) o.allowReconnect = true;
    if (m.sequenceId !== undefined) o.sequenceId = m.sequenceId;
    return o;
}

// The msgpack array layout our writer produces (PROTOCOL.md §7.2 + the client-writer choices).
function ourMsgpackLayout(m) {
    const h = m.headers || {};
    switch (m.type) {
        case 1:
        case 4: {
            const a = [m.type, h, m.invocationId === undefined ? null : m.invocationId, m.target, m.arguments];
            if (m.streamIds && m.streamIds.length) a.push(m.streamIds);
            return a;
        }
        case 2: return [2, h, m.invocationId, m.item];
        case 3:
            if ("error" in m) return [3, h, m.invocationId, 1, m.error];
            if ("result" in m) return [3, h, m.invocationId, 3, m.result];
            return [3, h, m.invocationId, 2];
        case 5: return [5, h, m.invocationId];
        case 6: return [6];
        case 7: return m.allowReconnect === true ? [7, m.error ?? null, true] : [7, m.error ?? null];
        case 8:
        case 9: return [m.type, m.sequenceId];
        default: throw new Error(`unknown type ${m.type}`);
    }
}

// Split VarInt-framed bytes into bodies (independent of Microsoft's BinaryMessageFormat).
function splitFrames(u8) {
    const frames = [];
    let off = 0;
    while (off < u8.length) {
        let size = 0, shift = 0, n = 0, b;
        do {
            if (off + n >= u8.length) throw new Error("truncated length prefix");
            b = u8[off + n];
            size |= (b & 0x7f) << shift;
            shift += 7;
            n++;
        } while ((b & 0x80) && n < 5);
        if (b & 0x80) throw new Error("length prefix longer than 5 bytes");
        if (off + n + size > u8.length) throw new Error("truncated body");
        frames.push({ prefixLen: n, size, body: u8.slice(off + n, off + n + size) });
        off += n + size;
    }
    return frames;
}

function minimalPrefixLen(size) {
    let n = 1;
    while (size >= 0x80) { size >>>= 7; n++; }
    return n;
}

function stripRs(text) {
    if (!text.endsWith(RS)) throw new Error("record does not end with 0x1e");
    const body = text.slice(0, -1);
    if (body.includes(RS)) throw new Error("more than one record");
    return body;
}

// ---------------------------------------------------------------- hub messages
const jsonProtocol = new signalr.JsonHubProtocol();
const msgpackProtocol = new MessagePackHubProtocol();
const TS_CLIENT_RECEIVES = new Set([1, 2, 3, 6, 7, 8, 9]);  // TS parsers ignore 4 and 5 (client->server only)

const hubDoc = JSON.parse(readFileSync(join(vectorsDir, "hub_messages.json"), "utf8"));
const outVectors = [];
const jsonWriterDiffs = [];
const msgpackWriterDiffs = [];

function checkJsonParse(label, text, expected) {
    let parsed;
    try {
        parsed = jsonProtocol.parseMessages(text, logger);
    } catch (e) {
        fail(`${label}: Microsoft JsonHubProtocol.parseMessages threw`, e.message);
        return;
    }
    if (!TS_CLIENT_RECEIVES.has(expected.type)) {
        // The TS client never receives StreamInvocation/CancelInvocation and skips them as unknown.
        check(`${label}: Microsoft parser skips client-only type ${expected.type}`, parsed.length === 0,
            () => `got ${parsed.length} messages`);
        let plain;
        try { plain = JSON.parse(stripRs(text)); } catch (e) { fail(`${label}: JSON.parse`, e.message); return; }
        check(`${label}: JSON.parse equals message (type ${expected.type} not parsed by TS)`,
            valueEqual(normalize(plain), normalize(expected)),
            () => `theirs: ${show(normalize(plain))}\nours:   ${show(normalize(expected))}`);
        return;
    }
    if (!check(`${label}: Microsoft JSON parser yields one message`, parsed.length === 1, () => `got ${parsed.length}`)) return;
    const got = normalize(parsed[0]);
    const want = normalize(expected);
    check(`${label}: Microsoft JSON parser result equals message`, valueEqual(got, want),
        () => `theirs: ${show(got)}\nours:   ${show(want)}`);
}

function checkMsgpackParse(label, hex, expected) {
    const bytes = hexToBytes(hex);
    // 1. framing, independent of Microsoft
    let frames;
    try { frames = splitFrames(bytes); } catch (e) { fail(`${label}: framing`, e.message); return; }
    if (!check(`${label}: exactly one VarInt frame`, frames.length === 1, () => `got ${frames.length}`)) return;
    // 2. Microsoft's parser
    let parsed;
    try {
        parsed = msgpackProtocol.parseMessages(toArrayBuffer(bytes), logger);
    } catch (e) {
        fail(`${label}: Microsoft MessagePackHubProtocol.parseMessages threw`, e.message);
        return;
    }
    if (!TS_CLIENT_RECEIVES.has(expected.type)) {
        check(`${label}: Microsoft parser skips client-only type ${expected.type}`, parsed.length === 0,
            () => `got ${parsed.length} messages`);
    } else if (check(`${label}: Microsoft msgpack parser yields one message`, parsed.length === 1, () => `got ${parsed.length}`)) {
        // TS's msgpack parser always reports streamIds: [] (it does not read element 5), so streamIds
        // are compared by the layout check below instead.
        const got = normalize(parsed[0], { dropStreamIds: true });
        const want = normalize(expected, { dropStreamIds: true });
        check(`${label}: Microsoft msgpack parser result equals message`, valueEqual(got, want),
            () => `theirs: ${show(got)}\nours:   ${show(want)}`);
    }
}

for (const v of hubDoc.vectors) {
    const name = v.name;
    if (v.oracle_skip) {
        note(name, `skipped: ${v.oracle_skip}`);
        outVectors.push({ name, json: null, msgpack: null, skipped: v.oracle_skip });
        continue;
    }
    let message;
    try {
        message = revive(v.message);
    } catch (e) {
        fail(`${name}: message`, e.message);
        continue;
    }
    const out = { name, json: null, msgpack: null };

    // ---------------- JSON
    if (v.json !== null && v.json !== undefined) {
        checkJsonParse(`${name} [json]`, v.json, message);

        // Their writer, fed the message in our field order: must be byte-identical (proves that our
        // string escaping, number text and UTF-8 handling equal JSON.stringify's).
        const oursOrder = jsonProtocol.writeMessage(toOurOrder(message));
        check(`${name} [json]: Microsoft writer (our field order) byte-identical`, oursOrder === v.json,
            () => `theirs: ${JSON.stringify(oursOrder)}\nours:   ${JSON.stringify(v.json)}`);

        // Their writer, fed the object the TS HubConnection would build: same bytes or field order only.
        const theirs = jsonProtocol.writeMessage(toTsShape(message));
        out.json = theirs;
        if (theirs === v.json) {
            pass(`${name} [json]: Microsoft writer (TS client shape) byte-identical`);
        } else {
            let same = false;
            try { same = valueEqual(JSON.parse(stripRs(theirs)), JSON.parse(stripRs(v.json))); } catch { same = false; }
            if (check(`${name} [json]: Microsoft writer (TS client shape) differs only in field order`, same,
                () => `theirs: ${JSON.stringify(theirs)}\nours:   ${JSON.stringify(v.json)}`)) {
                jsonWriterDiffs.push({ name, theirs, ours: v.json });
            }
        }
        // Their own bytes must also parse back to the message (round trip through their code).
        if (TS_CLIENT_RECEIVES.has(message.type)) {
            checkJsonParse(`${name} [json, Microsoft's bytes]`, theirs, message);
        }
    }

    // ---------------- MessagePack
    if (v.msgpack !== null && v.msgpack !== undefined) {
        const bytes = hexToBytes(v.msgpack);
        checkMsgpackParse(`${name} [msgpack]`, v.msgpack, message);

        // Layout check with the plain msgpack decoder: element by element, incl. streamIds and Close fields.
        try {
            const frames = splitFrames(bytes);
            check(`${name} [msgpack]: minimal VarInt prefix`, frames[0].prefixLen === minimalPrefixLen(frames[0].size),
                () => `prefix ${frames[0].prefixLen} bytes for size ${frames[0].size}`);
            const decoded = msgpack.decode(frames[0].body);
            const want = ourMsgpackLayout(message);
            check(`${name} [msgpack]: array layout`, valueEqual(decoded, want),
                () => `decoded: ${show(decoded)}\nexpected: ${show(want)}`);
            // And the plain encoder (the one Microsoft's protocol uses) writes the same body bytes
            // for that layout: proves smallest-int / str8 / float64 / timestamp-form choices.
            const re = msgpack.encode(want);
            check(`${name} [msgpack]: @msgpack/msgpack encodes the layout identically`,
                bytesToHex(re) === bytesToHex(frames[0].body),
                () => `theirs: ${bytesToHex(re)}\nours:   ${bytesToHex(frames[0].body)}`);
        } catch (e) {
            fail(`${name} [msgpack]: layout`, e.stack);
        }

        // Microsoft's writer.
        let theirs;
        try {
            theirs = bytesToHex(msgpackProtocol.writeMessage(toTsShape(message)));
        } catch (e) {
            fail(`${name} [msgpack]: Microsoft writer threw`, e.message);
        }
        if (theirs !== undefined) {
            out.msgpack = theirs;
            if (theirs === v.msgpack) {
                pass(`${name} [msgpack]: Microsoft writer byte-identical`);
            } else if (message.type === 7 && (message.error !== undefined || message.allowReconnect === true)) {
                // Known limitation: MessagePackHubProtocol._writeClose always writes [7, nil]
                // (the TS client only sends a bare Close). Our layout was checked above.
                pass(`${name} [msgpack]: Microsoft writer drops Close error/allowReconnect (known TS limitation)`);
                msgpackWriterDiffs.push({ name, theirs, ours: v.msgpack, why: "TS _writeClose always writes [7, nil]" });
                // Their bytes do not decode to this vector's message, so keep them out of "msgpack".
                out.msgpack = null;
                out.msgpack_lossy = theirs;
                out.msgpack_lossy_why = "MessagePackHubProtocol._writeClose always writes [7, nil]: these bytes decode to a bare Close";
            } else {
                fail(`${name} [msgpack]: Microsoft writer bytes differ`, `theirs: ${theirs}\nours:   ${v.msgpack}`);
            }
            if (TS_CLIENT_RECEIVES.has(message.type)) {
                const rt = msgpackProtocol.parseMessages(toArrayBuffer(hexToBytes(theirs)), logger);
                const expectRt = message.type === 7 ? { type: 7 } : message;  // their Close writer drops fields
                check(`${name} [msgpack, Microsoft's bytes]: parse back`,
                    rt.length === 1 && valueEqual(normalize(rt[0], { dropStreamIds: true }), normalize(expectRt, { dropStreamIds: true })),
                    () => `got ${show(rt)}`);
            }
        }
    }

    // ---------------- alternative encodings our decoder must accept
    for (const [i, alt] of (v.decode_also || []).entries()) {
        const label = `${name} decode_also[${i}]`;
        if (alt.json !== undefined) {
            checkJsonParse(`${label} [json]`, alt.json, message);
        }
        if (alt.msgpack !== undefined) {
            checkMsgpackParse(`${label} [msgpack]`, alt.msgpack, message);
        }
    }

    outVectors.push(out);
}

// ---------------------------------------------------------------- handshake
const hs = new HandshakeProtocol();
const hsDoc = JSON.parse(readFileSync(join(vectorsDir, "handshake.json"), "utf8"));
const handshakeInfo = [];

for (const [i, r] of hsDoc.requests.entries()) {
    const label = `handshake request[${i}] ${r.protocol} v${r.version}`;
    const theirs = hs.writeHandshakeRequest({ protocol: r.protocol, version: r.version });
    check(`${label}: Microsoft writeHandshakeRequest byte-identical`, theirs === r.bytes,
        () => `theirs: ${JSON.stringify(theirs)}\nours:   ${JSON.stringify(r.bytes)}`);
}

function handshakeInput(r) {
    if (r.bytes_hex !== undefined) return toArrayBuffer(hexToBytes(r.bytes_hex));
    return r.bytes;
}
function restToString(rest) {
    if (rest === null || rest === undefined) return { text: "", hex: "" };
    if (rest instanceof ArrayBuffer) return { hex: bytesToHex(new Uint8Array(rest)) };
    return { text: rest };
}

for (const [i, r] of hsDoc.responses.entries()) {
    const label = `handshake response[${i}] ${r.name || ""}`.trim();
    let rest, resp;
    try {
        [rest, resp] = hs.parseHandshakeResponse(handshakeInput(r));
    } catch (e) {
        fail(`${label}: Microsoft parseHandshakeResponse threw`, e.message);
        continue;
    }
    // HubConnection treats a truthy `error` as failure.
    const theirError = resp.error ? resp.error : null;
    check(`${label}: error`, theirError === r.error, () => `theirs: ${show(theirError)}\nours:   ${show(r.error)}`);
    const got = restToString(rest);
    if (r.rest_hex !== undefined) {
        const gotHex = got.hex !== undefined ? got.hex : (got.text === "" ? "" : null);
        check(`${label}: rest`, gotHex === r.rest_hex, () => `theirs: ${gotHex}\nours:   ${r.rest_hex}`);
    } else {
        check(`${label}: rest`, got.text === r.rest, () => `theirs: ${show(got)}\nours:   ${show(r.rest)}`);
    }
    // What follows the handshake must parse with Microsoft's hub protocol too.
    if (r.rest && r.rest.length) {
        try { jsonProtocol.parseMessages(r.rest, logger); pass(`${label}: rest parses as JSON hub messages`); } catch (e) { fail(`${label}: rest parses as JSON hub messages`, e.message); }
    }
    if (r.rest_hex) {
        try { msgpackProtocol.parseMessages(toArrayBuffer(hexToBytes(r.rest_hex)), logger); pass(`${label}: rest parses as msgpack hub messages`); } catch (e) { fail(`${label}: rest parses as msgpack hub messages`, e.message); }
    }
}

for (const [i, r] of hsDoc.bad_responses.entries()) {
    const label = `handshake bad_response[${i}] ${r.name || ""}`.trim();
    let threw = null, resp = null;
    try {
        [, resp] = hs.parseHandshakeResponse(handshakeInput(r));
    } catch (e) {
        threw = e.message;
    }
    // HubConnection also fails start when `error` is truthy; count that as a rejection as well.
    const rejected = threw !== null || !!(resp && resp.error);
    if (rejected) {
        pass(`${label}: Microsoft rejects too (${threw !== null ? `throws "${threw}"` : `error ${show(resp.error)}`})`);
        handshakeInfo.push({ label, ms: threw !== null ? `throws: ${threw}` : `error: ${show(resp.error)}` });
    } else {
        pass(`${label}: Microsoft accepts it (informational; we reject)`);
        note(label, `Microsoft's parseHandshakeResponse accepts it as success (we reject: ${r.why})`);
        handshakeInfo.push({ label, ms: "accepted as success" });
    }
}

for (const [i, r] of (hsDoc.incomplete || []).entries()) {
    const label = `handshake incomplete[${i}]`;
    let threw = null;
    try { hs.parseHandshakeResponse(handshakeInput(r)); } catch (e) { threw = e.message; }
    check(`${label}: Microsoft reports it incomplete`, threw !== null && /incomplete/i.test(threw),
        () => `theirs: ${threw === null ? "accepted" : threw}`);
}

// ---------------------------------------------------------------- negotiate URLs (informational)
// HttpConnection is not exported; its URL helpers are private methods. Used only to report
// where the TS client's URLs differ from ours — never a failure.
const negotiateInfo = [];
try {
    const { HttpConnection } = require("@microsoft/signalr/dist/cjs/HttpConnection.js");
    const negDoc = JSON.parse(readFileSync(join(vectorsDir, "negotiate.json"), "utf8"));
    for (const u of negDoc.urls) {
        const conn = new HttpConnection(u.base, { logger: signalr.NullLogger.instance, withCredentials: false });
        conn._options._useStatefulReconnect = !!u.stateful;
        const theirs = conn._resolveNegotiateUrl(u.base);
        if (theirs !== u.negotiate) negotiateInfo.push(`negotiate URL for ${u.base}${u.stateful ? " (stateful)" : ""}: TS ${theirs}, ours ${u.negotiate}`);
    }
    for (const t of negDoc.transport_urls) {
        const conn = new HttpConnection(t.base, { logger: signalr.NullLogger.instance });
        let theirs = conn._createConnectUrl(t.base, t.token);
        if (t.transport === "WebSockets") theirs = theirs.replace(/^http/, "ws");  // as WebSocketTransport.connect does
        if (theirs !== t.url) negotiateInfo.push(`${t.transport} URL for ${t.base} token ${JSON.stringify(t.token)}: TS ${theirs}, ours ${t.url}`);
    }
} catch (e) {
    negotiateInfo.push(`(could not run the TS URL helpers: ${e.message})`);
}

// ---------------------------------------------------------------- output
if (outFile) {
    mkdirSync(dirname(resolve(outFile)), { recursive: true });
    writeFileSync(outFile, JSON.stringify({
        generator: `@microsoft/signalr ${signalr.VERSION}, @microsoft/signalr-protocol-msgpack (tests/oracle/oracle.mjs)`,
        vectors: outVectors,
    }, null, 1) + "\n");
}

console.log("");
console.log(`Microsoft @microsoft/signalr ${signalr.VERSION}: hub vectors ${hubDoc.vectors.length}, handshake requests ${hsDoc.requests.length}, responses ${hsDoc.responses.length}, bad responses ${hsDoc.bad_responses.length}`);
console.log(`JSON: Microsoft's TS-client-shaped bytes differ from ours in field order only for ${jsonWriterDiffs.length} vectors` +
    (verbose ? ":" : " (--verbose lists them)"));
if (verbose) for (const d of jsonWriterDiffs) console.log(`    ${d.name}: TS ${JSON.stringify(d.theirs)} / ours ${JSON.stringify(d.ours)}`);
console.log(`MessagePack: Microsoft's writer differs from ours for ${msgpackWriterDiffs.length} vectors`);
for (const d of msgpackWriterDiffs) console.log(`    ${d.name}: TS ${d.theirs} / ours ${d.ours} (${d.why})`);
const accepted = handshakeInfo.filter((h) => h.ms === "accepted as success");
console.log(`Handshake: Microsoft accepts ${accepted.length} of the responses we reject`);
for (const h of accepted) console.log(`    ${h.label}`);
if (negotiateInfo.length) {
    console.log("Negotiate URLs where the TS client differs (informational):");
    for (const n of negotiateInfo) console.log(`    ${n}`);
}
const skipped = hubDoc.vectors.filter((v) => v.oracle_skip);
if (skipped.length) {
    console.log(`Skipped (oracle_skip): ${skipped.map((v) => v.name).join(", ")}`);
}
if (failures.length) {
    console.log("");
    console.log(`Failed checks: ${failures.length}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
