package signalr

// #include <signalr/signalr.h>
// #include "trampolines.h"
import "C"

import (
	"sync/atomic"
)

// Handler handles a client method the server calls. args are the call's arguments. When
// the server awaits a result (client results, ISingleClientProxy.InvokeAsync), the
// returned value is the answer (encoded with encoding/json; MsgPack and json.RawMessage
// pass as they are; return json.RawMessage("null") for a null result) and a non-nil error
// is sent as the error; nil, nil answers "Client didn't provide a result.". For calls
// without a result both are ignored (an error is logged).
//
// Handlers run on the connection's event goroutine, one at a time in arrival order: they
// must not block. To answer later (the answer needs I/O or another goroutine), call
// args.Defer.
type Handler func(args Args) (any, error)

type handlerEntry struct {
	conn    *Connection
	method  string
	fn      Handler
	removed atomic.Bool
	id      C.uint64_t
}

// Subscription is a registered handler; Off removes it.
type Subscription struct{ e *handlerEntry }

// Off removes the handler: it is not called for events that arrive afterwards. Safe to
// call more than once, from any goroutine, also from a handler.
func (s *Subscription) Off() {
	if s == nil || s.e.removed.Swap(true) {
		return
	}
	c := s.e.conn
	if c.enter() {
		C.signalr_connection_off(c.c, s.e.id)
		c.leave()
	}
}

// On registers a handler for a client method (names are case-insensitive; several handlers
// per method run in registration order). Callable at any time, before or after Start.
func (c *Connection) On(method string, fn Handler) (*Subscription, error) {
	if fn == nil || method == "" {
		return nil, &Error{Code: ErrInval, Op: "on " + method, Message: "a method name and a handler are needed"}
	}
	e := &handlerEntry{conn: c, method: method, fn: fn}
	// The handle lives until Close, not Off: an invocation queued before Off may still
	// reach the trampoline, which then finds the entry removed.
	h := c.handle(e)
	if !c.enter() {
		return nil, errClosed
	}
	m, ml := methodArgs(method)
	rc := C.gosr_on(c.c, m, ml, h, &e.id)
	c.leave()
	if rc != 0 {
		return nil, codeError(rc, "on "+method)
	}
	return &Subscription{e}, nil
}

// Deferred is a client result to be answered after the handler returned.
type Deferred struct {
	conn   *Connection
	ticket C.uint64_t
}

// Defer, called inside a handler for a server call that awaits a result, lets the handler
// return at once and answer later with Deferred.Answer (what the handler returns is then
// ignored). ErrState when the call awaits no result or was answered already.
func (a Args) Defer() (*Deferred, error) {
	c := a.conn
	if c == nil || !c.enter() {
		return nil, errClosed
	}
	defer c.leave()
	d := &Deferred{conn: c}
	if rc := C.signalr_connection_defer_result(c.c, &d.ticket); rc != 0 {
		return nil, codeError(rc, "defer result")
	}
	return d, nil
}

// Answer sends the deferred result: value (encoded like a Handler's), or err's text as
// the error when err is not nil. Each Deferred is answered once (ErrState after). Safe from
// any goroutine; never blocks.
func (d *Deferred) Answer(value any, err error) error {
	var data []byte
	enc := EncodingJSON
	var cmsg *C.char
	if err != nil {
		b := append([]byte(err.Error()), 0) // NUL-terminated; copied by the call
		cmsg = (*C.char)(bytesPtr(b))
	} else if value != nil {
		var e error
		if data, enc, e = encodeValue(value); e != nil {
			return &Error{Code: ErrEncoding, Message: e.Error(), Op: "answer result"}
		}
	}
	c := d.conn
	if !c.enter() {
		return errClosed
	}
	defer c.leave()
	rc := C.signalr_connection_answer_result(c.c, d.ticket, bytesPtr(data), C.size_t(len(data)), C.int(enc), cmsg)
	return codeError(rc, "answer result")
}
