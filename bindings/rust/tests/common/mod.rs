//! Test support (std only): the test server's address, a small JSON reader (for the wire
//! vectors and results), a tiny executor for the futures, and the transport × protocol
//! matrix.
#![allow(dead_code)]

use signalr::{Builder, Connection, Protocol, Transport, Value};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

pub const T: Option<Duration> = Some(Duration::from_secs(20));

// ------------------------------------------------------------------ the server

/// The test server's http base URL, from the JSON state file named by
/// SIGNALR_SERVER_STATE (test.sh starts the server). None (after a loud SKIP line) when no
/// server runs; a failure instead when SIGNALR_REQUIRE_SERVER=1.
pub fn server() -> Option<String> {
    let require = matches!(std::env::var("SIGNALR_REQUIRE_SERVER").as_deref(), Ok(v) if !v.is_empty() && v != "0");
    let why = match std::env::var("SIGNALR_SERVER_STATE") {
        Err(_) => "SIGNALR_SERVER_STATE is not set (run bindings/rust/test.sh)".to_string(),
        Ok(path) => match std::fs::read_to_string(&path) {
            Err(e) => format!("cannot read {path}: {e}"),
            Ok(text) => match Json::parse(&text) {
                Err(e) => format!("{path}: {e}"),
                Ok(j) => match j.get("http").and_then(|h| h.as_str()) {
                    Some(h) => return Some(h.to_string()),
                    None => format!(
                        "{path}: no server ({})",
                        j.get("skipped").and_then(|s| s.as_str()).unwrap_or("no \"http\" key")
                    ),
                },
            },
        },
    };
    if require {
        panic!("SIGNALR_REQUIRE_SERVER=1 but the test server is not available: {why}");
    }
    // Written to the stderr handle, not with eprintln!: the test harness captures the macros'
    // output of passing tests, and a skip must be seen. Once per test binary.
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIP: the tests against the real server are skipped: {why}");
    });
    None
}

/// Every transport × protocol the server supports (MessagePack is binary: not over SSE).
pub const MATRIX: &[(Transport, Protocol)] = &[
    (Transport::WebSockets, Protocol::Json),
    (Transport::WebSockets, Protocol::MessagePack),
    (Transport::ServerSentEvents, Protocol::Json),
    (Transport::LongPolling, Protocol::Json),
    (Transport::LongPolling, Protocol::MessagePack),
];

pub fn builder(base: &str, hub: &str, t: Transport, p: Protocol) -> Builder {
    Builder::new(&format!("{base}{hub}")).transports(&[t]).protocol(p).log_level("warning")
}

/// A started connection to /hubs/test.
pub fn connect(base: &str, t: Transport, p: Protocol) -> Connection {
    let c = builder(base, "/hubs/test", t, p).build().expect("build");
    c.start(T).unwrap_or_else(|e| panic!("start {t:?}/{p:?}: {e}"));
    c
}

/// Arguments in the encoding of the protocol (so both encodings cross the ABI).
pub fn args(p: Protocol, json: &str) -> Value {
    let v = Value::json(json);
    match p {
        Protocol::Json => v,
        Protocol::MessagePack => Value::msgpack(v.to_msgpack().unwrap()),
    }
}

/// A value as parsed JSON (any encoding).
pub fn json_of(v: &Value) -> Json {
    Json::parse(&v.to_json().unwrap()).unwrap()
}

// ------------------------------------------------------------------ a tiny executor

struct ThreadWaker(Thread);
impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread (parks between polls; the waker unparks).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Polls several futures concurrently on this thread (join_all), std only.
pub fn join_all<F: Future + Unpin>(mut fs: Vec<F>) -> Vec<F::Output> {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut out: Vec<Option<F::Output>> = fs.iter().map(|_| None).collect();
    loop {
        for (i, f) in fs.iter_mut().enumerate() {
            if out[i].is_none() {
                if let Poll::Ready(v) = std::pin::Pin::new(f).poll(&mut cx) {
                    out[i] = Some(v);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            return out.into_iter().map(Option::unwrap).collect();
        }
        std::thread::park();
    }
}

// ------------------------------------------------------------------ JSON (reader only)

/// A parsed JSON value; `Raw` spans keep the exact text of each value (the vectors
/// promise payload text equals the wire text).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(s: &str) -> Result<Json, String> {
        let mut p = Parser { s: s.as_bytes(), i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at {}", p.i));
        }
        Ok(v)
    }
    /// Parses one value and returns the exact text span of each object member `key`.
    pub fn raw_member<'a>(s: &'a str, key: &str) -> Option<&'a str> {
        let mut p = Parser { s: s.as_bytes(), i: 0 };
        p.ws();
        if p.s.get(p.i) != Some(&b'{') {
            return None;
        }
        p.i += 1;
        loop {
            p.ws();
            if p.s.get(p.i) == Some(&b'}') {
                return None;
            }
            let k = p.string().ok()?;
            p.ws();
            p.i += 1; // ':'
            p.ws();
            let start = p.i;
            p.value().ok()?;
            if k == key {
                return Some(&s[start..p.i]);
            }
            p.ws();
            if p.s.get(p.i) == Some(&b',') {
                p.i += 1;
            }
        }
    }
    /// The exact text of each element of a JSON array text.
    pub fn raw_items(s: &str) -> Vec<&str> {
        let mut p = Parser { s: s.as_bytes(), i: 0 };
        let mut out = Vec::new();
        p.ws();
        if p.s.get(p.i) != Some(&b'[') {
            return out;
        }
        p.i += 1;
        loop {
            p.ws();
            if p.i >= p.s.len() || p.s[p.i] == b']' {
                return out;
            }
            let start = p.i;
            if p.value().is_err() {
                return out;
            }
            out.push(&s[start..p.i]);
            p.ws();
            if p.s.get(p.i) == Some(&b',') {
                p.i += 1;
            }
        }
    }
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Num(n) => n.parse().ok(),
            _ => None,
        }
    }
    pub fn as_arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => &[],
        }
    }
    /// Numbers compared by value (1.5 == 1.50), everything else structurally.
    pub fn same(&self, o: &Json) -> bool {
        match (self, o) {
            (Json::Num(a), Json::Num(b)) => a == b || a.parse::<f64>().ok() == b.parse::<f64>().ok(),
            (Json::Arr(a), Json::Arr(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y)),
            (Json::Obj(a), Json::Obj(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| o.get(k).is_some_and(|w| v.same(w)))
            }
            _ => self == o,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        let c = *self.s.get(self.i).ok_or("unexpected end")?;
        match c {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Json::Obj(m));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(format!("':' expected at {}", self.i));
                    }
                    self.i += 1;
                    m.push((k, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(format!("',' or '}}' expected at {}", self.i)),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Json::Arr(a));
                    }
                    a.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => return Err(format!("',' or ']' expected at {}", self.i)),
                    }
                }
            }
            b'"' => Ok(Json::Str(self.string()?)),
            b't' | b'f' | b'n' => {
                for (lit, v) in [("true", Json::Bool(true)), ("false", Json::Bool(false)), ("null", Json::Null)] {
                    if self.s[self.i..].starts_with(lit.as_bytes()) {
                        self.i += lit.len();
                        return Ok(v);
                    }
                }
                Err(format!("bad literal at {}", self.i))
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                if start == self.i {
                    return Err(format!("unexpected {:?} at {}", c as char, start));
                }
                Ok(Json::Num(String::from_utf8_lossy(&self.s[start..self.i]).into_owned()))
            }
        }
    }
    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("string expected at {}", self.i));
        }
        let start = self.i;
        self.i += 1;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    let lit = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                    return Value::json(lit).as_string().ok_or_else(|| format!("bad string at {start}"));
                }
                _ => self.i += 1,
            }
        }
        Err("unterminated string".into())
    }
}
