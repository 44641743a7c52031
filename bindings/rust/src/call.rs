//! `Call<T>`: the outcome of one asynchronous operation (invoke, start, send...), both a
//! `std::future::Future` that any executor can poll and a handle a thread can block on.
//! The library's completion (on the poller thread, or the I/O thread in DIRECT mode) stores
//! the outcome, wakes the stored `Waker` and notifies the condition variable.
use crate::callbacks::in_callback;
use crate::code;
use crate::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

pub(crate) struct Slot<T> {
    out: Option<Result<T, Error>>,
    waker: Option<Waker>,
}

pub(crate) struct CallState<T> {
    m: Mutex<Slot<T>>,
    cv: Condvar,
}

impl<T> CallState<T> {
    pub(crate) fn new() -> Arc<CallState<T>> {
        Arc::new(CallState { m: Mutex::new(Slot { out: None, waker: None }), cv: Condvar::new() })
    }
    /// Stores the outcome (once) and wakes whoever waits.
    pub(crate) fn complete(&self, r: Result<T, Error>) {
        let waker = {
            let mut s = self.m.lock().unwrap_or_else(|p| p.into_inner());
            s.out = Some(r);
            s.waker.take()
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A pending operation: `.await` it, or block on it with [`Call::wait`]. `Send + Sync`.
/// Dropping it does not cancel the operation (as with the official clients): its outcome,
/// when it comes, is dropped.
#[must_use = "a Call does nothing by itself: await it or wait() on it to see the outcome"]
pub struct Call<T> {
    pub(crate) state: Arc<CallState<T>>,
}

impl<T> Call<T> {
    pub(crate) fn new() -> (Call<T>, Arc<CallState<T>>) {
        let s = CallState::new();
        (Call { state: s.clone() }, s)
    }
    pub(crate) fn ready(r: Result<T, Error>) -> Call<T> {
        let (c, s) = Call::new();
        s.complete(r);
        c
    }

    /// True once the outcome has arrived (it is then taken by `wait` or `.await`).
    pub fn is_done(&self) -> bool {
        self.state.m.lock().unwrap_or_else(|p| p.into_inner()).out.is_some()
    }

    /// Blocks until the outcome arrives or `timeout` passes (None: no limit). `ETIMEOUT`
    /// when the time ran out (the operation stays pending); `ERECURSIVE` when called from a
    /// library callback before the outcome is there (it could never arrive).
    pub fn wait(self, timeout: Option<Duration>) -> Result<T, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut s = self.state.m.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = s.out.take() {
                return r;
            }
            if in_callback() {
                return Err(Error::with_message(code::ERECURSIVE, "Call::wait from inside a signalr callback"));
            }
            s = match deadline {
                None => self.state.cv.wait(s).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Error::from_code(code::ETIMEOUT));
                    }
                    self.state.cv.wait_timeout(s, d - now).unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
    }
}

impl<T> Future for Call<T> {
    type Output = Result<T, Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut s = self.state.m.lock().unwrap_or_else(|p| p.into_inner());
        match s.out.take() {
            Some(r) => Poll::Ready(r),
            None => {
                if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    s.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}
