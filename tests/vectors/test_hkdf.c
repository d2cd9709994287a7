/* HKDF vectors (RFC 5869 schema: ikm, salt, info, L, prk, okm, hash) read at run time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keyward/hkdf.h"
#include "keyward/keyward.h"
#include "vecutil.h"

static vec_tally tally_sha256 = {.kind = "hkdf-sha256"};
static vec_tally tally_sha512 = {.kind = "hkdf-sha512"};
static vec_tally tally_other = {.kind = "hkdf-other-hash"};

static int is_hkdf_vector(json_t *v)
{
    return json_is_object(v) && json_object_get(v, "ikm") != NULL &&
           json_object_get(v, "okm") != NULL && json_object_get(v, "L") != NULL;
}

static void run_one(const char *path, json_t *v)
{
    const char *hash = vec_str(v, "hash");
    vec_tally *t;
    size_t hlen;
    if (hash == NULL || strcmp(hash, "SHA-256") == 0) {
        t = &tally_sha256;
        hlen = 32;
    } else if (strcmp(hash, "SHA-512") == 0) {
        t = &tally_sha512;
        hlen = 64;
    } else {
        tally_other.ran++;
        tally_other.unsupported++;
        return;
    }
    t->ran++;
    uint8_t *ikm, *salt, *info, *prk, *okm;
    size_t ikm_len, salt_len, info_len, prk_len, okm_len;
    int bad = vec_hex(v, "ikm", &ikm, &ikm_len) | vec_hex(v, "salt", &salt, &salt_len) |
              vec_hex(v, "info", &info, &info_len) | vec_hex(v, "prk", &prk, &prk_len) |
              vec_hex(v, "okm", &okm, &okm_len);
    json_int_t L = json_integer_value(json_object_get(v, "L"));
    if (bad != 0 || L < 0 || (size_t)L != okm_len || prk_len != hlen) {
        fprintf(stderr, "  %s: malformed hkdf vector\n", path);
        t->failed++;
        goto out;
    }
    uint8_t got_prk[64];
    uint8_t *got_okm = malloc(okm_len + 1);
    if (hlen == 32)
        kw_hkdf_sha256_extract(got_prk, salt, salt_len, ikm, ikm_len);
    else
        kw_hkdf_sha512_extract(got_prk, salt, salt_len, ikm, ikm_len);
    int r = hlen == 32 ? kw_hkdf_sha256_expand(got_okm, okm_len, got_prk, hlen, info, info_len)
                       : kw_hkdf_sha512_expand(got_okm, okm_len, got_prk, hlen, info, info_len);
    int one = hlen == 32 ? kw_hkdf_sha256(got_okm, okm_len, salt, salt_len, ikm, ikm_len, info, info_len)
                         : kw_hkdf_sha512(got_okm, okm_len, salt, salt_len, ikm, ikm_len, info, info_len);
    if (r != 0 || one != 0 || memcmp(got_prk, prk, hlen) != 0 || memcmp(got_okm, okm, okm_len) != 0) {
        vec_mismatch(path, "prk/okm", got_okm, okm_len, okm, okm_len);
        t->failed++;
    } else {
        t->passed++;
    }
    free(got_okm);
out:
    free(ikm);
    free(salt);
    free(info);
    free(prk);
    free(okm);
}

static void visit(const char *path, json_t *doc, void *ctx)
{
    (void)ctx;
    if (json_is_array(doc)) {
        size_t i;
        json_t *v;
        json_array_foreach(doc, i, v) {
            if (is_hkdf_vector(v))
                run_one(path, v);
        }
    } else if (is_hkdf_vector(doc)) {
        run_one(path, doc);
    }
}

static void test_hkdf_vectors(void **state)
{
    (void)state;
    unsigned parse_failures;
    vec_walk(visit, NULL, &parse_failures);
    vec_report(&tally_sha256);
    vec_report(&tally_sha512);
    vec_report(&tally_other);
    assert_int_equal(parse_failures, 0);
    assert_true(tally_sha256.ran > 0);
    assert_int_equal(tally_sha256.failed + tally_sha512.failed, 0);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hkdf_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
