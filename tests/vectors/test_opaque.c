/* OPAQUE vectors (RFC 9807 / draft-irtf-cfrg-opaque poc vectors.json
 * schema: entries with config{Group, OPRF, KSF, Context, Fake, ...},
 * inputs, intermediates, outputs), read at run time. Real vectors run the
 * whole registration and login and compare every message, the keys and
 * the record's parts; fake vectors run GenerateKE2 on the fake-record path.
 * Configurations we do not implement (P-256, other KSFs or hashes) are
 * counted as unsupported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keyward/keyward.h"
#include "keyward/opaque.h"
#include "vecutil.h"

static vec_tally tally_real_r255 = {.kind = "opaque-3dh-ristretto255-real"};
static vec_tally tally_real_x25519 = {.kind = "opaque-3dh-curve25519-real"};
static vec_tally tally_fake_r255 = {.kind = "opaque-3dh-ristretto255-fake"};
static vec_tally tally_fake_x25519 = {.kind = "opaque-3dh-curve25519-fake"};
static vec_tally tally_other = {.kind = "opaque-other-config"};

#define NFIELDS 40

/* Decoded hex fields of one vector, freed together. */
typedef struct {
    const char *name[NFIELDS];
    uint8_t *data[NFIELDS];
    size_t len[NFIELDS];
    size_t n;
    int missing;
} fields;

static const uint8_t *get(fields *f, json_t *obj, const char *name, size_t want_len, size_t *len_out)
{
    uint8_t *d;
    size_t l;
    if (f->n == NFIELDS || vec_hex(obj, name, &d, &l) != 0) {
        fprintf(stderr, "  missing or bad field %s\n", name);
        f->missing = 1;
        return NULL;
    }
    f->name[f->n] = name;
    f->data[f->n] = d;
    f->len[f->n] = l;
    f->n++;
    if (len_out != NULL)
        *len_out = l;
    if (want_len != 0 && l != want_len) {
        fprintf(stderr, "  field %s has length %zu, want %zu\n", name, l, want_len);
        f->missing = 1;
        return NULL;
    }
    return d;
}

/* Optional field: NULL and length 0 when absent. */
static const uint8_t *get_opt(fields *f, json_t *obj, const char *name, size_t *len_out)
{
    *len_out = 0;
    if (json_object_get(obj, name) == NULL)
        return NULL;
    return get(f, obj, name, 0, len_out);
}

/* Length of a field decoded by get(), looked up by its pointer. */
static size_t len_of(const fields *f, const uint8_t *p)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->data[i] == p)
            return f->len[i];
    return 0;
}

static void fields_free(fields *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->data[i]);
    f->n = 0;
}

static int same(const char *path, const char *what, const uint8_t *got, size_t got_len,
                const uint8_t *want, size_t want_len)
{
    if (want == NULL || got_len != want_len || memcmp(got, want, got_len) != 0) {
        vec_mismatch(path, what, got, got_len, want, want == NULL ? 0 : want_len);
        return -1;
    }
    return 0;
}

static int run_real(const char *path, json_t *e, int group, const uint8_t *context, size_t context_len)
{
    json_t *in = json_object_get(e, "inputs"), *mid = json_object_get(e, "intermediates"),
           *outp = json_object_get(e, "outputs");
    fields f = {0};
    kw_opaque_client *c = NULL;
    kw_opaque_server *s = NULL;
    kw_opaque_server_login *lg = NULL;
    int fail = -1;
    size_t pw_len, cred_len, cid_len, sid_len;

    const uint8_t *oprf_seed = get(&f, in, "oprf_seed", 64, NULL);
    const uint8_t *cred_id = get(&f, in, "credential_identifier", 0, &cred_len);
    const uint8_t *password = get(&f, in, "password", 0, &pw_len);
    const uint8_t *server_sk = get(&f, in, "server_private_key", 32, NULL);
    const uint8_t *server_pk = get(&f, in, "server_public_key", 32, NULL);
    const uint8_t *blind_reg = get(&f, in, "blind_registration", 32, NULL);
    const uint8_t *blind_login = get(&f, in, "blind_login", 32, NULL);
    const uint8_t *env_nonce = get(&f, in, "envelope_nonce", 32, NULL);
    const uint8_t *client_nonce = get(&f, in, "client_nonce", 32, NULL);
    const uint8_t *client_seed = get(&f, in, "client_keyshare_seed", 32, NULL);
    const uint8_t *masking_nonce = get(&f, in, "masking_nonce", 32, NULL);
    const uint8_t *server_nonce = get(&f, in, "server_nonce", 32, NULL);
    const uint8_t *server_seed = get(&f, in, "server_keyshare_seed", 32, NULL);
    const uint8_t *cid = get_opt(&f, in, "client_identity", &cid_len);
    const uint8_t *sid = get_opt(&f, in, "server_identity", &sid_len);
    const uint8_t *w_client_pk = get(&f, mid, "client_public_key", 32, NULL);
    const uint8_t *w_masking_key = get(&f, mid, "masking_key", 64, NULL);
    const uint8_t *w_envelope = get(&f, mid, "envelope", 96, NULL);
    const uint8_t *w_req = get(&f, outp, "registration_request", 0, NULL);
    const uint8_t *w_resp = get(&f, outp, "registration_response", 0, NULL);
    const uint8_t *w_upload = get(&f, outp, "registration_upload", 0, NULL);
    const uint8_t *w_ke1 = get(&f, outp, "KE1", 0, NULL);
    const uint8_t *w_ke2 = get(&f, outp, "KE2", 0, NULL);
    const uint8_t *w_ke3 = get(&f, outp, "KE3", 0, NULL);
    const uint8_t *w_export = get(&f, outp, "export_key", 0, NULL);
    const uint8_t *w_session = get(&f, outp, "session_key", 0, NULL);
    if (f.missing)
        goto out;

    kw_opaque_config cfg = {.group = group, .ksf = KW_OPAQUE_KSF_IDENTITY, .context = context,
                            .context_len = context_len};
    kw_opaque_ids ids = {cid, cid_len, sid, sid_len};
    uint8_t req[KW_OPAQUE_REGISTRATION_REQUESTBYTES], resp[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES], export_reg[64], export_login[64];
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES], ke3[KW_OPAQUE_KE3BYTES];
    uint8_t session_c[64], session_s[64];
    kw_opaque_registration_record rec;

    if (kw_opaque_client_new(&c, &cfg) != KW_OK ||
        kw_opaque_server_new(&s, &cfg, server_sk, server_pk, oprf_seed) != KW_OK) {
        fprintf(stderr, "  %s: cannot create client/server\n", path);
        goto out;
    }
    if (kw_opaque_client_registration_start_det(c, req, password, pw_len, blind_reg) != KW_OK ||
        same(path, "registration_request", req, sizeof(req), w_req, len_of(&f, w_req)) != 0)
        goto out;
    if (kw_opaque_server_registration_response(s, resp, req, sizeof(req), cred_id, cred_len) != KW_OK ||
        same(path, "registration_response", resp, sizeof(resp), w_resp, len_of(&f, w_resp)) != 0)
        goto out;
    if (kw_opaque_client_registration_finish_det(c, record, export_reg, resp, sizeof(resp), &ids,
                                                 env_nonce) != KW_OK ||
        kw_opaque_registration_record_parse(&rec, group, record, sizeof(record)) != KW_OK ||
        same(path, "client_public_key", rec.client_public_key, 32, w_client_pk, 32) != 0 ||
        same(path, "masking_key", rec.masking_key, 64, w_masking_key, 64) != 0 ||
        same(path, "envelope", rec.envelope, 96, w_envelope, 96) != 0 ||
        same(path, "registration_upload", record, sizeof(record), w_upload, len_of(&f, w_upload)) != 0 ||
        same(path, "export_key (registration)", export_reg, 64, w_export, len_of(&f, w_export)) != 0)
        goto out;
    if (kw_opaque_client_login_start_det(c, ke1, password, pw_len, blind_login, client_nonce,
                                         client_seed) != KW_OK ||
        same(path, "KE1", ke1, sizeof(ke1), w_ke1, len_of(&f, w_ke1)) != 0)
        goto out;
    kw_opaque_ke2_randomness rnd = {0};
    memcpy(rnd.masking_nonce, masking_nonce, 32);
    memcpy(rnd.server_nonce, server_nonce, 32);
    memcpy(rnd.server_keyshare_seed, server_seed, 32);
    if (kw_opaque_server_ke2_det(s, &lg, ke2, record, sizeof(record), cred_id, cred_len, ke1,
                                 sizeof(ke1), &ids, &rnd) != KW_OK ||
        same(path, "KE2", ke2, sizeof(ke2), w_ke2, len_of(&f, w_ke2)) != 0)
        goto out;
    if (kw_opaque_client_login_finish(c, ke3, session_c, export_login, ke2, sizeof(ke2), &ids) != KW_OK ||
        same(path, "KE3", ke3, sizeof(ke3), w_ke3, len_of(&f, w_ke3)) != 0 ||
        same(path, "session_key (client)", session_c, 64, w_session, len_of(&f, w_session)) != 0 ||
        same(path, "export_key (login)", export_login, 64, w_export, len_of(&f, w_export)) != 0)
        goto out;
    if (kw_opaque_server_finish(lg, session_s, ke3, sizeof(ke3)) != KW_OK ||
        same(path, "session_key (server)", session_s, 64, w_session, len_of(&f, w_session)) != 0)
        goto out;
    fail = 0;
out:
    kw_opaque_server_login_free(&lg);
    kw_opaque_client_free(&c);
    kw_opaque_server_free(&s);
    fields_free(&f);
    return fail;
}

static int run_fake(const char *path, json_t *e, int group, const uint8_t *context, size_t context_len)
{
    json_t *in = json_object_get(e, "inputs"), *outp = json_object_get(e, "outputs");
    fields f = {0};
    kw_opaque_server *s = NULL;
    kw_opaque_server_login *lg = NULL;
    int fail = -1;
    size_t cred_len, cid_len, sid_len, ke1_len, ke2_len;

    const uint8_t *oprf_seed = get(&f, in, "oprf_seed", 64, NULL);
    const uint8_t *cred_id = get(&f, in, "credential_identifier", 0, &cred_len);
    const uint8_t *server_sk = get(&f, in, "server_private_key", 32, NULL);
    const uint8_t *server_pk = get(&f, in, "server_public_key", 32, NULL);
    const uint8_t *client_sk = get(&f, in, "client_private_key", 32, NULL);
    const uint8_t *client_pk = get(&f, in, "client_public_key", 32, NULL);
    const uint8_t *masking_key = get(&f, in, "masking_key", 64, NULL);
    const uint8_t *masking_nonce = get(&f, in, "masking_nonce", 32, NULL);
    const uint8_t *server_nonce = get(&f, in, "server_nonce", 32, NULL);
    const uint8_t *server_seed = get(&f, in, "server_keyshare_seed", 32, NULL);
    const uint8_t *ke1 = get(&f, in, "KE1", 0, &ke1_len);
    const uint8_t *cid = get_opt(&f, in, "client_identity", &cid_len);
    const uint8_t *sid = get_opt(&f, in, "server_identity", &sid_len);
    const uint8_t *w_ke2 = get(&f, outp, "KE2", 0, &ke2_len);
    if (f.missing)
        goto out;

    kw_opaque_config cfg = {.group = group, .ksf = KW_OPAQUE_KSF_IDENTITY, .context = context,
                            .context_len = context_len};
    kw_opaque_ids ids = {cid, cid_len, sid, sid_len};
    uint8_t ke2[KW_OPAQUE_KE2BYTES], sk_chk[32], pk_chk[32], session[64];
    kw_opaque_ke2_randomness rnd = {0};

    /* The fake client key pair is consistent (a check of our group code:
     * for the given private key the public key must follow). */
    if (group == KW_OPAQUE_GROUP_CURVE25519) {
        if (kw_opaque_derive_keypair(group, sk_chk, pk_chk, client_sk) != KW_OK ||
            same(path, "fake client_public_key", pk_chk, 32, client_pk, 32) != 0)
            goto out;
    }
    memcpy(rnd.masking_nonce, masking_nonce, 32);
    memcpy(rnd.server_nonce, server_nonce, 32);
    memcpy(rnd.server_keyshare_seed, server_seed, 32);
    memcpy(rnd.fake_client_public_key, client_pk, 32);
    memcpy(rnd.fake_masking_key, masking_key, 64);
    if (kw_opaque_server_new(&s, &cfg, server_sk, server_pk, oprf_seed) != KW_OK ||
        kw_opaque_server_ke2_det(s, &lg, ke2, NULL, 0, cred_id, cred_len, ke1, ke1_len, &ids,
                                 &rnd) != KW_OK ||
        same(path, "KE2 (fake record)", ke2, sizeof(ke2), w_ke2, ke2_len) != 0)
        goto out;
    /* A fake login never finishes, whatever KE3 says. */
    uint8_t ke3[KW_OPAQUE_KE3BYTES] = {0};
    if (kw_opaque_server_finish(lg, session, ke3, sizeof(ke3)) != KW_ERR_VERIFY)
        goto out;
    fail = 0;
out:
    kw_opaque_server_login_free(&lg);
    kw_opaque_server_free(&s);
    fields_free(&f);
    return fail;
}

static int is_opaque_entry(json_t *e)
{
    json_t *cfg = json_object_get(e, "config");
    return json_is_object(e) && json_is_object(cfg) && json_object_get(cfg, "Group") != NULL &&
           json_object_get(cfg, "OPRF") != NULL && json_is_object(json_object_get(e, "inputs")) &&
           json_is_object(json_object_get(e, "outputs"));
}

static int str_is(json_t *obj, const char *name, const char *want)
{
    const char *v = vec_str(obj, name);
    return v != NULL && strcmp(v, want) == 0;
}

static void run_entry(const char *path, json_t *e)
{
    json_t *cfg = json_object_get(e, "config");
    const char *group_name = vec_str(cfg, "Group");
    int fake = str_is(cfg, "Fake", "True");
    int group = 0;
    if (group_name != NULL && strcmp(group_name, "ristretto255") == 0)
        group = KW_OPAQUE_GROUP_RISTRETTO255;
    else if (group_name != NULL && strcmp(group_name, "curve25519") == 0)
        group = KW_OPAQUE_GROUP_CURVE25519;
    int supported = group != 0 && str_is(cfg, "OPRF", "ristretto255-SHA512") &&
                    str_is(cfg, "Hash", "SHA512") && str_is(cfg, "KDF", "HKDF-SHA512") &&
                    str_is(cfg, "MAC", "HMAC-SHA512") && str_is(cfg, "KSF", "Identity") &&
                    str_is(cfg, "Name", "3DH");
    if (!supported) {
        tally_other.ran++;
        tally_other.unsupported++;
        fprintf(stderr, "  %s: unsupported OPAQUE configuration (Group %s, OPRF %s, KSF %s)\n", path,
                group_name ? group_name : "?", vec_str(cfg, "OPRF") ? vec_str(cfg, "OPRF") : "?",
                vec_str(cfg, "KSF") ? vec_str(cfg, "KSF") : "?");
        return;
    }
    vec_tally *t = fake ? (group == KW_OPAQUE_GROUP_RISTRETTO255 ? &tally_fake_r255 : &tally_fake_x25519)
                        : (group == KW_OPAQUE_GROUP_RISTRETTO255 ? &tally_real_r255 : &tally_real_x25519);
    t->ran++;
    uint8_t *context = NULL;
    size_t context_len = 0;
    if (vec_hex(cfg, "Context", &context, &context_len) != 0) {
        fprintf(stderr, "  %s: bad Context\n", path);
        t->failed++;
        return;
    }
    int rc = fake ? run_fake(path, e, group, context, context_len)
                  : run_real(path, e, group, context, context_len);
    if (rc == 0)
        t->passed++;
    else
        t->failed++;
    free(context);
}

static void visit(const char *path, json_t *doc, void *ctx)
{
    (void)ctx;
    if (json_is_array(doc)) {
        size_t i;
        json_t *e;
        json_array_foreach(doc, i, e) {
            if (is_opaque_entry(e))
                run_entry(path, e);
        }
    } else if (is_opaque_entry(doc)) {
        run_entry(path, doc);
    }
}

static void test_opaque_vectors(void **state)
{
    (void)state;
    unsigned parse_failures;
    vec_walk(visit, NULL, &parse_failures);
    vec_report(&tally_real_r255);
    vec_report(&tally_real_x25519);
    vec_report(&tally_fake_r255);
    vec_report(&tally_fake_x25519);
    vec_report(&tally_other);
    assert_int_equal(parse_failures, 0);
    assert_true(tally_real_r255.ran > 0);
    assert_true(tally_real_x25519.ran > 0);
    assert_true(tally_fake_r255.ran > 0);
    assert_true(tally_fake_x25519.ran > 0);
    assert_int_equal(tally_real_r255.failed + tally_real_x25519.failed + tally_fake_r255.failed +
                         tally_fake_x25519.failed,
                     0);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_opaque_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
