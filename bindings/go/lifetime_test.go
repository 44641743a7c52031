package signalr

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// Connections release their event goroutine and C thread on Close; Close is idempotent and
// callable from a handler.
func TestCloseReleases(t *testing.T) {
	url := hub(t, "/hubs/test")
	base := runtime.NumGoroutine()
	for i := 0; i < 10; i++ {
		conn, err := NewConnection(url, WithTransports(WebSockets))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := conn.Start(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		}
		conn.Close()
		conn.Close()
	}
	// The forwarders and pumps are gone with their connections; the runtime may keep a few
	// goroutines of its own (netpoll, timers): allow a small margin.
	deadline := time.Now().Add(testWait)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > base+2 {
		t.Fatalf("%d goroutines after closing, %d before", n, base)
	}

	// Close from a handler: pending calls end with ErrClosed, the handler returns.
	conn := connect(t, "/hubs/test", combo{WebSockets, "json"})
	closed := make(chan error, 1)
	conn.On("Callback", func(Args) (any, error) {
		closed <- conn.Close()
		return nil, nil
	})
	if err := conn.Send(testCtx(t), "Callback", "x"); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, closed, "Close from a handler"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Invoke(context.Background(), "Echo", "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := conn.On("x", func(Args) (any, error) { return nil, nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("On after Close: %v", err)
	}
}

func TestSendFromHandlerAndUploadSend(t *testing.T) {
	conn := connect(t, "/hubs/test", combo{WebSockets, "messagepack"})
	got := make(chan string, 1)
	conn.On("Callback", func(a Args) (any, error) {
		var s string
		a.Decode(&s)
		if s == "first" { // a Send from a handler does not wait for the write
			return nil, conn.Send(context.Background(), "Callback", "second")
		}
		got <- s
		return nil, nil
	})
	invoke(t, conn, nil, "Callback", "first")
	if s := waitFor(t, got, "Callback from a handler's Send"); s != "second" {
		t.Fatalf("%q", s)
	}
	// Send with an upload stream: the hub method runs when the upload completes.
	key := "go-send-upload"
	invoke(t, conn, nil, "ClearRecord", key)
	items := make(chan any, 3)
	items <- "a"
	items <- 2
	items <- MsgPack{0xc3} // true
	close(items)
	if err := conn.Send(testCtx(t), "UploadRecord", key, items); err != nil {
		t.Fatal(err)
	}
	var rec []any
	for i := 0; i < 200 && len(rec) < 3; i++ { // each check is one round trip
		invoke(t, conn, &rec, "GetRecorded", key)
	}
	if len(rec) != 3 || rec[0] != "a" || rec[1] != float64(2) || rec[2] != true {
		t.Fatalf("recorded %v", rec)
	}
}

func TestOptionsTable(t *testing.T) {
	names := map[string]bool{}
	for _, o := range Options() {
		names[o.Name] = true
	}
	for _, want := range []string{"url", "transports", "protocol", "stateful_reconnect", "header"} {
		if !names[want] {
			t.Fatalf("option %q missing from %v", want, names)
		}
	}
	if Version() == "" {
		t.Fatal("no version")
	}
	if _, err := NewConnection("http://127.0.0.1:1/x", WithProtocol("xml")); !errors.Is(err, ErrInval) {
		t.Fatalf("bad protocol: %v", err)
	}
}
