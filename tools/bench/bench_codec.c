/* Codec micro-benchmark: encode and decode of hub Invocations in JSON and MessagePack.
 *
 *   bench_codec [iterations]                          every case and op, a table
 *   bench_codec --case small-json --op encode [N]     one case and op (for callgrind.sh)
 *   bench_codec --list                                the case names
 *
 * Cases: small-{json,msgpack}: {"type":1,"invocationId":"1","target":"Echo","arguments":["hello"]}
 *        large-{json,msgpack}: the same with ~10 KB of arguments (an array of objects).
 * Encode: sr_json_encode / sr_msgpack_encode into one reused sr_buf (len reset each time),
 * arguments given in the wire's own encoding (no transcoding). Decode: sr_json_decode /
 * sr_msgpack_decode of the encoded message with one reused sr_decoder.
 * Time: CLOCK_PROCESS_CPUTIME_ID. Allocations: malloc/calloc/realloc calls counted by
 * interposing glibc's allocator, measured after a warm-up (target: 0 per message). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/framing.h"
#include "protocol/hub_message.h"
#include "protocol/json_protocol.h"
#include "protocol/msgpack_protocol.h"
#include "protocol/transcode.h"
#include "signalr/signalr.h"

/* ------------------------------------------------------------ allocation counting */

static volatile unsigned long g_allocs;

#ifndef BENCH_NO_MALLOC_HOOK
/* glibc lets a program replace malloc; forwarding to the __libc_* entry points counts every
 * call made by the library and by the shared libraries it uses (msgpack-c, libc). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
void *malloc(size_t n) { g_allocs++; return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { g_allocs++; return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { g_allocs++; return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
#define ALLOC_COUNTING 1
#else
#define ALLOC_COUNTING 0
#endif

/* ------------------------------------------------------------ cases */

typedef struct bench_case {
  const char *name;
  int encoding; /* SIGNALR_ENCODING_* */
  int large;
} bench_case;

static const bench_case CASES[] = {
    {"small-json", SIGNALR_ENCODING_JSON, 0},
    {"small-msgpack", SIGNALR_ENCODING_MSGPACK, 0},
    {"large-json", SIGNALR_ENCODING_JSON, 1},
    {"large-msgpack", SIGNALR_ENCODING_MSGPACK, 1},
};
#define NCASES (sizeof CASES / sizeof CASES[0])

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_codec: %s failed: %d (%s)\n", what, rc, signalr_strerror(rc));
  exit(1);
}

/* ~10 KB of JSON arguments: one array holding objects of mixed value types. */
static void large_arguments(sr_buf *out) {
  char tmp[256];
  sr_buf_putc(out, '[');
  sr_buf_putc(out, '[');
  for (int i = 0; out->len < 10 * 1024 - 160; i++) {
    int n = snprintf(tmp, sizeof tmp,
                     "%s{\"id\":%d,\"name\":\"item-%05d\",\"price\":%d.25,\"qty\":%d,"
                     "\"tags\":[\"red\",\"blue\"],\"active\":%s,\"note\":null}",
                     i ? "," : "", i, i, 10 + i % 90, i % 7, i % 2 ? "true" : "false");
    sr_buf_append(out, tmp, (size_t)n);
  }
  sr_buf_append(out, "]]", 2);
}

typedef struct prepared {
  sr_buf args;        /* the arguments in the case's encoding */
  sr_hub_message msg; /* the message to encode */
  sr_buf wire;        /* one encoded message: the decode input (no 0x1e / no prefix) */
  const uint8_t *body;
  size_t body_len;
} prepared;

static void prepare(const bench_case *c, prepared *p) {
  memset(p, 0, sizeof *p);
  sr_buf json = SR_BUF_INIT;
  if (c->large) large_arguments(&json);
  else sr_buf_puts(&json, "[\"hello\"]");
  int rc;
  if (c->encoding == SIGNALR_ENCODING_JSON) {
    p->args = json;
  } else {
    if ((rc = sr_json_to_msgpack(json.data, json.len, &p->args))) die("sr_json_to_msgpack", rc);
    sr_buf_free(&json);
  }
  sr_hub_message *m = &p->msg;
  m->type = SR_MSG_INVOCATION;
  m->invocation_id.ptr = "1";
  m->invocation_id.len = 1;
  m->target.ptr = "Echo";
  m->target.len = 4;
  m->arguments.data = p->args.data;
  m->arguments.len = p->args.len;
  m->arguments.encoding = c->encoding;
  if (c->encoding == SIGNALR_ENCODING_JSON) {
    if ((rc = sr_json_encode(&p->wire, m))) die("sr_json_encode", rc);
    p->body = p->wire.data;
    p->body_len = p->wire.len - 1; /* without the record separator */
  } else {
    if ((rc = sr_msgpack_encode(&p->wire, m))) die("sr_msgpack_encode", rc);
    uint32_t n;
    size_t used;
    if (sr_varint_decode(p->wire.data, p->wire.len, &n, &used) != 1) die("prefix", -1);
    p->body = p->wire.data + used;
    p->body_len = n;
  }
}

static void release(prepared *p) {
  sr_buf_free(&p->args);
  sr_buf_free(&p->wire);
}

/* ------------------------------------------------------------ loops */

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef struct result {
  double ns_per_msg;
  double allocs_per_msg;
  size_t bytes;
} result;

enum { OP_ENCODE = 1, OP_DECODE = 2 };
#define WARMUP 100

static volatile size_t g_sink; /* keeps the optimizer from dropping the work */

static result run(const bench_case *c, const prepared *p, int op, long iters) {
  result res = {0, 0, 0};
  int json = c->encoding == SIGNALR_ENCODING_JSON;
  sr_buf out = SR_BUF_INIT;
  sr_decoder d;
  sr_decoder_init(&d);
  sr_hub_message m;
  int rc = 0;
  unsigned long a0 = 0;
  double t0 = 0;
  for (long i = -WARMUP; i < iters; i++) {
    if (i == 0) {
      a0 = g_allocs;
      t0 = now_ns();
    }
    if (op == OP_ENCODE) {
      out.len = 0;
      rc = json ? sr_json_encode(&out, &p->msg) : sr_msgpack_encode(&out, &p->msg);
      g_sink += out.len;
    } else {
      rc = json ? sr_json_decode(&d, p->body, p->body_len, &m)
                : sr_msgpack_decode(&d, p->body, p->body_len, &m);
      g_sink += m.arguments.len;
    }
    if (rc) die(op == OP_ENCODE ? "encode" : "decode", rc);
  }
  double t1 = now_ns();
  unsigned long a1 = g_allocs;
  if (iters > 0) {
    res.ns_per_msg = (t1 - t0) / (double)iters;
    res.allocs_per_msg = (double)(a1 - a0) / (double)iters;
  }
  res.bytes = op == OP_ENCODE ? out.len : p->body_len;
  sr_buf_free(&out);
  sr_decoder_free(&d);
  return res;
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_codec [--case NAME] [--op encode|decode] [iterations]\n"
          "       bench_codec --list\n"
          "cases: small-json small-msgpack large-json large-msgpack\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *case_name = NULL;
  int ops = OP_ENCODE | OP_DECODE;
  long iters = -1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--case") && i + 1 < argc) {
      case_name = argv[++i];
    } else if (!strcmp(argv[i], "--op") && i + 1 < argc) {
      const char *o = argv[++i];
      if (!strcmp(o, "encode")) ops = OP_ENCODE;
      else if (!strcmp(o, "decode")) ops = OP_DECODE;
      else usage();
    } else if (!strcmp(argv[i], "--list")) {
      for (size_t c = 0; c < NCASES; c++) printf("%s\n", CASES[c].name);
      return 0;
    } else if (argv[i][0] >= '0' && argv[i][0] <= '9') {
      iters = strtol(argv[i], NULL, 10);
    } else {
      usage();
    }
  }
  int found = 0;
  int table = !case_name || ops == (OP_ENCODE | OP_DECODE);
  if (table)
    printf("%-14s %-7s %10s %12s %14s %12s\n", "case", "op", "bytes", "ns/msg", "allocs/msg",
           "iterations");
  for (size_t c = 0; c < NCASES; c++) {
    const bench_case *bc = &CASES[c];
    if (case_name && strcmp(case_name, bc->name)) continue;
    found = 1;
    long n = iters >= 0 ? iters : (bc->large ? 20000 : 500000);
    prepared p;
    prepare(bc, &p);
    for (int op = OP_ENCODE; op <= OP_DECODE; op <<= 1) {
      if (!(ops & op)) continue;
      result r = run(bc, &p, op, n);
      char allocs[32];
      if (ALLOC_COUNTING) snprintf(allocs, sizeof allocs, "%.3f", r.allocs_per_msg);
      else snprintf(allocs, sizeof allocs, "n/a");
      printf("%-14s %-7s %10zu %12.1f %14s %12ld\n", bc->name, op == OP_ENCODE ? "encode" : "decode",
             r.bytes, r.ns_per_msg, allocs, n);
    }
    release(&p);
  }
  if (!found) usage();
  return 0;
}
