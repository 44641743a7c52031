// Command compare is the Go client of tools/bench/compare: the signalr Go package against the
// bundled test hub, over WebSockets, JSON or MessagePack. One workload per process:
//
//	compare --url URL --workload echo|inflight64|flood|upload --protocol json|messagepack
//	        [--messages N] [--warmup N] [--timeout S]
//
// It connects, warms up with --warmup messages of the same workload, measures --messages and
// prints one JSON line {"client":"go","workload":..,"protocol":..,"messages":N,"cpu_us":..,
// "wall_ms":..}: cpu_us is getrusage(RUSAGE_SELF) user+sys over the measured phase only (every
// thread: goroutines, the event goroutine and libsignalr's I/O thread). The workloads are
// written the way a Go program would use the API: echo is a loop of Invoke, inflight64 is 64
// goroutines each looping Invoke, flood counts Numbered in a handler, upload sends a channel.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	signalr "github.com/libsignalr/signalr/bindings/go"
)

const inflight = 64

func cpuUs() float64 {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return float64(r.Utime.Sec+r.Stime.Sec)*1e6 + float64(r.Utime.Usec+r.Stime.Usec)
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench_compare_go: "+format+"\n", args...)
	os.Exit(1)
}

type bench struct {
	conn     *signalr.Connection
	ctx      context.Context // the deadline of the whole run
	workload string

	floodTarget atomic.Int64
	floodCount  atomic.Int64
	floodDone   chan struct{}
}

// callCtx is the ctx of each Invoke: context.Background (the call waits inside C, in
// signalr_connection_invoke_blocking) unless BENCH_GO_ASYNC=1 asks for a cancellable one
// (completion through the event goroutine), to compare the two paths.
func (b *bench) callCtx() context.Context {
	if os.Getenv("BENCH_GO_ASYNC") == "1" {
		return b.ctx
	}
	return context.Background()
}

func (b *bench) echo(n int) {
	ctx := b.callCtx()
	for i := 0; i < n; i++ {
		if _, err := b.conn.Invoke(ctx, "Echo", "hello"); err != nil {
			die("Echo: %v", err)
		}
	}
}

func (b *bench) inflight64(n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	ctx := b.callCtx()
	workers := inflight
	if n < workers {
		workers = n
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := b.conn.Invoke(ctx, "Echo", "hello"); err != nil {
					die("Echo: %v", err)
				}
			}
		}()
	}
	wg.Wait()
}

func (b *bench) flood(n int) {
	b.floodCount.Store(0)
	b.floodTarget.Store(int64(n))
	b.floodDone = make(chan struct{})
	v, err := b.conn.Invoke(b.ctx, "SendNumbered", n)
	if err != nil {
		die("SendNumbered: %v", err)
	}
	var got int
	if err := v.Decode(&got); err != nil || got != n {
		die("SendNumbered returned %v (%v)", v, err)
	}
	select {
	case <-b.floodDone:
	case <-b.ctx.Done():
		die("timed out: %d of %d Numbered", b.floodCount.Load(), n)
	}
}

func (b *bench) upload(n int) {
	items := make(chan int, 1024)
	go func() {
		for i := 0; i < n; i++ {
			items <- 1
		}
		close(items)
	}()
	v, err := b.conn.Invoke(b.ctx, "UploadSum", items)
	if err != nil {
		die("UploadSum: %v", err)
	}
	var sum int
	if err := v.Decode(&sum); err != nil || sum != n {
		die("UploadSum returned %v (%v)", v, err)
	}
}

func (b *bench) run(n int) {
	switch b.workload {
	case "echo":
		b.echo(n)
	case "inflight64":
		b.inflight64(n)
	case "flood":
		b.flood(n)
	case "upload":
		b.upload(n)
	}
}

func main() {
	url := flag.String("url", "", "hub URL")
	workload := flag.String("workload", "echo", "echo|inflight64|flood|upload")
	protocol := flag.String("protocol", "json", "json|messagepack")
	messages := flag.Int("messages", 10000, "messages measured")
	warmup := flag.Int("warmup", 1000, "messages before measuring")
	timeout := flag.Float64("timeout", 120, "seconds for the whole run")
	flag.String("mode", "", "ignored (the C client's poll|direct)")
	flag.Parse()
	switch *workload {
	case "echo", "inflight64", "flood", "upload":
	default:
		flag.Usage()
		os.Exit(2)
	}
	if *url == "" || *messages <= 0 || *warmup < 0 || (*protocol != "json" && *protocol != "messagepack") {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*timeout*float64(time.Second)))
	defer cancel()
	conn, err := signalr.NewConnection(*url, signalr.WithTransports(signalr.WebSockets),
		signalr.WithProtocol(*protocol))
	if err != nil {
		die("%v", err)
	}
	b := &bench{conn: conn, ctx: ctx, workload: *workload}
	conn.On("Numbered", func(signalr.Args) (any, error) {
		if b.floodCount.Add(1) == b.floodTarget.Load() {
			close(b.floodDone)
		}
		return nil, nil
	})
	stopping := atomic.Bool{}
	conn.OnClose(func(err error) {
		if !stopping.Load() {
			die("connection lost: %v", err)
		}
	})
	conn.OnReconnecting(func(err error) { die("connection lost: %v", err) })
	if err := conn.Start(ctx); err != nil {
		die("start: %v", err)
	}
	// A watchdog: every wait above is bounded by the run's deadline.
	go func() {
		<-ctx.Done()
		if ctx.Err() == context.DeadlineExceeded {
			die("timed out")
		}
	}()
	if *warmup > 0 {
		b.run(*warmup)
	}
	c0, w0 := cpuUs(), time.Now()
	b.run(*messages)
	cpu, wall := cpuUs()-c0, time.Since(w0)
	name, _ := json.Marshal(*workload)
	proto, _ := json.Marshal(*protocol)
	fmt.Printf("{\"client\":\"go\",\"workload\":%s,\"protocol\":%s,\"messages\":%d,\"cpu_us\":%.0f,"+
		"\"wall_ms\":%.1f,\"version\":%q}\n", name, proto, *messages, cpu, float64(wall.Microseconds())/1e3,
		signalr.Version())
	stopping.Store(true)
	_ = conn.Stop(ctx)
	conn.Close()
}
