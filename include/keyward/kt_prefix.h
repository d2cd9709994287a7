/*
 * keyward/kt_prefix.h — the prefix tree of key transparency: a persistent,
 * path-compressed binary sparse Merkle tree over 256-bit indices, with
 * membership and non-membership proofs of 32 bytes per level.
 *
 * Indices are 32 bytes, read as 256 bits most significant bit first (bit i
 * is (index[i / 8] >> (7 - i % 8)) & 1; bit 0 chooses the root's child). In
 * keyward an index is the ECVRF output of (label, version) truncated to 32
 * bytes, and a leaf holds the commitment of kt_commit.h; this module takes
 * both as given and never sees labels or values.
 *
 * Shape and hashing (SHA-256). Every leaf sits at the shallowest depth at
 * which no other leaf shares its path (path compression below a single
 * leaf); above it, a node with two or more leaves below is an inner node,
 * even when all of them lie on one side. So the tree, and its root, are a
 * function of the set of (index, commitment) pairs only, not of the order
 * of insertion or of how updates were batched into epochs.
 *   empty subtree  = 32 zero bytes
 *   leaf           = SHA-256(0x00 ‖ index ‖ commitment)   (at any depth)
 *   inner          = SHA-256(0x01 ‖ left ‖ right)
 *
 * Proofs. A search for index x walks from the root along x's bits and stops
 * at the first subtree that holds at most one leaf, at depth d. The proof is
 * the result and the d sibling hashes of that walk (root first):
 *   KW_PREFIX_MEMBER        the subtree is the leaf of x (its commitment is
 *                           not in the proof: the verifier recomputes it
 *                           from the opening and the value);
 *   KW_PREFIX_ABSENT_EMPTY  the subtree is empty;
 *   KW_PREFIX_ABSENT_LEAF   the subtree is one leaf y != x, whose index and
 *                           commitment are in the proof.
 * The verifier recomputes the root from (x, terminal, siblings), compares in
 * constant time, and refuses proofs no well-formed tree yields: a divergent
 * leaf that equals x or leaves x's path, an empty subtree at depth 256, or a
 * last sibling of zero (a parent with at most one leaf is never a node).
 * Wire form, big-endian, at most KW_PREFIX_PROOF_MAXBYTES:
 *   u8 result ‖ u16 d ‖ [ABSENT_LEAF: index(32) ‖ commitment(32)] ‖
 *   bitmap (ceil(d / 8) bytes, MSB first: bit i set = sibling i is not the
 *   empty hash; padding bits zero) ‖ the non-empty siblings, root first.
 * Empty siblings cost one bit, so a path through a chain of one-sided
 * inner nodes (indices sharing a long prefix) stays small. A membership
 * proof at depth d with m non-empty siblings is 3 + ceil(d/8) + 32·m bytes;
 * with n random indices d is about log2(n) + 1 (≈ 21 at 10^6 leaves: ≈ 675
 * bytes). No labels. Several proofs against one root may share their top
 * levels (kw_prefix_proof_put_shared). The encoding is canonical: a zero
 * sibling marked present, or set padding bits, is KW_ERR_FORMAT.
 *
 * Persistence. The tree is copy-on-write over epochs. A node is stored
 * under the key (epoch it was written in, depth, path prefix: the first
 * `depth` bits of any index below it, the remaining bits zero), and an inner
 * node holds, for each child, a reference: (kind, epoch, hash). Updating
 * epoch e writes new nodes only along the paths of the updated indices
 * (each touched node once) and keeps every older node, so every older
 * epoch's root stays provable until its nodes are pruned. Each epoch also
 * has a root reference (an empty heartbeat epoch writes only that). Nodes
 * and roots travel through kw_prefix_store, a table of callbacks, so the
 * server backs the tree with its storage and the tests and the auditor with
 * kw_prefix_memstore. Stored forms (the store treats them as opaque bytes):
 *   key   u64 epoch ‖ u16 depth ‖ prefix(32)       (42 bytes; a backend may
 *                                                  keep ceil(depth/8) bytes)
 *   leaf  0x01 ‖ index(32) ‖ commitment(32)        (65 bytes)
 *   inner 0x02 ‖ 2 × (u8 kind ‖ u64 epoch ‖ hash)  (83 bytes)
 *   root  u8 kind ‖ u64 epoch ‖ hash(32)           (41 bytes per epoch)
 * Cost per label-version (measured by bench_kt_prefix.c): a tree of n
 * random leaves has n leaves and ≈ 1.44·n inner nodes, 2.44 stored nodes
 * per leaf, 287 bytes with keys (348 in kw_prefix_memstore). An epoch of k
 * updates into n leaves rewrites the nodes on their paths (9.9 per update
 * for k = 10^4, n = 10^6: 1.2 KB) and supersedes ≈ 7.4 older ones, which
 * stay until kw_prefix_memstore_prune (or the backend's equivalent) drops
 * the epochs that need them.
 *
 * Errors: producers and updates pass on the store's errors, return
 * KW_ERR_NOT_FOUND for an epoch without a root, KW_ERR_CONFLICT for an index
 * already in the tree (or twice in one batch) or an epoch that already has a
 * root, KW_ERR_INVALID_ARG for epochs out of order, KW_ERR_LIMIT for a batch
 * over KW_PREFIX_BATCH_MAX, and KW_ERR_STORAGE for a stored node that does
 * not decode or does not fit where it was found. Verifiers return
 * KW_ERR_FORMAT for a malformed kw_prefix_proof and KW_ERR_VERIFY when the
 * proof does not lead to the root or could not come from a well-formed
 * tree. Decoding tells KW_ERR_TRUNCATED (short), KW_ERR_TOO_LARGE (depth
 * over 256) and KW_ERR_FORMAT (unknown result, trailing bytes) apart.
 *
 * Thread safety: the functions keep no state. Readers (roots, proofs,
 * lookups) may run concurrently with each other and with an update of a
 * newer epoch, as far as the store allows; one update at a time. A
 * kw_prefix_memstore is not internally locked.
 *
 * Secret data: none here. Indices, commitments, hashes and proofs are
 * public (openings and values live in kt_commit.h's callers); roots are
 * still compared in constant time.
 */
#ifndef KEYWARD_KT_PREFIX_H
#define KEYWARD_KT_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#include "keyward/buf.h"

#define KW_PREFIX_HASHBYTES 32
#define KW_PREFIX_INDEXBYTES 32
#define KW_PREFIX_COMMITBYTES 32
#define KW_PREFIX_MAXDEPTH 256
#define KW_PREFIX_PROOF_MAXBYTES (3 + 2 * 32 + KW_PREFIX_MAXDEPTH / 8 + KW_PREFIX_MAXDEPTH * 32)
#define KW_PREFIX_NODE_MAXBYTES 83
#define KW_PREFIX_REFBYTES 41
#define KW_PREFIX_KEYBYTES 42
#define KW_PREFIX_BATCH_MAX ((size_t)1 << 24)
#define KW_PREFIX_NO_EPOCH UINT64_MAX /* "no base epoch": start from the empty tree */

/* What a subtree is; also the kind byte of stored nodes and references. */
enum { KW_PREFIX_EMPTY = 0, KW_PREFIX_LEAF = 1, KW_PREFIX_INNER = 2 };

/* The result of a search, first byte of a proof. */
enum { KW_PREFIX_MEMBER = 0, KW_PREFIX_ABSENT_EMPTY = 1, KW_PREFIX_ABSENT_LEAF = 2 };

/* ---- hashing (cannot fail) ---- */

/* out = SHA-256(0x00 ‖ index ‖ commitment). */
void kw_prefix_hash_leaf(uint8_t out[static KW_PREFIX_HASHBYTES],
                         const uint8_t index[static KW_PREFIX_INDEXBYTES],
                         const uint8_t commitment[static KW_PREFIX_COMMITBYTES]);

/* out = SHA-256(0x01 ‖ left ‖ right); out may alias left or right. */
void kw_prefix_hash_inner(uint8_t out[static KW_PREFIX_HASHBYTES],
                          const uint8_t left[static KW_PREFIX_HASHBYTES],
                          const uint8_t right[static KW_PREFIX_HASHBYTES]);

/* ---- proofs: structure, wire form, verifiers ---- */

/* A search proof. sibling[i] is the hash of the other child of the node at
 * depth i on the searched index's path; sibling[0..depth) are used.
 * leaf_index / leaf_commitment are used for KW_PREFIX_ABSENT_LEAF only. */
typedef struct kw_prefix_proof {
    uint8_t result;
    uint16_t depth;
    uint8_t leaf_index[KW_PREFIX_INDEXBYTES];
    uint8_t leaf_commitment[KW_PREFIX_COMMITBYTES];
    uint8_t sibling[KW_PREFIX_MAXDEPTH][KW_PREFIX_HASHBYTES];
} kw_prefix_proof;

/* Length of the wire form of p (0 for a malformed p). */
size_t kw_prefix_proof_encoded_len(const kw_prefix_proof *p);

/* Writes the wire form to out[0..cap) and its length to *out_len.
 * KW_ERR_FORMAT for a malformed p, KW_ERR_TOO_LARGE when cap is short. */
int kw_prefix_proof_encode(uint8_t *out, size_t cap, size_t *out_len, const kw_prefix_proof *p);

/* Decodes exactly in[0..len). KW_ERR_TRUNCATED when the input ends early,
 * KW_ERR_TOO_LARGE for a depth over 256, KW_ERR_FORMAT for an unknown
 * result or trailing bytes. *p is zeroed on error. */
int kw_prefix_proof_decode(kw_prefix_proof *p, const uint8_t *in, size_t len)
    __attribute__((warn_unused_result));

/* The same wire form inside a larger message (nothing is consumed on error). */
int kw_prefix_proof_put(kw_buf *b, const kw_prefix_proof *p);
int kw_prefix_proof_get(kw_buf *b, kw_prefix_proof *p) __attribute__((warn_unused_result));

/* Two proofs against one root for indices a (prev) and b share their
 * siblings at the levels where both paths run through the same nodes: the
 * first min(prev->depth, depth, common prefix bits of a and b) ones. The
 * count (0 when prev is NULL). Cannot fail. */
unsigned kw_prefix_shared_levels(const kw_prefix_proof *prev, unsigned depth,
                                 const uint8_t a[static KW_PREFIX_INDEXBYTES],
                                 const uint8_t b[static KW_PREFIX_INDEXBYTES]);

/* The wire form of p for index, without the siblings it shares with prev
 * (the proof of prev_index in the same response; NULL: none, the plain
 * form). KW_ERR_INVALID_ARG when the shared siblings differ (not one tree),
 * KW_ERR_FORMAT for a malformed p, kw_buf errors. */
int kw_prefix_proof_put_shared(kw_buf *b, const kw_prefix_proof *p, const kw_prefix_proof *prev,
                               const uint8_t prev_index[static KW_PREFIX_INDEXBYTES],
                               const uint8_t index[static KW_PREFIX_INDEXBYTES]);

/* Parses that form from the front of in[0..len) (trailing bytes allowed;
 * *used receives the length), taking the shared siblings from prev.
 * Errors as kw_prefix_proof_decode. */
int kw_prefix_proof_parse_shared(kw_prefix_proof *p, const uint8_t *in, size_t len, size_t *used,
                                 const kw_prefix_proof *prev,
                                 const uint8_t prev_index[static KW_PREFIX_INDEXBYTES],
                                 const uint8_t index[static KW_PREFIX_INDEXBYTES])
    __attribute__((warn_unused_result));

/* Computes into root the root that proof p implies for index (and, for a
 * membership proof, commitment; NULL otherwise is KW_ERR_INVALID_ARG).
 * KW_ERR_FORMAT for a malformed p, KW_ERR_VERIFY for a proof no well-formed
 * tree yields. root is zeroed on error. Only as trustworthy as what the
 * caller compares the result with. */
int kw_prefix_proof_root(uint8_t root[static KW_PREFIX_HASHBYTES],
                         const uint8_t index[static KW_PREFIX_INDEXBYTES],
                         const uint8_t *commitment, const kw_prefix_proof *p)
    __attribute__((warn_unused_result));

/* Checks that the tree with `root` holds index with commitment. 0 when it
 * does; KW_ERR_VERIFY when p is not a membership proof or does not lead to
 * root; KW_ERR_FORMAT for a malformed p. */
int kw_prefix_verify_member(const uint8_t root[static KW_PREFIX_HASHBYTES],
                            const uint8_t index[static KW_PREFIX_INDEXBYTES],
                            const uint8_t commitment[static KW_PREFIX_COMMITBYTES],
                            const kw_prefix_proof *p) __attribute__((warn_unused_result));

/* Checks that the tree with `root` does not hold index. 0 when so;
 * KW_ERR_VERIFY when p is not a non-membership proof or does not lead to
 * root; KW_ERR_FORMAT for a malformed p. */
int kw_prefix_verify_absent(const uint8_t root[static KW_PREFIX_HASHBYTES],
                            const uint8_t index[static KW_PREFIX_INDEXBYTES],
                            const kw_prefix_proof *p) __attribute__((warn_unused_result));

/* ---- the node store ---- */

/* Storage callbacks. `prefix` holds the first `depth` bits of the path, the
 * rest zero. Each returns 0, KW_ERR_NOT_FOUND (get only: no such node or
 * root), or another error (passed on to the caller of the tree function).
 *  get_node  copies the node (epoch, depth, prefix) to out, length to *len;
 *  put_node  stores it (the tree only puts under the epoch being built, and
 *            may put the same key again when an update is retried: replace);
 *  get_root  copies the root reference of an epoch;
 *  put_root  stores it; called last, once every node of the epoch is put,
 *            so an update is complete exactly when its root exists (a
 *            backend runs the whole update in one transaction);
 *  stale     optional (NULL to ignore): node (epoch, depth, prefix) is not
 *            reachable from the root of `since` or any later epoch (history
 *            is linear); a backend may drop it once no epoch before `since`
 *            needs proving. Called after the puts, before put_root. */
typedef struct kw_prefix_store {
    void *ctx;
    int (*get_node)(void *ctx, uint64_t epoch, unsigned depth,
                    const uint8_t prefix[KW_PREFIX_INDEXBYTES],
                    uint8_t out[KW_PREFIX_NODE_MAXBYTES], size_t *len);
    int (*put_node)(void *ctx, uint64_t epoch, unsigned depth,
                    const uint8_t prefix[KW_PREFIX_INDEXBYTES], const uint8_t *node,
                    size_t len);
    int (*get_root)(void *ctx, uint64_t epoch, uint8_t out[KW_PREFIX_REFBYTES]);
    int (*put_root)(void *ctx, uint64_t epoch, const uint8_t ref[KW_PREFIX_REFBYTES]);
    int (*stale)(void *ctx, uint64_t since, uint64_t epoch, unsigned depth,
                 const uint8_t prefix[KW_PREFIX_INDEXBYTES]);
} kw_prefix_store;

/* Serialises a node key as u64 epoch ‖ u16 depth ‖ prefix, for a backend
 * that keeps nodes in one ordered key-value table. Cannot fail. */
void kw_prefix_key_encode(uint8_t out[static KW_PREFIX_KEYBYTES], uint64_t epoch, unsigned depth,
                          const uint8_t prefix[static KW_PREFIX_INDEXBYTES]);

/* ---- the tree: updates and reads over a store ---- */

/* One update: a new leaf. */
typedef struct kw_prefix_entry {
    uint8_t index[KW_PREFIX_INDEXBYTES];
    uint8_t commitment[KW_PREFIX_COMMITBYTES];
} kw_prefix_entry;

/* What an update did (for the bench and the server's metrics). */
typedef struct kw_prefix_stats {
    uint64_t nodes_read;
    uint64_t nodes_written;
    uint64_t bytes_written; /* key (42) + node bytes, per node, plus the root */
    uint64_t nodes_stale;
} kw_prefix_stats;

/* Builds epoch new_epoch as the tree of base_epoch (KW_PREFIX_NO_EPOCH: the
 * empty tree) plus entries[0..n): sorts entries by index in place, writes
 * each new or changed node once, bottom-up, reports superseded nodes to
 * st->stale, then writes the root of new_epoch and copies its hash to
 * root_out (n == 0 makes a heartbeat epoch with base_epoch's root).
 * KW_ERR_INVALID_ARG unless new_epoch > base_epoch (or base_epoch is
 * KW_PREFIX_NO_EPOCH and new_epoch is not), KW_ERR_NOT_FOUND when
 * base_epoch has no root, KW_ERR_CONFLICT when new_epoch already has one or
 * an index is already present or repeated, KW_ERR_LIMIT for n over
 * KW_PREFIX_BATCH_MAX, KW_ERR_NOMEM, store errors. On error no root is
 * written (nodes already put under new_epoch are unreachable and are
 * replaced by a retry) and root_out is zeroed. stats may be NULL. */
int kw_prefix_update(const kw_prefix_store *st, uint64_t base_epoch, uint64_t new_epoch,
                     kw_prefix_entry *entries, size_t n,
                     uint8_t root_out[static KW_PREFIX_HASHBYTES], kw_prefix_stats *stats);

/* The root hash of epoch (the all-zero hash for an empty tree).
 * KW_ERR_NOT_FOUND when the epoch has no root. root is zeroed on error. */
int kw_prefix_root(const kw_prefix_store *st, uint64_t epoch,
                   uint8_t root[static KW_PREFIX_HASHBYTES]);

/* The commitment stored for index in epoch: 0, or KW_ERR_NOT_FOUND when the
 * index (or the epoch) is absent. commitment is zeroed unless found. */
int kw_prefix_lookup(const kw_prefix_store *st, uint64_t epoch,
                     const uint8_t index[static KW_PREFIX_INDEXBYTES],
                     uint8_t commitment[static KW_PREFIX_COMMITBYTES]);

/* The search proof of index in epoch: proof->result says whether it is a
 * membership proof (then commitment, if not NULL, receives the leaf's
 * commitment) or a non-membership proof (commitment zeroed). 0 on success,
 * KW_ERR_NOT_FOUND when the epoch has no root, store errors; *proof is
 * zeroed on error. */
int kw_prefix_prove(const kw_prefix_store *st, uint64_t epoch,
                    const uint8_t index[static KW_PREFIX_INDEXBYTES], kw_prefix_proof *proof,
                    uint8_t *commitment);

/* ---- the in-memory store ---- */

typedef struct kw_prefix_memstore kw_prefix_memstore;

typedef struct kw_prefix_memstore_stats {
    uint64_t nodes;       /* nodes kept */
    uint64_t roots;       /* epochs with a root */
    uint64_t stale;       /* superseded nodes not yet pruned */
    uint64_t node_bytes;  /* sum over nodes of key (42) + node bytes: what a backend stores */
    uint64_t mem_bytes;   /* bytes this store has allocated */
} kw_prefix_memstore_stats;

/* Creates an empty in-memory store. KW_ERR_NOMEM; *out is NULL on error. */
int kw_prefix_memstore_new(kw_prefix_memstore **out);

/* Frees *ms and sets *ms to NULL; NULL or *ms NULL is a no-op. */
void kw_prefix_memstore_free(kw_prefix_memstore **ms);

/* Fills st with the callbacks of ms (valid until ms is freed). put_root of
 * an epoch that has one fails with KW_ERR_CONFLICT. */
void kw_prefix_memstore_store(kw_prefix_memstore *ms, kw_prefix_store *st);

/* Drops every root of an epoch before keep_from and every node that only
 * those epochs reach, so epochs keep_from.. stay provable.
 * KW_ERR_INVALID_ARG when no epoch >= keep_from has a root. */
int kw_prefix_memstore_prune(kw_prefix_memstore *ms, uint64_t keep_from);

/* Current sizes. */
void kw_prefix_memstore_stats_get(const kw_prefix_memstore *ms, kw_prefix_memstore_stats *out);

#endif
