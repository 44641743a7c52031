package signalr

// #include <signalr/signalr.h>
// #include "trampolines.h"
import "C"

import (
	"context"
	"errors"
	"runtime/cgo"
	"sync"
)

// StreamItem is one element of a server-to-client stream: a Value, or, as the last
// element before the channel closes, the error that ended the stream.
type StreamItem struct {
	Value Value
	Err   error
}

// streamCall buffers items between the event goroutine (which must never block on a slow
// reader) and the goroutine that feeds the caller's channel. The buffer is unbounded, as
// the official clients' stream channels are.
type streamCall struct {
	mu     sync.Mutex
	queue  []StreamItem
	ended  bool
	final  error
	notify chan struct{} // capacity 1: "queue changed"
	op     string
}

func (s *streamCall) item(v Value) {
	s.mu.Lock()
	s.queue = append(s.queue, StreamItem{Value: v})
	s.mu.Unlock()
	s.poke()
}

func (s *streamCall) complete(_ *C.signalr_value, err *C.signalr_error) {
	e := errorFrom(err, s.op)
	s.mu.Lock()
	s.ended, s.final = true, e
	s.mu.Unlock()
	s.poke()
}

func (s *streamCall) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Stream starts a server-to-client stream (a hub method returning IAsyncEnumerable or a
// ChannelReader) and returns a channel of its items in order. The channel is closed when the
// stream ends; a stream that failed (hub error, lost connection) sends a last item with Err
// set first. Canceling ctx cancels the stream on the server (CancelInvocation) and closes
// the channel without an error item.
//
// Channel arguments (chan T or <-chan T) are upload streams, as in the official clients:
// each item received from the channel is sent to the hub method; closing the channel
// completes the upload. Items wait for room when the outgoing buffer is full.
//
// Never blocks on the network; the returned error is for a call that could not start.
// Items are buffered without bound until read: read them, or cancel ctx.
func (c *Connection) Stream(ctx context.Context, method string, args ...any) (<-chan StreamItem, error) {
	p, err := c.prepare(args)
	if err != nil {
		return nil, err
	}
	s := &streamCall{notify: make(chan struct{}, 1), op: "stream " + method}
	h := cgo.NewHandle(s)
	var handles []C.uint64_t
	if len(p.uploads) > 0 {
		if handles, err = c.openUploads(p.uploads); err != nil {
			h.Delete()
			return nil, err
		}
	}
	if !c.enter() {
		h.Delete()
		return nil, errClosed
	}
	var id C.uint64_t
	m, ml := methodArgs(method)
	var rc C.int
	if len(handles) == 0 {
		rc = C.gosr_stream(c.c, m, ml, bytesPtr(p.args), C.size_t(len(p.args)), C.int(p.enc), C.uintptr_t(h), &id)
	} else {
		rc = C.gosr_stream_uploads(c.c, m, ml, bytesPtr(p.args), C.size_t(len(p.args)), C.int(p.enc),
			&handles[0], C.size_t(len(handles)), C.uintptr_t(h), &id)
	}
	c.leave()
	if rc != 0 {
		h.Delete()
		c.abortUploads(handles, "the stream invocation failed")
		return nil, codeError(rc, s.op)
	}
	c.pumpUploads(ctx, p.uploads, handles)
	out := make(chan StreamItem)
	go c.forward(ctx, s, id, out)
	return out, nil
}

// forward moves buffered items to out until the stream ends or ctx is canceled.
func (c *Connection) forward(ctx context.Context, s *streamCall, id C.uint64_t, out chan<- StreamItem) {
	defer close(out)
	for {
		s.mu.Lock()
		batch, ended, final := s.queue, s.ended, s.final
		s.queue = nil
		s.mu.Unlock()
		for _, it := range batch {
			select {
			case out <- it:
			case <-ctx.Done():
				c.cancelStream(id)
				return
			}
		}
		if ended {
			if final != nil && !errors.Is(final, ErrCanceled) {
				select {
				case out <- StreamItem{Err: final}:
				case <-ctx.Done():
				}
			}
			return
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			c.cancelStream(id)
			return
		}
	}
}

func (c *Connection) cancelStream(id C.uint64_t) {
	if c.enter() {
		C.signalr_connection_stream_cancel(c.c, id)
		c.leave()
	}
}
