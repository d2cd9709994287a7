/* INSECURE software authenticator for tests (see keyward/softkey.h).
 *
 * Key file (big-endian): "KWSOFTKEY-INSECURE-1\n" ‖ u32 count ‖ count ×
 * { cred_id (32) ‖ rpIdHash (32) ‖ alg (i32) ‖ counter (u32) ‖ flags (u8:
 * 1 = BE, 2 = BS) ‖ u16 key length ‖ key }, the key being the P-256 scalar
 * (32) ‖ uncompressed point (65) for ES256, or libsodium's 64-byte Ed25519
 * secret key. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cbor.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/softkey.h"

#define SK_MAGIC "KWSOFTKEY-INSECURE-1\n"
#define SK_MAGIC_LEN (sizeof(SK_MAGIC) - 1)
#define SK_KEYMAX 97
#define SK_FLAG_BE 1
#define SK_FLAG_BS 2

typedef struct {
    uint8_t id[KW_SOFTKEY_INSECURE_CREDIDBYTES];
    uint8_t rp_hash[32];
    int32_t alg;
    uint32_t counter;
    uint8_t flags;
    uint8_t key[SK_KEYMAX];
    size_t key_len;
    EVP_PKEY *evp; /* ES256 signing key, built on first use */
} sk_cred;

struct kw_softkey_insecure {
    char *path;
    size_t n;
    sk_cred *creds; /* sodium_malloc'd array of KW_SOFTKEY_INSECURE_MAXCREDS */
};

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- the key file ---------------------------------------------------------- */

static int soft_save(const kw_softkey_insecure *sk)
{
    if (sk->path == NULL)
        return KW_OK;
    int r = KW_ERR_SYSTEM;
    size_t cap = SK_MAGIC_LEN + 4 + sk->n * (32 + 32 + 4 + 4 + 1 + 2 + SK_KEYMAX);
    uint8_t *buf = sodium_malloc(cap);
    char *tmp = NULL;
    int fd = -1;
    if (buf == NULL)
        return KW_ERR_NOMEM;
    size_t o = 0;
    memcpy(buf, SK_MAGIC, SK_MAGIC_LEN), o += SK_MAGIC_LEN;
    put_u32(buf + o, (uint32_t)sk->n), o += 4;
    for (size_t i = 0; i < sk->n; i++) {
        const sk_cred *c = &sk->creds[i];
        memcpy(buf + o, c->id, 32), o += 32;
        memcpy(buf + o, c->rp_hash, 32), o += 32;
        put_u32(buf + o, (uint32_t)c->alg), o += 4;
        put_u32(buf + o, c->counter), o += 4;
        buf[o++] = c->flags;
        buf[o++] = (uint8_t)(c->key_len >> 8);
        buf[o++] = (uint8_t)c->key_len;
        memcpy(buf + o, c->key, c->key_len), o += c->key_len;
    }
    size_t plen = strlen(sk->path) + 5;
    if ((tmp = malloc(plen)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    snprintf(tmp, plen, "%s.tmp", sk->path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        goto out;
    for (size_t w = 0; w < o;) {
        ssize_t k = write(fd, buf + w, o - w);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            goto out;
        w += (size_t)k;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, sk->path) != 0)
        goto out;
    r = KW_OK;
out:
    if (fd >= 0)
        close(fd);
    if (r != KW_OK && tmp != NULL)
        unlink(tmp);
    free(tmp);
    sodium_free(buf);
    return r;
}

static int soft_load(kw_softkey_insecure *sk)
{
    int r = KW_ERR_SYSTEM;
    uint8_t *buf = NULL;
    size_t max = SK_MAGIC_LEN + 4 + KW_SOFTKEY_INSECURE_MAXCREDS * (32 + 32 + 4 + 4 + 1 + 2 + SK_KEYMAX);
    int fd = open(sk->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? KW_OK : KW_ERR_SYSTEM; /* a new authenticator */
    if ((buf = sodium_malloc(max + 1)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    size_t len = 0;
    for (;;) {
        ssize_t k = read(fd, buf + len, max + 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            goto out;
        if (k == 0)
            break;
        len += (size_t)k;
        if (len > max) {
            r = KW_ERR_TOO_LARGE;
            goto out;
        }
    }
    r = KW_ERR_FORMAT;
    if (len < SK_MAGIC_LEN + 4 || memcmp(buf, SK_MAGIC, SK_MAGIC_LEN) != 0)
        goto out;
    size_t o = SK_MAGIC_LEN;
    uint32_t n = get_u32(buf + o);
    o += 4;
    if (n > KW_SOFTKEY_INSECURE_MAXCREDS)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        sk_cred *c = &sk->creds[i];
        if (len - o < 32 + 32 + 4 + 4 + 1 + 2)
            goto out;
        memcpy(c->id, buf + o, 32), o += 32;
        memcpy(c->rp_hash, buf + o, 32), o += 32;
        c->alg = (int32_t)get_u32(buf + o), o += 4;
        c->counter = get_u32(buf + o), o += 4;
        c->flags = buf[o++];
        c->key_len = ((size_t)buf[o] << 8) | buf[o + 1];
        o += 2;
        size_t want = c->alg == KW_COSE_ES256 ? 97 : c->alg == KW_COSE_EDDSA ? 64 : 0;
        if (want == 0 || c->key_len != want || len - o < want)
            goto out;
        memcpy(c->key, buf + o, want), o += want;
    }
    if (o != len)
        goto out;
    sk->n = n;
    r = KW_OK;
out:
    close(fd);
    if (buf != NULL)
        sodium_free(buf);
    return r;
}

int kw_softkey_insecure_open(kw_softkey_insecure **out, const char *path)
{
    int r = KW_ERR_NOMEM;
    if (out == NULL)
        return KW_ERR_INVALID_ARG;
    *out = NULL;
    kw_softkey_insecure *sk = calloc(1, sizeof(*sk));
    if (sk == NULL)
        return KW_ERR_NOMEM;
    if ((sk->creds = sodium_malloc(KW_SOFTKEY_INSECURE_MAXCREDS * sizeof(sk_cred))) == NULL)
        goto fail;
    sodium_memzero(sk->creds, KW_SOFTKEY_INSECURE_MAXCREDS * sizeof(sk_cred));
    if (path != NULL && (sk->path = strdup(path)) == NULL)
        goto fail;
    if (path != NULL && (r = soft_load(sk)) != KW_OK)
        goto fail;
    *out = sk;
    return KW_OK;
fail:
    kw_softkey_insecure_free(&sk);
    return r;
}

void kw_softkey_insecure_free(kw_softkey_insecure **skp)
{
    if (skp == NULL || *skp == NULL)
        return;
    kw_softkey_insecure *sk = *skp;
    if (sk->creds != NULL) {
        for (size_t i = 0; i < KW_SOFTKEY_INSECURE_MAXCREDS; i++)
            EVP_PKEY_free(sk->creds[i].evp);
        sodium_free(sk->creds); /* wipes */
    }
    free(sk->path);
    free(sk);
    *skp = NULL;
}

size_t kw_softkey_insecure_count(const kw_softkey_insecure *sk)
{
    return sk != NULL ? sk->n : 0;
}

static sk_cred *soft_find(kw_softkey_insecure *sk, const uint8_t *id, size_t id_len)
{
    if (id == NULL || id_len != KW_SOFTKEY_INSECURE_CREDIDBYTES)
        return NULL;
    for (size_t i = 0; i < sk->n; i++)
        if (memcmp(sk->creds[i].id, id, id_len) == 0)
            return &sk->creds[i];
    return NULL;
}

/* ---- keys and signatures ------------------------------------------------- */

static int es256_generate(sk_cred *c)
{
    int r = KW_ERR_CRYPTO;
    BIGNUM *d = NULL;
    size_t plen = 0;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (k == NULL || EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
        BN_bn2binpad(d, c->key, 32) != 32 ||
        EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, c->key + 32, 65, &plen) != 1 ||
        plen != 65 || c->key[32] != 0x04)
        goto out;
    c->key_len = 97;
    c->evp = k;
    k = NULL;
    r = KW_OK;
out:
    BN_clear_free(d);
    EVP_PKEY_free(k);
    return r;
}

static EVP_PKEY *es256_load(sk_cred *c)
{
    if (c->evp != NULL)
        return c->evp;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *d = BN_secure_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (bld != NULL && d != NULL && BN_bin2bn(c->key, 32, d) != NULL &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, c->key + 32, 65) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
        EVP_PKEY_fromdata_init(ctx) == 1)
        (void)EVP_PKEY_fromdata(ctx, &c->evp, EVP_PKEY_KEYPAIR, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_clear_free(d);
    OSSL_PARAM_BLD_free(bld);
    return c->evp;
}

/* Signs msg; DER ECDSA for ES256, 64 bytes for Ed25519. */
static int soft_sign(sk_cred *c, const uint8_t *msg, size_t msg_len, uint8_t *sig, size_t sig_cap,
                   size_t *sig_len)
{
    if (c->alg == KW_COSE_EDDSA) {
        if (sig_cap < crypto_sign_BYTES)
            return KW_ERR_TOO_LARGE;
        crypto_sign_detached(sig, NULL, msg, msg_len, c->key);
        *sig_len = crypto_sign_BYTES;
        return KW_OK;
    }
    EVP_PKEY *k = es256_load(c);
    if (k == NULL)
        return KW_ERR_CRYPTO;
    int r = KW_ERR_CRYPTO;
    size_t n = sig_cap;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) == 1 &&
        EVP_DigestSign(ctx, sig, &n, msg, msg_len) == 1) {
        *sig_len = n;
        r = KW_OK;
    }
    EVP_MD_CTX_free(ctx);
    return r;
}

/* ---- CBOR ---------------------------------------------------------------- */

static bool map_put(cbor_item_t *m, cbor_item_t *k, cbor_item_t *v)
{
    bool ok = k != NULL && v != NULL && cbor_map_add(m, (struct cbor_pair){.key = k, .value = v});
    if (k != NULL)
        cbor_decref(&k);
    if (v != NULL)
        cbor_decref(&v);
    return ok;
}

/* Encodes the credential's COSE key; returns its length or 0. */
static size_t cose_encode(const sk_cred *c, uint8_t *out, size_t cap)
{
    cbor_item_t *m = cbor_new_definite_map(c->alg == KW_COSE_ES256 ? 5 : 4);
    if (m == NULL)
        return 0;
    bool ok;
    if (c->alg == KW_COSE_ES256) {
        ok = map_put(m, cbor_build_uint8(1), cbor_build_uint8(2)) &&        /* kty: EC2 */
             map_put(m, cbor_build_uint8(3), cbor_build_negint8(6)) &&      /* alg: -7 */
             map_put(m, cbor_build_negint8(0), cbor_build_uint8(1)) &&      /* crv: P-256 */
             map_put(m, cbor_build_negint8(1), cbor_build_bytestring(c->key + 33, 32)) &&
             map_put(m, cbor_build_negint8(2), cbor_build_bytestring(c->key + 65, 32));
    } else {
        ok = map_put(m, cbor_build_uint8(1), cbor_build_uint8(1)) &&        /* kty: OKP */
             map_put(m, cbor_build_uint8(3), cbor_build_negint8(7)) &&      /* alg: -8 */
             map_put(m, cbor_build_negint8(0), cbor_build_uint8(6)) &&      /* crv: Ed25519 */
             map_put(m, cbor_build_negint8(1), cbor_build_bytestring(c->key + 32, 32));
    }
    size_t n = ok ? cbor_serialize(m, out, cap) : 0;
    cbor_decref(&m);
    return n;
}

static size_t ext_encode(uint8_t *out, size_t cap)
{
    cbor_item_t *m = cbor_new_definite_map(1);
    if (m == NULL)
        return 0;
    size_t n = map_put(m, cbor_build_string("kwInsecureTest"), cbor_build_bool(true))
                   ? cbor_serialize(m, out, cap)
                   : 0;
    cbor_decref(&m);
    return n;
}

/* ---- authenticatorData ---------------------------------------------------- */

static int authdata_build(const sk_cred *c, const char *rp_id, unsigned opts, bool attested,
                          uint8_t *ad, size_t cap, size_t *ad_len)
{
    if (cap < 37)
        return KW_ERR_TOO_LARGE;
    if ((opts & KW_SOFTKEY_INSECURE_OPT_WRONG_RP) != 0) {
        static const char other[] = "evil.example";
        crypto_hash_sha256(ad, (const uint8_t *)other, sizeof(other) - 1);
    } else {
        crypto_hash_sha256(ad, (const uint8_t *)rp_id, strlen(rp_id));
    }
    uint8_t flags = 0;
    if ((opts & KW_SOFTKEY_INSECURE_OPT_NO_UP) == 0)
        flags |= KW_WEBAUTHN_FLAG_UP;
    if ((opts & KW_SOFTKEY_INSECURE_OPT_UV) != 0)
        flags |= KW_WEBAUTHN_FLAG_UV;
    if ((c->flags & SK_FLAG_BE) != 0)
        flags |= KW_WEBAUTHN_FLAG_BE;
    if ((c->flags & SK_FLAG_BS) != 0)
        flags |= KW_WEBAUTHN_FLAG_BS;
    if ((opts & KW_SOFTKEY_INSECURE_OPT_BS_NO_BE) != 0)
        flags = (uint8_t)((flags | KW_WEBAUTHN_FLAG_BS) & ~KW_WEBAUTHN_FLAG_BE);
    if (attested)
        flags |= KW_WEBAUTHN_FLAG_AT;
    if ((opts & KW_SOFTKEY_INSECURE_OPT_EXTENSIONS) != 0)
        flags |= KW_WEBAUTHN_FLAG_ED;
    ad[32] = flags;
    put_u32(ad + 33, c->counter);
    size_t o = 37;
    if (attested) {
        if (cap - o < 16 + 2 + KW_SOFTKEY_INSECURE_CREDIDBYTES)
            return KW_ERR_TOO_LARGE;
        memcpy(ad + o, KW_SOFTKEY_INSECURE_AAGUID, 16), o += 16;
        ad[o++] = 0;
        ad[o++] = KW_SOFTKEY_INSECURE_CREDIDBYTES;
        memcpy(ad + o, c->id, KW_SOFTKEY_INSECURE_CREDIDBYTES), o += KW_SOFTKEY_INSECURE_CREDIDBYTES;
        size_t k = cose_encode(c, ad + o, cap - o);
        if (k == 0)
            return KW_ERR_TOO_LARGE;
        o += k;
    }
    if ((opts & KW_SOFTKEY_INSECURE_OPT_EXTENSIONS) != 0) {
        size_t k = ext_encode(ad + o, cap - o);
        if (k == 0)
            return KW_ERR_TOO_LARGE;
        o += k;
    }
    *ad_len = o;
    return KW_OK;
}

static int sign_ad(sk_cred *c, const uint8_t *ad, size_t ad_len, const uint8_t cdh[32],
                   unsigned opts, uint8_t *sig, size_t sig_cap, size_t *sig_len)
{
    uint8_t msg[KW_SOFTKEY_INSECURE_AUTHDATA_MAXBYTES + 32];
    if (ad_len > KW_SOFTKEY_INSECURE_AUTHDATA_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    memcpy(msg, ad, ad_len);
    memcpy(msg + ad_len, cdh, 32);
    int r = soft_sign(c, msg, ad_len + 32, sig, sig_cap, sig_len);
    if (r == KW_OK && (opts & KW_SOFTKEY_INSECURE_OPT_BOGUS_SIG) != 0)
        sig[*sig_len - 1] ^= 0x01; /* still well-formed DER: the last byte is in s */
    return r;
}

/* ---- the two authenticator operations ------------------------------------- */

int kw_softkey_insecure_make_credential(kw_softkey_insecure *sk, int32_t alg, const char *rp_id,
                                        const uint8_t cdh[static 32], kw_softkey_insecure_att att,
                                        unsigned opts, uint8_t *attobj, size_t attobj_cap,
                                        size_t *attobj_len,
                                        uint8_t cred_id[static KW_SOFTKEY_INSECURE_CREDIDBYTES])
{
    int r;
    cbor_item_t *obj = NULL, *stmt = NULL;
    if (sk == NULL || rp_id == NULL || attobj == NULL || attobj_len == NULL)
        return KW_ERR_INVALID_ARG;
    *attobj_len = 0;
    if (alg != KW_COSE_ES256 && alg != KW_COSE_EDDSA)
        return KW_ERR_UNSUPPORTED;
    if (sk->n >= KW_SOFTKEY_INSECURE_MAXCREDS)
        return KW_ERR_LIMIT;
    sk_cred *c = &sk->creds[sk->n];
    sodium_memzero(c, sizeof(*c));
    randombytes_buf(c->id, sizeof(c->id));
    crypto_hash_sha256(c->rp_hash, (const uint8_t *)rp_id, strlen(rp_id));
    c->alg = alg;
    if ((opts & KW_SOFTKEY_INSECURE_OPT_BACKUP) != 0)
        c->flags = SK_FLAG_BE | SK_FLAG_BS;
    else if ((opts & KW_SOFTKEY_INSECURE_OPT_BE) != 0)
        c->flags = SK_FLAG_BE;
    if (alg == KW_COSE_EDDSA) {
        uint8_t pk[crypto_sign_PUBLICKEYBYTES];
        crypto_sign_keypair(pk, c->key);
        c->key_len = crypto_sign_SECRETKEYBYTES;
    } else if ((r = es256_generate(c)) != KW_OK) {
        goto fail;
    }

    uint8_t ad[KW_SOFTKEY_INSECURE_AUTHDATA_MAXBYTES];
    size_t ad_len = 0;
    if ((r = authdata_build(c, rp_id, opts, true, ad, sizeof(ad), &ad_len)) != KW_OK)
        goto fail;
    r = KW_ERR_NOMEM;
    if (att == KW_SOFTKEY_INSECURE_ATT_PACKED) {
        uint8_t sig[KW_SOFTKEY_INSECURE_SIG_MAXBYTES];
        size_t sig_len = 0;
        if ((r = sign_ad(c, ad, ad_len, cdh, opts, sig, sizeof(sig), &sig_len)) != KW_OK)
            goto fail;
        r = KW_ERR_NOMEM;
        if ((stmt = cbor_new_definite_map(2)) == NULL ||
            !map_put(stmt, cbor_build_string("alg"),
                     cbor_build_negint8((uint8_t)(-1 - alg))) ||
            !map_put(stmt, cbor_build_string("sig"), cbor_build_bytestring(sig, sig_len)))
            goto fail;
    } else if ((stmt = cbor_new_definite_map(0)) == NULL) {
        goto fail;
    }
    if ((obj = cbor_new_definite_map(3)) == NULL ||
        !map_put(obj, cbor_build_string("fmt"),
                 cbor_build_string(att == KW_SOFTKEY_INSECURE_ATT_PACKED ? "packed" : "none")) ||
        !map_put(obj, cbor_build_string("attStmt"), cbor_incref(stmt)) ||
        !map_put(obj, cbor_build_string("authData"), cbor_build_bytestring(ad, ad_len)))
        goto fail;
    size_t n = cbor_serialize(obj, attobj, attobj_cap);
    if (n == 0) {
        r = KW_ERR_TOO_LARGE;
        goto fail;
    }
    sk->n++;
    if ((r = soft_save(sk)) != KW_OK) {
        sk->n--;
        goto fail;
    }
    *attobj_len = n;
    memcpy(cred_id, c->id, KW_SOFTKEY_INSECURE_CREDIDBYTES);
    r = KW_OK;
    goto out;
fail:
    EVP_PKEY_free(c->evp);
    sodium_memzero(c, sizeof(*c));
out:
    if (stmt != NULL)
        cbor_decref(&stmt);
    if (obj != NULL)
        cbor_decref(&obj);
    return r;
}

int kw_softkey_insecure_get_assertion(kw_softkey_insecure *sk, const char *rp_id,
                                      const uint8_t cdh[static 32], const uint8_t *cred_id,
                                      size_t cred_id_len, unsigned opts, uint8_t *ad,
                                      size_t ad_cap, size_t *ad_len, uint8_t *sig,
                                      size_t sig_cap, size_t *sig_len)
{
    int r;
    if (sk == NULL || rp_id == NULL || ad == NULL || ad_len == NULL || sig == NULL ||
        sig_len == NULL)
        return KW_ERR_INVALID_ARG;
    *ad_len = 0;
    *sig_len = 0;
    sk_cred *c = soft_find(sk, cred_id, cred_id_len);
    uint8_t rp_hash[32];
    crypto_hash_sha256(rp_hash, (const uint8_t *)rp_id, strlen(rp_id));
    if (c == NULL || memcmp(rp_hash, c->rp_hash, 32) != 0)
        return KW_ERR_NOT_FOUND;
    uint32_t saved = c->counter;
    if ((opts & KW_SOFTKEY_INSECURE_OPT_KEEP_COUNTER) == 0)
        c->counter++;
    if ((r = authdata_build(c, rp_id, opts, false, ad, ad_cap, ad_len)) != KW_OK ||
        (r = sign_ad(c, ad, *ad_len, cdh, opts, sig, sig_cap, sig_len)) != KW_OK ||
        (r = soft_save(sk)) != KW_OK) {
        c->counter = saved;
        *ad_len = 0;
        *sig_len = 0;
        return r;
    }
    return KW_OK;
}

int kw_softkey_insecure_set_counter(kw_softkey_insecure *sk, const uint8_t *cred_id,
                                    size_t cred_id_len, uint32_t counter)
{
    if (sk == NULL)
        return KW_ERR_INVALID_ARG;
    sk_cred *c = soft_find(sk, cred_id, cred_id_len);
    if (c == NULL)
        return KW_ERR_NOT_FOUND;
    uint32_t saved = c->counter;
    c->counter = counter;
    int r = soft_save(sk);
    if (r != KW_OK)
        c->counter = saved;
    return r;
}

int kw_softkey_insecure_client_data(char *out, size_t out_cap, size_t *out_len,
                                    kw_webauthn_ceremony ceremony, const uint8_t *challenge,
                                    size_t challenge_len, const char *origin, bool cross_origin)
{
    int r = KW_ERR_NOMEM;
    char *b64 = NULL, *s = NULL;
    json_t *o = NULL;
    if (out == NULL || out_len == NULL || challenge == NULL || origin == NULL ||
        challenge_len > KW_WEBAUTHN_CHALLENGE_MAXBYTES)
        return KW_ERR_INVALID_ARG;
    *out_len = 0;
    size_t blen = kw_b64url_encoded_len(challenge_len) + 1;
    if ((b64 = malloc(blen)) == NULL || kw_b64url_encode(b64, blen, challenge, challenge_len) != KW_OK)
        goto out;
    o = json_pack("{s:s, s:s, s:s, s:b}", "type",
                  ceremony == KW_WEBAUTHN_CREATE ? "webauthn.create" : "webauthn.get", "challenge",
                  b64, "origin", origin, "crossOrigin", cross_origin ? 1 : 0);
    if (o == NULL || (s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
        goto out;
    size_t n = strlen(s);
    if (n + 1 > out_cap) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    memcpy(out, s, n + 1);
    *out_len = n;
    r = KW_OK;
out:
    free(s);
    json_decref(o);
    free(b64);
    return r;
}
