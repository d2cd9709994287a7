/*
 * server/api/web.c — the account-security web page: its static files and
 * the web (browser) sessions it signs in with (docs/api.md "Web page").
 *
 * Static files: GET / and GET /web/{file} serve regular files of one flat
 * directory (config key web.dir; default: the installed or source web/
 * directory found next to the keywardd binary). A file name is 1..64 bytes
 * of [A-Za-z0-9_-] with dots only between them, never starting with a dot;
 * its extension picks the content type from a fixed list (anything else is
 * 404); symbolic links are not followed; files over KW_WEB_FILE_MAX are
 * refused. Every file is sent with a Content-Security-Policy that allows
 * only same-origin scripts, styles and fetches (plus WebAssembly
 * compilation, which the OPAQUE client needs), no framing, no inline code.
 *
 * Web sign-in (no device, no account key): OPAQUE with the page's npm
 * client (@serenity-kit/opaque, RFC 9807), against the same record and
 * server keys as device sign-ins but with an empty application context
 * (that client cannot set one; docs/api.md explains why this is as secure),
 * then a second factor: a security key assertion (operation "web-login",
 * server/api/seckeys.h) — the only one accepted when the account's policy
 * requires security keys — or else an approval code or a TOTP code.
 * Between the two the browser holds a short-lived FACTOR token; the factor
 * step replaces it by an ACTIVE web session (store/web.h) in one
 * transaction. Web session tokens are 32 random bytes, stored as SHA-256,
 * expire after web.session_ttl seconds (default 3600, at most 86400) and
 * are revocable; kw_api_auth_any (api.c) accepts them.
 *
 * Devices: the browser cannot sign a roster, so "remove device" revokes the
 * device's sessions at once and queues a removal request that a trusted
 * device completes (GET /v1/web/removals, then POST /v1/devices/remove).
 *
 * Data: under ADP with web access on, the page reads sealed records of the
 * categories a trusted device released to its session (/v1/web/records,
 * checked against the ADP area's approved grants) and decrypts them in the
 * browser; records the server holds keys for (custody copies: standard
 * protection, interoperable categories) it opens itself (/v1/web/readable).
 *
 * Secrets: tokens and codes are never logged; token buffers and codes are
 * wiped; only token hashes reach the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/areas.h"
#include "api/seckeys.h"
#include "api/web_path.h"
#include "config.h"
#include "custody/custody.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/opaque.h"
#include "keyward/roster.h"
#include "keyward/totp.h"
#include "keyward/keychain.h"
#include "keyward/record.h"
#include "store/adp.h"
#include "store/record.h"
#include "store/web.h"

/* The security-key area (seckeys.c) is another file of the server; these
 * are weak so that web.c links while that area is absent from a build. They
 * are only called when srv->seckeys is set, i.e. when its start hook ran. */
#pragma weak kw_api_seckey_required
#pragma weak kw_api_seckey_challenge
#pragma weak kw_api_seckey_verify

#define KW_WEB_FILE_MAX (4u * 1024 * 1024)
#define KW_WEB_TTL_DEFAULT 3600
#define KW_WEB_TTL_MAX 86400
#define KW_WEB_FACTOR_TTL 300 /* seconds between password and second factor */
#define KW_WEB_ASSERTION_BODY_LIMIT (32u * 1024)

static const char web_csp[] =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

struct kw_api_web {
    char dir[PATH_MAX];          /* empty: no page installed */
    int64_t session_ttl;
    kw_opaque_server *opaque;    /* empty context: the web client's configuration */
    /* The custody provider, opened on first use (after the ADP area's start
     * hook made its key), to read records the server holds keys for. */
    pthread_mutex_t custody_lock;
    kw_custody *custody;
    bool custody_failed;
};

/* Whether the account requires security keys; false while the area is off. */
static int policy_required(kw_server *srv, int64_t account_id, bool *on)
{
    *on = false;
    if (srv->seckeys == NULL)
        return KW_OK;
    return kw_api_seckey_required(srv, account_id, on);
}

/* ---- start / stop ---- */

static bool has_index(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(path, sizeof(path), "%s/index.html", dir) >= sizeof(path))
        return false;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The default page directory: installed (<bindir>/../share/keyward/web),
 * then the source tree's web/ seen from build/bin or build/<name>/bin,
 * then ./web. Empty when none holds an index.html. */
static void default_dir(char out[PATH_MAX])
{
    char exe[PATH_MAX], cand[PATH_MAX];
    static const char *const rel[] = {"/../share/keyward/web", "/../../web", "/../../../web"};
    out[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = '\0';
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            if ((size_t)snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]) >= sizeof(cand))
                continue;
            if (has_index(cand) && realpath(cand, out) != NULL)
                return;
            out[0] = '\0';
        }
    }
    if (has_index("web") && realpath("web", out) == NULL)
        out[0] = '\0';
}

int kw_api_web_start(kw_server *srv)
{
    kw_opaque_config cfg;
    int r = KW_ERR_NOMEM;
    struct kw_api_web *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return KW_ERR_NOMEM;
    w->session_ttl = KW_WEB_TTL_DEFAULT;
    const char *v = srv->cfg != NULL ? kw_config_get(srv->cfg, "web.session_ttl") : NULL;
    if (v != NULL) {
        char *end = NULL;
        errno = 0;
        long long t = strtoll(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || t < 60 || t > KW_WEB_TTL_MAX) {
            fprintf(stderr, "level=error event=config key=web.session_ttl msg=\"60..%d seconds\"\n",
                    KW_WEB_TTL_MAX);
            r = KW_ERR_FORMAT;
            goto fail;
        }
        w->session_ttl = t;
    }
    v = srv->cfg != NULL ? kw_config_get(srv->cfg, "web.dir") : NULL;
    if (v != NULL && v[0] != '\0') {
        if (!has_index(v) || realpath(v, w->dir) == NULL) {
            fprintf(stderr, "level=error event=config key=web.dir msg=\"no index.html there\"\n");
            r = KW_ERR_FORMAT;
            goto fail;
        }
    } else {
        default_dir(w->dir);
        if (w->dir[0] == '\0')
            fprintf(stderr, "level=warn event=web_page_missing msg=\"no web directory found; set "
                            "web.dir\"\n");
    }
    kw_opaque_config_default(&cfg, NULL, 0);
    if ((r = kw_opaque_server_new(&w->opaque, &cfg, srv->keys->opaque_sk, srv->keys->opaque_pk,
                                  srv->keys->oprf_seed)) != KW_OK)
        goto fail;
    pthread_mutex_init(&w->custody_lock, NULL);
    srv->web = w;
    return KW_OK;
fail:
    free(w);
    return r;
}

void kw_api_web_stop(kw_server *srv)
{
    if (srv == NULL || srv->web == NULL)
        return;
    kw_opaque_server_free(&srv->web->opaque);
    kw_custody_close(&srv->web->custody);
    pthread_mutex_destroy(&srv->web->custody_lock);
    free(srv->web);
    srv->web = NULL;
}

/* ---- static files ---- */

static int send_file(kw_server *srv, kw_http_resp *resp, const char *name)
{
    char *buf = NULL;
    size_t len = 0;
    const char *type = NULL;
    if (srv->web == NULL || srv->web->dir[0] == '\0')
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "the web page is not installed");
    int r = kw_web_read_file(srv->web->dir, name, KW_WEB_FILE_MAX, &buf, &len, &type);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such file");
    if (r == KW_ERR_TOO_LARGE)
        return kw_http_fail(resp, KW_ERR_TOO_LARGE, "file exceeds %u bytes", KW_WEB_FILE_MAX);
    if (r != KW_OK)
        return r;
    resp->text = buf;
    resp->text_len = len; /* exact length: binary files may hold NUL bytes */
    resp->content_type = type;
    resp->csp = web_csp;
    resp->status = 200;
    return KW_OK;
}

static int web_index(kw_http_req *req, kw_http_resp *resp)
{
    return send_file(req->app, resp, "index.html");
}

static int web_file(kw_http_req *req, kw_http_resp *resp)
{
    return send_file(req->app, resp, req->params[0]);
}

/* ---- web sessions ---- */

/* A fresh token (base64url of 32 random bytes, in token_out) and its hash. */
static int new_token(char token_out[64], uint8_t hash[KW_STORE_HASH_BYTES])
{
    uint8_t raw[KW_SESSION_TOKEN_BYTES];
    randombytes_buf(raw, sizeof(raw));
    int r = kw_b64url_encode(token_out, 64, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    if (r == KW_OK)
        kw_api_token_hash(token_out, hash);
    return r;
}

/* Looks up the bearer token as a web session: KW_ERR_NOT_FOUND (nothing
 * described) when it is not one; KW_ERR_VERIFY described when it is one
 * but not live or not in `state`. */
static int web_session_of(kw_http_req *req, kw_http_resp *resp, int state, kw_store_web_session *ws)
{
    kw_server *srv = req->app;
    uint8_t hash[KW_STORE_HASH_BYTES];
    memset(ws, 0, sizeof(*ws));
    if (req->bearer == NULL || strlen(req->bearer) != 43)
        return KW_ERR_NOT_FOUND;
    kw_api_token_hash(req->bearer, hash);
    int r = kw_store_web_session_get(srv->store, hash, ws);
    if (r == KW_ERR_UNSUPPORTED)
        return KW_ERR_NOT_FOUND;
    if (r != KW_OK)
        return r == KW_ERR_NOT_FOUND ? r : kw_api_store_fail(resp, r, "web session");
    if (ws->revoked)
        return kw_http_fail(resp, KW_ERR_VERIFY, "web session revoked");
    if (ws->expires_at <= kw_api_now(srv))
        return kw_http_fail(resp, KW_ERR_VERIFY, "web session expired; sign in again");
    if (ws->state != state)
        return kw_http_fail(resp, KW_ERR_VERIFY, state == KW_WEB_SESSION_ACTIVE
                                                     ? "second factor required"
                                                     : "not a sign-in waiting for a second factor");
    return KW_OK;
}

int kw_api_web_auth(kw_http_req *req, kw_http_resp *resp, kw_api_caller *caller)
{
    kw_store_web_session ws;
    int r = web_session_of(req, resp, KW_WEB_SESSION_ACTIVE, &ws);
    if (r != KW_OK)
        return r;
    memset(caller, 0, sizeof(*caller));
    caller->account_id = ws.account_id;
    caller->web = true;
    caller->device_state = KW_DEVICE_TRUSTED;
    memcpy(caller->session_hash, ws.hash, KW_STORE_HASH_BYTES);
    memcpy(caller->web_session_id, ws.id, KW_STORE_ID_BYTES);
    return KW_OK;
}

/* Web-session-only authentication (401 for anything else). */
static int auth_web(kw_http_req *req, kw_http_resp *resp, kw_api_caller *caller)
{
    int r = kw_api_web_auth(req, resp, caller);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_VERIFY, "sign in on the web page first");
    return r;
}

/* ---- sign-in ---- */

/* Deletes expired web sessions now and then (every 64th password proof;
 * best effort: a failure is logged by the store). */
static void web_sweep(kw_server *srv)
{
    static unsigned long calls;
    if (__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) % 64 == 0)
        (void)kw_store_web_expire(srv->store, kw_api_now(srv), NULL);
}

static int web_login_start(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    if (srv->web == NULL)
        return kw_http_fail(resp, KW_ERR_UNSUPPORTED, "web sign-in is off");
    return kw_api_login_begin(req, resp, srv->web->opaque, KW_API_PENDING_WEB, "opaque_ke2 area=web");
}

/* Adds the second factors the account may use to out: "factors" (list),
 * "security_key_required", and "key_options" (a fresh "web-login"
 * challenge) when the account has security keys. */
static int put_factors(kw_server *srv, kw_http_resp *resp, int64_t account_id, json_t *out)
{
    kw_store_account acct = {0};
    json_t *options = NULL, *list = json_array();
    bool required = false;
    int r = policy_required(srv, account_id, &required);
    if (r != KW_OK)
        r = kw_api_store_fail(resp, r, "security-key policy");
    if (r == KW_OK && list == NULL)
        r = KW_ERR_NOMEM;
    if (r == KW_OK) {
        r = srv->seckeys != NULL ? kw_api_seckey_challenge(srv, account_id, KW_STORE_SECKEY_OP_WEB_LOGIN,
                                                           &options)
                                 : KW_ERR_NOT_FOUND;
        if (r == KW_OK) {
            json_array_append_new(list, json_string("security_key"));
            json_object_set_new(out, "key_options", options);
            options = NULL;
        } else if (r == KW_ERR_LIMIT) {
            r = kw_http_fail(resp, KW_ERR_LIMIT, "too many security-key challenges; wait a minute");
        } else if (r == KW_ERR_NOT_FOUND || r == KW_ERR_UNSUPPORTED) {
            r = required ? kw_http_fail(resp, KW_ERR_INTERNAL, "policy on but no security key")
                         : KW_OK;
        } else {
            r = kw_api_store_fail(resp, r, "security-key challenge");
        }
    }
    if (r == KW_OK && !required) {
        if ((r = kw_store_account_get(srv->store, account_id, &acct)) != KW_OK) {
            r = kw_api_store_fail(resp, r, "account");
        } else {
            json_array_append_new(list, json_string("approval"));
            if (acct.totp_secret != NULL)
                json_array_append_new(list, json_string("totp"));
        }
    }
    if (r == KW_OK) {
        json_object_set_new(out, "factors", list);
        json_object_set_new(out, "security_key_required", json_boolean(required));
        list = NULL;
    }
    json_decref(list);
    json_decref(options);
    kw_store_account_clear(&acct);
    return r;
}

static int web_login_finish(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"login_id", "ke3", NULL};
    kw_server *srv = req->app;
    uint8_t id[KW_STORE_ID_BYTES], ke3[KW_OPAQUE_KE3BYTES];
    kw_api_pending p = {0};
    kw_store_account acct = {0};
    kw_store_web_session ws = {0};
    char token[64] = {0};
    json_t *out = NULL;
    int r;
    const char *remote = req->remote != NULL ? req->remote : "unknown";
    if (srv->web == NULL)
        return kw_http_fail(resp, KW_ERR_UNSUPPORTED, "web sign-in is off");
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_id(resp, req->body, "login_id", id)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "ke3", ke3, sizeof(ke3))) != KW_OK)
        return r;
    if ((r = kw_api_rl_check(srv, resp, KW_RL_LOGIN_REMOTE, remote)) != KW_OK)
        return r;
    if ((r = kw_api_login_verify(srv, resp, id, ke3, remote, KW_API_PENDING_WEB,
                                 "sign-in failed: wrong name or password", &p)) != KW_OK)
        return r;
    if ((r = kw_store_account_get(srv->store, p.account_id, &acct)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    kw_api_start_refund(srv, &p, acct.name, req->remote);
    web_sweep(srv);
    if ((r = new_token(token, ws.hash)) != KW_OK)
        goto out;
    randombytes_buf(ws.id, sizeof(ws.id));
    ws.account_id = acct.id;
    ws.state = KW_WEB_SESSION_FACTOR;
    ws.created_at = kw_api_now(srv);
    ws.expires_at = ws.created_at + KW_WEB_FACTOR_TTL;
    out = json_pack("{s:s,s:I,s:s}", "token", token, "expires_at", (json_int_t)ws.expires_at, "name",
                    acct.name);
    if (out == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = put_factors(srv, resp, acct.id, out)) != KW_OK)
        goto out;
    if ((r = kw_store_web_session_add(srv->store, &ws)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "web session");
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    sodium_memzero(token, sizeof(token));
    kw_api_pending_clear(&p);
    kw_store_account_clear(&acct);
    return r;
}

/* A fresh "web-login" challenge for a sign-in waiting for its factor (after
 * a cancelled or refused security-key attempt). */
static int web_login_key_options(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_store_web_session ws;
    json_t *options = NULL;
    int r = kw_api_no_fields(req, resp);
    if (r != KW_OK)
        return r;
    if ((r = web_session_of(req, resp, KW_WEB_SESSION_FACTOR, &ws)) != KW_OK)
        return r == KW_ERR_NOT_FOUND ? kw_http_fail(resp, KW_ERR_VERIFY, "sign-in expired; start again")
                                     : r;
    if (srv->seckeys == NULL)
        return kw_http_fail(resp, KW_ERR_UNSUPPORTED, "security keys are off on this server");
    r = kw_api_seckey_challenge(srv, ws.account_id, KW_STORE_SECKEY_OP_WEB_LOGIN, &options);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "the account has no security key");
    if (r == KW_ERR_LIMIT)
        return kw_http_fail(resp, KW_ERR_LIMIT, "too many security-key challenges; wait a minute");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "security-key challenge");
    kw_http_json(resp, 200, json_pack("{s:o}", "key_options", options));
    return KW_OK;
}

static int factor_code(kw_server *srv, kw_http_resp *resp, const kw_store_account *acct, const char *type,
                       json_t *body)
{
    char key[24], code[KW_API_CODE_DIGITS + 1] = {0};
    uint8_t hash[KW_STORE_HASH_BYTES], secret[KW_TOTP_SECRET_MAX];
    size_t slen = 0;
    uint64_t step = 0;
    bool totp = strcmp(type, "totp") == 0;
    kw_rl_kind kind = totp ? KW_RL_TOTP_FAIL : KW_RL_APPROVAL_FAIL;
    kw_api_rl_account_key(key, acct->id);
    int r = kw_api_rl_check(srv, resp, kind, key);
    if (r != KW_OK)
        return r;
    if ((r = kw_api_get_code(resp, body, "code", code)) != KW_OK)
        return r;
    if (!totp) {
        kw_api_approval_hash(srv, acct->id, code, hash);
        r = kw_store_approval_use(srv->store, acct->id, hash, kw_api_now(srv));
        sodium_memzero(hash, sizeof(hash));
        if (r == KW_ERR_VERIFY || r == KW_ERR_NOT_FOUND) {
            kw_api_rl_hit(srv, kind, key);
            r = kw_http_fail(resp, KW_ERR_VERIFY, "wrong, expired or used approval code");
        } else if (r != KW_OK) {
            r = kw_api_store_fail(resp, r, "approval code");
        }
        goto out;
    }
    if (acct->totp_secret == NULL) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "TOTP is not enabled for this account");
        goto out;
    }
    if (kw_api_totp_open(srv, acct->id, secret, &slen, acct->totp_secret, acct->totp_secret_len) !=
        KW_OK) {
        fprintf(stderr, "level=error event=totp_secret_unreadable account=%lld\n", (long long)acct->id);
        r = KW_ERR_INTERNAL;
        goto out;
    }
    if (kw_totp_verify(&step, KW_TOTP_SHA1, secret, slen, (uint32_t)strtoul(code, NULL, 10),
                       (uint64_t)kw_api_now(srv), KW_TOTP_DEFAULT_PERIOD, KW_TOTP_DEFAULT_DIGITS,
                       1) != KW_OK) {
        kw_api_rl_hit(srv, kind, key);
        r = kw_http_fail(resp, KW_ERR_VERIFY, "wrong TOTP code");
        goto out;
    }
    r = kw_store_account_use_totp_step(srv->store, acct->id, (int64_t)step);
    if (r == KW_ERR_CONFLICT) {
        kw_api_rl_hit(srv, kind, key);
        r = kw_http_fail(resp, KW_ERR_VERIFY, "this TOTP code was already used");
    } else if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "TOTP step");
    }
out:
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(code, sizeof(code));
    return r;
}

static int web_login_factor(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const code_fields[] = {"type", "code", NULL};
    static const char *const key_fields[] = {"type", "assertion", NULL};
    kw_server *srv = req->app;
    kw_store_web_session ws, next = {0};
    kw_store_account acct = {0};
    char token[64] = {0}, key[24];
    const char *type;
    bool required = false;
    json_t *out = NULL;
    int r = web_session_of(req, resp, KW_WEB_SESSION_FACTOR, &ws);
    if (r != KW_OK)
        return r == KW_ERR_NOT_FOUND ? kw_http_fail(resp, KW_ERR_VERIFY, "sign-in expired; start again")
                                     : r;
    if ((r = kw_api_get_str(resp, req->body, "type", 32, &type)) != KW_OK)
        return r;
    bool is_key = strcmp(type, "security_key") == 0;
    if (!is_key && strcmp(type, "approval") != 0 && strcmp(type, "totp") != 0)
        return kw_http_fail(resp, KW_ERR_FORMAT, "unknown factor type");
    if ((r = kw_api_only_fields(resp, req->body, is_key ? key_fields : code_fields)) != KW_OK)
        return r;
    if ((r = policy_required(srv, ws.account_id, &required)) != KW_OK)
        return kw_api_store_fail(resp, r, "security-key policy");
    if ((r = kw_store_account_get(srv->store, ws.account_id, &acct)) != KW_OK)
        return kw_api_store_fail(resp, r, "account");
    if (is_key) {
        json_t *assertion = json_object_get(req->body, "assertion");
        kw_api_rl_account_key(key, acct.id);
        if ((r = kw_api_rl_check(srv, resp, KW_RL_LOGIN_ACCOUNT, key)) != KW_OK)
            goto out;
        if (!json_is_object(assertion)) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "field 'assertion' must be an object");
            goto out;
        }
        if (srv->seckeys == NULL) {
            r = kw_http_fail(resp, KW_ERR_UNSUPPORTED, "security keys are off on this server");
            goto out;
        }
        r = kw_api_seckey_verify(srv, resp, acct.id, KW_STORE_SECKEY_OP_WEB_LOGIN, assertion, NULL);
        if (r == KW_ERR_VERIFY)
            kw_api_rl_hit(srv, KW_RL_LOGIN_ACCOUNT, key);
        if (r != KW_OK)
            goto out;
    } else {
        if (required) {
            r = kw_http_fail(resp, KW_ERR_VERIFY, "this account requires a security key");
            goto out;
        }
        if ((r = factor_code(srv, resp, &acct, type, req->body)) != KW_OK)
            goto out;
    }
    if ((r = new_token(token, next.hash)) != KW_OK)
        goto out;
    randombytes_buf(next.id, sizeof(next.id));
    next.account_id = acct.id;
    next.state = KW_WEB_SESSION_ACTIVE;
    next.created_at = kw_api_now(srv);
    next.expires_at = next.created_at + srv->web->session_ttl;
    r = kw_store_web_session_upgrade(srv->store, ws.hash, next.created_at, &next);
    if (r == KW_ERR_NOT_FOUND) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "sign-in already completed or expired; start again");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "web session");
        goto out;
    }
    out = json_pack("{s:s,s:I,s:s}", "token", token, "expires_at", (json_int_t)next.expires_at, "name",
                    acct.name);
    if (out == NULL || kw_api_put_b64(out, "session_id", next.id, sizeof(next.id)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    sodium_memzero(token, sizeof(token));
    kw_store_account_clear(&acct);
    return r;
}

/* ---- the signed-in page ---- */

static int web_me(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_account acct = {0};
    kw_store_web_session ws;
    kw_roster roster;
    uint8_t *blob = NULL;
    size_t len = 0;
    int64_t version = 0;
    bool required = false;
    json_t *out = NULL;
    int r = auth_web(req, resp, &c);
    if (r != KW_OK)
        return r;
    if ((r = kw_store_account_get(srv->store, c.account_id, &acct)) != KW_OK)
        return kw_api_store_fail(resp, r, "account");
    if ((r = kw_store_roster_latest(srv->store, c.account_id, &version, &blob, &len)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "roster");
        goto out;
    }
    /* The stored roster was verified under the account key when accepted;
     * check again (a damaged or edited database must not show wrong flags). */
    if (kw_roster_open(&roster, blob, len, acct.account_pk) != KW_OK) {
        fprintf(stderr, "level=error event=roster_unreadable account=%lld\n", (long long)acct.id);
        r = kw_http_fail(resp, KW_ERR_INTERNAL, "the stored roster does not verify");
        goto out;
    }
    if ((r = policy_required(srv, c.account_id, &required)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "security-key policy");
        goto out;
    }
    if ((r = kw_store_web_session_get(srv->store, c.session_hash, &ws)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "web session");
        goto out;
    }
    out = json_pack("{s:s,s:I,s:b,s:b,s:b,s:b,s:I}", "name", acct.name, "roster_version",
                    (json_int_t)version, "ckv", (roster.flags & KW_ROSTER_FLAG_CKV) != 0, "adp",
                    (roster.flags & KW_ROSTER_FLAG_ADP) != 0, "security_keys_required", required,
                    "totp", acct.totp_secret != NULL, "expires_at", (json_int_t)ws.expires_at);
    if (out == NULL || kw_api_put_b64(out, "session_id", ws.id, sizeof(ws.id)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    /* web access under ADP (the ADP area's mirror; absent area: off) */
    kw_store_adp_state adp = {0};
    if (kw_store_adp_state_get(srv->store, c.account_id, &adp) != KW_OK)
        adp.web_access = false;
    if (json_object_set_new(out, "web_access", json_boolean(adp.web_access)) != 0) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(blob);
    kw_store_account_clear(&acct);
    return r;
}

static int web_devices(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_device *devs = NULL;
    kw_store_web_removal *rms = NULL;
    size_t n = 0, nrm = 0;
    json_t *out = NULL, *list = NULL;
    int r = auth_web(req, resp, &c);
    if (r != KW_OK)
        return r;
    if ((r = kw_store_device_list(srv->store, c.account_id, &devs, &n)) != KW_OK)
        return kw_api_store_fail(resp, r, "devices");
    if ((r = kw_store_web_removal_list(srv->store, c.account_id, &rms, &nrm)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "device removals");
        goto out;
    }
    r = KW_ERR_NOMEM;
    if ((list = json_array()) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        bool queued = false;
        for (size_t j = 0; j < nrm && !queued; j++)
            queued = memcmp(rms[j].device_id, devs[i].id, KW_STORE_ID_BYTES) == 0;
        json_t *d = json_pack("{s:s,s:s,s:I,s:I,s:b}", "name", devs[i].name, "state",
                              kw_api_device_state_name(devs[i].state), "created_at",
                              (json_int_t)devs[i].created_at, "last_seen_at",
                              (json_int_t)devs[i].last_seen_at, "removal_requested",
                              queued && devs[i].state != KW_DEVICE_REMOVED);
        if (d == NULL || kw_api_put_b64(d, "id", devs[i].id, KW_STORE_ID_BYTES) != KW_OK ||
            json_array_append_new(list, d) != 0)
            goto out;
    }
    if ((out = json_pack("{s:O}", "devices", list)) == NULL)
        goto out;
    kw_http_json(resp, 200, out);
    r = KW_OK;
out:
    json_decref(list);
    free(devs);
    free(rms);
    return r;
}

static int web_device_remove(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_device d;
    kw_store_web_removal rm = {0};
    int r = auth_web(req, resp, &c);
    if (r != KW_OK)
        return r;
    if ((r = kw_api_no_fields(req, resp)) != KW_OK ||
        (r = kw_api_parse_id(resp, req->params[0], rm.device_id)) != KW_OK)
        return r;
    r = kw_store_device_get(srv->store, rm.device_id, &d);
    if (r == KW_ERR_NOT_FOUND || (r == KW_OK && d.account_id != c.account_id))
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such device in this account");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "device");
    if (d.state == KW_DEVICE_REMOVED)
        return kw_http_fail(resp, KW_ERR_CONFLICT, "the device is already removed");
    if ((r = kw_store_session_revoke_device(srv->store, rm.device_id)) != KW_OK)
        return kw_api_store_fail(resp, r, "device sessions");
    rm.account_id = c.account_id;
    rm.requested_at = kw_api_now(srv);
    memcpy(rm.web_session_id, c.web_session_id, KW_STORE_ID_BYTES);
    if ((r = kw_store_web_removal_put(srv->store, &rm)) != KW_OK)
        return kw_api_store_fail(resp, r, "device removal");
    fprintf(stderr, "level=info event=web_device_removal_queued account=%lld\n", (long long)c.account_id);
    kw_http_json(resp, 200,
                 json_pack("{s:b,s:b,s:s}", "sessions_revoked", 1, "removal_queued", 1, "state",
                           d.state == KW_DEVICE_PENDING ? "pending" : "trusted"));
    return KW_OK;
}

/* GET /v1/web/removals (trusted device): the removals the page queued for
 * devices that are still not removed (done ones are dropped here). */
static int web_removals(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_web_removal *rms = NULL;
    size_t n = 0;
    json_t *list = NULL;
    int r = kw_api_auth(req, resp, true, &c);
    if (r != KW_OK)
        return r;
    if ((r = kw_store_web_removal_list(srv->store, c.account_id, &rms, &n)) != KW_OK)
        return kw_api_store_fail(resp, r, "device removals");
    r = KW_ERR_NOMEM;
    if ((list = json_array()) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        kw_store_device d;
        int g = kw_store_device_get(srv->store, rms[i].device_id, &d);
        if (g == KW_OK && d.state == KW_DEVICE_REMOVED) {
            (void)kw_store_web_removal_delete(srv->store, c.account_id, rms[i].device_id);
            continue;
        }
        json_t *e = json_pack("{s:I}", "requested_at", (json_int_t)rms[i].requested_at);
        if (e == NULL || kw_api_put_b64(e, "device_id", rms[i].device_id, KW_STORE_ID_BYTES) != KW_OK ||
            json_array_append_new(list, e) != 0)
            goto out;
    }
    kw_http_json(resp, 200, json_pack("{s:O}", "removals", list));
    r = KW_OK;
out:
    json_decref(list);
    free(rms);
    return r;
}

/* The POST .../{id}/<verb> handlers that delete one entry of the caller's
 * account: authenticates with auth (trusted_only as given), takes no body,
 * parses the path id and deletes it with del; 404 with `missing` when the
 * account has no such entry, a store failure described as `what`. */
static int delete_by_path_id(kw_http_req *req, kw_http_resp *resp,
                             int (*auth)(kw_http_req *, kw_http_resp *, bool, kw_api_caller *),
                             bool trusted_only,
                             int (*del)(kw_store *, int64_t, const uint8_t[KW_STORE_ID_BYTES]),
                             const char *missing, const char *what)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    uint8_t id[KW_STORE_ID_BYTES];
    int r = auth(req, resp, trusted_only, &c);
    if (r != KW_OK)
        return r;
    if ((r = kw_api_no_fields(req, resp)) != KW_OK || (r = kw_api_parse_id(resp, req->params[0], id)) != KW_OK)
        return r;
    r = del(srv->store, c.account_id, id);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "%s", missing);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, what);
    kw_http_json(resp, 200, json_object());
    return KW_OK;
}

/* POST /v1/web/removals/{device_id}/dismiss (trusted device). */
static int web_removal_dismiss(kw_http_req *req, kw_http_resp *resp)
{
    return delete_by_path_id(req, resp, kw_api_auth, true, kw_store_web_removal_delete,
                             "no removal queued for that device", "device removal");
}

static int web_sessions(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_web_session *list = NULL;
    size_t n = 0;
    json_t *arr = NULL;
    int r = kw_api_auth_any(req, resp, false, &c);
    if (r != KW_OK)
        return r;
    if ((r = kw_store_web_session_list(srv->store, c.account_id, kw_api_now(srv), &list, &n)) != KW_OK)
        return kw_api_store_fail(resp, r, "web sessions");
    r = KW_ERR_NOMEM;
    if ((arr = json_array()) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:I,s:I,s:b}", "created_at", (json_int_t)list[i].created_at, "expires_at",
                              (json_int_t)list[i].expires_at, "current",
                              c.web && memcmp(list[i].id, c.web_session_id, KW_STORE_ID_BYTES) == 0);
        if (e == NULL || kw_api_put_b64(e, "id", list[i].id, KW_STORE_ID_BYTES) != KW_OK ||
            json_array_append_new(arr, e) != 0)
            goto out;
    }
    kw_http_json(resp, 200, json_pack("{s:O}", "sessions", arr));
    r = KW_OK;
out:
    json_decref(arr);
    free(list);
    return r;
}

/* POST /v1/web/sessions/{id}/revoke (any signed-in device or web session). */
static int web_session_revoke(kw_http_req *req, kw_http_resp *resp)
{
    return delete_by_path_id(req, resp, kw_api_auth_any, false, kw_store_web_session_revoke,
                             "no such web session", "web session");
}

static int web_logout(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    int r = auth_web(req, resp, &c);
    if (r != KW_OK)
        return r;
    if ((r = kw_api_no_fields(req, resp)) != KW_OK)
        return r;
    if ((r = kw_store_web_session_revoke(srv->store, c.account_id, c.web_session_id)) != KW_OK)
        return kw_api_store_fail(resp, r, "web session");
    kw_http_json(resp, 200, json_object());
    return KW_OK;
}

int kw_api_web_device_blocked(kw_server *srv, const uint8_t device_id[KW_STORE_ID_BYTES], bool *blocked)
{
    kw_store_web_removal rm;
    *blocked = false;
    int r = kw_store_web_removal_get(srv->store, device_id, &rm);
    if (r == KW_OK)
        *blocked = true;
    return r == KW_ERR_NOT_FOUND || r == KW_ERR_UNSUPPORTED || r == KW_OK ? KW_OK : r;
}

/* ---- records under ADP web access (docs/api.md "Web page", "Data") ----
 *
 * The page reads records only as ciphertext, and only of a category that a
 * trusted device released to this very web session (an approved, unexpired
 * request of /v1/adp/web/requests, server/api/adp.c) while ADP and web
 * access are on. The page opens them with the service keys the device
 * HPKE-sealed to its ephemeral key; the server never holds them.
 */

/* Refuses unless request `rid_s` is this web session's, approved, unexpired,
 * covers `category`, and ADP with web access is on. *expires_at gets the
 * grants' expiry. */
static int web_grant_check(kw_server *srv, kw_http_resp *resp, const kw_api_caller *c, const char *rid_s,
                           const char *category, int64_t *expires_at)
{
    uint8_t rid[KW_STORE_ID_BYTES];
    kw_store_adp_web_request rq;
    kw_store_adp_state st = {0};
    kw_store_adp_web_grant *g = NULL;
    size_t n = 0;
    bool covered = false;
    int r = kw_api_parse_id(resp, rid_s, rid);
    if (r != KW_OK)
        return r;
    r = kw_store_adp_web_request_get(srv->store, rid, &rq);
    if (r == KW_ERR_NOT_FOUND ||
        (r == KW_OK && (rq.account_id != c->account_id ||
                        sodium_memcmp(rq.web_session_id, c->web_session_id, KW_STORE_ID_BYTES) != 0)))
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such web access request");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "web access request");
    r = kw_store_adp_state_get(srv->store, c->account_id, &st);
    if (r != KW_OK && r != KW_ERR_NOT_FOUND)
        return kw_api_store_fail(resp, r, "ADP state");
    if (r == KW_ERR_NOT_FOUND || !st.enabled || !st.web_access)
        return kw_http_fail(resp, KW_ERR_CONFLICT, "web access to end-to-end data is off for this account");
    if (rq.state != KW_STORE_ADP_WEB_APPROVED)
        return kw_http_fail(resp, KW_ERR_CONFLICT, "the web access request is not approved (yet)");
    if ((r = kw_store_adp_web_grants(srv->store, rid, kw_api_now(srv), &g, &n)) != KW_OK)
        return kw_api_store_fail(resp, r, "web access grants");
    for (size_t i = 0; i < n && !covered; i++)
        covered = strcmp(g[i].category, category) == 0;
    kw_store_adp_web_grants_free(g, n);
    if (n == 0 || rq.expires_at <= kw_api_now(srv))
        return kw_http_fail(resp, KW_ERR_CONFLICT, "web access expired: ask again and approve on a trusted device");
    if (!covered)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "this category was not released to this web session");
    *expires_at = rq.expires_at;
    return KW_OK;
}

static int web_record_names(kw_http_resp *resp, const char *category, const char *zone)
{
    if (!kw_category_name_ok(category))
        return kw_http_fail(resp, KW_ERR_FORMAT, "bad category");
    if (!kw_record_zone_ok(zone))
        return kw_http_fail(resp, KW_ERR_FORMAT, "bad zone");
    return KW_OK;
}

static json_t *web_record_json(const kw_store_record *rec, bool content)
{
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I}", "version", (json_int_t)rec->version, "key_generation",
                          (json_int_t)rec->key_generation, "content_len", (json_int_t)rec->content_len,
                          "nchunks", (json_int_t)rec->nchunks, "updated_at", (json_int_t)rec->updated_at);
    if (o == NULL || kw_api_put_b64(o, "id", rec->id, KW_STORE_REC_ID_BYTES) != KW_OK ||
        kw_api_put_b64(o, "meta", rec->meta, rec->meta_len) != KW_OK ||
        kw_api_put_b64(o, "wrap", rec->wrap, rec->wrap_len) != KW_OK ||
        (content && kw_api_put_b64(o, "content", rec->content, rec->content_size) != KW_OK)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* GET /v1/web/records/{request}/{category}/{zone}: the zone's records
 * (first KW_STORE_REC_LIST_MAX, id order), sealed, without content. */
static int web_records_list(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_record *recs = NULL;
    size_t n = 0;
    int64_t change = 0, exp = 0;
    json_t *list = NULL;
    const char *cat = req->params[1], *zone = req->params[2];
    int r = auth_web(req, resp, &c);
    if (r != KW_OK)
        return r;
    if ((r = web_record_names(resp, cat, zone)) != KW_OK ||
        (r = web_grant_check(srv, resp, &c, req->params[0], cat, &exp)) != KW_OK)
        return r;
    if ((r = kw_store_record_list(srv->store, c.account_id, cat, zone, NULL, KW_STORE_REC_LIST_MAX, &recs, &n,
                                  &change)) != KW_OK)
        return kw_api_store_fail(resp, r, "records");
    r = KW_ERR_NOMEM;
    if ((list = json_array()) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *o = web_record_json(&recs[i], false);
        if (o == NULL || json_array_append_new(list, o) != 0)
            goto out;
    }
    kw_http_json(resp, 200, json_pack("{s:s,s:s,s:O,s:I,s:b,s:I}", "category", cat, "zone", zone, "records",
                                      list, "change", (json_int_t)change, "more",
                                      n == KW_STORE_REC_LIST_MAX, "expires_at", (json_int_t)exp));
    r = KW_OK;
out:
    json_decref(list);
    kw_store_record_free_list(&recs, n);
    return r;
}

/* GET /v1/web/records/{request}/{category}/{zone}/{id}: one record with its
 * sealed content (inline records only: content in chunk storage, over
 * KW_STORE_REC_INLINE_MAX, is 422 — open it on a device). */
static int web_record_get(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_record rec = {0};
    uint8_t id[KW_STORE_REC_ID_BYTES];
    size_t idn = 0;
    int64_t exp = 0;
    const char *cat = req->params[1], *zone = req->params[2], *ids = req->params[3];
    int r = auth_web(req, resp, &c);
    if (r != KW_OK)
        return r;
    if ((r = web_record_names(resp, cat, zone)) != KW_OK)
        return r;
    if (kw_b64url_decode(id, sizeof(id), &idn, ids, strlen(ids)) != KW_OK || idn != sizeof(id))
        return kw_http_fail(resp, KW_ERR_FORMAT, "bad record id");
    if ((r = web_grant_check(srv, resp, &c, req->params[0], cat, &exp)) != KW_OK)
        return r;
    r = kw_store_record_get(srv->store, c.account_id, cat, zone, id, &rec);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such record");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "record");
    if (rec.content == NULL && !rec.has_ref) {
        r = kw_http_fail(resp, KW_ERR_INTERNAL, "a stored record has no content");
        goto out;
    }
    /* content in chunk storage: the page fetches it piece by piece */
    json_t *o = web_record_json(&rec, rec.content != NULL);
    if (o == NULL || json_object_set_new(o, "expires_at", json_integer(exp)) != 0) {
        json_decref(o);
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, o);
    r = KW_OK;
out:
    kw_store_record_clear(&rec);
    return r;
}

/* POST /v1/web/records/{request}/{category}/{zone}/{id} {piece: N}: piece N
 * of a record whose content is in chunk storage (the Records area's
 * documented layout, records.dir/<2 hex>/<32 hex>/<N>), as {index, data}. */
#define KW_WEB_PIECE_MAX (KW_RECORD_PIECE_MAXBYTES)
static int web_record_piece(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"piece", NULL};
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_record rec = {0};
    uint8_t id[KW_STORE_REC_ID_BYTES], *buf = NULL;
    size_t idn = 0;
    int64_t exp = 0;
    int fd = -1;
    char dir[PATH_MAX], hex[33], path[PATH_MAX + 64];
    const char *cat = req->params[1], *zone = req->params[2], *ids = req->params[3];
    int r = auth_web(req, resp, &c);
    if (r != KW_OK)
        return r;
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK || (r = web_record_names(resp, cat, zone)) != KW_OK)
        return r;
    json_t *pv = json_object_get(req->body, "piece");
    if (!json_is_integer(pv) || json_integer_value(pv) < 0)
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'piece' must be a piece index");
    int64_t index = json_integer_value(pv);
    if (kw_b64url_decode(id, sizeof(id), &idn, ids, strlen(ids)) != KW_OK || idn != sizeof(id))
        return kw_http_fail(resp, KW_ERR_FORMAT, "bad record id");
    if ((r = web_grant_check(srv, resp, &c, req->params[0], cat, &exp)) != KW_OK)
        return r;
    r = kw_store_record_get(srv->store, c.account_id, cat, zone, id, &rec);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such record");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "record");
    if (!rec.has_ref || index >= rec.nchunks) {
        r = kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such piece");
        goto out;
    }
    const char *d = srv->cfg != NULL ? kw_config_get(srv->cfg, "records.dir") : NULL;
    int w = d != NULL ? snprintf(dir, sizeof(dir), "%s", d)
                      : snprintf(dir, sizeof(dir), "%s/chunks", srv->cfg != NULL ? srv->cfg->data_dir : ".");
    if (w < 0 || (size_t)w >= sizeof(dir) || kw_hex_encode(hex, sizeof(hex), rec.ref, sizeof(rec.ref)) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_INTERNAL, "chunk storage path");
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%.2s/%s/%lld", dir, hex, hex, (long long)index);
    struct stat sb;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        r = kw_http_fail(resp, KW_ERR_NOT_FOUND, "piece %lld of this record is missing", (long long)index);
        goto out;
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > KW_WEB_PIECE_MAX) {
        r = kw_http_fail(resp, KW_ERR_STORAGE, "a stored piece is larger than any piece");
        goto out;
    }
    size_t len = (size_t)sb.st_size, o = 0;
    if ((buf = malloc(len > 0 ? len : 1)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    while (o < len) {
        ssize_t n = read(fd, buf + o, len - o);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = kw_http_fail(resp, KW_ERR_STORAGE, "cannot read a piece");
            goto out;
        }
        o += (size_t)n;
    }
    json_t *out = json_pack("{s:I,s:I}", "index", (json_int_t)index, "expires_at", (json_int_t)exp);
    if (out == NULL || kw_api_put_b64(out, "data", buf, len) != KW_OK) {
        json_decref(out);
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    r = KW_OK;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    kw_store_record_clear(&rec);
    return r;
}

/* ---- records the server can read (standard protection, interoperable) ----
 *
 * In standard protection the server holds a custody copy of each ADP-class
 * service key, and of the interoperable categories' keys always (the ADP
 * area's escrow, docs/api.md "ADP"). With it, it opens records for the
 * page: GET /v1/web/readable/{category}/{zone}[/{id}]. A record is readable
 * exactly when the server holds the custody copy of its key generation:
 * always-end-to-end categories never have one, and turning ADP on deletes
 * those of the ADP categories — then 409 (use web access instead). The
 * record is opened with the same checks as on a device (wrap and metadata
 * bound to category, zone, id and version; every piece authenticated).
 */

static kw_custody *web_custody(kw_server *srv)
{
    struct kw_api_web *w = srv->web;
    kw_custody *c;
    pthread_mutex_lock(&w->custody_lock);
    if (w->custody == NULL && !w->custody_failed && srv->cfg != NULL) {
        int r = kw_custody_open(&w->custody, srv->cfg, srv->cfg->data_dir);
        if (r != KW_OK) {
            w->custody_failed = true;
            fprintf(stderr, "level=error event=web_custody_open error=%s\n", kw_errname(r));
        }
    }
    c = w->custody;
    pthread_mutex_unlock(&w->custody_lock);
    return c;
}

/* The service key of (category, generation) from the server's custody copy:
 * KW_ERR_NOT_FOUND (described) when the server holds none. */
static int web_custody_key(kw_server *srv, kw_http_resp *resp, int64_t account_id, const char *category,
                           int64_t generation, uint8_t key[static KW_SVCKEY_BYTES])
{
    kw_store_adp_custody *list = NULL;
    size_t n = 0, len = 0;
    int r = kw_store_adp_custody_list(srv->store, account_id, &list, &n);
    if (r == KW_ERR_UNSUPPORTED || r == KW_ERR_NOT_FOUND)
        n = 0;
    else if (r != KW_OK)
        return kw_api_store_fail(resp, r, "custody copies");
    r = KW_ERR_NOT_FOUND;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].category, category) != 0 || list[i].generation != generation)
            continue;
        kw_custody *c = web_custody(srv);
        if (c == NULL) {
            r = kw_http_fail(resp, KW_ERR_INTERNAL, "the custody provider is not available");
            break;
        }
        if (kw_custody_unwrap(c, account_id, category, generation, list[i].wrap, list[i].wrap_len, key,
                              KW_SVCKEY_BYTES, &len) != KW_OK || len != KW_SVCKEY_BYTES) {
            fprintf(stderr, "level=error event=web_custody_unwrap account=%lld\n", (long long)account_id);
            r = kw_http_fail(resp, KW_ERR_INTERNAL, "a custody copy does not open");
            break;
        }
        r = KW_OK;
        break;
    }
    kw_store_adp_custody_free(list, n);
    if (r == KW_ERR_NOT_FOUND)
        r = kw_http_fail(resp, KW_ERR_CONFLICT,
                         "%s is end-to-end encrypted: the server holds no key for it (under ADP, ask a "
                         "trusted device for web access)", category);
    if (r != KW_OK)
        sodium_memzero(key, KW_SVCKEY_BYTES);
    return r;
}

/* Opens rec's key and metadata (and, content non-NULL, its inline content
 * into a malloc'd *content of meta->size bytes). */
static int web_open_record(kw_server *srv, kw_http_resp *resp, int64_t account_id, const kw_store_record *rec,
                           kw_record_meta *meta, uint8_t **content)
{
    uint8_t svc[KW_SVCKEY_BYTES], rk[KW_RECORD_KEYBYTES];
    uint8_t *pt = NULL;
    uint32_t gen = 0;
    kw_record_ref ref = {rec->category, rec->zone, {0}, (uint64_t)rec->version};
    int r = KW_ERR_INTERNAL;
    memcpy(ref.id, rec->id, KW_RECORD_IDBYTES);
    if (kw_record_wrap_generation(rec->wrap, rec->wrap_len, &gen) != KW_OK)
        return kw_http_fail(resp, KW_ERR_INTERNAL, "a stored record key wrap is malformed");
    if ((r = web_custody_key(srv, resp, account_id, rec->category, gen, svc)) != KW_OK)
        return r;
    if (kw_record_key_unwrap(rk, rec->wrap, rec->wrap_len, svc, &ref) != KW_OK ||
        kw_record_meta_open(meta, rec->meta, rec->meta_len, rk, &ref) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "a stored record does not open (damaged or swapped)");
        goto out;
    }
    if (content == NULL) {
        r = KW_OK;
        goto out;
    }
    uint64_t np = 0, ctl = 0;
    if (rec->content == NULL) {
        r = kw_http_fail(resp, KW_ERR_UNSUPPORTED, "this record is too large for the web page: open it on a device");
        goto out;
    }
    if (kw_record_content_layout(meta->padded, meta->piece_size, &np, &ctl) != KW_OK || np != 1 ||
        ctl != rec->content_size || meta->padded > KW_STORE_REC_INLINE_MAX) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "a stored record was truncated or extended");
        goto out;
    }
    size_t cap = (size_t)meta->padded, got = 0;
    if ((pt = malloc(cap > 0 ? cap : 1)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if (kw_record_piece_open(pt, cap, &got, rec->content, rec->content_size, 0, 1, rk, &ref) != KW_OK ||
        got != cap) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "a stored record's content does not authenticate");
        goto out;
    }
    uint8_t h[32];
    crypto_hash_sha256(h, pt, (unsigned long long)meta->size);
    if (sodium_memcmp(h, meta->sha256, 32) != 0) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "a stored record does not match its content hash");
        goto out;
    }
    *content = pt;
    pt = NULL;
    r = KW_OK;
out:
    if (pt != NULL) {
        sodium_memzero(pt, (size_t)meta->padded);
        free(pt);
    }
    sodium_memzero(svc, sizeof(svc));
    sodium_memzero(rk, sizeof(rk));
    return r;
}

static json_t *web_meta_json(const kw_store_record *rec, const kw_record_meta *m)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "name", m->name, "type", m->type, "size", (json_int_t)m->size,
                          "mtime", (json_int_t)m->mtime, "ctime", (json_int_t)m->ctime, "version",
                          (json_int_t)rec->version);
    if (o == NULL || kw_api_put_b64(o, "id", rec->id, KW_STORE_REC_ID_BYTES) != KW_OK) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* GET /v1/web/readable/{category}/{zone}: names, sizes, times. */
static int web_readable_list(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_record *recs = NULL;
    size_t n = 0;
    int64_t change = 0;
    json_t *list = NULL;
    const char *cat = req->params[0], *zone = req->params[1];
    int r = auth_web(req, resp, &c);
    if (r != KW_OK)
        return r;
    if ((r = web_record_names(resp, cat, zone)) != KW_OK)
        return r;
    if ((r = kw_store_record_list(srv->store, c.account_id, cat, zone, NULL, KW_STORE_REC_LIST_MAX, &recs, &n,
                                  &change)) != KW_OK)
        return kw_api_store_fail(resp, r, "records");
    if ((list = json_array()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        kw_record_meta m;
        if ((r = web_open_record(srv, resp, c.account_id, &recs[i], &m, NULL)) != KW_OK)
            goto out;
        json_t *o = web_meta_json(&recs[i], &m);
        sodium_memzero(&m, sizeof(m));
        if (o == NULL || json_array_append_new(list, o) != 0) {
            r = KW_ERR_NOMEM;
            goto out;
        }
    }
    kw_http_json(resp, 200, json_pack("{s:s,s:s,s:O,s:b}", "category", cat, "zone", zone, "records", list, "more",
                                      n == KW_STORE_REC_LIST_MAX));
    r = KW_OK;
out:
    json_decref(list);
    kw_store_record_free_list(&recs, n);
    return r;
}

/* GET /v1/web/readable/{category}/{zone}/{id}: the record and its content
 * (base64url), inline records only. */
static int web_readable_get(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller c;
    kw_store_record rec = {0};
    kw_record_meta m;
    uint8_t id[KW_STORE_REC_ID_BYTES], *content = NULL;
    size_t idn = 0;
    json_t *o = NULL;
    const char *cat = req->params[0], *zone = req->params[1], *ids = req->params[2];
    int r = auth_web(req, resp, &c);
    if (r != KW_OK)
        return r;
    if ((r = web_record_names(resp, cat, zone)) != KW_OK)
        return r;
    if (kw_b64url_decode(id, sizeof(id), &idn, ids, strlen(ids)) != KW_OK || idn != sizeof(id))
        return kw_http_fail(resp, KW_ERR_FORMAT, "bad record id");
    r = kw_store_record_get(srv->store, c.account_id, cat, zone, id, &rec);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such record");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "record");
    if ((r = web_open_record(srv, resp, c.account_id, &rec, &m, &content)) != KW_OK)
        goto out;
    o = web_meta_json(&rec, &m);
    if (o == NULL || kw_api_put_b64(o, "content", content, (size_t)m.size) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, o);
    o = NULL;
    r = KW_OK;
out:
    json_decref(o);
    if (content != NULL) {
        sodium_memzero(content, (size_t)m.padded);
        free(content);
    }
    sodium_memzero(&m, sizeof(m));
    kw_store_record_clear(&rec);
    return r;
}

int kw_api_web_revoke_account(kw_server *srv, int64_t account_id)
{
    size_t n = 0;
    int r = kw_store_web_session_revoke_all(srv->store, account_id, &n);
    if (r != KW_OK)
        fprintf(stderr, "level=error event=web_revoke_account error=%s\n", kw_errname(r));
    else if (n > 0)
        fprintf(stderr, "level=info event=web_sessions_revoked account=%lld count=%zu\n", (long long)account_id, n);
    return r;
}

const kw_http_route kw_api_web_routes[] = {
    {"GET", "/", web_index, 0},
    {"GET", "/web", web_index, 0},
    {"GET", "/web/{}", web_file, 0},
    {"POST", "/v1/web/login/start", web_login_start, 0},
    {"POST", "/v1/web/login/finish", web_login_finish, 0},
    {"POST", "/v1/web/login/key-options", web_login_key_options, 0},
    {"POST", "/v1/web/login/factor", web_login_factor, KW_WEB_ASSERTION_BODY_LIMIT},
    {"GET", "/v1/web/me", web_me, 0},
    {"GET", "/v1/web/devices", web_devices, 0},
    {"POST", "/v1/web/devices/{}/remove", web_device_remove, 0},
    {"GET", "/v1/web/removals", web_removals, 0},
    {"POST", "/v1/web/removals/{}/dismiss", web_removal_dismiss, 0},
    {"GET", "/v1/web/sessions", web_sessions, 0},
    {"POST", "/v1/web/sessions/{}/revoke", web_session_revoke, 0},
    {"POST", "/v1/web/logout", web_logout, 0},
    {"GET", "/v1/web/records/{}/{}/{}", web_records_list, 0},
    {"GET", "/v1/web/records/{}/{}/{}/{}", web_record_get, 0},
    {"POST", "/v1/web/records/{}/{}/{}/{}", web_record_piece, 0},
    {"GET", "/v1/web/readable/{}/{}", web_readable_list, 0},
    {"GET", "/v1/web/readable/{}/{}/{}", web_readable_get, 0},
};
const size_t kw_api_web_nroutes = sizeof(kw_api_web_routes) / sizeof(kw_api_web_routes[0]);
