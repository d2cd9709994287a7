/* The client-side secrets formats: sealed keychain, KK wraps, the KK chain,
 * the recovery key and the join code. See include/keyward/keychain.h. */
#include "keyward/keychain.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"
#include "keyward/hpke.h"

_Static_assert(KW_KEYCHAIN_NONCEBYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");
_Static_assert(KW_KEYCHAIN_TAGBYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag");
_Static_assert(KW_KK_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key");
_Static_assert(KW_KK_WRAPBYTES == KW_HPKE_SEALBYTES + KW_KK_BYTES, "wrap size");
_Static_assert(KW_KK_HPKE_KEYBYTES == KW_HPKE_PUBLICKEYBYTES, "hpke key size");
_Static_assert(KW_RECOVERY_WRAPBYTES == KW_KK_CHAINBYTES, "both are nonce ‖ ct ‖ tag of a KK");

#define WRAP_INFO "keyward kk wrap v1"
#define CHAIN_AD "keyward kk chain v1"
#define RECOVERY_WRAP_INFO "keyward recovery wrap v1"
#define RECOVERY_AUTH_INFO "keyward recovery auth v1"
#define JOIN_DOMAIN "keyward-join-v1"
#define LIT(s) (sizeof(s) - 1)

/* Fixed per-item overhead of the plaintext: u8 name len + u32 value len. */
#define ITEM_OVERHEAD 5
#define PLAINTEXT_FIXED (KW_KEYCHAIN_SEEDBYTES + 2)

typedef struct {
    uint8_t name_len;
    char name[KW_KEYCHAIN_ITEM_NAME_MAXBYTES + 1];
    size_t len;
    uint8_t *value; /* malloc'd (at least 1 byte), wiped before free */
} kc_item;

typedef struct {
    uint8_t name_len;
    char name[KW_SVCKEY_CATEGORY_MAXBYTES + 1];
    uint32_t gen;
    uint8_t key[KW_SVCKEY_BYTES]; /* current generation */
    uint8_t *chain;               /* (gen-1) entries, newest first; malloc'd, NULL for gen 1 */
} kc_svc;

struct kw_keychain {
    uint8_t seed[KW_KEYCHAIN_SEEDBYTES];
    size_t n;
    size_t pt_len; /* length of the plaintext encoding, services included */
    kc_item items[KW_KEYCHAIN_ITEMS_MAX];
    size_t nsvc;
    kc_svc svc[KW_SVCKEY_CATEGORIES_MAX];
};

/* Services section: "SVK1" ‖ u8 n, then per service u8 len ‖ name ‖ u32 g ‖ key. */
#define SVC_SECTION_FIXED 5
#define SVC_OVERHEAD (1 + 4 + KW_SVCKEY_BYTES)
#define SVC_CHAIN_AD "keyward service chain v1"

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

/* Length of an account name within 1..64 bytes, else 0. */
static size_t account_name_len(const char *name)
{
    if (name == NULL)
        return 0;
    size_t n = strnlen(name, KW_KEYCHAIN_NAME_MAXBYTES + 1);
    return n <= KW_KEYCHAIN_NAME_MAXBYTES ? n : 0;
}

/* ---- the decrypted keychain ---- */

static void item_clear(kc_item *it)
{
    if (it->value != NULL) {
        sodium_memzero(it->value, it->len);
        free(it->value);
    }
    sodium_memzero(it, sizeof(*it));
}

int kw_keychain_new(kw_keychain **kc, const uint8_t seed[static KW_KEYCHAIN_SEEDBYTES])
{
    kw_keychain *k = sodium_malloc(sizeof(*k));
    *kc = NULL;
    if (k == NULL)
        return KW_ERR_NOMEM;
    memset(k, 0, sizeof(*k));
    memcpy(k->seed, seed, KW_KEYCHAIN_SEEDBYTES);
    k->pt_len = PLAINTEXT_FIXED;
    *kc = k;
    return KW_OK;
}

static void svc_clear(kc_svc *sv)
{
    if (sv->chain != NULL) {
        sodium_memzero(sv->chain, (size_t)(sv->gen - 1) * KW_SVCKEY_CHAINBYTES);
        free(sv->chain);
    }
    sodium_memzero(sv, sizeof(*sv));
}

void kw_keychain_free(kw_keychain **kc)
{
    if (kc == NULL || *kc == NULL)
        return;
    kw_keychain *k = *kc;
    for (size_t i = 0; i < k->n; i++)
        item_clear(&k->items[i]);
    for (size_t i = 0; i < k->nsvc; i++)
        svc_clear(&k->svc[i]);
    sodium_free(k); /* wipes */
    *kc = NULL;
}

void kw_keychain_seed(const kw_keychain *kc, uint8_t seed[static KW_KEYCHAIN_SEEDBYTES])
{
    memcpy(seed, kc->seed, KW_KEYCHAIN_SEEDBYTES);
}

size_t kw_keychain_count(const kw_keychain *kc)
{
    return kc->n;
}

int kw_keychain_item(const kw_keychain *kc, size_t i, const char **name, const uint8_t **value,
                     size_t *value_len)
{
    if (i >= kc->n)
        return KW_ERR_NOT_FOUND;
    *name = kc->items[i].name;
    *value = kc->items[i].value;
    *value_len = kc->items[i].len;
    return KW_OK;
}

static kc_item *find(const kw_keychain *kc, const char *name, size_t nlen)
{
    for (size_t i = 0; i < kc->n; i++)
        if (kc->items[i].name_len == nlen && memcmp(kc->items[i].name, name, nlen) == 0)
            return (kc_item *)&kc->items[i];
    return NULL;
}

static size_t item_name_len(const char *name)
{
    if (name == NULL)
        return 0;
    size_t n = strnlen(name, KW_KEYCHAIN_ITEM_NAME_MAXBYTES + 1);
    return n <= KW_KEYCHAIN_ITEM_NAME_MAXBYTES ? n : 0;
}

int kw_keychain_get(const kw_keychain *kc, const char *name, const uint8_t **value, size_t *value_len)
{
    size_t nlen = item_name_len(name);
    const kc_item *it = nlen > 0 ? find(kc, name, nlen) : NULL;
    if (it == NULL)
        return KW_ERR_NOT_FOUND;
    *value = it->value;
    *value_len = it->len;
    return KW_OK;
}

int kw_keychain_set(kw_keychain *kc, const char *name, const uint8_t *value, size_t value_len)
{
    size_t nlen = item_name_len(name);
    if (nlen == 0 || (value == NULL && value_len > 0))
        return KW_ERR_INVALID_ARG;
    if (value_len > KW_KEYCHAIN_VALUE_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    kc_item *it = find(kc, name, nlen);
    /* pt_len <= 1 MiB and value_len <= 64 KiB: no overflow */
    size_t grow = value_len + (it == NULL ? ITEM_OVERHEAD + nlen : 0);
    size_t shrink = it != NULL ? it->len : 0;
    if (kc->pt_len - shrink + grow > KW_KEYCHAIN_PLAINTEXT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (it == NULL && kc->n >= KW_KEYCHAIN_ITEMS_MAX)
        return KW_ERR_LIMIT;
    uint8_t *v = malloc(value_len > 0 ? value_len : 1);
    if (v == NULL)
        return KW_ERR_NOMEM;
    if (value_len > 0)
        memcpy(v, value, value_len);
    if (it != NULL) {
        sodium_memzero(it->value, it->len);
        free(it->value);
    } else {
        it = &kc->items[kc->n++];
        memset(it, 0, sizeof(*it));
        it->name_len = (uint8_t)nlen;
        memcpy(it->name, name, nlen);
    }
    it->value = v; /* transferred */
    it->len = value_len;
    kc->pt_len = kc->pt_len - shrink + grow;
    return KW_OK;
}

int kw_keychain_delete(kw_keychain *kc, const char *name)
{
    size_t nlen = item_name_len(name);
    kc_item *it = nlen > 0 ? find(kc, name, nlen) : NULL;
    if (it == NULL)
        return KW_ERR_NOT_FOUND;
    size_t i = (size_t)(it - kc->items);
    kc->pt_len -= ITEM_OVERHEAD + it->name_len + it->len;
    item_clear(it);
    memmove(&kc->items[i], &kc->items[i + 1], (kc->n - i - 1) * sizeof(kc->items[0]));
    kc->n--;
    memset(&kc->items[kc->n], 0, sizeof(kc->items[0]));
    return KW_OK;
}

size_t kw_keychain_plaintext_len(const kw_keychain *kc)
{
    return kc->pt_len;
}

int kw_keychain_encode(uint8_t *out, size_t out_cap, size_t *out_len, const kw_keychain *kc)
{
    *out_len = 0;
    if (out_cap < kc->pt_len)
        return KW_ERR_TOO_LARGE;
    size_t o = 0;
    memcpy(out, kc->seed, KW_KEYCHAIN_SEEDBYTES);
    o = KW_KEYCHAIN_SEEDBYTES;
    be_store(out + o, kc->n, 2);
    o += 2;
    for (size_t i = 0; i < kc->n; i++) {
        const kc_item *it = &kc->items[i];
        out[o++] = it->name_len;
        memcpy(out + o, it->name, it->name_len);
        o += it->name_len;
        be_store(out + o, it->len, 4);
        o += 4;
        if (it->len > 0)
            memcpy(out + o, it->value, it->len);
        o += it->len;
    }
    if (kc->nsvc > 0) {
        memcpy(out + o, KW_SVCKEY_MAGIC, 4);
        out[o + 4] = (uint8_t)kc->nsvc;
        o += SVC_SECTION_FIXED;
        for (size_t i = 0; i < kc->nsvc; i++) {
            const kc_svc *sv = &kc->svc[i];
            size_t clen = (size_t)(sv->gen - 1) * KW_SVCKEY_CHAINBYTES;
            out[o++] = sv->name_len;
            memcpy(out + o, sv->name, sv->name_len);
            o += sv->name_len;
            be_store(out + o, sv->gen, 4);
            o += 4;
            memcpy(out + o, sv->key, KW_SVCKEY_BYTES);
            o += KW_SVCKEY_BYTES;
            if (clen > 0)
                memcpy(out + o, sv->chain, clen);
            o += clen;
        }
    }
    if (o != kc->pt_len) { /* the running length disagrees: a bug */
        sodium_memzero(out, out_cap);
        return KW_ERR_INTERNAL;
    }
    *out_len = o;
    return KW_OK;
}

/* ---- service keys ---- */

int kw_category_name_ok(const char *category)
{
    if (category == NULL)
        return 0;
    size_t n = strnlen(category, KW_SVCKEY_CATEGORY_MAXBYTES + 1);
    if (n == 0 || n > KW_SVCKEY_CATEGORY_MAXBYTES || category[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = category[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
    }
    return 1;
}

static bool category_bytes_ok(const uint8_t *p, size_t n)
{
    char tmp[KW_SVCKEY_CATEGORY_MAXBYTES + 1];
    if (n == 0 || n > KW_SVCKEY_CATEGORY_MAXBYTES)
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return strlen(tmp) == n && kw_category_name_ok(tmp);
}

static kc_svc *svc_find(const kw_keychain *kc, const char *name, size_t nlen)
{
    for (size_t i = 0; i < kc->nsvc; i++)
        if (kc->svc[i].name_len == nlen && memcmp(kc->svc[i].name, name, nlen) == 0)
            return (kc_svc *)&kc->svc[i];
    return NULL;
}

/* ad = "keyward service chain v1" ‖ u8 len ‖ category ‖ u32 h */
#define SVC_AD_MAX (LIT(SVC_CHAIN_AD) + 1 + KW_SVCKEY_CATEGORY_MAXBYTES + 4)
static size_t svc_chain_ad(uint8_t *ad, const char *name, size_t nlen, uint32_t h)
{
    memcpy(ad, SVC_CHAIN_AD, LIT(SVC_CHAIN_AD));
    size_t o = LIT(SVC_CHAIN_AD);
    ad[o++] = (uint8_t)nlen;
    memcpy(ad + o, name, nlen);
    o += nlen;
    be_store(ad + o, h, 4);
    return o + 4;
}

static int fixed_len(size_t in_len, size_t want);

int kw_svckey_chain_open(uint8_t prev[static KW_SVCKEY_BYTES], const uint8_t *entry, size_t entry_len,
                         const uint8_t key[static KW_SVCKEY_BYTES], const char *category,
                         uint32_t generation)
{
    uint8_t ad[SVC_AD_MAX];
    int r = KW_ERR_INVALID_ARG;
    if (!kw_category_name_ok(category) || generation < 2)
        goto out;
    if ((r = fixed_len(entry_len, KW_SVCKEY_CHAINBYTES)) != KW_OK)
        goto out;
    size_t adlen = svc_chain_ad(ad, category, strlen(category), generation);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(prev, NULL, NULL, entry + KW_KEYCHAIN_NONCEBYTES,
                                                   KW_SVCKEY_BYTES + KW_KEYCHAIN_TAGBYTES, ad, adlen,
                                                   entry, key) != 0) {
        r = KW_ERR_VERIFY;
        goto out;
    }
    r = KW_OK;
out:
    if (r != KW_OK)
        sodium_memzero(prev, KW_SVCKEY_BYTES);
    return r;
}

/* Walks sv's chain from the current generation down to `want`. */
static int svc_walk(const kc_svc *sv, uint32_t want, uint8_t key[KW_SVCKEY_BYTES])
{
    uint8_t prev[KW_SVCKEY_BYTES];
    int r = KW_OK;
    memcpy(key, sv->key, KW_SVCKEY_BYTES);
    for (uint32_t h = sv->gen; h > want && r == KW_OK; h--) {
        const uint8_t *e = sv->chain + (size_t)(sv->gen - h) * KW_SVCKEY_CHAINBYTES;
        r = kw_svckey_chain_open(prev, e, KW_SVCKEY_CHAINBYTES, key, sv->name, h);
        memcpy(key, prev, KW_SVCKEY_BYTES);
    }
    sodium_memzero(prev, sizeof(prev));
    if (r != KW_OK)
        sodium_memzero(key, KW_SVCKEY_BYTES);
    return r;
}

/* Parses the services section at in[*o..in_len) into k (strict: magic,
 * 1..64 services, valid unique names, generations 1..1024, every chain
 * entry authentic). */
static int svc_decode(kw_keychain *k, const uint8_t *in, size_t in_len, size_t *o)
{
    uint8_t key[KW_SVCKEY_BYTES];
    size_t p = *o;
    int r = KW_ERR_INTERNAL;
    if (in_len - p < SVC_SECTION_FIXED)
        return memcmp(in + p, KW_SVCKEY_MAGIC, in_len - p) == 0 ? KW_ERR_TRUNCATED : KW_ERR_FORMAT;
    if (memcmp(in + p, KW_SVCKEY_MAGIC, 4) != 0)
        return KW_ERR_FORMAT;
    size_t count = in[p + 4];
    p += SVC_SECTION_FIXED;
    if (count == 0)
        return KW_ERR_FORMAT; /* an empty section is not canonical */
    if (count > KW_SVCKEY_CATEGORIES_MAX)
        return KW_ERR_TOO_LARGE;
    for (size_t i = 0; i < count; i++) {
        if (in_len - p < 1)
            return KW_ERR_TRUNCATED;
        size_t nlen = in[p++];
        if (in_len - p < nlen + 4 + KW_SVCKEY_BYTES)
            return KW_ERR_TRUNCATED;
        if (!category_bytes_ok(in + p, nlen))
            return KW_ERR_FORMAT;
        if (svc_find(k, (const char *)in + p, nlen) != NULL)
            return KW_ERR_FORMAT; /* duplicate category */
        kc_svc *sv = &k->svc[k->nsvc];
        memset(sv, 0, sizeof(*sv));
        sv->name_len = (uint8_t)nlen;
        memcpy(sv->name, in + p, nlen);
        p += nlen;
        uint64_t g = be_load(in + p, 4);
        p += 4;
        if (g == 0)
            return KW_ERR_FORMAT;
        if (g > KW_SVCKEY_GENERATIONS_MAX)
            return KW_ERR_TOO_LARGE;
        memcpy(sv->key, in + p, KW_SVCKEY_BYTES);
        p += KW_SVCKEY_BYTES;
        size_t clen = (size_t)(g - 1) * KW_SVCKEY_CHAINBYTES;
        if (in_len - p < clen) {
            sodium_memzero(sv, sizeof(*sv));
            return KW_ERR_TRUNCATED;
        }
        if (clen > 0) {
            if ((sv->chain = malloc(clen)) == NULL) {
                sodium_memzero(sv, sizeof(*sv));
                return KW_ERR_NOMEM;
            }
            memcpy(sv->chain, in + p, clen);
        }
        p += clen;
        sv->gen = (uint32_t)g;
        k->nsvc++; /* owned by k from here: freed with it on error */
        if ((r = svc_walk(sv, 1, key)) != KW_OK) {
            sodium_memzero(key, sizeof(key));
            return KW_ERR_VERIFY;
        }
    }
    sodium_memzero(key, sizeof(key));
    /* the plaintext length is the whole input (checked by the caller) */
    k->pt_len += p - *o;
    *o = p;
    return KW_OK;
}

size_t kw_keychain_svc_count(const kw_keychain *kc)
{
    return kc->nsvc;
}

int kw_keychain_svc_at(const kw_keychain *kc, size_t i, const char **category, uint32_t *generation)
{
    if (i >= kc->nsvc)
        return KW_ERR_NOT_FOUND;
    *category = kc->svc[i].name;
    *generation = kc->svc[i].gen;
    return KW_OK;
}

int kw_keychain_svc_get(const kw_keychain *kc, const char *category, uint32_t generation,
                        uint8_t key[static KW_SVCKEY_BYTES], uint32_t *generation_out)
{
    int r = KW_ERR_INVALID_ARG;
    const kc_svc *sv = NULL;
    if (generation_out != NULL)
        *generation_out = 0;
    if (!kw_category_name_ok(category))
        goto out;
    sv = svc_find(kc, category, strlen(category));
    if (sv == NULL || generation > sv->gen) {
        r = KW_ERR_NOT_FOUND;
        goto out;
    }
    uint32_t want = generation == 0 ? sv->gen : generation;
    if ((r = svc_walk(sv, want, key)) != KW_OK)
        goto out;
    if (generation_out != NULL)
        *generation_out = want;
out:
    if (r != KW_OK)
        sodium_memzero(key, KW_SVCKEY_BYTES);
    return r;
}

int kw_keychain_svc_roll(kw_keychain *kc, const char *category, uint32_t *generation_out)
{
    uint8_t fresh[KW_SVCKEY_BYTES], ad[SVC_AD_MAX];
    unsigned long long clen = 0;
    int r = KW_ERR_INVALID_ARG;
    if (generation_out != NULL)
        *generation_out = 0;
    if (!kw_category_name_ok(category))
        return r;
    size_t nlen = strlen(category);
    kc_svc *sv = svc_find(kc, category, nlen);
    size_t grow = sv != NULL ? KW_SVCKEY_CHAINBYTES
                             : SVC_OVERHEAD + nlen + (kc->nsvc == 0 ? SVC_SECTION_FIXED : 0);
    if (sv == NULL && kc->nsvc >= KW_SVCKEY_CATEGORIES_MAX)
        return KW_ERR_LIMIT;
    if (sv != NULL && sv->gen >= KW_SVCKEY_GENERATIONS_MAX)
        return KW_ERR_LIMIT;
    if (kc->pt_len + grow > KW_KEYCHAIN_PLAINTEXT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    randombytes_buf(fresh, sizeof(fresh));
    if (sv == NULL) {
        sv = &kc->svc[kc->nsvc++];
        memset(sv, 0, sizeof(*sv));
        sv->name_len = (uint8_t)nlen;
        memcpy(sv->name, category, nlen);
        sv->gen = 1;
        memcpy(sv->key, fresh, KW_SVCKEY_BYTES);
    } else {
        size_t old = (size_t)(sv->gen - 1) * KW_SVCKEY_CHAINBYTES;
        uint8_t *nc = malloc(old + KW_SVCKEY_CHAINBYTES);
        if (nc == NULL) {
            sodium_memzero(fresh, sizeof(fresh));
            return KW_ERR_NOMEM;
        }
        /* the new entry (generation g+1: fresh encrypting the old current key) goes first */
        randombytes_buf(nc, KW_KEYCHAIN_NONCEBYTES);
        size_t adlen = svc_chain_ad(ad, sv->name, sv->name_len, sv->gen + 1);
        crypto_aead_xchacha20poly1305_ietf_encrypt(nc + KW_KEYCHAIN_NONCEBYTES, &clen, sv->key,
                                                   KW_SVCKEY_BYTES, ad, adlen, NULL, nc, fresh);
        if (old > 0) {
            memcpy(nc + KW_SVCKEY_CHAINBYTES, sv->chain, old);
            sodium_memzero(sv->chain, old);
            free(sv->chain);
        }
        sv->chain = nc; /* transferred */
        sv->gen++;
        memcpy(sv->key, fresh, KW_SVCKEY_BYTES);
    }
    kc->pt_len += grow;
    if (generation_out != NULL)
        *generation_out = sv->gen;
    sodium_memzero(fresh, sizeof(fresh));
    return KW_OK;
}

int kw_keychain_svc_chain(const kw_keychain *kc, const char *category, const uint8_t **chain,
                          size_t *len)
{
    *chain = NULL;
    *len = 0;
    if (!kw_category_name_ok(category))
        return KW_ERR_INVALID_ARG;
    const kc_svc *sv = svc_find(kc, category, strlen(category));
    if (sv == NULL)
        return KW_ERR_NOT_FOUND;
    *chain = sv->chain;
    *len = (size_t)(sv->gen - 1) * KW_SVCKEY_CHAINBYTES;
    return KW_OK;
}

int kw_keychain_decode(kw_keychain **kc, const uint8_t *in, size_t in_len)
{
    kw_keychain *k = NULL;
    char name[KW_KEYCHAIN_ITEM_NAME_MAXBYTES + 1];
    size_t o = 0;
    int r = KW_ERR_INTERNAL;
    *kc = NULL;
    if (in_len > KW_KEYCHAIN_PLAINTEXT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (in_len < PLAINTEXT_FIXED)
        return KW_ERR_TRUNCATED;
    if ((r = kw_keychain_new(&k, in)) != KW_OK)
        return r;
    o = KW_KEYCHAIN_SEEDBYTES;
    size_t count = (size_t)be_load(in + o, 2);
    o += 2;
    if (count > KW_KEYCHAIN_ITEMS_MAX) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        if (in_len - o < 1) {
            r = KW_ERR_TRUNCATED;
            goto out;
        }
        size_t nlen = in[o++];
        if (in_len - o < nlen + 4) {
            r = KW_ERR_TRUNCATED;
            goto out;
        }
        if (nlen == 0 || memchr(in + o, 0, nlen) != NULL) {
            r = KW_ERR_FORMAT;
            goto out;
        }
        memcpy(name, in + o, nlen);
        name[nlen] = '\0';
        o += nlen;
        size_t vlen = (size_t)be_load(in + o, 4);
        o += 4;
        if (vlen > KW_KEYCHAIN_VALUE_MAXBYTES) {
            r = KW_ERR_TOO_LARGE;
            goto out;
        }
        if (in_len - o < vlen) {
            r = KW_ERR_TRUNCATED;
            goto out;
        }
        if (find(k, name, nlen) != NULL) {
            r = KW_ERR_FORMAT; /* duplicate name */
            goto out;
        }
        if ((r = kw_keychain_set(k, name, in + o, vlen)) != KW_OK)
            goto out; /* NOMEM only: the limits are checked above */
        o += vlen;
    }
    if (o != in_len && (r = svc_decode(k, in, in_len, &o)) != KW_OK)
        goto out;
    if (o != in_len) {
        r = KW_ERR_FORMAT; /* trailing bytes */
        goto out;
    }
    *kc = k; /* transferred */
    k = NULL;
    r = KW_OK;
out:
    sodium_memzero(name, sizeof(name));
    kw_keychain_free(&k);
    return r;
}

/* ---- the sealed keychain ---- */

static void header_write(uint8_t h[KW_KEYCHAIN_HEADERBYTES], uint64_t version, uint64_t generation)
{
    memcpy(h, KW_KEYCHAIN_MAGIC, 4);
    be_store(h + 4, version, 8);
    be_store(h + 12, generation, 8);
    randombytes_buf(h + 20, KW_KEYCHAIN_NONCEBYTES);
}

/* ad = header ‖ account name (at most 44 + 64 bytes). */
static size_t keychain_ad(uint8_t ad[KW_KEYCHAIN_HEADERBYTES + KW_KEYCHAIN_NAME_MAXBYTES],
                          const uint8_t *header, const char *name, size_t nlen)
{
    memcpy(ad, header, KW_KEYCHAIN_HEADERBYTES);
    memcpy(ad + KW_KEYCHAIN_HEADERBYTES, name, nlen);
    return KW_KEYCHAIN_HEADERBYTES + nlen;
}

int kw_keychain_seal(uint8_t *out, size_t out_cap, size_t *out_len, const kw_keychain *kc,
                     const uint8_t kk[static KW_KK_BYTES], const char *account_name, uint64_t version,
                     uint64_t generation)
{
    uint8_t ad[KW_KEYCHAIN_HEADERBYTES + KW_KEYCHAIN_NAME_MAXBYTES];
    size_t nlen = account_name_len(account_name), pt_len = 0;
    unsigned long long clen = 0;
    int r = KW_ERR_INTERNAL;
    *out_len = 0;
    if (nlen == 0 || version == 0 || generation == 0) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    size_t total = KW_KEYCHAIN_HEADERBYTES + kc->pt_len + KW_KEYCHAIN_TAGBYTES;
    if (out_cap < total) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    uint8_t *body = out + KW_KEYCHAIN_HEADERBYTES;
    header_write(out, version, generation);
    if ((r = kw_keychain_encode(body, out_cap - KW_KEYCHAIN_HEADERBYTES, &pt_len, kc)) != KW_OK)
        goto out;
    size_t adlen = keychain_ad(ad, out, account_name, nlen);
    /* in place: libsodium's AEAD allows c == m */
    crypto_aead_xchacha20poly1305_ietf_encrypt(body, &clen, body, pt_len, ad, adlen, NULL, out + 20, kk);
    *out_len = KW_KEYCHAIN_HEADERBYTES + (size_t)clen;
    r = KW_OK;
out:
    if (r != KW_OK && out != NULL && out_cap > 0)
        sodium_memzero(out, out_cap);
    return r;
}

int kw_keychain_header(const uint8_t *in, size_t in_len, uint64_t *version, uint64_t *generation)
{
    *version = 0;
    *generation = 0;
    if (in_len > KW_KEYCHAIN_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (in_len > 0 && memcmp(in, KW_KEYCHAIN_MAGIC, in_len < 4 ? in_len : 4) != 0)
        return KW_ERR_FORMAT;
    if (in_len < KW_KEYCHAIN_HEADERBYTES + KW_KEYCHAIN_TAGBYTES)
        return KW_ERR_TRUNCATED;
    *version = be_load(in + 4, 8);
    *generation = be_load(in + 12, 8);
    return KW_OK;
}

int kw_keychain_open(kw_keychain **kc, const uint8_t *in, size_t in_len,
                     const uint8_t kk[static KW_KK_BYTES], const char *account_name, uint64_t version,
                     uint64_t generation)
{
    uint8_t ad[KW_KEYCHAIN_HEADERBYTES + KW_KEYCHAIN_NAME_MAXBYTES];
    uint8_t *pt = NULL;
    size_t nlen = account_name_len(account_name), pt_len = 0;
    uint64_t v = 0, g = 0;
    unsigned long long mlen = 0;
    int r = KW_ERR_INTERNAL;
    *kc = NULL;
    if (nlen == 0 || version == 0 || generation == 0)
        return KW_ERR_INVALID_ARG;
    if ((r = kw_keychain_header(in, in_len, &v, &g)) != KW_OK)
        return r;
    if (v != version || g != generation)
        return KW_ERR_VERIFY; /* an old or foreign keychain: never decrypted */
    pt_len = in_len - KW_KEYCHAIN_HEADERBYTES - KW_KEYCHAIN_TAGBYTES;
    if ((pt = sodium_malloc(pt_len > 0 ? pt_len : 1)) == NULL)
        return KW_ERR_NOMEM;
    size_t adlen = keychain_ad(ad, in, account_name, nlen);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL, in + KW_KEYCHAIN_HEADERBYTES,
                                                   in_len - KW_KEYCHAIN_HEADERBYTES, ad, adlen,
                                                   in + 20, kk) != 0) {
        r = KW_ERR_VERIFY;
        goto out;
    }
    r = kw_keychain_decode(kc, pt, (size_t)mlen);
out:
    sodium_free(pt); /* wipes */
    return r;
}

/* ---- KK, wraps and the chain ---- */

void kw_kk_new(uint8_t kk[static KW_KK_BYTES])
{
    randombytes_buf(kk, KW_KK_BYTES);
}

/* info = "keyward kk wrap v1" ‖ u8 len ‖ name ‖ u64 g ‖ receiver id. */
static size_t wrap_info(uint8_t *info, const char *name, size_t nlen, uint64_t g,
                        const uint8_t id[KW_KK_DEVICE_IDBYTES])
{
    size_t o = LIT(WRAP_INFO);
    memcpy(info, WRAP_INFO, o);
    info[o++] = (uint8_t)nlen;
    memcpy(info + o, name, nlen);
    o += nlen;
    be_store(info + o, g, 8);
    o += 8;
    memcpy(info + o, id, KW_KK_DEVICE_IDBYTES);
    return o + KW_KK_DEVICE_IDBYTES;
}

#define WRAP_INFO_MAX (LIT(WRAP_INFO) + 1 + KW_KEYCHAIN_NAME_MAXBYTES + 8 + KW_KK_DEVICE_IDBYTES)

int kw_kk_wrap(uint8_t out[static KW_KK_WRAPBYTES], const uint8_t kk[static KW_KK_BYTES],
               const char *account_name, uint64_t generation,
               const uint8_t receiver_id[static KW_KK_DEVICE_IDBYTES],
               const uint8_t receiver_pk[static KW_KK_HPKE_KEYBYTES],
               const uint8_t sender_sk[static KW_KK_HPKE_KEYBYTES], const uint8_t *sender_pk)
{
    uint8_t info[WRAP_INFO_MAX];
    size_t nlen = account_name_len(account_name), n = 0;
    int r = KW_ERR_INTERNAL;
    if (nlen == 0 || generation == 0) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    kw_hpke_params p = {.mode = KW_HPKE_MODE_AUTH,
                        .info = info,
                        .info_len = wrap_info(info, account_name, nlen, generation, receiver_id),
                        .sk_s = sender_sk,
                        .pk_s = sender_pk};
    if ((r = kw_hpke_seal(out, KW_KK_WRAPBYTES, &n, receiver_pk, &p, NULL, 0, kk, KW_KK_BYTES)) != KW_OK)
        goto out;
    r = n == KW_KK_WRAPBYTES ? KW_OK : KW_ERR_INTERNAL;
out:
    if (r != KW_OK)
        sodium_memzero(out, KW_KK_WRAPBYTES);
    return r;
}

static int fixed_len(size_t in_len, size_t want)
{
    if (in_len < want)
        return KW_ERR_TRUNCATED;
    if (in_len > want)
        return KW_ERR_TOO_LARGE;
    return KW_OK;
}

int kw_kk_unwrap(uint8_t kk[static KW_KK_BYTES], const uint8_t *in, size_t in_len,
                 const char *account_name, uint64_t generation,
                 const uint8_t receiver_id[static KW_KK_DEVICE_IDBYTES],
                 const uint8_t receiver_sk[static KW_KK_HPKE_KEYBYTES], const uint8_t *receiver_pk,
                 const uint8_t sender_pk[static KW_KK_HPKE_KEYBYTES])
{
    uint8_t info[WRAP_INFO_MAX];
    size_t nlen = account_name_len(account_name), n = 0;
    int r = KW_ERR_INTERNAL;
    if (nlen == 0 || generation == 0) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if ((r = fixed_len(in_len, KW_KK_WRAPBYTES)) != KW_OK)
        goto out;
    kw_hpke_params p = {.mode = KW_HPKE_MODE_AUTH,
                        .info = info,
                        .info_len = wrap_info(info, account_name, nlen, generation, receiver_id),
                        .pk_s = sender_pk};
    if ((r = kw_hpke_open(kk, KW_KK_BYTES, &n, receiver_sk, receiver_pk, &p, NULL, 0, in, in_len)) != KW_OK)
        goto out;
    r = n == KW_KK_BYTES ? KW_OK : KW_ERR_INTERNAL;
out:
    if (r != KW_OK)
        sodium_memzero(kk, KW_KK_BYTES);
    return r;
}

/* nonce[24] ‖ XChaCha20-Poly1305(key, nonce, ad, 32-byte secret). */
static void xc_seal(uint8_t out[KW_KK_CHAINBYTES], const uint8_t *pt, const uint8_t *key,
                    const uint8_t *ad, size_t adlen)
{
    unsigned long long clen = 0;
    randombytes_buf(out, KW_KEYCHAIN_NONCEBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + KW_KEYCHAIN_NONCEBYTES, &clen, pt, KW_KK_BYTES, ad,
                                               adlen, NULL, out, key);
}

static int xc_open(uint8_t pt[KW_KK_BYTES], const uint8_t *in, size_t in_len, const uint8_t *key,
                   const uint8_t *ad, size_t adlen)
{
    int r = fixed_len(in_len, KW_KK_CHAINBYTES);
    if (r != KW_OK)
        return r;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, in + KW_KEYCHAIN_NONCEBYTES,
                                                   KW_KK_BYTES + KW_KEYCHAIN_TAGBYTES, ad, adlen, in,
                                                   key) != 0)
        return KW_ERR_VERIFY;
    return KW_OK;
}

#define CHAIN_AD_MAX (LIT(CHAIN_AD) + KW_KEYCHAIN_NAME_MAXBYTES + 8)

static size_t chain_ad(uint8_t *ad, const char *name, size_t nlen, uint64_t g)
{
    memcpy(ad, CHAIN_AD, LIT(CHAIN_AD));
    memcpy(ad + LIT(CHAIN_AD), name, nlen);
    be_store(ad + LIT(CHAIN_AD) + nlen, g, 8);
    return LIT(CHAIN_AD) + nlen + 8;
}

int kw_kk_chain_seal(uint8_t out[static KW_KK_CHAINBYTES], const uint8_t kk_prev[static KW_KK_BYTES],
                     const uint8_t kk[static KW_KK_BYTES], const char *account_name, uint64_t generation)
{
    uint8_t ad[CHAIN_AD_MAX];
    size_t nlen = account_name_len(account_name);
    if (nlen == 0 || generation < 2) {
        sodium_memzero(out, KW_KK_CHAINBYTES);
        return KW_ERR_INVALID_ARG;
    }
    xc_seal(out, kk_prev, kk, ad, chain_ad(ad, account_name, nlen, generation));
    return KW_OK;
}

int kw_kk_chain_open(uint8_t kk_prev[static KW_KK_BYTES], const uint8_t *in, size_t in_len,
                     const uint8_t kk[static KW_KK_BYTES], const char *account_name, uint64_t generation)
{
    uint8_t ad[CHAIN_AD_MAX];
    size_t nlen = account_name_len(account_name);
    int r = KW_ERR_INVALID_ARG;
    if (nlen != 0 && generation >= 2)
        r = xc_open(kk_prev, in, in_len, kk, ad, chain_ad(ad, account_name, nlen, generation));
    if (r != KW_OK)
        sodium_memzero(kk_prev, KW_KK_BYTES);
    return r;
}

/* ---- the recovery key ---- */

static const char b32_alphabet[32] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* All-ones when a == b (both below 256), else 0; no branch on the values. */
static uint32_t ct_eq_mask(uint32_t a, uint32_t b)
{
    return 0u - (((a ^ b) - 1u) >> 31);
}

/* All-ones when lo <= c <= hi (all below 256). */
static uint32_t ct_range_mask(uint32_t c, uint32_t lo, uint32_t hi)
{
    uint32_t below = (c - lo) >> 31; /* c < lo */
    uint32_t above = (hi - c) >> 31; /* c > hi */
    return 0u - (1u ^ (below | above));
}

static char b32_char(uint32_t v)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < 32; i++)
        c |= ct_eq_mask(v, i) & (uint8_t)b32_alphabet[i];
    return (char)c;
}

/* The 5-bit value of a code character (case folded, I/L -> 1, O -> 0), or
 * -1; the table walk does not depend on the character. */
static int b32_value(uint8_t ch)
{
    uint32_t c = ch;
    c -= ct_range_mask(c, 'a', 'z') & 32u;
    c ^= ct_eq_mask(c, 'I') & ((uint32_t)'I' ^ '1');
    c ^= ct_eq_mask(c, 'L') & ((uint32_t)'L' ^ '1');
    c ^= ct_eq_mask(c, 'O') & ((uint32_t)'O' ^ '0');
    uint32_t v = 0, found = 0;
    for (uint32_t i = 0; i < 32; i++) {
        uint32_t m = ct_eq_mask(c, (uint8_t)b32_alphabet[i]);
        v |= m & i;
        found |= m;
    }
    return found ? (int)v : -1;
}

/* The 4 checksum characters: the first 20 bits of SHA-256(key). */
static void code_checksum(char out[4], const uint8_t key[KW_RECOVERY_KEYBYTES])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, key, KW_RECOVERY_KEYBYTES);
    uint32_t bits = (uint32_t)h[0] << 12 | (uint32_t)h[1] << 4 | (uint32_t)h[2] >> 4;
    for (int i = 0; i < 4; i++)
        out[i] = b32_char((bits >> (15 - 5 * i)) & 31u);
    sodium_memzero(h, sizeof(h));
}

void kw_recovery_key_new(uint8_t key[static KW_RECOVERY_KEYBYTES])
{
    randombytes_buf(key, KW_RECOVERY_KEYBYTES);
}

void kw_recovery_code_encode(char code[static KW_RECOVERY_CODEBYTES],
                             const uint8_t key[static KW_RECOVERY_KEYBYTES])
{
    char chars[KW_RECOVERY_CODE_CHARS];
    uint32_t acc = 0;
    unsigned nbits = 0;
    size_t n = 0;
    for (size_t i = 0; i < KW_RECOVERY_KEYBYTES; i++) {
        acc = (acc << 8 | key[i]) & 0xfffu; /* at most 12 live bits */
        nbits += 8;
        while (nbits >= 5) {
            nbits -= 5;
            chars[n++] = b32_char((acc >> nbits) & 31u);
        }
    }
    chars[n++] = b32_char((acc << (5 - nbits)) & 31u); /* 256 = 51*5 + 1: 4 zero bits */
    code_checksum(chars + n, key);
    n += 4;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && i % 4 == 0)
            code[o++] = '-';
        code[o++] = chars[i];
    }
    code[o] = '\0';
    sodium_memzero(chars, sizeof(chars));
    sodium_memzero(&acc, sizeof(acc));
}

int kw_recovery_code_parse(uint8_t key[static KW_RECOVERY_KEYBYTES], const char *code)
{
    uint8_t vals[KW_RECOVERY_CODE_CHARS];
    char want[4];
    size_t n = 0;
    uint32_t acc = 0;
    unsigned nbits = 0;
    size_t o = 0;
    int r = KW_ERR_INTERNAL;
    sodium_memzero(key, KW_RECOVERY_KEYBYTES);
    size_t len = code != NULL ? strnlen(code, KW_RECOVERY_CODE_INPUT_MAXBYTES + 1) : 0;
    if (len > KW_RECOVERY_CODE_INPUT_MAXBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = (uint8_t)code[i];
        /* separators only reveal where the user put them */
        if (ch == ' ' || ch == '-' || ch == '\t' || ch == '\n' || ch == '\r')
            continue;
        int v = b32_value(ch);
        if (v < 0) {
            r = KW_ERR_FORMAT;
            goto out;
        }
        if (n == KW_RECOVERY_CODE_CHARS) {
            r = KW_ERR_TOO_LARGE;
            goto out;
        }
        vals[n++] = (uint8_t)v;
    }
    if (n < KW_RECOVERY_CODE_CHARS) {
        r = KW_ERR_TRUNCATED;
        goto out;
    }
    for (size_t i = 0; i < 52; i++) {
        acc = (acc << 5 | vals[i]) & 0xfffu; /* at most 12 live bits */
        nbits += 5;
        if (nbits >= 8) {
            nbits -= 8;
            key[o++] = (uint8_t)(acc >> nbits);
        }
    }
    /* 52 × 5 = 260 bits: the last 4 must be zero for one canonical code */
    if (o != KW_RECOVERY_KEYBYTES || nbits != 4 || (acc & 15u) != 0) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    code_checksum(want, key);
    uint32_t diff = 0;
    for (size_t i = 0; i < 4; i++)
        diff |= (uint32_t)(uint8_t)want[i] ^ (uint32_t)(uint8_t)b32_char(vals[52 + i]);
    r = diff == 0 ? KW_OK : KW_ERR_FORMAT;
out:
    if (r != KW_OK)
        sodium_memzero(key, KW_RECOVERY_KEYBYTES);
    sodium_memzero(vals, sizeof(vals));
    sodium_memzero(want, sizeof(want));
    sodium_memzero(&acc, sizeof(acc));
    return r;
}

/* HKDF-SHA256(salt "", key, label ‖ name) into out[32]. */
static int recovery_derive(uint8_t out[32], const uint8_t key[KW_RECOVERY_KEYBYTES], const char *label,
                           size_t label_len, const char *name)
{
    uint8_t info[32 + KW_KEYCHAIN_NAME_MAXBYTES];
    size_t nlen = account_name_len(name);
    if (nlen == 0) {
        sodium_memzero(out, 32);
        return KW_ERR_INVALID_ARG;
    }
    memcpy(info, label, label_len);
    memcpy(info + label_len, name, nlen);
    int r = kw_hkdf_sha256(out, 32, NULL, 0, key, KW_RECOVERY_KEYBYTES, info, label_len + nlen);
    if (r != KW_OK)
        sodium_memzero(out, 32);
    return r;
}

int kw_recovery_auth(uint8_t auth[static KW_RECOVERY_AUTHBYTES],
                     const uint8_t key[static KW_RECOVERY_KEYBYTES], const char *account_name)
{
    return recovery_derive(auth, key, RECOVERY_AUTH_INFO, LIT(RECOVERY_AUTH_INFO), account_name);
}

int kw_recovery_wrap_key(uint8_t rwk[static KW_RECOVERY_WRAPKEYBYTES],
                         const uint8_t key[static KW_RECOVERY_KEYBYTES], const char *account_name)
{
    return recovery_derive(rwk, key, RECOVERY_WRAP_INFO, LIT(RECOVERY_WRAP_INFO), account_name);
}

void kw_recovery_proof(uint8_t proof[static KW_RECOVERY_PROOFBYTES],
                       const uint8_t auth[static KW_RECOVERY_AUTHBYTES],
                       const uint8_t login_id[static KW_RECOVERY_LOGIN_IDBYTES])
{
    _Static_assert(KW_RECOVERY_AUTHBYTES == crypto_auth_hmacsha256_KEYBYTES, "hmac key");
    crypto_auth_hmacsha256(proof, login_id, KW_RECOVERY_LOGIN_IDBYTES, auth);
}

/* ad = name ‖ u64 g */
static size_t recovery_ad(uint8_t *ad, const char *name, size_t nlen, uint64_t g)
{
    memcpy(ad, name, nlen);
    be_store(ad + nlen, g, 8);
    return nlen + 8;
}

int kw_recovery_wrap_rwk(uint8_t out[static KW_RECOVERY_WRAPBYTES], const uint8_t kk[static KW_KK_BYTES],
                         const uint8_t rwk[static KW_RECOVERY_WRAPKEYBYTES], const char *account_name,
                         uint64_t generation)
{
    uint8_t ad[KW_KEYCHAIN_NAME_MAXBYTES + 8];
    size_t nlen = account_name_len(account_name);
    if (nlen == 0 || generation == 0) {
        sodium_memzero(out, KW_RECOVERY_WRAPBYTES);
        return KW_ERR_INVALID_ARG;
    }
    xc_seal(out, kk, rwk, ad, recovery_ad(ad, account_name, nlen, generation));
    return KW_OK;
}

int kw_recovery_wrap(uint8_t out[static KW_RECOVERY_WRAPBYTES], const uint8_t kk[static KW_KK_BYTES],
                     const uint8_t key[static KW_RECOVERY_KEYBYTES], const char *account_name,
                     uint64_t generation)
{
    uint8_t rwk[KW_RECOVERY_WRAPKEYBYTES];
    int r = kw_recovery_wrap_key(rwk, key, account_name);
    if (r == KW_OK)
        r = kw_recovery_wrap_rwk(out, kk, rwk, account_name, generation);
    else
        sodium_memzero(out, KW_RECOVERY_WRAPBYTES);
    sodium_memzero(rwk, sizeof(rwk));
    return r;
}

int kw_recovery_unwrap(uint8_t kk[static KW_KK_BYTES], const uint8_t *in, size_t in_len,
                       const uint8_t key[static KW_RECOVERY_KEYBYTES], const char *account_name,
                       uint64_t generation)
{
    uint8_t rwk[KW_RECOVERY_WRAPKEYBYTES], ad[KW_KEYCHAIN_NAME_MAXBYTES + 8];
    int r = KW_ERR_INVALID_ARG;
    if (generation == 0)
        goto out;
    if ((r = kw_recovery_wrap_key(rwk, key, account_name)) != KW_OK)
        goto out;
    r = xc_open(kk, in, in_len, rwk, ad,
                recovery_ad(ad, account_name, account_name_len(account_name), generation));
out:
    if (r != KW_OK)
        sodium_memzero(kk, KW_KK_BYTES);
    sodium_memzero(rwk, sizeof(rwk));
    return r;
}

/* ---- joining ---- */

int kw_join_code(char code[static KW_JOIN_CODEBYTES], const char *account_name,
                 const uint8_t device_id[static KW_KK_DEVICE_IDBYTES],
                 const uint8_t identity_pk[static 32], const uint8_t hpke_pk[static 32])
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES], len8;
    size_t nlen = account_name_len(account_name);
    memset(code, 0, KW_JOIN_CODEBYTES);
    if (nlen == 0)
        return KW_ERR_INVALID_ARG;
    len8 = (uint8_t)nlen;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)JOIN_DOMAIN, LIT(JOIN_DOMAIN));
    crypto_hash_sha256_update(&st, &len8, 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)account_name, nlen);
    crypto_hash_sha256_update(&st, device_id, KW_KK_DEVICE_IDBYTES);
    crypto_hash_sha256_update(&st, identity_pk, 32);
    crypto_hash_sha256_update(&st, hpke_pk, 32);
    crypto_hash_sha256_final(&st, h);
    /* 2^64 is not a multiple of 10^6: the bias is below 10^6 / 2^64 < 2^-44 */
    uint32_t v = (uint32_t)(be_load(h, 8) % 1000000u);
    for (int i = 5; i >= 0; i--) {
        code[i] = (char)('0' + v % 10);
        v /= 10;
    }
    code[6] = '\0';
    return KW_OK;
}
