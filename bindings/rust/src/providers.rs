//! Callbacks the library asks for a decision: the access-token provider and the reconnect
//! retry policy (set on the Builder). Like every event they run on the context's callback
//! thread.
use crate::callbacks::guard;
use crate::error::Error;
use crate::ffi;
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) type TokenFn = Arc<dyn Fn() -> Result<Option<String>, Error> + Send + Sync>;
pub(crate) type RetryFn = Arc<dyn Fn(&RetryContext) -> Option<Duration> + Send + Sync>;

/// What a retry policy is told about the reconnect so far.
#[derive(Clone, Debug)]
pub struct RetryContext {
    /// The attempt about to be made, from 1.
    pub attempt: u32,
    /// Time since the connection was lost (or since the start began).
    pub elapsed: Duration,
    /// The last failure.
    pub error: Option<Error>,
}

pub(crate) struct TokenBox {
    f: TokenFn,
    /// The token handed to the library: it is copied as soon as the provider returns.
    last: Mutex<Option<CString>>,
}

pub(crate) fn token_ud(f: TokenFn) -> *mut c_void {
    Box::into_raw(Box::new(TokenBox { f, last: Mutex::new(None) })).cast()
}

pub(crate) unsafe extern "C" fn token_trampoline(
    ud: *mut c_void,
    _conn: *mut ffi::signalr_connection,
    token: *mut *const c_char,
) -> c_int {
    let b = &*(ud as *const TokenBox);
    let r = guard("token provider", Err(Error::from_code(crate::code::EAUTH)), || (b.f)());
    let mut last = b.last.lock().unwrap_or_else(|p| p.into_inner());
    match r {
        Ok(Some(t)) => {
            *token = last.insert(CString::new(t).unwrap_or_default()).as_ptr();
            0
        }
        Ok(None) => {
            *token = std::ptr::null();
            0
        }
        // EAGAIN would promise a later signalr_connection_answer_token: not offered here.
        Err(e) if e.code() == crate::code::EAGAIN => crate::code::EAUTH,
        Err(e) => e.code(),
    }
}

pub(crate) unsafe extern "C" fn free_token(ud: *mut c_void) {
    drop(Box::from_raw(ud as *mut TokenBox));
}

pub(crate) fn retry_ud(f: RetryFn) -> *mut c_void {
    Box::into_raw(Box::new(f)).cast()
}

pub(crate) unsafe extern "C" fn retry_trampoline(
    ud: *mut c_void,
    attempt: u32,
    elapsed_ms: i64,
    err: *const ffi::signalr_error,
) -> i32 {
    let f = &*(ud as *const RetryFn);
    let ctx = RetryContext {
        attempt,
        elapsed: Duration::from_millis(elapsed_ms.max(0) as u64),
        error: if err.is_null() { None } else { Some(Error::from_raw(err, crate::code::ECLOSED)) },
    };
    match guard("retry policy", None, || f(&ctx)) {
        Some(d) => d.as_millis().min(i32::MAX as u128) as i32,
        None => -1,
    }
}

pub(crate) unsafe extern "C" fn free_retry(ud: *mut c_void) {
    drop(Box::from_raw(ud as *mut RetryFn));
}
