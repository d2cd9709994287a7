/*
 * ECVRF-EDWARDS25519-SHA512-TAI / -ELL2 (RFC 9381) on libsodium's edwards25519
 * point and scalar operations.
 *
 * Two libsodium behaviours shape this file:
 *  - crypto_scalarmult_ed25519_noclamp refuses points outside the prime-order
 *    subgroup (and small-order points), and returns -1 when the result is the
 *    identity. RFC 9381 accepts mixed-order public keys and proofs whose Gamma
 *    has a torsion component, so vrf_point_mul falls back to splitting n*P
 *    into (n mod 8)*P + (n div 8)*(8P) when libsodium says no.
 *  - crypto_core_ed25519_add accepts any curve point but decodes its inputs
 *    (two square roots) and encodes its output (one inversion) on every
 *    call, about 15 µs; clearing the cofactor with three doublings still costs
 *    half of a scalar multiplication by 8, which would also refuse exactly the
 *    points that need clearing.
 */
#include "keyward/vrf.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/vrf_internal.h"
#include "keyward/codec.h"
#include "keyward/err.h"

#define VRF_DOMAIN_ENCODE 0x01
#define VRF_DOMAIN_CHALLENGE 0x02
#define VRF_DOMAIN_PROOF_TO_HASH 0x03
#define VRF_DOMAIN_BACK 0x00
#define VRF_TAI_MAX_TRIES 256

#ifdef crypto_core_ed25519_H2CSHA512
#define VRF_HAVE_ELL2 1
#else
#define VRF_HAVE_ELL2 0
#endif

/* RFC 9380 suite for ELL2, as RFC 9381 §5.5 names it; the DST is
 * "ECVRF_" ‖ h2c_suite_ID_string ‖ suite_string. */
#define VRF_ELL2_DST_PREFIX "ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_"

static const uint8_t vrf_identity[32] = {1};

/* RFC 8032 §5.1.3 step 1: the y coordinate must be below p = 2^255 - 19.
 * Points are public, so plain comparisons are fine. */
static int vrf_y_is_canonical(const uint8_t p[32])
{
    if ((p[31] & 0x7f) != 0x7f)
        return 1;
    for (size_t i = 1; i < 31; i++) {
        if (p[i] != 0xff)
            return 1;
    }
    return p[0] < 0xed;
}

/* RFC 8032 §5.1.3 step 4: x = 0 with the sign bit set is invalid. Only
 * y = 1 and y = p - 1 have x = 0; libsodium would accept both with the bit. */
static int vrf_is_negative_zero(const uint8_t p[32])
{
    uint8_t y[32];
    uint8_t minus_one[32];
    if ((p[31] & 0x80) == 0)
        return 0;
    memcpy(y, p, 32);
    y[31] &= 0x7f;
    memset(minus_one, 0xff, sizeof(minus_one));
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    return memcmp(y, vrf_identity, 32) == 0 || memcmp(y, minus_one, 32) == 0;
}

/* out = 8*p by three doublings; -1 when p does not decode to a curve point.
 * out may alias p (libsodium decodes both inputs before writing). */
static int vrf_clear_cofactor(uint8_t out[32], const uint8_t p[32])
{
    uint8_t t[32];
    if (crypto_core_ed25519_add(t, p, p) != 0 || crypto_core_ed25519_add(t, t, t) != 0 ||
        crypto_core_ed25519_add(out, t, t) != 0)
        return -1;
    return 0;
}

/* Strict RFC 8032 decoding of a public point. When p8 is not NULL it
 * receives 8*p; the doublings double as the on-curve check. */
static int vrf_point_decode(const uint8_t p[32], uint8_t *p8)
{
    uint8_t scratch[32];
    if (!vrf_y_is_canonical(p) || vrf_is_negative_zero(p))
        return KW_ERR_FORMAT;
    if (p8 == NULL)
        return crypto_core_ed25519_add(scratch, p, vrf_identity) == 0 ? KW_OK : KW_ERR_FORMAT;
    return vrf_clear_cofactor(p8, p) == 0 ? KW_OK : KW_ERR_FORMAT;
}

static int vrf_is_identity(const uint8_t p[32])
{
    return memcmp(p, vrf_identity, 32) == 0;
}

/* s < L, by checking that reducing s mod L leaves it unchanged. */
static int vrf_scalar_is_canonical(const uint8_t s[32])
{
    uint8_t wide[64] = {0};
    uint8_t reduced[32];
    memcpy(wide, s, 32);
    crypto_core_ed25519_scalar_reduce(reduced, wide);
    return memcmp(reduced, s, 32) == 0;
}

/* n*p where libsodium refused: p has a torsion component, is of small order,
 * or n*p is the identity. With n = 8q + r (r < 8): n*p = q*(8p) + r*p, and
 * 8p lies in the prime-order subgroup, so q only matters mod L. */
static int vrf_point_mul_slow(uint8_t out[32], const uint8_t n[32], const uint8_t p[32])
{
    static const uint8_t eight[32] = {8};
    uint8_t p8[32], inv8[32], wide[64] = {0}, eight_q[32], q[32], high[32], low[32];
    int r = KW_ERR_INTERNAL;

    if (vrf_point_decode(p, p8) != KW_OK) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    memcpy(wide, n, 32);
    wide[0] &= 0xf8; /* 8q */
    crypto_core_ed25519_scalar_reduce(eight_q, wide);
    if (crypto_core_ed25519_scalar_invert(inv8, eight) != 0)
        goto out;
    crypto_core_ed25519_scalar_mul(q, eight_q, inv8); /* q mod L */
    if (sodium_is_zero(q, 32) || vrf_is_identity(p8)) {
        memcpy(high, vrf_identity, 32);
    } else if (crypto_scalarmult_ed25519_noclamp(high, q, p8) != 0) {
        goto out; /* 8p has prime order and 0 < q < L: cannot happen */
    }
    memcpy(low, vrf_identity, 32);
    for (unsigned i = 0; i < (n[0] & 7u); i++) {
        if (crypto_core_ed25519_add(low, low, p) != 0)
            goto out;
    }
    if (crypto_core_ed25519_add(out, high, low) != 0)
        goto out;
    r = KW_OK;
out:
    sodium_memzero(wide, sizeof(wide));
    sodium_memzero(eight_q, sizeof(eight_q));
    sodium_memzero(q, sizeof(q));
    sodium_memzero(high, sizeof(high));
    sodium_memzero(low, sizeof(low));
    return r;
}

int vrf_point_mul(uint8_t out[static 32], const uint8_t n[static 32], const uint8_t p[static 32])
{
    if ((n[31] & 0x80) != 0)
        return KW_ERR_INVALID_ARG; /* libsodium would silently drop the bit */
    if (sodium_is_zero(n, 32)) {
        if (vrf_point_decode(p, NULL) != KW_OK)
            return KW_ERR_FORMAT;
        memcpy(out, vrf_identity, 32);
        return KW_OK;
    }
    /* The fast path: canonical, prime-order p and a non-identity result. */
    if (!vrf_is_negative_zero(p) && crypto_scalarmult_ed25519_noclamp(out, n, p) == 0)
        return KW_OK;
    return vrf_point_mul_slow(out, n, p);
}

/* n*B for n < L; libsodium returns -1 (having written the identity) for n = 0. */
static void vrf_base_mul(uint8_t out[32], const uint8_t n[32])
{
    if (crypto_scalarmult_ed25519_base_noclamp(out, n) != 0)
        memcpy(out, vrf_identity, 32);
}

/* RFC 8032 §5.1.5: x is the clamped first half of SHA-512(seed), the second
 * half keys the nonce (RFC 9381 §5.4.2.2). */
static void vrf_expand_seed(uint8_t x[32], uint8_t nonce_key[32], const uint8_t seed[32])
{
    uint8_t h[64];
    crypto_hash_sha512(h, seed, 32);
    memcpy(x, h, 32);
    x[0] &= 248;
    x[31] &= 127;
    x[31] |= 64;
    memcpy(nonce_key, h + 32, 32);
    sodium_memzero(h, sizeof(h));
}

static void vrf_scalar_reduce32(uint8_t out[32], const uint8_t in[32])
{
    uint8_t wide[64] = {0};
    memcpy(wide, in, 32);
    crypto_core_ed25519_scalar_reduce(out, wide);
    sodium_memzero(wide, sizeof(wide));
}

/* RFC 9381 §5.4.1.1: hash (suite ‖ 0x01 ‖ pk ‖ alpha ‖ ctr ‖ 0x00) until the
 * first 32 bytes decode to a point whose cofactor multiple is not the
 * identity. */
static int vrf_encode_tai(uint8_t h[32], const uint8_t pk[32], const uint8_t *alpha,
                          size_t alpha_len, vrf_trace *trace)
{
    crypto_hash_sha512_state prefix, st;
    uint8_t head[2] = {KW_VRF_EDWARDS25519_SHA512_TAI, VRF_DOMAIN_ENCODE};
    uint8_t digest[64];
    int r = KW_ERR_CRYPTO;

    crypto_hash_sha512_init(&prefix);
    crypto_hash_sha512_update(&prefix, head, sizeof(head));
    crypto_hash_sha512_update(&prefix, pk, 32);
    crypto_hash_sha512_update(&prefix, alpha, alpha_len);
    for (unsigned ctr = 0; ctr < VRF_TAI_MAX_TRIES; ctr++) {
        uint8_t tail[2] = {(uint8_t)ctr, VRF_DOMAIN_BACK};
        st = prefix;
        crypto_hash_sha512_update(&st, tail, sizeof(tail));
        crypto_hash_sha512_final(&st, digest);
        if (vrf_point_decode(digest, h) == KW_OK && !vrf_is_identity(h)) {
            if (trace != NULL)
                trace->ctr = ctr;
            r = KW_OK;
            break;
        }
    }
    if (r != KW_OK)
        memset(h, 0, 32);
    return r;
}

/*
 * RFC 9381 §5.4.1.2: RFC 9380 encode_to_curve, edwards25519_XMD:SHA-512_ELL2_NU_,
 * with DST "ECVRF_" ‖ h2c_suite_ID_string ‖ suite_string.
 *
 * Only with libsodium >= 1.0.19, whose crypto_core_ed25519_from_string is
 * that encoding. libsodium 1.0.18 has the Elligator 2 map only inside
 * crypto_core_ed25519_from_hash, which fixes the sign of the Edwards x
 * coordinate to "positive" before clearing the cofactor, where RFC 9380
 * derives it from the sign of the Montgomery y (sgn0(y) = is_square(g(x1))).
 * The two agree on about half of all inputs (RFC 9381 examples 19 and 21,
 * not 20); choosing the right sign needs field arithmetic libsodium does not
 * expose, and we do not write our own, so ELL2 is unsupported there.
 * (The >= 1.0.19 branch is not exercised on Debian 12's 1.0.18; the vector
 * test checks it wherever it is compiled in.)
 */
#if VRF_HAVE_ELL2
static int vrf_encode_ell2(uint8_t h[32], const uint8_t pk[32], const uint8_t *alpha,
                           size_t alpha_len)
{
    static const char dst[] = VRF_ELL2_DST_PREFIX "\x04";
    if (alpha_len > SIZE_MAX - 32)
        return KW_ERR_TOO_LARGE;
    uint8_t *msg = malloc(32 + alpha_len);
    if (msg == NULL)
        return KW_ERR_NOMEM;
    memcpy(msg, pk, 32);
    if (alpha_len > 0)
        memcpy(msg + 32, alpha, alpha_len);
    int r = crypto_core_ed25519_from_string(h, dst, msg, 32 + alpha_len,
                                            crypto_core_ed25519_H2CSHA512) == 0
                ? KW_OK
                : KW_ERR_CRYPTO;
    free(msg);
    return r;
}
#endif

int kw_vrf_suite_supported(kw_vrf_suite suite)
{
    return suite == KW_VRF_EDWARDS25519_SHA512_TAI ||
           (VRF_HAVE_ELL2 && suite == KW_VRF_EDWARDS25519_SHA512_ELL2);
}

int vrf_encode_to_curve(uint8_t h[static 32], kw_vrf_suite suite, const uint8_t pk[static 32],
                        const uint8_t *alpha, size_t alpha_len, vrf_trace *trace)
{
    static const uint8_t empty[1];
    if (alpha == NULL) {
        if (alpha_len != 0)
            return KW_ERR_INVALID_ARG;
        alpha = empty;
    }
    if (suite == KW_VRF_EDWARDS25519_SHA512_TAI)
        return vrf_encode_tai(h, pk, alpha, alpha_len, trace);
#if VRF_HAVE_ELL2
    if (suite == KW_VRF_EDWARDS25519_SHA512_ELL2)
        return vrf_encode_ell2(h, pk, alpha, alpha_len);
#endif
    return KW_ERR_UNSUPPORTED;
}

void vrf_challenge(uint8_t c[static KW_VRF_CHALLENGEBYTES], kw_vrf_suite suite,
                   const uint8_t y[static 32], const uint8_t h[static 32],
                   const uint8_t gamma[static 32], const uint8_t u[static 32],
                   const uint8_t v[static 32])
{
    crypto_hash_sha512_state st;
    uint8_t head[2] = {(uint8_t)suite, VRF_DOMAIN_CHALLENGE};
    uint8_t back = VRF_DOMAIN_BACK;
    uint8_t digest[64];
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, head, sizeof(head));
    crypto_hash_sha512_update(&st, y, 32);
    crypto_hash_sha512_update(&st, h, 32);
    crypto_hash_sha512_update(&st, gamma, 32);
    crypto_hash_sha512_update(&st, u, 32);
    crypto_hash_sha512_update(&st, v, 32);
    crypto_hash_sha512_update(&st, &back, 1);
    crypto_hash_sha512_final(&st, digest);
    memcpy(c, digest, KW_VRF_CHALLENGEBYTES);
}

/* beta = SHA-512(suite ‖ 0x03 ‖ 8*Gamma ‖ 0x00), given 8*Gamma. */
static void vrf_beta(uint8_t beta[64], kw_vrf_suite suite, const uint8_t gamma8[32])
{
    crypto_hash_sha512_state st;
    uint8_t head[2] = {(uint8_t)suite, VRF_DOMAIN_PROOF_TO_HASH};
    uint8_t back = VRF_DOMAIN_BACK;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, head, sizeof(head));
    crypto_hash_sha512_update(&st, gamma8, 32);
    crypto_hash_sha512_update(&st, &back, 1);
    crypto_hash_sha512_final(&st, beta);
}

void kw_vrf_keypair_from_seed(uint8_t pk[static KW_VRF_PUBLICKEYBYTES],
                              uint8_t sk[static KW_VRF_SECRETKEYBYTES],
                              const uint8_t seed[static KW_VRF_SEEDBYTES])
{
    uint8_t x[32], nonce_key[32];
    vrf_expand_seed(x, nonce_key, seed);
    /* x is clamped: a multiple of 8 in [2^254, 2^255), never a multiple of
     * L, so x*B is never the identity. */
    vrf_base_mul(pk, x);
    memmove(sk, seed, KW_VRF_SEEDBYTES);
    memcpy(sk + KW_VRF_SEEDBYTES, pk, KW_VRF_PUBLICKEYBYTES);
    sodium_memzero(x, sizeof(x));
    sodium_memzero(nonce_key, sizeof(nonce_key));
}

void kw_vrf_keypair(uint8_t pk[static KW_VRF_PUBLICKEYBYTES],
                    uint8_t sk[static KW_VRF_SECRETKEYBYTES])
{
    uint8_t seed[KW_VRF_SEEDBYTES];
    randombytes_buf(seed, sizeof(seed));
    kw_vrf_keypair_from_seed(pk, sk, seed);
    sodium_memzero(seed, sizeof(seed));
}

int kw_vrf_pk_validate(const uint8_t pk[static KW_VRF_PUBLICKEYBYTES])
{
    uint8_t y8[32];
    if (vrf_point_decode(pk, y8) != KW_OK)
        return KW_ERR_FORMAT;
    return vrf_is_identity(y8) ? KW_ERR_VERIFY : KW_OK;
}

/* Decodes and, on success, returns 8*Gamma too (for proof_to_hash). */
static int vrf_proof_decode8(kw_vrf_proof *out, uint8_t gamma8[32], const uint8_t *pi,
                             size_t pi_len)
{
    memset(out, 0, sizeof(*out));
    if (pi_len < KW_VRF_PROOFBYTES)
        return KW_ERR_TRUNCATED;
    if (pi_len > KW_VRF_PROOFBYTES)
        return KW_ERR_TOO_LARGE;
    if (vrf_point_decode(pi, gamma8) != KW_OK ||
        !vrf_scalar_is_canonical(pi + KW_VRF_POINTBYTES + KW_VRF_CHALLENGEBYTES))
        return KW_ERR_FORMAT;
    memcpy(out->gamma, pi, KW_VRF_POINTBYTES);
    memcpy(out->c, pi + KW_VRF_POINTBYTES, KW_VRF_CHALLENGEBYTES);
    memcpy(out->s, pi + KW_VRF_POINTBYTES + KW_VRF_CHALLENGEBYTES, KW_VRF_SCALARBYTES);
    return KW_OK;
}

int kw_vrf_proof_decode(kw_vrf_proof *out, const uint8_t *pi, size_t pi_len)
{
    uint8_t gamma8[32];
    return vrf_proof_decode8(out, gamma8, pi, pi_len);
}

int vrf_prove_traced(uint8_t pi[static KW_VRF_PROOFBYTES], kw_vrf_suite suite,
                     const uint8_t sk[static KW_VRF_SECRETKEYBYTES], const uint8_t *alpha,
                     size_t alpha_len, vrf_trace *trace)
{
    const uint8_t *seed = sk;
    const uint8_t *pk = sk + KW_VRF_SEEDBYTES;
    crypto_hash_sha512_state st;
    uint8_t x[32], xr[32], nonce_key[32], h[32], gamma[32], k_string[64], k[32];
    uint8_t u[32], v[32], c[32] = {0}, cx[32], s[32];
    int r = KW_ERR_INTERNAL;

    memset(pi, 0, KW_VRF_PROOFBYTES);
    if (!kw_vrf_suite_supported(suite))
        return KW_ERR_UNSUPPORTED;
    vrf_expand_seed(x, nonce_key, seed);
    vrf_scalar_reduce32(xr, x);
    if ((r = vrf_encode_to_curve(h, suite, pk, alpha, alpha_len, trace)) != KW_OK)
        goto out;
    if ((r = vrf_point_mul(gamma, xr, h)) != KW_OK)
        goto out;
    /* RFC 9381 §5.4.2.2: k = SHA-512(nonce_key ‖ H) mod L */
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, nonce_key, sizeof(nonce_key));
    crypto_hash_sha512_update(&st, h, sizeof(h));
    crypto_hash_sha512_final(&st, k_string);
    crypto_core_ed25519_scalar_reduce(k, k_string);
    vrf_base_mul(u, k);
    if ((r = vrf_point_mul(v, k, h)) != KW_OK)
        goto out;
    vrf_challenge(c, suite, pk, h, gamma, u, v);
    /* s = (k + c*x) mod L */
    crypto_core_ed25519_scalar_mul(cx, c, xr);
    crypto_core_ed25519_scalar_add(s, k, cx);
    memcpy(pi, gamma, KW_VRF_POINTBYTES);
    memcpy(pi + KW_VRF_POINTBYTES, c, KW_VRF_CHALLENGEBYTES);
    memcpy(pi + KW_VRF_POINTBYTES + KW_VRF_CHALLENGEBYTES, s, KW_VRF_SCALARBYTES);
    if (trace != NULL) {
        memcpy(trace->x, x, 32);
        memcpy(trace->h, h, 32);
        memcpy(trace->k_string, k_string, 64);
        memcpy(trace->k, k, 32);
        memcpy(trace->u, u, 32);
        memcpy(trace->v, v, 32);
    }
    r = KW_OK;
out:
    if (r != KW_OK)
        memset(pi, 0, KW_VRF_PROOFBYTES);
    sodium_memzero(x, sizeof(x));
    sodium_memzero(xr, sizeof(xr));
    sodium_memzero(nonce_key, sizeof(nonce_key));
    sodium_memzero(k_string, sizeof(k_string));
    sodium_memzero(k, sizeof(k));
    sodium_memzero(cx, sizeof(cx));
    sodium_memzero(s, sizeof(s));
    sodium_memzero(v, sizeof(v));
    sodium_memzero(&st, sizeof(st));
    return r;
}

int kw_vrf_prove(uint8_t pi[static KW_VRF_PROOFBYTES], kw_vrf_suite suite,
                 const uint8_t sk[static KW_VRF_SECRETKEYBYTES], const uint8_t *alpha,
                 size_t alpha_len)
{
    return vrf_prove_traced(pi, suite, sk, alpha, alpha_len, NULL);
}

/*
 * Verification costs one fixed-base multiplication (s*B) and three
 * variable-base ones (c*Y, s*H, c*Gamma), each of which libsodium prefixes
 * with its own subgroup check; libsodium has no double-scalar multiplication
 * for arbitrary points. The subgroup check of c*Y doubles as validate_key:
 * when it succeeds Y is canonical, of prime order and not small, and the
 * three doublings of the explicit check are skipped.
 */
int kw_vrf_verify(uint8_t beta[static KW_VRF_OUTPUTBYTES], kw_vrf_suite suite,
                  const uint8_t pk[static KW_VRF_PUBLICKEYBYTES],
                  const uint8_t pi[static KW_VRF_PROOFBYTES], const uint8_t *alpha,
                  size_t alpha_len)
{
    kw_vrf_proof proof;
    uint8_t gamma8[32], h[32], c[32] = {0}, c_check[KW_VRF_CHALLENGEBYTES];
    uint8_t sb[32], cy[32], u[32], sh[32], cg[32], v[32];
    int r = KW_ERR_INTERNAL;

    memset(beta, 0, KW_VRF_OUTPUTBYTES);
    if (!kw_vrf_suite_supported(suite))
        return KW_ERR_UNSUPPORTED;
    if (!vrf_y_is_canonical(pk) || vrf_is_negative_zero(pk))
        return KW_ERR_FORMAT;
    if ((r = vrf_proof_decode8(&proof, gamma8, pi, KW_VRF_PROOFBYTES)) != KW_OK)
        return r;
    memcpy(c, proof.c, KW_VRF_CHALLENGEBYTES);

    /* c*Y, validating Y on the way */
    if (sodium_is_zero(c, 32) || crypto_scalarmult_ed25519_noclamp(cy, c, pk) != 0) {
        if ((r = kw_vrf_pk_validate(pk)) != KW_OK)
            goto out;
        if ((r = vrf_point_mul(cy, c, pk)) != KW_OK)
            goto out;
    }
    if ((r = vrf_encode_to_curve(h, suite, pk, alpha, alpha_len, NULL)) != KW_OK)
        goto out;
    r = KW_ERR_INTERNAL;
    vrf_base_mul(sb, proof.s);
    if (crypto_core_ed25519_sub(u, sb, cy) != 0)
        goto out;
    if ((r = vrf_point_mul(sh, proof.s, h)) != KW_OK || (r = vrf_point_mul(cg, c, proof.gamma)) != KW_OK)
        goto out;
    r = KW_ERR_INTERNAL;
    if (crypto_core_ed25519_sub(v, sh, cg) != 0)
        goto out;
    vrf_challenge(c_check, suite, pk, h, proof.gamma, u, v);
    if (!kw_ct_equal(c_check, proof.c, KW_VRF_CHALLENGEBYTES)) {
        r = KW_ERR_VERIFY;
        goto out;
    }
    vrf_beta(beta, suite, gamma8);
    r = KW_OK;
out:
    if (r != KW_OK)
        memset(beta, 0, KW_VRF_OUTPUTBYTES);
    return r;
}

int kw_vrf_proof_to_hash(uint8_t beta[static KW_VRF_OUTPUTBYTES], kw_vrf_suite suite,
                         const uint8_t pi[static KW_VRF_PROOFBYTES])
{
    kw_vrf_proof proof;
    uint8_t gamma8[32];
    memset(beta, 0, KW_VRF_OUTPUTBYTES);
    if (!kw_vrf_suite_supported(suite))
        return KW_ERR_UNSUPPORTED;
    int r = vrf_proof_decode8(&proof, gamma8, pi, KW_VRF_PROOFBYTES);
    if (r != KW_OK)
        return r;
    vrf_beta(beta, suite, gamma8);
    return KW_OK;
}

/*
 * beta needs only 8*Gamma = 8*x*H, and H already has prime order, so one
 * multiplication by (8x mod L) replaces Gamma = x*H plus three doublings.
 * Total: encode_to_curve (three doublings for TAI, one map for ELL2) and a
 * single variable-base multiplication.
 */
int kw_vrf_evaluate(uint8_t beta[static KW_VRF_OUTPUTBYTES], kw_vrf_suite suite,
                    const uint8_t sk[static KW_VRF_SECRETKEYBYTES], const uint8_t *alpha,
                    size_t alpha_len)
{
    static const uint8_t eight[32] = {8};
    uint8_t x[32], xr[32], x8[32], nonce_key[32], h[32], gamma8[32];
    int r = KW_ERR_INTERNAL;

    memset(beta, 0, KW_VRF_OUTPUTBYTES);
    if (!kw_vrf_suite_supported(suite))
        return KW_ERR_UNSUPPORTED;
    vrf_expand_seed(x, nonce_key, sk);
    vrf_scalar_reduce32(xr, x);
    crypto_core_ed25519_scalar_mul(x8, xr, eight);
    if ((r = vrf_encode_to_curve(h, suite, sk + KW_VRF_SEEDBYTES, alpha, alpha_len, NULL)) != KW_OK)
        goto out;
    if ((r = vrf_point_mul(gamma8, x8, h)) != KW_OK)
        goto out;
    vrf_beta(beta, suite, gamma8);
    r = KW_OK;
out:
    sodium_memzero(x, sizeof(x));
    sodium_memzero(xr, sizeof(xr));
    sodium_memzero(x8, sizeof(x8));
    sodium_memzero(nonce_key, sizeof(nonce_key));
    sodium_memzero(gamma8, sizeof(gamma8));
    return r;
}
