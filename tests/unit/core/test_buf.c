/* Unit tests for the bounded buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "keyward/buf.h"
#include "keyward/err.h"

static void test_put_get_integers(void **state)
{
    (void)state;
    kw_buf *b = kw_buf_new(64);
    assert_non_null(b);
    assert_int_equal(kw_buf_put_u8(b, 0xab), KW_OK);
    assert_int_equal(kw_buf_put_u16(b, 0x1234), KW_OK);
    assert_int_equal(kw_buf_put_u32(b, 0xdeadbeef), KW_OK);
    assert_int_equal(kw_buf_put_u64(b, 0x0102030405060708ULL), KW_OK);
    assert_int_equal(kw_buf_len(b), 15);
    assert_int_equal(kw_buf_ptr(b)[1], 0x12); /* big-endian */
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    assert_int_equal(kw_buf_get_u8(b, &u8), KW_OK);
    assert_int_equal(kw_buf_get_u16(b, &u16), KW_OK);
    assert_int_equal(kw_buf_get_u32(b, &u32), KW_OK);
    assert_int_equal(kw_buf_get_u64(b, &u64), KW_OK);
    assert_int_equal(u8, 0xab);
    assert_int_equal(u16, 0x1234);
    assert_int_equal(u32, 0xdeadbeef);
    assert_true(u64 == 0x0102030405060708ULL);
    assert_int_equal(kw_buf_len(b), 0);
    assert_int_equal(kw_buf_get_u8(b, &u8), KW_ERR_TRUNCATED);
    kw_buf_free(&b);
    assert_null(b);
    kw_buf_free(&b); /* no-op */
}

static void test_limits(void **state)
{
    (void)state;
    assert_null(kw_buf_new(0));
    assert_null(kw_buf_new(KW_BUF_MAX_SIZE + 1));
    kw_buf *b = kw_buf_new(10);
    uint8_t data[11] = {0};
    assert_int_equal(kw_buf_put(b, data, 11), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_buf_len(b), 0);
    assert_int_equal(kw_buf_put(b, data, 10), KW_OK);
    assert_int_equal(kw_buf_put_u8(b, 1), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_buf_len(b), 10);
    /* reading frees room: consumed bytes are compacted away */
    assert_int_equal(kw_buf_get(b, NULL, 4), KW_OK);
    assert_int_equal(kw_buf_put(b, data, 4), KW_OK);
    assert_int_equal(kw_buf_len(b), 10);
    assert_int_equal(kw_buf_put(b, data, SIZE_MAX), KW_ERR_TOO_LARGE);
    uint8_t *dst = (uint8_t *)1;
    assert_int_equal(kw_buf_reserve(b, 1, &dst), KW_ERR_TOO_LARGE);
    assert_null(dst);
    kw_buf_free(&b);
}

static void test_grow_keeps_content(void **state)
{
    (void)state;
    kw_buf *b = kw_buf_new(1 << 20);
    for (uint32_t i = 0; i < 100000; i++)
        assert_int_equal(kw_buf_put_u32(b, i), KW_OK);
    for (uint32_t i = 0; i < 100000; i++) {
        uint32_t v;
        assert_int_equal(kw_buf_get_u32(b, &v), KW_OK);
        assert_int_equal(v, i);
    }
    kw_buf_free(&b);
}

static void test_string16(void **state)
{
    (void)state;
    kw_buf *b = kw_buf_new(100);
    const uint8_t *p;
    size_t n;
    assert_int_equal(kw_buf_put_string16(b, "hello", 5), KW_OK);
    assert_int_equal(kw_buf_get_string16(b, &p, &n, 4), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_buf_len(b), 7); /* nothing consumed on error */
    assert_int_equal(kw_buf_get_string16(b, &p, &n, 5), KW_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "hello", 5);
    /* declared length longer than the data */
    const uint8_t bad[] = {0x00, 0x09, 'a', 'b'};
    kw_buf *r = kw_buf_from(bad, sizeof(bad));
    assert_int_equal(kw_buf_get_string16(r, &p, &n, 100), KW_ERR_TRUNCATED);
    assert_null(p);
    assert_int_equal(kw_buf_len(r), 4);
    kw_buf_free(&r);
    uint8_t big[70000] = {0};
    kw_buf *large = kw_buf_new(sizeof(big) + 2);
    assert_int_equal(kw_buf_put_string16(large, big, sizeof(big)), KW_ERR_TOO_LARGE);
    kw_buf_free(&large);
    kw_buf_free(&b);
}

static void test_reset(void **state)
{
    (void)state;
    kw_buf *b = kw_buf_new(16);
    assert_int_equal(kw_buf_put(b, "secret", 6), KW_OK);
    kw_buf_reset(b);
    assert_int_equal(kw_buf_len(b), 0);
    assert_int_equal(kw_buf_max(b), 16);
    assert_int_equal(kw_buf_put(b, "0123456789abcdef", 16), KW_OK);
    kw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_integers), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_grow_keeps_content), cmocka_unit_test(test_string16),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
