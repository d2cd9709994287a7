/* The auditor: replays every epoch's insertion list, rebuilding the prefix
 * tree and the log, and checks each signed head against the replay. See
 * kt.h. Memory: the tree (pruned to the newest epoch when the auditor owns
 * it), the log's compact range and one epoch's list at a time. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/kt.h"
#include "kt/kt_dir_internal.h"

struct kw_kt_auditor {
    uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES];
    kw_prefix_memstore *ms; /* NULL when the caller supplied the store */
    kw_prefix_store st;
    uint64_t next;          /* the next epoch expected */
    kw_kt_head head;        /* the newest verified head (next > 0) */
    uint8_t root[KW_KT_HASHBYTES];
    kw_log_compact log;
    int failed;
    kw_kt_reason fail_why;
    uint64_t fail_epoch;
    kw_prefix_entry *ents;
    size_t ents_cap;
};

static int auditor_alloc(kw_kt_auditor **out, const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES],
                         const kw_prefix_store *store)
{
    int r;
    kw_kt_auditor *a = calloc(1, sizeof(*a));
    *out = NULL;
    if (a == NULL)
        return KW_ERR_NOMEM;
    memcpy(a->log_pk, log_pk, KW_SIGN_PUBLICKEYBYTES);
    if (store != NULL) {
        a->st = *store;
    } else {
        if ((r = kw_prefix_memstore_new(&a->ms)) != KW_OK) {
            free(a);
            return r;
        }
        kw_prefix_memstore_store(a->ms, &a->st);
    }
    kw_log_compact_init(&a->log);
    *out = a;
    return KW_OK;
}

int kw_kt_auditor_new(kw_kt_auditor **out, const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES],
                      const kw_prefix_store *store)
{
    return auditor_alloc(out, log_pk, store);
}

void kw_kt_auditor_free(kw_kt_auditor **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    kw_prefix_memstore_free(&(*ap)->ms);
    free((*ap)->ents);
    free(*ap);
    *ap = NULL;
}

uint64_t kw_kt_auditor_epochs(const kw_kt_auditor *a)
{
    return a->next;
}

int kw_kt_auditor_head(const kw_kt_auditor *a, kw_kt_head *head)
{
    memset(head, 0, sizeof(*head));
    if (a->next == 0)
        return KW_ERR_NOT_FOUND;
    *head = a->head;
    return KW_OK;
}

static int grow_entries(kw_kt_auditor *a, size_t n)
{
    if (n <= a->ents_cap)
        return KW_OK;
    kw_prefix_entry *e = realloc(a->ents, n * sizeof(*e));
    if (e == NULL)
        return KW_ERR_NOMEM;
    a->ents = e;
    a->ents_cap = n;
    return KW_OK;
}

void kw_kt_auditor_tree_stats(const kw_kt_auditor *a, kw_prefix_memstore_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (a->ms != NULL)
        kw_prefix_memstore_stats_get(a->ms, st);
}

static int audit_fail(kw_kt_auditor *a, kw_kt_reason *why, uint64_t *failed_epoch,
                      kw_kt_reason reason, uint64_t epoch)
{
    a->failed = 1;
    a->fail_why = reason;
    a->fail_epoch = epoch;
    *why = reason;
    *failed_epoch = epoch;
    return KW_ERR_VERIFY;
}

int kw_kt_auditor_feed(kw_kt_auditor *a, kw_kt_reason *why, uint64_t *failed_epoch,
                       const uint8_t *list, size_t list_len)
{
    kw_kt_head h;
    uint8_t root[KW_KT_HASHBYTES], leaf[KW_KT_HASHBYTES], log_root[KW_KT_HASHBYTES];
    int r;
    *why = KW_KT_OK;
    *failed_epoch = 0;
    if (a->failed) {
        *why = a->fail_why;
        *failed_epoch = a->fail_epoch;
        return KW_ERR_VERIFY;
    }
    /* Parse: kind ‖ head ‖ prefix root before ‖ u32 count ‖ entries. */
    *why = KW_KT_MALFORMED;
    size_t fixed = 1 + KW_KT_HEADBYTES + KW_KT_HASHBYTES + 4;
    if (list == NULL || list_len < fixed)
        return list == NULL ? KW_ERR_INVALID_ARG : KW_ERR_TRUNCATED;
    if (list[0] != KW_KT_RESP_INSERTIONS)
        return KW_ERR_FORMAT;
    if ((r = kw_kt_head_decode(&h, list + 1, KW_KT_HEADBYTES)) != KW_OK)
        return r;
    const uint8_t *before = list + 1 + KW_KT_HEADBYTES;
    size_t count = (size_t)kt_be_get(before + KW_KT_HASHBYTES, 4);
    if (count > KW_KT_EPOCH_MAXUPDATES)
        return KW_ERR_TOO_LARGE;
    size_t need = fixed + count * 64;
    if (list_len < need)
        return KW_ERR_TRUNCATED;
    if (list_len > need)
        return KW_ERR_FORMAT;
    *why = KW_KT_OK;
    uint64_t e = h.epoch;
    if (e != a->next) {
        /* Not the server's fault necessarily: the caller fed the wrong
         * list. Reported, but the auditor stays usable. */
        *why = KW_KT_AUDIT_OUT_OF_ORDER;
        *failed_epoch = a->next;
        return KW_ERR_VERIFY;
    }
    if (kw_kt_head_verify(&h, a->log_pk) != KW_OK)
        return audit_fail(a, why, failed_epoch, KW_KT_BAD_HEAD_SIGNATURE, e);
    if (!kw_ct_equal(before, a->root, KW_KT_HASHBYTES))
        return audit_fail(a, why, failed_epoch, KW_KT_AUDIT_PREFIX_MISMATCH, e);
    if (e > 0 && h.timestamp < a->head.timestamp)
        return audit_fail(a, why, failed_epoch, KW_KT_HEAD_ROLLBACK, e);
    if (count > 0 && (r = grow_entries(a, count)) != KW_OK)
        return r;
    const uint8_t *p = before + KW_KT_HASHBYTES + 4;
    for (size_t i = 0; i < count; i++) {
        memcpy(a->ents[i].index, p + 64 * i, KW_KT_INDEXBYTES);
        memcpy(a->ents[i].commitment, p + 64 * i + 32, KW_COMMIT_BYTES);
    }
    r = kw_prefix_update(&a->st, e == 0 ? KW_PREFIX_NO_EPOCH : e - 1, e, a->ents, count, root, NULL);
    if (r == KW_ERR_CONFLICT)
        return audit_fail(a, why, failed_epoch, KW_KT_AUDIT_DUPLICATE_INDEX, e);
    if (r != KW_OK)
        return r;
    if (!kw_ct_equal(root, h.prefix_root, KW_KT_HASHBYTES))
        return audit_fail(a, why, failed_epoch, KW_KT_AUDIT_PREFIX_MISMATCH, e);
    kw_log_compact c = a->log;
    kw_kt_log_leaf_hash(leaf, e, h.prefix_root, h.timestamp);
    if ((r = kw_log_compact_append(&c, leaf)) != KW_OK)
        return r;
    kw_log_compact_root(&c, log_root);
    if (c.size != h.log_size || !kw_ct_equal(log_root, h.log_root, KW_KT_HASHBYTES))
        return audit_fail(a, why, failed_epoch, KW_KT_AUDIT_LOG_MISMATCH, e);
    a->log = c;
    a->head = h;
    memcpy(a->root, root, sizeof(root));
    a->next = e + 1;
    if (a->ms != NULL && (r = kw_prefix_memstore_prune(a->ms, e)) != KW_OK)
        return r;
    return KW_OK;
}

int kw_kt_auditor_save(const kw_kt_auditor *a, uint8_t *out, size_t cap, size_t *out_len)
{
    *out_len = 0;
    size_t nodes = 0;
    for (unsigned k = 0; k < 64; k++)
        nodes += (a->log.size >> k) & 1;
    size_t need = 8 + KW_KT_HEADBYTES + KW_KT_HASHBYTES + 8 + nodes * 32;
    if (cap < need)
        return KW_ERR_TOO_LARGE;
    if (a->failed)
        return KW_ERR_INVALID_ARG;
    kt_be_put(out, a->next, 8);
    if (a->next > 0)
        kw_kt_head_encode(out + 8, &a->head);
    else
        memset(out + 8, 0, KW_KT_HEADBYTES);
    size_t o = 8 + KW_KT_HEADBYTES;
    memcpy(out + o, a->root, KW_KT_HASHBYTES);
    o += KW_KT_HASHBYTES;
    kt_be_put(out + o, a->log.size, 8);
    o += 8;
    for (unsigned k = 0; k < 64; k++) {
        if ((a->log.size >> k) & 1) {
            memcpy(out + o, a->log.node[k], 32);
            o += 32;
        }
    }
    *out_len = o;
    return KW_OK;
}

int kw_kt_auditor_resume(kw_kt_auditor **out,
                         const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES],
                         const kw_prefix_store *store, const uint8_t *state, size_t state_len)
{
    int r = KW_ERR_INTERNAL;
    kw_kt_auditor *a = NULL;
    uint8_t root[KW_KT_HASHBYTES], log_root[KW_KT_HASHBYTES];
    *out = NULL;
    if (store == NULL || state == NULL)
        return KW_ERR_INVALID_ARG;
    size_t fixed = 8 + KW_KT_HEADBYTES + KW_KT_HASHBYTES + 8;
    if (state_len < fixed)
        return KW_ERR_TRUNCATED;
    if ((r = auditor_alloc(&a, log_pk, store)) != KW_OK)
        return r;
    a->next = kt_be_get(state, 8);
    memcpy(a->root, state + 8 + KW_KT_HEADBYTES, KW_KT_HASHBYTES);
    a->log.size = kt_be_get(state + 8 + KW_KT_HEADBYTES + KW_KT_HASHBYTES, 8);
    size_t nodes = 0;
    for (unsigned k = 0; k < 64; k++)
        nodes += (a->log.size >> k) & 1;
    if (state_len < fixed + nodes * 32) {
        r = KW_ERR_TRUNCATED;
        goto out;
    }
    if (state_len > fixed + nodes * 32 || a->log.size != a->next) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    const uint8_t *p = state + fixed;
    for (unsigned k = 0; k < 64; k++) {
        if ((a->log.size >> k) & 1) {
            memcpy(a->log.node[k], p, 32);
            p += 32;
        }
    }
    if (a->next > 0) {
        if ((r = kw_kt_head_decode(&a->head, state + 8, KW_KT_HEADBYTES)) != KW_OK)
            goto out;
        kw_log_compact_root(&a->log, log_root);
        if (a->head.epoch != a->next - 1 || kw_kt_head_verify(&a->head, log_pk) != KW_OK ||
            !kw_ct_equal(a->head.prefix_root, a->root, 32) ||
            !kw_ct_equal(a->head.log_root, log_root, 32)) {
            r = KW_ERR_VERIFY;
            goto out;
        }
        if ((r = kw_prefix_root(&a->st, a->next - 1, root)) != KW_OK)
            goto out;
        if (!kw_ct_equal(root, a->root, 32)) {
            r = KW_ERR_VERIFY;
            goto out;
        }
    } else if (!kw_ct_is_zero(a->root, 32)) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    *out = a; /* transferred */
    a = NULL;
    r = KW_OK;
out:
    kw_kt_auditor_free(&a);
    return r;
}
