/*
 * The client flows of docs/api.md: account creation, sign-in with a second
 * factor, joining by approval or by recovery key, device approval and
 * removal (KK rotation), the keychain, sessions, TOTP, recovery key, status.
 *
 * What the client trusts: the account key it pinned on first contact (its
 * own at account creation; the server's /public answer on a new device,
 * then checked against the account seed read from the keychain), and only
 * rosters that verify under it. A KK wrap is accepted only from an HPKE key
 * listed in such a roster.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_internal.h"
#include "client/keys_internal.h"
#include "keyward/client_ckv.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keychain.h"
#include "keyward/opaque.h"
#include "keyward/roster.h"
#include "keyward/sign.h"
#include "keyward/totp.h"

#define OPAQUE_CONTEXT "keyward-opaque-v1"
#define LOGIN_SIG_CONTEXT "login"

#define LOCAL KW_CLIENT_ORIGIN_LOCAL
#define PROFILE KW_CLIENT_ORIGIN_PROFILE

/* ---- client object ---- */

int kwc_pins_load(kw_client *c);

int kw_client_open(kw_client **out, const kw_client_options *o)
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
    /* trailing slashes would double the path separator */
    for (size_t n = strlen(c->server); n > 0 && c->server[n - 1] == '/'; n--)
        c->server[n - 1] = '\0';
    c->fast_kdf = o->fast_kdf;
    if (o->passphrase == NULL || o->passphrase_len == 0)
        return kwc_fail(c, PROFILE, KW_ERR_INVALID_ARG, "an empty profile passphrase is not allowed");
    if ((c->passphrase = sodium_malloc(o->passphrase_len)) == NULL)
        return KW_ERR_NOMEM;
    memcpy(c->passphrase, o->passphrase, o->passphrase_len);
    c->passphrase_len = o->passphrase_len;
    r = kwc_profile_load(&c->p, c->dir, (const char *)c->passphrase, c->passphrase_len);
    if (r == KW_ERR_NOT_FOUND)
        return KW_OK;
    if (r == KW_ERR_VERIFY)
        return kwc_fail(c, PROFILE, r, "wrong profile passphrase (or a damaged profile) in %s", c->dir);
    if (r != KW_OK)
        return kwc_fail(c, PROFILE, r, "cannot read the profile in %s: %s", c->dir, kw_strerror(r));
    if (c->server[0] == '\0')
        snprintf(c->server, sizeof(c->server), "%s", c->p->server);
    return kwc_pins_load(c);
}

void kw_client_free(kw_client **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    kw_client *c = *cp;
    kwc_profile_free(&c->p);
    if (c->passphrase != NULL)
        sodium_free(c->passphrase);
    sodium_memzero(c, sizeof(*c));
    free(c);
    *cp = NULL;
}

const char *kw_client_error(const kw_client *c)
{
    return c == NULL ? "out of memory" : c->err;
}

int kw_client_error_origin(const kw_client *c)
{
    return c == NULL ? KW_CLIENT_ORIGIN_LOCAL : c->origin;
}

const char *kw_client_profile_dir(const kw_client *c)
{
    return c->dir;
}

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

/* The account name and the device name (optional) a user typed. */
static int check_names(kw_client *c, const char *name, const char *device_name)
{
    if (!name_ok(name))
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG,
                        "account names are 1-64 characters of A-Z a-z 0-9 . _ @ + -");
    if (device_name != NULL && !name_ok(device_name))
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG,
                        "device names are 1-64 characters of A-Z a-z 0-9 . _ @ + -");
    return KW_OK;
}

int kwc_need_profile(kw_client *c)
{
    if (c->p == NULL)
        return kwc_fail(c, PROFILE, KW_ERR_NOT_FOUND,
                        "no profile in %s: run `keyward account create NAME` or `keyward login NAME`",
                        c->dir);
    return KW_OK;
}

int kwc_need_session(kw_client *c)
{
    int r = kwc_need_profile(c);
    if (r != KW_OK)
        return r;
    if (c->p->account[0] == '\0' || c->p->s->token[0] == '\0')
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "not signed in: run `keyward login %s`",
                        c->p->account[0] != '\0' ? c->p->account : "NAME");
    return KW_OK;
}

int kwc_ensure_profile(kw_client *c)
{
    if (c->p != NULL)
        return KW_OK;
    int r = kwc_profile_create(&c->p, c->dir, (const char *)c->passphrase, c->passphrase_len,
                               c->fast_kdf);
    if (r != KW_OK)
        return kwc_fail(c, PROFILE, r, "cannot create a profile in %s: %s", c->dir, kw_strerror(r));
    return KW_OK;
}

int kwc_save(kw_client *c)
{
    snprintf(c->p->server, sizeof(c->p->server), "%s", c->server);
    int r = kwc_profile_save(c->p);
    if (r != KW_OK)
        return kwc_fail(c, PROFILE, r, "cannot write the profile in %s: %s", c->dir, kw_strerror(r));
    return KW_OK;
}

void kwc_device_identity_pk(const kwc_profile *p, uint8_t pk[32])
{
    kw_sign_key *k = NULL;
    memset(pk, 0, 32);
    if (kw_sign_key_from_seed(&k, p->s->identity_seed) == KW_OK)
        kw_sign_key_public(k, pk);
    kw_sign_key_free(&k);
}

json_t *kwc_device_json(const kwc_profile *p)
{
    uint8_t ipk[32];
    json_t *d = json_object();
    kwc_device_identity_pk(p, ipk);
    if (d == NULL || json_object_set_new(d, "name", json_string(p->device_name)) != 0 ||
        kwc_put_b64(d, "id", p->device_id, KWC_ID_BYTES) != KW_OK ||
        kwc_put_b64(d, "identity_pk", ipk, 32) != KW_OK ||
        kwc_put_b64(d, "hpke_pk", p->s->hpke_pk, 32) != KW_OK) {
        json_decref(d);
        return NULL;
    }
    return d;
}

void kwc_id_b64(char out[32], const uint8_t id[KWC_ID_BYTES])
{
    kw_b64url_encode(out, 32, id, KWC_ID_BYTES);
}

int kwc_parse_id(kw_client *c, const char *s, uint8_t id[KWC_ID_BYTES])
{
    size_t n = 0;
    if (s == NULL || kw_b64url_decode(id, KWC_ID_BYTES, &n, s, strlen(s)) != KW_OK || n != KWC_ID_BYTES)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "'%s' is not a device id (16 bytes, base64url)",
                        s != NULL ? s : "");
    return KW_OK;
}

int kwc_bad_answer(kw_client *c, const char *what)
{
    return kwc_fail(c, KW_CLIENT_ORIGIN_NETWORK, KW_ERR_FORMAT, "malformed answer from the server: %s",
                    what);
}

int kwc_get_u64(const json_t *o, const char *key, uint64_t *v)
{
    const json_t *j = json_object_get(o, key);
    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return KW_ERR_FORMAT;
    *v = (uint64_t)json_integer_value(j);
    return KW_OK;
}

/* ---- rollback pins (pins.json; see kwc_pins) ---- */

#define PINS_FILE "pins.json"
#define PINS_MAXBYTES 4096

int kwc_pins_save(kw_client *c)
{
    char id[32];
    int r = KW_ERR_NOMEM;
    kwc_id_b64(id, c->p->device_id);
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I}", "account", c->p->account, "device_id", id,
                          "roster_version", (json_int_t)c->pins.roster_version, "keychain_version",
                          (json_int_t)c->pins.keychain_version, "kk_generation",
                          (json_int_t)c->pins.kk_generation);
    char *text = NULL;
    if (o == NULL || kwc_put_b64(o, "roster_sha256", c->pins.roster_hash, 32) != KW_OK ||
        (text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL)
        goto out;
    r = kwc_write_file(c->dir, PINS_FILE, (const uint8_t *)text, strlen(text));
out:
    free(text);
    json_decref(o);
    if (r != KW_OK)
        return kwc_fail(c, PROFILE, r, "cannot write %s/%s: %s", c->dir, PINS_FILE, kw_strerror(r));
    return KW_OK;
}

/* Reads pins.json when it exists and belongs to this profile's account and
 * device (a file left by another profile in the directory is ignored). */
int kwc_pins_load(kw_client *c)
{
    char path[PATH_MAX + 16], id[32];
    json_error_t jerr;
    json_t *o = NULL;
    kwc_pins pn;
    int r = KW_OK;
    memset(&c->pins, 0, sizeof(c->pins));
    if (snprintf(path, sizeof(path), "%s/%s", c->dir, PINS_FILE) >= (int)sizeof(path))
        return kwc_fail(c, PROFILE, KW_ERR_TOO_LARGE, "profile path too long");
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return KW_OK;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 0 && size <= PINS_MAXBYTES && fseek(f, 0, SEEK_SET) == 0)
        o = json_loadf(f, 0, &jerr);
    fclose(f);
    memset(&pn, 0, sizeof(pn));
    kwc_id_b64(id, c->p->device_id);
    if (!json_is_object(o) ||
        kwc_get_u64(o, "roster_version", &pn.roster_version) != KW_OK ||
        kwc_get_u64(o, "keychain_version", &pn.keychain_version) != KW_OK ||
        kwc_get_u64(o, "kk_generation", &pn.kk_generation) != KW_OK ||
        kwc_get_b64_fixed(o, "roster_sha256", pn.roster_hash, 32) != KW_OK ||
        !json_is_string(json_object_get(o, "account")) ||
        !json_is_string(json_object_get(o, "device_id"))) {
        r = kwc_fail(c, PROFILE, KW_ERR_FORMAT, "damaged %s (the rollback marks of this device)", path);
        goto out;
    }
    if (strcmp(json_string_value(json_object_get(o, "account")), c->p->account) == 0 &&
        strcmp(json_string_value(json_object_get(o, "device_id")), id) == 0)
        c->pins = pn;
out:
    json_decref(o);
    return r;
}

/* The roster high-water mark: refuses a verified roster older than the
 * newest this device verified, or of that version with other bytes;
 * records a newer one. */
int kwc_roster_pin(kw_client *c, const kw_roster *ros, const uint8_t *blob, size_t len)
{
    uint8_t h[32];
    kwc_pins *pn = &c->pins;
    crypto_hash_sha256(h, blob, len);
    bool older = ros->version < pn->roster_version;
    bool forked = pn->roster_version != 0 && ros->version == pn->roster_version &&
                  sodium_memcmp(h, pn->roster_hash, 32) != 0;
    if (older || forked) {
        bool hidden = kw_roster_find(ros, c->p->device_id) == NULL;
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                        "ALERT: the server rolled the roster back: it serves version %llu%s, this "
                        "device verified version %llu before%s",
                        (unsigned long long)ros->version, forked ? " with other contents" : "",
                        (unsigned long long)pn->roster_version,
                        hidden ? "; this device is not in the account's signed roster it serves" : "");
    }
    if (ros->version == pn->roster_version)
        return KW_OK;
    pn->roster_version = ros->version;
    memcpy(pn->roster_hash, h, 32);
    return kwc_pins_save(c);
}

/* The keychain high-water mark: refuses a keychain version older than the
 * newest opened, or a KK generation older than the newest held or seen;
 * records newer ones. */
int kwc_keychain_pin(kw_client *c, uint64_t version, uint64_t gen)
{
    kwc_pins *pn = &c->pins;
    uint64_t newest = kwc_profile_kk_latest(c->p);
    if (pn->kk_generation > newest)
        newest = pn->kk_generation;
    if (version < pn->keychain_version || gen < newest)
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                        "ALERT: the server rolled the keychain back: it serves version %llu under KK "
                        "generation %llu, this device has seen version %llu and generation %llu",
                        (unsigned long long)version, (unsigned long long)gen,
                        (unsigned long long)pn->keychain_version, (unsigned long long)newest);
    if (version == pn->keychain_version && gen == pn->kk_generation)
        return KW_OK;
    pn->keychain_version = version;
    pn->kk_generation = gen;
    return kwc_pins_save(c);
}

/* The account signing key from the profile's account seed, checked against
 * the pinned account key. */
int kwc_account_key(kw_client *c, kw_sign_key **ak)
{
    uint8_t pk[32];
    *ak = NULL;
    if (!c->p->s->has_account_seed)
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                        "this device holds no account key yet (is it approved? run `keyward keychain "
                        "show`)");
    if (kw_sign_key_from_seed(ak, c->p->s->account_seed) != KW_OK)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    kw_sign_key_public(*ak, pk);
    if (!c->p->has_account_pk || !kw_ct_equal(pk, c->p->account_pk, 32)) {
        kw_sign_key_free(ak);
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the stored account key does not match the pinned one");
    }
    return KW_OK;
}

/* GET /v1/roster, verified under the pinned account key. */
int kwc_fetch_roster(kw_client *c, kw_roster *ros)
{
    json_t *resp = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    uint64_t version = 0;
    int r;
    if (!c->p->has_account_pk)
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "no pinned account key in this profile");
    if ((r = kwc_http(c, "GET", "/v1/roster", NULL, true, &resp)) != KW_OK)
        return r;
    if (kwc_get_u64(resp, "version", &version) != KW_OK ||
        kwc_get_b64(resp, "roster", KW_ROSTER_MAXBYTES, &blob, &len) != KW_OK) {
        r = kwc_bad_answer(c, "roster");
        goto out;
    }
    if ((r = kw_roster_open(ros, blob, len, c->p->account_pk)) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                     "ALERT: the server's roster does not verify under the account key (%s)",
                     kw_strerror(r));
        goto out;
    }
    if (ros->version != version || strcmp(ros->name, c->p->account) != 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT: the server's roster names another account or "
                                              "version");
        goto out;
    }
    r = kwc_roster_pin(c, ros, blob, len);
out:
    free(blob);
    json_decref(resp);
    return r;
}

/* Opens the keychain blob (version, under KK generation gen) and checks
 * that the account key it holds is the one pinned in the profile (an ALERT,
 * KW_ERR_VERIFY, otherwise): what makes a keychain, and the KK that opened
 * it, this account's. On success *kc, *ak and seed (the account seed) are
 * set; the caller releases and wipes them on every path. */
static int open_checked_keychain(kw_client *c, const uint8_t *blob, size_t len,
                                 const uint8_t kk[static KW_KK_BYTES], uint64_t version, uint64_t gen,
                                 kw_keychain **kc, kw_sign_key **ak,
                                 uint8_t seed[static KW_KEYCHAIN_SEEDBYTES])
{
    uint8_t pk[32];
    int r = kw_keychain_open(kc, blob, len, kk, c->p->account, version, gen);
    if (r != KW_OK)
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                        "ALERT: the keychain does not open under KK generation %llu (%s)",
                        (unsigned long long)gen, kw_strerror(r));
    kw_keychain_seed(*kc, seed);
    if ((r = kw_sign_key_from_seed(ak, seed)) != KW_OK)
        return r;
    kw_sign_key_public(*ak, pk);
    if (!kw_ct_equal(pk, c->p->account_pk, 32))
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT: the keychain holds another account key");
    return KW_OK;
}

/* Reads the current keychain: the device's wrap of the current KK (from a
 * sender in the verified roster), the keychain under it, the account key
 * seed in it (checked against the pinned account key). Stores the KK and
 * the seed in the profile. kc, kc_version and ros are optional outputs. */
int kwc_sync_kk(kw_client *c, kw_keychain **kc_out, uint64_t *kc_version, uint64_t *gen_out,
                   kw_roster *ros)
{
    json_t *resp = NULL;
    uint8_t *blob = NULL, *wrap = NULL;
    size_t blob_len = 0, wrap_len = 0;
    uint64_t version = 0, gen = 0, hv = 0, hg = 0;
    uint8_t kk[KW_KK_BYTES], seed[KW_KEYCHAIN_SEEDBYTES];
    kw_keychain *kc = NULL;
    kw_sign_key *ak = NULL;
    kw_roster *local = NULL;
    int r;
    if (kc_out != NULL)
        *kc_out = NULL;
    if (ros == NULL) {
        if ((local = malloc(sizeof(*local))) == NULL)
            return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        ros = local;
    }
    if ((r = kwc_http(c, "GET", "/v1/keychain", NULL, true, &resp)) != KW_OK) {
        if (r == KW_ERR_NOT_FOUND)
            snprintf(c->err, sizeof(c->err),
                     "this device has no key wrap yet: it must be approved by a trusted device "
                     "(`keyward device approve ID --code CODE` there)");
        goto out;
    }
    if (kwc_get_u64(resp, "version", &version) != KW_OK || kwc_get_u64(resp, "generation", &gen) != KW_OK ||
        kwc_get_b64(resp, "keychain", KW_KEYCHAIN_MAXBYTES, &blob, &blob_len) != KW_OK ||
        kwc_get_b64(resp, "wrap", 4096, &wrap, &wrap_len) != KW_OK) {
        r = kwc_bad_answer(c, "keychain");
        goto out;
    }
    if ((r = kwc_fetch_roster(c, ros)) != KW_OK)
        goto out;
    if (kw_roster_find(ros, c->p->device_id) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "this device is not in the account's signed roster");
        goto out;
    }
    r = KW_ERR_VERIFY;
    for (size_t i = 0; i < ros->ndevices && r != KW_OK; i++)
        r = kw_kk_unwrap(kk, wrap, wrap_len, c->p->account, gen, c->p->device_id, c->p->s->hpke_sk,
                         c->p->s->hpke_pk, ros->devices[i].hpke_pk);
    if (r != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                     "the key wrap does not open for this device from any device of the roster");
        goto out;
    }
    if (kw_keychain_header(blob, blob_len, &hv, &hg) != KW_OK || hv != version || hg != gen) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT: the keychain header does not match (version or "
                                              "generation)");
        goto out;
    }
    if ((r = open_checked_keychain(c, blob, blob_len, kk, version, gen, &kc, &ak, seed)) != KW_OK ||
        (r = kwc_keychain_pin(c, version, gen)) != KW_OK)
        goto out;
    bool changed = !c->p->s->has_account_seed || kwc_profile_kk(c->p, gen) == NULL ||
                   strcmp(c->p->state, "trusted") != 0;
    memcpy(c->p->s->account_seed, seed, sizeof(seed));
    c->p->s->has_account_seed = 1;
    kwc_profile_kk_put(c->p, gen, kk);
    snprintf(c->p->state, sizeof(c->p->state), "trusted");
    if (changed && (r = kwc_save(c)) != KW_OK)
        goto out;
    if (kc_out != NULL) {
        *kc_out = kc;
        kc = NULL;
    }
    if (kc_version != NULL)
        *kc_version = version;
    if (gen_out != NULL)
        *gen_out = gen;
    r = KW_OK;
out:
    sodium_memzero(kk, sizeof(kk));
    sodium_memzero(seed, sizeof(seed));
    kw_keychain_free(&kc);
    kw_sign_key_free(&ak);
    free(local);
    free(blob);
    free(wrap);
    json_decref(resp);
    return r;
}

/* Encodes ros signed by ak into a base64url JSON string member. */
int kwc_put_roster(kw_client *c, json_t *o, const kw_roster *ros, const kw_sign_key *ak)
{
    uint8_t *buf = malloc(KW_ROSTER_MAXBYTES);
    size_t len = 0;
    int r;
    if (buf == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    if ((r = kw_roster_encode(buf, KW_ROSTER_MAXBYTES, &len, ros, ak)) != KW_OK)
        r = kwc_fail(c, LOCAL, r, "cannot sign the roster: %s", kw_strerror(r));
    else if ((r = kwc_put_b64(o, "roster", buf, len)) != KW_OK)
        r = kwc_fail(c, LOCAL, r, "out of memory");
    free(buf);
    return r;
}

int kwc_seal_keychain(kw_client *c, json_t *o, const char *key, const kw_keychain *kc,
                         const uint8_t kk[static 32], uint64_t version, uint64_t gen)
{
    size_t cap = KW_KEYCHAIN_HEADERBYTES + kw_keychain_plaintext_len(kc) + KW_KEYCHAIN_TAGBYTES, len = 0;
    uint8_t *buf = malloc(cap);
    int r;
    if (buf == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    if ((r = kw_keychain_seal(buf, cap, &len, kc, kk, c->p->account, version, gen)) != KW_OK)
        r = kwc_fail(c, LOCAL, r, "cannot seal the keychain: %s", kw_strerror(r));
    else if ((r = kwc_put_b64(o, key, buf, len)) != KW_OK)
        r = kwc_fail(c, LOCAL, r, "out of memory");
    free(buf);
    return r;
}

json_t *kwc_result(kw_client *c)
{
    json_t *o = json_object();
    if (o != NULL && c->p != NULL) {
        char id[32];
        kwc_id_b64(id, c->p->device_id);
        json_object_set_new(o, "account", json_string(c->p->account));
        json_object_set_new(o, "device_id", json_string(id));
        json_object_set_new(o, "device_name", json_string(c->p->device_name));
    }
    return o;
}

/* ---- account create ---- */

int kw_client_account_create(kw_client *c, const char *name, const char *device_name,
                             const uint8_t *password, size_t password_len, json_t **out)
{
    kw_opaque_config cfg;
    kw_opaque_client *oc = NULL;
    kw_sign_key *ak = NULL;
    kw_keychain *kc = NULL;
    kw_roster *ros = NULL;
    uint8_t req[KW_OPAQUE_REGISTRATION_REQUESTBYTES], response[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES], export_key[KW_OPAQUE_EXPORT_KEYBYTES];
    uint8_t seed[32], apk[32], ipk[32], kk[KW_KK_BYTES], wrap[KW_KK_WRAPBYTES];
    json_t *body = NULL, *resp = NULL;
    const char *token;
    int r;
    *out = NULL;
    if ((r = check_names(c, name, device_name)) != KW_OK)
        return r;
    if (c->p != NULL && c->p->account[0] != '\0')
        return kwc_fail(c, PROFILE, KW_ERR_CONFLICT,
                        "this profile already belongs to account %s (use another --profile)",
                        c->p->account);
    if ((r = kwc_ensure_profile(c)) != KW_OK)
        return r;
    if (device_name != NULL)
        snprintf(c->p->device_name, sizeof(c->p->device_name), "%s", device_name);

    kw_opaque_config_default(&cfg, (const uint8_t *)OPAQUE_CONTEXT, sizeof(OPAQUE_CONTEXT) - 1);
    if ((r = kw_opaque_client_new(&oc, &cfg)) != KW_OK ||
        (r = kw_opaque_client_registration_start(oc, req, password, password_len)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "OPAQUE registration: %s", kw_strerror(r));
        goto out;
    }
    body = json_pack("{s:s}", "name", name);
    if (body == NULL || kwc_put_b64(body, "request", req, sizeof(req)) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/accounts/register/start", body, false, &resp)) != KW_OK)
        goto out;
    if (kwc_get_b64_fixed(resp, "response", response, sizeof(response)) != KW_OK) {
        r = kwc_bad_answer(c, "response");
        goto out;
    }
    if ((r = kw_opaque_client_registration_finish(oc, record, export_key, response, sizeof(response),
                                                  NULL)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "OPAQUE registration: %s", kw_strerror(r));
        goto out;
    }
    json_decref(body);
    json_decref(resp);
    body = resp = NULL;

    /* the account's keys */
    if ((r = kw_sign_key_new(&ak)) != KW_OK)
        goto out;
    kw_sign_key_seed(ak, seed);
    kw_sign_key_public(ak, apk);
    kw_kk_new(kk);
    kwc_device_identity_pk(c->p, ipk);
    if ((ros = malloc(sizeof(*ros))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kw_roster_init(ros, 1, name, apk, 0)) != KW_OK ||
        (r = kw_roster_add(ros, c->p->device_id, ipk, c->p->s->hpke_pk, c->p->device_name)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "roster: %s", kw_strerror(r));
        goto out;
    }
    if ((r = kw_keychain_new(&kc, seed)) != KW_OK)
        goto out;
    if ((r = kw_kk_wrap(wrap, kk, name, 1, c->p->device_id, c->p->s->hpke_pk, c->p->s->hpke_sk,
                        c->p->s->hpke_pk)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "KK wrap: %s", kw_strerror(r));
        goto out;
    }
    snprintf(c->p->account, sizeof(c->p->account), "%s", name);
    body = json_pack("{s:s,s:o}", "name", name, "device", kwc_device_json(c->p));
    if (body == NULL || kwc_put_b64(body, "record", record, sizeof(record)) != KW_OK ||
        kwc_put_b64(body, "account_pk", apk, 32) != KW_OK ||
        kwc_put_b64(body, "wrap", wrap, sizeof(wrap)) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = kwc_put_roster(c, body, ros, ak)) != KW_OK ||
        (r = kwc_seal_keychain(c, body, "keychain", kc, kk, 1, 1)) != KW_OK)
        goto out;
    if ((r = kwc_http(c, "POST", "/v1/accounts/register/finish", body, false, &resp)) != KW_OK)
        goto out;
    token = json_string_value(json_object_get(resp, "token"));
    if (token == NULL || strlen(token) >= KWC_TOKEN_MAX) {
        r = kwc_bad_answer(c, "token");
        goto out;
    }
    snprintf(c->p->s->token, sizeof(c->p->s->token), "%s", token);
    memcpy(c->p->account_pk, apk, 32);
    c->p->has_account_pk = true;
    memcpy(c->p->s->account_seed, seed, 32);
    c->p->s->has_account_seed = 1;
    kwc_profile_kk_put(c->p, 1, kk);
    snprintf(c->p->state, sizeof(c->p->state), "trusted");
    if ((r = kwc_save(c)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "state", json_string("trusted"));
    json_object_set_new(*out, "kk_generation", json_integer(1));
    kwc_put_b64(*out, "account_pk", apk, 32);
    r = KW_OK;
out:
    if (r != KW_OK && c->p != NULL && !c->p->has_account_pk)
        c->p->account[0] = '\0';
    sodium_memzero(export_key, sizeof(export_key));
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(kk, sizeof(kk));
    kw_opaque_client_free(&oc);
    kw_sign_key_free(&ak);
    kw_keychain_free(&kc);
    free(ros);
    json_decref(body);
    json_decref(resp);
    return r;
}

/* ---- sign-in ---- */

int kwc_join_with_kk(kw_client *c, const uint8_t kk[static KW_KK_BYTES], uint64_t gen, const uint8_t *blob,
                     size_t blob_len, uint64_t version, const char *what, const char *renew)
{
    uint8_t seed[KW_KEYCHAIN_SEEDBYTES], ipk[32], wrap[KW_KK_WRAPBYTES];
    uint64_t hv = 0, hg = 0;
    kw_keychain *kc = NULL;
    kw_sign_key *ak = NULL;
    kw_roster *ros = NULL;
    json_t *body = NULL, *r2 = NULL;
    int r;
    if (kw_keychain_header(blob, blob_len, &hv, &hg) != KW_OK || hv != version) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "ALERT: the keychain header does not match");
        goto out;
    }
    if (hg != gen) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "%s wraps KK generation %llu but the keychain uses %llu: %s",
                     what, (unsigned long long)gen, (unsigned long long)hg, renew);
        goto out;
    }
    if ((r = open_checked_keychain(c, blob, blob_len, kk, version, gen, &kc, &ak, seed)) != KW_OK)
        goto out;
    if ((ros = malloc(sizeof(*ros))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_fetch_roster(c, ros)) != KW_OK)
        goto out;
    kwc_device_identity_pk(c->p, ipk);
    ros->version++;
    if ((r = kw_roster_add(ros, c->p->device_id, ipk, c->p->s->hpke_pk, c->p->device_name)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "roster: %s", kw_strerror(r));
        goto out;
    }
    if ((r = kw_kk_wrap(wrap, kk, c->p->account, gen, c->p->device_id, c->p->s->hpke_pk,
                        c->p->s->hpke_sk, c->p->s->hpke_pk)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "KK wrap: %s", kw_strerror(r));
        goto out;
    }
    if ((body = json_object()) == NULL || kwc_put_b64(body, "wrap", wrap, sizeof(wrap)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_put_roster(c, body, ros, ak)) != KW_OK ||
        (r = kwc_http(c, "POST", "/v1/devices/join-recovery", body, true, &r2)) != KW_OK)
        goto out;
    memcpy(c->p->s->account_seed, seed, 32);
    c->p->s->has_account_seed = 1;
    kwc_profile_kk_put(c->p, gen, kk);
    snprintf(c->p->state, sizeof(c->p->state), "trusted");
    r = kwc_save(c);
out:
    sodium_memzero(seed, sizeof(seed));
    kw_keychain_free(&kc);
    kw_sign_key_free(&ak);
    free(ros);
    json_decref(body);
    json_decref(r2);
    return r;
}

/* After signing in with the recovery factor: unwrap KK with the recovery
 * key and join with it (kwc_join_with_kk). */
static int recovery_join(kw_client *c, const uint8_t key[static KW_RECOVERY_KEYBYTES])
{
    json_t *resp = NULL;
    uint8_t *rwrap = NULL, *blob = NULL;
    size_t rwrap_len = 0, blob_len = 0;
    uint64_t gen = 0, version = 0;
    uint8_t kk[KW_KK_BYTES];
    int r;
    if ((r = kwc_http(c, "GET", "/v1/recovery", NULL, true, &resp)) != KW_OK)
        goto out;
    if (kwc_get_u64(resp, "generation", &gen) != KW_OK || kwc_get_u64(resp, "keychain_version", &version) != KW_OK ||
        kwc_get_b64(resp, "recovery_wrap", 4096, &rwrap, &rwrap_len) != KW_OK ||
        kwc_get_b64(resp, "keychain", KW_KEYCHAIN_MAXBYTES, &blob, &blob_len) != KW_OK) {
        r = kwc_bad_answer(c, "recovery");
        goto out;
    }
    if ((r = kw_recovery_unwrap(kk, rwrap, rwrap_len, key, c->p->account, gen)) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the recovery key does not open the recovery wrap");
        goto out;
    }
    r = kwc_join_with_kk(c, kk, gen, blob, blob_len, version, "the recovery key",
                         "create a new recovery key on a trusted device");
out:
    sodium_memzero(kk, sizeof(kk));
    free(rwrap);
    free(blob);
    json_decref(resp);
    return r;
}

static bool six_digits(const char *s)
{
    if (s == NULL || strlen(s) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int kw_client_login(kw_client *c, const char *name, const char *device_name,
                    const uint8_t *password, size_t password_len, const kw_client_factor *factor,
                    json_t **out)
{
    kw_opaque_config cfg;
    kw_opaque_client *oc = NULL;
    kw_sign_key *ik = NULL;
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke3[KW_OPAQUE_KE3BYTES], ke2[KW_OPAQUE_KE2BYTES];
    uint8_t session_key[KW_OPAQUE_SESSION_KEYBYTES], export_key[KW_OPAQUE_EXPORT_KEYBYTES];
    uint8_t login_id[16], msg[32], sig[KW_SIGN_BYTES], ipk[32];
    uint8_t rkey[KW_RECOVERY_KEYBYTES], rauth[KW_RECOVERY_AUTHBYTES], proof[KW_RECOVERY_PROOFBYTES];
    bool have_rkey = false;
    json_t *body = NULL, *resp = NULL, *f = NULL, *key_assertion = NULL;
    int attempt = 0;
    char path[128];
    const char *token, *state;
    int ftype = factor != NULL ? factor->type : KW_CLIENT_FACTOR_NONE;
    int r;
    *out = NULL;
    if ((r = check_names(c, name, device_name)) != KW_OK)
        return r;
    if ((ftype == KW_CLIENT_FACTOR_APPROVAL || ftype == KW_CLIENT_FACTOR_TOTP) &&
        !six_digits(factor->value))
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "codes are exactly 6 digits");
    if (ftype == KW_CLIENT_FACTOR_RECOVERY) {
        if (factor->value == NULL || kw_recovery_code_parse(rkey, factor->value) != KW_OK)
            return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG,
                            "that is not a valid recovery key (check for typos)");
        have_rkey = true;
    }
    if (c->p != NULL && c->p->account[0] != '\0' && strcmp(c->p->account, name) != 0) {
        r = kwc_fail(c, PROFILE, KW_ERR_CONFLICT,
                     "this profile belongs to account %s (use another --profile)", c->p->account);
        goto out;
    }
    if ((r = kwc_ensure_profile(c)) != KW_OK)
        goto out;
    if (device_name != NULL && c->p->account[0] == '\0')
        snprintf(c->p->device_name, sizeof(c->p->device_name), "%s", device_name);

again:
    kw_opaque_config_default(&cfg, (const uint8_t *)OPAQUE_CONTEXT, sizeof(OPAQUE_CONTEXT) - 1);
    if ((r = kw_opaque_client_new(&oc, &cfg)) != KW_OK ||
        (r = kw_opaque_client_login_start(oc, ke1, password, password_len)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "OPAQUE: %s", kw_strerror(r));
        goto out;
    }
    body = json_pack("{s:s}", "name", name);
    if (body == NULL || kwc_put_b64(body, "ke1", ke1, sizeof(ke1)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/login/start", body, false, &resp)) != KW_OK)
        goto out;
    if (kwc_get_b64_fixed(resp, "login_id", login_id, 16) != KW_OK ||
        kwc_get_b64_fixed(resp, "ke2", ke2, sizeof(ke2)) != KW_OK) {
        r = kwc_bad_answer(c, "login/start");
        goto out;
    }
    /* A wrong password and an unknown account fail here alike: the server
     * answered an unknown name with a fake KE2. */
    r = kw_opaque_client_login_finish(oc, ke3, session_key, export_key, ke2, sizeof(ke2), NULL);
    if (r != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "sign-in failed");
        goto out;
    }
    memcpy(msg, login_id, 16);
    memcpy(msg + 16, c->p->device_id, 16);
    if ((r = kw_sign_key_from_seed(&ik, c->p->s->identity_seed)) != KW_OK ||
        (r = kw_sign(ik, sig, (const uint8_t *)LOGIN_SIG_CONTEXT, sizeof(LOGIN_SIG_CONTEXT) - 1, msg,
                     sizeof(msg))) != KW_OK)
        goto out;
    kw_sign_key_public(ik, ipk);
    json_decref(body);
    json_decref(resp);
    resp = NULL;
    body = json_pack("{s:o}", "device", kwc_device_json(c->p));
    if (body == NULL || kwc_put_b64(body, "login_id", login_id, 16) != KW_OK ||
        kwc_put_b64(body, "ke3", ke3, sizeof(ke3)) != KW_OK ||
        kwc_put_b64(body, "device_sig", sig, sizeof(sig)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if (ftype == KW_CLIENT_FACTOR_APPROVAL || ftype == KW_CLIENT_FACTOR_TOTP) {
        f = json_pack("{s:s,s:s}", "type", ftype == KW_CLIENT_FACTOR_APPROVAL ? "approval" : "totp",
                      "code", factor->value);
    } else if (ftype == KW_CLIENT_FACTOR_RECOVERY) {
        if ((r = kw_recovery_auth(rauth, rkey, name)) != KW_OK)
            goto out;
        kw_recovery_proof(proof, rauth, login_id);
        f = json_pack("{s:s}", "type", "recovery");
        if (f != NULL && kwc_put_b64(f, "proof", proof, sizeof(proof)) != KW_OK) {
            json_decref(f);
            f = NULL;
        }
    }
    /* second round of an account that requires security keys: the
     * assertion alone, or with the recovery proof */
    if (key_assertion != NULL && ftype == KW_CLIENT_FACTOR_NONE)
        f = json_pack("{s:s,s:O}", "type", "security_key", "assertion", key_assertion);
    else if (key_assertion != NULL && f != NULL && json_object_set(f, "assertion", key_assertion) != 0) {
        json_decref(f);
        f = NULL;
    }
    if ((ftype != KW_CLIENT_FACTOR_NONE || key_assertion != NULL) &&
        (f == NULL || json_object_set_new(body, "factor", f) != 0)) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    f = NULL;
    if ((r = kwc_http(c, "POST", "/v1/login/finish", body, false, &resp)) != KW_OK)
        goto out;
    if (json_is_true(json_object_get(resp, "needs_factor"))) {
        const char *want = json_string_value(json_object_get(resp, "factor"));
        if (attempt > 0 || want == NULL || strcmp(want, "security_key") != 0) {
            r = kwc_bad_answer(c, "login/finish");
            goto out;
        }
        /* the password is proven; the account wants a security key: answer
         * its challenge and sign in again with the assertion */
        if ((r = kwc_seckey_assert(c, json_object_get(resp, "publicKey"), &key_assertion)) != KW_OK)
            goto out;
        attempt++;
        kw_opaque_client_free(&oc);
        kw_sign_key_free(&ik);
        json_decref(body);
        json_decref(resp);
        body = resp = NULL;
        goto again;
    }
    token = json_string_value(json_object_get(resp, "token"));
    state = json_string_value(json_object_get(resp, "device_state"));
    if (token == NULL || strlen(token) >= KWC_TOKEN_MAX || state == NULL || strlen(state) >= 16) {
        r = kwc_bad_answer(c, "login/finish");
        goto out;
    }
    snprintf(c->p->s->token, sizeof(c->p->s->token), "%s", token);
    snprintf(c->p->account, sizeof(c->p->account), "%s", name);
    snprintf(c->p->state, sizeof(c->p->state), "%s", state);
    if (!c->p->has_account_pk) {
        /* First contact: pin the account key the server names. It is
         * checked against the account seed once the keychain opens. */
        json_t *pub = NULL;
        snprintf(path, sizeof(path), "/v1/accounts/%s/public", name);
        if ((r = kwc_http(c, "GET", path, NULL, false, &pub)) != KW_OK)
            goto out;
        r = kwc_get_b64_fixed(pub, "account_pk", c->p->account_pk, 32);
        json_decref(pub);
        if (r != KW_OK || kw_sign_pk_validate(c->p->account_pk) != KW_OK) {
            r = kwc_bad_answer(c, "account_pk");
            goto out;
        }
        c->p->has_account_pk = true;
    }
    if ((r = kwc_save(c)) != KW_OK)
        goto out;
    if (have_rkey && strcmp(state, "pending") == 0 && (r = recovery_join(c, rkey)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "device_state", json_string(c->p->state));
    if (strcmp(c->p->state, "pending") == 0) {
        char code[KW_JOIN_CODEBYTES];
        if (kw_join_code(code, name, c->p->device_id, ipk, c->p->s->hpke_pk) == KW_OK)
            json_object_set_new(*out, "join_code", json_string(code));
    }
    json_object_set_new(*out, "kk_generation", json_integer((json_int_t)kwc_profile_kk_latest(c->p)));
    r = KW_OK;
out:
    sodium_memzero(rkey, sizeof(rkey));
    sodium_memzero(rauth, sizeof(rauth));
    sodium_memzero(proof, sizeof(proof));
    sodium_memzero(session_key, sizeof(session_key));
    sodium_memzero(export_key, sizeof(export_key));
    kw_opaque_client_free(&oc);
    kw_sign_key_free(&ik);
    json_decref(body);
    json_decref(resp);
    json_decref(key_assertion);
    return r;
}

/* ---- password change ---- */

int kw_client_password_change(kw_client *c, const uint8_t *password, size_t password_len,
                              const uint8_t *new_password, size_t new_password_len, json_t **out)
{
    kw_opaque_config cfg;
    kw_opaque_client *login = NULL, *reg = NULL;
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES], ke3[KW_OPAQUE_KE3BYTES];
    uint8_t req[KW_OPAQUE_REGISTRATION_REQUESTBYTES], response[KW_OPAQUE_REGISTRATION_RESPONSEBYTES];
    uint8_t record[KW_OPAQUE_REGISTRATION_RECORDBYTES], change_id[16];
    uint8_t session_key[KW_OPAQUE_SESSION_KEYBYTES], export_key[KW_OPAQUE_EXPORT_KEYBYTES];
    uint8_t new_export_key[KW_OPAQUE_EXPORT_KEYBYTES];
    json_t *body = NULL, *resp = NULL, *key_assertion = NULL;
    bool keys_on = false;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if (password == NULL || password_len == 0 || new_password == NULL || new_password_len == 0)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "passwords may not be empty");
    kw_opaque_config_default(&cfg, (const uint8_t *)OPAQUE_CONTEXT, sizeof(OPAQUE_CONTEXT) - 1);
    if ((r = kw_opaque_client_new(&login, &cfg)) != KW_OK ||
        (r = kw_opaque_client_new(&reg, &cfg)) != KW_OK ||
        (r = kw_opaque_client_login_start(login, ke1, password, password_len)) != KW_OK ||
        (r = kw_opaque_client_registration_start(reg, req, new_password, new_password_len)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "OPAQUE: %s", kw_strerror(r));
        goto out;
    }
    body = json_object();
    if (body == NULL || kwc_put_b64(body, "ke1", ke1, sizeof(ke1)) != KW_OK ||
        kwc_put_b64(body, "request", req, sizeof(req)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/password/start", body, true, &resp)) != KW_OK)
        goto out;
    if (kwc_get_b64_fixed(resp, "change_id", change_id, sizeof(change_id)) != KW_OK ||
        kwc_get_b64_fixed(resp, "ke2", ke2, sizeof(ke2)) != KW_OK ||
        kwc_get_b64_fixed(resp, "response", response, sizeof(response)) != KW_OK) {
        r = kwc_bad_answer(c, "password/start");
        goto out;
    }
    /* the current password is checked here, against the server's KE2: a
     * wrong one never reaches finish and nothing changes */
    if (kw_opaque_client_login_finish(login, ke3, session_key, export_key, ke2, sizeof(ke2), NULL) !=
        KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the current password is wrong; nothing changed");
        goto out;
    }
    if ((r = kw_opaque_client_registration_finish(reg, record, new_export_key, response,
                                                  sizeof(response), NULL)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "OPAQUE registration: %s", kw_strerror(r));
        goto out;
    }
    json_decref(body);
    json_decref(resp);
    resp = NULL;
    body = json_object();
    if (body == NULL || kwc_put_b64(body, "change_id", change_id, sizeof(change_id)) != KW_OK ||
        kwc_put_b64(body, "ke3", ke3, sizeof(ke3)) != KW_OK ||
        kwc_put_b64(body, "record", record, sizeof(record)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    /* an account that requires security keys wants an assertion too */
    if ((r = kwc_seckey_policy(c, &keys_on)) == KW_ERR_UNSUPPORTED)
        keys_on = false; /* a server without security keys */
    else if (r != KW_OK)
        goto out;
    if (keys_on && ((r = kwc_seckey_assert_op(c, "password", &key_assertion)) != KW_OK ||
                    json_object_set(body, "assertion", key_assertion) != 0)) {
        r = r != KW_OK ? r : KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/password/finish", body, true, &resp)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "password_changed", json_true());
    json_object_set_new(*out, "sessions_revoked",
                        json_integer(json_integer_value(json_object_get(resp, "sessions_revoked"))));
    r = KW_OK;
out:
    sodium_memzero(session_key, sizeof(session_key));
    sodium_memzero(export_key, sizeof(export_key));
    sodium_memzero(new_export_key, sizeof(new_export_key));
    kw_opaque_client_free(&login);
    kw_opaque_client_free(&reg);
    json_decref(body);
    json_decref(resp);
    json_decref(key_assertion);
    return r;
}

int kw_client_logout(kw_client *c, json_t **out)
{
    json_t *resp = NULL;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    r = kwc_http(c, "POST", "/v1/logout", NULL, true, &resp);
    json_decref(resp);
    /* a session the server already refuses is as good as logged out */
    if (r != KW_OK && !(r == KW_ERR_VERIFY && c->origin == KW_CLIENT_ORIGIN_SERVER))
        return r;
    sodium_memzero(c->p->s->token, sizeof(c->p->s->token));
    if ((r = kwc_save(c)) != KW_OK)
        return r;
    *out = kwc_result(c);
    json_object_set_new(*out, "signed_in", json_false());
    return KW_OK;
}

/* ---- devices ---- */

static const json_t *find_device(const json_t *list, const char *id)
{
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(list, "devices"), i, d)
    {
        const char *did = json_string_value(json_object_get(d, "id"));
        if (did != NULL && strcmp(did, id) == 0)
            return d;
    }
    return NULL;
}

/* Checks the server's device table (GET /v1/devices) against the verified
 * roster: every device the table shows trusted is in the roster, every
 * roster device is in the table as trusted; pending and removed devices
 * outside the roster are fine. Sets the table's roster_version to the
 * verified one. */
static int check_device_table(kw_client *c, json_t *list)
{
    kw_roster *ros = malloc(sizeof(*ros));
    const json_t *d;
    size_t i;
    int r;
    if (ros == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    if ((r = kwc_fetch_roster(c, ros)) != KW_OK)
        goto out;
    json_array_foreach(json_object_get(list, "devices"), i, d)
    {
        const char *id = json_string_value(json_object_get(d, "id"));
        const char *st = json_string_value(json_object_get(d, "state"));
        uint8_t did[KWC_ID_BYTES];
        if (id == NULL || st == NULL || kwc_get_b64_fixed(d, "id", did, KWC_ID_BYTES) != KW_OK) {
            r = kwc_bad_answer(c, "devices");
            goto out;
        }
        bool listed = kw_roster_find(ros, did) != NULL;
        if (strcmp(st, "trusted") == 0 && !listed) {
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                         "ALERT: the server shows device %s as trusted but the account's signed "
                         "roster (version %llu) does not list it",
                         id, (unsigned long long)ros->version);
            goto out;
        }
        if (listed && strcmp(st, "trusted") != 0) {
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                         "ALERT: the server shows device %s as %s but the account's signed roster "
                         "(version %llu) lists it as trusted",
                         id, st, (unsigned long long)ros->version);
            goto out;
        }
    }
    for (i = 0; i < ros->ndevices; i++) {
        char id[32];
        kwc_id_b64(id, ros->devices[i].id);
        if (find_device(list, id) == NULL) {
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                         "ALERT: the server's device list omits device %s, which the account's signed "
                         "roster (version %llu) lists as trusted",
                         id, (unsigned long long)ros->version);
            goto out;
        }
    }
    json_object_set_new(list, "roster_version", json_integer((json_int_t)ros->version));
    r = KW_OK;
out:
    free(ros);
    return r;
}

int kw_client_device_list(kw_client *c, json_t **out)
{
    json_t *resp = NULL, *d;
    char me[32];
    size_t i;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((r = kwc_http(c, "GET", "/v1/devices", NULL, true, &resp)) != KW_OK)
        return r;
    if ((r = check_device_table(c, resp)) != KW_OK) {
        json_decref(resp);
        return r;
    }
    kwc_id_b64(me, c->p->device_id);
    json_array_foreach(json_object_get(resp, "devices"), i, d)
    {
        const char *id = json_string_value(json_object_get(d, "id"));
        const char *st = json_string_value(json_object_get(d, "state"));
        uint8_t did[16], ipk[32], hpk[32];
        char code[KW_JOIN_CODEBYTES];
        json_object_set_new(d, "current", json_boolean(id != NULL && strcmp(id, me) == 0));
        if (st == NULL || strcmp(st, "pending") != 0 || kwc_get_b64_fixed(d, "id", did, 16) != KW_OK ||
            kwc_get_b64_fixed(d, "identity_pk", ipk, 32) != KW_OK ||
            kwc_get_b64_fixed(d, "hpke_pk", hpk, 32) != KW_OK)
            continue;
        if (kw_join_code(code, c->p->account, did, ipk, hpk) == KW_OK)
            json_object_set_new(d, "join_code", json_string(code));
    }
    json_object_set_new(resp, "account", json_string(c->p->account));
    *out = resp;
    return KW_OK;
}

int kw_client_device_approve(kw_client *c, const char *device_id, const char *expected_code,
                             kw_client_confirm_fn confirm, void *arg, json_t **out)
{
    json_t *list = NULL, *body = NULL, *resp = NULL;
    const json_t *d;
    uint8_t did[16], ipk[32], hpk[32], kk[KW_KK_BYTES], wrap[KW_KK_WRAPBYTES];
    char code[KW_JOIN_CODEBYTES];
    const char *st, *dname;
    kw_roster *ros = NULL;
    kw_sign_key *ak = NULL;
    uint64_t gen = 0;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK || (r = kwc_parse_id(c, device_id, did)) != KW_OK)
        return r;
    if (expected_code != NULL && !six_digits(expected_code))
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "join codes are exactly 6 digits");
    if ((r = kwc_http(c, "GET", "/v1/devices", NULL, true, &list)) != KW_OK)
        return r;
    if ((d = find_device(list, device_id)) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND, "no device %s in this account", device_id);
        goto out;
    }
    st = json_string_value(json_object_get(d, "state"));
    dname = json_string_value(json_object_get(d, "name"));
    if (st == NULL || strcmp(st, "pending") != 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_CONFLICT, "device %s is %s, not pending", device_id,
                     st != NULL ? st : "unknown");
        goto out;
    }
    if (kwc_get_b64_fixed(d, "identity_pk", ipk, 32) != KW_OK ||
        kwc_get_b64_fixed(d, "hpke_pk", hpk, 32) != KW_OK) {
        r = kwc_bad_answer(c, "device keys");
        goto out;
    }
    if ((r = kw_join_code(code, c->p->account, did, ipk, hpk)) != KW_OK)
        goto out;
    if (expected_code != NULL) {
        if (!kw_ct_equal(code, expected_code, 6)) {
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                         "the join code does not match: not approving (the device the server shows "
                         "is not the one that printed that code)");
            goto out;
        }
    } else if (confirm == NULL || !confirm(code, arg)) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "not approved");
        goto out;
    }
    if ((ros = malloc(sizeof(*ros))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_sync_kk(c, NULL, NULL, &gen, ros)) != KW_OK || (r = kwc_account_key(c, &ak)) != KW_OK)
        goto out;
    ros->version++;
    if ((r = kw_roster_add(ros, did, ipk, hpk, dname)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "roster: %s", kw_strerror(r));
        goto out;
    }
    memcpy(kk, kwc_profile_kk(c->p, gen), KW_KK_BYTES);
    r = kw_kk_wrap(wrap, kk, c->p->account, gen, did, hpk, c->p->s->hpke_sk, c->p->s->hpke_pk);
    sodium_memzero(kk, sizeof(kk));
    if (r != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "KK wrap: %s", kw_strerror(r));
        goto out;
    }
    body = json_pack("{s:s}", "device_id", device_id);
    if (body == NULL || kwc_put_b64(body, "wrap", wrap, sizeof(wrap)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_put_roster(c, body, ros, ak)) != KW_OK ||
        (r = kwc_http(c, "POST", "/v1/devices/approve", body, true, &resp)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "approved", json_string(device_id));
    json_object_set_new(*out, "approved_name", json_string(dname != NULL ? dname : ""));
    json_object_set_new(*out, "join_code", json_string(code));
    json_object_set_new(*out, "roster_version", json_integer((json_int_t)ros->version));
    r = KW_OK;
    /* self-monitoring right after the change (keyward/client_ckv.h): the
     * version this device just signed is recorded as ours, and a version
     * none of our devices made shows up now (unknown-own-device: the
     * approval stands, the call fails with the alert in *out) */
    {
        const char *rb = json_string_value(json_object_get(body, "roster"));
        uint8_t *enc = rb != NULL ? malloc(KW_ROSTER_MAXBYTES) : NULL, h[32];
        size_t elen = 0;
        bool have = false;
        if (enc != NULL && kw_b64url_decode(enc, KW_ROSTER_MAXBYTES, &elen, rb, strlen(rb)) == KW_OK) {
            crypto_hash_sha256(h, enc, elen);
            have = true;
        }
        free(enc);
        json_t *sc = NULL;
        int sr = kw_client_ckv_own_change(c, ros->version, have ? h : NULL, &sc);
        json_t *al = json_object_get(sc, "alerts");
        if (json_array_size(al) > 0)
            json_object_set(*out, "alerts", al);
        if (sc != NULL) {
            json_object_del(sc, "alerts");
            json_object_set_new(*out, "self_check", sc);
        }
        if (sr == KW_ERR_VERIFY) {
            char m[512];
            snprintf(m, sizeof(m), "%s", kw_client_error(c));
            r = kwc_fail(c, LOCAL, sr, "device %s approved, but self-monitoring: %s", device_id, m);
        } else if (sr != KW_OK) {
            json_object_set_new(*out, "self_check_error", json_string(kw_client_error(c)));
        }
    }
out:
    kw_sign_key_free(&ak);
    free(ros);
    json_decref(list);
    json_decref(body);
    json_decref(resp);
    return r;
}

int kw_client_device_remove(kw_client *c, const char *device_id, json_t **out)
{
    json_t *body = NULL, *resp = NULL, *wraps = NULL, *rolled = NULL;
    uint8_t did[16], kk2[KW_KK_BYTES], chain[KW_KK_CHAINBYTES], wrap[KW_KK_WRAPBYTES];
    kw_roster *ros = NULL;
    kw_sign_key *ak = NULL;
    kw_keychain *kc = NULL;
    uint64_t gen = 0, kcv = 0;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK || (r = kwc_parse_id(c, device_id, did)) != KW_OK)
        return r;
    if (memcmp(did, c->p->device_id, 16) == 0)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG,
                        "this is the current device: remove it from another trusted device");
    if ((ros = malloc(sizeof(*ros))) == NULL)
        return KW_ERR_NOMEM;
    if ((r = kwc_sync_kk(c, &kc, &kcv, &gen, ros)) != KW_OK || (r = kwc_account_key(c, &ak)) != KW_OK)
        goto out;
    r = kw_roster_remove(ros, did); /* a pending device is not listed */
    if (r != KW_OK && r != KW_ERR_NOT_FOUND)
        goto out;
    ros->version++;
    kw_kk_new(kk2);
    const uint8_t *kk = kwc_profile_kk(c->p, gen);
    if ((r = kw_kk_chain_seal(chain, kk, kk2, c->p->account, gen + 1)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "KK chain: %s", kw_strerror(r));
        goto out;
    }
    body = json_pack("{s:s,s:I,s:I}", "device_id", device_id, "generation", (json_int_t)(gen + 1),
                     "keychain_version", (json_int_t)(kcv + 1));
    wraps = json_array();
    if (body == NULL || wraps == NULL || kwc_put_b64(body, "chain", chain, sizeof(chain)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < ros->ndevices; i++) {
        const kw_roster_device *dv = &ros->devices[i];
        char idb[32];
        if ((r = kw_kk_wrap(wrap, kk2, c->p->account, gen + 1, dv->id, dv->hpke_pk, c->p->s->hpke_sk,
                            c->p->s->hpke_pk)) != KW_OK) {
            r = kwc_fail(c, LOCAL, r, "KK wrap: %s", kw_strerror(r));
            goto out;
        }
        kwc_id_b64(idb, dv->id);
        json_t *w = json_pack("{s:s}", "device_id", idb);
        if (w == NULL || json_array_append_new(wraps, w) != 0 ||
            kwc_put_b64(w, "wrap", wrap, sizeof(wrap)) != KW_OK) {
            r = KW_ERR_NOMEM;
            goto out;
        }
    }
    json_object_set_new(body, "wraps", wraps);
    wraps = NULL;
    /* the service keys roll with KK: a new generation of each, the old one
     * chained under it, so the removed device (which knew the old keys)
     * cannot open anything written from now on, and nothing old is lost */
    rolled = json_array();
    size_t nsvc = kw_keychain_svc_count(kc);
    char svc[KW_SVCKEY_CATEGORIES_MAX][KW_SVCKEY_CATEGORY_MAXBYTES + 1];
    for (size_t i = 0; i < nsvc && i < KW_SVCKEY_CATEGORIES_MAX; i++) {
        const char *cat = "";
        uint32_t g = 0;
        if (kw_keychain_svc_at(kc, i, &cat, &g) != KW_OK)
            cat = "";
        snprintf(svc[i], sizeof(svc[i]), "%s", cat);
    }
    for (size_t i = 0; i < nsvc && i < KW_SVCKEY_CATEGORIES_MAX; i++) {
        uint32_t g = 0;
        if ((r = kw_keychain_svc_roll(kc, svc[i], &g)) != KW_OK) {
            r = kwc_fail(c, LOCAL, r, "cannot roll the service key of %s: %s", svc[i], kw_strerror(r));
            goto out;
        }
        json_array_append_new(rolled, json_pack("{s:s,s:I}", "category", svc[i], "generation",
                                                (json_int_t)g));
    }
    /* the recovery key keeps working: re-wrap the new generation with the
     * recovery wrapping key kept in the keychain (absent for recovery keys
     * made before it was kept there: those need a new recovery key) */
    const uint8_t *rwk = NULL;
    size_t rwk_len = 0;
    bool rewrapped = false;
    if (kw_keychain_get(kc, KW_RECOVERY_RWK_ITEM, &rwk, &rwk_len) == KW_OK &&
        rwk_len == KW_RECOVERY_WRAPKEYBYTES) {
        uint8_t rwrap[KW_RECOVERY_WRAPBYTES];
        if ((r = kw_recovery_wrap_rwk(rwrap, kk2, rwk, c->p->account, gen + 1)) != KW_OK) {
            r = kwc_fail(c, LOCAL, r, "recovery wrap: %s", kw_strerror(r));
            goto out;
        }
        if ((r = kwc_put_b64(body, "recovery_wrap", rwrap, sizeof(rwrap))) != KW_OK)
            goto out;
        rewrapped = true;
    }
    if ((r = kwc_put_roster(c, body, ros, ak)) != KW_OK ||
        (r = kwc_seal_keychain(c, body, "keychain", kc, kk2, kcv + 1, gen + 1)) != KW_OK)
        goto out;
    if ((r = kwc_http(c, "POST", "/v1/devices/remove", body, true, &resp)) != KW_OK)
        goto out;
    kwc_profile_kk_put(c->p, gen + 1, kk2);
    if ((r = kwc_save(c)) != KW_OK || (r = kwc_keychain_pin(c, kcv + 1, gen + 1)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "service_keys_rolled", rolled);
    rolled = NULL;
    {
        /* lib/client/adp.c: passcode escrow and custody copies of the new
         * generations (by the signed roster's ADP flag) */
        void kwc_adp_after_rotation(kw_client *, const kw_keychain *, const kw_roster *,
                                    const uint8_t kk[static 32], uint64_t, json_t *);
        kwc_adp_after_rotation(c, kc, ros, kk2, gen + 1, *out);
    }
    json_object_set_new(*out, "removed", json_string(device_id));
    json_object_set_new(*out, "kk_generation", json_integer((json_int_t)(gen + 1)));
    json_object_set_new(*out, "roster_version", json_integer((json_int_t)ros->version));
    json_object_set_new(*out, "recovery_rewrapped", json_boolean(rewrapped));
    r = KW_OK;
out:
    json_decref(rolled);
    sodium_memzero(kk2, sizeof(kk2));
    kw_sign_key_free(&ak);
    kw_keychain_free(&kc);
    free(ros);
    json_decref(wraps);
    json_decref(body);
    json_decref(resp);
    return r;
}

/* ---- keychain ---- */

static bool printable(const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e)
            return false;
    return true;
}

int kw_client_keychain_show(kw_client *c, json_t **out)
{
    kw_keychain *kc = NULL;
    uint64_t version = 0, gen = 0;
    json_t *items = NULL;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((r = kwc_sync_kk(c, &kc, &version, &gen, NULL)) != KW_OK)
        return r;
    if ((items = json_array()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < kw_keychain_count(kc); i++) {
        const char *name;
        const uint8_t *v;
        size_t vlen;
        if (kw_keychain_item(kc, i, &name, &v, &vlen) != KW_OK)
            break;
        json_t *it = json_pack("{s:s,s:I}", "name", name, "size", (json_int_t)vlen);
        if (it == NULL || json_array_append_new(items, it) != 0) {
            r = KW_ERR_NOMEM;
            goto out;
        }
        if (printable(v, vlen))
            json_object_set_new(it, "text", json_stringn((const char *)v, vlen));
        else
            kwc_put_b64(it, "value", v, vlen);
    }
    *out = kwc_result(c);
    kwc_put_b64(*out, "account_pk", c->p->account_pk, 32);
    json_object_set_new(*out, "keychain_version", json_integer((json_int_t)version));
    json_object_set_new(*out, "kk_generation", json_integer((json_int_t)gen));
    json_object_set_new(*out, "items", items);
    items = NULL;
    r = KW_OK;
out:
    json_decref(items);
    kw_keychain_free(&kc);
    return r;
}

/* ---- sessions, approvals ---- */

int kw_client_session_list(kw_client *c, json_t **out)
{
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    return kwc_http(c, "GET", "/v1/sessions", NULL, true, out);
}

int kwc_post_result(kw_client *c, const char *path, const char *key, json_t *value, json_t **out)
{
    json_t *resp = NULL;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK || (r = kwc_http(c, "POST", path, NULL, true, &resp)) != KW_OK) {
        json_decref(value);
        return r;
    }
    json_decref(resp);
    *out = kwc_result(c);
    json_object_set_new(*out, key, value);
    return KW_OK;
}

int kw_client_session_revoke(kw_client *c, const char *session_id, json_t **out)
{
    char path[160];
    uint8_t h[64];
    size_t n = 0;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if (session_id == NULL || kw_b64url_decode(h, sizeof(h), &n, session_id, strlen(session_id)) != KW_OK ||
        n == 0 || snprintf(path, sizeof(path), "/v1/sessions/%s/revoke", session_id) >= (int)sizeof(path))
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "not a session id");
    return kwc_post_result(c, path, "revoked", json_string(session_id), out);
}

int kw_client_approval_code(kw_client *c, json_t **out)
{
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    return kwc_http(c, "POST", "/v1/approvals", NULL, true, out);
}

/* ---- TOTP ---- */

static int totp_now(char code[static KW_CLIENT_CODEBYTES], const uint8_t *secret, size_t len)
{
    uint32_t v = 0;
    uint64_t step = 0;
    int r = kw_totp(&v, &step, KW_TOTP_SHA1, secret, len, (uint64_t)time(NULL),
                    KW_TOTP_DEFAULT_PERIOD, KW_TOTP_DEFAULT_DIGITS);
    if (r == KW_OK)
        snprintf(code, KW_CLIENT_CODEBYTES, "%06u", (unsigned)v);
    return r;
}

int kw_client_totp_code(const char *secret_b32, char code[static KW_CLIENT_CODEBYTES])
{
    uint8_t secret[KW_TOTP_SECRET_MAX];
    size_t len = 0;
    int r = kw_base32_decode(secret, sizeof(secret), &len, secret_b32, strlen(secret_b32));
    if (r == KW_OK)
        r = totp_now(code, secret, len);
    sodium_memzero(secret, sizeof(secret));
    return r;
}

int kw_client_totp_enable(kw_client *c, const char *secret_b32, const char *code, bool self_confirm,
                          kw_client_code_fn ask, void *arg, json_t **out)
{
    uint8_t secret[KW_TOTP_SECRET_MAX];
    size_t len = KW_TOTP_DEFAULT_SECRETBYTES;
    char b32[128], uri[512], cur[KW_CLIENT_CODEBYTES] = {0};
    json_t *body = NULL, *resp = NULL;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if (secret_b32 != NULL) {
        if (kw_base32_decode(secret, sizeof(secret), &len, secret_b32, strlen(secret_b32)) != KW_OK ||
            len < KW_TOTP_SECRET_MIN) {
            r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "the secret must be base32 of 16-64 bytes");
            goto out;
        }
    } else {
        randombytes_buf(secret, len);
    }
    if ((r = kw_base32_encode(b32, sizeof(b32), secret, len)) != KW_OK)
        goto out;
    snprintf(uri, sizeof(uri),
             "otpauth://totp/keyward:%s?secret=%s&issuer=keyward&algorithm=SHA1&digits=6&period=30",
             c->p->account, b32);
    if (code != NULL)
        snprintf(cur, sizeof(cur), "%s", code);
    else if (self_confirm)
        r = totp_now(cur, secret, len); /* TEST ONLY: proves nothing about an authenticator */
    else if (ask == NULL || !ask(uri, b32, cur, arg))
        r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG,
                     "enabling TOTP needs the current code of the secret (--secret B32 --code CODE)");
    if (r != KW_OK)
        goto out;
    if (!six_digits(cur)) {
        r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "codes are exactly 6 digits");
        goto out;
    }
    body = json_pack("{s:s}", "code", cur);
    if (body == NULL || kwc_put_b64(body, "secret", secret, len) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/totp/enable", body, true, &resp)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "otpauth_uri", json_string(uri));
    json_object_set_new(*out, "secret", json_string(b32));
    r = KW_OK;
out:
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(b32, sizeof(b32));
    sodium_memzero(uri, sizeof(uri));
    if (body != NULL) {
        json_object_clear(body);
        json_decref(body);
    }
    json_decref(resp);
    return r;
}

int kw_client_totp_disable(kw_client *c, json_t **out)
{
    return kwc_post_result(c, "/v1/totp/disable", "totp", json_false(), out);
}

/* ---- recovery key ---- */

int kw_client_recovery_create(kw_client *c, json_t **out)
{
    uint8_t key[KW_RECOVERY_KEYBYTES], auth[KW_RECOVERY_AUTHBYTES], rwrap[KW_RECOVERY_WRAPBYTES];
    uint8_t rwk[KW_RECOVERY_WRAPKEYBYTES];
    char code[KW_RECOVERY_CODEBYTES];
    kw_roster *ros = NULL;
    kw_sign_key *ak = NULL;
    kw_keychain *kc = NULL;
    json_t *body = NULL, *resp = NULL;
    uint64_t gen = 0, kcv = 0;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((ros = malloc(sizeof(*ros))) == NULL)
        return KW_ERR_NOMEM;
    if ((r = kwc_sync_kk(c, &kc, &kcv, &gen, ros)) != KW_OK || (r = kwc_account_key(c, &ak)) != KW_OK)
        goto out;
    kw_recovery_key_new(key);
    kw_recovery_code_encode(code, key);
    if ((r = kw_recovery_wrap(rwrap, kwc_profile_kk(c->p, gen), key, c->p->account, gen)) != KW_OK ||
        (r = kw_recovery_auth(auth, key, c->p->account)) != KW_OK ||
        (r = kw_recovery_wrap_key(rwk, key, c->p->account)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "recovery key: %s", kw_strerror(r));
        goto out;
    }
    /* RWK goes into the (end-to-end) keychain, so that whichever device
     * rotates KK later re-wraps the new generation for recovery */
    if ((r = kw_keychain_set(kc, KW_RECOVERY_RWK_ITEM, rwk, sizeof(rwk))) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "keychain: %s", kw_strerror(r));
        goto out;
    }
    ros->version++; /* the same devices, re-signed: the history records the change */
    body = json_pack("{s:I,s:I}", "generation", (json_int_t)gen, "keychain_version",
                     (json_int_t)(kcv + 1));
    if (body == NULL || kwc_put_b64(body, "recovery_wrap", rwrap, sizeof(rwrap)) != KW_OK ||
        kwc_put_b64(body, "recovery_auth", auth, sizeof(auth)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_put_roster(c, body, ros, ak)) != KW_OK ||
        (r = kwc_seal_keychain(c, body, "keychain", kc, kwc_profile_kk(c->p, gen), kcv + 1, gen)) != KW_OK ||
        (r = kwc_http(c, "POST", "/v1/recovery", body, true, &resp)) != KW_OK)
        goto out;
    *out = kwc_result(c);
    json_object_set_new(*out, "recovery_key", json_string(code));
    json_object_set_new(*out, "kk_generation", json_integer((json_int_t)gen));
    json_object_set_new(*out, "keychain_version", json_integer((json_int_t)(kcv + 1)));
    r = KW_OK;
out:
    sodium_memzero(key, sizeof(key));
    sodium_memzero(auth, sizeof(auth));
    sodium_memzero(rwk, sizeof(rwk));
    sodium_memzero(code, sizeof(code));
    if (body != NULL) {
        json_object_clear(body);
        json_decref(body);
    }
    kw_keychain_free(&kc);
    kw_sign_key_free(&ak);
    free(ros);
    json_decref(resp);
    return r;
}

/* ---- status ---- */

int kw_client_status(kw_client *c, json_t **out)
{
    json_t *list = NULL;
    char me[32];
    int r;
    *out = NULL;
    if ((r = kwc_need_profile(c)) != KW_OK)
        return r;
    *out = kwc_result(c);
    json_object_set_new(*out, "profile", json_string(c->dir));
    json_object_set_new(*out, "server", json_string(c->server));
    json_object_set_new(*out, "kk_generation", json_integer((json_int_t)kwc_profile_kk_latest(c->p)));
    json_object_set_new(*out, "signed_in", json_boolean(c->p->s->token[0] != '\0'));
    const char *state = c->p->account[0] == '\0' ? "no-account" : c->p->state;
    if (c->p->account[0] != '\0' && c->p->s->token[0] != '\0') {
        r = kwc_http(c, "GET", "/v1/devices", NULL, true, &list);
        if (r == KW_OK) {
            kwc_id_b64(me, c->p->device_id);
            const json_t *d = find_device(list, me);
            const char *st = json_string_value(json_object_get(d, "state"));
            if (st != NULL)
                state = st;
        } else if (r == KW_ERR_VERIFY && c->origin == KW_CLIENT_ORIGIN_SERVER) {
            state = "session-refused";
            json_object_set_new(*out, "signed_in", json_false());
        } else {
            json_object_set_new(*out, "server_error", json_string(c->err));
        }
    }
    json_object_set_new(*out, "state", json_string(state));
    json_decref(list);
    c->err[0] = '\0';
    c->origin = 0;
    return KW_OK;
}
