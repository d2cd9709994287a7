/* WebAuthn ceremony vectors (schema of the W3C Level 3 "Test Vectors"
 * extraction: a top-level object with "vectors", each entry holding a
 * "registration" and an "authentication"), read at run time. Every entry
 * whose attestation format and algorithm we implement must register and
 * then authenticate with the record registration produced; every other one
 * must be refused with KW_ERR_UNSUPPORTED and is counted as unsupported.
 * Tallies are kept per attestation format. */
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
#include "keyward/webauthn.h"
#include "vecutil.h"

#define MAX_KINDS 24

static vec_tally tallies[MAX_KINDS];
static char kind_names[MAX_KINDS][64];
static size_t n_kinds;
static unsigned ceremonies_verified, cross_origin_refusals, mutations_refused, chain_refusals;

static vec_tally *tally_for(const char *fmt)
{
    char name[64];
    snprintf(name, sizeof(name), "webauthn-%s", fmt != NULL ? fmt : "unknown");
    for (size_t i = 0; i < n_kinds; i++)
        if (strcmp(kind_names[i], name) == 0)
            return &tallies[i];
    size_t i = n_kinds < MAX_KINDS ? n_kinds++ : MAX_KINDS - 1;
    snprintf(kind_names[i], sizeof(kind_names[i]), "%s", name);
    tallies[i].kind = kind_names[i];
    return &tallies[i];
}

static bool is_webauthn_doc(json_t *doc)
{
    json_t *vs = json_object_get(doc, "vectors");
    if (!json_is_object(doc) || !json_is_array(vs) || json_array_size(vs) == 0)
        return false;
    json_t *v0 = json_array_get(vs, 0);
    return json_is_object(json_object_get(v0, "registration")) &&
           json_is_object(json_object_get(v0, "authentication"));
}

static const char *str_or(json_t *v, const char *name, json_t *doc)
{
    const char *s = vec_str(v, name);
    return s != NULL ? s : vec_str(doc, name);
}

/* The entry's clientData asks for an embedded (cross-origin) ceremony. */
static bool wants_cross_origin(json_t *ceremony)
{
    json_t *cd = json_object_get(json_object_get(ceremony, "derived"), "client_data");
    return json_is_true(json_object_get(cd, "crossOrigin")) ||
           json_object_get(cd, "topOrigin") != NULL;
}

static bool expect_success(json_t *v, const char *which)
{
    const char *e = vec_str(json_object_get(v, "expected"), which);
    return e == NULL || strcmp(e, "success") == 0;
}

typedef struct {
    uint8_t *root;
    size_t root_len;
    json_t *doc;
} doc_ctx;

static void run_one(const char *path, doc_ctx *d, json_t *v)
{
    const char *name = vec_str(v, "name");
    const char *fmt = vec_str(v, "attestation_format");
    vec_tally *t = tally_for(fmt);
    t->ran++;
    json_t *reg = json_object_get(v, "registration");
    json_t *auth = json_object_get(v, "authentication");
    const char *rp_id = str_or(v, "rp_id", d->doc);
    const char *origin = str_or(v, "origin", d->doc);
    const char *top = vec_str(d->doc, "top_origin_where_applicable");
    uint8_t *rchal = NULL, *rcdj = NULL, *ao = NULL, *achal = NULL, *acdj = NULL, *aad = NULL,
            *asig = NULL, *cid = NULL, *want_cose = NULL;
    size_t rchal_len, rcdj_len, ao_len, achal_len, acdj_len, aad_len, asig_len, cid_len,
        want_cose_len = 0;
    kw_webauthn_credential *cred = calloc(1, sizeof(*cred));
    if (rp_id == NULL || origin == NULL || !json_is_object(reg) || !json_is_object(auth) ||
        vec_hex(reg, "challenge", &rchal, &rchal_len) != 0 ||
        vec_hex(reg, "clientDataJSON", &rcdj, &rcdj_len) != 0 ||
        vec_hex(reg, "attestationObject", &ao, &ao_len) != 0 ||
        vec_hex(reg, "credential_id", &cid, &cid_len) != 0 ||
        vec_hex(auth, "challenge", &achal, &achal_len) != 0 ||
        vec_hex(auth, "clientDataJSON", &acdj, &acdj_len) != 0 ||
        vec_hex(auth, "authenticatorData", &aad, &aad_len) != 0 ||
        vec_hex(auth, "signature", &asig, &asig_len) != 0 || cred == NULL) {
        fprintf(stderr, "  %s: %s: malformed webauthn vector\n", path, name ? name : "?");
        t->failed++;
        goto out;
    }
    json_t *derived = json_object_get(reg, "derived");
    if (json_object_get(derived, "credential_public_key_cose") != NULL &&
        vec_hex(derived, "credential_public_key_cose", &want_cose, &want_cose_len) != 0) {
        t->failed++;
        goto out;
    }

    const char *origins[] = {origin};
    const char *tops[] = {top};
    kw_webauthn_bytes roots[1] = {{d->root, d->root_len}};
    kw_webauthn_policy pol = {
        .rp_id = rp_id,
        .origins = origins,
        .n_origins = 1,
        .allow_cross_origin = wants_cross_origin(reg) || wants_cross_origin(auth),
        .top_origins = top != NULL ? tops : NULL,
        .n_top_origins = top != NULL ? 1 : 0,
        .attestation = d->root != NULL ? KW_WEBAUTHN_ATTEST_CHECK_CHAIN : KW_WEBAUTHN_ATTEST_ANY,
        .roots = d->root != NULL ? roots : NULL,
        .n_roots = d->root != NULL ? 1 : 0,
    };

    /* registration */
    kw_webauthn_reason why;
    int r = kw_webauthn_register_verify(cred, &why, &pol, rchal, rchal_len, rcdj, rcdj_len, ao,
                                        ao_len);
    if (r == KW_ERR_UNSUPPORTED) {
        printf("  %s: registration unsupported: %s\n", name, kw_webauthn_reason_str(why));
        /* an algorithm we refuse at registration is refused for a stored key too */
        if (want_cose != NULL) {
            kw_webauthn_credential *c2 = calloc(1, sizeof(*c2));
            int r2 = kw_webauthn_credential_init(c2, cid, cid_len, want_cose, want_cose_len, 0,
                                                 false, false);
            free(c2);
            if (r2 != KW_ERR_UNSUPPORTED && why == KW_WEBAUTHN_R_UNSUPPORTED_ALG) {
                fprintf(stderr, "  %s: stored key of an unsupported alg gave %d\n", name, r2);
                t->failed++;
                goto out;
            }
        }
        t->unsupported++;
        goto out;
    }
    if (!expect_success(v, "registration")) {
        if (r == KW_OK) {
            fprintf(stderr, "  %s: registration accepted, expected failure\n", name);
            t->failed++;
        } else {
            t->passed++;
        }
        goto out;
    }
    if (r != KW_OK) {
        fprintf(stderr, "  %s: registration failed: %s (%s)\n", name, kw_strerror(r),
                kw_webauthn_reason_str(why));
        t->failed++;
        goto out;
    }
    if (cred->id_len != cid_len || memcmp(cred->id, cid, cid_len) != 0 ||
        (want_cose != NULL && (cred->cose_key_len != want_cose_len ||
                               memcmp(cred->cose_key, want_cose, want_cose_len) != 0))) {
        vec_mismatch(path, "credential id / COSE key", cred->cose_key, cred->cose_key_len,
                     want_cose, want_cose_len);
        t->failed++;
        goto out;
    }
    uint64_t want_count;
    if (vec_u64(derived, "signCount", &want_count) == 0 && cred->sign_count != want_count) {
        fprintf(stderr, "  %s: signCount %u, want %llu\n", name, cred->sign_count,
                (unsigned long long)want_count);
        t->failed++;
        goto out;
    }
    ceremonies_verified++;

    /* the record survives storage */
    uint8_t *rec = malloc(KW_WEBAUTHN_CREDENTIAL_MAXBYTES);
    size_t rec_len = 0;
    kw_webauthn_credential *back = calloc(1, sizeof(*back));
    int re = kw_webauthn_credential_encode(rec, KW_WEBAUTHN_CREDENTIAL_MAXBYTES, &rec_len, cred);
    int rd = re == KW_OK ? kw_webauthn_credential_decode(back, rec, rec_len) : re;
    bool same = rd == KW_OK && memcmp(back, cred, sizeof(*back)) == 0;
    free(rec);
    if (!same) {
        fprintf(stderr, "  %s: record round trip failed (%d/%d)\n", name, re, rd);
        free(back);
        t->failed++;
        goto out;
    }

    /* a signed attestation: every byte of the object matters — except, for
     * fido-u2f, the authData flags, signCount and AAGUID, which the U2F
     * signature base does not cover (§8.6) */
    if (cred->att_type != KW_WEBAUTHN_ATT_NONE) {
        kw_webauthn_credential *tmp = calloc(1, sizeof(*tmp));
        uint8_t *adv = NULL;
        size_t adv_len = 0, ad_off = SIZE_MAX;
        if (vec_hex(derived, "authenticatorData", &adv, &adv_len) == 0 && adv_len > 0 &&
            adv_len <= ao_len) {
            for (size_t i = 0; i + adv_len <= ao_len; i++)
                if (memcmp(ao + i, adv, adv_len) == 0) {
                    ad_off = i;
                    break;
                }
        }
        free(adv);
        bool u2f = fmt != NULL && strcmp(fmt, "fido-u2f") == 0;
        for (size_t i = 0; i < ao_len; i++) {
            ao[i] ^= 0x01;
            int rm = kw_webauthn_register_verify(tmp, &why, &pol, rchal, rchal_len, rcdj, rcdj_len,
                                                 ao, ao_len);
            ao[i] ^= 0x01;
            bool unsigned_byte = u2f && ad_off != SIZE_MAX && i >= ad_off + 32 && i < ad_off + 53;
            if (rm == KW_OK && !unsigned_byte) {
                fprintf(stderr, "  %s: attestation object with byte %zu flipped accepted\n", name, i);
                t->failed++;
                free(tmp);
                free(back);
                goto out;
            }
            mutations_refused++;
        }
        /* and a chain is only trusted with its root */
        if (cred->att_type == KW_WEBAUTHN_ATT_TRUSTED) {
            kw_webauthn_policy noroot = pol;
            noroot.n_roots = 0;
            noroot.roots = NULL;
            int rc = kw_webauthn_register_verify(tmp, &why, &noroot, rchal, rchal_len, rcdj,
                                                 rcdj_len, ao, ao_len);
            if (rc != KW_ERR_VERIFY || why != KW_WEBAUTHN_R_UNTRUSTED_CHAIN) {
                fprintf(stderr, "  %s: chain without root gave %d\n", name, rc);
                t->failed++;
                free(tmp);
                free(back);
                goto out;
            }
            chain_refusals++;
        }
        free(tmp);
    }

    /* cross-origin entries are refused by a policy that does not expect them */
    if (pol.allow_cross_origin) {
        kw_webauthn_policy strict = pol;
        strict.allow_cross_origin = false;
        kw_webauthn_credential *tmp = calloc(1, sizeof(*tmp));
        int rs = kw_webauthn_register_verify(tmp, &why, &strict, rchal, rchal_len, rcdj, rcdj_len,
                                             ao, ao_len);
        free(tmp);
        if (rs != KW_ERR_VERIFY || why != KW_WEBAUTHN_R_CROSS_ORIGIN) {
            fprintf(stderr, "  %s: strict policy gave %d/%s\n", name, rs,
                    kw_webauthn_reason_str(why));
            free(back);
            t->failed++;
            goto out;
        }
        cross_origin_refusals++;
    }

    /* authentication, with the decoded record */
    kw_webauthn_bytes allow[1] = {{cid, cid_len}};
    kw_webauthn_assertion as = {cid, cid_len, acdj, acdj_len, aad, aad_len, asig, asig_len};
    r = kw_webauthn_assert_verify(back, &why, &pol, achal, achal_len, allow, 1, &as);
    bool want_ok = expect_success(v, "authentication");
    if ((r == KW_OK) != want_ok) {
        fprintf(stderr, "  %s: authentication gave %s (%s)\n", name, kw_strerror(r),
                kw_webauthn_reason_str(why));
        t->failed++;
    } else if (r == KW_OK && vec_u64(json_object_get(auth, "derived"), "signCount", &want_count) == 0 &&
               back->sign_count != want_count) {
        fprintf(stderr, "  %s: stored signCount %u after authentication\n", name, back->sign_count);
        t->failed++;
    } else {
        if (r == KW_OK)
            ceremonies_verified++;
        t->passed++;
    }
    free(back);
out:
    free(rchal);
    free(rcdj);
    free(ao);
    free(achal);
    free(acdj);
    free(aad);
    free(asig);
    free(cid);
    free(want_cose);
    free(cred);
}

static void visit(const char *path, json_t *doc, void *ctx)
{
    (void)ctx;
    if (!is_webauthn_doc(doc))
        return;
    doc_ctx d = {.doc = doc};
    json_t *tr = json_object_get(doc, "attestation_trust_root");
    if (json_is_object(tr) && vec_hex(tr, "attestation_ca_cert", &d.root, &d.root_len) != 0) {
        fprintf(stderr, "  %s: bad attestation_ca_cert\n", path);
        tally_for("trust-root")->failed++;
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "vectors"), i, v) {
        if (json_is_object(v))
            run_one(path, &d, v);
    }
    free(d.root);
}

static void test_webauthn_vectors(void **state)
{
    (void)state;
    unsigned parse_failures;
    vec_walk(visit, NULL, &parse_failures);
    unsigned ran = 0, failed = 0, passed = 0, unsupported = 0;
    for (size_t i = 0; i < n_kinds; i++) {
        vec_report(&tallies[i]);
        ran += tallies[i].ran;
        failed += tallies[i].failed;
        passed += tallies[i].passed;
        unsupported += tallies[i].unsupported;
    }
    printf("webauthn: %u credentials, %u verified (registration + authentication), %u unsupported, "
           "%u failed; %u ceremonies verified; %u cross-origin entries refused by a strict policy; "
           "%u flipped attestation objects refused; %u chains refused without their root\n",
           ran, passed, unsupported, failed, ceremonies_verified, cross_origin_refusals,
           mutations_refused, chain_refusals);
    assert_int_equal(parse_failures, 0);
    assert_true(ran > 0);
    assert_true(passed > 0);
    assert_int_equal(failed, 0);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_webauthn_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
