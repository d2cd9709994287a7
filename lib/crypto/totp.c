#include "keyward/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <string.h>

#include "keyward/err.h"

static const uint32_t pow10_table[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

int kw_hotp(uint32_t *code, kw_totp_alg alg, const uint8_t *secret, size_t secret_len,
            uint64_t counter, unsigned digits)
{
    uint8_t msg[8], mac[64];
    size_t mac_len = 0;
    int r = KW_ERR_INVALID_ARG;
    *code = 0;
    if (digits < 6 || digits > 8 || secret_len > KW_TOTP_SECRET_MAX ||
        (secret_len < KW_TOTP_SECRET_MIN && secret_len != 10))
        return KW_ERR_INVALID_ARG;
    for (int i = 7; i >= 0; i--) {
        msg[i] = (uint8_t)counter;
        counter >>= 8;
    }
    switch (alg) {
    case KW_TOTP_SHA1: {
        unsigned int len = 0;
        if (HMAC(EVP_sha1(), secret, (int)secret_len, msg, sizeof(msg), mac, &len) == NULL) {
            r = KW_ERR_CRYPTO;
            goto out;
        }
        mac_len = len;
        break;
    }
    case KW_TOTP_SHA256: {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, secret, secret_len);
        crypto_auth_hmacsha256_update(&st, msg, sizeof(msg));
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_memzero(&st, sizeof(st));
        mac_len = 32;
        break;
    }
    case KW_TOTP_SHA512: {
        crypto_auth_hmacsha512_state st;
        crypto_auth_hmacsha512_init(&st, secret, secret_len);
        crypto_auth_hmacsha512_update(&st, msg, sizeof(msg));
        crypto_auth_hmacsha512_final(&st, mac);
        sodium_memzero(&st, sizeof(st));
        mac_len = 64;
        break;
    }
    default:
        goto out;
    }
    {
        unsigned off = mac[mac_len - 1] & 0x0f;
        uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                       ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
        *code = bin % pow10_table[digits];
    }
    r = KW_OK;
out:
    sodium_memzero(mac, sizeof(mac));
    return r;
}

int kw_totp(uint32_t *code, uint64_t *step, kw_totp_alg alg, const uint8_t *secret,
            size_t secret_len, uint64_t t, unsigned period, unsigned digits)
{
    if (period == 0)
        return KW_ERR_INVALID_ARG;
    *step = t / period;
    return kw_hotp(code, alg, secret, secret_len, *step, digits);
}

int kw_totp_verify(uint64_t *step, kw_totp_alg alg, const uint8_t *secret, size_t secret_len,
                   uint32_t candidate, uint64_t t, unsigned period, unsigned digits, unsigned window)
{
    if (step != NULL)
        *step = 0;
    if (step == NULL || period == 0 || window > 10)
        return KW_ERR_INVALID_ARG;
    uint64_t now = t / period;
    /* Saturate both ends: "s <= now + window" would wrap near 2^64 and
     * either skip the window or never end. */
    const uint64_t first = now >= window ? now - window : 0;
    const uint64_t last = now <= UINT64_MAX - window ? now + window : UINT64_MAX;
    int found = 0;
    uint64_t match = 0;
    /* Check every step in the window whatever matches, so timing does not
     * reveal which step matched. The earliest match is reported, so a
     * replayed code maps to the step it was first accepted for. */
    for (uint64_t s = first;; s++) {
        uint32_t code;
        int r = kw_hotp(&code, alg, secret, secret_len, s, digits);
        if (r != KW_OK)
            return r;
        uint32_t diff = code ^ candidate;
        int eq = (int)(((uint64_t)diff - 1) >> 63); /* 1 when diff == 0 */
        match = eq && !found ? s : match;
        found |= eq;
        if (s == last)
            break;
    }
    if (!found)
        return KW_ERR_VERIFY;
    *step = match;
    return KW_OK;
}

/* Branch-free base32 character of a 5-bit value (A..Z, then 2..7): the
 * secret is encoded without a table indexed by its bits. */
static char base32_char(unsigned v)
{
    v &= 31u;
    return (char)((v + 'A' - (((25u - v) >> 8) & 41u)) & 0xffu); /* 41 = 'A' + 26 - '2' */
}

int kw_base32_encode(char *out, size_t out_cap, const uint8_t *in, size_t n)
{
    size_t need = (n + 4) / 5 * 8 + 1;
    if (n > SIZE_MAX / 2 || out_cap < need)
        return KW_ERR_TOO_LARGE;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = base32_char(acc >> bits);
        }
    }
    if (bits > 0)
        out[o++] = base32_char(acc << (5 - bits));
    out[o] = '\0';
    sodium_memzero(&acc, sizeof(acc));
    return KW_OK;
}

/* 1 when lo <= c <= hi, without a branch (c, lo, hi < 2^8). */
static unsigned in_range(unsigned c, unsigned lo, unsigned hi)
{
    return (((c - lo) | (hi - c)) >> 8 & 1u) ^ 1u;
}

/* Decodes without branching on the value of a character: only whether it is
 * a separator (' ' or '=', skipped) decides a branch, and a bad character is
 * reported once the whole input has been read. */
int kw_base32_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in, size_t in_len)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    unsigned bad = 0;
    *out_len = 0;
    for (size_t i = 0; i < in_len; i++) {
        unsigned c = (unsigned char)in[i];
        unsigned skip = in_range(c, ' ', ' ') | in_range(c, '=', '=');
        unsigned up = c & ~0x20u; /* a..z -> A..Z */
        unsigned alpha = in_range(up, 'A', 'Z'), digit = in_range(c, '2', '7');
        unsigned v = ((up - 'A') & (0u - alpha)) | ((c - '2' + 26u) & (0u - digit));
        bad |= (alpha | digit | skip) ^ 1u;
        if (skip)
            continue;
        acc = (acc << 5) | (v & 31u);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o == out_cap) {
                sodium_memzero(out, o);
                sodium_memzero(&acc, sizeof(acc));
                return bad ? KW_ERR_FORMAT : KW_ERR_TOO_LARGE;
            }
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    sodium_memzero(&acc, sizeof(acc));
    if (bad) {
        sodium_memzero(out, o);
        return KW_ERR_FORMAT;
    }
    *out_len = o;
    return KW_OK;
}
