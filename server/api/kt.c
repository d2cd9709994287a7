/*
 * The key-transparency directory of keywardd (docs/api.md, "Key
 * transparency"): one kw_kt_dir per server holding every accepted roster
 * (label = account name, value = roster bytes), a publisher thread closing
 * an epoch every kt_epoch_ms (heartbeat epochs included), and the public
 * read-only endpoints GET /v1/kt/{keys,head,search,consistency,insertions}.
 *
 * Thread safety: the directory is guarded by a rwlock — updates and
 * publishing take it for writing, the endpoints for reading.
 * Persistence: NONE in this slice. The directory lives in memory and starts
 * empty on every start (openings are random and the library has no restore
 * path yet); clients that pinned a head of an earlier run see a rollback.
 * Secrets: the log signing key and the VRF secret key, derived from
 * keys->kt_seed, live in sodium_malloc'd memory and are wiped on stop.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/areas.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"
#include "keyward/kt.h"

#define KT_LABEL_LOG "keyward/kt/log-key/v1"
#define KT_LABEL_VRF "keyward/kt/vrf-key/v1"

struct kw_api_kt {
    pthread_rwlock_t lock;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    pthread_t thread;
    int running;
    int stopping;
    int64_t epoch_ms;
    kw_kt_dir *dir;
    kw_sign_key *log_key;
    uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES];
    uint8_t vrf_pk[KW_VRF_PUBLICKEYBYTES];
    uint64_t last_ts;
    atomic_int lie; /* test_faults only: KT_LIE_* applied to search answers */
};

enum { KT_LIE_NONE = 0, KT_LIE_HEAD_SIG, KT_LIE_VALUE };

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Publishes one epoch (the queue may be empty: a heartbeat). */
static void kt_publish_once(struct kw_api_kt *kt)
{
    kw_kt_head head;
    pthread_rwlock_wrlock(&kt->lock);
    uint64_t ts = now_ms();
    if (ts < kt->last_ts)
        ts = kt->last_ts;
    int r = kw_kt_dir_publish(kt->dir, ts, &head);
    if (r == KW_OK)
        kt->last_ts = ts;
    pthread_rwlock_unlock(&kt->lock);
    if (r != KW_OK)
        fprintf(stderr, "level=error event=kt_publish error=\"%s\"\n", kw_strerror(r));
}

static void *kt_publisher(void *arg)
{
    struct kw_api_kt *kt = arg;
    pthread_mutex_lock(&kt->stop_mu);
    while (!kt->stopping) {
        pthread_mutex_unlock(&kt->stop_mu);
        kt_publish_once(kt);
        pthread_mutex_lock(&kt->stop_mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = (int64_t)until.tv_nsec + (kt->epoch_ms % 1000) * 1000000;
        until.tv_sec += (time_t)(kt->epoch_ms / 1000 + ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        while (!kt->stopping) {
            if (pthread_cond_timedwait(&kt->stop_cv, &kt->stop_mu, &until) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&kt->stop_mu);
    return NULL;
}

int kw_api_kt_start(kw_server *srv, int64_t epoch_ms)
{
    int r = KW_ERR_INTERNAL;
    uint8_t seed[32], vrf_sk[KW_VRF_SECRETKEYBYTES];
    struct kw_api_kt *kt = calloc(1, sizeof(*kt));
    if (kt == NULL)
        return KW_ERR_NOMEM;
    kt->epoch_ms = epoch_ms > 0 ? epoch_ms : 1000;
    pthread_rwlock_init(&kt->lock, NULL);
    pthread_mutex_init(&kt->stop_mu, NULL);
    pthread_cond_init(&kt->stop_cv, NULL);
    if ((r = kw_hkdf_sha256(seed, sizeof(seed), NULL, 0, srv->keys->kt_seed,
                            sizeof(srv->keys->kt_seed), (const uint8_t *)KT_LABEL_LOG,
                            strlen(KT_LABEL_LOG))) != KW_OK ||
        (r = kw_sign_key_from_seed(&kt->log_key, seed)) != KW_OK)
        goto out;
    kw_sign_key_public(kt->log_key, kt->log_pk);
    if ((r = kw_hkdf_sha256(seed, sizeof(seed), NULL, 0, srv->keys->kt_seed,
                            sizeof(srv->keys->kt_seed), (const uint8_t *)KT_LABEL_VRF,
                            strlen(KT_LABEL_VRF))) != KW_OK)
        goto out;
    kw_vrf_keypair_from_seed(kt->vrf_pk, vrf_sk, seed);
    kw_kt_dir_config cfg = {.vrf_sk = vrf_sk, .log_key = kt->log_key, .store = NULL,
                            .max_merge_delay = 2};
    if ((r = kw_kt_dir_new(&kt->dir, &cfg)) != KW_OK)
        goto out;
    srv->kt = kt;
    /* Epoch 0 right away, so that the directory has a head from the start. */
    kt_publish_once(kt);
    if (pthread_create(&kt->thread, NULL, kt_publisher, kt) != 0) {
        srv->kt = NULL;
        r = KW_ERR_SYSTEM;
        goto out;
    }
    kt->running = 1;
    r = KW_OK;
out:
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(vrf_sk, sizeof(vrf_sk));
    if (r != KW_OK) {
        kw_kt_dir_free(&kt->dir);
        kw_sign_key_free(&kt->log_key);
        pthread_rwlock_destroy(&kt->lock);
        pthread_mutex_destroy(&kt->stop_mu);
        pthread_cond_destroy(&kt->stop_cv);
        free(kt);
    }
    return r;
}

void kw_api_kt_stop(kw_server *srv)
{
    struct kw_api_kt *kt = srv->kt;
    if (kt == NULL)
        return;
    if (kt->running) {
        pthread_mutex_lock(&kt->stop_mu);
        kt->stopping = 1;
        pthread_cond_signal(&kt->stop_cv);
        pthread_mutex_unlock(&kt->stop_mu);
        pthread_join(kt->thread, NULL);
    }
    kw_kt_dir_free(&kt->dir);
    kw_sign_key_free(&kt->log_key);
    pthread_rwlock_destroy(&kt->lock);
    pthread_mutex_destroy(&kt->stop_mu);
    pthread_cond_destroy(&kt->stop_cv);
    free(kt);
    srv->kt = NULL;
}

void kw_api_kt_roster(kw_server *srv, const char *name, const uint8_t *roster, size_t len)
{
    struct kw_api_kt *kt = srv->kt;
    uint8_t promise[KW_KT_PROMISE_MAXBYTES];
    size_t plen = 0;
    if (kt == NULL)
        return;
    pthread_rwlock_wrlock(&kt->lock);
    int r = kw_kt_dir_update(kt->dir, (const uint8_t *)name, strlen(name), roster, len, promise,
                             sizeof(promise), &plen);
    pthread_rwlock_unlock(&kt->lock);
    if (r != KW_OK)
        fprintf(stderr, "level=error event=kt_update error=\"%s\"\n", kw_strerror(r));
}

/* ---- endpoints ---- */

static struct kw_api_kt *kt_of(kw_http_req *req)
{
    kw_server *srv = req->app;
    return srv->kt;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 19)
        return KW_ERR_FORMAT;
    uint64_t v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return KW_ERR_FORMAT;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return KW_OK;
}

/* Replies {field: base64url(buf)} or maps the directory error. */
static int kt_reply(kw_http_resp *resp, int r, const char *field, kw_buf *b)
{
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, r, "no such epoch or entry");
    if (r == KW_ERR_INVALID_ARG)
        return kw_http_fail(resp, KW_ERR_FORMAT, "pinned log size or epoch out of range");
    if (r != KW_OK)
        return kw_http_fail(resp, r, "directory error");
    json_t *out = json_object();
    if (out == NULL || kw_api_put_b64(out, field, kw_buf_ptr(b), kw_buf_len(b)) != KW_OK) {
        json_decref(out);
        return KW_ERR_NOMEM;
    }
    kw_http_json(resp, 200, out);
    return KW_OK;
}

static int kt_keys(kw_http_req *req, kw_http_resp *resp)
{
    struct kw_api_kt *kt = kt_of(req);
    if (kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "key transparency is off");
    json_t *out = json_object();
    if (out == NULL || kw_api_put_b64(out, "log_pk", kt->log_pk, sizeof(kt->log_pk)) != KW_OK ||
        kw_api_put_b64(out, "vrf_pk", kt->vrf_pk, sizeof(kt->vrf_pk)) != KW_OK) {
        json_decref(out);
        return KW_ERR_NOMEM;
    }
    kw_http_json(resp, 200, out);
    return KW_OK;
}

static int kt_head(kw_http_req *req, kw_http_resp *resp)
{
    struct kw_api_kt *kt = kt_of(req);
    kw_kt_head h;
    uint8_t enc[KW_KT_HEADBYTES];
    if (kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "key transparency is off");
    pthread_rwlock_rdlock(&kt->lock);
    int r = kw_kt_dir_head(kt->dir, &h);
    pthread_rwlock_unlock(&kt->lock);
    if (r != KW_OK)
        return kw_http_fail(resp, r, "no epoch yet");
    kw_kt_head_encode(enc, &h);
    json_t *out = json_pack("{s:I,s:I}", "epoch", (json_int_t)h.epoch, "log_size",
                            (json_int_t)h.log_size);
    if (out == NULL || kw_api_put_b64(out, "head", enc, sizeof(enc)) != KW_OK) {
        json_decref(out);
        return KW_ERR_NOMEM;
    }
    kw_http_json(resp, 200, out);
    return KW_OK;
}

/* Test-only lies (srv->test_faults): flip a bit of the head's signature, or
 * of the first value byte of a search answer without a consistency part. */
static void kt_apply_lie(struct kw_api_kt *kt, kw_buf *b)
{
    int lie = atomic_load(&kt->lie);
    uint8_t *p = (uint8_t *)kw_buf_ptr(b);
    size_t len = kw_buf_len(b);
    if (lie == KT_LIE_HEAD_SIG && len > 1 + KW_KT_HEADBYTES) {
        p[1 + KW_KT_HEAD_TBSBYTES + 5] ^= 0x01;
    } else if (lie == KT_LIE_VALUE && len > 1 + KW_KT_HEADBYTES + 1) {
        size_t off = 1 + KW_KT_HEADBYTES;
        off += 1 + (size_t)p[off] * 32;
        if (off >= len || p[off] != 0)
            return;
        off += 1 + 4 + 80 + 32 + 32 + 4;
        if (off < len)
            p[off] ^= 0x01;
    }
}

static int kt_test_lie(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    struct kw_api_kt *kt = srv->kt;
    const char *mode = req->params[0];
    if (!srv->test_faults || kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "not found");
    if (strcmp(mode, "none") == 0)
        atomic_store(&kt->lie, KT_LIE_NONE);
    else if (strcmp(mode, "head-sig") == 0)
        atomic_store(&kt->lie, KT_LIE_HEAD_SIG);
    else if (strcmp(mode, "value") == 0)
        atomic_store(&kt->lie, KT_LIE_VALUE);
    else
        return kw_http_fail(resp, KW_ERR_FORMAT, "unknown lie");
    kw_http_json(resp, 200, json_object());
    return KW_OK;
}

static int kt_search_common(kw_http_req *req, kw_http_resp *resp, uint64_t pinned)
{
    struct kw_api_kt *kt = kt_of(req);
    const char *label = req->params[0];
    kw_buf *b = NULL;
    if (kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "key transparency is off");
    if (label == NULL || label[0] == '\0' || strlen(label) > KW_KT_LABEL_MAXBYTES)
        return kw_http_fail(resp, KW_ERR_FORMAT, "bad label");
    if ((b = kw_buf_new(KW_KT_RESPONSE_MAXBYTES)) == NULL)
        return KW_ERR_NOMEM;
    pthread_rwlock_rdlock(&kt->lock);
    int r = kw_kt_dir_search(kt->dir, (const uint8_t *)label, strlen(label), pinned, b);
    pthread_rwlock_unlock(&kt->lock);
    if (r == KW_OK)
        kt_apply_lie(kt, b);
    r = kt_reply(resp, r, "proof", b);
    kw_buf_free(&b);
    return r;
}

static int kt_search(kw_http_req *req, kw_http_resp *resp)
{
    return kt_search_common(req, resp, 0);
}

static int kt_search_pinned(kw_http_req *req, kw_http_resp *resp)
{
    uint64_t pinned;
    if (parse_u64(req->params[1], &pinned) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the pinned log size is a decimal integer");
    return kt_search_common(req, resp, pinned);
}

static int kt_consistency(kw_http_req *req, kw_http_resp *resp)
{
    struct kw_api_kt *kt = kt_of(req);
    uint64_t from, to;
    kw_buf *b = NULL;
    if (kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "key transparency is off");
    if (parse_u64(req->params[0], &from) != KW_OK || parse_u64(req->params[1], &to) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "epochs are decimal integers");
    if ((b = kw_buf_new(KW_KT_RESPONSE_MAXBYTES)) == NULL)
        return KW_ERR_NOMEM;
    pthread_rwlock_rdlock(&kt->lock);
    int r = kw_kt_dir_consistency(kt->dir, from, to, b);
    pthread_rwlock_unlock(&kt->lock);
    r = kt_reply(resp, r, "proof", b);
    kw_buf_free(&b);
    return r;
}

static int kt_insertions(kw_http_req *req, kw_http_resp *resp)
{
    struct kw_api_kt *kt = kt_of(req);
    uint64_t epoch;
    kw_buf *b = NULL;
    if (kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "key transparency is off");
    if (parse_u64(req->params[0], &epoch) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the epoch is a decimal integer");
    if ((b = kw_buf_new(KW_KT_INSERTIONS_MAXBYTES)) == NULL)
        return KW_ERR_NOMEM;
    pthread_rwlock_rdlock(&kt->lock);
    int r = kw_kt_dir_insertions(kt->dir, epoch, b);
    pthread_rwlock_unlock(&kt->lock);
    r = kt_reply(resp, r, "insertions", b);
    kw_buf_free(&b);
    return r;
}

const kw_http_route kw_api_kt_routes[] = {
    {"GET", "/v1/kt/keys", kt_keys, 0},
    {"GET", "/v1/kt/head", kt_head, 0},
    {"GET", "/v1/kt/search/{}", kt_search, 0},
    {"GET", "/v1/kt/search/{}/{}", kt_search_pinned, 0},
    {"GET", "/v1/kt/consistency/{}/{}", kt_consistency, 0},
    {"GET", "/v1/kt/insertions/{}", kt_insertions, 0},
    {"POST", "/v1/kt/test-lie/{}", kt_test_lie, 0}, /* --test-faults only */
};
const size_t kw_api_kt_nroutes = sizeof(kw_api_kt_routes) / sizeof(kw_api_kt_routes[0]);
