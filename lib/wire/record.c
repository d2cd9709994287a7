/* The wire format of cloud records. See include/keyward/record.h. */
#include "keyward/record.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/hkdf.h"

#define LIT(s) (sizeof(s) - 1)
#define CTX_LABEL "keyward record v1"
#define WRAP_LABEL "keyward record key v1"
#define META_MAGIC "KWR1"
#define META_INFO "keyward record meta v1"
#define CONTENT_INFO "keyward record content v1"
#define NONCE 24
#define TAG 16

_Static_assert(LIT(CTX_LABEL) == 17, "ctx label length in KW_RECORD_CTX_MAXBYTES");
_Static_assert(KW_RECORD_KEYBYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key");
_Static_assert(sizeof(crypto_generichash_state) <= sizeof(((kw_record_hash_state *)0)->opaque) &&
                   sizeof(crypto_hash_sha256_state) <= sizeof(((kw_record_hash_state *)0)->opaque) &&
                   _Alignof(crypto_generichash_state) <= 64,
               "kw_record_hash_state holds either hash state");

int kw_record_hash_init(kw_record_hash_state *st, uint8_t alg)
{
    st->alg = alg;
    if (alg == KW_RECORD_HASH_SHA256)
        return crypto_hash_sha256_init((crypto_hash_sha256_state *)(void *)st->opaque) == 0 ? KW_OK
                                                                                              : KW_ERR_INTERNAL;
    if (alg == KW_RECORD_HASH_BLAKE2B)
        return crypto_generichash_init((crypto_generichash_state *)(void *)st->opaque, NULL, 0, 32) == 0
                   ? KW_OK
                   : KW_ERR_INTERNAL;
    st->alg = 0;
    return KW_ERR_INVALID_ARG;
}

void kw_record_hash_update(kw_record_hash_state *st, const uint8_t *p, size_t n)
{
    if (st->alg == KW_RECORD_HASH_SHA256)
        crypto_hash_sha256_update((crypto_hash_sha256_state *)(void *)st->opaque, p, n);
    else if (st->alg == KW_RECORD_HASH_BLAKE2B)
        crypto_generichash_update((crypto_generichash_state *)(void *)st->opaque, p, n);
}

void kw_record_hash_final(kw_record_hash_state *st, uint8_t out[static 32])
{
    if (st->alg == KW_RECORD_HASH_SHA256)
        crypto_hash_sha256_final((crypto_hash_sha256_state *)(void *)st->opaque, out);
    else if (st->alg == KW_RECORD_HASH_BLAKE2B)
        crypto_generichash_final((crypto_generichash_state *)(void *)st->opaque, out, 32);
    else
        memset(out, 0, 32);
    sodium_memzero(st, sizeof(*st));
}

const char *const kw_record_default_categories[] = {
    "keychain", "passwords", "health",    "messages", "backup",      "drive",
    "photos",   "notes",     "reminders", "bookmarks", "voice-memos", "wallet",
    "mail",     "contacts",  "calendar",  NULL};

int kw_record_class_default(const char *category)
{
    static const int cls[] = {1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3};
    if (category == NULL)
        return 0;
    for (size_t i = 0; kw_record_default_categories[i] != NULL; i++)
        if (strcmp(category, kw_record_default_categories[i]) == 0)
            return cls[i];
    return 0;
}

const char *kw_record_class_name(int cls)
{
    switch (cls) {
    case KW_RECORD_CLASS_E2E: return "always-e2e";
    case KW_RECORD_CLASS_ADP: return "adp";
    case KW_RECORD_CLASS_INTEROP: return "interop";
    default: return NULL;
    }
}

int kw_record_class_parse(const char *name)
{
    for (int c = KW_RECORD_CLASS_E2E; c <= KW_RECORD_CLASS_INTEROP; c++)
        if (name != NULL && strcmp(name, kw_record_class_name(c)) == 0)
            return c;
    return 0;
}

int kw_record_zone_ok(const char *zone)
{
    if (zone == NULL)
        return 0;
    size_t n = strnlen(zone, KW_RECORD_ZONE_MAXBYTES + 1);
    if (n == 0 || n > KW_RECORD_ZONE_MAXBYTES || zone[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = zone[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static void be_store(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t be_load(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

uint64_t kw_record_padded_size(uint64_t size)
{
    uint64_t l = size < KW_RECORD_PAD_MIN ? KW_RECORD_PAD_MIN : size;
    /* Padmé: keep the top floor(log2 e)+1 bits of the length, round up the rest */
    unsigned e = 63u - (unsigned)__builtin_clzll(l);
    unsigned s = 32u - (unsigned)__builtin_clz(e); /* floor(log2 e) + 1, e >= 8 */
    unsigned last = e - s;
    uint64_t mask = ((uint64_t)1 << last) - 1;
    if (l > UINT64_MAX - mask)
        return UINT64_MAX;
    return (l + mask) & ~mask;
}

int kw_record_ctx(uint8_t out[static KW_RECORD_CTX_MAXBYTES], size_t *len, const kw_record_ref *ref)
{
    *len = 0;
    if (ref == NULL || !kw_category_name_ok(ref->category) || !kw_record_zone_ok(ref->zone) ||
        ref->version == 0)
        return KW_ERR_INVALID_ARG;
    size_t cl = strlen(ref->category), zl = strlen(ref->zone), o = LIT(CTX_LABEL);
    memcpy(out, CTX_LABEL, o);
    out[o++] = (uint8_t)cl;
    memcpy(out + o, ref->category, cl);
    o += cl;
    out[o++] = (uint8_t)zl;
    memcpy(out + o, ref->zone, zl);
    o += zl;
    memcpy(out + o, ref->id, KW_RECORD_IDBYTES);
    o += KW_RECORD_IDBYTES;
    be_store(out + o, ref->version, 8);
    *len = o + 8;
    return KW_OK;
}

void kw_record_key_new(uint8_t key[static KW_RECORD_KEYBYTES])
{
    randombytes_buf(key, KW_RECORD_KEYBYTES);
}

#define WRAP_AD_MAX (LIT(WRAP_LABEL) + 4 + KW_RECORD_CTX_MAXBYTES)

static int wrap_ad(uint8_t ad[WRAP_AD_MAX], size_t *adlen, uint32_t gen, const kw_record_ref *ref)
{
    size_t clen = 0;
    memcpy(ad, WRAP_LABEL, LIT(WRAP_LABEL));
    be_store(ad + LIT(WRAP_LABEL), gen, 4);
    int r = kw_record_ctx(ad + LIT(WRAP_LABEL) + 4, &clen, ref);
    *adlen = LIT(WRAP_LABEL) + 4 + clen;
    return r;
}

int kw_record_key_wrap(uint8_t out[static KW_RECORD_WRAPBYTES], const uint8_t key[static KW_RECORD_KEYBYTES],
                       const uint8_t svc_key[static KW_SVCKEY_BYTES], uint32_t gen,
                       const kw_record_ref *ref)
{
    uint8_t ad[WRAP_AD_MAX];
    size_t adlen = 0;
    unsigned long long clen = 0;
    int r = gen == 0 ? KW_ERR_INVALID_ARG : wrap_ad(ad, &adlen, gen, ref);
    if (r != KW_OK) {
        sodium_memzero(out, KW_RECORD_WRAPBYTES);
        return r;
    }
    be_store(out, gen, 4);
    randombytes_buf(out + 4, NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 4 + NONCE, &clen, key, KW_RECORD_KEYBYTES, ad, adlen,
                                               NULL, out + 4, svc_key);
    return KW_OK;
}

int kw_record_wrap_generation(const uint8_t *wrap, size_t wrap_len, uint32_t *gen)
{
    *gen = 0;
    if (wrap_len < KW_RECORD_WRAPBYTES)
        return KW_ERR_TRUNCATED;
    if (wrap_len > KW_RECORD_WRAPBYTES)
        return KW_ERR_TOO_LARGE;
    uint32_t g = (uint32_t)be_load(wrap, 4);
    if (g == 0)
        return KW_ERR_FORMAT;
    *gen = g;
    return KW_OK;
}

int kw_record_key_unwrap(uint8_t key[static KW_RECORD_KEYBYTES], const uint8_t *wrap, size_t wrap_len,
                         const uint8_t svc_key[static KW_SVCKEY_BYTES], const kw_record_ref *ref)
{
    uint8_t ad[WRAP_AD_MAX];
    size_t adlen = 0;
    uint32_t gen = 0;
    int r = kw_record_wrap_generation(wrap, wrap_len, &gen);
    if (r == KW_OK)
        r = wrap_ad(ad, &adlen, gen, ref);
    if (r == KW_OK &&
        crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, wrap + 4 + NONCE,
                                                   KW_RECORD_KEYBYTES + TAG, ad, adlen, wrap + 4,
                                                   svc_key) != 0)
        r = KW_ERR_VERIFY;
    if (r != KW_OK)
        sodium_memzero(key, KW_RECORD_KEYBYTES);
    return r;
}

static int subkey(uint8_t out[32], const uint8_t key[KW_RECORD_KEYBYTES], const char *info, size_t info_len)
{
    return kw_hkdf_sha256(out, 32, NULL, 0, key, KW_RECORD_KEYBYTES, (const uint8_t *)info, info_len);
}

static size_t meta_pt_len(size_t name_len, size_t type_len)
{
    size_t n = KW_RECORD_META_FIXED + name_len + type_len;
    return (n + KW_RECORD_META_PAD - 1) / KW_RECORD_META_PAD * KW_RECORD_META_PAD;
}

int kw_record_meta_seal(uint8_t *out, size_t out_cap, size_t *len, const kw_record_meta *meta,
                        const uint8_t key[static KW_RECORD_KEYBYTES], const kw_record_ref *ref)
{
    uint8_t ad[4 + KW_RECORD_CTX_MAXBYTES], mk[32];
    uint8_t *pt = NULL;
    size_t clen = 0;
    unsigned long long ctlen = 0;
    int r = KW_ERR_INVALID_ARG;
    *len = 0;
    size_t nl = strnlen(meta->name, sizeof(meta->name)), tl = strnlen(meta->type, sizeof(meta->type));
    uint64_t np = 0, ctl = 0;
    uint8_t format = meta->hash_alg != 0 ? meta->hash_alg : KW_RECORD_HASH_BLAKE2B;
    if (nl == 0 || nl > KW_RECORD_NAME_MAXBYTES || tl > KW_RECORD_TYPE_MAXBYTES ||
        (format != KW_RECORD_HASH_SHA256 && format != KW_RECORD_HASH_BLAKE2B) ||
        meta->size > KW_RECORD_SIZE_MAX || meta->padded != kw_record_padded_size(meta->size) ||
        kw_record_content_layout(meta->padded, meta->piece_size, &np, &ctl) != KW_OK)
        goto out;
    memcpy(ad, META_MAGIC, 4);
    if ((r = kw_record_ctx(ad + 4, &clen, ref)) != KW_OK)
        goto out;
    size_t ptl = meta_pt_len(nl, tl);
    if (out_cap < 4 + NONCE + ptl + TAG) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if ((pt = sodium_malloc(ptl)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    memset(pt, 0, ptl);
    size_t o = 0;
    pt[o++] = format;
    be_store(pt + o, nl, 2);
    o += 2;
    memcpy(pt + o, meta->name, nl);
    o += nl;
    pt[o++] = (uint8_t)tl;
    memcpy(pt + o, meta->type, tl);
    o += tl;
    be_store(pt + o, meta->ctime, 8);
    be_store(pt + o + 8, meta->mtime, 8);
    be_store(pt + o + 16, meta->size, 8);
    be_store(pt + o + 24, meta->padded, 8);
    o += 32;
    memcpy(pt + o, meta->hash, 32);
    o += 32;
    be_store(pt + o, meta->piece_size, 4);
    if ((r = subkey(mk, key, META_INFO, LIT(META_INFO))) != KW_OK)
        goto out;
    memcpy(out, META_MAGIC, 4);
    randombytes_buf(out + 4, NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 4 + NONCE, &ctlen, pt, ptl, ad, 4 + clen, NULL,
                                               out + 4, mk);
    *len = 4 + NONCE + (size_t)ctlen;
    r = KW_OK;
out:
    sodium_memzero(mk, sizeof(mk));
    sodium_free(pt);
    return r;
}

int kw_record_meta_open(kw_record_meta *meta, const uint8_t *in, size_t in_len,
                        const uint8_t key[static KW_RECORD_KEYBYTES], const kw_record_ref *ref)
{
    uint8_t ad[4 + KW_RECORD_CTX_MAXBYTES], mk[32];
    uint8_t *pt = NULL;
    size_t clen = 0;
    unsigned long long ptl = 0;
    int r = KW_ERR_INTERNAL;
    memset(meta, 0, sizeof(*meta));
    if (in_len > KW_RECORD_META_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (in_len > 0 && memcmp(in, META_MAGIC, in_len < 4 ? in_len : 4) != 0)
        return KW_ERR_FORMAT;
    if (in_len < 4 + NONCE + KW_RECORD_META_PAD + TAG)
        return KW_ERR_TRUNCATED;
    memcpy(ad, META_MAGIC, 4);
    if ((r = kw_record_ctx(ad + 4, &clen, ref)) != KW_OK)
        return r;
    if ((pt = sodium_malloc(in_len)) == NULL)
        return KW_ERR_NOMEM;
    if ((r = subkey(mk, key, META_INFO, LIT(META_INFO))) != KW_OK)
        goto out;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptl, NULL, in + 4 + NONCE, in_len - 4 - NONCE, ad,
                                                   4 + clen, in + 4, mk) != 0) {
        r = KW_ERR_VERIFY;
        goto out;
    }
    /* authentic from here: strict parse of what we wrote */
    size_t n = (size_t)ptl, o = 0;
    r = KW_ERR_FORMAT;
    if (n % KW_RECORD_META_PAD != 0 || n < KW_RECORD_META_FIXED ||
        (pt[o] != KW_RECORD_HASH_SHA256 && pt[o] != KW_RECORD_HASH_BLAKE2B))
        goto out;
    meta->hash_alg = pt[o++];
    size_t nl = (size_t)be_load(pt + o, 2);
    o += 2;
    if (nl == 0 || nl > KW_RECORD_NAME_MAXBYTES || n - o < nl + 1)
        goto out;
    if (memchr(pt + o, 0, nl) != NULL)
        goto out;
    memcpy(meta->name, pt + o, nl);
    o += nl;
    size_t tl = pt[o++];
    if (tl > KW_RECORD_TYPE_MAXBYTES || n - o < tl + 32 + 32 + 4)
        goto out;
    if (memchr(pt + o, 0, tl) != NULL)
        goto out;
    memcpy(meta->type, pt + o, tl);
    o += tl;
    meta->ctime = be_load(pt + o, 8);
    meta->mtime = be_load(pt + o + 8, 8);
    meta->size = be_load(pt + o + 16, 8);
    meta->padded = be_load(pt + o + 24, 8);
    o += 32;
    memcpy(meta->hash, pt + o, 32);
    o += 32;
    meta->piece_size = (uint32_t)be_load(pt + o, 4);
    o += 4;
    if (meta->size > KW_RECORD_SIZE_MAX || meta->padded != kw_record_padded_size(meta->size) ||
        n != meta_pt_len(nl, tl))
        goto out;
    for (size_t i = o; i < n; i++)
        if (pt[i] != 0)
            goto out;
    uint64_t npieces = 0, ctl = 0;
    if (kw_record_content_layout(meta->padded, meta->piece_size, &npieces, &ctl) != KW_OK)
        goto out;
    r = KW_OK;
out:
    if (r != KW_OK)
        sodium_memzero(meta, sizeof(*meta));
    sodium_memzero(mk, sizeof(mk));
    sodium_free(pt);
    return r;
}

int kw_record_content_layout(uint64_t padded, uint32_t piece_size, uint64_t *npieces, uint64_t *ct_len)
{
    *npieces = 0;
    *ct_len = 0;
    if (piece_size < KW_RECORD_PIECE_MIN || piece_size > KW_RECORD_PIECE_BYTES ||
        (piece_size & (piece_size - 1)) != 0 || padded > KW_RECORD_SIZE_MAX)
        return KW_ERR_INVALID_ARG;
    uint64_t n = padded == 0 ? 1 : (padded + piece_size - 1) / piece_size;
    *npieces = n;
    *ct_len = padded + n * KW_RECORD_PIECE_OVERHEAD;
    return KW_OK;
}

/* pctx = ctx ‖ u64 index ‖ u8 final, and the content key. */
static int piece_setup(uint8_t ck[32], uint8_t pctx[KW_RECORD_CTX_MAXBYTES + 9], size_t *len,
                       const uint8_t key[KW_RECORD_KEYBYTES], const kw_record_ref *ref, uint64_t index,
                       int final)
{
    size_t clen = 0;
    int r = kw_record_ctx(pctx, &clen, ref);
    if (r != KW_OK)
        return r;
    be_store(pctx + clen, index, 8);
    pctx[clen + 8] = final ? 1 : 0;
    *len = clen + 9;
    return subkey(ck, key, CONTENT_INFO, LIT(CONTENT_INFO));
}

int kw_record_piece_seal(uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *pt, size_t pt_len,
                         uint64_t index, int final, const uint8_t key[static KW_RECORD_KEYBYTES],
                         const kw_record_ref *ref)
{
    uint8_t ck[32], pctx[KW_RECORD_CTX_MAXBYTES + 9];
    size_t plen = 0;
    *out_len = 0;
    if (pt_len > KW_RECORD_PIECE_BYTES)
        return KW_ERR_INVALID_ARG;
    int r = piece_setup(ck, pctx, &plen, key, ref, index, final);
    if (r == KW_OK)
        r = kw_chunk_seal(out, out_cap, out_len, pt, pt_len, KW_RECORD_PIECE_BYTES, pctx, plen, ck);
    sodium_memzero(ck, sizeof(ck));
    return r;
}

int kw_record_piece_open(uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *ct, size_t ct_len,
                         uint64_t index, int final, const uint8_t key[static KW_RECORD_KEYBYTES],
                         const kw_record_ref *ref)
{
    uint8_t ck[32], pctx[KW_RECORD_CTX_MAXBYTES + 9];
    size_t plen = 0;
    *out_len = 0;
    int r = piece_setup(ck, pctx, &plen, key, ref, index, final);
    if (r == KW_OK)
        r = kw_chunk_open(out, out_cap, out_len, ct, ct_len, pctx, plen, ck);
    sodium_memzero(ck, sizeof(ck));
    return r;
}

/* ---- transport of sealed pieces (public data; not constant time) ---- */

static const char b64_alpha[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int kw_record_b64_encode(char *out, size_t out_cap, const uint8_t *in, size_t n)
{
    if (n > (SIZE_MAX / 4) * 3 - 3 || out_cap < (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1) + 1)
        return KW_ERR_TOO_LARGE;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o] = b64_alpha[v >> 18];
        out[o + 1] = b64_alpha[(v >> 12) & 63];
        out[o + 2] = b64_alpha[(v >> 6) & 63];
        out[o + 3] = b64_alpha[v & 63];
        o += 4;
    }
    if (n - i == 1) {
        out[o++] = b64_alpha[in[i] >> 2];
        out[o++] = b64_alpha[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
        out[o++] = b64_alpha[v >> 10];
        out[o++] = b64_alpha[(v >> 4) & 63];
        out[o++] = b64_alpha[(v & 15) << 2];
    }
    out[o] = '\0';
    return KW_OK;
}

/* value of each base64url character, -1 outside the alphabet */
static const int8_t b64_rev[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

int kw_record_b64_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in, size_t in_len)
{
    *out_len = 0;
    if (in_len % 4 == 1)
        return KW_ERR_TRUNCATED;
    size_t n = (in_len / 4) * 3 + (in_len % 4 == 0 ? 0 : in_len % 4 - 1);
    if (n > out_cap)
        return KW_ERR_TOO_LARGE;
    const uint8_t *p = (const uint8_t *)in;
    size_t o = 0, i = 0;
    for (; i + 4 <= in_len; i += 4) {
        int a = b64_rev[p[i]], b = b64_rev[p[i + 1]], c = b64_rev[p[i + 2]], d = b64_rev[p[i + 3]];
        if ((a | b | c | d) < 0)
            return KW_ERR_FORMAT;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o] = (uint8_t)(v >> 16);
        out[o + 1] = (uint8_t)(v >> 8);
        out[o + 2] = (uint8_t)v;
        o += 3;
    }
    size_t rest = in_len - i;
    if (rest >= 2) {
        int a = b64_rev[p[i]], b = b64_rev[p[i + 1]], c = rest == 3 ? b64_rev[p[i + 2]] : 0;
        if ((a | b | c) < 0)
            return KW_ERR_FORMAT;
        if (rest == 2) {
            if ((b & 15) != 0)
                return KW_ERR_FORMAT; /* non-canonical trailing bits */
            out[o++] = (uint8_t)(a << 2 | b >> 4);
        } else {
            if ((c & 3) != 0)
                return KW_ERR_FORMAT;
            out[o++] = (uint8_t)(a << 2 | b >> 4);
            out[o++] = (uint8_t)((b & 15) << 4 | c >> 2);
        }
    }
    *out_len = o;
    return KW_OK;
}
