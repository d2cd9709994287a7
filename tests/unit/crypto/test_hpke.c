/* Unit tests for HPKE beyond the RFC vectors: round trips in every mode,
 * tampering, wrong keys and psks, argument checks, limits and wiping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "crypto/hpke_internal.h"
#include "keyward/hpke.h"
#include "keyward/keyward.h"

#define MSG "attack at dawn, bring the keys"
#define MSG_LEN (sizeof(MSG) - 1)

static const uint8_t info[] = "keyward hpke test";
static const uint8_t aad[] = "header";
static const uint8_t psk[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t psk_id[] = "psk-1";

typedef struct {
    uint8_t pkR[32], skR[32], pkS[32], skS[32];
} keys;

static void make_keys(keys *k)
{
    assert_int_equal(kw_hpke_keypair(k->pkR, k->skR), KW_OK);
    assert_int_equal(kw_hpke_keypair(k->pkS, k->skS), KW_OK);
}

/* Sender-side and receiver-side params for a mode. */
static kw_hpke_params sender_params(kw_hpke_mode mode, const keys *k)
{
    kw_hpke_params p = {.mode = mode, .info = info, .info_len = sizeof(info)};
    if (mode == KW_HPKE_MODE_PSK || mode == KW_HPKE_MODE_AUTH_PSK) {
        p.psk = psk;
        p.psk_len = sizeof(psk);
        p.psk_id = psk_id;
        p.psk_id_len = sizeof(psk_id) - 1;
    }
    if (mode == KW_HPKE_MODE_AUTH || mode == KW_HPKE_MODE_AUTH_PSK)
        p.sk_s = k->skS;
    return p;
}

static kw_hpke_params receiver_params(kw_hpke_mode mode, const keys *k)
{
    kw_hpke_params p = sender_params(mode, k);
    p.sk_s = NULL;
    if (mode == KW_HPKE_MODE_AUTH || mode == KW_HPKE_MODE_AUTH_PSK)
        p.pk_s = k->pkS;
    return p;
}

static size_t seal_one(uint8_t *out, size_t cap, const keys *k, const kw_hpke_params *sp)
{
    size_t n = 0;
    assert_int_equal(kw_hpke_seal(out, cap, &n, k->pkR, sp, aad, sizeof(aad),
                                  (const uint8_t *)MSG, MSG_LEN),
                     KW_OK);
    assert_int_equal(n, MSG_LEN + KW_HPKE_SEALBYTES);
    return n;
}

/* Expects opening to fail with `want` and the plaintext buffer zeroed. */
static void expect_open_fails(int want, const keys *k, const uint8_t *skR, const uint8_t *pkR,
                              const kw_hpke_params *rp, const uint8_t *a, size_t a_len,
                              const uint8_t *in, size_t in_len)
{
    uint8_t pt[256];
    size_t n = 99;
    (void)k;
    memset(pt, 0xaa, sizeof(pt));
    assert_int_equal(kw_hpke_open(pt, sizeof(pt), &n, skR, pkR, rp, a, a_len, in, in_len), want);
    assert_int_equal(n, 0);
    size_t region = in_len >= KW_HPKE_SEALBYTES ? in_len - KW_HPKE_SEALBYTES : 0;
    for (size_t i = 0; i < region; i++)
        assert_int_equal(pt[i], 0);
}

static void test_roundtrip_all_modes(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    for (int m = 0; m < 4; m++) {
        kw_hpke_params sp = sender_params((kw_hpke_mode)m, &k);
        kw_hpke_params rp = receiver_params((kw_hpke_mode)m, &k);
        uint8_t sealed[256], pt[256];
        size_t n = seal_one(sealed, sizeof(sealed), &k, &sp), pt_len = 0;
        assert_int_equal(kw_hpke_open(pt, sizeof(pt), &pt_len, k.skR, k.pkR, &rp, aad,
                                      sizeof(aad), sealed, n),
                         KW_OK);
        assert_int_equal(pt_len, MSG_LEN);
        assert_memory_equal(pt, MSG, MSG_LEN);
        /* pkR may be left for the receiver to compute */
        assert_int_equal(kw_hpke_open(pt, sizeof(pt), &pt_len, k.skR, NULL, &rp, aad,
                                      sizeof(aad), sealed, n),
                         KW_OK);
        assert_memory_equal(pt, MSG, MSG_LEN);
        /* the auth sender may pass pk_s itself */
        if (sp.sk_s != NULL) {
            sp.pk_s = k.pkS;
            n = seal_one(sealed, sizeof(sealed), &k, &sp);
            assert_int_equal(kw_hpke_open(pt, sizeof(pt), &pt_len, k.skR, k.pkR, &rp, aad,
                                          sizeof(aad), sealed, n),
                             KW_OK);
        }
        /* two seals of the same message differ (fresh ephemeral key) */
        uint8_t again[256];
        seal_one(again, sizeof(again), &k, &sp);
        assert_memory_not_equal(sealed, again, n);
    }
}

static void test_context_stream_and_export(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    for (int m = 0; m < 4; m++) {
        kw_hpke_params sp = sender_params((kw_hpke_mode)m, &k);
        kw_hpke_params rp = receiver_params((kw_hpke_mode)m, &k);
        kw_hpke_ctx *s = NULL, *r = NULL;
        uint8_t enc[32];
        assert_int_equal(kw_hpke_sender_setup(&s, enc, k.pkR, &sp), KW_OK);
        assert_int_equal(kw_hpke_receiver_setup(&r, enc, k.skR, k.pkR, &rp), KW_OK);
        for (uint64_t i = 0; i < 5; i++) {
            uint8_t ct[64], pt[64];
            size_t ct_len, pt_len;
            uint8_t msg[8] = {(uint8_t)i};
            /* empty aad and empty plaintext are allowed */
            size_t mlen = i == 3 ? 0 : sizeof(msg);
            assert_int_equal(kw_hpke_ctx_seal(s, ct, sizeof(ct), &ct_len, NULL, 0, msg, mlen),
                             KW_OK);
            assert_int_equal(ct_len, mlen + KW_HPKE_TAGBYTES);
            assert_int_equal(kw_hpke_ctx_open(r, pt, sizeof(pt), &pt_len, NULL, 0, ct, ct_len),
                             KW_OK);
            assert_int_equal(pt_len, mlen);
            assert_memory_equal(pt, msg, mlen);
            assert_int_equal(kw_hpke_ctx_seq(s), i + 1);
            assert_int_equal(kw_hpke_ctx_seq(r), i + 1);
            /* a replay is refused (the nonce has moved on) and does not advance */
            assert_int_equal(kw_hpke_ctx_open(r, pt, sizeof(pt), &pt_len, NULL, 0, ct, ct_len),
                             KW_ERR_VERIFY);
            assert_int_equal(kw_hpke_ctx_seq(r), i + 1);
        }
        /* in-place sealing */
        uint8_t buf[64] = "in place";
        size_t len;
        assert_int_equal(kw_hpke_ctx_seal(s, buf, sizeof(buf), &len, aad, sizeof(aad), buf, 8),
                         KW_OK);
        assert_int_equal(kw_hpke_ctx_open(r, buf, sizeof(buf), &len, aad, sizeof(aad), buf, len),
                         KW_OK);
        assert_memory_equal(buf, "in place", 8);

        static uint8_t e1[KW_HPKE_EXPORT_MAXBYTES + 1], e2[KW_HPKE_EXPORT_MAXBYTES + 1];
        assert_int_equal(kw_hpke_ctx_export(s, e1, KW_HPKE_EXPORT_MAXBYTES, info, 3), KW_OK);
        assert_int_equal(kw_hpke_ctx_export(r, e2, KW_HPKE_EXPORT_MAXBYTES, info, 3), KW_OK);
        assert_memory_equal(e1, e2, KW_HPKE_EXPORT_MAXBYTES);
        assert_int_equal(kw_hpke_ctx_export(s, e2, 32, info, 4), KW_OK);
        assert_memory_not_equal(e1, e2, 32);
        assert_int_equal(kw_hpke_ctx_export(s, e1, KW_HPKE_EXPORT_MAXBYTES + 1, NULL, 0),
                         KW_ERR_TOO_LARGE);
        assert_int_equal(kw_hpke_ctx_export(s, NULL, 0, NULL, 0), KW_OK);
        assert_int_equal(kw_hpke_ctx_export(s, e1, 32, NULL, 1), KW_ERR_INVALID_ARG);
        static uint8_t big[KW_HPKE_INPUT_MAXBYTES + 1];
        assert_int_equal(kw_hpke_ctx_export(s, e1, 32, big, sizeof(big)), KW_ERR_TOO_LARGE);

        /* roles are not interchangeable */
        uint8_t ct[64];
        size_t ct_len;
        assert_int_equal(kw_hpke_ctx_seal(r, ct, sizeof(ct), &ct_len, NULL, 0, buf, 4),
                         KW_ERR_INVALID_ARG);
        assert_int_equal(kw_hpke_ctx_seal(s, ct, sizeof(ct), &ct_len, NULL, 0, buf, 4), KW_OK);
        assert_int_equal(kw_hpke_ctx_open(s, buf, sizeof(buf), &len, NULL, 0, ct, ct_len),
                         KW_ERR_INVALID_ARG);

        kw_hpke_ctx_free(&s);
        kw_hpke_ctx_free(&r);
        assert_null(s);
        assert_null(r);
        kw_hpke_ctx_free(&s);
        kw_hpke_ctx_free(NULL);
    }
}

static void test_tampering(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    for (int m = 0; m < 4; m++) {
        kw_hpke_params sp = sender_params((kw_hpke_mode)m, &k);
        kw_hpke_params rp = receiver_params((kw_hpke_mode)m, &k);
        uint8_t sealed[256] = {0};
        size_t n = seal_one(sealed, sizeof(sealed), &k, &sp);
        /* every byte position of enc, ciphertext body and tag */
        for (size_t i = 0; i < n; i++) {
            sealed[i] ^= 0x01;
            expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), sealed, n);
            sealed[i] ^= 0x01;
        }
        /* aad */
        uint8_t bad_aad[sizeof(aad)];
        memcpy(bad_aad, aad, sizeof(aad));
        bad_aad[0] ^= 1;
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp, bad_aad, sizeof(bad_aad), sealed,
                          n);
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp, NULL, 0, sealed, n);
        /* info */
        kw_hpke_params rp2 = rp;
        rp2.info_len--;
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp2, aad, sizeof(aad), sealed, n);
        /* a wrong pkR (kem_context) fails too */
        uint8_t other_pk[32], other_sk[32];
        assert_int_equal(kw_hpke_keypair(other_pk, other_sk), KW_OK);
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, other_pk, &rp, aad, sizeof(aad), sealed, n);
        /* wrong recipient key */
        expect_open_fails(KW_ERR_VERIFY, &k, other_sk, other_pk, &rp, aad, sizeof(aad), sealed,
                          n);
        /* truncated and extended ciphertexts */
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), sealed, n - 1);
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), sealed, n + 1);
        /* the sealed message is still good */
        uint8_t pt[256];
        size_t pt_len;
        assert_int_equal(kw_hpke_open(pt, sizeof(pt), &pt_len, k.skR, k.pkR, &rp, aad,
                                      sizeof(aad), sealed, n),
                         KW_OK);
    }
}

static void test_wrong_sender_psk_and_mode(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    uint8_t other_pk[32], other_sk[32];
    assert_int_equal(kw_hpke_keypair(other_pk, other_sk), KW_OK);
    uint8_t sealed[256];
    size_t n;

    /* auth: the receiver expects a different sender */
    for (int m = KW_HPKE_MODE_AUTH; m <= KW_HPKE_MODE_AUTH_PSK; m++) {
        kw_hpke_params sp = sender_params((kw_hpke_mode)m, &k);
        kw_hpke_params rp = receiver_params((kw_hpke_mode)m, &k);
        n = seal_one(sealed, sizeof(sealed), &k, &sp);
        rp.pk_s = other_pk;
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), sealed, n);
        /* a sender lying about its public key is not accepted either */
        sp.pk_s = other_pk;
        n = seal_one(sealed, sizeof(sealed), &k, &sp);
        rp.pk_s = k.pkS;
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), sealed, n);
        rp.pk_s = other_pk;
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), sealed, n);
    }
    /* psk: wrong psk, wrong psk_id */
    for (int m = KW_HPKE_MODE_PSK; m <= KW_HPKE_MODE_AUTH_PSK; m += 2) {
        kw_hpke_params sp = sender_params((kw_hpke_mode)m, &k);
        kw_hpke_params rp = receiver_params((kw_hpke_mode)m, &k);
        n = seal_one(sealed, sizeof(sealed), &k, &sp);
        uint8_t bad_psk[32];
        memcpy(bad_psk, psk, 32);
        bad_psk[31] ^= 0x80;
        kw_hpke_params r2 = rp;
        r2.psk = bad_psk;
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &r2, aad, sizeof(aad), sealed, n);
        r2 = rp;
        r2.psk_id = (const uint8_t *)"psk-2";
        expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &r2, aad, sizeof(aad), sealed, n);
    }
    /* mode mismatch: sealed in base, opened in psk, and the reverse */
    kw_hpke_params base_s = sender_params(KW_HPKE_MODE_BASE, &k);
    kw_hpke_params psk_r = receiver_params(KW_HPKE_MODE_PSK, &k);
    n = seal_one(sealed, sizeof(sealed), &k, &base_s);
    expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &psk_r, aad, sizeof(aad), sealed, n);
    kw_hpke_params auth_s = sender_params(KW_HPKE_MODE_AUTH, &k);
    kw_hpke_params base_r = receiver_params(KW_HPKE_MODE_BASE, &k);
    n = seal_one(sealed, sizeof(sealed), &k, &auth_s);
    expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &base_r, aad, sizeof(aad), sealed, n);
}

static void test_param_validation(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    uint8_t out[256], pt[256], enc[32];
    size_t n;
    kw_hpke_ctx *ctx = (kw_hpke_ctx *)&n; /* must be reset to NULL on error */
    const uint8_t msg[4] = {0};
    kw_hpke_params p;

#define SEAL_EXPECT(params, want)                                                            \
    do {                                                                                     \
        kw_hpke_params pp_ = (params);                                                       \
        assert_int_equal(kw_hpke_seal(out, sizeof(out), &n, k.pkR, &pp_, NULL, 0, msg, 4),   \
                         (want));                                                            \
        ctx = (kw_hpke_ctx *)&n;                                                             \
        assert_int_equal(kw_hpke_sender_setup(&ctx, enc, k.pkR, &pp_), (want));              \
        if ((want) != KW_OK)                                                                 \
            assert_null(ctx);                                                                \
        kw_hpke_ctx_free(&ctx);                                                              \
    } while (0)

    /* psk with an empty psk_id, and the reverse */
    p = sender_params(KW_HPKE_MODE_PSK, &k);
    p.psk_id_len = 0;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    p = sender_params(KW_HPKE_MODE_PSK, &k);
    p.psk_len = 0;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    /* psk in a non-psk mode; none in a psk mode */
    p = sender_params(KW_HPKE_MODE_PSK, &k);
    p.mode = KW_HPKE_MODE_BASE;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    p = sender_params(KW_HPKE_MODE_AUTH_PSK, &k);
    p.mode = KW_HPKE_MODE_AUTH;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    p = sender_params(KW_HPKE_MODE_BASE, &k);
    p.mode = KW_HPKE_MODE_PSK;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    /* a psk below the minimum length */
    p = sender_params(KW_HPKE_MODE_PSK, &k);
    p.psk_len = KW_HPKE_PSK_MINBYTES - 1;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    /* sender keys: required in auth modes, refused otherwise */
    p = sender_params(KW_HPKE_MODE_AUTH, &k);
    p.sk_s = NULL;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    p = sender_params(KW_HPKE_MODE_BASE, &k);
    p.sk_s = k.skS;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    p = sender_params(KW_HPKE_MODE_BASE, &k);
    p.pk_s = k.pkS;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    /* unknown mode; NULL params; NULL with a length */
    p = sender_params(KW_HPKE_MODE_BASE, &k);
    p.mode = (kw_hpke_mode)4;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    p = sender_params(KW_HPKE_MODE_BASE, &k);
    p.info = NULL;
    SEAL_EXPECT(p, KW_ERR_INVALID_ARG);
    assert_int_equal(kw_hpke_seal(out, sizeof(out), &n, k.pkR, NULL, NULL, 0, msg, 4),
                     KW_ERR_INVALID_ARG);
    /* oversized info / psk_id */
    static uint8_t big[KW_HPKE_INPUT_MAXBYTES + 1];
    p = sender_params(KW_HPKE_MODE_BASE, &k);
    p.info = big;
    p.info_len = sizeof(big);
    SEAL_EXPECT(p, KW_ERR_TOO_LARGE);
    p.info_len = KW_HPKE_INPUT_MAXBYTES;
    SEAL_EXPECT(p, KW_OK);
    p = sender_params(KW_HPKE_MODE_PSK, &k);
    p.psk_id = big;
    p.psk_id_len = sizeof(big);
    SEAL_EXPECT(p, KW_ERR_TOO_LARGE);
#undef SEAL_EXPECT

    /* receiver side: sk_s refused, pk_s required in auth modes */
    kw_hpke_params sp = sender_params(KW_HPKE_MODE_AUTH, &k);
    n = seal_one(out, sizeof(out), &k, &sp);
    kw_hpke_params rp = receiver_params(KW_HPKE_MODE_AUTH, &k);
    rp.sk_s = k.skS;
    expect_open_fails(KW_ERR_INVALID_ARG, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), out, n);
    rp = receiver_params(KW_HPKE_MODE_AUTH, &k);
    rp.pk_s = NULL;
    expect_open_fails(KW_ERR_INVALID_ARG, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), out, n);
    rp = receiver_params(KW_HPKE_MODE_BASE, &k);
    rp.pk_s = k.pkS;
    ctx = (kw_hpke_ctx *)&n;
    assert_int_equal(kw_hpke_receiver_setup(&ctx, out, k.skR, k.pkR, &rp), KW_ERR_INVALID_ARG);
    assert_null(ctx);
    rp = receiver_params(KW_HPKE_MODE_PSK, &k);
    rp.psk_id_len = 0;
    assert_int_equal(kw_hpke_receiver_setup(&ctx, out, k.skR, k.pkR, &rp), KW_ERR_INVALID_ARG);
    (void)pt;
}

static void test_short_inputs_and_buffers(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    kw_hpke_params sp = sender_params(KW_HPKE_MODE_BASE, &k);
    kw_hpke_params rp = receiver_params(KW_HPKE_MODE_BASE, &k);
    uint8_t sealed[256], pt[256];
    size_t n, pt_len;

    /* single-shot: output too small by one byte */
    assert_int_equal(kw_hpke_seal(sealed, MSG_LEN + KW_HPKE_SEALBYTES - 1, &n, k.pkR, &sp, aad,
                                  sizeof(aad), (const uint8_t *)MSG, MSG_LEN),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(n, 0);
    n = seal_one(sealed, sizeof(sealed), &k, &sp);
    /* shorter than enc ‖ tag */
    for (size_t len = 0; len < KW_HPKE_SEALBYTES; len++)
        expect_open_fails(KW_ERR_TRUNCATED, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), sealed,
                          len);
    /* plaintext buffer one byte short */
    memset(pt, 0xaa, sizeof(pt));
    assert_int_equal(kw_hpke_open(pt, MSG_LEN - 1, &pt_len, k.skR, k.pkR, &rp, aad, sizeof(aad),
                                  sealed, n),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(pt_len, 0);
    /* exactly enc ‖ tag: an empty message that does not authenticate */
    expect_open_fails(KW_ERR_VERIFY, &k, k.skR, k.pkR, &rp, aad, sizeof(aad), sealed,
                      KW_HPKE_SEALBYTES);
    /* a sealed empty message opens into no buffer at all */
    assert_int_equal(kw_hpke_seal(sealed, sizeof(sealed), &n, k.pkR, &sp, NULL, 0, NULL, 0),
                     KW_OK);
    assert_int_equal(n, KW_HPKE_SEALBYTES);
    assert_int_equal(kw_hpke_open(NULL, 0, &pt_len, k.skR, k.pkR, &rp, NULL, 0, sealed, n),
                     KW_OK);
    assert_int_equal(pt_len, 0);

    /* context API: ciphertext shorter than the tag, short buffers */
    kw_hpke_ctx *s = NULL, *r = NULL;
    uint8_t enc[32], ct[64];
    size_t ct_len;
    assert_int_equal(kw_hpke_sender_setup(&s, enc, k.pkR, &sp), KW_OK);
    assert_int_equal(kw_hpke_receiver_setup(&r, enc, k.skR, k.pkR, &rp), KW_OK);
    assert_int_equal(kw_hpke_ctx_seal(s, ct, 8 + KW_HPKE_TAGBYTES - 1, &ct_len, NULL, 0, pt, 8),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_hpke_ctx_seq(s), 0);
    assert_int_equal(kw_hpke_ctx_seal(s, ct, sizeof(ct), &ct_len, NULL, 0, pt, 8), KW_OK);
    for (size_t len = 0; len < KW_HPKE_TAGBYTES; len++)
        assert_int_equal(kw_hpke_ctx_open(r, pt, sizeof(pt), &pt_len, NULL, 0, ct, len),
                         KW_ERR_TRUNCATED);
    assert_int_equal(kw_hpke_ctx_open(r, pt, 7, &pt_len, NULL, 0, ct, ct_len), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_hpke_ctx_seq(r), 0);
    assert_int_equal(kw_hpke_ctx_open(r, pt, sizeof(pt), &pt_len, NULL, 0, ct, ct_len), KW_OK);
    assert_int_equal(kw_hpke_ctx_seal(s, ct, sizeof(ct), NULL, NULL, 0, pt, 8),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_hpke_ctx_seal(s, ct, sizeof(ct), &ct_len, NULL, 0, NULL, 8),
                     KW_ERR_INVALID_ARG);
    kw_hpke_ctx_free(&s);
    kw_hpke_ctx_free(&r);
}

static void test_sequence_overflow(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    kw_hpke_params sp = sender_params(KW_HPKE_MODE_PSK, &k);
    kw_hpke_params rp = receiver_params(KW_HPKE_MODE_PSK, &k);
    kw_hpke_ctx *s = NULL, *r = NULL;
    uint8_t enc[32], ct[64], pt[64];
    size_t ct_len, pt_len;
    assert_int_equal(kw_hpke_sender_setup(&s, enc, k.pkR, &sp), KW_OK);
    assert_int_equal(kw_hpke_receiver_setup(&r, enc, k.skR, k.pkR, &rp), KW_OK);
    hpke_ctx_set_seq(s, UINT64_MAX - 1);
    hpke_ctx_set_seq(r, UINT64_MAX - 1);
    /* the last usable sequence number works on both sides */
    assert_int_equal(kw_hpke_ctx_seal(s, ct, sizeof(ct), &ct_len, NULL, 0, (const uint8_t *)"x", 1),
                     KW_OK);
    assert_int_equal(kw_hpke_ctx_open(r, pt, sizeof(pt), &pt_len, NULL, 0, ct, ct_len), KW_OK);
    assert_int_equal(kw_hpke_ctx_seq(s), UINT64_MAX);
    /* then both refuse, without touching anything */
    assert_int_equal(kw_hpke_ctx_seal(s, ct, sizeof(ct), &ct_len, NULL, 0, (const uint8_t *)"x", 1),
                     KW_ERR_LIMIT);
    assert_int_equal(ct_len, 0);
    assert_int_equal(kw_hpke_ctx_seq(s), UINT64_MAX);
    memset(pt, 0xaa, sizeof(pt));
    assert_int_equal(kw_hpke_ctx_open(r, pt, sizeof(pt), &pt_len, NULL, 0, ct, 17), KW_ERR_LIMIT);
    assert_int_equal(pt[0], 0);
    assert_int_equal(kw_hpke_ctx_seq(r), UINT64_MAX);
    /* the exporter does not depend on the sequence number */
    uint8_t e[16];
    assert_int_equal(kw_hpke_ctx_export(s, e, sizeof(e), NULL, 0), KW_OK);
    kw_hpke_ctx_free(&s);
    kw_hpke_ctx_free(&r);
}

static void test_low_order_points(void **state)
{
    (void)state;
    /* Curve25519 points whose X25519 output is all zero. */
    static const char *low[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    };
    keys k;
    make_keys(&k);
    for (size_t i = 0; i < sizeof(low) / sizeof(low[0]); i++) {
        uint8_t bad[32], out[256];
        size_t n, bl;
        assert_int_equal(kw_hex_decode(bad, sizeof(bad), &bl, low[i], 64), KW_OK);
        kw_hpke_params sp = sender_params(KW_HPKE_MODE_BASE, &k);
        assert_int_equal(kw_hpke_seal(out, sizeof(out), &n, bad, &sp, NULL, 0, NULL, 0),
                         KW_ERR_CRYPTO);
        /* enc of low order */
        kw_hpke_params rp = receiver_params(KW_HPKE_MODE_BASE, &k);
        uint8_t in[KW_HPKE_SEALBYTES + 4] = {0};
        memcpy(in, bad, 32);
        expect_open_fails(KW_ERR_CRYPTO, &k, k.skR, k.pkR, &rp, NULL, 0, in, sizeof(in));
        kw_hpke_ctx *ctx = NULL;
        assert_int_equal(kw_hpke_receiver_setup(&ctx, bad, k.skR, k.pkR, &rp), KW_ERR_CRYPTO);
        assert_null(ctx);
        /* auth: a low-order sender key on the receiver side */
        kw_hpke_params ap = sender_params(KW_HPKE_MODE_AUTH, &k);
        n = seal_one(out, sizeof(out), &k, &ap);
        kw_hpke_params arp = receiver_params(KW_HPKE_MODE_AUTH, &k);
        arp.pk_s = bad;
        expect_open_fails(KW_ERR_CRYPTO, &k, k.skR, k.pkR, &arp, aad, sizeof(aad), out, n);
    }
}

static void test_derive_keypair(void **state)
{
    (void)state;
    uint8_t ikm[KW_HPKE_IKM_MINBYTES] = {7};
    uint8_t pk1[32], sk1[32], pk2[32], sk2[32];
    assert_int_equal(kw_hpke_derive_keypair(pk1, sk1, ikm, sizeof(ikm)), KW_OK);
    assert_int_equal(kw_hpke_derive_keypair(pk2, sk2, ikm, sizeof(ikm)), KW_OK);
    assert_memory_equal(pk1, pk2, 32);
    assert_memory_equal(sk1, sk2, 32);
    ikm[31] = 1;
    assert_int_equal(kw_hpke_derive_keypair(pk2, sk2, ikm, sizeof(ikm)), KW_OK);
    assert_memory_not_equal(pk1, pk2, 32);
    assert_int_equal(kw_hpke_derive_keypair(pk2, sk2, ikm, sizeof(ikm) - 1), KW_ERR_INVALID_ARG);
    assert_true(sodium_is_zero(sk2, 32));
    assert_true(sodium_is_zero(pk2, 32));
    assert_int_equal(kw_hpke_derive_keypair(pk2, sk2, NULL, 32), KW_ERR_INVALID_ARG);
    static uint8_t big[KW_HPKE_INPUT_MAXBYTES + 1];
    assert_int_equal(kw_hpke_derive_keypair(pk2, sk2, big, sizeof(big)), KW_ERR_TOO_LARGE);
    /* a derived pair works for encryption */
    keys k;
    memcpy(k.pkR, pk1, 32);
    memcpy(k.skR, sk1, 32);
    kw_hpke_params sp = sender_params(KW_HPKE_MODE_BASE, &k);
    kw_hpke_params rp = receiver_params(KW_HPKE_MODE_BASE, &k);
    uint8_t sealed[256], pt[256];
    size_t n = seal_one(sealed, sizeof(sealed), &k, &sp), pt_len;
    assert_int_equal(kw_hpke_open(pt, sizeof(pt), &pt_len, k.skR, NULL, &rp, aad, sizeof(aad),
                                  sealed, n),
                     KW_OK);
    /* random pairs differ */
    assert_int_equal(kw_hpke_keypair(pk1, sk1), KW_OK);
    assert_int_equal(kw_hpke_keypair(pk2, sk2), KW_OK);
    assert_memory_not_equal(sk1, sk2, 32);
}

/* A failed setup leaves the caller's context zeroed (no half-keyed state). */
static void test_failed_setup_wipes(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    struct kw_hpke_ctx c;
    hpke_trace t;
    memset(&c, 0xaa, sizeof(c));
    memset(&t, 0xaa, sizeof(t));
    uint8_t zero[32] = {0}, enc[32];
    kw_hpke_params rp = receiver_params(KW_HPKE_MODE_BASE, &k);
    assert_int_equal(hpke_setup_receiver_into(&c, zero, k.skR, k.pkR, &rp, &t), KW_ERR_CRYPTO);
    assert_true(sodium_is_zero((const uint8_t *)&c, sizeof(c)));
    assert_true(sodium_is_zero((const uint8_t *)&t, sizeof(t)));
    kw_hpke_params sp = sender_params(KW_HPKE_MODE_BASE, &k);
    memset(&c, 0xaa, sizeof(c));
    assert_int_equal(hpke_setup_sender_derand(&c, enc, zero, &sp, k.skS, k.pkS, NULL),
                     KW_ERR_CRYPTO);
    assert_true(sodium_is_zero((const uint8_t *)&c, sizeof(c)));
    /* a zeroed context has no role and refuses everything */
    uint8_t buf[32];
    size_t len;
    assert_int_equal(kw_hpke_ctx_seal(&c, buf, sizeof(buf), &len, NULL, 0, NULL, 0),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_hpke_ctx_export(&c, buf, sizeof(buf), NULL, 0), KW_ERR_INVALID_ARG);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_modes),
        cmocka_unit_test(test_context_stream_and_export),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_wrong_sender_psk_and_mode),
        cmocka_unit_test(test_param_validation),
        cmocka_unit_test(test_short_inputs_and_buffers),
        cmocka_unit_test(test_sequence_overflow),
        cmocka_unit_test(test_low_order_points),
        cmocka_unit_test(test_derive_keypair),
        cmocka_unit_test(test_failed_setup_wipes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
