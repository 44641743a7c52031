package signalr

// The Go ends of the C trampolines (trampolines.c). They run inside signalr_context_poll on
// the event goroutine, or inside signalr_connection_free on the closing goroutine. Values
// they receive are borrowed: copied before returning. A panic in user code is recovered
// and logged (it must not unwind through C frames, which hold the library's locks).

// #include <stdlib.h>
// #include <signalr/signalr.h>
import "C"

import (
	"fmt"
	"runtime/cgo"
	"time"
	"unsafe"
)

// completer receives the completion of one operation (start, stop, invoke, send, stream end).
type completer interface {
	complete(result *C.signalr_value, err *C.signalr_error)
}

// funcCompleter converts the borrowed result and error and calls fn.
type funcCompleter struct {
	fn func(Value, error)
	op string
}

func (f *funcCompleter) complete(result *C.signalr_value, err *C.signalr_error) {
	f.fn(valueFrom(result), errorFrom(err, f.op))
}

func completion(fn func(Value, error), op string) completer { return &funcCompleter{fn, op} }

//export goCompletion
func goCompletion(h C.uintptr_t, result *C.signalr_value, err *C.signalr_error) {
	handle := cgo.Handle(h)
	c := handle.Value().(completer)
	handle.Delete() // every completion runs exactly once
	c.complete(result, err)
}

// itemReceiver receives the items of a server-to-client stream.
type itemReceiver interface {
	item(v Value)
}

//export goItem
func goItem(h C.uintptr_t, item *C.signalr_value) {
	cgo.Handle(h).Value().(itemReceiver).item(valueFrom(item))
}

//export goHandler
func goHandler(h C.uintptr_t, args *C.signalr_value, result *unsafe.Pointer, resultLen *C.size_t,
	resultEnc *C.int, errMsg **C.char) (rc C.int) {
	e := cgo.Handle(h).Value().(*handlerEntry)
	if e.removed.Load() {
		return 0
	}
	defer func() {
		if p := recover(); p != nil {
			e.conn.logf(LogError, "handler for %q panicked: %v", e.method, p)
			*errMsg = C.CString(fmt.Sprintf("client handler panicked: %v", p))
			rc = C.SIGNALR_EHUB
		}
	}()
	v, err := e.fn(Args{Value: valueFrom(args), conn: e.conn})
	if err != nil {
		*errMsg = C.CString(err.Error())
		return C.SIGNALR_EHUB
	}
	if v == nil {
		return 0
	}
	b, enc, err := encodeValue(v)
	if err != nil {
		*errMsg = C.CString("client result could not be encoded: " + err.Error())
		return C.SIGNALR_EENCODING
	}
	*result = C.CBytes(b) // freed by the trampoline at the next handler call
	*resultLen = C.size_t(len(b))
	*resultEnc = C.int(enc)
	return 0
}

//export goLifecycle
func goLifecycle(h C.uintptr_t, event C.int, err *C.signalr_error) {
	c := cgo.Handle(h).Value().(*Connection)
	c.lifecycle(int(event), err)
}

//export goLog
func goLog(h C.uintptr_t, level C.int, message *C.char) {
	c := cgo.Handle(h).Value().(*Connection)
	defer c.recoverUser("logger")
	c.cfg.logger(LogLevel(level), C.GoString(message))
}

//export goToken
func goToken(h C.uintptr_t) C.int {
	c := cgo.Handle(h).Value().(*Connection)
	go c.fetchToken() // the provider may block: answered later with answer_token
	return C.SIGNALR_EAGAIN
}

//export goRetry
func goRetry(h C.uintptr_t, attempt C.uint32_t, elapsedMs C.int64_t, err *C.signalr_error) (delay C.int32_t) {
	c := cgo.Handle(h).Value().(*Connection)
	defer func() {
		if p := recover(); p != nil {
			c.logf(LogError, "retry policy panicked: %v", p)
			delay = -1
		}
	}()
	d, ok := c.cfg.retry.NextRetryDelay(RetryContext{
		Attempt: uint32(attempt),
		Elapsed: time.Duration(elapsedMs) * time.Millisecond,
		Reason:  errorFrom(err, "reconnect"),
	})
	if !ok {
		return -1
	}
	if ms := d.Milliseconds(); ms < 1<<31-1 {
		return C.int32_t(ms)
	}
	return 1<<31 - 1
}
