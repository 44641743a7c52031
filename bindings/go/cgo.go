package signalr

// #cgo pkg-config: signalr
// #include <stdlib.h>
// #include <signalr/signalr.h>
// #include "trampolines.h"
import "C"

import "unsafe"

// strPtr returns a pointer to a Go string's bytes for a C call that copies them before it
// returns (libsignalr copies every input): no C.CString allocation per call.
func strPtr(s string) *C.char {
	if len(s) == 0 {
		return nil
	}
	return *(**C.char)(unsafe.Pointer(&s))
}

// bytesPtr returns a pointer to b's first byte (nil when empty), for copying C calls.
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}
