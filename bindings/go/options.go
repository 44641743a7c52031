package signalr

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Transport is one of the SignalR transports.
type Transport string

const (
	WebSockets       Transport = "websockets"
	ServerSentEvents Transport = "serversentevents"
	LongPolling      Transport = "longpolling"
)

// LogLevel is a libsignalr log level (the official clients' names).
type LogLevel int

const (
	LogTrace LogLevel = iota
	LogDebug
	LogInformation
	LogWarning
	LogError
	LogCritical
	LogNone
)

var logLevelNames = [...]string{"trace", "debug", "information", "warning", "error", "critical", "none"}

func (l LogLevel) String() string {
	if l >= 0 && int(l) < len(logLevelNames) {
		return logLevelNames[l]
	}
	return "LogLevel(" + strconv.Itoa(int(l)) + ")"
}

// Logger receives the library's log lines, on the connection's event goroutine (keep it
// quick). log.Printf-style: signalr.WithLogger(func(l signalr.LogLevel, m string) { log.Print(l, m) }).
type Logger func(level LogLevel, message string)

// RetryContext describes a lost connection to a RetryPolicy.
type RetryContext struct {
	Attempt uint32        // the attempt about to be made, counting from 1
	Elapsed time.Duration // since the connection was lost (or the first start began)
	Reason  error         // the last failure
}

// RetryPolicy decides the delay before each reconnect attempt, like the official clients'
// IRetryPolicy. It runs on the connection's event goroutine: keep it quick.
type RetryPolicy interface {
	// NextRetryDelay returns the delay before the next attempt, or false to give up.
	NextRetryDelay(rc RetryContext) (time.Duration, bool)
}

// RetryPolicyFunc adapts a function to RetryPolicy.
type RetryPolicyFunc func(rc RetryContext) (time.Duration, bool)

// NextRetryDelay calls f.
func (f RetryPolicyFunc) NextRetryDelay(rc RetryContext) (time.Duration, bool) { return f(rc) }

// config collects what the options set; NewConnection hands it to the C builder.
type config struct {
	pairs  [][2]string // signalr_builder_set keys and values, in order
	token  func(ctx context.Context) (string, error)
	retry  RetryPolicy
	logger Logger
}

func (c *config) set(k, v string) { c.pairs = append(c.pairs, [2]string{k, v}) }

// Option configures a Connection (NewConnection).
type Option func(*config) error

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// WithTransports limits the transports tried (default: all three, in the server's order).
func WithTransports(ts ...Transport) Option {
	return func(c *config) error {
		if len(ts) == 0 {
			return errors.New("signalr: WithTransports needs at least one transport")
		}
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = string(t)
		}
		c.set("transports", strings.Join(names, ","))
		return nil
	}
}

// WithProtocol selects the hub protocol: "json" (default) or "messagepack".
func WithProtocol(name string) Option {
	return func(c *config) error { c.set("protocol", name); return nil }
}

// WithSkipNegotiation connects straight to the WebSocket (transports must be WebSockets).
func WithSkipNegotiation() Option {
	return func(c *config) error { c.set("skip_negotiation", "true"); return nil }
}

// WithAccessToken sends a fixed bearer token on negotiate and every transport request.
func WithAccessToken(token string) Option {
	return func(c *config) error { c.set("access_token", token); return nil }
}

// WithAccessTokenProvider asks provider for a token before each negotiate and transport
// connect (also on reconnects). It runs on a goroutine of its own, so it may block (fetch
// a token over HTTP); ctx is canceled when the connection is closed. An error fails that
// connect attempt (SIGNALR_EAUTH).
func WithAccessTokenProvider(provider func(ctx context.Context) (string, error)) Option {
	return func(c *config) error { c.token = provider; return nil }
}

// WithHeader adds an HTTP header to every request (repeat for more).
func WithHeader(name, value string) Option {
	return func(c *config) error { c.set("header", name+": "+value); return nil }
}

// WithAutomaticReconnect reconnects when the connection is lost, waiting the given delays
// before each attempt (default 0, 2, 10, 30 s), then gives up.
func WithAutomaticReconnect(delays ...time.Duration) Option {
	return func(c *config) error {
		if len(delays) == 0 {
			c.set("reconnect", "true")
			return nil
		}
		parts := make([]string, len(delays))
		for i, d := range delays {
			parts[i] = ms(d)
		}
		c.set("reconnect_delays_ms", strings.Join(parts, ","))
		return nil
	}
}

// WithRetryPolicy reconnects automatically with a custom policy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) error { c.retry = p; return nil }
}

// WithStatefulReconnect asks for stateful reconnect (ASP.NET Core 8+): messages survive a
// dropped transport. bufferSize (optional) is the replay buffer in bytes (default 100000).
func WithStatefulReconnect(bufferSize ...int) Option {
	return func(c *config) error {
		c.set("stateful_reconnect", "true")
		if len(bufferSize) > 0 {
			c.set("stateful_reconnect_buffer_size", strconv.Itoa(bufferSize[0]))
		}
		return nil
	}
}

// WithServerTimeout closes the connection when nothing arrives for d (default 30 s).
func WithServerTimeout(d time.Duration) Option {
	return func(c *config) error { c.set("server_timeout_ms", ms(d)); return nil }
}

// WithKeepAliveInterval sends a ping after d without sending (default 15 s).
func WithKeepAliveInterval(d time.Duration) Option {
	return func(c *config) error { c.set("keep_alive_interval_ms", ms(d)); return nil }
}

// WithHandshakeTimeout bounds the handshake (default 15 s).
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) error { c.set("handshake_timeout_ms", ms(d)); return nil }
}

// WithLogger delivers the library's logs to l, from level (default LogInformation) up.
func WithLogger(l Logger, level ...LogLevel) Option {
	return func(c *config) error {
		c.logger = l
		if len(level) > 0 {
			c.set("log_level", level[0].String())
		}
		return nil
	}
}

// WithOption sets any libsignalr builder option by its name (see Options), e.g.
// WithOption("tls_ca_file", "/etc/ca.pem"); new C options need no new Go API.
func WithOption(key, value string) Option {
	return func(c *config) error { c.set(key, value); return nil }
}

func bindingName() string { return fmt.Sprintf("Go %s", strings.TrimPrefix(runtime.Version(), "go")) }
