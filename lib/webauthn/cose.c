/* COSE public keys (RFC 9052/9053) for WebAuthn credentials, the bounded
 * CBOR walker that guards libcbor, and signature verification with the
 * credential key (libsodium for Ed25519, OpenSSL EVP for ECDSA and RSA). */
#include <string.h>

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "keyward/err.h"
#include "wa_internal.h"

/* ---- bounded CBOR walker ------------------------------------------------ */

static int cbor_head(const uint8_t *p, size_t len, size_t *pos, unsigned *mt,
                     unsigned *ai, uint64_t *val)
{
    if (*pos >= len)
        return KW_ERR_TRUNCATED;
    uint8_t ib = p[(*pos)++];
    *mt = ib >> 5;
    *ai = ib & 31u;
    size_t n;
    if (*ai < 24) {
        *val = *ai;
        return KW_OK;
    } else if (*ai == 24) {
        n = 1;
    } else if (*ai == 25) {
        n = 2;
    } else if (*ai == 26) {
        n = 4;
    } else if (*ai == 27) {
        n = 8;
    } else {
        return KW_ERR_FORMAT; /* reserved (28–30) or indefinite length (31) */
    }
    if (len - *pos < n)
        return KW_ERR_TRUNCATED;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[*pos + i];
    *pos += n;
    *val = v;
    return KW_OK;
}

static int cbor_walk(const uint8_t *p, size_t len, size_t *pos, unsigned depth)
{
    unsigned mt, ai;
    uint64_t val;
    int r;
    if (depth > WA_CBOR_MAX_DEPTH)
        return KW_ERR_TOO_LARGE;
    if ((r = cbor_head(p, len, pos, &mt, &ai, &val)) != KW_OK)
        return r;
    switch (mt) {
    case 0: /* unsigned */
    case 1: /* negative */
        return KW_OK;
    case 2: /* byte string */
    case 3: /* text string */
        if (val > len - *pos)
            return KW_ERR_TRUNCATED;
        *pos += (size_t)val;
        return KW_OK;
    case 4: /* array: each element takes at least one byte */
    case 5: /* map: each pair at least two */
        if (val > (len - *pos) / (mt == 5 ? 2u : 1u))
            return KW_ERR_TRUNCATED;
        for (uint64_t i = 0; i < val * (mt == 5 ? 2u : 1u); i++)
            if ((r = cbor_walk(p, len, pos, depth + 1)) != KW_OK)
                return r;
        return KW_OK;
    case 6: /* tags: not used by WebAuthn */
        return KW_ERR_FORMAT;
    default: /* 7: only false, true, null, undefined */
        return (ai >= 20 && ai <= 23) ? KW_OK : KW_ERR_FORMAT;
    }
}

int wa_cbor_item_len(const uint8_t *p, size_t len, size_t *item_len)
{
    size_t pos = 0;
    *item_len = 0;
    int r = cbor_walk(p, len, &pos, 0);
    if (r == KW_OK)
        *item_len = pos;
    return r;
}

/* ---- COSE keys ---------------------------------------------------------- */

bool wa_alg_supported(int32_t alg)
{
    return alg == KW_COSE_ES256 || alg == KW_COSE_ES384 || alg == KW_COSE_EDDSA ||
           alg == KW_COSE_RS256;
}

/* Integer value of a CBOR int item within int32 range. */
static int item_int(const cbor_item_t *it, int64_t *out)
{
    if (cbor_isa_uint(it)) {
        uint64_t v = cbor_get_int(it);
        if (v > INT32_MAX)
            return KW_ERR_FORMAT;
        *out = (int64_t)v;
        return KW_OK;
    }
    if (cbor_isa_negint(it)) {
        uint64_t v = cbor_get_int(it);
        if (v > INT32_MAX)
            return KW_ERR_FORMAT;
        *out = -1 - (int64_t)v;
        return KW_OK;
    }
    return KW_ERR_FORMAT;
}

static int item_bytes(const cbor_item_t *it, uint8_t *out, size_t min, size_t max, size_t *out_len)
{
    if (it == NULL || !cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it))
        return KW_ERR_FORMAT;
    size_t n = cbor_bytestring_length(it);
    if (n < min || n > max)
        return KW_ERR_FORMAT;
    memcpy(out, cbor_bytestring_handle(it), n);
    if (out_len != NULL)
        *out_len = n;
    return KW_OK;
}

#define COSE_LABELS 6 /* 1 kty, 3 alg, -1, -2, -3, -4 */

static int label_slot(int64_t label)
{
    switch (label) {
    case 1: return 0;
    case 3: return 1;
    case -1: return 2;
    case -2: return 3;
    case -3: return 4;
    case -4: return 5;
    default: return -1;
    }
}

int wa_cose_parse(wa_pubkey *pk, const uint8_t *cose, size_t len)
{
    int r = KW_ERR_FORMAT;
    cbor_item_t *item = NULL;
    const cbor_item_t *slot[COSE_LABELS] = {0};
    size_t item_len;
    memset(pk, 0, sizeof(*pk));
    if (len > KW_WEBAUTHN_COSEKEY_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if ((r = wa_cbor_item_len(cose, len, &item_len)) != KW_OK)
        return r;
    if (item_len != len)
        return KW_ERR_FORMAT;
    struct cbor_load_result res;
    item = cbor_load(cose, len, &res);
    r = KW_ERR_FORMAT;
    if (item == NULL || res.error.code != CBOR_ERR_NONE || res.read != len)
        goto out;
    if (!cbor_isa_map(item) || !cbor_map_is_definite(item) || cbor_map_size(item) > 16)
        goto out;
    struct cbor_pair *pairs = cbor_map_handle(item);
    size_t n = cbor_map_size(item);
    int64_t seen[16];
    for (size_t i = 0; i < n; i++) {
        int64_t label;
        if (item_int(pairs[i].key, &label) != KW_OK)
            goto out; /* text labels are not used by WebAuthn keys */
        for (size_t j = 0; j < i; j++)
            if (seen[j] == label)
                goto out; /* duplicate label */
        seen[i] = label;
        int s = label_slot(label);
        if (s >= 0)
            slot[s] = pairs[i].value;
    }
    int64_t kty, alg, crv = 0;
    if (slot[0] == NULL || slot[1] == NULL || item_int(slot[0], &kty) != KW_OK ||
        item_int(slot[1], &alg) != KW_OK)
        goto out;
    if (slot[5] != NULL)
        goto out; /* a private key has no business here */
    if (!wa_alg_supported((int32_t)alg)) {
        r = KW_ERR_UNSUPPORTED;
        goto out;
    }
    pk->alg = (int32_t)alg;
    if (kty == 2 || kty == 1) {
        if (slot[2] == NULL || item_int(slot[2], &crv) != KW_OK)
            goto out;
    }
    switch (pk->alg) {
    case KW_COSE_ES256:
    case KW_COSE_ES384: {
        size_t cl = pk->alg == KW_COSE_ES256 ? 32 : 48;
        int64_t want_crv = pk->alg == KW_COSE_ES256 ? 1 : 2;
        if (kty != 2)
            goto out;
        if (crv != want_crv) {
            /* P-521 (3) or a brainpool curve under an ES alg: not ours */
            r = (crv == 1 || crv == 2 || crv == 3) ? KW_ERR_FORMAT : KW_ERR_UNSUPPORTED;
            goto out;
        }
        pk->coord_len = cl;
        if (item_bytes(slot[3], pk->x, cl, cl, NULL) != KW_OK ||
            item_bytes(slot[4], pk->y, cl, cl, NULL) != KW_OK)
            goto out; /* compressed points (y as bool) are not allowed */
        break;
    }
    case KW_COSE_EDDSA:
        if (kty != 1)
            goto out;
        if (crv != 6) {
            r = crv == 7 ? KW_ERR_UNSUPPORTED : KW_ERR_FORMAT; /* Ed448 */
            goto out;
        }
        if (item_bytes(slot[3], pk->ed, 32, 32, NULL) != KW_OK || slot[4] != NULL)
            goto out;
        break;
    default: /* RS256 */
        if (kty != 3)
            goto out;
        if (item_bytes(slot[2], pk->n, 256, sizeof(pk->n), &pk->n_len) != KW_OK ||
            item_bytes(slot[3], pk->e, 1, sizeof(pk->e), &pk->e_len) != KW_OK || pk->n[0] == 0 ||
            pk->e[0] == 0 || (pk->e[pk->e_len - 1] & 1) == 0)
            goto out;
        break;
    }
    r = KW_OK;
out:
    if (item != NULL)
        cbor_decref(&item);
    if (r != KW_OK)
        memset(pk, 0, sizeof(*pk));
    return r;
}

/* ---- OpenSSL keys -------------------------------------------------------- */

static EVP_PKEY *evp_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

EVP_PKEY *wa_pubkey_to_evp(const wa_pubkey *pk)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    BIGNUM *n = NULL, *e = NULL;
    switch (pk->alg) {
    case KW_COSE_EDDSA:
        return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk->ed, sizeof(pk->ed));
    case KW_COSE_ES256:
    case KW_COSE_ES384: {
        uint8_t pub[1 + 2 * 48];
        pub[0] = 0x04;
        memcpy(pub + 1, pk->x, pk->coord_len);
        memcpy(pub + 1 + pk->coord_len, pk->y, pk->coord_len);
        if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            pk->alg == KW_COSE_ES256 ? "P-256" : "P-384", 0) != 1 ||
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                             1 + 2 * pk->coord_len) != 1)
            goto out;
        pkey = evp_from_params("EC", bld);
        break;
    }
    case KW_COSE_RS256:
        if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
            (n = BN_bin2bn(pk->n, (int)pk->n_len, NULL)) == NULL ||
            (e = BN_bin2bn(pk->e, (int)pk->e_len, NULL)) == NULL ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
            goto out;
        pkey = evp_from_params("RSA", bld);
        break;
    default:
        break;
    }
out:
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

/* ---- signatures ---------------------------------------------------------- */

static bool ec_group_is(EVP_PKEY *key, const char *group)
{
    char name[64];
    size_t nlen = 0;
    if (!EVP_PKEY_is_a(key, "EC") ||
        EVP_PKEY_get_group_name(key, name, sizeof(name), &nlen) != 1)
        return false;
    return strcmp(name, group) == 0;
}

int wa_sig_verify_evp(EVP_PKEY *key, int32_t alg, const uint8_t *msg, size_t msg_len,
                      const uint8_t *sig, size_t sig_len)
{
    const EVP_MD *md;
    switch (alg) {
    case KW_COSE_ES256:
        if (!ec_group_is(key, "prime256v1"))
            return KW_ERR_FORMAT;
        md = EVP_sha256();
        break;
    case KW_COSE_ES384:
        if (!ec_group_is(key, "secp384r1"))
            return KW_ERR_FORMAT;
        md = EVP_sha384();
        break;
    case KW_COSE_RS256:
        if (!EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) < 2048 ||
            EVP_PKEY_get_bits(key) > 4096)
            return KW_ERR_FORMAT;
        md = EVP_sha256();
        break;
    case KW_COSE_EDDSA: {
        uint8_t raw[32];
        size_t raw_len = sizeof(raw);
        if (!EVP_PKEY_is_a(key, "ED25519") ||
            EVP_PKEY_get_raw_public_key(key, raw, &raw_len) != 1 || raw_len != 32)
            return KW_ERR_FORMAT;
        if (sig_len != crypto_sign_BYTES ||
            crypto_sign_verify_detached(sig, msg, msg_len, raw) != 0)
            return KW_ERR_VERIFY;
        return KW_OK;
    }
    default:
        return KW_ERR_UNSUPPORTED;
    }
    int r = KW_ERR_VERIFY;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return KW_ERR_NOMEM;
    if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
        EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) == 1)
        r = KW_OK;
    EVP_MD_CTX_free(ctx);
    return r;
}

int wa_sig_verify(const wa_pubkey *pk, const uint8_t *msg, size_t msg_len,
                  const uint8_t *sig, size_t sig_len)
{
    if (pk->alg == KW_COSE_EDDSA) {
        if (sig_len != crypto_sign_BYTES ||
            crypto_sign_verify_detached(sig, msg, msg_len, pk->ed) != 0)
            return KW_ERR_VERIFY;
        return KW_OK;
    }
    EVP_PKEY *key = wa_pubkey_to_evp(pk);
    if (key == NULL)
        return KW_ERR_VERIFY; /* e.g. an EC point off the curve */
    int r = wa_sig_verify_evp(key, pk->alg, msg, msg_len, sig, sig_len);
    EVP_PKEY_free(key);
    return r;
}
