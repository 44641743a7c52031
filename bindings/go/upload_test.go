package signalr

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestUploads(t *testing.T) {
	eachCombo(t, func(t *testing.T, c combo) {
		conn := connect(t, "/hubs/test", c)
		parts := make(chan string)
		go func() {
			for _, p := range []string{"a", "b", "c"} {
				parts <- p
			}
			close(parts)
		}()
		var s string
		if invoke(t, conn, &s, "UploadConcat", parts); s != "abc" {
			t.Fatalf("UploadConcat %q", s)
		}
		nums := make(chan int, 16)
		go func() {
			for i := 0; i <= 100; i++ {
				nums <- i
			}
			close(nums)
		}()
		var sum int
		if invoke(t, conn, &sum, "UploadSum", (<-chan int)(nums)); sum != 5050 {
			t.Fatalf("UploadSum %d", sum)
		}
		a, b := make(chan string, 2), make(chan string, 2)
		a <- "x"
		b <- "y"
		a <- "z"
		close(a)
		close(b)
		if invoke(t, conn, &s, "UploadTwo", a, b); s != "xz|y" {
			t.Fatalf("UploadTwo %q", s)
		}
		// An upload into a stream: every item comes back.
		echo := make(chan int)
		out, err := conn.Stream(testCtx(t), "UploadEcho", echo)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for i := 0; i < 10; i++ {
				echo <- i
			}
			close(echo)
		}()
		got, err := collect(t, out)
		if err != nil || len(got) != 10 || got[9] != 9 {
			t.Fatalf("UploadEcho %v %v", got, err)
		}
		// Canceling the ctx fails the upload; the server's method sees the error.
		never := make(chan int)
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			_, err := conn.Invoke(ctx, "UploadSum", never)
			res <- err
		}()
		cancel()
		if err := waitFor(t, res, "canceled upload"); err == nil {
			t.Fatal("canceled upload succeeded")
		}
		invoke(t, conn, &s, "Echo", "alive")
	})
}

// A tiny outgoing buffer makes sends and upload writes meet SIGNALR_EAGAIN; nothing may be
// lost or reordered, and nothing sleeps (waits are for SIGNALR_EVENT_WRITABLE).
func TestBackpressure(t *testing.T) {
	pad := strings.Repeat("p", 200) // big messages fill the 1 KiB buffer after a few
	for _, c := range []combo{{WebSockets, "json"}, {ServerSentEvents, "json"}, {LongPolling, "messagepack"}} {
		c := c
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			conn := connect(t, "/hubs/test", c, WithOption("transport_max_buffer_size", "1024"))
			key := "go-bp-" + c.String()
			// Several goroutines send at once so the buffer fills; each one's sends stay in order.
			const senders, n = 8, 200
			for g := 0; g < senders; g++ {
				invoke(t, conn, nil, "ClearRecord", fmt.Sprint(key, g))
			}
			type rec struct {
				I   int
				Pad string
			}
			errs := make(chan error, senders)
			for g := 0; g < senders; g++ {
				go func(g int) {
					for i := 0; i < n; i++ {
						if err := conn.Send(testCtx(t), "Record", fmt.Sprint(key, g), rec{i, pad}); err != nil {
							errs <- fmt.Errorf("sender %d send %d: %w", g, i, err)
							return
						}
					}
					errs <- nil
				}(g)
			}
			for g := 0; g < senders; g++ {
				if err := waitFor(t, errs, "senders"); err != nil {
					t.Fatal(err)
				}
			}
			for g := 0; g < senders; g++ {
				var got []rec
				invoke(t, conn, &got, "GetRecorded", fmt.Sprint(key, g))
				if len(got) != n {
					t.Fatalf("sender %d: recorded %d of %d", g, len(got), n)
				}
				for i, v := range got {
					if v.I != i || v.Pad != pad {
						t.Fatalf("sender %d: record %d is %d", g, i, v.I)
					}
				}
			}
			sendWaits := conn.waits.Load()
			t.Logf("sends: %d waits for room", sendWaits)
			const items = 3000
			parts := make(chan string, 256)
			go func() {
				for i := 0; i < items; i++ {
					parts <- pad
				}
				close(parts)
			}()
			finished := make(chan struct{})
			defer close(finished)
			go func() { // diagnostics for a hang: is an upload write waiting for room?
				select {
				case <-time.After(testWait - time.Second):
					t.Logf("stuck: %d upload writes wait for SIGNALR_EVENT_WRITABLE (waits %d, events %d, state %v)",
						conn.pumpWaiting.Load(), conn.waits.Load(), conn.writables.Load(), conn.State())
				case <-finished:
				}
			}()
			var s string
			if invoke(t, conn, &s, "UploadConcat", parts); len(s) != items*len(pad) {
				t.Fatalf("UploadConcat returned %d bytes", len(s))
			}
			t.Logf("waits for room: %d in sends, %d in uploads", sendWaits, conn.waits.Load()-sendWaits)
			if conn.waits.Load() == 0 {
				t.Fatal("the outgoing buffer never filled: SIGNALR_EAGAIN path not exercised")
			}
		})
	}
}
