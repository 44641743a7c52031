//! `Connection`: a hub connection (start/stop, invoke, send, handlers; streams and uploads
//! are in stream.rs / upload.rs). Every method is a thin call into the C ABI, which is
//! thread-safe for all `signalr_connection_*` functions.
use crate::call::Call;
use crate::callbacks::{complete_trampoline, completion_ud, drop_completion_ud, in_callback, Completion};
use crate::code;
use crate::context::Context;
use crate::error::{check, Error};
use crate::ffi;
use crate::shared::Shared;
use crate::value::{take_buffer, Value};
use std::ffi::CString;
use std::future::Future;
use std::os::raw::c_char;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

/// A connection's state (`SIGNALR_STATE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Disconnected,
    Connecting,
    Connected,
    Reconnecting,
    Disconnecting,
}

/// A SignalR hub connection, made by [`crate::Builder::build`].
///
/// Thread-safety: `Send + Sync`; every method may be called from any thread at the same
/// time (share it with `Arc<Connection>`). Methods that block (`start`, `stop`, `invoke`,
/// `send`, ...) return `ERECURSIVE` when called from a callback of the library (handlers,
/// lifecycle closures, completions), where waiting could never end; use their `_async`
/// forms there.
///
/// Dropping it frees the connection: it is stopped (the transport aborted, not waited for),
/// and every pending operation (calls, sends, streams) completes once with `ECLOSED`.
/// Streams and uploads hold only a weak reference: they do not keep it alive. A handler or
/// lifecycle closure that needs the connection should capture a `Weak<Connection>` (an
/// `Arc` would be a cycle that keeps the connection alive).
pub struct Connection {
    pub(crate) inner: Arc<ConnInner>,
}

pub(crate) struct ConnInner {
    pub(crate) raw: *mut ffi::signalr_connection,
    pub(crate) shared: Arc<Shared>,
    /// The wire's encoding (the hub protocol): what a completion's null result is given in.
    pub(crate) wire: crate::Encoding,
    _ctx: Context, // dropped after the connection: the context must outlive it
}

// SAFETY: every signalr_connection_* function is thread-safe (header: "Every
// signalr_connection_* function is thread-safe"); `raw` is freed once, in Drop.
unsafe impl Send for ConnInner {}
unsafe impl Sync for ConnInner {}

impl Drop for ConnInner {
    fn drop(&mut self) {
        // Completes every pending operation with ECLOSED (runs their completions here).
        unsafe { ffi::signalr_connection_free(self.raw) };
    }
}

pub(crate) fn cstring(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::with_message(code::EINVAL, "a method name must not contain NUL"))
}

/// Milliseconds for the ABI: None → -1 (no limit), saturating at i32::MAX.
pub(crate) fn ms(t: Option<Duration>) -> i32 {
    t.map(|d| d.as_millis().min(i32::MAX as u128) as i32).unwrap_or(-1)
}

pub(crate) unsafe fn raw_connection_id(conn: *mut ffi::signalr_connection) -> Option<String> {
    let mut buf = [0 as c_char; 256];
    if ffi::signalr_connection_id(conn, buf.as_mut_ptr(), buf.len()) != 0 {
        return None;
    }
    crate::error::cstr(buf.as_ptr()).filter(|s| !s.is_empty())
}

impl ConnInner {
    pub(crate) fn new(
        raw: *mut ffi::signalr_connection,
        shared: Arc<Shared>,
        wire: crate::Encoding,
        ctx: Context,
    ) -> ConnInner {
        ConnInner { raw, shared, wire, _ctx: ctx }
    }

    /// One send_with_completion attempt: Ok(call) when accepted, Err(EAGAIN) when the
    /// outgoing buffer is full (nothing accepted).
    pub(crate) fn try_send(&self, method: &CString, args: &Value) -> Result<Call<()>, Error> {
        let (call, st) = Call::new();
        let done: Completion = Box::new(move |r| st.complete(r.map(|_| ())));
        let ud = completion_ud(done);
        // SAFETY: inputs are copied before the call returns; cb runs once only when rc == 0.
        let rc = unsafe {
            ffi::signalr_connection_send_with_completion(
                self.raw,
                method.as_ptr(),
                args.bytes().as_ptr().cast(),
                args.bytes().len(),
                args.encoding().raw(),
                Some(complete_trampoline),
                ud,
            )
        };
        if rc < 0 {
            unsafe { drop_completion_ud(ud) };
            return Err(Error::from_code(rc));
        }
        Ok(call)
    }
}

impl Connection {
    pub(crate) fn raw(&self) -> *mut ffi::signalr_connection {
        self.inner.raw
    }

    /// Connects and waits up to `timeout` (None: no limit). Blocking.
    pub fn start(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let mut err = std::ptr::null_mut();
        // SAFETY: err is an out-parameter we own afterwards.
        let rc = unsafe { ffi::signalr_connection_start_blocking(self.raw(), ms(timeout), &mut err) };
        if rc < 0 {
            return Err(unsafe { Error::from_owned(err, rc) });
        }
        Ok(())
    }

    /// Starts connecting; the returned [`Call`] completes when connected or failed.
    pub fn start_async(&self) -> Call<()> {
        self.unit_call(|raw, cb, ud| unsafe { ffi::signalr_connection_start(raw, cb, ud) })
    }

    /// Stops (sends Close, closes the transport) and waits up to `timeout`. Pending calls
    /// complete with `ECLOSED`. Blocking.
    pub fn stop(&self, timeout: Option<Duration>) -> Result<(), Error> {
        check(unsafe { ffi::signalr_connection_stop_blocking(self.raw(), ms(timeout)) })
    }

    /// Stops; the returned [`Call`] completes once stopped.
    pub fn stop_async(&self) -> Call<()> {
        self.unit_call(|raw, cb, ud| unsafe { ffi::signalr_connection_stop(raw, cb, ud) })
    }

    fn unit_call(
        &self,
        f: impl FnOnce(*mut ffi::signalr_connection, Option<ffi::signalr_completion_fn>, *mut std::os::raw::c_void) -> i32,
    ) -> Call<()> {
        let (call, st) = Call::new();
        let ud = completion_ud(Box::new(move |r| st.complete(r.map(|_| ()))));
        let rc = f(self.raw(), Some(complete_trampoline), ud);
        if rc < 0 {
            unsafe { drop_completion_ud(ud) };
            return Call::ready(Err(Error::from_code(rc)));
        }
        call
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        match unsafe { ffi::signalr_connection_state(self.raw()) } {
            ffi::SIGNALR_STATE_CONNECTING => State::Connecting,
            ffi::SIGNALR_STATE_CONNECTED => State::Connected,
            ffi::SIGNALR_STATE_RECONNECTING => State::Reconnecting,
            ffi::SIGNALR_STATE_DISCONNECTING => State::Disconnecting,
            _ => State::Disconnected,
        }
    }

    /// The connection id the server gave (None while not connected, or with skip_negotiation).
    pub fn connection_id(&self) -> Option<String> {
        unsafe { raw_connection_id(self.raw()) }
    }

    /// Calls a hub method and waits up to `timeout` (None: no limit) for its result, like an
    /// awaited `InvokeAsync`. `args` is an array (`Value::json("[\"hi\"]")`), in either
    /// encoding; the result comes in the arguments' encoding (the library converts it when the
    /// hub protocol uses the other one; null for a void method): use [`Value::to_json`] /
    /// [`Value::as_string`] for text. A hub exception is `EHUB`
    /// with the server's text; `ETIMEOUT` leaves the call pending (its result is dropped).
    /// Blocking (`signalr_connection_invoke_blocking`: in a poll-mode context the waiting
    /// thread may run the connection's I/O itself).
    pub fn invoke(&self, method: &str, args: &Value, timeout: Option<Duration>) -> Result<Value, Error> {
        let m = cstring(method)?;
        let (mut res, mut len, mut err) = (std::ptr::null_mut(), 0usize, std::ptr::null_mut());
        // SAFETY: inputs copied; outputs are ours to free.
        let rc = unsafe {
            ffi::signalr_connection_invoke_blocking(
                self.raw(),
                m.as_ptr(),
                args.bytes().as_ptr().cast(),
                args.bytes().len(),
                args.encoding().raw(),
                ms(timeout),
                &mut res,
                &mut len,
                &mut err,
            )
        };
        if rc < 0 {
            return Err(unsafe { Error::from_owned(err, rc) });
        }
        let enc = args.encoding();
        if res.is_null() {
            return Ok(Value::null(enc));
        }
        let bytes = unsafe { take_buffer(res, len) };
        Ok(match enc {
            crate::Encoding::Json => Value::json(String::from_utf8_lossy(&bytes).into_owned()),
            crate::Encoding::MessagePack => Value::msgpack(bytes),
        })
    }

    /// Calls a hub method; the returned [`Call`] is a `Future` (woken from the context's
    /// poller thread) and can also be waited on. Never blocks. The result is in the wire's
    /// encoding (see [`Value::to_json`] for text).
    pub fn invoke_async(&self, method: &str, args: &Value) -> Call<Value> {
        let (call, st) = Call::new();
        let enc = self.inner.wire;
        if let Err(e) =
            self.invoke_with(method, args, move |r| st.complete(r.map(|v| v.unwrap_or_else(|| Value::null(enc)))))
        {
            return Call::ready(Err(e));
        }
        call
    }

    /// Calls a hub method; `done` runs once, on the context's callback thread, with the
    /// result (None: the completion carried no value) or the error. Never blocks. `done`
    /// runs only when this returns Ok. The lowest-overhead form (no future, no wait).
    pub fn invoke_with<F>(&self, method: &str, args: &Value, done: F) -> Result<(), Error>
    where
        F: FnOnce(Result<Option<Value>, Error>) + Send + 'static,
    {
        let m = cstring(method)?;
        let ud = completion_ud(Box::new(done));
        let rc = unsafe {
            ffi::signalr_connection_invoke(
                self.raw(),
                m.as_ptr(),
                args.bytes().as_ptr().cast(),
                args.bytes().len(),
                args.encoding().raw(),
                Some(complete_trampoline),
                ud,
            )
        };
        if rc < 0 {
            unsafe { drop_completion_ud(ud) };
            return Err(Error::from_code(rc));
        }
        Ok(())
    }

    /// Sends a hub method invocation without expecting a result and waits until the message
    /// was handed to the transport (like an awaited `SendAsync`), up to `timeout`. A full
    /// outgoing buffer is waited out (SIGNALR_EVENT_WRITABLE, no timer). Errors: `ESTATE`
    /// when not connected, `ECLOSED` when the connection was lost first. Blocking.
    pub fn send(&self, method: &str, args: &Value, timeout: Option<Duration>) -> Result<(), Error> {
        let m = cstring(method)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let gen = self.inner.shared.gen();
            match self.inner.try_send(&m, args) {
                Ok(call) => return call.wait(deadline.map(|d| d.saturating_duration_since(Instant::now()))),
                Err(e) if e.code() == code::EAGAIN => {
                    if in_callback() {
                        return Err(e);
                    }
                    if !self.inner.shared.wait_writable(gen, deadline) {
                        return Err(Error::from_code(code::ETIMEOUT));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `send` as a future: completes when the message was written (a full buffer is waited
    /// out without blocking). Never blocks.
    pub fn send_async(&self, method: &str, args: &Value) -> SendCall {
        SendCall { conn: Arc::downgrade(&self.inner), method: cstring(method), args: args.clone(), call: None }
    }

    /// Fire-and-forget send (`signalr_connection_send`): Ok means accepted; `EAGAIN` means
    /// the outgoing buffer is full and nothing was accepted (retry after the connection is
    /// writable again, e.g. with `send`). A failure to write an accepted message reaches
    /// [`crate::Builder::on_send_failed`]: never silently lost. Never blocks.
    pub fn send_nowait(&self, method: &str, args: &Value) -> Result<(), Error> {
        let m = cstring(method)?;
        check(unsafe {
            ffi::signalr_connection_send(
                self.raw(),
                m.as_ptr(),
                args.bytes().as_ptr().cast(),
                args.bytes().len(),
                args.encoding().raw(),
            )
        })
    }
}

/// The future of [`Connection::send_async`]: `Ok(())` once the message was handed to the
/// transport. `Send`; drop it to give up (an accepted message is still sent).
pub struct SendCall {
    conn: Weak<ConnInner>,
    method: Result<CString, Error>,
    args: Value,
    call: Option<Call<()>>,
}

impl Future for SendCall {
    type Output = Result<(), Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            if let Some(c) = &mut this.call {
                return Pin::new(c).poll(cx);
            }
            let m = match &this.method {
                Ok(m) => m,
                Err(e) => return Poll::Ready(Err(e.clone())),
            };
            let Some(inner) = this.conn.upgrade() else {
                return Poll::Ready(Err(Error::from_code(code::ECLOSED)));
            };
            let gen = inner.shared.gen();
            match inner.try_send(m, &this.args) {
                Ok(c) => this.call = Some(c),
                Err(e) if e.code() == code::EAGAIN => {
                    if inner.shared.poll_writable(gen, cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
