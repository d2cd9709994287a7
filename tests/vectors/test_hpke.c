/*
 * HPKE vectors (RFC 9180 test-vectors.json schema) read at run time.
 *
 * A document is an HPKE vector set when it is a JSON array (or a single
 * object) whose objects carry kem_id, kdf_id and aead_id. Vectors of our
 * suite (0x0020/0x0001/0x0003) are run in full and tallied per mode; any
 * other suite or an unknown mode is counted as unsupported.
 *
 * For each vector: DeriveKeyPair(ikmE/ikmR/ikmS) gives the listed keys; the
 * deterministic sender setup gives enc, shared_secret, key_schedule_context,
 * secret, key, base_nonce and exporter_secret; the receiver setup agrees;
 * every encryption (sequence number moved to `seq`, or the list index when
 * absent) gives nonce and ct and opens back to pt; every export matches on
 * both sides; the single-shot open accepts enc ‖ ct of sequence number 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "crypto/hpke_internal.h"
#include "keyward/hpke.h"
#include "keyward/keyward.h"
#include "vecutil.h"

static vec_tally tally_mode[4] = {
    {.kind = "hpke-x25519-sha256-chacha-base"},
    {.kind = "hpke-x25519-sha256-chacha-psk"},
    {.kind = "hpke-x25519-sha256-chacha-auth"},
    {.kind = "hpke-x25519-sha256-chacha-authpsk"},
};
static vec_tally tally_other = {.kind = "hpke-other-suite-or-mode"};

static int is_hpke_vector(json_t *v)
{
    return json_is_object(v) && json_object_get(v, "kem_id") != NULL &&
           json_object_get(v, "kdf_id") != NULL && json_object_get(v, "aead_id") != NULL;
}

/* Owned hex fields of one vector; every pointer is freed by fields_free. */
typedef struct {
    uint8_t *p;
    size_t n;
} hexbuf;

static int get_hex(json_t *v, const char *name, hexbuf *out)
{
    return vec_hex(v, name, &out->p, &out->n);
}

static int expect(const char *path, const char *what, const uint8_t *got, size_t got_len,
                  const hexbuf *want)
{
    if (got_len == want->n && memcmp(got, want->p, got_len) == 0)
        return 0;
    vec_mismatch(path, what, got, got_len, want->p, want->n);
    return 1;
}

/* Checks DeriveKeyPair(ikm) against the listed sk/pk; fills sk/pk. */
static int check_dkp(const char *path, json_t *v, const char *ikm_name, const char *sk_name,
                     const char *pk_name, uint8_t sk[32], uint8_t pk[32])
{
    hexbuf ikm = {0}, skw = {0}, pkw = {0};
    int bad = 0;
    if (get_hex(v, ikm_name, &ikm) != 0 || get_hex(v, sk_name, &skw) != 0 ||
        get_hex(v, pk_name, &pkw) != 0) {
        fprintf(stderr, "  %s: missing %s/%s/%s\n", path, ikm_name, sk_name, pk_name);
        bad = 1;
        goto out;
    }
    if (kw_hpke_derive_keypair(pk, sk, ikm.p, ikm.n) != KW_OK) {
        fprintf(stderr, "  %s: DeriveKeyPair(%s) failed\n", path, ikm_name);
        bad = 1;
        goto out;
    }
    bad |= expect(path, sk_name, sk, 32, &skw);
    bad |= expect(path, pk_name, pk, 32, &pkw);
out:
    free(ikm.p);
    free(skw.p);
    free(pkw.p);
    return bad;
}

/* Runs every encryption; returns the number of mismatches. */
static int check_encryptions(const char *path, json_t *encs, struct kw_hpke_ctx *s,
                             struct kw_hpke_ctx *r, const kw_hpke_params *rp,
                             const uint8_t enc[32], const uint8_t skR[32], const uint8_t pkR[32])
{
    int bad = 0;
    size_t i;
    json_t *e;
    if (!json_is_array(encs) || json_array_size(encs) == 0) {
        fprintf(stderr, "  %s: no encryptions\n", path);
        return 1;
    }
    json_array_foreach(encs, i, e) {
        hexbuf pt = {0}, aad = {0}, nonce = {0}, ct = {0};
        uint64_t seq = i;
        if (json_object_get(e, "seq") != NULL && vec_u64(e, "seq", &seq) != 0) {
            bad++;
            continue;
        }
        if (get_hex(e, "pt", &pt) != 0 || get_hex(e, "aad", &aad) != 0 ||
            get_hex(e, "nonce", &nonce) != 0 || get_hex(e, "ct", &ct) != 0) {
            fprintf(stderr, "  %s: encryption %zu malformed\n", path, i);
            bad++;
            goto next;
        }
        uint8_t got_nonce[KW_HPKE_NONCEBYTES];
        hpke_ctx_set_seq(s, seq);
        hpke_ctx_set_seq(r, seq);
        hpke_ctx_nonce(s, got_nonce);
        bad += expect(path, "nonce", got_nonce, sizeof(got_nonce), &nonce);
        uint8_t *got_ct = malloc(pt.n + KW_HPKE_TAGBYTES);
        uint8_t *got_pt = malloc(ct.n + 1);
        size_t got_ct_len = 0, got_pt_len = 0;
        if (kw_hpke_ctx_seal(s, got_ct, pt.n + KW_HPKE_TAGBYTES, &got_ct_len, aad.p, aad.n, pt.p,
                             pt.n) != KW_OK) {
            fprintf(stderr, "  %s: seal at seq %llu failed\n", path, (unsigned long long)seq);
            bad++;
        } else {
            bad += expect(path, "ct", got_ct, got_ct_len, &ct);
            if (kw_hpke_ctx_seq(s) != seq + 1)
                bad++;
        }
        if (kw_hpke_ctx_open(r, got_pt, ct.n + 1, &got_pt_len, aad.p, aad.n, ct.p, ct.n) !=
            KW_OK) {
            fprintf(stderr, "  %s: open at seq %llu failed\n", path, (unsigned long long)seq);
            bad++;
        } else {
            bad += expect(path, "opened pt", got_pt, got_pt_len, &pt);
            if (kw_hpke_ctx_seq(r) != seq + 1)
                bad++;
        }
        /* The single-shot form is enc ‖ ct at sequence number 0. */
        if (seq == 0) {
            size_t in_len = KW_HPKE_ENCBYTES + ct.n;
            uint8_t *in = malloc(in_len);
            memcpy(in, enc, KW_HPKE_ENCBYTES);
            memcpy(in + KW_HPKE_ENCBYTES, ct.p, ct.n);
            int rc = kw_hpke_open(got_pt, ct.n + 1, &got_pt_len, skR, pkR, rp, aad.p, aad.n, in,
                                  in_len);
            if (rc != KW_OK) {
                fprintf(stderr, "  %s: single-shot open failed: %s\n", path, kw_strerror(rc));
                bad++;
            } else {
                bad += expect(path, "single-shot pt", got_pt, got_pt_len, &pt);
            }
            free(in);
        }
        free(got_ct);
        free(got_pt);
    next:
        free(pt.p);
        free(aad.p);
        free(nonce.p);
        free(ct.p);
    }
    return bad;
}

static int check_exports(const char *path, json_t *exps, const struct kw_hpke_ctx *s,
                         const struct kw_hpke_ctx *r)
{
    int bad = 0;
    size_t i;
    json_t *e;
    if (exps == NULL)
        return 0;
    if (!json_is_array(exps))
        return 1;
    json_array_foreach(exps, i, e) {
        hexbuf ec = {0}, want = {0};
        uint64_t L;
        if (get_hex(e, "exporter_context", &ec) != 0 || get_hex(e, "exported_value", &want) != 0 ||
            vec_u64(e, "L", &L) != 0 || L != want.n) {
            fprintf(stderr, "  %s: export %zu malformed\n", path, i);
            bad++;
        } else {
            uint8_t *got = malloc(want.n + 1);
            if (kw_hpke_ctx_export(s, got, want.n, ec.p, ec.n) != KW_OK)
                bad++;
            else
                bad += expect(path, "sender export", got, want.n, &want);
            if (kw_hpke_ctx_export(r, got, want.n, ec.p, ec.n) != KW_OK)
                bad++;
            else
                bad += expect(path, "receiver export", got, want.n, &want);
            free(got);
        }
        free(ec.p);
        free(want.p);
    }
    return bad;
}

static void run_one(const char *path, json_t *v)
{
    uint64_t mode, kem, kdf, aead;
    if (vec_u64(v, "mode", &mode) != 0 || vec_u64(v, "kem_id", &kem) != 0 ||
        vec_u64(v, "kdf_id", &kdf) != 0 || vec_u64(v, "aead_id", &aead) != 0) {
        fprintf(stderr, "  %s: hpke vector without integer mode/ids\n", path);
        tally_other.ran++;
        tally_other.failed++;
        return;
    }
    if (kem != KW_HPKE_KEM_ID || kdf != KW_HPKE_KDF_ID || aead != KW_HPKE_AEAD_ID || mode > 3) {
        tally_other.ran++;
        tally_other.unsupported++;
        return;
    }
    vec_tally *t = &tally_mode[mode];
    t->ran++;

    int bad = 0;
    int auth = mode == KW_HPKE_MODE_AUTH || mode == KW_HPKE_MODE_AUTH_PSK;
    int psk_mode = mode == KW_HPKE_MODE_PSK || mode == KW_HPKE_MODE_AUTH_PSK;
    uint8_t skE[32], pkE[32], skR[32], pkR[32], skS[32], pkS[32], enc[32];
    hexbuf info = {0}, psk = {0}, psk_id = {0}, enc_w = {0}, ss = {0}, ksc = {0}, secret = {0},
           key = {0}, nonce = {0}, exp = {0};
    struct kw_hpke_ctx s, r;
    hpke_trace ts, tr;
    memset(&s, 0, sizeof(s));
    memset(&r, 0, sizeof(r));

    bad |= check_dkp(path, v, "ikmE", "skEm", "pkEm", skE, pkE);
    bad |= check_dkp(path, v, "ikmR", "skRm", "pkRm", skR, pkR);
    if (auth)
        bad |= check_dkp(path, v, "ikmS", "skSm", "pkSm", skS, pkS);
    if (get_hex(v, "info", &info) != 0 || get_hex(v, "enc", &enc_w) != 0 ||
        get_hex(v, "shared_secret", &ss) != 0 || get_hex(v, "key_schedule_context", &ksc) != 0 ||
        get_hex(v, "secret", &secret) != 0 || get_hex(v, "key", &key) != 0 ||
        get_hex(v, "base_nonce", &nonce) != 0 || get_hex(v, "exporter_secret", &exp) != 0 ||
        (psk_mode && (get_hex(v, "psk", &psk) != 0 || get_hex(v, "psk_id", &psk_id) != 0))) {
        fprintf(stderr, "  %s: hpke vector (mode %llu) missing fields\n", path,
                (unsigned long long)mode);
        bad = 1;
        goto out;
    }
    if (bad)
        goto out;

    kw_hpke_params sp = {.mode = (kw_hpke_mode)mode,
                         .info = info.p, .info_len = info.n,
                         .psk = psk.p, .psk_len = psk.n,
                         .psk_id = psk_id.p, .psk_id_len = psk_id.n,
                         .sk_s = auth ? skS : NULL, .pk_s = auth ? pkS : NULL};
    kw_hpke_params rp = sp;
    rp.sk_s = NULL;
    int rc = hpke_setup_sender_derand(&s, enc, pkR, &sp, skE, pkE, &ts);
    if (rc != KW_OK) {
        fprintf(stderr, "  %s: sender setup failed: %s\n", path, kw_strerror(rc));
        bad = 1;
        goto out;
    }
    rc = hpke_setup_receiver_into(&r, enc, skR, pkR, &rp, &tr);
    if (rc != KW_OK) {
        fprintf(stderr, "  %s: receiver setup failed: %s\n", path, kw_strerror(rc));
        bad = 1;
        goto out;
    }
    bad |= expect(path, "enc", enc, sizeof(enc), &enc_w);
    bad |= expect(path, "shared_secret", ts.shared_secret, 32, &ss);
    bad |= expect(path, "key_schedule_context", ts.key_schedule_context, HPKE_KSC_BYTES, &ksc);
    bad |= expect(path, "secret", ts.secret, 32, &secret);
    bad |= expect(path, "key", s.key, sizeof(s.key), &key);
    bad |= expect(path, "base_nonce", s.base_nonce, sizeof(s.base_nonce), &nonce);
    bad |= expect(path, "exporter_secret", s.exporter_secret, sizeof(s.exporter_secret), &exp);
    bad |= expect(path, "receiver shared_secret", tr.shared_secret, 32, &ss);
    bad |= expect(path, "receiver key", r.key, sizeof(r.key), &key);
    bad |= expect(path, "receiver base_nonce", r.base_nonce, sizeof(r.base_nonce), &nonce);
    bad |= expect(path, "receiver exporter_secret", r.exporter_secret, sizeof(r.exporter_secret),
                  &exp);
    /* Deriving pkR inside the receiver setup gives the same context. */
    struct kw_hpke_ctx r2;
    if (hpke_setup_receiver_into(&r2, enc, skR, NULL, &rp, NULL) != KW_OK ||
        memcmp(r2.key, r.key, sizeof(r.key)) != 0) {
        fprintf(stderr, "  %s: receiver setup without pkR differs\n", path);
        bad = 1;
    }
    sodium_memzero(&r2, sizeof(r2));
    bad |= check_encryptions(path, json_object_get(v, "encryptions"), &s, &r, &rp, enc, skR,
                             pkR) != 0;
    bad |= check_exports(path, json_object_get(v, "exports"), &s, &r) != 0;
out:
    if (bad)
        t->failed++;
    else
        t->passed++;
    sodium_memzero(&s, sizeof(s));
    sodium_memzero(&r, sizeof(r));
    hexbuf *all[] = {&info, &psk, &psk_id, &enc_w, &ss, &ksc, &secret, &key, &nonce, &exp};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
        free(all[k]->p);
}

static void visit(const char *path, json_t *doc, void *ctx)
{
    (void)ctx;
    if (json_is_array(doc)) {
        size_t i;
        json_t *v;
        json_array_foreach(doc, i, v) {
            if (is_hpke_vector(v))
                run_one(path, v);
        }
    } else if (is_hpke_vector(doc)) {
        run_one(path, doc);
    }
}

static void test_hpke_vectors(void **state)
{
    (void)state;
    unsigned parse_failures;
    vec_walk(visit, NULL, &parse_failures);
    unsigned ran = 0, failed = tally_other.failed;
    for (size_t m = 0; m < 4; m++) {
        vec_report(&tally_mode[m]);
        ran += tally_mode[m].ran;
        failed += tally_mode[m].failed;
    }
    vec_report(&tally_other);
    assert_int_equal(parse_failures, 0);
    assert_true(ran > 0);
    assert_true(tally_mode[KW_HPKE_MODE_BASE].ran > 0);
    assert_int_equal(failed, 0);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hpke_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
