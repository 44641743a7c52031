// Command echo calls the hub method Echo(MESSAGE) and prints what the hub returns:
//
//	go run ./examples/echo http://127.0.0.1:5000/hubs/test hello
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	signalr "github.com/libsignalr/signalr/bindings/go"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: echo HUB_URL MESSAGE")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(url, message string) error {
	conn, err := signalr.NewConnection(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Start(ctx); err != nil {
		return err
	}
	v, err := conn.Invoke(ctx, "Echo", message)
	if err != nil {
		return err
	}
	var s string
	if err := v.Decode(&s); err != nil {
		return err
	}
	fmt.Println(s)
	return conn.Stop(ctx)
}
