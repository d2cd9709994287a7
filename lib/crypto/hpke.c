/*
 * HPKE (RFC 9180) for DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
 * ChaCha20-Poly1305. See include/keyward/hpke.h for the contract.
 *
 * Cost: every labeled HKDF step here is a single HMAC-SHA256 block (Nh, Nk
 * and Nn are all <= 32), so the key schedule is a handful of HMACs. To keep
 * it cheap, an HMAC key is absorbed once into a libsodium HMAC state and
 * the state is copied for each use: one state keyed with the empty salt
 * serves the four zero-salt extracts of a setup, one state keyed with
 * `secret` serves the key, base_nonce and exporter_secret expansions.
 */
#include "keyward/hpke.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#include "crypto/hpke_internal.h"
#include "keyward/err.h"

typedef crypto_auth_hmacsha256_state hmac_state;

static const uint8_t hpke_v1[7] = {'H', 'P', 'K', 'E', '-', 'v', '1'};
/* suite_id of the KEM: "KEM" ‖ I2OSP(kem_id, 2) */
static const uint8_t suite_kem[5] = {'K', 'E', 'M', 0x00, 0x20};
/* suite_id of HPKE: "HPKE" ‖ kem_id ‖ kdf_id ‖ aead_id */
static const uint8_t suite_hpke[10] = {'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x03};

/* libsodium is not promised to accept NULL with a zero length everywhere. */
static const uint8_t empty_input[1];

static const uint8_t *nonnull(const uint8_t *p)
{
    return p != NULL ? p : empty_input;
}

static void hmac_update(hmac_state *st, const uint8_t *in, size_t len)
{
    if (len > 0)
        crypto_auth_hmacsha256_update(st, in, len);
}

static void hmac_update_label(hmac_state *st, const uint8_t *suite, size_t suite_len,
                              const char *label)
{
    hmac_update(st, hpke_v1, sizeof(hpke_v1));
    hmac_update(st, suite, suite_len);
    hmac_update(st, (const uint8_t *)label, strlen(label));
}

/* An HMAC state keyed with the empty salt, which HKDF reads as Nh zero
 * bytes (HMAC pads keys with zeros, so both spellings agree). */
static void hmac_zero_key(hmac_state *st)
{
    static const uint8_t zero[KW_HPKE_SECRETBYTES];
    crypto_auth_hmacsha256_init(st, zero, sizeof(zero));
}

/* LabeledExtract(salt, label, ikm) = HMAC(salt, "HPKE-v1" ‖ suite ‖ label ‖ ikm),
 * with the salt already absorbed into `keyed`. */
static void labeled_extract(uint8_t out[static 32], const hmac_state *keyed,
                            const uint8_t *suite, size_t suite_len, const char *label,
                            const uint8_t *ikm, size_t ikm_len)
{
    hmac_state st = *keyed;
    hmac_update_label(&st, suite, suite_len, label);
    hmac_update(&st, ikm, ikm_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* LabeledExpand(prk, label, info, L) = HKDF-Expand(prk, I2OSP(L, 2) ‖
 * "HPKE-v1" ‖ suite ‖ label ‖ info, L), with prk already absorbed into
 * `keyed`. The caller guarantees L <= 255 * Nh. */
static void labeled_expand(uint8_t *out, size_t out_len, const hmac_state *keyed,
                           const uint8_t *suite, size_t suite_len, const char *label,
                           const uint8_t *info, size_t info_len)
{
    const uint8_t len_be[2] = {(uint8_t)(out_len >> 8), (uint8_t)out_len};
    uint8_t block[crypto_auth_hmacsha256_BYTES];
    hmac_state st;
    size_t done = 0;
    for (unsigned counter = 1; done < out_len; counter++) {
        const uint8_t c = (uint8_t)counter;
        st = *keyed;
        if (counter > 1)
            hmac_update(&st, block, sizeof(block));
        hmac_update(&st, len_be, sizeof(len_be));
        hmac_update_label(&st, suite, suite_len, label);
        hmac_update(&st, info, info_len);
        hmac_update(&st, &c, 1);
        crypto_auth_hmacsha256_final(&st, block);
        size_t take = out_len - done < sizeof(block) ? out_len - done : sizeof(block);
        memcpy(out + done, block, take);
        done += take;
    }
    sodium_memzero(block, sizeof(block));
    sodium_memzero(&st, sizeof(st));
}

/* Public constants of the suite, computed on first use. */
static struct {
    hmac_state zero_keyed;
    uint8_t empty_psk_id_hash[KW_HPKE_SECRETBYTES];
    uint8_t empty_info_hash[KW_HPKE_SECRETBYTES];
} consts;
static pthread_once_t consts_once = PTHREAD_ONCE_INIT;

static void consts_init(void)
{
    hmac_zero_key(&consts.zero_keyed);
    labeled_extract(consts.empty_psk_id_hash, &consts.zero_keyed, suite_hpke, sizeof(suite_hpke),
                    "psk_id_hash", NULL, 0);
    labeled_extract(consts.empty_info_hash, &consts.zero_keyed, suite_hpke, sizeof(suite_hpke),
                    "info_hash", NULL, 0);
}

static const hmac_state *zero_keyed_state(void)
{
    (void)pthread_once(&consts_once, consts_init);
    return &consts.zero_keyed;
}

/* X25519 that refuses an all-zero output (a low-order public key). */
static int dh_x25519(uint8_t out[static 32], const uint8_t sk[static 32],
                     const uint8_t pk[static 32])
{
    if (crypto_scalarmult_curve25519(out, sk, pk) != 0 || sodium_is_zero(out, 32)) {
        sodium_memzero(out, 32);
        return KW_ERR_CRYPTO;
    }
    return KW_OK;
}

static int pk_from_sk(uint8_t pk[static 32], const uint8_t sk[static 32])
{
    if (crypto_scalarmult_curve25519_base(pk, sk) != 0) {
        sodium_memzero(pk, 32);
        return KW_ERR_CRYPTO;
    }
    return KW_OK;
}

static bool mode_has_psk(kw_hpke_mode m)
{
    return m == KW_HPKE_MODE_PSK || m == KW_HPKE_MODE_AUTH_PSK;
}

static bool mode_has_auth(kw_hpke_mode m)
{
    return m == KW_HPKE_MODE_AUTH || m == KW_HPKE_MODE_AUTH_PSK;
}

/* VerifyPSKInputs plus our own argument checks, for one side. */
static int check_params(const kw_hpke_params *p, int role)
{
    if (p == NULL)
        return KW_ERR_INVALID_ARG;
    switch (p->mode) {
    case KW_HPKE_MODE_BASE:
    case KW_HPKE_MODE_PSK:
    case KW_HPKE_MODE_AUTH:
    case KW_HPKE_MODE_AUTH_PSK:
        break;
    default:
        return KW_ERR_INVALID_ARG;
    }
    if ((p->info == NULL && p->info_len != 0) || (p->psk == NULL && p->psk_len != 0) ||
        (p->psk_id == NULL && p->psk_id_len != 0))
        return KW_ERR_INVALID_ARG;
    if (p->info_len > KW_HPKE_INPUT_MAXBYTES || p->psk_len > KW_HPKE_INPUT_MAXBYTES ||
        p->psk_id_len > KW_HPKE_INPUT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    bool got_psk = p->psk_len != 0, got_psk_id = p->psk_id_len != 0;
    if (got_psk != got_psk_id || got_psk != mode_has_psk(p->mode))
        return KW_ERR_INVALID_ARG;
    if (got_psk && p->psk_len < KW_HPKE_PSK_MINBYTES)
        return KW_ERR_INVALID_ARG;
    bool auth = mode_has_auth(p->mode);
    if (role == HPKE_ROLE_SENDER) {
        if (auth != (p->sk_s != NULL) || (!auth && p->pk_s != NULL))
            return KW_ERR_INVALID_ARG;
    } else {
        if (p->sk_s != NULL || auth != (p->pk_s != NULL))
            return KW_ERR_INVALID_ARG;
    }
    return KW_OK;
}

/* ExtractAndExpand(dh, kem_context) of DHKEM. */
static void extract_and_expand(uint8_t shared_secret[static KW_HPKE_SECRETBYTES],
                               const hmac_state *zero_keyed, const uint8_t *dh, size_t dh_len,
                               const uint8_t *kem_context, size_t kem_context_len)
{
    uint8_t eae_prk[KW_HPKE_SECRETBYTES];
    hmac_state st;
    labeled_extract(eae_prk, zero_keyed, suite_kem, sizeof(suite_kem), "eae_prk", dh, dh_len);
    crypto_auth_hmacsha256_init(&st, eae_prk, sizeof(eae_prk));
    labeled_expand(shared_secret, KW_HPKE_SECRETBYTES, &st, suite_kem, sizeof(suite_kem),
                   "shared_secret", kem_context, kem_context_len);
    sodium_memzero(eae_prk, sizeof(eae_prk));
    sodium_memzero(&st, sizeof(st));
}

/* KeySchedule(mode, shared_secret, info, psk, psk_id) into ctx; the
 * exporter secret only when `exporter` (else it stays zero). */
static void key_schedule(struct kw_hpke_ctx *ctx, int role, const kw_hpke_params *p,
                         const uint8_t shared_secret[static KW_HPKE_SECRETBYTES],
                         const hmac_state *zero_keyed, bool exporter, hpke_trace *trace)
{
    uint8_t ksc[HPKE_KSC_BYTES];
    uint8_t secret[KW_HPKE_SECRETBYTES];
    hmac_state st;

    ksc[0] = (uint8_t)p->mode;
    if (p->psk_id_len == 0)
        memcpy(ksc + 1, consts.empty_psk_id_hash, KW_HPKE_SECRETBYTES);
    else
        labeled_extract(ksc + 1, zero_keyed, suite_hpke, sizeof(suite_hpke), "psk_id_hash",
                        p->psk_id, p->psk_id_len);
    if (p->info_len == 0)
        memcpy(ksc + 1 + KW_HPKE_SECRETBYTES, consts.empty_info_hash, KW_HPKE_SECRETBYTES);
    else
        labeled_extract(ksc + 1 + KW_HPKE_SECRETBYTES, zero_keyed, suite_hpke,
                        sizeof(suite_hpke), "info_hash", p->info, p->info_len);
    crypto_auth_hmacsha256_init(&st, shared_secret, KW_HPKE_SECRETBYTES);
    labeled_extract(secret, &st, suite_hpke, sizeof(suite_hpke), "secret", p->psk, p->psk_len);
    crypto_auth_hmacsha256_init(&st, secret, sizeof(secret));
    labeled_expand(ctx->key, sizeof(ctx->key), &st, suite_hpke, sizeof(suite_hpke), "key", ksc,
                   sizeof(ksc));
    labeled_expand(ctx->base_nonce, sizeof(ctx->base_nonce), &st, suite_hpke, sizeof(suite_hpke),
                   "base_nonce", ksc, sizeof(ksc));
    if (exporter)
        labeled_expand(ctx->exporter_secret, sizeof(ctx->exporter_secret), &st, suite_hpke,
                       sizeof(suite_hpke), "exp", ksc, sizeof(ksc));
    ctx->seq = 0;
    ctx->role = role;
    if (trace != NULL) {
        memcpy(trace->shared_secret, shared_secret, KW_HPKE_SECRETBYTES);
        memcpy(trace->key_schedule_context, ksc, sizeof(ksc));
        memcpy(trace->secret, secret, sizeof(secret));
    }
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(ksc, sizeof(ksc));
    sodium_memzero(&st, sizeof(st));
}

static int setup_sender(struct kw_hpke_ctx *ctx, uint8_t enc[static KW_HPKE_ENCBYTES],
                        const uint8_t pkR[static KW_HPKE_PUBLICKEYBYTES],
                        const kw_hpke_params *p, const uint8_t skE[static KW_HPKE_SECRETKEYBYTES],
                        const uint8_t pkE[static KW_HPKE_PUBLICKEYBYTES], bool exporter,
                        hpke_trace *trace)
{
    int r = KW_ERR_INTERNAL;
    uint8_t dh[2 * 32];
    uint8_t kem_context[3 * 32];
    uint8_t shared[KW_HPKE_SECRETBYTES];
    uint8_t pkS[KW_HPKE_PUBLICKEYBYTES];
    const hmac_state *zero_keyed = zero_keyed_state();
    size_t dh_len = 32, kem_context_len = 64;

    sodium_memzero(ctx, sizeof(*ctx));
    if ((r = check_params(p, HPKE_ROLE_SENDER)) != KW_OK)
        goto out;
    /* Encap / AuthEncap */
    if ((r = dh_x25519(dh, skE, pkR)) != KW_OK)
        goto out;
    memcpy(kem_context, pkE, 32);
    memcpy(kem_context + 32, pkR, 32);
    if (mode_has_auth(p->mode)) {
        if ((r = dh_x25519(dh + 32, p->sk_s, pkR)) != KW_OK)
            goto out;
        if (p->pk_s != NULL)
            memcpy(pkS, p->pk_s, sizeof(pkS));
        else if ((r = pk_from_sk(pkS, p->sk_s)) != KW_OK)
            goto out;
        memcpy(kem_context + 64, pkS, 32);
        dh_len = 64;
        kem_context_len = 96;
    }
    extract_and_expand(shared, zero_keyed, dh, dh_len, kem_context, kem_context_len);
    key_schedule(ctx, HPKE_ROLE_SENDER, p, shared, zero_keyed, exporter, trace);
    memcpy(enc, pkE, KW_HPKE_ENCBYTES);
    r = KW_OK;
out:
    sodium_memzero(dh, sizeof(dh));
    sodium_memzero(shared, sizeof(shared));
    if (r != KW_OK) {
        sodium_memzero(ctx, sizeof(*ctx));
        if (trace != NULL)
            sodium_memzero(trace, sizeof(*trace));
    }
    return r;
}

static int setup_receiver(struct kw_hpke_ctx *ctx, const uint8_t enc[static KW_HPKE_ENCBYTES],
                          const uint8_t skR[static KW_HPKE_SECRETKEYBYTES], const uint8_t *pkR,
                          const kw_hpke_params *p, bool exporter, hpke_trace *trace)
{
    int r = KW_ERR_INTERNAL;
    uint8_t dh[2 * 32];
    uint8_t kem_context[3 * 32];
    uint8_t shared[KW_HPKE_SECRETBYTES];
    const hmac_state *zero_keyed = zero_keyed_state();
    size_t dh_len = 32, kem_context_len = 64;

    sodium_memzero(ctx, sizeof(*ctx));
    if ((r = check_params(p, HPKE_ROLE_RECEIVER)) != KW_OK)
        goto out;
    /* Decap / AuthDecap */
    if ((r = dh_x25519(dh, skR, enc)) != KW_OK)
        goto out;
    memcpy(kem_context, enc, 32);
    if (pkR != NULL)
        memcpy(kem_context + 32, pkR, 32);
    else if ((r = pk_from_sk(kem_context + 32, skR)) != KW_OK)
        goto out;
    if (mode_has_auth(p->mode)) {
        if ((r = dh_x25519(dh + 32, skR, p->pk_s)) != KW_OK)
            goto out;
        memcpy(kem_context + 64, p->pk_s, 32);
        dh_len = 64;
        kem_context_len = 96;
    }
    extract_and_expand(shared, zero_keyed, dh, dh_len, kem_context, kem_context_len);
    key_schedule(ctx, HPKE_ROLE_RECEIVER, p, shared, zero_keyed, exporter, trace);
    r = KW_OK;
out:
    sodium_memzero(dh, sizeof(dh));
    sodium_memzero(shared, sizeof(shared));
    if (r != KW_OK) {
        sodium_memzero(ctx, sizeof(*ctx));
        if (trace != NULL)
            sodium_memzero(trace, sizeof(*trace));
    }
    return r;
}

int hpke_setup_sender_derand(struct kw_hpke_ctx *ctx, uint8_t enc[static KW_HPKE_ENCBYTES],
                             const uint8_t pkR[static KW_HPKE_PUBLICKEYBYTES],
                             const kw_hpke_params *p,
                             const uint8_t skE[static KW_HPKE_SECRETKEYBYTES],
                             const uint8_t pkE[static KW_HPKE_PUBLICKEYBYTES], hpke_trace *trace)
{
    return setup_sender(ctx, enc, pkR, p, skE, pkE, true, trace);
}

int hpke_setup_receiver_into(struct kw_hpke_ctx *ctx, const uint8_t enc[static KW_HPKE_ENCBYTES],
                             const uint8_t skR[static KW_HPKE_SECRETKEYBYTES],
                             const uint8_t *pkR, const kw_hpke_params *p, hpke_trace *trace)
{
    return setup_receiver(ctx, enc, skR, pkR, p, true, trace);
}

void hpke_ctx_nonce(const struct kw_hpke_ctx *ctx, uint8_t nonce[static KW_HPKE_NONCEBYTES])
{
    memcpy(nonce, ctx->base_nonce, KW_HPKE_NONCEBYTES);
    /* I2OSP(seq, Nn): the sequence number fills the last 8 bytes. */
    for (size_t i = 0; i < 8; i++)
        nonce[KW_HPKE_NONCEBYTES - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
}

void hpke_ctx_set_seq(struct kw_hpke_ctx *ctx, uint64_t seq)
{
    ctx->seq = seq;
}

int kw_hpke_keypair(uint8_t pk[static KW_HPKE_PUBLICKEYBYTES],
                    uint8_t sk[static KW_HPKE_SECRETKEYBYTES])
{
    randombytes_buf(sk, KW_HPKE_SECRETKEYBYTES);
    int r = pk_from_sk(pk, sk);
    if (r != KW_OK)
        sodium_memzero(sk, KW_HPKE_SECRETKEYBYTES);
    return r;
}

int kw_hpke_derive_keypair(uint8_t pk[static KW_HPKE_PUBLICKEYBYTES],
                           uint8_t sk[static KW_HPKE_SECRETKEYBYTES], const uint8_t *ikm,
                           size_t ikm_len)
{
    int r = KW_ERR_INTERNAL;
    uint8_t dkp_prk[KW_HPKE_SECRETBYTES];
    hmac_state st;

    sodium_memzero(pk, KW_HPKE_PUBLICKEYBYTES);
    sodium_memzero(sk, KW_HPKE_SECRETKEYBYTES);
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(dkp_prk, sizeof(dkp_prk));
    if (ikm == NULL) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if (ikm_len > KW_HPKE_INPUT_MAXBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if (ikm_len < KW_HPKE_IKM_MINBYTES) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    labeled_extract(dkp_prk, zero_keyed_state(), suite_kem, sizeof(suite_kem), "dkp_prk", ikm,
                    ikm_len);
    crypto_auth_hmacsha256_init(&st, dkp_prk, sizeof(dkp_prk));
    labeled_expand(sk, KW_HPKE_SECRETKEYBYTES, &st, suite_kem, sizeof(suite_kem), "sk", NULL, 0);
    r = pk_from_sk(pk, sk);
out:
    sodium_memzero(dkp_prk, sizeof(dkp_prk));
    sodium_memzero(&st, sizeof(st));
    if (r != KW_OK)
        sodium_memzero(sk, KW_HPKE_SECRETKEYBYTES);
    return r;
}

static struct kw_hpke_ctx *ctx_alloc(void)
{
    struct kw_hpke_ctx *ctx = sodium_malloc(sizeof(*ctx));
    if (ctx != NULL)
        sodium_memzero(ctx, sizeof(*ctx));
    return ctx;
}

void kw_hpke_ctx_free(kw_hpke_ctx **ctx)
{
    if (ctx == NULL || *ctx == NULL)
        return;
    sodium_memzero(*ctx, sizeof(**ctx));
    sodium_free(*ctx);
    *ctx = NULL;
}

int kw_hpke_sender_setup(kw_hpke_ctx **ctx, uint8_t enc[static KW_HPKE_ENCBYTES],
                         const uint8_t pkR[static KW_HPKE_PUBLICKEYBYTES],
                         const kw_hpke_params *p)
{
    int r = KW_ERR_INTERNAL;
    uint8_t skE[KW_HPKE_SECRETKEYBYTES], pkE[KW_HPKE_PUBLICKEYBYTES];
    struct kw_hpke_ctx *c = NULL;

    if (ctx == NULL)
        return KW_ERR_INVALID_ARG;
    *ctx = NULL;
    sodium_memzero(skE, sizeof(skE));
    if ((r = check_params(p, HPKE_ROLE_SENDER)) != KW_OK)
        goto out;
    if ((c = ctx_alloc()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kw_hpke_keypair(pkE, skE)) != KW_OK)
        goto out;
    if ((r = hpke_setup_sender_derand(c, enc, pkR, p, skE, pkE, NULL)) != KW_OK)
        goto out;
    *ctx = c; /* transferred */
    c = NULL;
out:
    sodium_memzero(skE, sizeof(skE));
    kw_hpke_ctx_free(&c);
    return r;
}

int kw_hpke_receiver_setup(kw_hpke_ctx **ctx, const uint8_t enc[static KW_HPKE_ENCBYTES],
                           const uint8_t skR[static KW_HPKE_SECRETKEYBYTES],
                           const uint8_t *pkR, const kw_hpke_params *p)
{
    int r = KW_ERR_INTERNAL;
    struct kw_hpke_ctx *c = NULL;

    if (ctx == NULL)
        return KW_ERR_INVALID_ARG;
    *ctx = NULL;
    if ((r = check_params(p, HPKE_ROLE_RECEIVER)) != KW_OK)
        goto out;
    if ((c = ctx_alloc()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = hpke_setup_receiver_into(c, enc, skR, pkR, p, NULL)) != KW_OK)
        goto out;
    *ctx = c; /* transferred */
    c = NULL;
out:
    kw_hpke_ctx_free(&c);
    return r;
}

uint64_t kw_hpke_ctx_seq(const kw_hpke_ctx *ctx)
{
    return ctx->seq;
}

int kw_hpke_ctx_seal(kw_hpke_ctx *ctx, uint8_t *ct, size_t ct_cap, size_t *ct_len,
                     const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len)
{
    uint8_t nonce[KW_HPKE_NONCEBYTES];
    unsigned long long clen = 0;

    if (ct_len == NULL)
        return KW_ERR_INVALID_ARG;
    *ct_len = 0;
    if (ctx == NULL || ct == NULL || (aad == NULL && aad_len != 0) ||
        (pt == NULL && pt_len != 0) || ctx->role != HPKE_ROLE_SENDER)
        return KW_ERR_INVALID_ARG;
    if (pt_len > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX ||
        pt_len > SIZE_MAX - KW_HPKE_TAGBYTES || ct_cap < pt_len + KW_HPKE_TAGBYTES)
        return KW_ERR_TOO_LARGE;
    /* IncrementSeq refuses the last value, so it is never used as a nonce. */
    if (ctx->seq == UINT64_MAX)
        return KW_ERR_LIMIT;
    hpke_ctx_nonce(ctx, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt(ct, &clen, nonnull(pt), pt_len, nonnull(aad),
                                              aad_len, NULL, nonce, ctx->key);
    ctx->seq++;
    *ct_len = (size_t)clen;
    return KW_OK;
}

int kw_hpke_ctx_open(kw_hpke_ctx *ctx, uint8_t *pt, size_t pt_cap, size_t *pt_len,
                     const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len)
{
    int r = KW_ERR_INTERNAL;
    uint8_t nonce[KW_HPKE_NONCEBYTES];
    unsigned long long mlen = 0;
    size_t want = ct_len >= KW_HPKE_TAGBYTES ? ct_len - KW_HPKE_TAGBYTES : 0;

    if (pt_len == NULL || (pt == NULL && pt_cap != 0))
        return KW_ERR_INVALID_ARG;
    *pt_len = 0;
    if (ctx == NULL || (ct == NULL && ct_len != 0) || (aad == NULL && aad_len != 0) ||
        ctx->role != HPKE_ROLE_RECEIVER) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if (ct_len < KW_HPKE_TAGBYTES) {
        r = KW_ERR_TRUNCATED;
        goto out;
    }
    if (pt_cap < want || want > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if (pt == NULL && want != 0) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if (ctx->seq == UINT64_MAX) {
        r = KW_ERR_LIMIT;
        goto out;
    }
    hpke_ctx_nonce(ctx, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &mlen, NULL, ct, ct_len, nonnull(aad),
                                                  aad_len, nonce, ctx->key) != 0) {
        r = KW_ERR_VERIFY;
        goto out;
    }
    ctx->seq++;
    *pt_len = (size_t)mlen;
    r = KW_OK;
out:
    if (r != KW_OK && pt != NULL)
        sodium_memzero(pt, pt_cap < want ? pt_cap : want);
    return r;
}

int kw_hpke_ctx_export(const kw_hpke_ctx *ctx, uint8_t *out, size_t out_len,
                       const uint8_t *exporter_context, size_t exporter_context_len)
{
    hmac_state st;

    if (ctx == NULL || (out == NULL && out_len != 0) ||
        (exporter_context == NULL && exporter_context_len != 0) ||
        (ctx->role != HPKE_ROLE_SENDER && ctx->role != HPKE_ROLE_RECEIVER))
        return KW_ERR_INVALID_ARG;
    if (out_len > KW_HPKE_EXPORT_MAXBYTES || exporter_context_len > KW_HPKE_INPUT_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    crypto_auth_hmacsha256_init(&st, ctx->exporter_secret, sizeof(ctx->exporter_secret));
    labeled_expand(out, out_len, &st, suite_hpke, sizeof(suite_hpke), "sec", exporter_context,
                   exporter_context_len);
    sodium_memzero(&st, sizeof(st));
    return KW_OK;
}

int kw_hpke_seal(uint8_t *out, size_t out_cap, size_t *out_len,
                 const uint8_t pkR[static KW_HPKE_PUBLICKEYBYTES], const kw_hpke_params *p,
                 const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len)
{
    int r = KW_ERR_INTERNAL;
    struct kw_hpke_ctx ctx;
    uint8_t skE[KW_HPKE_SECRETKEYBYTES], pkE[KW_HPKE_PUBLICKEYBYTES];
    size_t clen = 0;

    sodium_memzero(&ctx, sizeof(ctx));
    sodium_memzero(skE, sizeof(skE));
    if (out_len == NULL)
        return KW_ERR_INVALID_ARG;
    *out_len = 0;
    if (out == NULL || (pt == NULL && pt_len != 0) || (aad == NULL && aad_len != 0)) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if (pt_len > SIZE_MAX - KW_HPKE_SEALBYTES || out_cap < pt_len + KW_HPKE_SEALBYTES) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if ((r = check_params(p, HPKE_ROLE_SENDER)) != KW_OK)
        goto out;
    if ((r = kw_hpke_keypair(pkE, skE)) != KW_OK)
        goto out;
    if ((r = setup_sender(&ctx, out, pkR, p, skE, pkE, false, NULL)) != KW_OK)
        goto out;
    if ((r = kw_hpke_ctx_seal(&ctx, out + KW_HPKE_ENCBYTES, out_cap - KW_HPKE_ENCBYTES, &clen,
                              aad, aad_len, pt, pt_len)) != KW_OK)
        goto out;
    *out_len = KW_HPKE_ENCBYTES + clen;
    r = KW_OK;
out:
    sodium_memzero(&ctx, sizeof(ctx));
    sodium_memzero(skE, sizeof(skE));
    return r;
}

int kw_hpke_open(uint8_t *pt, size_t pt_cap, size_t *pt_len,
                 const uint8_t skR[static KW_HPKE_SECRETKEYBYTES], const uint8_t *pkR,
                 const kw_hpke_params *p, const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t in_len)
{
    int r = KW_ERR_INTERNAL;
    struct kw_hpke_ctx ctx;
    size_t want = in_len >= KW_HPKE_SEALBYTES ? in_len - KW_HPKE_SEALBYTES : 0;

    sodium_memzero(&ctx, sizeof(ctx));
    if (pt_len == NULL || (pt == NULL && pt_cap != 0))
        return KW_ERR_INVALID_ARG;
    *pt_len = 0;
    if ((in == NULL && in_len != 0) || (aad == NULL && aad_len != 0)) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if (in_len < KW_HPKE_SEALBYTES) {
        r = KW_ERR_TRUNCATED;
        goto out;
    }
    if (pt_cap < want) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    if ((r = setup_receiver(&ctx, in, skR, pkR, p, false, NULL)) != KW_OK)
        goto out;
    r = kw_hpke_ctx_open(&ctx, pt, pt_cap, pt_len, aad, aad_len, in + KW_HPKE_ENCBYTES,
                         in_len - KW_HPKE_ENCBYTES);
out:
    sodium_memzero(&ctx, sizeof(ctx));
    if (r != KW_OK && pt != NULL)
        sodium_memzero(pt, pt_cap < want ? pt_cap : want);
    return r;
}
