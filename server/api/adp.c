/*
 * Advanced Data Protection (docs/api.md "ADP"): custody copies of service
 * keys in standard protection, the ADP switch, device capabilities, web
 * access under ADP, passcode escrow.
 *
 * The switch lives in the signed roster (keyward/roster.h, flag bit
 * KW_ROSTER_FLAG_ADP): /v1/adp/enable and /v1/adp/disable take a roster of
 * version current+1, signed by the account key, listing exactly the same
 * devices, differing from the current roster in the ADP bit only. The
 * server's adp_state table is a mirror for its own decisions (refusing
 * custody copies under ADP); clients trust only the signed roster.
 *
 * Custody copies: the service key itself travels (TLS) to the server, which
 * wraps it at once with the custody provider (server/custody/custody.h)
 * bound to (account, category, generation) and keeps only the wrap. Never
 * for the always-end-to-end categories; never for the ADP categories while
 * ADP is on. Category classes come from config (adp.categories_always,
 * adp.categories_adp, adp.categories_interop: comma-separated); a category
 * in no list counts as an ADP category.
 *
 * Enabling ADP needs a recovery method (a recovery key) and the ADP
 * capability declared by every trusted device; it deletes the custody
 * copies of the ADP categories in the same transaction as the roster (and
 * the keychain whose service keys the client rolled).
 *
 * Passcode escrow: the client stores a KK wrap under a key derived from a
 * passcode (Argon2id with the stored salt) and a verifier derived from the
 * same passcode; the server keeps the verifier wrapped by the custody
 * provider and hands the wrap out only for the right verifier, at most 10
 * wrong attempts in a row: the attempt that spends the last one deletes the
 * record before verifying.
 *
 * Web access: a web (browser) session asks for categories with an ephemeral
 * X25519 key; a trusted device approves with the service keys
 * HPKE-encrypted to that key; the grants live one hour.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "config.h"
#include "custody/custody.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/roster.h"
#include "store/adp.h"

#define ADP_CLASS_MAX 64
#define ADP_KEYBYTES 32
#define ADP_ESCROW_MAX 512
#define ADP_BODY_LIMIT (512u * 1024)
#define ADP_WEB_GRANT_TTL 3600
#define ADP_WEB_REQUEST_TTL 600
#define ADP_WEB_SEALED_MAX 256
#define ADP_PASSCODE_VERIFIERBYTES 32
#define ADP_PASSCODE_LABEL "passcode-verifier"

enum { CLASS_ALWAYS = 0, CLASS_ADP = 1, CLASS_INTEROP = 2 };
static const char *const class_names[] = {"always", "adp", "interop"};

#define ADP_CONTACT_WAIT_DEFAULT (3 * 24 * 3600)
#define ADP_CONTACT_LABEL "contact-unwrap"
#define ADP_CONTACT_PACKET_MAX 512
#define ADP_CONTACT_CODE_TTL 900

struct kw_api_adp {
    kw_custody *custody;
    int64_t contact_wait; /* seconds before a recovery contact's release */
    size_t n[3];
    char cat[3][ADP_CLASS_MAX][KW_STORE_ADP_CATEGORY_MAX + 1];
};

static const char *const default_classes[3] = {
    "keychain,passwords,health,messages",
    "backup,drive,photos,notes,reminders,bookmarks,voice-memos,wallet",
    "mail,contacts,calendar",
};
static const char *const class_keys[3] = {"adp.categories_always", "adp.categories_adp",
                                          "adp.categories_interop"};

static bool category_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32 || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static int parse_class(struct kw_api_adp *a, int cls, const char *list)
{
    char buf[KW_CONFIG_PATH_MAX];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *t = strtok_r(buf, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
        if (!category_ok(t) || a->n[cls] >= ADP_CLASS_MAX) {
            fprintf(stderr, "level=error event=adp key=%s error=\"bad category list\"\n", class_keys[cls]);
            return KW_ERR_INVALID_ARG;
        }
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < a->n[c]; i++)
                if (strcmp(a->cat[c][i], t) == 0) {
                    fprintf(stderr, "level=error event=adp key=%s error=\"category in two classes\"\n",
                            class_keys[cls]);
                    return KW_ERR_INVALID_ARG;
                }
        snprintf(a->cat[cls][a->n[cls]++], KW_STORE_ADP_CATEGORY_MAX + 1, "%s", t);
    }
    return KW_OK;
}

static int category_class(const struct kw_api_adp *a, const char *cat)
{
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < a->n[c]; i++)
            if (strcmp(a->cat[c][i], cat) == 0)
                return c;
    return CLASS_ADP;
}

int kw_api_adp_start(kw_server *srv)
{
    struct kw_api_adp *a = calloc(1, sizeof(*a));
    int r;
    if (a == NULL)
        return KW_ERR_NOMEM;
    for (int c = 0; c < 3; c++) {
        const char *v = srv->cfg != NULL ? kw_config_get(srv->cfg, class_keys[c]) : NULL;
        if ((r = parse_class(a, c, v != NULL ? v : default_classes[c])) != KW_OK) {
            free(a);
            return r;
        }
    }
    a->contact_wait = ADP_CONTACT_WAIT_DEFAULT;
    const char *wait = srv->cfg != NULL ? kw_config_get(srv->cfg, "adp.contact_wait") : NULL;
    if (wait != NULL) {
        char *end = NULL;
        long long v = strtoll(wait, &end, 10);
        if (end == wait || *end != '\0' || v < 0 || v > 90LL * 24 * 3600) {
            fprintf(stderr, "level=error event=adp key=adp.contact_wait error=\"seconds, 0 to 90 days\"\n");
            free(a);
            return KW_ERR_INVALID_ARG;
        }
        a->contact_wait = v;
    }
    r = kw_custody_open(&a->custody, srv->cfg, srv->cfg != NULL ? srv->cfg->data_dir : ".");
    if (r != KW_OK) {
        fprintf(stderr, "level=error event=adp error=\"custody provider unavailable: %s\"\n",
                kw_errname(r));
        free(a);
        return r;
    }
    srv->adp = a;
    return KW_OK;
}

void kw_api_adp_stop(kw_server *srv)
{
    if (srv == NULL || srv->adp == NULL)
        return;
    kw_custody_close(&srv->adp->custody);
    free(srv->adp);
    srv->adp = NULL;
}

static int need_area(kw_server *srv, kw_http_resp *resp)
{
    if (srv->adp == NULL)
        return kw_http_fail(resp, KW_ERR_UNSUPPORTED, "ADP is not available on this server");
    return KW_OK;
}

/* ---- status and capabilities ---- */

static int add_classes(const struct kw_api_adp *a, json_t *out)
{
    json_t *cls = json_object();
    if (cls == NULL || json_object_set_new(out, "classes", cls) != 0)
        return KW_ERR_NOMEM;
    for (int c = 0; c < 3; c++) {
        json_t *arr = json_array();
        if (arr == NULL || json_object_set_new(cls, class_names[c], arr) != 0)
            return KW_ERR_NOMEM;
        for (size_t i = 0; i < a->n[c]; i++)
            if (json_array_append_new(arr, json_string(a->cat[c][i])) != 0)
                return KW_ERR_NOMEM;
    }
    return KW_OK;
}

static int adp_status(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_state state;
    kw_store_adp_custody *cust = NULL;
    kw_store_device *devs = NULL;
    size_t ncust = 0, ndev = 0, wlen = 0;
    uint8_t *wrap = NULL, auth[32];
    int64_t gen = 0, left = 0;
    json_t *out = NULL, *arr;
    int r;
    /* the account-security page shows the state too: web sessions welcome */
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth_any(req, resp, false, &caller)) != KW_OK)
        return r;
    if ((r = kw_store_adp_state_get(srv->store, caller.account_id, &state)) != KW_OK ||
        (r = kw_store_adp_custody_list(srv->store, caller.account_id, &cust, &ncust)) != KW_OK ||
        (r = kw_store_device_list(srv->store, caller.account_id, &devs, &ndev)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "ADP state");
        goto out;
    }
    int rr = kw_store_recovery_get(srv->store, caller.account_id, &gen, &wrap, &wlen, auth);
    sodium_memzero(auth, sizeof(auth));
    int pr = kw_store_adp_passcode_exists(srv->store, caller.account_id, &left, NULL);
    kw_store_adp_contact *cts = NULL;
    size_t ncts = 0;
    if ((r = kw_store_adp_contact_list(srv->store, caller.account_id, 0, &cts, &ncts)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "recovery contacts");
        goto out;
    }
    kw_store_adp_contacts_free(cts, ncts);
    r = KW_ERR_NOMEM;
    out = json_pack("{s:b,s:b,s:I,s:I,s:b,s:b,s:I,s:s}", "enabled", state.enabled, "web_access",
                    state.web_access, "roster_version", (json_int_t)state.roster_version, "changed_at",
                    (json_int_t)state.changed_at, "recovery_key", rr == KW_OK, "passcode_escrow",
                    pr == KW_OK, "passcode_attempts_left", (json_int_t)(pr == KW_OK ? left : 0),
                    "custody_provider", kw_custody_name(srv->adp->custody));
    if (out == NULL || add_classes(srv->adp, out) != KW_OK ||
        json_object_set_new(out, "recovery_contacts", json_integer((json_int_t)ncts)) != 0)
        goto out;
    if ((arr = json_array()) == NULL || json_object_set_new(out, "custody", arr) != 0)
        goto out;
    for (size_t i = 0; i < ncust; i++)
        if (json_array_append_new(arr, json_pack("{s:s,s:I}", "category", cust[i].category,
                                                 "generation", (json_int_t)cust[i].generation)) != 0)
            goto out;
    if ((arr = json_array()) == NULL || json_object_set_new(out, "devices", arr) != 0)
        goto out;
    for (size_t i = 0; i < ndev; i++) {
        int64_t caps = 0;
        if (devs[i].state != KW_DEVICE_TRUSTED)
            continue;
        if ((r = kw_store_adp_caps_get(srv->store, devs[i].id, &caps)) != KW_OK) {
            r = kw_api_store_fail(resp, r, "device capabilities");
            goto out;
        }
        r = KW_ERR_NOMEM;
        json_t *d = json_pack("{s:s,s:b}", "name", devs[i].name, "adp_capable",
                              (caps & KW_STORE_ADP_CAP_ADP) != 0);
        if (d == NULL || json_array_append_new(arr, d) != 0 ||
            kw_api_put_b64(d, "id", devs[i].id, KW_STORE_ID_BYTES) != KW_OK)
            goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(wrap);
    free(devs);
    kw_store_adp_custody_free(cust, ncust);
    return r;
}

static int adp_capability(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"adp", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, false, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    json_t *v = json_object_get(req->body, "adp");
    if (!json_is_boolean(v))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'adp' must be true or false");
    r = kw_store_adp_caps_set(srv->store, caller.device_id, json_is_true(v) ? KW_STORE_ADP_CAP_ADP : 0,
                              kw_api_now(srv));
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "device capabilities");
    kw_http_json(resp, 200, json_pack("{s:b}", "adp", json_is_true(v)));
    return KW_OK;
}

/* ---- custody copies ---- */

typedef struct {
    kw_store_adp_custody *list;
    size_t n;
} escrow_set;

static void escrow_free(escrow_set *e)
{
    kw_store_adp_custody_free(e->list, e->n);
    e->list = NULL;
    e->n = 0;
}

/* Reads keys [{category, generation, key}], refusing the always-end-to-end
 * categories (and, when adp_on, the ADP ones), and wraps each key with the
 * custody provider. */
static int read_escrow(kw_server *srv, kw_http_resp *resp, json_t *arr, int64_t account_id,
                       bool adp_on, escrow_set *e)
{
    static const char *const fields[] = {"category", "generation", "key", NULL};
    uint8_t key[ADP_KEYBYTES], wrap[KW_CUSTODY_WRAP_MAX];
    size_t wlen = 0;
    int r = KW_OK;
    memset(e, 0, sizeof(*e));
    if (!json_is_array(arr))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'keys' must be an array");
    size_t n = json_array_size(arr);
    if (n > ADP_ESCROW_MAX)
        return kw_http_fail(resp, KW_ERR_TOO_LARGE, "too many keys");
    if ((e->list = calloc(n + 1, sizeof(*e->list))) == NULL)
        return KW_ERR_NOMEM;
    for (size_t i = 0; i < n && r == KW_OK; i++) {
        json_t *o = json_array_get(arr, i);
        const char *cat = NULL;
        int64_t gen = 0;
        if (!json_is_object(o)) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "each key is {category, generation, key}");
            break;
        }
        if ((r = kw_api_only_fields(resp, o, fields)) != KW_OK ||
            (r = kw_api_get_str(resp, o, "category", 32, &cat)) != KW_OK ||
            (r = kw_api_get_int(resp, o, "generation", 1, 1024, &gen)) != KW_OK ||
            (r = kw_api_get_b64_fixed(resp, o, "key", key, sizeof(key))) != KW_OK)
            break;
        if (!category_ok(cat)) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "categories are 1-32 bytes of a-z 0-9 -");
            break;
        }
        int cls = category_class(srv->adp, cat);
        if (cls == CLASS_ALWAYS) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "category %s is always end to end: no custody copy",
                             cat);
            break;
        }
        if (cls == CLASS_ADP && adp_on) {
            r = kw_http_fail(resp, KW_ERR_CONFLICT, "ADP is on: no custody copy of %s", cat);
            break;
        }
        if ((r = kw_custody_wrap(srv->adp->custody, account_id, cat, gen, key, sizeof(key), wrap,
                                 sizeof(wrap), &wlen)) != KW_OK) {
            r = kw_http_fail(resp, KW_ERR_INTERNAL, "custody provider failed");
            break;
        }
        snprintf(e->list[i].category, sizeof(e->list[i].category), "%s", cat);
        e->list[i].generation = gen;
        if ((e->list[i].wrap = malloc(wlen)) == NULL) {
            r = KW_ERR_NOMEM;
            break;
        }
        memcpy(e->list[i].wrap, wrap, wlen);
        e->list[i].wrap_len = wlen;
        e->n = i + 1;
    }
    sodium_memzero(key, sizeof(key));
    if (r != KW_OK)
        escrow_free(e);
    return r;
}

static const char *const *adp_categories(const struct kw_api_adp *a, const char *out[ADP_CLASS_MAX])
{
    for (size_t i = 0; i < a->n[CLASS_ADP]; i++)
        out[i] = a->cat[CLASS_ADP][i];
    return out;
}

static int adp_escrow(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"keys", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_state state;
    escrow_set e = {0};
    const char *adp_only[ADP_CLASS_MAX];
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    if ((r = kw_store_adp_state_get(srv->store, caller.account_id, &state)) != KW_OK)
        return kw_api_store_fail(resp, r, "ADP state");
    if ((r = read_escrow(srv, resp, json_object_get(req->body, "keys"), caller.account_id,
                         state.enabled, &e)) != KW_OK)
        return r;
    if (e.n == 0) {
        kw_http_json(resp, 200, json_pack("{s:i}", "stored", 0));
        return KW_OK;
    }
    r = kw_store_adp_custody_put(srv->store, caller.account_id, e.list, e.n,
                                 adp_categories(srv->adp, adp_only), srv->adp->n[CLASS_ADP],
                                 kw_api_now(srv));
    if (r == KW_ERR_CONFLICT)
        r = kw_http_fail(resp, r, "ADP is on: no custody copies of ADP categories");
    else if (r != KW_OK)
        r = kw_api_store_fail(resp, r, "custody copies");
    else
        kw_http_json(resp, 200, json_pack("{s:I}", "stored", (json_int_t)e.n));
    escrow_free(&e);
    return r;
}

/* ---- the switch ---- */

static bool same_devices(const kw_roster *a, const kw_roster *b)
{
    if (a->ndevices != b->ndevices)
        return false;
    for (size_t i = 0; i < a->ndevices; i++) {
        const kw_roster_device *x = &a->devices[i], *y = &b->devices[i];
        if (memcmp(x->id, y->id, sizeof(x->id)) != 0 ||
            memcmp(x->identity_pk, y->identity_pk, sizeof(x->identity_pk)) != 0 ||
            memcmp(x->hpke_pk, y->hpke_pk, sizeof(x->hpke_pk)) != 0)
            return false;
    }
    return true;
}

/* Checks the new roster: signed by the account key, current+1, same
 * devices, same flags but the ADP bit, which must be `enable`. */
static int check_switch_roster(kw_server *srv, kw_http_resp *resp, const kw_store_account *acct,
                               const uint8_t *blob, size_t len, bool enable, int64_t *version)
{
    kw_roster *cur = malloc(sizeof(*cur)), *next = malloc(sizeof(*next));
    uint8_t *cur_blob = NULL;
    size_t cur_len = 0;
    int r;
    if (cur == NULL || next == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kw_store_roster_latest(srv->store, acct->id, version, &cur_blob, &cur_len)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "roster");
        goto out;
    }
    if (kw_roster_open(cur, cur_blob, cur_len, acct->account_pk) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_INTERNAL, "the stored roster does not verify");
        goto out;
    }
    if ((r = kw_roster_open(next, blob, len, acct->account_pk)) != KW_OK) {
        r = kw_http_fail(resp, r == KW_ERR_VERIFY ? KW_ERR_VERIFY : KW_ERR_FORMAT,
                         "the roster does not verify under the account key");
        goto out;
    }
    if (next->name_len != strlen(acct->name) || memcmp(next->name, acct->name, next->name_len) != 0) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "roster names another account");
        goto out;
    }
    if (next->version != (uint64_t)*version + 1) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "roster version must be %lld", (long long)*version + 1);
        goto out;
    }
    if (!same_devices(cur, next)) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "the ADP switch keeps the same devices");
        goto out;
    }
    uint8_t want = (uint8_t)((cur->flags & ~KW_ROSTER_FLAG_ADP) | (enable ? KW_ROSTER_FLAG_ADP : 0));
    if (next->flags != want) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "the roster must differ in the ADP bit only (ADP %s)",
                         enable ? "on" : "off");
        goto out;
    }
    if (((cur->flags & KW_ROSTER_FLAG_ADP) != 0) == enable) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "ADP is already %s", enable ? "on" : "off");
        goto out;
    }
    *version += 1;
    r = KW_OK;
out:
    free(cur);
    free(next);
    free(cur_blob);
    return r;
}

/* A recovery method exists: a recovery key or a recovery contact. */
static int has_recovery(kw_server *srv, int64_t account_id, bool *yes)
{
    uint8_t *wrap = NULL, auth[32];
    size_t len = 0, n = 0;
    int64_t gen = 0;
    kw_store_adp_contact *cts = NULL;
    int r = kw_store_recovery_get(srv->store, account_id, &gen, &wrap, &len, auth);
    sodium_memzero(auth, sizeof(auth));
    free(wrap);
    *yes = r == KW_OK;
    if (r != KW_OK && r != KW_ERR_NOT_FOUND)
        return r;
    if ((r = kw_store_adp_contact_list(srv->store, account_id, 0, &cts, &n)) != KW_OK)
        return r;
    *yes = *yes || n > 0;
    kw_store_adp_contacts_free(cts, n);
    return KW_OK;
}

static int all_capable(kw_server *srv, kw_http_resp *resp, int64_t account_id)
{
    kw_store_device *devs = NULL;
    size_t n = 0;
    int r = kw_store_device_list(srv->store, account_id, &devs, &n);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "devices");
    for (size_t i = 0; i < n && r == KW_OK; i++) {
        int64_t caps = 0;
        if (devs[i].state != KW_DEVICE_TRUSTED)
            continue;
        if ((r = kw_store_adp_caps_get(srv->store, devs[i].id, &caps)) != KW_OK)
            r = kw_api_store_fail(resp, r, "device capabilities");
        else if ((caps & KW_STORE_ADP_CAP_ADP) == 0)
            r = kw_http_fail(resp, KW_ERR_CONFLICT,
                             "device %s has not declared ADP support: update it and run `keyward adp "
                             "status` there, or remove it",
                             devs[i].name);
    }
    free(devs);
    return r;
}

static int adp_switch(kw_http_req *req, kw_http_resp *resp, bool enable)
{
    static const char *const on_fields[] = {"roster", "keychain", "keychain_version", NULL};
    static const char *const off_fields[] = {"roster", "keys", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account acct = {0};
    uint8_t *roster = NULL, *keychain = NULL;
    size_t roster_len = 0, keychain_len = 0;
    int64_t version = 0, kc_version = 0;
    const char *drop[ADP_CLASS_MAX];
    escrow_set e = {0};
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, enable ? on_fields : off_fields)) != KW_OK)
        return r;
    if ((r = kw_api_get_b64(resp, req->body, "roster", 1, KW_ROSTER_MAXBYTES, &roster, &roster_len)) !=
        KW_OK)
        goto out;
    if (enable && json_object_get(req->body, "keychain") != NULL &&
        ((r = kw_api_get_b64(resp, req->body, "keychain", 1, KW_API_KEYCHAIN_MAX, &keychain,
                             &keychain_len)) != KW_OK ||
         (r = kw_api_get_int(resp, req->body, "keychain_version", 2, INT64_MAX - 1, &kc_version)) !=
             KW_OK))
        goto out;
    if ((r = kw_store_account_get(srv->store, caller.account_id, &acct)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    if ((r = check_switch_roster(srv, resp, &acct, roster, roster_len, enable, &version)) != KW_OK)
        goto out;
    if (enable) {
        bool rec = false;
        if ((r = has_recovery(srv, caller.account_id, &rec)) != KW_OK) {
            r = kw_api_store_fail(resp, r, "recovery key");
            goto out;
        }
        if (!rec) {
            r = kw_http_fail(resp, KW_ERR_CONFLICT,
                             "ADP needs a recovery method first: create a recovery key "
                             "(`keyward recovery-key create`) or add a recovery contact");
            goto out;
        }
        if ((r = all_capable(srv, resp, caller.account_id)) != KW_OK)
            goto out;
    } else if (json_object_get(req->body, "keys") != NULL &&
               (r = read_escrow(srv, resp, json_object_get(req->body, "keys"), caller.account_id, false,
                                &e)) != KW_OK) {
        goto out;
    }
    kw_store_adp_switch sw = {.account_id = caller.account_id,
                              .enable = enable,
                              .roster_version = version,
                              .roster = roster,
                              .roster_len = roster_len,
                              .keychain_version = keychain != NULL ? kc_version : 0,
                              .keychain = keychain,
                              .keychain_len = keychain_len,
                              .drop = enable ? adp_categories(srv->adp, drop) : NULL,
                              .ndrop = enable ? srv->adp->n[CLASS_ADP] : 0,
                              .escrow = e.list,
                              .nescrow = e.n,
                              .now = kw_api_now(srv)};
    if ((r = kw_store_adp_switch_apply(srv->store, &sw)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "roster, keychain or ADP state");
        goto out;
    }
    fprintf(stderr, "level=info event=adp_switch account=%lld adp=%s roster_version=%lld\n",
            (long long)caller.account_id, enable ? "on" : "off", (long long)version);
    json_t *ok = json_pack("{s:b,s:I,s:I}", "enabled", enable, "roster_version",
                           (json_int_t)version, "escrowed", (json_int_t)e.n);
    kw_http_json(resp, 200, kw_api_kt_roster_answer(srv, acct.name, roster, roster_len, ok));
    r = KW_OK;
out:
    escrow_free(&e);
    free(roster);
    free(keychain);
    kw_store_account_clear(&acct);
    return r;
}

static int adp_enable(kw_http_req *req, kw_http_resp *resp)
{
    return adp_switch(req, resp, true);
}

static int adp_disable(kw_http_req *req, kw_http_resp *resp)
{
    return adp_switch(req, resp, false);
}

/* ---- web access ---- */

static int adp_web_access(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"on", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    json_t *v = json_object_get(req->body, "on");
    if (!json_is_boolean(v))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'on' must be true or false");
    r = kw_store_adp_web_access_set(srv->store, caller.account_id, json_is_true(v), kw_api_now(srv));
    if (r == KW_ERR_CONFLICT)
        return kw_http_fail(resp, r, "web access is a setting of ADP: turn ADP on first");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "web access");
    kw_http_json(resp, 200, json_pack("{s:b}", "web_access", json_is_true(v)));
    return KW_OK;
}

/* A web session asks for categories: {ephemeral_pk, categories: [..]}. */
static int web_request_add(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"ephemeral_pk", "categories", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_state state;
    kw_store_adp_web_request rq;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth_any(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    if (!caller.web)
        return kw_http_fail(resp, KW_ERR_FORMAT, "web access requests come from web sessions");
    memset(&rq, 0, sizeof(rq));
    if ((r = kw_api_get_b64_fixed(resp, req->body, "ephemeral_pk", rq.ephemeral_pk, 32)) != KW_OK)
        return r;
    json_t *cats = json_object_get(req->body, "categories"), *c;
    size_t i, len = 0;
    if (!json_is_array(cats) || json_array_size(cats) == 0 || json_array_size(cats) > 16)
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'categories' must list 1-16 categories");
    json_array_foreach(cats, i, c)
    {
        const char *s = json_string_value(c);
        if (s == NULL || !category_ok(s))
            return kw_http_fail(resp, KW_ERR_FORMAT, "categories are 1-32 bytes of a-z 0-9 -");
        size_t n = strlen(s);
        if (len + n + 1 > KW_STORE_ADP_WEB_CATEGORIES_MAX)
            return kw_http_fail(resp, KW_ERR_TOO_LARGE, "too many categories");
        if (len > 0)
            rq.categories[len++] = ',';
        memcpy(rq.categories + len, s, n + 1);
        len += n;
    }
    if ((r = kw_store_adp_state_get(srv->store, caller.account_id, &state)) != KW_OK)
        return kw_api_store_fail(resp, r, "ADP state");
    if (!state.enabled || !state.web_access)
        return kw_http_fail(resp, KW_ERR_CONFLICT,
                            "web access to end-to-end data is off for this account (`keyward web "
                            "access on` on a trusted device)");
    randombytes_buf(rq.id, sizeof(rq.id));
    rq.account_id = caller.account_id;
    memcpy(rq.web_session_id, caller.web_session_id, KW_STORE_ID_BYTES);
    rq.created_at = kw_api_now(srv);
    rq.expires_at = rq.created_at + ADP_WEB_REQUEST_TTL;
    if ((r = kw_store_adp_web_request_add(srv->store, &rq)) != KW_OK)
        return kw_api_store_fail(resp, r, "web access request");
    json_t *out = json_pack("{s:I}", "expires_at", (json_int_t)rq.expires_at);
    if (out == NULL || kw_api_put_b64(out, "request_id", rq.id, sizeof(rq.id)) != KW_OK) {
        json_decref(out);
        return KW_ERR_NOMEM;
    }
    kw_http_json(resp, 200, out);
    return KW_OK;
}

static int web_request_list(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_web_request *list = NULL;
    size_t n = 0;
    json_t *out = NULL, *arr = NULL;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK)
        return r;
    if ((r = kw_store_adp_web_request_list(srv->store, caller.account_id, kw_api_now(srv), &list, &n)) !=
        KW_OK)
        return kw_api_store_fail(resp, r, "web access requests");
    r = KW_ERR_NOMEM;
    if ((out = json_object()) == NULL || (arr = json_array()) == NULL ||
        json_object_set_new(out, "requests", arr) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s,s:I,s:I}", "categories", list[i].categories, "created_at",
                              (json_int_t)list[i].created_at, "expires_at",
                              (json_int_t)list[i].expires_at);
        if (o == NULL || json_array_append_new(arr, o) != 0 ||
            kw_api_put_b64(o, "request_id", list[i].id, KW_STORE_ID_BYTES) != KW_OK ||
            kw_api_put_b64(o, "web_session_id", list[i].web_session_id, KW_STORE_ID_BYTES) != KW_OK ||
            kw_api_put_b64(o, "ephemeral_pk", list[i].ephemeral_pk, 32) != KW_OK)
            goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(list);
    return r;
}

static bool listed(const char *csv, const char *cat)
{
    size_t n = strlen(cat);
    for (const char *p = csv; *p != '\0';) {
        const char *e = strchr(p, ',');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, cat, n) == 0)
            return true;
        if (e == NULL)
            break;
        p = e + 1;
    }
    return false;
}

static int web_request_approve(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"grants", NULL};
    static const char *const gfields[] = {"category", "generation", "sealed", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_web_request rq;
    kw_store_adp_web_grant *g = NULL;
    uint8_t id[KW_STORE_ID_BYTES];
    size_t n = 0;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_parse_id(resp, req->params[0], id)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    r = kw_store_adp_web_request_get(srv->store, id, &rq);
    if (r == KW_ERR_NOT_FOUND || (r == KW_OK && rq.account_id != caller.account_id))
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such web access request");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "web access request");
    json_t *arr = json_object_get(req->body, "grants");
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > ADP_ESCROW_MAX)
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'grants' must list 1-%d grants", ADP_ESCROW_MAX);
    n = json_array_size(arr);
    if ((g = calloc(n, sizeof(*g))) == NULL)
        return KW_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        const char *cat = NULL;
        if (!json_is_object(o)) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "each grant is {category, generation, sealed}");
            goto out;
        }
        if ((r = kw_api_only_fields(resp, o, gfields)) != KW_OK ||
            (r = kw_api_get_str(resp, o, "category", 32, &cat)) != KW_OK ||
            (r = kw_api_get_int(resp, o, "generation", 1, 1024, &g[i].generation)) != KW_OK ||
            (r = kw_api_get_b64(resp, o, "sealed", 1, ADP_WEB_SEALED_MAX, &g[i].sealed,
                                &g[i].sealed_len)) != KW_OK)
            goto out;
        if (!category_ok(cat) || !listed(rq.categories, cat)) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "category %s was not requested", cat);
            goto out;
        }
        snprintf(g[i].category, sizeof(g[i].category), "%s", cat);
    }
    int64_t now = kw_api_now(srv);
    r = kw_store_adp_web_approve(srv->store, caller.account_id, id, g, n, now + ADP_WEB_GRANT_TTL, now);
    if (r == KW_ERR_CONFLICT) {
        r = kw_http_fail(resp, r, "the request is no longer pending (approved, expired or refused)");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "web access grants");
        goto out;
    }
    fprintf(stderr, "level=info event=adp_web_release account=%lld grants=%zu\n",
            (long long)caller.account_id, n);
    kw_http_json(resp, 200, json_pack("{s:I,s:I}", "released", (json_int_t)n, "expires_at",
                                      (json_int_t)(now + ADP_WEB_GRANT_TTL)));
    r = KW_OK;
out:
    kw_store_adp_web_grants_free(g, n);
    return r;
}

static int web_grants(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_web_request rq;
    kw_store_adp_web_grant *g = NULL;
    uint8_t id[KW_STORE_ID_BYTES];
    size_t n = 0;
    json_t *out = NULL, *arr;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth_any(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_parse_id(resp, req->params[0], id)) != KW_OK)
        return r;
    r = kw_store_adp_web_request_get(srv->store, id, &rq);
    /* only the web session that asked sees the grants */
    if (r == KW_ERR_NOT_FOUND || (r == KW_OK && (!caller.web || rq.account_id != caller.account_id ||
                                                 sodium_memcmp(rq.web_session_id, caller.web_session_id,
                                                               KW_STORE_ID_BYTES) != 0)))
        return kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such web access request");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "web access request");
    if ((r = kw_store_adp_web_grants(srv->store, id, kw_api_now(srv), &g, &n)) != KW_OK)
        return kw_api_store_fail(resp, r, "web access grants");
    r = KW_ERR_NOMEM;
    const char *st = rq.state == KW_STORE_ADP_WEB_APPROVED ? (n > 0 ? "approved" : "expired")
                     : rq.state == KW_STORE_ADP_WEB_DENIED ? "denied"
                                                           : "pending";
    out = json_pack("{s:s,s:I}", "state", st, "expires_at", (json_int_t)rq.expires_at);
    if (out == NULL || (arr = json_array()) == NULL || json_object_set_new(out, "grants", arr) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s,s:I}", "category", g[i].category, "generation",
                              (json_int_t)g[i].generation);
        if (o == NULL || json_array_append_new(arr, o) != 0 ||
            kw_api_put_b64(o, "sealed", g[i].sealed, g[i].sealed_len) != KW_OK)
            goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    kw_store_adp_web_grants_free(g, n);
    return r;
}

/* ---- passcode escrow ---- */

static int passcode_put(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"salt", "verifier", "wrap", "generation", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_passcode p;
    uint8_t verifier[ADP_PASSCODE_VERIFIERBYTES], vwrap[KW_CUSTODY_WRAP_MAX];
    int64_t cur_gen = 0;
    int r;
    memset(&p, 0, sizeof(p));
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK)
        return r;
    if ((r = kw_api_get_b64_fixed(resp, req->body, "salt", p.salt, sizeof(p.salt))) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "verifier", verifier, sizeof(verifier))) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "wrap", 1, KW_API_WRAP_MAX, &p.blob, &p.blob_len)) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "generation", 1, INT64_MAX, &p.generation)) != KW_OK)
        goto out;
    if ((r = kw_api_kk_generation(srv, caller.account_id, &cur_gen)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "KK generation");
        goto out;
    }
    if (p.generation != cur_gen) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "the escrow must wrap generation %lld",
                         (long long)cur_gen);
        goto out;
    }
    if ((r = kw_custody_wrap(srv->adp->custody, caller.account_id, ADP_PASSCODE_LABEL, 0, verifier,
                             sizeof(verifier), vwrap, sizeof(vwrap), &p.verifier_len)) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_INTERNAL, "custody provider failed");
        goto out;
    }
    p.verifier = vwrap;
    if ((r = kw_store_adp_passcode_put(srv->store, caller.account_id, &p)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "passcode escrow");
        goto out;
    }
    kw_http_json(resp, 200, json_pack("{s:i}", "attempts_left", KW_STORE_ADP_PASSCODE_ATTEMPTS));
    r = KW_OK;
out:
    p.verifier = NULL;
    sodium_memzero(verifier, sizeof(verifier));
    kw_store_adp_passcode_clear(&p);
    return r;
}

static int passcode_delete(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_no_fields(req, resp)) != KW_OK)
        return r;
    if ((r = kw_store_adp_passcode_delete(srv->store, caller.account_id)) != KW_OK)
        return kw_api_store_fail(resp, r, "passcode escrow");
    kw_http_json(resp, 200, json_pack("{s:b}", "deleted", true));
    return KW_OK;
}

/* The salt (a pending device derives its keys from the passcode with it). */
static int passcode_salt(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t salt[KW_STORE_ADP_SALTBYTES];
    int64_t left = 0;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    r = kw_store_adp_passcode_exists(srv->store, caller.account_id, &left, salt);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, r, "the account has no passcode escrow (never set, or destroyed "
                                     "after 10 wrong passcodes)");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "passcode escrow");
    json_t *out = json_pack("{s:I}", "attempts_left", (json_int_t)left);
    if (out == NULL || kw_api_put_b64(out, "salt", salt, sizeof(salt)) != KW_OK) {
        json_decref(out);
        return KW_ERR_NOMEM;
    }
    kw_http_json(resp, 200, out);
    return KW_OK;
}

/* {verifier}: spends one attempt; the right verifier returns the wrap. */
static int passcode_open(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"verifier", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_passcode p;
    uint8_t verifier[ADP_PASSCODE_VERIFIERBYTES], stored[KW_CUSTODY_SECRET_MAX];
    size_t slen = 0;
    bool last = false;
    int r;
    memset(&p, 0, sizeof(p));
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, false, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "verifier", verifier, sizeof(verifier))) != KW_OK)
        return r;
    r = kw_store_adp_passcode_take_attempt(srv->store, caller.account_id, &p, &last);
    if (r == KW_ERR_NOT_FOUND) {
        r = kw_http_fail(resp, r, "the account has no passcode escrow (never set, or destroyed "
                                  "after 10 wrong passcodes)");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "passcode escrow");
        goto out;
    }
    bool ok = kw_custody_unwrap(srv->adp->custody, caller.account_id, ADP_PASSCODE_LABEL, 0, p.verifier,
                                p.verifier_len, stored, sizeof(stored), &slen) == KW_OK &&
              slen == sizeof(verifier) && sodium_memcmp(stored, verifier, sizeof(verifier)) == 0;
    if (!ok) {
        int64_t left = last ? 0 : p.attempts_left - 1;
        fprintf(stderr, "level=info event=adp_passcode_wrong account=%lld attempts_left=%lld\n",
                (long long)caller.account_id, (long long)left);
        if (last)
            r = kw_http_fail(resp, KW_ERR_VERIFY, "wrong passcode: that was the last attempt, the "
                                                  "escrow record is destroyed");
        else
            r = kw_http_fail(resp, KW_ERR_VERIFY, "wrong passcode: %lld attempts left",
                             (long long)left);
        goto out;
    }
    if (last) {
        /* the right passcode on the last attempt: the record is already
         * gone, store it back with a full budget */
        uint8_t vwrap[KW_CUSTODY_WRAP_MAX];
        size_t vlen = 0;
        kw_store_adp_passcode again = p;
        if (kw_custody_wrap(srv->adp->custody, caller.account_id, ADP_PASSCODE_LABEL, 0, verifier,
                            sizeof(verifier), vwrap, sizeof(vwrap), &vlen) == KW_OK) {
            again.verifier = vwrap;
            again.verifier_len = vlen;
            r = kw_store_adp_passcode_put(srv->store, caller.account_id, &again);
        }
    } else {
        r = kw_store_adp_passcode_success(srv->store, caller.account_id);
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "passcode escrow");
        goto out;
    }
    uint8_t *kc = NULL;
    size_t kc_len = 0;
    int64_t kc_version = 0;
    if ((r = kw_store_keychain_get(srv->store, caller.account_id, &kc_version, &kc, &kc_len)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "keychain");
        goto out;
    }
    json_t *out = json_pack("{s:I,s:I}", "generation", (json_int_t)p.generation, "keychain_version",
                            (json_int_t)kc_version);
    if (out == NULL || kw_api_put_b64(out, "wrap", p.blob, p.blob_len) != KW_OK ||
        kw_api_put_b64(out, "keychain", kc, kc_len) != KW_OK) {
        json_decref(out);
        free(kc);
        r = KW_ERR_NOMEM;
        goto out;
    }
    free(kc);
    kw_http_json(resp, 200, out);
    r = KW_OK;
out:
    sodium_memzero(verifier, sizeof(verifier));
    sodium_memzero(stored, sizeof(stored));
    kw_store_adp_passcode_clear(&p);
    return r;
}

/* ---- recovery contacts ---- */

static const char *contact_state_name(int st)
{
    return st == KW_STORE_ADP_CONTACT_WAITING    ? "waiting"
           : st == KW_STORE_ADP_CONTACT_RELEASED ? "released"
                                                 : "active";
}

/* {contact, contact_id, unwrap_key, kk_wrap, generation, packets: [{device_id, packet}]} */
static int contact_add(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"contact", "contact_id", "unwrap_key", "kk_wrap",
                                         "generation", "packets", NULL};
    static const char *const pfields[] = {"device_id", "packet", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account other = {0};
    kw_store_adp_contact ct;
    uint8_t u[32], uwrap[KW_CUSTODY_WRAP_MAX], did[KW_STORE_ID_BYTES];
    const char *name = NULL;
    char *packets = NULL;
    int64_t cur_gen = 0;
    int r;
    memset(&ct, 0, sizeof(ct));
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_str(resp, req->body, "contact", KW_STORE_NAME_MAX, &name)) != KW_OK ||
        (r = kw_api_check_name(resp, name)) != KW_OK ||
        (r = kw_api_get_id(resp, req->body, "contact_id", ct.id)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "unwrap_key", u, sizeof(u))) != KW_OK ||
        (r = kw_api_get_b64(resp, req->body, "kk_wrap", 1, KW_API_WRAP_MAX, &ct.kk_wrap, &ct.kk_wrap_len)) !=
            KW_OK ||
        (r = kw_api_get_int(resp, req->body, "generation", 1, INT64_MAX, &ct.generation)) != KW_OK)
        goto out;
    json_t *arr = json_object_get(req->body, "packets"), *p;
    size_t i;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > KW_ROSTER_DEVICES_MAX) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "field 'packets' must list 1-%d packets", KW_ROSTER_DEVICES_MAX);
        goto out;
    }
    json_array_foreach(arr, i, p)
    {
        uint8_t *pk = NULL;
        size_t plen = 0;
        if (!json_is_object(p)) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "each packet is {device_id, packet}");
            goto out;
        }
        if ((r = kw_api_only_fields(resp, p, pfields)) != KW_OK || (r = kw_api_get_id(resp, p, "device_id", did)) != KW_OK ||
            (r = kw_api_get_b64(resp, p, "packet", 1, ADP_CONTACT_PACKET_MAX, &pk, &plen)) != KW_OK)
            goto out;
        free(pk);
    }
    r = kw_store_account_get_by_name(srv->store, name, &other);
    if (r == KW_ERR_NOT_FOUND || (r == KW_OK && other.id == caller.account_id)) {
        r = kw_http_fail(resp, KW_ERR_NOT_FOUND, "no such account (or the account itself)");
        goto out;
    }
    if (r != KW_OK || (r = kw_api_kk_generation(srv, caller.account_id, &cur_gen)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    if (ct.generation != cur_gen) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "the contact wrap must wrap generation %lld", (long long)cur_gen);
        goto out;
    }
    if ((r = kw_custody_wrap(srv->adp->custody, caller.account_id, ADP_CONTACT_LABEL, 0, u, sizeof(u), uwrap,
                             sizeof(uwrap), &ct.unwrap_key_len)) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_INTERNAL, "custody provider failed");
        goto out;
    }
    if ((packets = json_dumps(arr, JSON_COMPACT)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    ct.unwrap_key = uwrap;
    ct.packets = (uint8_t *)packets;
    ct.packets_len = strlen(packets);
    ct.account_id = caller.account_id;
    ct.contact_account_id = other.id;
    ct.created_at = kw_api_now(srv);
    r = kw_store_adp_contact_add(srv->store, &ct);
    ct.unwrap_key = NULL;
    ct.packets = NULL;
    if (r == KW_ERR_LIMIT) {
        r = kw_http_fail(resp, r, "at most %d recovery contacts", KW_STORE_ADP_CONTACTS_MAX);
        goto out;
    }
    if (r == KW_ERR_CONFLICT) {
        r = kw_http_fail(resp, r, "%s is already a recovery contact (or the id is taken)", name);
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "recovery contact");
        goto out;
    }
    json_t *o = json_pack("{s:s,s:s}", "contact", name, "state", "active");
    if (o == NULL || kw_api_put_b64(o, "id", ct.id, sizeof(ct.id)) != KW_OK) {
        json_decref(o);
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, o);
    r = KW_OK;
out:
    sodium_memzero(u, sizeof(u));
    free(packets);
    kw_store_adp_contact_clear(&ct);
    kw_store_account_clear(&other);
    return r;
}

static json_t *contact_json(const kw_store_adp_contact *c, bool owner_view)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I}", owner_view ? "contact" : "owner",
                          owner_view ? c->contact_name : c->owner_name, "state", contact_state_name(c->state),
                          "requested_at", (json_int_t)c->requested_at, "release_at",
                          (json_int_t)c->release_at, "created_at", (json_int_t)c->created_at);
    if (o != NULL && kw_api_put_b64(o, "id", c->id, sizeof(c->id)) != KW_OK) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static int contact_list(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_contact *mine = NULL, *helping = NULL;
    size_t nm = 0, nh = 0;
    json_t *out = NULL, *a1 = NULL, *a2 = NULL;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    if ((r = kw_store_adp_contact_list(srv->store, caller.account_id, 0, &mine, &nm)) != KW_OK ||
        (r = kw_store_adp_contact_list(srv->store, 0, caller.account_id, &helping, &nh)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "recovery contacts");
        goto out;
    }
    r = KW_ERR_NOMEM;
    if ((out = json_object()) == NULL || (a1 = json_array()) == NULL || (a2 = json_array()) == NULL ||
        json_object_set(out, "contacts", a1) != 0 || json_object_set(out, "helping", a2) != 0)
        goto out;
    for (size_t i = 0; i < nm; i++)
        if (json_array_append_new(a1, contact_json(&mine[i], true)) != 0)
            goto out;
    for (size_t i = 0; i < nh; i++)
        if (json_array_append_new(a2, contact_json(&helping[i], false)) != 0)
            goto out;
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(a1);
    json_decref(a2);
    json_decref(out);
    kw_store_adp_contacts_free(mine, nm);
    kw_store_adp_contacts_free(helping, nh);
    return r;
}

/* The owner's contact {id} (404 for anyone else's). */
static int own_contact(kw_http_req *req, kw_http_resp *resp, kw_api_caller *caller, kw_store_adp_contact *ct)
{
    kw_server *srv = req->app;
    uint8_t id[KW_STORE_ID_BYTES];
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, caller)) != KW_OK ||
        (r = kw_api_parse_id(resp, req->params[0], id)) != KW_OK || (r = kw_api_no_fields(req, resp)) != KW_OK)
        return r;
    r = kw_store_adp_contact_get(srv->store, id, ct);
    if (r == KW_OK && ct->account_id != caller->account_id) {
        kw_store_adp_contact_clear(ct);
        r = KW_ERR_NOT_FOUND;
    }
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, r, "no such recovery contact");
    return r == KW_OK ? KW_OK : kw_api_store_fail(resp, r, "recovery contact");
}

static int contact_remove(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_contact ct;
    int r = own_contact(req, resp, &caller, &ct);
    if (r != KW_OK)
        return r;
    r = kw_store_adp_contact_remove(srv->store, caller.account_id, ct.id);
    kw_store_adp_contact_clear(&ct);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "recovery contact");
    kw_http_json(resp, 200, json_pack("{s:b}", "removed", 1));
    return KW_OK;
}

/* The owner, from any trusted device, stops a release in progress. */
static int contact_cancel(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_contact ct;
    int r = own_contact(req, resp, &caller, &ct);
    if (r != KW_OK)
        return r;
    int was = ct.state;
    if (was == KW_STORE_ADP_CONTACT_ACTIVE) {
        kw_store_adp_contact_clear(&ct);
        return kw_http_fail(resp, KW_ERR_CONFLICT, "no recovery in progress for this contact");
    }
    r = kw_store_adp_contact_set_state(srv->store, ct.id, was, KW_STORE_ADP_CONTACT_ACTIVE, 0, 0);
    kw_store_adp_contact_clear(&ct);
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "recovery contact");
    fprintf(stderr, "level=info event=adp_contact_cancel account=%lld\n", (long long)caller.account_id);
    kw_http_json(resp, 200, json_pack("{s:s,s:s}", "state", "active", "cancelled",
                                      was == KW_STORE_ADP_CONTACT_RELEASED
                                          ? "released (the unwrap key was already handed out: remove "
                                            "this contact and add it again)"
                                          : "waiting"));
    return KW_OK;
}

/* The packet of the caller's device, from the stored packets array. */
static json_t *packet_for(const kw_store_adp_contact *ct, const uint8_t device_id[KW_STORE_ID_BYTES])
{
    json_error_t e;
    json_t *arr = json_loadb((const char *)ct->packets, ct->packets_len, 0, &e), *p, *found = NULL;
    size_t i;
    char idb[32];
    kw_b64url_encode(idb, sizeof(idb), device_id, KW_STORE_ID_BYTES);
    json_array_foreach(arr, i, p)
    {
        const char *d = json_string_value(json_object_get(p, "device_id"));
        if (d != NULL && strcmp(d, idb) == 0 && found == NULL)
            found = json_incref(json_object_get(p, "packet"));
    }
    json_decref(arr);
    return found;
}

/* {owner}: the contact asks to help the owner; after the waiting period the
 * unwrap key, the caller device's packet and a one-time approval code for
 * the owner's account are released. */
static int contact_help(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"owner", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_account owner = {0};
    kw_store_adp_contact *list = NULL, *ct = NULL;
    size_t n = 0, ulen = 0;
    const char *name = NULL;
    uint8_t u[KW_CUSTODY_SECRET_MAX], hash[KW_STORE_HASH_BYTES];
    char code[8];
    json_t *out = NULL, *packet = NULL;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_str(resp, req->body, "owner", KW_STORE_NAME_MAX, &name)) != KW_OK)
        return r;
    if ((r = kw_store_adp_contact_list(srv->store, 0, caller.account_id, &list, &n)) != KW_OK)
        return kw_api_store_fail(resp, r, "recovery contacts");
    for (size_t i = 0; i < n && ct == NULL; i++)
        if (strcmp(list[i].owner_name, name) == 0)
            ct = &list[i];
    if (ct == NULL) {
        r = kw_http_fail(resp, KW_ERR_NOT_FOUND, "you are not a recovery contact of %s", name);
        goto out;
    }
    int64_t now = kw_api_now(srv);
    if (ct->state == KW_STORE_ADP_CONTACT_ACTIVE) {
        ct->requested_at = now;
        ct->release_at = now + srv->adp->contact_wait;
        if ((r = kw_store_adp_contact_set_state(srv->store, ct->id, KW_STORE_ADP_CONTACT_ACTIVE,
                                                KW_STORE_ADP_CONTACT_WAITING, ct->requested_at,
                                                ct->release_at)) != KW_OK) {
            r = kw_api_store_fail(resp, r, "recovery contact");
            goto out;
        }
        ct->state = KW_STORE_ADP_CONTACT_WAITING;
        fprintf(stderr, "level=info event=adp_contact_request owner=%lld release_at=%lld\n",
                (long long)ct->account_id, (long long)ct->release_at);
    }
    if (ct->state == KW_STORE_ADP_CONTACT_WAITING && now < ct->release_at) {
        kw_http_json(resp, 200, json_pack("{s:s,s:I,s:I}", "state", "waiting", "requested_at",
                                          (json_int_t)ct->requested_at, "release_at", (json_int_t)ct->release_at));
        r = KW_OK;
        goto out;
    }
    if ((packet = packet_for(ct, caller.device_id)) == NULL) {
        r = kw_http_fail(resp, KW_ERR_NOT_FOUND,
                         "this device holds no packet of %s (use a device you had when you were added)", name);
        goto out;
    }
    if (ct->state == KW_STORE_ADP_CONTACT_WAITING &&
        (r = kw_store_adp_contact_set_state(srv->store, ct->id, KW_STORE_ADP_CONTACT_WAITING,
                                            KW_STORE_ADP_CONTACT_RELEASED, ct->requested_at, ct->release_at)) !=
            KW_OK) {
        r = kw_api_store_fail(resp, r, "recovery contact (cancelled meanwhile?)");
        goto out;
    }
    if (kw_custody_unwrap(srv->adp->custody, ct->account_id, ADP_CONTACT_LABEL, 0, ct->unwrap_key,
                          ct->unwrap_key_len, u, sizeof(u), &ulen) != KW_OK ||
        ulen != 32) {
        r = kw_http_fail(resp, KW_ERR_INTERNAL, "the unwrap key does not open");
        goto out;
    }
    /* the owner's new device signs in with this one-time approval code */
    snprintf(code, sizeof(code), "%06u", (unsigned)randombytes_uniform(1000000));
    kw_api_approval_hash(srv, ct->account_id, code, hash);
    if ((r = kw_store_approval_put(srv->store, ct->account_id, hash, now + ADP_CONTACT_CODE_TTL,
                                   KW_SERVER_APPROVAL_ATTEMPTS)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "approval code");
        goto out;
    }
    fprintf(stderr, "level=info event=adp_contact_release owner=%lld\n", (long long)ct->account_id);
    out = json_pack("{s:s,s:s,s:O,s:I}", "state", "released", "approval_code", code, "packet", packet,
                    "generation", (json_int_t)ct->generation);
    if (out == NULL || kw_api_put_b64(out, "unwrap_key", u, 32) != KW_OK ||
        kw_api_put_b64(out, "contact_id", ct->id, KW_STORE_ID_BYTES) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    sodium_memzero(u, sizeof(u));
    sodium_memzero(code, sizeof(code));
    sodium_memzero(hash, sizeof(hash));
    if (out != NULL) {
        json_object_clear(out);
        json_decref(out);
    }
    json_decref(packet);
    kw_store_adp_contacts_free(list, n);
    kw_store_account_clear(&owner);
    return r;
}

/* For a new (pending) device of the owner: the KK wraps of the released
 * contacts and the keychain. */
static int contact_released(kw_http_req *req, kw_http_resp *resp)
{
    kw_server *srv = req->app;
    kw_api_caller caller;
    kw_store_adp_contact *list = NULL;
    size_t n = 0, blob_len = 0;
    uint8_t *blob = NULL;
    int64_t version = 0;
    json_t *out = NULL, *arr;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, false, &caller)) != KW_OK)
        return r;
    if ((r = kw_store_adp_contact_list(srv->store, caller.account_id, 0, &list, &n)) != KW_OK ||
        (r = kw_store_keychain_get(srv->store, caller.account_id, &version, &blob, &blob_len)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "recovery contacts");
        goto out;
    }
    r = KW_ERR_NOMEM;
    out = json_pack("{s:I}", "keychain_version", (json_int_t)version);
    if (out == NULL || kw_api_put_b64(out, "keychain", blob, blob_len) != KW_OK || (arr = json_array()) == NULL ||
        json_object_set_new(out, "contacts", arr) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (list[i].state != KW_STORE_ADP_CONTACT_RELEASED)
            continue;
        json_t *o = json_pack("{s:I}", "generation", (json_int_t)list[i].generation);
        if (o == NULL || json_array_append_new(arr, o) != 0 ||
            kw_api_put_b64(o, "id", list[i].id, KW_STORE_ID_BYTES) != KW_OK ||
            kw_api_put_b64(o, "kk_wrap", list[i].kk_wrap, list[i].kk_wrap_len) != KW_OK)
            goto out;
    }
    if (json_array_size(arr) == 0) {
        r = kw_http_fail(resp, KW_ERR_NOT_FOUND, "no recovery contact has released a recovery for this account");
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    free(blob);
    kw_store_adp_contacts_free(list, n);
    return r;
}

/* {generation, wraps: [{id, kk_wrap}]} after a KK rotation. */
static int contact_rewrap(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"generation", "wraps", NULL};
    static const char *const wfields[] = {"id", "kk_wrap", NULL};
    kw_server *srv = req->app;
    kw_api_caller caller;
    uint8_t ids[KW_STORE_ADP_CONTACTS_MAX][KW_STORE_ID_BYTES];
    uint8_t *wraps[KW_STORE_ADP_CONTACTS_MAX] = {0};
    size_t lens[KW_STORE_ADP_CONTACTS_MAX] = {0}, n = 0;
    int64_t gen = 0, cur = 0;
    int r;
    if ((r = need_area(srv, resp)) != KW_OK || (r = kw_api_auth(req, resp, true, &caller)) != KW_OK ||
        (r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_int(resp, req->body, "generation", 1, INT64_MAX, &gen)) != KW_OK)
        return r;
    json_t *arr = json_object_get(req->body, "wraps"), *w;
    size_t i;
    if (!json_is_array(arr) || json_array_size(arr) > KW_STORE_ADP_CONTACTS_MAX)
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'wraps' must list at most %d wraps",
                            KW_STORE_ADP_CONTACTS_MAX);
    json_array_foreach(arr, i, w)
    {
        if (!json_is_object(w)) {
            r = kw_http_fail(resp, KW_ERR_FORMAT, "each wrap is {id, kk_wrap}");
            goto out;
        }
        if ((r = kw_api_only_fields(resp, w, wfields)) != KW_OK || (r = kw_api_get_id(resp, w, "id", ids[n])) != KW_OK ||
            (r = kw_api_get_b64(resp, w, "kk_wrap", 1, KW_API_WRAP_MAX, &wraps[n], &lens[n])) != KW_OK)
            goto out;
        n++;
    }
    if ((r = kw_api_kk_generation(srv, caller.account_id, &cur)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "KK generation");
        goto out;
    }
    if (gen != cur) {
        r = kw_http_fail(resp, KW_ERR_CONFLICT, "the wraps must wrap generation %lld", (long long)cur);
        goto out;
    }
    r = kw_store_adp_contact_rewrap(srv->store, caller.account_id, gen, (const uint8_t(*)[KW_STORE_ID_BYTES])ids,
                                    (const uint8_t *const *)wraps, lens, n);
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "recovery contacts");
        goto out;
    }
    kw_http_json(resp, 200, json_pack("{s:I}", "rewrapped", (json_int_t)n));
out:
    for (size_t k = 0; k < KW_STORE_ADP_CONTACTS_MAX; k++)
        free(wraps[k]);
    return r;
}

const kw_http_route kw_api_adp_routes[] = {
    {"GET", "/v1/adp", adp_status, 0},
    {"POST", "/v1/adp/capability", adp_capability, 0},
    {"POST", "/v1/adp/escrow", adp_escrow, ADP_BODY_LIMIT},
    {"POST", "/v1/adp/enable", adp_enable, KW_API_KEYCHAIN_BODY_LIMIT},
    {"POST", "/v1/adp/disable", adp_disable, ADP_BODY_LIMIT},
    {"POST", "/v1/adp/web-access", adp_web_access, 0},
    {"POST", "/v1/adp/web/requests", web_request_add, 0},
    {"GET", "/v1/adp/web/requests", web_request_list, 0},
    {"POST", "/v1/adp/web/requests/{}/approve", web_request_approve, ADP_BODY_LIMIT},
    {"GET", "/v1/adp/web/requests/{}", web_grants, 0},
    {"POST", "/v1/adp/passcode", passcode_put, 0},
    {"POST", "/v1/adp/passcode/delete", passcode_delete, 0},
    {"GET", "/v1/adp/passcode", passcode_salt, 0},
    {"POST", "/v1/adp/passcode/open", passcode_open, 0},
    {"POST", "/v1/adp/contacts", contact_add, ADP_BODY_LIMIT},
    {"GET", "/v1/adp/contacts", contact_list, 0},
    {"POST", "/v1/adp/contacts/help", contact_help, 0},
    {"GET", "/v1/adp/contacts/released", contact_released, 0},
    {"POST", "/v1/adp/contacts/rewrap", contact_rewrap, 0},
    {"POST", "/v1/adp/contacts/{}/remove", contact_remove, 0},
    {"POST", "/v1/adp/contacts/{}/cancel", contact_cancel, 0},
};
const size_t kw_api_adp_nroutes = sizeof(kw_api_adp_routes) / sizeof(kw_api_adp_routes[0]);
