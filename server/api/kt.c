/*
 * The key-transparency directory of keywardd (docs/api.md, "Key
 * transparency"): one kw_kt_dir per server holding every accepted roster
 * (label = account name, value = roster bytes), a publisher thread closing
 * an epoch every kt_epoch_ms (heartbeat epochs included), and the public
 * read-only endpoints GET /v1/kt/{keys,head,search,lookup,monitor,
 * consistency,insertions,auditor} plus POST /v1/kt/auditor (an auditor's
 * signature over a head it verified).
 *
 * Thread safety: the directory is guarded by a rwlock — updates and
 * publishing take it for writing, the endpoints for reading.
 * Persistence (store/kt.h, when the backend has kt ops): an update is
 * stored before its promise is returned (the durable queue); each epoch's
 * head, the marking of its updates and its new labels' VRF proofs are one
 * transaction, written while the write lock is held, so no reader sees a
 * head before it is durable. At start the directory is rebuilt by
 * replaying the stored updates epoch by epoch with the stored timestamps;
 * openings are derived from the key file (HKDF of kt_seed), so the replay
 * reproduces every head byte for byte, which is checked. A failed store
 * write stops publishing and makes the endpoints answer 503 until a
 * restart. A backend without kt ops (PostgreSQL for now) runs the
 * directory in memory, empty at every start (logged).
 * Secrets: the log signing key, the VRF secret key and the opening key,
 * derived from keys->kt_seed, live in sodium_malloc'd memory and are wiped
 * on stop.
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
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"
#include "keyward/kt.h"
#include "store/kt.h"

#define KT_LABEL_LOG "keyward/kt/log-key/v1"
#define KT_LABEL_VRF "keyward/kt/vrf-key/v1"
#define KT_LABEL_OPENING "keyward/kt/opening-key/v1"

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
    kw_store *store;
    int durable;    /* the store has kt ops */
    int failed;     /* a store write failed: no more epochs, endpoints answer 503 */
    uint64_t *pseq; /* store sequence numbers of the queued updates, in queue order */
    size_t npseq, pseq_cap;
};

enum { KT_LIE_NONE = 0, KT_LIE_HEAD_SIG, KT_LIE_VALUE };

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Publishes one epoch (the queue may be empty: a heartbeat) and, when
 * durable, stores it before anyone can read it. */
static void kt_publish_once(struct kw_api_kt *kt)
{
    kw_kt_head head;
    kw_kt_batch *b = NULL;
    size_t n = 0, nl = 0;
    kw_store_kt_label *labels = NULL;
    uint8_t *proofs = NULL;
    const char *what = "publish";
    pthread_rwlock_wrlock(&kt->lock);
    if (kt->failed) {
        pthread_rwlock_unlock(&kt->lock);
        return;
    }
    uint64_t ts = now_ms();
    if (ts < kt->last_ts)
        ts = kt->last_ts;
    int r = kw_kt_dir_batch_begin(kt->dir, 0, &b, &n);
    if (r == KW_OK && n > 0 && ((labels = calloc(n, sizeof(*labels))) == NULL ||
                                (proofs = malloc(n * KW_VRF_PROOFBYTES)) == NULL))
        r = KW_ERR_NOMEM;
    for (size_t i = 0; r == KW_OK && i < n; i++) {
        uint32_t v;
        if ((r = kw_kt_batch_entry(b, i, &labels[nl].label, &labels[nl].label_len, &v)) == KW_OK &&
            v == 1)
            nl++; /* a new label: its VRF proof is stored with the epoch */
    }
    if (r == KW_OK && (r = kw_kt_batch_index_proven(b, 0, n)) != KW_OK)
        kw_kt_dir_batch_abort(kt->dir, &b);
    if (r == KW_OK)
        r = kw_kt_dir_batch_commit(kt->dir, &b, ts, &head);
    if (b != NULL)
        kw_kt_dir_batch_abort(kt->dir, &b); /* an error before commit: back to the queue */
    if (r == KW_OK) {
        kt->last_ts = ts;
        if (kt->durable) {
            uint8_t enc[KW_KT_HEADBYTES];
            what = "store";
            kw_kt_head_encode(enc, &head);
            for (size_t i = 0; r == KW_OK && i < nl; i++) {
                labels[i].proof = proofs + i * KW_VRF_PROOFBYTES;
                r = kw_kt_dir_label_vrf(kt->dir, labels[i].label, labels[i].label_len,
                                        proofs + i * KW_VRF_PROOFBYTES);
            }
            if (r == KW_OK && n > kt->npseq)
                r = KW_ERR_INTERNAL; /* the queue and its sequence numbers disagree */
            if (r == KW_OK)
                r = kw_store_kt_epoch_commit(kt->store, head.epoch, ts, enc,
                                             n > 0 ? kt->pseq[n - 1] : 0, n, labels, nl);
            if (r != KW_OK)
                kt->failed = 1; /* the directory is ahead of the store: stop serving it */
        }
        if (n > 0 && n <= kt->npseq) {
            memmove(kt->pseq, kt->pseq + n, (kt->npseq - n) * sizeof(uint64_t));
            kt->npseq -= n;
        }
    }
    pthread_rwlock_unlock(&kt->lock);
    free(labels);
    free(proofs);
    if (r != KW_OK)
        fprintf(stderr, "level=error event=kt_%s error=\"%s\"%s\n", what, kw_strerror(r),
                kt->failed ? " action=\"key transparency stopped until restart\"" : "");
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

static int pseq_push(struct kw_api_kt *kt, uint64_t seq)
{
    if (kt->npseq == kt->pseq_cap) {
        size_t cap = kt->pseq_cap == 0 ? 64 : kt->pseq_cap * 2;
        uint64_t *p = realloc(kt->pseq, cap * sizeof(uint64_t));
        if (p == NULL)
            return KW_ERR_NOMEM;
        kt->pseq = p;
        kt->pseq_cap = cap;
    }
    kt->pseq[kt->npseq++] = seq;
    return KW_OK;
}

/* ---- restoring from the store ---- */

typedef struct {
    struct kw_api_kt *kt;
    uint64_t next_epoch, updates;
} kt_restore;

static int restore_label(void *ctx, const uint8_t *label, size_t label_len, const uint8_t *proof)
{
    kt_restore *rs = ctx;
    return kw_kt_dir_restore_label(rs->kt->dir, label, label_len, proof);
}

static int restore_update(void *ctx, uint64_t seq, uint64_t epoch, const uint8_t *label,
                          size_t label_len, uint32_t version, const uint8_t *value, size_t value_len)
{
    kt_restore *rs = ctx;
    if (kw_kt_dir_next_version(rs->kt->dir, label, label_len) != version)
        return KW_ERR_STORAGE; /* a gap or a repeat in a label's versions */
    int r = kw_kt_dir_update(rs->kt->dir, label, label_len, value_len == 0 ? NULL : value,
                             value_len, NULL, 0, NULL);
    if (r == KW_OK && epoch == KW_STORE_KT_PENDING)
        r = pseq_push(rs->kt, seq);
    rs->updates++;
    return r;
}

static int restore_epoch(void *ctx, uint64_t epoch, uint64_t timestamp, const uint8_t *head)
{
    kt_restore *rs = ctx;
    struct kw_api_kt *kt = rs->kt;
    kw_kt_batch *b = NULL;
    kw_kt_head h;
    uint8_t enc[KW_KT_HEADBYTES];
    size_t n = 0;
    int r;
    if (epoch != rs->next_epoch)
        return KW_ERR_STORAGE;
    if ((r = kw_kt_dir_batch_begin(kt->dir, 0, &b, &n)) != KW_OK)
        return r;
    if ((r = kw_kt_batch_index(b, 0, n)) != KW_OK || (r = kw_kt_batch_prove(b, 0, n)) != KW_OK) {
        kw_kt_dir_batch_abort(kt->dir, &b);
        return r;
    }
    if ((r = kw_kt_dir_batch_commit(kt->dir, &b, timestamp, &h)) != KW_OK)
        return r;
    kw_kt_head_encode(enc, &h);
    if (!kw_ct_equal(enc, head, sizeof(enc))) {
        fprintf(stderr, "level=error event=kt_restore epoch=%" PRIu64
                        " error=\"the replayed head differs from the stored one\"\n",
                epoch);
        return KW_ERR_STORAGE;
    }
    kt->last_ts = timestamp;
    rs->next_epoch++;
    return KW_OK;
}

/* Closes the crash window between the core store's roster commit and the
 * kt enqueue (two transactions): every account whose newest stored roster
 * is not among its label's updates gets it queued now, before the
 * publisher starts. Failures are logged: the next start tries again. */
static void kt_reconcile(kw_server *srv)
{
    kw_store_kt_roster *list = NULL;
    size_t n = 0, done = 0;
    int r = kw_store_kt_unqueued(srv->kt->store, &list, &n);
    if (r != KW_OK) {
        if (r != KW_ERR_UNSUPPORTED)
            fprintf(stderr, "level=error event=kt_reconcile error=\"%s\"\n", kw_strerror(r));
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (kw_api_kt_roster_promise(srv, list[i].name, list[i].roster, list[i].len, NULL) == KW_OK)
            done++;
    if (n > 0)
        fprintf(stderr, "level=warn event=kt_reconcile queued=%zu of=%zu message=\"newest rosters "
                        "missing from the directory were queued\"\n",
                done, n);
    kw_store_kt_unqueued_free(list, n);
}

int kw_api_kt_start(kw_server *srv, int64_t epoch_ms)
{
    int r = KW_ERR_INTERNAL;
    uint8_t seed[32], vrf_sk[KW_VRF_SECRETKEYBYTES], okey[KW_KT_OPENING_KEYBYTES];
    struct kw_api_kt *kt = calloc(1, sizeof(*kt));
    if (kt == NULL)
        return KW_ERR_NOMEM;
    kt->epoch_ms = epoch_ms > 0 ? epoch_ms : 1000;
    kt->store = srv->store;
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
                            strlen(KT_LABEL_VRF))) != KW_OK ||
        (r = kw_hkdf_sha256(okey, sizeof(okey), NULL, 0, srv->keys->kt_seed,
                            sizeof(srv->keys->kt_seed), (const uint8_t *)KT_LABEL_OPENING,
                            strlen(KT_LABEL_OPENING))) != KW_OK)
        goto out;
    kw_vrf_keypair_from_seed(kt->vrf_pk, vrf_sk, seed);
    kw_kt_dir_config cfg = {.vrf_sk = vrf_sk, .log_key = kt->log_key, .store = NULL,
                            .max_merge_delay = 2, .opening_key = okey};
    if ((r = kw_kt_dir_new(&kt->dir, &cfg)) != KW_OK)
        goto out;
    kt_restore rs = {.kt = kt};
    kw_store_kt_loader ld = {.ctx = &rs, .label = restore_label, .update = restore_update,
                             .epoch = restore_epoch};
    r = kt->store != NULL ? kw_store_kt_load(kt->store, &ld) : KW_ERR_UNSUPPORTED;
    if (r == KW_ERR_UNSUPPORTED) {
        fprintf(stderr, "level=warn event=kt_memory_only message=\"the store has no key-"
                        "transparency tables: the directory starts empty and is not kept\"\n");
        r = KW_OK;
    } else if (r == KW_OK) {
        kt->durable = 1;
        fprintf(stderr, "level=info event=kt_restored epochs=%" PRIu64 " updates=%" PRIu64
                        " pending=%zu\n",
                rs.next_epoch, rs.updates, kt->npseq);
    } else {
        fprintf(stderr, "level=error event=kt_restore error=\"%s\"\n", kw_strerror(r));
        goto out;
    }
    srv->kt = kt;
    /* Epoch 0 right away when there is none, so that the directory has a
     * head from the start. */
    if (rs.next_epoch == 0)
        kt_publish_once(kt);
    if (kt->durable)
        kt_reconcile(srv);
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
    sodium_memzero(okey, sizeof(okey));
    if (r != KW_OK) {
        kw_kt_dir_free(&kt->dir);
        kw_sign_key_free(&kt->log_key);
        free(kt->pseq);
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
    free(kt->pseq);
    pthread_rwlock_destroy(&kt->lock);
    pthread_mutex_destroy(&kt->stop_mu);
    pthread_cond_destroy(&kt->stop_cv);
    free(kt);
    srv->kt = NULL;
}

int kw_api_kt_roster_promise(kw_server *srv, const char *name, const uint8_t *roster, size_t len,
                             json_t *out)
{
    struct kw_api_kt *kt = srv->kt;
    uint8_t promise[KW_KT_PROMISE_MAXBYTES];
    size_t plen = 0, nlen = name != NULL ? strlen(name) : 0;
    uint64_t seq = 0;
    int r;
    if (kt == NULL)
        return KW_OK;
    pthread_rwlock_wrlock(&kt->lock);
    if (kt->failed) {
        r = KW_ERR_STORAGE;
        goto out;
    }
    uint32_t v = kw_kt_dir_next_version(kt->dir, (const uint8_t *)name, nlen);
    if (v == 0) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    /* Durable first: the promise only leaves once the update is stored. */
    if (kt->durable && (r = kw_store_kt_enqueue(kt->store, (const uint8_t *)name, nlen, v, roster,
                                                len, (int64_t)(now_ms() / 1000), &seq)) != KW_OK)
        goto out;
    if ((r = kw_kt_dir_update(kt->dir, (const uint8_t *)name, nlen, roster, len, promise,
                              sizeof(promise), &plen)) != KW_OK) {
        if (kt->durable)
            kt->failed = 1; /* stored but not queued: the store is ahead; a restart fixes it */
        goto out;
    }
    if (kt->durable && (r = pseq_push(kt, seq)) != KW_OK) {
        kt->failed = 1;
        goto out;
    }
    r = KW_OK;
out:
    pthread_rwlock_unlock(&kt->lock);
    if (r != KW_OK) {
        fprintf(stderr, "level=error event=kt_update error=\"%s\"\n", kw_strerror(r));
        return r;
    }
    if (out != NULL && kw_api_put_b64(out, "kt_promise", promise, plen) != KW_OK)
        return KW_ERR_NOMEM;
    return KW_OK;
}

json_t *kw_api_kt_roster_answer(kw_server *srv, const char *name, const uint8_t *roster,
                                size_t len, json_t *out)
{
    (void)kw_api_kt_roster_promise(srv, name, roster, len, out);
    return out;
}

void kw_api_kt_roster(kw_server *srv, const char *name, const uint8_t *roster, size_t len)
{
    (void)kw_api_kt_roster_promise(srv, name, roster, len, NULL);
}

/* ---- endpoints ---- */

static struct kw_api_kt *kt_of(kw_http_req *req)
{
    kw_server *srv = req->app;
    return srv->kt;
}

/* The directory, or an error answer: off (404) or stopped after a store
 * failure (503). */
static int kt_ready(kw_http_req *req, kw_http_resp *resp, struct kw_api_kt **out)
{
    struct kw_api_kt *kt = kt_of(req);
    *out = NULL;
    if (kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "key transparency is off");
    pthread_rwlock_rdlock(&kt->lock);
    int failed = kt->failed;
    pthread_rwlock_unlock(&kt->lock);
    if (failed)
        return kw_http_fail(resp, KW_ERR_STORAGE, "key transparency is stopped (storage failure)");
    *out = kt;
    return KW_OK;
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
    struct kw_api_kt *kt = NULL;
    kw_kt_head h;
    uint8_t enc[KW_KT_HEADBYTES];
    int rr = kt_ready(req, resp, &kt);
    if (kt == NULL)
        return rr;
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
        off += 1 + 4 + 80 + 32 + 4; /* flag, version, VRF proof, opening, value length */
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

/* Test-only (srv->test_faults): POST /v1/kt/test-fill/{n} queues n
 * synthetic labels "kt-fill-<k>" (64-byte random values), stored in one
 * transaction, for the HTTP benchmark; they are published (with their VRF
 * proofs) in the next epoch. */
static int kt_test_fill(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    struct kw_api_kt *kt = srv->kt;
    uint64_t n = 0;
    int r = KW_ERR_NOMEM;
    if (!srv->test_faults || kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "not found");
    if (parse_u64(req->params[0], &n) != KW_OK || n == 0 || n > 1000000)
        return kw_http_fail(resp, KW_ERR_FORMAT, "1 to 10^6 labels");
    char (*names)[32] = calloc((size_t)n, 32);
    uint8_t *vals = malloc((size_t)n * 64), **lp = calloc((size_t)n, sizeof(*lp)),
            **vp = calloc((size_t)n, sizeof(*vp));
    size_t *ll = calloc((size_t)n, sizeof(*ll)), *vl = calloc((size_t)n, sizeof(*vl));
    uint32_t *ver = calloc((size_t)n, sizeof(*ver));
    uint64_t *seq = calloc((size_t)n, sizeof(*seq));
    if (names == NULL || vals == NULL || lp == NULL || vp == NULL || ll == NULL || vl == NULL ||
        ver == NULL || seq == NULL)
        goto out;
    randombytes_buf(vals, (size_t)n * 64);
    pthread_rwlock_wrlock(&kt->lock);
    uint64_t base = kt->dir != NULL ? kw_kt_dir_pending(kt->dir) : 0;
    for (uint64_t i = 0; i < n; i++) {
        snprintf(names[i], 32, "kt-fill-%" PRIu64 "-%" PRIu64, base, i);
        lp[i] = (uint8_t *)names[i];
        ll[i] = strlen(names[i]);
        vp[i] = vals + i * 64;
        vl[i] = 64;
        ver[i] = kw_kt_dir_next_version(kt->dir, lp[i], ll[i]);
    }
    r = kt->failed ? KW_ERR_STORAGE : KW_OK;
    if (r == KW_OK && kt->durable)
        r = kw_store_kt_enqueue_many(kt->store, (size_t)n, (const uint8_t *const *)lp, ll, ver,
                                     (const uint8_t *const *)vp, vl, (int64_t)(now_ms() / 1000),
                                     seq);
    for (uint64_t i = 0; r == KW_OK && i < n; i++) {
        if ((r = kw_kt_dir_update(kt->dir, lp[i], ll[i], vp[i], vl[i], NULL, 0, NULL)) != KW_OK ||
            (kt->durable && (r = pseq_push(kt, seq[i])) != KW_OK))
            kt->failed = kt->durable; /* partly queued: the store is ahead */
    }
    pthread_rwlock_unlock(&kt->lock);
out:
    free(names);
    free(vals);
    free(lp);
    free(vp);
    free(ll);
    free(vl);
    free(ver);
    free(seq);
    if (r != KW_OK)
        return kw_http_fail(resp, r, "fill failed");
    json_t *o = json_pack("{s:I,s:I}", "queued", (json_int_t)n, "first", (json_int_t)base);
    if (o == NULL)
        return KW_ERR_NOMEM;
    kw_http_json(resp, 200, o);
    return KW_OK;
}

static int kt_search_common(kw_http_req *req, kw_http_resp *resp, uint64_t pinned)
{
    struct kw_api_kt *kt = NULL;
    const char *label = req->params[0];
    kw_buf *b = NULL;
    int rr = kt_ready(req, resp, &kt);
    if (kt == NULL)
        return rr;
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
    struct kw_api_kt *kt = NULL;
    uint64_t from, to;
    kw_buf *b = NULL;
    int rr = kt_ready(req, resp, &kt);
    if (kt == NULL)
        return rr;
    if (req->params[1] != NULL && strcmp(req->params[1], "latest") == 0)
        to = UINT64_MAX;
    else if (parse_u64(req->params[1], &to) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "epochs are decimal integers (or latest)");
    if (parse_u64(req->params[0], &from) != KW_OK)
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
    struct kw_api_kt *kt = NULL;
    uint64_t epoch;
    kw_buf *b = NULL;
    int rr = kt_ready(req, resp, &kt);
    if (kt == NULL)
        return rr;
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

/* GET /v1/kt/lookup/{label}/{version}[/{pinned_log_size}] */
static int kt_lookup_common(kw_http_req *req, kw_http_resp *resp, uint64_t pinned)
{
    struct kw_api_kt *kt = NULL;
    const char *label = req->params[0];
    uint64_t version;
    kw_buf *b = NULL;
    int rr = kt_ready(req, resp, &kt);
    if (kt == NULL)
        return rr;
    if (label == NULL || label[0] == '\0' || strlen(label) > KW_KT_LABEL_MAXBYTES)
        return kw_http_fail(resp, KW_ERR_FORMAT, "bad label");
    if (parse_u64(req->params[1], &version) != KW_OK || version == 0 || version >= KW_KT_MAX_VERSION)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the version is a decimal integer >= 1");
    if ((b = kw_buf_new(KW_KT_RESPONSE_MAXBYTES)) == NULL)
        return KW_ERR_NOMEM;
    pthread_rwlock_rdlock(&kt->lock);
    int r = kw_kt_dir_lookup(kt->dir, (const uint8_t *)label, strlen(label), (uint32_t)version,
                             pinned, b);
    pthread_rwlock_unlock(&kt->lock);
    r = kt_reply(resp, r, "proof", b);
    kw_buf_free(&b);
    return r;
}

static int kt_lookup(kw_http_req *req, kw_http_resp *resp)
{
    return kt_lookup_common(req, resp, 0);
}

static int kt_lookup_pinned(kw_http_req *req, kw_http_resp *resp)
{
    uint64_t pinned;
    if (parse_u64(req->params[2], &pinned) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the pinned log size is a decimal integer");
    return kt_lookup_common(req, resp, pinned);
}

/* GET /v1/kt/monitor/{label}/{since_epoch}/{from_version}[/{pinned_log_size}] */
static int kt_monitor_common(kw_http_req *req, kw_http_resp *resp, uint64_t pinned)
{
    struct kw_api_kt *kt = NULL;
    const char *label = req->params[0];
    uint64_t since, from;
    kw_buf *b = NULL;
    int rr = kt_ready(req, resp, &kt);
    if (kt == NULL)
        return rr;
    if (label == NULL || label[0] == '\0' || strlen(label) > KW_KT_LABEL_MAXBYTES)
        return kw_http_fail(resp, KW_ERR_FORMAT, "bad label");
    if (parse_u64(req->params[1], &since) != KW_OK || parse_u64(req->params[2], &from) != KW_OK ||
        from >= KW_KT_MAX_VERSION)
        return kw_http_fail(resp, KW_ERR_FORMAT, "epoch and version are decimal integers");
    if ((b = kw_buf_new(KW_KT_RESPONSE_MAXBYTES)) == NULL)
        return KW_ERR_NOMEM;
    pthread_rwlock_rdlock(&kt->lock);
    int r = kw_kt_dir_monitor(kt->dir, (const uint8_t *)label, strlen(label), since, (uint32_t)from,
                              pinned, b);
    pthread_rwlock_unlock(&kt->lock);
    r = kt_reply(resp, r, "proof", b);
    kw_buf_free(&b);
    return r;
}

static int kt_monitor(kw_http_req *req, kw_http_resp *resp)
{
    return kt_monitor_common(req, resp, 0);
}

static int kt_monitor_pinned(kw_http_req *req, kw_http_resp *resp)
{
    uint64_t pinned;
    if (parse_u64(req->params[3], &pinned) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the pinned log size is a decimal integer");
    return kt_monitor_common(req, resp, pinned);
}

/* POST /v1/kt/auditor {"record": base64url(auditor_pk ‖ head ‖ sig)}: an
 * auditor's signature over one of this log's heads. Stored (newest per
 * auditor) when the signature is valid and the head is the one this server
 * signed for that epoch. */
static int kt_auditor_post(kw_http_req *req, kw_http_resp *resp)
{
    struct kw_api_kt *kt = NULL;
    uint8_t rec[KW_KT_AUDITOR_SIGBYTES + 3], pk[32], a[KW_KT_HEADBYTES], b2[KW_KT_HEADBYTES];
    size_t len = 0;
    kw_kt_head h, ours;
    int rr = kt_ready(req, resp, &kt);
    if (kt == NULL)
        return rr;
    if (!kt->durable)
        return kw_http_fail(resp, KW_ERR_UNSUPPORTED, "auditor records need a store with kt tables");
    const char *s64 = json_string_value(json_object_get(req->body, "record"));
    int r = s64 == NULL || strlen(s64) > 400
                ? KW_ERR_FORMAT
                : kw_b64url_decode(rec, sizeof(rec), &len, s64, strlen(s64));
    if (r != KW_OK || len != KW_KT_AUDITOR_SIGBYTES)
        return kw_http_fail(resp, KW_ERR_FORMAT, "record: base64url auditor record expected");
    if (kw_kt_auditor_sig_verify(&h, pk, rec, len, NULL, kt->log_pk) != KW_OK)
        return kw_http_fail(resp, KW_ERR_VERIFY, "the auditor record does not verify");
    pthread_rwlock_rdlock(&kt->lock);
    r = kw_kt_dir_head_at(kt->dir, h.epoch, &ours);
    pthread_rwlock_unlock(&kt->lock);
    if (r != KW_OK)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such epoch");
    kw_kt_head_encode(a, &h);
    kw_kt_head_encode(b2, &ours);
    if (!kw_ct_equal(a, b2, sizeof(a)))
        return kw_http_fail(resp, KW_ERR_VERIFY, "the audited head is not this log's head");
    r = kw_store_kt_auditor_put(kt->store, pk, h.epoch, rec);
    if (r == KW_ERR_CONFLICT)
        return kw_http_fail(resp, KW_ERR_CONFLICT, "a later record of this auditor is stored");
    if (r != KW_OK)
        return kw_http_fail(resp, r, "cannot store the record");
    json_t *out = json_pack("{s:I}", "epoch", (json_int_t)h.epoch);
    if (out == NULL)
        return KW_ERR_NOMEM;
    kw_http_json(resp, 200, out);
    return KW_OK;
}

/* GET /v1/kt/auditor/{auditor_pk}: that auditor's newest record. */
static int kt_auditor_get(kw_http_req *req, kw_http_resp *resp)
{
    struct kw_api_kt *kt = NULL;
    uint8_t pk[32 + 3], rec[KW_KT_AUDITOR_SIGBYTES];
    size_t len = 0;
    const char *p = req->params[0];
    int rr = kt_ready(req, resp, &kt);
    if (kt == NULL)
        return rr;
    if (p == NULL || strlen(p) > 64 || kw_b64url_decode(pk, sizeof(pk), &len, p, strlen(p)) != KW_OK ||
        len != 32)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the auditor key is 32 bytes in base64url");
    if (!kt->durable)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no record");
    int r = kw_store_kt_auditor_get(kt->store, pk, rec);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no record of this auditor");
    if (r != KW_OK)
        return kw_http_fail(resp, r, "cannot read the record");
    json_t *out = json_object();
    if (out == NULL || kw_api_put_b64(out, "record", rec, sizeof(rec)) != KW_OK) {
        json_decref(out);
        return KW_ERR_NOMEM;
    }
    kw_http_json(resp, 200, out);
    return KW_OK;
}

const kw_http_route kw_api_kt_routes[] = {
    {"GET", "/v1/kt/keys", kt_keys, 0},
    {"GET", "/v1/kt/head", kt_head, 0},
    {"GET", "/v1/kt/search/{}", kt_search, 0},
    {"GET", "/v1/kt/search/{}/{}", kt_search_pinned, 0},
    {"GET", "/v1/kt/consistency/{}/{}", kt_consistency, 0},
    {"GET", "/v1/kt/insertions/{}", kt_insertions, 0},
    {"GET", "/v1/kt/lookup/{}/{}", kt_lookup, 0},
    {"GET", "/v1/kt/lookup/{}/{}/{}", kt_lookup_pinned, 0},
    {"GET", "/v1/kt/monitor/{}/{}/{}", kt_monitor, 0},
    {"GET", "/v1/kt/monitor/{}/{}/{}/{}", kt_monitor_pinned, 0},
    {"POST", "/v1/kt/auditor", kt_auditor_post, 1024},
    {"GET", "/v1/kt/auditor/{}", kt_auditor_get, 0},
    {"POST", "/v1/kt/test-lie/{}", kt_test_lie, 0},   /* --test-faults only */
    {"POST", "/v1/kt/test-fill/{}", kt_test_fill, 0}, /* --test-faults only */
};
const size_t kw_api_kt_nroutes = sizeof(kw_api_kt_routes) / sizeof(kw_api_kt_routes[0]);
