/* Contact Key Verification: contact lookups with full verification
 * (issue 6 target: >= 1,000 lookups/s), each figure against a baseline
 * measured in the same run.
 *
 * A directory of N = 10,000 accounts, each with a roster of 3 devices
 * signed by its own account key, published with VRF proofs precomputed (as
 * keywardd does). One contact lookup =
 *   the directory answers the search for the contact's label (server side,
 *   in process: no HTTP), and the client verifies it in full: the tree head
 *   (signature, pinned head), the VRF proofs of versions v and v+1, the
 *   membership and absence proofs, the value's commitment opening
 *   (kw_kt_search_verify), then the contact's pin (kw_ckv_pin_check:
 *   strict roster decoding, the pinned account key, the account-key
 *   signature over the roster, version/hash against the pin, CKV switch).
 * Figures (one core; the machine is shared, so the full lookup is also
 * given per CPU-second of the benchmark thread, which other load does not
 * lower):
 *   - full lookup (server answer + client verification) per second, with
 *     the absolute target >= 1,000/s;
 *   - client verification only, against the bare proof verification
 *     (kw_kt_search_verify alone) — the ratio is what CKV's pin check adds
 *     for a contact whose roster did not change (the common case: the
 *     bytes equal the pinned, already verified ones);
 *   - the same when the roster changed (decoded strictly, every key
 *     validated, the account-key signature verified again);
 *   - client verification on two threads (two contacts' lookups at once).
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "keyward/client_ckv.h"
#include "keyward/keyward.h"
#include "keyward/kt.h"
#include "keyward/roster.h"

#define NACCOUNTS 10000
#define NSAMPLE 256

typedef struct {
    kw_kt_dir *d;
    kw_kt_trust trust;
    kw_kt_head head;
    char names[NSAMPLE][16];
    kw_buf *resp[NSAMPLE]; /* precomputed answers (client-only figures) */
    kw_ckv_pin pins[NSAMPLE];
    kw_roster *ros;
    kw_buf *scratch;
    size_t next;
} ckv_ctx;

static void die(const char *what, int r)
{
    fprintf(stderr, "bench_ckv: %s failed (%d)\n", what, r);
    exit(1);
}

static void account_name(char out[16], size_t i)
{
    snprintf(out, 16, "user%05zu", i);
}

/* Queues account i's roster (3 devices, CKV on) and remembers its key in
 * pk (may be NULL). */
static void queue_account(kw_kt_dir *d, size_t i, uint8_t pk[32], kw_roster *r, uint8_t *enc)
{
    char name[16];
    kw_sign_key *ak = NULL;
    uint8_t apk[32], promise[KW_KT_PROMISE_MAXBYTES];
    size_t len = 0, plen = 0;
    int e;
    account_name(name, i);
    if ((e = kw_sign_key_new(&ak)) != KW_OK)
        die("kw_sign_key_new", e);
    kw_sign_key_public(ak, apk);
    if ((e = kw_roster_init(r, 1, name, apk, KW_ROSTER_FLAG_CKV)) != KW_OK)
        die("kw_roster_init", e);
    for (int k = 0; k < 3; k++) {
        uint8_t id[16], ipk[32], hpk[32];
        kw_sign_key *dk = NULL;
        randombytes_buf(id, sizeof(id));
        randombytes_buf(hpk, sizeof(hpk));
        if (kw_sign_key_new(&dk) != KW_OK)
            die("device key", -1);
        kw_sign_key_public(dk, ipk);
        kw_sign_key_free(&dk);
        if ((e = kw_roster_add(r, id, ipk, hpk, "device")) != KW_OK)
            die("kw_roster_add", e);
    }
    if ((e = kw_roster_encode(enc, KW_ROSTER_MAXBYTES, &len, r, ak)) != KW_OK)
        die("kw_roster_encode", e);
    kw_sign_key_free(&ak);
    if ((e = kw_kt_dir_update(d, (const uint8_t *)name, strlen(name), enc, len, promise,
                              sizeof(promise), &plen)) != KW_OK)
        die("kw_kt_dir_update", e);
    if (pk != NULL)
        memcpy(pk, apk, 32);
}

/* pin: 0 none (bare), 1 the lookup of a pinned contact whose roster did
 * not change (the common case), 2 a roster that changed since the pin
 * (decoded and its signature verified again). */
static void verify_one(ckv_ctx *c, size_t i, const uint8_t *resp, size_t len, int pin)
{
    kw_kt_result res;
    kw_kt_reason why;
    const char *name = c->names[i];
    int r = kw_kt_search_verify(&res, &why, &c->trust, (const uint8_t *)name, strlen(name), resp, len);
    if (r != KW_OK || res.version != 1)
        die("kw_kt_search_verify", r);
    if (pin) {
        bool off = false;
        if (pin == 2)
            c->pins[i].roster_version = 0; /* as if the roster were new */
        kw_ckv_verdict v = kw_ckv_pin_check(&c->pins[i], pin == 2 ? c->ros : NULL, res.value,
                                            res.value_len, &off);
        if (v != KW_CKV_OK || off)
            die("kw_ckv_pin_check", (int)v);
    }
}

static void op_full(void *arg)
{
    ckv_ctx *c = arg;
    size_t i = c->next++ % NSAMPLE;
    const char *name = c->names[i];
    kw_buf_reset(c->scratch);
    int r = kw_kt_dir_search(c->d, (const uint8_t *)name, strlen(name), c->head.log_size, c->scratch);
    if (r != KW_OK)
        die("kw_kt_dir_search", r);
    verify_one(c, i, kw_buf_ptr(c->scratch), kw_buf_len(c->scratch), 1);
}

static void op_client(void *arg)
{
    ckv_ctx *c = arg;
    size_t i = c->next++ % NSAMPLE;
    verify_one(c, i, kw_buf_ptr(c->resp[i]), kw_buf_len(c->resp[i]), 1);
}

static void op_changed(void *arg)
{
    ckv_ctx *c = arg;
    size_t i = c->next++ % NSAMPLE;
    verify_one(c, i, kw_buf_ptr(c->resp[i]), kw_buf_len(c->resp[i]), 2);
}

static void op_bare(void *arg)
{
    ckv_ctx *c = arg;
    size_t i = c->next++ % NSAMPLE;
    verify_one(c, i, kw_buf_ptr(c->resp[i]), kw_buf_len(c->resp[i]), 0);
}

/* Operations per second of this thread's CPU time (the machine is shared:
 * wall-clock rates drop with other load, CPU-time rates do not). */
static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_rate(void (*op)(void *), void *ctx, double seconds)
{
    double w0 = bench_now(), c0 = thread_cpu();
    unsigned long n = 0;
    while (bench_now() - w0 < seconds) {
        for (int i = 0; i < 16; i++)
            op(ctx);
        n += 16;
    }
    double cpu = thread_cpu() - c0;
    return cpu > 0 ? (double)n / cpu : 0;
}

typedef struct {
    ckv_ctx *c;
    size_t from;
    double seconds;
    double rate;
    kw_roster *ros;
    kw_ckv_pin pins[NSAMPLE];
} thread_job;

static void op_thread(void *arg)
{
    thread_job *j = arg;
    size_t i = j->from++ % NSAMPLE;
    kw_kt_result res;
    kw_kt_reason why;
    bool off;
    const char *name = j->c->names[i];
    if (kw_kt_search_verify(&res, &why, &j->c->trust, (const uint8_t *)name, strlen(name),
                            kw_buf_ptr(j->c->resp[i]), kw_buf_len(j->c->resp[i])) != KW_OK ||
        kw_ckv_pin_check(&j->pins[i], NULL, res.value, res.value_len, &off) != KW_CKV_OK)
        die("thread verify", -1);
}

static void *thread_run(void *arg)
{
    thread_job *j = arg;
    j->rate = bench_rate(op_thread, j, j->seconds);
    return NULL;
}

static void bench_ckv(void)
{
    uint8_t vrf_pk[KW_VRF_PUBLICKEYBYTES], vrf_sk[KW_VRF_SECRETKEYBYTES], log_pk[32];
    kw_sign_key *log_key = NULL;
    ckv_ctx *c = calloc(1, sizeof(*c));
    kw_roster *r = malloc(sizeof(*r));
    uint8_t *enc = malloc(KW_ROSTER_MAXBYTES);
    int e;
    if (c == NULL || r == NULL || enc == NULL || (c->ros = malloc(sizeof(*c->ros))) == NULL)
        die("malloc", -1);
    kw_vrf_keypair(vrf_pk, vrf_sk);
    if ((e = kw_sign_key_new(&log_key)) != KW_OK)
        die("kw_sign_key_new", e);
    kw_sign_key_public(log_key, log_pk);
    kw_kt_dir_config cfg = {.vrf_sk = vrf_sk, .log_key = log_key, .max_merge_delay = 2};
    if ((e = kw_kt_dir_new(&c->d, &cfg)) != KW_OK)
        die("kw_kt_dir_new", e);
    printf("directory of %d accounts (3-device rosters, CKV on), proofs precomputed...\n",
           NACCOUNTS);
    fflush(stdout);
    for (size_t i = 0; i < NACCOUNTS; i++) {
        uint8_t pk[32];
        queue_account(c->d, i, pk, r, enc);
        if (i % (NACCOUNTS / NSAMPLE) == 0 && i / (NACCOUNTS / NSAMPLE) < NSAMPLE) {
            size_t s = i / (NACCOUNTS / NSAMPLE);
            account_name(c->names[s], i);
            memcpy(c->pins[s].account_pk, pk, 32);
            c->pins[s].ckv = true;
        }
    }
    if ((e = kw_kt_dir_publish(c->d, 1000, &c->head)) != KW_OK)
        die("kw_kt_dir_publish", e);
    c->trust = (kw_kt_trust){.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = &c->head};
    if ((c->scratch = kw_buf_new(KW_KT_RESPONSE_MAXBYTES)) == NULL)
        die("kw_buf_new", -1);
    for (size_t s = 0; s < NSAMPLE; s++) {
        if ((c->resp[s] = kw_buf_new(KW_KT_RESPONSE_MAXBYTES)) == NULL)
            die("kw_buf_new", -1);
        if ((e = kw_kt_dir_search(c->d, (const uint8_t *)c->names[s], strlen(c->names[s]),
                                  c->head.log_size, c->resp[s])) != KW_OK)
            die("kw_kt_dir_search", e);
    }
    /* the first lookup of each contact pins it (as contact add does) */
    for (size_t s = 0; s < NSAMPLE; s++)
        verify_one(c, s, kw_buf_ptr(c->resp[s]), kw_buf_len(c->resp[s]), 2);

    double bare = bench_rate(op_bare, c, 1.5);
    double client = bench_rate(op_client, c, 1.5);
    double full = bench_rate(op_full, c, 1.5);
    double changed = bench_rate(op_changed, c, 1.5);
    double bare2 = bench_rate(op_bare, c, 1.5);
    bare = (bare + bare2) / 2;
    bench_report("ckv: client verification (proof+pin)", client, "lookup/s",
                 "bare search-proof verification", bare, 0);
    bench_report("ckv: full contact lookup, 1 core (wall)", full, "lookup/s", "absolute target",
                 1000.0, 0);
    bench_report("ckv: client verif., roster changed", changed, "lookup/s",
                 "bare search-proof verification", bare, 0);
    double bare_cpu = cpu_rate(op_bare, c, 1.5), full_cpu = cpu_rate(op_full, c, 1.5);
    bench_report("ckv: full lookup per CPU-second", full_cpu, "lookup/s", "bare verif. per CPU-second",
                 bare_cpu, 0.8);
    bench_report("ckv: full lookup per CPU-second", full_cpu, "lookup/s", "absolute target", 1000.0,
                 1.0);

    thread_job j[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        j[t].c = c;
        j[t].from = (size_t)t * 7;
        j[t].seconds = 1.5;
        memcpy(j[t].pins, c->pins, sizeof(c->pins));
        if ((j[t].ros = malloc(sizeof(kw_roster))) == NULL ||
            pthread_create(&th[t], NULL, thread_run, &j[t]) != 0)
            die("pthread_create", -1);
    }
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    bench_report("ckv: client verification, 2 threads", j[0].rate + j[1].rate, "lookup/s",
                 "client verification, 1 core", client, 0);
    for (int t = 0; t < 2; t++)
        free(j[t].ros);

    for (size_t s = 0; s < NSAMPLE; s++)
        kw_buf_free(&c->resp[s]);
    kw_buf_free(&c->scratch);
    kw_kt_dir_free(&c->d);
    kw_sign_key_free(&log_key);
    sodium_memzero(vrf_sk, sizeof(vrf_sk));
    free(c->ros);
    free(c);
    free(r);
    free(enc);
}

BENCH_REGISTER("ckv", bench_ckv)
