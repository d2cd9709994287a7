/* The value commitment of key transparency. See kt_commit.h. */
#include "keyward/kt_commit.h"

#include <sodium.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"

static const char commit_key[] = "keyward/kt/commitment/v1";

static void be_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

void kw_commit_opening_new(uint8_t opening[static KW_COMMIT_OPENINGBYTES])
{
    randombytes_buf(opening, KW_COMMIT_OPENINGBYTES);
}

int kw_commit_compute(uint8_t out[static KW_COMMIT_BYTES],
                      const uint8_t opening[static KW_COMMIT_OPENINGBYTES],
                      const uint8_t *label, size_t label_len, uint64_t version,
                      const uint8_t *value, size_t value_len)
{
    int r = KW_ERR_INTERNAL;
    crypto_auth_hmacsha256_state st;
    uint8_t len16[2], ver64[8], len32[4];

    memset(out, 0, KW_COMMIT_BYTES);
    if ((label == NULL && label_len != 0) || (value == NULL && value_len != 0))
        return KW_ERR_INVALID_ARG;
    if (label_len > KW_COMMIT_LABEL_MAXBYTES || value_len > KW_COMMIT_VALUE_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    be_put(len16, label_len, sizeof(len16));
    be_put(ver64, version, sizeof(ver64));
    be_put(len32, value_len, sizeof(len32));
    if (crypto_auth_hmacsha256_init(&st, (const unsigned char *)commit_key,
                                    sizeof(commit_key) - 1) != 0)
        goto out;
    crypto_auth_hmacsha256_update(&st, opening, KW_COMMIT_OPENINGBYTES);
    crypto_auth_hmacsha256_update(&st, len16, sizeof(len16));
    if (label_len > 0)
        crypto_auth_hmacsha256_update(&st, label, label_len);
    crypto_auth_hmacsha256_update(&st, ver64, sizeof(ver64));
    crypto_auth_hmacsha256_update(&st, len32, sizeof(len32));
    if (value_len > 0)
        crypto_auth_hmacsha256_update(&st, value, value_len);
    crypto_auth_hmacsha256_final(&st, out);
    r = KW_OK;
out:
    sodium_memzero(&st, sizeof(st));
    return r;
}

int kw_commit_verify(const uint8_t commitment[static KW_COMMIT_BYTES],
                     const uint8_t opening[static KW_COMMIT_OPENINGBYTES],
                     const uint8_t *label, size_t label_len, uint64_t version,
                     const uint8_t *value, size_t value_len)
{
    uint8_t c[KW_COMMIT_BYTES];
    int r = kw_commit_compute(c, opening, label, label_len, version, value, value_len);
    if (r != KW_OK)
        return r;
    r = kw_ct_equal(c, commitment, KW_COMMIT_BYTES) ? KW_OK : KW_ERR_VERIFY;
    sodium_memzero(c, sizeof(c));
    return r;
}
