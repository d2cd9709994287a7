/* Unit tests for domain-separated Ed25519 signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/sign.h"

static const uint8_t msg[] = "epoch 17 root";
#define CTX(s) (const uint8_t *)(s), (sizeof(s) - 1)

static void test_sign_verify(void **state)
{
    (void)state;
    kw_sign_key *k = NULL;
    uint8_t pk[KW_SIGN_PUBLICKEYBYTES], sig[KW_SIGN_BYTES];
    assert_int_equal(kw_sign_key_new(&k), KW_OK);
    kw_sign_key_public(k, pk);
    assert_int_equal(kw_sign_pk_validate(pk), KW_OK);
    assert_int_equal(kw_sign(k, sig, CTX("kt-root"), msg, sizeof(msg)), KW_OK);
    assert_int_equal(kw_sign_verify(sig, pk, CTX("kt-root"), msg, sizeof(msg)), KW_OK);
    /* empty message */
    assert_int_equal(kw_sign(k, sig, CTX("kt-root"), NULL, 0), KW_OK);
    assert_int_equal(kw_sign_verify(sig, pk, CTX("kt-root"), NULL, 0), KW_OK);
    assert_int_equal(kw_sign_verify(sig, pk, CTX("kt-root"), msg, 1), KW_ERR_VERIFY);
    kw_sign_key_free(&k);
    assert_null(k);
    kw_sign_key_free(&k); /* no-op */
}

/* The signature is plain Ed25519 over domain ‖ len ‖ context ‖ message. */
static void test_construction(void **state)
{
    (void)state;
    uint8_t seed[KW_SIGN_SEEDBYTES], pk[KW_SIGN_PUBLICKEYBYTES], sig[KW_SIGN_BYTES];
    uint8_t pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];
    uint8_t seed_out[KW_SIGN_SEEDBYTES];
    for (size_t i = 0; i < sizeof(seed); i++)
        seed[i] = (uint8_t)i;
    kw_sign_key *k = NULL;
    assert_int_equal(kw_sign_key_from_seed(&k, seed), KW_OK);
    kw_sign_key_public(k, pk);
    kw_sign_key_seed(k, seed_out);
    assert_memory_equal(seed_out, seed, sizeof(seed));
    crypto_sign_seed_keypair(pk2, sk2, seed);
    assert_memory_equal(pk, pk2, sizeof(pk));
    assert_int_equal(kw_sign(k, sig, CTX("abc"), msg, sizeof(msg)), KW_OK);
    uint8_t m[64];
    size_t n = 0;
    memcpy(m, "keyward-sig-v1", 14);
    n = 14;
    m[n++] = 3;
    memcpy(m + n, "abc", 3);
    n += 3;
    memcpy(m + n, msg, sizeof(msg));
    n += sizeof(msg);
    assert_int_equal(crypto_sign_verify_detached(sig, m, n, pk), 0);
    /* not a signature over the bare message */
    assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), pk), 0);
    /* deterministic */
    uint8_t sig2[KW_SIGN_BYTES];
    assert_int_equal(kw_sign(k, sig2, CTX("abc"), msg, sizeof(msg)), KW_OK);
    assert_memory_equal(sig, sig2, sizeof(sig));
    kw_sign_key_free(&k);
    sodium_memzero(sk2, sizeof(sk2));
}

static void test_wrong_context(void **state)
{
    (void)state;
    kw_sign_key *k = NULL;
    uint8_t pk[KW_SIGN_PUBLICKEYBYTES], sig[KW_SIGN_BYTES];
    assert_int_equal(kw_sign_key_new(&k), KW_OK);
    kw_sign_key_public(k, pk);
    assert_int_equal(kw_sign(k, sig, CTX("kt-root"), msg, sizeof(msg)), KW_OK);
    assert_int_equal(kw_sign_verify(sig, pk, CTX("kt-roo"), msg, sizeof(msg)), KW_ERR_VERIFY);
    assert_int_equal(kw_sign_verify(sig, pk, CTX("recovery"), msg, sizeof(msg)), KW_ERR_VERIFY);
    /* shifting bytes between context and message does not help: the length
     * byte separates them */
    uint8_t shifted[sizeof(msg) + 1];
    shifted[0] = 't';
    memcpy(shifted + 1, msg, sizeof(msg));
    assert_int_equal(kw_sign(k, sig, CTX("kt-roo"), shifted, sizeof(shifted)), KW_OK);
    assert_int_equal(kw_sign_verify(sig, pk, CTX("kt-root"), msg, sizeof(msg)), KW_ERR_VERIFY);
    /* context length limits */
    static uint8_t big[KW_SIGN_CONTEXT_MAXBYTES + 1];
    assert_int_equal(kw_sign(k, sig, NULL, 0, msg, sizeof(msg)), KW_ERR_INVALID_ARG);
    for (size_t i = 0; i < sizeof(sig); i++)
        assert_int_equal(sig[i], 0);
    assert_int_equal(kw_sign(k, sig, big, sizeof(big), msg, sizeof(msg)), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_sign(k, sig, big, sizeof(big) - 1, msg, sizeof(msg)), KW_OK);
    assert_int_equal(kw_sign_verify(sig, pk, big, sizeof(big) - 1, msg, sizeof(msg)), KW_OK);
    assert_int_equal(kw_sign_verify(sig, pk, big, sizeof(big), msg, sizeof(msg)),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_sign_verify(sig, pk, NULL, 0, msg, sizeof(msg)), KW_ERR_INVALID_ARG);
    kw_sign_key_free(&k);
}

static void test_wrong_key_and_tamper(void **state)
{
    (void)state;
    kw_sign_key *k = NULL, *k2 = NULL;
    uint8_t pk[KW_SIGN_PUBLICKEYBYTES], pk2[KW_SIGN_PUBLICKEYBYTES], sig[KW_SIGN_BYTES];
    assert_int_equal(kw_sign_key_new(&k), KW_OK);
    assert_int_equal(kw_sign_key_new(&k2), KW_OK);
    kw_sign_key_public(k, pk);
    kw_sign_key_public(k2, pk2);
    assert_int_equal(kw_sign(k, sig, CTX("c"), msg, sizeof(msg)), KW_OK);
    assert_int_equal(kw_sign_verify(sig, pk2, CTX("c"), msg, sizeof(msg)), KW_ERR_VERIFY);
    for (size_t i = 0; i < sizeof(sig); i++) {
        sig[i] ^= 0x04;
        assert_int_equal(kw_sign_verify(sig, pk, CTX("c"), msg, sizeof(msg)), KW_ERR_VERIFY);
        sig[i] ^= 0x04;
    }
    uint8_t m[sizeof(msg)];
    memcpy(m, msg, sizeof(m));
    for (size_t i = 0; i < sizeof(m); i++) {
        m[i] ^= 1;
        assert_int_equal(kw_sign_verify(sig, pk, CTX("c"), m, sizeof(m)), KW_ERR_VERIFY);
        m[i] ^= 1;
    }
    /* non-canonical S (S + L) is refused */
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                  0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                  0,    0,    0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0x10};
    uint8_t s2[KW_SIGN_BYTES];
    memcpy(s2, sig, sizeof(s2));
    unsigned carry = 0;
    for (size_t i = 0; i < 32; i++) {
        unsigned v = s2[32 + i] + L[i] + carry;
        s2[32 + i] = (uint8_t)v;
        carry = v >> 8;
    }
    assert_int_equal(kw_sign_verify(s2, pk, CTX("c"), msg, sizeof(msg)), KW_ERR_VERIFY);
    assert_int_equal(kw_sign_verify(sig, pk, CTX("c"), msg, sizeof(msg)), KW_OK);
    kw_sign_key_free(&k);
    kw_sign_key_free(&k2);
}

static void test_pk_validate(void **state)
{
    (void)state;
    uint8_t pk[KW_SIGN_PUBLICKEYBYTES] = {0}, sig[KW_SIGN_BYTES] = {0};
    /* identity (small order) */
    pk[0] = 1;
    assert_int_equal(kw_sign_pk_validate(pk), KW_ERR_FORMAT);
    assert_int_equal(kw_sign_verify(sig, pk, CTX("c"), msg, sizeof(msg)), KW_ERR_VERIFY);
    /* all zeros: y = 0, the point (sqrt(-1), 0) of order 4 */
    memset(pk, 0, sizeof(pk));
    assert_int_equal(kw_sign_pk_validate(pk), KW_ERR_FORMAT);
    /* non-canonical y >= p */
    memset(pk, 0xff, sizeof(pk));
    pk[31] = 0x7f;
    assert_int_equal(kw_sign_pk_validate(pk), KW_ERR_FORMAT);
    /* a point not on the curve: y = 2 has no x */
    memset(pk, 0, sizeof(pk));
    pk[0] = 2;
    assert_int_equal(kw_sign_pk_validate(pk), KW_ERR_FORMAT);
    /* a real key with a low-order component added is outside the subgroup */
    kw_sign_key *k = NULL;
    uint8_t good[KW_SIGN_PUBLICKEYBYTES], mixed[KW_SIGN_PUBLICKEYBYTES];
    assert_int_equal(kw_sign_key_new(&k), KW_OK);
    kw_sign_key_public(k, good);
    assert_int_equal(kw_sign_pk_validate(good), KW_OK);
    /* point of order 2: y = -1 */
    uint8_t t2[32];
    memset(t2, 0xff, 32);
    t2[0] = 0xec;
    t2[31] = 0x7f;
    assert_int_equal(kw_sign_pk_validate(t2), KW_ERR_FORMAT);
    assert_int_equal(crypto_core_ed25519_add(mixed, good, t2), 0);
    assert_int_equal(kw_sign_pk_validate(mixed), KW_ERR_FORMAT);
    kw_sign_key_free(&k);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_construction),
        cmocka_unit_test(test_wrong_context),
        cmocka_unit_test(test_wrong_key_and_tamper),
        cmocka_unit_test(test_pk_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
