/* WebAuthn relying-party verification: ceremonies made by the INSECURE
 * software authenticator, then every check refused on purpose — each with
 * its specific error code and reason. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "keyward/keyward.h"
#include "keyward/softkey.h"
#include "keyward/webauthn.h"

#define RP "example.org"
#define ORIGIN "https://example.org"

static const char *origins[] = {ORIGIN, "https://login.example.org"};
static const char *tops[] = {"https://example.com"};

static kw_webauthn_policy policy(void)
{
    kw_webauthn_policy p = {
        .rp_id = RP,
        .origins = origins,
        .n_origins = 2,
        .top_origins = tops,
        .n_top_origins = 1,
    };
    return p;
}

typedef struct {
    kw_softkey_insecure *sk;
    uint8_t chal[KW_WEBAUTHN_CHALLENGEBYTES];
    char cdj[512];
    size_t cdj_len;
    uint8_t ao[KW_SOFTKEY_INSECURE_ATTOBJ_MAXBYTES];
    size_t ao_len;
    uint8_t cid[KW_SOFTKEY_INSECURE_CREDIDBYTES];
    kw_webauthn_credential cred;
    /* last assertion */
    uint8_t achal[KW_WEBAUTHN_CHALLENGEBYTES];
    char acdj[512];
    size_t acdj_len;
    uint8_t ad[KW_SOFTKEY_INSECURE_AUTHDATA_MAXBYTES];
    size_t ad_len;
    uint8_t sig[KW_SOFTKEY_INSECURE_SIG_MAXBYTES];
    size_t sig_len;
} fx;

static void sha256(uint8_t out[32], const void *in, size_t n)
{
    crypto_hash_sha256(out, in, n);
}

/* Makes a credential (attestation object in f->ao) without verifying it. */
static void make(fx *f, int32_t alg, kw_softkey_insecure_att att, unsigned opts)
{
    kw_webauthn_challenge_new(f->chal);
    assert_int_equal(kw_softkey_insecure_client_data(f->cdj, sizeof(f->cdj), &f->cdj_len,
                                                     KW_WEBAUTHN_CREATE, f->chal, sizeof(f->chal),
                                                     ORIGIN, false),
                     KW_OK);
    uint8_t cdh[32];
    sha256(cdh, f->cdj, f->cdj_len);
    assert_int_equal(kw_softkey_insecure_make_credential(f->sk, alg, RP, cdh, att, opts, f->ao,
                                                         sizeof(f->ao), &f->ao_len, f->cid),
                     KW_OK);
}

static int reg(fx *f, const kw_webauthn_policy *pol, kw_webauthn_reason *why)
{
    return kw_webauthn_register_verify(&f->cred, why, pol, f->chal, sizeof(f->chal),
                                       (const uint8_t *)f->cdj, f->cdj_len, f->ao, f->ao_len);
}

static void make_registered(fx *f, int32_t alg, kw_softkey_insecure_att att, unsigned opts)
{
    make(f, alg, att, opts);
    kw_webauthn_policy pol = policy();
    kw_webauthn_reason why;
    assert_int_equal(reg(f, &pol, &why), KW_OK);
    assert_int_equal(why, KW_WEBAUTHN_R_OK);
}

/* Produces an assertion into f (not verified). */
static void sign_in(fx *f, unsigned opts)
{
    kw_webauthn_challenge_new(f->achal);
    assert_int_equal(kw_softkey_insecure_client_data(f->acdj, sizeof(f->acdj), &f->acdj_len,
                                                     KW_WEBAUTHN_GET, f->achal, sizeof(f->achal),
                                                     ORIGIN, false),
                     KW_OK);
    uint8_t cdh[32];
    sha256(cdh, f->acdj, f->acdj_len);
    assert_int_equal(kw_softkey_insecure_get_assertion(f->sk, RP, cdh, f->cid, sizeof(f->cid), opts,
                                                       f->ad, sizeof(f->ad), &f->ad_len, f->sig,
                                                       sizeof(f->sig), &f->sig_len),
                     KW_OK);
}

static int check_with(fx *f, const kw_webauthn_policy *pol, kw_webauthn_reason *why)
{
    kw_webauthn_bytes allow[1] = {{f->cid, sizeof(f->cid)}};
    kw_webauthn_assertion a = {f->cid, sizeof(f->cid), (const uint8_t *)f->acdj, f->acdj_len,
                               f->ad, f->ad_len, f->sig, f->sig_len};
    return kw_webauthn_assert_verify(&f->cred, why, pol, f->achal, sizeof(f->achal), allow, 1, &a);
}

static int check(fx *f, kw_webauthn_reason *why)
{
    kw_webauthn_policy pol = policy();
    return check_with(f, &pol, why);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (f == NULL || kw_softkey_insecure_open(&f->sk, NULL) != KW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    kw_softkey_insecure_free(&f->sk);
    free(f);
    return 0;
}

#define EXPECT(call, code, reason)            \
    do {                                      \
        int r_ = (call);                      \
        assert_int_equal(r_, (code));         \
        assert_int_equal(why, (reason));      \
    } while (0)

/* ---- the good path ---------------------------------------------------------- */

static void roundtrip(fx *f, int32_t alg, kw_softkey_insecure_att att, unsigned opts)
{
    make_registered(f, alg, att, opts);
    assert_int_equal(f->cred.alg, alg);
    assert_int_equal(f->cred.sign_count, 0);
    assert_int_equal(f->cred.att_type, att == KW_SOFTKEY_INSECURE_ATT_PACKED ? KW_WEBAUTHN_ATT_SELF
                                                                              : KW_WEBAUTHN_ATT_NONE);
    assert_memory_equal(f->cred.aaguid, KW_SOFTKEY_INSECURE_AAGUID, 16);
    assert_memory_equal(f->cred.id, f->cid, sizeof(f->cid));
    kw_webauthn_reason why;
    for (uint32_t i = 1; i <= 3; i++) {
        sign_in(f, opts & (KW_SOFTKEY_INSECURE_OPT_EXTENSIONS | KW_SOFTKEY_INSECURE_OPT_UV));
        assert_int_equal(check(f, &why), KW_OK);
        assert_int_equal(f->cred.sign_count, i);
    }
    /* the record survives storage */
    uint8_t rec[KW_WEBAUTHN_CREDENTIAL_MAXBYTES];
    size_t rec_len;
    kw_webauthn_credential back;
    assert_int_equal(kw_webauthn_credential_encode(rec, sizeof(rec), &rec_len, &f->cred), KW_OK);
    assert_int_equal(kw_webauthn_credential_decode(&back, rec, rec_len), KW_OK);
    assert_memory_equal(&back, &f->cred, sizeof(back));
}

static void test_es256_none(void **state) { roundtrip(*state, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0); }
static void test_es256_packed(void **state) { roundtrip(*state, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_PACKED, 0); }
static void test_eddsa_none(void **state) { roundtrip(*state, KW_COSE_EDDSA, KW_SOFTKEY_INSECURE_ATT_NONE, 0); }
static void test_eddsa_packed(void **state) { roundtrip(*state, KW_COSE_EDDSA, KW_SOFTKEY_INSECURE_ATT_PACKED, 0); }

/* Extension outputs take the OpenSSL/libsodium path rather than libfido2's. */
static void test_extensions(void **state)
{
    roundtrip(*state, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_PACKED, KW_SOFTKEY_INSECURE_OPT_EXTENSIONS);
    fx *f = *state;
    kw_webauthn_reason why;
    sign_in(f, KW_SOFTKEY_INSECURE_OPT_EXTENSIONS | KW_SOFTKEY_INSECURE_OPT_BOGUS_SIG);
    EXPECT(check(f, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_BAD_SIGNATURE);
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_PACKED,
         KW_SOFTKEY_INSECURE_OPT_EXTENSIONS | KW_SOFTKEY_INSECURE_OPT_BOGUS_SIG);
    kw_webauthn_policy pol = policy();
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_ATTESTATION_SIG);
}

static void test_backup_flags_recorded(void **state)
{
    fx *f = *state;
    make_registered(f, KW_COSE_EDDSA, KW_SOFTKEY_INSECURE_ATT_NONE, KW_SOFTKEY_INSECURE_OPT_BACKUP);
    assert_true(f->cred.backup_eligible);
    assert_true(f->cred.backup_state);
    make_registered(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, KW_SOFTKEY_INSECURE_OPT_BE);
    assert_true(f->cred.backup_eligible);
    assert_false(f->cred.backup_state);
    kw_webauthn_reason why;
    sign_in(f, 0);
    assert_int_equal(check(f, &why), KW_OK);
    /* BE may not change after registration */
    f->cred.backup_eligible = false;
    sign_in(f, 0);
    EXPECT(check(f, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_BE_CHANGED);
}

/* ---- assertion refusals ------------------------------------------------------- */

static void test_replayed_assertion(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    make_registered(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    sign_in(f, 0);
    assert_int_equal(check(f, &why), KW_OK);
    EXPECT(check(f, &why), KW_ERR_CONFLICT, KW_WEBAUTHN_R_COUNTER_REGRESSION);
    assert_int_equal(f->cred.sign_count, 1); /* unchanged on failure */
}

static void test_counter(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    make_registered(f, KW_COSE_EDDSA, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    /* a key without a counter: 0 → 0 is fine, repeatedly */
    for (int i = 0; i < 2; i++) {
        sign_in(f, KW_SOFTKEY_INSECURE_OPT_KEEP_COUNTER);
        assert_int_equal(check(f, &why), KW_OK);
        assert_int_equal(f->cred.sign_count, 0);
    }
    assert_int_equal(kw_softkey_insecure_set_counter(f->sk, f->cid, sizeof(f->cid), 10), KW_OK);
    sign_in(f, 0);
    assert_int_equal(check(f, &why), KW_OK);
    assert_int_equal(f->cred.sign_count, 11);
    /* going backwards (a cloned key) */
    assert_int_equal(kw_softkey_insecure_set_counter(f->sk, f->cid, sizeof(f->cid), 4), KW_OK);
    sign_in(f, 0);
    EXPECT(check(f, &why), KW_ERR_CONFLICT, KW_WEBAUTHN_R_COUNTER_REGRESSION);
    /* equal, non-zero */
    assert_int_equal(kw_softkey_insecure_set_counter(f->sk, f->cid, sizeof(f->cid), 10), KW_OK);
    sign_in(f, 0);
    EXPECT(check(f, &why), KW_ERR_CONFLICT, KW_WEBAUTHN_R_COUNTER_REGRESSION);
    /* dropping to 0 after a non-zero counter */
    assert_int_equal(kw_softkey_insecure_set_counter(f->sk, f->cid, sizeof(f->cid), 0), KW_OK);
    sign_in(f, KW_SOFTKEY_INSECURE_OPT_KEEP_COUNTER);
    EXPECT(check(f, &why), KW_ERR_CONFLICT, KW_WEBAUTHN_R_COUNTER_REGRESSION);
    assert_int_equal(f->cred.sign_count, 11);
}

static void test_wrong_challenge_origin_type(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    make_registered(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_PACKED, 0);
    sign_in(f, 0);
    f->achal[5] ^= 1; /* the server expected another challenge */
    EXPECT(check(f, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_WRONG_CHALLENGE);
    f->achal[5] ^= 1;
    kw_webauthn_policy pol = policy();
    pol.n_origins = 0;
    EXPECT(check_with(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_WRONG_ORIGIN);
    const char *other[] = {"https://example.org:8443"};
    pol.origins = other;
    pol.n_origins = 1;
    EXPECT(check_with(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_WRONG_ORIGIN);
    /* a registration's clientData presented as an assertion's */
    assert_int_equal(kw_softkey_insecure_client_data(f->acdj, sizeof(f->acdj), &f->acdj_len,
                                                     KW_WEBAUTHN_CREATE, f->achal, sizeof(f->achal),
                                                     ORIGIN, false),
                     KW_OK);
    EXPECT(check(f, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_WRONG_TYPE);
    /* and an assertion's clientData at registration */
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    assert_int_equal(kw_softkey_insecure_client_data(f->cdj, sizeof(f->cdj), &f->cdj_len,
                                                     KW_WEBAUTHN_GET, f->chal, sizeof(f->chal),
                                                     ORIGIN, false),
                     KW_OK);
    pol = policy();
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_WRONG_TYPE);
}

static void test_wrong_rp(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    make_registered(f, KW_COSE_EDDSA, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    sign_in(f, KW_SOFTKEY_INSECURE_OPT_WRONG_RP);
    EXPECT(check(f, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_RPID_MISMATCH);
    sign_in(f, 0);
    kw_webauthn_policy pol = policy();
    pol.rp_id = "example.com";
    EXPECT(check_with(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_RPID_MISMATCH);
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_PACKED, KW_SOFTKEY_INSECURE_OPT_WRONG_RP);
    pol = policy();
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_RPID_MISMATCH);
}

static void test_flags(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    kw_webauthn_policy pol = policy();
    /* registration */
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_PACKED, KW_SOFTKEY_INSECURE_OPT_NO_UP);
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_UP_MISSING);
    make(f, KW_COSE_EDDSA, KW_SOFTKEY_INSECURE_ATT_NONE, KW_SOFTKEY_INSECURE_OPT_BS_NO_BE);
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_BS_WITHOUT_BE);
    pol.require_uv = true;
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_UV_MISSING);
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, KW_SOFTKEY_INSECURE_OPT_UV);
    assert_int_equal(reg(f, &pol, &why), KW_OK);
    assert_true(f->cred.uv_initialized);
    /* authentication, on both signature paths */
    int32_t algs[2] = {KW_COSE_ES256, KW_COSE_EDDSA};
    for (int i = 0; i < 2; i++) {
        make_registered(f, algs[i], KW_SOFTKEY_INSECURE_ATT_NONE, 0);
        sign_in(f, KW_SOFTKEY_INSECURE_OPT_NO_UP);
        EXPECT(check(f, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_UP_MISSING);
        sign_in(f, KW_SOFTKEY_INSECURE_OPT_BS_NO_BE);
        EXPECT(check(f, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_BS_WITHOUT_BE);
        sign_in(f, 0);
        EXPECT(check_with(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_UV_MISSING);
        sign_in(f, KW_SOFTKEY_INSECURE_OPT_UV);
        assert_int_equal(check_with(f, &pol, &why), KW_OK);
    }
}

static void test_allow_credentials(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    make_registered(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    sign_in(f, 0);
    kw_webauthn_policy pol = policy();
    uint8_t other[32] = {1, 2, 3};
    kw_webauthn_bytes allow[2] = {{other, sizeof(other)}, {f->cid, 31}};
    kw_webauthn_assertion a = {f->cid, sizeof(f->cid), (const uint8_t *)f->acdj, f->acdj_len,
                               f->ad, f->ad_len, f->sig, f->sig_len};
    EXPECT(kw_webauthn_assert_verify(&f->cred, &why, &pol, f->achal, sizeof(f->achal), allow, 2, &a),
           KW_ERR_NOT_FOUND, KW_WEBAUTHN_R_CRED_NOT_ALLOWED);
    /* the server looked up another account's record for this id */
    kw_webauthn_credential saved = f->cred;
    f->cred.id[0] ^= 0xff;
    EXPECT(kw_webauthn_assert_verify(&f->cred, &why, &pol, f->achal, sizeof(f->achal), NULL, 0, &a),
           KW_ERR_VERIFY, KW_WEBAUTHN_R_CRED_ID_MISMATCH);
    f->cred = saved;
    /* discoverable credential: no allow list */
    assert_int_equal(kw_webauthn_assert_verify(&f->cred, &why, &pol, f->achal, sizeof(f->achal), NULL,
                                               0, &a),
                     KW_OK);
}

static void test_bogus_signature(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    int32_t algs[2] = {KW_COSE_ES256, KW_COSE_EDDSA};
    for (int i = 0; i < 2; i++) {
        make_registered(f, algs[i], KW_SOFTKEY_INSECURE_ATT_NONE, 0);
        sign_in(f, KW_SOFTKEY_INSECURE_OPT_BOGUS_SIG);
        EXPECT(check(f, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_BAD_SIGNATURE);
        make(f, algs[i], KW_SOFTKEY_INSECURE_ATT_PACKED, KW_SOFTKEY_INSECURE_OPT_BOGUS_SIG);
        kw_webauthn_policy pol = policy();
        EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_ATTESTATION_SIG);
    }
}

/* Every single-bit flip of authenticatorData, clientDataJSON and the
 * signature is refused, on both signature paths. */
static void test_bit_flips_assertion(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    int32_t algs[2] = {KW_COSE_ES256, KW_COSE_EDDSA};
    for (int a = 0; a < 2; a++) {
        make_registered(f, algs[a], KW_SOFTKEY_INSECURE_ATT_NONE, 0);
        sign_in(f, 0);
        kw_webauthn_credential saved = f->cred;
        for (size_t i = 0; i < f->ad_len * 8; i++) {
            f->ad[i / 8] ^= (uint8_t)(1u << (i % 8));
            assert_int_not_equal(check(f, &why), KW_OK);
            f->ad[i / 8] ^= (uint8_t)(1u << (i % 8));
            f->cred = saved;
        }
        for (size_t i = 0; i < f->acdj_len * 8; i++) {
            f->acdj[i / 8] ^= (char)(1u << (i % 8));
            int r = check(f, &why);
            assert_int_not_equal(r, KW_OK);
            f->acdj[i / 8] ^= (char)(1u << (i % 8));
        }
        for (size_t i = 0; i < f->sig_len * 8; i++) {
            f->sig[i / 8] ^= (uint8_t)(1u << (i % 8));
            EXPECT(check(f, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_BAD_SIGNATURE);
            f->sig[i / 8] ^= (uint8_t)(1u << (i % 8));
        }
        assert_int_equal(check(f, &why), KW_OK);
    }
}

/* Every single-bit flip of a packed attestation object is refused; the
 * flips inside the attestation signature are refused as such. */
static void test_bit_flips_attestation(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    kw_webauthn_policy pol = policy();
    int32_t algs[2] = {KW_COSE_ES256, KW_COSE_EDDSA};
    for (int a = 0; a < 2; a++) {
        make(f, algs[a], KW_SOFTKEY_INSECURE_ATT_PACKED, 0);
        for (size_t i = 0; i < f->ao_len * 8; i++) {
            f->ao[i / 8] ^= (uint8_t)(1u << (i % 8));
            assert_int_not_equal(reg(f, &pol, &why), KW_OK);
            f->ao[i / 8] ^= (uint8_t)(1u << (i % 8));
        }
        /* the statement's "sig" value: find it after the 0x63 "sig" key */
        uint8_t *p = memmem(f->ao, f->ao_len, "\x63sig", 4);
        assert_non_null(p);
        size_t off = (size_t)(p - f->ao) + 4, hdr = (p[4] & 31) < 24 ? 1 : 2;
        size_t slen = hdr == 1 ? (p[4] & 31u) : p[5];
        for (size_t i = 0; i < slen; i++) {
            f->ao[off + hdr + i] ^= 0x10;
            EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_ATTESTATION_SIG);
            f->ao[off + hdr + i] ^= 0x10;
        }
        assert_int_equal(reg(f, &pol, &why), KW_OK);
        /* and a flip in the clientDataJSON it covers */
        f->cdj[f->cdj_len - 3] ^= 1; /* inside the origin string */
        assert_int_not_equal(reg(f, &pol, &why), KW_OK);
    }
}

/* ---- malformed and oversized input ------------------------------------------- */

static void test_truncated(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    kw_webauthn_policy pol = policy();
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_PACKED, 0);
    for (size_t n = 0; n < f->ao_len; n++) {
        int r = kw_webauthn_register_verify(&f->cred, &why, &pol, f->chal, sizeof(f->chal),
                                            (const uint8_t *)f->cdj, f->cdj_len, f->ao, n);
        assert_int_equal(r, KW_ERR_TRUNCATED);
        assert_int_equal(why, KW_WEBAUTHN_R_MALFORMED);
    }
    /* trailing bytes after the map */
    f->ao[f->ao_len] = 0;
    EXPECT(kw_webauthn_register_verify(&f->cred, &why, &pol, f->chal, sizeof(f->chal),
                                       (const uint8_t *)f->cdj, f->cdj_len, f->ao, f->ao_len + 1),
           KW_ERR_FORMAT, KW_WEBAUTHN_R_MALFORMED);
    /* assertion authenticatorData cut short; and its extension map cut short */
    make_registered(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    sign_in(f, KW_SOFTKEY_INSECURE_OPT_EXTENSIONS);
    size_t full = f->ad_len;
    for (size_t n = 0; n < full; n++) {
        f->ad_len = n;
        EXPECT(check(f, &why), KW_ERR_TRUNCATED, KW_WEBAUTHN_R_MALFORMED);
    }
    f->ad_len = full;
    assert_int_equal(check(f, &why), KW_OK);
    /* clientDataJSON cut short */
    sign_in(f, 0);
    f->acdj_len -= 1;
    EXPECT(check(f, &why), KW_ERR_TRUNCATED, KW_WEBAUTHN_R_MALFORMED);
    /* an empty signature */
    sign_in(f, 0);
    f->sig_len = 0;
    EXPECT(check(f, &why), KW_ERR_TRUNCATED, KW_WEBAUTHN_R_MALFORMED);
}

static void test_oversized(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    kw_webauthn_policy pol = policy();
    uint8_t *big = calloc(1, KW_WEBAUTHN_ATTOBJ_MAXBYTES + 2);
    assert_non_null(big);
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    EXPECT(kw_webauthn_register_verify(&f->cred, &why, &pol, f->chal, sizeof(f->chal),
                                       (const uint8_t *)f->cdj, f->cdj_len, big,
                                       KW_WEBAUTHN_ATTOBJ_MAXBYTES + 1),
           KW_ERR_TOO_LARGE, KW_WEBAUTHN_R_TOO_LARGE);
    EXPECT(kw_webauthn_register_verify(&f->cred, &why, &pol, f->chal, sizeof(f->chal), big,
                                       KW_WEBAUTHN_CLIENTDATA_MAXBYTES + 1, f->ao, f->ao_len),
           KW_ERR_TOO_LARGE, KW_WEBAUTHN_R_TOO_LARGE);
    make_registered(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    sign_in(f, 0);
    kw_webauthn_assertion a = {f->cid, sizeof(f->cid), (const uint8_t *)f->acdj, f->acdj_len,
                               big, KW_WEBAUTHN_AUTHDATA_MAXBYTES + 1, f->sig, f->sig_len};
    EXPECT(kw_webauthn_assert_verify(&f->cred, &why, &pol, f->achal, sizeof(f->achal), NULL, 0, &a),
           KW_ERR_TOO_LARGE, KW_WEBAUTHN_R_TOO_LARGE);
    a.authenticator_data = f->ad;
    a.authenticator_data_len = f->ad_len;
    a.signature = big;
    a.signature_len = KW_WEBAUTHN_SIG_MAXBYTES + 1;
    EXPECT(kw_webauthn_assert_verify(&f->cred, &why, &pol, f->achal, sizeof(f->achal), NULL, 0, &a),
           KW_ERR_TOO_LARGE, KW_WEBAUTHN_R_TOO_LARGE);
    /* a credential id over 1023 bytes in attested credential data */
    uint8_t ad[64];
    memcpy(ad, f->ad, 37);
    ad[32] |= KW_WEBAUTHN_FLAG_AT;
    memset(ad + 37, 0, 16);
    ad[53] = 0x04; /* 1024 */
    ad[54] = 0x00;
    kw_webauthn_authdata pad;
    assert_int_equal(kw_webauthn_authdata_parse(&pad, ad, 55), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_webauthn_authdata_parse(&pad, big, KW_WEBAUTHN_AUTHDATA_MAXBYTES + 1),
                     KW_ERR_TOO_LARGE);
    /* a deeply nested extension map */
    memcpy(ad, f->ad, 37);
    ad[32] |= KW_WEBAUTHN_FLAG_ED;
    for (size_t i = 37; i < 64; i++)
        ad[i] = 0x81; /* [[[[...]]]] */
    assert_int_equal(kw_webauthn_authdata_parse(&pad, ad, 64), KW_ERR_TOO_LARGE);
    /* a map claiming 2^32 entries in 6 bytes */
    static const uint8_t huge[] = {0xba, 0xff, 0xff, 0xff, 0xff, 0x00};
    EXPECT(kw_webauthn_register_verify(&f->cred, &why, &pol, f->chal, sizeof(f->chal),
                                       (const uint8_t *)f->cdj, f->cdj_len, huge, sizeof(huge)),
           KW_ERR_TRUNCATED, KW_WEBAUTHN_R_MALFORMED);
    free(big);
}

__attribute__((format(printf, 4, 5)))
static int cd_verify(kw_webauthn_reason *why, const kw_webauthn_policy *pol, const uint8_t chal[16],
                     const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return kw_webauthn_clientdata_verify(why, pol, KW_WEBAUTHN_GET, chal, 16, (const uint8_t *)buf,
                                         strlen(buf));
}

static void test_clientdata(void **state)
{
    (void)state;
    kw_webauthn_reason why;
    kw_webauthn_policy pol = policy();
    uint8_t chal[16];
    memset(chal, 0xab, sizeof(chal));
    const char *b64 = "q6urq6urq6urq6urq6urqw"; /* 16 × 0xab */
#define VERIFY_CD(p, ...) cd_verify(&why, (p), chal, __VA_ARGS__)
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\"}", b64, ORIGIN),
           KW_OK, KW_WEBAUTHN_R_OK);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\",\"crossOrigin\":true}", b64, ORIGIN),
           KW_ERR_VERIFY, KW_WEBAUTHN_R_CROSS_ORIGIN);
    kw_webauthn_policy cross = pol;
    cross.allow_cross_origin = true;
    EXPECT(VERIFY_CD(&cross, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\",\"crossOrigin\":true}", b64, ORIGIN),
           KW_OK, KW_WEBAUTHN_R_OK);
    EXPECT(VERIFY_CD(&cross, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\",\"crossOrigin\":true,\"topOrigin\":\"https://example.com\"}", b64, ORIGIN),
           KW_OK, KW_WEBAUTHN_R_OK);
    EXPECT(VERIFY_CD(&cross, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\",\"crossOrigin\":true,\"topOrigin\":\"https://evil.example\"}", b64, ORIGIN),
           KW_ERR_VERIFY, KW_WEBAUTHN_R_TOP_ORIGIN);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\",\"crossOrigin\":true,\"topOrigin\":\"https://example.com\"}", b64, ORIGIN),
           KW_ERR_VERIFY, KW_WEBAUTHN_R_CROSS_ORIGIN);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\",\"tokenBinding\":{\"status\":\"present\",\"id\":\"AAAA\"}}", b64, ORIGIN),
           KW_ERR_VERIFY, KW_WEBAUTHN_R_TOKEN_BINDING);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\",\"tokenBinding\":{\"status\":\"supported\"}}", b64, ORIGIN),
           KW_OK, KW_WEBAUTHN_R_OK);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\",\"tokenBinding\":\"present\"}", b64, ORIGIN),
           KW_ERR_FORMAT, KW_WEBAUTHN_R_MALFORMED);
    /* malformed */
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\"}", b64, ORIGIN),
           KW_ERR_FORMAT, KW_WEBAUTHN_R_MALFORMED);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s=\",\"origin\":\"%s\"}", b64, ORIGIN),
           KW_ERR_FORMAT, KW_WEBAUTHN_R_MALFORMED);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\"", b64, ORIGIN),
           KW_ERR_TRUNCATED, KW_WEBAUTHN_R_MALFORMED);
    EXPECT(VERIFY_CD(&pol, "[\"webauthn.get\"]"), KW_ERR_FORMAT, KW_WEBAUTHN_R_MALFORMED);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\"}", b64), KW_ERR_FORMAT,
           KW_WEBAUTHN_R_MALFORMED);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\",\"crossOrigin\":\"yes\"}", b64, ORIGIN),
           KW_ERR_FORMAT, KW_WEBAUTHN_R_MALFORMED);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"https://example.org\\u0000x\"}", b64),
           KW_ERR_FORMAT, KW_WEBAUTHN_R_MALFORMED);
    /* not UTF-8 */
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"\xff\"}", b64),
           KW_ERR_FORMAT, KW_WEBAUTHN_R_MALFORMED);
    /* prefix of the expected challenge, or longer */
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"q6urq6urq6urq6urq6ur\",\"origin\":\"%s\"}", ORIGIN),
           KW_ERR_VERIFY, KW_WEBAUTHN_R_WRONG_CHALLENGE);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"WEBAUTHN.GET\",\"challenge\":\"%s\",\"origin\":\"%s\"}", b64, ORIGIN),
           KW_ERR_VERIFY, KW_WEBAUTHN_R_WRONG_TYPE);
    EXPECT(VERIFY_CD(&pol, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"https://example.org/\"}", b64),
           KW_ERR_VERIFY, KW_WEBAUTHN_R_WRONG_ORIGIN);
    /* oversized */
    char *huge = malloc(KW_WEBAUTHN_CLIENTDATA_MAXBYTES + 1);
    memset(huge, ' ', KW_WEBAUTHN_CLIENTDATA_MAXBYTES + 1);
    EXPECT(kw_webauthn_clientdata_verify(&why, &pol, KW_WEBAUTHN_GET, chal, sizeof(chal),
                                         (const uint8_t *)huge, KW_WEBAUTHN_CLIENTDATA_MAXBYTES + 1),
           KW_ERR_TOO_LARGE, KW_WEBAUTHN_R_TOO_LARGE);
    free(huge);
#undef VERIFY_CD
}

/* ---- formats, algorithms and policy ------------------------------------------- */

static void test_unsupported(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    kw_webauthn_policy pol = policy();
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    /* rename fmt "none" to "tpm": 64 6e6f6e65 → 63 74706d */
    uint8_t *p = memmem(f->ao, f->ao_len, "\x64none", 5);
    assert_non_null(p);
    memcpy(p, "\x63tpm", 4);
    memmove(p + 4, p + 5, f->ao_len - (size_t)(p + 5 - f->ao));
    f->ao_len--;
    EXPECT(reg(f, &pol, &why), KW_ERR_UNSUPPORTED, KW_WEBAUTHN_R_UNSUPPORTED_FMT);
    /* COSE keys of algorithms we do not implement */
    static const uint8_t es512[] = {0xa5, 0x01, 0x02, 0x03, 0x38, 0x23, 0x20, 0x03, 0x21, 0x41, 0x00,
                                    0x22, 0x41, 0x00};
    static const uint8_t ed448[] = {0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x07, 0x21, 0x41, 0x00};
    static const uint8_t ps256[] = {0xa4, 0x01, 0x03, 0x03, 0x38, 0x24, 0x20, 0x41, 0x01, 0x21, 0x41, 0x01};
    kw_webauthn_credential c;
    uint8_t id[4] = {1, 2, 3, 4};
    assert_int_equal(kw_webauthn_credential_init(&c, id, 4, es512, sizeof(es512), 0, false, false),
                     KW_ERR_UNSUPPORTED);
    assert_int_equal(kw_webauthn_credential_init(&c, id, 4, ed448, sizeof(ed448), 0, false, false),
                     KW_ERR_UNSUPPORTED);
    assert_int_equal(kw_webauthn_credential_init(&c, id, 4, ps256, sizeof(ps256), 0, false, false),
                     KW_ERR_UNSUPPORTED);
    /* the softkey does not make them either */
    uint8_t cdh[32] = {0}, ao[64], cid[32];
    size_t ao_len;
    assert_int_equal(kw_softkey_insecure_make_credential(f->sk, -36, RP, cdh,
                                                         KW_SOFTKEY_INSECURE_ATT_NONE, 0, ao,
                                                         sizeof(ao), &ao_len, cid),
                     KW_ERR_UNSUPPORTED);
}

static void test_attestation_policy(void **state)
{
    fx *f = *state;
    kw_webauthn_reason why;
    kw_webauthn_policy pol = policy();
    pol.attestation = KW_WEBAUTHN_ATTEST_REQUIRE_TRUSTED;
    make(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_ATTESTATION_REQUIRED);
    make(f, KW_COSE_EDDSA, KW_SOFTKEY_INSECURE_ATT_PACKED, 0);
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_ATTESTATION_REQUIRED);
    /* self attestation is fine when only chains are checked */
    pol.attestation = KW_WEBAUTHN_ATTEST_CHECK_CHAIN;
    assert_int_equal(reg(f, &pol, &why), KW_OK);
    /* algorithm list */
    int32_t only[1] = {KW_COSE_ES256};
    pol = policy();
    pol.algs = only;
    pol.n_algs = 1;
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_ALG_NOT_ALLOWED);
    /* the challenge is checked at registration too */
    pol = policy();
    f->chal[0] ^= 1;
    EXPECT(reg(f, &pol, &why), KW_ERR_VERIFY, KW_WEBAUTHN_R_WRONG_CHALLENGE);
    f->chal[0] ^= 1;
    assert_int_equal(reg(f, &pol, &why), KW_OK);
}

static void test_record_codec(void **state)
{
    fx *f = *state;
    make_registered(f, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_PACKED, KW_SOFTKEY_INSECURE_OPT_BACKUP);
    uint8_t rec[KW_WEBAUTHN_CREDENTIAL_MAXBYTES + 1];
    size_t n;
    kw_webauthn_credential c;
    assert_int_equal(kw_webauthn_credential_encode(rec, sizeof(rec), &n, &f->cred), KW_OK);
    assert_int_equal(kw_webauthn_credential_encode(rec, n - 1, &n, &f->cred), KW_ERR_TOO_LARGE);
    assert_int_equal(kw_webauthn_credential_encode(rec, sizeof(rec), &n, &f->cred), KW_OK);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(kw_webauthn_credential_decode(&c, rec, k), KW_ERR_TRUNCATED);
    rec[n] = 0;
    assert_int_equal(kw_webauthn_credential_decode(&c, rec, n + 1), KW_ERR_FORMAT);
    assert_int_equal(kw_webauthn_credential_decode(&c, rec, KW_WEBAUTHN_CREDENTIAL_MAXBYTES + 1),
                     KW_ERR_TOO_LARGE);
    rec[0] ^= 1;
    assert_int_equal(kw_webauthn_credential_decode(&c, rec, n), KW_ERR_FORMAT);
    rec[0] ^= 1;
    rec[4] = 0x02; /* BS without BE */
    assert_int_equal(kw_webauthn_credential_decode(&c, rec, n), KW_ERR_FORMAT);
    rec[4] = 0x03;
    rec[9] ^= 0x01; /* alg -7 → -8: differs from the key's */
    assert_int_equal(kw_webauthn_credential_decode(&c, rec, n), KW_ERR_FORMAT);
    rec[9] ^= 0x01;
    assert_int_equal(kw_webauthn_credential_decode(&c, rec, n), KW_OK);
    assert_true(c.backup_eligible && c.backup_state);
}

static void test_softkey_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/kw-softkey-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/key", dir);
    fx f2;
    memset(&f2, 0, sizeof(f2));
    assert_int_equal(kw_softkey_insecure_open(&f2.sk, path), KW_OK);
    assert_int_equal(kw_softkey_insecure_count(f2.sk), 0);
    make_registered(&f2, KW_COSE_ES256, KW_SOFTKEY_INSECURE_ATT_PACKED, 0);
    kw_webauthn_credential c1 = f2.cred;
    uint8_t cid1[32];
    memcpy(cid1, f2.cid, 32);
    make_registered(&f2, KW_COSE_EDDSA, KW_SOFTKEY_INSECURE_ATT_NONE, 0);
    sign_in(&f2, 0);
    kw_webauthn_reason why;
    assert_int_equal(check(&f2, &why), KW_OK);
    kw_softkey_insecure_free(&f2.sk);
    assert_null(f2.sk);
    /* reopened: both keys, counters carried on */
    assert_int_equal(kw_softkey_insecure_open(&f2.sk, path), KW_OK);
    assert_int_equal(kw_softkey_insecure_count(f2.sk), 2);
    sign_in(&f2, 0);
    assert_int_equal(check(&f2, &why), KW_OK);
    assert_int_equal(f2.cred.sign_count, 2);
    f2.cred = c1;
    memcpy(f2.cid, cid1, 32);
    sign_in(&f2, 0);
    assert_int_equal(check(&f2, &why), KW_OK);
    assert_int_equal(f2.cred.sign_count, 1);
    /* an unknown credential, another RP */
    uint8_t cdh[32] = {0}, ad[64], sig[80];
    size_t ad_len, sig_len;
    assert_int_equal(kw_softkey_insecure_get_assertion(f2.sk, "example.com", cdh, cid1, 32, 0, ad,
                                                       sizeof(ad), &ad_len, sig, sizeof(sig),
                                                       &sig_len),
                     KW_ERR_NOT_FOUND);
    cid1[0] ^= 1;
    assert_int_equal(kw_softkey_insecure_get_assertion(f2.sk, RP, cdh, cid1, 32, 0, ad, sizeof(ad),
                                                       &ad_len, sig, sizeof(sig), &sig_len),
                     KW_ERR_NOT_FOUND);
    kw_softkey_insecure_free(&f2.sk);
    /* a damaged file is refused */
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fputc('X', fp);
    fclose(fp);
    kw_softkey_insecure *bad = NULL;
    assert_int_equal(kw_softkey_insecure_open(&bad, path), KW_ERR_FORMAT);
    assert_null(bad);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    if (kw_init() != KW_OK)
        return 1;
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_es256_none),
        T(test_es256_packed),
        T(test_eddsa_none),
        T(test_eddsa_packed),
        T(test_extensions),
        T(test_backup_flags_recorded),
        T(test_replayed_assertion),
        T(test_counter),
        T(test_wrong_challenge_origin_type),
        T(test_wrong_rp),
        T(test_flags),
        T(test_allow_credentials),
        T(test_bogus_signature),
        T(test_bit_flips_assertion),
        T(test_bit_flips_attestation),
        T(test_truncated),
        T(test_oversized),
        T(test_clientdata),
        T(test_unsupported),
        T(test_attestation_policy),
        T(test_record_codec),
        T(test_softkey_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
