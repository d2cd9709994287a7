/*
 * server/api/messages.c — end-to-end message relay (docs/api.md,
 * "Messages"): per-device mailboxes and signed prekeys.
 *
 *   POST /v1/msg/send          {envelope, devices:[id...]}  → {id, devices}
 *                              or the envelope as an octet-stream body
 *   GET  /v1/msg/fetch         → {messages:[{seq, id, envelope}], more}
 *   GET  /v1/msg/fetch/{after} (entries with seq > after)
 *   GET  /v1/msg/fetch-raw[/{after}] → the same entries as octet-stream
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
#include <stdatomic.h>
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

/* POST /v1/msg/send in either form: JSON {envelope, devices} (the
 * mailboxes listed must be exactly the envelope's wrap devices), or the
 * envelope itself as an application/octet-stream body, whose wrap devices
 * are the mailboxes (no JSON parse, no base64). Same checks either way. */
static int msg_send(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"envelope", "devices", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    size_t ndev = 0, elen = 0;
    uint8_t *env_owned = NULL;
    const uint8_t *env_bytes = NULL;
    uint8_t (*devs)[16] = NULL;
    kw_envelope *env = NULL;
    char *text = NULL;
    int r;
    if ((r = kw_api_auth(req, resp, true, &caller)) != KW_OK)
        return r;
    if (req->binary) {
        if (req->raw_len == 0)
            return kw_http_fail(resp, KW_ERR_FORMAT, "the envelope is empty");
        if (req->raw_len > KW_STORE_MSG_ENVELOPE_MAX)
            return kw_http_fail(resp, KW_ERR_TOO_LARGE, "the envelope is larger than %zu bytes",
                                (size_t)KW_STORE_MSG_ENVELOPE_MAX);
        env_bytes = req->raw;
        elen = req->raw_len;
    } else if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK) {
        return r;
    }
    if ((devs = calloc(KW_ENVELOPE_WRAPS_MAX, sizeof(*devs))) == NULL ||
        (env = malloc(sizeof(*env))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if (!req->binary) {
        if ((r = kw_api_get_b64(resp, req->body, "envelope", 1, KW_STORE_MSG_ENVELOPE_MAX, &env_owned,
                                &elen)) != KW_OK ||
            (r = get_ids(resp, req->body, "devices", KW_ENVELOPE_WRAPS_MAX, devs, &ndev)) != KW_OK)
            goto out;
        env_bytes = env_owned;
    }
    if ((r = kw_envelope_decode(env, env_bytes, elen)) != KW_OK) {
        r = kw_http_fail(resp, r, "the envelope does not parse (%s)", kw_strerror(r));
        goto out;
    }
    if (memcmp(env->sender_device, caller.device_id, 16) != 0) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "the envelope names another sender device");
        goto out;
    }
    if (req->binary) {
        /* the wrap devices are distinct (kw_envelope_decode checks) */
        ndev = env->nwraps;
        for (size_t i = 0; i < ndev; i++)
            memcpy(devs[i], env->wraps[i].device_id, 16);
    } else {
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
    /* {"id":"<22>","devices":N}: written directly (no escaping needed) */
    char id[32];
    if ((text = malloc(80)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_b64url_encode(id, sizeof(id), env->id, 16);
    int w = snprintf(text, 80, "{\"id\":\"%s\",\"devices\":%zu}", id, ndev);
    resp->status = 200;
    resp->text = text; /* transferred */
    resp->text_len = (size_t)w;
    resp->content_type = "application/json";
    text = NULL;
    r = KW_OK;
out:
    free(text);
    free(env_owned);
    free(devs);
    free(env);
    return r;
}

/* The raw fetch answer (application/octet-stream), all integers big-endian:
 *   "KWM1" | flags u8 (bit 0: more entries remain) | count u32 |
 *   count x (seq u64 | id 16 bytes | length u32 | envelope) */
#define MSG_RAW_MAGIC "KWM1"
#define MSG_RAW_HEAD 9
#define MSG_RAW_ENTRY_HEAD 28

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* The JSON fetch answer is written as JSON text directly: it is mostly
 * base64url (no escaping needed) and up to ~2.7 MB, which a json_t tree
 * would copy and escape byte by byte. */
static int fetch_after(kw_http_req *req, kw_http_resp *resp, int64_t after, bool raw)
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
        cap += raw ? MSG_RAW_ENTRY_HEAD + items[i].len : 96 + kw_b64url_encoded_len(items[i].len);
    if ((text = malloc(cap)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if (raw) {
        uint8_t *b = (uint8_t *)text;
        memcpy(b, MSG_RAW_MAGIC, 4);
        b[4] = more ? 1 : 0;
        put_be(b + 5, n, 4);
        o = MSG_RAW_HEAD;
        for (size_t i = 0; i < n; i++) {
            put_be(b + o, (uint64_t)items[i].seq, 8);
            memcpy(b + o + 8, items[i].msg_id, 16);
            put_be(b + o + 24, items[i].len, 4);
            memcpy(b + o + MSG_RAW_ENTRY_HEAD, items[i].envelope, items[i].len);
            o += MSG_RAW_ENTRY_HEAD + items[i].len;
        }
    } else {
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
    }
    if (o >= cap) {
        r = KW_ERR_INTERNAL;
        goto out;
    }
    resp->status = 200;
    resp->text = text; /* transferred */
    resp->text_len = o;
    resp->content_type = raw ? "application/octet-stream" : "application/json";
    text = NULL;
    r = KW_OK;
out:
    free(text);
    kw_store_msg_items_free(&items, n);
    return r;
}

static int fetch_position(kw_http_req *req, kw_http_resp *resp, bool raw)
{
    const char *p = req->params[0];
    char *end = NULL;
    long long v = strtoll(p, &end, 10);
    if (p[0] < '0' || p[0] > '9' || *end != '\0' || strlen(p) > 18 || v < 0)
        return kw_http_fail(resp, KW_ERR_FORMAT, "the position is a non-negative integer");
    return fetch_after(req, resp, (int64_t)v, raw);
}

static int msg_fetch(kw_http_req *req, kw_http_resp *resp)
{
    return fetch_after(req, resp, 0, false);
}

static int msg_fetch_after(kw_http_req *req, kw_http_resp *resp)
{
    return fetch_position(req, resp, false);
}

static int msg_fetch_raw(kw_http_req *req, kw_http_resp *resp)
{
    return fetch_after(req, resp, 0, true);
}

static int msg_fetch_raw_after(kw_http_req *req, kw_http_resp *resp)
{
    return fetch_position(req, resp, true);
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
    {"POST", "/v1/msg/send", msg_send, MSG_SEND_BODY_LIMIT | KW_HTTP_BINARY},
    {"GET", "/v1/msg/fetch", msg_fetch, 0},
    {"GET", "/v1/msg/fetch/{}", msg_fetch_after, 0},
    {"GET", "/v1/msg/fetch-raw", msg_fetch_raw, 0},
    {"GET", "/v1/msg/fetch-raw/{}", msg_fetch_raw_after, 0},
    {"POST", "/v1/msg/ack", msg_ack, 0},
    {"POST", "/v1/msg/prekey", msg_prekey, 0},
    {"GET", "/v1/msg/keys/{}", msg_keys, 0},
};
const size_t kw_api_msg_nroutes = sizeof(kw_api_msg_routes) / sizeof(kw_api_msg_routes[0]);

/* ---- the expiry sweep and the session cache ---- */

/* The verified session cache of kw_api_auth (api.c), kept here because the
 * relay's requests are where it pays: a token hash → (account, device,
 * device state, expiry) copied from the store after a full check. An entry
 * is used only while the store's watch generation is the one read BEFORE
 * the store lookup that filled it: every change of a session or of a
 * device's state in this process bumps the generation inside the writing
 * transaction (kw_store_msg_auth_watch), before it commits and before its
 * request is answered, so a revoked session, a signed-out token or a
 * removed device is refused by the very next request. Expiry is checked on
 * every hit; an entry also lives at most AUTH_MAX_AGE seconds. Only where
 * the store can watch (SQLite: one keywardd per database); on PostgreSQL,
 * where other nodes revoke, every request reads the store. Entries hold
 * token hashes (like the store), compared in constant time and wiped. */
#define AUTH_SLOTS 1024 /* power of two */
#define AUTH_MAX_AGE 10 /* seconds */

typedef struct {
    bool used;
    uint8_t hash[KW_STORE_HASH_BYTES];
    uint64_t gen;
    int64_t account_id;
    uint8_t device_id[KW_STORE_ID_BYTES];
    int device_state;
    int64_t expires_at;
    int64_t seen_at;   /* last device touch */
    int64_t cached_at;
} auth_slot;

struct kw_api_msg {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    int64_t every;
    kw_server *srv;
    /* the session cache */
    bool auth_on;
    _Atomic uint64_t auth_gen;
    pthread_mutex_t auth_mu;
    auth_slot *slots; /* AUTH_SLOTS */
};

static void auth_changed(void *arg)
{
    struct kw_api_msg *m = arg;
    atomic_fetch_add(&m->auth_gen, 1);
}

static auth_slot *auth_slot_of(struct kw_api_msg *m, const uint8_t hash[KW_STORE_HASH_BYTES])
{
    uint32_t i = (uint32_t)hash[0] | (uint32_t)hash[1] << 8 | (uint32_t)hash[2] << 16;
    return &m->slots[i & (AUTH_SLOTS - 1)];
}

int kw_api_msg_auth_get(kw_server *srv, const uint8_t hash[KW_STORE_HASH_BYTES], int64_t now,
                        kw_api_caller *caller, int64_t *expires_at, bool *touch, uint64_t *gen)
{
    struct kw_api_msg *m = srv != NULL ? srv->msg : NULL;
    *touch = false;
    *gen = 0;
    if (m == NULL || !m->auth_on)
        return KW_ERR_UNSUPPORTED;
    int r = KW_ERR_NOT_FOUND;
    pthread_mutex_lock(&m->auth_mu);
    uint64_t g = atomic_load(&m->auth_gen);
    auth_slot *e = auth_slot_of(m, hash);
    if (e->used && sodium_memcmp(e->hash, hash, KW_STORE_HASH_BYTES) == 0) {
        if (e->gen != g || e->expires_at <= now || now - e->cached_at >= AUTH_MAX_AGE ||
            now < e->cached_at) {
            sodium_memzero(e, sizeof(*e)); /* stale: the store decides */
        } else {
            caller->account_id = e->account_id;
            memcpy(caller->device_id, e->device_id, KW_STORE_ID_BYTES);
            caller->device_state = e->device_state;
            *expires_at = e->expires_at;
            if (e->seen_at < now) {
                e->seen_at = now; /* one touch per device entry and second */
                *touch = true;
            }
            r = KW_OK;
        }
    }
    pthread_mutex_unlock(&m->auth_mu);
    *gen = g;
    return r;
}

void kw_api_msg_auth_put(kw_server *srv, uint64_t gen, const kw_api_caller *caller, int64_t expires_at,
                         int64_t seen_at, int64_t now)
{
    struct kw_api_msg *m = srv != NULL ? srv->msg : NULL;
    if (m == NULL || !m->auth_on)
        return;
    pthread_mutex_lock(&m->auth_mu);
    if (atomic_load(&m->auth_gen) == gen) { /* else it may be stale already */
        auth_slot *e = auth_slot_of(m, caller->session_hash);
        e->used = true;
        memcpy(e->hash, caller->session_hash, KW_STORE_HASH_BYTES);
        e->gen = gen;
        e->account_id = caller->account_id;
        memcpy(e->device_id, caller->device_id, KW_STORE_ID_BYTES);
        e->device_state = caller->device_state;
        e->expires_at = expires_at;
        e->seen_at = seen_at;
        e->cached_at = now;
    }
    pthread_mutex_unlock(&m->auth_mu);
}

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
    /* msg.auth_cache = off turns the session cache off (on by default where
     * the store can watch sessions, see above) */
    const char *ac = srv->cfg != NULL ? kw_config_get(srv->cfg, "msg.auth_cache") : NULL;
    if (ac != NULL && strcmp(ac, "on") != 0 && strcmp(ac, "off") != 0) {
        fprintf(stderr, "level=error event=config key=msg.auth_cache error=\"on or off\"\n");
        return KW_ERR_FORMAT;
    }
    struct kw_api_msg *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return KW_ERR_NOMEM;
    m->every = every;
    m->srv = srv;
    atomic_init(&m->auth_gen, 1);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    pthread_mutex_init(&m->auth_mu, NULL);
    if (ac == NULL || strcmp(ac, "on") == 0) {
        m->slots = calloc(AUTH_SLOTS, sizeof(*m->slots));
        int r = m->slots == NULL ? KW_ERR_NOMEM : kw_store_msg_auth_watch(srv->store, auth_changed, m);
        if (r == KW_OK)
            m->auth_on = true;
        else if (r != KW_ERR_UNSUPPORTED)
            fprintf(stderr, "level=warn event=msg_auth_cache state=off error=\"%s\"\n", kw_strerror(r));
    }
    if (pthread_create(&m->thread, NULL, msg_sweeper, m) != 0) {
        if (m->auth_on)
            (void)kw_store_msg_auth_watch(srv->store, NULL, NULL);
        free(m->slots);
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->auth_mu);
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
    if (m->auth_on)
        (void)kw_store_msg_auth_watch(srv->store, NULL, NULL);
    srv->msg = NULL;
    if (m->slots != NULL) {
        sodium_memzero(m->slots, AUTH_SLOTS * sizeof(*m->slots));
        free(m->slots);
    }
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->auth_mu);
    free(m);
}
