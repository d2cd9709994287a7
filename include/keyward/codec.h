/*
 * keyward/codec.h — hex and base64url (RFC 4648 §5, no padding) codecs and
 * constant-time comparison.
 *
 * Decoders never read past in[0..in_len) nor write past out[0..out_cap), and
 * tell malformed input (KW_ERR_FORMAT: a character outside the alphabet,
 * padding, non-zero trailing bits), truncated input (KW_ERR_TRUNCATED: an
 * odd hex length, a base64url length of 1 mod 4) and oversized input
 * (KW_ERR_TOO_LARGE: the decoded bytes do not fit out_cap) apart. On error
 * the output is wiped. Encoding and decoding run in time independent of the
 * byte values (no branches or table look-ups on the data), so both may
 * handle secrets. Thread-safe.
 */
#ifndef KEYWARD_CODEC_H
#define KEYWARD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Characters (without the terminating NUL) of the encoding of n bytes. */
size_t kw_hex_encoded_len(size_t n);
size_t kw_b64url_encoded_len(size_t n);

/* Encodes in[0..n) into out as a NUL-terminated string. out_cap must hold
 * the encoded length plus one, else KW_ERR_TOO_LARGE. */
int kw_hex_encode(char *out, size_t out_cap, const uint8_t *in, size_t n);
int kw_b64url_encode(char *out, size_t out_cap, const uint8_t *in, size_t n);

/* Decodes in[0..in_len) (lower- or upper-case hex) into out, storing the
 * number of bytes in *out_len. */
int kw_hex_decode(uint8_t *out, size_t out_cap, size_t *out_len,
                  const char *in, size_t in_len);

/* Decodes unpadded base64url (alphabet A–Z a–z 0–9 - _) into out; rejects
 * '=' padding, the standard alphabet's '+' and '/', whitespace, and
 * non-canonical encodings (non-zero unused bits). */
int kw_b64url_decode(uint8_t *out, size_t out_cap, size_t *out_len,
                     const char *in, size_t in_len);

/* True when a[0..n) equals b[0..n); the time taken depends only on n. */
bool kw_ct_equal(const void *a, const void *b, size_t n);

/* True when a[0..n) is all zero; time depends only on n. */
bool kw_ct_is_zero(const void *a, size_t n);

#endif
