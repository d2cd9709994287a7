/*
 * keyward/kt_log.h — the append-only log tree of key transparency: RFC 9162
 * §2.1 Merkle trees over SHA-256, with proof verifiers and producers.
 *
 * Hashing (RFC 9162 §2.1.1): leaf hash = SHA-256(0x00 ‖ data), interior
 * node = SHA-256(0x01 ‖ left ‖ right), the empty tree's root = SHA-256("").
 * The split of n leaves is at the largest power of two below n.
 *
 * Owns:
 *  - kw_log_proof, a caller-allocated list of at most KW_LOG_PROOF_MAXHASHES
 *    32-byte hashes (an inclusion or consistency proof) and its wire form:
 *    u8 count ‖ count × 32 bytes (at most KW_LOG_PROOF_MAXBYTES).
 *  - The verifiers: pure functions over hashes (RFC 9162 §2.1.3.2 and
 *    §2.1.4.2), with two rules of transparency-dev/merkle that the shared
 *    vectors pin: a leaf hash is exactly 32 bytes, and a consistency check
 *    from size 0 is rejected. For size1 == size2 the proof must be empty and
 *    the two roots byte-identical; that is the whole check (the vectors
 *    accept equal roots even of a length other than 32, as transparency-dev
 *    does — two identical strings are trivially consistent).
 *  - The producers, written over kw_log_reader, a small node-reading
 *    interface, so the same code runs over the in-memory tree here and over
 *    a storage backend later. A node (level, index) is the root of the
 *    perfect subtree over leaves [index·2^level, (index+1)·2^level); level 0
 *    holds the leaf hashes. A reader may return KW_ERR_NOT_FOUND for a node
 *    above level 0 that it does not keep, and the producers then compute it
 *    from its children (so a backend may keep only the leaves, or only some
 *    levels, trading proof time for space). Any other error is passed on.
 *  - kw_log_tree, an in-memory tree for a server or a test: it keeps every
 *    perfect-subtree node (about 2n hashes for n leaves), so appends cost
 *    O(1) amortised, and roots at any size and proofs cost O(log n) hashes.
 *  - kw_log_compact, a compact range: O(log n) state (one hash per set bit
 *    of the size) that appends leaves and yields the current root without
 *    the rest of the tree, for a publisher that only extends the log.
 *
 * Thread safety: everything but kw_log_tree is stateless or caller-owned.
 * A kw_log_tree must not be appended to while another thread reads it;
 * concurrent reads (roots, proofs) are fine.
 *
 * Errors: verifiers return KW_ERR_FORMAT for structurally impossible input
 * (a hash of the wrong length, index >= size, size1 > size2, size1 == 0 for
 * consistency, a proof whose length is not the one the sizes dictate, a
 * malformed kw_log_proof) and KW_ERR_VERIFY when a well-formed proof does
 * not lead to the given root(s). Producers return KW_ERR_NOT_FOUND for a
 * size beyond the tree, KW_ERR_INVALID_ARG for an index or size pair outside
 * the contract, and pass on the reader's errors. Decoding tells
 * KW_ERR_TRUNCATED, KW_ERR_TOO_LARGE (count over the maximum) and
 * KW_ERR_FORMAT (trailing bytes) apart.
 *
 * Secret data: none. Hashes and proofs are public; roots are still compared
 * in constant time, as every hash in keyward is.
 */
#ifndef KEYWARD_KT_LOG_H
#define KEYWARD_KT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "keyward/buf.h"

#define KW_LOG_HASHBYTES 32
/* Every inclusion proof fits (at most 64 hashes for 64-bit sizes), and every
 * consistency proof of trees up to 2^63 leaves; beyond that a consistency
 * proof may need 65 hashes and is refused (KW_ERR_TOO_LARGE from the
 * producer, KW_ERR_FORMAT from the verifier). */
#define KW_LOG_PROOF_MAXHASHES 64
#define KW_LOG_PROOF_MAXBYTES (1 + KW_LOG_PROOF_MAXHASHES * KW_LOG_HASHBYTES)
#define KW_LOG_TREE_MAX_LEAVES ((uint64_t)1 << 40) /* ceiling for kw_log_tree_new */

/* An inclusion or consistency proof: hash[0..count). Initialise with
 * `kw_log_proof p = {0};` or fill by kw_log_proof_push / _decode / a
 * producer. */
typedef struct kw_log_proof {
    size_t count;
    uint8_t hash[KW_LOG_PROOF_MAXHASHES][KW_LOG_HASHBYTES];
} kw_log_proof;

/* ---- hashing (cannot fail) ---- */

/* out = SHA-256(0x00 ‖ data[0..len)). */
void kw_log_hash_leaf(uint8_t out[static KW_LOG_HASHBYTES], const uint8_t *data, size_t len);

/* out = SHA-256(0x01 ‖ left ‖ right); out may alias left or right. */
void kw_log_hash_children(uint8_t out[static KW_LOG_HASHBYTES],
                          const uint8_t left[static KW_LOG_HASHBYTES],
                          const uint8_t right[static KW_LOG_HASHBYTES]);

/* out = SHA-256(""), the root of the empty tree. */
void kw_log_hash_empty(uint8_t out[static KW_LOG_HASHBYTES]);

/* ---- proofs: building and wire form ---- */

/* Appends one hash of hash_len bytes. KW_ERR_FORMAT unless hash_len is 32,
 * KW_ERR_TOO_LARGE when the proof already holds the maximum; the proof is
 * unchanged on error. */
int kw_log_proof_push(kw_log_proof *p, const uint8_t *hash, size_t hash_len);

/* Writes u8 count ‖ hashes to out[0..cap), the length to *out_len.
 * KW_ERR_TOO_LARGE when cap is short, KW_ERR_FORMAT for a proof whose count
 * is over the maximum. */
int kw_log_proof_encode(uint8_t *out, size_t cap, size_t *out_len, const kw_log_proof *p);

/* Decodes exactly in[0..len) into *p. KW_ERR_TRUNCATED when the input ends
 * early, KW_ERR_TOO_LARGE when the count is over KW_LOG_PROOF_MAXHASHES,
 * KW_ERR_FORMAT when bytes follow the proof. On error *p is empty. */
int kw_log_proof_decode(kw_log_proof *p, const uint8_t *in, size_t len)
    __attribute__((warn_unused_result));

/* The same wire form inside a larger message: append to / consume from a
 * kw_buf (nothing is consumed on error; errors as above and kw_buf's). */
int kw_log_proof_put(kw_buf *b, const kw_log_proof *p);
int kw_log_proof_get(kw_buf *b, kw_log_proof *p) __attribute__((warn_unused_result));

/* ---- verifiers (pure, thread-safe) ---- */

/* Checks that leaf_hash is leaf `index` of the tree of `size` leaves whose
 * root is `root`, by proof. 0 when it is; KW_ERR_VERIFY when the proof leads
 * to another root; KW_ERR_FORMAT for index >= size, a leaf hash or root not
 * 32 bytes, or a proof of the wrong length. */
int kw_log_inclusion_verify(uint64_t index, uint64_t size, const uint8_t *leaf_hash,
                            size_t leaf_hash_len, const kw_log_proof *proof, const uint8_t *root,
                            size_t root_len) __attribute__((warn_unused_result));

/* Computes into root the tree root that the inclusion proof implies for
 * leaf_hash at (index, size). Errors as kw_log_inclusion_verify but never
 * KW_ERR_VERIFY; root is zeroed on error. Only as trustworthy as whatever
 * the caller then compares the result with. */
int kw_log_inclusion_root(uint8_t root[static KW_LOG_HASHBYTES], uint64_t index, uint64_t size,
                          const uint8_t *leaf_hash, size_t leaf_hash_len,
                          const kw_log_proof *proof) __attribute__((warn_unused_result));

/* Checks that the tree of size2 leaves with root2 extends the tree of size1
 * leaves with root1, by proof. 0 when it does; KW_ERR_VERIFY when the proof
 * does not lead to both roots (or, for size1 == size2, the roots differ);
 * KW_ERR_FORMAT for size1 == 0, size1 > size2, a non-empty proof with equal
 * sizes, a root not 32 bytes, or a proof of the wrong length. */
int kw_log_consistency_verify(uint64_t size1, uint64_t size2, const uint8_t *root1,
                              size_t root1_len, const uint8_t *root2, size_t root2_len,
                              const kw_log_proof *proof) __attribute__((warn_unused_result));

/* ---- the node-reading interface and producers ---- */

/* A read-only view of a tree of `size` leaves. node() writes the hash of
 * node (level, index) — only ever asked for a node whose leaves all lie
 * below size — and returns 0, KW_ERR_NOT_FOUND (not kept; level > 0 only:
 * the producers then hash its two children), or another error, passed on. */
typedef struct kw_log_reader {
    void *ctx;
    uint64_t size;
    int (*node)(void *ctx, unsigned level, uint64_t index, uint8_t out[KW_LOG_HASHBYTES]);
} kw_log_reader;

/* The root of the first `size` leaves (size <= rd->size, else
 * KW_ERR_NOT_FOUND); size 0 gives SHA-256(""). root is zeroed on error. */
int kw_log_root(const kw_log_reader *rd, uint64_t size, uint8_t root[static KW_LOG_HASHBYTES]);

/* The inclusion proof of leaf `index` in the tree of the first `size`
 * leaves. KW_ERR_NOT_FOUND when size > rd->size, KW_ERR_INVALID_ARG when
 * index >= size. *proof is empty on error. */
int kw_log_inclusion_prove(const kw_log_reader *rd, uint64_t index, uint64_t size,
                           kw_log_proof *proof);

/* The consistency proof from size1 to size2 (empty when equal).
 * KW_ERR_NOT_FOUND when size2 > rd->size, KW_ERR_INVALID_ARG when size1 == 0
 * or size1 > size2. *proof is empty on error. */
int kw_log_consistency_prove(const kw_log_reader *rd, uint64_t size1, uint64_t size2,
                             kw_log_proof *proof);

/* ---- the compact range ---- */

typedef struct kw_log_compact {
    uint64_t size;
    uint8_t node[64][KW_LOG_HASHBYTES]; /* node[k] valid iff bit k of size is set */
} kw_log_compact;

/* Sets *c to the empty tree. */
void kw_log_compact_init(kw_log_compact *c);

/* Loads the compact range of the first `size` leaves of rd (one node per set
 * bit of size). Errors as kw_log_root; *c is the empty tree on error. */
int kw_log_compact_load(kw_log_compact *c, const kw_log_reader *rd, uint64_t size);

/* Appends one leaf hash. KW_ERR_LIMIT when the size would pass 2^64 - 1. */
int kw_log_compact_append(kw_log_compact *c, const uint8_t leaf_hash[static KW_LOG_HASHBYTES]);

/* The root of the range's tree (SHA-256("") when empty). */
void kw_log_compact_root(const kw_log_compact *c, uint8_t root[static KW_LOG_HASHBYTES]);

/* ---- append proofs (compact search responses; docs/crypto.md) ----
 * A client that keeps the compact range ("frontier") of a log of size1
 * leaves can check a tree of size2 leaves against it with only the roots of
 * the perfect subtrees that cover leaves [size1, size2), left to right, each
 * the largest one aligned at its start that fits: O(log(size2 - size1))
 * hashes, none when size2 == size1. Folding the extended range proves that
 * the new tree's first size1 leaves are the old ones. */

/* The append proof of leaves [size1, size2). KW_ERR_NOT_FOUND when size2 >
 * rd->size, KW_ERR_INVALID_ARG when size1 > size2, KW_ERR_TOO_LARGE when it
 * needs more than KW_LOG_PROOF_MAXHASHES hashes (only for ranges near
 * 2^64). *proof is empty on error. */
int kw_log_append_prove(const kw_log_reader *rd, uint64_t size1, uint64_t size2,
                        kw_log_proof *proof);

/* Appends the root of a perfect subtree of 2^level leaves. KW_ERR_INVALID_ARG
 * when the size is not a multiple of 2^level (or level >= 64), KW_ERR_LIMIT
 * on overflow; *c is unchanged on error. */
int kw_log_compact_append_node(kw_log_compact *c, unsigned level,
                               const uint8_t hash[static KW_LOG_HASHBYTES]);

/* Extends *c to size2 leaves by an append proof. KW_ERR_FORMAT when size2 <
 * c->size or the proof does not have exactly the hashes the sizes dictate;
 * *c is unchanged on error. The caller compares the resulting root. */
int kw_log_compact_extend(kw_log_compact *c, uint64_t size2, const kw_log_proof *proof)
    __attribute__((warn_unused_result));

/* The compact range of a tree of `size` leaves from the inclusion proof of
 * its last leaf (leaf_hash): the path of the last leaf is exactly the range
 * of the leaves before it. KW_ERR_FORMAT for size 0 or a proof of the wrong
 * length; only as trustworthy as the proof (verify it first). */
int kw_log_compact_from_last_inclusion(kw_log_compact *c, uint64_t size,
                                       const uint8_t leaf_hash[static KW_LOG_HASHBYTES],
                                       const kw_log_proof *proof)
    __attribute__((warn_unused_result));

/* ---- the in-memory tree ---- */

typedef struct kw_log_tree kw_log_tree;

/* Creates an empty tree that may grow to max_leaves leaves (1 ..
 * KW_LOG_TREE_MAX_LEAVES, else KW_ERR_INVALID_ARG); memory grows as leaves
 * are appended. KW_ERR_NOMEM on allocation failure. *out is NULL on error. */
int kw_log_tree_new(kw_log_tree **out, uint64_t max_leaves);

/* Frees *t and sets *t to NULL; NULL or *t NULL is a no-op. */
void kw_log_tree_free(kw_log_tree **t);

/* Appends a leaf hash. KW_ERR_LIMIT when the tree holds max_leaves,
 * KW_ERR_NOMEM when it cannot grow; the tree is unchanged on error. */
int kw_log_tree_append(kw_log_tree *t, const uint8_t leaf_hash[static KW_LOG_HASHBYTES]);

/* Hashes data as a leaf and appends it; errors as kw_log_tree_append. */
int kw_log_tree_append_data(kw_log_tree *t, const uint8_t *data, size_t len);

/* Number of leaves. */
uint64_t kw_log_tree_size(const kw_log_tree *t);

/* The current root, from the tree's compact range. Cannot fail. */
void kw_log_tree_root(const kw_log_tree *t, uint8_t root[static KW_LOG_HASHBYTES]);

/* A reader over the tree as it is now (its size is fixed at this call); it
 * stays valid until the tree is freed. */
void kw_log_tree_reader(const kw_log_tree *t, kw_log_reader *rd);

#endif
