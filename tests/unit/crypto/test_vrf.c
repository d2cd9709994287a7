/* Unit tests for the ECVRF beyond the RFC vectors: round trips, every
 * tampering of a proof, key validation, strict encodings, exact lengths, and
 * the mixed-order arithmetic libsodium refuses to do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "crypto/vrf_internal.h"
#include "keyward/keyward.h"
#include "keyward/vrf.h"

#define TAI KW_VRF_EDWARDS25519_SHA512_TAI

static const uint8_t identity[32] = {1};
static const uint8_t zero64[128]; /* compared against up to 80 bytes */

/* The eight points of small order, canonically encoded: the identity, the
 * point of order 2, two of order 4 and four of order 8. The test below
 * checks each one rather than trusting this table. */
static const char *const small_order_hex[] = {
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
};
#define SMALL_ORDER_COUNT (sizeof(small_order_hex) / sizeof(small_order_hex[0]))

static void from_hex(uint8_t *out, size_t n, const char *hex)
{
    size_t len;
    assert_int_equal(kw_hex_decode(out, n, &len, hex, strlen(hex)), KW_OK);
    assert_int_equal(len, n);
}

static void times8(uint8_t out[32], const uint8_t p[32])
{
    uint8_t t[32];
    assert_int_equal(crypto_core_ed25519_add(t, p, p), 0);
    assert_int_equal(crypto_core_ed25519_add(t, t, t), 0);
    assert_int_equal(crypto_core_ed25519_add(out, t, t), 0);
}

/* L as little-endian bytes, derived from libsodium: -1 mod L, plus one. */
static void group_order(uint8_t l[32])
{
    uint8_t one[32] = {1};
    crypto_core_ed25519_scalar_negate(l, one);
    unsigned carry = 1;
    for (size_t i = 0; i < 32; i++) {
        unsigned v = l[i] + carry;
        l[i] = (uint8_t)v;
        carry = v >> 8;
    }
}

typedef struct {
    uint8_t pk[KW_VRF_PUBLICKEYBYTES];
    uint8_t sk[KW_VRF_SECRETKEYBYTES];
    uint8_t pi[KW_VRF_PROOFBYTES];
    uint8_t beta[KW_VRF_OUTPUTBYTES];
    uint8_t alpha[16];
} fixture;

static void make_fixture(fixture *f)
{
    uint8_t seed[KW_VRF_SEEDBYTES];
    memset(seed, 0x5a, sizeof(seed));
    kw_vrf_keypair_from_seed(f->pk, f->sk, seed);
    memcpy(f->alpha, "fixture message!", sizeof(f->alpha));
    assert_int_equal(kw_vrf_prove(f->pi, TAI, f->sk, f->alpha, sizeof(f->alpha)), KW_OK);
    assert_int_equal(kw_vrf_verify(f->beta, TAI, f->pk, f->pi, f->alpha, sizeof(f->alpha)), KW_OK);
}

/* Verifies and checks the code; on failure beta must be all zero. */
static void expect_verify(const fixture *f, const uint8_t pk[32], const uint8_t pi[80],
                          const uint8_t *alpha, size_t alpha_len, int want)
{
    uint8_t beta[KW_VRF_OUTPUTBYTES];
    memset(beta, 0xee, sizeof(beta));
    int r = kw_vrf_verify(beta, TAI, pk, pi, alpha, alpha_len);
    assert_int_equal(r, want);
    if (want != KW_OK)
        assert_memory_equal(beta, zero64, sizeof(beta));
    else
        assert_memory_equal(beta, f->beta, sizeof(beta));
}

static void test_keypair_is_ed25519(void **state)
{
    (void)state;
    for (int i = 0; i < 16; i++) {
        uint8_t seed[32], pk[32], sk[64], ed_pk[32], ed_sk[64];
        randombytes_buf(seed, sizeof(seed));
        kw_vrf_keypair_from_seed(pk, sk, seed);
        assert_int_equal(crypto_sign_seed_keypair(ed_pk, ed_sk, seed), 0);
        assert_memory_equal(pk, ed_pk, 32);
        assert_memory_equal(sk, seed, 32);
        assert_memory_equal(sk + 32, pk, 32);
        assert_int_equal(kw_vrf_pk_validate(pk), KW_OK);
    }
    uint8_t pk1[32], sk1[64], pk2[32], sk2[64];
    kw_vrf_keypair(pk1, sk1);
    kw_vrf_keypair(pk2, sk2);
    assert_memory_not_equal(pk1, pk2, 32);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 1, 31, 32, 33, 64, 1000};
    static uint8_t alpha[1000];
    uint8_t pk[32], sk[64];
    kw_vrf_keypair(pk, sk);
    randombytes_buf(alpha, sizeof(alpha));
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t pi[80], pi2[80], beta[64], beta_hash[64], beta_eval[64];
        kw_vrf_proof proof;
        assert_int_equal(kw_vrf_prove(pi, TAI, sk, alpha, lens[i]), KW_OK);
        assert_int_equal(kw_vrf_prove(pi2, TAI, sk, alpha, lens[i]), KW_OK);
        assert_memory_equal(pi, pi2, 80); /* deterministic */
        assert_int_equal(kw_vrf_verify(beta, TAI, pk, pi, alpha, lens[i]), KW_OK);
        assert_int_equal(kw_vrf_proof_to_hash(beta_hash, TAI, pi), KW_OK);
        assert_int_equal(kw_vrf_evaluate(beta_eval, TAI, sk, alpha, lens[i]), KW_OK);
        assert_memory_equal(beta, beta_hash, 64);
        assert_memory_equal(beta, beta_eval, 64);
        assert_int_equal(kw_vrf_proof_decode(&proof, pi, sizeof(pi)), KW_OK);
        assert_memory_equal(proof.gamma, pi, 32);
        assert_memory_equal(proof.c, pi + 32, 16);
        assert_memory_equal(proof.s, pi + 48, 32);
    }
    /* NULL alpha with length 0 is the empty string */
    uint8_t pi[80], pi_empty[80], beta[64];
    assert_int_equal(kw_vrf_prove(pi, TAI, sk, NULL, 0), KW_OK);
    assert_int_equal(kw_vrf_prove(pi_empty, TAI, sk, alpha, 0), KW_OK);
    assert_memory_equal(pi, pi_empty, 80);
    assert_int_equal(kw_vrf_verify(beta, TAI, pk, pi, NULL, 0), KW_OK);
    /* different alphas, different outputs */
    uint8_t beta_a[64], beta_b[64];
    assert_int_equal(kw_vrf_evaluate(beta_a, TAI, sk, (const uint8_t *)"a", 1), KW_OK);
    assert_int_equal(kw_vrf_evaluate(beta_b, TAI, sk, (const uint8_t *)"b", 1), KW_OK);
    assert_memory_not_equal(beta_a, beta_b, 64);
}

static void test_unsupported_suite(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    uint8_t pi[80], beta[64];
    kw_vrf_suite bogus = (kw_vrf_suite)0x7f;
    assert_int_equal(kw_vrf_suite_supported(bogus), 0);
    assert_int_equal(kw_vrf_suite_supported(TAI), 1);
    memset(pi, 0xee, sizeof(pi));
    assert_int_equal(kw_vrf_prove(pi, bogus, f.sk, f.alpha, sizeof(f.alpha)), KW_ERR_UNSUPPORTED);
    assert_memory_equal(pi, zero64, 80);
    assert_int_equal(kw_vrf_verify(beta, bogus, f.pk, f.pi, f.alpha, sizeof(f.alpha)),
                     KW_ERR_UNSUPPORTED);
    assert_int_equal(kw_vrf_proof_to_hash(beta, bogus, f.pi), KW_ERR_UNSUPPORTED);
    assert_int_equal(kw_vrf_evaluate(beta, bogus, f.sk, f.alpha, sizeof(f.alpha)),
                     KW_ERR_UNSUPPORTED);
    assert_memory_equal(beta, zero64, 64);
    if (!kw_vrf_suite_supported(KW_VRF_EDWARDS25519_SHA512_ELL2)) {
        assert_int_equal(kw_vrf_prove(pi, KW_VRF_EDWARDS25519_SHA512_ELL2, f.sk, f.alpha, 16),
                         KW_ERR_UNSUPPORTED);
        assert_int_equal(kw_vrf_verify(beta, KW_VRF_EDWARDS25519_SHA512_ELL2, f.pk, f.pi,
                                       f.alpha, 16),
                         KW_ERR_UNSUPPORTED);
    } else {
        /* a TAI proof is not an ELL2 proof */
        assert_int_equal(kw_vrf_verify(beta, KW_VRF_EDWARDS25519_SHA512_ELL2, f.pk, f.pi,
                                       f.alpha, 16),
                         KW_ERR_VERIFY);
    }
}

/* Every single-bit change of Gamma is rejected: as malformed when the new
 * encoding is not a canonical curve point, else as a failed proof. */
static void test_tampered_gamma(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    unsigned format = 0, verify = 0;
    for (unsigned bit = 0; bit < 256; bit++) {
        uint8_t pi[80];
        kw_vrf_proof proof;
        memcpy(pi, f.pi, 80);
        pi[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int want = kw_vrf_proof_decode(&proof, pi, 80) == KW_OK ? KW_ERR_VERIFY : KW_ERR_FORMAT;
        format += want == KW_ERR_FORMAT;
        verify += want == KW_ERR_VERIFY;
        expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), want);
        if (want == KW_ERR_FORMAT) {
            uint8_t beta[64];
            assert_int_equal(kw_vrf_proof_to_hash(beta, TAI, pi), KW_ERR_FORMAT);
        }
    }
    /* both outcomes occur: about half of all y values are on the curve */
    assert_true(format > 0);
    assert_true(verify > 0);
}

static void test_tampered_c(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    for (unsigned bit = 0; bit < 128; bit++) {
        uint8_t pi[80];
        memcpy(pi, f.pi, 80);
        pi[32 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), KW_ERR_VERIFY);
    }
    /* c = 0 exercises the identity results libsodium refuses */
    uint8_t pi[80];
    memcpy(pi, f.pi, 80);
    memset(pi + 32, 0, 16);
    expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), KW_ERR_VERIFY);
}

static void test_tampered_s(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    unsigned format = 0;
    for (unsigned bit = 0; bit < 256; bit++) {
        uint8_t pi[80];
        kw_vrf_proof proof;
        memcpy(pi, f.pi, 80);
        pi[48 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int want = kw_vrf_proof_decode(&proof, pi, 80) == KW_OK ? KW_ERR_VERIFY : KW_ERR_FORMAT;
        format += want == KW_ERR_FORMAT;
        expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), want);
    }
    assert_true(format >= 3); /* bits 253..255 always push s past L */
    uint8_t pi[80];
    memcpy(pi, f.pi, 80);
    memset(pi + 48, 0, 32); /* s = 0 */
    expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), KW_ERR_VERIFY);
}

/* s must be reduced: s + L, L itself and 2^256 - 1 are malformed (no
 * malleability); L - 1 is well-formed but wrong. */
static void test_s_not_reduced(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    uint8_t l[32], pi[80];
    kw_vrf_proof proof;
    group_order(l);

    memcpy(pi, f.pi, 80);
    unsigned carry = 0;
    for (size_t i = 0; i < 32; i++) {
        unsigned v = pi[48 + i] + l[i] + carry;
        pi[48 + i] = (uint8_t)v;
        carry = v >> 8;
    }
    assert_int_equal(carry, 0);
    assert_int_equal(kw_vrf_proof_decode(&proof, pi, 80), KW_ERR_FORMAT);
    uint8_t zero_proof[sizeof(proof)] = {0};
    assert_memory_equal(&proof, zero_proof, sizeof(proof));
    expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), KW_ERR_FORMAT);

    memcpy(pi + 48, l, 32);
    expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), KW_ERR_FORMAT);
    memset(pi + 48, 0xff, 32);
    expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), KW_ERR_FORMAT);
    memcpy(pi + 48, l, 32);
    pi[48] = (uint8_t)(pi[48] - 1); /* L - 1: L ends in 0xed, no borrow */
    assert_int_equal(kw_vrf_proof_decode(&proof, pi, 80), KW_OK);
    expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), KW_ERR_VERIFY);
}

static void test_wrong_alpha_and_key(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    uint8_t alpha[16];
    memcpy(alpha, f.alpha, sizeof(alpha));
    alpha[0] ^= 1;
    expect_verify(&f, f.pk, f.pi, alpha, sizeof(alpha), KW_ERR_VERIFY);
    expect_verify(&f, f.pk, f.pi, f.alpha, sizeof(f.alpha) - 1, KW_ERR_VERIFY);
    expect_verify(&f, f.pk, f.pi, NULL, 0, KW_ERR_VERIFY);

    uint8_t other_pk[32], other_sk[64];
    kw_vrf_keypair(other_pk, other_sk);
    expect_verify(&f, other_pk, f.pi, f.alpha, sizeof(f.alpha), KW_ERR_VERIFY);
    /* the other key's proof of the same alpha is not ours either */
    uint8_t pi[80];
    assert_int_equal(kw_vrf_prove(pi, TAI, other_sk, f.alpha, sizeof(f.alpha)), KW_OK);
    expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), KW_ERR_VERIFY);
    /* a negated key (sign bit flipped) is a valid point but the wrong key */
    uint8_t neg_pk[32];
    memcpy(neg_pk, f.pk, 32);
    neg_pk[31] ^= 0x80;
    assert_int_equal(kw_vrf_pk_validate(neg_pk), KW_OK);
    expect_verify(&f, neg_pk, f.pi, f.alpha, sizeof(f.alpha), KW_ERR_VERIFY);
}

/* RFC 9381 §5.4.5: keys of small order are refused; mixed-order keys pass. */
static void test_small_order_keys(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    for (size_t i = 0; i < SMALL_ORDER_COUNT; i++) {
        uint8_t p[32], p8[32];
        from_hex(p, 32, small_order_hex[i]);
        times8(p8, p);
        assert_memory_equal(p8, identity, 32); /* the table is right */
        assert_int_equal(kw_vrf_pk_validate(p), KW_ERR_VERIFY);
        expect_verify(&f, p, f.pi, f.alpha, sizeof(f.alpha), KW_ERR_VERIFY);

        uint8_t mixed[32];
        assert_int_equal(crypto_core_ed25519_add(mixed, f.pk, p), 0);
        assert_int_equal(kw_vrf_pk_validate(mixed), KW_OK);
        if (i > 0)
            expect_verify(&f, mixed, f.pi, f.alpha, sizeof(f.alpha), KW_ERR_VERIFY);
    }
}

/* Encodings RFC 8032 forbids, as keys and as Gamma. */
static void test_noncanonical_encodings(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    uint8_t bad[6][32];
    /* y = p, y = p + 1, y = 2^255 - 1 */
    memset(bad[0], 0xff, 32);
    bad[0][0] = 0xed;
    bad[0][31] = 0x7f;
    memcpy(bad[1], bad[0], 32);
    bad[1][0] = 0xee;
    memset(bad[2], 0xff, 32);
    bad[2][31] = 0x7f;
    /* x = 0 with the sign bit: y = 1 and y = -1 */
    memcpy(bad[3], identity, 32);
    bad[3][31] |= 0x80;
    memset(bad[4], 0xff, 32);
    bad[4][0] = 0xec;
    /* a y with no x on the curve */
    memset(bad[5], 0, 32);
    uint8_t scratch[32];
    for (uint8_t y = 2;; y++) {
        bad[5][0] = y;
        if (crypto_core_ed25519_add(scratch, bad[5], bad[5]) != 0)
            break;
    }
    /* y = p + 1 decodes as the identity in libsodium: our check must not */
    assert_int_equal(crypto_core_ed25519_add(scratch, bad[1], identity), 0);

    for (size_t i = 0; i < 6; i++) {
        uint8_t pi[80];
        kw_vrf_proof proof;
        assert_int_equal(kw_vrf_pk_validate(bad[i]), KW_ERR_FORMAT);
        expect_verify(&f, bad[i], f.pi, f.alpha, sizeof(f.alpha), KW_ERR_FORMAT);
        memcpy(pi, f.pi, 80);
        memcpy(pi, bad[i], 32);
        assert_int_equal(kw_vrf_proof_decode(&proof, pi, 80), KW_ERR_FORMAT);
        expect_verify(&f, f.pk, pi, f.alpha, sizeof(f.alpha), KW_ERR_FORMAT);
    }
}

static void test_decode_lengths(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    uint8_t buf[81];
    kw_vrf_proof proof;
    memcpy(buf, f.pi, 80);
    buf[80] = 0;
    assert_int_equal(kw_vrf_proof_decode(&proof, NULL, 0), KW_ERR_TRUNCATED);
    assert_int_equal(kw_vrf_proof_decode(&proof, buf, 1), KW_ERR_TRUNCATED);
    assert_int_equal(kw_vrf_proof_decode(&proof, buf, 48), KW_ERR_TRUNCATED);
    assert_int_equal(kw_vrf_proof_decode(&proof, buf, 79), KW_ERR_TRUNCATED);
    assert_int_equal(kw_vrf_proof_decode(&proof, buf, 81), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_vrf_proof_decode(&proof, buf, SIZE_MAX), KW_ERR_TOO_LARGE);
    uint8_t zero_proof[sizeof(proof)] = {0};
    assert_memory_equal(&proof, zero_proof, sizeof(proof));
    assert_int_equal(kw_vrf_proof_decode(&proof, buf, 80), KW_OK);
}

/* vrf_point_mul against an independent computation: n*(P + T) is n*P
 * (libsodium) plus T added (n mod 8) times. Covers small-order points,
 * mixed-order points, n = 0 and results that are the identity. */
static void test_point_mul_mixed_order(void **state)
{
    (void)state;
    uint8_t l[32];
    group_order(l);
    for (size_t t = 0; t < SMALL_ORDER_COUNT; t++) {
        uint8_t torsion[32];
        from_hex(torsion, 32, small_order_hex[t]);
        for (int round = 0; round < 6; round++) {
            uint8_t p[32], q[32], n[32], np[32], nt[32], want[32], got[32];
            crypto_core_ed25519_random(p);
            if (round == 0)
                memset(n, 0, 32);
            else if (round == 1)
                memcpy(n, l, 32); /* L*(P+T) = L*T */
            else
                randombytes_buf(n, 32);
            n[31] &= 0x7f;
            if (round == 5)
                memcpy(p, identity, 32); /* a small-order point alone */
            assert_int_equal(crypto_core_ed25519_add(q, p, torsion), 0);

            if (sodium_is_zero(n, 32) || memcmp(p, identity, 32) == 0 ||
                crypto_scalarmult_ed25519_noclamp(np, n, p) != 0)
                memcpy(np, identity, 32); /* n*P is the identity here */
            memcpy(nt, identity, 32);
            for (unsigned i = 0; i < (n[0] & 7u); i++)
                assert_int_equal(crypto_core_ed25519_add(nt, nt, torsion), 0);
            assert_int_equal(crypto_core_ed25519_add(want, np, nt), 0);
            assert_int_equal(vrf_point_mul(got, n, q), KW_OK);
            assert_memory_equal(got, want, 32);
        }
    }
    uint8_t n[32], p[32], out[32];
    memset(n, 0xff, 32);
    crypto_core_ed25519_random(p);
    assert_int_equal(vrf_point_mul(out, n, p), KW_ERR_INVALID_ARG);
    n[31] = 0x7f;
    memset(p, 0xff, 32);
    p[31] = 0x7f;
    assert_int_equal(vrf_point_mul(out, n, p), KW_ERR_FORMAT);
}

/* RFC 9381 accepts a proof whose Gamma carries a torsion component, and its
 * beta equals the honest one (beta hashes 8*Gamma). libsodium alone would
 * refuse c*Gamma; this builds such a proof from the prover's intermediates:
 * with Gamma' = Gamma + T (T of order 2), the verifier recomputes
 * V' = s*H - c*Gamma' = k*H - (c mod 2)*T, so we guess c's parity. */
static void test_torsion_gamma_proof(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], t2[32];
    kw_vrf_keypair(pk, sk);
    from_hex(t2, 32, small_order_hex[1]);
    int accepted = 0;
    for (uint8_t tries = 0; tries < 64 && !accepted; tries++) {
        uint8_t alpha[1] = {tries}, pi[80], beta[64], beta2[64];
        vrf_trace tr;
        assert_int_equal(vrf_prove_traced(pi, TAI, sk, alpha, 1, &tr), KW_OK);
        assert_int_equal(kw_vrf_verify(beta, TAI, pk, pi, alpha, 1), KW_OK);

        uint8_t gamma2[32], wide[64] = {0}, xr[32];
        assert_int_equal(crypto_core_ed25519_add(gamma2, pi, t2), 0);
        memcpy(wide, tr.x, 32);
        crypto_core_ed25519_scalar_reduce(xr, wide);
        for (unsigned parity = 0; parity < 2 && !accepted; parity++) {
            uint8_t v[32], c[32] = {0}, cx[32], s[32], forged[80];
            memcpy(v, tr.v, 32);
            if (parity == 1)
                assert_int_equal(crypto_core_ed25519_sub(v, tr.v, t2), 0);
            vrf_challenge(c, TAI, pk, tr.h, gamma2, tr.u, v);
            if ((c[0] & 1u) != parity)
                continue;
            crypto_core_ed25519_scalar_mul(cx, c, xr);
            crypto_core_ed25519_scalar_add(s, tr.k, cx);
            memcpy(forged, gamma2, 32);
            memcpy(forged + 32, c, 16);
            memcpy(forged + 48, s, 32);
            assert_int_equal(kw_vrf_verify(beta2, TAI, pk, forged, alpha, 1), KW_OK);
            assert_memory_equal(beta, beta2, 64);
            accepted = 1;
        }
        sodium_memzero(&tr, sizeof(tr));
        sodium_memzero(xr, sizeof(xr));
        sodium_memzero(wide, sizeof(wide));
    }
    assert_true(accepted);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keypair_is_ed25519),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_unsupported_suite),
        cmocka_unit_test(test_tampered_gamma),
        cmocka_unit_test(test_tampered_c),
        cmocka_unit_test(test_tampered_s),
        cmocka_unit_test(test_s_not_reduced),
        cmocka_unit_test(test_wrong_alpha_and_key),
        cmocka_unit_test(test_small_order_keys),
        cmocka_unit_test(test_noncanonical_encodings),
        cmocka_unit_test(test_decode_lengths),
        cmocka_unit_test(test_point_mul_mixed_order),
        cmocka_unit_test(test_torsion_gamma_proof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
