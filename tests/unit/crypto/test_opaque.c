/* Unit tests for OPAQUE: full flows in both groups and with Argon2id, and
 * every refusal — wrong password, tampered KE2/KE3/record, identity
 * mismatch, fake records, malformed messages, calls out of order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/opaque.h"

static const uint8_t ctx[] = "keyward-test";
static const uint8_t pw[] = "correct horse battery staple";
static const uint8_t cred[] = "user-1234";

static const uint8_t noncanon[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};

typedef struct {
    kw_opaque_config cfg;
    kw_opaque_client *c;
    kw_opaque_server *s;
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES];
    uint8_t export_reg[64];
} fixture;

static void fixture_init(fixture *f, int group, int ksf)
{
    uint8_t sk[32], pk[32], seed[64];
    memset(f, 0, sizeof(*f));
    kw_opaque_config_default(&f->cfg, ctx, sizeof(ctx) - 1);
    f->cfg.group = group;
    f->cfg.ksf = ksf;
    f->cfg.argon2_opslimit = 1;
    f->cfg.argon2_memlimit = 64 * 1024;
    assert_int_equal(kw_opaque_keygen(group, sk, pk), KW_OK);
    randombytes_buf(seed, sizeof(seed));
    assert_int_equal(kw_opaque_client_new(&f->c, &f->cfg), KW_OK);
    assert_int_equal(kw_opaque_server_new(&f->s, &f->cfg, sk, pk, seed), KW_OK);
}

static void fixture_free(fixture *f)
{
    kw_opaque_client_free(&f->c);
    kw_opaque_server_free(&f->s);
    assert_null(f->c);
    assert_null(f->s);
}

static void do_register(fixture *f, const uint8_t *password, size_t len, const kw_opaque_ids *ids)
{
    uint8_t req[32], resp[64];
    assert_int_equal(kw_opaque_client_registration_start(f->c, req, password, len), KW_OK);
    assert_int_equal(kw_opaque_server_registration_response(f->s, resp, req, sizeof(req), cred,
                                                            sizeof(cred)),
                     KW_OK);
    assert_int_equal(kw_opaque_client_registration_finish(f->c, f->record, f->export_reg, resp,
                                                          sizeof(resp), ids),
                     KW_OK);
}

/* KE1 from the client and KE2 from the server for the stored record. */
static void login_to_ke2(fixture *f, const uint8_t *password, size_t len, const kw_opaque_ids *cids,
                         const kw_opaque_ids *sids, uint8_t ke2[KW_OPAQUE_KE2BYTES],
                         kw_opaque_server_login **lg)
{
    uint8_t ke1[KW_OPAQUE_KE1BYTES];
    assert_int_equal(kw_opaque_client_login_start(f->c, ke1, password, len), KW_OK);
    (void)cids;
    assert_int_equal(kw_opaque_server_ke2(f->s, lg, ke2, f->record, sizeof(f->record), cred,
                                          sizeof(cred), ke1, sizeof(ke1), sids),
                     KW_OK);
}

static void full_flow(int group, int ksf)
{
    fixture f;
    kw_opaque_server_login *lg = NULL;
    uint8_t ke2[KW_OPAQUE_KE2BYTES], ke3[64], sk_c[64], sk_s[64], exp_c[64];
    fixture_init(&f, group, ksf);
    do_register(&f, pw, sizeof(pw), NULL);
    login_to_ke2(&f, pw, sizeof(pw), NULL, NULL, ke2, &lg);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk_c, exp_c, ke2, sizeof(ke2), NULL), KW_OK);
    assert_int_equal(kw_opaque_server_finish(lg, sk_s, ke3, sizeof(ke3)), KW_OK);
    assert_memory_equal(sk_c, sk_s, 64);
    assert_memory_equal(exp_c, f.export_reg, 64);
    /* a login finishes once */
    assert_int_equal(kw_opaque_server_finish(lg, sk_s, ke3, sizeof(ke3)), KW_ERR_INVALID_ARG);
    assert_true(sodium_is_zero(sk_s, 64));
    kw_opaque_server_login_free(&lg);
    assert_null(lg);
    fixture_free(&f);
}

/* A pending login exported and imported (as a server does between KE2 and
 * KE3 requests) finishes like the original, once; a wrong KE3 still fails;
 * damaged states are refused. */
static void test_login_export_import(void **state)
{
    (void)state;
    fixture f;
    kw_opaque_server_login *lg = NULL, *back = NULL;
    uint8_t ke2[KW_OPAQUE_KE2BYTES], ke3[64], sk_c[64], sk_s[64], exp_c[64];
    uint8_t st[KW_OPAQUE_SERVER_LOGIN_STATEBYTES];
    fixture_init(&f, KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_IDENTITY);
    do_register(&f, pw, sizeof(pw), NULL);
    login_to_ke2(&f, pw, sizeof(pw), NULL, NULL, ke2, &lg);
    assert_int_equal(kw_opaque_server_login_export(st, lg), KW_OK);
    kw_opaque_server_login_free(&lg);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk_c, exp_c, ke2, sizeof(ke2), NULL), KW_OK);
    assert_int_equal(kw_opaque_server_login_import(&back, st, sizeof(st) - 1), KW_ERR_FORMAT);
    assert_null(back);
    st[0] ^= 0xff;
    assert_int_equal(kw_opaque_server_login_import(&back, st, sizeof(st)), KW_ERR_FORMAT);
    st[0] ^= 0xff;
    /* a flipped KE3 bit fails against the imported state */
    assert_int_equal(kw_opaque_server_login_import(&back, st, sizeof(st)), KW_OK);
    ke3[5] ^= 1;
    assert_int_equal(kw_opaque_server_finish(back, sk_s, ke3, sizeof(ke3)), KW_ERR_VERIFY);
    kw_opaque_server_login_free(&back);
    ke3[5] ^= 1;
    assert_int_equal(kw_opaque_server_login_import(&back, st, sizeof(st)), KW_OK);
    assert_int_equal(kw_opaque_server_finish(back, sk_s, ke3, sizeof(ke3)), KW_OK);
    assert_memory_equal(sk_c, sk_s, 64);
    assert_int_equal(kw_opaque_server_login_export(st, back), KW_ERR_INVALID_ARG);
    kw_opaque_server_login_free(&back);
    fixture_free(&f);
}

static void test_flow_ristretto255(void **state)
{
    (void)state;
    full_flow(KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_IDENTITY);
}

static void test_flow_curve25519(void **state)
{
    (void)state;
    full_flow(KW_OPAQUE_GROUP_CURVE25519, KW_OPAQUE_KSF_IDENTITY);
}

static void test_flow_argon2id(void **state)
{
    (void)state;
    full_flow(KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_ARGON2ID);
}

/* A client with other Argon2id parameters derives another key: refused. */
static void test_argon2_params_mismatch(void **state)
{
    (void)state;
    fixture f;
    kw_opaque_client *c2 = NULL;
    kw_opaque_server_login *lg = NULL;
    uint8_t ke1[96], ke2[320], ke3[64], sk[64], ex[64];
    fixture_init(&f, KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_ARGON2ID);
    do_register(&f, pw, sizeof(pw), NULL);
    kw_opaque_config cfg2 = f.cfg;
    cfg2.argon2_opslimit = 2;
    assert_int_equal(kw_opaque_client_new(&c2, &cfg2), KW_OK);
    assert_int_equal(kw_opaque_client_login_start(c2, ke1, pw, sizeof(pw)), KW_OK);
    assert_int_equal(kw_opaque_server_ke2(f.s, &lg, ke2, f.record, sizeof(f.record), cred,
                                          sizeof(cred), ke1, sizeof(ke1), NULL),
                     KW_OK);
    assert_int_equal(kw_opaque_client_login_finish(c2, ke3, sk, ex, ke2, sizeof(ke2), NULL),
                     KW_ERR_VERIFY);
    kw_opaque_server_login_free(&lg);
    kw_opaque_client_free(&c2);
    fixture_free(&f);
}

static void test_wrong_password(void **state)
{
    (void)state;
    fixture f;
    kw_opaque_server_login *lg = NULL;
    uint8_t ke2[320], ke3[64], sk[64], ex[64];
    const uint8_t wrong[] = "correct horse battery stapler";
    fixture_init(&f, KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_IDENTITY);
    do_register(&f, pw, sizeof(pw), NULL);
    login_to_ke2(&f, wrong, sizeof(wrong), NULL, NULL, ke2, &lg);
    memset(ke3, 0xaa, sizeof(ke3));
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL),
                     KW_ERR_VERIFY);
    assert_true(sodium_is_zero(ke3, 64) && sodium_is_zero(sk, 64) && sodium_is_zero(ex, 64));
    /* a guessed KE3 is refused */
    memset(ke3, 0x11, sizeof(ke3));
    assert_int_equal(kw_opaque_server_finish(lg, sk, ke3, sizeof(ke3)), KW_ERR_VERIFY);
    assert_true(sodium_is_zero(sk, 64));
    kw_opaque_server_login_free(&lg);
    fixture_free(&f);
}

/* Flip one byte in each KE2 field; the client must refuse every one. */
static void test_tampered_ke2(void **state)
{
    (void)state;
    static const struct {
        size_t off;
        int point; /* a group element: FORMAT is as good as VERIFY */
    } fields[] = {
        {0, 1},   /* evaluated_element */
        {40, 0},  /* masking_nonce */
        {70, 0},  /* masked server_public_key */
        {110, 0}, /* masked envelope nonce */
        {170, 0}, /* masked envelope tag */
        {200, 0}, /* server_nonce */
        {230, 1}, /* server_public_keyshare */
        {260, 0}, /* server_mac */
        {319, 0},
    };
    for (int g = KW_OPAQUE_GROUP_RISTRETTO255; g <= KW_OPAQUE_GROUP_CURVE25519; g++) {
        fixture f;
        fixture_init(&f, g, KW_OPAQUE_KSF_IDENTITY);
        do_register(&f, pw, sizeof(pw), NULL);
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            kw_opaque_server_login *lg = NULL;
            uint8_t ke2[320], ke3[64], sk[64], ex[64];
            login_to_ke2(&f, pw, sizeof(pw), NULL, NULL, ke2, &lg);
            ke2[fields[i].off] ^= 0x04;
            int r = kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL);
            if (fields[i].point)
                assert_true(r == KW_ERR_VERIFY || r == KW_ERR_FORMAT || r == KW_ERR_CRYPTO);
            else
                assert_int_equal(r, KW_ERR_VERIFY);
            assert_true(sodium_is_zero(sk, 64));
            kw_opaque_server_login_free(&lg);
        }
        fixture_free(&f);
    }
}

static void test_tampered_ke3(void **state)
{
    (void)state;
    fixture f;
    kw_opaque_server_login *lg = NULL;
    uint8_t ke2[320], ke3[65], sk[64], ex[64];
    fixture_init(&f, KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_IDENTITY);
    do_register(&f, pw, sizeof(pw), NULL);
    login_to_ke2(&f, pw, sizeof(pw), NULL, NULL, ke2, &lg);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL), KW_OK);
    ke3[63] ^= 1;
    assert_int_equal(kw_opaque_server_finish(lg, sk, ke3, 64), KW_ERR_VERIFY);
    assert_true(sodium_is_zero(sk, 64));
    /* the login is spent: even the right MAC no longer works */
    ke3[63] ^= 1;
    assert_int_equal(kw_opaque_server_finish(lg, sk, ke3, 64), KW_ERR_INVALID_ARG);
    kw_opaque_server_login_free(&lg);

    login_to_ke2(&f, pw, sizeof(pw), NULL, NULL, ke2, &lg);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL), KW_OK);
    assert_int_equal(kw_opaque_server_finish(lg, sk, ke3, 63), KW_ERR_TRUNCATED);
    kw_opaque_server_login_free(&lg);
    login_to_ke2(&f, pw, sizeof(pw), NULL, NULL, ke2, &lg);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL), KW_OK);
    assert_int_equal(kw_opaque_server_finish(lg, sk, ke3, 65), KW_ERR_TOO_LARGE);
    kw_opaque_server_login_free(&lg);
    fixture_free(&f);
}

static void test_tampered_record(void **state)
{
    (void)state;
    static const size_t offs[] = {40, 100, 140, 200, 191}; /* masking key, envelope nonce, tag */
    fixture f;
    fixture_init(&f, KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_IDENTITY);
    do_register(&f, pw, sizeof(pw), NULL);
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        if (offs[i] >= sizeof(f.record))
            continue;
        kw_opaque_server_login *lg = NULL;
        uint8_t ke2[320], ke3[64], sk[64], ex[64];
        f.record[offs[i]] ^= 0x20;
        login_to_ke2(&f, pw, sizeof(pw), NULL, NULL, ke2, &lg);
        assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL),
                         KW_ERR_VERIFY);
        f.record[offs[i]] ^= 0x20;
        kw_opaque_server_login_free(&lg);
    }
    /* a record whose client key is another valid key: the server's MAC
     * (dh3) no longer matches */
    {
        kw_opaque_server_login *lg = NULL;
        uint8_t ke2[320], ke3[64], sk[64], ex[64], osk[32];
        assert_int_equal(kw_opaque_keygen(KW_OPAQUE_GROUP_RISTRETTO255, osk, f.record), KW_OK);
        login_to_ke2(&f, pw, sizeof(pw), NULL, NULL, ke2, &lg);
        assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL),
                         KW_ERR_VERIFY);
        kw_opaque_server_login_free(&lg);
    }
    fixture_free(&f);
}

static void test_identities(void **state)
{
    (void)state;
    const kw_opaque_ids ids = {(const uint8_t *)"alice", 5, (const uint8_t *)"bob", 3};
    const kw_opaque_ids other_client = {(const uint8_t *)"mallory", 7, (const uint8_t *)"bob", 3};
    const kw_opaque_ids other_server = {(const uint8_t *)"alice", 5, (const uint8_t *)"eve", 3};
    fixture f;
    kw_opaque_server_login *lg = NULL;
    uint8_t ke1[96], ke2[320], ke3[64], sk_c[64], sk_s[64], ex[64];
    fixture_init(&f, KW_OPAQUE_GROUP_CURVE25519, KW_OPAQUE_KSF_IDENTITY);
    do_register(&f, pw, sizeof(pw), &ids);

    /* matching identities */
    login_to_ke2(&f, pw, sizeof(pw), &ids, &ids, ke2, &lg);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk_c, ex, ke2, sizeof(ke2), &ids), KW_OK);
    assert_int_equal(kw_opaque_server_finish(lg, sk_s, ke3, sizeof(ke3)), KW_OK);
    assert_memory_equal(sk_c, sk_s, 64);
    kw_opaque_server_login_free(&lg);

    /* the client believes it is someone else: the envelope does not open */
    login_to_ke2(&f, pw, sizeof(pw), NULL, &ids, ke2, &lg);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk_c, ex, ke2, sizeof(ke2), &other_client),
                     KW_ERR_VERIFY);
    kw_opaque_server_login_free(&lg);
    /* absent identities are not the registered ones either */
    login_to_ke2(&f, pw, sizeof(pw), NULL, &ids, ke2, &lg);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk_c, ex, ke2, sizeof(ke2), NULL),
                     KW_ERR_VERIFY);
    kw_opaque_server_login_free(&lg);
    /* the server presents another identity: its MAC fails at the client */
    assert_int_equal(kw_opaque_client_login_start(f.c, ke1, pw, sizeof(pw)), KW_OK);
    assert_int_equal(kw_opaque_server_ke2(f.s, &lg, ke2, f.record, sizeof(f.record), cred,
                                          sizeof(cred), ke1, sizeof(ke1), &other_server),
                     KW_OK);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk_c, ex, ke2, sizeof(ke2), &ids),
                     KW_ERR_VERIFY);
    kw_opaque_server_login_free(&lg);
    fixture_free(&f);
}

/* Unknown user: the server answers from a fake record, the client cannot
 * tell until its MAC check fails, and the server never accepts. */
static void test_fake_record(void **state)
{
    (void)state;
    for (int g = KW_OPAQUE_GROUP_RISTRETTO255; g <= KW_OPAQUE_GROUP_CURVE25519; g++) {
        fixture f;
        kw_opaque_server_login *lg = NULL;
        uint8_t ke1[96], ke2[320], ke3[64], sk[64], ex[64];
        fixture_init(&f, g, KW_OPAQUE_KSF_IDENTITY);
        assert_int_equal(kw_opaque_client_login_start(f.c, ke1, pw, sizeof(pw)), KW_OK);
        assert_int_equal(kw_opaque_server_ke2(f.s, &lg, ke2, NULL, 0, cred, sizeof(cred), ke1,
                                              sizeof(ke1), NULL),
                         KW_OK);
        assert_false(sodium_is_zero(ke2 + 64, 128)); /* masked, not zeros */
        assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL),
                         KW_ERR_VERIFY);
        memset(ke3, 0, sizeof(ke3));
        assert_int_equal(kw_opaque_server_finish(lg, sk, ke3, sizeof(ke3)), KW_ERR_VERIFY);
        kw_opaque_server_login_free(&lg);
        fixture_free(&f);
    }
}

static void test_codecs(void **state)
{
    (void)state;
    uint8_t buf[400], out[400];
    kw_opaque_registration_request rq;
    kw_opaque_registration_response rs;
    kw_opaque_registration_record rc;
    kw_opaque_ke1 k1;
    kw_opaque_ke2 k2;
    kw_opaque_ke3 k3;
    const int G = KW_OPAQUE_GROUP_RISTRETTO255;
    uint8_t sk[32], pk[32];
    assert_int_equal(kw_opaque_keygen(G, sk, pk), KW_OK);
    /* a buffer of valid points wherever the codecs look */
    randombytes_buf(buf, sizeof(buf));
    memcpy(buf, pk, 32);
    memcpy(buf + 32, pk, 32);
    memcpy(buf + 64, pk, 32);
    memcpy(buf + 224, pk, 32);

    assert_int_equal(kw_opaque_registration_request_parse(&rq, buf, 32), KW_OK);
    kw_opaque_registration_request_serialize(out, &rq);
    assert_memory_equal(out, buf, 32);
    assert_int_equal(kw_opaque_registration_request_parse(&rq, buf, 31), KW_ERR_TRUNCATED);
    assert_int_equal(kw_opaque_registration_request_parse(&rq, buf, 33), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_opaque_registration_request_parse(&rq, noncanon, 32), KW_ERR_FORMAT);
    static const uint8_t zero[96] = {0};
    assert_int_equal(kw_opaque_registration_request_parse(&rq, zero, 32), KW_ERR_CRYPTO);

    assert_int_equal(kw_opaque_registration_response_parse(&rs, G, buf, 64), KW_OK);
    kw_opaque_registration_response_serialize(out, &rs);
    assert_memory_equal(out, buf, 64);
    assert_int_equal(kw_opaque_registration_response_parse(&rs, G, buf, 0), KW_ERR_TRUNCATED);
    assert_int_equal(kw_opaque_registration_response_parse(&rs, G, buf, 65), KW_ERR_TOO_LARGE);
    uint8_t tmp[320];
    memcpy(tmp, buf, 64);
    memcpy(tmp + 32, noncanon, 32);
    assert_int_equal(kw_opaque_registration_response_parse(&rs, G, tmp, 64), KW_ERR_FORMAT);
    assert_int_equal(kw_opaque_registration_response_parse(&rs, 9, buf, 64), KW_ERR_INVALID_ARG);

    assert_int_equal(kw_opaque_registration_record_parse(&rc, G, buf, 192), KW_OK);
    kw_opaque_registration_record_serialize(out, &rc);
    assert_memory_equal(out, buf, 192);
    assert_int_equal(kw_opaque_registration_record_parse(&rc, G, buf, 191), KW_ERR_TRUNCATED);
    assert_int_equal(kw_opaque_registration_record_parse(&rc, G, buf, 193), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_opaque_registration_record_parse(&rc, G, zero, 96), KW_ERR_TRUNCATED);
    memcpy(tmp, buf, 192);
    memset(tmp, 0, 32);
    assert_int_equal(kw_opaque_registration_record_parse(&rc, G, tmp, 192), KW_ERR_CRYPTO);
    assert_int_equal(kw_opaque_registration_record_parse(&rc, KW_OPAQUE_GROUP_CURVE25519, tmp, 192),
                     KW_ERR_CRYPTO);

    assert_int_equal(kw_opaque_ke1_parse(&k1, G, buf, 96), KW_OK);
    kw_opaque_ke1_serialize(out, &k1);
    assert_memory_equal(out, buf, 96);
    assert_int_equal(kw_opaque_ke1_parse(&k1, G, buf, 95), KW_ERR_TRUNCATED);
    assert_int_equal(kw_opaque_ke1_parse(&k1, G, buf, 97), KW_ERR_TOO_LARGE);
    memcpy(tmp, buf, 96);
    memcpy(tmp + 64, noncanon, 32);
    assert_int_equal(kw_opaque_ke1_parse(&k1, G, tmp, 96), KW_ERR_FORMAT);
    memset(tmp + 64, 0, 32);
    assert_int_equal(kw_opaque_ke1_parse(&k1, G, tmp, 96), KW_ERR_CRYPTO);
    memcpy(tmp, noncanon, 32);
    assert_int_equal(kw_opaque_ke1_parse(&k1, KW_OPAQUE_GROUP_CURVE25519, tmp, 96), KW_ERR_FORMAT);

    assert_int_equal(kw_opaque_ke2_parse(&k2, G, buf, 320), KW_OK);
    kw_opaque_ke2_serialize(out, &k2);
    assert_memory_equal(out, buf, 320);
    assert_int_equal(kw_opaque_ke2_parse(&k2, G, buf, 319), KW_ERR_TRUNCATED);
    assert_int_equal(kw_opaque_ke2_parse(&k2, G, buf, 321), KW_ERR_TOO_LARGE);
    memcpy(tmp, buf, 320);
    memcpy(tmp + 224, noncanon, 32);
    assert_int_equal(kw_opaque_ke2_parse(&k2, G, tmp, 320), KW_ERR_FORMAT);
    memcpy(tmp, buf, 320);
    memset(tmp, 0, 32);
    assert_int_equal(kw_opaque_ke2_parse(&k2, G, tmp, 320), KW_ERR_CRYPTO);

    assert_int_equal(kw_opaque_ke3_parse(&k3, buf, 64), KW_OK);
    kw_opaque_ke3_serialize(out, &k3);
    assert_memory_equal(out, buf, 64);
    assert_int_equal(kw_opaque_ke3_parse(&k3, buf, 1), KW_ERR_TRUNCATED);
    assert_int_equal(kw_opaque_ke3_parse(&k3, buf, 100), KW_ERR_TOO_LARGE);
}

/* Malformed or hostile messages at the protocol functions. */
static void test_invalid_messages(void **state)
{
    (void)state;
    fixture f;
    kw_opaque_server_login *lg = NULL;
    uint8_t ke1[96], ke2[320], resp[64], req[32];
    fixture_init(&f, KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_IDENTITY);
    do_register(&f, pw, sizeof(pw), NULL);
    assert_int_equal(kw_opaque_client_login_start(f.c, ke1, pw, sizeof(pw)), KW_OK);
    assert_int_equal(kw_opaque_server_ke2(f.s, &lg, ke2, f.record, sizeof(f.record), cred,
                                          sizeof(cred), ke1, 95, NULL),
                     KW_ERR_TRUNCATED);
    assert_null(lg);
    assert_true(sodium_is_zero(ke2, sizeof(ke2)));
    assert_int_equal(kw_opaque_server_ke2(f.s, &lg, ke2, f.record, sizeof(f.record) - 1, cred,
                                          sizeof(cred), ke1, 96, NULL),
                     KW_ERR_TRUNCATED);
    memcpy(ke1, noncanon, 32);
    assert_int_equal(kw_opaque_server_ke2(f.s, &lg, ke2, f.record, sizeof(f.record), cred,
                                          sizeof(cred), ke1, 96, NULL),
                     KW_ERR_FORMAT);
    memset(req, 0, sizeof(req));
    assert_int_equal(kw_opaque_server_registration_response(f.s, resp, req, 32, cred, sizeof(cred)),
                     KW_ERR_CRYPTO);
    assert_int_equal(kw_opaque_server_registration_response(f.s, resp, noncanon, 32, cred, sizeof(cred)),
                     KW_ERR_FORMAT);
    fixture_free(&f);

    /* X25519: a low-order keyshare gives an all-zero DH, refused */
    fixture_init(&f, KW_OPAQUE_GROUP_CURVE25519, KW_OPAQUE_KSF_IDENTITY);
    do_register(&f, pw, sizeof(pw), NULL);
    assert_int_equal(kw_opaque_client_login_start(f.c, ke1, pw, sizeof(pw)), KW_OK);
    memset(ke1 + 64, 0, 32);
    ke1[64] = 1; /* the point u = 1 has order 4 */
    assert_int_equal(kw_opaque_server_ke2(f.s, &lg, ke2, f.record, sizeof(f.record), cred,
                                          sizeof(cred), ke1, 96, NULL),
                     KW_ERR_CRYPTO);
    assert_null(lg);
    fixture_free(&f);
}

static void test_state_and_config(void **state)
{
    (void)state;
    fixture f;
    uint8_t ke3[64], sk[64], ex[64], ke2[320] = {0}, rec[192], resp[64] = {0}, req[32];
    static uint8_t longpw[KW_OPAQUE_PASSWORD_MAXBYTES + 1];
    fixture_init(&f, KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_IDENTITY);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_opaque_client_registration_finish(f.c, rec, ex, resp, sizeof(resp), NULL),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_opaque_client_registration_start(f.c, req, longpw, sizeof(longpw)),
                     KW_ERR_TOO_LARGE);
    /* a registration cannot be finished as a login */
    assert_int_equal(kw_opaque_client_registration_start(f.c, req, pw, sizeof(pw)), KW_OK);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL),
                     KW_ERR_INVALID_ARG);
    fixture_free(&f);

    kw_opaque_config cfg;
    kw_opaque_client *c = NULL;
    kw_opaque_server *s = NULL;
    kw_opaque_config_default(&cfg, ctx, sizeof(ctx) - 1);
    assert_int_equal(cfg.ksf, KW_OPAQUE_KSF_ARGON2ID);
    cfg.group = 3;
    assert_int_equal(kw_opaque_client_new(&c, &cfg), KW_ERR_INVALID_ARG);
    assert_null(c);
    kw_opaque_config_default(&cfg, ctx, sizeof(ctx) - 1);
    cfg.argon2_opslimit = 0;
    assert_int_equal(kw_opaque_client_new(&c, &cfg), KW_ERR_INVALID_ARG);
    kw_opaque_config_default(&cfg, ctx, sizeof(ctx) - 1);
    cfg.ksf = 5;
    assert_int_equal(kw_opaque_client_new(&c, &cfg), KW_ERR_INVALID_ARG);
    /* the server refuses a public key that is not its private key's */
    uint8_t k1[32], p1[32], k2[32], p2[32], seed[64] = {0};
    kw_opaque_config_default(&cfg, ctx, sizeof(ctx) - 1);
    assert_int_equal(kw_opaque_keygen(cfg.group, k1, p1), KW_OK);
    assert_int_equal(kw_opaque_keygen(cfg.group, k2, p2), KW_OK);
    assert_int_equal(kw_opaque_server_new(&s, &cfg, k1, p2, seed), KW_ERR_INVALID_ARG);
    assert_null(s);
    kw_opaque_client_free(NULL);
    kw_opaque_server_free(&s);
    kw_opaque_server_login_free(NULL);
}

/* Registrations under different credential identifiers get different
 * OPRF keys; the record of one does not open under the other. */
static void test_credential_identifier_bound(void **state)
{
    (void)state;
    fixture f;
    kw_opaque_server_login *lg = NULL;
    uint8_t ke1[96], ke2[320], ke3[64], sk[64], ex[64];
    static const uint8_t other[] = "user-9999";
    fixture_init(&f, KW_OPAQUE_GROUP_RISTRETTO255, KW_OPAQUE_KSF_IDENTITY);
    do_register(&f, pw, sizeof(pw), NULL);
    assert_int_equal(kw_opaque_client_login_start(f.c, ke1, pw, sizeof(pw)), KW_OK);
    assert_int_equal(kw_opaque_server_ke2(f.s, &lg, ke2, f.record, sizeof(f.record), other,
                                          sizeof(other), ke1, sizeof(ke1), NULL),
                     KW_OK);
    assert_int_equal(kw_opaque_client_login_finish(f.c, ke3, sk, ex, ke2, sizeof(ke2), NULL),
                     KW_ERR_VERIFY);
    kw_opaque_server_login_free(&lg);
    fixture_free(&f);
}

/* The fake-record path must not be told apart from the real one by its
 * error codes or reply: every malformed KE1 gets the same code with and
 * without a record, and an unknown identifier's evaluated element is as
 * stable across logins as a known one's (the OPRF key hangs on the
 * identifier in both cases). */
static void test_fake_record_indistinguishable(void **state)
{
    (void)state;
    for (int g = KW_OPAQUE_GROUP_RISTRETTO255; g <= KW_OPAQUE_GROUP_CURVE25519; g++) {
        fixture f;
        kw_opaque_server_login *lg = NULL;
        uint8_t ke1[97], bad[97], a[320], b[320];
        static const uint8_t other[] = "nobody-5678";
        fixture_init(&f, g, KW_OPAQUE_KSF_IDENTITY);
        do_register(&f, pw, sizeof(pw), NULL);
        assert_int_equal(kw_opaque_client_login_start(f.c, ke1, pw, sizeof(pw)), KW_OK);
        ke1[96] = 0;
        struct {
            size_t off, len;
            uint8_t val;
            size_t ke1_len;
        } cases[] = {
            {0, 0, 0, 0},   {0, 0, 0, 95},   {0, 0, 0, 97}, /* lengths */
            {0, 32, 0, 96},                                  /* identity blinded element */
            {0, 32, 0xff, 96},                               /* non-canonical blinded element */
            {64, 32, 0, 96},                                 /* zero keyshare */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            memcpy(bad, ke1, sizeof(bad));
            if (cases[i].len > 0)
                memset(bad + cases[i].off, cases[i].val, cases[i].len);
            int real = kw_opaque_server_ke2(f.s, &lg, a, f.record, sizeof(f.record), cred,
                                            sizeof(cred), bad, cases[i].ke1_len, NULL);
            assert_null(lg);
            int fake = kw_opaque_server_ke2(f.s, &lg, b, NULL, 0, other, sizeof(other), bad,
                                            cases[i].ke1_len, NULL);
            assert_null(lg);
            assert_int_not_equal(real, KW_OK);
            assert_int_equal(real, fake);
        }
        /* a valid KE1: both answer with a full KE2; the fake one's evaluated
         * element repeats for the same identifier and differs for another */
        assert_int_equal(kw_opaque_server_ke2(f.s, &lg, a, NULL, 0, other, sizeof(other), ke1, 96,
                                              NULL),
                         KW_OK);
        kw_opaque_server_login_free(&lg);
        assert_int_equal(kw_opaque_server_ke2(f.s, &lg, b, NULL, 0, other, sizeof(other), ke1, 96,
                                              NULL),
                         KW_OK);
        kw_opaque_server_login_free(&lg);
        assert_memory_equal(a, b, 32);
        assert_memory_not_equal(a + 32, b + 32, 320 - 32); /* fresh nonces and keyshare */
        assert_int_equal(kw_opaque_server_ke2(f.s, &lg, b, NULL, 0, cred, sizeof(cred), ke1, 96,
                                              NULL),
                         KW_OK);
        kw_opaque_server_login_free(&lg);
        assert_memory_not_equal(a, b, 32);
        fixture_free(&f);
    }
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_ristretto255),
        cmocka_unit_test(test_login_export_import),
        cmocka_unit_test(test_flow_curve25519),
        cmocka_unit_test(test_flow_argon2id),
        cmocka_unit_test(test_argon2_params_mismatch),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_tampered_ke2),
        cmocka_unit_test(test_tampered_ke3),
        cmocka_unit_test(test_tampered_record),
        cmocka_unit_test(test_identities),
        cmocka_unit_test(test_fake_record),
        cmocka_unit_test(test_fake_record_indistinguishable),
        cmocka_unit_test(test_codecs),
        cmocka_unit_test(test_invalid_messages),
        cmocka_unit_test(test_state_and_config),
        cmocka_unit_test(test_credential_identifier_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
