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
 * then LOADGEN_READS (default 20) operations with the new session,
 * round-robin over the nodes, cycling through the mix:
 *   read    GET /v1/devices
 *   send    POST /v1/msg/send: an envelope from this account's device to
 *           the next account's device (well-formed KWM1; the server routes
 *           what it cannot read, so wraps, body and signature are random)
 *   fetch   GET /v1/msg/fetch, then POST /v1/msg/ack of what it returned
 *   rput    PUT /v1/records/loadtest/default/{id}: the next version of
 *           this client's record of that account (inline content)
 *   rget    GET of that record
 *   lookup  GET /v1/kt/search/{next account} — on the key-transparency
 *           publisher (LOADGEN_KT_NODE, default 0) first, then on the others
 * (The sign-in's client side runs Argon2id, 64 MiB: on a small machine the
 * clients' KSF bounds the sign-in rate, so the mix carries the request
 * rate.) A request that fails (node down, 5xx) counts as an error and the
 * client moves on to the next node.
 * Lost writes, checked after the run on every node: every session the
 * server acknowledged (200 from login/finish) must still authenticate;
 * every message the server acknowledged (200 from send) must have been
 * fetched by its recipient during the run or still be in its mailbox;
 * every record version acknowledged (200 from PUT) must be there (the
 * record at that version or a later one) on every node.
 *
 * Prints one summary line (key=value) for the script, with per operation
 * count, rate and p50/p99 latency (ms).
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
#include "keyward/codec.h"
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
enum { OP_READ, OP_SEND, OP_FETCH, OP_ACK, OP_LOOKUP, OP_RPUT, OP_RGET, OP_N };
static const char *const op_names[OP_N] = {"read", "send", "fetch", "ack", "lookup", "rput", "rget"};
/* One record per (client thread, account): only that thread writes it, so
 * its compare-and-swap version is known; acked[] is the newest version a
 * server acknowledged (0: none). */
static int64_t rec_acked[LG_MAX_THREADS][LG_MAX_PROFILES];
static size_t rec_puts; /* acknowledged record writes */
static double *olat[OP_N];
static size_t nolat[OP_N];
static atomic_long operr[OP_N];
static size_t kt_node;
#define LG_MSGS_MAX 400000
static uint8_t (*sent_ids)[16]; /* acknowledged sends */
static size_t nsent;
static uint8_t (*seen_ids)[16]; /* fetched by their recipient */
static size_t nseen;
static char *last_token[LG_MAX_PROFILES]; /* per account, for the final drain */
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

static void op_latency(int op, double ms)
{
    pthread_mutex_lock(&mu);
    if (nolat[op] < LG_LAT_MAX)
        olat[op][nolat[op]++] = ms;
    pthread_mutex_unlock(&mu);
}

static size_t put_name(uint8_t *p, const char *name)
{
    size_t n = strlen(name);
    p[0] = (uint8_t)n;
    memcpy(p + 1, name, n);
    return 1 + n;
}

/* A well-formed envelope from a to b (one wrap, to b's device). */
static size_t make_envelope(uint8_t *e, const lg_account *a, const lg_account *b, uint8_t id[16])
{
    size_t o = 0;
    uint64_t ts;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ts = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    memcpy(e, "KWM1", 4);
    o = 4;
    randombytes_buf(id, 16);
    memcpy(e + o, id, 16);
    o += 16;
    for (int i = 7; i >= 0; i--)
        e[o++] = (uint8_t)(ts >> (8 * i));
    o += put_name(e + o, a->name);
    memcpy(e + o, a->device_id, 16);
    o += 16;
    o += put_name(e + o, b->name);
    o += put_name(e + o, "text");
    randombytes_buf(e + o, 24); /* nonce */
    o += 24;
    e[o++] = 0;
    e[o++] = 1; /* one wrap */
    memcpy(e + o, b->device_id, 16);
    o += 16;
    memset(e + o, 0, 4); /* prekey 0 */
    o += 4;
    randombytes_buf(e + o, 80);
    o += 80;
    uint32_t bl = 256 + 16;
    for (int i = 3; i >= 0; i--)
        e[o++] = (uint8_t)(bl >> (8 * i));
    randombytes_buf(e + o, bl);
    o += bl;
    randombytes_buf(e + o, 64); /* signature: the server does not check it */
    o += 64;
    return o;
}

static int send_msg(CURL *c, const char *node, const char *token, const lg_account *a, const lg_account *b)
{
    uint8_t env[600], id[16];
    size_t n = make_envelope(env, a, b, id);
    char dev[32];
    json_t *resp = NULL, *body = json_object();
    kw_b64url_encode(dev, sizeof(dev), b->device_id, 16);
    if (body == NULL || kwc_put_b64(body, "envelope", env, n) != KW_OK ||
        json_object_set_new(body, "devices", json_pack("[s]", dev)) != 0) {
        json_decref(body);
        return -1;
    }
    long st = request(c, node, "POST", "/v1/msg/send", body, token, &resp);
    json_decref(body);
    json_decref(resp);
    if (st != 200)
        return -1;
    pthread_mutex_lock(&mu);
    if (nsent < LG_MSGS_MAX)
        memcpy(sent_ids[nsent++], id, 16);
    pthread_mutex_unlock(&mu);
    return 0;
}

/* Fetches the caller's mailbox (one page); marks what came as seen and, when
 * ack, acknowledges it. Returns the number fetched, -1 on error; *more. */
static int fetch_msgs(CURL *c, const char *node, const char *token, bool ack, bool *more, double *ack_ms)
{
    json_t *resp = NULL;
    long st = request(c, node, "GET", "/v1/msg/fetch", NULL, token, &resp);
    if (st != 200) {
        json_decref(resp);
        return -1;
    }
    json_t *msgs = json_object_get(resp, "messages"), *ids = json_array();
    *more = json_is_true(json_object_get(resp, "more"));
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *id = json_string_value(json_object_get(m, "id"));
        uint8_t raw[16];
        size_t len = 0;
        if (id == NULL || kw_b64url_decode(raw, 16, &len, id, strlen(id)) != KW_OK || len != 16)
            continue;
        pthread_mutex_lock(&mu);
        if (nseen < LG_MSGS_MAX)
            memcpy(seen_ids[nseen++], raw, 16);
        pthread_mutex_unlock(&mu);
        json_array_append_new(ids, json_string(id));
    }
    int n = (int)json_array_size(ids);
    json_decref(resp);
    if (ack && n > 0) {
        json_t *body = json_pack("{s:o}", "ids", ids);
        double t0 = now_s();
        st = request(c, node, "POST", "/v1/msg/ack", body, token, &resp);
        *ack_ms = (now_s() - t0) * 1000.0;
        json_decref(body);
        json_decref(resp);
        if (st != 200)
            return -1;
    } else {
        json_decref(ids);
    }
    return n;
}

static void record_id(size_t t, size_t ai, char out[32])
{
    uint8_t id[16] = {0x4c, 0x47};
    id[14] = (uint8_t)t;
    id[15] = (uint8_t)ai;
    kw_b64url_encode(out, 32, id, 16);
}

/* The record's version on that node (0: none, -1: no answer). */
static int64_t record_version(CURL *c, const char *node, const char *token, size_t t, size_t ai)
{
    char id[32], path[160];
    json_t *resp = NULL;
    record_id(t, ai, id);
    snprintf(path, sizeof(path), "/v1/records/loadtest/default/%s", id);
    long st = request(c, node, "GET", path, NULL, token, &resp);
    int64_t v = st == 200 ? (int64_t)json_integer_value(json_object_get(resp, "version")) : st == 404 ? 0 : -1;
    json_decref(resp);
    return v;
}

/* Writes the next version of the (t, ai) record: inline content, random
 * sealed-looking meta and a wrap naming service-key generation 1. */
static int record_put(CURL *c, const char *node, const char *token, size_t t, size_t ai, int64_t *known)
{
    uint8_t meta[128], wrap[76], content[256];
    char id[32], path[160];
    json_t *resp = NULL;
    randombytes_buf(meta, sizeof(meta));
    randombytes_buf(wrap, sizeof(wrap));
    wrap[0] = wrap[1] = wrap[2] = 0;
    wrap[3] = 1;
    randombytes_buf(content, sizeof(content));
    record_id(t, ai, id);
    snprintf(path, sizeof(path), "/v1/records/loadtest/default/%s", id);
    json_t *body = json_pack("{s:I,s:i}", "version", (json_int_t)(*known + 1), "nchunks", 1);
    if (body == NULL || kwc_put_b64(body, "meta", meta, sizeof(meta)) != KW_OK ||
        kwc_put_b64(body, "wrap", wrap, sizeof(wrap)) != KW_OK ||
        kwc_put_b64(body, "content", content, sizeof(content)) != KW_OK) {
        json_decref(body);
        return -1;
    }
    long st = request(c, node, "PUT", path, body, token, &resp);
    json_decref(body);
    json_decref(resp);
    if (st == 200) {
        (*known)++;
        pthread_mutex_lock(&mu);
        rec_acked[t][ai] = *known;
        rec_puts++;
        pthread_mutex_unlock(&mu);
        return 0;
    }
    if (st == 409) { /* an unacknowledged earlier write did land: learn it */
        int64_t v = record_version(c, node, token, t, ai);
        if (v >= 0)
            *known = v;
    }
    return -1;
}

static void *client(void *arg)
{
    size_t t = (size_t)(uintptr_t)arg;
    CURL *c[LG_MAX_NODES];
    for (size_t n = 0; n < nnodes; n++)
        c[n] = curl_easy_init();
    size_t i = t; /* spreads the first node over the clients */
    char token[128];
    int64_t rec_known[LG_MAX_PROFILES] = {0};
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
        size_t ai = (t + i) % naccounts;
        pthread_mutex_lock(&mu);
        free(last_token[ai]);
        last_token[ai] = strdup(token);
        pthread_mutex_unlock(&mu);
        for (int k = 0; k < reads_per_signin && now_s() < deadline; k++) {
            json_t *resp = NULL;
            size_t n3 = (i + 2 + (size_t)k) % nnodes;
            const lg_account *b = &accounts[(ai + 1) % naccounts];
            static const int mix[] = {OP_READ, OP_SEND, OP_FETCH, OP_LOOKUP, OP_RPUT, OP_RGET};
            int op = mix[(size_t)k % (sizeof(mix) / sizeof(mix[0]))];
            double r0 = now_s(), ack_ms = -1;
            long st = 200;
            bool more = false;
            char path[200];
            switch (op) {
            case OP_READ:
                st = request(c[n3], nodes[n3], "GET", "/v1/devices", NULL, token, &resp);
                break;
            case OP_SEND:
                st = send_msg(c[n3], nodes[n3], token, a, b) == 0 ? 200 : -1;
                break;
            case OP_RPUT: /* a 409 teaches the version (a new process, or an
                              * unacknowledged write that landed): once more */
                st = record_put(c[n3], nodes[n3], token, t, ai, &rec_known[ai]) == 0 ||
                             record_put(c[n3], nodes[n3], token, t, ai, &rec_known[ai]) == 0
                         ? 200
                         : -1;
                break;
            case OP_RGET:
                st = record_version(c[n3], nodes[n3], token, t, ai) >= 0 ? 200 : -1;
                break;
            case OP_FETCH:
                st = fetch_msgs(c[n3], nodes[n3], token, true, &more, &ack_ms) >= 0 ? 200 : -1;
                break;
            default:
                /* The publisher node first; then any other (a client
                 * retrying through its load balancer). */
                snprintf(path, sizeof(path), "/v1/kt/search/%s", b->name);
                for (size_t m = 0; m < nnodes && st == 200; m++) {
                    n3 = (kt_node + m) % nnodes;
                    json_decref(resp);
                    resp = NULL;
                    if (request(c[n3], nodes[n3], "GET", path, NULL, NULL, &resp) == 200)
                        st = 0;
                }
                st = st == 0 ? 200 : -1;
                break;
            }
            json_decref(resp);
            if (st != 200) {
                atomic_fetch_add(&errors, 1);
                atomic_fetch_add(&operr[op], 1);
                continue;
            }
            double oms = (now_s() - r0) * 1000.0;
            if (ack_ms >= 0) {
                op_latency(OP_ACK, ack_ms);
                oms -= ack_ms;
            }
            op_latency(op, oms);
            if (op == OP_READ) {
                pthread_mutex_lock(&mu);
                if (nrlat < LG_LAT_MAX)
                    rlat[nrlat++] = oms;
                pthread_mutex_unlock(&mu);
            }
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

static int cmp_id(const uint8_t *x, const uint8_t *y)
{
    return memcmp(x, y, 16);
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
    sent_ids = calloc(LG_MSGS_MAX, 16);
    seen_ids = calloc(LG_MSGS_MAX, 16);
    for (int k = 0; k < OP_N; k++)
        if ((olat[k] = calloc(LG_LAT_MAX, sizeof(double))) == NULL)
            return 2;
    const char *ktn = getenv("LOADGEN_KT_NODE");
    kt_node = ktn != NULL && (size_t)atoi(ktn) < nnodes ? (size_t)atoi(ktn) : 0;
    if (lat == NULL || rlat == NULL || tokens == NULL || sent_ids == NULL || seen_ids == NULL)
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
    /* Every acknowledged message: fetched during the run, or still in its
     * recipient's mailbox now (drained through any node that answers). */
    size_t rec_lost = 0;
    for (size_t k = 0; k < naccounts; k++) {
        if (last_token[k] == NULL)
            continue;
        /* Every acknowledged record version, on every node. */
        for (size_t t = 0; t < threads; t++) {
            if (rec_acked[t][k] == 0)
                continue;
            for (size_t n = 0; n < nnodes; n++) {
                int64_t v = -1;
                for (int attempt = 0; attempt < 3 && v < 0; attempt++)
                    v = record_version(c, nodes[n], last_token[k], t, k);
                if (v < rec_acked[t][k]) {
                    rec_lost++;
                    break;
                }
            }
        }
        for (size_t n = 0; n < nnodes; n++) {
            bool more = true;
            int got = 0, rounds = 0;
            double ack_ms = 0;
            while (more && got >= 0 && rounds++ < 10000)
                got = fetch_msgs(c, nodes[n], last_token[k], true, &more, &ack_ms);
            if (got >= 0)
                break;
        }
        sodium_memzero(last_token[k], strlen(last_token[k]));
        free(last_token[k]);
    }
    curl_easy_cleanup(c);
    qsort(seen_ids, nseen, 16, (int (*)(const void *, const void *))cmp_id);
    size_t msg_lost = 0;
    for (size_t k = 0; k < nsent; k++)
        if (bsearch(sent_ids[k], seen_ids, nseen, 16, (int (*)(const void *, const void *))cmp_id) == NULL)
            msg_lost++;
    long n_ops = atomic_load(&ops);
    printf("loadgen nodes=%zu threads=%zu seconds=%.1f signins=%ld http=%ld throughput=%.1f/s"
           " p50_ms=%.1f p99_ms=%.1f reads=%zu read_p50_ms=%.2f read_p99_ms=%.2f http_rate=%.1f/s"
           " errors=%ld acknowledged=%zu lost=%zu\n",
           nnodes, threads, elapsed, n_ops, http_run, (double)n_ops / elapsed, p50, p99, nrlat, r50, r99,
           (double)http_run / elapsed, atomic_load(&errors), ntokens, lost);
    printf("loadgen-mix");
    for (int k = 0; k < OP_N; k++) {
        qsort(olat[k], nolat[k], sizeof(double), cmp_double);
        printf(" %s_errors=%ld", op_names[k], atomic_load(&operr[k]));
        printf(" %s=%zu %s_rate=%.1f/s %s_p50_ms=%.2f %s_p99_ms=%.2f", op_names[k], nolat[k], op_names[k],
               (double)nolat[k] / elapsed, op_names[k], nolat[k] > 0 ? olat[k][nolat[k] / 2] : 0.0,
               op_names[k], nolat[k] > 0 ? olat[k][(nolat[k] * 99) / 100] : 0.0);
        free(olat[k]);
    }
    printf(" msgs_acknowledged=%zu msgs_lost=%zu records_acknowledged=%zu records_lost=%zu\n", nsent, msg_lost,
           rec_puts, rec_lost);
    free(sent_ids);
    free(seen_ids);
    lost += msg_lost + rec_lost;
    for (size_t k = 0; k < naccounts; k++)
        free(accounts[k].device_json);
    free(lat);
    free(rlat);
    free(tokens);
    curl_global_cleanup();
    return lost == 0 ? 0 : 1;
}
