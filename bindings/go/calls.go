package signalr

// #include <signalr/signalr.h>
// #include "trampolines.h"
import "C"

import (
	"context"
	"runtime/cgo"
	"unsafe"
)

// prepared holds a call's encoded arguments and the upload channels found among them.
type prepared struct {
	args    []byte
	enc     Encoding
	uploads []upload
}

// prepare encodes args in the connection's encoding, so results come back as the wire
// carries them (raw MessagePack on a MessagePack connection). Receive-capable channels
// among args become upload streams, as the official clients treat ChannelReader arguments.
func (c *Connection) prepare(args []any) (prepared, error) {
	plain, ups := splitUploads(args)
	b, enc, err := encodeArgs(plain)
	if err == nil && enc == EncodingJSON && c.enc == EncodingMsgPack {
		b, err = JSONToMsgPack(b)
		enc = EncodingMsgPack
	}
	if err != nil {
		return prepared{}, &Error{Code: ErrEncoding, Message: err.Error(), Op: "encode arguments"}
	}
	return prepared{b, enc, ups}, nil
}

func methodArgs(method string) (*C.char, C.size_t) { return strPtr(method), C.size_t(len(method)) }

// Invoke calls a hub method and waits for its result, like the official clients'
// InvokeAsync. args are encoded with encoding/json (MsgPack values pass as they are); a
// receive-only or bidirectional channel argument is an upload stream (see Stream). The
// result is in the wire's encoding; a method returning nothing gives a null Value. A hub
// exception gives an *Error with ErrHub and the server's text. When ctx ends first,
// ctx.Err() is returned (the call is not retracted; its late result is dropped).
//
// Blocking; safe for concurrent use. With no other Invoke in flight on the connection, the
// waiting goroutine waits inside C (signalr_call_wait, in 50 ms slices when ctx can end, so
// that ctx is seen), which runs the connection's I/O on that thread, and the result never
// overtakes handlers for what the server sent before it (SIGNALR_CALL_ORDERED); otherwise
// the completion comes through the event goroutine. Not callable from a handler
// (ErrRecursive).
func (c *Connection) Invoke(ctx context.Context, method string, args ...any) (Value, error) {
	p, err := c.prepare(args)
	if err != nil {
		return Value{}, err
	}
	// Measured: the blocking path wins for calls one at a time (an echo loop: about half
	// the CPU), completions through the event goroutine win for many concurrent calls.
	n := c.inflight.Add(1)
	defer c.inflight.Add(-1)
	if n == 1 && len(p.uploads) == 0 {
		return c.invokeBlocking(ctx, method, p)
	}
	if c.loop.onLoop() {
		return Value{}, &Error{Code: ErrRecursive, Op: "invoke " + method,
			Message: "Invoke from a handler would deadlock: call it from another goroutine"}
	}
	type outcome struct {
		v   Value
		err error
	}
	done := make(chan outcome, 1)
	h := cgo.NewHandle(completion(func(v Value, err error) { done <- outcome{v, err} }, "invoke "+method))
	var handles []C.uint64_t
	if len(p.uploads) > 0 {
		if handles, err = c.openUploads(p.uploads); err != nil {
			h.Delete()
			return Value{}, err
		}
	}
	if !c.enter() {
		h.Delete()
		return Value{}, errClosed
	}
	m, ml := methodArgs(method)
	var rc C.int
	if len(handles) == 0 {
		rc = C.gosr_invoke(c.c, m, ml, bytesPtr(p.args), C.size_t(len(p.args)), C.int(p.enc), C.uintptr_t(h))
	} else {
		rc = C.gosr_invoke_uploads(c.c, m, ml, bytesPtr(p.args), C.size_t(len(p.args)), C.int(p.enc),
			&handles[0], C.size_t(len(handles)), C.uintptr_t(h))
	}
	c.leave()
	if rc != 0 {
		h.Delete()
		c.abortUploads(handles, "the invocation failed")
		return Value{}, codeError(rc, "invoke "+method)
	}
	c.pumpUploads(ctx, p.uploads, handles)
	select {
	case o := <-done:
		return o.v, o.err
	case <-ctx.Done():
		return Value{}, ctx.Err()
	}
}

// invokeBlocking waits inside C: in poll mode the calling thread runs the I/O while it
// waits. It returns SIGNALR_ERECURSIVE by itself when called from a callback. Close
// completes the call (ErrClosed), so the wait ends before the connection is freed.
func (c *Connection) invokeBlocking(ctx context.Context, method string, p prepared) (Value, error) {
	if !c.enter() {
		return Value{}, errClosed
	}
	defer c.leave()
	var call *C.signalr_call
	m, ml := methodArgs(method)
	rc := C.gosr_invoke_call(c.c, m, ml, bytesPtr(p.args), C.size_t(len(p.args)), C.int(p.enc),
		C.SIGNALR_CALL_ORDERED, &call)
	if rc != 0 {
		return Value{}, codeError(rc, "invoke "+method)
	}
	defer C.signalr_call_free(call)
	slice := C.int32_t(-1)
	if ctx.Done() != nil {
		slice = 50
	}
	var res unsafe.Pointer
	var n C.size_t
	var cerr *C.signalr_error
	for {
		rc = C.signalr_call_wait(call, slice, &res, &n, &cerr)
		if rc != C.SIGNALR_EAGAIN {
			break
		}
		if err := ctx.Err(); err != nil {
			return Value{}, err // the call goes on; its result is dropped with the handle
		}
	}
	if rc != 0 {
		err := errorFrom(cerr, "invoke "+method)
		C.signalr_error_free(cerr)
		if err == nil {
			err = codeError(rc, "invoke "+method)
		}
		return Value{}, err
	}
	v := Value{data: C.GoBytes(res, C.int(n)), enc: p.enc}
	C.signalr_free(res)
	return v, nil
}

// Send calls a hub method without waiting for a result, like SendAsync: it returns once
// the message was handed to the transport (or buffered for replay with stateful
// reconnect), or with the failure. When the outgoing buffer is full it waits for room
// (SIGNALR_EVENT_WRITABLE), never sleeps. ctx ending first returns ctx.Err() (a message
// already accepted may still be sent). Channel arguments are upload streams (pumped in the
// background; Send returns once the call is accepted).
//
// From a handler Send does not wait for the write (that would stall the event goroutine):
// it returns once accepted, a later failure goes to OnSendFailed, and a full buffer gives
// ErrAgain.
func (c *Connection) Send(ctx context.Context, method string, args ...any) error {
	p, err := c.prepare(args)
	if err != nil {
		return err
	}
	if len(p.uploads) > 0 {
		return c.sendUploads(ctx, method, p)
	}
	inLoop := c.loop.onLoop()
	m, ml := methodArgs(method)
	for {
		room := *c.writable.Load() // taken before the call: a WRITABLE after it closes this one
		done := make(chan error, 1)
		op := "send " + method
		h := cgo.NewHandle(completion(func(_ Value, err error) {
			if inLoop && err != nil {
				c.sendFailed(err)
			}
			done <- err
		}, op))
		if !c.enter() {
			h.Delete()
			return errClosed
		}
		rc := C.gosr_send(c.c, m, ml, bytesPtr(p.args), C.size_t(len(p.args)), C.int(p.enc), C.uintptr_t(h))
		c.leave()
		if rc == 0 {
			if inLoop {
				return nil
			}
			select {
			case err := <-done:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		h.Delete()
		if rc != C.SIGNALR_EAGAIN || inLoop {
			return codeError(rc, op)
		}
		c.waits.Add(1)
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closeCh:
			return errClosed
		}
	}
}
