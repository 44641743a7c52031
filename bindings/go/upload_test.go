package signalr

import (
	"context"
	"fmt"
	"testing"
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
	for _, c := range []combo{{WebSockets, "json"}, {LongPolling, "messagepack"}} {
		c := c
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			conn := connect(t, "/hubs/test", c, WithOption("transport_max_buffer_size", "1024"))
			key := "go-bp-" + c.String()
			// Several goroutines send at once so the buffer fills; each one's sends stay in order.
			const senders, n = 8, 300
			for g := 0; g < senders; g++ {
				invoke(t, conn, nil, "ClearRecord", fmt.Sprint(key, g))
			}
			errs := make(chan error, senders)
			for g := 0; g < senders; g++ {
				go func(g int) {
					for i := 0; i < n; i++ {
						if err := conn.Send(testCtx(t), "Record", fmt.Sprint(key, g), i); err != nil {
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
				var rec []int
				invoke(t, conn, &rec, "GetRecorded", fmt.Sprint(key, g))
				if len(rec) != n {
					t.Fatalf("sender %d: recorded %d of %d", g, len(rec), n)
				}
				for i, v := range rec {
					if v != i {
						t.Fatalf("sender %d: record %d is %d", g, i, v)
					}
				}
			}
			sendWaits := conn.waits.Load()
			items := make(chan int, 256)
			go func() {
				for i := 0; i < 20000; i++ {
					items <- 1
				}
				close(items)
			}()
			var sum int
			if invoke(t, conn, &sum, "UploadSum", items); sum != 20000 {
				t.Fatalf("UploadSum %d", sum)
			}
			t.Logf("waits for room: %d in sends, %d in uploads", sendWaits, conn.waits.Load()-sendWaits)
			if conn.waits.Load() == 0 {
				t.Fatal("the outgoing buffer never filled: SIGNALR_EAGAIN path not exercised")
			}
		})
	}
}
