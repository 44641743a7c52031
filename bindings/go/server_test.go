package signalr

// Helpers for the tests against the real ASP.NET Core hub (tests/server). The server is
// named by SIGNALR_SERVER_STATE (the state file tests/harness/testserver.py start writes;
// bindings/go/test.sh starts one). Without it the server tests skip loudly, or fail when
// SIGNALR_REQUIRE_SERVER=1.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"
)

var (
	serverURL string // e.g. http://127.0.0.1:5000
	serverWhy string // why there is none
	testWait  = 20 * time.Second
)

func TestMain(m *testing.M) {
	serverURL, serverWhy = readServerState()
	if serverURL == "" {
		fmt.Fprintf(os.Stderr, "\n*** SKIPPING the Go tests against the real server: %s ***\n\n", serverWhy)
	}
	os.Exit(m.Run())
}

func readServerState() (string, string) {
	path := os.Getenv("SIGNALR_SERVER_STATE")
	if path == "" {
		return "", "SIGNALR_SERVER_STATE is not set (bindings/go/test.sh starts a server)"
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err.Error()
	}
	var st struct {
		HTTP    string `json:"http"`
		Skipped string `json:"skipped"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return "", fmt.Sprintf("%s: %v", path, err)
	}
	if st.HTTP == "" {
		return "", "no server could run: " + st.Skipped
	}
	return st.HTTP, ""
}

func requireServer() bool {
	v := os.Getenv("SIGNALR_REQUIRE_SERVER")
	return v != "" && v != "0" && v != "false" && v != "no"
}

// hub returns the URL of a hub path on the test server, or skips (fails when required).
func hub(t testing.TB, path string) string {
	t.Helper()
	if serverURL == "" {
		if requireServer() {
			t.Fatalf("SIGNALR_REQUIRE_SERVER=1 and no server: %s", serverWhy)
		}
		t.Skipf("SKIPPING (no server): %s", serverWhy)
	}
	return serverURL + path
}

type combo struct {
	transport Transport
	protocol  string
}

func (c combo) String() string { return string(c.transport) + "/" + c.protocol }

// combos are the transports × protocols the server offers (MessagePack is binary, so not
// on Server-Sent Events).
var combos = []combo{
	{WebSockets, "json"}, {WebSockets, "messagepack"},
	{ServerSentEvents, "json"},
	{LongPolling, "json"}, {LongPolling, "messagepack"},
}

// eachCombo runs fn once per transport × protocol, in parallel subtests.
func eachCombo(t *testing.T, fn func(t *testing.T, c combo)) {
	for _, c := range combos {
		c := c
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			fn(t, c)
		})
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// connect starts a connection to path with the combo's transport and protocol; Close runs
// at the end of the test.
func connect(t testing.TB, path string, c combo, opts ...Option) *Connection {
	t.Helper()
	url := hub(t, path)
	opts = append([]Option{WithTransports(c.transport), WithProtocol(c.protocol)}, opts...)
	conn, err := NewConnection(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Start(testCtx(t)); err != nil {
		t.Fatalf("start %s: %v", c, err)
	}
	return conn
}

// invoke calls a method and decodes its result into out (may be nil).
func invoke(t testing.TB, conn *Connection, out any, method string, args ...any) {
	t.Helper()
	v, err := conn.Invoke(testCtx(t), method, args...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if out != nil {
		if err := v.Decode(out); err != nil {
			t.Fatalf("%s: decode %s: %v", method, v, err)
		}
	}
}

// waitFor receives from ch within the test wait.
func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
