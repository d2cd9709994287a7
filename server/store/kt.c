/* The key-transparency domain of the store: argument checks and dispatch.
 * See store/kt.h. */
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/backend.h"
#include "store/kt.h"

static const struct kw_store_kt_ops *ops(kw_store *st)
{
    return st != NULL && st->ops != NULL ? st->ops->kt : NULL;
}

#define NEED_OPS(st)                                                                               \
    do {                                                                                           \
        if ((st) == NULL)                                                                          \
            return KW_ERR_INVALID_ARG;                                                             \
        if (ops(st) == NULL)                                                                       \
            return KW_ERR_UNSUPPORTED;                                                             \
    } while (0)

static int check_label(const uint8_t *label, size_t len)
{
    if (label == NULL || len == 0)
        return KW_ERR_INVALID_ARG;
    return len > KW_STORE_KT_LABEL_MAX ? KW_ERR_TOO_LARGE : KW_OK;
}

int kw_store_kt_enqueue(kw_store *st, const uint8_t *label, size_t label_len, uint32_t version,
                        const uint8_t *value, size_t value_len, int64_t now, uint64_t *seq)
{
    NEED_OPS(st);
    int r = check_label(label, label_len);
    if (r != KW_OK)
        return r;
    if (seq == NULL || version == 0 || (value == NULL && value_len != 0))
        return KW_ERR_INVALID_ARG;
    if (value_len > KW_STORE_KT_VALUE_MAX)
        return KW_ERR_TOO_LARGE;
    return ops(st)->enqueue(st, label, label_len, version, value, value_len, now, seq);
}

int kw_store_kt_enqueue_many(kw_store *st, size_t n, const uint8_t *const *labels,
                             const size_t *label_lens, const uint32_t *versions,
                             const uint8_t *const *values, const size_t *value_lens, int64_t now,
                             uint64_t *seqs)
{
    NEED_OPS(st);
    if (n == 0)
        return KW_OK;
    if (labels == NULL || label_lens == NULL || versions == NULL || values == NULL ||
        value_lens == NULL || seqs == NULL)
        return KW_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        int r = check_label(labels[i], label_lens[i]);
        if (r != KW_OK)
            return r;
        if (versions[i] == 0 || (values[i] == NULL && value_lens[i] != 0))
            return KW_ERR_INVALID_ARG;
        if (value_lens[i] > KW_STORE_KT_VALUE_MAX)
            return KW_ERR_TOO_LARGE;
    }
    return ops(st)->enqueue_many(st, n, labels, label_lens, versions, values, value_lens, now, seqs);
}

int kw_store_kt_epoch_commit(kw_store *st, uint64_t epoch, uint64_t timestamp,
                             const uint8_t head[KW_STORE_KT_HEADBYTES], uint64_t upto_seq, size_t n,
                             const kw_store_kt_label *labels, size_t nlabels)
{
    NEED_OPS(st);
    if (head == NULL || (nlabels > 0 && labels == NULL) || epoch > (uint64_t)INT64_MAX ||
        timestamp > (uint64_t)INT64_MAX || upto_seq > (uint64_t)INT64_MAX)
        return KW_ERR_INVALID_ARG;
    for (size_t i = 0; i < nlabels; i++) {
        int r = check_label(labels[i].label, labels[i].label_len);
        if (r != KW_OK)
            return r;
        if (labels[i].proof == NULL)
            return KW_ERR_INVALID_ARG;
    }
    return ops(st)->epoch_commit(st, epoch, timestamp, head, upto_seq, n, labels, nlabels);
}

int kw_store_kt_load(kw_store *st, const kw_store_kt_loader *ld)
{
    NEED_OPS(st);
    if (ld == NULL || ld->label == NULL || ld->update == NULL || ld->epoch == NULL)
        return KW_ERR_INVALID_ARG;
    return ops(st)->load(st, ld);
}

int kw_store_kt_auditor_put(kw_store *st, const uint8_t auditor_pk[32], uint64_t epoch,
                            const uint8_t rec[KW_STORE_KT_AUDITBYTES])
{
    NEED_OPS(st);
    if (auditor_pk == NULL || rec == NULL || epoch > (uint64_t)INT64_MAX)
        return KW_ERR_INVALID_ARG;
    return ops(st)->auditor_put(st, auditor_pk, epoch, rec);
}

int kw_store_kt_auditor_get(kw_store *st, const uint8_t auditor_pk[32],
                            uint8_t rec[KW_STORE_KT_AUDITBYTES])
{
    NEED_OPS(st);
    if (auditor_pk == NULL || rec == NULL)
        return KW_ERR_INVALID_ARG;
    return ops(st)->auditor_get(st, auditor_pk, rec);
}

int kw_store_kt_unqueued(kw_store *st, kw_store_kt_roster **out, size_t *n)
{
    if (out == NULL || n == NULL)
        return KW_ERR_INVALID_ARG;
    *out = NULL;
    *n = 0;
    NEED_OPS(st);
    if (ops(st)->unqueued == NULL)
        return KW_ERR_UNSUPPORTED;
    return ops(st)->unqueued(st, out, n);
}

void kw_store_kt_unqueued_free(kw_store_kt_roster *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(list[i].name);
        free(list[i].roster);
    }
    free(list);
}

/* ---- several nodes (issue 8) ---- */

int kw_store_kt_append(kw_store *st, const uint8_t *label, size_t label_len,
                       const uint8_t *value, size_t value_len, int64_t now, uint64_t *seq,
                       uint32_t *version, uint64_t *newest_epoch)
{
    NEED_OPS(st);
    if (ops(st)->append == NULL)
        return KW_ERR_UNSUPPORTED;
    int r = check_label(label, label_len);
    if (r != KW_OK)
        return r;
    if (seq == NULL || version == NULL || newest_epoch == NULL || (value == NULL && value_len != 0))
        return KW_ERR_INVALID_ARG;
    if (value_len > KW_STORE_KT_VALUE_MAX)
        return KW_ERR_TOO_LARGE;
    return ops(st)->append(st, label, label_len, value, value_len, now, seq, version, newest_epoch);
}

int kw_store_kt_load_since(kw_store *st, uint64_t after_seq, uint64_t from_epoch,
                           const kw_store_kt_follower *f)
{
    NEED_OPS(st);
    if (ops(st)->load_since == NULL)
        return KW_ERR_UNSUPPORTED;
    if (f == NULL || f->label == NULL || f->update == NULL || f->epoch == NULL ||
        after_seq > (uint64_t)INT64_MAX || from_epoch > (uint64_t)INT64_MAX)
        return KW_ERR_INVALID_ARG;
    return ops(st)->load_since(st, after_seq, from_epoch, f);
}

int kw_store_kt_epoch_commit_fenced(kw_store *st, const char *lease, const char *holder,
                                    uint64_t epoch, uint64_t timestamp,
                                    const uint8_t head[KW_STORE_KT_HEADBYTES], uint64_t upto_seq,
                                    size_t n, const kw_store_kt_label *labels, size_t nlabels)
{
    NEED_OPS(st);
    if (ops(st)->epoch_commit_fenced == NULL)
        return KW_ERR_UNSUPPORTED;
    if (head == NULL || (nlabels > 0 && labels == NULL) || epoch > (uint64_t)INT64_MAX ||
        timestamp > (uint64_t)INT64_MAX || upto_seq > (uint64_t)INT64_MAX ||
        (lease != NULL && (holder == NULL || lease[0] == '\0' || holder[0] == '\0')))
        return KW_ERR_INVALID_ARG;
    for (size_t i = 0; i < nlabels; i++) {
        int r = check_label(labels[i].label, labels[i].label_len);
        if (r != KW_OK)
            return r;
        if (labels[i].proof == NULL)
            return KW_ERR_INVALID_ARG;
    }
    return ops(st)->epoch_commit_fenced(st, lease, holder, epoch, timestamp, head, upto_seq, n,
                                        labels, nlabels);
}

int kw_store_kt_labels_put(kw_store *st, const kw_store_kt_label *labels, size_t n)
{
    NEED_OPS(st);
    if (ops(st)->labels_put == NULL)
        return KW_ERR_UNSUPPORTED;
    if (n == 0)
        return KW_OK;
    if (labels == NULL)
        return KW_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        int r = check_label(labels[i].label, labels[i].label_len);
        if (r != KW_OK)
            return r;
        if (labels[i].proof == NULL)
            return KW_ERR_INVALID_ARG;
    }
    return ops(st)->labels_put(st, labels, n);
}
