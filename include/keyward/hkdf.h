/*
 * keyward/hkdf.h — HKDF (RFC 5869) with HMAC-SHA256 and HMAC-SHA512.
 *
 * Built on libsodium's HMAC (libsodium 1.0.18 has no HKDF). Outputs may be
 * secret; intermediate blocks are wiped. Thread-safe.
 */
#ifndef KEYWARD_HKDF_H
#define KEYWARD_HKDF_H

#include <stddef.h>
#include <stdint.h>

#define KW_HKDF_SHA256_PRKBYTES 32
#define KW_HKDF_SHA512_PRKBYTES 64
#define KW_HKDF_SHA256_MAXBYTES (255 * 32)
#define KW_HKDF_SHA512_MAXBYTES (255 * 64)

/* HKDF-Extract: prk = HMAC(salt, ikm). An empty salt (salt_len 0, salt may
 * be NULL) means HashLen zero bytes, as the RFC says. Cannot fail. */
void kw_hkdf_sha256_extract(uint8_t prk[static KW_HKDF_SHA256_PRKBYTES],
                            const uint8_t *salt, size_t salt_len,
                            const uint8_t *ikm, size_t ikm_len);
void kw_hkdf_sha512_extract(uint8_t prk[static KW_HKDF_SHA512_PRKBYTES],
                            const uint8_t *salt, size_t salt_len,
                            const uint8_t *ikm, size_t ikm_len);

/* HKDF-Expand: out[0..out_len) from prk (prk_len >= HashLen) and info.
 * KW_ERR_TOO_LARGE when out_len exceeds 255 blocks, KW_ERR_INVALID_ARG when
 * prk is shorter than HashLen. */
int kw_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
                          const uint8_t *info, size_t info_len);
int kw_hkdf_sha512_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
                          const uint8_t *info, size_t info_len);

/* Extract then expand in one call; same errors as expand. */
int kw_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len);
int kw_hkdf_sha512(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len);

#endif
