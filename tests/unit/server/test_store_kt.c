/* The key-transparency domain of the store (server/store/kt.h) on SQLite:
 * the durable queue, one transaction per epoch (a count mismatch stores
 * nothing), the loader's order across a reopen, label proofs, auditor
 * records (newest wins, older refused), argument checks; the crash-window
 * repair (kw_store_kt_unqueued: newest core rosters missing from the
 * label's updates); several nodes (issue 8): store-assigned versions under
 * concurrent appends from two handles, the follower's incremental load,
 * lease-fenced epoch commits (refused for a non-holder and after expiry;
 * on PostgreSQL — SQLite's single node always holds the lease). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include <pthread.h>
#include <stdbool.h>

#include "store/admin.h"
#include "store/kt.h"
#include "store/store.h"

typedef struct {
    char dir[64];
    char uri[128];
    kw_store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || kw_init() != KW_OK)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/kwkt.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->uri, sizeof(f->uri), "%s/store.db", f->dir);
    if (kw_store_open(f->uri, &f->st) != KW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    kw_store_close(&f->st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* What the loader saw, as a string of events: L<label> U<label>/<v>@<epoch|P> E<epoch>. */
typedef struct {
    char log[4096];
} seen;

static void add(seen *s, const char *ev)
{
    strncat(s->log, ev, sizeof(s->log) - strlen(s->log) - 1);
}

static int on_label(void *ctx, const uint8_t *label, size_t len, const uint8_t *proof)
{
    char ev[64];
    snprintf(ev, sizeof(ev), "L%.*s:%02x ", (int)len, (const char *)label, proof[0]);
    add(ctx, ev);
    return KW_OK;
}

static int on_update(void *ctx, uint64_t seq, uint64_t epoch, const uint8_t *label, size_t len,
                     uint32_t version, const uint8_t *value, size_t value_len)
{
    char ev[96];
    (void)seq;
    if (epoch == KW_STORE_KT_PENDING)
        snprintf(ev, sizeof(ev), "U%.*s/%u@P(%zu) ", (int)len, (const char *)label, version, value_len);
    else
        snprintf(ev, sizeof(ev), "U%.*s/%u@%llu(%zu) ", (int)len, (const char *)label, version,
                 (unsigned long long)epoch, value_len);
    (void)value;
    add(ctx, ev);
    return KW_OK;
}

static int on_epoch(void *ctx, uint64_t epoch, uint64_t ts, const uint8_t *head)
{
    char ev[64];
    snprintf(ev, sizeof(ev), "E%llu:%llu:%02x ", (unsigned long long)epoch, (unsigned long long)ts,
             head[0]);
    add(ctx, ev);
    return KW_OK;
}

static int stop_at_epoch(void *ctx, uint64_t epoch, uint64_t ts, const uint8_t *head)
{
    (void)ctx;
    (void)ts;
    (void)head;
    return epoch == 1 ? KW_ERR_VERIFY : KW_OK;
}

static void test_queue_epochs_load(void **state)
{
    fixture *f = *state;
    uint8_t head[KW_STORE_KT_HEADBYTES], proof[KW_STORE_KT_PROOFBYTES];
    uint64_t s1, s2, s3, s4;
    memset(head, 0xe0, sizeof(head));
    memset(proof, 0xaa, sizeof(proof));
    /* epoch 0: a heartbeat */
    assert_int_equal(kw_store_kt_epoch_commit(f->st, 0, 100, head, 0, 0, NULL, 0), KW_OK);
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"alice", 5, 1, (const uint8_t *)"r1",
                                         2, 5, &s1),
                     KW_OK);
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"bob", 3, 1, NULL, 0, 5, &s2), KW_OK);
    assert_true(s2 > s1);
    /* the same (label, version) twice is a conflict */
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"bob", 3, 1, NULL, 0, 5, &s3),
                     KW_ERR_CONFLICT);
    /* a count that does not match the pending rows: nothing is stored */
    head[0] = 0xe1;
    kw_store_kt_label lab[2] = {{(const uint8_t *)"alice", 5, proof}, {(const uint8_t *)"bob", 3, proof}};
    assert_int_equal(kw_store_kt_epoch_commit(f->st, 1, 110, head, s2, 3, lab, 2), KW_ERR_STORAGE);
    assert_int_equal(kw_store_kt_epoch_commit(f->st, 1, 110, head, s2, 2, lab, 2), KW_OK);
    /* the same epoch twice */
    assert_int_equal(kw_store_kt_epoch_commit(f->st, 1, 111, head, 0, 0, NULL, 0), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"alice", 5, 2, (const uint8_t *)"r2x",
                                         3, 6, &s3),
                     KW_OK);
    head[0] = 0xe2;
    assert_int_equal(kw_store_kt_epoch_commit(f->st, 2, 120, head, s3, 1, NULL, 0), KW_OK);
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"carol", 5, 1, (const uint8_t *)"c",
                                         1, 7, &s4),
                     KW_OK);
    /* reopen: everything came through */
    kw_store_close(&f->st);
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
    seen sn = {{0}};
    kw_store_kt_loader ld = {.ctx = &sn, .label = on_label, .update = on_update, .epoch = on_epoch};
    assert_int_equal(kw_store_kt_load(f->st, &ld), KW_OK);
    assert_string_equal(sn.log, "Lalice:aa Lbob:aa E0:100:e0 Ualice/1@1(2) Ubob/1@1(0) E1:110:e1 "
                                "Ualice/2@2(3) E2:120:e2 Ucarol/1@P(1) ");
    /* a callback's error stops the load and is returned */
    ld.epoch = stop_at_epoch;
    assert_int_equal(kw_store_kt_load(f->st, &ld), KW_ERR_VERIFY);
}

static void test_auditors_and_args(void **state)
{
    fixture *f = *state;
    uint8_t pk[32], rec[KW_STORE_KT_AUDITBYTES], out[KW_STORE_KT_AUDITBYTES];
    uint64_t seq;
    memset(pk, 7, sizeof(pk));
    memset(rec, 1, sizeof(rec));
    assert_int_equal(kw_store_kt_auditor_get(f->st, pk, out), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_kt_auditor_put(f->st, pk, 5, rec), KW_OK);
    memset(rec, 2, sizeof(rec));
    assert_int_equal(kw_store_kt_auditor_put(f->st, pk, 9, rec), KW_OK);
    memset(rec, 3, sizeof(rec));
    assert_int_equal(kw_store_kt_auditor_put(f->st, pk, 8, rec), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_kt_auditor_get(f->st, pk, out), KW_OK);
    assert_int_equal(out[0], 2);
    /* argument checks */
    uint8_t big[1100] = {0};
    assert_int_equal(kw_store_kt_enqueue(f->st, big, sizeof(big), 1, NULL, 0, 0, &seq),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_store_kt_enqueue(f->st, NULL, 0, 1, NULL, 0, 0, &seq), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_kt_enqueue(f->st, big, 3, 0, NULL, 0, 0, &seq), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_kt_load(f->st, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_kt_epoch_commit(f->st, 0, 0, NULL, 0, 0, NULL, 0), KW_ERR_INVALID_ARG);
    /* bulk enqueue: one transaction, all or nothing */
    const uint8_t *labels[3] = {(const uint8_t *)"x", (const uint8_t *)"y", (const uint8_t *)"x"};
    size_t ll[3] = {1, 1, 1}, vl[3] = {0, 0, 0};
    uint32_t ver[3] = {1, 1, 1};
    const uint8_t *vals[3] = {NULL, NULL, NULL};
    uint64_t seqs[3];
    assert_int_equal(kw_store_kt_enqueue_many(f->st, 3, labels, ll, ver, vals, vl, 0, seqs),
                     KW_ERR_CONFLICT);
    ver[2] = 2;
    assert_int_equal(kw_store_kt_enqueue_many(f->st, 3, labels, ll, ver, vals, vl, 0, seqs), KW_OK);
    assert_true(seqs[0] < seqs[1] && seqs[1] < seqs[2]);
}

static void new_account(kw_store *st, const char *name, uint8_t idb, const char *roster,
                        int64_t *id)
{
    kw_store_device d;
    uint8_t pk[32], opaque[16], kc[8], wrap[8], sess[32];
    memset(&d, 0, sizeof(d));
    memset(d.id, idb, sizeof(d.id));
    memset(d.identity_pk, idb, 32);
    memset(d.hpke_pk, idb, 32);
    memset(pk, idb, sizeof(pk));
    memset(opaque, 1, sizeof(opaque));
    memset(kc, 2, sizeof(kc));
    memset(wrap, 3, sizeof(wrap));
    memset(sess, idb, sizeof(sess));
    snprintf(d.name, sizeof(d.name), "dev");
    d.state = 1;
    kw_store_new_account na = {.name = name, .opaque_record = opaque,
                               .opaque_record_len = sizeof(opaque), .account_pk = pk,
                               .device = &d, .roster = (const uint8_t *)roster,
                               .roster_len = strlen(roster), .keychain = kc,
                               .keychain_len = sizeof(kc), .device_wrap = wrap,
                               .device_wrap_len = sizeof(wrap), .session_hash = sess,
                               .session_expires_at = 4000000000};
    assert_int_equal(kw_store_account_create(st, &na, id), KW_OK);
}

/* Asserts the unqueued list is exactly (name, roster) pairs. */
static void expect_unqueued(kw_store *st, size_t n, const char *const *names,
                            const char *const *rosters)
{
    kw_store_kt_roster *list = NULL;
    size_t got = 99;
    assert_int_equal(kw_store_kt_unqueued(st, &list, &got), KW_OK);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].name, names[i]);
        assert_int_equal(list[i].len, strlen(rosters[i]));
        assert_memory_equal(list[i].roster, rosters[i], list[i].len);
    }
    kw_store_kt_unqueued_free(list, got);
}

static void test_unqueued(void **state)
{
    fixture *f = *state;
    int64_t alice, bob;
    uint64_t seq;
    expect_unqueued(f->st, 0, NULL, NULL);
    new_account(f->st, "alice", 1, "alice-r1", &alice);
    new_account(f->st, "bob", 2, "bob-r1", &bob);
    const char *n2[] = {"alice", "bob"}, *r2[] = {"alice-r1", "bob-r1"};
    expect_unqueued(f->st, 2, n2, r2);
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"alice", 5, 1,
                                         (const uint8_t *)"alice-r1", 8, 0, &seq),
                     KW_OK);
    const char *n1[] = {"bob"}, *r1[] = {"bob-r1"};
    expect_unqueued(f->st, 1, n1, r1);
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"bob", 3, 1,
                                         (const uint8_t *)"bob-r1", 6, 0, &seq),
                     KW_OK);
    expect_unqueued(f->st, 0, NULL, NULL);
    /* a newer roster committed, its enqueue lost: listed (only the newest) */
    kw_store_roster_change ch = {.account_id = alice, .roster_version = 2,
                                 .roster = (const uint8_t *)"alice-r2", .roster_len = 8,
                                 .kk_generation = 1};
    assert_int_equal(kw_store_roster_apply(f->st, &ch), KW_OK);
    const char *na[] = {"alice"}, *ra[] = {"alice-r2"};
    expect_unqueued(f->st, 1, na, ra);
    /* another value under the label (a forged entry) does not count */
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"alice", 5, 2,
                                         (const uint8_t *)"forged!!", 8, 0, &seq),
                     KW_OK);
    expect_unqueued(f->st, 1, na, ra);
    /* nor the same value under another label */
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"bob", 3, 2,
                                         (const uint8_t *)"alice-r2", 8, 0, &seq),
                     KW_OK);
    expect_unqueued(f->st, 1, na, ra);
    assert_int_equal(kw_store_kt_enqueue(f->st, (const uint8_t *)"alice", 5, 3,
                                         (const uint8_t *)"alice-r2", 8, 0, &seq),
                     KW_OK);
    expect_unqueued(f->st, 0, NULL, NULL);
    kw_store_kt_roster *list = NULL;
    assert_int_equal(kw_store_kt_unqueued(f->st, NULL, &seq), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_kt_unqueued(NULL, &list, &seq), KW_ERR_INVALID_ARG);
}
/* ---- several nodes (issue 8) ---- */

static bool on_pg(void)
{
    const char *u = getenv("KEYWARD_TEST_STORE_URI");
    return u != NULL && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0);
}

#define RACE_N 40

typedef struct {
    kw_store *st;
    uint32_t versions[RACE_N];
    uint64_t seqs[RACE_N];
    int r;
} racer;

static void *race(void *arg)
{
    racer *rc = arg;
    uint64_t newest;
    for (int i = 0; i < RACE_N && rc->r == KW_OK; i++)
        rc->r = kw_store_kt_append(rc->st, (const uint8_t *)"shared", 6, (const uint8_t *)"v", 1, 0,
                                   &rc->seqs[i], &rc->versions[i], &newest);
    return NULL;
}

typedef struct {
    uint32_t ver[2 * RACE_N + 8];
    uint64_t seq[2 * RACE_N + 8];
    size_t n;
    char log[2048];
} follow_seen;

static int fs_label(void *ctx, const uint8_t *label, size_t len, const uint8_t *proof)
{
    follow_seen *fs = ctx;
    char ev[64];
    snprintf(ev, sizeof(ev), "L%.*s:%02x ", (int)len, (const char *)label, proof[0]);
    strncat(fs->log, ev, sizeof(fs->log) - strlen(fs->log) - 1);
    return KW_OK;
}

static int fs_update(void *ctx, uint64_t seq, uint64_t epoch, const uint8_t *label, size_t len,
                     uint32_t version, const uint8_t *value, size_t value_len)
{
    follow_seen *fs = ctx;
    char ev[96];
    (void)value;
    (void)value_len;
    if (fs->n < sizeof(fs->ver) / sizeof(fs->ver[0])) {
        fs->ver[fs->n] = version;
        fs->seq[fs->n++] = seq;
    }
    if (epoch == KW_STORE_KT_PENDING)
        snprintf(ev, sizeof(ev), "U%.*s/%u@P ", (int)len, (const char *)label, version);
    else
        snprintf(ev, sizeof(ev), "U%.*s/%u@%llu ", (int)len, (const char *)label, version,
                 (unsigned long long)epoch);
    if (strlen(fs->log) < 1500)
        strncat(fs->log, ev, sizeof(fs->log) - strlen(fs->log) - 1);
    return KW_OK;
}

static int fs_epoch(void *ctx, uint64_t epoch, uint64_t ts, const uint8_t *head, uint64_t n)
{
    follow_seen *fs = ctx;
    char ev[64];
    snprintf(ev, sizeof(ev), "E%llu:%llu:%02x/%llu ", (unsigned long long)epoch,
             (unsigned long long)ts, head[0], (unsigned long long)n);
    strncat(fs->log, ev, sizeof(fs->log) - strlen(fs->log) - 1);
    return KW_OK;
}

/* Two "nodes" (two store handles on PostgreSQL; one shared handle on
 * SQLite, which serves one node) append versions of one label at the same
 * time: the store numbers them 1..2N with no gap and no repeat, in seq
 * order. */
static void test_append_versions_race(void **state)
{
    fixture *f = *state;
    kw_store *other = NULL;
    if (on_pg())
        assert_int_equal(kw_store_open(f->uri, &other), KW_OK);
    racer a = {.st = f->st}, b = {.st = other != NULL ? other : f->st};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.r, KW_OK);
    assert_int_equal(b.r, KW_OK);
    follow_seen fs = {0};
    kw_store_kt_follower fo = {.ctx = &fs, .label = fs_label, .update = fs_update,
                               .epoch = fs_epoch};
    assert_int_equal(kw_store_kt_load_since(f->st, 0, 0, &fo), KW_OK);
    assert_int_equal(fs.n, 2 * RACE_N);
    for (size_t i = 0; i < fs.n; i++) {
        assert_int_equal(fs.ver[i], i + 1); /* seq order = version order, no gap */
        if (i > 0)
            assert_true(fs.seq[i] > fs.seq[i - 1]);
    }
    /* what each racer was told matches the store */
    for (int i = 0; i < RACE_N; i++) {
        for (size_t k = 0; k < fs.n; k++) {
            if (fs.seq[k] == a.seqs[i])
                assert_int_equal(fs.ver[k], a.versions[i]);
            if (fs.seq[k] == b.seqs[i])
                assert_int_equal(fs.ver[k], b.versions[i]);
        }
    }
    kw_store_close(&other);
}

/* The follower's view: only what is new since (seq, epoch), epochs with
 * their update counts, the proofs of labels first seen since. */
static void test_load_since(void **state)
{
    fixture *f = *state;
    uint8_t head[KW_STORE_KT_HEADBYTES], proof[KW_STORE_KT_PROOFBYTES];
    uint64_t s1, s2, s3, newest;
    uint32_t v;
    memset(head, 0xe0, sizeof(head));
    memset(proof, 0xaa, sizeof(proof));
    assert_int_equal(kw_store_kt_append(f->st, (const uint8_t *)"alice", 5, NULL, 0, 1, &s1, &v,
                                        &newest),
                     KW_OK);
    assert_int_equal(v, 1);
    assert_true(newest == KW_STORE_KT_PENDING);
    assert_int_equal(kw_store_kt_epoch_commit_fenced(f->st, NULL, NULL, 0, 100, head, s1, 1, NULL, 0),
                     KW_OK);
    assert_int_equal(kw_store_kt_append(f->st, (const uint8_t *)"alice", 5, (const uint8_t *)"x", 1,
                                        1, &s2, &v, &newest),
                     KW_OK);
    assert_int_equal(v, 2);
    assert_int_equal(newest, 0);
    assert_int_equal(kw_store_kt_append(f->st, (const uint8_t *)"bob", 3, NULL, 0, 1, &s3, &v,
                                        &newest),
                     KW_OK);
    assert_int_equal(v, 1);
    head[0] = 0xe1;
    assert_int_equal(kw_store_kt_epoch_commit_fenced(f->st, NULL, NULL, 1, 110, head, s2, 1, NULL, 0),
                     KW_OK);
    kw_store_kt_label lb = {(const uint8_t *)"bob", 3, proof};
    assert_int_equal(kw_store_kt_labels_put(f->st, &lb, 1), KW_OK);
    proof[0] = 0xbb; /* kept when present */
    assert_int_equal(kw_store_kt_labels_put(f->st, &lb, 1), KW_OK);
    kw_store_kt_label la = {(const uint8_t *)"alice", 5, proof};
    assert_int_equal(kw_store_kt_labels_put(f->st, &la, 1), KW_OK);
    follow_seen all = {0}, since = {0}, none = {0};
    kw_store_kt_follower fo = {.ctx = &all, .label = fs_label, .update = fs_update,
                               .epoch = fs_epoch};
    assert_int_equal(kw_store_kt_load_since(f->st, 0, 0, &fo), KW_OK);
    /* every label (order of the table), then the merged stream */
    assert_non_null(strstr(all.log, "Lbob:aa "));
    assert_non_null(strstr(all.log, "Lalice:bb "));
    assert_non_null(strstr(all.log, "Ualice/1@0 E0:100:e0/1 Ualice/2@1 E1:110:e1/1 Ubob/1@P "));
    /* after the first update and epoch 0: only bob's proof (first seen since) */
    fo.ctx = &since;
    assert_int_equal(kw_store_kt_load_since(f->st, s1, 1, &fo), KW_OK);
    assert_string_equal(since.log, "Lbob:aa Ualice/2@1 E1:110:e1/1 Ubob/1@P ");
    fo.ctx = &none;
    assert_int_equal(kw_store_kt_load_since(f->st, s3, 2, &fo), KW_OK);
    assert_string_equal(none.log, "");
    /* arguments */
    assert_int_equal(kw_store_kt_load_since(f->st, 0, 0, NULL), KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_kt_append(f->st, NULL, 0, NULL, 0, 0, &s1, &v, &newest),
                     KW_ERR_INVALID_ARG);
    assert_int_equal(kw_store_kt_epoch_commit_fenced(f->st, "kt", NULL, 2, 1, head, 0, 0, NULL, 0),
                     KW_ERR_INVALID_ARG);
}

/* Fencing: an epoch commits only while its publisher holds the lease (on
 * PostgreSQL; SQLite's single node always holds it), and never twice. */
static void test_fenced_commit(void **state)
{
    fixture *f = *state;
    uint8_t head[KW_STORE_KT_HEADBYTES];
    bool held = false;
    memset(head, 0xe0, sizeof(head));
    assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-a", 300, &held), KW_OK);
    assert_true(held);
    assert_int_equal(kw_store_kt_epoch_commit_fenced(f->st, "kt-publisher", "node-a", 0, 100, head,
                                                     0, 0, NULL, 0),
                     KW_OK);
    /* the same epoch number again: refused whoever asks */
    assert_int_equal(kw_store_kt_epoch_commit_fenced(f->st, "kt-publisher", "node-a", 0, 101, head,
                                                     0, 0, NULL, 0),
                     KW_ERR_CONFLICT);
    if (!on_pg())
        return;
    /* node b does not hold the lease: refused, nothing stored */
    assert_int_equal(kw_store_kt_epoch_commit_fenced(f->st, "kt-publisher", "node-b", 1, 110, head,
                                                     0, 0, NULL, 0),
                     KW_ERR_CONFLICT);
    assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-b", 300, &held), KW_OK);
    assert_false(held);
    /* a's lease runs out: a is fenced off, b takes over and commits */
    usleep(400 * 1000);
    assert_int_equal(kw_store_kt_epoch_commit_fenced(f->st, "kt-publisher", "node-a", 1, 110, head,
                                                     0, 0, NULL, 0),
                     KW_ERR_CONFLICT);
    assert_int_equal(kw_store_leader_try(f->st, "kt-publisher", "node-b", 300, &held), KW_OK);
    assert_true(held);
    assert_int_equal(kw_store_kt_epoch_commit_fenced(f->st, "kt-publisher", "node-b", 1, 110, head,
                                                     0, 0, NULL, 0),
                     KW_OK);
    follow_seen fs = {0};
    kw_store_kt_follower fo = {.ctx = &fs, .label = fs_label, .update = fs_update,
                               .epoch = fs_epoch};
    assert_int_equal(kw_store_kt_load_since(f->st, 0, 0, &fo), KW_OK);
    assert_string_equal(fs.log, "E0:100:e0/0 E1:110:e0/0 ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_epochs_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auditors_and_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unqueued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_versions_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fenced_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
