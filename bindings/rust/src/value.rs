//! `Value`: hub arguments, results and stream items as they cross the C ABI — one buffer of
//! JSON text or MessagePack bytes plus its encoding. The binding does not model values as a
//! tree: applications bring their own (de)serialisation; conversions between the two
//! encodings are done by the C library (`signalr_json_to_msgpack` / `signalr_msgpack_to_json`),
//! following the official clients' mapping.
use crate::error::{code, Error};
use crate::ffi;
use std::fmt;

/// How a [`Value`]'s bytes are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8 JSON text.
    Json,
    /// MessagePack bytes.
    MessagePack,
}

impl Encoding {
    pub(crate) fn raw(self) -> i32 {
        match self {
            Encoding::Json => ffi::SIGNALR_ENCODING_JSON,
            Encoding::MessagePack => ffi::SIGNALR_ENCODING_MSGPACK,
        }
    }
    pub(crate) fn from_raw(e: i32) -> Encoding {
        if e == ffi::SIGNALR_ENCODING_MSGPACK {
            Encoding::MessagePack
        } else {
            Encoding::Json
        }
    }
}

/// One encoded value (or an argument array): the bytes and their [`Encoding`]. Owned,
/// `Clone + Send + Sync`. Arguments for a call are an array (`Value::json("[\"hi\", 42]")`);
/// the library transcodes them when the connection's protocol differs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Value {
    encoding: Encoding,
    bytes: Vec<u8>,
}

impl Value {
    /// A JSON value (the text is validated by the library when it is used).
    pub fn json(text: impl Into<String>) -> Value {
        Value { encoding: Encoding::Json, bytes: text.into().into_bytes() }
    }
    /// A MessagePack value.
    pub fn msgpack(bytes: impl Into<Vec<u8>>) -> Value {
        Value { encoding: Encoding::MessagePack, bytes: bytes.into() }
    }
    /// An empty argument array, `[]`.
    pub fn no_args() -> Value {
        Value::json("[]")
    }
    /// A JSON array of one string argument: `["text"]` (escaped as JSON).
    pub fn string_arg(text: &str) -> Value {
        Value::json(format!("[{}]", json_string(text)))
    }
    /// Null in the given encoding.
    pub fn null(encoding: Encoding) -> Value {
        match encoding {
            Encoding::Json => Value::json("null"),
            Encoding::MessagePack => Value::msgpack(vec![0xc0]),
        }
    }
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The value as JSON text (MessagePack is converted by the library: binary becomes a
    /// base64 string, a timestamp an ISO-8601 string).
    pub fn to_json(&self) -> Result<String, Error> {
        match self.encoding {
            Encoding::Json => String::from_utf8(self.bytes.clone()).map_err(|_| Error::from_code(code::EENCODING)),
            Encoding::MessagePack => msgpack_to_json(&self.bytes),
        }
    }
    /// The value as MessagePack bytes (JSON is converted by the library).
    pub fn to_msgpack(&self) -> Result<Vec<u8>, Error> {
        match self.encoding {
            Encoding::MessagePack => Ok(self.bytes.clone()),
            Encoding::Json => json_to_msgpack(&self.bytes),
        }
    }
    /// The same value in `encoding` (a copy, converted when needed).
    pub fn to_encoding(&self, encoding: Encoding) -> Result<Value, Error> {
        Ok(match encoding {
            Encoding::Json => Value::json(self.to_json()?),
            Encoding::MessagePack => Value::msgpack(self.to_msgpack()?),
        })
    }
    /// The string this value holds (a JSON string, unescaped), or None when it is not a
    /// string. `Echo("hi")` returns a value whose `as_string()` is `Some("hi")`.
    pub fn as_string(&self) -> Option<String> {
        parse_json_string(self.to_json().ok()?.trim())
    }
    /// Copies a value the library lends to a callback.
    pub(crate) unsafe fn from_raw(v: *const ffi::signalr_value) -> Value {
        if v.is_null() {
            return Value::json("null");
        }
        let mut len = 0usize;
        let data = ffi::signalr_value_data(v, &mut len);
        let bytes =
            if data.is_null() || len == 0 { Vec::new() } else { std::slice::from_raw_parts(data, len).to_vec() };
        Value { encoding: Encoding::from_raw(ffi::signalr_value_encoding(v)), bytes }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_json() {
            Ok(t) => write!(f, "Value::{:?}({})", self.encoding, t),
            Err(_) => write!(f, "Value::{:?}({:02x?})", self.encoding, self.bytes),
        }
    }
}

/// Converts one JSON value to MessagePack (the library's mapping; thread-safe).
pub fn json_to_msgpack(json: &[u8]) -> Result<Vec<u8>, Error> {
    let (mut out, mut len) = (std::ptr::null_mut::<u8>(), 0usize);
    // SAFETY: input pointer/length from a slice; the output is ours to free.
    let rc = unsafe { ffi::signalr_json_to_msgpack(json.as_ptr().cast(), json.len(), &mut out, &mut len) };
    crate::error::check(rc)?;
    let v = unsafe { take_buffer(out.cast(), len) };
    Ok(v)
}

/// Converts one MessagePack value to JSON text (the library's mapping; thread-safe).
pub fn msgpack_to_json(msgpack: &[u8]) -> Result<String, Error> {
    let (mut out, mut len) = (std::ptr::null_mut::<std::os::raw::c_char>(), 0usize);
    // SAFETY: as json_to_msgpack.
    let rc = unsafe { ffi::signalr_msgpack_to_json(msgpack.as_ptr(), msgpack.len(), &mut out, &mut len) };
    crate::error::check(rc)?;
    let v = unsafe { take_buffer(out.cast(), len) };
    String::from_utf8(v).map_err(|_| Error::from_code(code::EENCODING))
}

/// Copies and releases a buffer the library handed over (signalr_free).
pub(crate) unsafe fn take_buffer(p: *mut std::os::raw::c_void, len: usize) -> Vec<u8> {
    if p.is_null() {
        return Vec::new();
    }
    let v = std::slice::from_raw_parts(p as *const u8, len).to_vec();
    ffi::signalr_free(p);
    v
}

/// `text` as a JSON string literal (quoted and escaped), for building arguments.
pub fn json_string(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Unescapes one JSON string literal (the whole text); None if it is not exactly one.
fn parse_json_string(t: &str) -> Option<String> {
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        match c {
            '"' => return None,
            '\\' => match it.next()? {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '/' => out.push('/'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex = |it: &mut std::str::Chars| -> Option<u32> {
                        let h: String = it.take(4).collect();
                        if h.len() == 4 {
                            u32::from_str_radix(&h, 16).ok()
                        } else {
                            None
                        }
                    };
                    let hi = hex(&mut it)?;
                    let cp = if (0xD800..0xDC00).contains(&hi) {
                        if it.next()? != '\\' || it.next()? != 'u' {
                            return None;
                        }
                        let lo = hex(&mut it)?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return None;
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        hi
                    };
                    out.push(char::from_u32(cp)?);
                }
                _ => return None,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn strings_round_trip_through_json_literals() {
        for s in ["", "hi", "a\"b\\c", "line\nbreak\u{1}", "é漢字🙂"] {
            assert_eq!(parse_json_string(&json_string(s)).as_deref(), Some(s));
        }
        assert_eq!(parse_json_string(r#""\ud83d\ude42""#).as_deref(), Some("🙂"));
        assert_eq!(parse_json_string("42"), None);
        assert_eq!(parse_json_string(r#""a"b""#), None);
    }
    #[test]
    fn transcoding_both_ways() {
        let v = Value::json(r#"["hi",42,null,true,1.5]"#);
        let m = v.to_msgpack().unwrap();
        assert_eq!(m, [0x95, 0xa2, b'h', b'i', 42, 0xc0, 0xc3, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Value::msgpack(m).to_json().unwrap(), r#"["hi",42,null,true,1.5]"#);
        assert_eq!(Value::json("[1,").to_msgpack().unwrap_err().code(), code::EENCODING);
        assert_eq!(Value::msgpack(vec![0xa2, b'h', b'i']).as_string().as_deref(), Some("hi"));
    }
}
