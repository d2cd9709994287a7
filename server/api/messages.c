/*
 * server/api/messages.c — end-to-end message relay (docs/api.md,
 * "Messages"): per-device mailboxes and signed prekeys.
 *
 *   POST /v1/msg/send          {envelope, devices:[id...]}  → {id, devices}
 *   GET  /v1/msg/fetch         → {messages:[{seq, id, envelope}], more}
 *   GET  /v1/msg/fetch/{after} (entries with seq > after)
 *   POST /v1/msg/ack           {ids:[id...]}                → {removed}
 *   POST /v1/msg/prekey        {prekey}                     → {prekey_id}
 *   GET  /v1/msg/keys/{name}   → {name, roster_version, roster,
 *                                 devices:[{id, prekey?, previous?}]}
 *
 * The server routes envelopes it cannot read: on send it decodes the
 * envelope strictly (the shared codec), requires the caller to be the
 * envelope's sender device (a trusted device of the sender account), the
 * listed mailboxes to be exactly the devices the envelope wraps a key to,
 * each a TRUSTED device of the recipient account or of the sender's own
 * account (never the sending device itself), and refuses a message id it
 * has stored before (409). The envelope signature and the wraps are
 * checked by the receiving clients against the verified rosters; the
 * server's checks only keep misrouted or forged mail out of mailboxes.
 * Every reply to send/ack/prekey comes after the commit (store/msg.h).
 *
 * Area state (srv->msg, lifecycle.c): a thread that forgets, every
 * "msg.sweep_seconds" (default 3600), the ids of envelopes every mailbox
 * acknowledged more than KW_STORE_MSG_ID_KEEP seconds ago (clients refuse
 * envelopes older than 14 days by themselves, so a forgotten id cannot be
 * replayed to them).
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/areas.h"
#include "keyward/codec.h"
#include "keyward/envelope.h"
#include "keyward/err.h"
#include "config.h"
#include "store/msg.h"

#define MSG_FETCH_ITEMS 256
#define MSG_FETCH_BYTES ((size_t)2 << 20)
#define MSG_SEND_BODY_LIMIT ((size_t)2 << 20)

static int store_fail(kw_http_resp *resp, int r, const char *what)
{
    if (r == KW_ERR_UNSUPPORTED)
        return kw_http_fail(resp, KW_ERR_UNSUPPORTED, "this store has no message mailboxes");
    return kw_api_store_fail(resp, r, what);
}

/* Reads a JSON array of 1..max base64url ids into ids (distinct). */
static int get_ids(kw_http_resp *resp, json_t *body, const char *field, size_t max, uint8_t (*ids)[16],
                   size_t *n)
{
    json_t *arr = json_object_get(body, field);
    *n = 0;
    if (!json_is_array(arr))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' must be an array of ids", field);
    size_t cnt = json_array_size(arr);
    if (cnt > max)
        return kw_http_fail(resp, KW_ERR_TOO_LARGE, "field '%s' lists more than %zu ids", field, max);
    if (cnt == 0)
        return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' is empty", field);
    for (size_t i = 0; i < cnt; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        size_t len = 0;
        if (s == NULL || strlen(s) != 22 || kw_b64url_decode(ids[i], 16, &len, s, 22) != KW_OK ||
            len != 16)
            return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' holds a malformed id", field);
        for (size_t j = 0; j < i; j++)
            if (memcmp(ids[i], ids[j], 16) == 0)
                return kw_http_fail(resp, KW_ERR_FORMAT, "field '%s' lists an id twice", field);
    }
    *n = cnt;
    return KW_OK;
}

static int msg_send(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"envelope", "devices", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    size_t ndev = 0, elen = 0;
    uint8_t *env_bytes = NULL;
    uint8_t (*devs)[16] = NULL;
    kw_envelope *env = NULL;
    json_t *out = NULL;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK)
        return r;
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    if ((devs = calloc(KW_ENVELOPE_WRAPS_MAX, sizeof(*devs))) == NULL ||
        (env = malloc(sizeof(*env))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kw_api_get_b64(resp, req->body, "envelope", 1, KW_STORE_MSG_ENVELOPE_MAX, &env_bytes,
                            &elen)) != KW_OK ||
        (r = get_ids(resp, req->body, "devices", KW_ENVELOPE_WRAPS_MAX, devs, &ndev)) != KW_OK)
        goto out;
    if ((r = kw_envelope_decode(env, env_bytes, elen)) != KW_OK) {
        r = kw_http_fail(resp, r, "the envelope does not parse (%s)", kw_strerror(r));
        goto out;
    }
    if (memcmp(env->sender_device, caller.device_id, 16) != 0) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "the envelope names another sender device");
        goto out;
    }
    /* the mailboxes are exactly the devices the envelope wraps a key to
     * (both lists are free of duplicates) */
    if (ndev != env->nwraps) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "the mailboxes listed are not the envelope's devices");
        goto out;
    }
    for (size_t i = 0; i < ndev; i++)
        if (kw_envelope_find(env, devs[i]) == NULL) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "mailbox %zu is not one of the envelope's devices", i);
            goto out;
        }
    /* the account and device checks run inside the commit (one store round
     * trip per send) */
    kw_store_msg_send m = {.msg_id = env->id,
                           .sender_account = caller.account_id,
                           .sender_name = env->sender,
                           .sender_device = caller.device_id,
                           .recipient_name = env->recipient,
                           .env = env_bytes,
                           .len = elen,
                           .devices = (const uint8_t(*)[KW_STORE_ID_BYTES])devs,
                           .ndevices = ndev,
                           .now = kw_api_now(srv)};
    r = kw_store_msg_send_checked(srv->store, &m);
    switch (r == KW_OK ? KW_STORE_MSG_REFUSED_NONE : m.refusal) {
    case KW_STORE_MSG_REFUSED_NONE:
        break;
    case KW_STORE_MSG_REFUSED_SENDER:
        r = kw_http_fail(resp, KW_ERR_VERIFY, "the envelope names another sender account");
        goto out;
    case KW_STORE_MSG_REFUSED_RECIPIENT:
        r = kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such recipient account");
        goto out;
    case KW_STORE_MSG_REFUSED_DEVICE:
        r = kw_http_fail(resp, KW_ERR_NOT_FOUND,
                         "mailbox %zu is not a device of the sender or recipient account", m.device_index);
        goto out;
    case KW_STORE_MSG_REFUSED_UNTRUSTED:
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "mailbox %zu is not a trusted device (or is the sender)",
                         m.device_index);
        goto out;
    case KW_STORE_MSG_REFUSED_DUPLICATE:
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "a message with this id was sent before");
        goto out;
    default:
        r = store_fail(resp, r, "mailbox");
        goto out;
    }
    out = json_pack("{s:I}", "devices", (json_int_t)ndev);
    if (out == NULL || kw_api_put_b64(out, "id", env->id, 16) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(env_bytes);
    free(devs);
    free(env);
    return r;
}

/* The fetch answer is written as JSON text directly: it is mostly
 * base64url (no escaping needed) and up to ~2.7 MB, which a json_t tree
 * would copy and escape byte by byte. */
static int fetch_after(kw_http_req *req, kw_http_resp *resp, int64_t after)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_msg_item *items = NULL;
    size_t n = 0, cap = 64, o = 0;
    bool more = false;
    char *text = NULL;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    r = kw_store_msg_fetch(srv->store, caller.device_id, after, MSG_FETCH_ITEMS, MSG_FETCH_BYTES,
                           &items, &n, &more);
    if (r != KW_OK)
        return store_fail(resp, r, "mailbox");
    for (size_t i = 0; i < n; i++)
        cap += 96 + kw_b64url_encoded_len(items[i].len);
    if ((text = malloc(cap)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    o += (size_t)snprintf(text + o, cap - o, "{\"messages\":[");
    for (size_t i = 0; i < n; i++) {
        char id[32];
        kw_b64url_encode(id, sizeof(id), items[i].msg_id, 16);
        o += (size_t)snprintf(text + o, cap - o, "%s{\"seq\":%lld,\"id\":\"%s\",\"envelope\":\"",
                              i > 0 ? "," : "", (long long)items[i].seq, id);
        if ((r = kw_b64url_encode(text + o, cap - o, items[i].envelope, items[i].len)) != KW_OK)
            goto out;
        o += strlen(text + o);
        o += (size_t)snprintf(text + o, cap - o, "\"}");
    }
    o += (size_t)snprintf(text + o, cap - o, "],\"more\":%s}", more ? "true" : "false");
    if (o >= cap) {
        r = KW_ERR_INTERNAL;
        goto out;
    }
    resp->status = 200;
    resp->text = text; /* transferred */
    resp->text_len = o;
    resp->content_type = "application/json";
    text = NULL;
    r = KW_OK;
out:
    free(text);
    kw_store_msg_items_free(&items, n);
    return r;
}

static int msg_fetch(kw_http_req *req, kw_http_resp *resp)
{
    return fetch_after(req, resp, 0);
}

static int msg_fetch_after(kw_http_req *req, kw_http_resp *resp)
{
    const char *p = req->params[0];
    char *end = NULL;
    long long v = strtoll(p, &end, 10);
    if (p[0] < '0' || p[0] > '9' || *end != '\0' || strlen(p) > 18 || v < 0)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the position is a non-negative integer");
    return fetch_after(req, resp, (int64_t)v);
}

static int msg_ack(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"ids", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t (*ids)[16] = NULL;
    size_t n = 0, removed = 0;
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    if ((ids = calloc(KW_STORE_MSG_ACK_MAX, sizeof(*ids))) == NULL)
        return KW_ERR_NOMEM;
    if ((r = get_ids(resp, req->body, "ids", KW_STORE_MSG_ACK_MAX, ids, &n)) != KW_OK)
        goto out;
    if ((r = kw_store_msg_ack(srv->store, caller.device_id,
                              (const uint8_t(*)[KW_STORE_MSG_IDBYTES])ids, n, &removed)) != KW_OK) {
        r = store_fail(resp, r, "mailbox");
        goto out;
    }
    json_t *out = json_pack("{s:I}", "removed", (json_int_t)removed);
    if (out == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    r = KW_OK;
out:
    free(ids);
    return r;
}

static int msg_prekey(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"prekey", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_device dev;
    uint8_t raw[KW_PREKEY_BYTES];
    kw_prekey pk;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK)
        return r;
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "prekey", raw, sizeof(raw))) != KW_OK)
        return r;
    if ((r = kw_store_device_get(srv->store, caller.device_id, &dev)) != KW_OK)
        return store_fail(resp, r, "device");
    if ((r = kw_prekey_open(&pk, raw, sizeof(raw), dev.identity_pk)) != KW_OK)
        return kw_http_fail(resp, r == KW_ERR_VERIFY ? KW_ERR_VERIFY : KW_ERR_FORMAT,
                            "the prekey does not verify under this device's identity key");
    if (memcmp(pk.device_id, caller.device_id, 16) != 0)
        return kw_http_fail(resp, KW_ERR_VERIFY, "the prekey names another device");
    r = kw_store_msg_prekey_put(srv->store, caller.device_id, pk.prekey_id, raw, sizeof(raw),
                                kw_api_now(srv));
    if (r == KW_ERR_CONFLICT)
        return kw_http_fail(resp, r, "prekey ids must increase");
    if (r != KW_OK)
        return store_fail(resp, r, "prekey");
    json_t *out = json_pack("{s:I}", "prekey_id", (json_int_t)pk.prekey_id);
    if (out == NULL)
        return KW_ERR_NOMEM;
    kw_http_json(resp, 200, out);
    return KW_OK;
}

static int msg_keys(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account acct = {0};
    kw_store_device *list = NULL;
    size_t n = 0, len = 0;
    uint8_t *roster = NULL;
    int64_t version = 0;
    json_t *out = NULL, *arr = NULL;
    const char *name = req->params[0];
    int r;
    if ((r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    if ((r = kw_api_check_name(resp, name)) != KW_OK)
        return r;
    if ((r = kw_store_account_get_by_name(srv->store, name, &acct)) != KW_OK)
        return store_fail(resp, r, "account");
    if ((r = kw_store_roster_latest(srv->store, acct.id, &version, &roster, &len)) != KW_OK ||
        (r = kw_store_device_list(srv->store, acct.id, &list, &n)) != KW_OK) {
        r = store_fail(resp, r, "roster");
        goto out;
    }
    if ((out = json_pack("{s:s,s:I}", "name", acct.name, "roster_version", (json_int_t)version)) ==
            NULL ||
        kw_api_put_b64(out, "roster", roster, len) != KW_OK || (arr = json_array()) == NULL ||
        json_object_set_new(out, "devices", arr) != 0) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        kw_store_msg_prekeys pk;
        if (list[i].state != KW_DEVICE_TRUSTED)
            continue;
        json_t *d = json_object();
        if (d == NULL || json_array_append_new(arr, d) != 0 ||
            kw_api_put_b64(d, "id", list[i].id, 16) != KW_OK) {
            r = KW_ERR_NOMEM;
            goto out;
        }
        r = kw_store_msg_prekey_get(srv->store, list[i].id, &pk);
        if (r == KW_ERR_NOT_FOUND)
            continue;
        if (r != KW_OK) {
            r = store_fail(resp, r, "prekey");
            goto out;
        }
        if (kw_api_put_b64(d, "prekey", pk.cur, pk.cur_len) != KW_OK ||
            (pk.prev != NULL && kw_api_put_b64(d, "previous", pk.prev, pk.prev_len) != KW_OK)) {
            kw_store_msg_prekeys_clear(&pk);
            r = KW_ERR_NOMEM;
            goto out;
        }
        kw_store_msg_prekeys_clear(&pk);
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(roster);
    free(list);
    kw_store_account_clear(&acct);
    return r;
}

const kw_http_route kw_api_msg_routes[] = {
    {"POST", "/v1/msg/send", msg_send, MSG_SEND_BODY_LIMIT},
    {"GET", "/v1/msg/fetch", msg_fetch, 0},
    {"GET", "/v1/msg/fetch/{}", msg_fetch_after, 0},
    {"POST", "/v1/msg/ack", msg_ack, 0},
    {"POST", "/v1/msg/prekey", msg_prekey, 0},
    {"GET", "/v1/msg/keys/{}", msg_keys, 0},
};
const size_t kw_api_msg_nroutes = sizeof(kw_api_msg_routes) / sizeof(kw_api_msg_routes[0]);

/* ---- the expiry sweep ---- */

struct kw_api_msg {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    int64_t every;
    kw_server *srv;
};

static void *msg_sweeper(void *arg)
{
    struct kw_api_msg *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)m->every;
        while (!m->stopping && pthread_cond_timedwait(&m->cv, &m->mu, &until) != ETIMEDOUT)
            ;
        if (m->stopping)
            break;
        pthread_mutex_unlock(&m->mu);
        size_t removed = 0;
        int r = kw_store_msg_expire(m->srv->store, kw_api_now(m->srv) - KW_STORE_MSG_ID_KEEP, &removed);
        if (r != KW_OK && r != KW_ERR_UNSUPPORTED)
            fprintf(stderr, "level=error event=msg_expire error=\"%s\"\n", kw_strerror(r));
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int kw_api_msg_start(kw_server *srv)
{
    const char *v = srv->cfg != NULL ? kw_config_get(srv->cfg, "msg.sweep_seconds") : NULL;
    int64_t every = 3600;
    if (v != NULL) {
        char *end = NULL;
        long long x = strtoll(v, &end, 10);
        if (end == v || *end != '\0' || x < 1 || x > 7 * 24 * 3600) {
            fprintf(stderr, "level=error event=config key=msg.sweep_seconds error=\"1..604800 seconds\"\n");
            return KW_ERR_FORMAT;
        }
        every = (int64_t)x;
    }
    struct kw_api_msg *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return KW_ERR_NOMEM;
    m->every = every;
    m->srv = srv;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (pthread_create(&m->thread, NULL, msg_sweeper, m) != 0) {
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
        free(m);
        return KW_ERR_SYSTEM;
    }
    srv->msg = m;
    return KW_OK;
}

void kw_api_msg_stop(kw_server *srv)
{
    struct kw_api_msg *m = srv->msg;
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m);
    srv->msg = NULL;
}
