package signalr

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func collect(t *testing.T, ch <-chan StreamItem) ([]int, error) {
	t.Helper()
	var out []int
	for it := range ch {
		if it.Err != nil {
			return out, it.Err
		}
		var n int
		if err := it.Value.Decode(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out, nil
}

func TestStreams(t *testing.T) {
	eachCombo(t, func(t *testing.T, c combo) {
		conn := connect(t, "/hubs/test", c)
		for _, m := range []string{"Counter", "CounterChannel"} {
			ch, err := conn.Stream(testCtx(t), m, 5, 1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, ch)
			if err != nil || len(got) != 5 || got[0] != 0 || got[4] != 4 {
				t.Fatalf("%s: %v %v", m, got, err)
			}
		}
		ch, _ := conn.Stream(testCtx(t), "EmptyStream")
		if got, err := collect(t, ch); err != nil || len(got) != 0 {
			t.Fatalf("EmptyStream %v %v", got, err)
		}
		ch, _ = conn.Stream(testCtx(t), "StreamThenFail", 2, "stream boom")
		got, err := collect(t, ch)
		if len(got) != 2 || !errors.Is(err, ErrHub) || !strings.Contains(err.Error(), "stream boom") {
			t.Fatalf("StreamThenFail %v %v", got, err)
		}
		// Canceling the context cancels the stream on the server.
		key := "go-" + c.String()
		ctx, cancel := context.WithCancel(context.Background())
		ch, err = conn.Stream(ctx, "InfiniteStream", key, 5)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if it := waitFor(t, ch, "stream item"); it.Err != nil {
				t.Fatal(it.Err)
			}
		}
		cancel()
		for range ch { // drains what was buffered; closed without an error item
		}
		// The server records the cancellation when its token fires: each check is one round trip.
		canceled := false
		for i := 0; i < 200 && !canceled; i++ {
			invoke(t, conn, &canceled, "WasStreamCanceled", key)
		}
		if !canceled {
			t.Fatal("the server never saw the stream canceled")
		}
	})
}
