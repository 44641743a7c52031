package signalr

// #include <signalr/signalr.h>
import "C"

import (
	"fmt"
	"strings"
)

// Code is one of libsignalr's error codes (negative SIGNALR_E* values). Each code is an
// error itself, so the generated Err* sentinels work with errors.Is.
type Code int

// Error returns the library's description of the code.
func (c Code) Error() string { return C.GoString(C.signalr_strerror(C.int(c))) }

// Name returns the code's symbolic C name, e.g. "SIGNALR_EHUB" ("" for an unknown code).
func (c Code) Name() string {
	n := C.signalr_error_name(C.int(c))
	if n == nil {
		return ""
	}
	return C.GoString(n)
}

// Error is a failure reported by libsignalr, with the detail the library attached.
type Error struct {
	Code           Code   // the SIGNALR_E* code
	Message        string // the server's text where there is one (hub errors, Close, handshake)
	HTTPStatus     int    // the HTTP status involved, or 0
	Hint           string // what to do about it (troubleshooting guide), or ""
	AllowReconnect bool   // the server closed the connection and allowed reconnecting
	Op             string // what the binding was doing, e.g. "invoke Echo" ("" when unknown)
}

// Error formats the failure as "op: message (SIGNALR_EXXX, HTTP n); hint: ...".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	msg := e.Message
	if msg == "" {
		msg = e.Code.Error()
	}
	b.WriteString(msg)
	b.WriteString(" (")
	b.WriteString(e.Code.Name())
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ", HTTP %d", e.HTTPStatus)
	}
	b.WriteString(")")
	if e.Hint != "" {
		b.WriteString("; hint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Is reports whether target is e's Code (errors.Is(err, signalr.ErrHub)) or an *Error with
// the same code.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Code:
		return t == e.Code
	case *Error:
		return t.Code == e.Code
	}
	return false
}

// Unwrap returns the Code, so errors.As(err, &code) also works.
func (e *Error) Unwrap() error { return e.Code }

// errorFrom copies a borrowed signalr_error (nil gives nil).
func errorFrom(err *C.signalr_error, op string) error {
	if err == nil {
		return nil
	}
	e := &Error{
		Code:           Code(C.signalr_error_code(err)),
		HTTPStatus:     int(C.signalr_error_http_status(err)),
		AllowReconnect: C.signalr_error_allow_reconnect(err) != 0,
		Op:             op,
	}
	if m := C.signalr_error_message(err); m != nil {
		e.Message = C.GoString(m)
	}
	if h := C.signalr_error_hint(err); h != nil {
		e.Hint = C.GoString(h)
	}
	return e
}

// codeError wraps a bare return code (no detail object) as an *Error; 0 gives nil.
func codeError(rc C.int, op string) error {
	if rc == 0 {
		return nil
	}
	return &Error{Code: Code(rc), Op: op}
}

// Codes lists every error code (not SIGNALR_OK) of the loaded library, in its table's order
// (signalr_error_next). The generated sentinels are checked against it by the tests.
func Codes() []Code {
	var out []Code
	var cursor C.size_t
	var code C.int
	for C.signalr_error_next(&cursor, &code, nil, nil) != 0 {
		if code != 0 { // the table starts with SIGNALR_OK
			out = append(out, Code(code))
		}
	}
	return out
}
