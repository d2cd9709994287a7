/* OPRF vectors (RFC 9497 allVectors.json schema: entries with identifier,
 * mode, seed, keyInfo, skSm, [pkSm], vectors[{Batch, Input, Blind,
 * BlindedElement, EvaluationElement, Output, [Info], [Proof{proof, r}]}]),
 * read at run time. List-valued fields of Batch > 1 vectors are
 * comma-joined hex strings. Suites other than ristretto255-SHA512 are
 * counted as unsupported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keyward/codec.h"
#include "keyward/keyward.h"
#include "keyward/oprf.h"
#include "vecutil.h"

#define MAX_BATCH 16
#define MAX_ITEM 4096

static vec_tally tally_mode[3] = {{.kind = "oprf-ristretto255-sha512-mode0"},
                                  {.kind = "voprf-ristretto255-sha512-mode1"},
                                  {.kind = "poprf-ristretto255-sha512-mode2"}};
static vec_tally tally_keys = {.kind = "oprf-ristretto255-sha512-derivekeypair"};
static vec_tally tally_other = {.kind = "oprf-other-suite"};

/* A comma-joined list of hex strings, decoded. */
typedef struct {
    size_t n;
    uint8_t item[MAX_BATCH][MAX_ITEM];
    size_t len[MAX_BATCH];
} hex_list;

static int split_hex(json_t *obj, const char *name, hex_list *out)
{
    const char *s = vec_str(obj, name);
    out->n = 0;
    if (s == NULL)
        return -1;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t l = comma ? (size_t)(comma - s) : strlen(s);
        if (out->n == MAX_BATCH)
            return -1;
        if (kw_hex_decode(out->item[out->n], MAX_ITEM, &out->len[out->n], s, l) != KW_OK)
            return -1;
        out->n++;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    return 0;
}

/* Flattens n fixed-size items into dst, checking each length. */
static int flatten(uint8_t *dst, const hex_list *l, size_t n, size_t each)
{
    if (l->n != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (l->len[i] != each)
            return -1;
        memcpy(dst + each * i, l->item[i], each);
    }
    return 0;
}

static int check(const char *path, const char *what, const uint8_t *got, const uint8_t *want,
                 size_t len)
{
    if (memcmp(got, want, len) == 0)
        return 0;
    vec_mismatch(path, what, got, len, want, len);
    return -1;
}

static hex_list inputs, blinds_l, blinded_l, evaluated_l, outputs_l;

static int run_vector(const char *path, json_t *v, int mode, const uint8_t sk[32],
                      const uint8_t pk[32])
{
    uint64_t batch;
    uint8_t blinds[32 * MAX_BATCH], blinded[32 * MAX_BATCH], evaluated[32 * MAX_BATCH];
    uint8_t want_blinded[32 * MAX_BATCH], want_eval[32 * MAX_BATCH];
    uint8_t out[64 * MAX_BATCH], want_out[64 * MAX_BATCH], proof[64];
    uint8_t *info = NULL, *want_proof = NULL, *rs = NULL;
    size_t info_len = 0, proof_len = 0, rs_len = 0;
    const uint8_t *in_ptrs[MAX_BATCH];
    size_t in_lens[MAX_BATCH];
    int fail = -1;

    if (vec_u64(v, "Batch", &batch) != 0 || batch == 0 || batch > MAX_BATCH ||
        split_hex(v, "Input", &inputs) != 0 || split_hex(v, "Blind", &blinds_l) != 0 ||
        split_hex(v, "BlindedElement", &blinded_l) != 0 ||
        split_hex(v, "EvaluationElement", &evaluated_l) != 0 ||
        split_hex(v, "Output", &outputs_l) != 0 || inputs.n != batch ||
        flatten(blinds, &blinds_l, batch, 32) != 0 ||
        flatten(want_blinded, &blinded_l, batch, 32) != 0 ||
        flatten(want_eval, &evaluated_l, batch, 32) != 0 ||
        flatten(want_out, &outputs_l, batch, 64) != 0) {
        fprintf(stderr, "  %s: malformed oprf vector\n", path);
        goto out;
    }
    size_t n = (size_t)batch;
    for (size_t i = 0; i < n; i++) {
        in_ptrs[i] = inputs.item[i];
        in_lens[i] = inputs.len[i];
    }
    if (mode != KW_OPRF_MODE_OPRF) {
        json_t *pr = json_object_get(v, "Proof");
        if (vec_hex(pr, "proof", &want_proof, &proof_len) != 0 || proof_len != 64 ||
            vec_hex(pr, "r", &rs, &rs_len) != 0 || rs_len != 32) {
            fprintf(stderr, "  %s: malformed proof\n", path);
            goto out;
        }
    }
    if (mode == KW_OPRF_MODE_POPRF && vec_hex(v, "Info", &info, &info_len) != 0) {
        fprintf(stderr, "  %s: missing Info\n", path);
        goto out;
    }

    /* client: Blind */
    for (size_t i = 0; i < n; i++) {
        if (kw_oprf_blind_det(blinds + 32 * i, blinded + 32 * i, mode, in_ptrs[i], in_lens[i]) != KW_OK)
            goto out;
    }
    if (check(path, "BlindedElement", blinded, want_blinded, 32 * n) != 0)
        goto out;

    /* server: BlindEvaluate, client: Finalize */
    if (mode == KW_OPRF_MODE_OPRF) {
        for (size_t i = 0; i < n; i++) {
            if (kw_oprf_blind_evaluate(evaluated + 32 * i, sk, blinded + 32 * i) != KW_OK ||
                kw_oprf_finalize(out + 64 * i, in_ptrs[i], in_lens[i], blinds + 32 * i,
                                 evaluated + 32 * i) != KW_OK)
                goto out;
            uint8_t direct[64];
            if (kw_oprf_evaluate(direct, sk, in_ptrs[i], in_lens[i]) != KW_OK ||
                check(path, "Evaluate", direct, want_out + 64 * i, 64) != 0)
                goto out;
        }
    } else if (mode == KW_OPRF_MODE_VOPRF) {
        if (kw_voprf_blind_evaluate_det(evaluated, proof, sk, pk, blinded, n, rs) != KW_OK ||
            check(path, "Proof", proof, want_proof, 64) != 0 ||
            kw_voprf_finalize(out, in_ptrs, in_lens, blinds, blinded, evaluated, n, proof, pk) != KW_OK)
            goto out;
    } else {
        uint8_t tweaked[32];
        if (kw_poprf_tweak_key(tweaked, pk, info, info_len) != KW_OK ||
            kw_poprf_blind_evaluate_det(evaluated, proof, sk, blinded, n, info, info_len, rs) != KW_OK ||
            check(path, "Proof", proof, want_proof, 64) != 0 ||
            kw_poprf_finalize(out, in_ptrs, in_lens, blinds, blinded, evaluated, n, proof, info,
                              info_len, tweaked) != KW_OK)
            goto out;
    }
    if (check(path, "EvaluationElement", evaluated, want_eval, 32 * n) != 0 ||
        check(path, "Output", out, want_out, 64 * n) != 0)
        goto out;
    /* The published proof (not only ours) must verify too. */
    if (mode == KW_OPRF_MODE_VOPRF &&
        kw_voprf_finalize(out, in_ptrs, in_lens, blinds, want_blinded, want_eval, n, want_proof, pk) != KW_OK)
        goto out;
    fail = 0;
out:
    free(info);
    free(want_proof);
    free(rs);
    return fail;
}

static int is_oprf_entry(json_t *e)
{
    return json_is_object(e) && json_object_get(e, "identifier") != NULL &&
           json_is_array(json_object_get(e, "vectors")) && json_object_get(e, "seed") != NULL &&
           json_object_get(e, "mode") != NULL;
}

static void run_entry(const char *path, json_t *e)
{
    const char *id = vec_str(e, "identifier");
    json_t *vectors = json_object_get(e, "vectors");
    uint64_t mode;
    if (id == NULL || strcmp(id, "ristretto255-SHA512") != 0 || vec_u64(e, "mode", &mode) != 0 ||
        mode > 2) {
        tally_other.ran += (unsigned)json_array_size(vectors);
        tally_other.unsupported += (unsigned)json_array_size(vectors);
        return;
    }
    uint8_t *seed = NULL, *key_info = NULL, *want_sk = NULL, *want_pk = NULL;
    size_t seed_len, key_info_len, sk_len, pk_len = 0;
    uint8_t sk[32], pk[32];
    vec_tally *t = &tally_mode[mode];

    tally_keys.ran++;
    int bad = vec_hex(e, "seed", &seed, &seed_len) | vec_hex(e, "keyInfo", &key_info, &key_info_len) |
              vec_hex(e, "skSm", &want_sk, &sk_len);
    if (mode != 0)
        bad |= vec_hex(e, "pkSm", &want_pk, &pk_len);
    if (bad != 0 || seed_len != 32 || sk_len != 32 || (mode != 0 && pk_len != 32) ||
        kw_oprf_derive_keypair(sk, pk, (int)mode, seed, key_info, key_info_len) != KW_OK ||
        check(path, "skSm", sk, want_sk, 32) != 0 ||
        (mode != 0 && check(path, "pkSm", pk, want_pk, 32) != 0)) {
        tally_keys.failed++;
        t->ran += (unsigned)json_array_size(vectors);
        t->failed += (unsigned)json_array_size(vectors);
        goto out;
    }
    tally_keys.passed++;
    size_t i;
    json_t *v;
    json_array_foreach(vectors, i, v) {
        t->ran++;
        if (run_vector(path, v, (int)mode, sk, pk) == 0)
            t->passed++;
        else
            t->failed++;
    }
out:
    free(seed);
    free(key_info);
    free(want_sk);
    free(want_pk);
}

static void visit(const char *path, json_t *doc, void *ctx)
{
    (void)ctx;
    if (json_is_array(doc)) {
        size_t i;
        json_t *e;
        json_array_foreach(doc, i, e) {
            if (is_oprf_entry(e))
                run_entry(path, e);
        }
    } else if (is_oprf_entry(doc)) {
        run_entry(path, doc);
    }
}

static void test_oprf_vectors(void **state)
{
    (void)state;
    unsigned parse_failures;
    vec_walk(visit, NULL, &parse_failures);
    vec_report(&tally_keys);
    for (int m = 0; m < 3; m++)
        vec_report(&tally_mode[m]);
    vec_report(&tally_other);
    assert_int_equal(parse_failures, 0);
    assert_int_equal(tally_keys.failed, 0);
    for (int m = 0; m < 3; m++) {
        assert_true(tally_mode[m].ran > 0);
        assert_int_equal(tally_mode[m].failed, 0);
    }
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_oprf_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
