/*
 * The device profile: config.json (public settings) and secrets.bin (device
 * keys, session token, KK generations, account key seed) sealed under a key
 * derived from the profile passphrase.
 *
 * secrets.bin = "KWS1" ‖ pwkey record[30] ‖ nonce[24] ‖
 *               XChaCha20-Poly1305(key, nonce, ad = "KWS1" ‖ record, plaintext)
 * plaintext   = identity_seed[32] ‖ hpke_sk[32] ‖ hpke_pk[32] ‖ u8 has_seed ‖
 *               account_seed[32] ‖ u8 len ‖ token ‖ u16 n ‖ n × (u64 gen ‖ kk[32])
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "client/profile_parse.h"
#include "keyward/buf.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/hpke.h"

#define NONCEBYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAGBYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define CONFIG_MAXBYTES KWC_CONFIG_MAXBYTES

int kwc_profile_path(char out[static PATH_MAX], const char *dir)
{
    const char *env;
    int n;
    if (dir != NULL && dir[0] != '\0')
        n = snprintf(out, PATH_MAX, "%s", dir);
    else if ((env = getenv("KEYWARD_HOME")) != NULL && env[0] != '\0')
        n = snprintf(out, PATH_MAX, "%s", env);
    else if ((env = getenv("XDG_DATA_HOME")) != NULL && env[0] == '/')
        n = snprintf(out, PATH_MAX, "%s/keyward", env);
    else if ((env = getenv("HOME")) != NULL && env[0] != '\0')
        n = snprintf(out, PATH_MAX, "%s/.local/share/keyward", env);
    else
        return KW_ERR_NOT_FOUND;
    if (n < 0 || n >= PATH_MAX)
        return KW_ERR_TOO_LARGE;
    return KW_OK;
}

/* mkdir -p, new components 0700. */
static int mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(tmp))
        return KW_ERR_INVALID_ARG;
    memcpy(tmp, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return KW_ERR_SYSTEM;
        tmp[i] = saved;
    }
    return KW_OK;
}

int kwc_write_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    int fd = -1, r = KW_ERR_SYSTEM;
    if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", dir, name, (long)getpid()) >= (int)sizeof(tmp) ||
        snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst))
        return KW_ERR_TOO_LARGE;
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return KW_ERR_SYSTEM;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, dst) != 0)
        goto out;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    r = KW_OK;
out:
    if (fd >= 0)
        close(fd);
    if (r != KW_OK)
        (void)unlink(tmp);
    return r;
}

/* Reads dir/name into a malloc'd buffer of at most max bytes. */
static int read_file(const char *dir, const char *name, size_t max, uint8_t **out, size_t *len)
{
    char path[PATH_MAX];
    struct stat st;
    *out = NULL;
    *len = 0;
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return KW_ERR_TOO_LARGE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? KW_ERR_NOT_FOUND : KW_ERR_SYSTEM;
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        close(fd);
        return KW_ERR_SYSTEM;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return KW_ERR_TOO_LARGE;
    }
    size_t n = (size_t)st.st_size, off = 0;
    uint8_t *b = malloc(n + 1);
    if (b == NULL) {
        close(fd);
        return KW_ERR_NOMEM;
    }
    while (off < n) {
        ssize_t rd = read(fd, b + off, n - off);
        if (rd < 0 && errno == EINTR)
            continue;
        if (rd <= 0)
            break;
        off += (size_t)rd;
    }
    close(fd);
    if (off != n) {
        sodium_memzero(b, n);
        free(b);
        return KW_ERR_SYSTEM;
    }
    b[n] = 0;
    *out = b;
    *len = n;
    return KW_OK;
}

static kwc_profile *profile_alloc(const char *dir)
{
    kwc_profile *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->s = sodium_malloc(sizeof(kwc_secrets));
    p->key = sodium_malloc(32);
    if (p->s == NULL || p->key == NULL) {
        kwc_profile_free(&p);
        return NULL;
    }
    sodium_memzero(p->s, sizeof(kwc_secrets));
    sodium_memzero(p->key, 32);
    snprintf(p->dir, sizeof(p->dir), "%s", dir);
    return p;
}

void kwc_profile_free(kwc_profile **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    kwc_profile *p = *pp;
    if (p->s != NULL)
        sodium_free(p->s); /* sodium_free wipes */
    if (p->key != NULL)
        sodium_free(p->key);
    sodium_memzero(p, sizeof(*p));
    free(p);
    *pp = NULL;
}

const uint8_t *kwc_profile_kk(const kwc_profile *p, uint64_t gen)
{
    for (size_t i = 0; i < p->s->nkk; i++)
        if (p->s->kk[i].gen == gen)
            return p->s->kk[i].kk;
    return NULL;
}

uint64_t kwc_profile_kk_latest(const kwc_profile *p)
{
    return p->s->nkk == 0 ? 0 : p->s->kk[p->s->nkk - 1].gen;
}

void kwc_profile_kk_put(kwc_profile *p, uint64_t gen, const uint8_t kk[static 32])
{
    kwc_secrets *s = p->s;
    size_t i;
    for (i = 0; i < s->nkk; i++) {
        if (s->kk[i].gen == gen) {
            memcpy(s->kk[i].kk, kk, 32);
            return;
        }
    }
    if (s->nkk == KWC_KK_MAX) { /* drop the oldest */
        memmove(&s->kk[0], &s->kk[1], (KWC_KK_MAX - 1) * sizeof(s->kk[0]));
        s->nkk--;
        sodium_memzero(&s->kk[s->nkk], sizeof(s->kk[0]));
    }
    /* keep ascending order */
    for (i = s->nkk; i > 0 && s->kk[i - 1].gen > gen; i--)
        s->kk[i] = s->kk[i - 1];
    s->kk[i].gen = gen;
    memcpy(s->kk[i].kk, kk, 32);
    s->nkk++;
}

/* ---- secrets.bin ---- */

static int secrets_encode(kw_buf *b, const kwc_secrets *s)
{
    size_t tlen = strnlen(s->token, KWC_TOKEN_MAX);
    int r;
    if (tlen >= KWC_TOKEN_MAX)
        return KW_ERR_INVALID_ARG;
    if ((r = kw_buf_put(b, s->identity_seed, 32)) != KW_OK ||
        (r = kw_buf_put(b, s->hpke_sk, 32)) != KW_OK || (r = kw_buf_put(b, s->hpke_pk, 32)) != KW_OK ||
        (r = kw_buf_put_u8(b, s->has_account_seed ? 1 : 0)) != KW_OK ||
        (r = kw_buf_put(b, s->account_seed, 32)) != KW_OK ||
        (r = kw_buf_put_u8(b, (uint8_t)tlen)) != KW_OK || (r = kw_buf_put(b, s->token, tlen)) != KW_OK ||
        (r = kw_buf_put_u16(b, s->nkk)) != KW_OK)
        return r;
    for (size_t i = 0; i < s->nkk; i++)
        if ((r = kw_buf_put_u64(b, s->kk[i].gen)) != KW_OK ||
            (r = kw_buf_put(b, s->kk[i].kk, 32)) != KW_OK)
            return r;
    return KW_OK;
}

static int secrets_decode(kwc_secrets *s, kw_buf *b)
{
    uint8_t flag = 0, tlen = 0;
    uint16_t n = 0;
    int r;
    sodium_memzero(s, sizeof(*s));
    if ((r = kw_buf_get(b, s->identity_seed, 32)) != KW_OK ||
        (r = kw_buf_get(b, s->hpke_sk, 32)) != KW_OK || (r = kw_buf_get(b, s->hpke_pk, 32)) != KW_OK ||
        (r = kw_buf_get_u8(b, &flag)) != KW_OK || (r = kw_buf_get(b, s->account_seed, 32)) != KW_OK ||
        (r = kw_buf_get_u8(b, &tlen)) != KW_OK)
        goto fail;
    if (flag > 1 || tlen >= KWC_TOKEN_MAX) {
        r = KW_ERR_FORMAT;
        goto fail;
    }
    s->has_account_seed = flag;
    if ((r = kw_buf_get(b, s->token, tlen)) != KW_OK || (r = kw_buf_get_u16(b, &n)) != KW_OK)
        goto fail;
    s->token[tlen] = '\0';
    if (n > KWC_KK_MAX || strlen(s->token) != tlen) {
        r = KW_ERR_FORMAT;
        goto fail;
    }
    for (uint16_t i = 0; i < n; i++)
        if ((r = kw_buf_get_u64(b, &s->kk[i].gen)) != KW_OK ||
            (r = kw_buf_get(b, s->kk[i].kk, 32)) != KW_OK)
            goto fail;
    s->nkk = n;
    if (kw_buf_len(b) != 0) {
        r = KW_ERR_FORMAT;
        goto fail;
    }
    return KW_OK;
fail:
    sodium_memzero(s, sizeof(*s));
    return r;
}

int kwc_secrets_parse(kwc_secrets *s, const uint8_t *pt, size_t len)
{
    kw_buf *b = NULL;
    int r = KW_ERR_NOMEM;
    if (len > KWC_SECRETS_MAXBYTES) {
        sodium_memzero(s, sizeof(*s));
        return KW_ERR_TOO_LARGE;
    }
    if ((b = kw_buf_from(pt, len)) == NULL) {
        sodium_memzero(s, sizeof(*s));
        return r;
    }
    r = secrets_decode(s, b);
    kw_buf_free(&b);
    return r;
}

int kwc_secrets_serialize(const kwc_secrets *s, uint8_t *out, size_t cap, size_t *len)
{
    kw_buf *b = kw_buf_new(KWC_SECRETS_MAXBYTES);
    int r = KW_ERR_NOMEM;
    *len = 0;
    if (b == NULL)
        return r;
    if ((r = secrets_encode(b, s)) != KW_OK)
        goto out;
    if (kw_buf_len(b) > cap) {
        r = KW_ERR_TOO_LARGE;
        goto out;
    }
    memcpy(out, kw_buf_ptr(b), kw_buf_len(b));
    *len = kw_buf_len(b);
out:
    kw_buf_free(&b);
    return r;
}

static int secrets_save(const kwc_profile *p)
{
    kw_buf *pt = kw_buf_new(KWC_SECRETS_MAXBYTES);
    uint8_t *file = NULL;
    size_t file_len = 0;
    unsigned long long clen = 0;
    int r = KW_ERR_NOMEM;
    if (pt == NULL)
        goto out;
    if ((r = secrets_encode(pt, p->s)) != KW_OK)
        goto out;
    file_len = KWC_SECRETS_HEADERBYTES + NONCEBYTES + kw_buf_len(pt) + TAGBYTES;
    if ((file = malloc(file_len)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    memcpy(file, KWC_SECRETS_MAGIC, 4);
    if ((r = kw_pwkey_params_encode(file + 4, &p->params)) != KW_OK)
        goto out;
    randombytes_buf(file + KWC_SECRETS_HEADERBYTES, NONCEBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(file + KWC_SECRETS_HEADERBYTES + NONCEBYTES, &clen,
                                               kw_buf_ptr(pt), kw_buf_len(pt), file,
                                               KWC_SECRETS_HEADERBYTES, NULL,
                                               file + KWC_SECRETS_HEADERBYTES, p->key);
    r = kwc_write_file(p->dir, "secrets.bin", file, file_len);
out:
    kw_buf_free(&pt);
    free(file);
    return r;
}

static int secrets_load(kwc_profile *p, const char *passphrase, size_t passphrase_len)
{
    uint8_t *file = NULL, *pt = NULL;
    size_t len = 0;
    unsigned long long ptlen = 0;
    kw_buf *b = NULL;
    int r = read_file(p->dir, "secrets.bin", KWC_SECRETS_MAXBYTES, &file, &len);
    if (r != KW_OK)
        return r;
    if (len < KWC_SECRETS_HEADERBYTES + NONCEBYTES + TAGBYTES) {
        r = KW_ERR_TRUNCATED;
        goto out;
    }
    if (memcmp(file, KWC_SECRETS_MAGIC, 4) != 0) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    if ((r = kw_pwkey_params_decode(&p->params, file + 4, KW_PWKEY_RECORDBYTES)) != KW_OK)
        goto out;
    if ((r = kw_pwkey_derive(p->key, (const uint8_t *)passphrase, passphrase_len, &p->params)) != KW_OK)
        goto out;
    size_t ctlen = len - KWC_SECRETS_HEADERBYTES - NONCEBYTES;
    if ((pt = sodium_malloc(ctlen)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL,
                                                   file + KWC_SECRETS_HEADERBYTES + NONCEBYTES, ctlen,
                                                   file, KWC_SECRETS_HEADERBYTES,
                                                   file + KWC_SECRETS_HEADERBYTES, p->key) != 0) {
        sodium_memzero(p->key, 32);
        r = KW_ERR_VERIFY;
        goto out;
    }
    if ((b = kw_buf_from(pt, (size_t)ptlen)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    r = secrets_decode(p->s, b);
out:
    kw_buf_free(&b);
    if (pt != NULL)
        sodium_free(pt);
    free(file);
    return r;
}

/* ---- config.json ---- */

static int config_save(const kwc_profile *p)
{
    char id[32];
    int r = KW_ERR_NOMEM;
    json_t *o = json_object();
    if (o == NULL)
        return KW_ERR_NOMEM;
    kw_b64url_encode(id, sizeof(id), p->device_id, KWC_ID_BYTES);
    if (json_object_set_new(o, "server", json_string(p->server)) != 0 ||
        json_object_set_new(o, "account", json_string(p->account)) != 0 ||
        json_object_set_new(o, "device_id", json_string(id)) != 0 ||
        json_object_set_new(o, "device_name", json_string(p->device_name)) != 0 ||
        json_object_set_new(o, "state", json_string(p->state)) != 0)
        goto out;
    if (p->has_account_pk && kwc_put_b64(o, "account_pk", p->account_pk, 32) != KW_OK)
        goto out;
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text == NULL)
        goto out;
    r = kwc_write_file(p->dir, "config.json", (const uint8_t *)text, strlen(text));
    free(text);
out:
    json_decref(o);
    return r;
}

static int copy_str(char *dst, size_t cap, const json_t *o, const char *key, bool required)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL && !required) {
        dst[0] = '\0';
        return KW_OK;
    }
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return KW_ERR_FORMAT;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return KW_OK;
}

static int config_load(kwc_profile *p)
{
    uint8_t *text = NULL;
    size_t len = 0;
    int r = read_file(p->dir, "config.json", CONFIG_MAXBYTES, &text, &len);
    if (r != KW_OK)
        return r;
    r = kwc_profile_config_parse(p, text, len);
    free(text);
    return r;
}

int kwc_profile_config_parse(kwc_profile *p, const uint8_t *text, size_t len)
{
    json_error_t jerr;
    json_t *o = NULL;
    int r;
    if (len > CONFIG_MAXBYTES)
        return KW_ERR_TOO_LARGE;
    o = json_loadb((const char *)text, len, 0, &jerr);
    if (!json_is_object(o)) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    if ((r = copy_str(p->server, sizeof(p->server), o, "server", false)) != KW_OK ||
        (r = copy_str(p->account, sizeof(p->account), o, "account", false)) != KW_OK ||
        (r = copy_str(p->device_name, sizeof(p->device_name), o, "device_name", true)) != KW_OK ||
        (r = copy_str(p->state, sizeof(p->state), o, "state", false)) != KW_OK ||
        (r = kwc_get_b64_fixed(o, "device_id", p->device_id, KWC_ID_BYTES)) != KW_OK)
        goto out;
    if (json_object_get(o, "account_pk") != NULL) {
        if ((r = kwc_get_b64_fixed(o, "account_pk", p->account_pk, 32)) != KW_OK)
            goto out;
        p->has_account_pk = true;
    }
    r = KW_OK;
out:
    json_decref(o);
    return r;
}

/* ---- public ---- */

int kwc_profile_save(kwc_profile *p)
{
    int r = secrets_save(p);
    if (r == KW_OK)
        r = config_save(p);
    return r;
}

int kwc_profile_load(kwc_profile **out, const char *dir, const char *passphrase, size_t passphrase_len)
{
    *out = NULL;
    kwc_profile *p = profile_alloc(dir);
    if (p == NULL)
        return KW_ERR_NOMEM;
    int r = config_load(p);
    if (r == KW_OK)
        r = secrets_load(p, passphrase, passphrase_len);
    if (r != KW_OK) {
        kwc_profile_free(&p);
        return r;
    }
    *out = p;
    return KW_OK;
}

int kwc_profile_create(kwc_profile **out, const char *dir, const char *passphrase,
                       size_t passphrase_len, bool fast_kdf)
{
    char path[PATH_MAX];
    struct stat st;
    int r;
    *out = NULL;
    if (passphrase_len == 0)
        return KW_ERR_INVALID_ARG;
    if ((r = mkdirs(dir)) != KW_OK)
        return r;
    if (snprintf(path, sizeof(path), "%s/secrets.bin", dir) >= (int)sizeof(path))
        return KW_ERR_TOO_LARGE;
    if (stat(path, &st) == 0)
        return KW_ERR_CONFLICT;
    kwc_profile *p = profile_alloc(dir);
    if (p == NULL)
        return KW_ERR_NOMEM;
    if (fast_kdf) {
        /* TEST ONLY (KEYWARD_TEST_FAST_KDF=1): the smallest parameters pwkey.h
         * accepts, so integration tests do not spend seconds per command. */
        p->params.alg = KW_PWKEY_ALG_ARGON2ID13;
        p->params.opslimit = KW_PWKEY_OPSLIMIT_MIN;
        p->params.memlimit = KW_PWKEY_MEMLIMIT_MIN;
        randombytes_buf(p->params.salt, sizeof(p->params.salt));
    } else if ((r = kw_pwkey_params_default(&p->params, KW_PWKEY_MODERATE)) != KW_OK) {
        goto fail;
    }
    if ((r = kw_pwkey_derive(p->key, (const uint8_t *)passphrase, passphrase_len, &p->params)) != KW_OK)
        goto fail;
    randombytes_buf(p->s->identity_seed, 32);
    if ((r = kw_hpke_keypair(p->s->hpke_pk, p->s->hpke_sk)) != KW_OK)
        goto fail;
    randombytes_buf(p->device_id, KWC_ID_BYTES);
    char hex[9];
    kw_hex_encode(hex, sizeof(hex), p->device_id, 4);
    snprintf(p->device_name, sizeof(p->device_name), "device-%s", hex);
    if ((r = kwc_profile_save(p)) != KW_OK)
        goto fail;
    *out = p;
    return KW_OK;
fail:
    kwc_profile_free(&p);
    return r;
}
