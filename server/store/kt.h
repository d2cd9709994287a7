/*
 * server/store/kt.h — the key-transparency domain of keywardd's store
 * (issue 5): what the directory needs to come back after a restart.
 *
 * Stored (nothing secret; the commitments' openings are derived from a key
 * in the server's key file, never stored):
 *  - updates: (seq, label, version, value, accepted_at, epoch or pending).
 *    An update is stored before its promise is returned (the durable
 *    queue); publishing marks the oldest pending ones with their epoch.
 *  - epochs: (epoch, timestamp, signed head) — one row per epoch, heartbeat
 *    epochs included, written in the same transaction that marks the
 *    epoch's updates (kw_store_kt_epoch_commit: one transaction per epoch).
 *  - labels: each label's VRF proof (80 bytes), so a restart needs no VRF
 *    evaluation.
 *  - auditor records: the newest signed head record per auditor key.
 * The prefix and log trees are derived data: the server replays the
 * updates epoch by epoch at start and checks every rebuilt head against the
 * stored one, byte for byte (a self-audit).
 *
 * Every write is committed (durable) before the call returns.
 * Errors as store.h; KW_ERR_UNSUPPORTED when the backend has no kt ops.
 * Thread safety: as store.h. The loader's callbacks run with the store
 * locked: they must not call the store.
 */
#ifndef KEYWARD_SERVER_STORE_KT_H
#define KEYWARD_SERVER_STORE_KT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define KW_STORE_KT_LABEL_MAX 1024
#define KW_STORE_KT_VALUE_MAX ((size_t)64 * 1024)
#define KW_STORE_KT_HEADBYTES 152
#define KW_STORE_KT_PROOFBYTES 80
#define KW_STORE_KT_AUDITBYTES 248
#define KW_STORE_KT_PENDING UINT64_MAX /* epoch of a pending update */

/* A label's VRF proof, for kw_store_kt_epoch_commit. */
typedef struct {
    const uint8_t *label;
    size_t label_len;
    const uint8_t *proof; /* KW_STORE_KT_PROOFBYTES */
} kw_store_kt_label;

/* Callbacks of kw_store_kt_load; a non-zero return stops the load and is
 * returned. Order: every label; then updates (ascending seq) and epochs
 * (ascending) interleaved so that epoch e's updates come right before
 * epoch e; then the pending updates. */
typedef struct {
    void *ctx;
    int (*label)(void *ctx, const uint8_t *label, size_t label_len, const uint8_t *proof);
    int (*update)(void *ctx, uint64_t seq, uint64_t epoch, const uint8_t *label, size_t label_len,
                  uint32_t version, const uint8_t *value, size_t value_len);
    int (*epoch)(void *ctx, uint64_t epoch, uint64_t timestamp, const uint8_t *head);
} kw_store_kt_loader;

/* Appends a pending update and returns its sequence number. */
int kw_store_kt_enqueue(kw_store *st, const uint8_t *label, size_t label_len, uint32_t version,
                        const uint8_t *value, size_t value_len, int64_t now, uint64_t *seq);

/* Appends n pending updates in one transaction (labels[i] with
 * label_lens[i], versions[i], values[i] / value_lens[i]); seqs[i] receive
 * their sequence numbers. For bulk loads (the benchmark's fill). */
int kw_store_kt_enqueue_many(kw_store *st, size_t n, const uint8_t *const *labels,
                             const size_t *label_lens, const uint32_t *versions,
                             const uint8_t *const *values, const size_t *value_lens, int64_t now,
                             uint64_t *seqs);

/* One transaction: marks the n pending updates with seq <= upto_seq as
 * published in epoch (KW_ERR_STORAGE unless exactly n are), stores the
 * epoch's head and the new labels' VRF proofs (kept when present). */
int kw_store_kt_epoch_commit(kw_store *st, uint64_t epoch, uint64_t timestamp,
                             const uint8_t head[KW_STORE_KT_HEADBYTES], uint64_t upto_seq, size_t n,
                             const kw_store_kt_label *labels, size_t nlabels);

/* Streams the stored state to the loader (see its order). */
int kw_store_kt_load(kw_store *st, const kw_store_kt_loader *ld);

/* ---- several nodes on one store (issue 8) ----
 * Every node keeps the published directory in memory and follows the store:
 * updates are appended with a store-assigned version (so two nodes
 * accepting updates of one label concurrently number them consistently),
 * every node reads what is new since its last look (kw_store_kt_load_since)
 * and replays the epochs someone else published, and the one node holding
 * the publisher lease commits epochs fenced by that lease. */

/* Appends a pending update of label with the next version of that label in
 * the store (1 + the newest stored version, 1 for a new label), in one
 * transaction that serializes with every other append: *seq (ascending in
 * commit order on every node), *version, and *newest_epoch (the newest
 * stored epoch, KW_STORE_KT_PENDING when there is none). */
int kw_store_kt_append(kw_store *st, const uint8_t *label, size_t label_len,
                       const uint8_t *value, size_t value_len, int64_t now, uint64_t *seq,
                       uint32_t *version, uint64_t *newest_epoch);

/* Callbacks of kw_store_kt_load_since; a non-zero return stops the load and
 * is returned. Order: labels (proofs), then updates and epochs merged as in
 * kw_store_kt_loader, then the pending updates. An epoch carries n, the
 * number of updates it published: the oldest n updates not yet published
 * before it, in seq order. */
typedef struct {
    void *ctx;
    int (*label)(void *ctx, const uint8_t *label, size_t label_len, const uint8_t *proof);
    int (*update)(void *ctx, uint64_t seq, uint64_t epoch, const uint8_t *label, size_t label_len,
                  uint32_t version, const uint8_t *value, size_t value_len);
    int (*epoch)(void *ctx, uint64_t epoch, uint64_t timestamp, const uint8_t *head, uint64_t n);
} kw_store_kt_follower;

/* What is new since a node's last look, in one snapshot: the updates with
 * seq > after_seq, the epochs >= from_epoch, and the stored VRF proofs of
 * the labels whose first version has seq > after_seq (after_seq 0: every
 * stored proof). after_seq 0 and from_epoch 0 stream everything. */
int kw_store_kt_load_since(kw_store *st, uint64_t after_seq, uint64_t from_epoch,
                           const kw_store_kt_follower *f);

/* kw_store_kt_epoch_commit fenced by a lease (store/admin.h): in the same
 * transaction, the lease `lease` must be held by `holder` and not expired
 * (KW_ERR_CONFLICT otherwise, nothing written); an epoch number already
 * stored is KW_ERR_CONFLICT too. lease NULL: no fencing (single node). */
int kw_store_kt_epoch_commit_fenced(kw_store *st, const char *lease, const char *holder,
                                    uint64_t epoch, uint64_t timestamp,
                                    const uint8_t head[KW_STORE_KT_HEADBYTES], uint64_t upto_seq,
                                    size_t n, const kw_store_kt_label *labels, size_t nlabels);

/* Stores VRF proofs computed after publishing (kept when present), in one
 * transaction. */
int kw_store_kt_labels_put(kw_store *st, const kw_store_kt_label *labels, size_t n);

/* Stores an auditor's record for epoch unless one for a later epoch is
 * stored already (then KW_ERR_CONFLICT). */
int kw_store_kt_auditor_put(kw_store *st, const uint8_t auditor_pk[32], uint64_t epoch,
                            const uint8_t rec[KW_STORE_KT_AUDITBYTES]);

/* The newest record of an auditor; KW_ERR_NOT_FOUND when none. */
int kw_store_kt_auditor_get(kw_store *st, const uint8_t auditor_pk[32],
                            uint8_t rec[KW_STORE_KT_AUDITBYTES]);

/* An account's newest stored roster (kw_store_kt_unqueued). */
typedef struct {
    char *name;
    uint8_t *roster;
    size_t len;
} kw_store_kt_roster;

/* Crash-window repair: the accounts whose newest roster (core tables
 * `accounts` / `rosters`, same database) is not among their label's
 * updates (value byte for byte) — a roster committed by the core store
 * whose kt enqueue (a separate transaction) never happened. *out is
 * malloc'd (free with kw_store_kt_unqueued_free), ordered by account id;
 * *n may be 0. */
int kw_store_kt_unqueued(kw_store *st, kw_store_kt_roster **out, size_t *n);
void kw_store_kt_unqueued_free(kw_store_kt_roster *list, size_t n);

/* The backend's operations (store/backend.h: kw_store_ops.kt). Arguments
 * are validated by kt.c before they get here. */
struct kw_store_kt_ops {
    int (*enqueue)(kw_store *st, const uint8_t *label, size_t label_len, uint32_t version,
                   const uint8_t *value, size_t value_len, int64_t now, uint64_t *seq);
    int (*enqueue_many)(kw_store *st, size_t n, const uint8_t *const *labels,
                        const size_t *label_lens, const uint32_t *versions,
                        const uint8_t *const *values, const size_t *value_lens, int64_t now,
                        uint64_t *seqs);
    int (*epoch_commit)(kw_store *st, uint64_t epoch, uint64_t timestamp, const uint8_t *head,
                        uint64_t upto_seq, size_t n, const kw_store_kt_label *labels,
                        size_t nlabels);
    int (*load)(kw_store *st, const kw_store_kt_loader *ld);
    int (*auditor_put)(kw_store *st, const uint8_t *auditor_pk, uint64_t epoch, const uint8_t *rec);
    int (*auditor_get)(kw_store *st, const uint8_t *auditor_pk, uint8_t *rec);
    int (*unqueued)(kw_store *st, kw_store_kt_roster **out, size_t *n); /* may be NULL */
    int (*append)(kw_store *st, const uint8_t *label, size_t label_len, const uint8_t *value,
                  size_t value_len, int64_t now, uint64_t *seq, uint32_t *version,
                  uint64_t *newest_epoch);
    int (*load_since)(kw_store *st, uint64_t after_seq, uint64_t from_epoch,
                      const kw_store_kt_follower *f);
    /* epoch_commit with fencing; lease NULL: none */
    int (*epoch_commit_fenced)(kw_store *st, const char *lease, const char *holder, uint64_t epoch,
                               uint64_t timestamp, const uint8_t *head, uint64_t upto_seq, size_t n,
                               const kw_store_kt_label *labels, size_t nlabels);
    int (*labels_put)(kw_store *st, const kw_store_kt_label *labels, size_t n);
};

#endif
