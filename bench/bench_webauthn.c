/* WebAuthn assertion verification (kw_webauthn_assert_verify: clientDataJSON
 * parse and checks, authenticatorData parse, rpIdHash, flags, COSE key
 * parse, signature, counter) for ES256 and EdDSA credentials made by the
 * INSECURE software authenticator, each beside the bare signature check it
 * is built around, measured in the same run: OpenSSL ECDSA P-256 verify
 * (EVP_DigestVerify with a prepared key) and libsodium's
 * crypto_sign_verify_detached. Targets (issue 4): ES256 >= 5,000/s and
 * EdDSA >= 10,000/s per core. The counter stays 0 (0 -> 0 is accepted), so
 * the same assertion can be verified repeatedly. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "bench.h"
#include "keyward/keyward.h"
#include "keyward/softkey.h"
#include "keyward/webauthn.h"

typedef struct {
    kw_webauthn_credential cred;
    kw_webauthn_policy pol;
    uint8_t chal[KW_WEBAUTHN_CHALLENGEBYTES];
    char cdj[512];
    size_t cdj_len;
    uint8_t cid[KW_SOFTKEY_INSECURE_CREDIDBYTES];
    uint8_t ad[KW_SOFTKEY_INSECURE_AUTHDATA_MAXBYTES];
    size_t ad_len;
    uint8_t sig[KW_SOFTKEY_INSECURE_SIG_MAXBYTES];
    size_t sig_len;
    uint8_t msg[KW_SOFTKEY_INSECURE_AUTHDATA_MAXBYTES + 32]; /* ad ‖ SHA-256(cdj) */
    size_t msg_len;
    EVP_PKEY *pkey;   /* ES256 baseline */
    EVP_MD_CTX *mctx;
    uint8_t ed_pk[32]; /* EdDSA baseline */
} wa_bench;

static const char *origins[] = {"https://example.org"};

static void die(const char *what)
{
    fprintf(stderr, "bench_webauthn: %s\n", what);
    exit(1);
}

static void setup(wa_bench *b, kw_softkey_insecure *sk, int32_t alg)
{
    memset(b, 0, sizeof(*b));
    b->pol.rp_id = "example.org";
    b->pol.origins = origins;
    b->pol.n_origins = 1;
    uint8_t cdh[32], ao[KW_SOFTKEY_INSECURE_ATTOBJ_MAXBYTES];
    size_t ao_len;
    kw_webauthn_challenge_new(b->chal);
    if (kw_softkey_insecure_client_data(b->cdj, sizeof(b->cdj), &b->cdj_len, KW_WEBAUTHN_CREATE,
                                        b->chal, sizeof(b->chal), origins[0], false) != KW_OK)
        die("client data");
    crypto_hash_sha256(cdh, (const uint8_t *)b->cdj, b->cdj_len);
    if (kw_softkey_insecure_make_credential(sk, alg, "example.org", cdh,
                                            KW_SOFTKEY_INSECURE_ATT_PACKED, 0, ao, sizeof(ao),
                                            &ao_len, b->cid) != KW_OK ||
        kw_webauthn_register_verify(&b->cred, NULL, &b->pol, b->chal, sizeof(b->chal),
                                    (const uint8_t *)b->cdj, b->cdj_len, ao, ao_len) != KW_OK)
        die("registration");
    kw_webauthn_challenge_new(b->chal);
    if (kw_softkey_insecure_client_data(b->cdj, sizeof(b->cdj), &b->cdj_len, KW_WEBAUTHN_GET,
                                        b->chal, sizeof(b->chal), origins[0], false) != KW_OK)
        die("client data");
    crypto_hash_sha256(cdh, (const uint8_t *)b->cdj, b->cdj_len);
    if (kw_softkey_insecure_get_assertion(sk, "example.org", cdh, b->cid, sizeof(b->cid),
                                          KW_SOFTKEY_INSECURE_OPT_KEEP_COUNTER, b->ad,
                                          sizeof(b->ad), &b->ad_len, b->sig, sizeof(b->sig),
                                          &b->sig_len) != KW_OK)
        die("assertion");
    memcpy(b->msg, b->ad, b->ad_len);
    memcpy(b->msg + b->ad_len, cdh, 32);
    b->msg_len = b->ad_len + 32;
    /* the baselines' keys, from the COSE key the record holds */
    const uint8_t *k = b->cred.cose_key;
    if (alg == KW_COSE_EDDSA) {
        memcpy(b->ed_pk, k + b->cred.cose_key_len - 32, 32);
        return;
    }
    uint8_t pub[65];
    pub[0] = 0x04;
    memcpy(pub + 1, k + 10, 32);  /* a5 01 02 03 26 20 01 21 58 20 <x> */
    memcpy(pub + 33, k + 45, 32); /* 22 58 20 <y> */
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub));
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &b->pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        die("EC key");
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    if ((b->mctx = EVP_MD_CTX_new()) == NULL)
        die("md ctx");
}

static void op_assert(void *arg)
{
    wa_bench *b = arg;
    kw_webauthn_bytes allow[1] = {{b->cid, sizeof(b->cid)}};
    kw_webauthn_assertion a = {b->cid, sizeof(b->cid), (const uint8_t *)b->cdj, b->cdj_len,
                               b->ad, b->ad_len, b->sig, b->sig_len};
    if (kw_webauthn_assert_verify(&b->cred, NULL, &b->pol, b->chal, sizeof(b->chal), allow, 1, &a) !=
        KW_OK)
        die("assertion did not verify");
}

static void op_raw_ecdsa(void *arg)
{
    wa_bench *b = arg;
    if (EVP_DigestVerifyInit(b->mctx, NULL, EVP_sha256(), NULL, b->pkey) != 1 ||
        EVP_DigestVerify(b->mctx, b->sig, b->sig_len, b->msg, b->msg_len) != 1)
        die("raw ECDSA verify failed");
}

static void op_raw_ed25519(void *arg)
{
    wa_bench *b = arg;
    if (crypto_sign_verify_detached(b->sig, b->msg, b->msg_len, b->ed_pk) != 0)
        die("raw Ed25519 verify failed");
}

static void target(const char *what, double rate, double want)
{
    printf("%-40s target >= %.0f/s per core: %s\n", what, want, rate >= want ? "met" : "MISSED");
}

static void bench_webauthn(void)
{
    kw_softkey_insecure *sk = NULL;
    wa_bench *es = malloc(sizeof(*es)), *ed = malloc(sizeof(*ed));
    if (es == NULL || ed == NULL || kw_softkey_insecure_open(&sk, NULL) != KW_OK)
        die("setup");
    setup(es, sk, KW_COSE_ES256);
    setup(ed, sk, KW_COSE_EDDSA);

    double raw = bench_rate(op_raw_ecdsa, es, 1.0);
    double ours = bench_rate(op_assert, es, 1.0);
    bench_report("webauthn assertion verify ES256", ours, "ops/s",
                 "OpenSSL ECDSA P-256 verify", raw, 0);
    target("webauthn assertion verify ES256", ours, 5000);

    raw = bench_rate(op_raw_ed25519, ed, 1.0);
    ours = bench_rate(op_assert, ed, 1.0);
    bench_report("webauthn assertion verify EdDSA", ours, "ops/s",
                 "crypto_sign_verify_detached", raw, 0);
    target("webauthn assertion verify EdDSA", ours, 10000);

    EVP_MD_CTX_free(es->mctx);
    EVP_PKEY_free(es->pkey);
    free(es);
    free(ed);
    kw_softkey_insecure_free(&sk);
}

BENCH_REGISTER("webauthn", bench_webauthn)
