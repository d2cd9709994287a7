#include "keyward/oprf.h"

#include <sodium.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/h2c.h"

/* contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier */
#define CTX_PREFIX "OPRFV1-"
#define CTX_SUFFIX "-ristretto255-SHA512"
#define CTX_LEN (sizeof(CTX_PREFIX) - 1 + 1 + sizeof(CTX_SUFFIX) - 1)
#define DST_MAX 64

/* Writes tag || contextString into dst and returns its length. */
static size_t make_dst(uint8_t dst[static DST_MAX], const char *tag, int mode)
{
    size_t tl = strlen(tag), n = 0;
    memcpy(dst, tag, tl);
    n += tl;
    memcpy(dst + n, CTX_PREFIX, sizeof(CTX_PREFIX) - 1);
    n += sizeof(CTX_PREFIX) - 1;
    dst[n++] = (uint8_t)mode;
    memcpy(dst + n, CTX_SUFFIX, sizeof(CTX_SUFFIX) - 1);
    n += sizeof(CTX_SUFFIX) - 1;
    return n;
}

static int mode_ok(int mode)
{
    return mode == KW_OPRF_MODE_OPRF || mode == KW_OPRF_MODE_VOPRF || mode == KW_OPRF_MODE_POPRF;
}

static void put16(uint8_t out[2], size_t v)
{
    out[0] = (uint8_t)(v >> 8);
    out[1] = (uint8_t)v;
}

/* DeserializeElement: KW_ERR_FORMAT for a non-canonical encoding,
 * KW_ERR_CRYPTO for the identity. */
static int element_check(const uint8_t p[static 32])
{
    if (crypto_core_ristretto255_is_valid_point(p) != 1)
        return KW_ERR_FORMAT;
    if (kw_ct_is_zero(p, 32))
        return KW_ERR_CRYPTO;
    return KW_OK;
}

int kw_oprf_element_is_valid(const uint8_t p[static KW_OPRF_ELEMENTBYTES])
{
    return element_check(p) == KW_OK;
}

/* DeserializeScalar: the encoding must be reduced mod the group order. */
static int scalar_check(const uint8_t s[static 32])
{
    uint8_t wide[64] = {0}, red[32];
    memcpy(wide, s, 32);
    crypto_core_ristretto255_scalar_reduce(red, wide);
    int ok = kw_ct_equal(red, s, 32);
    sodium_memzero(wide, sizeof(wide));
    sodium_memzero(red, sizeof(red));
    return ok ? KW_OK : KW_ERR_FORMAT;
}

/* s * P for a validated P; an identity result is encoded as all zeros
 * (libsodium reports it as failure). */
static void smul(uint8_t out[static 32], const uint8_t s[static 32], const uint8_t p[static 32])
{
    if (crypto_scalarmult_ristretto255(out, s, p) != 0)
        memset(out, 0, 32);
}

static void smul_base(uint8_t out[static 32], const uint8_t s[static 32])
{
    if (crypto_scalarmult_ristretto255_base(out, s) != 0)
        memset(out, 0, 32);
}

static int hash_to_group_parts(uint8_t out[static 32], int mode, const kw_h2c_part *parts,
                               size_t nparts)
{
    uint8_t dst[DST_MAX], uniform[64];
    size_t dst_len = make_dst(dst, "HashToGroup-", mode);
    int r = kw_h2c_expand_xmd_sha512_parts(uniform, sizeof(uniform), parts, nparts, dst, dst_len);
    if (r == KW_OK) {
        crypto_core_ristretto255_from_hash(out, uniform);
        if (kw_ct_is_zero(out, 32))
            r = KW_ERR_CRYPTO;
    }
    sodium_memzero(uniform, sizeof(uniform));
    return r;
}

static int hash_to_scalar_parts(uint8_t out[static 32], int mode, const kw_h2c_part *parts,
                                size_t nparts, const uint8_t *dst, size_t dst_len)
{
    uint8_t def[DST_MAX], uniform[64];
    if (dst == NULL) {
        dst_len = make_dst(def, "HashToScalar-", mode);
        dst = def;
    }
    int r = kw_h2c_expand_xmd_sha512_parts(uniform, sizeof(uniform), parts, nparts, dst, dst_len);
    if (r == KW_OK)
        crypto_core_ristretto255_scalar_reduce(out, uniform);
    sodium_memzero(uniform, sizeof(uniform));
    return r;
}

int kw_oprf_hash_to_group(uint8_t out[static KW_OPRF_ELEMENTBYTES], int mode,
                          const uint8_t *input, size_t input_len)
{
    if (!mode_ok(mode) || (input == NULL && input_len > 0)) {
        memset(out, 0, KW_OPRF_ELEMENTBYTES);
        return KW_ERR_INVALID_ARG;
    }
    /* The same bound as Blind and Finalize: an input the protocol cannot
     * frame (I2OSP(len, 2)) is refused at every entry point. */
    if (input_len > KW_OPRF_INPUT_MAXBYTES) {
        memset(out, 0, KW_OPRF_ELEMENTBYTES);
        return KW_ERR_TOO_LARGE;
    }
    const kw_h2c_part p = {input, input_len};
    int r = hash_to_group_parts(out, mode, &p, 1);
    if (r != KW_OK)
        memset(out, 0, KW_OPRF_ELEMENTBYTES);
    return r;
}

int kw_oprf_hash_to_scalar(uint8_t out[static KW_OPRF_SCALARBYTES], int mode,
                           const uint8_t *input, size_t input_len, const uint8_t *dst,
                           size_t dst_len)
{
    if (!mode_ok(mode) || (input == NULL && input_len > 0)) {
        memset(out, 0, KW_OPRF_SCALARBYTES);
        return KW_ERR_INVALID_ARG;
    }
    const kw_h2c_part p = {input, input_len};
    int r = hash_to_scalar_parts(out, mode, &p, 1, dst, dst_len);
    if (r != KW_OK)
        memset(out, 0, KW_OPRF_SCALARBYTES);
    return r;
}

int kw_oprf_derive_keypair(uint8_t sk[static KW_OPRF_SKBYTES], uint8_t *pk, int mode,
                           const uint8_t seed[static KW_OPRF_SEEDBYTES], const uint8_t *info,
                           size_t info_len)
{
    int r = KW_ERR_INTERNAL;
    uint8_t dst[DST_MAX], len16[2];
    memset(sk, 0, KW_OPRF_SKBYTES);
    if (pk != NULL)
        memset(pk, 0, KW_OPRF_PKBYTES);
    if (!mode_ok(mode) || (info == NULL && info_len > 0))
        return KW_ERR_INVALID_ARG;
    if (info_len > KW_OPRF_INFO_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    size_t dst_len = make_dst(dst, "DeriveKeyPair", mode);
    put16(len16, info_len);
    for (unsigned counter = 0; counter < 256; counter++) {
        const uint8_t c = (uint8_t)counter;
        const kw_h2c_part parts[] = {{seed, KW_OPRF_SEEDBYTES}, {len16, 2}, {info, info_len}, {&c, 1}};
        r = hash_to_scalar_parts(sk, mode, parts, 4, dst, dst_len);
        if (r != KW_OK)
            goto out;
        if (!kw_ct_is_zero(sk, KW_OPRF_SKBYTES))
            break;
    }
    if (kw_ct_is_zero(sk, KW_OPRF_SKBYTES)) {
        r = KW_ERR_CRYPTO;
        goto out;
    }
    if (pk != NULL)
        smul_base(pk, sk);
    r = KW_OK;
out:
    if (r != KW_OK) {
        sodium_memzero(sk, KW_OPRF_SKBYTES);
        if (pk != NULL)
            memset(pk, 0, KW_OPRF_PKBYTES);
    }
    return r;
}

int kw_oprf_keygen(uint8_t sk[static KW_OPRF_SKBYTES], uint8_t pk[static KW_OPRF_PKBYTES])
{
    do {
        crypto_core_ristretto255_scalar_random(sk);
    } while (kw_ct_is_zero(sk, KW_OPRF_SKBYTES));
    smul_base(pk, sk);
    return KW_OK;
}

/* --- client -------------------------------------------------------------- */

int kw_oprf_blind_det(const uint8_t blind[static KW_OPRF_SCALARBYTES],
                      uint8_t blinded[static KW_OPRF_ELEMENTBYTES], int mode, const uint8_t *input,
                      size_t input_len)
{
    uint8_t p[32];
    int r = KW_ERR_INTERNAL;
    memset(blinded, 0, KW_OPRF_ELEMENTBYTES);
    if (!mode_ok(mode) || (input == NULL && input_len > 0))
        return KW_ERR_INVALID_ARG;
    if (input_len > KW_OPRF_INPUT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if ((r = scalar_check(blind)) != KW_OK)
        goto out;
    if (kw_ct_is_zero(blind, KW_OPRF_SCALARBYTES)) {
        r = KW_ERR_CRYPTO;
        goto out;
    }
    const kw_h2c_part part = {input, input_len};
    if ((r = hash_to_group_parts(p, mode, &part, 1)) != KW_OK)
        goto out;
    smul(blinded, blind, p);
    r = KW_OK;
out:
    sodium_memzero(p, sizeof(p));
    return r;
}

int kw_oprf_blind(uint8_t blind[static KW_OPRF_SCALARBYTES],
                  uint8_t blinded[static KW_OPRF_ELEMENTBYTES], int mode, const uint8_t *input,
                  size_t input_len)
{
    do {
        crypto_core_ristretto255_scalar_random(blind);
    } while (kw_ct_is_zero(blind, KW_OPRF_SCALARBYTES));
    int r = kw_oprf_blind_det(blind, blinded, mode, input, input_len);
    if (r != KW_OK)
        sodium_memzero(blind, KW_OPRF_SCALARBYTES);
    return r;
}

/* m = HashToScalar("Info" || I2OSP(len(info), 2) || info) in mode 2. */
static int poprf_info_scalar(uint8_t m[static 32], const uint8_t *info, size_t info_len)
{
    uint8_t len16[2];
    if (info == NULL && info_len > 0)
        return KW_ERR_INVALID_ARG;
    if (info_len > KW_OPRF_INFO_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    put16(len16, info_len);
    const kw_h2c_part parts[] = {{(const uint8_t *)"Info", 4}, {len16, 2}, {info, info_len}};
    return hash_to_scalar_parts(m, KW_OPRF_MODE_POPRF, parts, 3, NULL, 0);
}

int kw_poprf_tweak_key(uint8_t tweaked[static KW_OPRF_PKBYTES],
                       const uint8_t pk[static KW_OPRF_PKBYTES], const uint8_t *info,
                       size_t info_len)
{
    uint8_t m[32], t[32];
    int r;
    memset(tweaked, 0, KW_OPRF_PKBYTES);
    if ((r = element_check(pk)) != KW_OK)
        goto out;
    if ((r = poprf_info_scalar(m, info, info_len)) != KW_OK)
        goto out;
    smul_base(t, m);
    if (crypto_core_ristretto255_add(tweaked, t, pk) != 0) {
        r = KW_ERR_INTERNAL;
        goto out;
    }
    r = kw_ct_is_zero(tweaked, 32) ? KW_ERR_CRYPTO : KW_OK;
out:
    sodium_memzero(m, sizeof(m));
    sodium_memzero(t, sizeof(t));
    return r;
}

/* Hash(len || input || [len || info] || len || unblinded || "Finalize") */
static void finalize_hash(uint8_t out[static 64], const uint8_t *input, size_t input_len,
                          const uint8_t *info, size_t info_len, int with_info,
                          const uint8_t unblinded[static 32])
{
    crypto_hash_sha512_state st;
    uint8_t len16[2];
    crypto_hash_sha512_init(&st);
    put16(len16, input_len);
    crypto_hash_sha512_update(&st, len16, 2);
    if (input_len > 0)
        crypto_hash_sha512_update(&st, input, input_len);
    if (with_info) {
        put16(len16, info_len);
        crypto_hash_sha512_update(&st, len16, 2);
        if (info_len > 0)
            crypto_hash_sha512_update(&st, info, info_len);
    }
    put16(len16, 32);
    crypto_hash_sha512_update(&st, len16, 2);
    crypto_hash_sha512_update(&st, unblinded, 32);
    crypto_hash_sha512_update(&st, (const uint8_t *)"Finalize", 8);
    crypto_hash_sha512_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* Unblinds one evaluated element and hashes the output. */
static int finalize_one(uint8_t out[static 64], const uint8_t *input, size_t input_len,
                        const uint8_t *info, size_t info_len, int with_info,
                        const uint8_t blind[static 32], const uint8_t evaluated[static 32])
{
    uint8_t inv[32], n[32];
    int r;
    if (input == NULL && input_len > 0)
        return KW_ERR_INVALID_ARG;
    if (input_len > KW_OPRF_INPUT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if ((r = element_check(evaluated)) != KW_OK)
        goto out;
    if ((r = scalar_check(blind)) != KW_OK)
        goto out;
    if (crypto_core_ristretto255_scalar_invert(inv, blind) != 0) {
        r = KW_ERR_CRYPTO;
        goto out;
    }
    smul(n, inv, evaluated);
    finalize_hash(out, input, input_len, info, info_len, with_info, n);
    r = KW_OK;
out:
    sodium_memzero(inv, sizeof(inv));
    sodium_memzero(n, sizeof(n));
    return r;
}

int kw_oprf_finalize(uint8_t out[static KW_OPRF_OUTPUTBYTES], const uint8_t *input,
                     size_t input_len, const uint8_t blind[static KW_OPRF_SCALARBYTES],
                     const uint8_t evaluated[static KW_OPRF_ELEMENTBYTES])
{
    int r = finalize_one(out, input, input_len, NULL, 0, 0, blind, evaluated);
    if (r != KW_OK)
        sodium_memzero(out, KW_OPRF_OUTPUTBYTES);
    return r;
}

/* --- DLEQ proofs (RFC 9497 §2.2) ------------------------------------------ */

/* ComputeComposites: M = sum d_i*C_i; Z = k*M when k is given (the
 * prover's fast path), else sum d_i*D_i. */
static int compute_composites(uint8_t m_out[static 32], uint8_t z_out[static 32], int mode,
                              const uint8_t *k, const uint8_t b[static 32], const uint8_t *c,
                              const uint8_t *d, size_t n)
{
    uint8_t seed_dst[DST_MAX], seed[64], di[32], tmp[32], acc_m[32] = {0}, acc_z[32] = {0};
    uint8_t len32[2], len64[2], len_dst[2], idx[2];
    crypto_hash_sha512_state st;
    int r = KW_ERR_INTERNAL;

    size_t seed_dst_len = make_dst(seed_dst, "Seed-", mode);
    put16(len32, 32);
    put16(len64, 64);
    put16(len_dst, seed_dst_len);
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, len32, 2);
    crypto_hash_sha512_update(&st, b, 32);
    crypto_hash_sha512_update(&st, len_dst, 2);
    crypto_hash_sha512_update(&st, seed_dst, seed_dst_len);
    crypto_hash_sha512_final(&st, seed);

    for (size_t i = 0; i < n; i++) {
        put16(idx, i);
        const kw_h2c_part parts[] = {{len64, 2},       {seed, 64},          {idx, 2},
                                     {len32, 2},       {c + 32 * i, 32},    {len32, 2},
                                     {d + 32 * i, 32}, {(const uint8_t *)"Composite", 9}};
        if ((r = hash_to_scalar_parts(di, mode, parts, 8, NULL, 0)) != KW_OK)
            goto out;
        smul(tmp, di, c + 32 * i);
        if (crypto_core_ristretto255_add(acc_m, tmp, acc_m) != 0) {
            r = KW_ERR_INTERNAL;
            goto out;
        }
        if (k == NULL) {
            smul(tmp, di, d + 32 * i);
            if (crypto_core_ristretto255_add(acc_z, tmp, acc_z) != 0) {
                r = KW_ERR_INTERNAL;
                goto out;
            }
        }
    }
    if (k != NULL)
        smul(acc_z, k, acc_m);
    memcpy(m_out, acc_m, 32);
    memcpy(z_out, acc_z, 32);
    r = KW_OK;
out:
    sodium_memzero(di, sizeof(di));
    sodium_memzero(tmp, sizeof(tmp));
    sodium_memzero(acc_z, sizeof(acc_z));
    sodium_memzero(&st, sizeof(st));
    return r;
}

/* c = HashToScalar(len||B || len||M || len||Z || len||t2 || len||t3 || "Challenge") */
static int challenge(uint8_t c[static 32], int mode, const uint8_t b[static 32],
                     const uint8_t m[static 32], const uint8_t z[static 32],
                     const uint8_t t2[static 32], const uint8_t t3[static 32])
{
    uint8_t len32[2];
    put16(len32, 32);
    const kw_h2c_part parts[] = {{len32, 2}, {b, 32},  {len32, 2}, {m, 32},
                                 {len32, 2}, {z, 32},  {len32, 2}, {t2, 32},
                                 {len32, 2}, {t3, 32}, {(const uint8_t *)"Challenge", 9}};
    return hash_to_scalar_parts(c, mode, parts, 11, NULL, 0);
}

/* GenerateProof(k, G, B, C, D) with randomness r. */
static int proof_generate(uint8_t proof[static 64], int mode, const uint8_t k[static 32],
                          const uint8_t b[static 32], const uint8_t *c, const uint8_t *d,
                          size_t n, const uint8_t r_scalar[static 32])
{
    uint8_t m[32], z[32], t2[32], t3[32], ch[32], ck[32];
    int r;
    if ((r = compute_composites(m, z, mode, k, b, c, d, n)) != KW_OK)
        goto out;
    smul_base(t2, r_scalar);
    smul(t3, r_scalar, m);
    if ((r = challenge(ch, mode, b, m, z, t2, t3)) != KW_OK)
        goto out;
    crypto_core_ristretto255_scalar_mul(ck, ch, k);
    memcpy(proof, ch, 32);
    crypto_core_ristretto255_scalar_sub(proof + 32, r_scalar, ck);
    r = KW_OK;
out:
    sodium_memzero(z, sizeof(z));
    sodium_memzero(t3, sizeof(t3));
    sodium_memzero(ck, sizeof(ck));
    return r;
}

/* VerifyProof(G, B, C, D, proof): KW_ERR_VERIFY on any mismatch. */
static int proof_verify(int mode, const uint8_t b[static 32], const uint8_t *c, const uint8_t *d,
                        size_t n, const uint8_t proof[static 64])
{
    uint8_t m[32], z[32], t2[32], t3[32], u[32], v[32], ch[32];
    int r;
    if (scalar_check(proof) != KW_OK || scalar_check(proof + 32) != KW_OK)
        return KW_ERR_VERIFY;
    if ((r = compute_composites(m, z, mode, NULL, b, c, d, n)) != KW_OK)
        return r;
    /* t2 = s*G + c*B, t3 = s*M + c*Z */
    smul_base(u, proof + 32);
    smul(v, proof, b);
    if (crypto_core_ristretto255_add(t2, u, v) != 0)
        return KW_ERR_INTERNAL;
    if (kw_ct_is_zero(m, 32)) {
        memset(u, 0, 32);
    } else {
        smul(u, proof + 32, m);
    }
    if (kw_ct_is_zero(z, 32)) {
        memset(v, 0, 32);
    } else {
        smul(v, proof, z);
    }
    if (crypto_core_ristretto255_add(t3, u, v) != 0)
        return KW_ERR_INTERNAL;
    if ((r = challenge(ch, mode, b, m, z, t2, t3)) != KW_OK)
        return r;
    return kw_ct_equal(ch, proof, 32) ? KW_OK : KW_ERR_VERIFY;
}

static int batch_args_ok(size_t n)
{
    return n > 0 && n <= KW_OPRF_MAX_BATCH;
}

/* Validates n elements at p (each canonical and non-identity). */
static int elements_check(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = element_check(p + 32 * i);
        if (r != KW_OK)
            return r;
    }
    return KW_OK;
}

static int finalize_batch(uint8_t *out, const uint8_t *const *inputs, const size_t *input_lens,
                          const uint8_t *blinds, const uint8_t *evaluated, size_t n,
                          const uint8_t *info, size_t info_len, int with_info)
{
    for (size_t i = 0; i < n; i++) {
        int r = finalize_one(out + 64 * i, inputs[i], input_lens[i], info, info_len, with_info,
                             blinds + 32 * i, evaluated + 32 * i);
        if (r != KW_OK)
            return r;
    }
    return KW_OK;
}

int kw_voprf_finalize(uint8_t *out, const uint8_t *const *inputs, const size_t *input_lens,
                      const uint8_t *blinds, const uint8_t *blinded, const uint8_t *evaluated,
                      size_t n, const uint8_t proof[static KW_OPRF_PROOFBYTES],
                      const uint8_t pk[static KW_OPRF_PKBYTES])
{
    int r;
    if (out == NULL || inputs == NULL || input_lens == NULL || blinds == NULL || blinded == NULL ||
        evaluated == NULL || !batch_args_ok(n))
        return KW_ERR_INVALID_ARG;
    memset(out, 0, 64 * n);
    if ((r = element_check(pk)) != KW_OK || (r = elements_check(blinded, n)) != KW_OK ||
        (r = elements_check(evaluated, n)) != KW_OK)
        return r;
    if ((r = proof_verify(KW_OPRF_MODE_VOPRF, pk, blinded, evaluated, n, proof)) != KW_OK)
        return r;
    r = finalize_batch(out, inputs, input_lens, blinds, evaluated, n, NULL, 0, 0);
    if (r != KW_OK)
        sodium_memzero(out, 64 * n);
    return r;
}

int kw_poprf_finalize(uint8_t *out, const uint8_t *const *inputs, const size_t *input_lens,
                      const uint8_t *blinds, const uint8_t *blinded, const uint8_t *evaluated,
                      size_t n, const uint8_t proof[static KW_OPRF_PROOFBYTES],
                      const uint8_t *info, size_t info_len,
                      const uint8_t tweaked[static KW_OPRF_PKBYTES])
{
    int r;
    if (out == NULL || inputs == NULL || input_lens == NULL || blinds == NULL || blinded == NULL ||
        evaluated == NULL || !batch_args_ok(n) || (info == NULL && info_len > 0))
        return KW_ERR_INVALID_ARG;
    memset(out, 0, 64 * n);
    if (info_len > KW_OPRF_INFO_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if ((r = element_check(tweaked)) != KW_OK || (r = elements_check(blinded, n)) != KW_OK ||
        (r = elements_check(evaluated, n)) != KW_OK)
        return r;
    /* The server proved evaluated*t = blinded for the key t*G. */
    if ((r = proof_verify(KW_OPRF_MODE_POPRF, tweaked, evaluated, blinded, n, proof)) != KW_OK)
        return r;
    r = finalize_batch(out, inputs, input_lens, blinds, evaluated, n, info, info_len, 1);
    if (r != KW_OK)
        sodium_memzero(out, 64 * n);
    return r;
}

/* --- server -------------------------------------------------------------- */

/* The proof randomness r must be reduced and non-zero: with r = 0 the
 * proof's s = -c*k hands out the key (k = -s/c). */
static int proof_random_check(const uint8_t r_scalar[static 32])
{
    if (scalar_check(r_scalar) != KW_OK || kw_ct_is_zero(r_scalar, 32))
        return KW_ERR_INVALID_ARG;
    return KW_OK;
}

static int sk_check(const uint8_t sk[static 32])
{
    int r = scalar_check(sk);
    if (r != KW_OK)
        return KW_ERR_INVALID_ARG;
    return kw_ct_is_zero(sk, 32) ? KW_ERR_INVALID_ARG : KW_OK;
}

int kw_oprf_blind_evaluate(uint8_t evaluated[static KW_OPRF_ELEMENTBYTES],
                           const uint8_t sk[static KW_OPRF_SKBYTES],
                           const uint8_t blinded[static KW_OPRF_ELEMENTBYTES])
{
    int r;
    memset(evaluated, 0, KW_OPRF_ELEMENTBYTES);
    if ((r = sk_check(sk)) != KW_OK || (r = element_check(blinded)) != KW_OK)
        return r;
    smul(evaluated, sk, blinded);
    return KW_OK;
}

int kw_oprf_evaluate(uint8_t out[static KW_OPRF_OUTPUTBYTES],
                     const uint8_t sk[static KW_OPRF_SKBYTES], const uint8_t *input,
                     size_t input_len)
{
    uint8_t p[32], e[32];
    int r;
    memset(out, 0, KW_OPRF_OUTPUTBYTES);
    if ((r = sk_check(sk)) != KW_OK)
        return r;
    if (input == NULL && input_len > 0)
        return KW_ERR_INVALID_ARG;
    if (input_len > KW_OPRF_INPUT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    const kw_h2c_part part = {input, input_len};
    if ((r = hash_to_group_parts(p, KW_OPRF_MODE_OPRF, &part, 1)) != KW_OK)
        goto out;
    smul(e, sk, p);
    finalize_hash(out, input, input_len, NULL, 0, 0, e);
    r = KW_OK;
out:
    sodium_memzero(p, sizeof(p));
    sodium_memzero(e, sizeof(e));
    return r;
}

int kw_voprf_blind_evaluate_det(uint8_t *evaluated, uint8_t proof[static KW_OPRF_PROOFBYTES],
                                const uint8_t sk[static KW_OPRF_SKBYTES],
                                const uint8_t pk[static KW_OPRF_PKBYTES], const uint8_t *blinded,
                                size_t n, const uint8_t r_scalar[static KW_OPRF_SCALARBYTES])
{
    int r;
    memset(proof, 0, KW_OPRF_PROOFBYTES);
    if (evaluated == NULL || blinded == NULL || !batch_args_ok(n))
        return KW_ERR_INVALID_ARG;
    memset(evaluated, 0, 32 * n);
    if ((r = sk_check(sk)) != KW_OK || (r = element_check(pk)) != KW_OK ||
        (r = elements_check(blinded, n)) != KW_OK)
        return r;
    if (proof_random_check(r_scalar) != KW_OK)
        return KW_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        smul(evaluated + 32 * i, sk, blinded + 32 * i);
    r = proof_generate(proof, KW_OPRF_MODE_VOPRF, sk, pk, blinded, evaluated, n, r_scalar);
    if (r != KW_OK) {
        memset(evaluated, 0, 32 * n);
        memset(proof, 0, KW_OPRF_PROOFBYTES);
    }
    return r;
}

int kw_voprf_blind_evaluate(uint8_t *evaluated, uint8_t proof[static KW_OPRF_PROOFBYTES],
                            const uint8_t sk[static KW_OPRF_SKBYTES],
                            const uint8_t pk[static KW_OPRF_PKBYTES], const uint8_t *blinded,
                            size_t n)
{
    uint8_t rs[32];
    crypto_core_ristretto255_scalar_random(rs);
    int r = kw_voprf_blind_evaluate_det(evaluated, proof, sk, pk, blinded, n, rs);
    sodium_memzero(rs, sizeof(rs));
    return r;
}

int kw_poprf_blind_evaluate_det(uint8_t *evaluated, uint8_t proof[static KW_OPRF_PROOFBYTES],
                                const uint8_t sk[static KW_OPRF_SKBYTES], const uint8_t *blinded,
                                size_t n, const uint8_t *info, size_t info_len,
                                const uint8_t r_scalar[static KW_OPRF_SCALARBYTES])
{
    uint8_t m[32], t[32], t_inv[32], tweaked[32];
    int r;
    memset(proof, 0, KW_OPRF_PROOFBYTES);
    if (evaluated == NULL || blinded == NULL || !batch_args_ok(n))
        return KW_ERR_INVALID_ARG;
    memset(evaluated, 0, 32 * n);
    if ((r = sk_check(sk)) != KW_OK || (r = elements_check(blinded, n)) != KW_OK)
        return r;
    if (proof_random_check(r_scalar) != KW_OK)
        return KW_ERR_INVALID_ARG;
    if ((r = poprf_info_scalar(m, info, info_len)) != KW_OK)
        goto out;
    crypto_core_ristretto255_scalar_add(t, sk, m);
    if (crypto_core_ristretto255_scalar_invert(t_inv, t) != 0) {
        r = KW_ERR_CRYPTO;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        smul(evaluated + 32 * i, t_inv, blinded + 32 * i);
    smul_base(tweaked, t);
    r = proof_generate(proof, KW_OPRF_MODE_POPRF, t, tweaked, evaluated, blinded, n, r_scalar);
out:
    if (r != KW_OK) {
        memset(evaluated, 0, 32 * n);
        memset(proof, 0, KW_OPRF_PROOFBYTES);
    }
    sodium_memzero(m, sizeof(m));
    sodium_memzero(t, sizeof(t));
    sodium_memzero(t_inv, sizeof(t_inv));
    return r;
}

int kw_poprf_blind_evaluate(uint8_t *evaluated, uint8_t proof[static KW_OPRF_PROOFBYTES],
                            const uint8_t sk[static KW_OPRF_SKBYTES], const uint8_t *blinded,
                            size_t n, const uint8_t *info, size_t info_len)
{
    uint8_t rs[32];
    crypto_core_ristretto255_scalar_random(rs);
    int r = kw_poprf_blind_evaluate_det(evaluated, proof, sk, blinded, n, info, info_len, rs);
    sodium_memzero(rs, sizeof(rs));
    return r;
}
