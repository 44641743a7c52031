#include "engine/retry.h"

/* xorshift64*: plenty for spreading reconnect storms, and reproducible in tests. */
static uint64_t next_random(uint64_t *s) {
  if (!*s) *s = 0x9E3779B97F4A7C15ull;
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1Dull;
}

int32_t sr_retry_delay(const int32_t *delays, size_t count, double jitter, uint32_t attempt, uint64_t *rng) {
  if (!attempt || attempt > count) return -1;
  double d = delays[attempt - 1];
  if (jitter > 0 && d > 0) {
    double unit = (double)(next_random(rng) >> 11) / (double)(1ull << 53); /* [0, 1) */
    d *= 1.0 - jitter + 2.0 * jitter * unit;
  }
  if (d > INT32_MAX) d = INT32_MAX;
  return d < 0 ? 0 : (int32_t)d;
}
