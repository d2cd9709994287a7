#include "keyward/codec.h"

#include <sodium.h>

#include "keyward/err.h"

size_t kw_hex_encoded_len(size_t n)
{
    return n * 2;
}

size_t kw_b64url_encoded_len(size_t n)
{
    return (n / 3) * 4 + ((n % 3) == 0 ? 0 : (n % 3) + 1);
}

/* Branch-free lower-case hex digit of a nibble: no table indexed by
 * (possibly secret) data. 39 = 'a' - '0' - 10, added when v > 9. */
static char hex_char(unsigned v)
{
    return (char)('0' + v + (((9u - v) >> 8) & 39u));
}

int kw_hex_encode(char *out, size_t out_cap, const uint8_t *in, size_t n)
{
    if (n > (SIZE_MAX - 1) / 2 || out_cap < kw_hex_encoded_len(n) + 1)
        return KW_ERR_TOO_LARGE;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_char((unsigned)in[i] >> 4);
        out[2 * i + 1] = hex_char(in[i] & 15u);
    }
    out[2 * n] = '\0';
    return KW_OK;
}

/* Branch-free value of one hex digit; *bad gets all-ones bits on a
 * character outside the alphabet. */
static unsigned hex_value(unsigned char c, unsigned *bad)
{
    unsigned num = (unsigned)c ^ 48u; /* '0'..'9' -> 0..9 */
    unsigned num_ok = ((num - 10u) >> 8) & 1u;
    unsigned alpha = ((unsigned)c & ~32u) - 55u; /* 'A'..'F' / 'a'..'f' -> 10..15 */
    unsigned alpha_ok = (((alpha - 10u) ^ (alpha - 16u)) >> 8) & 1u;
    unsigned ok = num_ok | alpha_ok;
    *bad |= ok ^ 1u;
    return (num & (0u - num_ok)) | (alpha & (0u - alpha_ok));
}

int kw_hex_decode(uint8_t *out, size_t out_cap, size_t *out_len,
                  const char *in, size_t in_len)
{
    *out_len = 0;
    if (in_len % 2 != 0)
        return KW_ERR_TRUNCATED;
    size_t n = in_len / 2;
    if (n > out_cap)
        return KW_ERR_TOO_LARGE;
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned hi = hex_value((unsigned char)in[2 * i], &bad);
        unsigned lo = hex_value((unsigned char)in[2 * i + 1], &bad);
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    if (bad != 0) {
        sodium_memzero(out, n);
        return KW_ERR_FORMAT;
    }
    *out_len = n;
    return KW_OK;
}

/* Branch-free base64url character of a 6-bit value, without a table
 * indexed by (possibly secret) data: start from 'A' + v and shift at each
 * range boundary (a..z +6, 0..9 -75, '-' -13, '_' +49). */
static char b64url_char(unsigned v)
{
    v &= 63u;
    unsigned d = 'A';
    d += ((25u - v) >> 8) & 6u;
    d -= ((51u - v) >> 8) & 75u;
    d -= ((61u - v) >> 8) & 13u;
    d += ((62u - v) >> 8) & 49u;
    return (char)((v + d) & 0xffu);
}

int kw_b64url_encode(char *out, size_t out_cap, const uint8_t *in, size_t n)
{
    if (n > (SIZE_MAX / 4) * 3 - 3 || out_cap < kw_b64url_encoded_len(n) + 1)
        return KW_ERR_TOO_LARGE;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = b64url_char(v >> 18);
        out[o++] = b64url_char(v >> 12);
        out[o++] = b64url_char(v >> 6);
        out[o++] = b64url_char(v);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_char(v >> 18);
        out[o++] = b64url_char(v >> 12);
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = b64url_char(v >> 18);
        out[o++] = b64url_char(v >> 12);
        out[o++] = b64url_char(v >> 6);
    }
    out[o] = '\0';
    return KW_OK;
}

/* Branch-free value of one base64url character. */
static unsigned b64url_value(unsigned char ch, unsigned *bad)
{
    int c = ch;
    /* Each term is the value when c is in the range, 0 otherwise; ranges are
     * tested with arithmetic-shift masks. */
#define IN_RANGE(lo, hi) ((((lo) - 1 - c) & (c - ((hi) + 1))) >> 8 & 1)
    int upper = IN_RANGE('A', 'Z');
    int lower = IN_RANGE('a', 'z');
    int digit = IN_RANGE('0', '9');
    int dash = IN_RANGE('-', '-');
    int under = IN_RANGE('_', '_');
#undef IN_RANGE
    int v = ((c - 'A') & -upper) | ((c - 'a' + 26) & -lower) |
            ((c - '0' + 52) & -digit) | (62 & -dash) | (63 & -under);
    *bad |= (unsigned)((upper | lower | digit | dash | under) ^ 1);
    return (unsigned)v & 63u;
}

int kw_b64url_decode(uint8_t *out, size_t out_cap, size_t *out_len,
                     const char *in, size_t in_len)
{
    *out_len = 0;
    if (in_len % 4 == 1)
        return KW_ERR_TRUNCATED;
    size_t n = (in_len / 4) * 3 + (in_len % 4 == 0 ? 0 : in_len % 4 - 1);
    if (n > out_cap)
        return KW_ERR_TOO_LARGE;
    unsigned bad = 0;
    size_t o = 0, i = 0;
    for (; i + 4 <= in_len; i += 4) {
        uint32_t v = (b64url_value((unsigned char)in[i], &bad) << 18) |
                     (b64url_value((unsigned char)in[i + 1], &bad) << 12) |
                     (b64url_value((unsigned char)in[i + 2], &bad) << 6) |
                     b64url_value((unsigned char)in[i + 3], &bad);
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    size_t rest = in_len - i;
    if (rest == 2) {
        uint32_t v = (b64url_value((unsigned char)in[i], &bad) << 18) |
                     (b64url_value((unsigned char)in[i + 1], &bad) << 12);
        bad |= (v & 0xffff) != 0; /* unused bits must be zero */
        out[o++] = (uint8_t)(v >> 16);
    } else if (rest == 3) {
        uint32_t v = (b64url_value((unsigned char)in[i], &bad) << 18) |
                     (b64url_value((unsigned char)in[i + 1], &bad) << 12) |
                     (b64url_value((unsigned char)in[i + 2], &bad) << 6);
        bad |= (v & 0xff) != 0;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
    }
    if (bad != 0) {
        sodium_memzero(out, n);
        return KW_ERR_FORMAT;
    }
    *out_len = o;
    return KW_OK;
}

bool kw_ct_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

bool kw_ct_is_zero(const void *a, size_t n)
{
    return sodium_is_zero(a, n) == 1;
}
