/*
 * The sealed Contact Key Verification state of a profile (PROFILE/ckv.bin)
 * and its alerts. See keyward/client_ckv.h for what it holds.
 *
 *   ckv.bin = "KWC1" ‖ nonce[24] ‖ XChaCha20-Poly1305(k, nonce,
 *             ad = "KWC1" ‖ account ‖ 0x00 ‖ device_id[16], JSON text)
 *   k       = HKDF-SHA256(ikm = profile key, info = "keyward/ckv/state/v1")
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client/ckv_internal.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"

#define STATE_FILE "ckv.bin"
#define STATE_MAGIC "KWC1"
#define STATE_INFO "keyward/ckv/state/v1"
#define NONCEBYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAGBYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

int64_t ckv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_sec;
    /* TEST ONLY: shifts this client's clock (to play a frozen log); honoured
     * only together with the test KDF switch the test harness sets. */
    const char *fast = getenv("KEYWARD_TEST_FAST_KDF"), *off = getenv("KEYWARD_TEST_CLOCK_OFFSET");
    if (fast != NULL && strcmp(fast, "1") == 0 && off != NULL)
        t += strtoll(off, NULL, 10);
    return t;
}

int64_t ckv_max_delay(void)
{
    const char *e = getenv("KEYWARD_CKV_MAX_DELAY");
    if (e != NULL) {
        char *end = NULL;
        long long v = strtoll(e, &end, 10);
        if (end != e && *end == '\0' && v >= 1 && v <= 86400 * 30)
            return (int64_t)v;
    }
    return KW_CKV_MAX_DELAY_S_DEFAULT;
}

static int state_key(const kw_client *c, uint8_t k[32])
{
    return kw_hkdf_sha256(k, 32, NULL, 0, c->p->key, 32, (const uint8_t *)STATE_INFO,
                          strlen(STATE_INFO));
}

static size_t state_ad(const kw_client *c, uint8_t *ad, size_t cap)
{
    size_t n = strlen(c->p->account);
    if (4 + n + 1 + KWC_ID_BYTES > cap)
        return 0;
    memcpy(ad, STATE_MAGIC, 4);
    memcpy(ad + 4, c->p->account, n);
    ad[4 + n] = 0;
    memcpy(ad + 5 + n, c->p->device_id, KWC_ID_BYTES);
    return 5 + n + KWC_ID_BYTES;
}

static json_t *state_new(void)
{
    return json_pack("{s:i,s:{},s:[],s:I,s:{s:[]}}", "v", 1, "contacts", "alerts", "next_alert",
                     (json_int_t)1, "own", "rosters");
}

/* Reads PROFILE/ckv.bin into ctx->st (a fresh state when absent). */
int ckv_load(ckv_ctx *x, kw_client *c)
{
    char path[PATH_MAX + 16];
    uint8_t k[32], ad[128];
    uint8_t *buf = NULL, *pt = NULL;
    unsigned long long ptlen = 0;
    int r = KW_ERR_INTERNAL;
    memset(x, 0, sizeof(*x));
    x->c = c;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((x->fresh = json_array()) == NULL)
        return kwc_fail(c, KW_CLIENT_ORIGIN_LOCAL, KW_ERR_NOMEM, "out of memory");
    if (snprintf(path, sizeof(path), "%s/%s", c->dir, STATE_FILE) >= (int)sizeof(path))
        return kwc_fail(c, KW_CLIENT_ORIGIN_PROFILE, KW_ERR_TOO_LARGE, "profile path too long");
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        x->st = state_new();
        return x->st != NULL ? KW_OK : kwc_fail(c, KW_CLIENT_ORIGIN_LOCAL, KW_ERR_NOMEM, "out of memory");
    }
    struct stat sb;
    size_t len = 0;
    if (fstat(fileno(f), &sb) != 0 || sb.st_size < (off_t)(4 + NONCEBYTES + TAGBYTES) ||
        (size_t)sb.st_size > KW_CKV_STATE_MAXBYTES) {
        fclose(f);
        return kwc_fail(c, KW_CLIENT_ORIGIN_PROFILE, KW_ERR_FORMAT, "damaged %s", path);
    }
    len = (size_t)sb.st_size;
    buf = malloc(len);
    pt = malloc(len);
    if (buf == NULL || pt == NULL || fread(buf, 1, len, f) != len) {
        fclose(f);
        r = kwc_fail(c, KW_CLIENT_ORIGIN_PROFILE, KW_ERR_SYSTEM, "cannot read %s", path);
        goto out;
    }
    fclose(f);
    size_t adlen = state_ad(c, ad, sizeof(ad));
    if (memcmp(buf, STATE_MAGIC, 4) != 0 || adlen == 0 || state_key(c, k) != KW_OK ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL, buf + 4 + NONCEBYTES,
                                                   len - 4 - NONCEBYTES, ad, adlen, buf + 4,
                                                   k) != 0) {
        r = kwc_fail(c, KW_CLIENT_ORIGIN_PROFILE, KW_ERR_VERIFY,
                     "%s does not open for this profile (damaged or another account's)", path);
        goto out;
    }
    x->st = json_loadb((const char *)pt, (size_t)ptlen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(x->st) || !json_is_object(json_object_get(x->st, "contacts")) ||
        !json_is_array(json_object_get(x->st, "alerts")) ||
        !json_is_object(json_object_get(x->st, "own"))) {
        json_decref(x->st);
        x->st = NULL;
        r = kwc_fail(c, KW_CLIENT_ORIGIN_PROFILE, KW_ERR_FORMAT, "damaged %s", path);
        goto out;
    }
    r = KW_OK;
out:
    sodium_memzero(k, sizeof(k));
    if (pt != NULL) {
        sodium_memzero(pt, len);
        free(pt);
    }
    free(buf);
    return r;
}

/* Seals ctx->st into PROFILE/ckv.bin (durably). */
int ckv_save(ckv_ctx *x)
{
    kw_client *c = x->c;
    uint8_t k[32], ad[128];
    char *text = json_dumps(x->st, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t *buf = NULL;
    int r = KW_ERR_NOMEM;
    if (text == NULL)
        return kwc_fail(c, KW_CLIENT_ORIGIN_LOCAL, KW_ERR_NOMEM, "out of memory");
    size_t tlen = strlen(text), len = 4 + NONCEBYTES + tlen + TAGBYTES;
    size_t adlen = state_ad(c, ad, sizeof(ad));
    if (len > KW_CKV_STATE_MAXBYTES) {
        r = kwc_fail(c, KW_CLIENT_ORIGIN_PROFILE, KW_ERR_TOO_LARGE, "the CKV state is too large");
        goto out;
    }
    if ((buf = malloc(len)) == NULL || adlen == 0 || state_key(c, k) != KW_OK)
        goto out;
    memcpy(buf, STATE_MAGIC, 4);
    randombytes_buf(buf + 4, NONCEBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(buf + 4 + NONCEBYTES, NULL, (const uint8_t *)text,
                                               tlen, ad, adlen, NULL, buf + 4, k);
    if ((r = kwc_write_file(c->dir, STATE_FILE, buf, len)) != KW_OK)
        r = kwc_fail(c, KW_CLIENT_ORIGIN_PROFILE, r, "cannot write %s/%s", c->dir, STATE_FILE);
    else
        x->dirty = false;
out:
    sodium_memzero(k, sizeof(k));
    sodium_memzero(text, tlen);
    free(text);
    free(buf);
    return r;
}

void ckv_done(ckv_ctx *x)
{
    json_decref(x->st);
    json_decref(x->fresh);
    x->st = NULL;
    x->fresh = NULL;
}

/* Stores an alert unless one of the same kind, subject and detail key is
 * there already; adds it to the alerts of this call either way. */
void ckv_alert(ckv_ctx *x, const char *kind, const char *subject, const char *key, const char *todo,
               const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    json_t *alerts = json_object_get(x->st, "alerts");
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        if (strcmp(ckv_str(a, "kind"), kind) == 0 && strcmp(ckv_str(a, "subject"), subject) == 0 &&
            strcmp(ckv_str(a, "key"), key) == 0) {
            json_array_append(x->fresh, a);
            return;
        }
    }
    json_int_t id = json_integer_value(json_object_get(x->st, "next_alert"));
    if (id < 1)
        id = 1;
    a = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I,s:b}", "id", id, "kind", kind, "subject", subject,
                  "key", key, "what", what, "todo", todo, "at", (json_int_t)ckv_now(), "seen", 0);
    if (a == NULL)
        return;
    json_object_set_new(x->st, "next_alert", json_integer(id + 1));
    /* full: drop the oldest seen alert, else the oldest */
    if (json_array_size(alerts) >= KW_CKV_ALERTS_MAX) {
        size_t drop = 0;
        json_t *e;
        json_array_foreach(alerts, i, e)
        {
            if (json_is_true(json_object_get(e, "seen"))) {
                drop = i;
                break;
            }
        }
        json_array_remove(alerts, drop);
    }
    json_array_append(alerts, a);
    json_array_append_new(x->fresh, a);
    x->dirty = true;
}

/* The result object of a call: base (consumed; NULL: a new object) with
 * the alerts raised by the call. */
json_t *ckv_result(ckv_ctx *x, json_t *base)
{
    json_t *o = base != NULL ? base : json_object();
    if (o == NULL)
        return NULL;
    json_t *copy = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(x->fresh, i, a)
    {
        json_array_append_new(copy, json_pack("{s:O,s:O,s:O,s:O,s:O}", "kind",
                                              json_object_get(a, "kind"), "subject",
                                              json_object_get(a, "subject"), "what",
                                              json_object_get(a, "what"), "todo",
                                              json_object_get(a, "todo"), "id",
                                              json_object_get(a, "id")));
    }
    json_object_set_new(o, "alerts", copy);
    return o;
}

/* ---- small JSON helpers ---- */

int ckv_get_b64_fixed(const json_t *o, const char *key, uint8_t *out, size_t len)
{
    return kwc_get_b64_fixed(o, key, out, len);
}

int64_t ckv_int(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}
