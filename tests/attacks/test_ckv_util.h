/*
 * test_ckv_util.h — helpers of the Contact Key Verification attack tests
 * (tests/attacks/test_ckv_*.c) and the CKV integration test: a real
 * keywardd with --test-faults and 100 ms epochs, the real keyward CLI, the
 * lying server's roster hook (POST /v1/test/roster/{account}, server/api/
 * roster.c), and assertions on named alerts.
 *
 * Header-only (static inline): each test file is built on its own.
 */
#ifndef KEYWARD_TESTS_CKV_UTIL_H
#define KEYWARD_TESTS_CKV_UTIL_H

#include "attack_util.h"

#include <signal.h>
#include <sys/wait.h>

#include "keyward/kt.h"
#include "keyward/roster.h"
#include "keyward/sign.h"

static const char *const ckv_server_args[] = {"--test-faults", "--kt-epoch-ms", "100", NULL};

static inline int ckv_server_start(kw_it_server *s, const char *dir)
{
    setenv("KEYWARD_TEST_FAULTS", "1", 1);
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return kw_it_server_start(s, dir, ckv_server_args);
}

/* The fixture of a CKV test (kw_it_fixture_up) on such a server. */
static inline int ckv_fixture_up(kw_it_server *s, const kw_it_prof *profs)
{
    setenv("KEYWARD_TEST_FAULTS", "1", 1);
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return kw_it_fixture_up(s, ckv_server_args, profs);
}

static inline int64_t ckv_head_epoch(const kw_it_server *s)
{
    char *body = NULL;
    int64_t e = -1;
    if (kw_it_http(s, "GET", "/v1/kt/head", NULL, NULL, &body) == 200 && body != NULL) {
        json_t *o = json_loads(body, 0, NULL);
        if (json_is_integer(json_object_get(o, "epoch")))
            e = (int64_t)json_integer_value(json_object_get(o, "epoch"));
        json_decref(o);
    }
    free(body);
    return e;
}

/* Waits until the server closed two more epochs (every queued roster is
 * in the log then). */
static inline void ckv_wait_epochs(const kw_it_server *s)
{
    int64_t start = ckv_head_epoch(s);
    assert_true(start >= 0);
    for (int i = 0; i < 400 && ckv_head_epoch(s) < start + 2; i++)
        usleep(50 * 1000);
    assert_true(ckv_head_epoch(s) >= start + 2);
}

/* Runs the CLI with --json and asserts the exit status. */
static inline kw_it_result ckv_cli(const kw_it_server *s, const char *prof, const char *const *args,
                                   int expect)
{
    kw_it_result r = at_cli(s, prof, args, expect);
    assert_int_equal(r.status, expect);
    return r;
}

/* One-shot command expecting `expect`; the result is freed. */
static inline void ckv_run(const kw_it_server *s, const char *prof, const char *const *args, int expect)
{
    kw_it_result r = ckv_cli(s, prof, args, expect);
    kw_it_result_free(&r);
}

/* The result carries alert `kind` about `subject`: on stderr ("ALERT kind
 * (subject)") and in the JSON "alerts" array. */
static inline void ckv_assert_alert(const kw_it_result *r, const char *kind, const char *subject)
{
    char want[160];
    snprintf(want, sizeof(want), "ALERT %s (%s)", kind, subject);
    if (strstr(r->err, want) == NULL)
        kw_it_dump(want, r);
    assert_non_null(strstr(r->err, want));
    assert_non_null(r->json);
    json_t *alerts = json_object_get(r->json, "alerts");
    size_t i;
    json_t *a;
    bool found = false;
    json_array_foreach(alerts, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "kind")), kind) == 0 &&
            strcmp(json_string_value(json_object_get(a, "subject")), subject) == 0) {
            found = true;
            assert_true(strlen(json_string_value(json_object_get(a, "what"))) > 10);
            assert_true(strlen(json_string_value(json_object_get(a, "todo"))) > 10);
        }
    }
    assert_true(found);
}

/* A refused command (exit 2, verify) that raised alert `kind`. */
static inline void ckv_assert_refused_alert(const kw_it_result *r, const char *kind,
                                            const char *subject)
{
    if (r->status != 2)
        kw_it_dump("expected exit 2", r);
    assert_int_equal(r->status, 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r->json, "error"), "code")),
                        "verify");
    ckv_assert_alert(r, kind, subject);
}

/* `keyward alerts` on prof lists an alert of `kind` about `subject` whose
 * text contains `fragment` (NULL: any). */
static inline void ckv_assert_stored(const kw_it_server *s, const char *prof, const char *kind,
                                     const char *subject, const char *fragment)
{
    const char *args[] = {"--json", "alerts", NULL};
    kw_it_result r = kw_it_cli(s, prof, NULL, args);
    assert_true(r.status == 0 || r.status == 8 || r.status == 2);
    assert_non_null(r.json);
    size_t i;
    json_t *a;
    bool found = false;
    json_array_foreach(json_object_get(r.json, "all"), i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "kind")), kind) == 0 &&
            strcmp(json_string_value(json_object_get(a, "subject")), subject) == 0 &&
            (fragment == NULL || strstr(json_string_value(json_object_get(a, "what")), fragment) != NULL))
            found = true;
    }
    if (!found)
        kw_it_dump("alerts", &r);
    assert_true(found);
    kw_it_result_free(&r);
}

/* The account's newest roster as the server stores it (read from its
 * database while it runs; WAL allows a concurrent reader). */
static inline uint8_t *ckv_db_roster(const kw_it_server *s, const char *account, int64_t version,
                                     size_t *len)
{
    char sql[256];
    sqlite3 *db = at_db_open(s);
    if (version > 0)
        snprintf(sql, sizeof(sql),
                 "SELECT roster FROM rosters WHERE account_id = (SELECT id FROM accounts WHERE "
                 "name = '%s') AND version = %lld",
                 account, (long long)version);
    else
        snprintf(sql, sizeof(sql),
                 "SELECT roster FROM rosters WHERE account_id = (SELECT id FROM accounts WHERE "
                 "name = '%s') ORDER BY version DESC LIMIT 1",
                 account);
    uint8_t *b = at_blob(db, sql, NULL, 0, len);
    at_db_close(db);
    return b;
}

/* The lying server: publishes roster bytes (unchecked) as the account's
 * next version in the log; store: also as its next stored roster. */
static inline void ckv_lie_roster(const kw_it_server *s, const char *account, const uint8_t *roster,
                                  size_t len, bool store)
{
    char *b64 = malloc(kw_b64url_encoded_len(len) + 1), path[128], *resp = NULL;
    assert_non_null(b64);
    assert_int_equal(kw_b64url_encode(b64, kw_b64url_encoded_len(len) + 1, roster, len), KW_OK);
    size_t cap = strlen(b64) + 64;
    char *body = malloc(cap);
    assert_non_null(body);
    snprintf(body, cap, "{\"roster\":\"%s\",\"store\":%s}", b64, store ? "true" : "false");
    snprintf(path, sizeof(path), "/v1/test/roster/%s", account);
    int st = kw_it_http(s, "POST", path, body, NULL, &resp);
    if (st != 200)
        fprintf(stderr, "lie: HTTP %d %s\n", st, resp != NULL ? resp : "");
    assert_int_equal(st, 200);
    free(resp);
    free(body);
    free(b64);
}

/* Re-encodes r (version bumped by the caller) WITHOUT a valid account-key
 * signature: signed by a throwaway key, then the account key put back into
 * the bytes (the server cannot sign with the account key). */
static inline uint8_t *ckv_forge_unsigned(const kw_roster *r, size_t *len)
{
    kw_roster *copy = malloc(sizeof(*copy));
    kw_sign_key *k = NULL;
    uint8_t *out = malloc(KW_ROSTER_MAXBYTES);
    assert_non_null(copy);
    assert_non_null(out);
    *copy = *r;
    assert_int_equal(kw_sign_key_new(&k), KW_OK);
    kw_sign_key_public(k, copy->account_pk);
    assert_int_equal(kw_roster_encode(out, KW_ROSTER_MAXBYTES, len, copy, k), KW_OK);
    /* put the real account key back: the signature no longer matches it */
    size_t off = 4 + 8 + 1 + r->name_len;
    memcpy(out + off, r->account_pk, 32);
    kw_sign_key_free(&k);
    free(copy);
    return out;
}

/* A fresh device M (random keys) appended to r. */
static inline void ckv_add_device(kw_roster *r, const char *name)
{
    uint8_t id[16], ipk[32], hpk[32];
    kw_sign_key *k = NULL;
    randombytes_buf(id, sizeof(id));
    randombytes_buf(hpk, sizeof(hpk));
    assert_int_equal(kw_sign_key_new(&k), KW_OK);
    kw_sign_key_public(k, ipk);
    kw_sign_key_free(&k);
    assert_int_equal(kw_roster_add(r, id, ipk, hpk, name), KW_OK);
}

/* The account's newest roster as the log serves it (proof verified with
 * the server's keys; decoded WITHOUT trusting the signature). */
static inline void ckv_log_roster(const kw_it_server *s, const char *account, kw_roster *r)
{
    char *body = NULL, path[128];
    uint8_t log_pk[32], vrf_pk[32], proof_buf[1];
    size_t n = 0;
    (void)proof_buf;
    assert_int_equal(kw_it_http(s, "GET", "/v1/kt/keys", NULL, NULL, &body), 200);
    json_t *k = json_loads(body, 0, NULL);
    free(body);
    const char *lp = json_string_value(json_object_get(k, "log_pk"));
    const char *vp = json_string_value(json_object_get(k, "vrf_pk"));
    assert_int_equal(kw_b64url_decode(log_pk, 32, &n, lp, strlen(lp)), KW_OK);
    assert_int_equal(kw_b64url_decode(vrf_pk, 32, &n, vp, strlen(vp)), KW_OK);
    json_decref(k);
    snprintf(path, sizeof(path), "/v1/kt/search/%s", account);
    assert_int_equal(kw_it_http(s, "GET", path, NULL, NULL, &body), 200);
    json_t *o = json_loads(body, 0, NULL);
    free(body);
    const char *p = json_string_value(json_object_get(o, "proof"));
    assert_non_null(p);
    size_t cap = strlen(p);
    uint8_t *proof = malloc(cap);
    assert_non_null(proof);
    assert_int_equal(kw_b64url_decode(proof, cap, &n, p, strlen(p)), KW_OK);
    json_decref(o);
    kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
    kw_kt_result res;
    kw_kt_reason why;
    assert_int_equal(kw_kt_search_verify(&res, &why, &t, (const uint8_t *)account, strlen(account),
                                         proof, n),
                     KW_OK);
    assert_true(res.version > 0);
    assert_int_equal(kw_roster_decode_unverified(r, res.value, res.value_len), KW_OK);
    free(proof);
}

/* prof's public verification code (`keyward code`). */
static inline void ckv_code(const kw_it_server *s, const char *prof, char code[64])
{
    const char *args[] = {"--json", "code", NULL};
    kw_it_result r = ckv_cli(s, prof, args, 0);
    snprintf(code, 64, "%s", at_jstr(&r, "code"));
    assert_int_equal(strlen(code), 35);
    kw_it_result_free(&r);
}

/* ---- the interactive compare: CLI processes that wait for an answer ---- */

typedef struct {
    pid_t pid;
    FILE *in, *out; /* its stdin and stdout */
} ckv_proc;

/* Starts `keyward --server URL --profile profile args...` (test
 * environment, no terminal: the answer comes from stdin). */
static inline ckv_proc ckv_spawn(const kw_it_server *s, const char *profile, const char *const *args)
{
    ckv_proc p = {0};
    int in[2], out[2];
    char keyward[600];
    const char *bin = getenv("KEYWARD_BIN_DIR");
    snprintf(keyward, sizeof(keyward), "%s/keyward", bin != NULL ? bin : "build/bin");
    const char *argv[32] = {keyward, "--server", s->url, "--profile", profile};
    size_t n = 5;
    for (size_t i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    p.pid = fork();
    assert_true(p.pid >= 0);
    if (p.pid == 0) {
        setsid();
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        setenv("KEYWARD_PASSPHRASE", AT_PASSPHRASE, 0);
        setenv("KEYWARD_TEST_FAST_KDF", "1", 1);
        execv(keyward, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p.in = fdopen(in[1], "w");
    p.out = fdopen(out[0], "r");
    return p;
}

/* Reads lines until the {"sas": ...} prompt line (sas set) or the end of
 * output (sas empty). last (optional, *last NULL or owned): the last other
 * JSON line, e.g. the error. */
static inline void ckv_read_sas(ckv_proc *p, char sas[64], json_t **last)
{
    char line[8192];
    sas[0] = '\0';
    while (fgets(line, sizeof(line), p->out) != NULL) {
        json_t *o = json_loads(line, 0, NULL);
        const char *v = json_string_value(json_object_get(o, "sas"));
        if (v != NULL && json_object_get(o, "verified") == NULL) {
            snprintf(sas, 64, "%s", v);
            json_decref(o);
            return;
        }
        if (o != NULL && last != NULL) {
            json_decref(*last);
            *last = o;
        } else {
            json_decref(o);
        }
    }
}

/* Answers (NULL: nothing to answer), then collects the final JSON line
 * into *last (NULL or owned; replaced when a line follows) and returns the
 * exit status (-1: did not exit normally). */
static inline int ckv_finish(ckv_proc *p, const char *answer, json_t **last)
{
    char line[8192];
    int status = 0;
    if (answer != NULL) {
        fprintf(p->in, "%s\n", answer);
        fflush(p->in);
    }
    while (fgets(line, sizeof(line), p->out) != NULL) {
        json_t *o = json_loads(line, 0, NULL);
        if (o != NULL) {
            json_decref(*last);
            *last = o;
        }
    }
    fclose(p->in);
    fclose(p->out);
    assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif
