// Package signalr is the Go binding of libsignalr, a SignalR client for ASP.NET Core hubs
// and Azure SignalR Service written in C. The protocol, transports, reconnect logic and
// flow control live in the C library; this package maps them onto Go idioms.
//
//	conn, err := signalr.NewConnection("http://localhost:5000/hubs/chat",
//		signalr.WithAutomaticReconnect())
//	if err != nil { ... }
//	defer conn.Close()
//	conn.On("ReceiveMessage", func(args signalr.Args) (any, error) {
//		var user, text string
//		return nil, args.Decode(&user, &text)
//	})
//	if err := conn.Start(ctx); err != nil { ... }
//	v, err := conn.Invoke(ctx, "Echo", "hello")
//	var s string
//	err = v.Decode(&s)
//
// # Threads and goroutines
//
// Each Connection owns one libsignalr context: one C I/O thread and one event goroutine.
// The event goroutine waits on the context's wakeup file descriptor through Go's network
// poller and runs signalr_context_poll on its locked OS thread, so every callback
// (handlers, completions, stream items, lifecycle events, logs) runs there, in order, and C
// never calls into Go from a thread Go did not create. Handlers therefore run one at a time
// and must not block: a handler that waits for another event of the same connection (an
// Invoke, Start or Stop) gets ErrRecursive instead of a deadlock.
//
// All methods of Connection are safe for concurrent use by several goroutines.
//
// # Values
//
// Hub arguments cross into C as one buffer: Go values are encoded with encoding/json (the
// library transcodes to MessagePack itself when the connection speaks it), and MsgPack
// values pass through as they are. Results, stream items and handler arguments arrive as a
// Value in the wire's encoding: Decode fills a Go value through encoding/json (MessagePack
// is transcoded to JSON by the library first), Raw returns the bytes as they came.
//
// # Errors
//
// Failures are *Error values carrying the library's code, the HTTP status and a hint;
// errors.Is(err, signalr.ErrHub) and the other Err* sentinels (generated from the
// library's table of codes) select on the code. Context cancellation returns ctx.Err().
package signalr

//go:generate go run ./internal/gencodes -o errors_gen.go
