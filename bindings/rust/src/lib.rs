//! Rust binding of libsignalr, a SignalR client for ASP.NET Core hubs written in C.
//!
//! The protocol, transports, reconnect and flow control all live in the C library; this
//! crate is a thin, safe layer over its stable C ABI (std only, no other crates).
//!
//! ```no_run
//! use signalr::{Builder, Value};
//! use std::time::Duration;
//! let conn = Builder::new("http://localhost:5000/hubs/chat").build()?;
//! conn.on("ReceiveMessage", |args| println!("{:?}", args.to_json()))?;
//! conn.start(Some(Duration::from_secs(15)))?;
//! let r = conn.invoke("Echo", &Value::string_arg("hi"), Some(Duration::from_secs(10)))?;
//! assert_eq!(r.as_string().as_deref(), Some("hi"));
//! # Ok::<(), signalr::Error>(())
//! ```
//!
//! Threading: a [`Context`] owns the library's I/O thread and (by default) one poller
//! thread that runs callbacks: handlers, lifecycle closures, and the completions that wake
//! futures. `Connection` is `Send + Sync`. Blocking calls made from inside a callback return
//! `ERECURSIVE` instead of deadlocking.
//!
//! Values cross the ABI as one buffer of JSON text or MessagePack bytes ([`Value`]).
//!
//! Futures ([`Call`], [`SendCall`], [`Stream::poll_next`], [`WriteFuture`]) use only
//! `std::future` / `std::task`: any executor can poll them.

mod builder;
mod call;
mod callbacks;
mod connection;
mod context;
mod error;
mod ffi;
#[cfg(test)]
mod ffi_check;
mod handler;
mod providers;
mod shared;
mod stream;
mod upload;
mod value;

pub use builder::{options, Builder, OptionInfo, Protocol, Transport};
pub use call::Call;
pub use connection::{Connection, SendCall, State};
pub use context::Context;
pub use error::{code, error_codes, error_name, Error};
pub use handler::{HandlerResult, Responder, Subscription};
pub use providers::RetryContext;
pub use stream::{Next, Stream};
pub use upload::{Upload, WriteFuture};
pub use value::{json_string, json_to_msgpack, msgpack_to_json, Encoding, Value};

/// The version of the loaded C library ("major.minor.patch").
pub fn version() -> String {
    error::cstr(unsafe { ffi::signalr_version() }).unwrap_or_default()
}

/// The loaded C library's version as `(major << 16) | (minor << 8) | patch`.
pub fn version_number() -> i32 {
    unsafe { ffi::signalr_version_number() }
}

/// The version of the header this binding was written against, in the same form.
pub const ABI_VERSION_NUMBER: i32 =
    (ffi::SIGNALR_VERSION_MAJOR << 16) | (ffi::SIGNALR_VERSION_MINOR << 8) | ffi::SIGNALR_VERSION_PATCH;
