/*
 * tests/load/loadgen.c — the load generator of `make loadtest`
 * (scripts/loadtest drives it; built by mk/pg.mk, loopback only).
 *
 *   loadgen SECONDS THREADS URL[,URL…] PROFILE_DIR[,PROFILE_DIR…]
 *
 * THREADS clients loop for SECONDS: a full OPAQUE sign-in of one of the
 * accounts (profiles made by `keyward account create`, loaded with
 * KEYWARD_PASSPHRASE) — login/start on one node and login/finish on the
 * next one round-robin, so with two nodes every sign-in crosses nodes —
 * then LOADGEN_READS (default 20) authenticated reads (GET /v1/devices)
 * with the new session, round-robin over the nodes. (The sign-in's
 * client side runs Argon2id, 64 MiB: on a small machine the clients'
 * KSF bounds the sign-in rate, so the reads carry the request rate.) A request that fails (node down, 5xx) counts as an error
 * and the client moves on to the next node. Every session the server
 * acknowledged (200 from login/finish) is remembered (in memory only) and,
 * after the run, checked on every node: an acknowledged session that no
 * longer authenticates is a lost write.
 *
 * Prints one summary line per run (key=value) for the script to collect:
 *   ops, http requests, throughput, p50/p99 sign-in latency (ms), errors,
 *   acknowledged sessions, lost sessions.
 * Exit 0 when nothing acknowledged was lost, 1 otherwise, 2 on usage.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_internal.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/opaque.h"
#include "keyward/sign.h"

#define LG_MAX_NODES 4
#define LG_MAX_PROFILES 64
#define LG_MAX_THREADS 64
#define LG_LAT_MAX 200000
#define LG_TOKENS_MAX 200000
#define OPAQUE_CONTEXT "keyward-opaque-v1"
#define LOGIN_SIG_CONTEXT "login"

typedef struct {
    char name[80];
    char password[128];
    uint8_t device_id[16];
    uint8_t identity_seed[32];
    char *device_json; /* {"id":…,"name":…,…} */
} lg_account;

static char *nodes[LG_MAX_NODES];
static size_t nnodes;
static lg_account accounts[LG_MAX_PROFILES];
static size_t naccounts;
static double deadline;
static atomic_long ops, http_reqs, errors;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static double *lat, *rlat;
static size_t nlat, nrlat;
static int reads_per_signin = 20;
static char **tokens;
static size_t ntokens;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    char *buf;
    size_t len;
} lg_buf;

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    lg_buf *b = ud;
    size_t add = size * n;
    if (b->len + add > (1 << 20))
        return 0;
    char *nb = realloc(b->buf, b->len + add + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + b->len, p, add);
    b->len += add;
    nb[b->len] = '\0';
    b->buf = nb;
    return add;
}

/* One request on the handle of that node; returns the status (-1: no
 * answer) and the parsed JSON body (caller decrefs). */
static long request(CURL *c, const char *base, const char *method, const char *path, json_t *body,
                    const char *bearer, json_t **out)
{
    char url[512], auth[256];
    lg_buf b = {0};
    long status = -1;
    struct curl_slist *h = NULL;
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    *out = NULL;
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 2L);
    curl_easy_setopt(c, CURLOPT_HTTPGET, text == NULL ? 1L : 0L);
    if (text != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
        h = curl_slist_append(h, "Content-Type: application/json");
    }
    if (bearer != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    atomic_fetch_add(&http_reqs, 1);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    free(text);
    if (b.buf != NULL)
        *out = json_loads(b.buf, 0, NULL);
    free(b.buf);
    return status;
}

/* A full sign-in: start on node i, finish on node i+1; then a read on
 * node i+2. Returns 0 on success (token filled). */
static int sign_in(CURL **c, size_t i, const lg_account *a, char *token, size_t cap)
{
    kw_opaque_config cfg;
    kw_opaque_client *oc = NULL;
    kw_sign_key *ik = NULL;
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES], ke3[KW_OPAQUE_KE3BYTES];
    uint8_t sk[KW_OPAQUE_SESSION_KEYBYTES], ek[KW_OPAQUE_EXPORT_KEYBYTES];
    uint8_t login_id[16], msg[32], sig[KW_SIGN_BYTES];
    json_t *body = NULL, *resp = NULL;
    int rc = -1;
    size_t n1 = i % nnodes, n2 = (i + 1) % nnodes;
    kw_opaque_config_default(&cfg, (const uint8_t *)OPAQUE_CONTEXT, sizeof(OPAQUE_CONTEXT) - 1);
    if (kw_opaque_client_new(&oc, &cfg) != KW_OK ||
        kw_opaque_client_login_start(oc, ke1, (const uint8_t *)a->password, strlen(a->password)) != KW_OK)
        goto out;
    body = json_pack("{s:s}", "name", a->name);
    if (body == NULL || kwc_put_b64(body, "ke1", ke1, sizeof(ke1)) != KW_OK)
        goto out;
    if (request(c[n1], nodes[n1], "POST", "/v1/login/start", body, NULL, &resp) != 200 ||
        kwc_get_b64_fixed(resp, "login_id", login_id, 16) != KW_OK ||
        kwc_get_b64_fixed(resp, "ke2", ke2, sizeof(ke2)) != KW_OK)
        goto out;
    json_decref(body);
    json_decref(resp);
    body = resp = NULL;
    if (kw_opaque_client_login_finish(oc, ke3, sk, ek, ke2, sizeof(ke2), NULL) != KW_OK)
        goto out;
    memcpy(msg, login_id, 16);
    memcpy(msg + 16, a->device_id, 16);
    if (kw_sign_key_from_seed(&ik, a->identity_seed) != KW_OK ||
        kw_sign(ik, sig, (const uint8_t *)LOGIN_SIG_CONTEXT, sizeof(LOGIN_SIG_CONTEXT) - 1, msg, sizeof(msg)) !=
            KW_OK)
        goto out;
    body = json_loads(a->device_json, 0, NULL);
    json_t *wrapped = json_pack("{s:o}", "device", body);
    body = wrapped;
    if (body == NULL || kwc_put_b64(body, "login_id", login_id, 16) != KW_OK ||
        kwc_put_b64(body, "ke3", ke3, sizeof(ke3)) != KW_OK ||
        kwc_put_b64(body, "device_sig", sig, sizeof(sig)) != KW_OK)
        goto out;
    if (request(c[n2], nodes[n2], "POST", "/v1/login/finish", body, NULL, &resp) != 200)
        goto out;
    const char *t = json_string_value(json_object_get(resp, "token"));
    if (t == NULL || strlen(t) >= cap)
        goto out;
    snprintf(token, cap, "%s", t);
    rc = 0;
out:
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(ek, sizeof(ek));
    json_decref(body);
    json_decref(resp);
    kw_sign_key_free(&ik);
    kw_opaque_client_free(&oc);
    return rc;
}

static void remember(double ms, const char *token)
{
    pthread_mutex_lock(&mu);
    if (nlat < LG_LAT_MAX)
        lat[nlat++] = ms;
    if (token != NULL && ntokens < LG_TOKENS_MAX)
        tokens[ntokens++] = strdup(token);
    pthread_mutex_unlock(&mu);
}

static void *client(void *arg)
{
    size_t t = (size_t)(uintptr_t)arg;
    CURL *c[LG_MAX_NODES];
    for (size_t n = 0; n < nnodes; n++)
        c[n] = curl_easy_init();
    size_t i = t; /* spreads the first node over the clients */
    char token[128];
    while (now_s() < deadline) {
        const lg_account *a = &accounts[(t + i) % naccounts];
        double t0 = now_s();
        if (sign_in(c, i, a, token, sizeof(token)) != 0) {
            atomic_fetch_add(&errors, 1);
            i++;
            continue;
        }
        double ms = (now_s() - t0) * 1000.0;
        remember(ms, token); /* acknowledged: the session must survive */
        atomic_fetch_add(&ops, 1);
        for (int k = 0; k < reads_per_signin && now_s() < deadline; k++) {
            json_t *resp = NULL;
            size_t n3 = (i + 2 + (size_t)k) % nnodes;
            double r0 = now_s();
            long st = request(c[n3], nodes[n3], "GET", "/v1/devices", NULL, token, &resp);
            json_decref(resp);
            if (st != 200) {
                atomic_fetch_add(&errors, 1);
                continue;
            }
            pthread_mutex_lock(&mu);
            if (nrlat < LG_LAT_MAX)
                rlat[nrlat++] = (now_s() - r0) * 1000.0;
            pthread_mutex_unlock(&mu);
        }
        sodium_memzero(token, sizeof(token));
        i++;
    }
    for (size_t n = 0; n < nnodes; n++)
        curl_easy_cleanup(c[n]);
    return NULL;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int load_account(const char *dir, lg_account *a)
{
    kwc_profile *p = NULL;
    const char *pass = getenv("KEYWARD_PASSPHRASE");
    const char *pw = getenv("KEYWARD_PASSWORD");
    if (pass == NULL || pw == NULL || kwc_profile_load(&p, dir, pass, strlen(pass)) != KW_OK)
        return -1;
    snprintf(a->name, sizeof(a->name), "%s", p->account);
    snprintf(a->password, sizeof(a->password), "%s", pw);
    memcpy(a->device_id, p->device_id, 16);
    memcpy(a->identity_seed, p->s->identity_seed, 32);
    json_t *d = kwc_device_json(p);
    a->device_json = d != NULL ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    kwc_profile_free(&p);
    return a->device_json != NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: loadgen SECONDS THREADS URL[,URL…] PROFILE[,PROFILE…]\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    size_t threads = (size_t)atoi(argv[2]);
    if (seconds <= 0 || seconds > 600 || threads < 1 || threads > LG_MAX_THREADS || kw_init() != KW_OK)
        return 2;
    for (char *s = strtok(argv[3], ","); s != NULL && nnodes < LG_MAX_NODES; s = strtok(NULL, ","))
        nodes[nnodes++] = s;
    for (char *s = strtok(argv[4], ","); s != NULL && naccounts < LG_MAX_PROFILES; s = strtok(NULL, ",")) {
        if (load_account(s, &accounts[naccounts]) != 0) {
            fprintf(stderr, "loadgen: cannot load profile %s\n", s);
            return 2;
        }
        naccounts++;
    }
    if (nnodes == 0 || naccounts == 0)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *rps = getenv("LOADGEN_READS");
    if (rps != NULL)
        reads_per_signin = atoi(rps) >= 0 && atoi(rps) <= 1000 ? atoi(rps) : 20;
    lat = calloc(LG_LAT_MAX, sizeof(double));
    rlat = calloc(LG_LAT_MAX, sizeof(double));
    tokens = calloc(LG_TOKENS_MAX, sizeof(char *));
    if (lat == NULL || rlat == NULL || tokens == NULL)
        return 2;
    pthread_t th[LG_MAX_THREADS];
    double t0 = now_s();
    deadline = t0 + seconds;
    for (size_t t = 0; t < threads; t++)
        pthread_create(&th[t], NULL, client, (void *)(uintptr_t)t);
    for (size_t t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    double elapsed = now_s() - t0;
    qsort(lat, nlat, sizeof(double), cmp_double);
    double p50 = nlat > 0 ? lat[nlat / 2] : 0, p99 = nlat > 0 ? lat[(nlat * 99) / 100] : 0;
    qsort(rlat, nrlat, sizeof(double), cmp_double);
    double r50 = nrlat > 0 ? rlat[nrlat / 2] : 0, r99 = nrlat > 0 ? rlat[(nrlat * 99) / 100] : 0;

    long http_run = atomic_load(&http_reqs);
    /* Every acknowledged session, on every node. */
    size_t lost = 0;
    CURL *c = curl_easy_init();
    for (size_t k = 0; k < ntokens; k++) {
        for (size_t n = 0; n < nnodes; n++) {
            json_t *resp = NULL;
            long st = -1;
            for (int attempt = 0; attempt < 3 && st != 200 && st != 401; attempt++)
                st = request(c, nodes[n], "GET", "/v1/devices", NULL, tokens[k], &resp);
            json_decref(resp);
            if (st != 200) {
                lost++;
                break;
            }
        }
        sodium_memzero(tokens[k], strlen(tokens[k]));
        free(tokens[k]);
    }
    curl_easy_cleanup(c);
    long n_ops = atomic_load(&ops);
    printf("loadgen nodes=%zu threads=%zu seconds=%.1f signins=%ld http=%ld throughput=%.1f/s"
           " p50_ms=%.1f p99_ms=%.1f reads=%zu read_p50_ms=%.2f read_p99_ms=%.2f http_rate=%.1f/s"
           " errors=%ld acknowledged=%zu lost=%zu\n",
           nnodes, threads, elapsed, n_ops, http_run, (double)n_ops / elapsed, p50, p99, nrlat, r50, r99,
           (double)http_run / elapsed, atomic_load(&errors), ntokens, lost);
    for (size_t k = 0; k < naccounts; k++)
        free(accounts[k].device_json);
    free(lat);
    free(rlat);
    free(tokens);
    curl_global_cleanup();
    return lost == 0 ? 0 : 1;
}
