/*
 * The key-transparency directory of keywardd (docs/api.md, "Key
 * transparency"): one kw_kt_dir per server holding every published roster
 * (label = account name, value = roster bytes), a publisher thread closing
 * an epoch every kt_epoch_ms (heartbeat epochs included), and the public
 * read-only endpoints GET /v1/kt/{keys,head,search,lookup,monitor,
 * consistency,insertions,auditor} plus POST /v1/kt/auditor (an auditor's
 * signature over a head it verified).
 *
 * Several nodes on one store (issue 8; docs/api.md, "Several nodes"):
 *  - an accepted update is appended to the store, which assigns the label's
 *    version (serialized with every other node's appends), and the promise
 *    is signed for that version; it is not put in the local directory;
 *  - every node follows the store (kt_sync, each tick): it reads the
 *    updates and epochs that are new since its last look and replays each
 *    epoch someone published, checking the rebuilt head byte for byte
 *    against the stored one (the same self-audit as at start, which is a
 *    sync from nothing);
 *  - a keeper thread takes and renews the lease "kt-publisher" (store/
 *    admin.h) every lease_ms / 4; only its holder publishes, after a sync
 *    (so it has caught up with the previous holder and holds every node's
 *    pending updates), and the epoch's commit is fenced by the lease in the
 *    same transaction (a node that lost it cannot commit; the epoch number
 *    is unique too). A lost race makes the node rebuild its directory from
 *    the store.
 *  - publishing indexes the batch with kw_kt_batch_index (one VRF
 *    evaluation per new label) on kt.publish_threads threads, without the
 *    lock (readers go on; the prover waits); the VRF
 *    proofs of new labels are computed afterwards by a low-priority prover
 *    thread, stored (kt_labels) and installed; a search for a label whose
 *    proof is not there yet computes one on the fly (kw_kt_dir_search).
 * Thread safety: the directory and the follower state are guarded by a
 * rwlock — syncing, publishing and installing proofs take it for writing
 * (dropped while a batch is indexed: then only readers run), the endpoints
 * for reading. Threads: the publisher (sync + publish), the lease keeper,
 * the prover; roster promises need no directory lock (store only). An update is stored before its promise is
 * returned; an epoch is committed to the store while the write lock is
 * held, so no reader sees a head before it is durable. A backend without
 * kt ops runs the directory in memory, empty at every start (logged).
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
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/areas.h"
#include "config.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"
#include "keyward/kt.h"
#include "store/admin.h"
#include "store/kt.h"

#define KT_LABEL_LOG "keyward/kt/log-key/v1"
#define KT_LABEL_VRF "keyward/kt/vrf-key/v1"
#define KT_LABEL_OPENING "keyward/kt/opening-key/v1"
#define KT_LEASE "kt-publisher"
#define KT_MMD 2
#define KT_LEASE_MIN_MS 250
#define KT_MAX_THREADS 16
#define KT_PROVE_CHUNK 256

/* An update read from the store and not yet in the directory. */
typedef struct {
    uint64_t seq;
    uint32_t version;
    uint8_t *label, *value;
    size_t label_len, value_len;
} kt_pend;

struct kw_api_kt {
    pthread_rwlock_t lock;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    pthread_t thread, keeper, prover;
    int running, keeper_running, prover_running;
    atomic_int stopping;
    int64_t epoch_ms, lease_ms, tick_ms;
    int threads; /* indexing threads per epoch */
    kw_kt_dir *dir;
    kw_sign_key *log_key;
    uint8_t *vrf_sk; /* sodium_malloc'd, read-only: prover and rebuilds */
    uint8_t *okey;   /* the opening key, likewise */
    uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES];
    uint8_t vrf_pk[KW_VRF_PUBLICKEYBYTES];
    uint64_t last_ts;
    atomic_int lie; /* test_faults only: KT_LIE_* applied to search answers */
    kw_store *store;
    kw_server *srv;
    int durable;  /* the store has kt ops */
    int failed;   /* a replayed head differs or a rebuild failed: endpoints answer 503 */
    int rebuild;  /* the directory may be ahead of the store: rebuild it at the next tick */
    /* following the store (durable) */
    kt_pend *pend;
    size_t npend, pend_cap;
    uint64_t max_seq;
    /* the lease */
    char node_id[KW_STORE_LEASE_NAME_MAX + 1];
    atomic_int held;          /* the keeper holds the lease */
    atomic_llong held_until;  /* monotonic ms until which it surely does */
    int leader;               /* the publisher acts as leader */
    /* the prover (VRF proofs off the publish path) */
    pthread_mutex_t pmu;
    pthread_cond_t pcv;
    int prove_kick;            /* new labels without a proof were published */
    int job_active;            /* the prover holds a proof job of `dir` (write lock) */
    int indexing;              /* a batch is being indexed without the lock (write lock) */
    kw_kt_dir *graveyard;      /* a directory replaced while a job of it was out */
    atomic_ullong proved;
    /* figures of the last non-empty epoch (test-stats) */
    atomic_ullong st_n, st_new, st_index_us, st_commit_us, st_store_us, st_total_us, st_epoch;
};

enum { KT_LIE_NONE = 0, KT_LIE_HEAD_SIG, KT_LIE_VALUE };

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
    return mono_us() / 1000;
}

/* ---- promises (the format of kt.h: u16 len ‖ label ‖ u32 version ‖
 * SHA-256(value) ‖ u64 deadline epoch ‖ signature under
 * KW_KT_PROMISE_CONTEXT), for a version the store assigned ---- */

static void be_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static int kt_promise_sign(uint8_t *out, size_t *out_len, const kw_sign_key *key,
                           const uint8_t *label, size_t label_len, uint32_t version,
                           const uint8_t *value, size_t value_len, uint64_t deadline)
{
    if (label_len > KW_KT_LABEL_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    be_put(out, label_len, 2);
    memcpy(out + 2, label, label_len);
    size_t o = 2 + label_len;
    be_put(out + o, version, 4);
    o += 4;
    crypto_hash_sha256(out + o, value_len == 0 ? (const uint8_t *)"" : value, value_len);
    o += 32;
    be_put(out + o, deadline, 8);
    o += 8;
    int r = kw_sign(key, out + o, (const uint8_t *)KW_KT_PROMISE_CONTEXT,
                    sizeof(KW_KT_PROMISE_CONTEXT) - 1, out, o);
    if (r != KW_OK)
        return r;
    *out_len = o + KW_SIGN_BYTES;
    return KW_OK;
}

/* ---- indexing on several threads ---- */

typedef struct {
    kw_kt_batch *b;
    size_t from, to;
    int r;
} kt_slice;

static void *index_slice(void *arg)
{
    kt_slice *s = arg;
    s->r = kw_kt_batch_index(s->b, s->from, s->to);
    return NULL;
}

/* kw_kt_batch_index over disjoint ranges on up to `threads` threads (the
 * caller's included); nothing else touches the directory meanwhile. */
static int index_parallel(kw_kt_batch *b, size_t n, int threads)
{
    kt_slice sl[KT_MAX_THREADS];
    pthread_t th[KT_MAX_THREADS];
    int started[KT_MAX_THREADS] = {0};
    size_t t = n < 256 ? 1 : (size_t)threads;
    if (t < 1)
        t = 1;
    for (size_t i = 0; i < t; i++) {
        sl[i] = (kt_slice){.b = b, .from = n * i / t, .to = n * (i + 1) / t, .r = KW_OK};
        if (i > 0)
            started[i] = pthread_create(&th[i], NULL, index_slice, &sl[i]) == 0;
    }
    index_slice(&sl[0]);
    int r = sl[0].r;
    for (size_t i = 1; i < t; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            sl[i].r = kw_kt_batch_index(b, sl[i].from, sl[i].to);
        if (r == KW_OK)
            r = sl[i].r;
    }
    return r;
}

/* ---- the prover ---- */

/* Wakes the prover: labels without a VRF proof were published. */
static void prover_kick(struct kw_api_kt *kt)
{
    pthread_mutex_lock(&kt->pmu);
    kt->prove_kick = 1;
    pthread_cond_signal(&kt->pcv);
    pthread_mutex_unlock(&kt->pmu);
}

/* Computes the VRF proofs that index-only publishing skipped, at the
 * lowest CPU priority, KT_PROVE_CHUNK labels per job (kw_kt_dir_proofs_*):
 * the job is taken and committed under the write lock, the proofs are
 * computed without it (searches go on; a search for a label still without
 * proof proves it on the fly), and stored (kt_labels) before they are
 * committed, so that a restart needs no VRF for them. */
static void *kt_prover(void *arg)
{
    struct kw_api_kt *kt = arg;
    kw_store_kt_label sl[KT_PROVE_CHUNK];
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    for (;;) {
        kw_kt_proofs *job = NULL;
        kw_kt_dir *jd = NULL;
        size_t n = 0, ok = 0;
        pthread_mutex_lock(&kt->pmu);
        if (!kt->prove_kick && !atomic_load(&kt->stopping)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&kt->pcv, &kt->pmu, &ts);
        }
        kt->prove_kick = 0;
        pthread_mutex_unlock(&kt->pmu);
        if (atomic_load(&kt->stopping))
            break;
        do {
            pthread_rwlock_wrlock(&kt->lock);
            int r = kt->failed || kt->indexing
                        ? KW_ERR_STORAGE /* not now: retried after the next kick or second */
                        : kw_kt_dir_proofs_begin(kt->dir, KT_PROVE_CHUNK, &job, &n);
            if (r == KW_OK && n > 0) {
                jd = kt->dir;
                kt->job_active = 1;
            }
            pthread_rwlock_unlock(&kt->lock);
            if (r != KW_OK || n == 0) {
                kw_kt_proofs_free(&job);
                break;
            }
            r = kw_kt_proofs_compute(job, 0, n);
            ok = 0;
            for (size_t i = 0; r == KW_OK && i < n; i++) {
                if (kw_kt_proofs_entry(job, i, &sl[ok].label, &sl[ok].label_len, &sl[ok].proof) ==
                    KW_OK)
                    ok++;
            }
            if (r == KW_OK && kt->durable && (r = kw_store_kt_labels_put(kt->store, sl, ok)) != KW_OK)
                fprintf(stderr, "level=warn event=kt_prove error=\"%s\" message=\"proofs not "
                                "stored; computed again later\"\n",
                        kw_strerror(r));
            pthread_rwlock_wrlock(&kt->lock);
            while (kt->indexing && !atomic_load(&kt->stopping)) {
                /* no writer while a batch is indexed without the lock */
                pthread_rwlock_unlock(&kt->lock);
                usleep(20 * 1000);
                pthread_rwlock_wrlock(&kt->lock);
            }
            if (r == KW_OK && kt->dir == jd)
                (void)kw_kt_dir_proofs_commit(kt->dir, &job, NULL);
            kw_kt_proofs_free(&job); /* not committed: kw_kt_dir_prove_missing finds them */
            kt->job_active = 0;
            kw_kt_dir_free(&kt->graveyard);
            pthread_rwlock_unlock(&kt->lock);
            if (r == KW_OK)
                atomic_fetch_add(&kt->proved, ok);
            else
                break;
        } while (!atomic_load(&kt->stopping));
    }
    return NULL;
}

/* ---- following the store ---- */

static void pend_drop(struct kw_api_kt *kt, size_t n)
{
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        free(kt->pend[i].label);
        free(kt->pend[i].value);
    }
    memmove(kt->pend, kt->pend + n, (kt->npend - n) * sizeof(kt_pend));
    kt->npend -= n;
}

/* One epoch of n updates (write lock held; released while indexing):
 * moves the oldest n store updates into the
 * directory (checking their versions), indexes them on the publish threads
 * (one VRF evaluation per new label, no proof) and commits them with
 * timestamp ts. The caller stores (publisher) or compares (follower) the
 * head. *nnew: the batch's new labels (their proofs come from the prover). */
static int kt_epoch(struct kw_api_kt *kt, size_t n, uint64_t ts, kw_kt_head *head, size_t *nnew,
                    int64_t *index_us)
{
    kw_kt_batch *b = NULL;
    size_t got = 0, nl = 0;
    int r = KW_OK;
    *nnew = 0;
    if (n > kt->npend)
        return KW_ERR_STORAGE; /* an epoch publishing updates the store does not show */
    for (size_t i = 0; r == KW_OK && i < n; i++) {
        kt_pend *p = &kt->pend[i];
        if (kw_kt_dir_next_version(kt->dir, p->label, p->label_len) != p->version)
            r = KW_ERR_STORAGE; /* a gap or a repeat in a label's versions */
        else
            r = kw_kt_dir_update(kt->dir, p->label, p->label_len, p->value, p->value_len, NULL,
                                 0, NULL);
    }
    if (r != KW_OK)
        return r; /* updates stuck in the directory's queue: the caller rebuilds */
    pend_drop(kt, n);
    if ((r = kw_kt_dir_batch_begin(kt->dir, 0, &b, &got)) != KW_OK)
        return r;
    if (got != n) {
        kw_kt_dir_batch_abort(kt->dir, &b);
        return KW_ERR_INTERNAL;
    }
    for (size_t i = 0; i < got; i++) {
        const uint8_t *l;
        size_t ll;
        uint32_t v;
        if (kw_kt_batch_entry(b, i, &l, &ll, &v) == KW_OK && v == 1)
            nl++;
    }
    /* The VRF work runs without the lock (kt.h: indexing may run alongside
     * readers), so searches keep being answered during a large epoch; the
     * only other writer, the prover, takes no job meanwhile. */
    int64_t t0 = mono_us();
    kt->indexing = 1;
    pthread_rwlock_unlock(&kt->lock);
    r = index_parallel(b, got, kt->threads);
    pthread_rwlock_wrlock(&kt->lock);
    kt->indexing = 0;
    *index_us = mono_us() - t0;
    if (r != KW_OK) {
        kw_kt_dir_batch_abort(kt->dir, &b);
        return r;
    }
    if ((r = kw_kt_dir_batch_commit(kt->dir, &b, ts, head)) != KW_OK)
        return r;
    *nnew = nl;
    return KW_OK;
}

typedef struct {
    struct kw_api_kt *kt;
    uint64_t epochs, updates;
    int applied_error; /* a callback failed: the directory may be half-changed */
} kt_follow;

static int follow_label(void *ctx, const uint8_t *label, size_t label_len, const uint8_t *proof)
{
    kt_follow *fo = ctx;
    return kw_kt_dir_restore_label(fo->kt->dir, label, label_len, proof);
}

static int follow_update(void *ctx, uint64_t seq, uint64_t epoch, const uint8_t *label,
                         size_t label_len, uint32_t version, const uint8_t *value, size_t value_len)
{
    kt_follow *fo = ctx;
    struct kw_api_kt *kt = fo->kt;
    (void)epoch;
    if (seq <= kt->max_seq)
        return KW_ERR_STORAGE;
    if (kt->npend == kt->pend_cap) {
        size_t cap = kt->pend_cap == 0 ? 64 : kt->pend_cap * 2;
        kt_pend *p = realloc(kt->pend, cap * sizeof(*p));
        if (p == NULL)
            return KW_ERR_NOMEM;
        kt->pend = p;
        kt->pend_cap = cap;
    }
    kt_pend *p = &kt->pend[kt->npend];
    p->label = malloc(label_len);
    p->value = malloc(value_len == 0 ? 1 : value_len);
    if (p->label == NULL || p->value == NULL) {
        free(p->label);
        free(p->value);
        return KW_ERR_NOMEM;
    }
    memcpy(p->label, label, label_len);
    if (value_len > 0)
        memcpy(p->value, value, value_len);
    p->label_len = label_len;
    p->value_len = value_len;
    p->seq = seq;
    p->version = version;
    kt->npend++;
    kt->max_seq = seq;
    fo->updates++;
    return KW_OK;
}

static int follow_epoch(void *ctx, uint64_t epoch, uint64_t timestamp, const uint8_t *stored,
                        uint64_t n)
{
    kt_follow *fo = ctx;
    struct kw_api_kt *kt = fo->kt;
    kw_kt_head h, cur;
    uint8_t enc[KW_KT_HEADBYTES];
    size_t nl = 0;
    int64_t us = 0;
    uint64_t nep = kw_kt_dir_head(kt->dir, &cur) == KW_OK ? cur.epoch + 1 : 0;
    fo->applied_error = 1; /* until this epoch stands */
    if (epoch != nep || n > SIZE_MAX)
        return KW_ERR_STORAGE;
    int r = kt_epoch(kt, (size_t)n, timestamp, &h, &nl, &us);
    if (r != KW_OK)
        return r;
    kw_kt_head_encode(enc, &h);
    if (!kw_ct_equal(enc, stored, sizeof(enc))) {
        fprintf(stderr, "level=error event=kt_restore epoch=%" PRIu64
                        " error=\"the replayed head differs from the stored one\"\n",
                epoch);
        return KW_ERR_VERIFY;
    }
    if (nl > 0)
        prover_kick(kt);
    kt->last_ts = timestamp;
    fo->epochs++;
    fo->applied_error = 0;
    return KW_OK;
}

/* Reads what is new in the store and replays it (write lock held). A
 * replayed head that differs from the stored one is KW_ERR_VERIFY. */
static int kt_sync(struct kw_api_kt *kt, kt_follow *fo)
{
    kw_kt_head cur;
    uint64_t nep = kw_kt_dir_head(kt->dir, &cur) == KW_OK ? cur.epoch + 1 : 0;
    kw_store_kt_follower f = {.ctx = fo, .label = follow_label, .update = follow_update,
                              .epoch = follow_epoch};
    fo->kt = kt;
    return kw_store_kt_load_since(kt->store, kt->max_seq, nep, &f);
}

static int kt_dir_create(struct kw_api_kt *kt, kw_kt_dir **out)
{
    kw_kt_dir_config cfg = {.vrf_sk = kt->vrf_sk, .log_key = kt->log_key, .store = NULL,
                            .max_merge_delay = KT_MMD, .opening_key = kt->okey};
    return kw_kt_dir_new(out, &cfg);
}

/* The directory may be ahead of the store (an epoch whose commit failed,
 * e.g. after losing the lease): start over from the store (write lock
 * held). */
static void kt_rebuild(struct kw_api_kt *kt)
{
    kw_kt_dir *d = NULL;
    kt_follow fo = {0};
    int r = kt_dir_create(kt, &d);
    if (r == KW_OK) {
        if (kt->job_active)
            kt->graveyard = kt->dir; /* the prover's job still points into it */
        else
            kw_kt_dir_free(&kt->dir);
        kt->dir = d;
        pend_drop(kt, kt->npend);
        kt->max_seq = 0;
        kt->last_ts = 0;
        r = kt_sync(kt, &fo);
    }
    kt->rebuild = r != KW_OK && r != KW_ERR_VERIFY;
    kt->failed = r != KW_OK;
    fprintf(stderr, "level=%s event=kt_rebuild epochs=%" PRIu64 " error=\"%s\"\n",
            r == KW_OK ? "warn" : "error", fo.epochs, kw_strerror(r));
}

/* ---- publishing ---- */

/* One tick (write lock taken here): follow the store; when publish is set,
 * also publish one epoch (the pending updates of every node, or a
 * heartbeat) and commit it fenced by the lease before anyone can read it. */
static void kt_tick(struct kw_api_kt *kt, int publish)
{
    kw_kt_head head;
    size_t nl = 0, n = 0;
    int64_t index_us = 0, t0 = mono_us(), t1 = 0, t2 = 0;
    const char *what = "publish";
    int r = KW_OK;
    pthread_rwlock_wrlock(&kt->lock);
    if (kt->rebuild)
        kt_rebuild(kt);
    if (kt->failed)
        goto out;
    if (kt->durable) {
        kt_follow fo = {0};
        what = "sync";
        if ((r = kt_sync(kt, &fo)) != KW_OK) {
            if (r == KW_ERR_VERIFY)
                kt->failed = 1; /* a stored head we cannot reproduce: stop serving */
            else if (fo.applied_error)
                kt->rebuild = 1; /* an epoch half replayed: start over */
            goto out;           /* else a store error: the next tick reads again */
        }
    }
    if (!publish)
        goto out;
    what = "publish";
    uint64_t ts = now_ms();
    if (ts < kt->last_ts)
        ts = kt->last_ts;
    if (kt->durable) {
        n = kt->npend < KW_KT_EPOCH_MAXUPDATES ? kt->npend : KW_KT_EPOCH_MAXUPDATES;
        uint64_t upto = n > 0 ? kt->pend[n - 1].seq : 0;
        r = kt_epoch(kt, n, ts, &head, &nl, &index_us);
        t1 = mono_us();
        if (r == KW_OK) {
            uint8_t enc[KW_KT_HEADBYTES];
            what = "store";
            kw_kt_head_encode(enc, &head);
            r = kw_store_kt_epoch_commit_fenced(kt->store, KT_LEASE, kt->node_id, head.epoch, ts,
                                                enc, upto, n, NULL, 0);
        }
        t2 = mono_us();
        if (r != KW_OK) {
            kt->rebuild = 1; /* the directory is ahead of the store */
            goto out;
        }
    } else {
        kw_kt_batch *b = NULL;
        if ((r = kw_kt_dir_batch_begin(kt->dir, 0, &b, &n)) == KW_OK) {
            int64_t ti = mono_us();
            if ((r = index_parallel(b, n, kt->threads)) != KW_OK)
                kw_kt_dir_batch_abort(kt->dir, &b);
            index_us = mono_us() - ti;
            if (r == KW_OK)
                r = kw_kt_dir_batch_commit(kt->dir, &b, ts, &head);
            nl = n; /* at most: the prover finds the ones without proof */
        }
        t1 = t2 = mono_us();
        if (r != KW_OK)
            goto out;
    }
    kt->last_ts = ts;
    if (nl > 0)
        prover_kick(kt);
    if (n > 0) {
        atomic_store(&kt->st_n, n);
        atomic_store(&kt->st_new, nl);
        atomic_store(&kt->st_index_us, (unsigned long long)index_us);
        atomic_store(&kt->st_commit_us, (unsigned long long)(t1 - t0 - index_us));
        atomic_store(&kt->st_store_us, (unsigned long long)(t2 - t1));
        atomic_store(&kt->st_total_us, (unsigned long long)(t2 - t0));
        atomic_store(&kt->st_epoch, head.epoch);
    }
out:
    pthread_rwlock_unlock(&kt->lock);
    if (r != KW_OK)
        fprintf(stderr, "level=error event=kt_%s error=\"%s\"%s\n", what, kw_strerror(r),
                kt->failed  ? " action=\"key transparency stopped\""
                : kt->rebuild ? " action=\"directory rebuilt from the store at the next tick\""
                              : "");
    else if (publish && n > 0)
        fprintf(stderr, "level=info event=kt_published epoch=%" PRIu64 " updates=%zu new_labels=%zu"
                        " index_ms=%.1f total_ms=%.1f\n",
                head.epoch, n, nl, (double)index_us / 1000.0, (double)(t2 - t0) / 1000.0);
}

/* Closes the crash window between the core store's roster commit and the
 * kt enqueue (two transactions): every account whose newest stored roster
 * is not among its label's updates gets it queued now. Run by the lease
 * holder (at start, and when it takes the lease over). Failures are
 * logged: the next time tries again. */
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

/* Waits until the monotonic deadline (ms) or a stop; returns 1 when
 * stopping. */
static int kt_wait(struct kw_api_kt *kt, int64_t until_mono_ms)
{
    pthread_mutex_lock(&kt->stop_mu);
    while (!kt->stopping) {
        int64_t left = until_mono_ms - mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (left % 1000) * 1000000;
        ts.tv_sec += (time_t)(left / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&kt->stop_cv, &kt->stop_mu, &ts);
    }
    int s = kt->stopping;
    pthread_mutex_unlock(&kt->stop_mu);
    return s;
}

/* Takes or renews the lease (every node, every lease_ms / 4). */
static void kt_lease_once(struct kw_api_kt *kt)
{
    bool held = false;
    int64_t t = mono_ms();
    int r = kw_store_leader_try(kt->store, KT_LEASE, kt->node_id, kt->lease_ms, &held);
    if (r == KW_ERR_UNSUPPORTED || kt->store == NULL) {
        held = true; /* no shared store: this node is alone */
        r = KW_OK;
    }
    if (r != KW_OK) {
        fprintf(stderr, "level=warn event=kt_lease error=\"%s\"\n", kw_strerror(r));
        held = false;
    }
    /* Sure until the ttl counted from before the call, minus a margin. */
    atomic_store(&kt->held_until, held ? (long long)(t + kt->lease_ms - kt->lease_ms / 8) : 0);
    int was = atomic_exchange(&kt->held, held ? 1 : 0);
    if (held && !was) {
        pthread_mutex_lock(&kt->stop_mu);
        pthread_cond_broadcast(&kt->stop_cv); /* wake the publisher: take over now */
        pthread_mutex_unlock(&kt->stop_mu);
    }
}

static void *kt_keeper(void *arg)
{
    struct kw_api_kt *kt = arg;
    for (;;) {
        if (kt_wait(kt, mono_ms() + kt->lease_ms / 4))
            break;
        kt_lease_once(kt);
    }
    return NULL;
}

static int kt_holds(struct kw_api_kt *kt)
{
    return atomic_load(&kt->held) && mono_ms() < (int64_t)atomic_load(&kt->held_until);
}

static void *kt_publisher(void *arg)
{
    struct kw_api_kt *kt = arg;
    int64_t next_publish = mono_ms();
    for (;;) {
        int holds = kt_holds(kt);
        if (holds && !kt->leader) {
            kt->leader = 1;
            next_publish = mono_ms(); /* take over: catch up and publish now */
            fprintf(stderr, "level=info event=kt_leader node=\"%s\" message=\"this node "
                            "publishes the key-transparency epochs\"\n",
                    kt->node_id);
            if (kt->durable)
                kt_reconcile(kt->srv);
        } else if (!holds && kt->leader) {
            kt->leader = 0;
            fprintf(stderr, "level=info event=kt_follower node=\"%s\"\n", kt->node_id);
        }
        int publish = kt->leader && mono_ms() >= next_publish;
        kt_tick(kt, publish);
        if (publish) {
            next_publish += kt->epoch_ms;
            if (next_publish <= mono_ms())
                next_publish = mono_ms() + kt->epoch_ms;
        }
        int64_t wake = mono_ms() + kt->tick_ms;
        if (kt->leader && next_publish < wake)
            wake = next_publish;
        if (kt_wait(kt, wake))
            break;
    }
    return NULL;
}

static int cfg_int(kw_server *srv, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = srv->cfg != NULL ? kw_config_get(srv->cfg, key) : NULL;
    if (v == NULL)
        return KW_OK;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "keywardd: %s must be an integer from %" PRId64 " to %" PRId64 "\n", key,
                lo, hi);
        return KW_ERR_FORMAT;
    }
    *out = x;
    return KW_OK;
}

static void kt_free(struct kw_api_kt *kt)
{
    kw_kt_dir_free(&kt->dir);
    kw_sign_key_free(&kt->log_key);
    if (kt->vrf_sk != NULL)
        sodium_free(kt->vrf_sk);
    if (kt->okey != NULL)
        sodium_free(kt->okey);
    if (kt->pend != NULL)
        pend_drop(kt, kt->npend);
    free(kt->pend);
    kw_kt_dir_free(&kt->graveyard);
    pthread_rwlock_destroy(&kt->lock);
    pthread_mutex_destroy(&kt->stop_mu);
    pthread_cond_destroy(&kt->stop_cv);
    pthread_mutex_destroy(&kt->pmu);
    pthread_cond_destroy(&kt->pcv);
    free(kt);
}

int kw_api_kt_start(kw_server *srv, int64_t epoch_ms)
{
    int r = KW_ERR_INTERNAL;
    uint8_t seed[32];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t prover = 1, lease_ms = 0, threads = ncpu < 1 ? 1 : ncpu > KT_MAX_THREADS ? KT_MAX_THREADS : ncpu;
    struct kw_api_kt *kt = calloc(1, sizeof(*kt));
    if (kt == NULL)
        return KW_ERR_NOMEM;
    kt->epoch_ms = epoch_ms > 0 ? epoch_ms : 1000;
    kt->store = srv->store;
    kt->srv = srv;
    pthread_rwlock_init(&kt->lock, NULL);
    pthread_mutex_init(&kt->stop_mu, NULL);
    pthread_cond_init(&kt->stop_cv, NULL);
    pthread_mutex_init(&kt->pmu, NULL);
    pthread_cond_init(&kt->pcv, NULL);
    /* The lease: by default one epoch (at least KT_LEASE_MIN_MS), renewed
     * every quarter, so a dead publisher's successor publishes within
     * about 1.25 leases + one epoch's work of the last epoch (docs). */
    lease_ms = kt->epoch_ms < KT_LEASE_MIN_MS ? KT_LEASE_MIN_MS : kt->epoch_ms;
    if ((r = cfg_int(srv, "kt.lease_ms", 100, 3600000, &lease_ms)) != KW_OK ||
        (r = cfg_int(srv, "kt.publish_threads", 1, KT_MAX_THREADS, &threads)) != KW_OK ||
        (r = cfg_int(srv, "kt.prover", 0, 1, &prover)) != KW_OK)
        goto out;
    kt->lease_ms = lease_ms;
    kt->threads = (int)threads;
    kt->tick_ms = kt->epoch_ms < lease_ms / 4 ? kt->epoch_ms : lease_ms / 4;
    if (kt->tick_ms < 10)
        kt->tick_ms = 10;
    const char *id = srv->cfg != NULL ? kw_config_get(srv->cfg, "kt.node_id") : NULL;
    if (id != NULL && (id[0] == '\0' || strlen(id) > KW_STORE_LEASE_NAME_MAX)) {
        fprintf(stderr, "keywardd: kt.node_id must be 1 to %d bytes\n", KW_STORE_LEASE_NAME_MAX);
        r = KW_ERR_FORMAT;
        goto out;
    }
    if (id != NULL) {
        snprintf(kt->node_id, sizeof(kt->node_id), "%s", id);
    } else {
        char host[40] = "node";
        (void)gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(kt->node_id, sizeof(kt->node_id), "%s:%ld:%08" PRIx32, host, (long)getpid(),
                 randombytes_random());
    }
    if ((kt->vrf_sk = sodium_malloc(KW_VRF_SECRETKEYBYTES)) == NULL ||
        (kt->okey = sodium_malloc(KW_KT_OPENING_KEYBYTES)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kw_hkdf_sha256(seed, sizeof(seed), NULL, 0, srv->keys->kt_seed,
                            sizeof(srv->keys->kt_seed), (const uint8_t *)KT_LABEL_LOG,
                            strlen(KT_LABEL_LOG))) != KW_OK ||
        (r = kw_sign_key_from_seed(&kt->log_key, seed)) != KW_OK)
        goto out;
    kw_sign_key_public(kt->log_key, kt->log_pk);
    if ((r = kw_hkdf_sha256(seed, sizeof(seed), NULL, 0, srv->keys->kt_seed,
                            sizeof(srv->keys->kt_seed), (const uint8_t *)KT_LABEL_VRF,
                            strlen(KT_LABEL_VRF))) != KW_OK ||
        (r = kw_hkdf_sha256(kt->okey, KW_KT_OPENING_KEYBYTES, NULL, 0, srv->keys->kt_seed,
                            sizeof(srv->keys->kt_seed), (const uint8_t *)KT_LABEL_OPENING,
                            strlen(KT_LABEL_OPENING))) != KW_OK)
        goto out;
    kw_vrf_keypair_from_seed(kt->vrf_pk, kt->vrf_sk, seed);
    sodium_mprotect_readonly(kt->vrf_sk);
    sodium_mprotect_readonly(kt->okey);
    if ((r = kt_dir_create(kt, &kt->dir)) != KW_OK)
        goto out;
    /* Start = a sync from nothing: every stored epoch replayed and checked. */
    kt_follow fo = {0};
    int64_t t0 = mono_ms();
    pthread_rwlock_wrlock(&kt->lock); /* kt_sync's contract (nobody else yet) */
    r = kt->store != NULL ? kt_sync(kt, &fo) : KW_ERR_UNSUPPORTED;
    pthread_rwlock_unlock(&kt->lock);
    if (r == KW_ERR_UNSUPPORTED) {
        fprintf(stderr, "level=warn event=kt_memory_only message=\"the store has no key-"
                        "transparency tables: the directory starts empty and is not kept\"\n");
        r = KW_OK;
    } else if (r == KW_OK) {
        kw_kt_dir_stats ds;
        kw_kt_dir_stats_get(kt->dir, &ds);
        size_t unproven = (size_t)ds.proofs_missing;
        kt->durable = 1;
        fprintf(stderr, "level=info event=kt_restored epochs=%" PRIu64 " updates=%" PRIu64
                        " pending=%zu labels_without_proof=%zu ms=%" PRId64 " node=\"%s\"\n",
                fo.epochs, fo.updates, kt->npend, unproven, mono_ms() - t0, kt->node_id);
    } else {
        fprintf(stderr, "level=error event=kt_restore error=\"%s\"\n", kw_strerror(r));
        goto out;
    }
    srv->kt = kt;
    /* Lease holder at start: epoch 0 right away when there is none (so the
     * directory has a head from the start), and the crash-window repair. */
    kt_lease_once(kt);
    if (kt_holds(kt)) {
        kw_kt_head h;
        if (kw_kt_dir_head(kt->dir, &h) != KW_OK)
            kt_tick(kt, 1);
        if (kt->durable)
            kt_reconcile(srv);
    }
    if (prover && pthread_create(&kt->prover, NULL, kt_prover, kt) != 0) {
        srv->kt = NULL;
        r = KW_ERR_SYSTEM;
        goto out;
    }
    kt->prover_running = (int)prover;
    if (pthread_create(&kt->keeper, NULL, kt_keeper, kt) != 0) {
        r = KW_ERR_SYSTEM;
        goto stop;
    }
    kt->keeper_running = 1;
    if (pthread_create(&kt->thread, NULL, kt_publisher, kt) != 0) {
        r = KW_ERR_SYSTEM;
        goto stop;
    }
    kt->running = 1;
    r = KW_OK;
    goto out;
stop:
    kw_api_kt_stop(srv); /* joins what runs and frees kt */
    kt = NULL;
out:
    sodium_memzero(seed, sizeof(seed));
    if (r != KW_OK && kt != NULL) {
        srv->kt = NULL;
        kt_free(kt);
    }
    return r;
}

void kw_api_kt_stop(kw_server *srv)
{
    struct kw_api_kt *kt = srv->kt;
    if (kt == NULL)
        return;
    pthread_mutex_lock(&kt->stop_mu);
    kt->stopping = 1;
    pthread_cond_broadcast(&kt->stop_cv);
    pthread_mutex_unlock(&kt->stop_mu);
    pthread_mutex_lock(&kt->pmu);
    pthread_cond_broadcast(&kt->pcv);
    pthread_mutex_unlock(&kt->pmu);
    if (kt->running)
        pthread_join(kt->thread, NULL);
    if (kt->keeper_running)
        pthread_join(kt->keeper, NULL);
    if (kt->prover_running)
        pthread_join(kt->prover, NULL);
    /* Let the next node take over at once rather than after the ttl. */
    if (kt->store != NULL && atomic_load(&kt->held))
        (void)kw_store_leader_release(kt->store, KT_LEASE, kt->node_id);
    srv->kt = NULL;
    kt_free(kt);
}

int kw_api_kt_roster_promise(kw_server *srv, const char *name, const uint8_t *roster, size_t len,
                             json_t *out)
{
    struct kw_api_kt *kt = srv->kt;
    uint8_t promise[KW_KT_PROMISE_MAXBYTES];
    size_t plen = 0, nlen = name != NULL ? strlen(name) : 0;
    int r;
    if (kt == NULL)
        return KW_OK;
    if (name == NULL || nlen == 0 || nlen > KW_KT_LABEL_MAXBYTES) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }
    if (kt->durable) {
        /* Durable first: the promise only leaves once the update is stored,
         * with the version the store gave it (every node agrees on it). The
         * publisher — on this node or another — reads it from the store. */
        uint64_t seq = 0, newest = 0;
        uint32_t v = 0;
        if ((r = kw_store_kt_append(kt->store, (const uint8_t *)name, nlen, roster, len,
                                    (int64_t)(now_ms() / 1000), &seq, &v, &newest)) != KW_OK)
            goto out;
        uint64_t next = newest == KW_STORE_KT_PENDING ? 0 : newest + 1;
        r = kt_promise_sign(promise, &plen, kt->log_key, (const uint8_t *)name, nlen, v, roster,
                            len, next + KT_MMD - 1);
        goto out;
    }
    pthread_rwlock_wrlock(&kt->lock);
    r = kt->failed ? KW_ERR_STORAGE
                   : kw_kt_dir_update(kt->dir, (const uint8_t *)name, nlen, roster, len, promise,
                                      sizeof(promise), &plen);
    pthread_rwlock_unlock(&kt->lock);
out:
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
    json_t *out = json_pack("{s:I,s:I,s:b}", "epoch", (json_int_t)h.epoch, "log_size",
                            (json_int_t)h.log_size, "publisher", kt_holds(kt));
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
    } else if (lie == KT_LIE_VALUE && p[0] == KW_KT_RESP_SEARCH_APPEND &&
               len > 1 + KW_KT_HEADBYTES + 8 + 1) {
        size_t off = 1 + KW_KT_HEADBYTES + 8;
        off += 1 + (size_t)p[off] * 32;
        off += 4 + 80 + 32 + 4; /* version, VRF proof, opening, value length */
        if (off < len)
            p[off] ^= 0x01;
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
 * synthetic labels "kt-fill-<run>-<k>" (64-byte random values), stored in
 * one transaction, for the benchmarks; the publisher (on whichever node
 * holds the lease) publishes them in its next epoch and their VRF proofs
 * afterwards. */
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
    char (*names)[40] = calloc((size_t)n, 40);
    uint8_t *vals = malloc((size_t)n * 64), **lp = calloc((size_t)n, sizeof(*lp)),
            **vp = calloc((size_t)n, sizeof(*vp));
    size_t *ll = calloc((size_t)n, sizeof(*ll)), *vl = calloc((size_t)n, sizeof(*vl));
    uint32_t *ver = calloc((size_t)n, sizeof(*ver));
    uint64_t *seq = calloc((size_t)n, sizeof(*seq));
    int64_t t0 = mono_us();
    /* "kt-fill-<base>-<k>": base 0 on a fresh server (the benchmarks name
     * the labels so), else the newest update sequence number seen */
    pthread_rwlock_rdlock(&kt->lock);
    uint64_t base = kt->durable ? kt->max_seq : kw_kt_dir_pending(kt->dir);
    pthread_rwlock_unlock(&kt->lock);
    if (names == NULL || vals == NULL || lp == NULL || vp == NULL || ll == NULL || vl == NULL ||
        ver == NULL || seq == NULL)
        goto out;
    randombytes_buf(vals, (size_t)n * 64);
    for (uint64_t i = 0; i < n; i++) {
        snprintf(names[i], 40, "kt-fill-%" PRIu64 "-%" PRIu64, base, i);
        lp[i] = (uint8_t *)names[i];
        ll[i] = strlen(names[i]);
        vp[i] = vals + i * 64;
        vl[i] = 64;
        ver[i] = 1; /* new labels */
    }
    if (kt->durable) {
        r = kw_store_kt_enqueue_many(kt->store, (size_t)n, (const uint8_t *const *)lp, ll, ver,
                                     (const uint8_t *const *)vp, vl, (int64_t)(now_ms() / 1000),
                                     seq);
    } else {
        pthread_rwlock_wrlock(&kt->lock);
        r = KW_OK;
        for (uint64_t i = 0; r == KW_OK && i < n; i++)
            r = kw_kt_dir_update(kt->dir, lp[i], ll[i], vp[i], vl[i], NULL, 0, NULL);
        pthread_rwlock_unlock(&kt->lock);
    }
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
    json_t *o = json_pack("{s:I,s:I,s:I}", "queued", (json_int_t)n, "first", (json_int_t)base,
                          "store_us", (json_int_t)(mono_us() - t0));
    if (o == NULL)
        return KW_ERR_NOMEM;
    kw_http_json(resp, 200, o);
    return KW_OK;
}

/* Test-only: GET /v1/kt/test-stats — this node's lease state and the
 * figures of its last non-empty epoch. */
static int kt_test_stats(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    struct kw_api_kt *kt = srv->kt;
    kw_kt_dir_stats ds;
    if (!srv->test_faults || kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "not found");
    pthread_rwlock_rdlock(&kt->lock);
    kw_kt_dir_stats_get(kt->dir, &ds);
    size_t npend = kt->npend;
    pthread_rwlock_unlock(&kt->lock);
    size_t unproven = (size_t)ds.proofs_missing;
    json_t *o = json_pack(
        "{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "node", kt->node_id,
        "leader", kt_holds(kt), "lease_ms", (json_int_t)kt->lease_ms, "threads",
        (json_int_t)kt->threads, "pending", (json_int_t)npend, "labels", (json_int_t)ds.labels,
        "versions", (json_int_t)ds.versions, "proofs_missing", (json_int_t)ds.proofs_missing,
        "unproven_queue", (json_int_t)unproven, "proved", (json_int_t)atomic_load(&kt->proved),
        "last_epoch", (json_int_t)atomic_load(&kt->st_epoch), "last_n",
        (json_int_t)atomic_load(&kt->st_n), "last_index_us",
        (json_int_t)atomic_load(&kt->st_index_us), "last_store_us",
        (json_int_t)atomic_load(&kt->st_store_us), "last_total_us",
        (json_int_t)atomic_load(&kt->st_total_us));
    if (o == NULL)
        return KW_ERR_NOMEM;
    json_object_set_new(o, "last_new_labels", json_integer((json_int_t)atomic_load(&kt->st_new)));
    kw_http_json(resp, 200, o);
    return KW_OK;
}

typedef struct {
    const uint8_t *sk;
    uint64_t from, to;
    int r;
} kt_vrf_job;

static void *vrf_job(void *arg)
{
    kt_vrf_job *j = arg;
    uint8_t alpha[64], beta[KW_VRF_OUTPUTBYTES];
    for (uint64_t i = j->from; i < j->to && j->r == KW_OK; i++) {
        int n = snprintf((char *)alpha + 2, sizeof(alpha) - 2, "kt-vrf-bench-%" PRIu64, i);
        be_put(alpha, (uint64_t)n, 2);
        j->r = kw_vrf_evaluate(beta, KW_VRF_EDWARDS25519_SHA512_TAI, j->sk, alpha, 2 + (size_t)n);
    }
    return NULL;
}

/* Test-only: POST /v1/kt/test-vrf-rate/{n} — the bare VRF evaluation rate
 * of this process on its publish threads (the baseline of the publish
 * figure, measured in the same run). */
static int kt_test_vrf_rate(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    struct kw_api_kt *kt = srv->kt;
    uint64_t n = 0;
    kt_vrf_job jobs[KT_MAX_THREADS];
    pthread_t th[KT_MAX_THREADS];
    if (!srv->test_faults || kt == NULL)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "not found");
    if (parse_u64(req->params[0], &n) != KW_OK || n == 0 || n > 10000000)
        return kw_http_fail(resp, KW_ERR_FORMAT, "1 to 10^7 evaluations");
    int t = kt->threads, started[KT_MAX_THREADS] = {0};
    int64_t t0 = mono_us();
    for (int i = 0; i < t; i++) {
        jobs[i] = (kt_vrf_job){kt->vrf_sk, n * (uint64_t)i / (uint64_t)t,
                               n * (uint64_t)(i + 1) / (uint64_t)t, KW_OK};
        if (i > 0)
            started[i] = pthread_create(&th[i], NULL, vrf_job, &jobs[i]) == 0;
    }
    vrf_job(&jobs[0]);
    for (int i = 1; i < t; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            vrf_job(&jobs[i]);
    }
    int64_t us = mono_us() - t0;
    json_t *o = json_pack("{s:I,s:i,s:I,s:f}", "n", (json_int_t)n, "threads", t, "us",
                          (json_int_t)us, "per_s", us > 0 ? (double)n * 1e6 / (double)us : 0.0);
    if (o == NULL)
        return KW_ERR_NOMEM;
    kw_http_json(resp, 200, o);
    return KW_OK;
}

static int kt_search_common(kw_http_req *req, kw_http_resp *resp, uint64_t pinned, int append)
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
    int r = append ? kw_kt_dir_search_append(kt->dir, (const uint8_t *)label, strlen(label), pinned, b)
                   : kw_kt_dir_search(kt->dir, (const uint8_t *)label, strlen(label), pinned, b);
    pthread_rwlock_unlock(&kt->lock);
    if (r == KW_OK)
        kt_apply_lie(kt, b);
    r = kt_reply(resp, r, "proof", b);
    kw_buf_free(&b);
    return r;
}

static int kt_search(kw_http_req *req, kw_http_resp *resp)
{
    return kt_search_common(req, resp, 0, 0);
}

static int kt_search_pinned(kw_http_req *req, kw_http_resp *resp)
{
    uint64_t pinned;
    if (parse_u64(req->params[1], &pinned) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the pinned log size is a decimal integer");
    return kt_search_common(req, resp, pinned, 0);
}

/* GET /v1/kt/search/{name}/{pinned_log_size}/append: the compact form
 * (KW_KT_RESP_SEARCH_APPEND) for a client that keeps its pinned log's
 * frontier; pinned_log_size 1 .. the newest log size. */
static int kt_search_append(kw_http_req *req, kw_http_resp *resp)
{
    uint64_t pinned;
    if (parse_u64(req->params[1], &pinned) != KW_OK || pinned == 0)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the pinned log size is a positive decimal integer");
    return kt_search_common(req, resp, pinned, 1);
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
    {"GET", "/v1/kt/search/{}/{}/append", kt_search_append, 0},
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
    {"GET", "/v1/kt/test-stats", kt_test_stats, 0},          /* --test-faults only */
    {"POST", "/v1/kt/test-vrf-rate/{}", kt_test_vrf_rate, 0}, /* --test-faults only */
};
const size_t kw_api_kt_nroutes = sizeof(kw_api_kt_routes) / sizeof(kw_api_kt_routes[0]);
