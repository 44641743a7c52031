#ifndef SR_UTIL_BASE64_H
#define SR_UTIL_BASE64_H

#include "util/buf.h"

/* Standard base64 with padding (RFC 4648 §4), as .NET writes byte[] in JSON. */
int sr_base64_encode(sr_buf *out, const uint8_t *p, size_t n);

#endif
