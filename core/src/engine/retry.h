/* The reconnect delays of the built-in policy: a list of delays, then give up. */
#ifndef SR_ENGINE_RETRY_H
#define SR_ENGINE_RETRY_H

#include <stddef.h>
#include <stdint.h>

/* The delay before retry number `attempt` (from 1): delays[attempt - 1] scaled by a random
 * factor in [1 - jitter, 1 + jitter], or -1 once the list is exhausted. rng: the caller's
 * generator state (any non-zero start value; advanced). */
int32_t sr_retry_delay(const int32_t *delays, size_t count, double jitter, uint32_t attempt, uint64_t *rng);

#endif
