/* The client side of key transparency. See keyward/client_kt.h. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/client_internal.h"
#include "keyward/client_kt.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/roster.h"

#define KT_FILE "kt.json"
#define KT_FILE_MAXBYTES ((size_t)4 << 20)
#define LOCAL KW_CLIENT_ORIGIN_LOCAL
#define PROFILE KW_CLIENT_ORIGIN_PROFILE

typedef struct {
    json_t *j; /* the whole kt.json */
    bool have_keys;
    uint8_t log_pk[KW_SIGN_PUBLICKEYBYTES];
    uint8_t vrf_pk[KW_VRF_PUBLICKEYBYTES];
    bool have_head;
    kw_kt_head head;
    bool have_frontier; /* the pinned head's log frontier (compact searches) */
    kw_log_compact frontier;
} kt_state;

/* What failed, for the out-parameters of the public functions. */
typedef struct {
    kw_client_kt_failure f;
    kw_kt_reason kr;
} kt_why;

const char *kw_client_kt_reason_name(kw_client_kt_failure f, kw_kt_reason kt_reason)
{
    switch (f) {
    case KW_CLIENT_KT_OK: return "";
    case KW_CLIENT_KT_PROOF: return kw_kt_reason_name(kt_reason);
    case KW_CLIENT_KT_SPLIT_VIEW: return "split-view";
    case KW_CLIENT_KT_ROSTER_MALFORMED: return "roster-malformed";
    case KW_CLIENT_KT_ROSTER_SIGNATURE: return "roster-signature";
    case KW_CLIENT_KT_ROSTER_WRONG_ACCOUNT: return "roster-wrong-account";
    case KW_CLIENT_KT_ROSTER_WRONG_VERSION: return "roster-wrong-version";
    case KW_CLIENT_KT_ACCOUNT_KEY_CHANGED: return "account-key-changed";
    case KW_CLIENT_KT_AUDITOR_MISSING: return "auditor-signature-missing";
    case KW_CLIENT_KT_ROSTER_ROLLBACK: return "roster-rollback";
    }
    return "unknown";
}

void kw_client_kt_result_clear(kw_client_kt_result *res)
{
    if (res == NULL)
        return;
    free(res->roster);
    memset(res, 0, sizeof(*res));
    res->reason = "";
}

static int verify_fail(kw_client *c, kt_why *w, kw_client_kt_failure f, kw_kt_reason kr)
{
    w->f = f;
    w->kr = kr;
    return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "key transparency: verification failed: %s",
                    kw_client_kt_reason_name(f, kr));
}

int kw_client_kt_open(kw_client **out, const kw_client_options *o)
{
    const char *env;
    int r;
    *out = NULL;
    kw_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return KW_ERR_NOMEM;
    *out = c;
    if ((r = kwc_profile_path(c->dir, o->profile_dir)) != KW_OK)
        return kwc_fail(c, PROFILE, r, "no profile directory: give --profile DIR or set KEYWARD_HOME");
    if (o->server_url != NULL)
        snprintf(c->server, sizeof(c->server), "%s", o->server_url);
    else if ((env = getenv("KEYWARD_SERVER")) != NULL)
        snprintf(c->server, sizeof(c->server), "%s", env);
    if (o->ca_file != NULL)
        snprintf(c->ca_file, sizeof(c->ca_file), "%s", o->ca_file);
    else if ((env = getenv("KEYWARD_CA")) != NULL)
        snprintf(c->ca_file, sizeof(c->ca_file), "%s", env);
    for (size_t n = strlen(c->server); n > 0 && c->server[n - 1] == '/'; n--)
        c->server[n - 1] = '\0';
    return KW_OK;
}

/* ---- kt.json ---- */

static void state_free(kt_state *st)
{
    json_decref(st->j);
    memset(st, 0, sizeof(*st));
}

static int state_load(kw_client *c, kt_state *st)
{
    char path[PATH_MAX + 16];
    struct stat sb;
    json_error_t jerr;
    memset(st, 0, sizeof(*st));
    if (c->server[0] == '\0')
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG,
                        "no server: give --server URL or set KEYWARD_SERVER");
    if (snprintf(path, sizeof(path), "%s/%s", c->dir, KT_FILE) >= (int)sizeof(path))
        return kwc_fail(c, PROFILE, KW_ERR_TOO_LARGE, "profile path too long");
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT)
            return kwc_fail(c, PROFILE, KW_ERR_SYSTEM, "cannot read %s", path);
        st->j = json_pack("{s:s,s:{},s:[]}", "server", c->server, "accounts", "auditors");
        return st->j == NULL ? KW_ERR_NOMEM : KW_OK;
    }
    if ((size_t)sb.st_size > KT_FILE_MAXBYTES)
        return kwc_fail(c, PROFILE, KW_ERR_TOO_LARGE, "%s is too large", path);
    st->j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(st->j))
        goto damaged;
    const char *srv = json_string_value(json_object_get(st->j, "server"));
    if (srv == NULL)
        goto damaged;
    if (strcmp(srv, c->server) != 0)
        return kwc_fail(c, PROFILE, KW_ERR_CONFLICT, "%s pins another server (%s)", path, srv);
    if (!json_is_object(json_object_get(st->j, "accounts")))
        json_object_set_new(st->j, "accounts", json_object());
    if (!json_is_array(json_object_get(st->j, "auditors")))
        json_object_set_new(st->j, "auditors", json_array());
    if (json_object_get(st->j, "log_pk") != NULL) {
        if (kwc_get_b64_fixed(st->j, "log_pk", st->log_pk, sizeof(st->log_pk)) != KW_OK ||
            kwc_get_b64_fixed(st->j, "vrf_pk", st->vrf_pk, sizeof(st->vrf_pk)) != KW_OK)
            goto damaged;
        st->have_keys = true;
    }
    if (json_object_get(st->j, "head") != NULL) {
        uint8_t enc[KW_KT_HEADBYTES];
        if (kwc_get_b64_fixed(st->j, "head", enc, sizeof(enc)) != KW_OK ||
            kw_kt_head_decode(&st->head, enc, sizeof(enc)) != KW_OK)
            goto damaged;
        st->have_head = true;
    }
    /* Additive: profiles without a frontier (or with one that does not
     * belong to the pinned head) load and use the classic search form. */
    uint8_t *fb = NULL;
    size_t fl = 0;
    if (st->have_head && json_object_get(st->j, "frontier") != NULL &&
        kwc_get_b64(st->j, "frontier", KW_KT_FRONTIER_MAXBYTES, &fb, &fl) == KW_OK &&
        kw_kt_frontier_decode(&st->frontier, fb, fl) == KW_OK &&
        st->frontier.size == st->head.log_size)
        st->have_frontier = true;
    free(fb);
    return KW_OK;
damaged:
    json_decref(st->j);
    st->j = NULL;
    return kwc_fail(c, PROFILE, KW_ERR_FORMAT, "%s is damaged", path);
}

static int state_save(kw_client *c, kt_state *st)
{
    if (st->have_head) {
        uint8_t enc[KW_KT_HEADBYTES];
        kw_kt_head_encode(enc, &st->head);
        if (kwc_put_b64(st->j, "head", enc, sizeof(enc)) != KW_OK)
            return KW_ERR_NOMEM;
    }
    if (st->have_head && st->have_frontier && st->frontier.size == st->head.log_size) {
        uint8_t fenc[KW_KT_FRONTIER_MAXBYTES];
        size_t fl = 0;
        if (kw_kt_frontier_encode(fenc, sizeof(fenc), &fl, &st->frontier) != KW_OK ||
            kwc_put_b64(st->j, "frontier", fenc, fl) != KW_OK)
            return KW_ERR_NOMEM;
    } else {
        (void)json_object_del(st->j, "frontier");
    }
    char *text = json_dumps(st->j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text == NULL)
        return KW_ERR_NOMEM;
    (void)mkdir(c->dir, 0700);
    int r = kwc_write_file(c->dir, KT_FILE, (const uint8_t *)text, strlen(text));
    free(text);
    if (r != KW_OK)
        return kwc_fail(c, PROFILE, r, "cannot write %s/%s", c->dir, KT_FILE);
    return KW_OK;
}

/* Pins the server's keys on first use. */
static int state_keys(kw_client *c, kt_state *st)
{
    json_t *resp = NULL;
    int r;
    if (st->have_keys)
        return KW_OK;
    if ((r = kwc_http(c, "GET", "/v1/kt/keys", NULL, false, &resp)) != KW_OK)
        return r;
    if (kwc_get_b64_fixed(resp, "log_pk", st->log_pk, sizeof(st->log_pk)) != KW_OK ||
        kwc_get_b64_fixed(resp, "vrf_pk", st->vrf_pk, sizeof(st->vrf_pk)) != KW_OK ||
        kw_sign_pk_validate(st->log_pk) != KW_OK) {
        json_decref(resp);
        return kwc_bad_answer(c, "directory keys");
    }
    json_decref(resp);
    if (kwc_put_b64(st->j, "log_pk", st->log_pk, sizeof(st->log_pk)) != KW_OK ||
        kwc_put_b64(st->j, "vrf_pk", st->vrf_pk, sizeof(st->vrf_pk)) != KW_OK)
        return KW_ERR_NOMEM;
    st->have_keys = true;
    return KW_OK;
}

static bool heads_equal(const kw_kt_head *a, const kw_kt_head *b)
{
    uint8_t ea[KW_KT_HEADBYTES], eb[KW_KT_HEADBYTES];
    kw_kt_head_encode(ea, a);
    kw_kt_head_encode(eb, b);
    return kw_ct_equal(ea, eb, sizeof(ea));
}

/* Proves that `newer` extends `older` (both signature-checked already):
 * fetches the consistency proof between their epochs and verifies it.
 * KW_ERR_VERIFY with *kr when it does not; network errors as they come. */
static int kt_link(kw_client *c, const kt_state *st, const kw_kt_head *older,
                   const kw_kt_head *newer, kw_kt_reason *kr)
{
    char path[96];
    json_t *resp = NULL;
    uint8_t *proof = NULL;
    size_t len = 0;
    kw_kt_head got;
    int r;
    *kr = KW_KT_OK;
    if (older->epoch > newer->epoch) {
        *kr = KW_KT_HEAD_ROLLBACK;
        return KW_ERR_VERIFY;
    }
    if (older->epoch == newer->epoch) {
        if (heads_equal(older, newer))
            return KW_OK;
        *kr = KW_KT_INCONSISTENT;
        return KW_ERR_VERIFY;
    }
    snprintf(path, sizeof(path), "/v1/kt/consistency/%" PRIu64 "/%" PRIu64, older->epoch,
             newer->epoch);
    if ((r = kwc_http(c, "GET", path, NULL, false, &resp)) != KW_OK)
        return r;
    r = kwc_get_b64(resp, "proof", KW_KT_RESPONSE_MAXBYTES, &proof, &len);
    json_decref(resp);
    if (r != KW_OK)
        return kwc_bad_answer(c, "consistency proof");
    kw_kt_trust t = {.log_pk = st->log_pk, .vrf_pk = st->vrf_pk, .pinned = older};
    r = kw_kt_consistency_verify(&got, kr, &t, proof, len);
    free(proof);
    if (r == KW_OK && !heads_equal(&got, newer)) {
        *kr = KW_KT_INCONSISTENT;
        r = KW_ERR_VERIFY;
    }
    if (r != KW_OK && r != KW_ERR_VERIFY) {
        *kr = KW_KT_MALFORMED;
        r = KW_ERR_VERIFY;
    }
    return r;
}

/* Checks the required auditors' signatures for head h (already verified
 * and consistent with the pinned head). */
static int check_auditors(kw_client *c, const kt_state *st, const kw_kt_head *h, kt_why *w)
{
    json_t *auds = json_object_get(st->j, "auditors"), *a;
    size_t i;
    json_array_foreach(auds, i, a)
    {
        uint8_t pk[32], *rec = NULL;
        char b64[64], path[128];
        size_t len = 0;
        uint64_t max_lag = 0;
        json_t *resp = NULL;
        kw_kt_head ah;
        kw_kt_reason kr;
        if (kwc_get_b64_fixed(a, "pk", pk, sizeof(pk)) != KW_OK || kwc_get_u64(a, "max_lag", &max_lag) != KW_OK)
            return kwc_fail(c, PROFILE, KW_ERR_FORMAT, "kt.json: damaged auditor entry");
        kw_b64url_encode(b64, sizeof(b64), pk, sizeof(pk));
        snprintf(path, sizeof(path), "/v1/kt/auditor/%s", b64);
        int r = kwc_http(c, "GET", path, NULL, false, &resp);
        if (r == KW_ERR_NOT_FOUND)
            return verify_fail(c, w, KW_CLIENT_KT_AUDITOR_MISSING, KW_KT_OK);
        if (r != KW_OK)
            return r;
        r = kwc_get_b64(resp, "record", KW_KT_AUDITOR_SIGBYTES, &rec, &len);
        json_decref(resp);
        if (r != KW_OK)
            return verify_fail(c, w, KW_CLIENT_KT_AUDITOR_MISSING, KW_KT_MALFORMED);
        r = kw_kt_auditor_sig_verify(&ah, NULL, rec, len, pk, st->log_pk);
        free(rec);
        if (r != KW_OK)
            return verify_fail(c, w, KW_CLIENT_KT_AUDITOR_MISSING, KW_KT_OK);
        if (h->epoch > ah.epoch && h->epoch - ah.epoch > max_lag)
            return verify_fail(c, w, KW_CLIENT_KT_AUDITOR_MISSING, KW_KT_OK);
        r = ah.epoch <= h->epoch ? kt_link(c, st, &ah, h, &kr) : kt_link(c, st, h, &ah, &kr);
        if (r == KW_ERR_VERIFY)
            return verify_fail(c, w, KW_CLIENT_KT_SPLIT_VIEW, kr);
        if (r != KW_OK)
            return r;
    }
    return KW_OK;
}

/* Pins h (verified, consistent with the pinned head) after the auditor
 * checks, with its log frontier f (NULL: none known; a re-pinned same head
 * keeps its frontier), and saves kt.json. */
static int adopt(kw_client *c, kt_state *st, const kw_kt_head *h, const kw_log_compact *f,
                 kt_why *w)
{
    int r;
    if ((r = check_auditors(c, st, h, w)) != KW_OK)
        return r;
    if (!st->have_head || h->epoch >= st->head.epoch) {
        bool same = st->have_head && heads_equal(&st->head, h);
        st->head = *h;
        st->have_head = true;
        if (f != NULL && f->size == h->log_size) {
            st->frontier = *f;
            st->have_frontier = true;
        } else if (!same) {
            st->have_frontier = false;
        }
    }
    return state_save(c, st);
}

/* ---- public functions ---- */

int kw_client_kt_pin_keys(kw_client *c, const uint8_t log_pk[static 32],
                          const uint8_t vrf_pk[static 32])
{
    kt_state st;
    int r = state_load(c, &st);
    if (r != KW_OK)
        return r;
    if (st.have_keys) {
        r = kw_ct_equal(st.log_pk, log_pk, 32) && kw_ct_equal(st.vrf_pk, vrf_pk, 32)
                ? KW_OK
                : kwc_fail(c, PROFILE, KW_ERR_CONFLICT, "other directory keys are pinned already");
        goto out;
    }
    if (kw_sign_pk_validate(log_pk) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "not a valid log public key");
        goto out;
    }
    if ((r = kwc_put_b64(st.j, "log_pk", log_pk, 32)) != KW_OK ||
        (r = kwc_put_b64(st.j, "vrf_pk", vrf_pk, 32)) != KW_OK)
        goto out;
    r = state_save(c, &st);
out:
    state_free(&st);
    return r;
}

int kw_client_kt_pinned(kw_client *c, kw_kt_head *head)
{
    kt_state st;
    int r = state_load(c, &st);
    if (r != KW_OK)
        return r;
    r = st.have_head ? KW_OK : KW_ERR_NOT_FOUND;
    if (r == KW_OK && head != NULL)
        *head = st.head;
    state_free(&st);
    return r;
}

int kw_client_kt_require_auditor(kw_client *c, const uint8_t auditor_pk[static 32],
                                 uint64_t max_lag)
{
    kt_state st;
    int r = state_load(c, &st);
    if (r != KW_OK)
        return r;
    json_t *auds = json_object_get(st.j, "auditors"), *a, *e = NULL;
    size_t i;
    json_array_foreach(auds, i, a)
    {
        uint8_t pk[32];
        if (kwc_get_b64_fixed(a, "pk", pk, sizeof(pk)) == KW_OK && kw_ct_equal(pk, auditor_pk, 32)) {
            r = json_object_set_new(a, "max_lag", json_integer((json_int_t)max_lag)) == 0
                    ? state_save(c, &st)
                    : KW_ERR_NOMEM;
            goto out;
        }
    }
    if (json_array_size(auds) >= KW_CLIENT_KT_AUDITORS_MAX) {
        r = kwc_fail(c, LOCAL, KW_ERR_LIMIT, "at most %d auditors", KW_CLIENT_KT_AUDITORS_MAX);
        goto out;
    }
    if (kw_sign_pk_validate(auditor_pk) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "not a valid auditor public key");
        goto out;
    }
    if (max_lag > (uint64_t)INT64_MAX) {
        r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "max_lag too large");
        goto out;
    }
    e = json_pack("{s:I}", "max_lag", (json_int_t)max_lag);
    if (e == NULL || (r = kwc_put_b64(e, "pk", auditor_pk, 32)) != KW_OK ||
        json_array_append(auds, e) != 0) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    r = state_save(c, &st);
out:
    json_decref(e);
    state_free(&st);
    return r;
}

/* Fetches, verifies and pins the newest head. */
static int head_update(kw_client *c, kt_state *st, kw_kt_head *out, kt_why *w)
{
    json_t *resp = NULL;
    uint8_t enc[KW_KT_HEADBYTES];
    kw_kt_head h;
    kw_kt_reason kr;
    int r;
    if ((r = state_keys(c, st)) != KW_OK)
        return r;
    if ((r = kwc_http(c, "GET", "/v1/kt/head", NULL, false, &resp)) != KW_OK)
        return r;
    r = kwc_get_b64_fixed(resp, "head", enc, sizeof(enc));
    json_decref(resp);
    if (r != KW_OK || kw_kt_head_decode(&h, enc, sizeof(enc)) != KW_OK)
        return verify_fail(c, w, KW_CLIENT_KT_PROOF, KW_KT_MALFORMED);
    if (kw_kt_head_verify(&h, st->log_pk) != KW_OK)
        return verify_fail(c, w, KW_CLIENT_KT_PROOF, KW_KT_BAD_HEAD_SIGNATURE);
    if (st->have_head) {
        if (h.epoch < st->head.epoch)
            return verify_fail(c, w, KW_CLIENT_KT_PROOF, KW_KT_HEAD_ROLLBACK);
        r = kt_link(c, st, &st->head, &h, &kr);
        if (r == KW_ERR_VERIFY)
            return verify_fail(c, w, KW_CLIENT_KT_PROOF, kr);
        if (r != KW_OK)
            return r;
    }
    if ((r = adopt(c, st, &h, NULL, w)) != KW_OK)
        return r;
    if (out != NULL)
        *out = h;
    return KW_OK;
}

int kw_client_kt_head(kw_client *c, kw_kt_head *head, kw_client_kt_failure *failure,
                      kw_kt_reason *kt_reason)
{
    kt_state st;
    kt_why w = {KW_CLIENT_KT_OK, KW_KT_OK};
    if (head != NULL)
        memset(head, 0, sizeof(*head));
    int r = state_load(c, &st);
    if (r == KW_OK)
        r = head_update(c, &st, head, &w);
    state_free(&st);
    if (failure != NULL)
        *failure = w.f;
    if (kt_reason != NULL)
        *kt_reason = w.kr;
    return r;
}

int kw_client_kt_check_gossip(kw_client *c, const uint8_t *head, size_t head_len,
                              kw_client_kt_failure *failure, kw_kt_reason *kt_reason)
{
    kt_state st;
    kt_why w = {KW_CLIENT_KT_OK, KW_KT_OK};
    kw_kt_head h;
    kw_kt_reason kr = KW_KT_OK;
    int r = state_load(c, &st);
    if (r != KW_OK)
        goto out;
    if (!st.have_keys || !st.have_head) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND, "no pinned head yet: fetch one first");
        goto out;
    }
    if (head == NULL || kw_kt_head_decode(&h, head, head_len) != KW_OK) {
        r = verify_fail(c, &w, KW_CLIENT_KT_PROOF, KW_KT_MALFORMED);
        goto out;
    }
    if (kw_kt_head_verify(&h, st.log_pk) != KW_OK) {
        r = verify_fail(c, &w, KW_CLIENT_KT_PROOF, KW_KT_BAD_HEAD_SIGNATURE);
        goto out;
    }
    r = h.epoch <= st.head.epoch ? kt_link(c, &st, &h, &st.head, &kr)
                                 : kt_link(c, &st, &st.head, &h, &kr);
    if (r == KW_ERR_VERIFY) {
        r = verify_fail(c, &w, KW_CLIENT_KT_SPLIT_VIEW, kr);
        goto out;
    }
    if (r != KW_OK)
        goto out;
    if (h.epoch > st.head.epoch) {
        /* Consistent and newer: pin it (unless a required auditor has not
         * covered it yet, which is no split view). */
        kt_why w2 = {KW_CLIENT_KT_OK, KW_KT_OK};
        r = adopt(c, &st, &h, NULL, &w2);
        if (r == KW_ERR_VERIFY && w2.f == KW_CLIENT_KT_AUDITOR_MISSING)
            r = KW_OK;
        else if (r == KW_ERR_VERIFY)
            w = w2;
    }
out:
    state_free(&st);
    if (failure != NULL)
        *failure = w.f;
    if (kt_reason != NULL)
        *kt_reason = w.kr;
    return r;
}

/* Checks the roster inside a verified value and the account-key pin;
 * *rv receives the roster version (<= the label version res->version). */
static int check_roster(kw_client *c, kt_state *st, const char *name, const kw_kt_result *res,
                        kw_client_kt_result *out, uint64_t *rv, kt_why *w)
{
    kw_roster *ros = calloc(1, sizeof(*ros));
    uint8_t seen[32];
    int r;
    if (ros == NULL)
        return KW_ERR_NOMEM;
    if (kw_roster_decode_unverified(ros, res->value, res->value_len) != KW_OK) {
        r = verify_fail(c, w, KW_CLIENT_KT_ROSTER_MALFORMED, KW_KT_OK);
        goto out;
    }
    memcpy(out->account_pk, ros->account_pk, 32);
    if (kw_roster_open(ros, res->value, res->value_len, out->account_pk) != KW_OK) {
        r = verify_fail(c, w, KW_CLIENT_KT_ROSTER_SIGNATURE, KW_KT_OK);
        goto out;
    }
    if (strcmp(ros->name, name) != 0) {
        r = verify_fail(c, w, KW_CLIENT_KT_ROSTER_WRONG_ACCOUNT, KW_KT_OK);
        goto out;
    }
    if (ros->version == 0 || ros->version > res->version) {
        r = verify_fail(c, w, KW_CLIENT_KT_ROSTER_WRONG_VERSION, KW_KT_OK);
        goto out;
    }
    *rv = ros->version;
    json_t *accts = json_object_get(st->j, "accounts");
    if (json_object_get(accts, name) != NULL) {
        if (kwc_get_b64_fixed(accts, name, seen, sizeof(seen)) != KW_OK ||
            !kw_ct_equal(seen, out->account_pk, sizeof(seen))) {
            r = verify_fail(c, w, KW_CLIENT_KT_ACCOUNT_KEY_CHANGED, KW_KT_OK);
            goto out;
        }
    } else if ((r = kwc_put_b64(accts, name, out->account_pk, 32)) != KW_OK) {
        goto out;
    }
    r = KW_OK;
out:
    free(ros);
    return r;
}

/* The roster version is below the label version L: proves (monitor
 * responses for versions 1 .. L-1, verified against `head`) that every
 * earlier value opening under the account key has a roster version below
 * rv (else roster-rollback: an old roster replayed as a new version), and
 * lists the label versions whose value does not open (forged entries). */
static int check_history(kw_client *c, kt_state *st, const char *name, const kw_kt_head *head,
                         uint32_t L, uint64_t rv, kw_client_kt_result *out, kt_why *w)
{
    char path[KW_KT_LABEL_MAXBYTES * 3 + 128];
    kw_roster *ros = calloc(1, sizeof(*ros));
    char *esc = curl_easy_escape(NULL, name, 0);
    json_t *resp = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint32_t from = 1;
    int r = KW_ERR_NOMEM;
    if (ros == NULL || esc == NULL)
        goto out;
    while (from < L) {
        kw_kt_monitor_result m;
        kw_kt_reason kr = KW_KT_OK;
        snprintf(path, sizeof(path), "/v1/kt/monitor/%s/0/%u/%" PRIu64, esc, from, head->log_size);
        if ((r = kwc_http(c, "GET", path, NULL, false, &resp)) != KW_OK)
            goto out;
        if (kwc_get_b64(resp, "proof", KW_KT_RESPONSE_MAXBYTES, &buf, &len) != KW_OK) {
            r = kwc_bad_answer(c, "monitor proof");
            goto out;
        }
        json_decref(resp);
        resp = NULL;
        kw_kt_trust t = {.log_pk = st->log_pk, .vrf_pk = st->vrf_pk, .pinned = head};
        r = kw_kt_monitor_verify(&m, &kr, &t, (const uint8_t *)name, strlen(name),
                                 from > 1 ? from : 0, buf, len);
        if (r == KW_OK && m.first != from) {
            r = KW_ERR_VERIFY;
            kr = KW_KT_WRONG_VERSION;
        }
        if (r != KW_OK) {
            r = verify_fail(c, w, KW_CLIENT_KT_PROOF, r == KW_ERR_VERIFY ? kr : KW_KT_MALFORMED);
            goto out;
        }
        for (uint32_t i = 0; i < m.count && from + i < L; i++) {
            if (kw_roster_open(ros, m.v[i].value, m.v[i].value_len, out->account_pk) != KW_OK) {
                if (out->nforged < KW_CLIENT_KT_FORGED_MAX)
                    out->forged[out->nforged] = from + i;
                out->nforged++;
            } else if (ros->version >= rv) {
                r = verify_fail(c, w, KW_CLIENT_KT_ROSTER_ROLLBACK, KW_KT_OK);
                goto out;
            }
        }
        free(buf);
        buf = NULL;
        from += m.count;
        if (!m.more || m.count == 0)
            break;
    }
    if (from < L) { /* the history ended before the version searched */
        r = verify_fail(c, w, KW_CLIENT_KT_PROOF, KW_KT_WRONG_VERSION);
        goto out;
    }
    r = KW_OK;
out:
    curl_free(esc);
    free(buf);
    free(ros);
    json_decref(resp);
    return r;
}

/* The highest roster version this client verified for name (0: none). */
static uint64_t seen_version(const kt_state *st, const char *name)
{
    json_t *v = json_object_get(json_object_get(st->j, "roster_versions"), name);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int set_seen_version(kt_state *st, const char *name, uint64_t rv)
{
    json_t *o = json_object_get(st->j, "roster_versions");
    if (!json_is_object(o)) {
        o = json_object();
        if (o == NULL || json_object_set_new(st->j, "roster_versions", o) != 0)
            return KW_ERR_NOMEM;
    }
    return json_object_set_new(o, name, json_integer((json_int_t)rv)) == 0 ? KW_OK : KW_ERR_NOMEM;
}

int kw_client_kt_lookup(kw_client *c, const char *name, kw_client_kt_result *out)
{
    kt_state st;
    kt_why w = {KW_CLIENT_KT_OK, KW_KT_OK};
    char path[KW_KT_LABEL_MAXBYTES * 3 + 64];
    json_t *resp = NULL;
    uint8_t *proof = NULL;
    size_t proof_len = 0;
    kw_kt_result res;
    int r;
    memset(out, 0, sizeof(*out));
    out->reason = "";
    if (name == NULL || name[0] == '\0' || strlen(name) > KW_KT_LABEL_MAXBYTES ||
        strchr(name, '/') != NULL)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "bad account name");
    if ((r = state_load(c, &st)) != KW_OK)
        return r;
    if ((r = state_keys(c, &st)) != KW_OK)
        goto out;
    char *esc = curl_easy_escape(NULL, name, 0);
    if (esc == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    /* With the pinned head's frontier: the compact (append) form; a server
     * without that route (404) gets the classic pinned search. */
    /* Opt-in (KEYWARD_KT_COMPACT=1) until an intermittent `inconsistent`
     * seen once with PostgreSQL in the five-device scenario is explained. */
    const char *compact = getenv("KEYWARD_KT_COMPACT");
    bool append = st.have_head && st.have_frontier && compact != NULL && strcmp(compact, "1") == 0;
    if (append)
        snprintf(path, sizeof(path), "/v1/kt/search/%s/%" PRIu64 "/append", esc, st.head.log_size);
    else if (st.have_head)
        snprintf(path, sizeof(path), "/v1/kt/search/%s/%" PRIu64, esc, st.head.log_size);
    else
        snprintf(path, sizeof(path), "/v1/kt/search/%s", esc);
    r = kwc_http(c, "GET", path, NULL, false, &resp);
    if (r == KW_ERR_NOT_FOUND && append) {
        json_decref(resp);
        resp = NULL;
        snprintf(path, sizeof(path), "/v1/kt/search/%s/%" PRIu64, esc, st.head.log_size);
        r = kwc_http(c, "GET", path, NULL, false, &resp);
    }
    curl_free(esc);
    if (r != KW_OK)
        goto out;
    if (kwc_get_b64(resp, "proof", KW_KT_RESPONSE_MAXBYTES, &proof, &proof_len) != KW_OK) {
        r = kwc_bad_answer(c, "search proof");
        goto out;
    }
    kw_kt_trust t = {.log_pk = st.log_pk, .vrf_pk = st.vrf_pk, .pinned = st.have_head ? &st.head : NULL,
                     .frontier = st.have_head && st.have_frontier ? &st.frontier : NULL};
    kw_kt_reason kr = KW_KT_OK;
    r = kw_kt_search_verify(&res, &kr, &t, (const uint8_t *)name, strlen(name), proof, proof_len);
    if (r != KW_OK) {
        r = verify_fail(c, &w, KW_CLIENT_KT_PROOF, r == KW_ERR_VERIFY ? kr : KW_KT_MALFORMED);
        goto out;
    }
    uint64_t rv = 0;
    if (res.version > 0) {
        if ((r = check_roster(c, &st, name, &res, out, &rv, &w)) != KW_OK)
            goto out;
        if (rv < seen_version(&st, name)) {
            r = verify_fail(c, &w, KW_CLIENT_KT_ROSTER_ROLLBACK, KW_KT_OK);
            goto out;
        }
        if (rv < res.version &&
            (r = check_history(c, &st, name, &res.head, res.version, rv, out, &w)) != KW_OK)
            goto out;
        if ((r = set_seen_version(&st, name, rv)) != KW_OK)
            goto out;
        if ((out->roster = malloc(res.value_len == 0 ? 1 : res.value_len)) == NULL) {
            r = KW_ERR_NOMEM;
            goto out;
        }
        memcpy(out->roster, res.value, res.value_len);
        out->roster_len = res.value_len;
    }
    if ((r = adopt(c, &st, &res.head, res.have_frontier ? &res.frontier : NULL, &w)) != KW_OK)
        goto out;
    out->version = (uint32_t)rv;
    out->log_version = res.version;
    out->head = res.head;
    r = KW_OK;
out:
    if (r != KW_OK) {
        free(out->roster);
        memset(out, 0, sizeof(*out));
    }
    out->failure = w.f;
    out->kt_reason = w.kr;
    out->reason = kw_client_kt_reason_name(w.f, w.kr);
    free(proof);
    json_decref(resp);
    state_free(&st);
    return r;
}

/* ---- for auditors ---- */

int kw_client_kt_log_key(kw_client *c, uint8_t log_pk[static 32])
{
    kt_state st;
    int r = state_load(c, &st);
    if (r == KW_ERR_CONFLICT) {
        /* kt.json pins another server: audit this one with its own key. */
        memset(&st, 0, sizeof(st));
        st.j = json_object();
        if (st.j == NULL)
            return KW_ERR_NOMEM;
        r = KW_OK;
    }
    if (r != KW_OK)
        return r;
    if ((r = state_keys(c, &st)) == KW_OK)
        memcpy(log_pk, st.log_pk, 32);
    state_free(&st);
    return r;
}

int kw_client_kt_newest_epoch(kw_client *c, uint64_t *epoch)
{
    json_t *resp = NULL;
    int r = kwc_http(c, "GET", "/v1/kt/head", NULL, false, &resp);
    if (r != KW_OK)
        return r;
    if (kwc_get_u64(resp, "epoch", epoch) != KW_OK)
        r = kwc_bad_answer(c, "head");
    json_decref(resp);
    return r;
}

int kw_client_kt_insertions(kw_client *c, uint64_t epoch, uint8_t **list, size_t *len)
{
    char path[64];
    json_t *resp = NULL;
    *list = NULL;
    *len = 0;
    snprintf(path, sizeof(path), "/v1/kt/insertions/%" PRIu64, epoch);
    int r = kwc_http(c, "GET", path, NULL, false, &resp);
    if (r != KW_OK)
        return r;
    if (kwc_get_b64(resp, "insertions", KW_KT_INSERTIONS_MAXBYTES, list, len) != KW_OK)
        r = kwc_bad_answer(c, "insertion list");
    json_decref(resp);
    return r;
}

int kw_client_kt_publish_audit(kw_client *c, const uint8_t rec[static KW_KT_AUDITOR_SIGBYTES])
{
    json_t *body = json_object(), *resp = NULL;
    int r = body == NULL ? KW_ERR_NOMEM : kwc_put_b64(body, "record", rec, KW_KT_AUDITOR_SIGBYTES);
    if (r == KW_OK)
        r = kwc_http(c, "POST", "/v1/kt/auditor", body, false, &resp);
    json_decref(body);
    json_decref(resp);
    return r;
}

/* ---- owner monitoring ---- */

void kw_client_kt_monitor_clear(kw_client_kt_monitor_result *out)
{
    if (out == NULL)
        return;
    free(out->buf);
    memset(out, 0, sizeof(*out));
    out->reason = "";
}

int kw_client_kt_monitor(kw_client *c, const char *name, uint64_t since_epoch,
                         uint32_t from_version, kw_client_kt_monitor_result *out)
{
    kt_state st;
    kt_why w = {KW_CLIENT_KT_OK, KW_KT_OK};
    char path[KW_KT_LABEL_MAXBYTES * 3 + 128];
    json_t *resp = NULL;
    int r;
    memset(out, 0, sizeof(*out));
    out->reason = "";
    if (name == NULL || name[0] == '\0' || strlen(name) > KW_KT_LABEL_MAXBYTES ||
        strchr(name, '/') != NULL)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "bad account name");
    if ((r = state_load(c, &st)) != KW_OK)
        return r;
    if ((r = state_keys(c, &st)) != KW_OK)
        goto out;
    char *esc = curl_easy_escape(NULL, name, 0);
    if (esc == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if (st.have_head)
        snprintf(path, sizeof(path), "/v1/kt/monitor/%s/%" PRIu64 "/%u/%" PRIu64, esc, since_epoch,
                 from_version, st.head.log_size);
    else
        snprintf(path, sizeof(path), "/v1/kt/monitor/%s/%" PRIu64 "/%u", esc, since_epoch,
                 from_version);
    curl_free(esc);
    if ((r = kwc_http(c, "GET", path, NULL, false, &resp)) != KW_OK)
        goto out;
    if (kwc_get_b64(resp, "proof", KW_KT_RESPONSE_MAXBYTES, &out->buf, &out->len) != KW_OK) {
        r = kwc_bad_answer(c, "monitor proof");
        goto out;
    }
    kw_kt_trust t = {.log_pk = st.log_pk, .vrf_pk = st.vrf_pk, .pinned = st.have_head ? &st.head : NULL};
    kw_kt_reason kr = KW_KT_OK;
    r = kw_kt_monitor_verify(&out->m, &kr, &t, (const uint8_t *)name, strlen(name),
                             from_version > 1 ? from_version : 0, out->buf, out->len);
    if (r != KW_OK) {
        r = verify_fail(c, &w, KW_CLIENT_KT_PROOF, r == KW_ERR_VERIFY ? kr : KW_KT_MALFORMED);
        goto out;
    }
    r = adopt(c, &st, &out->m.head, NULL, &w);
out:
    if (r != KW_OK) {
        free(out->buf);
        memset(out, 0, sizeof(*out));
    }
    out->failure = w.f;
    out->kt_reason = w.kr;
    out->reason = kw_client_kt_reason_name(w.f, w.kr);
    json_decref(resp);
    state_free(&st);
    return r;
}
