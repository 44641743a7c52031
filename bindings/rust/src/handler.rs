//! Handlers for client methods the server calls (`on`), including client results: a
//! closure that returns a value answers a server `InvokeAsync`.
use crate::callbacks::guard;
use crate::code;
use crate::connection::{cstring, ConnInner, Connection};
use crate::error::{check, Error};
use crate::ffi;
use crate::value::Value;
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, Weak};

/// What a client-result handler answers: a value, or an error text (the server's caller
/// gets a HubException with it).
pub type HandlerResult = Result<Value, String>;

type HandlerFn = Box<dyn Fn(&Value) -> Option<HandlerResult> + Send + Sync>;
type LaterFn = Box<dyn Fn(&Value, Option<Responder>) + Send + Sync>;

enum Kind {
    /// Answers (or not) when it returns.
    Now(HandlerFn),
    /// Defers the answer to a Responder (the connection is only needed to answer).
    Later(LaterFn, Weak<ConnInner>),
}

struct HandlerBox {
    f: Kind,
    /// The last answer: the library copies it after the handler returns, so it must outlive
    /// the call (handlers of one connection never run concurrently).
    answer: Mutex<(Option<Value>, Option<CString>)>,
}

unsafe extern "C" fn handler_trampoline(
    ud: *mut c_void,
    conn: *mut ffi::signalr_connection,
    args: *const ffi::signalr_value,
    result: *mut *const c_void,
    result_len: *mut usize,
    result_encoding: *mut c_int,
    error: *mut *const c_char,
) -> c_int {
    let h = &*(ud as *const HandlerBox);
    let v = Value::from_raw(args);
    let f = match &h.f {
        Kind::Now(f) => f,
        Kind::Later(f, weak) => {
            // A call that expects a result gets a ticket; one without (or already answered by
            // an earlier handler) gets ESTATE: nothing to answer then.
            let mut ticket = 0u64;
            let responder = (ffi::signalr_connection_defer_result(conn, &mut ticket) == 0).then(|| Responder {
                conn: weak.clone(),
                ticket,
                answered: false,
            });
            guard("handler", (), || f(&v, responder));
            return 0;
        }
    };
    let out = guard("handler", Some(Err("the client's handler panicked".to_string())), || f(&v));
    let mut slot = h.answer.lock().unwrap_or_else(|p| p.into_inner());
    match out {
        None => 0,
        Some(Ok(val)) => {
            let val = slot.0.insert(val);
            *result = val.bytes().as_ptr().cast();
            *result_len = val.bytes().len();
            *result_encoding = val.encoding().raw();
            0
        }
        Some(Err(msg)) => {
            let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
            *error = slot.1.insert(msg).as_ptr();
            code::EHUB
        }
    }
}

unsafe extern "C" fn free_handler(ud: *mut c_void) {
    drop(Box::from_raw(ud as *mut HandlerBox));
}

/// A registered handler; [`Subscription::off`] removes it. Dropping the Subscription keeps
/// the handler registered (for the connection's lifetime).
pub struct Subscription {
    conn: Weak<ConnInner>,
    handle: u64,
}

impl Subscription {
    /// Removes the handler (its closure is released by the library once it cannot run).
    pub fn off(self) -> Result<(), Error> {
        match self.conn.upgrade() {
            Some(c) => check(unsafe { ffi::signalr_connection_off(c.raw, self.handle) }),
            None => Ok(()),
        }
    }
}

impl Connection {
    /// Registers `handler` for the client method `method` (case-insensitive; several
    /// handlers per method run in registration order). It receives the arguments array in
    /// the wire's encoding. Runs on the context's callback thread (the poller thread, or the
    /// I/O thread in DIRECT mode), one event at a time: it must not block for long. A server
    /// call that expects a result gets "Client didn't provide a result." from it.
    pub fn on<F>(&self, method: &str, handler: F) -> Result<Subscription, Error>
    where
        F: Fn(&Value) + Send + Sync + 'static,
    {
        self.register(method, |_| {
            Kind::Now(Box::new(move |v| {
                handler(v);
                None
            }))
        })
    }

    /// Registers a client-result handler: the server's `InvokeAsync(method, ...)` gets the
    /// closure's `Ok(value)` as its result, or a HubException with the `Err(text)`. Same
    /// threading as [`Connection::on`].
    pub fn on_result<F>(&self, method: &str, handler: F) -> Result<Subscription, Error>
    where
        F: Fn(&Value) -> HandlerResult + Send + Sync + 'static,
    {
        self.register(method, |_| Kind::Now(Box::new(move |v| Some(handler(v)))))
    }

    /// Registers a client-result handler that answers later, from any thread: it gets a
    /// [`Responder`] (None when the server's call expects no result, or an earlier handler
    /// answered) and returns at once; `Responder::answer` sends the result when it is ready
    /// (e.g. from another thread or an async task). A Responder dropped unanswered sends an
    /// error, so the server's caller is never left waiting.
    pub fn on_result_later<F>(&self, method: &str, handler: F) -> Result<Subscription, Error>
    where
        F: Fn(&Value, Option<Responder>) + Send + Sync + 'static,
    {
        self.register(method, |weak| Kind::Later(Box::new(handler), weak))
    }

    fn register(&self, method: &str, make: impl FnOnce(Weak<ConnInner>) -> Kind) -> Result<Subscription, Error> {
        let m = cstring(method)?;
        let f = make(Arc::downgrade(&self.inner));
        let ud = Box::into_raw(Box::new(HandlerBox { f, answer: Mutex::new((None, None)) }));
        let mut handle = 0u64;
        let rc = unsafe {
            ffi::signalr_connection_on(
                self.raw(),
                m.as_ptr(),
                Some(handler_trampoline),
                ud.cast(),
                Some(free_handler),
                &mut handle,
            )
        };
        if rc < 0 {
            // A refused registration does not take the user_data: release it here.
            unsafe { drop(Box::from_raw(ud)) };
            return Err(Error::from_code(rc));
        }
        Ok(Subscription { conn: Arc::downgrade(&self.inner), handle })
    }
}

/// The pending answer to one server call (see [`Connection::on_result_later`]). `Send`:
/// answer from any thread, once.
pub struct Responder {
    conn: Weak<ConnInner>,
    ticket: u64,
    answered: bool,
}

impl Responder {
    /// Sends the result (`Ok`) or an error text (`Err`: the server's caller gets a
    /// HubException). Never blocks. If the server connection the call came on is gone (a
    /// reconnect), the library drops the answer: the server has already failed that call.
    pub fn answer(mut self, result: HandlerResult) -> Result<(), Error> {
        self.answered = true;
        self.send(result)
    }

    fn send(&self, result: HandlerResult) -> Result<(), Error> {
        let Some(c) = self.conn.upgrade() else { return Err(Error::from_code(code::ECLOSED)) };
        let rc = match result {
            Ok(v) => unsafe {
                ffi::signalr_connection_answer_result(
                    c.raw,
                    self.ticket,
                    v.bytes().as_ptr().cast(),
                    v.bytes().len(),
                    v.encoding().raw(),
                    std::ptr::null(),
                )
            },
            Err(msg) => {
                let m = CString::new(msg.replace('\0', " ")).unwrap_or_default();
                unsafe {
                    ffi::signalr_connection_answer_result(
                        c.raw,
                        self.ticket,
                        std::ptr::null(),
                        0,
                        ffi::SIGNALR_ENCODING_JSON,
                        m.as_ptr(),
                    )
                }
            }
        };
        check(rc)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.answered {
            let _ = self.send(Err("the client dropped the call without answering".into()));
        }
    }
}
