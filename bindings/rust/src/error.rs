//! `Error`: a libsignalr error code with the detail the library attached (server text, HTTP
//! status, troubleshooting hint). Codes and names come from the C library's own table.
use crate::ffi;
use std::ffi::CStr;
use std::fmt;
use std::os::raw::{c_char, c_int};

/// The `SIGNALR_E*` codes, as `i32` (negative; append-only in the C ABI: a code keeps its
/// number forever). `Error::code()` returns one of these.
pub mod code {
    use crate::ffi;
    pub const EINVAL: i32 = ffi::SIGNALR_EINVAL;
    pub const ENOMEM: i32 = ffi::SIGNALR_ENOMEM;
    pub const EPROTO: i32 = ffi::SIGNALR_EPROTO;
    pub const ETOOBIG: i32 = ffi::SIGNALR_ETOOBIG;
    pub const EHANDSHAKE: i32 = ffi::SIGNALR_EHANDSHAKE;
    pub const ENEGOTIATE: i32 = ffi::SIGNALR_ENEGOTIATE;
    pub const ETRANSPORT: i32 = ffi::SIGNALR_ETRANSPORT;
    pub const ETIMEOUT: i32 = ffi::SIGNALR_ETIMEOUT;
    pub const ECLOSED: i32 = ffi::SIGNALR_ECLOSED;
    pub const EHUB: i32 = ffi::SIGNALR_EHUB;
    pub const ECANCELED: i32 = ffi::SIGNALR_ECANCELED;
    pub const ESTATE: i32 = ffi::SIGNALR_ESTATE;
    pub const ERECURSIVE: i32 = ffi::SIGNALR_ERECURSIVE;
    pub const EUNSUPPORTED: i32 = ffi::SIGNALR_EUNSUPPORTED;
    pub const EHTTP: i32 = ffi::SIGNALR_EHTTP;
    pub const ETLS: i32 = ffi::SIGNALR_ETLS;
    pub const ECONNREFUSED: i32 = ffi::SIGNALR_ECONNREFUSED;
    pub const EAUTH: i32 = ffi::SIGNALR_EAUTH;
    pub const ENOTFOUND: i32 = ffi::SIGNALR_ENOTFOUND;
    pub const EREDIRECT: i32 = ffi::SIGNALR_EREDIRECT;
    pub const EENCODING: i32 = ffi::SIGNALR_EENCODING;
    pub const EDEPTH: i32 = ffi::SIGNALR_EDEPTH;
    pub const EAGAIN: i32 = ffi::SIGNALR_EAGAIN;
    pub const ENOHANDLER: i32 = ffi::SIGNALR_ENOHANDLER;
    pub const ELEGACY: i32 = ffi::SIGNALR_ELEGACY;
}

/// A failure reported by libsignalr. Plain data: `Clone + Send + Sync`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: i32,
    message: String,
    http_status: i32,
    hint: Option<String>,
    allow_reconnect: bool,
}

pub(crate) fn cstr(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the library hands out NUL-terminated strings valid for the call.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

impl Error {
    /// An error with only a code; the message is the library's description of it.
    pub fn from_code(code: i32) -> Error {
        // SAFETY: static string for any code.
        let message = cstr(unsafe { ffi::signalr_strerror(code) }).unwrap_or_default();
        Error { code, message, http_status: 0, hint: None, allow_reconnect: false }
    }

    /// An error with a code and a message of the binding's own.
    pub(crate) fn with_message(code: i32, message: impl Into<String>) -> Error {
        Error { message: message.into(), ..Error::from_code(code) }
    }

    /// Copies a borrowed `signalr_error` (NULL gives `from_code(fallback)`).
    pub(crate) unsafe fn from_raw(err: *const ffi::signalr_error, fallback: c_int) -> Error {
        if err.is_null() {
            return Error::from_code(fallback);
        }
        let code = ffi::signalr_error_code(err);
        Error {
            code,
            message: cstr(ffi::signalr_error_message(err)).unwrap_or_else(|| Error::from_code(code).message),
            http_status: ffi::signalr_error_http_status(err),
            hint: cstr(ffi::signalr_error_hint(err)).filter(|h| !h.is_empty()),
            allow_reconnect: ffi::signalr_error_allow_reconnect(err) != 0,
        }
    }

    /// Takes an owned `signalr_error` from an out-parameter (frees it).
    pub(crate) unsafe fn from_owned(err: *mut ffi::signalr_error, code: c_int) -> Error {
        let e = Error::from_raw(err, code);
        ffi::signalr_error_free(err);
        e
    }

    /// The `SIGNALR_E*` code (see [`code`]), always negative.
    pub fn code(&self) -> i32 {
        self.code
    }
    /// The code's symbolic name, e.g. `"SIGNALR_EHUB"`.
    pub fn name(&self) -> &'static str {
        error_name(self.code).unwrap_or("SIGNALR_EUNKNOWN")
    }
    /// The message: the server's text where there is one (hub errors, Close, handshake).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The HTTP status involved, or 0.
    pub fn http_status(&self) -> i32 {
        self.http_status
    }
    /// What to do about it (from the troubleshooting guide), when the library knows.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    /// True when the server closed the connection and allowed the client to reconnect.
    pub fn allow_reconnect(&self) -> bool {
        self.allow_reconnect
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.name())?;
        if self.http_status != 0 {
            write!(f, " [HTTP {}]", self.http_status)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "; hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The symbolic name of a code (`"SIGNALR_EPROTO"`), or None for an unknown one.
pub fn error_name(code: i32) -> Option<&'static str> {
    // SAFETY: static strings (or NULL) from the library.
    let p = unsafe { ffi::signalr_error_name(code) };
    if p.is_null() {
        None
    } else {
        unsafe { CStr::from_ptr(p) }.to_str().ok()
    }
}

/// Every error code the loaded library knows: (code, name, description), from
/// `signalr_error_next`, so the binding never copies the table.
pub fn error_codes() -> Vec<(i32, String, String)> {
    let mut out = Vec::new();
    let mut cursor = 0usize;
    loop {
        let (mut code, mut name, mut desc) = (0, std::ptr::null(), std::ptr::null());
        // SAFETY: out-pointers are valid; strings are static.
        if unsafe { ffi::signalr_error_next(&mut cursor, &mut code, &mut name, &mut desc) } == 0 {
            return out;
        }
        out.push((code, cstr(name).unwrap_or_default(), cstr(desc).unwrap_or_default()));
    }
}

/// 0 → Ok, negative → the code as an Error.
pub(crate) fn check(rc: c_int) -> Result<(), Error> {
    if rc < 0 {
        Err(Error::from_code(rc))
    } else {
        Ok(())
    }
}
