/* Pending calls by invocation id. Ids are the engine's own counter, so they are integers:
 * an open-addressing hash table keyed by that integer gives O(1) completion lookups with
 * thousands of calls in flight, and no allocation per call once it has grown. */
#ifndef SR_ENGINE_CALL_TABLE_H
#define SR_ENGINE_CALL_TABLE_H

#include <stddef.h>
#include <stdint.h>

enum { SR_CALL_INVOKE = 1, SR_CALL_STREAM = 2 };

typedef struct sr_call {
  uint64_t id;    /* 0: empty slot */
  uint64_t token; /* the caller's handle for the call */
  int kind;
} sr_call;

typedef struct sr_call_table {
  sr_call *slots;
  size_t cap; /* power of two */
  size_t count;
} sr_call_table;

void sr_call_table_free(sr_call_table *t);
int sr_call_table_put(sr_call_table *t, uint64_t id, uint64_t token, int kind);
/* Removes and returns the call; 0 when there is none. */
int sr_call_table_take(sr_call_table *t, uint64_t id, sr_call *out);
/* The call without removing it; NULL when there is none. */
sr_call *sr_call_table_get(sr_call_table *t, uint64_t id);
/* Removes any one call (to drain the table on close); 0 when empty. */
int sr_call_table_pop(sr_call_table *t, sr_call *out);

#endif
