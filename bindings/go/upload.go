package signalr

// #include <stdlib.h>
// #include <signalr/signalr.h>
// #include "trampolines.h"
import "C"

import (
	"context"
	"reflect"
	"unsafe"
)

// upload is a channel argument to be sent as a client-to-server stream.
type upload struct{ ch reflect.Value }

// splitUploads separates receive-capable channel arguments (upload streams) from the
// plain ones, keeping both in order.
func splitUploads(args []any) ([]any, []upload) {
	n := 0
	for _, a := range args {
		if isUpload(a) {
			n++
		}
	}
	if n == 0 {
		return args, nil
	}
	plain := make([]any, 0, len(args)-n)
	ups := make([]upload, 0, n)
	for _, a := range args {
		if isUpload(a) {
			ups = append(ups, upload{reflect.ValueOf(a)})
		} else {
			plain = append(plain, a)
		}
	}
	return plain, ups
}

func isUpload(a any) bool {
	v := reflect.ValueOf(a)
	return v.Kind() == reflect.Chan && v.Type().ChanDir()&reflect.RecvDir != 0
}

func (c *Connection) openUploads(ups []upload) ([]C.uint64_t, error) {
	handles := make([]C.uint64_t, 0, len(ups))
	if !c.enter() {
		return nil, errClosed
	}
	defer c.leave()
	for range ups {
		var h C.uint64_t
		if rc := C.signalr_connection_upload_open(c.c, &h); rc != 0 {
			c.abortUploadsLocked(handles, "opening the upload streams failed")
			return nil, codeError(rc, "open upload stream")
		}
		handles = append(handles, h)
	}
	return handles, nil
}

func (c *Connection) abortUploads(handles []C.uint64_t, why string) {
	if len(handles) == 0 || !c.enter() {
		return
	}
	defer c.leave()
	c.abortUploadsLocked(handles, why)
}

func (c *Connection) abortUploadsLocked(handles []C.uint64_t, why string) {
	msg := C.CString(why)
	defer C.free(unsafe.Pointer(msg))
	for _, h := range handles {
		C.signalr_connection_upload_complete(c.c, h, msg)
	}
}

func (c *Connection) pumpUploads(ctx context.Context, ups []upload, handles []C.uint64_t) {
	for i, u := range ups {
		go c.pump(ctx, u.ch, handles[i])
	}
}

// pump sends each item received from ch on the upload stream h, completing it when ch is
// closed (or with an error when ctx ends or an item cannot be encoded). A full outgoing
// buffer (SIGNALR_EAGAIN) waits for SIGNALR_EVENT_WRITABLE; nothing sleeps.
func (c *Connection) pump(ctx context.Context, ch reflect.Value, h C.uint64_t) {
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: ch},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.closeCh)},
	}
	for {
		// The cheap non-blocking receive first; reflect.Select only when the channel is
		// empty (TryRecv: an invalid Value when empty, the zero element when closed).
		v, ok := ch.TryRecv()
		if !ok && !v.IsValid() {
			chosen, rv, rok := reflect.Select(cases)
			switch chosen {
			case 1:
				c.abortUploads([]C.uint64_t{h}, "canceled: "+ctx.Err().Error())
				return
			case 2:
				return // Close: the free completes what is left
			}
			v, ok = rv, rok
		}
		if !ok {
			c.completeUpload(h)
			return
		}
		data, enc, err := encodeValue(v.Interface())
		if err != nil {
			c.abortUploads([]C.uint64_t{h}, "upload item could not be encoded: "+err.Error())
			return
		}
		if !c.writeUpload(ctx, h, data, enc) {
			return
		}
	}
}

func (c *Connection) completeUpload(h C.uint64_t) {
	if c.enter() {
		C.signalr_connection_upload_complete(c.c, h, nil)
		c.leave()
	}
}

// writeUpload writes one item, waiting for room after SIGNALR_EAGAIN; false when the
// upload cannot go on (connection closed, ctx ended).
func (c *Connection) writeUpload(ctx context.Context, h C.uint64_t, data []byte, enc Encoding) bool {
	for {
		room := *c.writable.Load()
		if !c.enter() {
			return false
		}
		rc := C.signalr_connection_upload_write(c.c, h, bytesPtr(data), C.size_t(len(data)), C.int(enc))
		c.leave()
		switch rc {
		case 0:
			return true
		case C.SIGNALR_EAGAIN:
			c.waits.Add(1)
			c.pumpWaiting.Add(1)
			select {
			case <-room:
				c.pumpWaiting.Add(-1)
			case <-ctx.Done():
				c.abortUploads([]C.uint64_t{h}, "canceled: "+ctx.Err().Error())
				return false
			case <-c.closeCh:
				return false
			}
		default:
			return false // not connected any more: the invocation fails with the reason
		}
	}
}

// sendUploads is Send with upload streams: signalr_connection_send_with_uploads has no
// completion, so it returns once the call is accepted.
func (c *Connection) sendUploads(ctx context.Context, method string, p prepared) error {
	handles, err := c.openUploads(p.uploads)
	if err != nil {
		return err
	}
	if !c.enter() {
		return errClosed
	}
	m, ml := methodArgs(method)
	rc := C.gosr_send_uploads(c.c, m, ml, bytesPtr(p.args), C.size_t(len(p.args)), C.int(p.enc),
		&handles[0], C.size_t(len(handles)))
	c.leave()
	if rc != 0 {
		c.abortUploads(handles, "the send failed")
		return codeError(rc, "send "+method)
	}
	c.pumpUploads(ctx, p.uploads, handles)
	return nil
}
