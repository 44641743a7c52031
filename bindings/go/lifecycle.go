package signalr

// #include <stdlib.h>
// #include <signalr/signalr.h>
import "C"

import (
	"fmt"
	"unsafe"
)

// OnClose registers fn to run when the connection closes: err is nil when the application
// stopped it or the server sent a Close without an error (as the official clients), else why
// (server Close with an error, timeout, transport failure, retries exhausted).
// Callbacks run on the event goroutine, in registration order; keep them quick.
func (c *Connection) OnClose(fn func(err error)) {
	c.mu.Lock()
	c.onClose = append(c.onClose, fn)
	c.mu.Unlock()
}

// OnReconnecting registers fn to run when the connection was lost and automatic
// reconnect begins; err says why it was lost. Runs on the event goroutine.
func (c *Connection) OnReconnecting(fn func(err error)) {
	c.mu.Lock()
	c.onReconnecting = append(c.onReconnecting, fn)
	c.mu.Unlock()
}

// OnReconnected registers fn to run when a reconnect succeeded, with the new connection
// id. Runs on the event goroutine.
func (c *Connection) OnReconnected(fn func(connectionID string)) {
	c.mu.Lock()
	c.onReconnected = append(c.onReconnected, fn)
	c.mu.Unlock()
}

// OnSendFailed registers fn for messages the library had accepted and could not send
// (SIGNALR_EVENT_SEND_FAILED), and for sends made from handlers that failed after Send
// returned. Runs on the event goroutine.
func (c *Connection) OnSendFailed(fn func(err error)) {
	c.mu.Lock()
	c.onSendFailed = append(c.onSendFailed, fn)
	c.mu.Unlock()
}

func (c *Connection) lifecycle(event int, cerr *C.signalr_error) {
	switch event {
	case C.SIGNALR_EVENT_WRITABLE:
		next := make(chan struct{})
		close(*c.writable.Swap(&next))
		c.writables.Add(1)
		return
	case C.SIGNALR_EVENT_CLOSED:
		err := errorFrom(cerr, "connection closed")
		c.mu.Lock()
		fns := c.onClose
		c.mu.Unlock()
		for _, fn := range fns {
			c.callUser("OnClose", func() { fn(err) })
		}
	case C.SIGNALR_EVENT_RECONNECTING:
		err := errorFrom(cerr, "connection lost")
		c.mu.Lock()
		fns := c.onReconnecting
		c.mu.Unlock()
		for _, fn := range fns {
			c.callUser("OnReconnecting", func() { fn(err) })
		}
	case C.SIGNALR_EVENT_RECONNECTED:
		id := c.ConnectionID()
		c.mu.Lock()
		fns := c.onReconnected
		c.mu.Unlock()
		for _, fn := range fns {
			c.callUser("OnReconnected", func() { fn(id) })
		}
	case C.SIGNALR_EVENT_SEND_FAILED:
		c.sendFailed(errorFrom(cerr, "send"))
	case C.SIGNALR_EVENT_SLOW:
		c.logf(LogWarning, "nothing received from the server for 2/3 of the server timeout")
	}
}

func (c *Connection) sendFailed(err error) {
	c.mu.Lock()
	fns := c.onSendFailed
	c.mu.Unlock()
	if len(fns) == 0 {
		c.logf(LogError, "%v", err)
	}
	for _, fn := range fns {
		c.callUser("OnSendFailed", func() { fn(err) })
	}
}

// callUser runs application code from a callback; a panic is logged, not propagated
// through the C frames below.
func (c *Connection) callUser(what string, fn func()) {
	defer c.recoverUser(what)
	fn()
}

func (c *Connection) recoverUser(what string) {
	if p := recover(); p != nil {
		c.logf(LogError, "%s panicked: %v", what, p)
	}
}

// logf logs a binding-side message through the configured Logger (if any).
func (c *Connection) logf(level LogLevel, format string, args ...any) {
	if c.cfg.logger == nil {
		return
	}
	func() {
		defer func() { _ = recover() }()
		c.cfg.logger(level, "signalr (Go): "+fmt.Sprintf(format, args...))
	}()
}

// fetchToken runs the access-token provider on its own goroutine and answers the library.
func (c *Connection) fetchToken() {
	token, err := func() (t string, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("access token provider panicked: %v", p)
			}
		}()
		return c.cfg.token(c.tokenCtx)
	}()
	if !c.enter() {
		return
	}
	defer c.leave()
	if err != nil {
		c.logf(LogError, "access token provider: %v", err)
		C.signalr_connection_answer_token(c.c, nil, C.SIGNALR_EAUTH)
		return
	}
	ct := C.CString(token)
	defer C.free(unsafe.Pointer(ct))
	C.signalr_connection_answer_token(c.c, ct, 0)
}
