//! `Context`: a libsignalr context (one I/O thread shared by its connections) and, in poll
//! mode, the binding's poller thread that runs its callbacks.
//!
//! Why a poller thread: libsignalr never runs application code on its I/O thread (unless
//! DIRECT); events wait in a queue until someone calls `signalr_context_poll`. The binding
//! runs one thread per context. By default it waits for the context's wakeup fd with poll(2)
//! and runs what is queued with `signalr_context_poll(ctx, 0)`: not waiting inside
//! `signalr_context_poll` leaves the I/O to the library's thread, so a thread blocked in
//! `invoke` (signalr_connection_invoke_blocking) may run the I/O itself. `new_lending` waits
//! inside `signalr_context_poll` instead, which lends the poller to the I/O: callbacks then
//! run where their events are made (cheaper for callback-driven work). It is stopped with
//! `signalr_context_interrupt`, which makes the fd readable and is sticky until the next
//! poll, so a stop is never missed.
use crate::error::{check, Error};
use crate::ffi;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A libsignalr context: one I/O thread shared by every connection built on it, plus (in
/// poll mode, the default) one poller thread that runs the connections' callbacks (handlers,
/// lifecycle closures, completions that wake futures). Cheap to clone (shared); the context
/// is freed when the last clone and the last connection built on it are gone.
///
/// Thread-safety: `Send + Sync`. Callbacks of all connections of one context run one at a
/// time, on its poller thread (or on the I/O thread with [`Context::new_direct`]): a callback
/// that blocks delays every other event of the context.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<ContextInner>,
}

pub(crate) struct ContextInner {
    raw: *mut ffi::signalr_context,
    poller: Option<Arc<PollerState>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

// SAFETY: every signalr_context_* function the binding calls on `raw` from several threads
// is thread-safe (poll runs only on the poller thread).
unsafe impl Send for ContextInner {}
unsafe impl Sync for ContextInner {}

struct PollerState {
    stopping: AtomicBool,
    /// Set when the context was dropped on the poller thread itself (from a callback): the
    /// thread then frees the context when its poll returns.
    free_on_exit: AtomicBool,
}

#[repr(C)]
struct PollFd {
    fd: std::os::raw::c_int,
    events: std::os::raw::c_short,
    revents: std::os::raw::c_short,
}
const POLLIN: std::os::raw::c_short = 1;
extern "C" {
    fn poll(fds: *mut PollFd, nfds: std::os::raw::c_ulong, timeout: std::os::raw::c_int) -> std::os::raw::c_int;
}

struct RawCtx(*mut ffi::signalr_context);
unsafe impl Send for RawCtx {}

impl Context {
    /// A poll-mode context with its poller thread ("signalr-poller"), which waits on the
    /// wakeup fd: the library's I/O thread does the I/O, and a thread blocked in
    /// [`crate::Connection::invoke`] may run it itself. Best for blocking calls.
    pub fn new() -> Result<Context, Error> {
        Context::with_poller(false)
    }

    /// A poll-mode context whose poller thread waits inside `signalr_context_poll`, which
    /// lends it to the library's I/O: events are made and their callbacks run on that one
    /// thread, with no hand-off. Best for callback-driven work (handlers, a chain of calls
    /// issued from completions); blocking calls from other threads then get their results
    /// handed over from the poller.
    pub fn new_lending() -> Result<Context, Error> {
        Context::with_poller(true)
    }

    fn with_poller(lend: bool) -> Result<Context, Error> {
        let raw = new_raw(0)?;
        let state = Arc::new(PollerState { stopping: AtomicBool::new(false), free_on_exit: AtomicBool::new(false) });
        let (st, ctx) = (state.clone(), RawCtx(raw));
        let thread = std::thread::Builder::new()
            .name("signalr-poller".into())
            .spawn(move || {
                let ctx = ctx;
                // SAFETY: the context lives until this thread has been joined (or frees it).
                let fd = unsafe { ffi::signalr_context_wakeup_fd(ctx.0) };
                while !st.stopping.load(Ordering::Acquire) {
                    if lend {
                        unsafe { ffi::signalr_context_poll(ctx.0, -1) };
                        continue;
                    }
                    let mut pfd = PollFd { fd, events: POLLIN, revents: 0 };
                    // EINTR or readable: either way run what is queued, without waiting.
                    unsafe { poll(&mut pfd, 1, -1) };
                    unsafe { ffi::signalr_context_poll(ctx.0, 0) };
                }
                if st.free_on_exit.load(Ordering::Acquire) {
                    unsafe { ffi::signalr_context_free(ctx.0) };
                }
            })
            .map_err(|e| {
                unsafe { ffi::signalr_context_free(raw) };
                Error::with_message(crate::code::ENOMEM, format!("cannot start the poller thread: {e}"))
            })?;
        Ok(Context { inner: Arc::new(ContextInner { raw, poller: Some(state), thread: Mutex::new(Some(thread)) }) })
    }

    /// A SIGNALR_CONTEXT_DIRECT context: callbacks run on the library's I/O thread (lowest
    /// latency, no poller thread). Callbacks must not block; blocking calls from them return
    /// `ERECURSIVE`.
    pub fn new_direct() -> Result<Context, Error> {
        let raw = new_raw(ffi::SIGNALR_CONTEXT_DIRECT)?;
        Ok(Context { inner: Arc::new(ContextInner { raw, poller: None, thread: Mutex::new(None) }) })
    }

    pub(crate) fn raw(&self) -> *mut ffi::signalr_context {
        self.inner.raw
    }
}

fn new_raw(flags: i32) -> Result<*mut ffi::signalr_context, Error> {
    let mut raw = std::ptr::null_mut();
    // SAFETY: out-pointer valid.
    check(unsafe { ffi::signalr_context_new(&mut raw, flags) })?;
    Ok(raw)
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        // Every connection holds a Context clone, so all of them are freed by now.
        let Some(state) = &self.poller else {
            // Direct mode: from a callback on the I/O thread this returns ERECURSIVE and the
            // context is leaked (it cannot free its own thread).
            unsafe { ffi::signalr_context_free(self.raw) };
            return;
        };
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        let on_poller = thread.as_ref().map(|t| t.thread().id() == std::thread::current().id()).unwrap_or(false);
        if on_poller {
            state.free_on_exit.store(true, Ordering::Release);
        }
        state.stopping.store(true, Ordering::Release);
        unsafe { ffi::signalr_context_interrupt(self.raw) };
        if !on_poller {
            if let Some(t) = thread {
                let _ = t.join();
            }
            unsafe { ffi::signalr_context_free(self.raw) };
        }
    }
}
