#include "keyward/pwkey.h"

#include <sodium.h>
#include <string.h>

#include "keyward/err.h"

_Static_assert(KW_PWKEY_SALTBYTES == crypto_pwhash_argon2id_SALTBYTES, "salt size");
_Static_assert(KW_PWKEY_KEYBYTES >= crypto_pwhash_argon2id_BYTES_MIN, "key size");
_Static_assert(KW_PWKEY_OPSLIMIT_MIN >= crypto_pwhash_argon2id_OPSLIMIT_MIN, "ops floor");
_Static_assert(KW_PWKEY_MEMLIMIT_MIN >= crypto_pwhash_argon2id_MEMLIMIT_MIN, "mem floor");
_Static_assert(crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE >= KW_PWKEY_OPSLIMIT_MIN &&
                   crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE >= KW_PWKEY_MEMLIMIT_MIN,
               "defaults above the floor");

int kw_pwkey_params_default(kw_pwkey_params *p, int level)
{
    memset(p, 0, sizeof(*p));
    switch (level) {
    case KW_PWKEY_INTERACTIVE:
        p->opslimit = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
        p->memlimit = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
        break;
    case KW_PWKEY_MODERATE:
        p->opslimit = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
        p->memlimit = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
        break;
    default:
        return KW_ERR_INVALID_ARG;
    }
    p->alg = KW_PWKEY_ALG_ARGON2ID13;
    randombytes_buf(p->salt, sizeof(p->salt));
    return KW_OK;
}

int kw_pwkey_params_check(const kw_pwkey_params *p)
{
    if (p->alg != KW_PWKEY_ALG_ARGON2ID13)
        return KW_ERR_FORMAT;
    if (p->opslimit < KW_PWKEY_OPSLIMIT_MIN || p->memlimit < KW_PWKEY_MEMLIMIT_MIN)
        return KW_ERR_FORMAT;
    if (p->opslimit > KW_PWKEY_OPSLIMIT_MAX || p->memlimit > KW_PWKEY_MEMLIMIT_MAX ||
        p->memlimit > SIZE_MAX)
        return KW_ERR_LIMIT;
    return KW_OK;
}

int kw_pwkey_derive(uint8_t key[static KW_PWKEY_KEYBYTES], const uint8_t *password,
                    size_t password_len, const kw_pwkey_params *p)
{
    static const char empty[1];
    int r = KW_ERR_INTERNAL;

    memset(key, 0, KW_PWKEY_KEYBYTES);
    if ((r = kw_pwkey_params_check(p)) != KW_OK)
        goto out;
    if (password_len > KW_PWKEY_PASSWORD_MAXBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    /* libsodium fails only when it cannot allocate memlimit bytes (the
     * parameters were checked above). */
    if (crypto_pwhash(key, KW_PWKEY_KEYBYTES,
                      password_len > 0 ? (const char *)password : empty, password_len,
                      p->salt, p->opslimit, (size_t)p->memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    r = KW_OK;
out:
    if (r != KW_OK)
        sodium_memzero(key, KW_PWKEY_KEYBYTES);
    return r;
}

int kw_pwkey_params_encode(uint8_t out[static KW_PWKEY_RECORDBYTES], const kw_pwkey_params *p)
{
    int r = kw_pwkey_params_check(p);
    if (r != KW_OK)
        return r;
    out[0] = KW_PWKEY_RECORD_VERSION;
    out[1] = p->alg;
    for (size_t i = 0; i < 4; i++)
        out[2 + i] = (uint8_t)(p->opslimit >> (8 * (3 - i)));
    for (size_t i = 0; i < 8; i++)
        out[6 + i] = (uint8_t)(p->memlimit >> (8 * (7 - i)));
    memcpy(out + 14, p->salt, KW_PWKEY_SALTBYTES);
    return KW_OK;
}

int kw_pwkey_params_decode(kw_pwkey_params *p, const uint8_t *rec, size_t rec_len)
{
    int r = KW_ERR_INTERNAL;

    memset(p, 0, sizeof(*p));
    if (rec_len < KW_PWKEY_RECORDBYTES)
        return KW_ERR_TRUNCATED;
    if (rec_len > KW_PWKEY_RECORDBYTES)
        return KW_ERR_TOO_LARGE;
    if (rec[0] != KW_PWKEY_RECORD_VERSION)
        return KW_ERR_FORMAT;
    p->alg = rec[1];
    for (size_t i = 0; i < 4; i++)
        p->opslimit = (p->opslimit << 8) | rec[2 + i];
    for (size_t i = 0; i < 8; i++)
        p->memlimit = (p->memlimit << 8) | rec[6 + i];
    memcpy(p->salt, rec + 14, KW_PWKEY_SALTBYTES);
    if ((r = kw_pwkey_params_check(p)) != KW_OK)
        memset(p, 0, sizeof(*p));
    return r;
}
