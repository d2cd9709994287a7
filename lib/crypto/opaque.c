#include "keyward/opaque.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"
#include "keyward/oprf.h"

#define NN KW_OPAQUE_NONCEBYTES
#define NH KW_OPAQUE_HASHBYTES
#define NPK KW_OPAQUE_PKBYTES
#define NSK KW_OPAQUE_SKBYTES
#define NM KW_OPAQUE_MACBYTES
#define MASKED_BYTES (NPK + KW_OPAQUE_ENVELOPEBYTES)
#define CRED_RESPONSE_BYTES (KW_OPAQUE_ELEMENTBYTES + NN + MASKED_BYTES)

static const uint8_t argon2_salt[crypto_pwhash_argon2id_SALTBYTES]; /* all zero, as opaque-ke */

/* --- configuration ----------------------------------------------------------- */

typedef struct {
    int group;
    int ksf;
    unsigned long long opslimit;
    size_t memlimit;
    uint8_t *context; /* malloc'd copy; not secret */
    size_t context_len;
} opaque_cfg;

void kw_opaque_config_default(kw_opaque_config *cfg, const uint8_t *context, size_t context_len)
{
    cfg->group = KW_OPAQUE_GROUP_RISTRETTO255;
    cfg->ksf = KW_OPAQUE_KSF_ARGON2ID;
    cfg->argon2_opslimit = KW_OPAQUE_ARGON2_OPSLIMIT_DEFAULT;
    cfg->argon2_memlimit = KW_OPAQUE_ARGON2_MEMLIMIT_DEFAULT;
    cfg->context = context;
    cfg->context_len = context_len;
}

static int cfg_copy(opaque_cfg *dst, const kw_opaque_config *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src == NULL || (src->context == NULL && src->context_len > 0))
        return KW_ERR_INVALID_ARG;
    if (src->group != KW_OPAQUE_GROUP_RISTRETTO255 && src->group != KW_OPAQUE_GROUP_CURVE25519)
        return KW_ERR_INVALID_ARG;
    if (src->ksf == KW_OPAQUE_KSF_ARGON2ID) {
        if (src->argon2_opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
            src->argon2_opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX ||
            src->argon2_memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
            src->argon2_memlimit > crypto_pwhash_argon2id_MEMLIMIT_MAX)
            return KW_ERR_INVALID_ARG;
    } else if (src->ksf != KW_OPAQUE_KSF_IDENTITY) {
        return KW_ERR_INVALID_ARG;
    }
    if (src->context_len > KW_OPAQUE_CONTEXT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    dst->group = src->group;
    dst->ksf = src->ksf;
    dst->opslimit = src->argon2_opslimit;
    dst->memlimit = src->argon2_memlimit;
    dst->context_len = src->context_len;
    dst->context = malloc(src->context_len + 1);
    if (dst->context == NULL)
        return KW_ERR_NOMEM;
    if (src->context_len > 0)
        memcpy(dst->context, src->context, src->context_len);
    return KW_OK;
}

static void cfg_free(opaque_cfg *c)
{
    free(c->context);
    c->context = NULL;
}

/* --- group helpers ------------------------------------------------------------ */

static int group_ok(int group)
{
    return group == KW_OPAQUE_GROUP_RISTRETTO255 || group == KW_OPAQUE_GROUP_CURVE25519;
}

/* DeserializeElement for the AKE group. X25519 accepts any 32 bytes as
 * RFC 7748 says, except the all-zero key (low order; its DH is refused
 * anyway). */
static int pk_check(int group, const uint8_t pk[static NPK])
{
    if (group == KW_OPAQUE_GROUP_RISTRETTO255) {
        if (crypto_core_ristretto255_is_valid_point(pk) != 1)
            return KW_ERR_FORMAT;
        return kw_ct_is_zero(pk, NPK) ? KW_ERR_CRYPTO : KW_OK;
    }
    return kw_ct_is_zero(pk, NPK) ? KW_ERR_CRYPTO : KW_OK;
}

static int oprf_element_check(const uint8_t e[static 32])
{
    if (crypto_core_ristretto255_is_valid_point(e) != 1)
        return KW_ERR_FORMAT;
    return kw_ct_is_zero(e, 32) ? KW_ERR_CRYPTO : KW_OK;
}

int kw_opaque_derive_keypair(int group, uint8_t sk[static KW_OPAQUE_SKBYTES],
                             uint8_t pk[static KW_OPAQUE_PKBYTES],
                             const uint8_t seed[static KW_OPAQUE_SEEDBYTES])
{
    static const char info[] = "OPAQUE-DeriveDiffieHellmanKeyPair";
    if (group == KW_OPAQUE_GROUP_RISTRETTO255)
        return kw_oprf_derive_keypair(sk, pk, KW_OPRF_MODE_OPRF, seed, (const uint8_t *)info,
                                      sizeof(info) - 1);
    if (group == KW_OPAQUE_GROUP_CURVE25519) {
        memcpy(sk, seed, NSK);
        if (crypto_scalarmult_base(pk, sk) != 0) {
            sodium_memzero(sk, NSK);
            memset(pk, 0, NPK);
            return KW_ERR_CRYPTO;
        }
        return KW_OK;
    }
    memset(sk, 0, NSK);
    memset(pk, 0, NPK);
    return KW_ERR_INVALID_ARG;
}

int kw_opaque_keygen(int group, uint8_t sk[static KW_OPAQUE_SKBYTES],
                     uint8_t pk[static KW_OPAQUE_PKBYTES])
{
    uint8_t seed[KW_OPAQUE_SEEDBYTES];
    randombytes_buf(seed, sizeof(seed));
    int r = kw_opaque_derive_keypair(group, sk, pk, seed);
    sodium_memzero(seed, sizeof(seed));
    return r;
}

/* DH(sk, pk) for the group; KW_ERR_CRYPTO for an invalid pk or a zero
 * (identity) result. */
static int dh(int group, uint8_t out[static 32], const uint8_t sk[static 32],
              const uint8_t pk[static 32])
{
    int r = group == KW_OPAQUE_GROUP_RISTRETTO255 ? crypto_scalarmult_ristretto255(out, sk, pk)
                                                  : crypto_scalarmult(out, sk, pk);
    if (r != 0) {
        sodium_memzero(out, 32);
        return KW_ERR_CRYPTO;
    }
    return KW_OK;
}

/* --- codecs ------------------------------------------------------------------- */

static int len_check(size_t len, size_t want)
{
    if (len < want)
        return KW_ERR_TRUNCATED;
    if (len > want)
        return KW_ERR_TOO_LARGE;
    return KW_OK;
}

int kw_opaque_registration_request_parse(kw_opaque_registration_request *m, const uint8_t *in,
                                         size_t len)
{
    int r;
    memset(m, 0, sizeof(*m));
    if (in == NULL && len > 0)
        return KW_ERR_INVALID_ARG;
    if ((r = len_check(len, KW_OPAQUE_REGISTRATION_REQUESTBYTES)) != KW_OK ||
        (r = oprf_element_check(in)) != KW_OK)
        return r;
    memcpy(m->blinded_element, in, 32);
    return KW_OK;
}

int kw_opaque_registration_response_parse(kw_opaque_registration_response *m, int group,
                                          const uint8_t *in, size_t len)
{
    int r;
    memset(m, 0, sizeof(*m));
    if ((in == NULL && len > 0) || !group_ok(group))
        return KW_ERR_INVALID_ARG;
    if ((r = len_check(len, KW_OPAQUE_REGISTRATION_RESPONSEBYTES)) != KW_OK ||
        (r = oprf_element_check(in)) != KW_OK || (r = pk_check(group, in + 32)) != KW_OK)
        return r;
    memcpy(m->evaluated_element, in, 32);
    memcpy(m->server_public_key, in + 32, NPK);
    return KW_OK;
}

int kw_opaque_registration_record_parse(kw_opaque_registration_record *m, int group,
                                        const uint8_t *in, size_t len)
{
    int r;
    memset(m, 0, sizeof(*m));
    if ((in == NULL && len > 0) || !group_ok(group))
        return KW_ERR_INVALID_ARG;
    if ((r = len_check(len, KW_OPAQUE_REGISTRATION_RECORDBYTES)) != KW_OK ||
        (r = pk_check(group, in)) != KW_OK)
        return r;
    memcpy(m->client_public_key, in, NPK);
    memcpy(m->masking_key, in + NPK, NH);
    memcpy(m->envelope, in + NPK + NH, KW_OPAQUE_ENVELOPEBYTES);
    return KW_OK;
}

int kw_opaque_ke1_parse(kw_opaque_ke1 *m, int group, const uint8_t *in, size_t len)
{
    int r;
    memset(m, 0, sizeof(*m));
    if ((in == NULL && len > 0) || !group_ok(group))
        return KW_ERR_INVALID_ARG;
    if ((r = len_check(len, KW_OPAQUE_KE1BYTES)) != KW_OK ||
        (r = oprf_element_check(in)) != KW_OK || (r = pk_check(group, in + 64)) != KW_OK)
        return r;
    memcpy(m->blinded_element, in, 32);
    memcpy(m->client_nonce, in + 32, NN);
    memcpy(m->client_public_keyshare, in + 64, NPK);
    return KW_OK;
}

int kw_opaque_ke2_parse(kw_opaque_ke2 *m, int group, const uint8_t *in, size_t len)
{
    int r;
    memset(m, 0, sizeof(*m));
    if ((in == NULL && len > 0) || !group_ok(group))
        return KW_ERR_INVALID_ARG;
    if ((r = len_check(len, KW_OPAQUE_KE2BYTES)) != KW_OK ||
        (r = oprf_element_check(in)) != KW_OK ||
        (r = pk_check(group, in + CRED_RESPONSE_BYTES + NN)) != KW_OK)
        return r;
    size_t o = 0;
    memcpy(m->evaluated_element, in + o, 32);
    o += 32;
    memcpy(m->masking_nonce, in + o, NN);
    o += NN;
    memcpy(m->masked_response, in + o, MASKED_BYTES);
    o += MASKED_BYTES;
    memcpy(m->server_nonce, in + o, NN);
    o += NN;
    memcpy(m->server_public_keyshare, in + o, NPK);
    o += NPK;
    memcpy(m->server_mac, in + o, NM);
    return KW_OK;
}

int kw_opaque_ke3_parse(kw_opaque_ke3 *m, const uint8_t *in, size_t len)
{
    int r;
    memset(m, 0, sizeof(*m));
    if (in == NULL && len > 0)
        return KW_ERR_INVALID_ARG;
    if ((r = len_check(len, KW_OPAQUE_KE3BYTES)) != KW_OK)
        return r;
    memcpy(m->client_mac, in, NM);
    return KW_OK;
}

void kw_opaque_registration_request_serialize(uint8_t out[static KW_OPAQUE_REGISTRATION_REQUESTBYTES],
                                              const kw_opaque_registration_request *m)
{
    memcpy(out, m->blinded_element, 32);
}

void kw_opaque_registration_response_serialize(uint8_t out[static KW_OPAQUE_REGISTRATION_RESPONSEBYTES],
                                               const kw_opaque_registration_response *m)
{
    memcpy(out, m->evaluated_element, 32);
    memcpy(out + 32, m->server_public_key, NPK);
}

void kw_opaque_registration_record_serialize(uint8_t out[static KW_OPAQUE_REGISTRATION_RECORDBYTES],
                                             const kw_opaque_registration_record *m)
{
    memcpy(out, m->client_public_key, NPK);
    memcpy(out + NPK, m->masking_key, NH);
    memcpy(out + NPK + NH, m->envelope, KW_OPAQUE_ENVELOPEBYTES);
}

void kw_opaque_ke1_serialize(uint8_t out[static KW_OPAQUE_KE1BYTES], const kw_opaque_ke1 *m)
{
    memcpy(out, m->blinded_element, 32);
    memcpy(out + 32, m->client_nonce, NN);
    memcpy(out + 64, m->client_public_keyshare, NPK);
}

void kw_opaque_ke2_serialize(uint8_t out[static KW_OPAQUE_KE2BYTES], const kw_opaque_ke2 *m)
{
    size_t o = 0;
    memcpy(out + o, m->evaluated_element, 32);
    o += 32;
    memcpy(out + o, m->masking_nonce, NN);
    o += NN;
    memcpy(out + o, m->masked_response, MASKED_BYTES);
    o += MASKED_BYTES;
    memcpy(out + o, m->server_nonce, NN);
    o += NN;
    memcpy(out + o, m->server_public_keyshare, NPK);
    o += NPK;
    memcpy(out + o, m->server_mac, NM);
}

void kw_opaque_ke3_serialize(uint8_t out[static KW_OPAQUE_KE3BYTES], const kw_opaque_ke3 *m)
{
    memcpy(out, m->client_mac, NM);
}

/* --- key schedule pieces --------------------------------------------------------- */

/* Expand(key, a || b, len) with HKDF-SHA512; a/b are short labels. */
static int expand2(uint8_t *out, size_t out_len, const uint8_t *key, const uint8_t *a,
                   size_t a_len, const char *b)
{
    uint8_t info[128];
    size_t b_len = strlen(b);
    if (a_len + b_len > sizeof(info))
        return KW_ERR_INTERNAL;
    if (a_len > 0)
        memcpy(info, a, a_len);
    memcpy(info + a_len, b, b_len);
    int r = kw_hkdf_sha512_expand(out, out_len, key, NH, info, a_len + b_len);
    sodium_memzero(info, sizeof(info));
    return r;
}

/* Expand-Label(secret, label, context, Nx) with a 0- or 64-byte context. */
static int derive_secret(uint8_t out[static NH], const uint8_t secret[static NH], const char *label,
                         const uint8_t *context, size_t context_len)
{
    uint8_t info[2 + 1 + 32 + 1 + 64];
    size_t label_len = strlen(label), o = 0;
    if (7 + label_len > 32 || context_len > 64)
        return KW_ERR_INTERNAL;
    info[o++] = 0;
    info[o++] = NH;
    info[o++] = (uint8_t)(7 + label_len);
    memcpy(info + o, "OPAQUE-", 7);
    o += 7;
    memcpy(info + o, label, label_len);
    o += label_len;
    info[o++] = (uint8_t)context_len;
    if (context_len > 0)
        memcpy(info + o, context, context_len);
    o += context_len;
    return kw_hkdf_sha512_expand(out, NH, secret, NH, info, o);
}

static void put16(uint8_t out[2], size_t v)
{
    out[0] = (uint8_t)(v >> 8);
    out[1] = (uint8_t)v;
}

/* Resolved identities: absent ones replaced by the public keys. */
typedef struct {
    const uint8_t *cid;
    size_t cid_len;
    const uint8_t *sid;
    size_t sid_len;
} resolved_ids;

static int ids_resolve(resolved_ids *out, const kw_opaque_ids *ids, const uint8_t client_pk[static NPK],
                       const uint8_t server_pk[static NPK])
{
    out->cid = client_pk;
    out->cid_len = NPK;
    out->sid = server_pk;
    out->sid_len = NPK;
    if (ids == NULL)
        return KW_OK;
    if ((ids->client_identity == NULL && ids->client_identity_len > 0) ||
        (ids->server_identity == NULL && ids->server_identity_len > 0))
        return KW_ERR_INVALID_ARG;
    if (ids->client_identity_len > KW_OPAQUE_IDENTITY_MAXBYTES ||
        ids->server_identity_len > KW_OPAQUE_IDENTITY_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (ids->client_identity_len > 0) {
        out->cid = ids->client_identity;
        out->cid_len = ids->client_identity_len;
    }
    if (ids->server_identity_len > 0) {
        out->sid = ids->server_identity;
        out->sid_len = ids->server_identity_len;
    }
    return KW_OK;
}

/* auth_tag = MAC(auth_key, envelope_nonce || CleartextCredentials) */
static void envelope_tag(uint8_t tag[static NM], const uint8_t auth_key[static NH],
                         const uint8_t nonce[static NN], const uint8_t server_pk[static NPK],
                         const resolved_ids *ids)
{
    crypto_auth_hmacsha512_state st;
    uint8_t len16[2];
    crypto_auth_hmacsha512_init(&st, auth_key, NH);
    crypto_auth_hmacsha512_update(&st, nonce, NN);
    crypto_auth_hmacsha512_update(&st, server_pk, NPK);
    put16(len16, ids->sid_len);
    crypto_auth_hmacsha512_update(&st, len16, 2);
    crypto_auth_hmacsha512_update(&st, ids->sid, ids->sid_len);
    put16(len16, ids->cid_len);
    crypto_auth_hmacsha512_update(&st, len16, 2);
    crypto_auth_hmacsha512_update(&st, ids->cid, ids->cid_len);
    crypto_auth_hmacsha512_final(&st, tag);
    sodium_memzero(&st, sizeof(st));
}

/* Keys derived from randomized_password and the envelope nonce. */
typedef struct {
    uint8_t auth_key[NH];
    uint8_t export_key[NH];
    uint8_t sk[NSK];
    uint8_t pk[NPK];
} envelope_keys;

static int envelope_derive(envelope_keys *k, int group, const uint8_t rpw[static NH],
                           const uint8_t nonce[static NN])
{
    uint8_t seed[KW_OPAQUE_SEEDBYTES];
    int r;
    if ((r = expand2(k->auth_key, NH, rpw, nonce, NN, "AuthKey")) != KW_OK ||
        (r = expand2(k->export_key, NH, rpw, nonce, NN, "ExportKey")) != KW_OK ||
        (r = expand2(seed, sizeof(seed), rpw, nonce, NN, "PrivateKey")) != KW_OK)
        goto out;
    r = kw_opaque_derive_keypair(group, k->sk, k->pk, seed);
out:
    sodium_memzero(seed, sizeof(seed));
    return r;
}

/* The 3DH transcript: "OPAQUEv1-" || context || client_identity || KE1 ||
 * server_identity || credential_response || server_nonce ||
 * server_public_keyshare, lengths framed; hashed incrementally. */
static void preamble_hash(crypto_hash_sha512_state *st, const opaque_cfg *cfg,
                          const resolved_ids *ids, const uint8_t ke1[static KW_OPAQUE_KE1BYTES],
                          const uint8_t cred_response[static CRED_RESPONSE_BYTES],
                          const uint8_t server_nonce[static NN],
                          const uint8_t server_keyshare[static NPK])
{
    uint8_t len16[2];
    crypto_hash_sha512_init(st);
    crypto_hash_sha512_update(st, (const uint8_t *)"OPAQUEv1-", 9);
    put16(len16, cfg->context_len);
    crypto_hash_sha512_update(st, len16, 2);
    crypto_hash_sha512_update(st, cfg->context, cfg->context_len);
    put16(len16, ids->cid_len);
    crypto_hash_sha512_update(st, len16, 2);
    crypto_hash_sha512_update(st, ids->cid, ids->cid_len);
    crypto_hash_sha512_update(st, ke1, KW_OPAQUE_KE1BYTES);
    put16(len16, ids->sid_len);
    crypto_hash_sha512_update(st, len16, 2);
    crypto_hash_sha512_update(st, ids->sid, ids->sid_len);
    crypto_hash_sha512_update(st, cred_response, CRED_RESPONSE_BYTES);
    crypto_hash_sha512_update(st, server_nonce, NN);
    crypto_hash_sha512_update(st, server_keyshare, NPK);
}

/* DeriveKeys + the two MACs. ikm = dh1 || dh2 || dh3. */
typedef struct {
    uint8_t server_mac[NM];
    uint8_t client_mac[NM];
    uint8_t session_key[NH];
} ake_keys;

/* HMAC-SHA512 with a 64-byte key over a 64-byte hash (libsodium's one-shot
 * crypto_auth_hmacsha512 takes only 32-byte keys). */
static void mac(uint8_t out[static NM], const uint8_t key[static NH], const uint8_t msg[static 64])
{
    crypto_auth_hmacsha512_state st;
    crypto_auth_hmacsha512_init(&st, key, NH);
    crypto_auth_hmacsha512_update(&st, msg, 64);
    crypto_auth_hmacsha512_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

static int ake_derive(ake_keys *k, const uint8_t ikm[static 96], crypto_hash_sha512_state *st)
{
    uint8_t prk[NH], hs[NH], km2[NH], km3[NH], h[64];
    crypto_hash_sha512_state st2;
    int r;
    st2 = *st; /* keep the preamble state to hash preamble || server_mac */
    crypto_hash_sha512_final(st, h);
    kw_hkdf_sha512_extract(prk, NULL, 0, ikm, 96);
    if ((r = derive_secret(hs, prk, "HandshakeSecret", h, 64)) != KW_OK ||
        (r = derive_secret(k->session_key, prk, "SessionKey", h, 64)) != KW_OK ||
        (r = derive_secret(km2, hs, "ServerMAC", NULL, 0)) != KW_OK ||
        (r = derive_secret(km3, hs, "ClientMAC", NULL, 0)) != KW_OK)
        goto out;
    mac(k->server_mac, km2, h);
    crypto_hash_sha512_update(&st2, k->server_mac, NM);
    crypto_hash_sha512_final(&st2, h);
    mac(k->client_mac, km3, h);
    r = KW_OK;
out:
    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(hs, sizeof(hs));
    sodium_memzero(km2, sizeof(km2));
    sodium_memzero(km3, sizeof(km3));
    sodium_memzero(&st2, sizeof(st2));
    return r;
}

/* oprf_key for a credential identifier: DeriveKeyPair(Expand(oprf_seed,
 * credential_identifier || "OprfKey", Nok), "OPAQUE-DeriveKeyPair"). */
static int oprf_key_for(uint8_t sk[static 32], const uint8_t oprf_seed[static NH],
                        const uint8_t *cred_id, size_t cred_id_len)
{
    static const char info[] = "OPAQUE-DeriveKeyPair";
    uint8_t seed[32];
    crypto_auth_hmacsha512_state st;
    uint8_t block[64];
    const uint8_t one = 1;
    /* One HKDF-Expand block, written out because the info (credential id)
     * may exceed expand2's label buffer. */
    crypto_auth_hmacsha512_init(&st, oprf_seed, NH);
    if (cred_id_len > 0)
        crypto_auth_hmacsha512_update(&st, cred_id, cred_id_len);
    crypto_auth_hmacsha512_update(&st, (const uint8_t *)"OprfKey", 7);
    crypto_auth_hmacsha512_update(&st, &one, 1);
    crypto_auth_hmacsha512_final(&st, block);
    memcpy(seed, block, sizeof(seed));
    int r = kw_oprf_derive_keypair(sk, NULL, KW_OPRF_MODE_OPRF, seed, (const uint8_t *)info,
                                   sizeof(info) - 1);
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(block, sizeof(block));
    sodium_memzero(&st, sizeof(st));
    return r;
}

/* randomized_password = Extract("", oprf_output || Stretch(oprf_output)) */
static int randomize_password(uint8_t rpw[static NH], const opaque_cfg *cfg,
                              const uint8_t oprf_output[static 64])
{
    uint8_t ikm[128];
    int r = KW_OK;
    memcpy(ikm, oprf_output, 64);
    if (cfg->ksf == KW_OPAQUE_KSF_IDENTITY) {
        memcpy(ikm + 64, oprf_output, 64);
    } else if (crypto_pwhash(ikm + 64, 64, (const char *)oprf_output, 64, argon2_salt,
                             cfg->opslimit, cfg->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_hkdf_sha512_extract(rpw, NULL, 0, ikm, sizeof(ikm));
out:
    sodium_memzero(ikm, sizeof(ikm));
    return r;
}

/* --- client ------------------------------------------------------------------------ */

enum { CLIENT_IDLE, CLIENT_REGISTERING, CLIENT_LOGGING_IN };

struct kw_opaque_client {
    opaque_cfg cfg;
    int state;
    size_t password_len;
    uint8_t password[KW_OPAQUE_PASSWORD_MAXBYTES];
    uint8_t blind[32];
    uint8_t keyshare_sk[NSK];
    uint8_t ke1[KW_OPAQUE_KE1BYTES];
};

int kw_opaque_client_new(kw_opaque_client **out, const kw_opaque_config *cfg)
{
    int r;
    *out = NULL;
    kw_opaque_client *c = sodium_malloc(sizeof(*c));
    if (c == NULL)
        return KW_ERR_NOMEM;
    memset(c, 0, sizeof(*c));
    if ((r = cfg_copy(&c->cfg, cfg)) != KW_OK) {
        cfg_free(&c->cfg);
        sodium_free(c);
        return r;
    }
    *out = c;
    return KW_OK;
}

/* Forgets the pending flow (password, blind, keyshare). */
static void client_reset(kw_opaque_client *c)
{
    sodium_memzero(c->password, sizeof(c->password));
    sodium_memzero(c->blind, sizeof(c->blind));
    sodium_memzero(c->keyshare_sk, sizeof(c->keyshare_sk));
    sodium_memzero(c->ke1, sizeof(c->ke1));
    c->password_len = 0;
    c->state = CLIENT_IDLE;
}

void kw_opaque_client_free(kw_opaque_client **c)
{
    if (c == NULL || *c == NULL)
        return;
    client_reset(*c);
    cfg_free(&(*c)->cfg);
    sodium_free(*c); /* sodium_free wipes the region too */
    *c = NULL;
}

static int client_blind(kw_opaque_client *c, uint8_t blinded[static 32], const uint8_t *password,
                        size_t password_len, const uint8_t *blind)
{
    int r;
    client_reset(c);
    if (password == NULL && password_len > 0)
        return KW_ERR_INVALID_ARG;
    if (password_len > KW_OPAQUE_PASSWORD_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (blind != NULL) {
        memcpy(c->blind, blind, 32);
        r = kw_oprf_blind_det(c->blind, blinded, KW_OPRF_MODE_OPRF, password, password_len);
    } else {
        r = kw_oprf_blind(c->blind, blinded, KW_OPRF_MODE_OPRF, password, password_len);
    }
    if (r != KW_OK) {
        client_reset(c);
        return r;
    }
    if (password_len > 0)
        memcpy(c->password, password, password_len);
    c->password_len = password_len;
    return KW_OK;
}

static int registration_start(kw_opaque_client *c, uint8_t request[static 32],
                              const uint8_t *password, size_t password_len, const uint8_t *blind)
{
    if (c == NULL)
        return KW_ERR_INVALID_ARG;
    int r = client_blind(c, request, password, password_len, blind);
    if (r == KW_OK)
        c->state = CLIENT_REGISTERING;
    return r;
}

int kw_opaque_client_registration_start(kw_opaque_client *c,
                                        uint8_t request[static KW_OPAQUE_REGISTRATION_REQUESTBYTES],
                                        const uint8_t *password, size_t password_len)
{
    return registration_start(c, request, password, password_len, NULL);
}

int kw_opaque_client_registration_start_det(kw_opaque_client *c,
                                            uint8_t request[static KW_OPAQUE_REGISTRATION_REQUESTBYTES],
                                            const uint8_t *password, size_t password_len,
                                            const uint8_t blind[static 32])
{
    return registration_start(c, request, password, password_len, blind);
}

/* oprf_output -> randomized_password for the pending flow. */
static int client_rpw(kw_opaque_client *c, uint8_t rpw[static NH],
                      const uint8_t evaluated[static 32])
{
    uint8_t oprf_out[64];
    int r = kw_oprf_finalize(oprf_out, c->password, c->password_len, c->blind, evaluated);
    if (r == KW_OK)
        r = randomize_password(rpw, &c->cfg, oprf_out);
    sodium_memzero(oprf_out, sizeof(oprf_out));
    return r;
}

int kw_opaque_client_registration_finish_det(kw_opaque_client *c,
                                             uint8_t record[static KW_OPAQUE_REGISTRATION_RECORDBYTES],
                                             uint8_t export_key[static KW_OPAQUE_EXPORT_KEYBYTES],
                                             const uint8_t *response, size_t response_len,
                                             const kw_opaque_ids *ids,
                                             const uint8_t envelope_nonce[static KW_OPAQUE_NONCEBYTES])
{
    kw_opaque_registration_response resp;
    kw_opaque_registration_record rec;
    envelope_keys keys;
    resolved_ids rids;
    uint8_t rpw[NH];
    int r = KW_ERR_INTERNAL;

    memset(record, 0, KW_OPAQUE_REGISTRATION_RECORDBYTES);
    memset(export_key, 0, KW_OPAQUE_EXPORT_KEYBYTES);
    memset(&keys, 0, sizeof(keys));
    memset(&rec, 0, sizeof(rec));
    memset(rpw, 0, sizeof(rpw));
    if (c == NULL || c->state != CLIENT_REGISTERING) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if ((r = kw_opaque_registration_response_parse(&resp, c->cfg.group, response, response_len)) != KW_OK)
        goto out;
    if ((r = client_rpw(c, rpw, resp.evaluated_element)) != KW_OK)
        goto out;
    /* Store */
    if ((r = envelope_derive(&keys, c->cfg.group, rpw, envelope_nonce)) != KW_OK ||
        (r = expand2(rec.masking_key, NH, rpw, NULL, 0, "MaskingKey")) != KW_OK)
        goto out;
    if ((r = ids_resolve(&rids, ids, keys.pk, resp.server_public_key)) != KW_OK)
        goto out;
    memcpy(rec.client_public_key, keys.pk, NPK);
    memcpy(rec.envelope, envelope_nonce, NN);
    envelope_tag(rec.envelope + NN, keys.auth_key, envelope_nonce, resp.server_public_key, &rids);
    kw_opaque_registration_record_serialize(record, &rec);
    memcpy(export_key, keys.export_key, NH);
    r = KW_OK;
out:
    if (c != NULL)
        client_reset(c);
    sodium_memzero(&keys, sizeof(keys));
    sodium_memzero(&rec, sizeof(rec));
    sodium_memzero(rpw, sizeof(rpw));
    return r;
}

int kw_opaque_client_registration_finish(kw_opaque_client *c,
                                         uint8_t record[static KW_OPAQUE_REGISTRATION_RECORDBYTES],
                                         uint8_t export_key[static KW_OPAQUE_EXPORT_KEYBYTES],
                                         const uint8_t *response, size_t response_len,
                                         const kw_opaque_ids *ids)
{
    uint8_t nonce[NN];
    randombytes_buf(nonce, sizeof(nonce));
    return kw_opaque_client_registration_finish_det(c, record, export_key, response, response_len,
                                                    ids, nonce);
}

int kw_opaque_client_login_start_det(kw_opaque_client *c, uint8_t ke1[static KW_OPAQUE_KE1BYTES],
                                     const uint8_t *password, size_t password_len,
                                     const uint8_t blind[static 32],
                                     const uint8_t client_nonce[static KW_OPAQUE_NONCEBYTES],
                                     const uint8_t keyshare_seed[static KW_OPAQUE_SEEDBYTES])
{
    kw_opaque_ke1 m;
    int r;
    memset(ke1, 0, KW_OPAQUE_KE1BYTES);
    if (c == NULL)
        return KW_ERR_INVALID_ARG;
    if ((r = client_blind(c, m.blinded_element, password, password_len, blind)) != KW_OK)
        return r;
    memcpy(m.client_nonce, client_nonce, NN);
    if ((r = kw_opaque_derive_keypair(c->cfg.group, c->keyshare_sk, m.client_public_keyshare,
                                      keyshare_seed)) != KW_OK) {
        client_reset(c);
        return r;
    }
    kw_opaque_ke1_serialize(c->ke1, &m);
    memcpy(ke1, c->ke1, KW_OPAQUE_KE1BYTES);
    c->state = CLIENT_LOGGING_IN;
    return KW_OK;
}

int kw_opaque_client_login_start(kw_opaque_client *c, uint8_t ke1[static KW_OPAQUE_KE1BYTES],
                                 const uint8_t *password, size_t password_len)
{
    uint8_t blind[32], nonce[NN], seed[KW_OPAQUE_SEEDBYTES];
    do {
        crypto_core_ristretto255_scalar_random(blind);
    } while (kw_ct_is_zero(blind, sizeof(blind)));
    randombytes_buf(nonce, sizeof(nonce));
    randombytes_buf(seed, sizeof(seed));
    int r = kw_opaque_client_login_start_det(c, ke1, password, password_len, blind, nonce, seed);
    sodium_memzero(blind, sizeof(blind));
    sodium_memzero(seed, sizeof(seed));
    return r;
}

int kw_opaque_client_login_finish(kw_opaque_client *c, uint8_t ke3[static KW_OPAQUE_KE3BYTES],
                                  uint8_t session_key[static KW_OPAQUE_SESSION_KEYBYTES],
                                  uint8_t export_key[static KW_OPAQUE_EXPORT_KEYBYTES],
                                  const uint8_t *ke2, size_t ke2_len, const kw_opaque_ids *ids)
{
    kw_opaque_ke2 m;
    envelope_keys keys;
    resolved_ids rids;
    ake_keys ak;
    crypto_hash_sha512_state st;
    uint8_t rpw[NH], masking_key[NH], pad[MASKED_BYTES], plain[MASKED_BYTES], tag[NM];
    uint8_t ikm[96];
    int r = KW_ERR_INTERNAL;

    memset(ke3, 0, KW_OPAQUE_KE3BYTES);
    memset(session_key, 0, KW_OPAQUE_SESSION_KEYBYTES);
    memset(export_key, 0, KW_OPAQUE_EXPORT_KEYBYTES);
    memset(&keys, 0, sizeof(keys));
    memset(&ak, 0, sizeof(ak));
    memset(&st, 0, sizeof(st));
    memset(rpw, 0, sizeof(rpw));
    memset(masking_key, 0, sizeof(masking_key));
    memset(pad, 0, sizeof(pad));
    memset(plain, 0, sizeof(plain));
    memset(tag, 0, sizeof(tag));
    memset(ikm, 0, sizeof(ikm));
    if (c == NULL || c->state != CLIENT_LOGGING_IN) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if ((r = kw_opaque_ke2_parse(&m, c->cfg.group, ke2, ke2_len)) != KW_OK)
        goto out;
    /* RecoverCredentials */
    if ((r = client_rpw(c, rpw, m.evaluated_element)) != KW_OK ||
        (r = expand2(masking_key, NH, rpw, NULL, 0, "MaskingKey")) != KW_OK ||
        (r = expand2(pad, sizeof(pad), masking_key, m.masking_nonce, NN,
                     "CredentialResponsePad")) != KW_OK)
        goto out;
    for (size_t i = 0; i < MASKED_BYTES; i++)
        plain[i] = (uint8_t)(pad[i] ^ m.masked_response[i]);
    const uint8_t *server_pk = plain, *env_nonce = plain + NPK, *env_tag = plain + NPK + NN;
    if ((r = envelope_derive(&keys, c->cfg.group, rpw, env_nonce)) != KW_OK ||
        (r = ids_resolve(&rids, ids, keys.pk, server_pk)) != KW_OK)
        goto out;
    envelope_tag(tag, keys.auth_key, env_nonce, server_pk, &rids);
    if (!kw_ct_equal(tag, env_tag, NM)) {
        r = KW_ERR_VERIFY;
        goto out;
    }
    if (pk_check(c->cfg.group, server_pk) != KW_OK) {
        r = KW_ERR_VERIFY; /* the envelope authenticated a bad key */
        goto out;
    }
    /* AKE: dh1 = DH(client_secret, server_keyshare), dh2 = DH(client_secret,
     * server_public_key), dh3 = DH(client_private_key, server_keyshare). */
    if ((r = dh(c->cfg.group, ikm, c->keyshare_sk, m.server_public_keyshare)) != KW_OK ||
        (r = dh(c->cfg.group, ikm + 32, c->keyshare_sk, server_pk)) != KW_OK ||
        (r = dh(c->cfg.group, ikm + 64, keys.sk, m.server_public_keyshare)) != KW_OK)
        goto out;
    preamble_hash(&st, &c->cfg, &rids, c->ke1, ke2, m.server_nonce, m.server_public_keyshare);
    if ((r = ake_derive(&ak, ikm, &st)) != KW_OK)
        goto out;
    if (!kw_ct_equal(ak.server_mac, m.server_mac, NM)) {
        r = KW_ERR_VERIFY;
        goto out;
    }
    memcpy(ke3, ak.client_mac, NM);
    memcpy(session_key, ak.session_key, NH);
    memcpy(export_key, keys.export_key, NH);
    r = KW_OK;
out:
    if (c != NULL)
        client_reset(c);
    sodium_memzero(&keys, sizeof(keys));
    sodium_memzero(&ak, sizeof(ak));
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(rpw, sizeof(rpw));
    sodium_memzero(masking_key, sizeof(masking_key));
    sodium_memzero(pad, sizeof(pad));
    sodium_memzero(plain, sizeof(plain));
    sodium_memzero(tag, sizeof(tag));
    sodium_memzero(ikm, sizeof(ikm));
    return r;
}

/* --- server ------------------------------------------------------------------------ */

struct kw_opaque_server {
    opaque_cfg cfg;
    uint8_t sk[NSK];
    uint8_t pk[NPK];
    uint8_t oprf_seed[KW_OPAQUE_OPRF_SEEDBYTES];
    /* The client public key of every fake record: made once, its private
     * half thrown away, so answering an unknown credential identifier costs
     * no key generation the real path does not do (a timing tell). It never
     * leaves the server: KE2 carries only DH results under it. */
    uint8_t fake_client_pk[NPK];
};

struct kw_opaque_server_login {
    int pending; /* 1 until finished */
    int fake;    /* answered from a fake record: never succeeds */
    uint8_t expected_client_mac[NM];
    uint8_t session_key[NH];
};

int kw_opaque_server_new(kw_opaque_server **out, const kw_opaque_config *cfg,
                         const uint8_t sk[static KW_OPAQUE_SKBYTES],
                         const uint8_t pk[static KW_OPAQUE_PKBYTES],
                         const uint8_t oprf_seed[static KW_OPAQUE_OPRF_SEEDBYTES])
{
    uint8_t check[NPK], fake_sk[NSK] = {0};
    int r;
    *out = NULL;
    kw_opaque_server *s = sodium_malloc(sizeof(*s));
    if (s == NULL)
        return KW_ERR_NOMEM;
    memset(s, 0, sizeof(*s));
    if ((r = cfg_copy(&s->cfg, cfg)) != KW_OK)
        goto out;
    /* pk must be the key pair's public half. */
    r = s->cfg.group == KW_OPAQUE_GROUP_RISTRETTO255 ? crypto_scalarmult_ristretto255_base(check, sk)
                                                     : crypto_scalarmult_base(check, sk);
    if (r != 0 || !kw_ct_equal(check, pk, NPK)) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    memcpy(s->sk, sk, NSK);
    memcpy(s->pk, pk, NPK);
    memcpy(s->oprf_seed, oprf_seed, sizeof(s->oprf_seed));
    if ((r = kw_opaque_keygen(s->cfg.group, fake_sk, s->fake_client_pk)) != KW_OK)
        goto out;
    *out = s;
    s = NULL;
    r = KW_OK;
out:
    sodium_memzero(fake_sk, sizeof(fake_sk));
    if (s != NULL) {
        cfg_free(&s->cfg);
        sodium_free(s);
    }
    return r;
}

void kw_opaque_server_free(kw_opaque_server **s)
{
    if (s == NULL || *s == NULL)
        return;
    cfg_free(&(*s)->cfg);
    sodium_memzero(*s, sizeof(**s));
    sodium_free(*s);
    *s = NULL;
}

int kw_opaque_server_registration_response(const kw_opaque_server *s,
                                           uint8_t response[static KW_OPAQUE_REGISTRATION_RESPONSEBYTES],
                                           const uint8_t *request, size_t request_len,
                                           const uint8_t *credential_id, size_t credential_id_len)
{
    kw_opaque_registration_request req;
    kw_opaque_registration_response resp;
    uint8_t oprf_key[32];
    int r;
    memset(response, 0, KW_OPAQUE_REGISTRATION_RESPONSEBYTES);
    memset(oprf_key, 0, sizeof(oprf_key));
    if (s == NULL || (credential_id == NULL && credential_id_len > 0))
        return KW_ERR_INVALID_ARG;
    if (credential_id_len > KW_OPAQUE_CREDENTIAL_ID_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if ((r = kw_opaque_registration_request_parse(&req, request, request_len)) != KW_OK)
        goto out;
    if ((r = oprf_key_for(oprf_key, s->oprf_seed, credential_id, credential_id_len)) != KW_OK ||
        (r = kw_oprf_blind_evaluate(resp.evaluated_element, oprf_key, req.blinded_element)) != KW_OK)
        goto out;
    memcpy(resp.server_public_key, s->pk, NPK);
    kw_opaque_registration_response_serialize(response, &resp);
    r = KW_OK;
out:
    sodium_memzero(oprf_key, sizeof(oprf_key));
    return r;
}

int kw_opaque_server_login_export(uint8_t out[static KW_OPAQUE_SERVER_LOGIN_STATEBYTES],
                                  const kw_opaque_server_login *login)
{
    if (!login->pending)
        return KW_ERR_INVALID_ARG;
    out[0] = 1; /* state format version */
    out[1] = (uint8_t)(login->fake != 0);
    memcpy(out + 2, login->expected_client_mac, NM);
    memcpy(out + 2 + NM, login->session_key, NH);
    return KW_OK;
}

int kw_opaque_server_login_import(kw_opaque_server_login **login, const uint8_t *state, size_t len)
{
    *login = NULL;
    if (len != KW_OPAQUE_SERVER_LOGIN_STATEBYTES || state[0] != 1 || state[1] > 1)
        return KW_ERR_FORMAT;
    kw_opaque_server_login *lg = calloc(1, sizeof(*lg));
    if (lg == NULL)
        return KW_ERR_NOMEM;
    lg->pending = 1;
    lg->fake = state[1];
    memcpy(lg->expected_client_mac, state + 2, NM);
    memcpy(lg->session_key, state + 2 + NM, NH);
    *login = lg;
    return KW_OK;
}

void kw_opaque_server_login_free(kw_opaque_server_login **login)
{
    if (login == NULL || *login == NULL)
        return;
    sodium_memzero(*login, sizeof(**login));
    free(*login);
    *login = NULL;
}

int kw_opaque_server_ke2_det(const kw_opaque_server *s, kw_opaque_server_login **login,
                             uint8_t ke2[static KW_OPAQUE_KE2BYTES], const uint8_t *record,
                             size_t record_len, const uint8_t *credential_id,
                             size_t credential_id_len, const uint8_t *ke1, size_t ke1_len,
                             const kw_opaque_ids *ids, const kw_opaque_ke2_randomness *rnd)
{
    kw_opaque_ke1 k1;
    kw_opaque_registration_record rec;
    kw_opaque_ke2 m;
    resolved_ids rids;
    ake_keys ak;
    crypto_hash_sha512_state st;
    kw_opaque_server_login *lg = NULL;
    uint8_t oprf_key[32], pad[MASKED_BYTES], keyshare_sk[NSK], ikm[96];
    uint8_t fake_rec[KW_OPAQUE_REGISTRATION_RECORDBYTES];
    int r = KW_ERR_INTERNAL, fake = record == NULL;

    memset(ke2, 0, KW_OPAQUE_KE2BYTES);
    memset(&rec, 0, sizeof(rec));
    memset(&ak, 0, sizeof(ak));
    memset(&st, 0, sizeof(st));
    memset(oprf_key, 0, sizeof(oprf_key));
    memset(pad, 0, sizeof(pad));
    memset(keyshare_sk, 0, sizeof(keyshare_sk));
    memset(ikm, 0, sizeof(ikm));
    if (login != NULL)
        *login = NULL;
    if (s == NULL || login == NULL || rnd == NULL ||
        (credential_id == NULL && credential_id_len > 0)) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if (credential_id_len > KW_OPAQUE_CREDENTIAL_ID_MAXBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if ((r = kw_opaque_ke1_parse(&k1, s->cfg.group, ke1, ke1_len)) != KW_OK)
        goto out;
    if (fake) {
        /* CreateFakeRegistrationRecord: a client key, a random masking key
         * and a zero envelope, serialised and parsed like a stored record so
         * both paths do the same work. */
        memcpy(rec.client_public_key, rnd->fake_client_public_key, NPK);
        memcpy(rec.masking_key, rnd->fake_masking_key, NH);
        kw_opaque_registration_record_serialize(fake_rec, &rec);
        record = fake_rec;
        record_len = sizeof(fake_rec);
    }
    if ((r = kw_opaque_registration_record_parse(&rec, s->cfg.group, record, record_len)) != KW_OK)
        goto out;
    if ((r = ids_resolve(&rids, ids, rec.client_public_key, s->pk)) != KW_OK)
        goto out;

    /* CreateCredentialResponse */
    if ((r = oprf_key_for(oprf_key, s->oprf_seed, credential_id, credential_id_len)) != KW_OK ||
        (r = kw_oprf_blind_evaluate(m.evaluated_element, oprf_key, k1.blinded_element)) != KW_OK)
        goto out;
    memcpy(m.masking_nonce, rnd->masking_nonce, NN);
    if ((r = expand2(pad, sizeof(pad), rec.masking_key, m.masking_nonce, NN,
                     "CredentialResponsePad")) != KW_OK)
        goto out;
    for (size_t i = 0; i < NPK; i++)
        m.masked_response[i] = (uint8_t)(pad[i] ^ s->pk[i]);
    for (size_t i = 0; i < KW_OPAQUE_ENVELOPEBYTES; i++)
        m.masked_response[NPK + i] = (uint8_t)(pad[NPK + i] ^ rec.envelope[i]);

    /* AuthServerRespond */
    memcpy(m.server_nonce, rnd->server_nonce, NN);
    if ((r = kw_opaque_derive_keypair(s->cfg.group, keyshare_sk, m.server_public_keyshare,
                                      rnd->server_keyshare_seed)) != KW_OK)
        goto out;
    if ((r = dh(s->cfg.group, ikm, keyshare_sk, k1.client_public_keyshare)) != KW_OK ||
        (r = dh(s->cfg.group, ikm + 32, s->sk, k1.client_public_keyshare)) != KW_OK ||
        (r = dh(s->cfg.group, ikm + 64, keyshare_sk, rec.client_public_key)) != KW_OK)
        goto out;
    kw_opaque_ke2_serialize(ke2, &m); /* server_mac still unset: only the credential response is hashed */
    preamble_hash(&st, &s->cfg, &rids, ke1, ke2, m.server_nonce, m.server_public_keyshare);
    if ((r = ake_derive(&ak, ikm, &st)) != KW_OK)
        goto out;
    memcpy(m.server_mac, ak.server_mac, NM);
    lg = calloc(1, sizeof(*lg));
    if (lg == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    lg->pending = 1;
    lg->fake = fake;
    memcpy(lg->expected_client_mac, ak.client_mac, NM);
    memcpy(lg->session_key, ak.session_key, NH);
    kw_opaque_ke2_serialize(ke2, &m);
    *login = lg; /* transferred */
    lg = NULL;
    r = KW_OK;
out:
    if (r != KW_OK)
        memset(ke2, 0, KW_OPAQUE_KE2BYTES);
    kw_opaque_server_login_free(&lg);
    sodium_memzero(&rec, sizeof(rec));
    sodium_memzero(fake_rec, sizeof(fake_rec));
    sodium_memzero(&ak, sizeof(ak));
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(oprf_key, sizeof(oprf_key));
    sodium_memzero(pad, sizeof(pad));
    sodium_memzero(keyshare_sk, sizeof(keyshare_sk));
    sodium_memzero(ikm, sizeof(ikm));
    return r;
}

int kw_opaque_server_ke2(const kw_opaque_server *s, kw_opaque_server_login **login,
                         uint8_t ke2[static KW_OPAQUE_KE2BYTES], const uint8_t *record,
                         size_t record_len, const uint8_t *credential_id,
                         size_t credential_id_len, const uint8_t *ke1, size_t ke1_len,
                         const kw_opaque_ids *ids)
{
    kw_opaque_ke2_randomness rnd;
    randombytes_buf(rnd.masking_nonce, NN);
    randombytes_buf(rnd.server_nonce, NN);
    randombytes_buf(rnd.server_keyshare_seed, sizeof(rnd.server_keyshare_seed));
    /* Drawn on both paths so the fake one does nothing extra. */
    randombytes_buf(rnd.fake_masking_key, sizeof(rnd.fake_masking_key));
    if (s != NULL)
        memcpy(rnd.fake_client_public_key, s->fake_client_pk, NPK);
    else
        memset(rnd.fake_client_public_key, 0, NPK);
    int r = kw_opaque_server_ke2_det(s, login, ke2, record, record_len, credential_id,
                                     credential_id_len, ke1, ke1_len, ids, &rnd);
    sodium_memzero(&rnd, sizeof(rnd));
    return r;
}

int kw_opaque_server_finish(kw_opaque_server_login *login,
                            uint8_t session_key[static KW_OPAQUE_SESSION_KEYBYTES],
                            const uint8_t *ke3, size_t ke3_len)
{
    kw_opaque_ke3 m;
    int r;
    memset(session_key, 0, KW_OPAQUE_SESSION_KEYBYTES);
    if (login == NULL || !login->pending)
        return KW_ERR_INVALID_ARG;
    login->pending = 0;
    if ((r = kw_opaque_ke3_parse(&m, ke3, ke3_len)) != KW_OK)
        goto out;
    if (!kw_ct_equal(m.client_mac, login->expected_client_mac, NM) || login->fake) {
        r = KW_ERR_VERIFY;
        goto out;
    }
    memcpy(session_key, login->session_key, NH);
    r = KW_OK;
out:
    sodium_memzero(login->expected_client_mac, NM);
    sodium_memzero(login->session_key, NH);
    return r;
}
