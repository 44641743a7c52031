//! Client-to-server (upload) streams. A write that meets a full outgoing buffer gets EAGAIN
//! from the library (nothing accepted); the binding then waits for SIGNALR_EVENT_WRITABLE
//! (blocking `write`) or registers the task's waker (`write_async`), and writes again. No
//! sleeps, no timers.
use crate::call::Call;
use crate::callbacks::{complete_trampoline, completion_ud, drop_completion_ud, in_callback};
use crate::code;
use crate::connection::{cstring, ConnInner, Connection};
use crate::error::{check, Error};
use crate::ffi;
use crate::value::Value;
use std::ffi::CString;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

/// One upload stream (the official clients' Subject / ChannelWriter): open it with
/// [`Connection::upload`], attach it to exactly one call (`invoke_with_uploads`,
/// `send_with_uploads`, `stream_with_uploads`), write items, then [`Upload::complete`].
/// `Send + Sync`: writes from several threads are each accepted whole, in the order the
/// library receives them. Dropping it without completing completes it with an error (the
/// hub method sees the stream fail) so the server never waits forever.
pub struct Upload {
    conn: Weak<ConnInner>,
    handle: u64,
    done: AtomicBool,
}

pub(crate) fn upload_handles(uploads: &[&Upload]) -> Vec<u64> {
    uploads.iter().map(|u| u.handle).collect()
}

impl Upload {
    fn conn(&self) -> Result<Arc<ConnInner>, Error> {
        self.conn.upgrade().ok_or_else(|| Error::from_code(code::ECLOSED))
    }

    /// One write attempt: `EAGAIN` when the outgoing buffer is full (nothing accepted),
    /// `ESTATE` before the stream is attached or after it completed, `ECLOSED` when not
    /// connected. Never blocks.
    pub fn try_write(&self, item: &Value) -> Result<(), Error> {
        let c = self.conn()?;
        check(unsafe {
            ffi::signalr_connection_upload_write(
                c.raw,
                self.handle,
                item.bytes().as_ptr().cast(),
                item.bytes().len(),
                item.encoding().raw(),
            )
        })
    }

    /// Writes one item (a single value), waiting for room when the outgoing buffer is full
    /// (up to `timeout`, None: no limit; `ETIMEOUT` after). Blocking; from a library callback
    /// a full buffer returns `EAGAIN` instead of waiting.
    pub fn write(&self, item: &Value, timeout: Option<Duration>) -> Result<(), Error> {
        let c = self.conn()?;
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let gen = c.shared.gen();
            match self.try_write(item) {
                Err(e) if e.code() == code::EAGAIN => {
                    if in_callback() {
                        return Err(e);
                    }
                    if !c.shared.wait_writable(gen, deadline) {
                        return Err(Error::from_code(code::ETIMEOUT));
                    }
                }
                r => return r,
            }
        }
    }

    /// `write` as a future: ready once the item was accepted. Never blocks.
    pub fn write_async<'a>(&'a self, item: &'a Value) -> WriteFuture<'a> {
        WriteFuture { up: self, item }
    }

    /// Ends the stream normally; the hub method's enumeration completes.
    pub fn complete(self) -> Result<(), Error> {
        self.finish(None)
    }

    /// Ends the stream with an error: the hub method observes the stream failing with it.
    pub fn fail(self, message: &str) -> Result<(), Error> {
        self.finish(Some(message))
    }

    fn finish(&self, error: Option<&str>) -> Result<(), Error> {
        if self.done.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let c = self.conn()?;
        let e = error.map(|m| CString::new(m.replace('\0', " ")).unwrap_or_default());
        check(unsafe {
            ffi::signalr_connection_upload_complete(
                c.raw,
                self.handle,
                e.as_ref().map_or(std::ptr::null(), |e| e.as_ptr()),
            )
        })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = self.finish(Some("the upload stream was dropped before it was completed"));
    }
}

/// The future of [`Upload::write_async`].
pub struct WriteFuture<'a> {
    up: &'a Upload,
    item: &'a Value,
}

impl Future for WriteFuture<'_> {
    type Output = Result<(), Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let c = match self.up.conn() {
            Ok(c) => c,
            Err(e) => return Poll::Ready(Err(e)),
        };
        loop {
            let gen = c.shared.gen();
            match self.up.try_write(self.item) {
                Err(e) if e.code() == code::EAGAIN => {
                    if c.shared.poll_writable(gen, cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                r => return Poll::Ready(r),
            }
        }
    }
}

impl Connection {
    /// Opens an upload stream (not yet attached to a call). Never blocks.
    pub fn upload(&self) -> Result<Upload, Error> {
        let mut handle = 0u64;
        check(unsafe { ffi::signalr_connection_upload_open(self.raw(), &mut handle) })?;
        Ok(Upload { conn: Arc::downgrade(&self.inner), handle, done: AtomicBool::new(false) })
    }

    /// `invoke_async` with upload streams attached (the hub method receives them after
    /// `args`, in order). Never blocks; wait on or await the returned [`Call`].
    pub fn invoke_with_uploads(&self, method: &str, args: &Value, uploads: &[&Upload]) -> Call<Value> {
        let m = match cstring(method) {
            Ok(m) => m,
            Err(e) => return Call::ready(Err(e)),
        };
        let handles = upload_handles(uploads);
        let (call, st) = Call::new();
        let enc = self.inner.wire;
        let ud = completion_ud(Box::new(move |r| st.complete(r.map(|v| v.unwrap_or_else(|| Value::null(enc))))));
        let rc = unsafe {
            ffi::signalr_connection_invoke_with_uploads(
                self.raw(),
                m.as_ptr(),
                args.bytes().as_ptr().cast(),
                args.bytes().len(),
                args.encoding().raw(),
                handles.as_ptr(),
                handles.len(),
                Some(complete_trampoline),
                ud,
            )
        };
        if rc < 0 {
            unsafe { drop_completion_ud(ud) };
            return Call::ready(Err(Error::from_code(rc)));
        }
        call
    }

    /// `send_nowait` with upload streams attached. Never blocks.
    pub fn send_with_uploads(&self, method: &str, args: &Value, uploads: &[&Upload]) -> Result<(), Error> {
        let m = cstring(method)?;
        let handles = upload_handles(uploads);
        check(unsafe {
            ffi::signalr_connection_send_with_uploads(
                self.raw(),
                m.as_ptr(),
                args.bytes().as_ptr().cast(),
                args.bytes().len(),
                args.encoding().raw(),
                handles.as_ptr(),
                handles.len(),
            )
        })
    }
}
