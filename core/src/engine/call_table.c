#include "engine/call_table.h"

#include <stdlib.h>
#include <string.h>

#include "signalr/signalr.h"

static size_t slot_of(uint64_t id, size_t cap) {
  id ^= id >> 33;
  id *= 0xff51afd7ed558ccdULL;
  id ^= id >> 33;
  return (size_t)id & (cap - 1);
}

void sr_call_table_free(sr_call_table *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}

static int grow(sr_call_table *t) {
  size_t cap = t->cap ? t->cap * 2 : 16;
  sr_call *slots = calloc(cap, sizeof *slots);
  if (!slots) return SIGNALR_ENOMEM;
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->slots[i].id) continue;
    size_t j = slot_of(t->slots[i].id, cap);
    while (slots[j].id) j = (j + 1) & (cap - 1);
    slots[j] = t->slots[i];
  }
  free(t->slots);
  t->slots = slots;
  t->cap = cap;
  return 0;
}

int sr_call_table_put(sr_call_table *t, uint64_t id, uint64_t token, int kind) {
  if (!id) return SIGNALR_EINVAL;
  if ((t->count + 1) * 4 > t->cap * 3) { /* keep the load under 3/4 */
    int rc = grow(t);
    if (rc) return rc;
  }
  size_t j = slot_of(id, t->cap);
  while (t->slots[j].id && t->slots[j].id != id) j = (j + 1) & (t->cap - 1);
  if (!t->slots[j].id) t->count++;
  t->slots[j] = (sr_call){id, token, kind};
  return 0;
}

sr_call *sr_call_table_get(sr_call_table *t, uint64_t id) {
  if (!t->cap || !id) return NULL;
  size_t j = slot_of(id, t->cap);
  while (t->slots[j].id) {
    if (t->slots[j].id == id) return &t->slots[j];
    j = (j + 1) & (t->cap - 1);
  }
  return NULL;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void erase(sr_call_table *t, size_t i) {
  size_t mask = t->cap - 1, j = i;
  t->slots[i].id = 0;
  t->count--;
  for (;;) {
    j = (j + 1) & mask;
    if (!t->slots[j].id) return;
    size_t home = slot_of(t->slots[j].id, t->cap);
    /* Move j back to i if its home is not in the cyclic range (i, j]. */
    if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
      t->slots[i] = t->slots[j];
      t->slots[j].id = 0;
      i = j;
    }
  }
}

int sr_call_table_take(sr_call_table *t, uint64_t id, sr_call *out) {
  sr_call *c = sr_call_table_get(t, id);
  if (!c) return 0;
  *out = *c;
  erase(t, (size_t)(c - t->slots));
  return 1;
}

int sr_call_table_pop(sr_call_table *t, sr_call *out) {
  for (size_t i = 0; i < t->cap && t->count; i++) {
    if (t->slots[i].id) {
      *out = t->slots[i];
      erase(t, i);
      return 1;
    }
  }
  return 0;
}
