package signalr

// #include <stdlib.h>
// #include <signalr/signalr.h>
// #include "trampolines.h"
import "C"

import (
	"context"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"unsafe"
)

// State is a connection's state.
type State int

const (
	Disconnected  State = C.SIGNALR_STATE_DISCONNECTED
	Connecting    State = C.SIGNALR_STATE_CONNECTING
	Connected     State = C.SIGNALR_STATE_CONNECTED
	Reconnecting  State = C.SIGNALR_STATE_RECONNECTING
	Disconnecting State = C.SIGNALR_STATE_DISCONNECTING
)

func (s State) String() string {
	switch s {
	case Disconnected:
		return "Disconnected"
	case Connecting:
		return "Connecting"
	case Connected:
		return "Connected"
	case Reconnecting:
		return "Reconnecting"
	case Disconnecting:
		return "Disconnecting"
	}
	return "State(?)"
}

// Connection is a SignalR hub connection. Create it with NewConnection and release it with
// Close. All methods are safe for concurrent use.
type Connection struct {
	c    *C.signalr_connection
	loop *eventLoop
	cfg  config
	enc  Encoding // what arguments are encoded in: the wire's encoding

	// C calls on c happen between enter and leave; Close frees c once closed is set and
	// users is back to 0, so no goroutine ever calls into a freed connection.
	users     atomic.Int64
	closed    atomic.Bool
	drained   chan struct{}
	drainOnce sync.Once
	closeCh   chan struct{} // closed by Close: waits for writable room give up
	closeOnce sync.Once
	closeErr  error

	inflight atomic.Int32 // Invokes in progress (picks the blocking or the completion path)

	// Sends that met SIGNALR_EAGAIN wait for this channel to be closed; each
	// SIGNALR_EVENT_WRITABLE closes it and installs a new one.
	writable    atomic.Pointer[chan struct{}]
	waits       atomic.Int64 // how often a send or upload write waited for room (tests)
	writables   atomic.Int64 // SIGNALR_EVENT_WRITABLE events seen (tests)
	pumpWaiting atomic.Int64 // upload writes waiting for room now (tests)

	tokenCtx    context.Context
	tokenCancel context.CancelFunc

	mu             sync.Mutex
	handles        []cgo.Handle // deleted at Close, once no callback can run
	onClose        []func(error)
	onReconnecting []func(error)
	onReconnected  []func(string)
	onSendFailed   []func(error)
}

// NewConnection creates a disconnected connection to the hub at url (http, https, ws or
// wss) with its own libsignalr context: a C I/O thread and an event goroutine, released
// by Close. It does not block on the network.
func NewConnection(url string, opts ...Option) (*Connection, error) {
	conn := &Connection{drained: make(chan struct{}), closeCh: make(chan struct{}), enc: EncodingJSON}
	for _, o := range opts {
		if err := o(&conn.cfg); err != nil {
			return nil, err
		}
	}
	for _, p := range conn.cfg.pairs {
		if p[0] == "protocol" && p[1] == "messagepack" {
			conn.enc = EncodingMsgPack
		}
	}
	w := make(chan struct{})
	conn.writable.Store(&w)
	conn.tokenCtx, conn.tokenCancel = context.WithCancel(context.Background())

	var b *C.signalr_builder
	if rc := C.signalr_builder_new(&b); rc != 0 {
		return nil, codeError(rc, "builder")
	}
	defer C.signalr_builder_free(b)
	pairs := append([][2]string{{"url", url}, {"binding", bindingName()}}, conn.cfg.pairs...)
	for _, p := range pairs {
		if err := builderSet(b, p[0], p[1]); err != nil {
			return nil, err
		}
	}
	C.gosr_set_lifecycle(b, conn.handle(conn))
	if conn.cfg.logger != nil {
		C.gosr_set_log(b, conn.handle(conn))
	}
	if conn.cfg.token != nil {
		C.gosr_set_token(b, conn.handle(conn))
	}
	if conn.cfg.retry != nil {
		C.gosr_set_retry(b, conn.handle(conn))
	}
	loop, err := newEventLoop()
	if err != nil {
		conn.deleteHandles()
		return nil, err
	}
	conn.loop = loop
	var errbuf [256]C.char
	if rc := C.signalr_builder_build(b, loop.ctx, &conn.c, &errbuf[0], C.size_t(len(errbuf))); rc != 0 {
		go loop.run()
		loop.stop()
		conn.deleteHandles()
		return nil, &Error{Code: Code(rc), Message: C.GoString(&errbuf[0]), Op: "build connection"}
	}
	go loop.run()
	return conn, nil
}

func builderSet(b *C.signalr_builder, k, v string) error {
	ck, cv := C.CString(k), C.CString(v)
	defer C.free(unsafe.Pointer(ck))
	defer C.free(unsafe.Pointer(cv))
	var errbuf [256]C.char
	if rc := C.signalr_builder_set(b, ck, cv, &errbuf[0], C.size_t(len(errbuf))); rc != 0 {
		return &Error{Code: Code(rc), Message: C.GoString(&errbuf[0]), Op: "option " + k}
	}
	return nil
}

// handle makes a cgo.Handle for user data the library keeps until the connection is freed.
func (c *Connection) handle(v any) C.uintptr_t {
	h := cgo.NewHandle(v)
	c.mu.Lock()
	c.handles = append(c.handles, h)
	c.mu.Unlock()
	return C.uintptr_t(h)
}

func (c *Connection) deleteHandles() {
	c.mu.Lock()
	hs := c.handles
	c.handles = nil
	c.mu.Unlock()
	for _, h := range hs {
		h.Delete()
	}
}

// enter admits a call into C; false once Close has begun.
func (c *Connection) enter() bool {
	c.users.Add(1)
	if c.closed.Load() {
		c.leave()
		return false
	}
	return true
}

func (c *Connection) leave() {
	if c.users.Add(-1) == 0 && c.closed.Load() {
		c.drainOnce.Do(func() { close(c.drained) })
	}
}

var errClosed = &Error{Code: ErrClosed, Message: "the connection was closed (Close)"}

// Start connects (negotiate, transport, handshake) and returns when connected or failed.
// When ctx ends first, the attempt is stopped and ctx.Err() returned. Blocking; not
// callable from a handler (ErrRecursive).
func (c *Connection) Start(ctx context.Context) error {
	if c.loop.onLoop() {
		return &Error{Code: ErrRecursive, Op: "start", Message: "Start from a callback would deadlock"}
	}
	done := make(chan error, 1)
	if !c.enter() {
		return errClosed
	}
	h := cgo.NewHandle(completion(func(_ Value, err error) { done <- err }, "start"))
	rc := C.gosr_start(c.c, C.uintptr_t(h))
	c.leave()
	if rc != 0 {
		h.Delete()
		return codeError(rc, "start")
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		c.stopAsync()
		return ctx.Err()
	}
}

// Stop closes the connection gracefully (pending invocations fail with ErrClosed) and
// returns once stopped, at most about the close timeout (default 5 s) later, or ctx.Err()
// when ctx ends first (the stop goes on). The connection can be started again; Close
// releases it. Blocking; not callable from a handler (ErrRecursive).
func (c *Connection) Stop(ctx context.Context) error {
	if c.loop.onLoop() {
		return &Error{Code: ErrRecursive, Op: "stop", Message: "Stop from a callback would deadlock"}
	}
	done := make(chan error, 1)
	if !c.enter() {
		return errClosed
	}
	h := cgo.NewHandle(completion(func(_ Value, err error) { done <- err }, "stop"))
	rc := C.gosr_stop(c.c, C.uintptr_t(h))
	c.leave()
	if rc != 0 {
		h.Delete()
		return codeError(rc, "stop")
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Connection) stopAsync() {
	if c.enter() {
		C.gosr_stop(c.c, 0)
		c.leave()
	}
}

// Close stops the connection if needed (aborting the transport), completes every pending
// operation with ErrClosed, and releases the connection, its context, I/O thread and event
// goroutine. It blocks until then (from a handler it returns before the event goroutine
// has finished). Calling it again does nothing.
func (c *Connection) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.closeCh)
		c.tokenCancel()
		// A blocking invoke stays inside C until its call completes: the stop completes it
		// with SIGNALR_ECLOSED, so the wait for the users below ends.
		C.gosr_stop(c.c, 0)
		if c.users.Load() == 0 {
			c.drainOnce.Do(func() { close(c.drained) })
		}
		<-c.drained
		C.signalr_connection_free(c.c) // runs pending completions (ErrClosed) here
		self := c.loop.onLoop()
		c.loop.stop()
		if !self {
			c.deleteHandles()
		} else {
			go func() { <-c.loop.done; c.deleteHandles() }()
		}
	})
	return c.closeErr
}

// State returns the connection's current state. Never blocks.
func (c *Connection) State() State {
	if !c.enter() {
		return Disconnected
	}
	defer c.leave()
	return State(C.signalr_connection_state(c.c))
}

// ConnectionID returns the id the server gave the connection ("" when none, e.g. with
// skip negotiation, or when not connected). Never blocks.
func (c *Connection) ConnectionID() string {
	if !c.enter() {
		return ""
	}
	defer c.leave()
	var buf [256]C.char
	if C.signalr_connection_id(c.c, &buf[0], C.size_t(len(buf))) != 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

// Encoding returns the encoding of the connection's hub protocol (how Values arrive).
func (c *Connection) Encoding() Encoding { return c.enc }
