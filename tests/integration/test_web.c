/*
 * Integration: the account-security web page's server side against a real
 * keywardd — static files (content types, CSP, traversal, symlinks, size
 * limit), web sign-in (OPAQUE with the web configuration: empty context,
 * then a second factor), web sessions (hashed, single-use factor stage,
 * revocable, expiring) and the device-removal queue.
 *
 * The OPAQUE client here is libkeyward's with the web page's configuration
 * (the browser test web/tests/run.sh runs the npm client itself). Accounts
 * and devices are made with the real keyward CLI. The tests run in order
 * and share the server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "client/client_internal.h"
#include "keyward/client_adp.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/opaque.h"
#include "keyward/softkey.h"
#include "keyward/webauthn.h"
#include <sodium.h>
#include "util/harness.h"

#define PASSWORD "web page password 1"
#define PASSPHRASE "integration-test-passphrase" /* what the harness sets */
#define NAME "webalice"

static kw_it_server srv;
static char *prof_a, *prof_b;
static char web_token[64], web_token2[64], web_sid2[32];

/* ---- HTTP with headers and raw paths ---- */

typedef struct {
    char *data;
    size_t len;
} buf_t;

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    buf_t *b = ud;
    size_t add = size * n;
    char *nb = realloc(b->data, b->len + add + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + b->len, p, add);
    b->len += add;
    nb[b->len] = '\0';
    b->data = nb;
    return add;
}

/* GET of a raw path (no normalisation of dot segments); returns the status,
 * the body and the headers (both malloc'd, NUL-terminated). */
static long raw_get(const kw_it_server *s, const char *path, char **body, char **headers)
{
    char url[1024];
    buf_t b = {0}, h = {0};
    long status = -1;
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (body != NULL)
        *body = b.data != NULL ? b.data : strdup("");
    else
        free(b.data);
    if (headers != NULL)
        *headers = h.data != NULL ? h.data : strdup("");
    else
        free(h.data);
    return status;
}

/* POST/GET with JSON (kw_it_call); returns the status and the parsed
 * answer (or NULL). */
static int call(const char *method, const char *path, json_t *body, const char *token, json_t **out)
{
    return kw_it_call(&srv, method, path, body, token, out);
}

static const char *err_message(json_t *o)
{
    return kw_it_err_message(o);
}

/* ---- OPAQUE with the web page's configuration ---- */

static void b64(char *out, size_t cap, const uint8_t *p, size_t n)
{
    assert_int_equal(kw_b64url_encode(out, cap, p, n), KW_OK);
}

/* Runs web login/start + the client's finish (kw_it_web_password).
 * Returns the login/finish status and answer; *client_ok tells whether the
 * client accepted KE2. context NULL: the web configuration (empty context). */
static int web_password(const char *name, const char *password, const char *context, bool *client_ok,
                        json_t **out)
{
    return kw_it_web_password(&srv, name, password, context, client_ok, out);
}

static char *approval_code(void)
{
    const char *args[] = {"--json", "approval-code", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, args);
    assert_int_equal(r.status, 0);
    char *code = strdup(json_string_value(json_object_get(r.json, "code")));
    kw_it_result_free(&r);
    return code;
}

/* A full web sign-in (password + approval code) into token (64 bytes). */
static void web_sign_in(char token[64], char sid[32])
{
    bool ok = false;
    json_t *f = NULL, *a = NULL;
    assert_int_equal(web_password(NAME, PASSWORD, NULL, &ok, &f), 200);
    assert_true(ok);
    char *code = approval_code();
    int st = call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", code),
                  json_string_value(json_object_get(f, "token")), &a);
    free(code);
    assert_int_equal(st, 200);
    snprintf(token, 64, "%s", json_string_value(json_object_get(a, "token")));
    if (sid != NULL)
        snprintf(sid, 32, "%s", json_string_value(json_object_get(a, "session_id")));
    json_decref(f);
    json_decref(a);
}

/* ---- setup ---- */

static const kw_it_prof profs[] = {{"A", &prof_a}, {"B", &prof_b}, {NULL, NULL}};

static int setup(void **state)
{
    (void)state;
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    if (kw_it_fixture_up(&srv, NULL, profs) != 0)
        return -1;
    const char *create[] = {"--json", "account", "create", NAME, "--device-name", "laptop", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, create);
    int ok = r.status == 0;
    if (!ok)
        kw_it_dump("account create", &r);
    kw_it_result_free(&r);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_fixture_down(&srv, profs);
    return 0;
}

/* ---- tests ---- */

static void test_static_files(void **state)
{
    (void)state;
    char *body = NULL, *hdr = NULL;
    assert_int_equal(raw_get(&srv, "/", &body, &hdr), 200);
    assert_non_null(strstr(body, "<!doctype html>"));
    assert_non_null(strstr(hdr, "Content-Type: text/html; charset=utf-8"));
    assert_non_null(strstr(hdr, "Content-Security-Policy: default-src 'none'; script-src 'self'"));
    assert_non_null(strstr(hdr, "frame-ancestors 'none'"));
    assert_non_null(strstr(hdr, "X-Content-Type-Options: nosniff"));
    free(body);
    free(hdr);
    assert_int_equal(raw_get(&srv, "/web/app.js", &body, &hdr), 200);
    assert_non_null(strstr(hdr, "Content-Type: text/javascript"));
    assert_non_null(strstr(body, "navigator.credentials.get"));
    free(body);
    free(hdr);
    assert_int_equal(raw_get(&srv, "/web/style.css", NULL, &hdr), 200);
    assert_non_null(strstr(hdr, "Content-Type: text/css"));
    free(hdr);
    /* an API error is JSON, without the page's CSP */
    assert_int_equal(raw_get(&srv, "/web/nothing-here.js", &body, &hdr), 404);
    assert_non_null(strstr(body, "\"not_found\""));
    assert_null(strstr(hdr, "Content-Security-Policy"));
    free(body);
    free(hdr);
}

static void test_traversal_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "/web/../Makefile",      "/web/..%2fMakefile",     "/web/..%2F..%2Fetc%2Fpasswd",
        "/web/%2e%2e",           "/web/..",                "/web/.gitignore",
        "/web/package.json",     "/web/package-lock.json", "/web/tests",
        "/web/node_modules",     "/web/run.sh",            "/web/a..js",
        "/web/%2fetc%2fpasswd",  "/web/index.html.",       "/web/app.js%2f..%2f..%2fMakefile",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *body = NULL;
        long st = raw_get(&srv, bad[i], &body, NULL);
        if (st != 404)
            fprintf(stderr, "path %s answered %ld: %.80s\n", bad[i], st, body);
        assert_int_equal(st, 404);
        assert_null(strstr(body, "root:")); /* never /etc/passwd */
        free(body);
    }
}

/* A second keywardd with its own web.dir: a symbolic link and a file over
 * the size limit are refused; a bad web.dir stops the start. */
static void test_custom_dir_symlink_and_size(void **state)
{
    (void)state;
    char dir[400], path[500];
    snprintf(dir, sizeof(dir), "%s/webdir", srv.dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/index.html", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("<!doctype html><title>custom</title>", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/link.js", dir);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    snprintf(path, sizeof(path), "%s/big.js", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fseek(f, 4 * 1024 * 1024 + 1, SEEK_SET), 0);
    fputc('x', f);
    fclose(f);
    /* files that exist but whose names the server refuses to serve */
    static const char *const hidden[] = {".hidden.js", "a..js", "-.js.", "x y.js"};
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, hidden[i]);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("secret", f);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/empty.css", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);

    char set[600];
    snprintf(set, sizeof(set), "web.dir=%s", dir);
    const char *args[] = {"--set", set, NULL};
    kw_it_server s2 = {0};
    assert_int_equal(kw_it_server_start(&s2, NULL, args), 0);
    char *body = NULL;
    assert_int_equal(raw_get(&s2, "/", &body, NULL), 200);
    assert_non_null(strstr(body, "custom"));
    free(body);
    assert_int_equal(raw_get(&s2, "/web/link.js", &body, NULL), 404);
    assert_null(strstr(body, "root:"));
    free(body);
    assert_int_equal(raw_get(&s2, "/web/big.js", NULL, NULL), 413);
    assert_int_equal(raw_get(&s2, "/web/empty.css", NULL, NULL), 404);
    static const char *const hidden_paths[] = {"/web/.hidden.js", "/web/a..js", "/web/-.js.", "/web/x%20y.js"};
    for (size_t i = 0; i < sizeof(hidden_paths) / sizeof(hidden_paths[0]); i++) {
        assert_int_equal(raw_get(&s2, hidden_paths[i], &body, NULL), 404);
        assert_null(strstr(body, "secret"));
        free(body);
    }
    kw_it_server_stop(&s2, false);
    kw_it_server_cleanup(&s2);

    /* a web.dir without index.html is a configuration error: no start */
    snprintf(set, sizeof(set), "web.dir=%s/nowhere", srv.dir);
    const char *bad_args[] = {"--set", set, NULL};
    kw_it_server s3 = {0};
    assert_int_not_equal(kw_it_server_start(&s3, NULL, bad_args), 0);
    kw_it_server_stop(&s3, true);
    kw_it_server_cleanup(&s3);
}

static void test_web_login_wrong_password_and_unknown_name(void **state)
{
    (void)state;
    bool ok = true;
    json_t *o = NULL;
    assert_int_equal(web_password(NAME, "not the password", NULL, &ok, &o), 401);
    assert_false(ok); /* the client sees the wrong password in KE2 */
    assert_non_null(strstr(err_message(o), "sign-in failed"));
    json_decref(o);
    ok = true;
    assert_int_equal(web_password("nobody-here", PASSWORD, NULL, &ok, &o), 401);
    assert_false(ok);
    json_decref(o);
}

/* The web flow uses its own OPAQUE context: a client with the device
 * context ("keyward-opaque-v1") cannot finish a web login, and a web login
 * id is refused by the device sign-in. */
static void test_web_login_contexts_separated(void **state)
{
    (void)state;
    bool ok = true;
    json_t *o = NULL;
    assert_int_equal(web_password(NAME, PASSWORD, "keyward-opaque-v1", &ok, &o), 401);
    assert_false(ok);
    json_decref(o);

    /* a web login id at /v1/login/finish */
    kw_opaque_config cfg;
    kw_opaque_client *c = NULL;
    uint8_t ke1[KW_OPAQUE_KE1BYTES];
    char s1[256];
    json_t *r1 = NULL, *r2 = NULL;
    kw_opaque_config_default(&cfg, NULL, 0);
    assert_int_equal(kw_opaque_client_new(&c, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_login_start(c, ke1, (const uint8_t *)PASSWORD, strlen(PASSWORD)), KW_OK);
    b64(s1, sizeof(s1), ke1, sizeof(ke1));
    assert_int_equal(call("POST", "/v1/web/login/start", json_pack("{s:s,s:s}", "name", NAME, "ke1", s1), NULL, &r1),
                     200);
    char zero[128];
    uint8_t z[64] = {0};
    b64(zero, sizeof(zero), z, 64);
    int st = call("POST", "/v1/login/finish",
                  json_pack("{s:O,s:s,s:{s:s,s:s,s:s,s:s},s:s}", "login_id", json_object_get(r1, "login_id"),
                            "ke3", zero, "device", "id", "AAAAAAAAAAAAAAAAAAAAAA", "name", "x", "identity_pk",
                            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "hpke_pk",
                            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "device_sig", zero),
                  NULL, &r2);
    assert_true(st == 401 || st == 400);
    json_decref(r1);
    json_decref(r2);
    kw_opaque_client_free(&c);
}

static void test_web_login_factor_stage(void **state)
{
    (void)state;
    bool ok = false;
    json_t *f = NULL, *o = NULL;
    assert_int_equal(web_password(NAME, PASSWORD, NULL, &ok, &f), 200);
    assert_true(ok);
    const char *ftok = json_string_value(json_object_get(f, "token"));
    assert_non_null(ftok);
    assert_int_equal(strlen(ftok), 43);
    json_t *factors = json_object_get(f, "factors");
    assert_int_equal(json_array_size(factors), 1); /* no keys, no TOTP: approval only */
    assert_string_equal(json_string_value(json_array_get(factors, 0)), "approval");
    assert_false(json_is_true(json_object_get(f, "security_key_required")));

    /* the factor-stage token is not a session */
    assert_int_equal(call("GET", "/v1/web/me", NULL, ftok, &o), 401);
    assert_non_null(strstr(err_message(o), "second factor required"));
    json_decref(o);
    assert_int_equal(call("GET", "/v1/seckeys", NULL, ftok, &o), 401);
    json_decref(o);
    /* a security key when the account has none */
    assert_int_equal(call("POST", "/v1/web/login/key-options", json_object(), ftok, &o), 404);
    json_decref(o);
    /* wrong code, malformed code, unknown factor, extra field */
    assert_int_equal(call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", "000000"),
                          ftok, &o),
                     401);
    assert_non_null(strstr(err_message(o), "approval code"));
    json_decref(o);
    assert_int_equal(call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", "12ab56"),
                          ftok, &o),
                     400);
    json_decref(o);
    assert_int_equal(call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "sms", "code", "123456"),
                          ftok, &o),
                     400);
    json_decref(o);
    assert_int_equal(call("POST", "/v1/web/login/factor",
                          json_pack("{s:s,s:s,s:b}", "type", "totp", "code", "123456", "x", 1), ftok, &o),
                     400);
    json_decref(o);
    /* TOTP is off for this account */
    assert_int_equal(call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "totp", "code", "123456"),
                          ftok, &o),
                     401);
    json_decref(o);

    char *code = approval_code();
    assert_int_equal(call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", code),
                          ftok, &o),
                     200);
    const char *tok = json_string_value(json_object_get(o, "token"));
    assert_non_null(tok);
    assert_string_not_equal(tok, ftok);
    snprintf(web_token, sizeof(web_token), "%s", tok);
    json_decref(o);
    /* the factor stage is single use, also with a fresh code */
    free(code);
    code = approval_code();
    assert_int_equal(call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", code),
                          ftok, &o),
                     401);
    json_decref(o);
    free(code);
    json_decref(f);
}

static void test_web_session_auth(void **state)
{
    (void)state;
    json_t *o = NULL;
    assert_int_equal(call("GET", "/v1/web/me", NULL, web_token, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "name")), NAME);
    assert_true(json_is_boolean(json_object_get(o, "adp")));
    assert_true(json_is_boolean(json_object_get(o, "ckv")));
    assert_false(json_is_true(json_object_get(o, "security_keys_required")));
    json_decref(o);
    /* kw_api_auth_any accepts it (the security-key list), kw_api_auth does not */
    assert_int_equal(call("GET", "/v1/seckeys", NULL, web_token, &o), 200);
    json_decref(o);
    assert_int_equal(call("GET", "/v1/devices", NULL, web_token, &o), 401);
    json_decref(o);
    /* a device token is not a web session for the web-only routes */
    kwc_profile *pa = NULL;
    assert_int_equal(kwc_profile_load(&pa, prof_a, PASSPHRASE, strlen(PASSPHRASE)), KW_OK);
    assert_int_equal(call("GET", "/v1/web/me", NULL, pa->s->token, &o), 401);
    json_decref(o);
    kwc_profile_free(&pa);
    /* a token that is not stored, and a malformed one */
    assert_int_equal(call("GET", "/v1/web/me", NULL, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &o), 401);
    json_decref(o);
    assert_int_equal(call("GET", "/v1/web/me", NULL, "short", &o), 401);
    json_decref(o);
}

static void test_web_sessions_list_revoke_logout(void **state)
{
    (void)state;
    json_t *o = NULL;
    web_sign_in(web_token2, web_sid2);
    assert_int_equal(call("GET", "/v1/web/sessions", NULL, web_token, &o), 200);
    json_t *list = json_object_get(o, "sessions");
    assert_int_equal(json_array_size(list), 2);
    json_decref(o);
    /* revoke the second from the first */
    char path[128];
    snprintf(path, sizeof(path), "/v1/web/sessions/%s/revoke", web_sid2);
    assert_int_equal(call("POST", path, json_object(), web_token, &o), 200);
    json_decref(o);
    assert_int_equal(call("GET", "/v1/web/me", NULL, web_token2, &o), 401);
    assert_non_null(strstr(err_message(o), "revoked"));
    json_decref(o);
    assert_int_equal(call("POST", path, json_object(), web_token, &o), 404); /* already revoked */
    json_decref(o);
    /* logout ends a third one */
    char t3[64];
    web_sign_in(t3, NULL);
    assert_int_equal(call("POST", "/v1/web/logout", json_object(), t3, &o), 200);
    json_decref(o);
    assert_int_equal(call("GET", "/v1/web/me", NULL, t3, &o), 401);
    json_decref(o);
    assert_int_equal(call("GET", "/v1/web/me", NULL, web_token, &o), 200); /* the first lives on */
    json_decref(o);
}

static void test_device_removal_queue(void **state)
{
    (void)state;
    json_t *o = NULL;
    /* B signs in (pending device) with an approval code */
    char *code = approval_code();
    const char *login[] = {"--json", "login", NAME, "--approval-code", code, "--device-name", "phone", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_b, NULL, login);
    free(code);
    assert_int_equal(r.status, 0);
    char b_id[32];
    snprintf(b_id, sizeof(b_id), "%s", json_string_value(json_object_get(r.json, "device_id")));
    kw_it_result_free(&r);
    const char *slist[] = {"--json", "session", "list", NULL};
    r = kw_it_cli(&srv, prof_b, NULL, slist);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    assert_int_equal(call("GET", "/v1/web/devices", NULL, web_token, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "devices")), 2);
    json_decref(o);

    char path[128];
    snprintf(path, sizeof(path), "/v1/web/devices/%s/remove", b_id);
    assert_int_equal(call("POST", path, json_object(), web_token, &o), 200);
    assert_true(json_is_true(json_object_get(o, "removal_queued")));
    json_decref(o);
    /* B is signed out at once */
    r = kw_it_cli(&srv, prof_b, NULL, slist);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
    /* the page shows the request */
    assert_int_equal(call("GET", "/v1/web/devices", NULL, web_token, &o), 200);
    json_t *devs = json_object_get(o, "devices");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(devs); i++) {
        json_t *d = json_array_get(devs, i);
        if (strcmp(json_string_value(json_object_get(d, "id")), b_id) == 0)
            seen = json_is_true(json_object_get(d, "removal_requested"));
    }
    assert_true(seen);
    json_decref(o);
    /* a trusted device sees the queue; a web session may not read it */
    kwc_profile *pa = NULL;
    assert_int_equal(kwc_profile_load(&pa, prof_a, PASSPHRASE, strlen(PASSPHRASE)), KW_OK);
    assert_int_equal(call("GET", "/v1/web/removals", NULL, pa->s->token, &o), 200);
    json_t *q = json_object_get(o, "removals");
    assert_int_equal(json_array_size(q), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(q, 0), "device_id")), b_id);
    json_decref(o);
    assert_int_equal(call("GET", "/v1/web/removals", NULL, web_token, &o), 401);
    json_decref(o);
    /* unknown device, another account's id shape, bad id */
    assert_int_equal(call("POST", "/v1/web/devices/AAAAAAAAAAAAAAAAAAAAAA/remove", json_object(), web_token, &o),
                     404);
    json_decref(o);
    assert_int_equal(call("POST", "/v1/web/devices/not-an-id/remove", json_object(), web_token, &o), 400);
    json_decref(o);
    /* the trusted device dismisses it */
    snprintf(path, sizeof(path), "/v1/web/removals/%s/dismiss", b_id);
    assert_int_equal(call("POST", path, json_object(), pa->s->token, &o), 200);
    json_decref(o);
    assert_int_equal(call("POST", path, json_object(), pa->s->token, &o), 404);
    json_decref(o);
    kwc_profile_free(&pa);
}

/* The removal queue from the CLI of a trusted device: `keyward device
 * removals` lists what the page queued, `device dismiss` drops one,
 * `device remove` completes one. While a removal is queued the device must
 * not sign in again with the password as a known device (login.c is to
 * call kw_api_web_device_blocked; this test fails until it does). */
static void test_cli_removals_dismiss_and_blocked_login(void **state)
{
    (void)state;
    json_t *o = NULL;
    char b_id[32] = "", path[128];
    /* B is a known (pending) device whose sessions the previous test's
     * queue revoked; the queue was dismissed, so B signs in again */
    const char *login[] = {"--json", "login", NAME, NULL};
    kw_it_result r = kw_it_cli(&srv, prof_b, NULL, login);
    if (r.status != 0)
        kw_it_dump("login B", &r);
    assert_int_equal(r.status, 0);
    snprintf(b_id, sizeof(b_id), "%s", json_string_value(json_object_get(r.json, "device_id")));
    kw_it_result_free(&r);

    /* nothing queued: the list is empty; dismissing is a 404 (exit != 0) */
    const char *rls[] = {"--json", "device", "removals", NULL};
    r = kw_it_cli(&srv, prof_a, NULL, rls);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "removals")), 0);
    kw_it_result_free(&r);
    const char *dis[] = {"--json", "device", "dismiss", "--", b_id, NULL};
    r = kw_it_cli(&srv, prof_a, NULL, dis);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);

    /* the page queues B's removal */
    snprintf(path, sizeof(path), "/v1/web/devices/%s/remove", b_id);
    assert_int_equal(call("POST", path, json_object(), web_token, &o), 200);
    json_decref(o);
    r = kw_it_cli(&srv, prof_a, NULL, rls);
    assert_int_equal(r.status, 0);
    json_t *q = json_object_get(r.json, "removals");
    assert_int_equal(json_array_size(q), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(q, 0), "device_id")), b_id);
    assert_string_equal(json_string_value(json_object_get(json_array_get(q, 0), "name")), "phone");
    kw_it_result_free(&r);
    /* the queue is for trusted devices: B (pending, signed out) cannot read it */
    r = kw_it_cli(&srv, prof_b, NULL, rls);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
    /* a malformed id is refused locally */
    const char *bad[] = {"--json", "device", "dismiss", "not-an-id", NULL};
    r = kw_it_cli(&srv, prof_a, NULL, bad);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);

    /* while queued, B's password sign-in as a known device is refused */
    r = kw_it_cli(&srv, prof_b, NULL, login);
    bool blocked = r.status != 0;
    if (!blocked)
        fprintf(stderr, "KNOWN GAP: a device whose removal the web page queued signed in again with "
                        "the password (server/api/login.c does not call kw_api_web_device_blocked)\n");
    kw_it_result_free(&r);

    /* dismissed: B may sign in again; the queue is empty */
    r = kw_it_cli(&srv, prof_a, NULL, dis);
    if (r.status != 0)
        kw_it_dump("device dismiss", &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "dismissed")), b_id);
    kw_it_result_free(&r);
    r = kw_it_cli(&srv, prof_a, NULL, rls);
    assert_int_equal(json_array_size(json_object_get(r.json, "removals")), 0);
    kw_it_result_free(&r);
    r = kw_it_cli(&srv, prof_b, NULL, login);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    /* queued again and completed with `device remove`: B is gone for good */
    assert_int_equal(call("POST", path, json_object(), web_token, &o), 200);
    json_decref(o);
    const char *rm[] = {"--json", "device", "remove", "--yes", "--", b_id, NULL};
    r = kw_it_cli(&srv, prof_a, NULL, rm);
    if (r.status != 0)
        kw_it_dump("device remove", &r);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    r = kw_it_cli(&srv, prof_a, NULL, rls);
    assert_int_equal(json_array_size(json_object_get(r.json, "removals")), 0);
    kw_it_result_free(&r);
    r = kw_it_cli(&srv, prof_b, NULL, login);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
    /* the page can no longer queue it */
    assert_int_equal(call("POST", path, json_object(), web_token, &o), 409);
    json_decref(o);

    assert_true(blocked); /* last, so that the rest above is checked either way */
}

/* A password change ends every web session of the account (they were opened
 * with the old password). Fails until password.c calls
 * kw_api_web_revoke_account (see docs/api.md "Web page"). */
static void test_password_change_revokes_web_sessions(void **state)
{
    (void)state;
    json_t *o = NULL;
    char t[64];
    web_sign_in(t, NULL);
    assert_int_equal(call("GET", "/v1/web/me", NULL, t, &o), 200);
    json_decref(o);
    setenv("KEYWARD_NEW_PASSWORD", "web page password 2", 1);
    const char *chg[] = {"--json", "password", "change", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, chg);
    if (r.status != 0)
        kw_it_dump("password change", &r);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    int st = call("GET", "/v1/web/me", NULL, t, &o);
    json_decref(o);
    /* back to the first password for the tests after this one */
    setenv("KEYWARD_PASSWORD", "web page password 2", 1);
    setenv("KEYWARD_NEW_PASSWORD", PASSWORD, 1);
    r = kw_it_cli(&srv, prof_a, NULL, chg);
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    unsetenv("KEYWARD_NEW_PASSWORD");
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    web_sign_in(web_token, NULL); /* the later tests' session */
    if (st != 401)
        fprintf(stderr, "KNOWN GAP: a web session survived a password change (server/api/password.c "
                        "does not call kw_api_web_revoke_account)\n");
    assert_int_equal(st, 401);
}

/* The page's read route for records under ADP web access
 * (GET /v1/web/records/{request}/{category}/{zone}[/{id}]): nothing while
 * ADP or web access is off or before a trusted device approves; then only
 * the approved category, only for the web session that asked; turning web
 * access off ends it. (The browser test web/tests/data.test.mjs opens the
 * records with the released keys and checks the expiry.) */
static kw_it_result cli_a(const char *const *rest)
{
    const char *args[16] = {"--json"};
    size_t n = 1;
    for (size_t i = 0; rest[i] != NULL && n < 15; i++)
        args[n++] = rest[i];
    args[n] = NULL;
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, args);
    if (r.status != 0)
        kw_it_dump(rest[0], &r);
    return r;
}

/* The records the server can read: in standard protection notes (an ADP
 * category, custody copy held) and mail (interoperable) open for the page;
 * with ADP on only mail does. */
static void readable_one(const char *t, const char *cat, const char *name, int want)
{
    json_t *o = NULL;
    char path[300];
    snprintf(path, sizeof(path), "/v1/web/readable/%s/default", cat);
    assert_int_equal(call("GET", path, NULL, t, &o), want);
    if (want != 200) {
        assert_non_null(strstr(err_message(o), "end-to-end"));
        json_decref(o);
        return;
    }
    json_t *recs = json_object_get(o, "records");
    assert_int_equal(json_array_size(recs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "name")), name);
    snprintf(path, sizeof(path), "/v1/web/readable/%s/default/%s", cat,
             json_string_value(json_object_get(json_array_get(recs, 0), "id")));
    json_decref(o);
    assert_int_equal(call("GET", path, NULL, t, &o), 200);
    const char *c = json_string_value(json_object_get(o, "content"));
    uint8_t buf[128];
    size_t n = 0;
    assert_non_null(c);
    assert_int_equal(kw_b64url_decode(buf, sizeof(buf), &n, c, strlen(c)), KW_OK);
    assert_int_equal(n, strlen("a note for the web page\n"));
    assert_memory_equal(buf, "a note for the web page\n", n);
    json_decref(o);
}

static void readable_checks(const char *t, bool adp_on)
{
    json_t *o = NULL;
    readable_one(t, "notes", "webnote.txt", adp_on ? 409 : 200);
    readable_one(t, "mail", "letter.txt", 200);
    /* a device session may not use the page's route; bad names */
    assert_int_equal(call("GET", "/v1/web/readable/mail/default", NULL, NULL, &o), 401);
    json_decref(o);
    assert_int_equal(call("GET", "/v1/web/readable/Mail/default", NULL, t, &o), 400);
    json_decref(o);
    assert_int_equal(call("GET", "/v1/web/readable/mail/default/AAAAAAAAAAAAAAAAAAAAAA", NULL, t, &o), 404);
    json_decref(o);
}

static void test_web_records_under_adp(void **state)
{
    (void)state;
    json_t *o = NULL;
    char t[64], path[256], epk_b64[64], rid_b64[32], code[KW_CLIENT_CODEBYTES], file[512];
    uint8_t epk[32], esk[32], rid[16];
    size_t n = 0;
    web_sign_in(t, NULL);
    crypto_box_keypair(epk, esk);
    sodium_memzero(esk, sizeof(esk));
    b64(epk_b64, sizeof(epk_b64), epk, sizeof(epk));
#define ASK() call("POST", "/v1/adp/web/requests", json_pack("{s:s,s:[s,s]}", "ephemeral_pk", epk_b64, "categories", \
                                                              "notes", "drive"), t, &o)
    /* ADP off: refused */
    assert_int_equal(ASK(), 409);
    json_decref(o);

    snprintf(file, sizeof(file), "%s/webnote.txt", srv.dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("a note for the web page\n", f);
    fclose(f);
    const char *put1[] = {"put", "notes", file, "--name", "webnote.txt", NULL};
    const char *put2[] = {"put", "drive", file, "--name", "driven.txt", NULL};
    const char *rk[] = {"recovery-key", "create", NULL}, *st[] = {"adp", "status", NULL}, *on[] = {"adp", "on", NULL};
    const char *wa_on[] = {"web", "access", "on", NULL}, *wa_off[] = {"web", "access", "off", NULL};
    const char *put3[] = {"put", "mail", file, "--name", "letter.txt", NULL};
    kw_it_result r;
    const char *const *seq[] = {put1, put2, put3, rk, st, on};
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        r = cli_a(seq[i]);
        assert_int_equal(r.status, 0);
        kw_it_result_free(&r);
        if (seq[i] == put3)
            readable_checks(t, false);
    }
    readable_checks(t, true);
    /* ADP on, web access still off by default: refused */
    assert_int_equal(ASK(), 409);
    assert_non_null(strstr(err_message(o), "web access"));
    json_decref(o);
    r = cli_a(wa_on);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    assert_int_equal(ASK(), 200);
    snprintf(rid_b64, sizeof(rid_b64), "%s", json_string_value(json_object_get(o, "request_id")));
    json_decref(o);
    assert_int_equal(kw_b64url_decode(rid, sizeof(rid), &n, rid_b64, strlen(rid_b64)), KW_OK);
    /* pending: nothing to read */
    snprintf(path, sizeof(path), "/v1/web/records/%s/notes/default", rid_b64);
    assert_int_equal(call("GET", path, NULL, t, &o), 409);
    json_decref(o);
    /* approved for notes only (the code binds the request and the page's key) */
    kw_client_web_code(code, NAME, rid, epk);
    const char *appr[] = {"web", "approve", "--code", code, "--category", "notes", NULL};
    r = cli_a(appr);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "releases")), 1);
    kw_it_result_free(&r);
    assert_int_equal(call("GET", path, NULL, t, &o), 200);
    json_t *recs = json_object_get(o, "records");
    assert_int_equal(json_array_size(recs), 1);
    char id[32];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(json_array_get(recs, 0), "id")));
    assert_non_null(json_object_get(json_array_get(recs, 0), "wrap"));
    assert_null(json_object_get(json_array_get(recs, 0), "content"));
    json_decref(o);
    char one[300];
    snprintf(one, sizeof(one), "%s/%s", path, id);
    assert_int_equal(call("GET", one, NULL, t, &o), 200);
    const char *content = json_string_value(json_object_get(o, "content"));
    assert_non_null(content);
    json_decref(o);
    /* pieces are only for content in chunk storage; the body is checked */
    assert_int_equal(call("POST", one, json_pack("{s:i}", "piece", 0), t, &o), 404);
    json_decref(o);
    assert_int_equal(call("POST", one, json_pack("{s:i}", "piece", -1), t, &o), 400);
    json_decref(o);
    assert_int_equal(call("POST", one, json_pack("{s:s}", "piece", "0"), t, &o), 400);
    json_decref(o);
    assert_int_equal(call("POST", one, json_pack("{s:i,s:i}", "piece", 0, "x", 1), t, &o), 400);
    json_decref(o);
    /* drive was asked for but not released */
    char other[400];
    snprintf(other, sizeof(other), "/v1/web/records/%s/drive/default", rid_b64);
    assert_int_equal(call("GET", other, NULL, t, &o), 404);
    assert_non_null(strstr(err_message(o), "not released"));
    json_decref(o);
    snprintf(other, sizeof(other), "/v1/web/records/%s/drive/default/%s", rid_b64, id);
    assert_int_equal(call("POST", other, json_pack("{s:i}", "piece", 0), t, &o), 404);
    assert_non_null(strstr(err_message(o), "not released"));
    json_decref(o);
    /* another web session of the same account, a device session, no session */
    assert_int_equal(call("GET", path, NULL, web_token, &o), 404);
    json_decref(o);
    kwc_profile *pa = NULL;
    assert_int_equal(kwc_profile_load(&pa, prof_a, PASSPHRASE, strlen(PASSPHRASE)), KW_OK);
    assert_int_equal(call("GET", path, NULL, pa->s->token, &o), 401);
    json_decref(o);
    kwc_profile_free(&pa);
    assert_int_equal(call("GET", path, NULL, NULL, &o), 401);
    json_decref(o);
    /* malformed names and ids */
    snprintf(other, sizeof(other), "/v1/web/records/%s/notes/..x", rid_b64);
    assert_int_equal(call("GET", other, NULL, t, &o), 400);
    json_decref(o);
    snprintf(other, sizeof(other), "/v1/web/records/%s/NOTES/default", rid_b64);
    assert_int_equal(call("GET", other, NULL, t, &o), 400);
    json_decref(o);
    snprintf(other, sizeof(other), "%s/short", path);
    assert_int_equal(call("GET", other, NULL, t, &o), 400);
    json_decref(o);
    snprintf(other, sizeof(other), "%s/AAAAAAAAAAAAAAAAAAAAAA", path);
    assert_int_equal(call("GET", other, NULL, t, &o), 404);
    json_decref(o);
    /* web access off: the grant no longer reads anything */
    r = cli_a(wa_off);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    assert_int_equal(call("GET", path, NULL, t, &o), 409);
    json_decref(o);
    assert_int_equal(call("GET", one, NULL, t, &o), 409);
    json_decref(o);
#undef ASK
}

/* Web sessions expire after web.session_ttl (default 3600 s): the same
 * database served with the clock 3601 s ahead refuses the token. */
static void test_web_session_expires(void **state)
{
    (void)state;
    json_t *o = NULL;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", srv.dir);
    kw_it_server_stop(&srv, false);
    setenv("KEYWARD_TEST_FAULTS", "1", 1);
    setenv("KEYWARD_TEST_TIME_OFFSET", "3601", 1);
    const char *args[] = {"--test-faults", NULL};
    int st = kw_it_server_start(&srv, dir, args);
    unsetenv("KEYWARD_TEST_TIME_OFFSET");
    assert_int_equal(st, 0);
    assert_int_equal(call("GET", "/v1/web/me", NULL, web_token, &o), 401);
    assert_non_null(strstr(err_message(o), "expired"));
    json_decref(o);
    /* a fresh sign-in works in the shifted time */
    char t[64];
    web_sign_in(t, NULL);
    assert_int_equal(call("GET", "/v1/web/me", NULL, t, &o), 200);
    json_decref(o);
}

/* ---- security keys (the INSECURE software authenticator of libkeyward,
 * shared with the CLI through its key file) ---- */

static char softkey_path[400];

static kw_it_result key_cli(const char *const *rest)
{
    const char *args[16] = {"--json", "--soft-key", softkey_path};
    size_t n = 3;
    for (size_t i = 0; rest[i] != NULL && n < 15; i++)
        args[n++] = rest[i];
    args[n] = NULL;
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, args);
    if (r.status != 0)
        kw_it_dump(rest[0], &r);
    return r;
}

/* An assertion (PublicKeyCredential JSON) by the soft key for the options'
 * challenge, with credential cred_b64 and softkey option bits. */
static json_t *soft_assertion(json_t *options, const char *cred_b64, unsigned opts)
{
    kw_softkey_insecure *sk = NULL;
    uint8_t ch[64], cred[64], cdh[32], ad[KW_SOFTKEY_INSECURE_AUTHDATA_MAXBYTES];
    uint8_t sig[KW_SOFTKEY_INSECURE_SIG_MAXBYTES];
    size_t chn = 0, credn = 0, adn = 0, sign = 0, cdjn = 0;
    char cdj[1024], origin[64], b_cdj[2048], b_ad[512], b_sig[256];
    const char *chs = json_string_value(json_object_get(options, "challenge"));
    assert_non_null(chs);
    assert_int_equal(kw_b64url_decode(ch, sizeof(ch), &chn, chs, strlen(chs)), KW_OK);
    assert_int_equal(kw_b64url_decode(cred, sizeof(cred), &credn, cred_b64, strlen(cred_b64)), KW_OK);
    snprintf(origin, sizeof(origin), "http://localhost:%u", srv.port);
    assert_int_equal(kw_softkey_insecure_client_data(cdj, sizeof(cdj), &cdjn, KW_WEBAUTHN_GET, ch, chn,
                                                     origin, false),
                     KW_OK);
    crypto_hash_sha256(cdh, (const uint8_t *)cdj, cdjn);
    assert_int_equal(kw_softkey_insecure_open(&sk, softkey_path), KW_OK);
    int r = kw_softkey_insecure_get_assertion(sk, "localhost", cdh, cred, credn, opts, ad, sizeof(ad), &adn,
                                              sig, sizeof(sig), &sign);
    kw_softkey_insecure_free(&sk);
    assert_int_equal(r, KW_OK);
    b64(b_cdj, sizeof(b_cdj), (const uint8_t *)cdj, cdjn);
    b64(b_ad, sizeof(b_ad), ad, adn);
    b64(b_sig, sizeof(b_sig), sig, sign);
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s}}", "id", cred_b64, "rawId", cred_b64, "type", "public-key",
                     "response", "clientDataJSON", b_cdj, "authenticatorData", b_ad, "signature", b_sig);
}

/* Password step only: the FACTOR answer. */
static json_t *password_step(void)
{
    bool ok = false;
    json_t *f = NULL;
    assert_int_equal(web_password(NAME, PASSWORD, NULL, &ok, &f), 200);
    assert_true(ok);
    return f;
}

static int key_factor(json_t *f, json_t *options, const char *cred, unsigned opts, json_t **out)
{
    json_t *a = soft_assertion(options, cred, opts);
    return call("POST", "/v1/web/login/factor", json_pack("{s:s,s:o}", "type", "security_key", "assertion", a),
                json_string_value(json_object_get(f, "token")), out);
}

static void test_web_login_with_security_key(void **state)
{
    (void)state;
    json_t *o = NULL, *f = NULL, *keys = NULL;
    char t[64], cred1[128], cred3[128];
    snprintf(softkey_path, sizeof(softkey_path), "%s/softkey.bin", srv.dir);
    const char *add1[] = {"key", "add", "--name", "k1", NULL};
    const char *add2[] = {"key", "add", "--name", "k2", NULL};
    const char *add3[] = {"key", "add", "--name", "k3", NULL};
    const char *on[] = {"key", "policy", "on", NULL};
    kw_it_result r = key_cli(add1);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    r = key_cli(add2);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    r = key_cli(add3);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    r = key_cli(on);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    /* the policy is on: only a security key is offered, codes are refused */
    f = password_step();
    json_t *factors = json_object_get(f, "factors");
    assert_int_equal(json_array_size(factors), 1);
    assert_string_equal(json_string_value(json_array_get(factors, 0)), "security_key");
    assert_true(json_is_true(json_object_get(f, "security_key_required")));
    json_t *opts = json_object_get(f, "key_options");
    assert_int_equal(json_array_size(json_object_get(opts, "allowCredentials")), 3);
    char *code = approval_code();
    assert_int_equal(call("POST", "/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", code),
                          json_string_value(json_object_get(f, "token")), &o),
                     401);
    free(code);
    assert_non_null(strstr(err_message(o), "requires a security key"));
    json_decref(o);

    json_decref(f);
    f = password_step();
    /* a bogus signature and a missing user presence are refused */
    json_t *ko = json_object_get(f, "key_options");
    const char *any_cred =
        json_string_value(json_object_get(json_array_get(json_object_get(ko, "allowCredentials"), 0), "id"));
    snprintf(cred1, sizeof(cred1), "%s", any_cred);
    assert_int_equal(key_factor(f, ko, cred1, KW_SOFTKEY_INSECURE_OPT_BOGUS_SIG, &o), 401);
    assert_non_null(strstr(err_message(o), "signature"));
    json_decref(o);
    json_t *fresh = NULL;
    assert_int_equal(call("POST", "/v1/web/login/key-options", json_object(),
                          json_string_value(json_object_get(f, "token")), &fresh),
                     200);
    assert_int_equal(key_factor(f, json_object_get(fresh, "key_options"), cred1, KW_SOFTKEY_INSECURE_OPT_NO_UP, &o),
                     401);
    assert_non_null(strstr(err_message(o), "presence"));
    json_decref(o);
    json_decref(fresh);
    /* a good one signs in */
    assert_int_equal(call("POST", "/v1/web/login/key-options", json_object(),
                          json_string_value(json_object_get(f, "token")), &fresh),
                     200);
    json_t *good_opts = json_deep_copy(json_object_get(fresh, "key_options"));
    json_t *good = soft_assertion(good_opts, cred1, 0);
    assert_int_equal(call("POST", "/v1/web/login/factor",
                          json_pack("{s:s,s:O}", "type", "security_key", "assertion", good),
                          json_string_value(json_object_get(f, "token")), &o),
                     200);
    snprintf(t, sizeof(t), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    json_decref(fresh);
    json_decref(f);
    assert_int_equal(call("GET", "/v1/web/me", NULL, t, &o), 200);
    assert_true(json_is_true(json_object_get(o, "security_keys_required")));
    json_decref(o);

    /* the same assertion again, on a new sign-in: its challenge is spent */
    f = password_step();
    assert_int_equal(call("POST", "/v1/web/login/factor",
                          json_pack("{s:s,s:O}", "type", "security_key", "assertion", good),
                          json_string_value(json_object_get(f, "token")), &o),
                     401);
    json_decref(o);
    json_decref(good);
    json_decref(good_opts);
    /* a challenge issued for another operation ("policy") is refused here */
    json_t *pol = NULL;
    assert_int_equal(call("POST", "/v1/seckeys/challenge", json_pack("{s:s}", "op", "policy"), t, &pol), 200);
    assert_int_equal(key_factor(f, json_object_get(pol, "publicKey"), cred1, 0, &o), 401);
    json_decref(o);
    json_decref(pol);

    /* a removed key: k3 removed (from the trusted device), then refused */
    assert_int_equal(call("GET", "/v1/seckeys", NULL, t, &keys), 200);
    json_t *arr = json_object_get(keys, "keys");
    const char *k3_id = NULL;
    json_int_t k3_num = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *k = json_array_get(arr, i);
        if (strcmp(json_string_value(json_object_get(k, "name")), "k3") == 0) {
            k3_id = json_string_value(json_object_get(k, "credential_id"));
            k3_num = json_integer_value(json_object_get(k, "id"));
        }
    }
    assert_non_null(k3_id);
    snprintf(cred3, sizeof(cred3), "%s", k3_id);
    json_decref(keys);
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)k3_num);
    const char *rm[] = {"key", "remove", num, NULL};
    r = key_cli(rm);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    assert_int_equal(call("POST", "/v1/web/login/key-options", json_object(),
                          json_string_value(json_object_get(f, "token")), &fresh),
                     200);
    assert_int_equal(json_array_size(json_object_get(json_object_get(fresh, "key_options"), "allowCredentials")), 2);
    assert_int_equal(key_factor(f, json_object_get(fresh, "key_options"), cred3, 0, &o), 401);
    json_decref(o);
    json_decref(fresh);
    json_decref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_files),
        cmocka_unit_test(test_traversal_refused),
        cmocka_unit_test(test_custom_dir_symlink_and_size),
        cmocka_unit_test(test_web_login_wrong_password_and_unknown_name),
        cmocka_unit_test(test_web_login_contexts_separated),
        cmocka_unit_test(test_web_login_factor_stage),
        cmocka_unit_test(test_web_session_auth),
        cmocka_unit_test(test_web_sessions_list_revoke_logout),
        cmocka_unit_test(test_device_removal_queue),
        cmocka_unit_test(test_cli_removals_dismiss_and_blocked_login),
        cmocka_unit_test(test_password_change_revokes_web_sessions),
        cmocka_unit_test(test_web_records_under_adp),
        cmocka_unit_test(test_web_session_expires),
        cmocka_unit_test(test_web_login_with_security_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
