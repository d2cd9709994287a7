/*
 * keyward/kt.h — the key-transparency directory: signed tree heads, update
 * promises, VRF-indexed search / lookup / monitor proofs with their client
 * verifiers, head-to-head consistency, per-epoch insertion lists and the
 * auditor that replays them.
 *
 * Construction (docs/crypto.md, "Key transparency: directory"):
 *  - beta(label) = ECVRF-EDWARDS25519-SHA512-TAI output over alpha = u16
 *    len(label) ‖ label (one VRF evaluation and one proof per label);
 *    index(label, v) = beta[0..4) ‖ u32 bit-reversed v ‖ beta[4..28).
 *    Versions start at 1. Every version of a label lies under one 32-bit
 *    prefix, and v, v+1 part at the first bit after it, so a search (v
 *    present, v+1 absent) costs one VRF proof and one path plus the few
 *    levels where the two part (proofs share levels on the wire). Privacy
 *    trade-off: the insertion lists show which insertions belong to the
 *    same label (same prefix) and its version numbers — never the label or
 *    the value (docs/crypto.md).
 *  - The leaf of (label, v) is the commitment of kt_commit.h over a random
 *    opening; the prefix tree (kt_prefix.h) holds (index, commitment).
 *  - Epoch e (0, 1, 2, ...) inserts one batch (possibly empty) into the
 *    prefix tree and appends log leaf e = u64 e ‖ prefix_root ‖ u64
 *    timestamp (RFC 9162 leaf hashing) to the log (kt_log.h), so after
 *    epoch e the log holds e + 1 leaves.
 *  - Tree head = u64 epoch ‖ u64 log_size ‖ log_root ‖ prefix_root ‖ u64
 *    timestamp (88 bytes) ‖ Ed25519 signature under context
 *    KW_KT_HEAD_CONTEXT (kw_sign): 152 bytes. log_size is always epoch + 1.
 *  - Promise = u16 len ‖ label ‖ u32 version ‖ SHA-256(value) ‖ u64
 *    deadline epoch ‖ signature under KW_KT_PROMISE_CONTEXT.
 *
 * Roles. The server side is kw_kt_dir (in memory; the prefix tree runs over
 * any kw_prefix_store). Clients use the kw_kt_*_verify functions with the
 * pinned log and VRF public keys and their last verified head. Auditors use
 * kw_kt_auditor. Responses are byte strings whose formats are in
 * docs/crypto.md; every parser has explicit limits.
 *
 * Errors. Fallible functions return 0 or a negative KW_ERR_*. Verifiers
 * return KW_ERR_VERIFY for any failed check and say which through a
 * kw_kt_reason out-parameter (named for the client's alerts); malformed
 * responses give KW_ERR_FORMAT / KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE with
 * reason KW_KT_MALFORMED.
 *
 * Thread safety. Verifiers and encoders are stateless. A kw_kt_dir accepts
 * one writer (update, batch begin/commit/abort, restore, prove_missing,
 * proofs begin/commit) at a time and no reader during a write; readers
 * (search, lookup, monitor, consistency, insertions, head) may run
 * concurrently with each other. The VRF work needs no lock:
 * kw_kt_batch_index / _index_proven / _prove on disjoint ranges of the open
 * batch, and kw_kt_proofs_compute on disjoint ranges of a proof job, may
 * run from several threads at once and concurrently with readers and with
 * kw_kt_dir_update (so updates keep being accepted while an epoch's VRF
 * outputs are computed), but not with batch begin/commit/abort (for the
 * batch) or kw_kt_dir_free.
 *
 * Secret data: the VRF secret key (sodium_malloc'd, wiped on free) and the
 * log signing key (borrowed). Openings are secret until a proof for their
 * version is served. Values are the caller's (public to anyone who may look
 * the label up).
 */
#ifndef KEYWARD_KT_H
#define KEYWARD_KT_H

#include <stddef.h>
#include <stdint.h>

#include "keyward/buf.h"
#include "keyward/kt_commit.h"
#include "keyward/kt_log.h"
#include "keyward/kt_prefix.h"
#include "keyward/sign.h"
#include "keyward/vrf.h"

#define KW_KT_HEAD_CONTEXT "keyward/kt/tree-head/v1"
#define KW_KT_PROMISE_CONTEXT "keyward/kt/promise/v1"
#define KW_KT_HASHBYTES 32
#define KW_KT_INDEXBYTES 32
#define KW_KT_HEAD_TBSBYTES 88
#define KW_KT_HEADBYTES (KW_KT_HEAD_TBSBYTES + KW_SIGN_BYTES) /* 152 */
#define KW_KT_LABEL_MAXBYTES 1024
#define KW_KT_VALUE_MAXBYTES ((size_t)64 * 1024)
#define KW_KT_PROMISE_MAXBYTES (2 + KW_KT_LABEL_MAXBYTES + 4 + 32 + 8 + KW_SIGN_BYTES)
#define KW_KT_MONITOR_MAXVERSIONS 64      /* versions per monitor response */
#define KW_KT_EPOCH_MAXUPDATES ((size_t)1 << 20)
#define KW_KT_RESPONSE_MAXBYTES ((size_t)8 << 20) /* search, lookup, monitor, consistency */
#define KW_KT_INSERTIONS_MAXBYTES (1 + KW_KT_HEADBYTES + 32 + 4 + KW_KT_EPOCH_MAXUPDATES * 64)
#define KW_KT_AUDIT_STATEBYTES (8 + KW_KT_HEADBYTES + 8 + 64 * 32 + 32)
#define KW_KT_MAX_VERSION UINT32_MAX
#define KW_KT_OPENING_KEYBYTES 32

/* Response kinds: the first byte of every response. */
enum {
    KW_KT_RESP_SEARCH = 1,
    KW_KT_RESP_LOOKUP = 2,
    KW_KT_RESP_MONITOR = 3,
    KW_KT_RESP_CONSISTENCY = 4,
    KW_KT_RESP_INSERTIONS = 5,
    KW_KT_RESP_SEARCH_APPEND = 6, /* search with an append proof (kw_kt_dir_search_append) */
};

/* Why a verification (or an audit) failed. Stable names via
 * kw_kt_reason_name, for alerts and logs. */
typedef enum kw_kt_reason {
    KW_KT_OK = 0,
    KW_KT_MALFORMED,              /* response does not parse (or wrong kind) */
    KW_KT_BAD_HEAD_SIGNATURE,     /* a tree head not signed by the pinned log key */
    KW_KT_HEAD_ROLLBACK,          /* epoch, log size or time below the pinned head's */
    KW_KT_INCONSISTENT,           /* no valid consistency proof to the pinned head, or a
                                     different head for the same epoch (split view) */
    KW_KT_LOG_INCLUSION,          /* the head's prefix root is not the log's last leaf */
    KW_KT_VRF_FAILURE,            /* a VRF proof does not verify for (label, version) */
    KW_KT_MEMBERSHIP_FAILURE,     /* version v not proven in the head's prefix tree */
    KW_KT_NONMEMBERSHIP_FAILURE,  /* the absence proof of the next version is invalid */
    KW_KT_NOT_LATEST,             /* the server says the next version exists */
    KW_KT_VALUE_MISMATCH,         /* (not produced since the commitment is recomputed from
                                     opening and value: a wrong value is a membership failure) */
    KW_KT_WRONG_VERSION,          /* a version other than the one asked for */
    KW_KT_AUDIT_OUT_OF_ORDER,     /* an insertion list for an unexpected epoch */
    KW_KT_AUDIT_PREFIX_MISMATCH,  /* replayed prefix root differs (leaf changed/removed) */
    KW_KT_AUDIT_DUPLICATE_INDEX,  /* an index inserted twice (a leaf replaced) */
    KW_KT_AUDIT_LOG_MISMATCH,     /* replayed log root or size differs from the head */
} kw_kt_reason;

/* The stable lower-case name of a reason ("not-latest", ...); never NULL. */
const char *kw_kt_reason_name(kw_kt_reason r);

/* ---- tree heads ---- */

typedef struct kw_kt_head {
    uint64_t epoch;
    uint64_t log_size;
    uint8_t log_root[KW_KT_HASHBYTES];
    uint8_t prefix_root[KW_KT_HASHBYTES];
    uint64_t timestamp;
    uint8_t sig[KW_SIGN_BYTES];
} kw_kt_head;

/* Writes the 152-byte wire form. Cannot fail. */
void kw_kt_head_encode(uint8_t out[static KW_KT_HEADBYTES], const kw_kt_head *h);

/* Decodes exactly KW_KT_HEADBYTES bytes (KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE
 * otherwise; KW_ERR_FORMAT when log_size != epoch + 1). *h zeroed on error. */
int kw_kt_head_decode(kw_kt_head *h, const uint8_t *in, size_t len)
    __attribute__((warn_unused_result));

/* Signs h (fills h->sig) with the log key. Errors of kw_sign. */
int kw_kt_head_sign(kw_kt_head *h, const kw_sign_key *log_key);

/* 0 when h is signed by log_pk and log_size == epoch + 1, else KW_ERR_VERIFY. */
int kw_kt_head_verify(const kw_kt_head *h, const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES])
    __attribute__((warn_unused_result));

/* The log leaf data of a head's epoch: u64 epoch ‖ prefix_root ‖ u64
 * timestamp (48 bytes), and its RFC 9162 leaf hash. Cannot fail. */
#define KW_KT_LOG_LEAFBYTES 48
void kw_kt_log_leaf(uint8_t out[static KW_KT_LOG_LEAFBYTES], uint64_t epoch,
                    const uint8_t prefix_root[static KW_KT_HASHBYTES], uint64_t timestamp);
void kw_kt_log_leaf_hash(uint8_t out[static KW_KT_HASHBYTES], uint64_t epoch,
                         const uint8_t prefix_root[static KW_KT_HASHBYTES], uint64_t timestamp);

/* index(label, version): verifies nothing, for the key holder only (uses
 * kw_vrf_evaluate). KW_ERR_TOO_LARGE for a label over the maximum,
 * KW_ERR_INVALID_ARG for version 0, VRF errors. */
int kw_kt_index(uint8_t index[static KW_KT_INDEXBYTES],
                const uint8_t vrf_sk[static KW_VRF_SECRETKEYBYTES], const uint8_t *label,
                size_t label_len, uint32_t version);

/* ---- auditor signatures over heads ----
 * An auditor that replayed the log up to a head signs it: record =
 * auditor_pk(32) ‖ head(152) ‖ Ed25519 signature(64) over the head's wire
 * form under context KW_KT_AUDITOR_CONTEXT (kw_sign). Clients may require a
 * given auditor's record for a head consistent with the one they pin. */
#define KW_KT_AUDITOR_CONTEXT "keyward/kt/auditor-head/v1"
#define KW_KT_AUDITOR_SIGBYTES (32 + KW_KT_HEADBYTES + KW_SIGN_BYTES) /* 248 */

/* Writes the record of h signed by auditor. Errors of kw_sign. */
int kw_kt_auditor_sig_make(uint8_t out[static KW_KT_AUDITOR_SIGBYTES], const kw_sign_key *auditor,
                           const kw_kt_head *h);

/* Checks a record: exactly KW_KT_AUDITOR_SIGBYTES bytes (KW_ERR_TRUNCATED /
 * KW_ERR_TOO_LARGE), made by auditor_pk when given (else by the key it
 * carries; KW_ERR_VERIFY for another), auditor signature valid, head
 * signed by log_pk (KW_ERR_VERIFY). *h (may be NULL) receives the head;
 * auditor_out (may be NULL) the auditor key. */
int kw_kt_auditor_sig_verify(kw_kt_head *h, uint8_t *auditor_out, const uint8_t *rec,
                             size_t rec_len, const uint8_t *auditor_pk,
                             const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES])
    __attribute__((warn_unused_result));

/* ---- promises ---- */

typedef struct kw_kt_promise {
    uint32_t version;
    uint64_t deadline_epoch; /* included at an epoch <= this one */
} kw_kt_promise;

/* Checks a promise for (label, value) under log_pk and returns what it
 * promises. KW_ERR_VERIFY for a bad signature or another label/value,
 * KW_ERR_FORMAT / KW_ERR_TRUNCATED for a malformed promise. */
int kw_kt_promise_verify(kw_kt_promise *out, const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES],
                         const uint8_t *label, size_t label_len, const uint8_t *value,
                         size_t value_len, const uint8_t *promise, size_t promise_len)
    __attribute__((warn_unused_result));

/* ---- the server-side directory ---- */

typedef struct kw_kt_dir kw_kt_dir;
typedef struct kw_kt_batch kw_kt_batch;

typedef struct kw_kt_dir_config {
    const uint8_t *vrf_sk;        /* KW_VRF_SECRETKEYBYTES; copied */
    const kw_sign_key *log_key;   /* borrowed: must outlive the directory */
    const kw_prefix_store *store; /* NULL: an in-memory store owned by the directory,
                                     pruned after each epoch to the nodes the newest one
                                     reaches (responses prove against the newest only) */
    uint64_t max_merge_delay;     /* epochs between an update and its deadline (>= 1) */
    const uint8_t *opening_key;   /* KW_KT_OPENING_KEYBYTES, copied; NULL: random openings.
                                     With a key, opening(label, v) = BLAKE2b-256 keyed by it
                                     over "keyward/kt/opening/v1" ‖ u16 len ‖ label ‖ u32 v,
                                     so a restarted server derives the same commitments and
                                     stores nothing secret. */
} kw_kt_dir_config;

/* Creates an empty directory (no epoch yet). KW_ERR_INVALID_ARG for a NULL
 * key or a zero delay, KW_ERR_NOMEM. *out is NULL on error. */
int kw_kt_dir_new(kw_kt_dir **out, const kw_kt_dir_config *cfg);

/* Wipes and frees *d and sets it to NULL; NULL is a no-op. Batches still
 * open are freed with it (their handles become invalid). */
void kw_kt_dir_free(kw_kt_dir **d);

/* Queues (label, value) as the label's next version and writes the signed
 * promise to out[0..cap) (*out_len; at most KW_KT_PROMISE_MAXBYTES; out
 * NULL: no promise, for restoring).
 * Allowed while a batch is open (the update joins the queue after it).
 * KW_ERR_TOO_LARGE for a label or value over its maximum or a short out,
 * KW_ERR_INVALID_ARG for an empty label, KW_ERR_LIMIT when the label has
 * 2^32 - 1 versions or the queue is full, KW_ERR_NOMEM. */
int kw_kt_dir_update(kw_kt_dir *d, const uint8_t *label, size_t label_len, const uint8_t *value,
                     size_t value_len, uint8_t *out, size_t cap, size_t *out_len);

/* Number of queued updates. */
size_t kw_kt_dir_pending(const kw_kt_dir *d);

/* The version the next update of label will get (1 for a new label; 0 for
 * an invalid label). For a store that records an update before queueing. */
uint32_t kw_kt_dir_next_version(const kw_kt_dir *d, const uint8_t *label, size_t label_len);

/* The stored VRF proof of label (one per label): 0, KW_ERR_NOT_FOUND when
 * the label has none (unknown, unpublished or not proven yet). */
int kw_kt_dir_label_vrf(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                        uint8_t proof[static KW_VRF_PROOFBYTES]);

/* Restoring a directory from storage (one writer, before serving): give
 * each label's stored VRF proof (verified here under the directory's key:
 * KW_ERR_VERIFY for a wrong or damaged proof), then replay every stored
 * update in order with kw_kt_dir_update (out NULL: no promise; the
 * promise was given when it was first accepted) and publish each stored
 * epoch with its stored timestamp through the batch functions. With an
 * opening key the replay rebuilds byte-identical heads, which the caller
 * compares with the stored ones. No VRF evaluation is needed for a label
 * restored this way. */
int kw_kt_dir_restore_label(kw_kt_dir *d, const uint8_t *label, size_t label_len,
                            const uint8_t proof[static KW_VRF_PROOFBYTES]);

/* An open batch's entries (the labels and versions it will publish). */
size_t kw_kt_batch_size(const kw_kt_batch *b);
int kw_kt_batch_entry(const kw_kt_batch *b, size_t i, const uint8_t **label, size_t *label_len,
                      uint32_t *version);

/* Publishing an epoch, in three steps so the VRF work can use several
 * threads: begin takes up to max_updates queued updates (0: all, capped at
 * KW_KT_EPOCH_MAXUPDATES) into a batch of *n entries; kw_kt_batch_index
 * computes their indices (a label already published reuses its VRF output:
 * no VRF; a new label costs one VRF evaluation); kw_kt_batch_prove
 * (optional) computes the VRF proof of each new label so that answering a
 * search needs no VRF; commit inserts the batch into the prefix tree,
 * appends the log leaf, signs and returns the head. Every entry must have
 * been indexed (KW_ERR_INVALID_ARG otherwise); timestamp must not go
 * backwards (KW_ERR_INVALID_ARG). commit frees the batch (also on error,
 * when the updates go back to the queue unless the tree was changed:
 * KW_ERR_INTERNAL then, and the directory refuses further writes).
 * Pipelining: a second batch may begin while one is open (at most two),
 * so that the next epoch's VRF work runs while one epoch is committed;
 * batches commit oldest first (committing the younger first is
 * KW_ERR_INVALID_ARG and leaves it open). When the older one fails or is
 * aborted while a younger is open, nothing may begin until the younger is
 * committed (then refused) or aborted: its updates go back right after the
 * older one's, so versions stay in order. */
int kw_kt_dir_batch_begin(kw_kt_dir *d, size_t max_updates, kw_kt_batch **out, size_t *n);
int kw_kt_batch_index(kw_kt_batch *b, size_t from, size_t to);
/* kw_kt_batch_index and kw_kt_batch_prove in one: a new label's VRF proof
 * is computed and its output taken from the proof (no separate
 * evaluation: one ECVRF prove per new label instead of evaluate + prove). */
int kw_kt_batch_index_proven(kw_kt_batch *b, size_t from, size_t to);
int kw_kt_batch_prove(kw_kt_batch *b, size_t from, size_t to);
int kw_kt_dir_batch_commit(kw_kt_dir *d, kw_kt_batch **b, uint64_t timestamp, kw_kt_head *head);
/* Drops a batch without publishing it; its updates go back to the queue. */
void kw_kt_dir_batch_abort(kw_kt_dir *d, kw_kt_batch **b);

/* All three steps on the calling thread, with proofs. KW_ERR_INVALID_ARG
 * while a batch is open. */
int kw_kt_dir_publish(kw_kt_dir *d, uint64_t timestamp, kw_kt_head *head);

/* Computes and stores every VRF proof that publishing skipped (one writer).
 * *computed (may be NULL) receives how many. */
int kw_kt_dir_prove_missing(kw_kt_dir *d, size_t *computed);

/* The same in the background, for index-only publishing, in three steps so
 * that the VRF work holds no lock and can use several threads:
 *  begin    (writer) takes up to max (0: all) published labels that have
 *           no VRF proof yet, oldest first, into a job of *n entries;
 *  compute  (no lock; disjoint ranges from several threads) proves them;
 *  entry    the label and its proof (after compute), for the caller to
 *           store (the labels table of the server's store);
 *  commit   (writer) gives the proofs to the directory (searches stop
 *           proving on the fly), *stored (may be NULL) receives how many
 *           were new, and frees the job. Entries not computed are
 *           KW_ERR_INVALID_ARG and stay listed for a later job.
 * KW_ERR_INVALID_ARG for bad ranges or another directory's job, KW_ERR_NOMEM,
 * VRF errors. A job must be committed or freed before the directory is. */
typedef struct kw_kt_proofs kw_kt_proofs;
int kw_kt_dir_proofs_begin(kw_kt_dir *d, size_t max, kw_kt_proofs **out, size_t *n);
int kw_kt_proofs_compute(kw_kt_proofs *p, size_t from, size_t to);
size_t kw_kt_proofs_size(const kw_kt_proofs *p);
int kw_kt_proofs_entry(const kw_kt_proofs *p, size_t i, const uint8_t **label, size_t *label_len,
                       const uint8_t **proof);
int kw_kt_dir_proofs_commit(kw_kt_dir *d, kw_kt_proofs **p, size_t *stored);
/* Frees a job without committing it (its labels are not listed again:
 * kw_kt_dir_prove_missing still finds them). NULL is a no-op. */
void kw_kt_proofs_free(kw_kt_proofs **p);

/* The newest head; KW_ERR_NOT_FOUND before the first epoch. */
int kw_kt_dir_head(const kw_kt_dir *d, kw_kt_head *head);

/* The head of an epoch; KW_ERR_NOT_FOUND beyond the newest. */
int kw_kt_dir_head_at(const kw_kt_dir *d, uint64_t epoch, kw_kt_head *head);

/* Responses, appended to out (a kw_buf whose maximum bounds them).
 * client_log_size is the log size of the asking client's pinned head (0:
 * none); when it is below the newest head's, the response carries the
 * consistency proof from it. A version whose VRF proofs were not
 * precomputed costs VRF proofs here. Errors: KW_ERR_NOT_FOUND (no epoch
 * yet; lookup: no such version), KW_ERR_INVALID_ARG (client_log_size above
 * the newest), KW_ERR_TOO_LARGE (out too small), KW_ERR_NOMEM.
 *  search       the newest version (or that the label has none);
 *  lookup       one version;
 *  monitor      every version >= from_version (0 or 1: all) first
 *               published at an epoch >= since_epoch, oldest first, at
 *               most KW_KT_MONITOR_MAXVERSIONS (then `more` is set: ask
 *               again from the next version), and the absence of the
 *               version after the last;
 *  consistency  old head, new head (newest when new_epoch is UINT64_MAX)
 *               and the log consistency proof;
 *  insertions   the head of epoch, the prefix root before it and every
 *               (index, commitment) it inserted, sorted by index. */
int kw_kt_dir_search(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                     uint64_t client_log_size, kw_buf *out);
/* search_append  the compact search for a client that keeps the frontier
 *               (compact range) of its pinned log of client_log_size
 *               (1 .. newest log size, else KW_ERR_INVALID_ARG) leaves:
 *               instead of the inclusion proof of the newest log leaf and
 *               the consistency proof, the roots of the perfect subtrees
 *               covering log leaves [client_log_size, n - 1) (none when the
 *               client is one epoch behind or current). Kind
 *               KW_KT_RESP_SEARCH_APPEND; verified by kw_kt_search_verify
 *               with trust->frontier. */
int kw_kt_dir_search_append(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                            uint64_t client_log_size, kw_buf *out);
int kw_kt_dir_lookup(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                     uint32_t version, uint64_t client_log_size, kw_buf *out);
int kw_kt_dir_monitor(const kw_kt_dir *d, const uint8_t *label, size_t label_len,
                      uint64_t since_epoch, uint32_t from_version, uint64_t client_log_size,
                      kw_buf *out);
int kw_kt_dir_consistency(const kw_kt_dir *d, uint64_t old_epoch, uint64_t new_epoch,
                          kw_buf *out);
int kw_kt_dir_insertions(const kw_kt_dir *d, uint64_t epoch, kw_buf *out);

/* What the directory holds (for the bench and metrics). */
typedef struct kw_kt_dir_stats {
    uint64_t labels, versions, epochs, proofs_missing;
    uint64_t record_bytes; /* per-version records a backend would store */
    kw_prefix_memstore_stats tree; /* zero when the store is not the directory's own */
} kw_kt_dir_stats;
void kw_kt_dir_stats_get(const kw_kt_dir *d, kw_kt_dir_stats *st);

/* ---- client verifiers ---- */

/* The pinned keys and the client's newest verified head (NULL: none). The
 * pinned head is trusted as verified: a response carrying the very same
 * head skips its signature check. */
typedef struct kw_kt_trust {
    const uint8_t *log_pk; /* KW_SIGN_PUBLICKEYBYTES */
    const uint8_t *vrf_pk; /* KW_VRF_PUBLICKEYBYTES */
    const kw_kt_head *pinned;
    /* The frontier of the pinned head's log (NULL: none): its compact range
     * (kt_log.h), which kw_kt_search_verify returns with every verified
     * head. Needed to verify a KW_KT_RESP_SEARCH_APPEND response; checked
     * against the pinned head (size and root) before use. */
    const kw_log_compact *frontier;
} kw_kt_trust;

/* A verified version. value points into the verified response (valid while
 * the caller keeps it). version 0 (search only): the label has no version. */
typedef struct kw_kt_result {
    uint32_t version;
    const uint8_t *value;
    size_t value_len;
    kw_kt_head head; /* the verified head: pin it */
    /* search only: the verified head's log frontier (compact range, size ==
     * head.log_size, root == head.log_root): keep it next to the pinned
     * head to ask for compact searches. have_frontier 0: none. */
    int have_frontier;
    kw_log_compact frontier;
} kw_kt_result;

/* Verifies a search response for label (kind KW_KT_RESP_SEARCH, or
 * KW_KT_RESP_SEARCH_APPEND: then the pinned head and its frontier are
 * required, the response's pinned size must be the pinned head's, and the
 * frontier extended by the append proof and the new head's log leaf must
 * fold to the new head's log root — else KW_KT_INCONSISTENT): the head (signature, log inclusion
 * of its prefix root, no rollback and consistency with the pinned head),
 * version v's VRF proof, membership and opening, and version v+1's VRF
 * proof and absence. 0 and *res filled, or KW_ERR_VERIFY with *why. *res is
 * zeroed and *why set on every error. */
int kw_kt_search_verify(kw_kt_result *res, kw_kt_reason *why, const kw_kt_trust *trust,
                        const uint8_t *label, size_t label_len, const uint8_t *resp,
                        size_t resp_len) __attribute__((warn_unused_result));

/* Verifies a lookup response for (label, version). As above; a response for
 * another version is KW_KT_WRONG_VERSION. */
int kw_kt_lookup_verify(kw_kt_result *res, kw_kt_reason *why, const kw_kt_trust *trust,
                        const uint8_t *label, size_t label_len, uint32_t version,
                        const uint8_t *resp, size_t resp_len) __attribute__((warn_unused_result));

/* A verified monitor response: versions first .. first + count - 1, each
 * proven in head, and (unless more is set) version first + count proven
 * absent. */
typedef struct kw_kt_monitor_result {
    uint32_t first;
    uint32_t count;
    int more; /* 1: later versions exist (no absence proof yet): ask again */
    struct {
        const uint8_t *value; /* into the response */
        size_t value_len;
    } v[KW_KT_MONITOR_MAXVERSIONS];
    kw_kt_head head;
} kw_kt_monitor_result;

/* Verifies a monitor response for label; expected_first (0: any) is the
 * first version the owner expects (the one after those it already checked):
 * another first version is KW_KT_WRONG_VERSION. */
int kw_kt_monitor_verify(kw_kt_monitor_result *res, kw_kt_reason *why, const kw_kt_trust *trust,
                         const uint8_t *label, size_t label_len, uint32_t expected_first,
                         const uint8_t *resp, size_t resp_len) __attribute__((warn_unused_result));

/* Verifies a consistency response against the pinned head (required, else
 * KW_ERR_INVALID_ARG): the old head must be the pinned one (byte for byte),
 * the new one signed and not older, the log proof valid. new_head receives
 * the head to pin. vrf_pk is not used. */
int kw_kt_consistency_verify(kw_kt_head *new_head, kw_kt_reason *why, const kw_kt_trust *trust,
                             const uint8_t *resp, size_t resp_len)
    __attribute__((warn_unused_result));

/* The frontier's storage form: u64 size ‖ one hash per set bit of size,
 * largest subtree first (at most KW_KT_FRONTIER_MAXBYTES). decode reads
 * exactly len bytes: KW_ERR_TRUNCATED / KW_ERR_TOO_LARGE / KW_ERR_FORMAT
 * (size 0 is allowed: the empty log). encode: KW_ERR_TOO_LARGE for a short
 * out. */
#define KW_KT_FRONTIER_MAXBYTES (8 + 64 * KW_KT_HASHBYTES)
int kw_kt_frontier_encode(uint8_t *out, size_t cap, size_t *out_len, const kw_log_compact *f);
int kw_kt_frontier_decode(kw_log_compact *f, const uint8_t *in, size_t len)
    __attribute__((warn_unused_result));

/* Wire length of a search response's parts (for size reports): the total
 * minus the value bytes. KW_ERR_FORMAT etc. for a malformed response. */
int kw_kt_search_proof_size(size_t *without_value, const uint8_t *resp, size_t resp_len);

/* ---- the auditor ---- */

typedef struct kw_kt_auditor kw_kt_auditor;

/* Creates an auditor expecting epoch 0. store NULL: an in-memory tree owned
 * by the auditor, pruned to the newest epoch as it goes; otherwise the
 * caller's store (which must persist for resumption). KW_ERR_NOMEM. */
int kw_kt_auditor_new(kw_kt_auditor **out, const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES],
                      const kw_prefix_store *store);

/* Resumes from state saved by kw_kt_auditor_save over the same store (which
 * must hold the tree of the saved epoch). KW_ERR_FORMAT etc. for a bad
 * state, KW_ERR_NOT_FOUND when the store lacks the saved epoch's root,
 * KW_ERR_VERIFY when its root is not the saved head's. */
int kw_kt_auditor_resume(kw_kt_auditor **out,
                         const uint8_t log_pk[static KW_SIGN_PUBLICKEYBYTES],
                         const kw_prefix_store *store, const uint8_t *state, size_t state_len);

void kw_kt_auditor_free(kw_kt_auditor **a);

/* Replays one epoch's insertion list (the next epoch in order). 0 when the
 * head checks out (signature, prefix root and log root of the replay, time
 * not going back); KW_ERR_VERIFY with *why and *failed_epoch otherwise.
 * After a failure the auditor stays failed: every later call returns the
 * same verdict. Malformed lists give the format errors, reason
 * KW_KT_MALFORMED, and do not fail the auditor. */
int kw_kt_auditor_feed(kw_kt_auditor *a, kw_kt_reason *why, uint64_t *failed_epoch,
                       const uint8_t *list, size_t list_len) __attribute__((warn_unused_result));

/* The number of epochs verified so far (the next expected epoch), and the
 * newest verified head (KW_ERR_NOT_FOUND before the first). */
uint64_t kw_kt_auditor_epochs(const kw_kt_auditor *a);
int kw_kt_auditor_head(const kw_kt_auditor *a, kw_kt_head *head);

/* Sizes of the auditor's own tree (all zero when the store is the
 * caller's). */
void kw_kt_auditor_tree_stats(const kw_kt_auditor *a, kw_prefix_memstore_stats *st);

/* Writes the resumable state (epoch count, newest head, log compact range)
 * to out[0..cap), at most KW_KT_AUDIT_STATEBYTES. KW_ERR_TOO_LARGE. */
int kw_kt_auditor_save(const kw_kt_auditor *a, uint8_t *out, size_t cap, size_t *out_len);

#endif
