#ifndef SR_UTIL_UTF8_H
#define SR_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence starting at p (1..4), or 0 if it is invalid:
 * overlong forms, surrogates (U+D800..DFFF) and code points above U+10FFFF are rejected,
 * as RFC 3629 requires and as .NET's decoder does. Only call for p[0] >= 0x80. */
size_t sr_utf8_seq_len(const uint8_t *p, const uint8_t *end);

/* 1 when [p, p+n) is entirely valid UTF-8. */
int sr_utf8_valid(const uint8_t *p, size_t n);

/* Encodes a code point (must be valid) into out (4 bytes room); returns bytes written. */
size_t sr_utf8_encode(uint32_t cp, uint8_t *out);

#endif
