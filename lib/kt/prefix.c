/* The prefix tree of key transparency: hashing, proofs and their wire form,
 * batch updates and reads over kw_prefix_store, and the in-memory store.
 * See kt_prefix.h. */
#include "keyward/kt_prefix.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"

#define HB KW_PREFIX_HASHBYTES
#define IB KW_PREFIX_INDEXBYTES
#define LEAF_BYTES (1 + IB + KW_PREFIX_COMMITBYTES)
#define INNER_BYTES KW_PREFIX_NODE_MAXBYTES

static const uint8_t zero_hash[HB];

/* ---- small helpers ---- */

static unsigned bit_at(const uint8_t index[static IB], unsigned i)
{
    return (index[i >> 3] >> (7 - (i & 7))) & 1u;
}

static void bit_set(uint8_t index[static IB], unsigned i)
{
    index[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
}

/* True when a and b agree on their first `bits` bits. */
static bool prefix_equal(const uint8_t a[static IB], const uint8_t b[static IB], unsigned bits)
{
    unsigned whole = bits >> 3, rest = bits & 7;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return ((a[whole] ^ b[whole]) & mask) == 0;
}

static void be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* ---- hashing ---- */

void kw_prefix_hash_leaf(uint8_t out[static HB], const uint8_t index[static IB],
                         const uint8_t commitment[static KW_PREFIX_COMMITBYTES])
{
    uint8_t in[LEAF_BYTES];
    in[0] = 0x00;
    memcpy(in + 1, index, IB);
    memcpy(in + 1 + IB, commitment, KW_PREFIX_COMMITBYTES);
    crypto_hash_sha256(out, in, sizeof(in));
}

void kw_prefix_hash_inner(uint8_t out[static HB], const uint8_t left[static HB],
                          const uint8_t right[static HB])
{
    /* Copied first so out may alias an input. */
    uint8_t in[1 + 2 * HB];
    in[0] = 0x01;
    memcpy(in + 1, left, HB);
    memcpy(in + 1 + HB, right, HB);
    crypto_hash_sha256(out, in, sizeof(in));
}

/* ---- proofs: wire form ---- */

static bool proof_wellformed(const kw_prefix_proof *p)
{
    return p->result <= KW_PREFIX_ABSENT_LEAF && p->depth <= KW_PREFIX_MAXDEPTH;
}

/* Siblings 0..skip are shared with another proof (not on the wire); the
 * rest are a bitmap of the non-zero ones (MSB first, ceil((depth - skip)
 * / 8) bytes, padding bits zero) followed by those siblings. */
static size_t enc_len_skip(const kw_prefix_proof *p, unsigned skip)
{
    if (!proof_wellformed(p) || skip > p->depth)
        return 0;
    size_t n = 3 + (p->result == KW_PREFIX_ABSENT_LEAF ? IB + KW_PREFIX_COMMITBYTES : 0);
    n += (p->depth - skip + 7u) / 8u;
    for (unsigned i = skip; i < p->depth; i++)
        if (!kw_ct_is_zero(p->sibling[i], HB))
            n += HB;
    return n;
}

size_t kw_prefix_proof_encoded_len(const kw_prefix_proof *p)
{
    return enc_len_skip(p, 0);
}

static int encode_skip(uint8_t *out, size_t cap, size_t *out_len, const kw_prefix_proof *p,
                       unsigned skip)
{
    *out_len = 0;
    size_t need = enc_len_skip(p, skip);
    if (need == 0)
        return KW_ERR_FORMAT;
    if (cap < need)
        return KW_ERR_TOO_LARGE;
    uint8_t *w = out;
    *w++ = p->result;
    *w++ = (uint8_t)(p->depth >> 8);
    *w++ = (uint8_t)p->depth;
    if (p->result == KW_PREFIX_ABSENT_LEAF) {
        memcpy(w, p->leaf_index, IB);
        memcpy(w + IB, p->leaf_commitment, KW_PREFIX_COMMITBYTES);
        w += IB + KW_PREFIX_COMMITBYTES;
    }
    size_t bm = (p->depth - skip + 7u) / 8u;
    uint8_t *map = w;
    memset(map, 0, bm);
    w += bm;
    for (unsigned i = skip; i < p->depth; i++) {
        if (kw_ct_is_zero(p->sibling[i], HB))
            continue;
        map[(i - skip) / 8] |= (uint8_t)(0x80u >> ((i - skip) % 8));
        memcpy(w, p->sibling[i], HB);
        w += HB;
    }
    *out_len = need;
    return KW_OK;
}

int kw_prefix_proof_encode(uint8_t *out, size_t cap, size_t *out_len, const kw_prefix_proof *p)
{
    return encode_skip(out, cap, out_len, p, 0);
}

unsigned kw_prefix_shared_levels(const kw_prefix_proof *prev, unsigned depth,
                                 const uint8_t a[static KW_PREFIX_INDEXBYTES],
                                 const uint8_t b[static KW_PREFIX_INDEXBYTES])
{
    if (prev == NULL)
        return 0;
    unsigned cpl = 0;
    while (cpl < KW_PREFIX_MAXDEPTH && bit_at(a, cpl) == bit_at(b, cpl))
        cpl++;
    unsigned s = prev->depth < depth ? prev->depth : depth;
    return cpl < s ? cpl : s;
}

/* Parses a proof from the front of in[0..len), storing the bytes used in
 * *used; trailing bytes are the caller's business. With prev, the first
 * kw_prefix_shared_levels(prev, depth, prev_index, index) siblings come
 * from prev. */
static int proof_parse_ex(kw_prefix_proof *p, const uint8_t *in, size_t len, size_t *used,
                          const kw_prefix_proof *prev, const uint8_t *prev_index,
                          const uint8_t *index)
{
    memset(p, 0, sizeof(*p));
    *used = 0;
    if (len < 3)
        return KW_ERR_TRUNCATED;
    uint8_t result = in[0];
    unsigned depth = ((unsigned)in[1] << 8) | in[2];
    if (result > KW_PREFIX_ABSENT_LEAF)
        return KW_ERR_FORMAT;
    if (depth > KW_PREFIX_MAXDEPTH)
        return KW_ERR_TOO_LARGE;
    unsigned skip = prev != NULL ? kw_prefix_shared_levels(prev, depth, prev_index, index) : 0;
    size_t extra = result == KW_PREFIX_ABSENT_LEAF ? IB + KW_PREFIX_COMMITBYTES : 0;
    size_t bm = (depth - skip + 7u) / 8u;
    size_t need = 3 + extra + bm;
    if (len < need)
        return KW_ERR_TRUNCATED;
    const uint8_t *map = in + 3 + extra;
    unsigned pad = (unsigned)(bm * 8 - (depth - skip));
    if (bm > 0 && (map[bm - 1] & (uint8_t)((1u << pad) - 1u)) != 0)
        return KW_ERR_FORMAT;
    for (unsigned i = skip; i < depth; i++)
        if (map[(i - skip) / 8] & (0x80u >> ((i - skip) % 8)))
            need += HB;
    if (len < need)
        return KW_ERR_TRUNCATED;
    p->result = result;
    p->depth = (uint16_t)depth;
    if (extra > 0) {
        memcpy(p->leaf_index, in + 3, IB);
        memcpy(p->leaf_commitment, in + 3 + IB, KW_PREFIX_COMMITBYTES);
    }
    if (skip > 0)
        memcpy(p->sibling, prev->sibling, (size_t)skip * HB);
    const uint8_t *r = map + bm;
    for (unsigned i = skip; i < depth; i++) {
        if (!(map[(i - skip) / 8] & (0x80u >> ((i - skip) % 8))))
            continue;
        if (kw_ct_is_zero(r, HB)) { /* zero siblings are never written out */
            memset(p, 0, sizeof(*p));
            return KW_ERR_FORMAT;
        }
        memcpy(p->sibling[i], r, HB);
        r += HB;
    }
    *used = need;
    return KW_OK;
}

static int proof_parse(kw_prefix_proof *p, const uint8_t *in, size_t len, size_t *used)
{
    return proof_parse_ex(p, in, len, used, NULL, NULL, NULL);
}

int kw_prefix_proof_put_shared(kw_buf *b, const kw_prefix_proof *p, const kw_prefix_proof *prev,
                               const uint8_t prev_index[static KW_PREFIX_INDEXBYTES],
                               const uint8_t index[static KW_PREFIX_INDEXBYTES])
{
    unsigned skip = kw_prefix_shared_levels(prev, p->depth, prev_index, index);
    if (prev != NULL && memcmp(p->sibling, prev->sibling, (size_t)skip * HB) != 0)
        return KW_ERR_INVALID_ARG; /* not from the same tree */
    size_t need = enc_len_skip(p, skip), n;
    uint8_t *dst;
    if (need == 0)
        return KW_ERR_FORMAT;
    int r = kw_buf_reserve(b, need, &dst);
    if (r != KW_OK)
        return r;
    return encode_skip(dst, need, &n, p, skip);
}

int kw_prefix_proof_parse_shared(kw_prefix_proof *p, const uint8_t *in, size_t len, size_t *used,
                                 const kw_prefix_proof *prev,
                                 const uint8_t prev_index[static KW_PREFIX_INDEXBYTES],
                                 const uint8_t index[static KW_PREFIX_INDEXBYTES])
{
    return proof_parse_ex(p, in, len, used, prev, prev_index, index);
}

int kw_prefix_proof_decode(kw_prefix_proof *p, const uint8_t *in, size_t len)
{
    size_t used;
    int r = proof_parse(p, in, len, &used);
    if (r == KW_OK && used != len) {
        memset(p, 0, sizeof(*p));
        r = KW_ERR_FORMAT;
    }
    return r;
}

int kw_prefix_proof_put(kw_buf *b, const kw_prefix_proof *p)
{
    size_t need = kw_prefix_proof_encoded_len(p), n;
    uint8_t *dst;
    if (need == 0)
        return KW_ERR_FORMAT;
    int r = kw_buf_reserve(b, need, &dst);
    if (r != KW_OK)
        return r;
    return kw_prefix_proof_encode(dst, need, &n, p);
}

int kw_prefix_proof_get(kw_buf *b, kw_prefix_proof *p)
{
    size_t used;
    int r = proof_parse(p, kw_buf_ptr(b), kw_buf_len(b), &used);
    if (r != KW_OK)
        return r;
    r = kw_buf_get(b, NULL, used);
    if (r != KW_OK)
        memset(p, 0, sizeof(*p));
    return r;
}

/* ---- verifiers ---- */

int kw_prefix_proof_root(uint8_t root[static HB], const uint8_t index[static IB],
                         const uint8_t *commitment, const kw_prefix_proof *p)
{
    uint8_t h[HB];
    memset(root, 0, HB);
    if (!proof_wellformed(p))
        return KW_ERR_FORMAT;
    unsigned d = p->depth;
    switch (p->result) {
    case KW_PREFIX_MEMBER:
        if (commitment == NULL)
            return KW_ERR_INVALID_ARG;
        kw_prefix_hash_leaf(h, index, commitment);
        break;
    case KW_PREFIX_ABSENT_EMPTY:
        /* A subtree at depth 256 holds at most one index, so its parent
         * never has two leaves on the other side. */
        if (d == KW_PREFIX_MAXDEPTH)
            return KW_ERR_VERIFY;
        memset(h, 0, HB);
        break;
    default: /* KW_PREFIX_ABSENT_LEAF */
        if (memcmp(p->leaf_index, index, IB) == 0 || !prefix_equal(p->leaf_index, index, d))
            return KW_ERR_VERIFY;
        kw_prefix_hash_leaf(h, p->leaf_index, p->leaf_commitment);
        break;
    }
    /* The parent of the terminal holds two or more leaves, so the subtree
     * beside the terminal is never empty. */
    if (d > 0 && kw_ct_is_zero(p->sibling[d - 1], HB))
        return KW_ERR_VERIFY;
    for (unsigned i = d; i-- > 0;) {
        if (bit_at(index, i))
            kw_prefix_hash_inner(h, p->sibling[i], h);
        else
            kw_prefix_hash_inner(h, h, p->sibling[i]);
    }
    memcpy(root, h, HB);
    return KW_OK;
}

static int verify_root(const uint8_t root[static HB], const uint8_t index[static IB],
                       const uint8_t *commitment, const kw_prefix_proof *p)
{
    uint8_t got[HB];
    int r = kw_prefix_proof_root(got, index, commitment, p);
    if (r != KW_OK)
        return r;
    return kw_ct_equal(got, root, HB) ? KW_OK : KW_ERR_VERIFY;
}

int kw_prefix_verify_member(const uint8_t root[static HB], const uint8_t index[static IB],
                            const uint8_t commitment[static KW_PREFIX_COMMITBYTES],
                            const kw_prefix_proof *p)
{
    if (!proof_wellformed(p))
        return KW_ERR_FORMAT;
    if (p->result != KW_PREFIX_MEMBER)
        return KW_ERR_VERIFY;
    return verify_root(root, index, commitment, p);
}

int kw_prefix_verify_absent(const uint8_t root[static HB], const uint8_t index[static IB],
                            const kw_prefix_proof *p)
{
    if (!proof_wellformed(p))
        return KW_ERR_FORMAT;
    if (p->result == KW_PREFIX_MEMBER)
        return KW_ERR_VERIFY;
    return verify_root(root, index, NULL, p);
}

/* ---- stored forms ---- */

/* A reference to a subtree, as held by its parent or an epoch's root. */
typedef struct {
    uint8_t kind;
    uint64_t epoch;
    uint8_t hash[HB];
} ref_t;

/* A decoded node: a leaf (index, commitment) or an inner node (child refs). */
typedef struct {
    uint8_t kind;
    uint8_t index[IB];
    uint8_t commitment[KW_PREFIX_COMMITBYTES];
    ref_t child[2];
} node_t;

void kw_prefix_key_encode(uint8_t out[static KW_PREFIX_KEYBYTES], uint64_t epoch, unsigned depth,
                          const uint8_t prefix[static IB])
{
    be64_put(out, epoch);
    out[8] = (uint8_t)(depth >> 8);
    out[9] = (uint8_t)depth;
    memcpy(out + 10, prefix, IB);
}

static void ref_encode(uint8_t out[static KW_PREFIX_REFBYTES], const ref_t *r)
{
    out[0] = r->kind;
    be64_put(out + 1, r->epoch);
    memcpy(out + 9, r->hash, HB);
}

/* A reference is empty with epoch 0 and a zero hash, or a leaf or an inner
 * node with any epoch and hash. */
static int ref_decode(ref_t *r, const uint8_t in[static KW_PREFIX_REFBYTES])
{
    r->kind = in[0];
    r->epoch = be64_get(in + 1);
    memcpy(r->hash, in + 9, HB);
    if (r->kind > KW_PREFIX_INNER)
        return KW_ERR_STORAGE;
    if (r->kind == KW_PREFIX_EMPTY && (r->epoch != 0 || !kw_ct_is_zero(r->hash, HB)))
        return KW_ERR_STORAGE;
    return KW_OK;
}

static size_t node_encode(uint8_t out[static INNER_BYTES], const node_t *n)
{
    out[0] = n->kind;
    if (n->kind == KW_PREFIX_LEAF) {
        memcpy(out + 1, n->index, IB);
        memcpy(out + 1 + IB, n->commitment, KW_PREFIX_COMMITBYTES);
        return LEAF_BYTES;
    }
    ref_encode(out + 1, &n->child[0]);
    ref_encode(out + 1 + KW_PREFIX_REFBYTES, &n->child[1]);
    return INNER_BYTES;
}

/* Decodes a stored node and checks that it may sit at (depth, prefix) with
 * the kind its parent recorded: a leaf on its own path, an inner node with
 * two or more leaves below (not two empty children, not one leaf beside an
 * empty child) above depth 256. */
static int node_decode(node_t *n, const uint8_t *in, size_t len, uint8_t kind, unsigned depth,
                       const uint8_t prefix[static IB])
{
    memset(n, 0, sizeof(*n));
    if (len < 1 || in[0] != kind)
        return KW_ERR_STORAGE;
    n->kind = kind;
    if (kind == KW_PREFIX_LEAF) {
        if (len != LEAF_BYTES)
            return KW_ERR_STORAGE;
        memcpy(n->index, in + 1, IB);
        memcpy(n->commitment, in + 1 + IB, KW_PREFIX_COMMITBYTES);
        return prefix_equal(n->index, prefix, depth) ? KW_OK : KW_ERR_STORAGE;
    }
    if (kind != KW_PREFIX_INNER || len != INNER_BYTES || depth >= KW_PREFIX_MAXDEPTH)
        return KW_ERR_STORAGE;
    int r;
    if ((r = ref_decode(&n->child[0], in + 1)) != KW_OK ||
        (r = ref_decode(&n->child[1], in + 1 + KW_PREFIX_REFBYTES)) != KW_OK)
        return r;
    uint8_t k0 = n->child[0].kind, k1 = n->child[1].kind;
    if ((k0 == KW_PREFIX_EMPTY && k1 != KW_PREFIX_INNER) ||
        (k1 == KW_PREFIX_EMPTY && k0 != KW_PREFIX_INNER))
        return KW_ERR_STORAGE;
    return KW_OK;
}

static int read_node(const kw_prefix_store *st, const ref_t *ref, unsigned depth,
                     const uint8_t prefix[static IB], node_t *n)
{
    uint8_t buf[INNER_BYTES];
    size_t len = 0;
    int r = st->get_node(st->ctx, ref->epoch, depth, prefix, buf, &len);
    if (r == KW_ERR_NOT_FOUND)
        return KW_ERR_STORAGE; /* a node its parent names must exist */
    if (r != KW_OK)
        return r;
    if (len > sizeof(buf))
        return KW_ERR_STORAGE;
    return node_decode(n, buf, len, ref->kind, depth, prefix);
}

static int read_root(const kw_prefix_store *st, uint64_t epoch, ref_t *ref)
{
    uint8_t buf[KW_PREFIX_REFBYTES];
    memset(ref, 0, sizeof(*ref));
    int r = st->get_root(st->ctx, epoch, buf);
    if (r != KW_OK)
        return r;
    r = ref_decode(ref, buf);
    if (r == KW_OK && ref->epoch > epoch)
        r = KW_ERR_STORAGE;
    if (r != KW_OK)
        memset(ref, 0, sizeof(*ref));
    return r;
}

/* ---- reads ---- */

int kw_prefix_root(const kw_prefix_store *st, uint64_t epoch, uint8_t root[static HB])
{
    ref_t ref;
    int r = read_root(st, epoch, &ref);
    memcpy(root, r == KW_OK ? ref.hash : zero_hash, HB);
    return r;
}

/* Walks index's path in epoch, filling the proof when p is not NULL and the
 * leaf's commitment when the index is present. */
static int walk(const kw_prefix_store *st, uint64_t epoch, const uint8_t index[static IB],
                kw_prefix_proof *p, uint8_t commitment[static KW_PREFIX_COMMITBYTES],
                bool *found)
{
    ref_t ref;
    node_t n;
    uint8_t prefix[IB] = {0};
    unsigned depth = 0;
    *found = false;
    int r = read_root(st, epoch, &ref);
    if (r != KW_OK)
        return r;
    for (;;) {
        if (ref.kind == KW_PREFIX_EMPTY) {
            /* Only the empty tree's root, or the child of an inner node
             * whose decoding guaranteed a non-empty sibling. */
            if (p != NULL)
                p->result = KW_PREFIX_ABSENT_EMPTY;
            break;
        }
        if ((r = read_node(st, &ref, depth, prefix, &n)) != KW_OK)
            return r;
        if (n.kind == KW_PREFIX_LEAF) {
            if (memcmp(n.index, index, IB) == 0) {
                *found = true;
                memcpy(commitment, n.commitment, KW_PREFIX_COMMITBYTES);
                if (p != NULL)
                    p->result = KW_PREFIX_MEMBER;
            } else if (p != NULL) {
                p->result = KW_PREFIX_ABSENT_LEAF;
                memcpy(p->leaf_index, n.index, IB);
                memcpy(p->leaf_commitment, n.commitment, KW_PREFIX_COMMITBYTES);
            }
            break;
        }
        unsigned b = bit_at(index, depth);
        if (p != NULL)
            memcpy(p->sibling[depth], n.child[b ^ 1].hash, HB);
        if (n.child[b].epoch > ref.epoch)
            return KW_ERR_STORAGE;
        ref = n.child[b];
        if (b)
            bit_set(prefix, depth);
        depth++; /* < 256: node_decode refuses inner nodes at depth 256 */
    }
    if (p != NULL)
        p->depth = (uint16_t)depth;
    return KW_OK;
}

int kw_prefix_lookup(const kw_prefix_store *st, uint64_t epoch, const uint8_t index[static IB],
                     uint8_t commitment[static KW_PREFIX_COMMITBYTES])
{
    bool found;
    memset(commitment, 0, KW_PREFIX_COMMITBYTES);
    int r = walk(st, epoch, index, NULL, commitment, &found);
    if (r == KW_OK && !found)
        r = KW_ERR_NOT_FOUND;
    if (r != KW_OK)
        memset(commitment, 0, KW_PREFIX_COMMITBYTES);
    return r;
}

int kw_prefix_prove(const kw_prefix_store *st, uint64_t epoch, const uint8_t index[static IB],
                    kw_prefix_proof *proof, uint8_t *commitment)
{
    uint8_t c[KW_PREFIX_COMMITBYTES] = {0};
    bool found;
    memset(proof, 0, sizeof(*proof));
    int r = walk(st, epoch, index, proof, c, &found);
    if (r != KW_OK)
        memset(proof, 0, sizeof(*proof));
    if (commitment != NULL)
        memcpy(commitment, r == KW_OK && found ? c : zero_hash, KW_PREFIX_COMMITBYTES);
    return r;
}

/* ---- batch update ---- */

typedef struct {
    uint64_t epoch;
    uint16_t depth;
    uint8_t prefix[IB];
} stale_t;

typedef struct {
    const kw_prefix_store *st;
    uint64_t epoch;
    kw_prefix_stats stats;
    stale_t *stale;
    size_t stale_n, stale_cap;
} upd_t;

static int stale_push(upd_t *u, uint64_t epoch, unsigned depth, const uint8_t prefix[static IB])
{
    if (u->st->stale == NULL)
        return KW_OK;
    if (u->stale_n == u->stale_cap) {
        size_t cap = u->stale_cap == 0 ? 64 : u->stale_cap * 2;
        if (cap > SIZE_MAX / sizeof(stale_t))
            return KW_ERR_NOMEM;
        stale_t *s = realloc(u->stale, cap * sizeof(stale_t));
        if (s == NULL)
            return KW_ERR_NOMEM;
        u->stale = s;
        u->stale_cap = cap;
    }
    stale_t *s = &u->stale[u->stale_n++];
    s->epoch = epoch;
    s->depth = (uint16_t)depth;
    memcpy(s->prefix, prefix, IB);
    return KW_OK;
}

/* Writes node n at (u->epoch, depth, prefix) and sets *out to refer to it. */
static int write_node(upd_t *u, const node_t *n, unsigned depth, const uint8_t prefix[static IB],
                      ref_t *out)
{
    uint8_t buf[INNER_BYTES];
    size_t len = node_encode(buf, n);
    int r = u->st->put_node(u->st->ctx, u->epoch, depth, prefix, buf, len);
    if (r != KW_OK)
        return r;
    u->stats.nodes_written++;
    u->stats.bytes_written += KW_PREFIX_KEYBYTES + len;
    out->kind = n->kind;
    out->epoch = u->epoch;
    if (n->kind == KW_PREFIX_LEAF)
        kw_prefix_hash_leaf(out->hash, n->index, n->commitment);
    else
        kw_prefix_hash_inner(out->hash, n->child[0].hash, n->child[1].hash);
    return KW_OK;
}

/* The first entry of e[0..n) whose bit `depth` is 1 (they share the bits
 * above and are sorted, so the zeros come first). */
static size_t split_at(const kw_prefix_entry *e, size_t n, unsigned depth)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bit_at(e[mid].index, depth))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Builds the subtree at (depth, prefix) holding e[0..n) and, when `moved`
 * is not NULL, that existing leaf too (n + moved >= 1), where nothing was
 * before or the one leaf there is `moved`. */
static int build(upd_t *u, unsigned depth, const uint8_t prefix[static IB],
                 const kw_prefix_entry *e, size_t n, const node_t *moved, ref_t *out)
{
    node_t nn;
    memset(&nn, 0, sizeof(nn));
    if (n + (moved != NULL) == 1) {
        nn.kind = KW_PREFIX_LEAF;
        if (moved != NULL) {
            memcpy(nn.index, moved->index, IB);
            memcpy(nn.commitment, moved->commitment, KW_PREFIX_COMMITBYTES);
        } else {
            memcpy(nn.index, e[0].index, IB);
            memcpy(nn.commitment, e[0].commitment, KW_PREFIX_COMMITBYTES);
        }
        return write_node(u, &nn, depth, prefix, out);
    }
    if (depth >= KW_PREFIX_MAXDEPTH) /* two distinct indices part before bit 256 */
        return KW_ERR_INTERNAL;
    size_t s = split_at(e, n, depth);
    unsigned mb = moved != NULL ? bit_at(moved->index, depth) : 2;
    nn.kind = KW_PREFIX_INNER;
    for (unsigned b = 0; b < 2; b++) {
        const kw_prefix_entry *ce = b ? e + s : e;
        size_t cn = b ? n - s : s;
        const node_t *cm = mb == b ? moved : NULL;
        if (cn == 0 && cm == NULL)
            continue; /* stays empty: kind 0, epoch 0, zero hash */
        uint8_t cp[IB];
        memcpy(cp, prefix, IB);
        if (b)
            bit_set(cp, depth);
        int r = build(u, depth + 1, cp, ce, cn, cm, &nn.child[b]);
        if (r != KW_OK)
            return r;
    }
    return write_node(u, &nn, depth, prefix, out);
}

/* Applies e[0..n) to the existing subtree `old` at (depth, prefix) and sets
 * *out to the new subtree. Untouched subtrees (n == 0) keep their
 * reference: nothing is read or written for them. */
static int update(upd_t *u, unsigned depth, const uint8_t prefix[static IB], const ref_t *old,
                  const kw_prefix_entry *e, size_t n, ref_t *out)
{
    if (n == 0) {
        *out = *old;
        return KW_OK;
    }
    if (old->kind == KW_PREFIX_EMPTY)
        return build(u, depth, prefix, e, n, NULL, out);
    if (old->epoch >= u->epoch)
        return KW_ERR_STORAGE;
    node_t cur;
    int r = read_node(u->st, old, depth, prefix, &cur);
    if (r != KW_OK)
        return r;
    u->stats.nodes_read++;
    if ((r = stale_push(u, old->epoch, depth, prefix)) != KW_OK)
        return r;
    if (cur.kind == KW_PREFIX_LEAF) {
        /* The leaf moves down beside the new entries; it may not be one. */
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = memcmp(e[mid].index, cur.index, IB);
            if (c == 0)
                return KW_ERR_CONFLICT;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return build(u, depth, prefix, e, n, &cur, out);
    }
    size_t s = split_at(e, n, depth);
    node_t nn;
    memset(&nn, 0, sizeof(nn));
    nn.kind = KW_PREFIX_INNER;
    for (unsigned b = 0; b < 2; b++) {
        uint8_t cp[IB];
        memcpy(cp, prefix, IB);
        if (b)
            bit_set(cp, depth);
        if (cur.child[b].epoch > old->epoch)
            return KW_ERR_STORAGE;
        r = update(u, depth + 1, cp, &cur.child[b], b ? e + s : e, b ? n - s : s, &nn.child[b]);
        if (r != KW_OK)
            return r;
    }
    return write_node(u, &nn, depth, prefix, out);
}

static int entry_cmp(const void *a, const void *b)
{
    return memcmp(((const kw_prefix_entry *)a)->index, ((const kw_prefix_entry *)b)->index, IB);
}

int kw_prefix_update(const kw_prefix_store *st, uint64_t base_epoch, uint64_t new_epoch,
                     kw_prefix_entry *entries, size_t n, uint8_t root_out[static HB],
                     kw_prefix_stats *stats)
{
    int r = KW_ERR_INTERNAL;
    upd_t u = {.st = st, .epoch = new_epoch};
    ref_t base = {0}, root = {0};
    uint8_t buf[KW_PREFIX_REFBYTES];

    memset(root_out, 0, HB);
    if (stats != NULL)
        memset(stats, 0, sizeof(*stats));
    if (new_epoch == KW_PREFIX_NO_EPOCH ||
        (base_epoch != KW_PREFIX_NO_EPOCH && new_epoch <= base_epoch) ||
        (entries == NULL && n != 0))
        return KW_ERR_INVALID_ARG;
    if (n > KW_PREFIX_BATCH_MAX)
        return KW_ERR_LIMIT;
    r = st->get_root(st->ctx, new_epoch, buf);
    if (r == KW_OK)
        return KW_ERR_CONFLICT;
    if (r != KW_ERR_NOT_FOUND)
        return r;
    if (base_epoch != KW_PREFIX_NO_EPOCH && (r = read_root(st, base_epoch, &base)) != KW_OK)
        return r;
    if (n > 1)
        qsort(entries, n, sizeof(*entries), entry_cmp);
    for (size_t i = 1; i < n; i++)
        if (memcmp(entries[i - 1].index, entries[i].index, IB) == 0)
            return KW_ERR_CONFLICT;

    uint8_t prefix[IB] = {0};
    if ((r = update(&u, 0, prefix, &base, entries, n, &root)) != KW_OK)
        goto out;
    for (size_t i = 0; i < u.stale_n; i++) {
        r = st->stale(st->ctx, new_epoch, u.stale[i].epoch, u.stale[i].depth, u.stale[i].prefix);
        if (r != KW_OK)
            goto out;
    }
    u.stats.nodes_stale = u.stale_n;
    ref_encode(buf, &root);
    if ((r = st->put_root(st->ctx, new_epoch, buf)) != KW_OK)
        goto out;
    u.stats.bytes_written += 8 + KW_PREFIX_REFBYTES;
    memcpy(root_out, root.hash, HB);
    r = KW_OK;
out:
    if (stats != NULL)
        *stats = u.stats;
    free(u.stale);
    return r;
}

/* ---- the in-memory store ---- */

/* Node records live in fixed chunks (never moved, reused through a free
 * list after pruning); an open-addressing index (linear probing,
 * backward-shift deletion) of 8-byte entries maps a key's 32-bit hash to
 * its record, so probing and growing touch only the index. */
#define CHUNK_SHIFT 14
#define CHUNK_RECS ((size_t)1 << CHUNK_SHIFT)
#define MAX_RECS ((size_t)UINT32_MAX - 1)

typedef struct {
    uint64_t epoch;
    uint16_t depth;
    uint8_t len;
    uint8_t prefix[IB];
    uint8_t node[INNER_BYTES];
} rec_t;

typedef struct {
    uint32_t hash;
    uint32_t rec; /* record number + 1; 0 marks a free entry */
} ient_t;

typedef struct {
    uint64_t since;
    stale_t key;
} mstale_t;

typedef struct {
    uint64_t epoch;
    uint8_t ref[KW_PREFIX_REFBYTES];
} mroot_t;

struct kw_prefix_memstore {
    ient_t *ix;
    size_t cap, used; /* cap is 0 or a power of two */
    rec_t **chunk;
    size_t nchunks, chunk_cap, nrec;
    uint32_t *freerec;
    size_t nfree, free_cap;
    uint64_t node_bytes;
    mroot_t *root;
    size_t root_n, root_cap;
    mstale_t *stale;
    size_t stale_n, stale_cap;
};

/* Grows *arr (of elem-byte elements, capacity *cap) to hold at least need. */
static int grow_array(void **arr, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return KW_OK;
    size_t c = *cap == 0 ? first : *cap;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return KW_ERR_NOMEM;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return KW_ERR_NOMEM;
    void *p = realloc(*arr, c * elem);
    if (p == NULL)
        return KW_ERR_NOMEM;
    *arr = p;
    *cap = c;
    return KW_OK;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint32_t key_hash(uint64_t epoch, unsigned depth, const uint8_t prefix[static IB])
{
    uint64_t h = epoch * 0x9e3779b97f4a7c15ull ^ ((uint64_t)depth << 48);
    for (int i = 0; i < 4; i++)
        h = mix64(h ^ be64_get(prefix + 8 * i));
    return (uint32_t)(h ^ (h >> 32));
}

static rec_t *rec_at(const kw_prefix_memstore *ms, uint32_t r)
{
    return &ms->chunk[r >> CHUNK_SHIFT][r & (CHUNK_RECS - 1)];
}

/* The index entry holding the key, or the free entry where it would go. */
static size_t ix_find(const kw_prefix_memstore *ms, uint32_t h, uint64_t epoch, unsigned depth,
                      const uint8_t prefix[static IB])
{
    size_t mask = ms->cap - 1, i = h & mask;
    for (; ms->ix[i].rec != 0; i = (i + 1) & mask) {
        if (ms->ix[i].hash != h)
            continue;
        const rec_t *r = rec_at(ms, ms->ix[i].rec - 1);
        if (r->depth == depth && r->epoch == epoch && memcmp(r->prefix, prefix, IB) == 0)
            break;
    }
    return i;
}

static int ix_grow(kw_prefix_memstore *ms)
{
    size_t cap = ms->cap == 0 ? 1024 : ms->cap * 2;
    if (cap > SIZE_MAX / sizeof(ient_t))
        return KW_ERR_NOMEM;
    ient_t *nix = calloc(cap, sizeof(ient_t));
    if (nix == NULL)
        return KW_ERR_NOMEM;
    for (size_t i = 0; i < ms->cap; i++) {
        if (ms->ix[i].rec == 0)
            continue;
        size_t j = ms->ix[i].hash & (cap - 1);
        while (nix[j].rec != 0)
            j = (j + 1) & (cap - 1);
        nix[j] = ms->ix[i];
    }
    free(ms->ix);
    ms->ix = nix;
    ms->cap = cap;
    return KW_OK;
}

static int rec_alloc(kw_prefix_memstore *ms, uint32_t *out)
{
    if (ms->nfree > 0) {
        *out = ms->freerec[--ms->nfree];
        return KW_OK;
    }
    if (ms->nrec >= MAX_RECS)
        return KW_ERR_LIMIT;
    if (ms->nrec == ms->nchunks * CHUNK_RECS) {
        int r = grow_array((void **)&ms->chunk, &ms->chunk_cap, ms->nchunks + 1,
                           sizeof(rec_t *), 16);
        if (r != KW_OK)
            return r;
        rec_t *c = malloc(CHUNK_RECS * sizeof(rec_t));
        if (c == NULL)
            return KW_ERR_NOMEM;
        ms->chunk[ms->nchunks++] = c;
    }
    *out = (uint32_t)ms->nrec++;
    return KW_OK;
}

/* Removes index entry i and frees its record. */
static int ix_delete(kw_prefix_memstore *ms, size_t i)
{
    uint32_t rec = ms->ix[i].rec - 1;
    int r = grow_array((void **)&ms->freerec, &ms->free_cap, ms->nfree + 1, sizeof(uint32_t), 256);
    if (r != KW_OK)
        return r;
    ms->freerec[ms->nfree++] = rec;
    ms->node_bytes -= KW_PREFIX_KEYBYTES + rec_at(ms, rec)->len;
    ms->used--;
    /* Backward shift: pull later members of the probe run into the hole
     * unless their home lies cyclically in (hole, j]. */
    size_t mask = ms->cap - 1, j = i;
    for (;;) {
        ms->ix[i].rec = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (ms->ix[j].rec == 0)
                return KW_OK;
            size_t home = ms->ix[j].hash & mask;
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        ms->ix[i] = ms->ix[j];
        i = j;
    }
}

static int ms_get_node(void *ctx, uint64_t epoch, unsigned depth, const uint8_t prefix[IB],
                       uint8_t out[INNER_BYTES], size_t *len)
{
    kw_prefix_memstore *ms = ctx;
    *len = 0;
    if (ms->cap == 0)
        return KW_ERR_NOT_FOUND;
    size_t i = ix_find(ms, key_hash(epoch, depth, prefix), epoch, depth, prefix);
    if (ms->ix[i].rec == 0)
        return KW_ERR_NOT_FOUND;
    const rec_t *r = rec_at(ms, ms->ix[i].rec - 1);
    memcpy(out, r->node, r->len);
    *len = r->len;
    return KW_OK;
}

static int ms_put_node(void *ctx, uint64_t epoch, unsigned depth, const uint8_t prefix[IB],
                       const uint8_t *node, size_t len)
{
    kw_prefix_memstore *ms = ctx;
    int r;
    if (len == 0 || len > INNER_BYTES || depth > KW_PREFIX_MAXDEPTH)
        return KW_ERR_INVALID_ARG;
    if ((ms->used + 1) * 4 > ms->cap * 3 && (r = ix_grow(ms)) != KW_OK)
        return r;
    uint32_t h = key_hash(epoch, depth, prefix);
    size_t i = ix_find(ms, h, epoch, depth, prefix);
    rec_t *rec;
    if (ms->ix[i].rec == 0) {
        uint32_t n;
        if ((r = rec_alloc(ms, &n)) != KW_OK)
            return r;
        rec = rec_at(ms, n);
        rec->epoch = epoch;
        rec->depth = (uint16_t)depth;
        memcpy(rec->prefix, prefix, IB);
        ms->ix[i].hash = h;
        ms->ix[i].rec = n + 1;
        ms->used++;
    } else {
        rec = rec_at(ms, ms->ix[i].rec - 1);
        ms->node_bytes -= KW_PREFIX_KEYBYTES + rec->len;
    }
    rec->len = (uint8_t)len;
    memcpy(rec->node, node, len);
    ms->node_bytes += KW_PREFIX_KEYBYTES + len;
    return KW_OK;
}

/* Index of the first root with epoch >= e. */
static size_t root_lower(const kw_prefix_memstore *ms, uint64_t e)
{
    size_t lo = 0, hi = ms->root_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ms->root[mid].epoch < e)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool has_root(const kw_prefix_memstore *ms, uint64_t e)
{
    size_t i = root_lower(ms, e);
    return i < ms->root_n && ms->root[i].epoch == e;
}

static int ms_get_root(void *ctx, uint64_t epoch, uint8_t out[KW_PREFIX_REFBYTES])
{
    kw_prefix_memstore *ms = ctx;
    size_t i = root_lower(ms, epoch);
    if (i == ms->root_n || ms->root[i].epoch != epoch)
        return KW_ERR_NOT_FOUND;
    memcpy(out, ms->root[i].ref, KW_PREFIX_REFBYTES);
    return KW_OK;
}

static int ms_put_root(void *ctx, uint64_t epoch, const uint8_t ref[KW_PREFIX_REFBYTES])
{
    kw_prefix_memstore *ms = ctx;
    size_t i = root_lower(ms, epoch);
    if (i < ms->root_n && ms->root[i].epoch == epoch)
        return KW_ERR_CONFLICT;
    int r = grow_array((void **)&ms->root, &ms->root_cap, ms->root_n + 1, sizeof(mroot_t), 16);
    if (r != KW_OK)
        return r;
    memmove(&ms->root[i + 1], &ms->root[i], (ms->root_n - i) * sizeof(mroot_t));
    ms->root[i].epoch = epoch;
    memcpy(ms->root[i].ref, ref, KW_PREFIX_REFBYTES);
    ms->root_n++;
    return KW_OK;
}

static int ms_stale(void *ctx, uint64_t since, uint64_t epoch, unsigned depth,
                    const uint8_t prefix[IB])
{
    kw_prefix_memstore *ms = ctx;
    int r = grow_array((void **)&ms->stale, &ms->stale_cap, ms->stale_n + 1, sizeof(mstale_t), 256);
    if (r != KW_OK)
        return r;
    mstale_t *s = &ms->stale[ms->stale_n++];
    s->since = since;
    s->key.epoch = epoch;
    s->key.depth = (uint16_t)depth;
    memcpy(s->key.prefix, prefix, IB);
    return KW_OK;
}

int kw_prefix_memstore_new(kw_prefix_memstore **out)
{
    *out = calloc(1, sizeof(**out));
    return *out == NULL ? KW_ERR_NOMEM : KW_OK;
}

void kw_prefix_memstore_free(kw_prefix_memstore **ms)
{
    if (ms == NULL || *ms == NULL)
        return;
    for (size_t i = 0; i < (*ms)->nchunks; i++)
        free((*ms)->chunk[i]);
    free((*ms)->chunk);
    free((*ms)->ix);
    free((*ms)->freerec);
    free((*ms)->root);
    free((*ms)->stale);
    free(*ms);
    *ms = NULL;
}

void kw_prefix_memstore_store(kw_prefix_memstore *ms, kw_prefix_store *st)
{
    st->ctx = ms;
    st->get_node = ms_get_node;
    st->put_node = ms_put_node;
    st->get_root = ms_get_root;
    st->put_root = ms_put_root;
    st->stale = ms_stale;
}

int kw_prefix_memstore_prune(kw_prefix_memstore *ms, uint64_t keep_from)
{
    if (root_lower(ms, keep_from) == ms->root_n)
        return KW_ERR_INVALID_ARG;
    /* A node superseded at `since` serves epochs before since only. Records
     * of an epoch without a root come from an update that failed: the node
     * they name is still live. */
    size_t kept = 0, i;
    int r = KW_OK;
    for (i = 0; i < ms->stale_n && r == KW_OK; i++) {
        mstale_t *s = &ms->stale[i];
        if (s->since <= keep_from && has_root(ms, s->since)) {
            if (ms->cap > 0) {
                const stale_t *k = &s->key;
                size_t j = ix_find(ms, key_hash(k->epoch, k->depth, k->prefix), k->epoch,
                                   k->depth, k->prefix);
                if (ms->ix[j].rec != 0 && (r = ix_delete(ms, j)) != KW_OK)
                    ms->stale[kept++] = *s; /* keep it for the next prune */
            }
        } else {
            ms->stale[kept++] = *s;
        }
    }
    for (; i < ms->stale_n; i++)
        ms->stale[kept++] = ms->stale[i];
    ms->stale_n = kept;
    if (r != KW_OK)
        return r;
    size_t first = root_lower(ms, keep_from);
    memmove(ms->root, ms->root + first, (ms->root_n - first) * sizeof(mroot_t));
    ms->root_n -= first;
    return KW_OK;
}

void kw_prefix_memstore_stats_get(const kw_prefix_memstore *ms, kw_prefix_memstore_stats *out)
{
    out->nodes = ms->used;
    out->roots = ms->root_n;
    out->stale = ms->stale_n;
    out->node_bytes = ms->node_bytes;
    out->mem_bytes = (uint64_t)ms->cap * sizeof(ient_t) +
                     (uint64_t)ms->nchunks * CHUNK_RECS * sizeof(rec_t) +
                     ms->chunk_cap * sizeof(rec_t *) + ms->free_cap * sizeof(uint32_t) +
                     ms->root_cap * sizeof(mroot_t) + ms->stale_cap * sizeof(mstale_t) +
                     sizeof(*ms);
}
