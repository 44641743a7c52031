package signalr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestHandlersAndSend(t *testing.T) {
	eachCombo(t, func(t *testing.T, c combo) {
		conn := connect(t, "/hubs/test", c)
		got := make(chan string, 8)
		sub, err := conn.On("Callback", func(a Args) (any, error) {
			var s string
			err := a.Decode(&s)
			got <- s
			return nil, err
		})
		if err != nil {
			t.Fatal(err)
		}
		two := make(chan string, 2)
		conn.On("callback2", func(a Args) (any, error) { // names are case-insensitive
			var s string
			var n int
			if err := a.Decode(&s, &n); err != nil {
				return nil, err
			}
			two <- fmt.Sprint(s, n)
			return nil, nil
		})
		noArgs := make(chan int, 1)
		conn.On("NoArgs", func(a Args) (any, error) {
			items, err := a.Items()
			noArgs <- len(items)
			return nil, err
		})
		if err := conn.Send(testCtx(t), "Callback", "via send"); err != nil {
			t.Fatal(err)
		}
		if s := waitFor(t, got, "Callback"); s != "via send" {
			t.Fatalf("Callback %q", s)
		}
		one := make(chan string, 1)
		conn.On("Callback1", func(a Args) (any, error) {
			var s string
			err := a.Decode(&s)
			one <- s
			return nil, err
		})
		invoke(t, conn, nil, "CallbackMulti", "m")
		expect(t, waitFor(t, one, "Callback1"), "m")
		expect(t, waitFor(t, two, "Callback2"), "m42")
		if n := waitFor(t, noArgs, "NoArgs"); n != 0 {
			t.Fatalf("NoArgs got %d args", n)
		}
		// Off: no more calls; a second handler registered afterwards still runs.
		sub.Off()
		sub.Off()
		again := make(chan string, 1)
		conn.On("Callback", func(a Args) (any, error) {
			var s string
			a.Decode(&s)
			again <- s
			return nil, nil
		})
		invoke(t, conn, nil, "Callback", "after off")
		if s := waitFor(t, again, "Callback after Off"); s != "after off" {
			t.Fatalf("%q", s)
		}
		select {
		case s := <-got:
			t.Fatalf("removed handler ran: %q", s)
		default:
		}
	})
}

func expect(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestClientResults(t *testing.T) {
	eachCombo(t, func(t *testing.T, c combo) {
		conn := connect(t, "/hubs/test", c)
		conn.On("Double", func(a Args) (any, error) {
			var n int
			if err := a.Decode(&n); err != nil {
				return nil, err
			}
			return n * 2, nil
		})
		conn.On("Fail", func(a Args) (any, error) { return nil, errors.New("client says no") })
		conn.On("Nothing", func(a Args) (any, error) { return nil, nil })
		conn.On("Null", func(a Args) (any, error) { return json.RawMessage("null"), nil })
		conn.On("Later", func(a Args) (any, error) {
			d, err := a.Defer()
			if err != nil {
				return nil, err
			}
			var s string
			a.Decode(&s)
			go d.Answer(strings.ToUpper(s), nil) // answered from another goroutine
			return "ignored", nil
		})
		conn.On("Recursive", func(a Args) (any, error) {
			_, err := conn.Invoke(context.Background(), "Echo", "x")
			_, err2 := conn.Invoke(testCtx(t), "Echo", "x")
			if errors.Is(err, ErrRecursive) && errors.Is(err2, ErrRecursive) {
				return "recursive refused", nil
			}
			return nil, fmt.Errorf("got %v / %v", err, err2)
		})
		if c.protocol == "messagepack" {
			conn.On("Raw", func(a Args) (any, error) { return MsgPack{0xa3, 'r', 'a', 'w'}, nil })
		} else {
			conn.On("Raw", func(a Args) (any, error) { return json.RawMessage(`"raw"`), nil })
		}
		var n int
		if invoke(t, conn, &n, "GetClientResult", "Double", 21); n != 42 {
			t.Fatalf("Double %d", n)
		}
		var s string
		if invoke(t, conn, &s, "GetClientResult", "Fail", 0); !strings.Contains(s, "client says no") {
			t.Fatalf("Fail %q", s)
		}
		if invoke(t, conn, &s, "GetClientResult", "Nothing", 0); !strings.Contains(s, "didn't provide a result") {
			t.Fatalf("Nothing %q", s)
		}
		if invoke(t, conn, &s, "GetClientResult", "Missing", 0); !strings.HasPrefix(s, "error: ") {
			t.Fatalf("Missing %q", s)
		}
		v, err := conn.Invoke(testCtx(t), "GetClientResultNoArgs", "Null")
		if err != nil || v.String() != "null" {
			t.Fatalf("Null %v %v", v, err)
		}
		if invoke(t, conn, &s, "GetClientResult", "Later", "abc"); s != "ABC" {
			t.Fatalf("Later %q", s)
		}
		if invoke(t, conn, &s, "GetClientResult", "Raw", 0); s != "raw" {
			t.Fatalf("Raw %q", s)
		}
		if invoke(t, conn, &s, "GetClientResult", "Recursive", 0); s != "recursive refused" {
			t.Fatalf("Recursive %q", s)
		}
	})
}
