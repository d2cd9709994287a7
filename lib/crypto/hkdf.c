#include "keyward/hkdf.h"

#include <sodium.h>
#include <string.h>

#include "keyward/err.h"

void kw_hkdf_sha256_extract(uint8_t prk[static KW_HKDF_SHA256_PRKBYTES], const uint8_t *salt,
                            size_t salt_len, const uint8_t *ikm, size_t ikm_len)
{
    static const uint8_t zero_salt[KW_HKDF_SHA256_PRKBYTES];
    crypto_auth_hmacsha256_state st;
    if (salt_len == 0) {
        salt = zero_salt;
        salt_len = sizeof(zero_salt);
    }
    crypto_auth_hmacsha256_init(&st, salt, salt_len);
    crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
    crypto_auth_hmacsha256_final(&st, prk);
    sodium_memzero(&st, sizeof(st));
}

void kw_hkdf_sha512_extract(uint8_t prk[static KW_HKDF_SHA512_PRKBYTES], const uint8_t *salt,
                            size_t salt_len, const uint8_t *ikm, size_t ikm_len)
{
    static const uint8_t zero_salt[KW_HKDF_SHA512_PRKBYTES];
    crypto_auth_hmacsha512_state st;
    if (salt_len == 0) {
        salt = zero_salt;
        salt_len = sizeof(zero_salt);
    }
    crypto_auth_hmacsha512_init(&st, salt, salt_len);
    crypto_auth_hmacsha512_update(&st, ikm, ikm_len);
    crypto_auth_hmacsha512_final(&st, prk);
    sodium_memzero(&st, sizeof(st));
}

int kw_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
                          const uint8_t *info, size_t info_len)
{
    uint8_t block[KW_HKDF_SHA256_PRKBYTES];
    crypto_auth_hmacsha256_state st;
    if (out_len > KW_HKDF_SHA256_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (prk_len < KW_HKDF_SHA256_PRKBYTES)
        return KW_ERR_INVALID_ARG;
    size_t done = 0;
    for (uint8_t counter = 1; done < out_len; counter++) {
        crypto_auth_hmacsha256_init(&st, prk, prk_len);
        if (counter > 1)
            crypto_auth_hmacsha256_update(&st, block, sizeof(block));
        crypto_auth_hmacsha256_update(&st, info, info_len);
        crypto_auth_hmacsha256_update(&st, &counter, 1);
        crypto_auth_hmacsha256_final(&st, block);
        size_t take = out_len - done < sizeof(block) ? out_len - done : sizeof(block);
        memcpy(out + done, block, take);
        done += take;
    }
    sodium_memzero(block, sizeof(block));
    sodium_memzero(&st, sizeof(st));
    return KW_OK;
}

int kw_hkdf_sha512_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
                          const uint8_t *info, size_t info_len)
{
    uint8_t block[KW_HKDF_SHA512_PRKBYTES];
    crypto_auth_hmacsha512_state st;
    if (out_len > KW_HKDF_SHA512_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (prk_len < KW_HKDF_SHA512_PRKBYTES)
        return KW_ERR_INVALID_ARG;
    size_t done = 0;
    for (uint8_t counter = 1; done < out_len; counter++) {
        crypto_auth_hmacsha512_init(&st, prk, prk_len);
        if (counter > 1)
            crypto_auth_hmacsha512_update(&st, block, sizeof(block));
        crypto_auth_hmacsha512_update(&st, info, info_len);
        crypto_auth_hmacsha512_update(&st, &counter, 1);
        crypto_auth_hmacsha512_final(&st, block);
        size_t take = out_len - done < sizeof(block) ? out_len - done : sizeof(block);
        memcpy(out + done, block, take);
        done += take;
    }
    sodium_memzero(block, sizeof(block));
    sodium_memzero(&st, sizeof(st));
    return KW_OK;
}

int kw_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
    uint8_t prk[KW_HKDF_SHA256_PRKBYTES];
    kw_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len);
    int r = kw_hkdf_sha256_expand(out, out_len, prk, sizeof(prk), info, info_len);
    sodium_memzero(prk, sizeof(prk));
    return r;
}

int kw_hkdf_sha512(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
    uint8_t prk[KW_HKDF_SHA512_PRKBYTES];
    kw_hkdf_sha512_extract(prk, salt, salt_len, ikm, ikm_len);
    int r = kw_hkdf_sha512_expand(out, out_len, prk, sizeof(prk), info, info_len);
    sodium_memzero(prk, sizeof(prk));
    return r;
}
