/* Unit tests for Argon2id password-to-key derivation and its parameters
 * record. The smallest parameters allowed (the floor) keep them fast. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/pwkey.h"

static const uint8_t pw[] = "correct horse battery staple";

static void small_params(kw_pwkey_params *p)
{
    memset(p, 0, sizeof(*p));
    p->alg = KW_PWKEY_ALG_ARGON2ID13;
    p->opslimit = KW_PWKEY_OPSLIMIT_MIN;
    p->memlimit = KW_PWKEY_MEMLIMIT_MIN;
    for (size_t i = 0; i < sizeof(p->salt); i++)
        p->salt[i] = (uint8_t)(0xa0 + i);
}

static void test_derive_deterministic(void **state)
{
    (void)state;
    kw_pwkey_params p;
    uint8_t k1[KW_PWKEY_KEYBYTES], k2[KW_PWKEY_KEYBYTES], ref[KW_PWKEY_KEYBYTES];
    small_params(&p);
    assert_int_equal(kw_pwkey_derive(k1, pw, sizeof(pw) - 1, &p), KW_OK);
    assert_int_equal(kw_pwkey_derive(k2, pw, sizeof(pw) - 1, &p), KW_OK);
    assert_memory_equal(k1, k2, sizeof(k1));
    /* it is libsodium's Argon2id v1.3 under these parameters */
    assert_int_equal(crypto_pwhash(ref, sizeof(ref), (const char *)pw, sizeof(pw) - 1, p.salt,
                                   p.opslimit, (size_t)p.memlimit, crypto_pwhash_ALG_ARGON2ID13),
                     0);
    assert_memory_equal(k1, ref, sizeof(k1));
    /* a different salt, password, ops or memory gives a different key */
    kw_pwkey_params q = p;
    q.salt[0] ^= 1;
    assert_int_equal(kw_pwkey_derive(k2, pw, sizeof(pw) - 1, &q), KW_OK);
    assert_memory_not_equal(k1, k2, sizeof(k1));
    assert_int_equal(kw_pwkey_derive(k2, pw, sizeof(pw) - 2, &p), KW_OK);
    assert_memory_not_equal(k1, k2, sizeof(k1));
    q = p;
    q.opslimit = 3;
    assert_int_equal(kw_pwkey_derive(k2, pw, sizeof(pw) - 1, &q), KW_OK);
    assert_memory_not_equal(k1, k2, sizeof(k1));
    q = p;
    q.memlimit = KW_PWKEY_MEMLIMIT_MIN + 1024 * 1024;
    assert_int_equal(kw_pwkey_derive(k2, pw, sizeof(pw) - 1, &q), KW_OK);
    assert_memory_not_equal(k1, k2, sizeof(k1));
    /* empty password is allowed */
    assert_int_equal(kw_pwkey_derive(k2, NULL, 0, &p), KW_OK);
    assert_memory_not_equal(k1, k2, sizeof(k1));
}

static void test_derive_refuses(void **state)
{
    (void)state;
    kw_pwkey_params p;
    uint8_t k[KW_PWKEY_KEYBYTES];
    small_params(&p);
    static uint8_t big[KW_PWKEY_PASSWORD_MAXBYTES + 1];
    memset(k, 0x55, sizeof(k));
    assert_int_equal(kw_pwkey_derive(k, big, sizeof(big), &p), KW_ERR_TOO_LARGE);
    for (size_t i = 0; i < sizeof(k); i++)
        assert_int_equal(k[i], 0);
    p.memlimit = KW_PWKEY_MEMLIMIT_MAX + 1024;
    assert_int_equal(kw_pwkey_derive(k, pw, 3, &p), KW_ERR_LIMIT);
    small_params(&p);
    p.opslimit = 0;
    assert_int_equal(kw_pwkey_derive(k, pw, 3, &p), KW_ERR_FORMAT);
    small_params(&p);
    p.alg = 2;
    assert_int_equal(kw_pwkey_derive(k, pw, 3, &p), KW_ERR_FORMAT);
}

static void test_check_bounds(void **state)
{
    (void)state;
    kw_pwkey_params p;
    small_params(&p);
    assert_int_equal(kw_pwkey_params_check(&p), KW_OK);
    p.opslimit = KW_PWKEY_OPSLIMIT_MAX;
    assert_int_equal(kw_pwkey_params_check(&p), KW_OK);
    p.opslimit = KW_PWKEY_OPSLIMIT_MAX + 1;
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_LIMIT);
    p.opslimit = UINT32_MAX;
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_LIMIT);
    small_params(&p);
    p.memlimit = KW_PWKEY_MEMLIMIT_MAX;
    assert_int_equal(kw_pwkey_params_check(&p), KW_OK);
    p.memlimit = KW_PWKEY_MEMLIMIT_MAX + 1;
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_LIMIT);
    p.memlimit = UINT64_MAX;
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_LIMIT);
    p.memlimit = KW_PWKEY_MEMLIMIT_MIN;
    assert_int_equal(kw_pwkey_params_check(&p), KW_OK);
    p.memlimit = KW_PWKEY_MEMLIMIT_MIN - 1;
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_FORMAT);
    /* libsodium's own minimum is far below our floor: a downgrade */
    p.memlimit = crypto_pwhash_argon2id_MEMLIMIT_MIN;
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_FORMAT);
    p.memlimit = 0;
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_FORMAT);
    small_params(&p);
    p.opslimit = 0;
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_FORMAT);
    p.opslimit = crypto_pwhash_argon2id_OPSLIMIT_MIN; /* 1: below the floor */
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_FORMAT);
    small_params(&p);
    p.alg = 0;
    assert_int_equal(kw_pwkey_params_check(&p), KW_ERR_FORMAT);
}

static void test_defaults(void **state)
{
    (void)state;
    kw_pwkey_params a, b;
    assert_int_equal(kw_pwkey_params_default(&a, KW_PWKEY_INTERACTIVE), KW_OK);
    assert_int_equal(a.alg, KW_PWKEY_ALG_ARGON2ID13);
    assert_int_equal(a.opslimit, crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
    assert_true(a.memlimit == crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
    assert_int_equal(kw_pwkey_params_check(&a), KW_OK);
    assert_int_equal(kw_pwkey_params_default(&b, KW_PWKEY_INTERACTIVE), KW_OK);
    assert_memory_not_equal(a.salt, b.salt, sizeof(a.salt)); /* fresh salt */
    assert_int_equal(kw_pwkey_params_default(&b, KW_PWKEY_MODERATE), KW_OK);
    assert_int_equal(b.opslimit, crypto_pwhash_argon2id_OPSLIMIT_MODERATE);
    assert_true(b.memlimit == crypto_pwhash_argon2id_MEMLIMIT_MODERATE);
    assert_int_equal(kw_pwkey_params_check(&b), KW_OK);
    assert_int_equal(kw_pwkey_params_default(&b, 7), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_pwkey_params_default(&b, -1), KW_ERR_INVALID_ARG);
}

static void test_record_roundtrip(void **state)
{
    (void)state;
    kw_pwkey_params p, q;
    uint8_t rec[KW_PWKEY_RECORDBYTES];
    uint8_t k1[KW_PWKEY_KEYBYTES], k2[KW_PWKEY_KEYBYTES];
    small_params(&p);
    p.opslimit = 3;
    p.memlimit = 0x0000000100000000ULL >> 2; /* 1 GiB: exercises the high bytes */
    assert_int_equal(kw_pwkey_params_encode(rec, &p), KW_OK);
    const uint8_t head[] = {1, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0x40, 0, 0, 0};
    assert_memory_equal(rec, head, sizeof(head));
    assert_memory_equal(rec + 14, p.salt, 16);
    assert_int_equal(kw_pwkey_params_decode(&q, rec, sizeof(rec)), KW_OK);
    assert_int_equal(q.alg, p.alg);
    assert_int_equal(q.opslimit, p.opslimit);
    assert_true(q.memlimit == p.memlimit);
    assert_memory_equal(q.salt, p.salt, sizeof(p.salt));

    /* derive, store the record, re-derive from the parsed record */
    small_params(&p);
    randombytes_buf(p.salt, sizeof(p.salt));
    assert_int_equal(kw_pwkey_derive(k1, pw, sizeof(pw) - 1, &p), KW_OK);
    assert_int_equal(kw_pwkey_params_encode(rec, &p), KW_OK);
    assert_int_equal(kw_pwkey_params_decode(&q, rec, sizeof(rec)), KW_OK);
    assert_int_equal(kw_pwkey_derive(k2, pw, sizeof(pw) - 1, &q), KW_OK);
    assert_memory_equal(k1, k2, sizeof(k1));

    /* encoding refuses out-of-bounds parameters and writes nothing */
    p.opslimit = 17;
    memset(rec, 0x77, sizeof(rec));
    assert_int_equal(kw_pwkey_params_encode(rec, &p), KW_ERR_LIMIT);
    assert_int_equal(rec[0], 0x77);
}

static void test_record_malformed(void **state)
{
    (void)state;
    kw_pwkey_params p, q;
    uint8_t rec[KW_PWKEY_RECORDBYTES + 1];
    small_params(&p);
    assert_int_equal(kw_pwkey_params_encode(rec, &p), KW_OK);
    rec[KW_PWKEY_RECORDBYTES] = 0;

    for (size_t n = 0; n < KW_PWKEY_RECORDBYTES; n++)
        assert_int_equal(kw_pwkey_params_decode(&q, rec, n), KW_ERR_TRUNCATED);
    assert_int_equal(kw_pwkey_params_decode(&q, rec, sizeof(rec)), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_pwkey_params_decode(&q, rec, KW_PWKEY_RECORDBYTES), KW_OK);

    uint8_t bad[KW_PWKEY_RECORDBYTES];
#define MUTATE(off, val, want)                                                \
    do {                                                                      \
        memcpy(bad, rec, sizeof(bad));                                        \
        bad[off] = (val);                                                     \
        memset(&q, 0x5a, sizeof(q));                                          \
        assert_int_equal(kw_pwkey_params_decode(&q, bad, sizeof(bad)), want); \
        assert_int_equal(q.opslimit, 0);                                      \
        assert_true(q.memlimit == 0);                                         \
    } while (0)
    MUTATE(0, 0, KW_ERR_FORMAT);     /* record version */
    MUTATE(0, 2, KW_ERR_FORMAT);
    MUTATE(1, 0, KW_ERR_FORMAT);     /* algorithm */
    MUTATE(1, 2, KW_ERR_FORMAT);
    MUTATE(5, 0, KW_ERR_FORMAT);     /* opslimit 0 */
    MUTATE(5, 17, KW_ERR_LIMIT);     /* opslimit 17 */
    MUTATE(2, 0x80, KW_ERR_LIMIT);   /* opslimit huge */
    MUTATE(6, 0x01, KW_ERR_LIMIT);   /* memlimit 2^56 + ... */
    MUTATE(10, 0x41, KW_ERR_LIMIT);  /* memlimit just over 1 GiB */
    MUTATE(5, 1, KW_ERR_FORMAT);     /* opslimit 1: below the floor */
    MUTATE(11, 0x00, KW_ERR_FORMAT); /* 19 MiB → 16 MiB: below the floor */
#undef MUTATE
    /* memlimit 8191: below the minimum */
    memcpy(bad, rec, sizeof(bad));
    memset(bad + 6, 0, 8);
    bad[12] = 0x1f;
    bad[13] = 0xff;
    assert_int_equal(kw_pwkey_params_decode(&q, bad, sizeof(bad)), KW_ERR_FORMAT);
}

/* A parameters record is often stored by someone else (a server keeping a
 * client's keychain). One that asks for libsodium's bare minimum (t = 1,
 * m = 8 KiB) must be refused, not derived under. */
static void test_record_downgrade_refused(void **state)
{
    (void)state;
    kw_pwkey_params q;
    uint8_t k[KW_PWKEY_KEYBYTES];
    uint8_t rec[KW_PWKEY_RECORDBYTES] = {1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x20, 0x00};
    memset(&q, 0x5a, sizeof(q));
    assert_int_equal(kw_pwkey_params_decode(&q, rec, sizeof(rec)), KW_ERR_FORMAT);
    assert_int_equal(q.opslimit, 0);
    /* and derive refuses such parameters given directly */
    memset(&q, 0, sizeof(q));
    q.alg = KW_PWKEY_ALG_ARGON2ID13;
    q.opslimit = 1;
    q.memlimit = 8192;
    memset(k, 0x33, sizeof(k));
    assert_int_equal(kw_pwkey_derive(k, pw, sizeof(pw) - 1, &q), KW_ERR_FORMAT);
    for (size_t i = 0; i < sizeof(k); i++)
        assert_int_equal(k[i], 0);
    assert_int_equal(kw_pwkey_params_encode(rec, &q), KW_ERR_FORMAT);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive_deterministic),
        cmocka_unit_test(test_derive_refuses),
        cmocka_unit_test(test_check_bounds),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_record_malformed),
        cmocka_unit_test(test_record_downgrade_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
