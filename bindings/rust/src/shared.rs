//! What a connection shares with its lifecycle callback: the application's lifecycle
//! closures and the "writable again" signal. A send or an upload write that met a full
//! outgoing buffer (EAGAIN) waits for SIGNALR_EVENT_WRITABLE, never on a timer. The signal
//! is a generation counter: a waiter reads it *before* trying, so a WRITABLE that arrives
//! between the EAGAIN and the wait is not missed. CLOSED and RECONNECTING also bump it, so
//! waiters retry and see the connection's state instead of waiting forever.
use crate::callbacks::guard;
use crate::error::Error;
use crate::ffi;
use std::os::raw::{c_int, c_void};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Instant;

pub(crate) type ErrFn = Arc<dyn Fn(Option<&Error>) + Send + Sync>;
pub(crate) type IdFn = Arc<dyn Fn(Option<&str>) + Send + Sync>;

/// The application's lifecycle closures (set on the Builder).
#[derive(Clone, Default)]
pub(crate) struct LifecycleFns {
    pub connected: Option<IdFn>,
    pub closed: Option<ErrFn>,
    pub reconnecting: Option<ErrFn>,
    pub reconnected: Option<IdFn>,
    pub send_failed: Option<ErrFn>,
    pub slow: Option<ErrFn>,
}

struct Writable {
    gen: u64,
    wakers: Vec<Waker>,
}

pub(crate) struct Shared {
    w: Mutex<Writable>,
    cv: Condvar,
    fns: LifecycleFns,
}

impl Shared {
    pub(crate) fn new(fns: LifecycleFns) -> Shared {
        Shared { w: Mutex::new(Writable { gen: 0, wakers: Vec::new() }), cv: Condvar::new(), fns }
    }

    /// The current generation of the writable signal (read it before trying a write).
    pub(crate) fn gen(&self) -> u64 {
        self.w.lock().unwrap_or_else(|p| p.into_inner()).gen
    }

    fn bump(&self) {
        let wakers = {
            let mut w = self.w.lock().unwrap_or_else(|p| p.into_inner());
            w.gen += 1;
            std::mem::take(&mut w.wakers)
        };
        self.cv.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Blocks until the generation differs from `gen` (true) or the deadline passes (false).
    pub(crate) fn wait_writable(&self, gen: u64, deadline: Option<Instant>) -> bool {
        let mut w = self.w.lock().unwrap_or_else(|p| p.into_inner());
        while w.gen == gen {
            w = match deadline {
                None => self.cv.wait(w).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    self.cv.wait_timeout(w, d - now).unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
        true
    }

    /// Ready once the generation differs from `gen`; else the waker is woken when it does.
    pub(crate) fn poll_writable(&self, gen: u64, cx: &mut TaskContext<'_>) -> Poll<()> {
        let mut w = self.w.lock().unwrap_or_else(|p| p.into_inner());
        if w.gen != gen {
            return Poll::Ready(());
        }
        if !w.wakers.iter().any(|x| x.will_wake(cx.waker())) {
            w.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// user_data: `Arc<Shared>` as a raw pointer (released by `free_shared`).
pub(crate) unsafe extern "C" fn lifecycle_trampoline(
    ud: *mut c_void,
    conn: *mut ffi::signalr_connection,
    event: c_int,
    err: *const ffi::signalr_error,
) {
    let shared = &*(ud as *const Shared);
    let e = if err.is_null() { None } else { Some(Error::from_raw(err, crate::code::ECLOSED)) };
    let fns = &shared.fns;
    match event {
        ffi::SIGNALR_EVENT_WRITABLE => shared.bump(),
        ffi::SIGNALR_EVENT_CLOSED => {
            shared.bump();
            if let Some(f) = &fns.closed {
                guard("closed", (), || f(e.as_ref()));
            }
        }
        ffi::SIGNALR_EVENT_RECONNECTING => {
            shared.bump();
            if let Some(f) = &fns.reconnecting {
                guard("reconnecting", (), || f(e.as_ref()));
            }
        }
        ffi::SIGNALR_EVENT_CONNECTED | ffi::SIGNALR_EVENT_RECONNECTED => {
            shared.bump();
            let f = if event == ffi::SIGNALR_EVENT_CONNECTED { &fns.connected } else { &fns.reconnected };
            if let Some(f) = f {
                let id = crate::connection::raw_connection_id(conn);
                guard("reconnected", (), || f(id.as_deref()));
            }
        }
        ffi::SIGNALR_EVENT_SEND_FAILED => {
            if let Some(f) = &fns.send_failed {
                guard("send_failed", (), || f(e.as_ref()));
            }
        }
        ffi::SIGNALR_EVENT_SLOW => {
            if let Some(f) = &fns.slow {
                guard("slow", (), || f(e.as_ref()));
            }
        }
        _ => {}
    }
}

pub(crate) unsafe extern "C" fn free_shared(ud: *mut c_void) {
    drop(Arc::from_raw(ud as *const Shared));
}
