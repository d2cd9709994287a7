/*
 * Contact Key Verification: contacts, self-monitoring, the CKV switch,
 * verification codes and alerts (keyward/client_ckv.h).
 *
 * The key-transparency work (search proofs, the newest verified head, the
 * account key first seen per name, gossip) is keyward/client_kt.h's; this
 * file adds what CKV needs on top: pins per contact (roster version and
 * hash, devices, CKV switch, verified flag), the roster versions of the own
 * account, and the named alerts with what to do.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ckv_internal.h"
#include "keyward/client_kt.h"
#include "keyward/client_msg.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/kt.h"
#include "keyward/roster.h"

#define LOCAL KW_CLIENT_ORIGIN_LOCAL
#define OWN_ROSTERS_MAX 256

static const char TODO_NOT_SIGNED[] =
    "Do not send this contact anything secret until it clears. Ask them (in person or by phone) to "
    "run `keyward device list` and compare; compare `keyward code` with them. The server showed a "
    "device their account key never approved: tell the server's operator.";
static const char TODO_KEY_CHANGED[] =
    "Messages to this contact are refused. Meet them and verify again (`keyward contact verify "
    "NAME`, or compare `keyward code`); if they did not reset their account, the server is "
    "substituting keys.";
static const char TODO_CKV_OFF[] =
    "Their keys are no longer held to Contact Key Verification. Ask the contact whether they turned "
    "it off; if not, someone may control their account.";
static const char TODO_PROOF[] =
    "Possible attack by the server: the key-transparency log did not prove what it claimed. Nothing "
    "new from it was trusted. Try again later, run `keyward audit`, and report it to the server's "
    "operator.";
static const char TODO_LOG[] =
    "Keys cannot be checked against a frozen or unreachable log. Try again later; if it lasts, the "
    "server may be withholding updates: report it to the operator.";
static const char TODO_OWN[] =
    "Your account shows a device or roster none of your devices made. Run `keyward device list` on a "
    "trusted device, remove any device you do not know, change your password, and report it.";
static const char TODO_SPLIT[] =
    "The server shows you and this contact different key-transparency logs (a split view): possible "
    "targeted attack. Keep the alert, compare `keyward code` with the contact in person, report it.";

/* ---- helpers ---- */

static bool name_ok(const char *s)
{
    size_t n = s == NULL ? 0 : strlen(s);
    if (n < 1 || n > KW_CLIENT_NAME_MAXBYTES)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '@' || ch == '+' || ch == '-'))
            return false;
    }
    return true;
}

static void b64(char *out, size_t cap, const uint8_t *p, size_t n)
{
    if (kw_b64url_encode(out, cap, p, n) != KW_OK && cap > 0)
        out[0] = '\0';
}

static json_t *devices_json(const kw_roster *ros)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < ros->ndevices; i++) {
        char id[32], ipk[48], hpk[48];
        b64(id, sizeof(id), ros->devices[i].id, KW_ROSTER_IDBYTES);
        b64(ipk, sizeof(ipk), ros->devices[i].identity_pk, 32);
        b64(hpk, sizeof(hpk), ros->devices[i].hpke_pk, 32);
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name",
                                           ros->devices[i].name, "identity_pk", ipk, "hpke_pk", hpk));
    }
    return a;
}

/* "id (name), ..." of the devices of `to` missing from the stored list
 * `from` (an array of {id, name}); "" when none. */
static void device_names(char *out, size_t cap, const kw_roster *to, const json_t *from)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < to->ndevices; i++) {
        char id[32];
        bool known = false;
        size_t j;
        json_t *d;
        b64(id, sizeof(id), to->devices[i].id, KW_ROSTER_IDBYTES);
        json_array_foreach(from, j, d)
        {
            if (strcmp(ckv_str(d, "id"), id) == 0)
                known = true;
        }
        if (known)
            continue;
        int n = snprintf(out + off, cap - off, "%s%s (\"%s\")", off > 0 ? ", " : "", id,
                         to->devices[i].name);
        if (n < 0 || (size_t)n >= cap - off)
            break;
        off += (size_t)n;
    }
}

/* Freshness of the newest verified head: older than the maximum merge
 * delay means the log is frozen (or not reachable) for this client. */
static void check_fresh(ckv_ctx *x, const kw_kt_head *h, const char *subject)
{
    int64_t now = ckv_now(), age = now - (int64_t)(h->timestamp / 1000);
    if (age > ckv_max_delay()) {
        char key[48];
        snprintf(key, sizeof(key), "epoch:%" PRIu64, h->epoch);
        ckv_alert(x, KW_CKV_ALERT_LOG_UNREACHABLE, subject, key, TODO_LOG,
                  "the newest tree head of the key-transparency log (epoch %" PRIu64
                  ") is %lld s old, more than the maximum merge delay (%lld s): the log is frozen",
                  h->epoch, (long long)age, (long long)ckv_max_delay());
    }
}

/* A network failure reaching the log: an alert once the newest head we
 * verified is older than the maximum merge delay. */
static void check_unreachable(ckv_ctx *x, const char *subject)
{
    kw_kt_head h;
    int64_t now = ckv_now();
    char saved[512];
    snprintf(saved, sizeof(saved), "%s", kw_client_error(x->c));
    if (kw_client_kt_pinned(x->c, &h) != KW_OK || now - (int64_t)(h.timestamp / 1000) > ckv_max_delay()) {
        ckv_alert(x, KW_CKV_ALERT_LOG_UNREACHABLE, subject, "unreachable", TODO_LOG,
                  "the key-transparency log cannot be reached (%s) and no tree head newer than "
                  "the maximum merge delay (%lld s) was verified",
                  saved, (long long)ckv_max_delay());
    }
    kwc_fail(x->c, KW_CLIENT_ORIGIN_NETWORK, KW_ERR_SYSTEM, "%s", saved);
}

/* For display only: the roster the server's log serves for name, decoded
 * without trusting it (the unsigned devices of a device-not-signed alert). */
static bool diag_roster(kw_client *c, const char *name, kw_roster *ros)
{
    json_t *keys = NULL, *resp = NULL;
    uint8_t log_pk[32], vrf_pk[32], *proof = NULL;
    size_t proof_len = 0;
    char path[128];
    bool ok = false;
    kw_kt_result res;
    kw_kt_reason why;
    char saved[512];
    snprintf(saved, sizeof(saved), "%s", kw_client_error(c));
    int origin = kw_client_error_origin(c);
    snprintf(path, sizeof(path), "/v1/kt/search/%s", name);
    if (kwc_http(c, "GET", "/v1/kt/keys", NULL, false, &keys) == KW_OK &&
        kwc_get_b64_fixed(keys, "log_pk", log_pk, 32) == KW_OK &&
        kwc_get_b64_fixed(keys, "vrf_pk", vrf_pk, 32) == KW_OK &&
        kwc_http(c, "GET", path, NULL, false, &resp) == KW_OK &&
        kwc_get_b64(resp, "proof", KW_KT_RESPONSE_MAXBYTES, &proof, &proof_len) == KW_OK) {
        kw_kt_trust t = {.log_pk = log_pk, .vrf_pk = vrf_pk, .pinned = NULL};
        if (kw_kt_search_verify(&res, &why, &t, (const uint8_t *)name, strlen(name), proof,
                                proof_len) == KW_OK &&
            res.version > 0 && kw_roster_decode_unverified(ros, res.value, res.value_len) == KW_OK)
            ok = true;
    }
    free(proof);
    json_decref(keys);
    json_decref(resp);
    kwc_fail(c, origin, KW_ERR_VERIFY, "%s", saved);
    return ok;
}

/* Turns a failed kw_client_kt_lookup of `name` into its alert. contact:
 * the stored entry (NULL for the own account or a new contact). */
static void lookup_alert(ckv_ctx *x, const char *name, bool own, const json_t *contact,
                         const kw_client_kt_result *res)
{
    char key[96];
    snprintf(key, sizeof(key), "%s", res->reason);
    switch (res->failure) {
    case KW_CLIENT_KT_SPLIT_VIEW:
        ckv_alert(x, KW_CKV_ALERT_SPLIT_VIEW, name, key, TODO_SPLIT,
                  "looking up %s: the log's tree heads are not consistent with the ones verified "
                  "before (split view)", name);
        break;
    case KW_CLIENT_KT_ROSTER_SIGNATURE: {
        kw_roster *ros = malloc(sizeof(*ros));
        char extra[600] = "";
        if (ros != NULL && diag_roster(x->c, name, ros)) {
            char names[512];
            device_names(names, sizeof(names), ros, json_object_get(contact, "devices"));
            snprintf(key, sizeof(key), "v%" PRIu64, ros->version);
            if (names[0] != '\0')
                snprintf(extra, sizeof(extra), "; devices not signed: %s", names);
            else
                snprintf(extra, sizeof(extra), "; version %" PRIu64 " lists %u devices (one may be "
                                               "hidden)",
                         ros->version, (unsigned)ros->ndevices);
        }
        free(ros);
        if (own)
            ckv_alert(x, KW_CKV_ALERT_UNKNOWN_OWN_DEVICE, name, key, TODO_OWN,
                      "the log shows a roster of your account %s that your account key did not "
                      "sign%s",
                      name, extra);
        else
            ckv_alert(x, KW_CKV_ALERT_DEVICE_NOT_SIGNED, name, key, TODO_NOT_SIGNED,
                      "%s's roster in the key-transparency log is not signed by %s's account "
                      "key%s",
                      name, name, extra);
        break;
    }
    case KW_CLIENT_KT_ACCOUNT_KEY_CHANGED:
        if (own)
            ckv_alert(x, KW_CKV_ALERT_UNKNOWN_OWN_DEVICE, name, "account-key", TODO_OWN,
                      "the log shows your account %s under another account key", name);
        else
            ckv_alert(x, KW_CKV_ALERT_ACCOUNT_KEY_CHANGED, name, "kt-pin", TODO_KEY_CHANGED,
                      "%s's account key in the log is not the one first seen%s", name,
                      json_is_true(json_object_get(contact, "verified")) ? " and verified" : "");
        break;
    default:
        ckv_alert(x, KW_CKV_ALERT_PROOF_FAILED, name, key, TODO_PROOF,
                  "looking up %s in the key-transparency log failed verification: %s", name,
                  res->reason);
        break;
    }
}

/* A lookup that failed without a verdict: unreachable (an alert once the
 * newest verified head is older than the maximum merge delay), or a server
 * that refuses to prove anything from the pinned head — which is how a
 * rolled-back log answers: the newest head is then checked against the
 * pinned one (rollback, inconsistency: proof-failed). */
static int lookup_error(ckv_ctx *x, const char *name, bool own, int r)
{
    kw_client *c = x->c;
    int origin = kw_client_error_origin(c);
    if (origin == KW_CLIENT_ORIGIN_NETWORK) {
        check_unreachable(x, name);
        return r;
    }
    if (origin != KW_CLIENT_ORIGIN_SERVER)
        return r;
    char saved[512];
    snprintf(saved, sizeof(saved), "%s", kw_client_error(c));
    kw_client_kt_failure f = KW_CLIENT_KT_OK;
    kw_kt_reason kr = KW_KT_OK;
    int hr = kw_client_kt_head(c, NULL, &f, &kr);
    if (hr == KW_ERR_VERIFY) {
        kw_client_kt_result fake = {.failure = f, .kt_reason = kr,
                                    .reason = kw_client_kt_reason_name(f, kr)};
        lookup_alert(x, name, own, NULL, &fake);
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT %s: the log's newest tree head: %s (%s)",
                        f == KW_CLIENT_KT_SPLIT_VIEW ? KW_CKV_ALERT_SPLIT_VIEW
                                                     : KW_CKV_ALERT_PROOF_FAILED,
                        fake.reason, saved);
    }
    return kwc_fail(c, origin, r, "%s", saved);
}

/* ---- contacts ---- */

/* The check of every use of contact `name` (stored entry e, or NULL when
 * adding). On success *ros holds the verified roster and, when blob is
 * non-NULL, *blob its bytes; the entry is updated (e NULL: created). */
static int contact_check(ckv_ctx *x, const char *name, kw_roster *ros, uint8_t **blob,
                         size_t *blob_len)
{
    kw_client *c = x->c;
    json_t *contacts = json_object_get(x->st, "contacts");
    json_t *e = json_object_get(contacts, name);
    kw_client_kt_result res;
    uint8_t h[32];
    char key[96];
    int r;
    if (blob != NULL)
        *blob = NULL;
    r = kw_client_kt_lookup(c, name, &res);
    if (r == KW_ERR_VERIFY) {
        lookup_alert(x, name, false, e, &res);
        kw_client_kt_result_clear(&res);
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT %s: %s",
                        ckv_str(json_array_get(x->fresh, json_array_size(x->fresh) - 1), "kind"),
                        ckv_str(json_array_get(x->fresh, json_array_size(x->fresh) - 1), "what"));
    }
    if (r != KW_OK) {
        r = lookup_error(x, name, false, r);
        kw_client_kt_result_clear(&res);
        return r;
    }
    if (res.version == 0) {
        kw_client_kt_result_clear(&res);
        return kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND,
                        "the key-transparency log proves there is no account %s", name);
    }
    if ((r = kw_roster_open(ros, res.roster, res.roster_len, res.account_pk)) != KW_OK) {
        kw_client_kt_result_clear(&res);
        return kwc_fail(c, LOCAL, KW_ERR_INTERNAL, "verified roster does not open");
    }
    crypto_hash_sha256(h, res.roster, res.roster_len);
    if (e != NULL) {
        kw_ckv_pin pin;
        bool off = false;
        memset(&pin, 0, sizeof(pin));
        if (ckv_get_b64_fixed(e, "account_pk", pin.account_pk, 32) != KW_OK) {
            r = kwc_fail(c, KW_CLIENT_ORIGIN_PROFILE, KW_ERR_FORMAT, "damaged contact %s", name);
            goto out;
        }
        pin.roster_version = (uint64_t)ckv_int(e, "roster_version");
        if (ckv_get_b64_fixed(e, "roster_sha256", pin.roster_sha256, 32) != KW_OK)
            memset(pin.roster_sha256, 0, 32);
        pin.ckv = json_is_true(json_object_get(e, "ckv"));
        uint64_t old_v = pin.roster_version;
        switch (kw_ckv_pin_check(&pin, ros, res.roster, res.roster_len, &off)) {
        case KW_CKV_OK: break;
        case KW_CKV_KEY_CHANGED:
            ckv_alert(x, KW_CKV_ALERT_ACCOUNT_KEY_CHANGED, name, "contact-pin", TODO_KEY_CHANGED,
                      "%s's account key changed from the one pinned%s", name,
                      json_is_true(json_object_get(e, "verified")) ? " and verified" : "");
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT %s: %s's account key changed",
                         KW_CKV_ALERT_ACCOUNT_KEY_CHANGED, name);
            goto out;
        case KW_CKV_NOT_SIGNED:
            ckv_alert(x, KW_CKV_ALERT_DEVICE_NOT_SIGNED, name, "contact-pin", TODO_NOT_SIGNED,
                      "%s's roster is not signed by %s's pinned account key", name, name);
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT %s: %s's roster is not signed",
                         KW_CKV_ALERT_DEVICE_NOT_SIGNED, name);
            goto out;
        case KW_CKV_ROLLBACK:
        case KW_CKV_MALFORMED:
            snprintf(key, sizeof(key), "rollback:v%" PRIu64, ros->version);
            ckv_alert(x, KW_CKV_ALERT_PROOF_FAILED, name, key, TODO_PROOF,
                      "%s's roster went back from version %" PRIu64 " to %" PRIu64 "%s", name,
                      old_v, ros->version, ros->version == old_v ? " with other contents" : "");
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT %s: %s's roster was rolled back",
                         KW_CKV_ALERT_PROOF_FAILED, name);
            goto out;
        }
        bool own_on = json_is_true(json_object_get(json_object_get(x->st, "own"), "ckv"));
        if (off && own_on) {
            snprintf(key, sizeof(key), "v%" PRIu64, ros->version);
            ckv_alert(x, KW_CKV_ALERT_CKV_TURNED_OFF, name, key, TODO_CKV_OFF,
                      "%s turned Contact Key Verification off (roster version %" PRIu64 ")", name,
                      ros->version);
        }
    } else {
        e = json_pack("{s:b,s:s,s:I}", "verified", 0, "verified_how", "", "added_at",
                      (json_int_t)ckv_now());
        if (e == NULL || json_object_set_new(contacts, name, e) != 0) {
            r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
            goto out;
        }
        kwc_put_b64(e, "account_pk", res.account_pk, 32);
    }
    kwc_put_b64(e, "roster_sha256", h, 32);
    json_object_set_new(e, "roster_version", json_integer((json_int_t)ros->version));
    json_object_set_new(e, "ckv", json_boolean((ros->flags & KW_ROSTER_FLAG_CKV) != 0));
    json_object_set_new(e, "devices", devices_json(ros));
    json_object_set_new(e, "checked_at", json_integer((json_int_t)ckv_now()));
    json_object_set_new(e, "epoch", json_integer((json_int_t)res.head.epoch));
    x->dirty = true;
    check_fresh(x, &res.head, name);
    if (blob != NULL) {
        *blob = res.roster;
        *blob_len = res.roster_len;
        res.roster = NULL;
    }
    r = KW_OK;
out:
    kw_client_kt_result_clear(&res);
    return r;
}

static json_t *contact_json(const char *name, const json_t *e)
{
    uint8_t pk[32];
    char code[KW_CKV_CODEBYTES] = "";
    if (ckv_get_b64_fixed(e, "account_pk", pk, 32) == KW_OK)
        kw_ckv_code(code, name, pk);
    json_t *o = json_pack("{s:s,s:O,s:b,s:O,s:O,s:O,s:s}", "name", name, "account_pk",
                          json_object_get(e, "account_pk"), "verified",
                          json_is_true(json_object_get(e, "verified")), "ckv",
                          json_object_get(e, "ckv") != NULL ? json_object_get(e, "ckv") : json_false(),
                          "roster_version", json_object_get(e, "roster_version"), "devices",
                          json_object_get(e, "devices"), "code", code);
    if (o != NULL && ckv_str(e, "verified_how")[0] != '\0')
        json_object_set_new(o, "verified_how", json_string(ckv_str(e, "verified_how")));
    return o;
}

/* ---- self-monitoring ---- */

static bool own_known(const json_t *own, uint64_t version, const uint8_t h[32], bool *version_known)
{
    size_t i;
    json_t *r;
    uint8_t kh[32];
    *version_known = false;
    json_array_foreach(json_object_get(own, "rosters"), i, r)
    {
        if ((uint64_t)ckv_int(r, "version") != version)
            continue;
        *version_known = true;
        if (ckv_get_b64_fixed(r, "sha256", kh, 32) == KW_OK && kw_ct_equal(kh, h, 32))
            return true;
    }
    return false;
}

static void own_record(ckv_ctx *x, uint64_t version, const uint8_t h[32])
{
    json_t *own = json_object_get(x->st, "own");
    json_t *list = json_object_get(own, "rosters");
    bool vk;
    if (own_known(own, version, h, &vk) || vk)
        return;
    json_t *e = json_pack("{s:I,s:I}", "version", (json_int_t)version, "seen_at",
                          (json_int_t)ckv_now());
    if (e == NULL)
        return;
    kwc_put_b64(e, "sha256", h, 32);
    while (json_array_size(list) >= OWN_ROSTERS_MAX)
        json_array_remove(list, 0);
    json_array_append_new(list, e);
    x->dirty = true;
}

static int64_t own_seen_at(const json_t *own, uint64_t version)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(own, "rosters"), i, r)
    {
        if ((uint64_t)ckv_int(r, "version") == version)
            return ckv_int(r, "seen_at");
    }
    return 0;
}

/* The account's own roster through the authenticated path, verified under
 * the pinned account key (kwc_fetch_roster), recorded as made by one of
 * the account's devices. */
static int own_fetch(ckv_ctx *x, kw_roster *ros)
{
    uint8_t enc_h[32];
    int r = kwc_fetch_roster(x->c, ros);
    if (r == KW_ERR_VERIFY && kw_client_error_origin(x->c) == LOCAL) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", kw_client_error(x->c));
        ckv_alert(x, KW_CKV_ALERT_UNKNOWN_OWN_DEVICE, x->c->p->account, "server-roster", TODO_OWN,
                  "the server's roster of your account does not check out: %s", msg);
        return kwc_fail(x->c, LOCAL, KW_ERR_VERIFY, "ALERT %s: %s", KW_CKV_ALERT_UNKNOWN_OWN_DEVICE,
                        msg);
    }
    if (r != KW_OK && kw_client_error_origin(x->c) == KW_CLIENT_ORIGIN_NETWORK)
        check_unreachable(x, x->c->p->account);
    if (r != KW_OK)
        return r;
    /* the pins hold the hash of the verified bytes */
    memcpy(enc_h, x->c->pins.roster_hash, 32);
    own_record(x, ros->version, enc_h);
    json_object_set_new(json_object_get(x->st, "own"), "ckv",
                        json_boolean((ros->flags & KW_ROSTER_FLAG_CKV) != 0));
    return KW_OK;
}

/* Checks the own label in the log against the rosters the account's
 * devices made. */
static int self_check(ckv_ctx *x, const kw_roster *mine, json_t *result)
{
    kw_client *c = x->c;
    const char *name = c->p->account;
    json_t *own = json_object_get(x->st, "own");
    kw_client_kt_result res;
    uint8_t h[32];
    char key[64];
    kw_roster *lr = NULL;
    int r = kw_client_kt_lookup(c, name, &res);
    if (r == KW_ERR_VERIFY) {
        lookup_alert(x, name, true, NULL, &res);
        kw_client_kt_result_clear(&res);
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT %s: %s",
                        ckv_str(json_array_get(x->fresh, json_array_size(x->fresh) - 1), "kind"),
                        ckv_str(json_array_get(x->fresh, json_array_size(x->fresh) - 1), "what"));
    }
    if (r != KW_OK)
        return lookup_error(x, name, true, r);
    json_object_set_new(own, "checked_at", json_integer((json_int_t)ckv_now()));
    json_object_set_new(own, "checked_version", json_integer((json_int_t)mine->version));
    json_object_set_new(own, "log_version", json_integer((json_int_t)res.version));
    x->dirty = true;
    if (result != NULL) {
        json_object_set_new(result, "log_version", json_integer((json_int_t)res.version));
        json_object_set_new(result, "roster_version", json_integer((json_int_t)mine->version));
        json_object_set_new(result, "epoch", json_integer((json_int_t)res.head.epoch));
    }
    check_fresh(x, &res.head, name);
    if (res.version > 0 && !kw_ct_equal(res.account_pk, c->p->account_pk, 32)) {
        ckv_alert(x, KW_CKV_ALERT_UNKNOWN_OWN_DEVICE, name, "account-key", TODO_OWN,
                  "the log shows your account %s under another account key", name);
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT %s: the log shows another account key for %s",
                     KW_CKV_ALERT_UNKNOWN_OWN_DEVICE, name);
        goto out;
    }
    if ((uint64_t)res.version < mine->version) {
        int64_t since = own_seen_at(own, mine->version);
        if (since > 0 && ckv_now() - since > ckv_max_delay()) {
            snprintf(key, sizeof(key), "unpublished:v%" PRIu64, mine->version);
            ckv_alert(x, KW_CKV_ALERT_PROOF_FAILED, name, key, TODO_PROOF,
                      "the log still shows version %u of your roster, %lld s after your devices "
                      "made version %" PRIu64 " (the server may hide a device change from your "
                      "contacts)",
                      res.version, (long long)(ckv_now() - since), mine->version);
        } else if (result != NULL)
            json_object_set_new(result, "pending", json_true());
        r = KW_OK;
        goto out;
    }
    if (res.version == 0) {
        r = KW_OK;
        goto out;
    }
    crypto_hash_sha256(h, res.roster, res.roster_len);
    bool vk = false;
    if (own_known(own, res.version, h, &vk)) {
        r = KW_OK;
        goto out;
    }
    if ((lr = malloc(sizeof(*lr))) == NULL || kw_roster_open(lr, res.roster, res.roster_len,
                                                               c->p->account_pk) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_INTERNAL, "verified roster does not open");
        goto out;
    }
    /* A version signed by the account key that none of the account's
     * rosters seen through the authenticated path matches. */
    json_t *mine_devs = devices_json(mine);
    char names[512];
    device_names(names, sizeof(names), lr, mine_devs);
    json_decref(mine_devs);
    snprintf(key, sizeof(key), "v%u", res.version);
    ckv_alert(x, KW_CKV_ALERT_UNKNOWN_OWN_DEVICE, name, key, TODO_OWN,
              "the log shows roster version %u of your account that none of your devices made%s%s",
              res.version, names[0] != '\0' ? "; unknown devices: " : "", names);
    r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT %s: roster version %u of %s was not made by your "
                                          "devices",
                 KW_CKV_ALERT_UNKNOWN_OWN_DEVICE, res.version, name);
out:
    free(lr);
    kw_client_kt_result_clear(&res);
    return r;
}

/* Runs the self-check when forced, when the own roster changed since the
 * last one, or when the cadence is due. */
static int self_check_due(ckv_ctx *x, bool force, json_t *result)
{
    kw_roster *mine = malloc(sizeof(*mine));
    int r;
    if (mine == NULL)
        return kwc_fail(x->c, LOCAL, KW_ERR_NOMEM, "out of memory");
    if ((r = own_fetch(x, mine)) != KW_OK)
        goto out;
    json_t *own = json_object_get(x->st, "own");
    bool due = force || (uint64_t)ckv_int(own, "checked_version") != mine->version ||
               ckv_now() - ckv_int(own, "checked_at") >= KW_CKV_SELF_CADENCE_S ||
               (uint64_t)ckv_int(own, "log_version") < mine->version;
    if (result != NULL)
        json_object_set_new(result, "checked", json_boolean(due));
    r = due ? self_check(x, mine, result) : KW_OK;
out:
    free(mine);
    return r;
}

/* Ends a call: saves the state when changed (also after a failure, so
 * alerts are kept), sets *out. Returns r (or the save error). */
static int finish(ckv_ctx *x, int r, json_t *base, json_t **out)
{
    if (x->st != NULL && x->dirty) {
        char saved[512];
        int origin = kw_client_error_origin(x->c);
        snprintf(saved, sizeof(saved), "%s", kw_client_error(x->c));
        int s = ckv_save(x);
        if (r == KW_OK)
            r = s;
        else
            kwc_fail(x->c, origin, r, "%s", saved);
    }
    if (out != NULL) {
        if (x->fresh != NULL)
            *out = ckv_result(x, base);
        else
            *out = base;
        base = NULL;
    }
    json_decref(base);
    ckv_done(x);
    return r;
}

/* ---- public ---- */

int kw_client_ckv_self_check(kw_client *c, bool force, json_t **out)
{
    ckv_ctx x;
    *out = NULL;
    int r = ckv_load(&x, c);
    json_t *o = json_object();
    if (r == KW_OK)
        r = o == NULL ? KW_ERR_NOMEM : self_check_due(&x, force, o);
    return finish(&x, r, o, out);
}

int kw_client_ckv_own_change(kw_client *c, uint64_t version, const uint8_t *sha256, json_t **out)
{
    ckv_ctx x;
    kw_roster *mine = NULL;
    json_t *o = NULL;
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK)
        goto out;
    if ((o = json_object()) == NULL || (mine = malloc(sizeof(*mine))) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* what this device signed is ours, whatever the server answers next */
    if (sha256 != NULL && version > 0)
        own_record(&x, version, sha256);
    if ((r = own_fetch(&x, mine)) != KW_OK)
        goto out;
    bool on = (mine->flags & KW_ROSTER_FLAG_CKV) != 0;
    json_object_set_new(o, "ckv", json_boolean(on));
    json_object_set_new(o, "checked", json_boolean(on));
    if (on)
        r = self_check(&x, mine, o);
out:
    free(mine);
    return finish(&x, r, o, out);
}

int kw_client_contact_add(kw_client *c, const char *name, json_t **out)
{
    ckv_ctx x;
    kw_roster *ros = NULL;
    json_t *o = NULL;
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK)
        goto out;
    if (!name_ok(name)) {
        r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "'%s' is not an account name", name != NULL ? name : "");
        goto out;
    }
    if (strcmp(name, c->p->account) == 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "%s is your own account", name);
        goto out;
    }
    if (json_object_get(json_object_get(x.st, "contacts"), name) != NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_CONFLICT, "%s is a contact already (`keyward contact show %s`)",
                     name, name);
        goto out;
    }
    if (json_object_size(json_object_get(x.st, "contacts")) >= KW_CKV_CONTACTS_MAX) {
        r = kwc_fail(c, LOCAL, KW_ERR_LIMIT, "at most %d contacts", KW_CKV_CONTACTS_MAX);
        goto out;
    }
    if ((ros = malloc(sizeof(*ros))) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* a failed self-check is an alert (or an error) about the own account;
     * the contact still gets its own verification */
    (void)self_check_due(&x, false, NULL);
    if ((r = contact_check(&x, name, ros, NULL, NULL)) != KW_OK)
        goto out;
    o = contact_json(name, json_object_get(json_object_get(x.st, "contacts"), name));
    if (o != NULL)
        json_object_set_new(o, "added", json_true());
out:
    free(ros);
    return finish(&x, r, o, out);
}

int kw_client_contact_list(kw_client *c, json_t **out)
{
    ckv_ctx x;
    json_t *o = NULL;
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r == KW_OK) {
        json_t *arr = json_array();
        const char *k;
        json_t *e;
        json_object_foreach(json_object_get(x.st, "contacts"), k, e)
        {
            json_array_append_new(arr, contact_json(k, e));
        }
        o = json_pack("{s:o}", "contacts", arr);
        if (o == NULL)
            r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    }
    return finish(&x, r, o, out);
}

static int contact_need(ckv_ctx *x, const char *name)
{
    if (!name_ok(name))
        return kwc_fail(x->c, LOCAL, KW_ERR_INVALID_ARG, "'%s' is not an account name",
                        name != NULL ? name : "");
    if (json_object_get(json_object_get(x->st, "contacts"), name) == NULL)
        return kwc_fail(x->c, LOCAL, KW_ERR_NOT_FOUND, "%s is not a contact (`keyward contact add %s`)",
                        name, name);
    return KW_OK;
}

int kw_client_ckv_contact_check(kw_client *c, const char *name, uint8_t **roster,
                                size_t *roster_len, json_t **out)
{
    ckv_ctx x;
    kw_roster *ros = NULL;
    json_t *o = NULL;
    if (out != NULL)
        *out = NULL;
    if (roster != NULL)
        *roster = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK || (r = contact_need(&x, name)) != KW_OK)
        goto out;
    if ((ros = malloc(sizeof(*ros))) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = contact_check(&x, name, ros, roster, roster_len)) != KW_OK)
        goto out;
    o = contact_json(name, json_object_get(json_object_get(x.st, "contacts"), name));
out:
    free(ros);
    return finish(&x, r, o, out);
}

int kw_client_contact_show(kw_client *c, const char *name, json_t **out)
{
    ckv_ctx x;
    kw_roster *ros = NULL;
    json_t *o = NULL;
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK || (r = contact_need(&x, name)) != KW_OK)
        goto out;
    if ((ros = malloc(sizeof(*ros))) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    (void)self_check_due(&x, false, NULL);
    r = contact_check(&x, name, ros, NULL, NULL);
    o = contact_json(name, json_object_get(json_object_get(x.st, "contacts"), name));
out:
    free(ros);
    return finish(&x, r, o, out);
}

int kw_client_contact_remove(kw_client *c, const char *name, json_t **out)
{
    ckv_ctx x;
    json_t *o = NULL;
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK || (r = contact_need(&x, name)) != KW_OK)
        goto out;
    json_object_del(json_object_get(x.st, "contacts"), name);
    x.dirty = true;
    o = json_pack("{s:s}", "removed", name);
out:
    return finish(&x, r, o, out);
}

static int mark_verified(ckv_ctx *x, const char *name, const char *how)
{
    json_t *e = json_object_get(json_object_get(x->st, "contacts"), name);
    json_object_set_new(e, "verified", json_true());
    json_object_set_new(e, "verified_how", json_string(how));
    json_object_set_new(e, "verified_at", json_integer((json_int_t)ckv_now()));
    x->dirty = true;
    return KW_OK;
}

int kw_client_contact_verify_code(kw_client *c, const char *name, const char *code, json_t **out)
{
    ckv_ctx x;
    kw_roster *ros = NULL;
    json_t *o = NULL;
    uint8_t pk[32];
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK || (r = contact_need(&x, name)) != KW_OK)
        goto out;
    if ((ros = malloc(sizeof(*ros))) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = contact_check(&x, name, ros, NULL, NULL)) != KW_OK)
        goto out;
    json_t *e = json_object_get(json_object_get(x.st, "contacts"), name);
    if (ckv_get_b64_fixed(e, "account_pk", pk, 32) != KW_OK) {
        r = kwc_fail(c, KW_CLIENT_ORIGIN_PROFILE, KW_ERR_FORMAT, "damaged contact %s", name);
        goto out;
    }
    r = kw_ckv_code_check(code, name, pk);
    if (r == KW_ERR_FORMAT) {
        r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "a verification code is 30 digits");
        goto out;
    }
    if (r != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                     "the code does not match %s's account key as the log shows it: NOT verified "
                     "(the server may be showing you another key, or the code is mistyped)",
                     name);
        goto out;
    }
    mark_verified(&x, name, "code");
    o = contact_json(name, e);
out:
    free(ros);
    return finish(&x, r, o, out);
}

int kw_client_contact_mark_verified(kw_client *c, const char *name, const char *how, json_t **out)
{
    ckv_ctx x;
    json_t *o = NULL;
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK || (r = contact_need(&x, name)) != KW_OK)
        goto out;
    mark_verified(&x, name, how != NULL ? how : "sas");
    o = contact_json(name, json_object_get(json_object_get(x.st, "contacts"), name));
out:
    return finish(&x, r, o, out);
}

int kw_client_ckv_code(kw_client *c, json_t **out)
{
    char code[KW_CKV_CODEBYTES], pk[48];
    *out = NULL;
    int r = kwc_need_profile(c);
    if (r != KW_OK)
        return r;
    if (!c->p->has_account_pk || c->p->account[0] == '\0')
        return kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND, "this profile has no account yet");
    if ((r = kw_ckv_code(code, c->p->account, c->p->account_pk)) != KW_OK)
        return kwc_fail(c, LOCAL, r, "cannot compute the code");
    b64(pk, sizeof(pk), c->p->account_pk, 32);
    *out = json_pack("{s:s,s:s,s:s}", "account", c->p->account, "account_pk", pk, "code", code);
    return *out != NULL ? KW_OK : kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
}

/* Split views met through message gossip: every inbox message whose
 * sender's tree head could not be reconciled with ours (keyward/
 * client_msg.h, gossip "split-view") becomes a stored split-view alert. */
static void gossip_alerts(ckv_ctx *x)
{
    kw_client_msg *list = NULL;
    size_t n = 0;
    char saved[512];
    int origin = kw_client_error_origin(x->c);
    snprintf(saved, sizeof(saved), "%s", kw_client_error(x->c));
    if (kw_client_msg_list(x->c, NULL, NULL, &list, &n) == KW_OK) {
        for (size_t i = 0; i < n; i++) {
            if (list[i].gossip != KW_CLIENT_MSG_GOSSIP_SPLIT_VIEW)
                continue;
            char key[48];
            snprintf(key, sizeof(key), "msg:%s", list[i].id_b64);
            ckv_alert(x, KW_CKV_ALERT_SPLIT_VIEW, list[i].sender, key, TODO_SPLIT,
                      "the tree head in %s's message %s is not on the log this server shows you: "
                      "split view (%s)",
                      list[i].sender, list[i].id_b64, list[i].gossip_reason);
        }
        kw_client_msg_list_free(&list, n);
    }
    kwc_fail(x->c, origin, KW_OK, "%s", saved);
}

int kw_client_ckv_alerts(kw_client *c, bool mark_seen, json_t **out)
{
    ckv_ctx x;
    json_t *o = NULL;
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK)
        goto out;
    /* self-monitoring when due; its own failure is an alert listed below */
    int sr = self_check_due(&x, false, NULL);
    gossip_alerts(&x);
    json_t *arr = json_array(), *alerts = json_object_get(x.st, "alerts");
    size_t unseen = 0;
    for (size_t i = json_array_size(alerts); i-- > 0;) {
        json_t *a = json_array_get(alerts, i);
        json_t *copy = json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "id", json_object_get(a, "id"),
                                 "kind", json_object_get(a, "kind"), "subject",
                                 json_object_get(a, "subject"), "what", json_object_get(a, "what"),
                                 "todo", json_object_get(a, "todo"), "at", json_object_get(a, "at"),
                                 "seen", json_object_get(a, "seen"));
        json_array_append_new(arr, copy);
        if (!json_is_true(json_object_get(a, "seen"))) {
            unseen++;
            if (mark_seen) {
                json_object_set_new(a, "seen", json_true());
                x.dirty = true;
            }
        }
    }
    o = json_pack("{s:o,s:I,s:b}", "all", arr, "unseen", (json_int_t)unseen, "self_check_ok",
                  sr == KW_OK);
    r = KW_OK;
out:
    return finish(&x, r, o, out);
}

int kw_client_ckv_status(kw_client *c, json_t **out)
{
    ckv_ctx x;
    json_t *o = NULL;
    kw_kt_head h;
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK)
        goto out;
    if ((r = self_check_due(&x, false, NULL)) != KW_OK && r != KW_ERR_VERIFY)
        goto out;
    json_t *own = json_object_get(x.st, "own");
    size_t unseen = 0, i;
    json_t *a;
    json_array_foreach(json_object_get(x.st, "alerts"), i, a)
    {
        if (!json_is_true(json_object_get(a, "seen")))
            unseen++;
    }
    o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I}", "account", c->p->account, "ckv",
                  json_is_true(json_object_get(own, "ckv")), "roster_version",
                  (json_int_t)ckv_int(own, "checked_version"), "log_version",
                  (json_int_t)ckv_int(own, "log_version"), "contacts",
                  (json_int_t)json_object_size(json_object_get(x.st, "contacts")), "unseen_alerts",
                  (json_int_t)unseen);
    if (o != NULL && kw_client_kt_pinned(c, &h) == KW_OK)
        json_object_set_new(o, "epoch", json_integer((json_int_t)h.epoch));
    r = KW_OK;
out:
    return finish(&x, r, o, out);
}

int kw_client_ckv_set(kw_client *c, bool on, json_t **out)
{
    ckv_ctx x;
    kw_roster *ros = NULL;
    kw_sign_key *ak = NULL;
    json_t *body = NULL, *resp = NULL, *o = NULL;
    uint8_t *enc = NULL, h[32];
    size_t enc_len = 0;
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK)
        goto out;
    if ((ros = malloc(sizeof(*ros))) == NULL || (enc = malloc(KW_ROSTER_MAXBYTES)) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* the verified current roster and the account key (from the keychain) */
    if ((r = kwc_sync_kk(c, NULL, NULL, NULL, ros)) != KW_OK || (r = kwc_account_key(c, &ak)) != KW_OK)
        goto out;
    own_record(&x, ros->version, c->pins.roster_hash);
    bool is_on = (ros->flags & KW_ROSTER_FLAG_CKV) != 0;
    if (is_on == on) {
        r = kwc_fail(c, LOCAL, KW_ERR_CONFLICT, "Contact Key Verification is already %s",
                     on ? "on" : "off");
        goto out;
    }
    ros->version++;
    ros->flags = (uint8_t)(on ? (ros->flags | KW_ROSTER_FLAG_CKV) : (ros->flags & ~KW_ROSTER_FLAG_CKV));
    if ((r = kw_roster_encode(enc, KW_ROSTER_MAXBYTES, &enc_len, ros, ak)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "cannot sign the roster: %s", kw_strerror(r));
        goto out;
    }
    body = json_object();
    if (body == NULL || kwc_put_b64(body, "roster", enc, enc_len) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/roster/flags", body, true, &resp)) != KW_OK)
        goto out;
    crypto_hash_sha256(h, enc, enc_len);
    own_record(&x, ros->version, h);
    json_object_set_new(json_object_get(x.st, "own"), "ckv", json_boolean(on));
    if ((r = kwc_roster_pin(c, ros, enc, enc_len)) != KW_OK)
        goto out;
    o = json_pack("{s:s,s:b,s:I}", "account", c->p->account, "ckv", on, "roster_version",
                  (json_int_t)ros->version);
    /* self-monitoring after every change (the log takes up to one epoch to
     * show it: "pending" until then) */
    json_t *sc = json_object();
    if (sc != NULL) {
        int sr = self_check_due(&x, true, sc);
        json_object_set_new(o, "self_check", sc);
        if (sr == KW_ERR_VERIFY)
            r = sr;
    }
out:
    kw_sign_key_free(&ak);
    free(ros);
    free(enc);
    json_decref(body);
    json_decref(resp);
    return finish(&x, r, o, out);
}

int kw_client_ckv_head(kw_client *c, uint8_t head[static 152])
{
    kw_kt_head h;
    int r = kw_client_kt_pinned(c, &h);
    if (r != KW_OK)
        return r;
    kw_kt_head_encode(head, &h);
    return KW_OK;
}

int kw_client_ckv_gossip_check(kw_client *c, const uint8_t *head, size_t head_len, const char *from,
                               json_t **out)
{
    ckv_ctx x;
    kw_client_kt_failure f = KW_CLIENT_KT_OK;
    kw_kt_reason kr = KW_KT_OK;
    json_t *o = NULL;
    const char *who = from != NULL && name_ok(from) ? from : "(a peer)";
    *out = NULL;
    int r = ckv_load(&x, c);
    if (r != KW_OK)
        goto out;
    kw_kt_head mine;
    if (kw_client_kt_pinned(c, &mine) != KW_OK &&
        (r = kw_client_kt_head(c, NULL, &f, &kr)) != KW_OK) {
        if (r == KW_ERR_VERIFY) {
            kw_client_kt_result fake = {.failure = f, .kt_reason = kr,
                                        .reason = kw_client_kt_reason_name(f, kr)};
            lookup_alert(&x, who, false, NULL, &fake);
        }
        goto out;
    }
    r = kw_client_kt_check_gossip(c, head, head_len, &f, &kr);
    if (r == KW_ERR_VERIFY) {
        kw_kt_head g;
        char key[64] = "malformed";
        if (kw_kt_head_decode(&g, head, head_len) == KW_OK)
            snprintf(key, sizeof(key), "epoch:%" PRIu64, g.epoch);
        if (f == KW_CLIENT_KT_SPLIT_VIEW)
            ckv_alert(&x, KW_CKV_ALERT_SPLIT_VIEW, who, key, TODO_SPLIT,
                      "the tree head %s sent (%s) is not on the log this server shows you: split "
                      "view (%s)",
                      who, key, kw_kt_reason_name(kr));
        else
            ckv_alert(&x, KW_CKV_ALERT_PROOF_FAILED, who, key, TODO_PROOF,
                      "the tree head %s sent does not check out: %s", who,
                      kw_client_kt_reason_name(f, kr));
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT %s: tree head from %s: %s",
                     f == KW_CLIENT_KT_SPLIT_VIEW ? KW_CKV_ALERT_SPLIT_VIEW : KW_CKV_ALERT_PROOF_FAILED,
                     who, kw_client_kt_reason_name(f, kr));
        goto out;
    }
    if (r != KW_OK)
        goto out;
    o = json_pack("{s:s,s:b}", "from", who, "consistent", 1);
out:
    return finish(&x, r, o, out);
}
