//! Hand-written declarations of the C ABI in `signalr/signalr.h` (private: the safe API in
//! the other modules is the crate's interface). Every function and integer constant of the
//! header is here; `ffi_check.rs` parses the header and fails the tests when they drift
//! (a missing name, another arity or another parameter type).
#![allow(non_camel_case_types, dead_code)]

use std::os::raw::{c_char, c_int, c_void};

// ------------------------------------------------------------------ version
pub const SIGNALR_VERSION_MAJOR: c_int = 0;
pub const SIGNALR_VERSION_MINOR: c_int = 2;
pub const SIGNALR_VERSION_PATCH: c_int = 0;

// ------------------------------------------------------------------ errors
pub const SIGNALR_OK: c_int = 0;
pub const SIGNALR_EINVAL: c_int = -1;
pub const SIGNALR_ENOMEM: c_int = -2;
pub const SIGNALR_EPROTO: c_int = -3;
pub const SIGNALR_ETOOBIG: c_int = -4;
pub const SIGNALR_EHANDSHAKE: c_int = -5;
pub const SIGNALR_ENEGOTIATE: c_int = -6;
pub const SIGNALR_ETRANSPORT: c_int = -7;
pub const SIGNALR_ETIMEOUT: c_int = -8;
pub const SIGNALR_ECLOSED: c_int = -9;
pub const SIGNALR_EHUB: c_int = -10;
pub const SIGNALR_ECANCELED: c_int = -11;
pub const SIGNALR_ESTATE: c_int = -12;
pub const SIGNALR_ERECURSIVE: c_int = -13;
pub const SIGNALR_EUNSUPPORTED: c_int = -14;
pub const SIGNALR_EHTTP: c_int = -15;
pub const SIGNALR_ETLS: c_int = -16;
pub const SIGNALR_ECONNREFUSED: c_int = -17;
pub const SIGNALR_EAUTH: c_int = -18;
pub const SIGNALR_ENOTFOUND: c_int = -19;
pub const SIGNALR_EREDIRECT: c_int = -20;
pub const SIGNALR_EENCODING: c_int = -21;
pub const SIGNALR_EDEPTH: c_int = -22;
pub const SIGNALR_EAGAIN: c_int = -23;
pub const SIGNALR_ENOHANDLER: c_int = -24;
pub const SIGNALR_ELEGACY: c_int = -25;
pub const SIGNALR_ERROR_LAST: c_int = -25;

// ------------------------------------------------------------------ encodings
pub const SIGNALR_ENCODING_JSON: c_int = 1;
pub const SIGNALR_ENCODING_MSGPACK: c_int = 2;

// ------------------------------------------------------------------ context
pub const SIGNALR_CONTEXT_DIRECT: c_int = 1;

// ------------------------------------------------------------------ calls waited for in slices
pub const SIGNALR_CALL_ORDERED: c_int = 1;

// ------------------------------------------------------------------ logs
pub const SIGNALR_LOG_TRACE: c_int = 0;
pub const SIGNALR_LOG_DEBUG: c_int = 1;
pub const SIGNALR_LOG_INFORMATION: c_int = 2;
pub const SIGNALR_LOG_WARNING: c_int = 3;
pub const SIGNALR_LOG_ERROR: c_int = 4;
pub const SIGNALR_LOG_CRITICAL: c_int = 5;
pub const SIGNALR_LOG_NONE: c_int = 6;

// ------------------------------------------------------------------ lifecycle events
pub const SIGNALR_EVENT_CONNECTED: c_int = 1;
pub const SIGNALR_EVENT_CLOSED: c_int = 2;
pub const SIGNALR_EVENT_SLOW: c_int = 3;
pub const SIGNALR_EVENT_RECONNECTING: c_int = 4;
pub const SIGNALR_EVENT_RECONNECTED: c_int = 5;
pub const SIGNALR_EVENT_WRITABLE: c_int = 6;
pub const SIGNALR_EVENT_SEND_FAILED: c_int = 7;

// ------------------------------------------------------------------ connection states
pub const SIGNALR_STATE_DISCONNECTED: c_int = 0;
pub const SIGNALR_STATE_CONNECTING: c_int = 1;
pub const SIGNALR_STATE_CONNECTED: c_int = 2;
pub const SIGNALR_STATE_RECONNECTING: c_int = 3;
pub const SIGNALR_STATE_DISCONNECTING: c_int = 4;

// ------------------------------------------------------------------ opaque handles
#[repr(C)]
pub struct signalr_context {
    _private: [u8; 0],
}
#[repr(C)]
pub struct signalr_builder {
    _private: [u8; 0],
}
#[repr(C)]
pub struct signalr_connection {
    _private: [u8; 0],
}
#[repr(C)]
pub struct signalr_error {
    _private: [u8; 0],
}
#[repr(C)]
pub struct signalr_call {
    _private: [u8; 0],
}
#[repr(C)]
pub struct signalr_value {
    _private: [u8; 0],
}

// ------------------------------------------------------------------ callback types
pub type signalr_free_fn = unsafe extern "C" fn(user_data: *mut c_void);
pub type signalr_log_fn = unsafe extern "C" fn(user_data: *mut c_void, level: c_int, message: *const c_char);
pub type signalr_lifecycle_fn = unsafe extern "C" fn(
    user_data: *mut c_void,
    conn: *mut signalr_connection,
    event: c_int,
    err: *const signalr_error,
);
pub type signalr_raw_fn = unsafe extern "C" fn(
    user_data: *mut c_void,
    conn: *mut signalr_connection,
    data: *const u8,
    len: usize,
    binary: c_int,
);
pub type signalr_token_fn =
    unsafe extern "C" fn(user_data: *mut c_void, conn: *mut signalr_connection, token: *mut *const c_char) -> c_int;
pub type signalr_retry_fn =
    unsafe extern "C" fn(user_data: *mut c_void, attempt: u32, elapsed_ms: i64, err: *const signalr_error) -> i32;
pub type signalr_completion_fn = unsafe extern "C" fn(
    user_data: *mut c_void,
    conn: *mut signalr_connection,
    result: *const signalr_value,
    err: *const signalr_error,
);
pub type signalr_item_fn =
    unsafe extern "C" fn(user_data: *mut c_void, conn: *mut signalr_connection, item: *const signalr_value);
pub type signalr_handler_fn = unsafe extern "C" fn(
    user_data: *mut c_void,
    conn: *mut signalr_connection,
    args: *const signalr_value,
    result: *mut *const c_void,
    result_len: *mut usize,
    result_encoding: *mut c_int,
    error: *mut *const c_char,
) -> c_int;

extern "C" {
    // version
    pub fn signalr_version() -> *const c_char;
    pub fn signalr_version_number() -> c_int;

    // errors
    pub fn signalr_strerror(code: c_int) -> *const c_char;
    pub fn signalr_error_name(code: c_int) -> *const c_char;
    pub fn signalr_error_next(
        cursor: *mut usize,
        code: *mut c_int,
        name: *mut *const c_char,
        description: *mut *const c_char,
    ) -> c_int;

    // encodings
    pub fn signalr_json_to_msgpack(
        json: *const c_char,
        json_len: usize,
        out: *mut *mut u8,
        out_len: *mut usize,
    ) -> c_int;
    pub fn signalr_msgpack_to_json(
        msgpack: *const u8,
        msgpack_len: usize,
        out: *mut *mut c_char,
        out_len: *mut usize,
    ) -> c_int;
    pub fn signalr_free(ptr: *mut c_void);

    // context
    pub fn signalr_context_new(out: *mut *mut signalr_context, flags: c_int) -> c_int;
    pub fn signalr_context_free(ctx: *mut signalr_context) -> c_int;
    pub fn signalr_context_poll(ctx: *mut signalr_context, timeout_ms: i32) -> c_int;
    pub fn signalr_context_set_poll_budget(ctx: *mut signalr_context, max_events: c_int) -> c_int;
    pub fn signalr_context_interrupt(ctx: *mut signalr_context) -> c_int;
    pub fn signalr_context_wakeup_fd(ctx: *mut signalr_context) -> c_int;

    // error detail
    pub fn signalr_error_code(err: *const signalr_error) -> c_int;
    pub fn signalr_error_message(err: *const signalr_error) -> *const c_char;
    pub fn signalr_error_http_status(err: *const signalr_error) -> c_int;
    pub fn signalr_error_hint(err: *const signalr_error) -> *const c_char;
    pub fn signalr_error_allow_reconnect(err: *const signalr_error) -> c_int;
    pub fn signalr_error_copy(err: *const signalr_error) -> *mut signalr_error;
    pub fn signalr_error_free(err: *mut signalr_error);

    // received values
    pub fn signalr_value_encoding(v: *const signalr_value) -> c_int;
    pub fn signalr_value_data(v: *const signalr_value, len: *mut usize) -> *const u8;
    pub fn signalr_value_json(v: *const signalr_value, json: *mut *const c_char, len: *mut usize) -> c_int;

    // builder
    pub fn signalr_builder_new(out: *mut *mut signalr_builder) -> c_int;
    pub fn signalr_builder_free(b: *mut signalr_builder);
    pub fn signalr_builder_set(
        b: *mut signalr_builder,
        key: *const c_char,
        value: *const c_char,
        errbuf: *mut c_char,
        errlen: usize,
    ) -> c_int;
    pub fn signalr_option_next(
        cursor: *mut usize,
        name: *mut *const c_char,
        type_: *mut *const c_char,
        default_value: *mut *const c_char,
        description: *mut *const c_char,
    ) -> c_int;
    pub fn signalr_builder_set_log(
        b: *mut signalr_builder,
        fn_: Option<signalr_log_fn>,
        user_data: *mut c_void,
        free_user_data: Option<signalr_free_fn>,
    ) -> c_int;
    pub fn signalr_builder_set_lifecycle(
        b: *mut signalr_builder,
        fn_: Option<signalr_lifecycle_fn>,
        user_data: *mut c_void,
        free_user_data: Option<signalr_free_fn>,
    ) -> c_int;
    pub fn signalr_builder_set_token_provider(
        b: *mut signalr_builder,
        fn_: Option<signalr_token_fn>,
        user_data: *mut c_void,
        free_user_data: Option<signalr_free_fn>,
    ) -> c_int;
    pub fn signalr_builder_set_retry_policy(
        b: *mut signalr_builder,
        fn_: Option<signalr_retry_fn>,
        user_data: *mut c_void,
        free_user_data: Option<signalr_free_fn>,
    ) -> c_int;
    pub fn signalr_builder_build(
        b: *mut signalr_builder,
        ctx: *mut signalr_context,
        out: *mut *mut signalr_connection,
        errbuf: *mut c_char,
        errlen: usize,
    ) -> c_int;

    // connection
    pub fn signalr_connection_start(
        conn: *mut signalr_connection,
        cb: Option<signalr_completion_fn>,
        user_data: *mut c_void,
    ) -> c_int;
    pub fn signalr_connection_start_blocking(
        conn: *mut signalr_connection,
        timeout_ms: i32,
        err: *mut *mut signalr_error,
    ) -> c_int;
    pub fn signalr_connection_stop(
        conn: *mut signalr_connection,
        cb: Option<signalr_completion_fn>,
        user_data: *mut c_void,
    ) -> c_int;
    pub fn signalr_connection_stop_blocking(conn: *mut signalr_connection, timeout_ms: i32) -> c_int;
    pub fn signalr_connection_state(conn: *mut signalr_connection) -> c_int;
    pub fn signalr_connection_id(conn: *mut signalr_connection, buf: *mut c_char, buflen: usize) -> c_int;
    pub fn signalr_connection_send(
        conn: *mut signalr_connection,
        method: *const c_char,
        args: *const c_void,
        args_len: usize,
        encoding: c_int,
    ) -> c_int;
    pub fn signalr_connection_send_with_completion(
        conn: *mut signalr_connection,
        method: *const c_char,
        args: *const c_void,
        args_len: usize,
        encoding: c_int,
        cb: Option<signalr_completion_fn>,
        user_data: *mut c_void,
    ) -> c_int;
    pub fn signalr_connection_invoke(
        conn: *mut signalr_connection,
        method: *const c_char,
        args: *const c_void,
        args_len: usize,
        encoding: c_int,
        cb: Option<signalr_completion_fn>,
        user_data: *mut c_void,
    ) -> c_int;
    pub fn signalr_connection_invoke_blocking(
        conn: *mut signalr_connection,
        method: *const c_char,
        args: *const c_void,
        args_len: usize,
        encoding: c_int,
        timeout_ms: i32,
        result: *mut *mut c_void,
        result_len: *mut usize,
        err: *mut *mut signalr_error,
    ) -> c_int;
    pub fn signalr_connection_invoke_call(
        conn: *mut signalr_connection,
        method: *const c_char,
        args: *const c_void,
        args_len: usize,
        encoding: c_int,
        flags: c_int,
        call: *mut *mut signalr_call,
    ) -> c_int;
    pub fn signalr_call_wait(
        call: *mut signalr_call,
        timeout_ms: i32,
        result: *mut *mut c_void,
        result_len: *mut usize,
        err: *mut *mut signalr_error,
    ) -> c_int;
    pub fn signalr_call_free(call: *mut signalr_call);
    pub fn signalr_call_cancel(call: *mut signalr_call) -> c_int;
    pub fn signalr_connection_set_url(conn: *mut signalr_connection, url: *const c_char) -> c_int;
    pub fn signalr_connection_set_timeouts(
        conn: *mut signalr_connection,
        server_timeout_ms: i32,
        keep_alive_interval_ms: i32,
    ) -> c_int;
    pub fn signalr_builder_set_raw_receive(
        b: *mut signalr_builder,
        fn_: Option<signalr_raw_fn>,
        user_data: *mut c_void,
        free_user_data: Option<signalr_free_fn>,
    ) -> c_int;
    pub fn signalr_connection_send_raw(conn: *mut signalr_connection, data: *const c_void, len: usize) -> c_int;
    pub fn signalr_connection_stream(
        conn: *mut signalr_connection,
        method: *const c_char,
        args: *const c_void,
        args_len: usize,
        encoding: c_int,
        item: Option<signalr_item_fn>,
        done: Option<signalr_completion_fn>,
        user_data: *mut c_void,
        handle: *mut u64,
    ) -> c_int;
    pub fn signalr_connection_stream_cancel(conn: *mut signalr_connection, handle: u64) -> c_int;
    pub fn signalr_connection_upload_open(conn: *mut signalr_connection, stream: *mut u64) -> c_int;
    pub fn signalr_connection_upload_write(
        conn: *mut signalr_connection,
        stream: u64,
        item: *const c_void,
        item_len: usize,
        encoding: c_int,
    ) -> c_int;
    pub fn signalr_connection_upload_complete(
        conn: *mut signalr_connection,
        stream: u64,
        error: *const c_char,
    ) -> c_int;
    pub fn signalr_connection_send_with_uploads(
        conn: *mut signalr_connection,
        method: *const c_char,
        args: *const c_void,
        args_len: usize,
        encoding: c_int,
        uploads: *const u64,
        upload_count: usize,
    ) -> c_int;
    pub fn signalr_connection_invoke_with_uploads(
        conn: *mut signalr_connection,
        method: *const c_char,
        args: *const c_void,
        args_len: usize,
        encoding: c_int,
        uploads: *const u64,
        upload_count: usize,
        cb: Option<signalr_completion_fn>,
        user_data: *mut c_void,
    ) -> c_int;
    pub fn signalr_connection_stream_with_uploads(
        conn: *mut signalr_connection,
        method: *const c_char,
        args: *const c_void,
        args_len: usize,
        encoding: c_int,
        uploads: *const u64,
        upload_count: usize,
        item: Option<signalr_item_fn>,
        done: Option<signalr_completion_fn>,
        user_data: *mut c_void,
        handle: *mut u64,
    ) -> c_int;
    pub fn signalr_connection_answer_token(conn: *mut signalr_connection, token: *const c_char, error: c_int) -> c_int;
    pub fn signalr_connection_defer_result(conn: *mut signalr_connection, ticket: *mut u64) -> c_int;
    pub fn signalr_connection_answer_result(
        conn: *mut signalr_connection,
        ticket: u64,
        result: *const c_void,
        result_len: usize,
        encoding: c_int,
        error: *const c_char,
    ) -> c_int;
    pub fn signalr_connection_on(
        conn: *mut signalr_connection,
        method: *const c_char,
        fn_: Option<signalr_handler_fn>,
        user_data: *mut c_void,
        free_user_data: Option<signalr_free_fn>,
        handle: *mut u64,
    ) -> c_int;
    pub fn signalr_connection_off(conn: *mut signalr_connection, handle: u64) -> c_int;
    pub fn signalr_connection_free(conn: *mut signalr_connection);
    pub fn signalr_connection_diagnostics(
        conn: *mut signalr_connection,
        out: *mut *mut c_char,
        out_len: *mut usize,
    ) -> c_int;
}
