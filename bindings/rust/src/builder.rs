//! `Builder`: connection options as the C builder's string keys and values (every option of
//! `signalr_option_next` is reachable through [`Builder::option`]; the typed methods are
//! shorthands), plus the lifecycle closures. A C builder is made afresh for each `build`, so
//! each connection gets its own lifecycle state.
use crate::connection::{ConnInner, Connection};
use crate::context::Context;
use crate::error::{cstr, Error};
use crate::ffi;
use crate::providers::{
    free_retry, free_token, retry_trampoline, retry_ud, token_trampoline, token_ud, RetryContext, RetryFn, TokenFn,
};
use crate::shared::{free_shared, lifecycle_trampoline, LifecycleFns, Shared};
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

/// A transport (`transports` option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    WebSockets,
    ServerSentEvents,
    LongPolling,
}

impl Transport {
    /// The option's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSockets => "websockets",
            Transport::ServerSentEvents => "serversentevents",
            Transport::LongPolling => "longpolling",
        }
    }
}

/// A hub protocol (`protocol` option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Json,
    MessagePack,
}

type LogFn = Arc<dyn Fn(i32, &str) + Send + Sync>;

/// Configures and builds [`Connection`]s. Reusable; `Send + Sync` (not meant to be
/// shared while it is being configured). Options are checked by the library at `build`.
#[derive(Clone)]
pub struct Builder {
    options: Vec<(String, String)>,
    context: Option<Context>,
    fns: LifecycleFns,
    log: Option<LogFn>,
    token: Option<TokenFn>,
    retry: Option<RetryFn>,
}

impl Builder {
    /// A builder for the hub at `url` (http, https, ws or wss).
    pub fn new(url: &str) -> Builder {
        let b = Builder {
            options: Vec::new(),
            context: None,
            fns: LifecycleFns::default(),
            log: None,
            token: None,
            retry: None,
        };
        b.option("binding", &format!("Rust {}", env!("CARGO_PKG_VERSION"))).option("url", url)
    }

    /// Sets any option of the library's table (see [`options`]) by name; errors surface at
    /// `build` (`EINVAL` with the reason).
    pub fn option(mut self, key: &str, value: &str) -> Builder {
        self.options.push((key.to_string(), value.to_string()));
        self
    }

    /// The transports allowed, tried in the server's order (default: all three).
    pub fn transports(self, transports: &[Transport]) -> Builder {
        let list: Vec<&str> = transports.iter().map(|t| t.name()).collect();
        self.option("transports", &list.join(","))
    }
    /// The hub protocol (default JSON). Arguments in either encoding work with both.
    pub fn protocol(self, p: Protocol) -> Builder {
        self.option("protocol", if p == Protocol::Json { "json" } else { "messagepack" })
    }
    /// Turns on automatic reconnect with the default delays (0, 2, 10, 30 s).
    pub fn automatic_reconnect(self) -> Builder {
        self.option("reconnect", "true")
    }
    /// Automatic reconnect with these delays before each attempt.
    pub fn reconnect_delays(self, delays: &[Duration]) -> Builder {
        let list: Vec<String> = delays.iter().map(|d| d.as_millis().to_string()).collect();
        self.option("reconnect", "true").option("reconnect_delays_ms", &list.join(","))
    }
    /// Stateful reconnect (the server must allow it).
    pub fn stateful_reconnect(self) -> Builder {
        self.option("stateful_reconnect", "true")
    }
    /// A bearer token for negotiate and every transport request.
    pub fn access_token(self, token: &str) -> Builder {
        self.option("access_token", token)
    }
    /// An HTTP header on every request.
    pub fn header(self, name: &str, value: &str) -> Builder {
        self.option("header", &format!("{name}: {value}"))
    }
    /// The server timeout (default 30 s).
    pub fn server_timeout(self, t: Duration) -> Builder {
        self.option("server_timeout_ms", &t.as_millis().to_string())
    }
    /// The library's log level: trace, debug, information, warning, error, critical, none.
    pub fn log_level(self, level: &str) -> Builder {
        self.option("log_level", level)
    }
    /// The context to build on (default: a new poll-mode [`Context`] per connection).
    pub fn context(mut self, ctx: &Context) -> Builder {
        self.context = Some(ctx.clone());
        self
    }

    /// Runs when the connection closed: None when stopped by the application or closed by the
    /// server without an error (as the official clients), else why.
    /// Lifecycle closures run on the context's callback thread and must not block for long.
    pub fn on_closed(mut self, f: impl Fn(Option<&Error>) + Send + Sync + 'static) -> Builder {
        self.fns.closed = Some(Arc::new(f));
        self
    }
    /// Runs when the connection was lost and automatic reconnect begins (with why).
    pub fn on_reconnecting(mut self, f: impl Fn(Option<&Error>) + Send + Sync + 'static) -> Builder {
        self.fns.reconnecting = Some(Arc::new(f));
        self
    }
    /// Runs when a reconnect succeeded, with the new connection id.
    pub fn on_reconnected(mut self, f: impl Fn(Option<&str>) + Send + Sync + 'static) -> Builder {
        self.fns.reconnected = Some(Arc::new(f));
        self
    }
    /// Runs when the connection is connected (first start), with the connection id.
    pub fn on_connected(mut self, f: impl Fn(Option<&str>) + Send + Sync + 'static) -> Builder {
        self.fns.connected = Some(Arc::new(f));
        self
    }
    /// Runs when a message accepted by `send_nowait` (or written data the transport had
    /// taken) could not be sent: the library never drops one silently.
    pub fn on_send_failed(mut self, f: impl Fn(Option<&Error>) + Send + Sync + 'static) -> Builder {
        self.fns.send_failed = Some(Arc::new(f));
        self
    }
    /// Runs when nothing arrived for 2/3 of the server timeout.
    pub fn on_slow(mut self, f: impl Fn(Option<&Error>) + Send + Sync + 'static) -> Builder {
        self.fns.slow = Some(Arc::new(f));
        self
    }
    /// Where the library's logs go: (level 0 trace .. 5 critical, message). Runs on the
    /// context's callback thread. Without it the library logs nowhere.
    pub fn on_log(mut self, f: impl Fn(i32, &str) + Send + Sync + 'static) -> Builder {
        self.log = Some(Arc::new(f));
        self
    }

    /// An access-token provider, asked before each negotiate and each transport connect
    /// (also on every reconnect): `Ok(Some(token))`, `Ok(None)` for no token, or an error
    /// whose code fails the connect attempt. Replaces the `access_token` option. Runs on the
    /// context's callback thread, so it must not block for long.
    pub fn access_token_provider(
        mut self,
        f: impl Fn() -> Result<Option<String>, Error> + Send + Sync + 'static,
    ) -> Builder {
        self.token = Some(Arc::new(f));
        self
    }
    /// A reconnect retry policy: the delay before the next attempt, or None to give up (the
    /// connection then closes with the last error). Turns automatic reconnect on.
    pub fn retry_policy(mut self, f: impl Fn(&RetryContext) -> Option<Duration> + Send + Sync + 'static) -> Builder {
        self.retry = Some(Arc::new(f));
        self
    }

    /// Builds a disconnected connection. Errors: `EINVAL` with the reason for a bad option.
    pub fn build(&self) -> Result<Connection, Error> {
        let ctx = match &self.context {
            Some(c) => c.clone(),
            None => Context::new()?,
        };
        let mut b = std::ptr::null_mut();
        crate::error::check(unsafe { ffi::signalr_builder_new(&mut b) })?;
        struct Guard(*mut ffi::signalr_builder);
        impl Drop for Guard {
            fn drop(&mut self) {
                unsafe { ffi::signalr_builder_free(self.0) }
            }
        }
        let g = Guard(b);
        let mut errbuf = [0 as c_char; 512];
        for (k, v) in &self.options {
            let (ck, cv) = (c(k)?, c(v)?);
            let rc =
                unsafe { ffi::signalr_builder_set(g.0, ck.as_ptr(), cv.as_ptr(), errbuf.as_mut_ptr(), errbuf.len()) };
            if rc < 0 {
                let why = cstr(errbuf.as_ptr()).unwrap_or_default();
                return Err(Error::with_message(rc, format!("option {k}={v:?}: {why}")));
            }
        }
        let shared = Arc::new(Shared::new(self.fns.clone()));
        let ud = Arc::into_raw(shared.clone()) as *mut c_void;
        unsafe { ffi::signalr_builder_set_lifecycle(g.0, Some(lifecycle_trampoline), ud, Some(free_shared)) };
        if let Some(log) = &self.log {
            let ud = Box::into_raw(Box::new(log.clone())) as *mut c_void;
            unsafe { ffi::signalr_builder_set_log(g.0, Some(log_trampoline), ud, Some(free_log)) };
        }
        if let Some(t) = &self.token {
            unsafe {
                ffi::signalr_builder_set_token_provider(
                    g.0,
                    Some(token_trampoline),
                    token_ud(t.clone()),
                    Some(free_token),
                )
            };
        }
        if let Some(r) = &self.retry {
            unsafe {
                ffi::signalr_builder_set_retry_policy(
                    g.0,
                    Some(retry_trampoline),
                    retry_ud(r.clone()),
                    Some(free_retry),
                )
            };
        }
        let mut raw = std::ptr::null_mut();
        let rc = unsafe { ffi::signalr_builder_build(g.0, ctx.raw(), &mut raw, errbuf.as_mut_ptr(), errbuf.len()) };
        if rc < 0 {
            let why = cstr(errbuf.as_ptr()).unwrap_or_default();
            return Err(Error::with_message(rc, why));
        }
        // The last `protocol` option decides the wire's encoding (the library accepted it).
        let wire = match self.options.iter().rev().find(|(k, _)| k == "protocol") {
            Some((_, v)) if v.eq_ignore_ascii_case("messagepack") => crate::Encoding::MessagePack,
            _ => crate::Encoding::Json,
        };
        Ok(Connection { inner: Arc::new(ConnInner::new(raw, shared, wire, ctx)) })
    }
}

fn c(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::with_message(crate::code::EINVAL, "an option must not contain NUL"))
}

unsafe extern "C" fn log_trampoline(ud: *mut c_void, level: c_int, message: *const c_char) {
    let f = &*(ud as *const LogFn);
    let m = cstr(message).unwrap_or_default();
    crate::callbacks::guard("log", (), || f(level, &m));
}

unsafe extern "C" fn free_log(ud: *mut c_void) {
    drop(Box::from_raw(ud as *mut LogFn));
}

/// One option of the library's table.
#[derive(Clone, Debug)]
pub struct OptionInfo {
    pub name: String,
    pub kind: String,
    pub default_value: String,
    pub description: String,
}

/// Every builder option the loaded library knows (`signalr_option_next`).
pub fn options() -> Vec<OptionInfo> {
    let mut out = Vec::new();
    let mut cursor = 0usize;
    loop {
        let (mut n, mut t, mut d, mut desc) = (std::ptr::null(), std::ptr::null(), std::ptr::null(), std::ptr::null());
        if unsafe { ffi::signalr_option_next(&mut cursor, &mut n, &mut t, &mut d, &mut desc) } == 0 {
            return out;
        }
        out.push(OptionInfo {
            name: cstr(n).unwrap_or_default(),
            kind: cstr(t).unwrap_or_default(),
            default_value: cstr(d).unwrap_or_default(),
            description: cstr(desc).unwrap_or_default(),
        });
    }
}
