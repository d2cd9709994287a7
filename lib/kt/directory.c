/* The server side of the key-transparency directory. See kt.h.
 *
 * State (all of it what a storage backend will have to keep):
 *  - per label: its bytes, its published versions (epoch, index, opening,
 *    commitment, VRF proof, value) and the VRF proof of the next version;
 *  - per epoch: the signed head and the range of its insertion list;
 *  - the insertion lists (index, commitment), sorted per epoch;
 *  - the prefix tree (through a kw_prefix_store) and the log tree;
 *  - the queue of promised but unpublished updates.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/kt.h"
#include "kt/kt_dir_internal.h"

#define TAI KW_VRF_EDWARDS25519_SHA512_TAI
#define QUEUE_MAX ((size_t)1 << 24)

typedef struct {
    uint64_t epoch;
    uint8_t index[KW_KT_INDEXBYTES];
    uint8_t opening[KW_COMMIT_OPENINGBYTES];
    uint8_t commitment[KW_COMMIT_BYTES];
    uint32_t value_len;
    uint8_t *value;
} kt_ver;

typedef struct {
    uint8_t *label;
    uint16_t label_len;
    uint32_t nver, cap, assigned;
    kt_ver *ver;
    uint8_t has_beta, has_proof;
    uint8_t beta[KT_PREFIXBYTES];          /* VRF(label), the indices' prefix */
    uint8_t vrf_proof[KW_VRF_PROOFBYTES];  /* its proof (one per label) */
} kt_label;

typedef struct {
    kt_label *lab;
    uint32_t version;
    uint32_t value_len;
    uint8_t *value;
} kt_pending;

typedef struct {
    kw_kt_head head;
    size_t ins_first, ins_n;
} kt_epoch;

typedef struct {
    kt_pending p;
    uint8_t index[KW_KT_INDEXBYTES];
    uint8_t opening[KW_COMMIT_OPENINGBYTES];
    uint8_t commitment[KW_COMMIT_BYTES];
    uint8_t beta[KT_PREFIXBYTES];
    uint8_t proof[KW_VRF_PROOFBYTES];
    uint8_t indexed, has_beta, has_proof;
} kt_bentry;

struct kw_kt_batch {
    kw_kt_dir *d;
    size_t n;
    kt_bentry *e;
};

struct kw_kt_dir {
    uint8_t *vrf_sk; /* sodium_malloc'd */
    uint8_t vrf_pk[KW_VRF_PUBLICKEYBYTES];
    const kw_sign_key *log_key;
    kw_prefix_memstore *ms; /* NULL when the caller supplied the store */
    kw_prefix_store st;
    kw_log_tree *log;
    uint64_t mmd;
    kt_epoch *ep;
    size_t nep, ep_cap;
    kw_prefix_entry *ins;
    size_t nins, ins_cap;
    kt_label **tab;
    size_t tab_cap, nlabels;
    uint64_t nversions, missing, value_bytes;
    kt_pending *pend;
    size_t npend, pend_cap;
    uint8_t hkey[crypto_shorthash_KEYBYTES];
    uint8_t *opening_key; /* sodium_malloc'd; NULL: random openings */
    int broken, batch_open;
};

/* ---- growth helpers ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t min)
{
    if (need <= *cap)
        return KW_OK;
    size_t c = *cap < min ? min : *cap;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return KW_ERR_NOMEM;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return KW_ERR_NOMEM;
    void *n = realloc(*p, c * elem);
    if (n == NULL)
        return KW_ERR_NOMEM;
    *p = n;
    *cap = c;
    return KW_OK;
}

/* ---- the label table ---- */

static size_t label_hash(const kw_kt_dir *d, const uint8_t *label, size_t len)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, label, len, d->hkey);
    return (size_t)kt_be_get(h, 8);
}

static kt_label *label_find(const kw_kt_dir *d, const uint8_t *label, size_t len)
{
    if (d->tab_cap == 0)
        return NULL;
    size_t mask = d->tab_cap - 1, i = label_hash(d, label, len) & mask;
    for (; d->tab[i] != NULL; i = (i + 1) & mask) {
        kt_label *l = d->tab[i];
        if (l->label_len == len && memcmp(l->label, label, len) == 0)
            return l;
    }
    return NULL;
}

static int table_grow(kw_kt_dir *d)
{
    size_t cap = d->tab_cap == 0 ? 1024 : d->tab_cap * 2;
    if (cap > SIZE_MAX / sizeof(kt_label *))
        return KW_ERR_NOMEM;
    kt_label **t = calloc(cap, sizeof(*t));
    if (t == NULL)
        return KW_ERR_NOMEM;
    for (size_t i = 0; i < d->tab_cap; i++) {
        kt_label *l = d->tab[i];
        if (l == NULL)
            continue;
        size_t j = label_hash(d, l->label, l->label_len) & (cap - 1);
        while (t[j] != NULL)
            j = (j + 1) & (cap - 1);
        t[j] = l;
    }
    free(d->tab);
    d->tab = t;
    d->tab_cap = cap;
    return KW_OK;
}

static int label_get_or_add(kw_kt_dir *d, const uint8_t *label, size_t len, kt_label **out)
{
    int r;
    kt_label *l = label_find(d, label, len);
    if (l != NULL) {
        *out = l;
        return KW_OK;
    }
    if ((d->nlabels + 1) * 2 > d->tab_cap && (r = table_grow(d)) != KW_OK)
        return r;
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return KW_ERR_NOMEM;
    l->label = malloc(len);
    if (l->label == NULL) {
        free(l);
        return KW_ERR_NOMEM;
    }
    memcpy(l->label, label, len);
    l->label_len = (uint16_t)len;
    size_t mask = d->tab_cap - 1, i = label_hash(d, label, len) & mask;
    while (d->tab[i] != NULL)
        i = (i + 1) & mask;
    d->tab[i] = l;
    d->nlabels++;
    *out = l;
    return KW_OK;
}

static void label_free(kt_label *l)
{
    for (uint32_t i = 0; i < l->nver; i++)
        free(l->ver[i].value);
    if (l->ver != NULL)
        sodium_memzero(l->ver, (size_t)l->cap * sizeof(kt_ver));
    free(l->ver);
    free(l->label);
    free(l);
}

/* ---- creation ---- */

int kw_kt_dir_new(kw_kt_dir **out, const kw_kt_dir_config *cfg)
{
    int r = KW_ERR_INTERNAL;
    kw_kt_dir *d = NULL;
    *out = NULL;
    if (cfg == NULL || cfg->vrf_sk == NULL || cfg->log_key == NULL || cfg->max_merge_delay == 0)
        return KW_ERR_INVALID_ARG;
    if ((d = calloc(1, sizeof(*d))) == NULL)
        return KW_ERR_NOMEM;
    if ((d->vrf_sk = sodium_malloc(KW_VRF_SECRETKEYBYTES)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    memcpy(d->vrf_sk, cfg->vrf_sk, KW_VRF_SECRETKEYBYTES);
    sodium_mprotect_readonly(d->vrf_sk);
    memcpy(d->vrf_pk, cfg->vrf_sk + KW_VRF_SEEDBYTES, KW_VRF_PUBLICKEYBYTES);
    d->log_key = cfg->log_key;
    d->mmd = cfg->max_merge_delay;
    if (cfg->opening_key != NULL) {
        if ((d->opening_key = sodium_malloc(KW_KT_OPENING_KEYBYTES)) == NULL) {
            r = KW_ERR_NOMEM;
            goto out;
        }
        memcpy(d->opening_key, cfg->opening_key, KW_KT_OPENING_KEYBYTES);
        sodium_mprotect_readonly(d->opening_key);
    }
    if (cfg->store != NULL) {
        d->st = *cfg->store;
    } else {
        if ((r = kw_prefix_memstore_new(&d->ms)) != KW_OK)
            goto out;
        kw_prefix_memstore_store(d->ms, &d->st);
    }
    if ((r = kw_log_tree_new(&d->log, KW_LOG_TREE_MAX_LEAVES)) != KW_OK)
        goto out;
    randombytes_buf(d->hkey, sizeof(d->hkey));
    *out = d; /* transferred */
    d = NULL;
    r = KW_OK;
out:
    kw_kt_dir_free(&d);
    return r;
}

void kw_kt_dir_free(kw_kt_dir **dp)
{
    if (dp == NULL || *dp == NULL)
        return;
    kw_kt_dir *d = *dp;
    for (size_t i = 0; i < d->tab_cap; i++)
        if (d->tab[i] != NULL)
            label_free(d->tab[i]);
    free(d->tab);
    for (size_t i = 0; i < d->npend; i++)
        free(d->pend[i].value);
    free(d->pend);
    free(d->ep);
    free(d->ins);
    kw_log_tree_free(&d->log);
    kw_prefix_memstore_free(&d->ms);
    if (d->vrf_sk != NULL)
        sodium_free(d->vrf_sk);
    if (d->opening_key != NULL)
        sodium_free(d->opening_key);
    sodium_memzero(d, sizeof(*d));
    free(d);
    *dp = NULL;
}

/* ---- updates ---- */

int kw_kt_dir_update(kw_kt_dir *d, const uint8_t *label, size_t label_len, const uint8_t *value,
                     size_t value_len, uint8_t *out, size_t cap, size_t *out_len)
{
    int r;
    kt_label *l = NULL;
    uint8_t *copy = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (d->broken || d->batch_open)
        return KW_ERR_INVALID_ARG;
    if (label == NULL || label_len == 0 || (value == NULL && value_len != 0))
        return KW_ERR_INVALID_ARG;
    if (label_len > KW_KT_LABEL_MAXBYTES || value_len > KW_KT_VALUE_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (d->npend >= QUEUE_MAX)
        return KW_ERR_LIMIT;
    if ((r = grow((void **)&d->pend, &d->pend_cap, d->npend + 1, sizeof(kt_pending), 64)) != KW_OK)
        return r;
    if ((copy = malloc(value_len == 0 ? 1 : value_len)) == NULL)
        return KW_ERR_NOMEM;
    if (value_len > 0)
        memcpy(copy, value, value_len);
    if ((r = label_get_or_add(d, label, label_len, &l)) != KW_OK)
        goto fail;
    if (l->assigned >= KW_KT_MAX_VERSION - 1) {
        r = KW_ERR_LIMIT;
        goto fail;
    }
    uint32_t version = l->assigned + 1;
    if (out != NULL && out_len == NULL) {
        r = KW_ERR_INVALID_ARG;
        goto fail;
    }
    if (out != NULL &&
        (r = kt_promise_make(out, cap, out_len, d->log_key, label, label_len, version, value,
                             value_len, d->nep + d->mmd - 1)) != KW_OK)
        goto fail;
    l->assigned = version;
    d->pend[d->npend].lab = l;
    d->pend[d->npend].version = version;
    d->pend[d->npend].value = copy; /* transferred */
    d->pend[d->npend].value_len = (uint32_t)value_len;
    d->npend++;
    return KW_OK;
fail:
    free(copy);
    return r;
}

size_t kw_kt_dir_pending(const kw_kt_dir *d)
{
    return d->npend;
}

uint32_t kw_kt_dir_next_version(const kw_kt_dir *d, const uint8_t *label, size_t label_len)
{
    if (label == NULL || label_len == 0 || label_len > KW_KT_LABEL_MAXBYTES)
        return 0;
    const kt_label *l = label_find(d, label, label_len);
    return l == NULL ? 1 : l->assigned + 1;
}

int kw_kt_dir_label_vrf(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                        uint8_t proof[static KW_VRF_PROOFBYTES])
{
    if (label == NULL || label_len == 0 || label_len > KW_KT_LABEL_MAXBYTES)
        return KW_ERR_INVALID_ARG;
    const kt_label *l = label_find(d, label, label_len);
    if (l == NULL || !l->has_proof)
        return KW_ERR_NOT_FOUND;
    memcpy(proof, l->vrf_proof, KW_VRF_PROOFBYTES);
    return KW_OK;
}

int kw_kt_dir_restore_label(kw_kt_dir *d, const uint8_t *label, size_t label_len,
                            const uint8_t proof[static KW_VRF_PROOFBYTES])
{
    uint8_t alpha[KT_ALPHA_MAXBYTES], beta[KW_VRF_OUTPUTBYTES];
    kt_label *l = NULL;
    int r;
    if (d->broken || d->batch_open || label == NULL || label_len == 0)
        return KW_ERR_INVALID_ARG;
    if (label_len > KW_KT_LABEL_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    /* The stored proof is checked, not trusted: a proof for another label
     * (or a damaged one) would index the label wrongly. */
    size_t n = kt_alpha(alpha, label, label_len);
    if (kw_vrf_verify(beta, TAI, d->vrf_pk, proof, alpha, n) != KW_OK)
        return KW_ERR_VERIFY;
    if ((r = label_get_or_add(d, label, label_len, &l)) != KW_OK)
        return r;
    if (l->has_beta && memcmp(l->beta, beta, KT_PREFIXBYTES) != 0)
        return KW_ERR_VERIFY;
    memcpy(l->beta, beta, KT_PREFIXBYTES);
    memcpy(l->vrf_proof, proof, KW_VRF_PROOFBYTES);
    if (l->nver > 0 && !l->has_proof)
        d->missing--;
    l->has_beta = 1;
    l->has_proof = 1;
    return KW_OK;
}

size_t kw_kt_batch_size(const kw_kt_batch *b)
{
    return b->n;
}

int kw_kt_batch_entry(const kw_kt_batch *b, size_t i, const uint8_t **label, size_t *label_len,
                      uint32_t *version)
{
    if (i >= b->n)
        return KW_ERR_INVALID_ARG;
    *label = b->e[i].p.lab->label;
    *label_len = b->e[i].p.lab->label_len;
    *version = b->e[i].p.version;
    return KW_OK;
}

/* ---- publishing ---- */

int kw_kt_dir_batch_begin(kw_kt_dir *d, size_t max_updates, kw_kt_batch **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (d->broken || d->batch_open)
        return KW_ERR_INVALID_ARG;
    size_t take = d->npend;
    if (max_updates != 0 && take > max_updates)
        take = max_updates;
    if (take > KW_KT_EPOCH_MAXUPDATES)
        take = KW_KT_EPOCH_MAXUPDATES;
    kw_kt_batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return KW_ERR_NOMEM;
    if (take > 0 && (b->e = calloc(take, sizeof(kt_bentry))) == NULL) {
        free(b);
        return KW_ERR_NOMEM;
    }
    if (take > 0) {
        for (size_t i = 0; i < take; i++)
            b->e[i].p = d->pend[i]; /* transferred */
        memmove(d->pend, d->pend + take, (d->npend - take) * sizeof(kt_pending));
        d->npend -= take;
    }
    b->d = d;
    b->n = take;
    d->batch_open = 1;
    *out = b;
    *n = take;
    return KW_OK;
}

/* Puts a batch's updates back at the head of the queue and frees it. */
static void batch_return(kw_kt_dir *d, kw_kt_batch **bp)
{
    kw_kt_batch *b = *bp;
    if (b == NULL)
        return;
    /* The queue cannot have grown while the batch was open, so its capacity
     * still holds these entries. */
    if (b->n > 0) {
        memmove(d->pend + b->n, d->pend, d->npend * sizeof(kt_pending));
        for (size_t i = 0; i < b->n; i++)
            d->pend[i] = b->e[i].p;
        d->npend += b->n;
    }
    if (b->e != NULL)
        sodium_memzero(b->e, b->n * sizeof(kt_bentry));
    free(b->e);
    free(b);
    *bp = NULL;
    d->batch_open = 0;
}

void kw_kt_dir_batch_abort(kw_kt_dir *d, kw_kt_batch **b)
{
    if (b != NULL && *b != NULL)
        batch_return(d, b);
}

/* The opening of (label, version): random, or keyed BLAKE2b under the
 * directory's opening key so a restart can derive it again. */
static void opening_of(const kw_kt_dir *d, const kt_label *l, uint32_t version,
                       uint8_t out[static KW_COMMIT_OPENINGBYTES])
{
    if (d->opening_key == NULL) {
        kw_commit_opening_new(out);
        return;
    }
    crypto_generichash_state st;
    uint8_t hdr[6];
    kt_be_put(hdr, l->label_len, 2);
    kt_be_put(hdr + 2, version, 4);
    crypto_generichash_init(&st, d->opening_key, KW_KT_OPENING_KEYBYTES, KW_COMMIT_OPENINGBYTES);
    crypto_generichash_update(&st, (const uint8_t *)"keyward/kt/opening/v1", 21);
    crypto_generichash_update(&st, hdr, 2);
    crypto_generichash_update(&st, l->label, l->label_len);
    crypto_generichash_update(&st, hdr + 2, 4);
    crypto_generichash_final(&st, out, KW_COMMIT_OPENINGBYTES);
    sodium_memzero(&st, sizeof(st));
}

static int batch_index(kw_kt_batch *b, size_t from, size_t to, int prove)
{
    uint8_t alpha[KT_ALPHA_MAXBYTES], beta[KW_VRF_OUTPUTBYTES];
    int r = KW_OK;
    if (from > to || to > b->n)
        return KW_ERR_INVALID_ARG;
    const kw_kt_dir *d = b->d;
    for (size_t i = from; i < to; i++) {
        kt_bentry *e = &b->e[i];
        const kt_label *l = e->p.lab;
        if (l->has_beta) {
            /* One VRF per label: later versions reuse its output. */
            memcpy(e->beta, l->beta, KT_PREFIXBYTES);
        } else {
            size_t n = kt_alpha(alpha, l->label, l->label_len);
            if (prove) {
                /* The proof gives the output too: no separate evaluation. */
                if ((r = kw_vrf_prove(e->proof, TAI, d->vrf_sk, alpha, n)) != KW_OK ||
                    (r = kw_vrf_proof_to_hash(beta, TAI, e->proof)) != KW_OK)
                    break;
                e->has_proof = 1;
            } else if ((r = kw_vrf_evaluate(beta, TAI, d->vrf_sk, alpha, n)) != KW_OK) {
                break;
            }
            memcpy(e->beta, beta, KT_PREFIXBYTES);
            e->has_beta = 1;
        }
        kt_index_make(e->index, e->beta, e->p.version);
        opening_of(d, l, e->p.version, e->opening);
        if ((r = kw_commit_compute(e->commitment, e->opening, l->label, l->label_len,
                                   e->p.version, e->p.value, e->p.value_len)) != KW_OK)
            break;
        e->indexed = 1;
    }
    sodium_memzero(beta, sizeof(beta));
    return r;
}

int kw_kt_batch_index(kw_kt_batch *b, size_t from, size_t to)
{
    return batch_index(b, from, to, 0);
}

int kw_kt_batch_index_proven(kw_kt_batch *b, size_t from, size_t to)
{
    return batch_index(b, from, to, 1);
}

int kw_kt_batch_prove(kw_kt_batch *b, size_t from, size_t to)
{
    uint8_t alpha[KT_ALPHA_MAXBYTES];
    int r = KW_OK;
    if (from > to || to > b->n)
        return KW_ERR_INVALID_ARG;
    const kw_kt_dir *d = b->d;
    for (size_t i = from; i < to; i++) {
        kt_bentry *e = &b->e[i];
        const kt_label *l = e->p.lab;
        if (l->has_proof || e->has_proof)
            continue;
        size_t n = kt_alpha(alpha, l->label, l->label_len);
        if ((r = kw_vrf_prove(e->proof, TAI, d->vrf_sk, alpha, n)) != KW_OK)
            break;
        e->has_proof = 1;
    }
    return r;
}

int kw_kt_dir_batch_commit(kw_kt_dir *d, kw_kt_batch **bp, uint64_t timestamp, kw_kt_head *head)
{
    int r = KW_ERR_INTERNAL;
    kw_kt_batch *b = *bp;
    uint8_t root[KW_KT_HASHBYTES], leaf[KW_KT_LOG_LEAFBYTES];
    kw_kt_head h;
    memset(head, 0, sizeof(*head));
    if (b == NULL || b->d != d)
        return KW_ERR_INVALID_ARG;
    if (d->broken) {
        r = KW_ERR_INVALID_ARG;
        goto fail;
    }
    if (d->nep > 0 && timestamp < d->ep[d->nep - 1].head.timestamp) {
        r = KW_ERR_INVALID_ARG;
        goto fail;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (!b->e[i].indexed) {
            r = KW_ERR_INVALID_ARG;
            goto fail;
        }
    }
    /* Reserve everything first, so nothing after the tree update can fail
     * for lack of memory except the log append and the signature. */
    if ((r = grow((void **)&d->ep, &d->ep_cap, d->nep + 1, sizeof(kt_epoch), 64)) != KW_OK ||
        (r = grow((void **)&d->ins, &d->ins_cap, d->nins + b->n + 1, sizeof(kw_prefix_entry),
                  1024)) != KW_OK)
        goto fail;
    for (size_t i = 0; i < b->n; i++) {
        kt_label *l = b->e[i].p.lab;
        size_t c = l->cap;
        void *v = l->ver;
        if ((r = grow(&v, &c, b->e[i].p.version, sizeof(kt_ver), 2)) != KW_OK)
            goto fail;
        l->ver = v;
        l->cap = (uint32_t)c;
    }
    kw_prefix_entry *ent = &d->ins[d->nins];
    for (size_t i = 0; i < b->n; i++) {
        memcpy(ent[i].index, b->e[i].index, KW_KT_INDEXBYTES);
        memcpy(ent[i].commitment, b->e[i].commitment, KW_COMMIT_BYTES);
    }
    uint64_t e = d->nep;
    r = kw_prefix_update(&d->st, e == 0 ? KW_PREFIX_NO_EPOCH : e - 1, e, ent, b->n, root, NULL);
    if (r != KW_OK)
        goto fail;
    /* From here on the tree has epoch e: a failure leaves the directory
     * unusable rather than inconsistent. */
    kw_kt_log_leaf(leaf, e, root, timestamp);
    memset(&h, 0, sizeof(h));
    h.epoch = e;
    h.log_size = e + 1;
    memcpy(h.prefix_root, root, sizeof(root));
    h.timestamp = timestamp;
    if ((r = kw_log_tree_append_data(d->log, leaf, sizeof(leaf))) != KW_OK) {
        d->broken = 1;
        r = KW_ERR_INTERNAL;
        goto fail;
    }
    kw_log_tree_root(d->log, h.log_root);
    if ((r = kw_kt_head_sign(&h, d->log_key)) != KW_OK) {
        d->broken = 1;
        r = KW_ERR_INTERNAL;
        goto fail;
    }
    d->ep[d->nep].head = h;
    d->ep[d->nep].ins_first = d->nins;
    d->ep[d->nep].ins_n = b->n;
    d->nep++;
    d->nins += b->n;
    for (size_t i = 0; i < b->n; i++) {
        kt_bentry *be = &b->e[i];
        kt_label *l = be->p.lab;
        kt_ver *v = &l->ver[l->nver];
        v->epoch = e;
        memcpy(v->index, be->index, KW_KT_INDEXBYTES);
        memcpy(v->opening, be->opening, KW_COMMIT_OPENINGBYTES);
        memcpy(v->commitment, be->commitment, KW_COMMIT_BYTES);
        v->value = be->p.value; /* transferred */
        v->value_len = be->p.value_len;
        be->p.value = NULL;
        if (l->nver == 0 && !l->has_proof)
            d->missing++; /* a new label: no VRF proof yet */
        l->nver++;
        if (!l->has_beta) {
            memcpy(l->beta, be->beta, KT_PREFIXBYTES);
            l->has_beta = 1;
        }
        if (be->has_proof && !l->has_proof) {
            memcpy(l->vrf_proof, be->proof, KW_VRF_PROOFBYTES);
            l->has_proof = 1;
            d->missing--;
        }
        d->nversions++;
        d->value_bytes += v->value_len;
    }
    sodium_memzero(b->e, b->n * sizeof(kt_bentry));
    free(b->e);
    free(b);
    *bp = NULL;
    d->batch_open = 0;
    *head = h;
    return KW_OK;
fail:
    if (d->broken) {
        for (size_t i = 0; i < b->n; i++)
            free(b->e[i].p.value);
        b->n = 0;
    }
    batch_return(d, bp);
    return r;
}

int kw_kt_dir_publish(kw_kt_dir *d, uint64_t timestamp, kw_kt_head *head)
{
    kw_kt_batch *b = NULL;
    size_t n = 0;
    int r;
    memset(head, 0, sizeof(*head));
    if ((r = kw_kt_dir_batch_begin(d, 0, &b, &n)) != KW_OK)
        return r;
    if ((r = kw_kt_batch_index_proven(b, 0, n)) != KW_OK) {
        batch_return(d, &b);
        return r;
    }
    return kw_kt_dir_batch_commit(d, &b, timestamp, head);
}

int kw_kt_dir_prove_missing(kw_kt_dir *d, size_t *computed)
{
    uint8_t alpha[KT_ALPHA_MAXBYTES];
    size_t done = 0;
    int r = KW_OK;
    if (computed != NULL)
        *computed = 0;
    if (d->batch_open)
        return KW_ERR_INVALID_ARG;
    for (size_t t = 0; t < d->tab_cap; t++) {
        kt_label *l = d->tab[t];
        if (l == NULL || l->nver == 0 || l->has_proof)
            continue;
        size_t n = kt_alpha(alpha, l->label, l->label_len);
        if ((r = kw_vrf_prove(l->vrf_proof, TAI, d->vrf_sk, alpha, n)) != KW_OK)
            break;
        l->has_proof = 1;
        d->missing--;
        done++;
    }
    if (computed != NULL)
        *computed = done;
    return r;
}

/* ---- reads ---- */

int kw_kt_dir_head(const kw_kt_dir *d, kw_kt_head *head)
{
    memset(head, 0, sizeof(*head));
    if (d->nep == 0)
        return KW_ERR_NOT_FOUND;
    *head = d->ep[d->nep - 1].head;
    return KW_OK;
}

int kw_kt_dir_head_at(const kw_kt_dir *d, uint64_t epoch, kw_kt_head *head)
{
    memset(head, 0, sizeof(*head));
    if (epoch >= d->nep)
        return KW_ERR_NOT_FOUND;
    *head = d->ep[epoch].head;
    return KW_OK;
}

/* Head section: head ‖ log inclusion proof of its leaf ‖ u8 flag ‖
 * [u64 old_size ‖ log consistency proof]. */
static int put_head_section(const kw_kt_dir *d, const kw_kt_head *h, uint64_t client_log_size,
                            kw_buf *out)
{
    kw_log_reader rd;
    kw_log_proof p = {0};
    int r;
    if (client_log_size > h->log_size)
        return KW_ERR_INVALID_ARG;
    kw_log_tree_reader(d->log, &rd);
    if ((r = kt_head_put(out, h)) != KW_OK)
        return r;
    if ((r = kw_log_inclusion_prove(&rd, h->epoch, h->log_size, &p)) != KW_OK ||
        (r = kw_log_proof_put(out, &p)) != KW_OK)
        return r;
    if (client_log_size == 0 || client_log_size == h->log_size)
        return kw_buf_put_u8(out, 0);
    if ((r = kw_log_consistency_prove(&rd, client_log_size, h->log_size, &p)) != KW_OK ||
        (r = kw_buf_put_u8(out, 1)) != KW_OK || (r = kw_buf_put_u64(out, client_log_size)) != KW_OK ||
        (r = kw_log_proof_put(out, &p)) != KW_OK)
        return r;
    return KW_OK;
}

/* The VRF proof of label and the indices' prefix: stored, or computed now. */
static int vrf_of(const kw_kt_dir *d, const kt_label *l, const uint8_t *label, size_t label_len,
                  uint8_t pi[static KW_VRF_PROOFBYTES], uint8_t beta[static KT_PREFIXBYTES])
{
    uint8_t alpha[KT_ALPHA_MAXBYTES], out[KW_VRF_OUTPUTBYTES];
    int r;
    if (l != NULL && l->has_proof) {
        memcpy(pi, l->vrf_proof, KW_VRF_PROOFBYTES);
        memcpy(beta, l->beta, KT_PREFIXBYTES);
        return KW_OK;
    }
    size_t n = kt_alpha(alpha, label, label_len);
    if ((r = kw_vrf_prove(pi, TAI, d->vrf_sk, alpha, n)) != KW_OK ||
        (r = kw_vrf_proof_to_hash(out, TAI, pi)) != KW_OK)
        return r;
    memcpy(beta, out, KT_PREFIXBYTES);
    return KW_OK;
}

/* A proof chain within one response: each prefix proof shares its top
 * levels with the previous one. */
typedef struct {
    kw_prefix_proof pp[2];
    uint8_t idx[2][KW_KT_INDEXBYTES];
    int cur;  /* pp[cur] is the newest */
    int have; /* a previous proof exists */
} pchain;

/* Proof of a present version: opening ‖ u32 len ‖ value ‖ shared prefix
 * membership proof at epoch. */
static int put_member(const kw_kt_dir *d, const kt_label *l, uint32_t version, uint64_t epoch,
                      kw_buf *out, pchain *ch)
{
    const kt_ver *v = &l->ver[version - 1];
    int nx = ch->have ? 1 - ch->cur : ch->cur, r;
    kw_prefix_proof *pp = &ch->pp[nx];
    if ((r = kw_prefix_prove(&d->st, epoch, v->index, pp, NULL)) != KW_OK)
        return r;
    if (pp->result != KW_PREFIX_MEMBER)
        return KW_ERR_INTERNAL;
    if ((r = kw_buf_put(out, v->opening, KW_COMMIT_OPENINGBYTES)) != KW_OK ||
        (r = kw_buf_put_u32(out, v->value_len)) != KW_OK ||
        (r = kw_buf_put(out, v->value, v->value_len)) != KW_OK ||
        (r = kw_prefix_proof_put_shared(out, pp, ch->have ? &ch->pp[ch->cur] : NULL,
                                        ch->idx[ch->cur], v->index)) != KW_OK)
        return r;
    memcpy(ch->idx[nx], v->index, KW_KT_INDEXBYTES);
    ch->cur = nx;
    ch->have = 1;
    return KW_OK;
}

/* Proof of an absent version: the shared prefix non-membership proof, or
 * the single byte KT_ABSENT_SAME_LEAF when it ends at the previous proof's
 * member leaf (then it is that proof's path: nothing else to send). */
static int put_absent(const kw_kt_dir *d, const uint8_t beta[static KT_PREFIXBYTES],
                      uint32_t version, uint64_t epoch, kw_buf *out, pchain *ch)
{
    uint8_t index[KW_KT_INDEXBYTES];
    int nx = ch->have ? 1 - ch->cur : ch->cur, r;
    kw_prefix_proof *pp = &ch->pp[nx];
    kt_index_make(index, beta, version);
    if ((r = kw_prefix_prove(&d->st, epoch, index, pp, NULL)) != KW_OK)
        return r;
    if (pp->result == KW_PREFIX_MEMBER)
        return KW_ERR_INTERNAL;
    if (ch->have && pp->result == KW_PREFIX_ABSENT_LEAF &&
        memcmp(pp->leaf_index, ch->idx[ch->cur], KW_KT_INDEXBYTES) == 0)
        return kw_buf_put_u8(out, KT_ABSENT_SAME_LEAF);
    return kw_prefix_proof_put_shared(out, pp, ch->have ? &ch->pp[ch->cur] : NULL,
                                      ch->idx[ch->cur], index);
}

static int check_label(const uint8_t *label, size_t label_len)
{
    if (label == NULL || label_len == 0)
        return KW_ERR_INVALID_ARG;
    if (label_len > KW_KT_LABEL_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    return KW_OK;
}

int kw_kt_dir_search(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                     uint64_t client_log_size, kw_buf *out)
{
    int r;
    pchain *ch = NULL;
    uint8_t pi[KW_VRF_PROOFBYTES], beta[KT_PREFIXBYTES];
    if ((r = check_label(label, label_len)) != KW_OK)
        return r;
    if (d->nep == 0)
        return KW_ERR_NOT_FOUND;
    const kw_kt_head *h = &d->ep[d->nep - 1].head;
    const kt_label *l = label_find(d, label, label_len);
    uint32_t v = l == NULL ? 0 : l->nver;
    if ((ch = calloc(1, sizeof(*ch))) == NULL)
        return KW_ERR_NOMEM;
    if ((r = vrf_of(d, l, label, label_len, pi, beta)) != KW_OK ||
        (r = kw_buf_put_u8(out, KW_KT_RESP_SEARCH)) != KW_OK ||
        (r = put_head_section(d, h, client_log_size, out)) != KW_OK ||
        (r = kw_buf_put_u32(out, v)) != KW_OK || (r = kw_buf_put(out, pi, sizeof(pi))) != KW_OK)
        goto out;
    if (v > 0 && (r = put_member(d, l, v, h->epoch, out, ch)) != KW_OK)
        goto out;
    r = put_absent(d, beta, v + 1, h->epoch, out, ch);
out:
    free(ch);
    return r;
}

int kw_kt_dir_lookup(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                     uint32_t version, uint64_t client_log_size, kw_buf *out)
{
    int r;
    pchain *ch = NULL;
    uint8_t pi[KW_VRF_PROOFBYTES], beta[KT_PREFIXBYTES];
    if ((r = check_label(label, label_len)) != KW_OK)
        return r;
    if (d->nep == 0)
        return KW_ERR_NOT_FOUND;
    const kw_kt_head *h = &d->ep[d->nep - 1].head;
    const kt_label *l = label_find(d, label, label_len);
    if (l == NULL || version == 0 || version > l->nver)
        return KW_ERR_NOT_FOUND;
    if ((ch = calloc(1, sizeof(*ch))) == NULL)
        return KW_ERR_NOMEM;
    if ((r = vrf_of(d, l, label, label_len, pi, beta)) != KW_OK ||
        (r = kw_buf_put_u8(out, KW_KT_RESP_LOOKUP)) != KW_OK ||
        (r = put_head_section(d, h, client_log_size, out)) != KW_OK ||
        (r = kw_buf_put_u32(out, version)) != KW_OK || (r = kw_buf_put(out, pi, sizeof(pi))) != KW_OK)
        goto out;
    r = put_member(d, l, version, h->epoch, out, ch);
out:
    free(ch);
    return r;
}

int kw_kt_dir_monitor(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                      uint64_t since_epoch, uint32_t from_version, uint64_t client_log_size,
                      kw_buf *out)
{
    int r;
    pchain *ch = NULL;
    uint8_t pi[KW_VRF_PROOFBYTES], beta[KT_PREFIXBYTES];
    if ((r = check_label(label, label_len)) != KW_OK)
        return r;
    if (d->nep == 0)
        return KW_ERR_NOT_FOUND;
    const kw_kt_head *h = &d->ep[d->nep - 1].head;
    const kt_label *l = label_find(d, label, label_len);
    uint32_t nver = l == NULL ? 0 : l->nver;
    /* Versions are published in order, so their epochs are sorted. */
    uint32_t lo = 0, hi = nver;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (l->ver[mid].epoch < since_epoch)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (from_version > 1 && lo < from_version - 1)
        lo = from_version - 1 < nver ? from_version - 1 : nver;
    uint32_t first = lo + 1, count = nver - lo;
    uint8_t more = 0;
    if (count > KW_KT_MONITOR_MAXVERSIONS) {
        count = KW_KT_MONITOR_MAXVERSIONS;
        more = 1;
    }
    if ((ch = calloc(1, sizeof(*ch))) == NULL)
        return KW_ERR_NOMEM;
    if ((r = vrf_of(d, l, label, label_len, pi, beta)) != KW_OK ||
        (r = kw_buf_put_u8(out, KW_KT_RESP_MONITOR)) != KW_OK ||
        (r = put_head_section(d, h, client_log_size, out)) != KW_OK ||
        (r = kw_buf_put_u32(out, first)) != KW_OK || (r = kw_buf_put_u16(out, (uint16_t)count)) != KW_OK ||
        (r = kw_buf_put_u8(out, more)) != KW_OK || (r = kw_buf_put(out, pi, sizeof(pi))) != KW_OK)
        goto out;
    for (uint32_t i = 0; i < count; i++)
        if ((r = put_member(d, l, first + i, h->epoch, out, ch)) != KW_OK)
            goto out;
    if (!more)
        r = put_absent(d, beta, first + count, h->epoch, out, ch);
out:
    free(ch);
    return r;
}

int kw_kt_dir_consistency(const kw_kt_dir *d, uint64_t old_epoch, uint64_t new_epoch, kw_buf *out)
{
    kw_log_reader rd;
    kw_log_proof p = {0};
    int r;
    if (d->nep == 0)
        return KW_ERR_NOT_FOUND;
    if (new_epoch == UINT64_MAX)
        new_epoch = d->nep - 1;
    if (old_epoch >= d->nep || new_epoch >= d->nep)
        return KW_ERR_NOT_FOUND;
    if (old_epoch > new_epoch)
        return KW_ERR_INVALID_ARG;
    const kw_kt_head *ho = &d->ep[old_epoch].head, *hn = &d->ep[new_epoch].head;
    kw_log_tree_reader(d->log, &rd);
    if ((r = kw_log_consistency_prove(&rd, ho->log_size, hn->log_size, &p)) != KW_OK)
        return r;
    if ((r = kw_buf_put_u8(out, KW_KT_RESP_CONSISTENCY)) != KW_OK ||
        (r = kt_head_put(out, ho)) != KW_OK || (r = kt_head_put(out, hn)) != KW_OK ||
        (r = kw_log_proof_put(out, &p)) != KW_OK)
        return r;
    return KW_OK;
}

int kw_kt_dir_insertions(const kw_kt_dir *d, uint64_t epoch, kw_buf *out)
{
    static const uint8_t empty_root[KW_KT_HASHBYTES] = {0};
    int r;
    if (epoch >= d->nep)
        return KW_ERR_NOT_FOUND;
    const kt_epoch *e = &d->ep[epoch];
    const uint8_t *before = epoch == 0 ? empty_root : d->ep[epoch - 1].head.prefix_root;
    if ((r = kw_buf_put_u8(out, KW_KT_RESP_INSERTIONS)) != KW_OK ||
        (r = kt_head_put(out, &e->head)) != KW_OK || (r = kw_buf_put(out, before, 32)) != KW_OK ||
        (r = kw_buf_put_u32(out, (uint32_t)e->ins_n)) != KW_OK)
        return r;
    for (size_t i = 0; i < e->ins_n; i++) {
        const kw_prefix_entry *en = &d->ins[e->ins_first + i];
        if ((r = kw_buf_put(out, en->index, KW_KT_INDEXBYTES)) != KW_OK ||
            (r = kw_buf_put(out, en->commitment, KW_COMMIT_BYTES)) != KW_OK)
            return r;
    }
    return KW_OK;
}

void kw_kt_dir_stats_get(const kw_kt_dir *d, kw_kt_dir_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->labels = d->nlabels;
    st->versions = d->nversions;
    st->epochs = d->nep;
    st->proofs_missing = d->missing;
    /* per version: epoch, index, opening, commitment, value; plus the
     * insertion-list entry (index, commitment); per label: VRF output
     * prefix and proof. */
    st->record_bytes = d->nversions * (8 + 32 + 32 + 32 + 4 + 64) + d->value_bytes +
                       d->nlabels * (KT_PREFIXBYTES + KW_VRF_PROOFBYTES);
    if (d->ms != NULL)
        kw_prefix_memstore_stats_get(d->ms, &st->tree);
}
