//! The shared wire vectors (tests/vectors/hub_messages.json) through the transcoding ABI:
//! each payload (arguments, item, result) converted JSON → MessagePack by the C library must
//! be exactly the bytes the vector's MessagePack message carries, and those bytes converted
//! back must give the vector's JSON payload (or its `json_view` for bin/timestamp values).
//! Offline: no server.
mod common;
use common::Json;
use signalr::{json_to_msgpack, msgpack_to_json};

fn vectors_file() -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/hub_messages.json");
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn unhex(h: &str) -> Vec<u8> {
    h.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

/// The message body after the VarInt length prefix (which must match).
fn unframe(raw: &[u8]) -> &[u8] {
    let (mut len, mut shift, mut i) = (0usize, 0, 0);
    loop {
        let b = raw[i];
        len |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    assert_eq!(raw.len() - i, len, "VarInt length prefix");
    &raw[i..]
}

/// The length of the MessagePack value at the start of `b`.
fn mp_len(b: &[u8]) -> usize {
    let be = |n: usize| b[1..1 + n].iter().fold(0usize, |a, x| (a << 8) | *x as usize);
    let items = |hdr: usize, n: usize| -> usize {
        let mut at = hdr;
        for _ in 0..n {
            at += mp_len(&b[at..]);
        }
        at
    };
    match b[0] {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 1,
        0x80..=0x8f => items(1, 2 * (b[0] & 0x0f) as usize),
        0x90..=0x9f => items(1, (b[0] & 0x0f) as usize),
        0xa0..=0xbf => 1 + (b[0] & 0x1f) as usize,
        0xc4 | 0xd9 => 2 + be(1),
        0xc5 | 0xda => 3 + be(2),
        0xc6 | 0xdb => 5 + be(4),
        0xc7 => 3 + be(1),
        0xc8 => 4 + be(2),
        0xc9 => 6 + be(4),
        0xca => 5,
        0xcb => 9,
        0xcc | 0xd0 => 2,
        0xcd | 0xd1 => 3,
        0xce | 0xd2 => 5,
        0xcf | 0xd3 => 9,
        0xd4 => 3,
        0xd5 => 4,
        0xd6 => 6,
        0xd7 => 10,
        0xd8 => 18,
        0xdc => items(3, be(2)),
        0xdd => items(5, be(4)),
        0xde => items(3, 2 * be(2)),
        0xdf => items(5, 2 * be(4)),
        0xc1 => panic!("0xc1 is never used"),
    }
}

/// Element `index` of the MessagePack array `body`.
fn mp_element(body: &[u8], index: usize) -> &[u8] {
    let hdr = match body[0] {
        0x90..=0x9f => 1,
        0xdc => 3,
        0xdd => 5,
        _ => panic!("not an array"),
    };
    let mut at = hdr;
    for _ in 0..index {
        at += mp_len(&body[at..]);
    }
    &body[at..at + mp_len(&body[at..])]
}

/// (field, index in the MessagePack message) of the message's payload, if it has one.
fn payload_field(msg: &Json) -> Option<(&'static str, usize)> {
    match msg.get("type")?.as_i64()? {
        1 | 4 => Some(("arguments", 4)),
        2 => Some(("item", 3)),
        3 if msg.get("result").is_some() => Some(("result", 4)),
        _ => None,
    }
}

#[test]
fn hub_message_payloads_transcode_to_the_vector_bytes() {
    let file = vectors_file();
    let list = Json::raw_member(&file, "vectors").expect("vectors");
    let (mut checked, mut json_only_view, mut also) = (0, 0, 0);
    let mut failures = Vec::new();
    for raw in Json::raw_items(list) {
        let v = Json::parse(raw).unwrap();
        let name = v.get("name").and_then(Json::as_str).unwrap().to_string();
        let msg_raw = Json::raw_member(raw, "message").unwrap();
        let msg = Json::parse(msg_raw).unwrap();
        let Some((field, index)) = payload_field(&msg) else { continue };
        let payload_text = Json::raw_member(msg_raw, field).unwrap();
        let Some(hex) = v.get("msgpack").and_then(Json::as_str) else { continue };
        let framed = unhex(hex);
        let body = unframe(&framed);
        let wire_payload = mp_element(body, index);
        checked += 1;
        match v.get("json").and_then(Json::as_str) {
            Some(json_frame) => {
                // JSON → MessagePack in C gives the bytes inside the MessagePack message.
                assert!(json_frame.contains(payload_text), "{name}: payload text not in the JSON frame");
                match json_to_msgpack(payload_text.as_bytes()) {
                    Ok(mp) if mp == wire_payload => {}
                    other => failures
                        .push(format!("{name}: json_to_msgpack({payload_text}) = {other:?}, wire {wire_payload:02x?}")),
                }
                // ... and back: the same JSON value (same text, numbers compared by value).
                let back = msgpack_to_json(wire_payload).unwrap();
                let same =
                    back == payload_text || Json::parse(&back).unwrap().same(&Json::parse(payload_text).unwrap());
                if !same {
                    failures.push(format!("{name}: msgpack_to_json = {back}, vector {payload_text}"));
                }
            }
            None => {
                // bin / timestamp: the accessor's JSON view.
                json_only_view += 1;
                let view = v.get("json_view").and_then(Json::as_str).unwrap();
                let back = msgpack_to_json(wire_payload).unwrap();
                if back != view {
                    failures.push(format!("{name}: msgpack_to_json = {back}, json_view {view}"));
                }
            }
        }
        // Other wire forms the decoder accepts carry the same payload.
        for alt in v.get("decode_also").map(Json::as_arr).unwrap_or(&[]) {
            let Some(h) = alt.get("msgpack").and_then(Json::as_str) else { continue };
            let alt_framed = unhex(h);
            let alt_payload = mp_element(unframe(&alt_framed), index);
            also += 1;
            if msgpack_to_json(alt_payload).unwrap() != msgpack_to_json(wire_payload).unwrap() {
                failures.push(format!("{name}: decode_also payload differs"));
            }
        }
    }
    eprintln!("vectors: {checked} payloads checked ({json_only_view} through json_view), {also} alternative forms");
    assert!(checked >= 20, "only {checked} vectors with payloads");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn transcoding_errors_have_codes() {
    assert_eq!(json_to_msgpack(b"[1,").unwrap_err().code(), signalr::code::EENCODING);
    assert_eq!(json_to_msgpack(b"\"\xff\"").unwrap_err().code(), signalr::code::EENCODING);
    assert_eq!(msgpack_to_json(&[0xc1]).unwrap_err().code(), signalr::code::EENCODING);
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    assert_eq!(json_to_msgpack(deep.as_bytes()).unwrap_err().code(), signalr::code::EDEPTH);
}
