/*
 * Security keys on the client (keyward/client_keys.h): the authenticators
 * (libfido2 for real USB keys, the INSECURE software key for tests) and the
 * /v1/seckeys flows, plus the assertion helper the sign-in, password and
 * recovery flows use when the server asks for a key (keys_internal.h).
 *
 * What the client builds itself, as a browser would: clientDataJSON
 * ({type, challenge, origin, crossOrigin}) for the server's challenge and
 * its SHA-256 for the authenticator. The server checks everything; the
 * client only refuses options that are malformed or over the limits.
 *
 * Test hooks (only with the software authenticator, never with a real
 * key): KEYWARD_TEST_SECKEY_CAPTURE=FILE writes every assertion made to
 * FILE; with KEYWARD_TEST_SECKEY_CAPTURE_ONLY=1 the flow then stops before
 * sending it (an unused challenge with a valid assertion, for attack
 * tests); KEYWARD_TEST_SECKEY_REPLAY=FILE sends FILE's assertion instead of
 * making one (a replaying attacker).
 */
#include <cbor.h>
#include <fido.h>
#include <fido/es256.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "client/keys_internal.h"
#include "keyward/client_keys.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/softkey.h"
#include "keyward/webauthn.h"

#define LOCAL KW_CLIENT_ORIGIN_LOCAL
#define KC_ORIGIN_MAX 320
#define KC_RPID_MAX 253
#define KC_ALLOW_MAX 16
#define KC_CDJ_MAX 1024
#define KC_DEV_MAX 16

struct kw_client_authenticator {
    bool soft;
    kw_softkey_insecure *sk;
    char dev_path[256];
    kw_client_pin_fn pin;
    void *pin_arg;
};

typedef struct {
    uint8_t id[KW_WEBAUTHN_CREDID_MAXBYTES];
    size_t id_len;
} kc_cred;

static pthread_once_t kc_fido_once = PTHREAD_ONCE_INIT;

static void kc_fido_init(void)
{
    fido_init(0);
}

/* ---- authenticators ---- */

int kw_client_authenticator_fido2(kw_client_authenticator **out, const char *dev_path,
                                  kw_client_pin_fn pin, void *arg)
{
    *out = NULL;
    kw_client_authenticator *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return KW_ERR_NOMEM;
    if (dev_path != NULL && strlen(dev_path) >= sizeof(a->dev_path)) {
        free(a);
        return KW_ERR_TOO_LARGE;
    }
    if (dev_path != NULL)
        snprintf(a->dev_path, sizeof(a->dev_path), "%s", dev_path);
    a->pin = pin;
    a->pin_arg = arg;
    pthread_once(&kc_fido_once, kc_fido_init);
    *out = a;
    return KW_OK;
}

int kw_client_authenticator_soft_insecure(kw_client_authenticator **out, const char *path)
{
    *out = NULL;
    kw_client_authenticator *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return KW_ERR_NOMEM;
    int r = kw_softkey_insecure_open(&a->sk, path);
    if (r != KW_OK) {
        free(a);
        return r;
    }
    a->soft = true;
    fprintf(stderr, "WARNING: INSECURE software security key in %s: its private keys are an "
                    "unprotected file. For tests only; never protect a real account with it.\n",
            path != NULL ? path : "(memory)");
    *out = a;
    return KW_OK;
}

void kw_client_authenticator_free(kw_client_authenticator **a)
{
    if (a == NULL || *a == NULL)
        return;
    kw_softkey_insecure_free(&(*a)->sk);
    free(*a);
    *a = NULL;
}

void kw_client_use_authenticator(kw_client *c, kw_client_authenticator *a)
{
    c->seckey_auth = a;
}

/* ---- libfido2 ---- */

static int kc_fido_open(kw_client *c, const kw_client_authenticator *a, fido_dev_t **dev)
{
    fido_dev_info_t *list = NULL;
    size_t n = 0;
    char path[256];
    int r;
    *dev = NULL;
    pthread_once(&kc_fido_once, kc_fido_init);
    if (a != NULL && a->dev_path[0] != '\0') {
        snprintf(path, sizeof(path), "%s", a->dev_path);
    } else {
        if ((list = fido_dev_info_new(KC_DEV_MAX)) == NULL)
            return KW_ERR_NOMEM;
        if (fido_dev_info_manifest(list, KC_DEV_MAX, &n) != FIDO_OK || n == 0) {
            fido_dev_info_free(&list, KC_DEV_MAX);
            return kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND,
                            "no security key found: insert one and try again");
        }
        snprintf(path, sizeof(path), "%s", fido_dev_info_path(fido_dev_info_ptr(list, 0)));
        fido_dev_info_free(&list, KC_DEV_MAX);
    }
    if ((*dev = fido_dev_new()) == NULL)
        return KW_ERR_NOMEM;
    if ((r = fido_dev_open(*dev, path)) != FIDO_OK) {
        fido_dev_free(dev);
        return kwc_fail(c, LOCAL, KW_ERR_SYSTEM, "cannot open security key %s: %s", path,
                        fido_strerr(r));
    }
    return KW_OK;
}

static int kc_fido_fail(kw_client *c, int rc)
{
    if (rc == FIDO_ERR_PIN_INVALID || rc == FIDO_ERR_PIN_REQUIRED || rc == FIDO_ERR_PIN_AUTH_BLOCKED ||
        rc == FIDO_ERR_PIN_BLOCKED)
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "security key: %s", fido_strerr(rc));
    if (rc == FIDO_ERR_NO_CREDENTIALS)
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                        "this security key is not registered to the account");
    if (rc == FIDO_ERR_CREDENTIAL_EXCLUDED)
        return kwc_fail(c, LOCAL, KW_ERR_CONFLICT, "this security key is already registered");
    if (rc == FIDO_ERR_ACTION_TIMEOUT || rc == FIDO_ERR_USER_ACTION_TIMEOUT)
        return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "security key: timed out waiting for a touch");
    return kwc_fail(c, LOCAL, KW_ERR_SYSTEM, "security key: %s", fido_strerr(rc));
}

/* Runs op once without a PIN; when the key wants one, asks and retries. */
static int kc_with_pin(kw_client *c, const kw_client_authenticator *a,
                       int (*op)(fido_dev_t *, void *, const char *), fido_dev_t *dev, void *obj)
{
    char pin[KW_CLIENT_PIN_MAXBYTES + 1];
    fprintf(stderr, "touch your security key...\n");
    int rc = op(dev, obj, NULL);
    if (rc == FIDO_ERR_PIN_REQUIRED || rc == FIDO_ERR_UV_BLOCKED || rc == FIDO_ERR_PIN_INVALID) {
        if (a == NULL || a->pin == NULL || !a->pin(pin, sizeof(pin), a->pin_arg))
            return kwc_fail(c, LOCAL, KW_ERR_VERIFY, "security key: PIN required");
        pin[sizeof(pin) - 1] = '\0';
        fprintf(stderr, "touch your security key...\n");
        rc = op(dev, obj, pin);
        sodium_memzero(pin, sizeof(pin));
    }
    return rc == FIDO_OK ? KW_OK : kc_fido_fail(c, rc);
}

static int kc_op_assert(fido_dev_t *dev, void *obj, const char *pin)
{
    return fido_dev_get_assert(dev, obj, pin);
}

static int kc_op_cred(fido_dev_t *dev, void *obj, const char *pin)
{
    return fido_dev_make_cred(dev, obj, pin);
}

/* Copies a CBOR byte string (as libfido2 hands out authenticator data). */
static int kc_cbor_bytes(const uint8_t *p, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    struct cbor_load_result res;
    cbor_item_t *it = cbor_load(p, len, &res);
    int r = KW_ERR_FORMAT;
    if (it != NULL && res.error.code == CBOR_ERR_NONE && cbor_isa_bytestring(it) &&
        cbor_bytestring_is_definite(it)) {
        size_t n = cbor_bytestring_length(it);
        if (n <= cap) {
            memcpy(out, cbor_bytestring_handle(it), n);
            *out_len = n;
            r = KW_OK;
        } else {
            r = KW_ERR_TOO_LARGE;
        }
    }
    if (it != NULL)
        cbor_decref(&it);
    return r;
}

static int kc_fido_assert(kw_client *c, const kw_client_authenticator *a, const char *rp_id,
                          bool uv, const uint8_t cdh[32], const kc_cred *allow, size_t n_allow,
                          kc_cred *used, uint8_t *ad, size_t *ad_len, uint8_t *sig, size_t *sig_len)
{
    fido_dev_t *dev = NULL;
    fido_assert_t *as = NULL;
    int r = kc_fido_open(c, a, &dev);
    if (r != KW_OK)
        return r;
    if ((as = fido_assert_new()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    int rc = fido_assert_set_rp(as, rp_id);
    if (rc == FIDO_OK)
        rc = fido_assert_set_clientdata_hash(as, cdh, 32);
    for (size_t i = 0; rc == FIDO_OK && i < n_allow; i++)
        rc = fido_assert_allow_cred(as, allow[i].id, allow[i].id_len);
    if (rc == FIDO_OK)
        rc = fido_assert_set_up(as, FIDO_OPT_TRUE);
    if (rc == FIDO_OK && uv) /* the key asks for its PIN or biometric */
        rc = fido_assert_set_uv(as, FIDO_OPT_TRUE);
    if (rc != FIDO_OK) {
        r = kc_fido_fail(c, rc);
        goto out;
    }
    if ((r = kc_with_pin(c, a, kc_op_assert, dev, as)) != KW_OK)
        goto out;
    if (fido_assert_count(as) < 1 || fido_assert_id_len(as, 0) == 0 ||
        fido_assert_id_len(as, 0) > sizeof(used->id) ||
        fido_assert_sig_len(as, 0) > KW_WEBAUTHN_SIG_MAXBYTES) {
        r = kwc_fail(c, LOCAL, KW_ERR_FORMAT, "security key: unusable assertion");
        goto out;
    }
    used->id_len = fido_assert_id_len(as, 0);
    memcpy(used->id, fido_assert_id_ptr(as, 0), used->id_len);
    *sig_len = fido_assert_sig_len(as, 0);
    memcpy(sig, fido_assert_sig_ptr(as, 0), *sig_len);
    if (kc_cbor_bytes(fido_assert_authdata_ptr(as, 0), fido_assert_authdata_len(as, 0), ad,
                      KW_WEBAUTHN_AUTHDATA_MAXBYTES, ad_len) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_FORMAT, "security key: unusable authenticator data");
        goto out;
    }
    r = KW_OK;
out:
    fido_assert_free(&as);
    if (dev != NULL) {
        fido_dev_close(dev);
        fido_dev_free(&dev);
    }
    return r;
}

static bool kc_map_put(cbor_item_t *m, cbor_item_t *k, cbor_item_t *v)
{
    bool ok = k != NULL && v != NULL && cbor_map_add(m, (struct cbor_pair){.key = k, .value = v});
    if (k != NULL)
        cbor_decref(&k);
    if (v != NULL)
        cbor_decref(&v);
    return ok;
}

/* The attestation object {fmt, attStmt, authData} from libfido2's parts. */
static int kc_fido_attobj(const fido_cred_t *cred, uint8_t **out, size_t *out_len)
{
    struct cbor_load_result res;
    cbor_item_t *m = cbor_new_definite_map(3), *st = NULL;
    size_t cap = 0;
    int r = KW_ERR_FORMAT;
    *out = NULL;
    if (m == NULL)
        return KW_ERR_NOMEM;
    st = cbor_load(fido_cred_attstmt_ptr(cred), fido_cred_attstmt_len(cred), &res);
    if (st == NULL || res.error.code != CBOR_ERR_NONE || fido_cred_fmt(cred) == NULL)
        goto out;
    if (!kc_map_put(m, cbor_build_string("fmt"), cbor_build_string(fido_cred_fmt(cred))) ||
        !kc_map_put(m, cbor_build_string("attStmt"), cbor_incref(st)) ||
        !kc_map_put(m, cbor_build_string("authData"),
                    cbor_build_bytestring(fido_cred_authdata_raw_ptr(cred),
                                          fido_cred_authdata_raw_len(cred))))
        goto out;
    *out_len = cbor_serialize_alloc(m, out, &cap);
    r = *out_len > 0 ? KW_OK : KW_ERR_NOMEM;
out:
    if (st != NULL)
        cbor_decref(&st);
    cbor_decref(&m);
    return r;
}

static int kc_fido_make(kw_client *c, const kw_client_authenticator *a, const char *rp_id, bool uv,
                        const uint8_t *uid, size_t uid_len, const char *user, int32_t alg,
                        const uint8_t cdh[32], const kc_cred *excl, size_t n_excl, uint8_t **attobj,
                        size_t *attobj_len)
{
    fido_dev_t *dev = NULL;
    fido_cred_t *cred = NULL;
    int type = alg == KW_COSE_EDDSA ? COSE_EDDSA : alg == KW_COSE_RS256 ? COSE_RS256 : COSE_ES256;
    int r = kc_fido_open(c, a, &dev);
    if (r != KW_OK)
        return r;
    if ((cred = fido_cred_new()) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    int rc = fido_cred_set_type(cred, type);
    if (rc == FIDO_OK)
        rc = fido_cred_set_clientdata_hash(cred, cdh, 32);
    if (rc == FIDO_OK)
        rc = fido_cred_set_rp(cred, rp_id, "keyward");
    if (rc == FIDO_OK)
        rc = fido_cred_set_user(cred, uid, uid_len, user, user, NULL);
    for (size_t i = 0; rc == FIDO_OK && i < n_excl; i++)
        rc = fido_cred_exclude(cred, excl[i].id, excl[i].id_len);
    if (rc == FIDO_OK && uv)
        rc = fido_cred_set_uv(cred, FIDO_OPT_TRUE);
    if (rc != FIDO_OK) {
        r = kc_fido_fail(c, rc);
        goto out;
    }
    if ((r = kc_with_pin(c, a, kc_op_cred, dev, cred)) != KW_OK)
        goto out;
    if ((r = kc_fido_attobj(cred, attobj, attobj_len)) != KW_OK)
        r = kwc_fail(c, LOCAL, r, "security key: unusable attestation");
out:
    fido_cred_free(&cred);
    if (dev != NULL) {
        fido_dev_close(dev);
        fido_dev_free(&dev);
    }
    return r;
}

/* ---- shared pieces ---- */

/* The origin the client reports (see client_keys.h). */
static int kc_origin(kw_client *c, const char *rp_id, char out[KC_ORIGIN_MAX])
{
    const char *env = getenv("KEYWARD_WEBAUTHN_ORIGIN");
    if (env != NULL && env[0] != '\0') {
        if (strlen(env) >= KC_ORIGIN_MAX)
            return kwc_fail(c, LOCAL, KW_ERR_TOO_LARGE, "KEYWARD_WEBAUTHN_ORIGIN is too long");
        snprintf(out, KC_ORIGIN_MAX, "%s", env);
        return KW_OK;
    }
    const char *url = c->server;
    const char *scheme = strncmp(url, "https://", 8) == 0 ? "https" : "http";
    const char *host = strstr(url, "://");
    host = host != NULL ? host + 3 : url;
    const char *end = host + strcspn(host, "/?#");
    const char *port = NULL;
    if (*host == '[') { /* IPv6 literal */
        const char *rb = memchr(host, ']', (size_t)(end - host));
        if (rb != NULL && rb + 1 < end && rb[1] == ':')
            port = rb + 2;
    } else {
        const char *colon = memchr(host, ':', (size_t)(end - host));
        if (colon != NULL)
            port = colon + 1;
    }
    int n = port != NULL ? snprintf(out, KC_ORIGIN_MAX, "%s://%s:%.*s", scheme, rp_id,
                                    (int)(end - port), port)
                         : snprintf(out, KC_ORIGIN_MAX, "%s://%s", scheme, rp_id);
    if (n < 0 || n >= KC_ORIGIN_MAX)
        return kwc_fail(c, LOCAL, KW_ERR_TOO_LARGE, "origin too long");
    return KW_OK;
}

static bool kc_soft(const kw_client *c)
{
    return c->seckey_auth != NULL && c->seckey_auth->soft;
}

static int kc_capture(kw_client *c, const json_t *assertion, bool *stop)
{
    const char *path = getenv("KEYWARD_TEST_SECKEY_CAPTURE");
    const char *only = getenv("KEYWARD_TEST_SECKEY_CAPTURE_ONLY");
    *stop = false;
    if (!kc_soft(c) || path == NULL)
        return KW_OK;
    if (json_dump_file(assertion, path, JSON_COMPACT) != 0)
        return kwc_fail(c, LOCAL, KW_ERR_SYSTEM, "cannot write %s", path);
    *stop = only != NULL && strcmp(only, "1") == 0;
    return KW_OK;
}

/* Reads an array of {type, id} credential descriptors. */
static int kc_creds(kw_client *c, const json_t *arr, kc_cred *out, size_t *n)
{
    size_t i;
    const json_t *e;
    *n = 0;
    if (arr == NULL)
        return KW_OK;
    if (!json_is_array(arr) || json_array_size(arr) > KC_ALLOW_MAX)
        return kwc_bad_answer(c, "credential list");
    json_array_foreach(arr, i, e) {
        uint8_t *id = NULL;
        size_t len = 0;
        if (kwc_get_b64(e, "id", KW_WEBAUTHN_CREDID_MAXBYTES, &id, &len) != KW_OK || len == 0 ||
            len > KW_WEBAUTHN_CREDID_MAXBYTES) {
            free(id);
            return kwc_bad_answer(c, "credential id");
        }
        memcpy(out[*n].id, id, len);
        out[*n].id_len = len;
        (*n)++;
        free(id);
    }
    return KW_OK;
}

/* clientDataJSON for the ceremony and its SHA-256. */
static int kc_client_data(kw_client *c, kw_webauthn_ceremony cer, const json_t *opts,
                          const char *rp_id, char cdj[KC_CDJ_MAX], size_t *cdj_len, uint8_t cdh[32])
{
    uint8_t *ch = NULL;
    size_t ch_len = 0;
    char origin[KC_ORIGIN_MAX];
    int r = kwc_get_b64(opts, "challenge", KW_WEBAUTHN_CHALLENGE_MAXBYTES, &ch, &ch_len);
    if (r != KW_OK || ch_len < KW_WEBAUTHN_CHALLENGE_MINBYTES) {
        free(ch);
        return kwc_bad_answer(c, "challenge");
    }
    if ((r = kc_origin(c, rp_id, origin)) == KW_OK &&
        (r = kw_softkey_insecure_client_data(cdj, KC_CDJ_MAX, cdj_len, cer, ch, ch_len, origin,
                                             false)) != KW_OK)
        r = kwc_fail(c, LOCAL, r, "clientDataJSON: %s", kw_strerror(r));
    if (r == KW_OK)
        crypto_hash_sha256(cdh, (const uint8_t *)cdj, *cdj_len);
    free(ch);
    return r;
}

static bool kc_rp_ok(const char *rp)
{
    size_t n = rp != NULL ? strlen(rp) : 0;
    return n > 0 && n <= KC_RPID_MAX && strspn(rp, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n;
}

int kwc_seckey_assert(kw_client *c, const json_t *opts, json_t **assertion)
{
    kc_cred *allow = NULL, *used = NULL;
    uint8_t cdh[32], ad[KW_WEBAUTHN_AUTHDATA_MAXBYTES], sig[KW_WEBAUTHN_SIG_MAXBYTES];
    size_t n_allow = 0, ad_len = 0, sig_len = 0, cdj_len = 0;
    char cdj[KC_CDJ_MAX];
    json_t *a = NULL, *rsp = NULL;
    bool stop = false;
    int r;
    *assertion = NULL;
    const char *replay = getenv("KEYWARD_TEST_SECKEY_REPLAY");
    if (kc_soft(c) && replay != NULL) {
        json_error_t err;
        if ((*assertion = json_load_file(replay, JSON_REJECT_DUPLICATES, &err)) == NULL)
            return kwc_fail(c, LOCAL, KW_ERR_FORMAT, "cannot read %s", replay);
        return KW_OK;
    }
    const char *rp_id = json_string_value(json_object_get(opts, "rpId"));
    const char *uvs = json_string_value(json_object_get(opts, "userVerification"));
    bool uv = uvs != NULL && strcmp(uvs, "required") == 0; /* the server's policy asks for UV */
    if (!json_is_object(opts) || !kc_rp_ok(rp_id))
        return kwc_bad_answer(c, "security key options");
    allow = calloc(KC_ALLOW_MAX, sizeof(*allow));
    used = calloc(1, sizeof(*used));
    if (allow == NULL || used == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kc_creds(c, json_object_get(opts, "allowCredentials"), allow, &n_allow)) != KW_OK ||
        (r = kc_client_data(c, KW_WEBAUTHN_GET, opts, rp_id, cdj, &cdj_len, cdh)) != KW_OK)
        goto out;
    if (kc_soft(c)) {
        r = KW_ERR_NOT_FOUND;
        for (size_t i = 0; i < n_allow && r == KW_ERR_NOT_FOUND; i++) {
            r = kw_softkey_insecure_get_assertion(c->seckey_auth->sk, rp_id, cdh, allow[i].id,
                                                  allow[i].id_len,
                                                  uv ? KW_SOFTKEY_INSECURE_OPT_UV : 0u, ad,
                                                  sizeof(ad), &ad_len, sig,
                                                  sizeof(sig), &sig_len);
            if (r == KW_OK)
                *used = allow[i];
        }
        if (r == KW_ERR_NOT_FOUND) {
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                         "this security key is not registered to the account");
            goto out;
        }
        if (r != KW_OK) {
            r = kwc_fail(c, LOCAL, r, "software key: %s", kw_strerror(r));
            goto out;
        }
    } else if ((r = kc_fido_assert(c, c->seckey_auth, rp_id, uv, cdh, allow, n_allow, used, ad, &ad_len,
                                   sig, &sig_len)) != KW_OK) {
        goto out;
    }
    a = json_pack("{s:s}", "type", "public-key");
    rsp = json_object();
    if (a == NULL || rsp == NULL || kwc_put_b64(a, "id", used->id, used->id_len) != KW_OK ||
        kwc_put_b64(a, "rawId", used->id, used->id_len) != KW_OK ||
        kwc_put_b64(rsp, "clientDataJSON", (const uint8_t *)cdj, cdj_len) != KW_OK ||
        kwc_put_b64(rsp, "authenticatorData", ad, ad_len) != KW_OK ||
        kwc_put_b64(rsp, "signature", sig, sig_len) != KW_OK ||
        json_object_set(a, "response", rsp) != 0) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kc_capture(c, a, &stop)) != KW_OK)
        goto out;
    if (stop) {
        r = kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "assertion captured (test), not sent");
        goto out;
    }
    *assertion = a;
    a = NULL;
    r = KW_OK;
out:
    json_decref(a);
    json_decref(rsp);
    free(allow);
    free(used);
    return r;
}

int kwc_seckey_assert_op(kw_client *c, const char *op, json_t **assertion)
{
    json_t *body = json_pack("{s:s}", "op", op), *resp = NULL;
    *assertion = NULL;
    if (body == NULL)
        return KW_ERR_NOMEM;
    int r = kwc_http(c, "POST", "/v1/seckeys/challenge", body, true, &resp);
    if (r == KW_OK)
        r = kwc_seckey_assert(c, json_object_get(resp, "publicKey"), assertion);
    json_decref(body);
    json_decref(resp);
    return r;
}

int kwc_seckey_policy(kw_client *c, bool *on)
{
    json_t *resp = NULL;
    *on = false;
    int r = kwc_http(c, "GET", "/v1/seckeys", NULL, true, &resp);
    if (r == KW_OK) {
        const json_t *p = json_object_get(resp, "policy");
        if (!json_is_boolean(p))
            r = kwc_bad_answer(c, "seckeys");
        else
            *on = json_is_true(p);
    }
    json_decref(resp);
    return r;
}

/* ---- flows ---- */

int kw_client_key_list(kw_client *c, json_t **out)
{
    *out = NULL;
    int r = kwc_need_session(c);
    if (r != KW_OK)
        return r;
    return kwc_http(c, "GET", "/v1/seckeys", NULL, true, out);
}

/* The first algorithm of pubKeyCredParams the authenticator makes. */
static int32_t kc_pick_alg(const json_t *params, bool soft)
{
    size_t i;
    const json_t *e;
    json_array_foreach(params, i, e) {
        json_int_t alg = json_integer_value(json_object_get(e, "alg"));
        if (alg == KW_COSE_ES256 || alg == KW_COSE_EDDSA || (!soft && alg == KW_COSE_RS256))
            return (int32_t)alg;
    }
    return 0;
}

int kw_client_key_add(kw_client *c, const char *name, json_t **out)
{
    json_t *body = NULL, *resp = NULL, *assertion = NULL, *cred = NULL, *rsp = NULL, *fin = NULL;
    kc_cred *excl = NULL;
    uint8_t cdh[32], *uid = NULL, *attobj = NULL, cred_id[KW_SOFTKEY_INSECURE_CREDIDBYTES];
    size_t n_excl = 0, uid_len = 0, attobj_len = 0, cdj_len = 0;
    char cdj[KC_CDJ_MAX];
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((body = json_object()) == NULL)
        return KW_ERR_NOMEM;
    if ((r = kwc_http(c, "POST", "/v1/seckeys/register/start", body, true, &resp)) != KW_OK)
        goto out;
    const json_t *pk = json_object_get(resp, "publicKey");
    const char *rp_id = json_string_value(json_object_get(json_object_get(pk, "rp"), "id"));
    const char *user = json_string_value(json_object_get(json_object_get(pk, "user"), "name"));
    const char *att = json_string_value(json_object_get(pk, "attestation"));
    const char *uvs = json_string_value(
        json_object_get(json_object_get(pk, "authenticatorSelection"), "userVerification"));
    bool uv = uvs != NULL && strcmp(uvs, "required") == 0;
    if (!kc_rp_ok(rp_id) || user == NULL ||
        kwc_get_b64(json_object_get(pk, "user"), "id", 64, &uid, &uid_len) != KW_OK) {
        r = kwc_bad_answer(c, "register/start");
        goto out;
    }
    int32_t alg = kc_pick_alg(json_object_get(pk, "pubKeyCredParams"), kc_soft(c));
    if (alg == 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_UNSUPPORTED, "no algorithm the authenticator supports");
        goto out;
    }
    if ((excl = calloc(KC_ALLOW_MAX, sizeof(*excl))) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kc_creds(c, json_object_get(pk, "excludeCredentials"), excl, &n_excl)) != KW_OK)
        goto out;
    /* with the policy on, a key already registered vouches for the new one */
    if (json_is_true(json_object_get(resp, "assertion_required")) &&
        (r = kwc_seckey_assert_op(c, "key-add", &assertion)) != KW_OK)
        goto out;
    if ((r = kc_client_data(c, KW_WEBAUTHN_CREATE, pk, rp_id, cdj, &cdj_len, cdh)) != KW_OK)
        goto out;
    if (kc_soft(c)) {
        if ((attobj = malloc(KW_SOFTKEY_INSECURE_ATTOBJ_MAXBYTES)) == NULL) {
            r = KW_ERR_NOMEM;
            goto out;
        }
        kw_softkey_insecure_att fmt = att != NULL && strcmp(att, "none") == 0
                                          ? KW_SOFTKEY_INSECURE_ATT_NONE
                                          : KW_SOFTKEY_INSECURE_ATT_PACKED;
        r = kw_softkey_insecure_make_credential(c->seckey_auth->sk, alg, rp_id, cdh, fmt,
                                                uv ? KW_SOFTKEY_INSECURE_OPT_UV : 0u, attobj,
                                                KW_SOFTKEY_INSECURE_ATTOBJ_MAXBYTES, &attobj_len,
                                                cred_id);
        if (r != KW_OK) {
            r = kwc_fail(c, LOCAL, r, "software key: %s", kw_strerror(r));
            goto out;
        }
    } else if ((r = kc_fido_make(c, c->seckey_auth, rp_id, uv, uid, uid_len, user, alg, cdh, excl,
                                 n_excl, &attobj, &attobj_len)) != KW_OK) {
        goto out;
    }
    /* the credential id is the one inside the attestation's authenticator
     * data; the server checks rawId against it */
    kw_webauthn_authdata adp;
    {
        struct cbor_load_result res;
        cbor_item_t *m = cbor_load(attobj, attobj_len, &res);
        const uint8_t *adptr = NULL;
        size_t adlen = 0;
        for (size_t i = 0; m != NULL && cbor_isa_map(m) && i < cbor_map_size(m); i++) {
            struct cbor_pair *pr = cbor_map_handle(m) + i;
            if (cbor_isa_string(pr->key) && cbor_string_length(pr->key) == 8 &&
                memcmp(cbor_string_handle(pr->key), "authData", 8) == 0 &&
                cbor_isa_bytestring(pr->value) && cbor_bytestring_is_definite(pr->value)) {
                adptr = cbor_bytestring_handle(pr->value);
                adlen = cbor_bytestring_length(pr->value);
            }
        }
        r = adptr != NULL ? kw_webauthn_authdata_parse(&adp, adptr, adlen) : KW_ERR_FORMAT;
        if (r == KW_OK && (!adp.has_attested || adp.cred_id_len > sizeof(excl[0].id)))
            r = KW_ERR_FORMAT;
        if (r == KW_OK) {
            cred = json_pack("{s:s}", "type", "public-key");
            if (cred == NULL || kwc_put_b64(cred, "id", adp.cred_id, adp.cred_id_len) != KW_OK ||
                kwc_put_b64(cred, "rawId", adp.cred_id, adp.cred_id_len) != KW_OK)
                r = KW_ERR_NOMEM;
        }
        if (m != NULL)
            cbor_decref(&m);
    }
    if (r != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "the authenticator's attestation is unusable");
        goto out;
    }
    rsp = json_object();
    if (rsp == NULL || kwc_put_b64(rsp, "clientDataJSON", (const uint8_t *)cdj, cdj_len) != KW_OK ||
        kwc_put_b64(rsp, "attestationObject", attobj, attobj_len) != KW_OK ||
        json_object_set(cred, "response", rsp) != 0) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    json_decref(body);
    body = json_pack("{s:O}", "credential", cred);
    if (body == NULL || (name != NULL && json_object_set_new(body, "name", json_string(name)) != 0) ||
        (assertion != NULL && json_object_set(body, "assertion", assertion) != 0)) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kwc_http(c, "POST", "/v1/seckeys/register/finish", body, true, &fin)) != KW_OK)
        goto out;
    *out = fin;
    fin = NULL;
    r = KW_OK;
out:
    json_decref(body);
    json_decref(resp);
    json_decref(assertion);
    json_decref(cred);
    json_decref(rsp);
    json_decref(fin);
    free(excl);
    free(uid);
    free(attobj);
    return r;
}

int kw_client_key_remove(kw_client *c, int64_t id, json_t **out)
{
    json_t *body = NULL, *assertion = NULL;
    char path[96];
    bool on = false;
    int r;
    *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if (id <= 0)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "a key id is a positive number");
    if ((r = kwc_seckey_policy(c, &on)) != KW_OK)
        return r;
    if (on && (r = kwc_seckey_assert_op(c, "key-remove", &assertion)) != KW_OK)
        return r;
    body = json_object();
    if (body == NULL || (assertion != NULL && json_object_set(body, "assertion", assertion) != 0)) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    snprintf(path, sizeof(path), "/v1/seckeys/%lld/remove", (long long)id);
    r = kwc_http(c, "POST", path, body, true, out);
out:
    json_decref(body);
    json_decref(assertion);
    return r;
}

int kw_client_key_rename(kw_client *c, int64_t id, const char *name, json_t **out)
{
    char path[96];
    *out = NULL;
    int r = kwc_need_session(c);
    if (r != KW_OK)
        return r;
    if (id <= 0 || name == NULL || name[0] == '\0' || strlen(name) > KW_CLIENT_NAME_MAXBYTES)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "usage: a key id and a name of 1-64 bytes");
    json_t *body = json_pack("{s:s}", "name", name);
    if (body == NULL)
        return KW_ERR_NOMEM;
    snprintf(path, sizeof(path), "/v1/seckeys/%lld/rename", (long long)id);
    r = kwc_http(c, "POST", path, body, true, out);
    json_decref(body);
    return r;
}

int kw_client_key_policy(kw_client *c, bool on, json_t **out)
{
    json_t *assertion = NULL, *body = NULL;
    *out = NULL;
    int r = kwc_need_session(c);
    if (r != KW_OK)
        return r;
    if ((r = kwc_seckey_assert_op(c, "policy", &assertion)) != KW_OK)
        return r;
    body = json_pack("{s:b,s:O}", "enabled", on, "assertion", assertion);
    if (body == NULL)
        r = KW_ERR_NOMEM;
    else
        r = kwc_http(c, "POST", "/v1/seckeys/policy", body, true, out);
    json_decref(body);
    json_decref(assertion);
    return r;
}
