/*
 * tests/unit/server/api_harness.h — shared fixture of the /v1 API tests.
 *
 * Starts the real HTTP layer (kw_http_start on 127.0.0.1, port 0) over a
 * temporary SQLite store and fresh server keys, and plays the client with
 * libcurl and libkeyward's OPAQUE client (Identity KSF: the server never
 * runs the KSF, so the tests need not pay for Argon2id). Time moves through
 * KEYWARD_TEST_TIME_OFFSET (test_faults is on in the fixture).
 * Included by each tests/unit/server/test_api_*.c; everything is static.
 */
#ifndef KEYWARD_TESTS_API_HARNESS_H
#define KEYWARD_TESTS_API_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "api/api.h"
#include "api/areas.h"
#include "http/http.h"
#include "keyward/codec.h"
#include "keyward/keyward.h"
#include "keyward/opaque.h"
#include "keyward/roster.h"
#include "keyward/sign.h"
#include "keyward/totp.h"
#include "store/store.h"

#define TH __attribute__((unused)) static

typedef struct {
    char dir[64];
    char uri[128];
    kw_store *store;
    kw_server_keys *keys;
    kw_server srv;
    kw_http *http;
    char base[64];
    CURL *curl;
} th_server;

typedef struct {
    uint8_t id[KW_STORE_ID_BYTES];
    char name[32];
    kw_sign_key *sk;
    uint8_t identity_pk[32];
    uint8_t hpke_pk[32];
} th_device;

/* One account as its client sees it. */
typedef struct {
    char name[64];
    char password[32];
    kw_sign_key *account_sk;
    uint8_t account_pk[32];
    int64_t roster_version;
    int64_t generation;
    int64_t keychain_version;
} th_account;

TH void th_time_offset(int64_t seconds)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)seconds);
    setenv("KEYWARD_TEST_TIME_OFFSET", buf, 1);
}

TH void th_start(th_server *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(kw_init(), KW_OK);
    unsetenv("KEYWARD_TEST_TIME_OFFSET");
    snprintf(s->dir, sizeof(s->dir), "/tmp/kw-api-test-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->uri, sizeof(s->uri), "sqlite:%s/keyward.db", s->dir);
    assert_int_equal(kw_store_open(s->uri, &s->store), KW_OK);
    s->keys = sodium_malloc(sizeof(*s->keys));
    assert_non_null(s->keys);
    randombytes_buf(s->keys->oprf_seed, sizeof(s->keys->oprf_seed));
    crypto_core_ristretto255_scalar_random(s->keys->opaque_sk);
    crypto_scalarmult_ristretto255_base(s->keys->opaque_pk, s->keys->opaque_sk);
    randombytes_buf(s->keys->totp_key, sizeof(s->keys->totp_key));
    randombytes_buf(s->keys->code_key, sizeof(s->keys->code_key));
    s->srv.store = s->store;
    s->srv.keys = s->keys;
    s->srv.session_ttl = 3600;
    s->srv.test_faults = true;
    assert_int_equal(kw_api_server_init(&s->srv), KW_OK);
    size_t n;
    const kw_http_route *routes = kw_api_routes(&n);
    kw_http_config hc = {.bind_addr = "127.0.0.1", .port = 0, .threads = 2, .quiet = true};
    assert_int_equal(kw_http_start(&hc, routes, n, &s->srv, &s->http), KW_OK);
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", kw_http_port(s->http));
    s->curl = curl_easy_init();
    assert_non_null(s->curl);
}

TH void th_stop(th_server *s)
{
    char cmd[128];
    curl_easy_cleanup(s->curl);
    kw_http_stop(&s->http);
    kw_api_server_fini(&s->srv);
    kw_store_close(&s->store);
    sodium_free(s->keys);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
    unsetenv("KEYWARD_TEST_TIME_OFFSET");
}

typedef struct {
    char *p;
    size_t n;
} th_buf;

static size_t th_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    th_buf *b = ud;
    size_t n = size * nmemb;
    char *q = realloc(b->p, b->n + n + 1);
    if (q == NULL)
        return 0;
    memcpy(q + b->n, ptr, n);
    b->n += n;
    q[b->n] = '\0';
    b->p = q;
    return n;
}

/* Sends a request with a raw body (NULL: none); returns the status and the
 * parsed JSON reply in *out (NULL-able; the caller json_decref's it). */
TH long th_raw(th_server *s, const char *method, const char *path, const char *token,
               const char *body, size_t body_len, json_t **out)
{
    char url[512], auth[400];
    th_buf b = {0};
    struct curl_slist *h = NULL;
    long status = 0;
    CURL *c = s->curl;
    curl_easy_reset(c);
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode cr = curl_easy_perform(c);
    assert_int_equal(cr, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (out != NULL) {
        json_error_t err;
        *out = b.p != NULL ? json_loads(b.p, 0, &err) : NULL;
    }
    free(b.p);
    return status;
}

/* Sends body (stolen; NULL for none) as JSON. */
TH long th_req(th_server *s, const char *method, const char *path, const char *token, json_t *body,
               json_t **out)
{
    char *txt = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    long st = th_raw(s, method, path, token, txt, txt != NULL ? strlen(txt) : 0, out);
    free(txt);
    json_decref(body);
    return st;
}

/* The error code of an error reply ("" when absent). */
TH const char *th_err(json_t *reply)
{
    const char *c = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
    return c != NULL ? c : "";
}

TH const char *th_msg(json_t *reply)
{
    const char *c = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
    return c != NULL ? c : "";
}

TH json_t *th_b64(const uint8_t *p, size_t n)
{
    size_t cap = kw_b64url_encoded_len(n) + 1;
    char *s = malloc(cap);
    assert_non_null(s);
    assert_int_equal(kw_b64url_encode(s, cap, p, n), KW_OK);
    json_t *j = json_string(s);
    free(s);
    return j;
}

TH void th_b64_str(char *out, size_t cap, const uint8_t *p, size_t n)
{
    assert_int_equal(kw_b64url_encode(out, cap, p, n), KW_OK);
}

/* Decodes field of obj into out (exactly len bytes expected). */
TH void th_unb64(json_t *obj, const char *field, uint8_t *out, size_t len)
{
    const char *s = json_string_value(json_object_get(obj, field));
    size_t n = 0;
    assert_non_null(s);
    assert_int_equal(kw_b64url_decode(out, len, &n, s, strlen(s)), KW_OK);
    assert_int_equal(n, len);
}

TH void th_device_new(th_device *d, const char *name)
{
    memset(d, 0, sizeof(*d));
    randombytes_buf(d->id, sizeof(d->id));
    snprintf(d->name, sizeof(d->name), "%s", name);
    assert_int_equal(kw_sign_key_new(&d->sk), KW_OK);
    kw_sign_key_public(d->sk, d->identity_pk);
    randombytes_buf(d->hpke_pk, sizeof(d->hpke_pk));
}

TH void th_device_free(th_device *d)
{
    kw_sign_key_free(&d->sk);
}

TH json_t *th_device_json(const th_device *d)
{
    json_t *o = json_pack("{s:s}", "name", d->name);
    json_object_set_new(o, "id", th_b64(d->id, sizeof(d->id)));
    json_object_set_new(o, "identity_pk", th_b64(d->identity_pk, 32));
    json_object_set_new(o, "hpke_pk", th_b64(d->hpke_pk, 32));
    return o;
}

TH void th_id_str(char out[32], const uint8_t id[KW_STORE_ID_BYTES])
{
    th_b64_str(out, 32, id, KW_STORE_ID_BYTES);
}

TH void th_opaque_config(kw_opaque_config *cfg)
{
    kw_api_opaque_config(cfg);
    cfg->ksf = KW_OPAQUE_KSF_IDENTITY;
}

/* A roster (keyward/roster.h, flags 0) of the account listing devs[0..n),
 * signed by signer. A signer other than the account key makes a forgery: the
 * roster still carries a->account_pk, with a signature by signer. */
TH json_t *th_roster(const th_account *a, int64_t version, const th_device *const *devs, size_t n,
                     const kw_sign_key *signer)
{
    kw_roster *r = malloc(sizeof(*r));
    uint8_t *p = malloc(KW_ROSTER_MAXBYTES), signer_pk[32];
    size_t len = 0;
    assert_non_null(r);
    assert_non_null(p);
    kw_sign_key_public(signer, signer_pk);
    assert_int_equal(kw_roster_init(r, (uint64_t)version, a->name, signer_pk, 0), KW_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(kw_roster_add(r, devs[i]->id, devs[i]->identity_pk, devs[i]->hpke_pk,
                                       devs[i]->name),
                         KW_OK);
    if (n > 0) {
        assert_int_equal(kw_roster_encode(p, KW_ROSTER_MAXBYTES, &len, r, signer), KW_OK);
    } else {
        /* the format has no empty roster: build one by hand for tests of the
         * checks that come before the roster's */
        memcpy(p, KW_ROSTER_MAGIC, 4);
        for (int i = 0; i < 8; i++)
            p[4 + i] = (uint8_t)((uint64_t)version >> (56 - 8 * i));
        p[12] = r->name_len;
        memcpy(p + 13, r->name, r->name_len);
        len = 13 + r->name_len + 32;
        p[len++] = 0; /* flags */
        p[len++] = 0; /* u16 device count */
        p[len++] = 0;
        assert_int_equal(kw_sign(signer, p + len, (const uint8_t *)KW_ROSTER_SIG_CONTEXT,
                                 strlen(KW_ROSTER_SIG_CONTEXT), p, len),
                         KW_OK);
        len += KW_SIGN_BYTES;
    }
    /* the account key field sits after magic, version and the name */
    memcpy(p + 4 + 8 + 1 + r->name_len, a->account_pk, 32);
    json_t *j = th_b64(p, len);
    free(p);
    free(r);
    return j;
}

/* Registers the account with its first device; fills token. Returns the status. */
TH long th_register(th_server *s, th_account *a, const char *name, const th_device *d, char token[64],
                    json_t **reply_out)
{
    kw_opaque_config cfg;
    kw_opaque_client *c = NULL;
    uint8_t req[KW_OPAQUE_REGISTRATION_REQUESTBYTES], resp[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES], export_key[KW_OPAQUE_EXPORT_KEYBYTES];
    uint8_t blob[200];
    json_t *reply = NULL;
    memset(a, 0, sizeof(*a));
    snprintf(a->name, sizeof(a->name), "%s", name);
    snprintf(a->password, sizeof(a->password), "pw-%s", name);
    assert_int_equal(kw_sign_key_new(&a->account_sk), KW_OK);
    kw_sign_key_public(a->account_sk, a->account_pk);
    th_opaque_config(&cfg);
    assert_int_equal(kw_opaque_client_new(&c, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_registration_start(c, req, (const uint8_t *)a->password,
                                                         strlen(a->password)),
                     KW_OK);
    json_t *body = json_pack("{s:s}", "name", name);
    json_object_set_new(body, "request", th_b64(req, sizeof(req)));
    assert_int_equal(th_req(s, "POST", "/v1/accounts/register/start", NULL, body, &reply), 200);
    th_unb64(reply, "response", resp, sizeof(resp));
    json_decref(reply);
    assert_int_equal(kw_opaque_client_registration_finish(c, record, export_key, resp, sizeof(resp), NULL),
                     KW_OK);
    kw_opaque_client_free(&c);
    const th_device *devs[1] = {d};
    randombytes_buf(blob, sizeof(blob));
    body = json_pack("{s:s}", "name", name);
    json_object_set_new(body, "record", th_b64(record, sizeof(record)));
    json_object_set_new(body, "account_pk", th_b64(a->account_pk, 32));
    json_object_set_new(body, "device", th_device_json(d));
    json_object_set_new(body, "roster", th_roster(a, 1, devs, 1, a->account_sk));
    json_object_set_new(body, "keychain", th_b64(blob, sizeof(blob)));
    json_object_set_new(body, "wrap", th_b64(blob, 80));
    long st = th_req(s, "POST", "/v1/accounts/register/finish", NULL, body, &reply);
    if (st == 200) {
        snprintf(token, 64, "%s", json_string_value(json_object_get(reply, "token")));
        a->roster_version = 1;
        a->generation = 1;
        a->keychain_version = 1;
    }
    if (reply_out != NULL)
        *reply_out = reply;
    else
        json_decref(reply);
    return st;
}

TH void th_account_free(th_account *a)
{
    kw_sign_key_free(&a->account_sk);
}

/* A pending login: the client and the server's reply to KE1. */
typedef struct {
    kw_opaque_client *c;
    uint8_t login_id[KW_STORE_ID_BYTES];
    uint8_t ke2[KW_OPAQUE_KE2BYTES];
    uint8_t ke3[KW_OPAQUE_KE3BYTES];
    int finish_rc;
} th_login;

TH void th_login_start(th_server *s, th_login *l, const char *name, const char *password)
{
    kw_opaque_config cfg;
    uint8_t ke1[KW_OPAQUE_KE1BYTES];
    json_t *reply = NULL;
    memset(l, 0, sizeof(*l));
    th_opaque_config(&cfg);
    assert_int_equal(kw_opaque_client_new(&l->c, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_login_start(l->c, ke1, (const uint8_t *)password, strlen(password)),
                     KW_OK);
    json_t *body = json_pack("{s:s}", "name", name);
    json_object_set_new(body, "ke1", th_b64(ke1, sizeof(ke1)));
    assert_int_equal(th_req(s, "POST", "/v1/login/start", NULL, body, &reply), 200);
    th_unb64(reply, "login_id", l->login_id, sizeof(l->login_id));
    th_unb64(reply, "ke2", l->ke2, sizeof(l->ke2));
    assert_int_equal(json_object_size(reply), 2);
    json_decref(reply);
    uint8_t sk[KW_OPAQUE_SESSION_KEYBYTES], ek[KW_OPAQUE_EXPORT_KEYBYTES];
    l->finish_rc = kw_opaque_client_login_finish(l->c, l->ke3, sk, ek, l->ke2, sizeof(l->ke2), NULL);
    if (l->finish_rc != KW_OK) /* a wrong password: send a KE3 the server must refuse */
        randombytes_buf(l->ke3, sizeof(l->ke3));
    kw_opaque_client_free(&l->c);
}

/* The login/finish body for device d (factor stolen, may be NULL). */
TH json_t *th_finish_body(const th_login *l, const th_device *d, json_t *factor)
{
    uint8_t msg[32], sig[KW_SIGN_BYTES];
    memcpy(msg, l->login_id, 16);
    memcpy(msg + 16, d->id, 16);
    assert_int_equal(kw_sign(d->sk, sig, (const uint8_t *)KW_API_LOGIN_SIG_CONTEXT,
                             strlen(KW_API_LOGIN_SIG_CONTEXT), msg, sizeof(msg)),
                     KW_OK);
    json_t *body = json_object();
    json_object_set_new(body, "login_id", th_b64(l->login_id, 16));
    json_object_set_new(body, "ke3", th_b64(l->ke3, sizeof(l->ke3)));
    json_object_set_new(body, "device", th_device_json(d));
    json_object_set_new(body, "device_sig", th_b64(sig, sizeof(sig)));
    if (factor != NULL)
        json_object_set_new(body, "factor", factor);
    return body;
}

/* Full sign-in; token filled on 200. */
TH long th_signin(th_server *s, const char *name, const char *password, const th_device *d,
                  json_t *factor, char token[64], json_t **reply_out)
{
    th_login l;
    json_t *reply = NULL;
    th_login_start(s, &l, name, password);
    long st = th_req(s, "POST", "/v1/login/finish", NULL, th_finish_body(&l, d, factor), &reply);
    if (st == 200 && token != NULL)
        snprintf(token, 64, "%s", json_string_value(json_object_get(reply, "token")));
    if (reply_out != NULL)
        *reply_out = reply;
    else
        json_decref(reply);
    return st;
}

TH json_t *th_code_factor(const char *type, const char *code)
{
    return json_pack("{s:s,s:s}", "type", type, "code", code);
}

/* A fresh approval code from a trusted device's session. */
TH void th_approval_code(th_server *s, const char *token, char code[8])
{
    json_t *reply = NULL;
    assert_int_equal(th_req(s, "POST", "/v1/approvals", token, NULL, &reply), 200);
    snprintf(code, 8, "%s", json_string_value(json_object_get(reply, "code")));
    assert_int_equal(strlen(code), 6);
    json_decref(reply);
}

/* Signs device b in with an approval code from a's session and approves it
 * into the roster; b's token filled. */
TH void th_add_device(th_server *s, th_account *a, const char *token_a, const th_device *const *trusted,
                      size_t ntrusted, const th_device *b, char token_b[64])
{
    char code[8], idb[32];
    const th_device *devs[16];
    json_t *reply = NULL;
    th_approval_code(s, token_a, code);
    assert_int_equal(th_signin(s, a->name, a->password, b, th_code_factor("approval", code), token_b,
                               &reply),
                     200);
    assert_string_equal(json_string_value(json_object_get(reply, "device_state")), "pending");
    json_decref(reply);
    assert_true(ntrusted < 15);
    for (size_t i = 0; i < ntrusted; i++)
        devs[i] = trusted[i];
    devs[ntrusted] = b;
    th_id_str(idb, b->id);
    uint8_t wrap[80];
    randombytes_buf(wrap, sizeof(wrap));
    json_t *body = json_pack("{s:s}", "device_id", idb);
    json_object_set_new(body, "roster", th_roster(a, a->roster_version + 1, devs, ntrusted + 1,
                                                  a->account_sk));
    json_object_set_new(body, "wrap", th_b64(wrap, sizeof(wrap)));
    assert_int_equal(th_req(s, "POST", "/v1/devices/approve", token_a, body, &reply), 200);
    json_decref(reply);
    a->roster_version++;
}

/* The removal body: roster of `remaining`, rotation to generation+1. */
TH json_t *th_remove_body(th_account *a, const th_device *victim, const th_device *const *remaining,
                          size_t n)
{
    char id[32];
    uint8_t blob[120];
    randombytes_buf(blob, sizeof(blob));
    th_id_str(id, victim->id);
    json_t *body = json_pack("{s:s,s:I,s:I}", "device_id", id, "generation",
                             (json_int_t)(a->generation + 1), "keychain_version",
                             (json_int_t)(a->keychain_version + 1));
    json_object_set_new(body, "roster", th_roster(a, a->roster_version + 1, remaining, n, a->account_sk));
    json_object_set_new(body, "chain", th_b64(blob, 72));
    json_object_set_new(body, "keychain", th_b64(blob, sizeof(blob)));
    json_t *wraps = json_array();
    for (size_t i = 0; i < n; i++) {
        th_id_str(id, remaining[i]->id);
        json_t *w = json_pack("{s:s}", "device_id", id);
        json_object_set_new(w, "wrap", th_b64(blob, 80));
        json_array_append_new(wraps, w);
    }
    json_object_set_new(body, "wraps", wraps);
    return body;
}

/* The current TOTP code for secret at the server's clock + delta seconds. */
TH void th_totp_code(const uint8_t *secret, size_t len, int64_t when, char out[8])
{
    uint32_t code;
    uint64_t step;
    assert_int_equal(kw_totp(&code, &step, KW_TOTP_SHA1, secret, len, (uint64_t)when, 30, 6), KW_OK);
    snprintf(out, 8, "%06u", code);
}

#endif
