/*
 * The ADP client flows (keyward/client_adp.h): the switch, custody copies,
 * web access approvals, passcode escrow. Also kwc_adp_after_rotation, which
 * kw_client_device_remove (flows.c) calls once a KK rotation is stored.
 *
 * The ADP flag is read from the roster verified under the pinned account
 * key (kwc_fetch_roster / kwc_sync_kk), never from GET /v1/adp.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "keyward/client_adp.h"
#include "keyward/client_ckv.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/hpke.h"
#include "keyward/keychain.h"
#include "keyward/roster.h"

#define LOCAL KW_CLIENT_ORIGIN_LOCAL

enum { CLASS_INTEROP = 0, CLASS_ADP = 1, CLASS_ALWAYS = 2 }; /* ordered by strictness */

static const char *const builtin_always[] = {"keychain", "passwords", "health", "messages", NULL};
static const char *const builtin_interop[] = {"mail", "contacts", "calendar", NULL};

static bool in_list(const char *const *l, const char *s)
{
    for (size_t i = 0; l[i] != NULL; i++)
        if (strcmp(l[i], s) == 0)
            return true;
    return false;
}

static bool in_json(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *t = json_string_value(v);
        if (t != NULL && strcmp(t, s) == 0)
            return true;
    }
    return false;
}

/* The stricter of the built-in class and the server's (status: GET /v1/adp;
 * NULL: built-in only). */
static int category_class(const json_t *status, const char *cat)
{
    int b = in_list(builtin_always, cat) ? CLASS_ALWAYS : in_list(builtin_interop, cat) ? CLASS_INTEROP
                                                                                       : CLASS_ADP;
    const json_t *cls = json_object_get(status, "classes");
    int s = CLASS_ADP;
    if (in_json(json_object_get(cls, "always"), cat))
        s = CLASS_ALWAYS;
    else if (in_json(json_object_get(cls, "interop"), cat))
        s = CLASS_INTEROP;
    return b > s ? b : s;
}

static const char *class_name(int cls)
{
    return cls == CLASS_ALWAYS ? "always" : cls == CLASS_ADP ? "adp" : "interop";
}

static bool roster_adp(const kw_roster *ros)
{
    return (ros->flags & KW_ROSTER_FLAG_ADP) != 0;
}

/* May the server hold a copy of this category's keys? */
static bool escrow_allowed(const json_t *status, const char *cat, bool adp_on)
{
    int cls = category_class(status, cat);
    return cls == CLASS_INTEROP || (cls == CLASS_ADP && !adp_on);
}

static int declare_capability(kw_client *c)
{
    json_t *body = json_pack("{s:b}", "adp", 1), *resp = NULL;
    if (body == NULL)
        return KW_ERR_NOMEM;
    int r = kwc_http(c, "POST", "/v1/adp/capability", body, true, &resp);
    json_decref(body);
    json_decref(resp);
    return r;
}

static int fetch_status(kw_client *c, json_t **status)
{
    int r = kwc_http(c, "GET", "/v1/adp", NULL, true, status);
    if (r == KW_OK && !json_is_boolean(json_object_get(*status, "enabled"))) {
        json_decref(*status);
        *status = NULL;
        r = kwc_bad_answer(c, "adp status");
    }
    return r;
}

/* The server's word against the signed roster. */
static int check_mirror(kw_client *c, const json_t *status, const kw_roster *ros)
{
    bool server_on = json_is_true(json_object_get(status, "enabled"));
    if (server_on != roster_adp(ros))
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                        "ALERT: the server says Advanced Data Protection is %s but the account's "
                        "signed roster (version %llu) has it %s: the server's state was changed "
                        "without the account key; keeping ADP %s and sending no keys",
                        server_on ? "on" : "off", (unsigned long long)ros->version,
                        roster_adp(ros) ? "on" : "off", roster_adp(ros) ? "on" : "off");
    return KW_OK;
}

/* The verified state every ADP operation starts from: a signed-in device,
 * the keychain and roster synced under the pinned account key (*kcv, *gen
 * optional, as kwc_sync_kk), the account key when ak is non-NULL, this
 * device's capability declared when declare, and the server's ADP status
 * (*status) checked against the signed roster's flag. *ros is malloc'd;
 * the caller releases everything on every path. */
static int adp_begin(kw_client *c, bool declare, kw_roster **ros, kw_keychain **kc, uint64_t *kcv,
                     uint64_t *gen, kw_sign_key **ak, json_t **status)
{
    int r;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((*ros = malloc(sizeof(**ros))) == NULL)
        return KW_ERR_NOMEM;
    if ((r = kwc_sync_kk(c, kc, kcv, gen, *ros)) != KW_OK ||
        (ak != NULL && (r = kwc_account_key(c, ak)) != KW_OK) ||
        (declare && (r = declare_capability(c)) != KW_OK) || (r = fetch_status(c, status)) != KW_OK)
        return r;
    return check_mirror(c, *status, *ros);
}

static bool custody_has(const json_t *status, const char *cat, uint32_t gen)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(status, "custody"), i, v)
    {
        const char *t = json_string_value(json_object_get(v, "category"));
        if (t != NULL && strcmp(t, cat) == 0 &&
            json_integer_value(json_object_get(v, "generation")) == (json_int_t)gen)
            return true;
    }
    return false;
}

/* Appends {category, generation, key} for the generations of cat that
 * pass want (all when status is NULL, else those the server lacks). */
static int add_keys(kw_client *c, json_t *arr, const kw_keychain *kc, const char *cat,
                    const json_t *status, size_t *count)
{
    const char *name;
    uint32_t cur = 0;
    uint8_t key[KW_SVCKEY_BYTES];
    int r = KW_ERR_NOT_FOUND;
    for (size_t i = 0; i < kw_keychain_svc_count(kc); i++)
        if (kw_keychain_svc_at(kc, i, &name, &cur) == KW_OK && strcmp(name, cat) == 0) {
            r = KW_OK;
            break;
        }
    if (r != KW_OK)
        return KW_OK;
    for (uint32_t g = 1; g <= cur && r == KW_OK; g++) {
        if (status != NULL && custody_has(status, cat, g))
            continue;
        if ((r = kw_keychain_svc_get(kc, cat, g, key, NULL)) != KW_OK) {
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "service key %s generation %u does not open: %s",
                         cat, (unsigned)g, kw_strerror(r));
            break;
        }
        json_t *o = json_pack("{s:s,s:I}", "category", cat, "generation", (json_int_t)g);
        if (o == NULL || json_array_append_new(arr, o) != 0 || kwc_put_b64(o, "key", key, sizeof(key)) != KW_OK)
            r = KW_ERR_NOMEM;
        else
            (*count)++;
    }
    sodium_memzero(key, sizeof(key));
    return r;
}

/* Wipes the key strings of an escrow body before it is freed. */
static void body_wipe_free(json_t *body)
{
    if (body == NULL)
        return;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "keys"), i, v)
    {
        const char *k = json_string_value(json_object_get(v, "key"));
        if (k != NULL)
            sodium_memzero((void *)k, strlen(k));
    }
    json_decref(body);
}

/* Uploads what the server lacks, by the rules of the signed roster. */
static int escrow_sync(kw_client *c, const kw_keychain *kc, const kw_roster *ros, const json_t *status,
                       size_t *count)
{
    json_t *body = json_object(), *arr = json_array(), *resp = NULL;
    const char *cat;
    uint32_t g;
    int r = KW_OK;
    *count = 0;
    if (body == NULL || arr == NULL || json_object_set_new(body, "keys", arr) != 0) {
        json_decref(arr);
        json_decref(body);
        return KW_ERR_NOMEM;
    }
    for (size_t i = 0; i < kw_keychain_svc_count(kc) && r == KW_OK; i++) {
        if (kw_keychain_svc_at(kc, i, &cat, &g) != KW_OK)
            break;
        char name[KW_SVCKEY_CATEGORY_MAXBYTES + 1];
        snprintf(name, sizeof(name), "%s", cat);
        if (escrow_allowed(status, name, roster_adp(ros)))
            r = add_keys(c, arr, kc, name, status, count);
    }
    if (r == KW_OK && *count > 0)
        r = kwc_http(c, "POST", "/v1/adp/escrow", body, true, &resp);
    body_wipe_free(body);
    json_decref(resp);
    return r;
}

static json_t *device_caps(const json_t *status)
{
    return json_deep_copy(json_object_get(status, "devices"));
}

int kw_client_adp_status(kw_client *c, json_t **out)
{
    kw_roster *ros = NULL;
    kw_keychain *kc = NULL;
    json_t *status = NULL, *cats = NULL;
    size_t escrowed = 0;
    int r;
    *out = NULL;
    if ((r = adp_begin(c, true, &ros, &kc, NULL, NULL, NULL, &status)) != KW_OK ||
        (r = escrow_sync(c, kc, ros, status, &escrowed)) != KW_OK)
        goto out;
    if ((cats = json_array()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < kw_keychain_svc_count(kc); i++) {
        const char *cat;
        uint32_t g;
        if (kw_keychain_svc_at(kc, i, &cat, &g) != KW_OK)
            break;
        json_array_append_new(cats, json_pack("{s:s,s:I,s:s}", "category", cat, "generation",
                                              (json_int_t)g, "class",
                                              class_name(category_class(status, cat))));
    }
    *out = kwc_result(c);
    json_object_set_new(*out, "adp", json_boolean(roster_adp(ros)));
    json_object_set_new(*out, "roster_version", json_integer((json_int_t)ros->version));
    json_object_set_new(*out, "server_adp", json_incref(json_object_get(status, "enabled")));
    json_object_set_new(*out, "web_access", json_incref(json_object_get(status, "web_access")));
    json_object_set_new(*out, "recovery_key", json_incref(json_object_get(status, "recovery_key")));
    json_object_set_new(*out, "recovery_contacts",
                        json_incref(json_object_get(status, "recovery_contacts")));
    json_object_set_new(*out, "passcode_escrow", json_incref(json_object_get(status, "passcode_escrow")));
    json_object_set_new(*out, "devices", device_caps(status));
    json_object_set_new(*out, "custody", json_deep_copy(json_object_get(status, "custody")));
    json_object_set_new(*out, "service_keys", cats);
    cats = NULL;
    json_object_set_new(*out, "escrowed", json_integer((json_int_t)escrowed));
    r = KW_OK;
out:
    json_decref(cats);
    json_decref(status);
    kw_keychain_free(&kc);
    free(ros);
    return r;
}

int kw_client_adp_escrow_sync(kw_client *c, json_t **out)
{
    kw_roster *ros = NULL;
    kw_keychain *kc = NULL;
    json_t *status = NULL;
    size_t escrowed = 0;
    int r;
    *out = NULL;
    if ((r = adp_begin(c, false, &ros, &kc, NULL, NULL, NULL, &status)) != KW_OK ||
        (r = escrow_sync(c, kc, ros, status, &escrowed)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "adp", json_boolean(roster_adp(ros)));
    json_object_set_new(*out, "escrowed", json_integer((json_int_t)escrowed));
out:
    json_decref(status);
    kw_keychain_free(&kc);
    free(ros);
    return r;
}

int kw_client_adp_enable(kw_client *c, json_t **out)
{
    kw_roster *ros = NULL;
    kw_keychain *kc = NULL;
    kw_sign_key *ak = NULL;
    json_t *status = NULL, *body = NULL, *resp = NULL, *rolled = NULL;
    uint64_t kcv = 0, gen = 0;
    int r;
    *out = NULL;
    if ((r = adp_begin(c, true, &ros, &kc, &kcv, &gen, &ak, &status)) != KW_OK)
        goto out;
    if (roster_adp(ros)) {
        r = kwc_fail(c, LOCAL, KW_ERR_CONFLICT, "Advanced Data Protection is already on");
        goto out;
    }
    if (!json_is_true(json_object_get(status, "recovery_key")) &&
        json_integer_value(json_object_get(status, "recovery_contacts")) <= 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_CONFLICT,
                     "ADP needs a recovery method first: without one, losing your devices loses "
                     "your data. Create a recovery key (`keyward recovery-key create`) or add a "
                     "recovery contact (`keyward recovery contact add NAME`)");
        goto out;
    }
    /* the server held copies of these keys: new data goes under fresh ones */
    if ((rolled = json_array()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    size_t n = kw_keychain_svc_count(kc);
    char names[KW_SVCKEY_CATEGORIES_MAX][KW_SVCKEY_CATEGORY_MAXBYTES + 1];
    for (size_t i = 0; i < n && i < KW_SVCKEY_CATEGORIES_MAX; i++) {
        const char *cat;
        uint32_t g;
        if (kw_keychain_svc_at(kc, i, &cat, &g) != KW_OK)
            break;
        snprintf(names[i], sizeof(names[i]), "%s", cat);
    }
    for (size_t i = 0; i < n && i < KW_SVCKEY_CATEGORIES_MAX; i++) {
        uint32_t g = 0;
        if (category_class(status, names[i]) != CLASS_ADP)
            continue;
        if ((r = kw_keychain_svc_roll(kc, names[i], &g)) != KW_OK) {
            r = kwc_fail(c, LOCAL, r, "cannot roll the service key of %s: %s", names[i], kw_strerror(r));
            goto out;
        }
        json_array_append_new(rolled, json_pack("{s:s,s:I}", "category", names[i], "generation",
                                                (json_int_t)g));
    }
    ros->version++;
    ros->flags |= KW_ROSTER_FLAG_ADP;
    if ((body = json_object()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_put_roster(c, body, ros, ak)) != KW_OK)
        goto out;
    if (json_array_size(rolled) > 0) {
        if ((r = kwc_seal_keychain(c, body, "keychain", kc, kwc_profile_kk(c->p, gen), kcv + 1, gen)) !=
            KW_OK)
            goto out;
        json_object_set_new(body, "keychain_version", json_integer((json_int_t)(kcv + 1)));
    }
    if ((r = kwc_http(c, "POST", "/v1/adp/enable", body, true, &resp)) != KW_OK)
        goto out;
    /* the interoperable categories stay in custody: upload what is missing
     * (by the roster just signed, nothing of an ADP category) */
    size_t escrowed = 0;
    json_decref(status);
    status = NULL;
    if (fetch_status(c, &status) == KW_OK)
        escrow_sync(c, kc, ros, status, &escrowed);
    *out = kwc_result(c);
    json_object_set_new(*out, "escrowed", json_integer((json_int_t)escrowed));
    json_object_set_new(*out, "adp", json_true());
    json_object_set_new(*out, "roster_version", json_integer((json_int_t)ros->version));
    json_object_set_new(*out, "rolled", rolled);
    rolled = NULL;
    r = KW_OK;
out:
    json_decref(rolled);
    json_decref(body);
    json_decref(resp);
    json_decref(status);
    kw_sign_key_free(&ak);
    kw_keychain_free(&kc);
    free(ros);
    return r;
}

int kw_client_adp_disable(kw_client *c, json_t **out)
{
    kw_roster *ros = NULL;
    kw_keychain *kc = NULL;
    kw_sign_key *ak = NULL;
    json_t *status = NULL, *body = NULL, *resp = NULL, *arr = NULL;
    size_t count = 0;
    int r;
    *out = NULL;
    if ((r = adp_begin(c, false, &ros, &kc, NULL, NULL, &ak, &status)) != KW_OK)
        goto out;
    if (!roster_adp(ros)) {
        r = kwc_fail(c, LOCAL, KW_ERR_CONFLICT, "Advanced Data Protection is already off");
        goto out;
    }
    if ((body = json_object()) == NULL || (arr = json_array()) == NULL ||
        json_object_set_new(body, "keys", arr) != 0) {
        json_decref(arr);
        r = KW_ERR_NOMEM;
        goto out;
    }
    /* current and old generations go back into custody */
    for (size_t i = 0; i < kw_keychain_svc_count(kc) && r == KW_OK; i++) {
        const char *cat;
        uint32_t g;
        char name[KW_SVCKEY_CATEGORY_MAXBYTES + 1];
        if (kw_keychain_svc_at(kc, i, &cat, &g) != KW_OK)
            break;
        snprintf(name, sizeof(name), "%s", cat);
        if (escrow_allowed(status, name, false))
            r = add_keys(c, arr, kc, name, NULL, &count);
    }
    if (r != KW_OK)
        goto out;
    ros->version++;
    ros->flags &= (uint8_t)~KW_ROSTER_FLAG_ADP;
    if ((r = kwc_put_roster(c, body, ros, ak)) != KW_OK ||
        (r = kwc_http(c, "POST", "/v1/adp/disable", body, true, &resp)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "adp", json_false());
    json_object_set_new(*out, "roster_version", json_integer((json_int_t)ros->version));
    json_object_set_new(*out, "escrowed", json_integer((json_int_t)count));
    r = KW_OK;
out:
    body_wipe_free(body);
    json_decref(resp);
    json_decref(status);
    kw_sign_key_free(&ak);
    kw_keychain_free(&kc);
    free(ros);
    return r;
}

/* ---- web access ---- */

int kw_client_web_access(kw_client *c, bool on, json_t **out)
{
    kw_roster *ros = NULL;
    json_t *body = NULL, *resp = NULL;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((ros = malloc(sizeof(*ros))) == NULL)
        return KW_ERR_NOMEM;
    if ((r = kwc_fetch_roster(c, ros)) != KW_OK)
        goto out;
    if (!roster_adp(ros)) {
        r = kwc_fail(c, LOCAL, KW_ERR_CONFLICT,
                     "web access is a setting of Advanced Data Protection, which is off: the web page "
                     "reads standard-protection data without it");
        goto out;
    }
    if ((body = json_pack("{s:b}", "on", on)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/adp/web-access", body, true, &resp)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "web_access", json_boolean(on));
out:
    json_decref(body);
    json_decref(resp);
    free(ros);
    return r;
}

#define WEB_INFO "keyward web grant v1"

static int web_info(uint8_t *info, size_t cap, size_t *len, const char *account, const uint8_t id[16],
                    const char *cat, uint32_t gen)
{
    size_t a = strlen(account), k = strlen(cat), n = sizeof(WEB_INFO) - 1;
    if (n + 1 + a + 16 + 1 + k + 4 > cap || a > 255 || k > 255)
        return KW_ERR_TOO_LARGE;
    memcpy(info, WEB_INFO, n);
    info[n++] = (uint8_t)a;
    memcpy(info + n, account, a);
    n += a;
    memcpy(info + n, id, 16);
    n += 16;
    info[n++] = (uint8_t)k;
    memcpy(info + n, cat, k);
    n += k;
    for (int i = 3; i >= 0; i--)
        info[n++] = (uint8_t)(gen >> (8 * i));
    *len = n;
    return KW_OK;
}

static bool csv_has(const char *csv, const char *cat)
{
    size_t n = strlen(cat);
    for (const char *p = csv; p != NULL && *p != '\0';) {
        const char *e = strchr(p, ',');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, cat, n) == 0)
            return true;
        p = e != NULL ? e + 1 : NULL;
    }
    return false;
}

void kw_client_web_code(char code[static KW_CLIENT_CODEBYTES], const char *account,
                        const uint8_t request_id[static 16], const uint8_t ephemeral_pk[static 32])
{
    crypto_hash_sha256_state st;
    uint8_t h[32], n = (uint8_t)strnlen(account, 255);
    uint64_t v = 0;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)"keyward-web-v1", 14);
    crypto_hash_sha256_update(&st, &n, 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)account, n);
    crypto_hash_sha256_update(&st, request_id, 16);
    crypto_hash_sha256_update(&st, ephemeral_pk, 32);
    crypto_hash_sha256_final(&st, h);
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[i];
    snprintf(code, KW_CLIENT_CODEBYTES, "%06u", (unsigned)(v % 1000000u));
}

int kw_client_web_approve(kw_client *c, const char *const *categories, size_t ncat, const char *want_code,
                          json_t **out)
{
    kw_roster *ros = NULL;
    kw_keychain *kc = NULL;
    json_t *list = NULL, *status = NULL, *releases = NULL, *rq;
    uint8_t key[KW_SVCKEY_BYTES], sealed[KW_SVCKEY_BYTES + KW_HPKE_SEALBYTES], info[512];
    size_t i;
    int r;
    *out = NULL;
    if ((r = adp_begin(c, false, &ros, &kc, NULL, NULL, NULL, &status)) != KW_OK ||
        (r = kwc_http(c, "GET", "/v1/adp/web/requests", NULL, true, &list)) != KW_OK)
        goto out;
    if ((releases = json_array()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    json_array_foreach(json_object_get(list, "requests"), i, rq)
    {
        uint8_t id[16], epk[32];
        const char *csv = json_string_value(json_object_get(rq, "categories"));
        const char *rid = json_string_value(json_object_get(rq, "request_id"));
        if (csv == NULL || rid == NULL || kwc_get_b64_fixed(rq, "request_id", id, 16) != KW_OK ||
            kwc_get_b64_fixed(rq, "ephemeral_pk", epk, 32) != KW_OK) {
            r = kwc_bad_answer(c, "web access requests");
            goto out;
        }
        char wcode[KW_CLIENT_CODEBYTES];
        kw_client_web_code(wcode, c->p->account, id, epk);
        if (want_code != NULL && (strlen(want_code) != 6 || !kw_ct_equal(wcode, want_code, 6)))
            continue;
        json_t *body = json_object(), *grants = json_array(), *shown = json_array(), *resp = NULL;
        if (body == NULL || grants == NULL || shown == NULL || json_object_set_new(body, "grants", grants) != 0) {
            json_decref(body);
            json_decref(shown);
            r = KW_ERR_NOMEM;
            goto out;
        }
        for (size_t k = 0; k < kw_keychain_svc_count(kc) && r == KW_OK; k++) {
            const char *cat0;
            uint32_t cur;
            char cat[KW_SVCKEY_CATEGORY_MAXBYTES + 1];
            if (kw_keychain_svc_at(kc, k, &cat0, &cur) != KW_OK)
                break;
            snprintf(cat, sizeof(cat), "%s", cat0);
            bool wanted = ncat == 0;
            for (size_t j = 0; j < ncat && !wanted; j++)
                wanted = strcmp(categories[j], cat) == 0;
            if (!wanted || !csv_has(csv, cat) || category_class(status, cat) == CLASS_ALWAYS)
                continue;
            for (uint32_t g = 1; g <= cur && r == KW_OK; g++) {
                size_t ilen = 0, slen = 0;
                kw_hpke_params hp = {.mode = KW_HPKE_MODE_BASE};
                if ((r = kw_keychain_svc_get(kc, cat, g, key, NULL)) != KW_OK ||
                    (r = web_info(info, sizeof(info), &ilen, c->p->account, id, cat, g)) != KW_OK)
                    break;
                hp.info = info;
                hp.info_len = ilen;
                if ((r = kw_hpke_seal(sealed, sizeof(sealed), &slen, epk, &hp, NULL, 0, key, sizeof(key))) !=
                    KW_OK)
                    break;
                json_t *gj = json_pack("{s:s,s:I}", "category", cat, "generation", (json_int_t)g);
                if (gj == NULL || json_array_append_new(grants, gj) != 0 ||
                    kwc_put_b64(gj, "sealed", sealed, slen) != KW_OK)
                    r = KW_ERR_NOMEM;
            }
            if (r == KW_OK)
                json_array_append_new(shown, json_pack("{s:s,s:I}", "category", cat, "generations",
                                                       (json_int_t)cur));
        }
        sodium_memzero(key, sizeof(key));
        if (r == KW_OK && json_array_size(grants) > 0) {
            char path[128];
            snprintf(path, sizeof(path), "/v1/adp/web/requests/%s/approve", rid);
            r = kwc_http(c, "POST", path, body, true, &resp);
        }
        if (r == KW_OK && json_array_size(grants) > 0)
            json_array_append_new(releases,
                                  json_pack("{s:s,s:O,s:s,s:O,s:O}", "request_id", rid, "web_session_id",
                                            json_object_get(rq, "web_session_id"), "code", wcode, "released",
                                            shown, "expires_at", json_object_get(resp, "expires_at")));
        json_decref(shown);
        json_decref(body);
        json_decref(resp);
        if (r != KW_OK) {
            if (r != KW_ERR_NOMEM && c->err[0] == '\0')
                kwc_fail(c, LOCAL, r, "web grant: %s", kw_strerror(r));
            goto out;
        }
    }
    *out = kwc_result(c);
    json_object_set_new(*out, "releases", releases);
    releases = NULL;
    r = KW_OK;
out:
    sodium_memzero(key, sizeof(key));
    json_decref(releases);
    json_decref(list);
    json_decref(status);
    kw_keychain_free(&kc);
    free(ros);
    return r;
}

/* ---- passcode escrow ---- */

#define PC_SALTBYTES 16
#define PC_ITEMBYTES (PC_SALTBYTES + 32 + 32) /* salt ‖ verifier ‖ wrap key */
#define PC_WRAPBYTES (24 + KW_KK_BYTES + 16)
#define PC_AD "keyward passcode escrow v1"

/* verifier and wrap key from the passcode: Argon2id(passcode, salt) → 64
 * bytes, split with keyed BLAKE2b under distinct labels. */
static int pc_derive(kw_client *c, const char *passcode, const uint8_t salt[PC_SALTBYTES],
                     uint8_t verifier[32], uint8_t wk[32])
{
    uint8_t s[32];
    unsigned long long ops = c->fast_kdf ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_MODERATE;
    size_t mem = c->fast_kdf ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_MODERATE;
    size_t n = strlen(passcode);
    if (n < KW_CLIENT_PASSCODE_MINBYTES || n > KW_CLIENT_PASSCODE_MAXBYTES)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "passcodes are %d to %d characters",
                        KW_CLIENT_PASSCODE_MINBYTES, KW_CLIENT_PASSCODE_MAXBYTES);
    if (crypto_pwhash(s, sizeof(s), passcode, n, salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory deriving the passcode key");
    crypto_generichash(verifier, 32, (const uint8_t *)"keyward passcode verifier v1", 28, s, sizeof(s));
    crypto_generichash(wk, 32, (const uint8_t *)"keyward passcode wrap v1", 24, s, sizeof(s));
    sodium_memzero(s, sizeof(s));
    return KW_OK;
}

static void pc_ad(uint8_t *ad, size_t *len, const char *account, uint64_t gen)
{
    size_t n = sizeof(PC_AD) - 1, a = strlen(account);
    memcpy(ad, PC_AD, n);
    ad[n++] = (uint8_t)a;
    memcpy(ad + n, account, a);
    n += a;
    for (int i = 7; i >= 0; i--)
        ad[n++] = (uint8_t)(gen >> (8 * i));
    *len = n;
}

static void pc_wrap(uint8_t out[PC_WRAPBYTES], const uint8_t kk[32], const uint8_t wk[32],
                    const char *account, uint64_t gen)
{
    uint8_t ad[128];
    size_t ad_len = 0;
    pc_ad(ad, &ad_len, account, gen);
    randombytes_buf(out, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, kk, 32, ad, ad_len, NULL, out, wk);
}

static int pc_unwrap(uint8_t kk[32], const uint8_t *in, size_t len, const uint8_t wk[32],
                     const char *account, uint64_t gen)
{
    uint8_t ad[128];
    size_t ad_len = 0;
    if (len != PC_WRAPBYTES)
        return KW_ERR_FORMAT;
    pc_ad(ad, &ad_len, account, gen);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(kk, NULL, NULL, in + 24, len - 24, ad, ad_len, in,
                                                   wk) != 0) {
        sodium_memzero(kk, 32);
        return KW_ERR_VERIFY;
    }
    return KW_OK;
}

/* POSTs the escrow of KK generation gen with the salt, verifier and wrap
 * key of item (PC_ITEMBYTES). */
static int pc_post(kw_client *c, const uint8_t *item, const uint8_t kk[32], uint64_t gen)
{
    uint8_t wrap[PC_WRAPBYTES];
    json_t *body, *resp = NULL;
    pc_wrap(wrap, kk, item + PC_SALTBYTES + 32, c->p->account, gen);
    body = json_pack("{s:I}", "generation", (json_int_t)gen);
    int r = KW_ERR_NOMEM;
    if (body != NULL && kwc_put_b64(body, "salt", item, PC_SALTBYTES) == KW_OK &&
        kwc_put_b64(body, "verifier", item + PC_SALTBYTES, 32) == KW_OK &&
        kwc_put_b64(body, "wrap", wrap, sizeof(wrap)) == KW_OK)
        r = kwc_http(c, "POST", "/v1/adp/passcode", body, true, &resp);
    if (body != NULL) {
        json_object_clear(body);
        json_decref(body);
    }
    json_decref(resp);
    return r;
}

int kw_client_passcode_set(kw_client *c, const char *passcode, json_t **out)
{
    kw_roster *ros = NULL;
    kw_keychain *kc = NULL;
    kw_sign_key *ak = NULL;
    json_t *body = NULL, *resp = NULL;
    uint8_t item[PC_ITEMBYTES];
    uint64_t kcv = 0, gen = 0;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((ros = malloc(sizeof(*ros))) == NULL)
        return KW_ERR_NOMEM;
    if ((r = kwc_sync_kk(c, &kc, &kcv, &gen, ros)) != KW_OK)
        goto out;
    randombytes_buf(item, PC_SALTBYTES);
    if ((r = pc_derive(c, passcode, item, item + PC_SALTBYTES, item + PC_SALTBYTES + 32)) != KW_OK)
        goto out;
    /* keep salt, verifier and wrap key end to end, so a KK rotation can
     * re-escrow: the keychain first (as recovery-key create does), then the
     * escrow */
    if ((r = kw_keychain_set(kc, KW_CLIENT_PASSCODE_ITEM, item, sizeof(item))) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "keychain: %s", kw_strerror(r));
        goto out;
    }
    body = json_pack("{s:I}", "keychain_version", (json_int_t)(kcv + 1));
    if (body == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_seal_keychain(c, body, "keychain", kc, kwc_profile_kk(c->p, gen), kcv + 1, gen)) != KW_OK ||
        (r = kwc_http(c, "POST", "/v1/records/keychain", body, true, &resp)) != KW_OK ||
        (r = kwc_keychain_pin(c, kcv + 1, gen)) != KW_OK)
        goto out;
    r = pc_post(c, item, kwc_profile_kk(c->p, gen), gen);
    if (r != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "passcode_escrow", json_true());
    json_object_set_new(*out, "attempts", json_integer(10));
    r = KW_OK;
out:
    sodium_memzero(item, sizeof(item));
    json_decref(body);
    json_decref(resp);
    kw_sign_key_free(&ak);
    kw_keychain_free(&kc);
    free(ros);
    return r;
}

int kw_client_passcode_delete(kw_client *c, json_t **out)
{
    return kwc_post_result(c, "/v1/adp/passcode/delete", "passcode_escrow", json_false(), out);
}

int kw_client_recover_passcode(kw_client *c, const char *passcode, json_t **out)
{
    json_t *info = NULL, *body = NULL, *resp = NULL;
    uint8_t salt[PC_SALTBYTES], verifier[32], wk[32], kk[KW_KK_BYTES];
    uint8_t *pw = NULL, *blob = NULL;
    size_t pw_len = 0, blob_len = 0;
    uint64_t gen = 0, version = 0;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if (strcmp(c->p->state, "pending") != 0)
        return kwc_fail(c, LOCAL, KW_ERR_CONFLICT,
                        "this device is %s: passcode recovery is for a new device signed in with the "
                        "password and a second factor (pending)",
                        c->p->state[0] != '\0' ? c->p->state : "not signed in");
    if ((r = kwc_http(c, "GET", "/v1/adp/passcode", NULL, true, &info)) != KW_OK)
        goto out;
    if (kwc_get_b64_fixed(info, "salt", salt, sizeof(salt)) != KW_OK) {
        r = kwc_bad_answer(c, "passcode salt");
        goto out;
    }
    if ((r = pc_derive(c, passcode, salt, verifier, wk)) != KW_OK)
        goto out;
    if ((body = json_object()) == NULL || kwc_put_b64(body, "verifier", verifier, 32) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/adp/passcode/open", body, true, &resp)) != KW_OK)
        goto out;
    if (kwc_get_u64(resp, "generation", &gen) != KW_OK ||
        kwc_get_u64(resp, "keychain_version", &version) != KW_OK ||
        kwc_get_b64(resp, "wrap", 4096, &pw, &pw_len) != KW_OK ||
        kwc_get_b64(resp, "keychain", KW_KEYCHAIN_MAXBYTES, &blob, &blob_len) != KW_OK) {
        r = kwc_bad_answer(c, "passcode escrow");
        goto out;
    }
    if (pc_unwrap(kk, pw, pw_len, wk, c->p->account, gen) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the passcode escrow does not open with this passcode");
        goto out;
    }
    if ((r = kwc_join_with_kk(c, kk, gen, blob, blob_len, version, "the passcode escrow",
                                 "renew it on a trusted device")) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "device_state", json_string("trusted"));
    json_object_set_new(*out, "kk_generation", json_integer((json_int_t)gen));
    json_object_set_new(*out, "recovered_with", json_string("passcode"));
    r = KW_OK;
out:
    sodium_memzero(verifier, sizeof(verifier));
    sodium_memzero(wk, sizeof(wk));
    sodium_memzero(kk, sizeof(kk));
    if (body != NULL) {
        json_object_clear(body);
        json_decref(body);
    }
    json_decref(info);
    json_decref(resp);
    free(pw);
    free(blob);
    return r;
}

/* ---- recovery contacts ---- */

#define CT_INFO "keyward contact packet v1"
#define CT_INNERBYTES (24 + 32 + 16)

static size_t ct_ad(uint8_t *ad, const char *owner, const uint8_t id[16], const uint8_t *device_id)
{
    size_t n = sizeof(CT_INFO) - 1, a = strlen(owner);
    memcpy(ad, CT_INFO, n);
    ad[n++] = (uint8_t)a;
    memcpy(ad + n, owner, a);
    n += a;
    memcpy(ad + n, id, 16);
    n += 16;
    if (device_id != NULL) {
        memcpy(ad + n, device_id, 16);
        n += 16;
    }
    return n;
}

static int ct_item_name(char out[96], const uint8_t id[16])
{
    char b[32];
    kwc_id_b64(b, id);
    return snprintf(out, 96, "%s%s", KW_CLIENT_CONTACT_ITEM_PREFIX, b) < 96 ? KW_OK : KW_ERR_TOO_LARGE;
}

int kw_client_recovery_contact_add(kw_client *c, const char *contact, json_t **out)
{
    kw_roster *ros = NULL, *theirs = NULL;
    kw_keychain *kc = NULL;
    json_t *body = NULL, *resp = NULL, *packets = NULL;
    uint8_t crk[32], u[32], cwk[32], id[16], inner[CT_INNERBYTES], ad[256];
    uint8_t kwrap[KW_RECOVERY_WRAPBYTES], packet[CT_INNERBYTES + KW_HPKE_SEALBYTES], *rblob = NULL;
    size_t rlen = 0;
    uint64_t kcv = 0, gen = 0;
    char item[96];
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if (contact == NULL || strlen(contact) == 0 || strlen(contact) > 64)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "not an account name");
    if (strcmp(contact, c->p->account) == 0)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "an account cannot be its own recovery contact");
    if ((ros = malloc(sizeof(*ros))) == NULL || (theirs = malloc(sizeof(*theirs))) == NULL) {
        free(ros);
        return KW_ERR_NOMEM;
    }
    if ((r = kwc_sync_kk(c, &kc, &kcv, &gen, ros)) != KW_OK)
        goto out;
    /* the contact's devices come from its roster as Contact Key
     * Verification checks it: a verified key-transparency lookup, signed
     * under the account key pinned for the name (pinned now when the name
     * is not a CKV contact yet) */
    json_t *alert = NULL, *added = NULL;
    r = kw_client_ckv_contact_check(c, contact, &rblob, &rlen, &alert);
    if (r == KW_ERR_NOT_FOUND && strstr(c->err, "is not a contact") != NULL) {
        json_decref(alert);
        alert = NULL;
        c->err[0] = '\0';
        if ((r = kw_client_contact_add(c, contact, &added)) == KW_OK)
            r = kw_client_ckv_contact_check(c, contact, &rblob, &rlen, &alert);
        json_decref(added);
    }
    json_decref(alert);
    if (r != KW_OK)
        goto out;
    if (kw_roster_decode_unverified(theirs, rblob, rlen) != KW_OK ||
        kw_roster_verify(theirs, theirs->account_pk) != KW_OK || strcmp(theirs->name, contact) != 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT: the roster of %s does not verify", contact);
        goto out;
    }
    randombytes_buf(crk, sizeof(crk));
    randombytes_buf(u, sizeof(u));
    randombytes_buf(id, sizeof(id));
    if ((r = kw_recovery_wrap_key(cwk, crk, c->p->account)) != KW_OK ||
        (r = kw_recovery_wrap_rwk(kwrap, kwc_profile_kk(c->p, gen), cwk, c->p->account, gen)) != KW_OK ||
        (r = ct_item_name(item, id)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "contact wrap: %s", kw_strerror(r));
        goto out;
    }
    size_t adl = ct_ad(ad, c->p->account, id, NULL);
    randombytes_buf(inner, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(inner + 24, NULL, crk, sizeof(crk), ad, adl, NULL, inner, u);
    if ((packets = json_array()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < theirs->ndevices; i++) {
        size_t plen = 0;
        char did[32];
        adl = ct_ad(ad, c->p->account, id, theirs->devices[i].id);
        kw_hpke_params hp = {.mode = KW_HPKE_MODE_BASE, .info = ad, .info_len = adl};
        if ((r = kw_hpke_seal(packet, sizeof(packet), &plen, theirs->devices[i].hpke_pk, &hp, NULL, 0, inner,
                              sizeof(inner))) != KW_OK) {
            r = kwc_fail(c, LOCAL, r, "contact packet: %s", kw_strerror(r));
            goto out;
        }
        kwc_id_b64(did, theirs->devices[i].id);
        json_t *o = json_pack("{s:s}", "device_id", did);
        if (o == NULL || json_array_append_new(packets, o) != 0 || kwc_put_b64(o, "packet", packet, plen) != KW_OK) {
            r = KW_ERR_NOMEM;
            goto out;
        }
    }
    /* the wrapping key first, end to end, so a later KK rotation re-wraps */
    if ((r = kw_keychain_set(kc, item, cwk, sizeof(cwk))) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "keychain: %s", kw_strerror(r));
        goto out;
    }
    if ((body = json_pack("{s:I}", "keychain_version", (json_int_t)(kcv + 1))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_seal_keychain(c, body, "keychain", kc, kwc_profile_kk(c->p, gen), kcv + 1, gen)) != KW_OK ||
        (r = kwc_http(c, "POST", "/v1/records/keychain", body, true, &resp)) != KW_OK ||
        (r = kwc_keychain_pin(c, kcv + 1, gen)) != KW_OK)
        goto out;
    json_decref(body);
    json_decref(resp);
    resp = NULL;
    body = json_pack("{s:s,s:I,s:O}", "contact", contact, "generation", (json_int_t)gen, "packets", packets);
    if (body == NULL || kwc_put_b64(body, "contact_id", id, 16) != KW_OK ||
        kwc_put_b64(body, "unwrap_key", u, 32) != KW_OK || kwc_put_b64(body, "kk_wrap", kwrap, sizeof(kwrap)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/adp/contacts", body, true, &resp)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    char idb[32];
    kwc_id_b64(idb, id);
    json_object_set_new(*out, "contact", json_string(contact));
    json_object_set_new(*out, "id", json_string(idb));
    json_object_set_new(*out, "contact_devices", json_integer((json_int_t)theirs->ndevices));
    r = KW_OK;
out:
    sodium_memzero(crk, sizeof(crk));
    sodium_memzero(u, sizeof(u));
    sodium_memzero(cwk, sizeof(cwk));
    sodium_memzero(inner, sizeof(inner));
    if (body != NULL) {
        json_object_clear(body);
        json_decref(body);
    }
    json_decref(resp);
    json_decref(packets);
    kw_keychain_free(&kc);
    free(rblob);
    free(ros);
    free(theirs);
    return r;
}

int kw_client_recovery_contact_list(kw_client *c, json_t **out)
{
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    return kwc_http(c, "GET", "/v1/adp/contacts", NULL, true, out);
}

static int contact_op(kw_client *c, const char *id, const char *op, json_t **out)
{
    uint8_t raw[16];
    char path[160];
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK || (r = kwc_parse_id(c, id, raw)) != KW_OK)
        return r;
    snprintf(path, sizeof(path), "/v1/adp/contacts/%s/%s", id, op);
    return kwc_http(c, "POST", path, NULL, true, out);
}

int kw_client_recovery_contact_remove(kw_client *c, const char *id, json_t **out)
{
    return contact_op(c, id, "remove", out);
}

int kw_client_recovery_contact_cancel(kw_client *c, const char *id, json_t **out)
{
    return contact_op(c, id, "cancel", out);
}

int kw_client_recovery_contact_help(kw_client *c, const char *owner, json_t **out)
{
    json_t *body = NULL, *resp = NULL;
    uint8_t u[32], id[16], packet[CT_INNERBYTES + KW_HPKE_SEALBYTES], inner[CT_INNERBYTES], crk[32], ad[256];
    size_t plen = 0, ilen = 0;
    char code[KW_RECOVERY_CODEBYTES], full[KW_RECOVERY_CODEBYTES + 8];
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((body = json_pack("{s:s}", "owner", owner != NULL ? owner : "")) == NULL)
        return KW_ERR_NOMEM;
    if ((r = kwc_http(c, "POST", "/v1/adp/contacts/help", body, true, &resp)) != KW_OK)
        goto out;
    const char *st = json_string_value(json_object_get(resp, "state"));
    const char *ac = json_string_value(json_object_get(resp, "approval_code"));
    if (st == NULL) {
        r = kwc_bad_answer(c, "contact help");
        goto out;
    }
    if (strcmp(st, "released") != 0) {
        *out = kwc_result(c);
        json_object_set_new(*out, "owner", json_string(owner));
        json_object_set_new(*out, "state", json_string(st));
        json_object_set_new(*out, "release_at", json_incref(json_object_get(resp, "release_at")));
        r = KW_OK;
        goto out;
    }
    uint8_t *pk = NULL;
    if (ac == NULL || strlen(ac) != 6 || kwc_get_b64_fixed(resp, "unwrap_key", u, 32) != KW_OK ||
        kwc_get_b64_fixed(resp, "contact_id", id, 16) != KW_OK ||
        kwc_get_b64(resp, "packet", sizeof(packet), &pk, &plen) != KW_OK) {
        r = kwc_bad_answer(c, "contact release");
        goto out;
    }
    memcpy(packet, pk, plen);
    free(pk);
    size_t adl = ct_ad(ad, owner, id, c->p->device_id);
    kw_hpke_params hp = {.mode = KW_HPKE_MODE_BASE, .info = ad, .info_len = adl};
    if (kw_hpke_open(inner, sizeof(inner), &ilen, c->p->s->hpke_sk, c->p->s->hpke_pk, &hp, NULL, 0, packet,
                     plen) != KW_OK ||
        ilen != CT_INNERBYTES) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the recovery packet of %s does not open for this device", owner);
        goto out;
    }
    adl = ct_ad(ad, owner, id, NULL);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(crk, NULL, NULL, inner + 24, CT_INNERBYTES - 24, ad, adl,
                                                   inner, u) != 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the released key does not open the recovery packet of %s",
                     owner);
        goto out;
    }
    kw_recovery_code_encode(code, crk);
    snprintf(full, sizeof(full), "%s-%s", ac, code);
    *out = kwc_result(c);
    json_object_set_new(*out, "owner", json_string(owner));
    json_object_set_new(*out, "state", json_string("released"));
    json_object_set_new(*out, "recovery_code", json_string(full));
    r = KW_OK;
out:
    sodium_memzero(u, sizeof(u));
    sodium_memzero(inner, sizeof(inner));
    sodium_memzero(crk, sizeof(crk));
    sodium_memzero(code, sizeof(code));
    sodium_memzero(full, sizeof(full));
    json_decref(body);
    if (resp != NULL) {
        json_object_clear(resp);
        json_decref(resp);
    }
    return r;
}

int kw_client_recover_contact(kw_client *c, const char *name, const char *device_name,
                              const uint8_t *password, size_t password_len, const char *code,
                              json_t **out)
{
    char approval[KW_CLIENT_CODEBYTES];
    uint8_t crk[32], kk[KW_KK_BYTES], *blob = NULL;
    size_t blob_len = 0;
    uint64_t version = 0;
    json_t *login = NULL, *rel = NULL, *ct;
    size_t i;
    int r;
    *out = NULL;
    if (code == NULL || strlen(code) < 8 || strlen(code) > KW_RECOVERY_CODE_INPUT_MAXBYTES)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "a contact recovery code is NNNNNN-XXXX-...");
    for (i = 0; i < 6; i++)
        if (code[i] < '0' || code[i] > '9')
            return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "a contact recovery code starts with 6 digits");
    memcpy(approval, code, 6);
    approval[6] = '\0';
    if (kw_recovery_code_parse(crk, code + 6) != KW_OK)
        return kwc_fail(c, LOCAL, KW_ERR_FORMAT, "the contact recovery code is mistyped (its checksum fails)");
    kw_client_factor f = {KW_CLIENT_FACTOR_APPROVAL, approval};
    if ((r = kw_client_login(c, name, device_name, password, password_len, &f, &login)) != KW_OK)
        goto out;
    if (strcmp(c->p->state, "pending") != 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_CONFLICT, "this device is already %s", c->p->state);
        goto out;
    }
    if ((r = kwc_http(c, "GET", "/v1/adp/contacts/released", NULL, true, &rel)) != KW_OK)
        goto out;
    if (kwc_get_u64(rel, "keychain_version", &version) != KW_OK ||
        kwc_get_b64(rel, "keychain", KW_KEYCHAIN_MAXBYTES, &blob, &blob_len) != KW_OK) {
        r = kwc_bad_answer(c, "released contacts");
        goto out;
    }
    r = KW_ERR_VERIFY;
    json_array_foreach(json_object_get(rel, "contacts"), i, ct)
    {
        uint8_t *w = NULL;
        size_t wl = 0;
        uint64_t gen = 0;
        if (kwc_get_u64(ct, "generation", &gen) != KW_OK || kwc_get_b64(ct, "kk_wrap", 4096, &w, &wl) != KW_OK)
            continue;
        int u = kw_recovery_unwrap(kk, w, wl, crk, name, gen);
        free(w);
        if (u != KW_OK)
            continue;
        r = kwc_join_with_kk(c, kk, gen, blob, blob_len, version, "the recovery contact's wrap",
                             "renew it on a trusted device");
        if (r == KW_OK) {
            *out = kwc_result(c);
            json_object_set_new(*out, "device_state", json_string("trusted"));
            json_object_set_new(*out, "kk_generation", json_integer((json_int_t)gen));
            json_object_set_new(*out, "recovered_with", json_string("recovery contact"));
        }
        break;
    }
    if (r == KW_ERR_VERIFY && c->err[0] == '\0')
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the code does not open any released contact wrap");
    else if (r == KW_ERR_VERIFY && *out == NULL && strstr(c->err, "ALERT") == NULL &&
             strstr(c->err, "wraps KK") == NULL)
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the code does not open any released contact wrap");
out:
    sodium_memzero(crk, sizeof(crk));
    sodium_memzero(kk, sizeof(kk));
    sodium_memzero(approval, sizeof(approval));
    json_decref(login);
    json_decref(rel);
    free(blob);
    return r;
}

/* ---- after a KK rotation (device removal) ---- */

/* Re-wraps the new KK for every recovery contact still on the server whose
 * wrapping key the keychain holds. */
static void contacts_rewrap(kw_client *c, const kw_keychain *kc, const uint8_t kk[static 32], uint64_t gen,
                            json_t *info)
{
    json_t *list = NULL, *body = NULL, *wraps = NULL, *resp = NULL, *ct;
    size_t i, n = 0;
    if (kwc_http(c, "GET", "/v1/adp/contacts", NULL, true, &list) != KW_OK)
        return;
    body = json_pack("{s:I}", "generation", (json_int_t)gen);
    wraps = json_array();
    if (body == NULL || wraps == NULL || json_object_set(body, "wraps", wraps) != 0)
        goto out;
    json_array_foreach(json_object_get(list, "contacts"), i, ct)
    {
        const char *id = json_string_value(json_object_get(ct, "id"));
        char item[96];
        const uint8_t *cwk = NULL;
        size_t len = 0;
        uint8_t raw[16], w[KW_RECOVERY_WRAPBYTES];
        if (id == NULL || kwc_get_b64_fixed(ct, "id", raw, 16) != KW_OK || ct_item_name(item, raw) != KW_OK ||
            kw_keychain_get(kc, item, &cwk, &len) != KW_OK || len != 32 ||
            kw_recovery_wrap_rwk(w, kk, cwk, c->p->account, gen) != KW_OK)
            continue;
        json_t *o = json_pack("{s:s}", "id", id);
        if (o != NULL && json_array_append_new(wraps, o) == 0 && kwc_put_b64(o, "kk_wrap", w, sizeof(w)) == KW_OK)
            n++;
    }
    if (n > 0)
        json_object_set_new(info, "contacts_rewrapped",
                            json_boolean(kwc_http(c, "POST", "/v1/adp/contacts/rewrap", body, true, &resp) == KW_OK));
out:
    json_decref(list);
    json_decref(body);
    json_decref(wraps);
    json_decref(resp);
}

/* Called by kw_client_device_remove once the rotation is stored: kc is the
 * keychain as sealed under the new KK (its service keys already rolled).
 * Re-escrows the passcode wrap for the new generation and, by the signed
 * roster's ADP flag, uploads the custody copies of the new generations.
 * Best effort: failures are reported in *info, not returned. */
void kwc_adp_after_rotation(kw_client *c, const kw_keychain *kc, const kw_roster *ros,
                            const uint8_t kk[static 32], uint64_t gen, json_t *info);
void kwc_adp_after_rotation(kw_client *c, const kw_keychain *kc, const kw_roster *ros,
                            const uint8_t kk[static 32], uint64_t gen, json_t *info)
{
    const uint8_t *item = NULL;
    size_t len = 0;
    json_t *status = NULL;
    size_t escrowed = 0;
    if (kw_keychain_get(kc, KW_CLIENT_PASSCODE_ITEM, &item, &len) == KW_OK && len == PC_ITEMBYTES)
        json_object_set_new(info, "passcode_rewrapped", json_boolean(pc_post(c, item, kk, gen) == KW_OK));
    contacts_rewrap(c, kc, kk, gen, info);
    if (kw_keychain_svc_count(kc) == 0)
        return;
    if (fetch_status(c, &status) == KW_OK && check_mirror(c, status, ros) == KW_OK &&
        escrow_sync(c, kc, ros, status, &escrowed) == KW_OK)
        json_object_set_new(info, "escrowed", json_integer((json_int_t)escrowed));
    else
        json_object_set_new(info, "escrow_error", json_string(c->err));
    json_decref(status);
}
