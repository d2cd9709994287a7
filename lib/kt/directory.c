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

/* A published version: 24 bytes. Its index is index(beta, v) and, with an
 * opening key, its opening is derived again when a proof is served; with
 * random openings the opening is kept in the first OPENING_ROOM bytes of
 * the value's buffer (reserved when the update was queued). The
 * commitment lives in the insertion list. */
typedef struct {
    uint64_t epoch;
    uint8_t *value; /* [opening (random openings only)] ‖ value */
    uint32_t value_len;
} kt_ver;

#define OPENING_ROOM(d) ((d)->opening_key == NULL ? (size_t)KW_COMMIT_OPENINGBYTES : 0)

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
    uint8_t lab_proven; /* the label had its VRF proof at begin */
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
    /* Open batches, oldest first (at most two: a publisher may index the
     * next epoch while it commits one). open_n: their entries, for which
     * the queue keeps room; hold: the older one failed and went back to
     * the queue while the younger was open, which must then go back right
     * after it (at hold_pos) before anything begins. */
    kw_kt_batch *open[2];
    size_t open_n, hold_pos;
    int hold;
    kt_label **unproven; /* published labels without a VRF proof, oldest first */
    size_t unp_first, unp_n, unp_cap;
    uint8_t hkey[crypto_shorthash_KEYBYTES];
    uint8_t *opening_key; /* sodium_malloc'd; NULL: random openings */
    int broken, batch_open; /* batch_open: the number of open batches */
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

static void label_free(kt_label *l, size_t room)
{
    for (uint32_t i = 0; i < l->nver; i++) {
        sodium_memzero(l->ver[i].value, room); /* a random opening: secret until served */
        free(l->ver[i].value);
    }
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
            label_free(d->tab[i], OPENING_ROOM(d));
    free(d->tab);
    for (size_t i = 0; i < d->npend; i++)
        free(d->pend[i].value);
    free(d->pend);
    for (int i = 0; i < d->batch_open; i++) { /* batches left open */
        kw_kt_batch *b = d->open[i];
        for (size_t k = 0; k < b->n; k++)
            free(b->e[k].p.value);
        if (b->e != NULL)
            sodium_memzero(b->e, b->n * sizeof(kt_bentry));
        free(b->e);
        free(b);
    }
    free(d->unproven);
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
    if (d->broken)
        return KW_ERR_INVALID_ARG;
    if (label == NULL || label_len == 0 || (value == NULL && value_len != 0))
        return KW_ERR_INVALID_ARG;
    if (label_len > KW_KT_LABEL_MAXBYTES || value_len > KW_KT_VALUE_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    if (d->npend >= QUEUE_MAX)
        return KW_ERR_LIMIT;
    /* Room for an open batch's entries too, should it be aborted. */
    if ((r = grow((void **)&d->pend, &d->pend_cap, d->npend + 1 + d->open_n, sizeof(kt_pending),
                  64)) != KW_OK)
        return r;
    /* With random openings the buffer keeps room for the opening in front. */
    size_t room = OPENING_ROOM(d);
    if ((copy = malloc(room + (value_len == 0 ? 1 : value_len))) == NULL)
        return KW_ERR_NOMEM;
    if (value_len > 0)
        memcpy(copy + room, value, value_len);
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
    if (d->broken || d->batch_open >= 2 || d->hold)
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
        for (size_t i = 0; i < take; i++) {
            kt_bentry *e = &b->e[i];
            e->p = d->pend[i]; /* transferred */
            /* What indexing needs of the label, copied now: an older open
             * batch's commit may write the label while this one is
             * indexed (a label new in both computes its VRF twice). */
            if (e->p.lab->has_beta) {
                memcpy(e->beta, e->p.lab->beta, KT_PREFIXBYTES);
                e->has_beta = 1;
            }
            e->lab_proven = e->p.lab->has_proof;
        }
        memmove(d->pend, d->pend + take, (d->npend - take) * sizeof(kt_pending));
        d->npend -= take;
    }
    b->d = d;
    b->n = take;
    d->open[d->batch_open++] = b;
    d->open_n += take;
    *out = b;
    *n = take;
    return KW_OK;
}

/* Which open batch b is: 0 (oldest), 1, or -1 for none of this
 * directory's. */
static int open_slot(const kw_kt_dir *d, const kw_kt_batch *b)
{
    for (int i = 0; i < d->batch_open; i++)
        if (d->open[i] == b)
            return i;
    return -1;
}

/* Forgets open batch b (slot i) and frees it. */
static void batch_close(kw_kt_dir *d, kw_kt_batch **bp, int i)
{
    kw_kt_batch *b = *bp;
    d->open_n -= b->n;
    if (i == 0 && d->batch_open == 2)
        d->open[0] = d->open[1];
    d->open[--d->batch_open] = NULL;
    if (b->e != NULL)
        sodium_memzero(b->e, b->n * sizeof(kt_bentry));
    free(b->e);
    free(b);
    *bp = NULL;
}

/* Puts a batch's updates back into the queue, in version order, and frees
 * it: at the front, except that a younger batch whose older one went back
 * first goes right after the older one's updates. */
static void batch_return(kw_kt_dir *d, kw_kt_batch **bp)
{
    kw_kt_batch *b = *bp;
    if (b == NULL)
        return;
    int i = open_slot(d, b);
    size_t at = 0;
    if (d->hold) {
        at = d->hold_pos; /* b is the younger: the older went back first */
        d->hold = 0;
    } else if (i == 0 && d->batch_open == 2) {
        d->hold = 1; /* nothing may begin before the younger is back too */
        d->hold_pos = b->n;
    }
    /* Updates queued while batches were open kept room for their entries
     * (kw_kt_dir_update reserves open_n), so the capacity holds them. */
    if (b->n > 0) {
        memmove(d->pend + at + b->n, d->pend + at, (d->npend - at) * sizeof(kt_pending));
        for (size_t k = 0; k < b->n; k++)
            d->pend[at + k] = b->e[k].p;
        d->npend += b->n;
    }
    batch_close(d, bp, i);
}

void kw_kt_dir_batch_abort(kw_kt_dir *d, kw_kt_batch **b)
{
    if (b != NULL && *b != NULL && open_slot(d, *b) >= 0)
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
        const kt_label *l = e->p.lab; /* only its bytes: see batch_begin */
        /* One VRF per label: later versions reuse its output (copied at
         * begin). */
        if (!e->has_beta) {
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
                                   e->p.version, e->p.value + OPENING_ROOM(d),
                                   e->p.value_len)) != KW_OK)
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
        if (e->lab_proven || e->has_proof)
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
    if (b == NULL || b->d != d || open_slot(d, b) != 0)
        return KW_ERR_INVALID_ARG; /* not the oldest open batch: untouched */
    if (d->broken || d->hold) {
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
    if (d->unp_first > 0) {
        memmove(d->unproven, d->unproven + d->unp_first, d->unp_n * sizeof(kt_label *));
        d->unp_first = 0;
    }
    if ((r = grow((void **)&d->unproven, &d->unp_cap, d->unp_n + b->n, sizeof(kt_label *), 64)) !=
        KW_OK)
        goto fail;
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
        if (d->opening_key == NULL)
            memcpy(be->p.value, be->opening, KW_COMMIT_OPENINGBYTES);
        v->value = be->p.value; /* transferred */
        v->value_len = be->p.value_len;
        be->p.value = NULL;
        int fresh = l->nver == 0 && !l->has_proof;
        if (fresh)
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
        if (fresh && !l->has_proof)
            d->unproven[d->unp_n++] = l; /* for kw_kt_dir_proofs_begin */
        d->nversions++;
        d->value_bytes += v->value_len;
    }
    /* Every response proves against the newest epoch only, so the nodes
     * that only older epochs reach can go (bounded memory). A failure here
     * (no memory for the free list) keeps them for the next epoch. */
    if (d->ms != NULL)
        (void)kw_prefix_memstore_prune(d->ms, e);
    batch_close(d, bp, 0);
    *head = h;
    return KW_OK;
fail:
    if (d->broken) {
        for (size_t i = 0; i < b->n; i++)
            free(b->e[i].p.value);
        d->open_n -= b->n;
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
    if (d->batch_open > 0)
        return KW_ERR_INVALID_ARG; /* it would not be the oldest open batch */
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

/* ---- background VRF proofs ---- */

typedef struct {
    kt_label *lab;
    uint8_t proof[KW_VRF_PROOFBYTES];
    uint8_t done;
} kt_pentry;

struct kw_kt_proofs {
    kw_kt_dir *d;
    size_t n;
    kt_pentry *e;
};

int kw_kt_dir_proofs_begin(kw_kt_dir *d, size_t max, kw_kt_proofs **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (d->broken)
        return KW_ERR_INVALID_ARG;
    /* Labels proven since they were listed (restore, a proven batch,
     * kw_kt_dir_prove_missing) are dropped from the front on the way. */
    size_t take = 0, scan = 0;
    while (scan < d->unp_n && (max == 0 || take < max)) {
        if (!d->unproven[d->unp_first + scan]->has_proof)
            take++;
        scan++;
    }
    kw_kt_proofs *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return KW_ERR_NOMEM;
    if (take > 0 && (p->e = calloc(take, sizeof(kt_pentry))) == NULL) {
        free(p);
        return KW_ERR_NOMEM;
    }
    for (size_t i = 0, k = 0; i < scan; i++) {
        kt_label *l = d->unproven[d->unp_first + i];
        if (!l->has_proof)
            p->e[k++].lab = l;
    }
    d->unp_first += scan;
    d->unp_n -= scan;
    p->d = d;
    p->n = take;
    *out = p;
    *n = take;
    return KW_OK;
}

int kw_kt_proofs_compute(kw_kt_proofs *p, size_t from, size_t to)
{
    uint8_t alpha[KT_ALPHA_MAXBYTES];
    int r = KW_OK;
    if (p == NULL || from > to || to > p->n)
        return KW_ERR_INVALID_ARG;
    for (size_t i = from; i < to && r == KW_OK; i++) {
        kt_pentry *e = &p->e[i];
        /* Only the label's bytes, fixed since it was created, are read. */
        size_t n = kt_alpha(alpha, e->lab->label, e->lab->label_len);
        if ((r = kw_vrf_prove(e->proof, TAI, p->d->vrf_sk, alpha, n)) == KW_OK)
            e->done = 1;
    }
    return r;
}

size_t kw_kt_proofs_size(const kw_kt_proofs *p)
{
    return p == NULL ? 0 : p->n;
}

int kw_kt_proofs_entry(const kw_kt_proofs *p, size_t i, const uint8_t **label, size_t *label_len,
                       const uint8_t **proof)
{
    if (p == NULL || i >= p->n || !p->e[i].done)
        return KW_ERR_INVALID_ARG;
    *label = p->e[i].lab->label;
    *label_len = p->e[i].lab->label_len;
    *proof = p->e[i].proof;
    return KW_OK;
}

int kw_kt_dir_proofs_commit(kw_kt_dir *d, kw_kt_proofs **pp, size_t *stored)
{
    kw_kt_proofs *p = pp != NULL ? *pp : NULL;
    size_t k = 0;
    int r = KW_OK;
    if (stored != NULL)
        *stored = 0;
    if (p == NULL || p->d != d)
        return KW_ERR_INVALID_ARG;
    for (size_t i = 0; i < p->n; i++) {
        kt_pentry *e = &p->e[i];
        if (!e->done) {
            r = KW_ERR_INVALID_ARG; /* not computed: the label goes back on the list */
            continue;
        }
        if (e->lab->has_proof)
            continue;
        memcpy(e->lab->vrf_proof, e->proof, KW_VRF_PROOFBYTES);
        e->lab->has_proof = 1;
        if (e->lab->nver > 0)
            d->missing--;
        k++;
    }
    if (r != KW_OK) {
        /* Put the uncomputed ones back (room: they came off this list). */
        size_t back = 0;
        for (size_t i = 0; i < p->n; i++)
            back += !p->e[i].done && !p->e[i].lab->has_proof;
        if (d->unp_first + d->unp_n + back > d->unp_cap || d->unp_first < back) {
            if (grow((void **)&d->unproven, &d->unp_cap, d->unp_n + back, sizeof(kt_label *), 64) ==
                KW_OK) {
                memmove(d->unproven + back, d->unproven + d->unp_first,
                        d->unp_n * sizeof(kt_label *));
                d->unp_first = back;
            } else {
                back = 0; /* no memory: kw_kt_dir_prove_missing still finds them */
            }
        }
        for (size_t i = 0, j = 0; i < p->n && j < back; i++)
            if (!p->e[i].done && !p->e[i].lab->has_proof)
                d->unproven[d->unp_first - back + j++] = p->e[i].lab;
        d->unp_first -= back;
        d->unp_n += back;
    }
    if (stored != NULL)
        *stored = k;
    kw_kt_proofs_free(pp);
    return r;
}

void kw_kt_proofs_free(kw_kt_proofs **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    kw_kt_proofs *p = *pp;
    free(p->e);
    free(p);
    *pp = NULL;
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
    uint8_t index[KW_KT_INDEXBYTES], opening[KW_COMMIT_OPENINGBYTES];
    size_t room = OPENING_ROOM(d);
    kt_index_make(index, l->beta, version);
    if ((r = kw_prefix_prove(&d->st, epoch, index, pp, NULL)) != KW_OK)
        return r;
    if (pp->result != KW_PREFIX_MEMBER)
        return KW_ERR_INTERNAL;
    if (room > 0)
        memcpy(opening, v->value, KW_COMMIT_OPENINGBYTES);
    else
        opening_of(d, l, version, opening);
    if ((r = kw_buf_put(out, opening, KW_COMMIT_OPENINGBYTES)) != KW_OK ||
        (r = kw_buf_put_u32(out, v->value_len)) != KW_OK ||
        (r = kw_buf_put(out, v->value + room, v->value_len)) != KW_OK ||
        (r = kw_prefix_proof_put_shared(out, pp, ch->have ? &ch->pp[ch->cur] : NULL,
                                        ch->idx[ch->cur], index)) != KW_OK)
        return r;
    memcpy(ch->idx[nx], index, KW_KT_INDEXBYTES);
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

/* Append head section: head ‖ u64 m ‖ append proof of log leaves
 * [m, n - 1) (empty when m >= n - 1). */
static int put_append_section(const kw_kt_dir *d, const kw_kt_head *h, uint64_t m, kw_buf *out)
{
    kw_log_reader rd;
    kw_log_proof p = {0};
    int r;
    if (m == 0 || m > h->log_size)
        return KW_ERR_INVALID_ARG;
    kw_log_tree_reader(d->log, &rd);
    uint64_t end = m < h->log_size ? h->log_size - 1 : m;
    if ((r = kt_head_put(out, h)) != KW_OK || (r = kw_buf_put_u64(out, m)) != KW_OK ||
        (r = kw_log_append_prove(&rd, m, end, &p)) != KW_OK || (r = kw_log_proof_put(out, &p)) != KW_OK)
        return r;
    return KW_OK;
}

static int search_impl(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                       uint64_t client_log_size, int append, kw_buf *out);

int kw_kt_dir_search(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                     uint64_t client_log_size, kw_buf *out)
{
    return search_impl(d, label, label_len, client_log_size, 0, out);
}

int kw_kt_dir_search_append(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                            uint64_t client_log_size, kw_buf *out)
{
    return search_impl(d, label, label_len, client_log_size, 1, out);
}

static int search_impl(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                       uint64_t client_log_size, int append, kw_buf *out)
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
        (r = kw_buf_put_u8(out, append ? KW_KT_RESP_SEARCH_APPEND : KW_KT_RESP_SEARCH)) != KW_OK ||
        (r = append ? put_append_section(d, h, client_log_size, out)
                    : put_head_section(d, h, client_log_size, out)) != KW_OK ||
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
