/*
 * tests/unit/server/test_crash.c — kill -9 durability of keywardd.
 *
 * Starts the real keywardd binary ($KEYWARD_BIN_DIR/keywardd, else next to
 * this test's build tree, else build/bin) on a temporary data directory and
 * runs a stream of writes over HTTP from several client threads: account
 * registrations, sign-ins of one account (each creates a session) and
 * approval codes for it. Every write the server acknowledged (HTTP 200) is
 * recorded. keywardd is killed with SIGKILL mid-stream, restarted on the
 * same directory, and then every acknowledged account must exist, every
 * acknowledged session token must still authenticate, the last acknowledged
 * approval code must still sign a new device in (when no later approval
 * request was in flight at the kill), and the server must take new writes.
 * Three rounds; then a clean SIGTERM stop and PRAGMA integrity_check on the
 * database opened read-only. A second test covers pending logins kept in
 * memory (--pending-logins memory): a login finishes once, and a restart
 * drops the pending ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include "api_harness.h"

#define CR_ROUNDS 3
#define CR_REGISTER_THREADS 3
#define CR_MAX_ACKS 8192
#define CR_MIN_ACKS 5        /* acknowledged writes of each kind before the kill */
#define CR_APPROVALS_PER_ROUND 8 /* under the 10 per 300 s rate limit (reset by a restart) */

/* ---- the keywardd process ---- */

typedef struct {
    char dir[64];
    char data[96];
    char bin[PATH_MAX];
    pid_t pid;
    char base[64];
    bool memory_logins;
} cr_server;

static bool exe_ok(const char *path)
{
    return access(path, X_OK) == 0;
}

static void find_bin(char *out, size_t cap)
{
    const char *env = getenv("KEYWARD_BIN_DIR");
    if (env != NULL && env[0] != '\0') {
        int n = snprintf(out, cap, "%s/keywardd", env);
        if (n > 0 && (size_t)n < cap && exe_ok(out))
            return;
    }
    /* <BUILD>/tests/unit/server/test_crash -> <BUILD>/bin/keywardd */
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len > 0) {
        self[len] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            int n = snprintf(out, cap, "%s/../../../bin/keywardd", self);
            if (n > 0 && (size_t)n < cap && exe_ok(out))
                return;
        }
    }
    snprintf(out, cap, "build/bin/keywardd");
}

static void cr_start(cr_server *s)
{
    char portfile[128], log[128];
    snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
    snprintf(log, sizeof(log), "%s/keywardd.log", s->dir);
    unlink(portfile);
    const char *argv[] = {s->bin,       "--listen", "127.0.0.1:0", "--data",
                          s->data,      "--port-file", portfile,   "--quiet",
                          s->memory_logins ? "--pending-logins" : NULL, "memory", NULL};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(s->bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 3000; i++) { /* up to 30 s: sanitizer builds start slowly */
        FILE *f = fopen(portfile, "r");
        unsigned port = 0;
        if (f != NULL) {
            int got = fscanf(f, "%u", &port);
            fclose(f);
            if (got == 1 && port > 0 && port < 65536) {
                snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", port);
                return;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            fail_msg("keywardd exited at start (status %d); log in %s", st, log);
        }
        usleep(10000);
    }
    fail_msg("keywardd did not write its port file");
}

static void cr_kill9(cr_server *s)
{
    int st = 0;
    assert_int_equal(kill(s->pid, SIGKILL), 0);
    assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    s->pid = 0;
}

static void cr_stop(cr_server *s)
{
    int st = 0;
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
    s->pid = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void cr_setup(cr_server *s, bool memory_logins)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(kw_init(), KW_OK);
    signal(SIGPIPE, SIG_IGN);
    find_bin(s->bin, sizeof(s->bin));
    if (!exe_ok(s->bin))
        fail_msg("keywardd not found (set KEYWARD_BIN_DIR): %s", s->bin);
    snprintf(s->dir, sizeof(s->dir), "/tmp/kw-crash-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
    s->memory_logins = memory_logins;
}

static void cr_cleanup(cr_server *s)
{
    char cmd[128];
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
}

/* A th_server pointing at the external process, for the harness helpers
 * (which assert on transport errors: used outside the write stream only). */
static void cr_client(th_server *ts, const cr_server *s)
{
    memset(ts, 0, sizeof(*ts));
    snprintf(ts->base, sizeof(ts->base), "%s", s->base);
    ts->curl = curl_easy_init();
    assert_non_null(ts->curl);
}

/* ---- requests that may fail (the server dies under them) ---- */

/* Sends body (stolen) and returns the status, or -1 when the transport
 * failed (connection refused or reset: no acknowledgement). */
static long cr_req(CURL *c, const char *base, const char *method, const char *path, const char *token,
                   json_t *body, json_t **out)
{
    char url[512], auth[400];
    th_buf b = {0};
    struct curl_slist *h = NULL;
    long status = -1;
    char *txt = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (out != NULL)
        *out = NULL;
    curl_easy_reset(c);
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (txt != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, txt);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(txt));
    }
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (out != NULL && b.p != NULL)
            *out = json_loads(b.p, 0, NULL);
    }
    curl_slist_free_all(h);
    free(b.p);
    free(txt);
    return status;
}

/* Registers account `name` with a fresh first device: the status of
 * register/finish (-1: transport failure at either step). */
static long cr_register(CURL *c, const char *base, const char *name)
{
    th_account a;
    th_device d;
    kw_opaque_config cfg;
    kw_opaque_client *oc = NULL;
    uint8_t req[KW_OPAQUE_REGISTRATION_REQUESTBYTES], resp[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES], export_key[KW_OPAQUE_EXPORT_KEYBYTES], blob[120];
    json_t *reply = NULL;
    long st;
    memset(&a, 0, sizeof(a));
    snprintf(a.name, sizeof(a.name), "%s", name);
    snprintf(a.password, sizeof(a.password), "pw-%s", name);
    assert_int_equal(kw_sign_key_new(&a.account_sk), KW_OK);
    kw_sign_key_public(a.account_sk, a.account_pk);
    th_device_new(&d, "dev");
    th_opaque_config(&cfg);
    assert_int_equal(kw_opaque_client_new(&oc, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_registration_start(oc, req, (const uint8_t *)a.password,
                                                         strlen(a.password)),
                     KW_OK);
    json_t *body = json_pack("{s:s}", "name", name);
    json_object_set_new(body, "request", th_b64(req, sizeof(req)));
    st = cr_req(c, base, "POST", "/v1/accounts/register/start", NULL, body, &reply);
    if (st != 200)
        goto out;
    th_unb64(reply, "response", resp, sizeof(resp));
    assert_int_equal(kw_opaque_client_registration_finish(oc, record, export_key, resp, sizeof(resp), NULL),
                     KW_OK);
    const th_device *devs[1] = {&d};
    randombytes_buf(blob, sizeof(blob));
    body = json_pack("{s:s}", "name", name);
    json_object_set_new(body, "record", th_b64(record, sizeof(record)));
    json_object_set_new(body, "account_pk", th_b64(a.account_pk, 32));
    json_object_set_new(body, "device", th_device_json(&d));
    json_object_set_new(body, "roster", th_roster(&a, 1, devs, 1, a.account_sk));
    json_object_set_new(body, "keychain", th_b64(blob, sizeof(blob)));
    json_object_set_new(body, "wrap", th_b64(blob, 80));
    json_decref(reply);
    reply = NULL;
    st = cr_req(c, base, "POST", "/v1/accounts/register/finish", NULL, body, &reply);
out:
    json_decref(reply);
    kw_opaque_client_free(&oc);
    th_device_free(&d);
    th_account_free(&a);
    return st;
}

/* Signs device d of (name, password) in: the status of login/finish (-1:
 * transport failure at either step); token filled on 200. */
static long cr_signin(CURL *c, const char *base, const char *name, const char *password,
                      const th_device *d, json_t *factor, char token[64])
{
    kw_opaque_config cfg;
    uint8_t ke1[KW_OPAQUE_KE1BYTES], sk[KW_OPAQUE_SESSION_KEYBYTES], ek[KW_OPAQUE_EXPORT_KEYBYTES];
    th_login l;
    json_t *reply = NULL;
    long st;
    memset(&l, 0, sizeof(l));
    th_opaque_config(&cfg);
    assert_int_equal(kw_opaque_client_new(&l.c, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_login_start(l.c, ke1, (const uint8_t *)password, strlen(password)),
                     KW_OK);
    json_t *body = json_pack("{s:s}", "name", name);
    json_object_set_new(body, "ke1", th_b64(ke1, sizeof(ke1)));
    st = cr_req(c, base, "POST", "/v1/login/start", NULL, body, &reply);
    if (st != 200) {
        json_decref(factor);
        goto out;
    }
    th_unb64(reply, "login_id", l.login_id, sizeof(l.login_id));
    th_unb64(reply, "ke2", l.ke2, sizeof(l.ke2));
    json_decref(reply);
    reply = NULL;
    assert_int_equal(kw_opaque_client_login_finish(l.c, l.ke3, sk, ek, l.ke2, sizeof(l.ke2), NULL), KW_OK);
    st = cr_req(c, base, "POST", "/v1/login/finish", NULL, th_finish_body(&l, d, factor), &reply);
    if (st == 200) {
        const char *t = json_string_value(json_object_get(reply, "token"));
        assert_non_null(t);
        snprintf(token, 64, "%s", t);
    }
out:
    json_decref(reply);
    kw_opaque_client_free(&l.c);
    return st;
}

/* ---- the write stream ---- */

typedef struct {
    pthread_mutex_t lock;
    atomic_bool stop;
    int round;
    const char *base;
    /* the account whose sessions and approval codes are written */
    const char *main_name, *main_password, *main_token;
    const th_device *main_dev;
    /* acknowledged writes, over all rounds */
    char (*names)[64];
    size_t nnames;
    char (*tokens)[64];
    size_t ntokens;
    char code[8];        /* last acknowledged approval code ("" when none or used) */
    bool approval_inflight; /* an approval request was sent and not answered */
    size_t round_names, round_tokens, round_codes;
} cr_log;

typedef struct {
    cr_log *log;
    int id;
} cr_worker;

static void *register_stream(void *arg)
{
    cr_worker *w = arg;
    cr_log *lg = w->log;
    CURL *c = curl_easy_init();
    char name[64];
    for (unsigned n = 0; c != NULL && !atomic_load(&lg->stop); n++) {
        snprintf(name, sizeof(name), "crash-r%d-t%d-%u", lg->round, w->id, n);
        long st = cr_register(c, lg->base, name);
        if (st < 0)
            break; /* the server is gone */
        if (st != 200)
            continue;
        pthread_mutex_lock(&lg->lock);
        if (lg->nnames < CR_MAX_ACKS) {
            snprintf(lg->names[lg->nnames++], 64, "%s", name);
            lg->round_names++;
        }
        pthread_mutex_unlock(&lg->lock);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void *login_stream(void *arg)
{
    cr_log *lg = ((cr_worker *)arg)->log;
    CURL *c = curl_easy_init();
    char token[64];
    while (c != NULL && !atomic_load(&lg->stop)) {
        long st = cr_signin(c, lg->base, lg->main_name, lg->main_password, lg->main_dev, NULL, token);
        if (st < 0)
            break;
        if (st != 200)
            continue;
        pthread_mutex_lock(&lg->lock);
        if (lg->ntokens < CR_MAX_ACKS) {
            snprintf(lg->tokens[lg->ntokens++], 64, "%s", token);
            lg->round_tokens++;
        }
        pthread_mutex_unlock(&lg->lock);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void *approval_stream(void *arg)
{
    cr_log *lg = ((cr_worker *)arg)->log;
    CURL *c = curl_easy_init();
    json_t *reply = NULL;
    for (int n = 0; c != NULL && n < CR_APPROVALS_PER_ROUND && !atomic_load(&lg->stop); n++) {
        pthread_mutex_lock(&lg->lock);
        lg->approval_inflight = true;
        pthread_mutex_unlock(&lg->lock);
        long st = cr_req(c, lg->base, "POST", "/v1/approvals", lg->main_token, NULL, &reply);
        if (st < 0)
            break; /* stays in flight: it may or may not have committed */
        pthread_mutex_lock(&lg->lock);
        lg->approval_inflight = false;
        if (st == 200) {
            snprintf(lg->code, sizeof(lg->code), "%s",
                     json_string_value(json_object_get(reply, "code")));
            lg->round_codes++;
        }
        pthread_mutex_unlock(&lg->lock);
        json_decref(reply);
        reply = NULL;
        usleep(10000 + randombytes_uniform(40000)); /* spread over the kill window */
    }
    json_decref(reply);
    curl_easy_cleanup(c);
    return NULL;
}

/* ---- checks after a restart ---- */

static void check_acknowledged(th_server *ts, cr_log *lg)
{
    char path[160];
    json_t *reply = NULL;
    for (size_t i = 0; i < lg->nnames; i++) {
        snprintf(path, sizeof(path), "/v1/accounts/%s/public", lg->names[i]);
        long st = th_req(ts, "GET", path, NULL, NULL, NULL);
        if (st != 200)
            fail_msg("acknowledged account %s lost after kill -9 (status %ld)", lg->names[i], st);
    }
    for (size_t i = 0; i < lg->ntokens; i++) {
        long st = th_req(ts, "GET", "/v1/sessions", lg->tokens[i], NULL, &reply);
        if (st != 200)
            fail_msg("acknowledged session %zu lost after kill -9 (status %ld: %s)", i, st, th_msg(reply));
        json_decref(reply);
        reply = NULL;
    }
}

/* The last acknowledged approval code signs a new device in (pending),
 * unless a later approval request was in flight at the kill: it may have
 * committed, replacing the code, without an answer. */
static void check_approval(th_server *ts, cr_log *lg, const th_account *a, int *checked)
{
    if (lg->code[0] == '\0')
        return;
    th_device nd;
    char token[64];
    json_t *reply = NULL;
    th_device_new(&nd, "new-dev");
    long st = th_signin(ts, a->name, a->password, &nd, th_code_factor("approval", lg->code), token, &reply);
    if (!lg->approval_inflight) {
        if (st != 200)
            fail_msg("acknowledged approval code lost after kill -9 (status %ld: %s)", st, th_msg(reply));
        assert_string_equal(json_string_value(json_object_get(reply, "device_state")), "pending");
        (*checked)++;
    } else {
        assert_true(st == 200 || st == 401);
    }
    json_decref(reply);
    th_device_free(&nd);
    lg->code[0] = '\0'; /* used (or replaced) */
}

/* New writes after a restart: a registration and a sign-in. */
static void check_serves_writes(th_server *ts, const th_account *a, const th_device *d, int round)
{
    char name[64], token[64];
    snprintf(name, sizeof(name), "after-restart-%d", round);
    assert_int_equal(cr_register(ts->curl, ts->base, name), 200);
    assert_int_equal(cr_signin(ts->curl, ts->base, a->name, a->password, d, NULL, token), 200);
    assert_int_equal(th_req(ts, "GET", "/v1/sessions", token, NULL, NULL), 200);
}

static void integrity_check(const cr_server *s)
{
    char path[160];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    snprintf(path, sizeof(path), "%s/keyward.db", s->data);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "ok");
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void test_kill9_keeps_acknowledged_writes(void **state)
{
    (void)state;
    cr_server s;
    th_server ts;
    th_account a;
    th_device d;
    char token[64];
    cr_log lg;
    int approvals_checked = 0;
    cr_setup(&s, false);
    memset(&lg, 0, sizeof(lg));
    pthread_mutex_init(&lg.lock, NULL);
    lg.names = calloc(CR_MAX_ACKS, 64);
    lg.tokens = calloc(CR_MAX_ACKS, 64);
    assert_non_null(lg.names);
    assert_non_null(lg.tokens);

    cr_start(&s);
    cr_client(&ts, &s);
    th_device_new(&d, "main-dev");
    assert_int_equal(th_register(&ts, &a, "crash-main", &d, token, NULL), 200);
    curl_easy_cleanup(ts.curl);
    lg.main_name = a.name;
    lg.main_password = a.password;
    lg.main_token = token;
    lg.main_dev = &d;

    for (int round = 0; round < CR_ROUNDS; round++) {
        pthread_t th[CR_REGISTER_THREADS + 2];
        cr_worker w[CR_REGISTER_THREADS + 2];
        lg.round = round;
        lg.base = s.base;
        lg.round_names = lg.round_tokens = lg.round_codes = 0;
        atomic_store(&lg.stop, false);
        for (int i = 0; i < CR_REGISTER_THREADS + 2; i++) {
            w[i] = (cr_worker){&lg, i};
            void *(*fn)(void *) = i < CR_REGISTER_THREADS ? register_stream
                                  : i == CR_REGISTER_THREADS ? login_stream
                                                             : approval_stream;
            assert_int_equal(pthread_create(&th[i], NULL, fn, &w[i]), 0);
        }
        /* Let acknowledged writes of each kind accumulate, then kill at a
         * random moment while the writers are still going. */
        for (int t = 0; t < 3000; t++) {
            pthread_mutex_lock(&lg.lock);
            bool enough = lg.round_names >= CR_MIN_ACKS && lg.round_tokens >= CR_MIN_ACKS &&
                          lg.round_codes >= 1;
            pthread_mutex_unlock(&lg.lock);
            if (enough)
                break;
            usleep(10000);
        }
        usleep(20000 + randombytes_uniform(200000));
        cr_kill9(&s);
        atomic_store(&lg.stop, true);
        for (int i = 0; i < CR_REGISTER_THREADS + 2; i++)
            pthread_join(th[i], NULL);
        assert_true(lg.round_names >= CR_MIN_ACKS);
        assert_true(lg.round_tokens >= CR_MIN_ACKS);
        printf("round %d: killed after %zu accounts, %zu sessions, %zu approval codes acknowledged "
               "(approval in flight at the kill: %s)\n",
               round, lg.round_names, lg.round_tokens, lg.round_codes, lg.approval_inflight ? "yes" : "no");

        cr_start(&s);
        cr_client(&ts, &s);
        check_acknowledged(&ts, &lg);
        check_approval(&ts, &lg, &a, &approvals_checked);
        check_serves_writes(&ts, &a, &d, round);
        curl_easy_cleanup(ts.curl);
        lg.approval_inflight = false;
    }
    printf("all %zu acknowledged accounts and %zu sessions survived %d kills; %d approval codes "
           "checked\n",
           lg.nnames, lg.ntokens, CR_ROUNDS, approvals_checked);
    cr_stop(&s);
    integrity_check(&s);

    th_device_free(&d);
    th_account_free(&a);
    free(lg.names);
    free(lg.tokens);
    pthread_mutex_destroy(&lg.lock);
    cr_cleanup(&s);
}

/* --pending-logins memory: login/finish takes the pending login once; a
 * restart (even kill -9) drops pending logins, so their finish is refused
 * like an unknown login; acknowledged sessions survive as always. */
static void test_memory_pending_logins(void **state)
{
    (void)state;
    cr_server s;
    th_server ts;
    th_account a;
    th_device d;
    th_login l;
    char token[64], token2[64];
    json_t *reply = NULL;
    cr_setup(&s, true);
    cr_start(&s);
    cr_client(&ts, &s);
    th_device_new(&d, "mem-dev");
    assert_int_equal(th_register(&ts, &a, "mem-user", &d, token, NULL), 200);

    /* finishes once */
    th_login_start(&ts, &l, a.name, a.password);
    assert_int_equal(l.finish_rc, KW_OK);
    assert_int_equal(th_req(&ts, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &d, NULL), &reply), 200);
    snprintf(token2, sizeof(token2), "%s", json_string_value(json_object_get(reply, "token")));
    json_decref(reply);
    assert_int_equal(th_req(&ts, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &d, NULL), &reply), 401);
    assert_string_equal(th_err(reply), "verify");
    json_decref(reply);

    /* a wrong KE3 consumes the login too */
    th_login_start(&ts, &l, a.name, a.password);
    l.ke3[0] ^= 1;
    assert_int_equal(th_req(&ts, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &d, NULL), NULL), 401);
    l.ke3[0] ^= 1;
    assert_int_equal(th_req(&ts, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &d, NULL), NULL), 401);

    /* an unknown login id */
    th_login_start(&ts, &l, a.name, a.password);
    l.login_id[0] ^= 1;
    assert_int_equal(th_req(&ts, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &d, NULL), NULL), 401);

    /* a pending login does not survive a restart; the session does */
    th_login_start(&ts, &l, a.name, a.password);
    curl_easy_cleanup(ts.curl);
    cr_kill9(&s);
    cr_start(&s);
    cr_client(&ts, &s);
    assert_int_equal(th_req(&ts, "POST", "/v1/login/finish", NULL, th_finish_body(&l, &d, NULL), &reply), 401);
    assert_string_equal(th_err(reply), "verify");
    json_decref(reply);
    assert_int_equal(th_req(&ts, "GET", "/v1/sessions", token2, NULL, NULL), 200);
    assert_int_equal(th_signin(&ts, a.name, a.password, &d, NULL, NULL, NULL), 200);

    curl_easy_cleanup(ts.curl);
    cr_stop(&s);
    integrity_check(&s);
    th_device_free(&d);
    th_account_free(&a);
    cr_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_keeps_acknowledged_writes),
        cmocka_unit_test(test_memory_pending_logins),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
