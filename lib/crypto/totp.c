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
    if (period == 0 || window > 10)
        return KW_ERR_INVALID_ARG;
    uint64_t now = t / period;
    int found = 0;
    uint64_t match = 0;
    /* Check every step in the window whatever matches, so timing does not
     * reveal which step matched. */
    for (uint64_t s = now >= window ? now - window : 0; s <= now + window; s++) {
        uint32_t code;
        int r = kw_hotp(&code, alg, secret, secret_len, s, digits);
        if (r != KW_OK)
            return r;
        uint32_t diff = code ^ candidate;
        int eq = (int)(((uint64_t)diff - 1) >> 63); /* 1 when diff == 0 */
        match = eq && !found ? s : match;
        found |= eq;
    }
    if (!found)
        return KW_ERR_VERIFY;
    *step = match;
    return KW_OK;
}

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

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
            out[o++] = base32_alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        out[o++] = base32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return KW_OK;
}

int kw_base32_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in, size_t in_len)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    *out_len = 0;
    for (size_t i = 0; i < in_len; i++) {
        char c = in[i];
        int v;
        if (c == ' ' || c == '=')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= '2' && c <= '7')
            v = c - '2' + 26;
        else {
            sodium_memzero(out, o);
            return KW_ERR_FORMAT;
        }
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o == out_cap) {
                sodium_memzero(out, o);
                return KW_ERR_TOO_LARGE;
            }
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return KW_OK;
}
