package signalr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestInvoke(t *testing.T) {
	eachCombo(t, func(t *testing.T, c combo) {
		conn := connect(t, "/hubs/test", c)
		var transport, protocol string
		invoke(t, conn, &transport, "GetTransport")
		want := map[Transport]string{WebSockets: "WebSockets", ServerSentEvents: "ServerSentEvents", LongPolling: "LongPolling"}
		if transport != want[c.transport] {
			t.Fatalf("transport %s", transport)
		}
		if invoke(t, conn, &protocol, "GetProtocol"); protocol != c.protocol {
			t.Fatalf("protocol %s", protocol)
		}
		var s string
		if invoke(t, conn, &s, "Echo", "héllo ✓"); s != "héllo ✓" {
			t.Fatalf("Echo %q", s)
		}
		var n int64
		if invoke(t, conn, &n, "Add", 40, 2); n != 42 {
			t.Fatalf("Add %d", n)
		}
		if invoke(t, conn, &n, "EchoInt", int64(1)<<53); n != 1<<53 {
			t.Fatalf("EchoInt %d", n)
		}
		type complex struct {
			Name   string
			Number int
			Value  float64
			Flag   bool
			Items  []string
			Map    map[string]int
			Nested *complex
		}
		in := complex{Name: "n", Number: 7, Value: 1.5, Flag: true, Items: []string{"a"}, Map: map[string]int{"k": 1},
			Nested: &complex{Name: "inner", Items: []string{}, Map: map[string]int{}}}
		var out complex
		if invoke(t, conn, &out, "EchoObject", in); out.Name != "n" || out.Nested == nil || out.Nested.Name != "inner" ||
			out.Map["k"] != 1 || out.Value != 1.5 {
			t.Fatalf("EchoObject %+v", out)
		}
		var b []byte
		if invoke(t, conn, &b, "EchoBytes", []byte{0, 1, 255}); string(b) != "\x00\x01\xff" {
			t.Fatalf("EchoBytes %v", b)
		}
		// A void method gives a null Value; raw bytes are in the wire's encoding.
		v, err := conn.Invoke(testCtx(t), "NoReturn")
		if err != nil || v.String() != "null" {
			t.Fatalf("NoReturn %v %v", v, err)
		}
		v, err = conn.Invoke(testCtx(t), "Echo", "raw")
		if err != nil {
			t.Fatal(err)
		}
		if c.protocol == "messagepack" {
			if v.Encoding() != EncodingMsgPack || string(v.Raw()) != "\xa3raw" {
				t.Fatalf("raw msgpack % x", v.Raw())
			}
			// MsgPack arguments pass as they are.
			if invoke(t, conn, &s, "Concat", MsgPack{0xa1, 'a'}, "b"); s != "ab" {
				t.Fatalf("Concat %q", s)
			}
		} else if v.Encoding() != EncodingJSON || string(v.Raw()) != `"raw"` {
			t.Fatalf("raw json %s", v.Raw())
		}
		// A cancellable ctx takes the asynchronous path; concurrent calls too.
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ctx := context.Background()
				if i%2 == 0 {
					ctx = testCtx(t)
				}
				v, err := conn.Invoke(ctx, "Echo", fmt.Sprint(i))
				var got string
				if err == nil {
					err = v.Decode(&got)
				}
				if err == nil && got != fmt.Sprint(i) {
					err = fmt.Errorf("call %d got %q", i, got)
				}
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestHubErrors(t *testing.T) {
	eachCombo(t, func(t *testing.T, c combo) {
		conn := connect(t, "/hubs/test", c)
		for _, ctx := range []context.Context{context.Background(), testCtx(t)} {
			_, err := conn.Invoke(ctx, "Throw", "boom")
			var e *Error
			if !errors.Is(err, ErrHub) || !errors.As(err, &e) || !strings.Contains(e.Message, "InvalidOperationException: boom") {
				t.Fatalf("Throw: %v", err)
			}
			_, err = conn.Invoke(ctx, "ThrowHubException", "hub-boom")
			if !errors.Is(err, ErrHub) || !strings.Contains(err.Error(), "hub-boom") {
				t.Fatalf("ThrowHubException: %v", err)
			}
		}
		// Wrong argument types are a hub error too, and the connection stays usable.
		if _, err := conn.Invoke(testCtx(t), "Add", "x", "y"); !errors.Is(err, ErrHub) {
			t.Fatalf("Add strings: %v", err)
		}
		var s string
		invoke(t, conn, &s, "Echo", "still here")
	})
}

func TestInvokeContextAndClose(t *testing.T) {
	c := combo{WebSockets, "json"}
	conn := connect(t, "/hubs/test", c)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		close(started)
		_, err := conn.Invoke(ctx, "DelayedEcho", 10000, "late")
		res <- err
	}()
	<-started
	cancel()
	if err := waitFor(t, res, "canceled invoke"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled invoke: %v", err)
	}
	// Close completes pending calls, blocking (Background) and asynchronous, with ErrClosed.
	conn2 := connect(t, "/hubs/test", c)
	out := make(chan error, 2)
	for _, ctx := range []context.Context{context.Background(), testCtx(t)} {
		ctx := ctx
		go func() {
			_, err := conn2.Invoke(ctx, "DelayedEcho", 10000, "never")
			out <- err
		}()
	}
	// Whether the calls reached the library before Close or not, they end with ErrClosed.
	conn2.Close()
	for i := 0; i < 2; i++ {
		if err := waitFor(t, out, "invoke ended by Close"); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
	if _, err := conn2.Invoke(context.Background(), "Echo", "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("invoke after Close: %v", err)
	}
	if conn2.State() != Disconnected {
		t.Fatal("state after Close")
	}
}

func TestStartErrors(t *testing.T) {
	url := hub(t, "/does-not-exist")
	conn, err := NewConnection(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Start(testCtx(t))
	var e *Error
	if !errors.As(err, &e) || e.HTTPStatus != 404 || e.Hint == "" || !errors.Is(err, ErrNotfound) {
		t.Fatalf("404 negotiate: %#v", err)
	}
	if _, err := NewConnection(url, WithOption("no_such_option", "1")); !errors.Is(err, ErrInval) {
		t.Fatalf("unknown option: %v", err)
	}
	// Handshake refused: MessagePack on a JSON-only hub.
	conn2, _ := NewConnection(hub(t, "/hubs/json-only"), WithProtocol("messagepack"), WithTransports(WebSockets))
	defer conn2.Close()
	if err := conn2.Start(testCtx(t)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("json-only: %v", err)
	}
}

func TestAccessTokenProvider(t *testing.T) {
	tokenURL := hub(t, "/token?user=alice")
	calls := 0
	var mu sync.Mutex
	conn := connect(t, "/hubs/auth", combo{WebSockets, "json"}, WithAccessTokenProvider(func(ctx context.Context) (string, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return httpGet(ctx, tokenURL)
	}))
	var user string
	if invoke(t, conn, &user, "GetUserName"); user != "alice" {
		t.Fatalf("user %q", user)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls < 1 {
		t.Fatal("provider not called")
	}
	// A failing provider fails the start.
	bad, _ := NewConnection(hub(t, "/hubs/auth"), WithAccessTokenProvider(func(context.Context) (string, error) {
		return "", errors.New("no token today")
	}))
	defer bad.Close()
	if err := bad.Start(testCtx(t)); err == nil {
		t.Fatal("start without a token succeeded")
	}
}
