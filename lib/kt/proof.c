/* Client-side verification of the directory's responses. See kt.h and
 * docs/crypto.md for the wire formats. */
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/kt.h"
#include "kt/kt_dir_internal.h"

#define TAI KW_VRF_EDWARDS25519_SHA512_TAI

/* A reader over the caller's response: values are returned as pointers
 * into it, so nothing is copied. */
typedef struct {
    const uint8_t *p;
    size_t n;
} rd_t;

typedef struct {
    rd_t rd;
    const kw_kt_trust *t;
    const uint8_t *label;
    size_t label_len;
    int verify; /* 0: parse only (sizes) */
    kw_kt_reason why;
    kw_kt_head head;
    size_t value_bytes;
    int have_beta, have_prev;
    uint8_t beta[KT_PREFIXBYTES];             /* VRF(label) prefix, once verified */
    uint8_t prev_idx[KW_KT_INDEXBYTES];      /* index of pp[cur] */
    int cur;
    kw_prefix_proof pp[2];
    kw_log_proof lp;
    int have_frontier;
    kw_log_compact frontier; /* the verified head's, once have_frontier */
} vctx;

static int rd_take(rd_t *r, const uint8_t **out, size_t k)
{
    if (r->n < k)
        return KW_ERR_TRUNCATED;
    *out = r->p;
    r->p += k;
    r->n -= k;
    return KW_OK;
}

static int rd_uint(rd_t *r, uint64_t *v, size_t k)
{
    const uint8_t *p;
    int e = rd_take(r, &p, k);
    *v = e == KW_OK ? kt_be_get(p, k) : 0;
    return e;
}

static int rd_log_proof(rd_t *r, kw_log_proof *p)
{
    p->count = 0;
    if (r->n < 1)
        return KW_ERR_TRUNCATED;
    size_t count = r->p[0];
    if (count > KW_LOG_PROOF_MAXHASHES)
        return KW_ERR_TOO_LARGE;
    size_t need = 1 + count * KW_LOG_HASHBYTES;
    if (r->n < need)
        return KW_ERR_TRUNCATED;
    const uint8_t *s;
    (void)rd_take(r, &s, need);
    return kw_log_proof_decode(p, s, need);
}

/* Reads the next prefix proof of the response's chain for index into
 * c->pp[next], sharing levels with the previous one. */
static int rd_prefix_proof(vctx *c, const uint8_t index[static KW_KT_INDEXBYTES],
                           kw_prefix_proof **out)
{
    int nx = c->have_prev ? 1 - c->cur : c->cur;
    size_t used = 0;
    int r = kw_prefix_proof_parse_shared(&c->pp[nx], c->rd.p, c->rd.n, &used,
                                         c->have_prev ? &c->pp[c->cur] : NULL, c->prev_idx, index);
    if (r != KW_OK)
        return r;
    c->rd.p += used;
    c->rd.n -= used;
    *out = &c->pp[nx];
    return KW_OK;
}

/* Makes the proof just read the previous one of the chain. */
static void chain_push(vctx *c, kw_prefix_proof *p, const uint8_t index[static KW_KT_INDEXBYTES])
{
    c->cur = (int)(p - c->pp);
    c->have_prev = 1;
    memcpy(c->prev_idx, index, KW_KT_INDEXBYTES);
}

static int fail(vctx *c, kw_kt_reason why)
{
    c->why = why;
    return KW_ERR_VERIFY;
}

static int malformed(vctx *c, int r)
{
    c->why = KW_KT_MALFORMED;
    return r;
}

static bool heads_equal(const kw_kt_head *a, const kw_kt_head *b)
{
    uint8_t ea[KW_KT_HEADBYTES], eb[KW_KT_HEADBYTES];
    kw_kt_head_encode(ea, a);
    kw_kt_head_encode(eb, b);
    return kw_ct_equal(ea, eb, sizeof(ea));
}

/* Checks a new head against the pinned one: no rollback, and either the
 * same head or a valid consistency proof (cons NULL: none given). */
static int check_against_pinned(vctx *c, const kw_kt_head *h, const kw_kt_head *pin,
                                uint64_t old_size, const kw_log_proof *cons)
{
    if (h->epoch < pin->epoch || h->log_size < pin->log_size || h->timestamp < pin->timestamp)
        return fail(c, KW_KT_HEAD_ROLLBACK);
    if (h->epoch == pin->epoch)
        return heads_equal(h, pin) ? KW_OK : fail(c, KW_KT_INCONSISTENT);
    if (cons == NULL || old_size != pin->log_size)
        return fail(c, KW_KT_INCONSISTENT);
    if (kw_log_consistency_verify(pin->log_size, h->log_size, pin->log_root, 32, h->log_root, 32,
                                  cons) != KW_OK)
        return fail(c, KW_KT_INCONSISTENT);
    return KW_OK;
}

/* head ‖ inclusion proof ‖ u8 flag ‖ [u64 old_size ‖ consistency proof] */
static int frontier_from_inclusion(vctx *c, const uint8_t leaf[static KW_KT_HASHBYTES]);

static int head_section(vctx *c)
{
    int r;
    const uint8_t *hp;
    uint64_t flag = 0, old_size = 0;
    kw_log_proof *cons = NULL;
    uint8_t leaf[KW_KT_HASHBYTES];
    if ((r = rd_take(&c->rd, &hp, KW_KT_HEADBYTES)) != KW_OK ||
        (r = kw_kt_head_decode(&c->head, hp, KW_KT_HEADBYTES)) != KW_OK ||
        (r = rd_log_proof(&c->rd, &c->lp)) != KW_OK || (r = rd_uint(&c->rd, &flag, 1)) != KW_OK)
        return malformed(c, r);
    if (flag > 1)
        return malformed(c, KW_ERR_FORMAT);
    if (flag == 1) {
        if ((cons = malloc(sizeof(*cons))) == NULL)
            return malformed(c, KW_ERR_NOMEM);
        if ((r = rd_uint(&c->rd, &old_size, 8)) != KW_OK || (r = rd_log_proof(&c->rd, cons)) != KW_OK) {
            r = malformed(c, r);
            goto out;
        }
    }
    if (!c->verify) {
        r = KW_OK;
        goto out;
    }
    /* The pinned head was verified when it was pinned: the same bytes need
     * no second signature check. */
    if ((c->t->pinned == NULL || !heads_equal(&c->head, c->t->pinned)) &&
        kw_kt_head_verify(&c->head, c->t->log_pk) != KW_OK) {
        r = fail(c, KW_KT_BAD_HEAD_SIGNATURE);
        goto out;
    }
    kw_kt_log_leaf_hash(leaf, c->head.epoch, c->head.prefix_root, c->head.timestamp);
    if (kw_log_inclusion_verify(c->head.epoch, c->head.log_size, leaf, sizeof(leaf), &c->lp,
                                c->head.log_root, 32) != KW_OK) {
        r = fail(c, KW_KT_LOG_INCLUSION);
        goto out;
    }
    r = KW_OK;
    if (c->t->pinned != NULL)
        r = check_against_pinned(c, &c->head, c->t->pinned, old_size, cons);
    if (r == KW_OK && frontier_from_inclusion(c, leaf) != KW_OK)
        r = fail(c, KW_KT_LOG_INCLUSION);
out:
    free(cons);
    return r;
}

/* The verified head's frontier from the inclusion proof of its (last) log
 * leaf, checked against its log root. */
static int frontier_from_inclusion(vctx *c, const uint8_t leaf[static KW_KT_HASHBYTES])
{
    uint8_t root[KW_KT_HASHBYTES];
    if (kw_log_compact_from_last_inclusion(&c->frontier, c->head.log_size, leaf, &c->lp) != KW_OK)
        return KW_ERR_VERIFY;
    kw_log_compact_root(&c->frontier, root);
    if (!kw_ct_equal(root, c->head.log_root, sizeof(root)))
        return KW_ERR_VERIFY;
    c->have_frontier = 1;
    return KW_OK;
}

/* The append form: head ‖ u64 m ‖ append proof of log leaves [m, n - 1)
 * (n = the head's log size). Proves, against the pinned head of m leaves
 * and its frontier, that the new log extends the pinned one and ends with
 * the head's own leaf. */
static int head_section_append(vctx *c)
{
    int r;
    const uint8_t *hp;
    uint64_t m = 0;
    uint8_t leaf[KW_KT_HASHBYTES], root[KW_KT_HASHBYTES];
    if ((r = rd_take(&c->rd, &hp, KW_KT_HEADBYTES)) != KW_OK ||
        (r = kw_kt_head_decode(&c->head, hp, KW_KT_HEADBYTES)) != KW_OK ||
        (r = rd_uint(&c->rd, &m, 8)) != KW_OK || (r = rd_log_proof(&c->rd, &c->lp)) != KW_OK)
        return malformed(c, r);
    if (m == 0 || m > c->head.log_size)
        return malformed(c, KW_ERR_FORMAT);
    if (!c->verify)
        return KW_OK;
    const kw_kt_head *pin = c->t->pinned;
    const kw_log_compact *f = c->t->frontier;
    /* Without a pinned head and its frontier there is nothing to extend. */
    if (pin == NULL || f == NULL)
        return fail(c, KW_KT_INCONSISTENT);
    if (!heads_equal(&c->head, pin) && kw_kt_head_verify(&c->head, c->t->log_pk) != KW_OK)
        return fail(c, KW_KT_BAD_HEAD_SIGNATURE);
    if (c->head.epoch < pin->epoch || c->head.log_size < pin->log_size ||
        c->head.timestamp < pin->timestamp)
        return fail(c, KW_KT_HEAD_ROLLBACK);
    /* The frontier must be the pinned log's (not some other log's) and the
     * proof must start where the pinned log ends. */
    kw_log_compact_root(f, root);
    if (m != pin->log_size || f->size != pin->log_size ||
        !kw_ct_equal(root, pin->log_root, sizeof(root)))
        return fail(c, KW_KT_INCONSISTENT);
    if (c->head.log_size == m) {
        if (c->lp.count != 0 || !heads_equal(&c->head, pin))
            return fail(c, KW_KT_INCONSISTENT);
        c->frontier = *f;
        c->have_frontier = 1;
        return KW_OK;
    }
    c->frontier = *f;
    kw_kt_log_leaf_hash(leaf, c->head.epoch, c->head.prefix_root, c->head.timestamp);
    if (kw_log_compact_extend(&c->frontier, c->head.log_size - 1, &c->lp) != KW_OK ||
        kw_log_compact_append(&c->frontier, leaf) != KW_OK)
        return fail(c, KW_KT_INCONSISTENT);
    kw_log_compact_root(&c->frontier, root);
    if (!kw_ct_equal(root, c->head.log_root, sizeof(root)))
        return fail(c, KW_KT_INCONSISTENT);
    c->have_frontier = 1;
    return KW_OK;
}

/* The response's one VRF proof, for the label: verified once; every index
 * of the response derives from its output. Parse-only mode takes a dummy
 * output (sizes only). */
static int vrf_section(vctx *c)
{
    const uint8_t *pi;
    uint8_t alpha[KT_ALPHA_MAXBYTES], beta[KW_VRF_OUTPUTBYTES];
    int r;
    if ((r = rd_take(&c->rd, &pi, KW_VRF_PROOFBYTES)) != KW_OK)
        return malformed(c, r);
    if (!c->verify) {
        memcpy(c->beta, pi, KT_PREFIXBYTES);
        c->have_beta = 1;
        return KW_OK;
    }
    size_t n = kt_alpha(alpha, c->label, c->label_len);
    if (kw_vrf_verify(beta, TAI, c->t->vrf_pk, pi, alpha, n) != KW_OK)
        return fail(c, KW_KT_VRF_FAILURE);
    memcpy(c->beta, beta, KT_PREFIXBYTES);
    c->have_beta = 1;
    return KW_OK;
}

/* opening ‖ u32 len ‖ value ‖ membership proof (shared) */
static int member(vctx *c, uint32_t version, const uint8_t **value, size_t *value_len)
{
    const uint8_t *op, *val;
    uint64_t len;
    uint8_t index[KW_KT_INDEXBYTES], cm[KW_COMMIT_BYTES];
    kw_prefix_proof *pp;
    int r;
    kt_index_make(index, c->beta, version);
    if ((r = rd_take(&c->rd, &op, KW_COMMIT_OPENINGBYTES)) != KW_OK ||
        (r = rd_uint(&c->rd, &len, 4)) != KW_OK)
        return malformed(c, r);
    if (len > KW_KT_VALUE_MAXBYTES)
        return malformed(c, KW_ERR_TOO_LARGE);
    if ((r = rd_take(&c->rd, &val, (size_t)len)) != KW_OK || (r = rd_prefix_proof(c, index, &pp)) != KW_OK)
        return malformed(c, r);
    c->value_bytes += (size_t)len;
    *value = val;
    *value_len = (size_t)len;
    if (c->verify) {
        if (pp->result != KW_PREFIX_MEMBER)
            return fail(c, KW_KT_MEMBERSHIP_FAILURE);
        if ((r = kw_commit_compute(cm, op, c->label, c->label_len, version, val, (size_t)len)) != KW_OK)
            return malformed(c, r);
        /* The commitment is recomputed from the opening and the value, so a
         * wrong value, opening or path all fail here. */
        if (kw_prefix_verify_member(c->head.prefix_root, index, cm, pp) != KW_OK)
            return fail(c, KW_KT_MEMBERSHIP_FAILURE);
    }
    memcpy(pp->leaf_commitment, c->verify ? cm : pp->leaf_commitment, KW_COMMIT_BYTES);
    chain_push(c, pp, index);
    return KW_OK;
}

/* non-membership proof (shared), or KT_ABSENT_SAME_LEAF after a member */
static int absent(vctx *c, uint32_t version)
{
    uint8_t index[KW_KT_INDEXBYTES];
    kw_prefix_proof *pp;
    int r;
    kt_index_make(index, c->beta, version);
    if (c->rd.n >= 1 && c->rd.p[0] == KT_ABSENT_SAME_LEAF) {
        if (!c->have_prev)
            return malformed(c, KW_ERR_FORMAT);
        c->rd.p++;
        c->rd.n--;
        /* The previous proof's path ends at its member leaf, where the
         * search for this index stops too: an absent-leaf proof with that
         * leaf and those siblings. */
        int nx = 1 - c->cur;
        pp = &c->pp[nx];
        *pp = c->pp[c->cur];
        pp->result = KW_PREFIX_ABSENT_LEAF;
        memcpy(pp->leaf_index, c->prev_idx, KW_KT_INDEXBYTES);
        /* leaf_commitment: kept from the member proof (its recomputed
         * commitment, stored there by member()). */
    } else if ((r = rd_prefix_proof(c, index, &pp)) != KW_OK) {
        return malformed(c, r);
    } else if (c->have_prev && pp->result == KW_PREFIX_ABSENT_LEAF &&
               memcmp(pp->leaf_index, c->prev_idx, KW_KT_INDEXBYTES) == 0) {
        return malformed(c, KW_ERR_FORMAT); /* must be the one-byte form */
    }
    if (!c->verify)
        return KW_OK;
    if (pp->result == KW_PREFIX_MEMBER)
        return fail(c, KW_KT_NOT_LATEST);
    if (kw_prefix_verify_absent(c->head.prefix_root, index, pp) != KW_OK)
        return fail(c, KW_KT_NONMEMBERSHIP_FAILURE);
    return KW_OK;
}

static vctx *vctx_new(const kw_kt_trust *t, const uint8_t *label, size_t label_len,
                      const uint8_t *resp, size_t resp_len, int verify)
{
    vctx *c = malloc(sizeof(*c));
    if (c == NULL)
        return NULL;
    memset(c, 0, offsetof(vctx, pp));
    c->pp[0].depth = 0;
    c->pp[1].depth = 0;
    c->lp.count = 0;
    c->have_frontier = 0;
    c->frontier.size = 0;
    c->rd.p = resp;
    c->rd.n = resp_len;
    c->t = t;
    c->label = label;
    c->label_len = label_len;
    c->verify = verify;
    return c;
}

static int check_args(const kw_kt_trust *t, const uint8_t *label, size_t label_len,
                      const uint8_t *resp)
{
    if (t == NULL || t->log_pk == NULL || t->vrf_pk == NULL || resp == NULL || label == NULL ||
        label_len == 0)
        return KW_ERR_INVALID_ARG;
    if (label_len > KW_KT_LABEL_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    return KW_OK;
}

static int kind(vctx *c, uint8_t want)
{
    uint64_t k;
    int r = rd_uint(&c->rd, &k, 1);
    if (r != KW_OK)
        return malformed(c, r);
    return k == want ? KW_OK : malformed(c, KW_ERR_FORMAT);
}

static int finish(vctx *c)
{
    return c->rd.n == 0 ? KW_OK : malformed(c, KW_ERR_FORMAT);
}

/* search: kind ‖ head section ‖ u32 v ‖ [member(v)] ‖ absent(v + 1);
 * the append kind has the append head section instead. */
static int search_body(vctx *c, kw_kt_result *res)
{
    uint64_t v, k;
    int r;
    if ((r = rd_uint(&c->rd, &k, 1)) != KW_OK)
        return malformed(c, r);
    if (k == KW_KT_RESP_SEARCH)
        r = head_section(c);
    else if (k == KW_KT_RESP_SEARCH_APPEND)
        r = head_section_append(c);
    else
        r = malformed(c, KW_ERR_FORMAT);
    if (r != KW_OK)
        return r;
    if ((r = rd_uint(&c->rd, &v, 4)) != KW_OK)
        return malformed(c, r);
    if (v == KW_KT_MAX_VERSION)
        return malformed(c, KW_ERR_FORMAT);
    res->version = (uint32_t)v;
    if ((r = vrf_section(c)) != KW_OK)
        return r;
    if (v > 0 && (r = member(c, (uint32_t)v, &res->value, &res->value_len)) != KW_OK)
        return r;
    if ((r = absent(c, (uint32_t)v + 1)) != KW_OK)
        return r;
    return finish(c);
}

int kw_kt_search_verify(kw_kt_result *res, kw_kt_reason *why, const kw_kt_trust *trust,
                        const uint8_t *label, size_t label_len, const uint8_t *resp,
                        size_t resp_len)
{
    memset(res, 0, sizeof(*res));
    *why = KW_KT_MALFORMED;
    int r = check_args(trust, label, label_len, resp);
    if (r != KW_OK)
        return r;
    vctx *c = vctx_new(trust, label, label_len, resp, resp_len, 1);
    if (c == NULL)
        return KW_ERR_NOMEM;
    r = search_body(c, res);
    *why = c->why;
    if (r == KW_OK) {
        res->head = c->head;
        res->have_frontier = c->have_frontier;
        if (c->have_frontier)
            res->frontier = c->frontier;
    } else
        memset(res, 0, sizeof(*res));
    free(c);
    return r;
}

int kw_kt_search_proof_size(size_t *without_value, const uint8_t *resp, size_t resp_len)
{
    static const uint8_t dummy_label[1] = {0};
    kw_kt_result res;
    *without_value = 0;
    vctx *c = vctx_new(NULL, dummy_label, 1, resp, resp_len, 0);
    if (c == NULL)
        return KW_ERR_NOMEM;
    memset(&res, 0, sizeof(res));
    int r = search_body(c, &res);
    if (r == KW_OK)
        *without_value = resp_len - c->value_bytes;
    free(c);
    return r;
}

int kw_kt_lookup_verify(kw_kt_result *res, kw_kt_reason *why, const kw_kt_trust *trust,
                        const uint8_t *label, size_t label_len, uint32_t version,
                        const uint8_t *resp, size_t resp_len)
{
    uint64_t v;
    memset(res, 0, sizeof(*res));
    *why = KW_KT_MALFORMED;
    int r = check_args(trust, label, label_len, resp);
    if (r != KW_OK)
        return r;
    if (version == 0)
        return KW_ERR_INVALID_ARG;
    vctx *c = vctx_new(trust, label, label_len, resp, resp_len, 1);
    if (c == NULL)
        return KW_ERR_NOMEM;
    if ((r = kind(c, KW_KT_RESP_LOOKUP)) != KW_OK || (r = head_section(c)) != KW_OK)
        goto out;
    if ((r = rd_uint(&c->rd, &v, 4)) != KW_OK) {
        r = malformed(c, r);
        goto out;
    }
    if (v != version) {
        r = fail(c, KW_KT_WRONG_VERSION);
        goto out;
    }
    if ((r = vrf_section(c)) != KW_OK || (r = member(c, version, &res->value, &res->value_len)) != KW_OK ||
        (r = finish(c)) != KW_OK)
        goto out;
    res->version = version;
    res->head = c->head;
out:
    *why = c->why;
    if (r != KW_OK)
        memset(res, 0, sizeof(*res));
    free(c);
    return r;
}

int kw_kt_monitor_verify(kw_kt_monitor_result *res, kw_kt_reason *why, const kw_kt_trust *trust,
                         const uint8_t *label, size_t label_len, uint32_t expected_first,
                         const uint8_t *resp, size_t resp_len)
{
    uint64_t first, count, more;
    memset(res, 0, sizeof(*res));
    *why = KW_KT_MALFORMED;
    int r = check_args(trust, label, label_len, resp);
    if (r != KW_OK)
        return r;
    vctx *c = vctx_new(trust, label, label_len, resp, resp_len, 1);
    if (c == NULL)
        return KW_ERR_NOMEM;
    if ((r = kind(c, KW_KT_RESP_MONITOR)) != KW_OK || (r = head_section(c)) != KW_OK)
        goto out;
    if ((r = rd_uint(&c->rd, &first, 4)) != KW_OK || (r = rd_uint(&c->rd, &count, 2)) != KW_OK ||
        (r = rd_uint(&c->rd, &more, 1)) != KW_OK) {
        r = malformed(c, r);
        goto out;
    }
    if (count > KW_KT_MONITOR_MAXVERSIONS) {
        r = malformed(c, KW_ERR_TOO_LARGE);
        goto out;
    }
    if (first == 0 || more > 1 || (more == 1 && count == 0) ||
        first + count >= KW_KT_MAX_VERSION) {
        r = malformed(c, KW_ERR_FORMAT);
        goto out;
    }
    if (expected_first != 0 && first != expected_first) {
        r = fail(c, KW_KT_WRONG_VERSION);
        goto out;
    }
    if ((r = vrf_section(c)) != KW_OK)
        goto out;
    for (uint64_t i = 0; i < count; i++)
        if ((r = member(c, (uint32_t)(first + i), &res->v[i].value, &res->v[i].value_len)) != KW_OK)
            goto out;
    if (!more && (r = absent(c, (uint32_t)(first + count))) != KW_OK)
        goto out;
    if ((r = finish(c)) != KW_OK)
        goto out;
    res->first = (uint32_t)first;
    res->count = (uint32_t)count;
    res->more = (int)more;
    res->head = c->head;
out:
    *why = c->why;
    if (r != KW_OK)
        memset(res, 0, sizeof(*res));
    free(c);
    return r;
}

int kw_kt_consistency_verify(kw_kt_head *new_head, kw_kt_reason *why, const kw_kt_trust *trust,
                             const uint8_t *resp, size_t resp_len)
{
    const uint8_t *hp;
    kw_kt_head old;
    memset(new_head, 0, sizeof(*new_head));
    *why = KW_KT_MALFORMED;
    if (trust == NULL || trust->log_pk == NULL || trust->pinned == NULL || resp == NULL)
        return KW_ERR_INVALID_ARG;
    static const uint8_t one[1] = {0};
    vctx *c = vctx_new(trust, one, 1, resp, resp_len, 1);
    if (c == NULL)
        return KW_ERR_NOMEM;
    int r;
    if ((r = kind(c, KW_KT_RESP_CONSISTENCY)) != KW_OK)
        goto out;
    if ((r = rd_take(&c->rd, &hp, KW_KT_HEADBYTES)) != KW_OK ||
        (r = kw_kt_head_decode(&old, hp, KW_KT_HEADBYTES)) != KW_OK ||
        (r = rd_take(&c->rd, &hp, KW_KT_HEADBYTES)) != KW_OK ||
        (r = kw_kt_head_decode(&c->head, hp, KW_KT_HEADBYTES)) != KW_OK ||
        (r = rd_log_proof(&c->rd, &c->lp)) != KW_OK || (r = finish(c)) != KW_OK) {
        r = malformed(c, r);
        goto out;
    }
    if (kw_kt_head_verify(&c->head, trust->log_pk) != KW_OK) {
        r = fail(c, KW_KT_BAD_HEAD_SIGNATURE);
        goto out;
    }
    if (!heads_equal(&old, trust->pinned)) {
        /* A proof from some other head says nothing about ours. */
        r = fail(c, KW_KT_INCONSISTENT);
        goto out;
    }
    if (c->head.epoch == old.epoch && c->lp.count != 0) {
        r = fail(c, KW_KT_INCONSISTENT);
        goto out;
    }
    if ((r = check_against_pinned(c, &c->head, trust->pinned, old.log_size, &c->lp)) != KW_OK)
        goto out;
    *new_head = c->head;
out:
    *why = c->why;
    if (r != KW_OK)
        memset(new_head, 0, sizeof(*new_head));
    free(c);
    return r;
}

int kw_kt_frontier_encode(uint8_t *out, size_t cap, size_t *out_len, const kw_log_compact *f)
{
    size_t need = 8 + (size_t)__builtin_popcountll(f->size) * KW_KT_HASHBYTES, o = 8;
    *out_len = 0;
    if (cap < need)
        return KW_ERR_TOO_LARGE;
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(f->size >> (56 - 8 * i));
    for (unsigned k = 64; k-- > 0;)
        if ((f->size >> k) & 1) {
            memcpy(out + o, f->node[k], KW_KT_HASHBYTES);
            o += KW_KT_HASHBYTES;
        }
    *out_len = need;
    return KW_OK;
}

int kw_kt_frontier_decode(kw_log_compact *f, const uint8_t *in, size_t len)
{
    kw_log_compact_init(f);
    if (len < 8)
        return KW_ERR_TRUNCATED;
    if (len > KW_KT_FRONTIER_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    uint64_t size = kt_be_get(in, 8);
    size_t need = 8 + (size_t)__builtin_popcountll(size) * KW_KT_HASHBYTES, o = 8;
    if (len < need)
        return KW_ERR_TRUNCATED;
    if (len > need)
        return KW_ERR_FORMAT;
    for (unsigned k = 64; k-- > 0;)
        if ((size >> k) & 1) {
            memcpy(f->node[k], in + o, KW_KT_HASHBYTES);
            o += KW_KT_HASHBYTES;
        }
    f->size = size;
    return KW_OK;
}
