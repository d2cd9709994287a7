/* libFuzzer target: base32 (keyward/totp.h), the TOTP secret encoding.
 * Checks on attacker-controlled text:
 *   - kw_base32_decode fails only with KW_ERR_FORMAT / KW_ERR_TOO_LARGE, and
 *     then reports length 0 and leaves the output zeroed;
 *   - on success it yields floor(5*m/8) bytes for the m characters that are
 *     not ' ' or '=', re-encodes to exactly those characters (up to the
 *     unused low bits of the last one, upper-cased), and the re-encoding
 *     decodes back to the same bytes;
 *   - a too-small output buffer gives KW_ERR_TOO_LARGE, never an overflow;
 *   - the input as raw bytes: encode → decode is the identity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/totp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char up(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
}

static void check_decode(const char *in, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] != ' ' && in[i] != '=')
            m++;
    size_t want = m * 5 / 8;
    uint8_t *out = calloc(want + 1, 1);
    size_t len = 99;
    int r = kw_base32_decode(out, want + 1, &len, in, n);
    if (r != KW_OK) {
        if (r != KW_ERR_FORMAT || len != 0)
            abort();
        for (size_t i = 0; i < want + 1; i++)
            if (out[i] != 0)
                abort();
        free(out);
        return;
    }
    if (len != want)
        abort();
    /* the normalised input: separators dropped, upper-cased */
    char *norm = malloc(m + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] != ' ' && in[i] != '=')
            norm[k++] = (char)up((unsigned char)in[i]);
    size_t elen = (len * 8 + 4) / 5;
    char *enc = malloc((len + 4) / 5 * 8 + 1);
    if (kw_base32_encode(enc, (len + 4) / 5 * 8 + 1, out, len) != KW_OK || strlen(enc) != elen)
        abort();
    if (elen > m)
        abort();
    /* every character carrying only whole-byte bits must match exactly */
    size_t full = len * 8 / 5;
    if (memcmp(enc, norm, full) != 0)
        abort();
    uint8_t *back = malloc(len + 1);
    size_t blen = 0;
    if (kw_base32_decode(back, len + 1, &blen, enc, elen) != KW_OK || blen != len ||
        memcmp(back, out, len) != 0)
        abort();
    /* one byte less of room must be refused, not overrun */
    if (len > 0) {
        uint8_t *small = malloc(len - 1 + 1);
        size_t slen = 7;
        if (kw_base32_decode(small, len - 1, &slen, in, n) != KW_ERR_TOO_LARGE || slen != 0)
            abort();
        free(small);
    }
    free(back);
    free(enc);
    free(norm);
    free(out);
}

static void check_encode(const uint8_t *data, size_t n)
{
    size_t cap = (n + 4) / 5 * 8 + 1;
    char *enc = malloc(cap);
    if (kw_base32_encode(enc, cap, data, n) != KW_OK)
        abort();
    if (n > 0 && kw_base32_encode(enc, cap - 1, data, n) != KW_ERR_TOO_LARGE)
        abort();
    if (kw_base32_encode(enc, cap, data, n) != KW_OK)
        abort();
    size_t elen = strlen(enc);
    uint8_t *back = malloc(n + 1);
    size_t blen = 0;
    if (kw_base32_decode(back, n + 1, &blen, enc, elen) != KW_OK || blen != n ||
        (n > 0 && memcmp(back, data, n) != 0))
        abort();
    free(back);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        if (kw_init() != KW_OK)
            abort();
        init = 1;
    }
    if (size > 4096)
        return 0;
    check_decode((const char *)data, size);
    check_encode(data, size);
    return 0;
}
