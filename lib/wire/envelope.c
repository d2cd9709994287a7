/*
 * lib/wire/envelope.c — the message envelope, payload and prekey codecs
 * (keyward/envelope.h). Decoding reads through a bounds-checked cursor over
 * the caller's bytes (no copy of a 1 MiB body); encoding writes into a
 * kw_buf whose maximum is the format's maximum.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/buf.h"
#include "keyward/codec.h"
#include "keyward/envelope.h"
#include "keyward/err.h"

/* ---- a read cursor ---- */

typedef struct {
    const uint8_t *p;
    size_t n;
} cur;

static int cur_get(cur *c, void *out, size_t n)
{
    if (c->n < n)
        return KW_ERR_TRUNCATED;
    if (out != NULL)
        memcpy(out, c->p, n);
    c->p += n;
    c->n -= n;
    return KW_OK;
}

static int cur_u64(cur *c, uint64_t *v, size_t width)
{
    uint8_t b[8];
    int r = cur_get(c, b, width);
    if (r != KW_OK)
        return r;
    *v = 0;
    for (size_t i = 0; i < width; i++)
        *v = *v << 8 | b[i];
    return KW_OK;
}

static void be_store(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

/* ---- names ---- */

static bool name_bytes_ok(const uint8_t *s, size_t n)
{
    if (n == 0 || n > KW_ENVELOPE_NAME_MAXBYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

static bool type_bytes_ok(const uint8_t *s, size_t n)
{
    if (n == 0 || n > KW_ENVELOPE_TYPE_MAXBYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

bool kw_envelope_name_ok(const char *name)
{
    return name != NULL && name_bytes_ok((const uint8_t *)name, strnlen(name, 256));
}

bool kw_envelope_type_ok(const char *type)
{
    return type != NULL && type_bytes_ok((const uint8_t *)type, strnlen(type, 256));
}

/* hh = SHA-256(label ‖ header bytes) */
static void header_hash(uint8_t out[32], const uint8_t *hdr, size_t len)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)KW_ENVELOPE_HEADER_LABEL,
                              strlen(KW_ENVELOPE_HEADER_LABEL));
    crypto_hash_sha256_update(&st, hdr, len);
    crypto_hash_sha256_final(&st, out);
}

/* The HPKE aad of one wrap: hh ‖ device_id ‖ u32 prekey_id. */
static void wrap_aad(uint8_t aad[32 + 16 + 4], const uint8_t hh[32], const uint8_t dev[16],
                     uint32_t prekey_id)
{
    memcpy(aad, hh, 32);
    memcpy(aad + 32, dev, 16);
    be_store(aad + 48, prekey_id, 4);
}

static void hpke_params(kw_hpke_params *hp)
{
    memset(hp, 0, sizeof(*hp));
    hp->mode = KW_HPKE_MODE_AUTH;
    hp->info = (const uint8_t *)KW_ENVELOPE_WRAP_INFO;
    hp->info_len = strlen(KW_ENVELOPE_WRAP_INFO);
}

/* ---- envelope ---- */

int kw_envelope_seal(uint8_t **out, size_t *out_len, const kw_envelope_params *p,
                     const kw_envelope_recipient *rcpt, size_t nrcpt,
                     const uint8_t sender_hpke_sk[static KW_HPKE_SECRETKEYBYTES],
                     const uint8_t sender_hpke_pk[static KW_HPKE_PUBLICKEYBYTES],
                     const kw_sign_key *identity, const uint8_t *payload, size_t len)
{
    int r = KW_ERR_INTERNAL;
    kw_buf *b = NULL;
    uint8_t key[KW_ENVELOPE_KEYBYTES], nonce[KW_ENVELOPE_NONCEBYTES], hh[32];
    uint8_t aad[52], *dst = NULL;
    size_t hdr_len, wlen = 0;
    kw_hpke_params hp;
    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (out == NULL || out_len == NULL || p == NULL || rcpt == NULL || identity == NULL ||
        (payload == NULL && len > 0) || !kw_envelope_name_ok(p->sender) ||
        !kw_envelope_name_ok(p->recipient) || !kw_envelope_type_ok(p->type) || nrcpt == 0 ||
        nrcpt > KW_ENVELOPE_WRAPS_MAX || len == 0 || len % KW_PAYLOAD_PADBYTES != 0)
        return KW_ERR_INVALID_ARG;
    if (len > KW_PAYLOAD_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    for (size_t i = 0; i < nrcpt; i++)
        for (size_t j = 0; j < i; j++)
            if (memcmp(rcpt[i].device_id, rcpt[j].device_id, KW_ENVELOPE_DEVICEBYTES) == 0)
                return KW_ERR_INVALID_ARG;
    if ((b = kw_buf_new(KW_ENVELOPE_MAXBYTES)) == NULL)
        return KW_ERR_NOMEM;
    randombytes_buf(key, sizeof(key));
    randombytes_buf(nonce, sizeof(nonce));
    size_t sl = strlen(p->sender), rl = strlen(p->recipient), tl = strlen(p->type);
    if ((r = kw_buf_put(b, KW_ENVELOPE_MAGIC, 4)) != KW_OK ||
        (r = kw_buf_put(b, p->id, KW_ENVELOPE_IDBYTES)) != KW_OK ||
        (r = kw_buf_put_u64(b, p->timestamp_ms)) != KW_OK ||
        (r = kw_buf_put_u8(b, (uint8_t)sl)) != KW_OK || (r = kw_buf_put(b, p->sender, sl)) != KW_OK ||
        (r = kw_buf_put(b, p->sender_device, KW_ENVELOPE_DEVICEBYTES)) != KW_OK ||
        (r = kw_buf_put_u8(b, (uint8_t)rl)) != KW_OK ||
        (r = kw_buf_put(b, p->recipient, rl)) != KW_OK ||
        (r = kw_buf_put_u8(b, (uint8_t)tl)) != KW_OK || (r = kw_buf_put(b, p->type, tl)) != KW_OK ||
        (r = kw_buf_put(b, nonce, sizeof(nonce))) != KW_OK)
        goto out;
    hdr_len = kw_buf_len(b);
    header_hash(hh, kw_buf_ptr(b), hdr_len);
    if ((r = kw_buf_put_u16(b, (uint16_t)nrcpt)) != KW_OK)
        goto out;
    hpke_params(&hp);
    hp.sk_s = sender_hpke_sk;
    hp.pk_s = sender_hpke_pk;
    for (size_t i = 0; i < nrcpt; i++) {
        if ((r = kw_buf_put(b, rcpt[i].device_id, KW_ENVELOPE_DEVICEBYTES)) != KW_OK ||
            (r = kw_buf_put_u32(b, rcpt[i].prekey_id)) != KW_OK ||
            (r = kw_buf_reserve(b, KW_ENVELOPE_WRAPBYTES, &dst)) != KW_OK)
            goto out;
        wrap_aad(aad, hh, rcpt[i].device_id, rcpt[i].prekey_id);
        if ((r = kw_hpke_seal(dst, KW_ENVELOPE_WRAPBYTES, &wlen, rcpt[i].pk, &hp, aad, sizeof(aad),
                              key, sizeof(key))) != KW_OK)
            goto out;
        if (wlen != KW_ENVELOPE_WRAPBYTES) {
            r = KW_ERR_INTERNAL;
            goto out;
        }
    }
    if ((r = kw_buf_put_u32(b, (uint32_t)(len + KW_ENVELOPE_TAGBYTES))) != KW_OK ||
        (r = kw_buf_reserve(b, len + KW_ENVELOPE_TAGBYTES, &dst)) != KW_OK)
        goto out;
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(dst, &clen, payload, len, hh, sizeof(hh), NULL, nonce,
                                               key);
    uint8_t *sig = NULL;
    size_t signed_len = kw_buf_len(b);
    if ((r = kw_buf_reserve(b, KW_SIGN_BYTES, &sig)) != KW_OK)
        goto out;
    /* kw_buf_ptr stays valid: nothing is written after the reservation */
    if ((r = kw_sign(identity, sig, (const uint8_t *)KW_ENVELOPE_SIG_CONTEXT,
                     strlen(KW_ENVELOPE_SIG_CONTEXT), kw_buf_ptr(b), signed_len)) != KW_OK)
        goto out;
    size_t total = kw_buf_len(b);
    if ((*out = malloc(total)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    memcpy(*out, kw_buf_ptr(b), total);
    *out_len = total;
    r = KW_OK;
out:
    sodium_memzero(key, sizeof(key));
    kw_buf_free(&b);
    return r;
}

int kw_envelope_decode(kw_envelope *env, const uint8_t *in, size_t len)
{
    int r = KW_ERR_INTERNAL;
    cur c = {in, len};
    uint8_t magic[4], l;
    uint64_t v;
    if (env == NULL || (in == NULL && len > 0))
        return KW_ERR_INVALID_ARG;
    memset(env, 0, sizeof(*env));
    if (len > KW_ENVELOPE_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if ((r = cur_get(&c, magic, 4)) != KW_OK)
        goto out;
    if (memcmp(magic, KW_ENVELOPE_MAGIC, 4) != 0) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    if ((r = cur_get(&c, env->id, KW_ENVELOPE_IDBYTES)) != KW_OK ||
        (r = cur_u64(&c, &env->timestamp_ms, 8)) != KW_OK || (r = cur_get(&c, &l, 1)) != KW_OK)
        goto out;
    if (l > KW_ENVELOPE_NAME_MAXBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if ((r = cur_get(&c, env->sender, l)) != KW_OK)
        goto out;
    if (!name_bytes_ok((const uint8_t *)env->sender, l)) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    if ((r = cur_get(&c, env->sender_device, KW_ENVELOPE_DEVICEBYTES)) != KW_OK ||
        (r = cur_get(&c, &l, 1)) != KW_OK)
        goto out;
    if (l > KW_ENVELOPE_NAME_MAXBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if ((r = cur_get(&c, env->recipient, l)) != KW_OK)
        goto out;
    if (!name_bytes_ok((const uint8_t *)env->recipient, l)) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    if ((r = cur_get(&c, &l, 1)) != KW_OK)
        goto out;
    if (l > KW_ENVELOPE_TYPE_MAXBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if ((r = cur_get(&c, env->type, l)) != KW_OK)
        goto out;
    if (!type_bytes_ok((const uint8_t *)env->type, l)) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    if ((r = cur_get(&c, env->nonce, KW_ENVELOPE_NONCEBYTES)) != KW_OK)
        goto out;
    header_hash(env->header_hash, in, len - c.n);
    if ((r = cur_u64(&c, &v, 2)) != KW_OK)
        goto out;
    if (v > KW_ENVELOPE_WRAPS_MAX) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if (v == 0) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    env->nwraps = (uint16_t)v;
    for (size_t i = 0; i < env->nwraps; i++) {
        kw_envelope_wrap *w = &env->wraps[i];
        if ((r = cur_get(&c, w->device_id, KW_ENVELOPE_DEVICEBYTES)) != KW_OK ||
            (r = cur_u64(&c, &v, 4)) != KW_OK ||
            (r = cur_get(&c, w->wrap, KW_ENVELOPE_WRAPBYTES)) != KW_OK)
            goto out;
        w->prekey_id = (uint32_t)v;
        for (size_t j = 0; j < i; j++)
            if (memcmp(env->wraps[j].device_id, w->device_id, KW_ENVELOPE_DEVICEBYTES) == 0) {
                r = KW_ERR_FORMAT;
                goto out;
            }
    }
    if ((r = cur_u64(&c, &v, 4)) != KW_OK)
        goto out;
    if (v > KW_ENVELOPE_BODY_MAXBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if (v < KW_ENVELOPE_TAGBYTES + KW_PAYLOAD_PADBYTES ||
        (v - KW_ENVELOPE_TAGBYTES) % KW_PAYLOAD_PADBYTES != 0) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    env->body = c.p;
    env->body_len = (size_t)v;
    if ((r = cur_get(&c, NULL, env->body_len)) != KW_OK)
        goto out;
    env->signed_len = len - c.n;
    if ((r = cur_get(&c, env->sig, KW_SIGN_BYTES)) != KW_OK)
        goto out;
    if (c.n != 0) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    r = KW_OK;
out:
    if (r != KW_OK)
        memset(env, 0, sizeof(*env));
    return r;
}

int kw_envelope_verify(const kw_envelope *env, const uint8_t *in, size_t len,
                       const uint8_t identity_pk[static KW_SIGN_PUBLICKEYBYTES])
{
    if (env == NULL || in == NULL || env->signed_len == 0 ||
        env->signed_len + KW_SIGN_BYTES != len)
        return KW_ERR_VERIFY;
    if (kw_sign_verify(env->sig, identity_pk, (const uint8_t *)KW_ENVELOPE_SIG_CONTEXT,
                       strlen(KW_ENVELOPE_SIG_CONTEXT), in, env->signed_len) != KW_OK)
        return KW_ERR_VERIFY;
    return KW_OK;
}

const kw_envelope_wrap *kw_envelope_find(const kw_envelope *env,
                                         const uint8_t device_id[static KW_ENVELOPE_DEVICEBYTES])
{
    for (size_t i = 0; env != NULL && i < env->nwraps && i < KW_ENVELOPE_WRAPS_MAX; i++)
        if (memcmp(env->wraps[i].device_id, device_id, KW_ENVELOPE_DEVICEBYTES) == 0)
            return &env->wraps[i];
    return NULL;
}

int kw_envelope_open(uint8_t **payload, size_t *len, const kw_envelope *env,
                     const kw_envelope_wrap *w, const uint8_t sk[static KW_HPKE_SECRETKEYBYTES],
                     const uint8_t pk[static KW_HPKE_PUBLICKEYBYTES],
                     const uint8_t sender_hpke_pk[static KW_HPKE_PUBLICKEYBYTES])
{
    int r = KW_ERR_INTERNAL;
    uint8_t key[KW_ENVELOPE_KEYBYTES], aad[52], *pt = NULL;
    size_t klen = 0, plen;
    kw_hpke_params hp;
    if (payload != NULL)
        *payload = NULL;
    if (len != NULL)
        *len = 0;
    if (payload == NULL || len == NULL || env == NULL || w == NULL || env->body == NULL ||
        env->body_len < KW_ENVELOPE_TAGBYTES)
        return KW_ERR_INVALID_ARG;
    hpke_params(&hp);
    hp.pk_s = sender_hpke_pk;
    wrap_aad(aad, env->header_hash, w->device_id, w->prekey_id);
    if (kw_hpke_open(key, sizeof(key), &klen, sk, pk, &hp, aad, sizeof(aad), w->wrap,
                     sizeof(w->wrap)) != KW_OK ||
        klen != sizeof(key)) {
        r = KW_ERR_VERIFY;
        goto out;
    }
    plen = env->body_len - KW_ENVELOPE_TAGBYTES;
    if ((pt = malloc(plen == 0 ? 1 : plen)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    unsigned long long got = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &got, NULL, env->body, env->body_len,
                                                   env->header_hash, 32, env->nonce, key) != 0 ||
        got != plen) {
        sodium_memzero(pt, plen == 0 ? 1 : plen);
        free(pt);
        pt = NULL;
        r = KW_ERR_VERIFY;
        goto out;
    }
    *payload = pt;
    *len = plen;
    pt = NULL;
    r = KW_OK;
out:
    sodium_memzero(key, sizeof(key));
    return r;
}

/* ---- payload ---- */

int kw_payload_encode(uint8_t **out, size_t *out_len, const uint8_t *head, const uint8_t *content,
                      size_t content_len)
{
    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (out == NULL || out_len == NULL || (content == NULL && content_len > 0))
        return KW_ERR_INVALID_ARG;
    if (content_len > KW_PAYLOAD_CONTENT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    size_t raw = 1 + (head != NULL ? KW_PAYLOAD_HEADBYTES : 0) + 4 + content_len;
    size_t total = (raw + KW_PAYLOAD_PADBYTES - 1) / KW_PAYLOAD_PADBYTES * KW_PAYLOAD_PADBYTES;
    uint8_t *b = calloc(1, total);
    if (b == NULL)
        return KW_ERR_NOMEM;
    size_t o = 0;
    b[o++] = head != NULL ? 1 : 0;
    if (head != NULL) {
        memcpy(b + o, head, KW_PAYLOAD_HEADBYTES);
        o += KW_PAYLOAD_HEADBYTES;
    }
    be_store(b + o, content_len, 4);
    o += 4;
    if (content_len > 0)
        memcpy(b + o, content, content_len);
    *out = b;
    *out_len = total;
    return KW_OK;
}

int kw_payload_decode(const uint8_t *in, size_t len, bool *has_head,
                      uint8_t head[KW_PAYLOAD_HEADBYTES], const uint8_t **content,
                      size_t *content_len)
{
    cur c = {in, len};
    uint8_t flags;
    uint64_t n;
    int r;
    if (in == NULL || has_head == NULL || content == NULL || content_len == NULL)
        return KW_ERR_INVALID_ARG;
    *has_head = false;
    *content = NULL;
    *content_len = 0;
    if (len > KW_PAYLOAD_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (len == 0 || len % KW_PAYLOAD_PADBYTES != 0)
        return KW_ERR_FORMAT;
    if ((r = cur_get(&c, &flags, 1)) != KW_OK)
        return r;
    if ((flags & ~1u) != 0)
        return KW_ERR_FORMAT;
    if (flags & 1u) {
        if ((r = cur_get(&c, head, head != NULL ? KW_PAYLOAD_HEADBYTES : 0)) != KW_OK ||
            (head == NULL && (r = cur_get(&c, NULL, KW_PAYLOAD_HEADBYTES)) != KW_OK))
            return r;
    }
    if ((r = cur_u64(&c, &n, 4)) != KW_OK)
        return r;
    if (n > KW_PAYLOAD_CONTENT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    const uint8_t *p = c.p;
    if ((r = cur_get(&c, NULL, (size_t)n)) != KW_OK)
        return r;
    /* the padding: fewer than one pad unit, all zero */
    if (c.n >= KW_PAYLOAD_PADBYTES || !kw_ct_is_zero(c.p, c.n))
        return KW_ERR_FORMAT;
    *has_head = (flags & 1u) != 0;
    *content = p;
    *content_len = (size_t)n;
    return KW_OK;
}

/* ---- prekeys ---- */

static void prekey_tbs(uint8_t out[KW_PREKEY_BYTES - KW_SIGN_BYTES], const kw_prekey *pk)
{
    memcpy(out, KW_PREKEY_MAGIC, 4);
    memcpy(out + 4, pk->device_id, 16);
    be_store(out + 20, pk->prekey_id, 4);
    be_store(out + 24, pk->created_ms, 8);
    memcpy(out + 32, pk->pk, 32);
}

int kw_prekey_sign(uint8_t out[static KW_PREKEY_BYTES], const kw_prekey *pk,
                   const kw_sign_key *identity)
{
    if (pk == NULL || identity == NULL || pk->prekey_id == 0 || kw_ct_is_zero(pk->pk, 32))
        return KW_ERR_INVALID_ARG;
    prekey_tbs(out, pk);
    int r = kw_sign(identity, out + KW_PREKEY_BYTES - KW_SIGN_BYTES,
                    (const uint8_t *)KW_PREKEY_SIG_CONTEXT, strlen(KW_PREKEY_SIG_CONTEXT), out,
                    KW_PREKEY_BYTES - KW_SIGN_BYTES);
    if (r != KW_OK)
        memset(out, 0, KW_PREKEY_BYTES);
    return r;
}

int kw_prekey_decode(kw_prekey *pk, const uint8_t *in, size_t len)
{
    cur c = {in, len};
    uint8_t magic[4];
    uint64_t v;
    int r;
    if (pk == NULL || (in == NULL && len > 0))
        return KW_ERR_INVALID_ARG;
    memset(pk, 0, sizeof(*pk));
    if (len > KW_PREKEY_BYTES)
        return KW_ERR_TOO_LARGE;
    if ((r = cur_get(&c, magic, 4)) != KW_OK)
        goto out;
    if (memcmp(magic, KW_PREKEY_MAGIC, 4) != 0) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    if ((r = cur_get(&c, pk->device_id, 16)) != KW_OK || (r = cur_u64(&c, &v, 4)) != KW_OK)
        goto out;
    pk->prekey_id = (uint32_t)v;
    if ((r = cur_u64(&c, &pk->created_ms, 8)) != KW_OK || (r = cur_get(&c, pk->pk, 32)) != KW_OK ||
        (r = cur_get(&c, pk->sig, KW_SIGN_BYTES)) != KW_OK)
        goto out;
    if (pk->prekey_id == 0 || kw_ct_is_zero(pk->pk, 32)) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    r = KW_OK;
out:
    if (r != KW_OK)
        memset(pk, 0, sizeof(*pk));
    return r;
}

int kw_prekey_open(kw_prekey *pk, const uint8_t *in, size_t len,
                   const uint8_t identity_pk[static KW_SIGN_PUBLICKEYBYTES])
{
    int r = kw_prekey_decode(pk, in, len);
    if (r != KW_OK)
        return r;
    if (kw_sign_verify(pk->sig, identity_pk, (const uint8_t *)KW_PREKEY_SIG_CONTEXT,
                       strlen(KW_PREKEY_SIG_CONTEXT), in, KW_PREKEY_BYTES - KW_SIGN_BYTES) != KW_OK) {
        memset(pk, 0, sizeof(*pk));
        return KW_ERR_VERIFY;
    }
    return KW_OK;
}
