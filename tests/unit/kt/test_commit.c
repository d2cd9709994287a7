/* Unit tests for the value commitment (kt_commit.h): the construction
 * recomputed here from its definition, binding to each field, injectivity
 * of the encoding, limits and argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/kt_commit.h"

/* The definition, assembled as one message and MACed in one call. */
static void model(uint8_t out[32], const uint8_t opening[32], const uint8_t *label,
                  size_t label_len, uint64_t version, const uint8_t *value, size_t value_len)
{
    static const char key[] = "keyward/kt/commitment/v1";
    size_t n = 32 + 2 + label_len + 8 + 4 + value_len, o = 0;
    uint8_t *m = malloc(n);
    assert_non_null(m);
    memcpy(m, opening, 32);
    o = 32;
    m[o++] = (uint8_t)(label_len >> 8);
    m[o++] = (uint8_t)label_len;
    memcpy(m + o, label, label_len);
    o += label_len;
    for (int i = 7; i >= 0; i--)
        m[o++] = (uint8_t)(version >> (8 * i));
    for (int i = 3; i >= 0; i--)
        m[o++] = (uint8_t)(value_len >> (8 * i));
    memcpy(m + o, value, value_len);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, m, n);
    crypto_auth_hmacsha256_final(&st, out);
    free(m);
}

static void test_matches_definition(void **state)
{
    (void)state;
    uint8_t op[32], c[32], want[32], label[64], value[600];
    for (int rep = 0; rep < 50; rep++) {
        size_t ll = randombytes_uniform(sizeof(label) + 1), vl = randombytes_uniform(sizeof(value) + 1);
        uint64_t ver;
        kw_commit_opening_new(op);
        randombytes_buf(label, sizeof(label));
        randombytes_buf(value, sizeof(value));
        randombytes_buf(&ver, sizeof(ver));
        assert_int_equal(kw_commit_compute(c, op, label, ll, ver, value, vl), KW_OK);
        model(want, op, label, ll, ver, value, vl);
        assert_memory_equal(c, want, 32);
        assert_int_equal(kw_commit_verify(c, op, label, ll, ver, value, vl), KW_OK);
    }
    /* empty label and value, NULL pointers with zero length */
    kw_commit_opening_new(op);
    assert_int_equal(kw_commit_compute(c, op, NULL, 0, 0, NULL, 0), KW_OK);
    model(want, op, (const uint8_t *)"", 0, 0, (const uint8_t *)"", 0);
    assert_memory_equal(c, want, 32);
}

static void test_binding(void **state)
{
    (void)state;
    uint8_t op[32], c[32], x[32], label[20], value[100];
    kw_commit_opening_new(op);
    randombytes_buf(label, sizeof(label));
    randombytes_buf(value, sizeof(value));
    assert_int_equal(kw_commit_compute(c, op, label, 20, 7, value, 100), KW_OK);
    for (size_t i = 0; i < 32 * 8; i += 13) {
        memcpy(x, op, 32);
        x[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(kw_commit_verify(c, x, label, 20, 7, value, 100), KW_ERR_VERIFY);
        memcpy(x, c, 32);
        x[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(kw_commit_verify(x, op, label, 20, 7, value, 100), KW_ERR_VERIFY);
    }
    for (size_t i = 0; i < 20; i++) {
        label[i] ^= 0x20;
        assert_int_equal(kw_commit_verify(c, op, label, 20, 7, value, 100), KW_ERR_VERIFY);
        label[i] ^= 0x20;
    }
    for (size_t i = 0; i < 100; i += 7) {
        value[i] ^= 1;
        assert_int_equal(kw_commit_verify(c, op, label, 20, 7, value, 100), KW_ERR_VERIFY);
        value[i] ^= 1;
    }
    assert_int_equal(kw_commit_verify(c, op, label, 20, 6, value, 100), KW_ERR_VERIFY);
    assert_int_equal(kw_commit_verify(c, op, label, 20, 8, value, 100), KW_ERR_VERIFY);
    assert_int_equal(kw_commit_verify(c, op, label, 20, 7 | (1ull << 63), value, 100), KW_ERR_VERIFY);
    assert_int_equal(kw_commit_verify(c, op, label, 19, 7, value, 100), KW_ERR_VERIFY);
    assert_int_equal(kw_commit_verify(c, op, label, 20, 7, value, 99), KW_ERR_VERIFY);
    assert_int_equal(kw_commit_verify(c, op, label, 20, 7, value, 100), KW_OK);
}

/* Moving bytes between label and value, or into the version, changes the
 * commitment: the length prefixes make the encoding injective. */
static void test_injective(void **state)
{
    (void)state;
    uint8_t op[32], a[32], b[32];
    const uint8_t *s = (const uint8_t *)"abcdefgh";
    kw_commit_opening_new(op);
    assert_int_equal(kw_commit_compute(a, op, s, 2, 1, s + 2, 6), KW_OK);
    assert_int_equal(kw_commit_compute(b, op, s, 3, 1, s + 3, 5), KW_OK);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(kw_commit_compute(b, op, s, 0, 1, s, 8), KW_OK);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(kw_commit_compute(a, op, s, 8, 1, NULL, 0), KW_OK);
    assert_memory_not_equal(a, b, 32);
    /* two openings of the same triple give unrelated commitments */
    uint8_t op2[32];
    kw_commit_opening_new(op2);
    assert_int_equal(kw_commit_compute(b, op2, s, 8, 1, NULL, 0), KW_OK);
    assert_memory_not_equal(a, b, 32);
}

static void test_limits(void **state)
{
    (void)state;
    uint8_t op[32] = {0}, c[32];
    uint8_t *big = calloc(1, KW_COMMIT_VALUE_MAXBYTES + 1);
    assert_non_null(big);
    assert_int_equal(kw_commit_compute(c, op, big, KW_COMMIT_LABEL_MAXBYTES, 1, big,
                                       KW_COMMIT_VALUE_MAXBYTES),
                     KW_OK);
    assert_int_equal(kw_commit_verify(c, op, big, KW_COMMIT_LABEL_MAXBYTES, 1, big,
                                      KW_COMMIT_VALUE_MAXBYTES),
                     KW_OK);
    c[0] = 1;
    assert_int_equal(kw_commit_compute(c, op, big, KW_COMMIT_LABEL_MAXBYTES + 1, 1, NULL, 0),
                     KW_ERR_TOO_LARGE);
    assert_true(kw_ct_is_zero(c, 32));
    assert_int_equal(kw_commit_compute(c, op, NULL, 0, 1, big, KW_COMMIT_VALUE_MAXBYTES + 1),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_commit_verify(c, op, NULL, 0, 1, big, KW_COMMIT_VALUE_MAXBYTES + 1),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_commit_compute(c, op, NULL, 1, 1, NULL, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_commit_compute(c, op, NULL, 0, 1, NULL, 1), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_commit_verify(c, op, NULL, 0, 1, NULL, 1), KW_ERR_INVALID_ARG);
    free(big);
}

static void test_openings_fresh(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    kw_commit_opening_new(a);
    kw_commit_opening_new(b);
    assert_memory_not_equal(a, b, 32);
    assert_false(kw_ct_is_zero(a, 32));
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_definition),
        cmocka_unit_test(test_binding),
        cmocka_unit_test(test_injective),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_openings_fresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
