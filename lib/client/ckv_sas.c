/*
 * The interactive short-authentication-string compare of Contact Key
 * Verification (keyward/client_ckv.h, kw_client_contact_verify_sas; the
 * argument for its strength is in docs/crypto.md).
 *
 * Both users run it at once, each naming the other. The account whose name
 * sorts first is the initiator I, the other the responder R. Messages are
 * end-to-end typed messages (keyward/client_msg.h) whose content is JSON:
 *   I → R  "sas-commit"  {v:1, s: session, c: commit(nonce_I, I, pk_I, R, pk_R)}
 *   R → I  "sas-reveal"  {v:1, s, n: nonce_R}
 *   I → R  "sas-confirm" {v:1, s, n: nonce_I}
 * R checks that nonce_I opens the commitment for the keys R sees (pk_I as
 * pinned for contact I, its own pk_R); both show
 * SAS(I, pk_I, R, pk_R, nonce_I, nonce_R) and the users compare it. Each
 * side uses the keys of its own view, so a substituted key on either side
 * changes the code (or fails R's commitment check).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/ckv_internal.h"
#include "keyward/client_msg.h"
#include "keyward/codec.h"
#include "keyward/err.h"

#define LOCAL KW_CLIENT_ORIGIN_LOCAL
#define SESSIONBYTES 16

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int send_json(kw_client *c, const char *to, const char *type, const char *session,
                     const char *field, const uint8_t *val, size_t len)
{
    json_t *o = json_pack("{s:i,s:s}", "v", 1, "s", session);
    char *text = NULL;
    int r = KW_ERR_NOMEM;
    if (o != NULL && kwc_put_b64(o, field, val, len) == KW_OK &&
        (text = json_dumps(o, JSON_COMPACT)) != NULL)
        r = kw_client_msg_send_typed(c, to, type, (const uint8_t *)text, strlen(text));
    if (r == KW_ERR_NOMEM)
        kwc_fail(c, LOCAL, r, "out of memory");
    json_decref(o);
    free(text);
    return r;
}

/* Waits for a message of `type` from account `from` (not our own copy),
 * for `session` (NULL: any, sent at or after since_ms); reads field `field`
 * (exactly len bytes) and the session into session_out (when non-NULL).
 * Consumes (deletes) the message. KW_ERR_LIMIT on timeout. */
static int wait_for(kw_client *c, const char *type, const char *from, const char *session,
                    uint64_t since_ms, const char *field, uint8_t *val, size_t len,
                    char session_out[32], uint64_t deadline_ms)
{
    for (;;) {
        kw_client_msg *list = NULL;
        size_t n = 0;
        int r = kw_client_msg_sync(c, NULL, NULL);
        if (r != KW_OK)
            return r;
        if ((r = kw_client_msg_list(c, type, from, &list, &n)) != KW_OK)
            return r;
        int found = -1;
        for (size_t i = n; i-- > 0 && found < 0;) {
            kw_client_msg *m = &list[i];
            if (m->own)
                continue;
            json_t *o = json_loadb((const char *)m->content, m->content_len, 0, NULL);
            const char *s = json_string_value(json_object_get(o, "s"));
            bool match = s != NULL && strlen(s) < 32 &&
                         (session != NULL ? strcmp(s, session) == 0 : m->timestamp_ms >= since_ms) &&
                         kwc_get_b64_fixed(o, field, val, len) == KW_OK;
            if (match) {
                if (session_out != NULL)
                    snprintf(session_out, 32, "%s", s);
                found = (int)i;
            }
            json_decref(o);
        }
        if (found >= 0)
            kw_client_msg_delete(c, list[found].id);
        kw_client_msg_list_free(&list, n);
        if (found >= 0)
            return KW_OK;
        if (now_ms() > deadline_ms)
            return kwc_fail(c, LOCAL, KW_ERR_LIMIT,
                            "no %s from %s in time: is `keyward contact verify` running on their "
                            "device too?",
                            type, from);
        usleep(200 * 1000);
    }
}

int kw_client_contact_verify_sas(kw_client *c, const char *name, kw_client_sas_confirm_fn confirm,
                                 void *arg, unsigned timeout_s, json_t **out)
{
    json_t *chk = NULL;
    uint8_t peer_pk[32], nonce_me[KW_CKV_SAS_NONCEBYTES], nonce_peer[KW_CKV_SAS_NONCEBYTES];
    uint8_t commit[KW_CKV_SAS_COMMITBYTES], sess[SESSIONBYTES];
    char session[32], sas[KW_CKV_SASBYTES];
    int r;
    *out = NULL;
    uint64_t start = now_ms(), deadline = start + (uint64_t)(timeout_s > 0 ? timeout_s : 120) * 1000u;
    /* the contact's roster and key, checked as on every use */
    r = kw_client_ckv_contact_check(c, name, NULL, NULL, &chk);
    if (r != KW_OK) {
        *out = chk;
        return r;
    }
    if (kwc_get_b64_fixed(chk, "account_pk", peer_pk, 32) != KW_OK) {
        json_decref(chk);
        return kwc_fail(c, LOCAL, KW_ERR_INTERNAL, "contact without an account key");
    }
    json_decref(chk);
    const char *me = c->p->account;
    const uint8_t *my_pk = c->p->account_pk;
    bool initiator = strcmp(me, name) < 0;
    randombytes_buf(nonce_me, sizeof(nonce_me));
    if (initiator) {
        randombytes_buf(sess, sizeof(sess));
        kw_b64url_encode(session, sizeof(session), sess, sizeof(sess));
        kw_ckv_sas_commit(commit, nonce_me, me, my_pk, name, peer_pk);
        if ((r = send_json(c, name, "sas-commit", session, "c", commit, sizeof(commit))) != KW_OK ||
            (r = wait_for(c, "sas-reveal", name, session, 0, "n", nonce_peer, sizeof(nonce_peer),
                          NULL, deadline)) != KW_OK ||
            (r = send_json(c, name, "sas-confirm", session, "n", nonce_me, sizeof(nonce_me))) != KW_OK)
            goto out;
        kw_ckv_sas(sas, me, my_pk, name, peer_pk, nonce_me, nonce_peer);
    } else {
        /* a commitment sent at most two minutes before we started */
        if ((r = wait_for(c, "sas-commit", name, NULL, start > 120000 ? start - 120000 : 0, "c",
                          commit, sizeof(commit), session, deadline)) != KW_OK ||
            (r = send_json(c, name, "sas-reveal", session, "n", nonce_me, sizeof(nonce_me))) != KW_OK ||
            (r = wait_for(c, "sas-confirm", name, session, 0, "n", nonce_peer, sizeof(nonce_peer),
                          NULL, deadline)) != KW_OK)
            goto out;
        if (kw_ckv_sas_check_commit(commit, nonce_peer, name, peer_pk, me, my_pk) != KW_OK) {
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                         "%s's commitment does not open for the account keys this device sees: "
                         "someone is in the middle (NOT verified)",
                         name);
            goto out;
        }
        kw_ckv_sas(sas, name, peer_pk, me, my_pk, nonce_peer, nonce_me);
    }
    if (confirm == NULL || !confirm(sas, arg)) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the codes were not confirmed equal: %s NOT verified",
                     name);
        goto out;
    }
    r = kw_client_contact_mark_verified(c, name, "sas", out);
    if (r == KW_OK && *out != NULL)
        json_object_set_new(*out, "sas", json_string(sas));
out:
    sodium_memzero(nonce_me, sizeof(nonce_me));
    sodium_memzero(nonce_peer, sizeof(nonce_peer));
    return r;
}
