package signalr

import (
	"strings"
	"testing"
	"time"
)

// events records lifecycle callbacks on channels the test waits on.
type events struct {
	reconnecting chan error
	reconnected  chan string
	closed       chan error
}

func watch(conn *Connection) *events {
	e := &events{make(chan error, 4), make(chan string, 4), make(chan error, 4)}
	conn.OnReconnecting(func(err error) { e.reconnecting <- err })
	conn.OnReconnected(func(id string) { e.reconnected <- id })
	conn.OnClose(func(err error) { e.closed <- err })
	return e
}

func TestReconnect(t *testing.T) {
	eachCombo(t, func(t *testing.T, c combo) {
		conn := connect(t, "/hubs/test", c, WithAutomaticReconnect(0, 0, 0))
		ev := watch(conn)
		before := conn.ConnectionID()
		var ok bool
		var s string
		// An ungraceful drop of the transport (no close handshake). Long Polling survives an
		// aborted poll request (the server keeps the connection), so only the other two
		// reconnect from it.
		if c.transport != LongPolling {
			invoke(t, conn, &ok, "DropTransport")
			if err := waitFor(t, ev.reconnecting, "reconnecting"); err == nil {
				t.Fatal("reconnecting without a reason")
			}
			id := waitFor(t, ev.reconnected, "reconnected")
			if id == "" || id == before || id != conn.ConnectionID() {
				t.Fatalf("reconnected id %q (before %q, now %q)", id, before, conn.ConnectionID())
			}
			if invoke(t, conn, &s, "Echo", "after drop"); s != "after drop" {
				t.Fatalf("Echo %q", s)
			}
		}
		// A server Close that allows reconnecting.
		invoke(t, conn, &ok, "CloseWithReconnect")
		waitFor(t, ev.reconnecting, "reconnecting after Close(allowReconnect)")
		waitFor(t, ev.reconnected, "reconnected after Close(allowReconnect)")
		invoke(t, conn, &s, "Echo", "again")
		// A server Close with an error and no reconnect closes the connection.
		invoke(t, conn, &ok, "CloseWithError", "go away", false)
		err := waitFor(t, ev.closed, "closed")
		if err == nil || !strings.Contains(err.Error(), "go away") {
			t.Fatalf("closed with %v", err)
		}
		if conn.State() != Disconnected {
			t.Fatalf("state %v", conn.State())
		}
		if _, err := conn.Invoke(testCtx(t), "Echo", "x"); err == nil {
			t.Fatal("invoke on a closed connection succeeded")
		}
	})
}

func TestRetryPolicyGivesUp(t *testing.T) {
	attempts := make(chan RetryContext, 4)
	policy := RetryPolicyFunc(func(rc RetryContext) (time.Duration, bool) {
		attempts <- rc
		return 0, false
	})
	conn := connect(t, "/hubs/test", combo{WebSockets, "json"}, WithRetryPolicy(policy))
	ev := watch(conn)
	var ok bool
	invoke(t, conn, &ok, "DropTransport")
	rc := waitFor(t, attempts, "retry policy")
	if rc.Attempt != 1 || rc.Reason == nil {
		t.Fatalf("retry context %+v", rc)
	}
	if err := waitFor(t, ev.closed, "closed after giving up"); err == nil {
		t.Fatal("closed without a reason")
	}
}

func TestStatefulReconnect(t *testing.T) {
	c := combo{WebSockets, "json"}
	conn := connect(t, "/hubs/stateful", c, WithStatefulReconnect(), WithAutomaticReconnect(0, 0))
	ev := watch(conn)
	var stateful bool
	if invoke(t, conn, &stateful, "IsStatefulReconnect"); !stateful {
		t.Fatal("stateful reconnect not negotiated")
	}
	before := conn.ConnectionID()
	got := make(chan int, 64)
	conn.On("Numbered", func(a Args) (any, error) {
		var n int
		err := a.Decode(&n)
		got <- n
		return nil, err
	})
	var ok bool
	invoke(t, conn, &ok, "DropTransport")
	// Messages sent across the drop are replayed: none lost, none duplicated.
	var count int
	if invoke(t, conn, &count, "SendNumbered", 50); count != 50 {
		t.Fatalf("SendNumbered %d", count)
	}
	for i := 1; i <= 50; i++ {
		if n := waitFor(t, got, "Numbered"); n != i {
			t.Fatalf("Numbered %d, want %d", n, i)
		}
	}
	select {
	case err := <-ev.closed:
		t.Fatalf("closed: %v", err)
	default:
	}
	if id := conn.ConnectionID(); id != before {
		t.Fatalf("stateful reconnect changed the id: %q -> %q", before, id)
	}
}
