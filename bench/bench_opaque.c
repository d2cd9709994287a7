/* OPAQUE server login work: GenerateKE2 + ServerFinish per login, one
 * core, without the client's Argon2id (the server never runs the KSF).
 * KE1/KE3 pairs are made fresh in setup by real clients; each measured
 * login replays one pair with the same server randomness, so ServerFinish
 * verifies and succeeds. Baseline: one bare crypto_scalarmult_ristretto255
 * (the server does 1 OPRF + 3 DH variable-base multiplications and one
 * fixed-base one per login). Target: >= 2,000 logins/s absolute. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "keyward/opaque.h"

#define POOL 32
#define TARGET_PER_SEC 2000.0

static const uint8_t pw[] = "bench password";
static const uint8_t cred[] = "bench-user";

typedef struct {
    kw_opaque_server *s;
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES];
    uint8_t ke1[POOL][KW_OPAQUE_KE1BYTES];
    uint8_t ke3[POOL][KW_OPAQUE_KE3BYTES];
    kw_opaque_ke2_randomness rnd[POOL];
    size_t next;
    unsigned long failures;
} login_bench;

static int setup(login_bench *b, int group)
{
    kw_opaque_config cfg = {.group = group, .ksf = KW_OPAQUE_KSF_IDENTITY,
                            .context = (const uint8_t *)"bench", .context_len = 5};
    kw_opaque_client *c = NULL;
    kw_opaque_server_login *lg = NULL;
    uint8_t sk[32], pk[32], seed[64], req[32], resp[64], ex[64], ke2[KW_OPAQUE_KE2BYTES], sess[64];
    int ok = 0;
    memset(b, 0, sizeof(*b));
    randombytes_buf(seed, sizeof(seed));
    if (kw_opaque_keygen(group, sk, pk) != 0 || kw_opaque_server_new(&b->s, &cfg, sk, pk, seed) != 0 ||
        kw_opaque_client_new(&c, &cfg) != 0 ||
        kw_opaque_client_registration_start(c, req, pw, sizeof(pw)) != 0 ||
        kw_opaque_server_registration_response(b->s, resp, req, 32, cred, sizeof(cred)) != 0 ||
        kw_opaque_client_registration_finish(c, b->record, ex, resp, 64, NULL) != 0)
        goto out;
    for (size_t i = 0; i < POOL; i++) {
        randombytes_buf(&b->rnd[i], sizeof(b->rnd[i]));
        if (kw_opaque_client_login_start(c, b->ke1[i], pw, sizeof(pw)) != 0 ||
            kw_opaque_server_ke2_det(b->s, &lg, ke2, b->record, sizeof(b->record), cred,
                                     sizeof(cred), b->ke1[i], KW_OPAQUE_KE1BYTES, NULL,
                                     &b->rnd[i]) != 0 ||
            kw_opaque_client_login_finish(c, b->ke3[i], sess, ex, ke2, sizeof(ke2), NULL) != 0)
            goto out;
        kw_opaque_server_login_free(&lg);
    }
    ok = 1;
out:
    kw_opaque_server_login_free(&lg);
    kw_opaque_client_free(&c);
    sodium_memzero(sk, sizeof(sk));
    return ok;
}

static void login_op(void *ctx)
{
    login_bench *b = ctx;
    kw_opaque_server_login *lg = NULL;
    uint8_t ke2[KW_OPAQUE_KE2BYTES], sess[64];
    size_t i = b->next++ % POOL;
    if (kw_opaque_server_ke2_det(b->s, &lg, ke2, b->record, sizeof(b->record), cred, sizeof(cred),
                                 b->ke1[i], KW_OPAQUE_KE1BYTES, NULL, &b->rnd[i]) != 0 ||
        kw_opaque_server_finish(lg, sess, b->ke3[i], KW_OPAQUE_KE3BYTES) != 0)
        b->failures++;
    kw_opaque_server_login_free(&lg);
}

typedef struct {
    uint8_t n[32], p[32], q[32];
} smul_ctx;

static void smul_op(void *ctx)
{
    smul_ctx *s = ctx;
    if (crypto_scalarmult_ristretto255(s->q, s->n, s->p) != 0)
        abort();
    s->n[0] ^= s->q[0]; /* keep the work data-dependent */
}

static void bench_opaque(void)
{
    static login_bench b;
    smul_ctx sm;
    crypto_core_ristretto255_scalar_random(sm.n);
    crypto_core_ristretto255_random(sm.p);
    sm.n[31] &= 0x0f;
    double base = bench_rate(smul_op, &sm, 1.0);

    static const struct {
        int group;
        const char *label;
    } cases[] = {{KW_OPAQUE_GROUP_RISTRETTO255, "OPAQUE server login work (KE2+finish)"},
                 {KW_OPAQUE_GROUP_CURVE25519, "OPAQUE server login, 3DH X25519"}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        if (!setup(&b, cases[k].group)) {
            printf("%s: setup failed\n", cases[k].label);
            kw_opaque_server_free(&b.s);
            continue;
        }
        double rate = bench_rate(login_op, &b, 2.0);
        bench_report(cases[k].label, rate, "ops/s", "ristretto255 scalarmult", base, 0);
        printf("  target >= %.0f logins/s: %s; failed logins: %lu\n", TARGET_PER_SEC,
               rate >= TARGET_PER_SEC ? "met" : "MISSED", b.failures);
        kw_opaque_server_free(&b.s);
    }
}

BENCH_REGISTER("opaque", bench_opaque)
