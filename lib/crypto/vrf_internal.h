/*
 * crypto/vrf_internal.h — ECVRF internals exposed to the tests only.
 *
 * The vector tests compare RFC 9381's intermediate values (x, H, the TAI
 * counter, k, U, V); the unit tests exercise the
 * mixed-order scalar multiplication that libsodium refuses to do. Not part of
 * the public API. A vrf_trace holds secrets (x, k): wipe it after use.
 */
#ifndef KEYWARD_CRYPTO_VRF_INTERNAL_H
#define KEYWARD_CRYPTO_VRF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "keyward/vrf.h"

typedef struct {
    uint8_t x[32];        /* secret scalar as RFC 8032 derives it (clamped, not reduced) */
    uint8_t h[32];        /* encode_to_curve output */
    unsigned ctr;         /* TAI: the counter that succeeded */
    uint8_t k_string[64]; /* nonce hash before reduction */
    uint8_t k[32];        /* nonce */
    uint8_t u[32];        /* k*B */
    uint8_t v[32];        /* k*H */
} vrf_trace;

/* kw_vrf_prove, recording the intermediates in *trace when it is not NULL. */
int vrf_prove_traced(uint8_t pi[static KW_VRF_PROOFBYTES], kw_vrf_suite suite,
                     const uint8_t sk[static KW_VRF_SECRETKEYBYTES], const uint8_t *alpha,
                     size_t alpha_len, vrf_trace *trace);

/* out = n*p for any canonical curve point p (prime, small or mixed order)
 * and any integer n < 2^255 (little-endian), including results that are the
 * identity. KW_ERR_FORMAT when p is not a canonical curve point,
 * KW_ERR_INVALID_ARG when n >= 2^255. */
int vrf_point_mul(uint8_t out[static 32], const uint8_t n[static 32], const uint8_t p[static 32]);

/* RFC 9381 §5.4.3 challenge generation: the 16-byte c of five points. */
void vrf_challenge(uint8_t c[static KW_VRF_CHALLENGEBYTES], kw_vrf_suite suite,
                   const uint8_t y[static 32], const uint8_t h[static 32],
                   const uint8_t gamma[static 32], const uint8_t u[static 32],
                   const uint8_t v[static 32]);

/* RFC 9381 encode_to_curve with salt pk; trace gets the TAI counter when
 * not NULL. KW_ERR_UNSUPPORTED, KW_ERR_CRYPTO (TAI exhausted). */
int vrf_encode_to_curve(uint8_t h[static 32], kw_vrf_suite suite,
                        const uint8_t pk[static 32], const uint8_t *alpha, size_t alpha_len,
                        vrf_trace *trace);

#endif
