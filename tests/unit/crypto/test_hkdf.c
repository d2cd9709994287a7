/* Unit tests for HKDF beyond the RFC vectors: limits and argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "keyward/hkdf.h"
#include "keyward/keyward.h"

static void test_expand_limits(void **state)
{
    (void)state;
    static uint8_t out[KW_HKDF_SHA512_MAXBYTES + 1];
    uint8_t prk[64] = {1};
    assert_int_equal(kw_hkdf_sha256_expand(out, KW_HKDF_SHA256_MAXBYTES, prk, 32, NULL, 0), KW_OK);
    assert_int_equal(kw_hkdf_sha256_expand(out, KW_HKDF_SHA256_MAXBYTES + 1, prk, 32, NULL, 0),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_hkdf_sha512_expand(out, KW_HKDF_SHA512_MAXBYTES, prk, 64, NULL, 0), KW_OK);
    assert_int_equal(kw_hkdf_sha512_expand(out, KW_HKDF_SHA512_MAXBYTES + 1, prk, 64, NULL, 0),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_hkdf_sha256_expand(out, 32, prk, 31, NULL, 0), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_hkdf_sha512_expand(out, 32, prk, 63, NULL, 0), KW_ERR_INVALID_ARG);
}

/* Expanding to a longer length gives the shorter output as a prefix, and
 * info separates domains. */
static void test_prefix_and_domain(void **state)
{
    (void)state;
    uint8_t a[100], b[40], c[40];
    const uint8_t ikm[] = "input keying material";
    assert_int_equal(kw_hkdf_sha512(a, sizeof(a), NULL, 0, ikm, sizeof(ikm), (const uint8_t *)"x", 1), KW_OK);
    assert_int_equal(kw_hkdf_sha512(b, sizeof(b), NULL, 0, ikm, sizeof(ikm), (const uint8_t *)"x", 1), KW_OK);
    assert_memory_equal(a, b, sizeof(b));
    assert_int_equal(kw_hkdf_sha512(c, sizeof(c), NULL, 0, ikm, sizeof(ikm), (const uint8_t *)"y", 1), KW_OK);
    assert_memory_not_equal(b, c, sizeof(b));
    /* an empty salt equals HashLen zero bytes */
    uint8_t zeros[32] = {0}, p1[32], p2[32];
    kw_hkdf_sha256_extract(p1, NULL, 0, ikm, sizeof(ikm));
    kw_hkdf_sha256_extract(p2, zeros, sizeof(zeros), ikm, sizeof(ikm));
    assert_memory_equal(p1, p2, 32);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_expand_limits),
                                       cmocka_unit_test(test_prefix_and_domain)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
