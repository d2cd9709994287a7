/* TOTP/HOTP against the published values of RFC 6238 Appendix B and RFC 4226
 * Appendix D, plus replay-window and base32 checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "keyward/keyward.h"
#include "keyward/totp.h"

static const char seed20[] = "12345678901234567890";
static const char seed32[] = "12345678901234567890123456789012";
static const char seed64[] = "1234567890123456789012345678901234567890123456789012345678901234";

static void test_rfc4226_hotp(void **state)
{
    (void)state;
    static const uint32_t want[10] = {755224, 287082, 359152, 969429, 338314,
                                      254676, 287922, 162583, 399871, 520489};
    for (uint64_t c = 0; c < 10; c++) {
        uint32_t code;
        assert_int_equal(kw_hotp(&code, KW_TOTP_SHA1, (const uint8_t *)seed20, 20, c, 6), KW_OK);
        assert_int_equal(code, want[c]);
    }
}

static void test_rfc6238_table(void **state)
{
    (void)state;
    static const struct {
        uint64_t t;
        uint32_t sha1, sha256, sha512;
    } rows[] = {
        {59ULL, 94287082, 46119246, 90693936},
        {1111111109ULL, 7081804, 68084774, 25091201},
        {1111111111ULL, 14050471, 67062674, 99943326},
        {1234567890ULL, 89005924, 91819424, 93441116},
        {2000000000ULL, 69279037, 90698825, 38618901},
        {20000000000ULL, 65353130, 77737706, 47863826},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint32_t code;
        uint64_t step;
        assert_int_equal(kw_totp(&code, &step, KW_TOTP_SHA1, (const uint8_t *)seed20, 20, rows[i].t, 30, 8), KW_OK);
        assert_int_equal(code, rows[i].sha1);
        assert_int_equal(step, rows[i].t / 30);
        assert_int_equal(kw_totp(&code, &step, KW_TOTP_SHA256, (const uint8_t *)seed32, 32, rows[i].t, 30, 8), KW_OK);
        assert_int_equal(code, rows[i].sha256);
        assert_int_equal(kw_totp(&code, &step, KW_TOTP_SHA512, (const uint8_t *)seed64, 64, rows[i].t, 30, 8), KW_OK);
        assert_int_equal(code, rows[i].sha512);
    }
}

static void test_verify_window(void **state)
{
    (void)state;
    uint64_t step;
    const uint64_t t = 1234567890;
    /* the code of the previous step is accepted with window 1, and reports its step */
    uint32_t prev;
    uint64_t prev_step;
    assert_int_equal(kw_totp(&prev, &prev_step, KW_TOTP_SHA1, (const uint8_t *)seed20, 20, t - 30, 30, 6), KW_OK);
    assert_int_equal(kw_totp_verify(&step, KW_TOTP_SHA1, (const uint8_t *)seed20, 20, prev, t, 30, 6, 1), KW_OK);
    assert_int_equal(step, prev_step);
    /* but not two steps back */
    uint32_t old;
    assert_int_equal(kw_totp(&old, &prev_step, KW_TOTP_SHA1, (const uint8_t *)seed20, 20, t - 90, 30, 6), KW_OK);
    if (old != prev)
        assert_int_equal(kw_totp_verify(&step, KW_TOTP_SHA1, (const uint8_t *)seed20, 20, old, t, 30, 6, 1),
                         KW_ERR_VERIFY);
    /* a wrong code */
    uint32_t now;
    assert_int_equal(kw_totp(&now, &step, KW_TOTP_SHA1, (const uint8_t *)seed20, 20, t, 30, 6), KW_OK);
    assert_int_equal(kw_totp_verify(&step, KW_TOTP_SHA1, (const uint8_t *)seed20, 20, (now + 1) % 1000000, t, 30, 6, 0),
                     KW_ERR_VERIFY);
    /* bad arguments */
    uint32_t code;
    assert_int_equal(kw_hotp(&code, KW_TOTP_SHA1, (const uint8_t *)seed20, 20, 0, 5), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_hotp(&code, KW_TOTP_SHA1, (const uint8_t *)seed20, 12, 0, 6), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_hotp(&code, (kw_totp_alg)9, (const uint8_t *)seed20, 20, 0, 6), KW_ERR_INVALID_ARG);
}

static void test_base32(void **state)
{
    (void)state;
    /* RFC 4648 §10 */
    char out[64];
    uint8_t back[64];
    size_t n;
    assert_int_equal(kw_base32_encode(out, sizeof(out), (const uint8_t *)"foobar", 6), KW_OK);
    assert_string_equal(out, "MZXW6YTBOI");
    assert_int_equal(kw_base32_decode(back, sizeof(back), &n, "mzxw6ytboi======", 16), KW_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(back, "foobar", 6);
    assert_int_equal(kw_base32_decode(back, sizeof(back), &n, "MZ1W", 4), KW_ERR_FORMAT);
    assert_int_equal(kw_base32_decode(back, 2, &n, "MZXW6YTBOI", 10), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_base32_encode(out, 8, (const uint8_t *)"foobar", 6), KW_ERR_TOO_LARGE);
    /* every 5-bit value, both cases, and every byte value that is not in
     * the alphabet or a separator */
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for (unsigned v = 0; v < 32; v++) {
        uint8_t one = (uint8_t)(v << 3);
        assert_int_equal(kw_base32_encode(out, sizeof(out), &one, 1), KW_OK);
        assert_int_equal(out[0], alpha[v]);
        char lower[2] = {out[0] >= 'A' && out[0] <= 'Z' ? (char)(out[0] + 32) : out[0], out[1]};
        assert_int_equal(kw_base32_decode(back, sizeof(back), &n, lower, 2), KW_OK);
        assert_int_equal(n, 1);
        assert_int_equal(back[0], one);
    }
    for (unsigned c = 0; c < 256; c++) {
        char in[8];
        memcpy(in, "MZXW6YTB", 8);
        in[3] = (char)c;
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
        int sep = c == ' ' || c == '=';
        int r = kw_base32_decode(back, sizeof(back), &n, in, 8);
        assert_int_equal(r, ok || sep ? KW_OK : KW_ERR_FORMAT);
        if (r != KW_OK)
            assert_int_equal(n, 0);
    }
}

/* The window saturates at the ends of the step range: at the last step the
 * current code still verifies (the old loop bound wrapped to 0 and checked
 * nothing, or with window 0 never ended). *step is cleared on failure. */
static void test_verify_window_edges(void **state)
{
    (void)state;
    const uint8_t *sec = (const uint8_t *)seed20;
    uint32_t code;
    uint64_t step, want;
    assert_int_equal(kw_totp(&code, &want, KW_TOTP_SHA1, sec, 20, UINT64_MAX, 1, 6), KW_OK);
    assert_true(want == UINT64_MAX);
    assert_int_equal(kw_totp_verify(&step, KW_TOTP_SHA1, sec, 20, code, UINT64_MAX, 1, 6, 1), KW_OK);
    assert_true(step == UINT64_MAX);
    assert_int_equal(kw_totp_verify(&step, KW_TOTP_SHA1, sec, 20, code, UINT64_MAX, 1, 6, 0), KW_OK);
    assert_true(step == UINT64_MAX);
    assert_int_equal(kw_totp_verify(&step, KW_TOTP_SHA1, sec, 20, code, UINT64_MAX - 1, 1, 6, 1),
                     KW_OK);
    assert_true(step == UINT64_MAX);
    /* and at step 0 */
    assert_int_equal(kw_totp(&code, &want, KW_TOTP_SHA1, sec, 20, 0, 30, 6), KW_OK);
    assert_int_equal(kw_totp_verify(&step, KW_TOTP_SHA1, sec, 20, code, 0, 30, 6, 3), KW_OK);
    assert_true(step == 0);
    step = 77;
    assert_int_equal(kw_totp_verify(&step, KW_TOTP_SHA1, sec, 20, (code + 1) % 1000000, 0, 30, 6, 0),
                     KW_ERR_VERIFY);
    assert_true(step == 0);
    step = 77;
    assert_int_equal(kw_totp_verify(&step, KW_TOTP_SHA1, sec, 20, code, 0, 30, 6, 11),
                     KW_ERR_INVALID_ARG);
    assert_true(step == 0);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4226_hotp), cmocka_unit_test(test_rfc6238_table),
        cmocka_unit_test(test_verify_window), cmocka_unit_test(test_verify_window_edges), cmocka_unit_test(test_base32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
