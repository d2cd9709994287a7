/*
 * Password change: an authenticated, trusted device proves the current
 * password with a fresh OPAQUE login bound to its session and, in the same
 * flow, registers the new password.
 *
 *   password/start  {ke1, request}        → {change_id, ke2, response}
 *   password/finish {change_id, ke3, record} → {sessions_revoked}
 *
 * start answers KE1 with a KE2 from the stored record (as login/start does)
 * and the registration request with the RegistrationResponse for the new
 * password (the OPRF seed and the account name: stateless). The pending
 * login is parked like a sign-in's, marked as a password change and bound to
 * the calling session and to the hash of the record KE2 was made from.
 * finish takes it out (once), checks it belongs to the calling session,
 * that the record is still the one KE2 used (else 409: another change won),
 * verifies KE3 against it, and only then replaces the record in one store
 * call. It then revokes every other session of the account (a password
 * change is what one does after a suspected compromise); the account's known
 * devices sign in again with the new password alone.
 *
 * Limits: start counts against the sign-in start limits (per account name
 * and remote address, taken back by a successful finish); a KE3 that does
 * not verify counts as a failed sign-in of the account and the address.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "api/seckeys.h"
#include "keyward/err.h"

static int password_start(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"ke1", "request", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account acct = {0};
    kw_api_pending p = {0};
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES], id[KW_STORE_ID_BYTES];
    uint8_t request[KW_OPAQUE_REGISTRATION_REQUESTBYTES];
    uint8_t response[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    char key[24];
    json_t *out = NULL;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "ke1", ke1, sizeof(ke1))) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "request", request, sizeof(request))) != KW_OK)
        return r;
    if ((r = kw_store_account_get(srv->store, caller.account_id, &acct)) != KW_OK)
        return kw_api_store_fail(resp, r, "account");
    kw_api_rl_account_key(key, acct.id);
    if ((r = kw_api_rl_check(srv, resp, KW_RL_LOGIN_ACCOUNT, key)) != KW_OK ||
        (r = kw_api_start_limit(srv, resp, acct.name, req->remote)) != KW_OK)
        goto out;
    r = kw_opaque_server_ke2(kw_api_opaque(srv), &p.login, ke2, acct.opaque_record,
                             acct.opaque_record_len, (const uint8_t *)acct.name, strlen(acct.name),
                             ke1, sizeof(ke1), NULL);
    if (r == KW_OK)
        r = kw_opaque_server_registration_response(kw_api_opaque(srv), response, request,
                                                   sizeof(request), (const uint8_t *)acct.name,
                                                   strlen(acct.name));
    if (r == KW_ERR_FORMAT || r == KW_ERR_TRUNCATED || r == KW_ERR_CRYPTO || r == KW_ERR_TOO_LARGE) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "ke1 or request is not a valid OPAQUE message");
        goto out;
    }
    if (r != KW_OK) {
        fprintf(stderr, "level=error event=opaque_password_start error=%s\n", kw_errname(r));
        r = KW_ERR_INTERNAL;
        goto out;
    }
    p.kind = KW_API_PENDING_PASSWORD;
    p.account_id = acct.id;
    memcpy(p.session_hash, caller.session_hash, KW_STORE_HASH_BYTES);
    crypto_hash_sha256(p.record_hash, acct.opaque_record, acct.opaque_record_len);
    r = kw_api_pending_put(srv, &p, req->remote, id);
    if (r == KW_ERR_LIMIT) {
        r = kw_http_fail(resp, KW_ERR_LIMIT, "too many sign-ins in progress; try again later");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "pending password change");
        goto out;
    }
    out = json_object();
    if (out == NULL || kw_api_put_b64(out, "change_id", id, sizeof(id)) != KW_OK ||
        kw_api_put_b64(out, "ke2", ke2, sizeof(ke2)) != KW_OK ||
        kw_api_put_b64(out, "response", response, sizeof(response)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    kw_api_pending_clear(&p);
    kw_store_account_clear(&acct);
    return r;
}

/* Revokes every live session of the account but the caller's; returns how
 * many (best effort after the record is replaced: a failure is logged). */
static int64_t revoke_others(kw_server *srv, const kw_api_caller *caller)
{
    kw_store_session *list = NULL;
    size_t n = 0;
    int64_t revoked = 0, now = kw_api_now(srv);
    int r = kw_store_session_list(srv->store, caller->account_id, &list, &n);
    if (r != KW_OK) {
        fprintf(stderr, "level=error event=password_revoke_sessions error=%s\n", kw_errname(r));
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].revoked || list[i].expires_at <= now ||
            sodium_memcmp(list[i].hash, caller->session_hash, KW_STORE_HASH_BYTES) == 0)
            continue;
        if ((r = kw_store_session_revoke(srv->store, caller->account_id, list[i].hash)) == KW_OK)
            revoked++;
        else
            fprintf(stderr, "level=error event=password_revoke_session error=%s\n", kw_errname(r));
    }
    free(list);
    return revoked;
}

static int password_finish(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"change_id", "ke3", "record", "assertion", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account acct = {0};
    kw_api_pending p = {0};
    kw_opaque_registration_record rec;
    uint8_t id[KW_STORE_ID_BYTES], ke3[KW_OPAQUE_KE3BYTES];
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES], cur_hash[KW_STORE_HASH_BYTES];
    uint8_t session_key[KW_OPAQUE_SESSION_KEYBYTES];
    const char *remote = req->remote != NULL ? req->remote : "unknown";
    char key[24];
    json_t *out = NULL;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_id(resp, req->body, "change_id", id)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "ke3", ke3, sizeof(ke3))) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "record", record, sizeof(record))) != KW_OK)
        return r;
    if (kw_opaque_registration_record_parse(&rec, KW_OPAQUE_GROUP_RISTRETTO255, record,
                                            sizeof(record)) != KW_OK)
        return kw_http_fail(resp, KW_ERR_FORMAT, "record is not a valid OPAQUE registration record");
    kw_api_rl_account_key(key, caller.account_id);
    if ((r = kw_api_rl_check(srv, resp, KW_RL_LOGIN_ACCOUNT, key)) != KW_OK)
        return r;
    /* with security keys required, a key assertion (operation "password");
     * checked before the change id is spent */
    if ((r = kw_api_seckey_gate(srv, resp, caller.account_id, KW_STORE_SECKEY_OP_PASSWORD,
                                req->body, "assertion", NULL)) != KW_OK)
        return r;
    r = kw_api_pending_take(srv, id, &p);
    if (r == KW_OK && (p.kind != KW_API_PENDING_PASSWORD || p.account_id != caller.account_id ||
                       sodium_memcmp(p.session_hash, caller.session_hash, KW_STORE_HASH_BYTES) != 0))
        r = KW_ERR_NOT_FOUND;
    if (r == KW_ERR_NOT_FOUND) {
        r = kw_http_fail(resp, KW_ERR_VERIFY,
                         "password change failed: unknown, expired or used change_id");
        goto out;
    }
    if (r != KW_OK) {
        r = r == KW_ERR_INTERNAL ? r : kw_api_store_fail(resp, r, "pending password change");
        goto out;
    }
    if ((r = kw_store_account_get(srv->store, caller.account_id, &acct)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    crypto_hash_sha256(cur_hash, acct.opaque_record, acct.opaque_record_len);
    if (sodium_memcmp(cur_hash, p.record_hash, sizeof(cur_hash)) != 0) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "the password changed meanwhile; start over");
        goto out;
    }
    if (kw_opaque_server_finish(p.login, session_key, ke3, sizeof(ke3)) != KW_OK) {
        kw_api_rl_hit(srv, KW_RL_LOGIN_REMOTE, remote);
        kw_api_rl_hit(srv, KW_RL_LOGIN_ACCOUNT, key);
        r = kw_http_fail(resp, KW_ERR_VERIFY, "password change failed: the current password does "
                                              "not verify");
        goto out;
    }
    kw_api_start_refund(srv, &p, acct.name, req->remote);
    /* the only write that matters, in one store call: nothing changes
     * before KE3 verified against the old record */
    if ((r = kw_store_account_set_opaque(srv->store, caller.account_id, record, sizeof(record))) !=
        KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    int64_t revoked = revoke_others(srv, &caller);
    (void)kw_api_web_revoke_account(srv, caller.account_id); /* browser sessions end with the old password */
    out = json_pack("{s:I}", "sessions_revoked", (json_int_t)revoked);
    if (out == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    sodium_memzero(session_key, sizeof(session_key));
    kw_api_pending_clear(&p);
    kw_store_account_clear(&acct);
    return r;
}

const kw_http_route kw_api_password_routes[] = {
    {"POST", "/v1/password/start", password_start, 0},
    {"POST", "/v1/password/finish", password_finish, 0},
};
const size_t kw_api_password_nroutes =
    sizeof(kw_api_password_routes) / sizeof(kw_api_password_routes[0]);
