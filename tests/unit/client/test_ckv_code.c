/*
 * Unit tests of the Contact Key Verification codes (lib/client/ckv_code.c):
 * the public verification code and the commit-then-reveal SAS.
 *
 * Known answers were computed independently with Python's hashlib from the
 * construction in docs/crypto.md ("Contact Key Verification"), never from
 * this code's own output. Negative tests: a one-bit change of a key or
 * name changes the code; a substituted key (man in the middle) changes the
 * SAS and fails the commitment; wrong and malformed codes are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "keyward/client_ckv.h"
#include "keyward/err.h"
#include "keyward/keyward.h"

static void pk_seq(uint8_t pk[32])
{
    for (int i = 0; i < 32; i++)
        pk[i] = (uint8_t)i;
}

static void pk_rev(uint8_t pk[32])
{
    for (int i = 0; i < 32; i++)
        pk[i] = (uint8_t)(0xff - i);
}

static void test_code_known_answer(void **state)
{
    (void)state;
    uint8_t pk[32];
    char code[KW_CKV_CODEBYTES];
    pk_seq(pk);
    assert_int_equal(kw_ckv_code(code, "alice", pk), KW_OK);
    assert_string_equal(code, "65830 87805 28742 64395 68268 60431");
}

static void test_code_binds_key_and_name(void **state)
{
    (void)state;
    uint8_t pk[32];
    char a[KW_CKV_CODEBYTES], b[KW_CKV_CODEBYTES];
    pk_seq(pk);
    assert_int_equal(kw_ckv_code(a, "alice", pk), KW_OK);
    for (int bit = 0; bit < 256; bit++) {
        pk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(kw_ckv_code(b, "alice", pk), KW_OK);
        assert_string_not_equal(a, b);
        pk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(kw_ckv_code(b, "alicf", pk), KW_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(kw_ckv_code(b, "", pk), KW_ERR_INVALID_ARG);
}

static void test_code_check(void **state)
{
    (void)state;
    uint8_t pk[32];
    pk_seq(pk);
    assert_int_equal(kw_ckv_code_check("65830 87805 28742 64395 68268 60431", "alice", pk), KW_OK);
    assert_int_equal(kw_ckv_code_check("658308780528742643956826860431", "alice", pk), KW_OK);
    assert_int_equal(kw_ckv_code_check("65830-87805-28742-64395-68268-60431", "alice", pk), KW_OK);
    assert_int_equal(kw_ckv_code_check("65830 87805 28742 64395 68268 60432", "alice", pk),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_ckv_code_check("65830 87805 28742 64395 68268 60431", "bob", pk),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_ckv_code_check("65830 87805 28742 64395 68268 6043", "alice", pk),
                     KW_ERR_FORMAT);
    assert_int_equal(kw_ckv_code_check("65830 87805 28742 64395 68268 604311", "alice", pk),
                     KW_ERR_FORMAT);
    assert_int_equal(kw_ckv_code_check("65830 87805 28742 64395 68268 6043x", "alice", pk),
                     KW_ERR_FORMAT);
    assert_int_equal(kw_ckv_code_check(NULL, "alice", pk), KW_ERR_FORMAT);
}

/* 4000 random keys give 4000 distinct codes and every digit value turns up
 * in every position (a gross bias or a stuck digit would show). */
static void test_code_spread(void **state)
{
    (void)state;
    enum { N = 4000 };
    static char codes[N][KW_CKV_CODEBYTES];
    unsigned seen[35][10] = {{0}};
    uint8_t pk[32];
    for (int i = 0; i < N; i++) {
        randombytes_buf(pk, sizeof(pk));
        assert_int_equal(kw_ckv_code(codes[i], "x", pk), KW_OK);
        for (int j = 0; j < 35; j++)
            if (codes[i][j] != ' ')
                seen[j][codes[i][j] - '0']++;
        for (int k = 0; k < i; k++)
            assert_string_not_equal(codes[i], codes[k]);
    }
    for (int j = 0; j < 35; j++) {
        if (j % 6 == 5)
            continue;
        for (int d = 0; d < 10; d++)
            assert_true(seen[j][d] > N / 10 / 2 && seen[j][d] < N / 10 * 2);
    }
}

static void test_sas_known_answer(void **state)
{
    (void)state;
    uint8_t pa[32], pb[32], ni[32], nr[32], c[32];
    char sas[KW_CKV_SASBYTES];
    static const uint8_t want_c[32] = {
        0xab, 0x33, 0x15, 0xb4, 0x28, 0x76, 0xa0, 0x96, 0x97, 0x3f, 0x17, 0x3e, 0xd2, 0xa7, 0x4a, 0xe1,
        0x9a, 0x5a, 0xb0, 0xe4, 0xfc, 0x4c, 0x91, 0x6b, 0xec, 0x1d, 0x73, 0x97, 0x6b, 0x33, 0x48, 0xe1};
    pk_seq(pa);
    pk_rev(pb);
    memset(ni, 0x11, 32);
    memset(nr, 0x22, 32);
    kw_ckv_sas_commit(c, ni, "alice", pa, "bob", pb);
    assert_memory_equal(c, want_c, 32);
    kw_ckv_sas(sas, "alice", pa, "bob", pb, ni, nr);
    assert_string_equal(sas, "63550 53942 52383");
}

/* The man in the middle: each side's view of the other's key is the
 * attacker's. The commitment does not open for the responder's view and
 * the two SAS differ (for any nonces the attacker picks). */
static void test_sas_mitm(void **state)
{
    (void)state;
    uint8_t pa[32], pb[32], pm[32], ni[32], nr[32], nm[32], c[32];
    char sas_a[KW_CKV_SASBYTES], sas_b[KW_CKV_SASBYTES];
    for (int t = 0; t < 500; t++) {
        randombytes_buf(pa, 32);
        randombytes_buf(pb, 32);
        randombytes_buf(pm, 32);
        randombytes_buf(ni, 32);
        randombytes_buf(nr, 32);
        randombytes_buf(nm, 32);
        /* honest: same view, same SAS, commitment opens */
        kw_ckv_sas_commit(c, ni, "alice", pa, "bob", pb);
        assert_int_equal(kw_ckv_sas_check_commit(c, ni, "alice", pa, "bob", pb), KW_OK);
        kw_ckv_sas(sas_a, "alice", pa, "bob", pb, ni, nr);
        kw_ckv_sas(sas_b, "alice", pa, "bob", pb, ni, nr);
        assert_string_equal(sas_a, sas_b);
        /* alice sees bob's key as pm: bob cannot open her commitment */
        kw_ckv_sas_commit(c, ni, "alice", pa, "bob", pm);
        assert_int_equal(kw_ckv_sas_check_commit(c, ni, "alice", pa, "bob", pb), KW_ERR_VERIFY);
        assert_int_equal(kw_ckv_sas_check_commit(c, nm, "alice", pa, "bob", pm), KW_ERR_VERIFY);
        /* a relaying attacker with its own nonce on each side */
        kw_ckv_sas(sas_a, "alice", pa, "bob", pm, ni, nm);
        kw_ckv_sas(sas_b, "alice", pm, "bob", pb, nm, nr);
        assert_string_not_equal(sas_a, sas_b);
    }
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_known_answer),  cmocka_unit_test(test_code_binds_key_and_name),
        cmocka_unit_test(test_code_check),         cmocka_unit_test(test_code_spread),
        cmocka_unit_test(test_sas_known_answer),   cmocka_unit_test(test_sas_mitm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
