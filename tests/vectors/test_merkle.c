/* Merkle log vectors (transparency-dev/merkle testdata schemas, RFC 9162
 * SHA-256), read at run time:
 *  - inclusion cases {leafIdx, treeSize, root, leafHash, proof, wantErr},
 *  - consistency cases {size1, size2, root1, root2, proof, wantErr},
 *  - reference trees {leaf_inputs, leaf_hashes, root_hashes}: every leaf
 *    hash and every root_hashes[n] is recomputed by kw_log_tree and
 *    kw_log_compact, and proofs generated for every (index, size) and
 *    (size1, size2) pair are verified against the file's roots, with
 *    mutated proofs required to fail.
 * Documents that carry wantErr but match neither proof schema (e.g. the
 * subtree-proof extension) are counted as unsupported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keyward/keyward.h"
#include "keyward/kt_log.h"
#include "vecutil.h"

static vec_tally tally_incl = {.kind = "merkle-inclusion"};
static vec_tally tally_cons = {.kind = "merkle-consistency"};
static vec_tally tally_ref = {.kind = "merkle-reference-tree"};
static vec_tally tally_other = {.kind = "merkle-other-schema"};
static unsigned generated_proofs, mutated_proofs;

static bool has(json_t *v, const char *k)
{
    return json_object_get(v, k) != NULL;
}

/* Loads the JSON proof (null or absent = empty) through kw_log_proof_push,
 * so a hash of the wrong length is the library's verdict, returned in
 * *push_err. Returns -1 when the vector itself is malformed. */
static int load_proof(json_t *v, kw_log_proof *p, int *push_err)
{
    json_t *arr = json_object_get(v, "proof");
    p->count = 0;
    *push_err = KW_OK;
    if (arr == NULL || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return -1;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        json_t *tmp = json_object();
        json_object_set(tmp, "h", e);
        uint8_t *h;
        size_t hl;
        int bad = vec_b64(tmp, "h", &h, &hl);
        json_decref(tmp);
        if (bad != 0 || !json_is_string(e)) {
            free(h);
            return -1;
        }
        if (*push_err == KW_OK)
            *push_err = kw_log_proof_push(p, h, hl);
        free(h);
    }
    return 0;
}

static bool is_expected_error(int r)
{
    return r == KW_ERR_FORMAT || r == KW_ERR_VERIFY || r == KW_ERR_TOO_LARGE;
}

static void judge(vec_tally *t, const char *path, json_t *v, int r)
{
    json_t *we = json_object_get(v, "wantErr");
    bool want_err = json_is_true(we);
    if (!json_is_boolean(we)) {
        fprintf(stderr, "  %s: wantErr missing\n", path);
        t->failed++;
    } else if ((r != KW_OK) != want_err || (r != KW_OK && !is_expected_error(r))) {
        fprintf(stderr, "  %s (%s): got %d (%s), wantErr %s\n", path, vec_str(v, "desc"), r,
                kw_errname(r), want_err ? "true" : "false");
        t->failed++;
    } else {
        t->passed++;
    }
}

/* After an accepted proof, its wire form must round-trip. */
static bool wire_round_trip(const kw_log_proof *p)
{
    uint8_t wire[KW_LOG_PROOF_MAXBYTES];
    size_t n;
    kw_log_proof back = {0};
    return kw_log_proof_encode(wire, sizeof(wire), &n, p) == KW_OK &&
           kw_log_proof_decode(&back, wire, n) == KW_OK && back.count == p->count &&
           memcmp(back.hash, p->hash, p->count * KW_LOG_HASHBYTES) == 0;
}

static void run_inclusion(const char *path, json_t *v)
{
    tally_incl.ran++;
    uint64_t idx, size;
    uint8_t *root = NULL, *leaf = NULL;
    size_t root_len, leaf_len;
    kw_log_proof proof;
    int push_err;
    if (vec_u64(v, "leafIdx", &idx) != 0 || vec_u64(v, "treeSize", &size) != 0 ||
        vec_b64(v, "root", &root, &root_len) != 0 ||
        vec_b64(v, "leafHash", &leaf, &leaf_len) != 0 ||
        load_proof(v, &proof, &push_err) != 0) {
        fprintf(stderr, "  %s: malformed inclusion vector\n", path);
        tally_incl.failed++;
        goto out;
    }
    int r = push_err;
    if (r == KW_OK)
        r = kw_log_inclusion_verify(idx, size, leaf, leaf_len, &proof, root, root_len);
    if (r == KW_OK) {
        uint8_t got[KW_LOG_HASHBYTES];
        if (kw_log_inclusion_root(got, idx, size, leaf, leaf_len, &proof) != KW_OK ||
            memcmp(got, root, KW_LOG_HASHBYTES) != 0 || !wire_round_trip(&proof)) {
            fprintf(stderr, "  %s: root-from-proof or wire round trip disagrees\n", path);
            r = KW_ERR_INTERNAL;
        }
    }
    judge(&tally_incl, path, v, r);
out:
    free(root);
    free(leaf);
}

static void run_consistency(const char *path, json_t *v)
{
    tally_cons.ran++;
    uint64_t size1, size2;
    uint8_t *root1 = NULL, *root2 = NULL;
    size_t root1_len, root2_len;
    kw_log_proof proof;
    int push_err;
    if (vec_u64(v, "size1", &size1) != 0 || vec_u64(v, "size2", &size2) != 0 ||
        vec_b64(v, "root1", &root1, &root1_len) != 0 ||
        vec_b64(v, "root2", &root2, &root2_len) != 0 ||
        load_proof(v, &proof, &push_err) != 0) {
        fprintf(stderr, "  %s: malformed consistency vector\n", path);
        tally_cons.failed++;
        goto out;
    }
    int r = push_err;
    if (r == KW_OK)
        r = kw_log_consistency_verify(size1, size2, root1, root1_len, root2, root2_len, &proof);
    if (r == KW_OK && !wire_round_trip(&proof)) {
        fprintf(stderr, "  %s: wire round trip disagrees\n", path);
        r = KW_ERR_INTERNAL;
    }
    judge(&tally_cons, path, v, r);
out:
    free(root1);
    free(root2);
}

/* Decodes a JSON array of hex strings; -1 when malformed. */
static int hex_list(json_t *v, const char *name, uint8_t ***items, size_t **lens, size_t *n)
{
    json_t *arr = json_object_get(v, name);
    *items = NULL;
    *lens = NULL;
    *n = 0;
    if (!json_is_array(arr))
        return -1;
    size_t count = json_array_size(arr);
    *items = calloc(count + 1, sizeof(**items));
    *lens = calloc(count + 1, sizeof(**lens));
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        json_t *tmp = json_object();
        json_object_set(tmp, "h", e);
        int bad = vec_hex(tmp, "h", &(*items)[i], &(*lens)[i]);
        json_decref(tmp);
        if (bad != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

static void free_list(uint8_t **items, size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
    free(lens);
}

static bool proof_equal(const kw_log_proof *a, const kw_log_proof *b)
{
    return a->count == b->count && memcmp(a->hash, b->hash, a->count * KW_LOG_HASHBYTES) == 0;
}

/* Every mutation of a valid inclusion proof must be refused: a flipped bit
 * in any hash, a dropped or added hash, another index, and another size with
 * that size's own root (unless the proof for the other size is the same
 * proof, which then rightly verifies). rh[n] is the root of n leaves, for
 * n <= max. Returns the number of mutations wrongly accepted. */
static unsigned mutate_inclusion(const kw_log_reader *rd, uint8_t **rh, uint64_t max,
                                 uint64_t idx, uint64_t size, const uint8_t leaf[32],
                                 const kw_log_proof *good)
{
    unsigned bad = 0;
    const uint8_t *root = rh[size];
    kw_log_proof p, alt;
    for (size_t i = 0; i < good->count; i++) {
        p = *good;
        p.hash[i][i % 32] ^= (uint8_t)(1u << (i % 8));
        bad += kw_log_inclusion_verify(idx, size, leaf, 32, &p, root, 32) != KW_ERR_VERIFY;
        mutated_proofs++;
    }
    if (good->count > 0) {
        p = *good;
        p.count--;
        bad += kw_log_inclusion_verify(idx, size, leaf, 32, &p, root, 32) != KW_ERR_FORMAT;
        mutated_proofs++;
    }
    if (good->count < KW_LOG_PROOF_MAXHASHES) {
        p = *good;
        memset(p.hash[p.count++], 0x5a, 32);
        bad += kw_log_inclusion_verify(idx, size, leaf, 32, &p, root, 32) != KW_ERR_FORMAT;
        mutated_proofs++;
    }
    for (uint64_t j = 0; j <= size; j++) {
        if (j == idx)
            continue;
        bad += kw_log_inclusion_verify(j, size, leaf, 32, good, root, 32) == KW_OK;
        mutated_proofs++;
    }
    for (uint64_t s = idx + 1; s <= max; s++) {
        if (s == size || kw_log_inclusion_prove(rd, idx, s, &alt) != KW_OK ||
            proof_equal(&alt, good))
            continue;
        bad += kw_log_inclusion_verify(idx, s, leaf, 32, good, rh[s], 32) == KW_OK;
        mutated_proofs++;
    }
    bad += kw_log_inclusion_verify(idx, size, leaf, 32, good, root, 31) != KW_ERR_FORMAT;
    bad += kw_log_inclusion_verify(idx, size, leaf, 31, good, root, 32) != KW_ERR_FORMAT;
    mutated_proofs += 2;
    return bad;
}

/* The same for consistency proofs; other size pairs use their own roots. */
static unsigned mutate_consistency(const kw_log_reader *rd, uint8_t **rh, uint64_t max,
                                   uint64_t s1, uint64_t s2, const kw_log_proof *good)
{
    unsigned bad = 0;
    const uint8_t *r1 = rh[s1], *r2 = rh[s2];
    kw_log_proof p, alt;
    for (size_t i = 0; i < good->count; i++) {
        p = *good;
        p.hash[i][31 - i % 32] ^= 0x80;
        bad += kw_log_consistency_verify(s1, s2, r1, 32, r2, 32, &p) != KW_ERR_VERIFY;
        mutated_proofs++;
    }
    if (good->count > 0) {
        p = *good;
        p.count--;
        bad += kw_log_consistency_verify(s1, s2, r1, 32, r2, 32, &p) != KW_ERR_FORMAT;
        mutated_proofs++;
    }
    if (good->count < KW_LOG_PROOF_MAXHASHES) {
        p = *good;
        memset(p.hash[p.count++], 0xa5, 32);
        bad += kw_log_consistency_verify(s1, s2, r1, 32, r2, 32, &p) != KW_ERR_FORMAT;
        mutated_proofs++;
    }
    if (s1 != s2) {
        bad += kw_log_consistency_verify(s1, s2, r2, 32, r1, 32, good) == KW_OK;
        mutated_proofs++;
    }
    for (uint64_t a = 1; a <= max; a++) {
        for (uint64_t b = a; b <= max; b++) {
            if ((a == s1 && b == s2) || kw_log_consistency_prove(rd, a, b, &alt) != KW_OK ||
                proof_equal(&alt, good))
                continue;
            bad += kw_log_consistency_verify(a, b, rh[a], 32, rh[b], 32, good) == KW_OK;
            mutated_proofs++;
        }
    }
    return bad;
}

static void run_reference(const char *path, json_t *v)
{
    const char *hash = vec_str(v, "hash");
    tally_ref.ran++;
    if (hash != NULL && strcmp(hash, "SHA-256") != 0) {
        tally_ref.ran--;
        tally_other.ran++;
        tally_other.unsupported++;
        return;
    }
    uint8_t **in = NULL, **lh = NULL, **rh = NULL;
    size_t *in_len = NULL, *lh_len = NULL, *rh_len = NULL, n_in = 0, n_lh = 0, n_rh = 0;
    kw_log_tree *tree = NULL;
    unsigned bad = 0;
    if (hex_list(v, "leaf_inputs", &in, &in_len, &n_in) != 0 ||
        hex_list(v, "leaf_hashes", &lh, &lh_len, &n_lh) != 0 ||
        hex_list(v, "root_hashes", &rh, &rh_len, &n_rh) != 0 || n_lh != n_in ||
        n_rh != n_in + 1) {
        fprintf(stderr, "  %s: malformed reference tree\n", path);
        bad++;
        goto out;
    }
    for (size_t i = 0; i < n_in; i++)
        bad += lh_len[i] != 32;
    for (size_t i = 0; i < n_rh; i++)
        bad += rh_len[i] != 32;
    if (bad != 0 || kw_log_tree_new(&tree, n_in + 1) != KW_OK) {
        bad++;
        goto out;
    }

    kw_log_compact c;
    kw_log_compact_init(&c);
    uint8_t got[32];
    for (size_t n = 0; n <= n_in; n++) {
        kw_log_tree_root(tree, got);
        if (memcmp(got, rh[n], 32) != 0) {
            vec_mismatch(path, "tree root", got, 32, rh[n], 32);
            bad++;
        }
        kw_log_compact_root(&c, got);
        if (memcmp(got, rh[n], 32) != 0) {
            vec_mismatch(path, "compact root", got, 32, rh[n], 32);
            bad++;
        }
        if (n == n_in)
            break;
        kw_log_hash_leaf(got, in[n], in_len[n]);
        if (memcmp(got, lh[n], 32) != 0) {
            vec_mismatch(path, "leaf hash", got, 32, lh[n], 32);
            bad++;
        }
        if (kw_log_tree_append_data(tree, in[n], in_len[n]) != KW_OK ||
            kw_log_compact_append(&c, lh[n]) != KW_OK)
            bad++;
    }

    kw_log_reader rd;
    kw_log_tree_reader(tree, &rd);
    for (size_t n = 0; n <= n_in; n++) {
        if (kw_log_root(&rd, n, got) != KW_OK || memcmp(got, rh[n], 32) != 0) {
            vec_mismatch(path, "root at size", got, 32, rh[n], 32);
            bad++;
        }
        kw_log_compact cl;
        if (kw_log_compact_load(&cl, &rd, n) != KW_OK)
            bad++;
        kw_log_compact_root(&cl, got);
        bad += memcmp(got, rh[n], 32) != 0;
    }
    /* Every inclusion proof verifies against the file's roots and leaf
     * hashes; every mutation of it is refused. */
    for (uint64_t size = 1; size <= n_in; size++) {
        for (uint64_t idx = 0; idx < size; idx++) {
            kw_log_proof p;
            generated_proofs++;
            if (kw_log_inclusion_prove(&rd, idx, size, &p) != KW_OK ||
                kw_log_inclusion_verify(idx, size, lh[idx], 32, &p, rh[size], 32) != KW_OK) {
                fprintf(stderr, "  %s: inclusion proof (%lu, %lu) fails\n", path,
                        (unsigned long)idx, (unsigned long)size);
                bad++;
                continue;
            }
            bad += mutate_inclusion(&rd, rh, n_in, idx, size, lh[idx], &p);
        }
    }
    for (uint64_t s1 = 1; s1 <= n_in; s1++) {
        for (uint64_t s2 = s1; s2 <= n_in; s2++) {
            kw_log_proof p;
            generated_proofs++;
            if (kw_log_consistency_prove(&rd, s1, s2, &p) != KW_OK ||
                kw_log_consistency_verify(s1, s2, rh[s1], 32, rh[s2], 32, &p) != KW_OK) {
                fprintf(stderr, "  %s: consistency proof (%lu, %lu) fails\n", path,
                        (unsigned long)s1, (unsigned long)s2);
                bad++;
                continue;
            }
            bad += mutate_consistency(&rd, rh, n_in, s1, s2, &p);
        }
    }
out:
    if (bad != 0) {
        fprintf(stderr, "  %s: %u reference-tree checks failed\n", path, bad);
        tally_ref.failed++;
    } else {
        tally_ref.passed++;
    }
    kw_log_tree_free(&tree);
    free_list(in, in_len, n_in);
    free_list(lh, lh_len, n_lh);
    free_list(rh, rh_len, n_rh);
}

static void classify(const char *path, json_t *v)
{
    if (!json_is_object(v))
        return;
    if (has(v, "leafIdx") && has(v, "treeSize") && has(v, "leafHash") && has(v, "root") &&
        has(v, "wantErr"))
        run_inclusion(path, v);
    else if (has(v, "size1") && has(v, "size2") && has(v, "root1") && has(v, "root2") &&
             has(v, "wantErr"))
        run_consistency(path, v);
    else if (has(v, "leaf_inputs") && has(v, "leaf_hashes") && has(v, "root_hashes"))
        run_reference(path, v);
    else if (has(v, "wantErr") && (has(v, "proof") || has(v, "root") || has(v, "root1"))) {
        /* A Merkle-like case of a schema we do not implement. */
        tally_other.ran++;
        tally_other.unsupported++;
        fprintf(stderr, "  %s: unsupported Merkle schema\n", path);
    }
}

static void visit(const char *path, json_t *doc, void *ctx)
{
    (void)ctx;
    if (json_is_array(doc)) {
        size_t i;
        json_t *v;
        json_array_foreach(doc, i, v) classify(path, v);
    } else {
        classify(path, doc);
    }
}

static void test_merkle_vectors(void **state)
{
    (void)state;
    unsigned parse_failures;
    vec_walk(visit, NULL, &parse_failures);
    vec_report(&tally_incl);
    vec_report(&tally_cons);
    vec_report(&tally_ref);
    vec_report(&tally_other);
    printf("merkle-reference-tree: %u generated proofs verified, %u mutations refused\n",
           generated_proofs, mutated_proofs);
    assert_int_equal(parse_failures, 0);
    assert_true(tally_incl.ran > 0);
    assert_true(tally_cons.ran > 0);
    assert_true(tally_ref.ran > 0);
    assert_int_equal(tally_incl.failed + tally_cons.failed + tally_ref.failed, 0);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_merkle_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
