/*
 * Verification codes of Contact Key Verification (docs/crypto.md, "Contact
 * Key Verification"): the static public code of an account key and the
 * commit-then-reveal short authentication string. Pure computation over
 * SHA-512 (libsodium); no state, thread-safe.
 *
 *   account encoding  A(name, pk) = u8 len(name) ‖ name ‖ pk[32]
 *   public code       H = SHA-512("keyward/ckv/public-code/v1" ‖ 0x00 ‖ A)
 *                     group i (0..5) = u64be(H[8i..8i+8]) mod 100000, 5 digits
 *   commitment        SHA-512("keyward/ckv/sas-commit/v1" ‖ 0x00 ‖ A(init) ‖
 *                     A(resp) ‖ nonce_init)[0..32]
 *   SAS               H = SHA-512("keyward/ckv/sas/v1" ‖ 0x00 ‖ A(init) ‖
 *                     A(resp) ‖ nonce_init ‖ nonce_resp)
 *                     group i (0..2) = u64be(H[8i..8i+8]) mod 100000
 *
 * The reduction of a 64-bit value mod 10^5 has a bias below 2^-47 per
 * group, so the 30-digit code carries 6 · log2(10^5) ≈ 99.6 bits and the
 * 15-digit SAS ≈ 49.8 bits.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "keyward/client_ckv.h"
#include "keyward/codec.h"
#include "keyward/err.h"

#define CODE_LABEL "keyward/ckv/public-code/v1"
#define COMMIT_LABEL "keyward/ckv/sas-commit/v1"
#define SAS_LABEL "keyward/ckv/sas/v1"

static void put_label(crypto_hash_sha512_state *h, const char *label)
{
    static const uint8_t zero = 0;
    crypto_hash_sha512_update(h, (const uint8_t *)label, strlen(label));
    crypto_hash_sha512_update(h, &zero, 1);
}

static void put_account(crypto_hash_sha512_state *h, const char *name, const uint8_t pk[32])
{
    size_t n = strlen(name);
    uint8_t len = (uint8_t)(n > 255 ? 255 : n);
    crypto_hash_sha512_update(h, &len, 1);
    crypto_hash_sha512_update(h, (const uint8_t *)name, len);
    crypto_hash_sha512_update(h, pk, 32);
}

/* groups × "ddddd" separated by spaces, from the first 8·groups bytes. */
static void digits(char *out, const uint8_t *hash, size_t groups)
{
    char *p = out;
    for (size_t g = 0; g < groups; g++) {
        uint64_t v = 0;
        for (size_t i = 0; i < 8; i++)
            v = (v << 8) | hash[8 * g + i];
        unsigned d = (unsigned)(v % 100000u);
        snprintf(p, 7, g + 1 < groups ? "%05u " : "%05u", d);
        p += g + 1 < groups ? 6 : 5;
    }
    *p = '\0';
}

static bool name_valid(const char *name)
{
    size_t n = name == NULL ? 0 : strlen(name);
    return n >= 1 && n <= 64;
}

int kw_ckv_code(char out[static KW_CKV_CODEBYTES], const char *account_name,
                const uint8_t account_pk[static 32])
{
    crypto_hash_sha512_state h;
    uint8_t hash[64];
    memset(out, 0, KW_CKV_CODEBYTES);
    if (!name_valid(account_name))
        return KW_ERR_INVALID_ARG;
    crypto_hash_sha512_init(&h);
    put_label(&h, CODE_LABEL);
    put_account(&h, account_name, account_pk);
    crypto_hash_sha512_final(&h, hash);
    digits(out, hash, KW_CKV_CODE_GROUPS);
    return KW_OK;
}

int kw_ckv_code_check(const char *typed, const char *account_name,
                      const uint8_t account_pk[static 32])
{
    char want[KW_CKV_CODEBYTES], got[KW_CKV_CODE_GROUPS * 5 + 1], w[KW_CKV_CODE_GROUPS * 5 + 1];
    size_t n = 0, m = 0;
    int r = kw_ckv_code(want, account_name, account_pk);
    if (r != KW_OK)
        return r;
    if (typed == NULL || strlen(typed) > 256)
        return KW_ERR_FORMAT;
    for (const char *p = typed; *p != '\0'; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (*p < '0' || *p > '9' || n >= KW_CKV_CODE_GROUPS * 5)
            return KW_ERR_FORMAT;
        got[n++] = *p;
    }
    if (n != KW_CKV_CODE_GROUPS * 5)
        return KW_ERR_FORMAT;
    for (const char *p = want; *p != '\0'; p++)
        if (*p != ' ')
            w[m++] = *p;
    return kw_ct_equal(got, w, n) ? KW_OK : KW_ERR_VERIFY;
}

static void commit_hash(uint8_t hash[64], const uint8_t nonce[KW_CKV_SAS_NONCEBYTES],
                        const char *init_name, const uint8_t init_pk[32], const char *resp_name,
                        const uint8_t resp_pk[32])
{
    crypto_hash_sha512_state h;
    crypto_hash_sha512_init(&h);
    put_label(&h, COMMIT_LABEL);
    put_account(&h, init_name, init_pk);
    put_account(&h, resp_name, resp_pk);
    crypto_hash_sha512_update(&h, nonce, KW_CKV_SAS_NONCEBYTES);
    crypto_hash_sha512_final(&h, hash);
}

void kw_ckv_sas_commit(uint8_t out[static KW_CKV_SAS_COMMITBYTES],
                       const uint8_t nonce[static KW_CKV_SAS_NONCEBYTES], const char *init_name,
                       const uint8_t init_pk[static 32], const char *resp_name,
                       const uint8_t resp_pk[static 32])
{
    uint8_t hash[64];
    commit_hash(hash, nonce, init_name, init_pk, resp_name, resp_pk);
    memcpy(out, hash, KW_CKV_SAS_COMMITBYTES);
}

int kw_ckv_sas_check_commit(const uint8_t commit[static KW_CKV_SAS_COMMITBYTES],
                            const uint8_t nonce[static KW_CKV_SAS_NONCEBYTES],
                            const char *init_name, const uint8_t init_pk[static 32],
                            const char *resp_name, const uint8_t resp_pk[static 32])
{
    uint8_t hash[64];
    commit_hash(hash, nonce, init_name, init_pk, resp_name, resp_pk);
    return kw_ct_equal(hash, commit, KW_CKV_SAS_COMMITBYTES) ? KW_OK : KW_ERR_VERIFY;
}

void kw_ckv_sas(char out[static KW_CKV_SASBYTES], const char *init_name,
                const uint8_t init_pk[static 32], const char *resp_name,
                const uint8_t resp_pk[static 32],
                const uint8_t init_nonce[static KW_CKV_SAS_NONCEBYTES],
                const uint8_t resp_nonce[static KW_CKV_SAS_NONCEBYTES])
{
    crypto_hash_sha512_state h;
    uint8_t hash[64];
    crypto_hash_sha512_init(&h);
    put_label(&h, SAS_LABEL);
    put_account(&h, init_name, init_pk);
    put_account(&h, resp_name, resp_pk);
    crypto_hash_sha512_update(&h, init_nonce, KW_CKV_SAS_NONCEBYTES);
    crypto_hash_sha512_update(&h, resp_nonce, KW_CKV_SAS_NONCEBYTES);
    crypto_hash_sha512_final(&h, hash);
    digits(out, hash, KW_CKV_SAS_GROUPS);
}
