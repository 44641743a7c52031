//! Server-to-client streams: `Stream` is an `Iterator` (blocking) and has a std-only async
//! interface (`poll_next`, `next_async`). Items are queued by the item callback on the
//! context's callback thread; the done callback (exactly once, after every item) ends it.
use crate::callbacks::{guard, in_callback};
use crate::code;
use crate::connection::{cstring, ConnInner, Connection};
use crate::error::{check, Error};
use crate::ffi;
use crate::upload::{upload_handles, Upload};
use crate::value::Value;
use std::collections::VecDeque;
use std::future::Future;
use std::os::raw::c_void;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

struct Queue {
    items: VecDeque<Value>,
    /// Some once the stream ended: None completed, Some(error) failed/canceled/closed.
    end: Option<Option<Error>>,
    waker: Option<Waker>,
}

struct StreamState {
    q: Mutex<Queue>,
    cv: Condvar,
}

impl StreamState {
    fn push(&self, f: impl FnOnce(&mut Queue)) {
        let waker = {
            let mut q = self.q.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut q);
            q.waker.take()
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

unsafe extern "C" fn item_trampoline(
    ud: *mut c_void,
    _c: *mut ffi::signalr_connection,
    item: *const ffi::signalr_value,
) {
    let st = &*(ud as *const StreamState);
    let v = Value::from_raw(item);
    guard("stream item", (), || st.push(|q| q.items.push_back(v)));
}

unsafe extern "C" fn done_trampoline(
    ud: *mut c_void,
    _c: *mut ffi::signalr_connection,
    _r: *const ffi::signalr_value,
    err: *const ffi::signalr_error,
) {
    let st = Arc::from_raw(ud as *const StreamState); // the library's reference, released here
    let e = if err.is_null() { None } else { Some(Error::from_raw(err, code::ECLOSED)) };
    guard("stream done", (), || st.push(|q| q.end = Some(e)));
}

/// A server-to-client stream. Iterate it (blocking `next`), or poll it from async code with
/// [`Stream::poll_next`] / [`Stream::next_async`]. Yields `Ok(item)` in order, then ends
/// (`None`); a stream that failed yields one `Err` (`EHUB` with the server's text, `ECLOSED`
/// when the connection closed) before ending. After [`Stream::cancel`] it ends quietly once
/// the items already received are consumed. Dropping an unfinished stream cancels it.
/// `Send + Sync`; items wait in memory until consumed.
pub struct Stream {
    st: Arc<StreamState>,
    conn: Weak<ConnInner>,
    handle: u64,
    canceled: bool,
    finished: bool,
}

impl Stream {
    fn take(&mut self, q: &mut Queue) -> Option<Option<Result<Value, Error>>> {
        if let Some(v) = q.items.pop_front() {
            return Some(Some(Ok(v)));
        }
        match q.end.take() {
            None => None,
            Some(e) => {
                self.finished = true;
                q.end = Some(None); // later calls: ended
                Some(match e {
                    Some(e) if !(self.canceled && e.code() == code::ECANCELED) => Some(Err(e)),
                    _ => None,
                })
            }
        }
    }

    /// The next item, waiting up to `timeout`: `Err(ETIMEOUT)` when none came in time.
    /// `ERECURSIVE` from a library callback when nothing is queued.
    pub fn next_timeout(&mut self, timeout: Option<Duration>) -> Option<Result<Value, Error>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let st = self.st.clone();
        let mut q = st.q.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.finished && q.items.is_empty() {
                return None;
            }
            if let Some(r) = self.take(&mut q) {
                return r;
            }
            if in_callback() {
                return Some(Err(Error::with_message(code::ERECURSIVE, "Stream::next from inside a signalr callback")));
            }
            q = match deadline {
                None => st.cv.wait(q).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Some(Err(Error::from_code(code::ETIMEOUT)));
                    }
                    st.cv.wait_timeout(q, d - now).unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
    }

    /// The async form of `next`: `Ready(None)` at the end; otherwise the waker is woken from
    /// the context's callback thread when an item or the end arrives.
    pub fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Value, Error>>> {
        let this = self.get_mut();
        let st = this.st.clone();
        let mut q = st.q.lock().unwrap_or_else(|p| p.into_inner());
        if this.finished && q.items.is_empty() {
            return Poll::Ready(None);
        }
        match this.take(&mut q) {
            Some(r) => Poll::Ready(r),
            None => {
                q.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// A future of the next item (`stream.next_async().await`).
    pub fn next_async(&mut self) -> Next<'_> {
        Next { s: self }
    }

    /// Cancels the stream: CancelInvocation goes to the server, later items are dropped,
    /// and the stream ends after what was already received. Never blocks.
    pub fn cancel(&mut self) -> Result<(), Error> {
        self.canceled = true;
        match self.conn.upgrade() {
            Some(c) => match check(unsafe { ffi::signalr_connection_stream_cancel(c.raw, self.handle) }) {
                Err(e) if e.code() == code::ESTATE => Ok(()), // already ended
                r => r,
            },
            None => Ok(()),
        }
    }

    /// True once the end was consumed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

impl Iterator for Stream {
    type Item = Result<Value, Error>;
    /// Blocks until the next item or the end.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_timeout(None)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let ended = self.finished || self.st.q.lock().map(|q| q.end.is_some()).unwrap_or(true);
        if !ended {
            let _ = self.cancel();
        }
    }
}

/// The future of [`Stream::next_async`].
pub struct Next<'a> {
    s: &'a mut Stream,
}

impl Future for Next<'_> {
    type Output = Option<Result<Value, Error>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.s).poll_next(cx)
    }
}

impl Connection {
    /// Starts a server-to-client stream (the hub method returns `IAsyncEnumerable` or a
    /// `ChannelReader`). Never blocks; items arrive in the wire's encoding.
    pub fn stream(&self, method: &str, args: &Value) -> Result<Stream, Error> {
        self.stream_with_uploads(method, args, &[])
    }

    /// `stream` with upload streams attached (the hub method takes them after `args`).
    pub fn stream_with_uploads(&self, method: &str, args: &Value, uploads: &[&Upload]) -> Result<Stream, Error> {
        let m = cstring(method)?;
        let handles = upload_handles(uploads);
        let st = Arc::new(StreamState {
            q: Mutex::new(Queue { items: VecDeque::new(), end: None, waker: None }),
            cv: Condvar::new(),
        });
        let ud = Arc::into_raw(st.clone()) as *mut c_void;
        let mut handle = 0u64;
        let rc = unsafe {
            ffi::signalr_connection_stream_with_uploads(
                self.raw(),
                m.as_ptr(),
                args.bytes().as_ptr().cast(),
                args.bytes().len(),
                args.encoding().raw(),
                handles.as_ptr(),
                handles.len(),
                Some(item_trampoline),
                Some(done_trampoline),
                ud,
                &mut handle,
            )
        };
        if rc < 0 {
            unsafe { drop(Arc::from_raw(ud as *const StreamState)) };
            return Err(Error::from_code(rc));
        }
        Ok(Stream { st, conn: Arc::downgrade(&self.inner), handle, canceled: false, finished: false })
    }
}
