/* Unit tests for hex and base64url codecs and constant-time comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keyward.h"

static void test_hex_roundtrip(void **state)
{
    (void)state;
    uint8_t in[256], out[256];
    char enc[513];
    size_t n;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)i;
    for (size_t len = 0; len <= sizeof(in); len += 17) {
        assert_int_equal(kw_hex_encode(enc, sizeof(enc), in, len), KW_OK);
        assert_int_equal(strlen(enc), 2 * len);
        assert_int_equal(kw_hex_decode(out, sizeof(out), &n, enc, strlen(enc)), KW_OK);
        assert_int_equal(n, len);
        assert_memory_equal(in, out, len);
    }
    assert_int_equal(kw_hex_decode(out, sizeof(out), &n, "DEADbeef", 8), KW_OK);
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0xde);
    assert_int_equal(out[3], 0xef);
}

static void test_hex_errors(void **state)
{
    (void)state;
    uint8_t out[4];
    char small[4];
    size_t n = 99;
    const uint8_t two[2] = {1, 2};
    assert_int_equal(kw_hex_decode(out, sizeof(out), &n, "abc", 3), KW_ERR_TRUNCATED);
    assert_int_equal(n, 0);
    assert_int_equal(kw_hex_decode(out, sizeof(out), &n, "zz", 2), KW_ERR_FORMAT);
    assert_int_equal(kw_hex_decode(out, sizeof(out), &n, "0g", 2), KW_ERR_FORMAT);
    assert_int_equal(kw_hex_decode(out, sizeof(out), &n, "0:", 2), KW_ERR_FORMAT);
    assert_int_equal(kw_hex_decode(out, sizeof(out), &n, "0@", 2), KW_ERR_FORMAT);
    assert_int_equal(kw_hex_decode(out, sizeof(out), &n, "0 ", 2), KW_ERR_FORMAT);
    assert_int_equal(kw_hex_decode(out, sizeof(out), &n, "0011223344", 10), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_hex_encode(small, sizeof(small), two, 2), KW_ERR_TOO_LARGE);
    /* every byte value: exactly the 22 hex digits decode */
    unsigned ok = 0;
    for (int c = 0; c < 256; c++) {
        char s[2] = {'0', (char)c};
        if (kw_hex_decode(out, sizeof(out), &n, s, 2) == KW_OK)
            ok++;
    }
    assert_int_equal(ok, 22);
}

/* RFC 4648 §10 test strings, in their unpadded base64url form. */
static void test_b64url_rfc4648(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *enc;
    } cases[] = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},      {"foo", "Zm9v"},
                 {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    char enc[32];
    uint8_t dec[32];
    size_t n;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].plain);
        assert_int_equal(kw_b64url_encode(enc, sizeof(enc), (const uint8_t *)cases[i].plain, len), KW_OK);
        assert_string_equal(enc, cases[i].enc);
        assert_int_equal(kw_b64url_encoded_len(len), strlen(cases[i].enc));
        assert_int_equal(kw_b64url_decode(dec, sizeof(dec), &n, cases[i].enc, strlen(cases[i].enc)), KW_OK);
        assert_int_equal(n, len);
        assert_memory_equal(dec, cases[i].plain, len);
    }
    /* url-safe alphabet: 0xfb 0xff -> "-_8" */
    const uint8_t hi[2] = {0xfb, 0xff};
    assert_int_equal(kw_b64url_encode(enc, sizeof(enc), hi, 2), KW_OK);
    assert_string_equal(enc, "-_8");
}

static void test_b64url_roundtrip_random(void **state)
{
    (void)state;
    uint8_t in[300], out[300];
    char enc[401];
    size_t n;
    for (size_t len = 0; len < sizeof(in); len++) {
        randombytes_buf(in, len);
        assert_int_equal(kw_b64url_encode(enc, sizeof(enc), in, len), KW_OK);
        assert_int_equal(kw_b64url_decode(out, sizeof(out), &n, enc, strlen(enc)), KW_OK);
        assert_int_equal(n, len);
        assert_memory_equal(in, out, len);
    }
}

static void test_b64url_errors(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t n = 5;
    assert_int_equal(kw_b64url_decode(out, sizeof(out), &n, "Zm9vY", 5), KW_ERR_TRUNCATED);
    assert_int_equal(n, 0);
    assert_int_equal(kw_b64url_decode(out, sizeof(out), &n, "Zg==", 4), KW_ERR_FORMAT);
    assert_int_equal(kw_b64url_decode(out, sizeof(out), &n, "Zm+v", 4), KW_ERR_FORMAT);
    assert_int_equal(kw_b64url_decode(out, sizeof(out), &n, "Zm/v", 4), KW_ERR_FORMAT);
    assert_int_equal(kw_b64url_decode(out, sizeof(out), &n, "Zm 9", 4), KW_ERR_FORMAT);
    /* non-canonical: "Zh" has non-zero unused bits (canonical is "Zg") */
    assert_int_equal(kw_b64url_decode(out, sizeof(out), &n, "Zh", 2), KW_ERR_FORMAT);
    assert_int_equal(kw_b64url_decode(out, sizeof(out), &n, "Zm9", 3), KW_ERR_FORMAT);
    assert_int_equal(kw_b64url_decode(out, 2, &n, "Zm9v", 4), KW_ERR_TOO_LARGE);
    /* embedded NUL inside the declared length is not base64url */
    assert_int_equal(kw_b64url_decode(out, sizeof(out), &n, "Zm\0v", 4), KW_ERR_FORMAT);
    unsigned ok = 0;
    for (int c = 0; c < 256; c++) {
        char s[4] = {'A', 'A', 'A', (char)c};
        if (kw_b64url_decode(out, sizeof(out), &n, s, 4) == KW_OK)
            ok++;
    }
    assert_int_equal(ok, 64);
}

static void test_ct_equal(void **state)
{
    (void)state;
    uint8_t a[32], b[32], z[32] = {0};
    randombytes_buf(a, sizeof(a));
    memcpy(b, a, sizeof(a));
    assert_true(kw_ct_equal(a, b, sizeof(a)));
    b[31] ^= 1;
    assert_false(kw_ct_equal(a, b, sizeof(a)));
    b[31] ^= 1;
    b[0] ^= 0x80;
    assert_false(kw_ct_equal(a, b, sizeof(a)));
    assert_true(kw_ct_is_zero(z, sizeof(z)));
    z[17] = 1;
    assert_false(kw_ct_is_zero(z, sizeof(z)));
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(kw_errname(KW_ERR_VERIFY), "verify");
    assert_string_equal(kw_strerror(12345), "unknown error");
    /* every code has a distinct name */
    for (int a = 0; a >= KW_ERR_CRYPTO; a--)
        for (int b = a - 1; b >= KW_ERR_CRYPTO; b--)
            assert_string_not_equal(kw_errname(a), kw_errname(b));
}

/* The branch-free encoders agree with the RFC 4648 alphabets on every
 * value: each byte value through hex, each 6-bit value through base64url. */
static void test_encoders_every_value(void **state)
{
    (void)state;
    static const char hexd[] = "0123456789abcdef";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char out[8];
    for (unsigned b = 0; b < 256; b++) {
        uint8_t in[1] = {(uint8_t)b};
        assert_int_equal(kw_hex_encode(out, sizeof(out), in, 1), KW_OK);
        assert_int_equal(out[0], hexd[b >> 4]);
        assert_int_equal(out[1], hexd[b & 15]);
        assert_int_equal(out[2], 0);
    }
    for (unsigned v = 0; v < 64; v++) {
        /* v in the top 6 bits of one byte: the first character */
        uint8_t in[3] = {(uint8_t)(v << 2), 0, (uint8_t)v};
        assert_int_equal(kw_b64url_encode(out, sizeof(out), in, 3), KW_OK);
        assert_int_equal(out[0], b64[v]);
        assert_int_equal(out[3], b64[v]);
        uint8_t back[3];
        size_t n = 0;
        assert_int_equal(kw_b64url_decode(back, sizeof(back), &n, out, 4), KW_OK);
        assert_memory_equal(back, in, 3);
    }
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_roundtrip),   cmocka_unit_test(test_hex_errors),
        cmocka_unit_test(test_b64url_rfc4648), cmocka_unit_test(test_b64url_roundtrip_random),
        cmocka_unit_test(test_b64url_errors),  cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_strerror), cmocka_unit_test(test_encoders_every_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
