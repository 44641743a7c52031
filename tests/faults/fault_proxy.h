/* fault_proxy: a TCP proxy between a client under test and a real server, steered in-process
 * by the test to inject network faults (abrupt drops, half-open stalls, latency, truncated
 * frames, refused connects).
 *
 * One I/O thread per proxy forwards every connection. Commands are thread-safe and
 * synchronous: when a command returns, the I/O thread has applied it (after fault_proxy_cut()
 * no byte of the old connections moves any more, after fault_proxy_refuse() a connect() is
 * refused, ...), so a test can act on the new state at once without sleeping. Commands
 * return 0, or -1 with errno EINVAL for a bad argument.
 *
 * Nothing here is for production use: the proxy listens on 127.0.0.1 only and trusts its
 * caller. */
#ifndef SIGNALR_TESTS_FAULT_PROXY_H
#define SIGNALR_TESTS_FAULT_PROXY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fault_proxy fault_proxy;

/* A direction of travel, for fault_proxy_truncate_next() and fault_proxy_bytes(). */
enum {
  FAULT_TO_SERVER = 0, /* client -> proxy -> target */
  FAULT_TO_CLIENT = 1  /* target -> proxy -> client */
};

/* Listens on 127.0.0.1 on a free port and forwards each accepted connection to
 * target_host:target_port (resolved once, here; every resolved address is tried in order).
 * A connection whose target connect fails is reset, as if the server were down.
 * Returns NULL with errno set on failure (EINVAL: bad arguments, ENOENT: target_host does
 * not resolve, else the failing socket call's errno). */
fault_proxy *fault_proxy_start(const char *target_host, int target_port);

/* The port the proxy listens on; it stays the same for the proxy's lifetime, across
 * fault_proxy_refuse(). */
int fault_proxy_port(const fault_proxy *p);

/* Resets every current connection on both sides at once (SO_LINGER 0: the client and the
 * server each see ECONNRESET, not an orderly EOF); data held in the proxy is dropped. That
 * includes connections still waiting in the accept backlog: a client whose connect() has
 * returned is cut. New connections are accepted as usual afterwards. */
int fault_proxy_cut(fault_proxy *p);

/* on != 0: nothing is read or written on any connection, in either direction, and nothing
 * is closed -- a half-open network: peers see neither data nor EOF nor reset, until their
 * own timeouts fire. Data already in the proxy and data still in the kernel buffers is kept.
 * New connections are still accepted and connected to the target, but carry nothing.
 * on == 0: forwarding resumes, held data first, in order. */
int fault_proxy_stall(fault_proxy *p, int on);

/* Every chunk read from then on (either direction) is written ms milliseconds after the
 * proxy read it, at the earliest; 0 turns this off. Order is kept: a chunk never overtakes
 * an earlier one, so lowering the delay takes effect once older chunks are out. */
int fault_proxy_delay(fault_proxy *p, int ms);

/* One-shot: the next chunk read in that direction (on whichever connection reads first) is
 * cut to its first keep_bytes bytes; once those are written, the receiving side gets an
 * orderly EOF (FIN) right after them -- a truncated frame -- and the sending side is reset.
 * A chunk is what one read() returns: one small write on loopback is one chunk.
 * keep_bytes 0 drops the chunk entirely. Returns -1 (EINVAL) for a bad direction. */
int fault_proxy_truncate_next(fault_proxy *p, int direction, size_t keep_bytes);

/* For ms milliseconds new connections are refused (the client's connect() fails with
 * ECONNREFUSED); current connections are not touched, but connections not yet accepted when
 * this is called are reset. The port stays reserved meanwhile, so listening resumes on the
 * same port. A new call replaces the period; 0 ends it now. */
int fault_proxy_refuse(fault_proxy *p, int ms);

/* Counters (readable any time, from any thread). accepted: connections accepted since
 * start (refused connects are not counted). active: connections the proxy holds open now.
 * bytes: bytes written to the receiving side in that direction (what was delivered, so a
 * truncated chunk counts keep_bytes and dropped data counts nothing). */
uint64_t fault_proxy_connections_accepted(const fault_proxy *p);
uint64_t fault_proxy_connections_active(const fault_proxy *p);
uint64_t fault_proxy_bytes(const fault_proxy *p, int direction);

/* Closes the listener and every connection (plainly: data held in the proxy is dropped),
 * joins the I/O thread and frees p. No other call on p may run concurrently or follow.
 * NULL is a no-op. */
void fault_proxy_stop(fault_proxy *p);

#ifdef __cplusplus
}
#endif

#endif
