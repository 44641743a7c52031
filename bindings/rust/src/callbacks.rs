//! What every C callback shares: the "inside a callback" marker (so blocking waits refuse
//! instead of deadlocking the thread that would wake them), panic containment (a panic must
//! never unwind into C), and the one completion trampoline: its user_data is a boxed
//! `FnOnce`, which the library runs exactly once (also with ECLOSED when the connection is
//! freed), so the binding keeps no table of pending operations.
use crate::error::Error;
use crate::ffi;
use crate::value::Value;
use std::cell::Cell;
use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// True while this thread runs a callback of the library (a blocking wait here could never
/// be woken: the thread that would deliver the event is this one).
pub(crate) fn in_callback() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// Runs `f` marked as a callback, with panics contained (reported on stderr).
pub(crate) fn guard<R>(what: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    r.unwrap_or_else(|_| {
        eprintln!("signalr: a {what} callback panicked (the panic was stopped at the C boundary)");
        fallback
    })
}

/// What a completion delivers: the result (None for start/stop/send) or the error.
pub(crate) type Completion = Box<dyn FnOnce(Result<Option<Value>, Error>) + Send>;

/// Boxes a completion as user_data for `complete_trampoline`.
pub(crate) fn completion_ud(f: Completion) -> *mut c_void {
    Box::into_raw(Box::new(f)).cast()
}

/// Releases a completion's user_data that the library refused (the call returned < 0).
pub(crate) unsafe fn drop_completion_ud(ud: *mut c_void) {
    drop(Box::from_raw(ud as *mut Completion));
}

pub(crate) unsafe extern "C" fn complete_trampoline(
    ud: *mut c_void,
    _conn: *mut ffi::signalr_connection,
    result: *const ffi::signalr_value,
    err: *const ffi::signalr_error,
) {
    let f = Box::from_raw(ud as *mut Completion);
    let r = if err.is_null() {
        Ok(if result.is_null() { None } else { Some(Value::from_raw(result)) })
    } else {
        Err(Error::from_raw(err, crate::code::ECLOSED))
    };
    guard("completion", (), move || f(r));
}
