#include "keyward/sign.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"

_Static_assert(KW_SIGN_SEEDBYTES == crypto_sign_ed25519_SEEDBYTES, "seed size");
_Static_assert(KW_SIGN_PUBLICKEYBYTES == crypto_sign_ed25519_PUBLICKEYBYTES, "pk size");
_Static_assert(KW_SIGN_BYTES == crypto_sign_ed25519_BYTES, "signature size");

#define SIGN_DOMAIN_LEN (sizeof(KW_SIGN_DOMAIN) - 1)

struct kw_sign_key {
    uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES]; /* seed ‖ public key */
};

/* Builds domain ‖ u8 len(ctx) ‖ ctx ‖ msg in a fresh malloc'd buffer. */
static int sign_message(uint8_t **out, size_t *out_len, const uint8_t *ctx, size_t ctx_len,
                        const uint8_t *msg, size_t msg_len)
{
    *out = NULL;
    *out_len = 0;
    if (ctx_len == 0 || ctx_len > KW_SIGN_CONTEXT_MAXBYTES)
        return KW_ERR_INVALID_ARG;
    size_t prefix = SIGN_DOMAIN_LEN + 1 + ctx_len;
    if (msg_len > SIZE_MAX - prefix)
        return KW_ERR_TOO_LARGE;
    size_t n = prefix + msg_len;
    uint8_t *m = malloc(n);
    if (m == NULL)
        return KW_ERR_NOMEM;
    memcpy(m, KW_SIGN_DOMAIN, SIGN_DOMAIN_LEN);
    m[SIGN_DOMAIN_LEN] = (uint8_t)ctx_len;
    memcpy(m + SIGN_DOMAIN_LEN + 1, ctx, ctx_len);
    if (msg_len > 0)
        memcpy(m + prefix, msg, msg_len);
    *out = m; /* transferred */
    *out_len = n;
    return KW_OK;
}

static void sign_message_free(uint8_t **m, size_t len)
{
    if (*m == NULL)
        return;
    sodium_memzero(*m, len);
    free(*m);
    *m = NULL;
}

static kw_sign_key *sign_key_alloc(void)
{
    /* sizeof is 64, a multiple of the alignment sodium_malloc needs. */
    return sodium_malloc(sizeof(kw_sign_key));
}

int kw_sign_key_new(kw_sign_key **key)
{
    uint8_t seed[KW_SIGN_SEEDBYTES];
    randombytes_buf(seed, sizeof(seed));
    int r = kw_sign_key_from_seed(key, seed);
    sodium_memzero(seed, sizeof(seed));
    return r;
}

int kw_sign_key_from_seed(kw_sign_key **key, const uint8_t seed[static KW_SIGN_SEEDBYTES])
{
    uint8_t pk[KW_SIGN_PUBLICKEYBYTES];
    *key = NULL;
    kw_sign_key *k = sign_key_alloc();
    if (k == NULL)
        return KW_ERR_NOMEM;
    crypto_sign_ed25519_seed_keypair(pk, k->sk, seed);
    *key = k; /* transferred */
    return KW_OK;
}

void kw_sign_key_public(const kw_sign_key *key, uint8_t pk[static KW_SIGN_PUBLICKEYBYTES])
{
    crypto_sign_ed25519_sk_to_pk(pk, key->sk);
}

void kw_sign_key_seed(const kw_sign_key *key, uint8_t seed[static KW_SIGN_SEEDBYTES])
{
    crypto_sign_ed25519_sk_to_seed(seed, key->sk);
}

void kw_sign_key_free(kw_sign_key **key)
{
    if (key == NULL || *key == NULL)
        return;
    sodium_free(*key); /* wipes */
    *key = NULL;
}

int kw_sign(const kw_sign_key *key, uint8_t sig[static KW_SIGN_BYTES], const uint8_t *ctx,
            size_t ctx_len, const uint8_t *msg, size_t msg_len)
{
    uint8_t *m = NULL;
    size_t m_len = 0;
    int r = KW_ERR_INTERNAL;

    memset(sig, 0, KW_SIGN_BYTES);
    if ((r = sign_message(&m, &m_len, ctx, ctx_len, msg, msg_len)) != KW_OK)
        goto out;
    if (crypto_sign_ed25519_detached(sig, NULL, m, m_len, key->sk) != 0) {
        sodium_memzero(sig, KW_SIGN_BYTES);
        r = KW_ERR_CRYPTO;
        goto out;
    }
    r = KW_OK;
out:
    sign_message_free(&m, m_len);
    return r;
}

int kw_sign_verify(const uint8_t sig[static KW_SIGN_BYTES],
                   const uint8_t pk[static KW_SIGN_PUBLICKEYBYTES], const uint8_t *ctx,
                   size_t ctx_len, const uint8_t *msg, size_t msg_len)
{
    uint8_t *m = NULL;
    size_t m_len = 0;
    int r = KW_ERR_INTERNAL;

    if ((r = sign_message(&m, &m_len, ctx, ctx_len, msg, msg_len)) != KW_OK)
        goto out;
    /* libsodium rejects non-canonical S, small-order R and public keys, and
     * non-canonical public key encodings. */
    r = crypto_sign_ed25519_verify_detached(sig, m, m_len, pk) == 0 ? KW_OK : KW_ERR_VERIFY;
out:
    sign_message_free(&m, m_len);
    return r;
}

int kw_sign_pk_validate(const uint8_t pk[static KW_SIGN_PUBLICKEYBYTES])
{
    return crypto_core_ed25519_is_valid_point(pk) == 1 ? KW_OK : KW_ERR_FORMAT;
}
