/*
 * lib/client/messages.c — end-to-end messages of one device
 * (keyward/client_msg.h): send with per-device fan-out, sync with
 * verification, the encrypted inbox, prekeys and the seen-id store.
 *
 * Profile files (both sealed with XChaCha20-Poly1305 under
 * HKDF-SHA256(profile key, "keyward/msg/state-key/v1"), so they are
 * encrypted at rest like secrets.bin):
 *  - msg.bin: "KWS2" ‖ nonce[24] ‖ ct, aad = "KWS2" ‖ device id. Plaintext:
 *    u32 next_prekey_id ‖ u16 n ‖ n × (u32 id ‖ u64 created_ms ‖
 *    u64 retired_ms ‖ u8 published ‖ sk[32] ‖ pk[32]) ‖ u64 seen_floor_ms ‖
 *    u32 m ‖ m × (id[16] ‖ u64 timestamp_ms).
 *  - inbox/<hex id>: "KWI1" ‖ nonce[24] ‖ ct, aad = "KWI1" ‖ device id ‖
 *    message id. Plaintext: the kw_client_msg fields (ser_msg below).
 * Both are written durably (temporary file, fsync, rename, fsync dir).
 *
 * Order of a sync (so an acknowledged message is never lost and a crash
 * never makes a replay acceptable): fetch → verify → write the inbox file
 * → record the id as seen and save msg.bin → acknowledge. A crash between
 * the inbox write and the ack re-fetches the envelope later; it is then
 * reported as a replay (its id is seen) and acknowledged, and the inbox
 * already holds it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "keyward/buf.h"
#include "keyward/client_ckv.h"
#include "keyward/client_kt.h"
#include "keyward/client_msg.h"
#include "keyward/codec.h"
#include "keyward/envelope.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"
#include "keyward/roster.h"

#define LOCAL KW_CLIENT_ORIGIN_LOCAL
#define PROFILE KW_CLIENT_ORIGIN_PROFILE
#define NETWORK KW_CLIENT_ORIGIN_NETWORK

#define STATE_FILE "msg.bin"
#define STATE_MAGIC "KWS2"
#define INBOX_DIR "inbox"
#define INBOX_MAGIC "KWI1"
#define STATE_KEY_LABEL "keyward/msg/state-key/v1"
#define PREKEYS_MAX 16
#define SEEN_MAX 50000
#define STATE_MAXBYTES (64 + PREKEYS_MAX * 93 + 16 + SEEN_MAX * 24)
#define INBOX_MAXBYTES (64 + 4 * 256 + 48 + KW_CLIENT_MSG_CONTENT_MAXBYTES + 64)
#define DEFER_SECONDS 600 /* an unknown sender device this recent may be a log lag */
#define ROSTERS_CACHE 16

/* ---- small helpers ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t env_seconds(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    char *end = NULL;
    unsigned long long x = strtoull(v, &end, 10);
    return end != NULL && *end == '\0' ? (uint64_t)x : def;
}

static void b64_16(char out[24], const uint8_t id[16])
{
    kw_b64url_encode(out, 24, id, 16);
}

const char *kw_client_msg_gossip_name(kw_client_msg_gossip g)
{
    switch (g) {
    case KW_CLIENT_MSG_GOSSIP_NONE:
        return "none";
    case KW_CLIENT_MSG_GOSSIP_OK:
        return "ok";
    case KW_CLIENT_MSG_GOSSIP_UNCHECKED:
        return "unchecked";
    case KW_CLIENT_MSG_GOSSIP_SPLIT_VIEW:
        return "split-view";
    case KW_CLIENT_MSG_GOSSIP_BAD_HEAD:
        return "bad-head";
    }
    return "unknown";
}

void kw_client_msg_list_free(kw_client_msg **list, size_t n)
{
    if (list == NULL || *list == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if ((*list)[i].content != NULL) {
            sodium_memzero((*list)[i].content, (*list)[i].content_len);
            free((*list)[i].content);
        }
    }
    sodium_memzero(*list, n * sizeof(**list));
    free(*list);
    *list = NULL;
}

/* ---- sealed files ---- */

static int state_key(kw_client *c, uint8_t key[32])
{
    if (c->p == NULL || c->p->key == NULL)
        return KW_ERR_INVALID_ARG;
    return kw_hkdf_sha256(key, 32, NULL, 0, c->p->key, 32, (const uint8_t *)STATE_KEY_LABEL,
                          strlen(STATE_KEY_LABEL));
}

static int read_all(const char *path, size_t max, uint8_t **out, size_t *len)
{
    struct stat st;
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
        free(b);
        return KW_ERR_SYSTEM;
    }
    *out = b;
    *len = n;
    return KW_OK;
}

/* Seals pt under the state key with aad = magic ‖ ad and writes dir/name. */
static int seal_write(kw_client *c, const char *dir, const char *name, const char *magic,
                      const uint8_t *ad, size_t ad_len, const uint8_t *pt, size_t pt_len)
{
    uint8_t key[32], aad[4 + 32];
    int r = state_key(c, key);
    if (r != KW_OK)
        return r;
    size_t total = 4 + 24 + pt_len + 16;
    uint8_t *file = malloc(total);
    if (file == NULL) {
        sodium_memzero(key, sizeof(key));
        return KW_ERR_NOMEM;
    }
    memcpy(file, magic, 4);
    randombytes_buf(file + 4, 24);
    memcpy(aad, magic, 4);
    memcpy(aad + 4, ad, ad_len);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(file + 28, &clen, pt, pt_len, aad, 4 + ad_len, NULL,
                                               file + 4, key);
    r = kwc_write_file(dir, name, file, total);
    sodium_memzero(key, sizeof(key));
    free(file);
    return r;
}

/* Reads and opens a sealed file; *pt malloc'd (secret). KW_ERR_NOT_FOUND,
 * KW_ERR_VERIFY (tampered or another profile's), KW_ERR_FORMAT. */
static int read_open(kw_client *c, const char *path, size_t max, const char *magic,
                     const uint8_t *ad, size_t ad_len, uint8_t **pt, size_t *pt_len)
{
    uint8_t key[32], aad[4 + 32], *file = NULL, *out = NULL;
    size_t len = 0;
    unsigned long long plen = 0;
    *pt = NULL;
    *pt_len = 0;
    int r = read_all(path, max, &file, &len);
    if (r != KW_OK)
        return r;
    if (len < 4 + 24 + 16 || memcmp(file, magic, 4) != 0) {
        free(file);
        return KW_ERR_FORMAT;
    }
    if ((r = state_key(c, key)) != KW_OK) {
        free(file);
        return r;
    }
    memcpy(aad, magic, 4);
    memcpy(aad + 4, ad, ad_len);
    if ((out = malloc(len - 44 + 1)) == NULL) {
        r = KW_ERR_NOMEM;
    } else if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, file + 28, len - 28, aad,
                                                          4 + ad_len, file + 4, key) != 0) {
        free(out);
        out = NULL;
        r = KW_ERR_VERIFY;
    } else {
        *pt = out;
        *pt_len = (size_t)plen;
        r = KW_OK;
    }
    sodium_memzero(key, sizeof(key));
    free(file);
    return r;
}

/* ---- msg.bin ---- */

typedef struct {
    uint32_t id;
    uint64_t created_ms;
    uint64_t retired_ms; /* 0: the current prekey */
    uint8_t published;
    uint8_t sk[32];
    uint8_t pk[32];
} prekey_t;

typedef struct {
    uint8_t id[16];
    uint64_t ts;
} seen_t;

typedef struct {
    uint32_t next_prekey_id;
    uint16_t nprekeys;
    prekey_t prekeys[PREKEYS_MAX];
    uint64_t seen_floor_ms;
    uint32_t nseen;
    seen_t *seen; /* SEEN_MAX entries */
    bool dirty;
} mstate;

static void state_free(mstate **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    free((*sp)->seen);
    sodium_memzero(*sp, sizeof(**sp));
    sodium_free(*sp);
    *sp = NULL;
}

static int state_load(kw_client *c, mstate **out)
{
    char path[PATH_MAX + 16];
    uint8_t *pt = NULL;
    size_t len = 0;
    kw_buf *b = NULL;
    int r = KW_ERR_INTERNAL;
    mstate *s = sodium_malloc(sizeof(*s));
    *out = NULL;
    if (s == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    memset(s, 0, sizeof(*s));
    s->next_prekey_id = 1;
    if ((s->seen = calloc(SEEN_MAX, sizeof(seen_t))) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s", c->dir, STATE_FILE);
    r = read_open(c, path, STATE_MAXBYTES + 64, STATE_MAGIC, c->p->device_id, 16, &pt, &len);
    if (r == KW_ERR_NOT_FOUND) {
        *out = s;
        s = NULL;
        r = KW_OK;
        goto out;
    }
    if (r != KW_OK) {
        r = kwc_fail(c, PROFILE, r, "cannot open %s/%s: %s", c->dir, STATE_FILE, kw_strerror(r));
        goto out;
    }
    if ((b = kw_buf_from(pt, len)) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = kw_buf_get_u32(b, &s->next_prekey_id)) != KW_OK ||
        (r = kw_buf_get_u16(b, &s->nprekeys)) != KW_OK)
        goto bad;
    if (s->nprekeys > PREKEYS_MAX)
        goto bad;
    for (size_t i = 0; i < s->nprekeys; i++) {
        prekey_t *k = &s->prekeys[i];
        if ((r = kw_buf_get_u32(b, &k->id)) != KW_OK ||
            (r = kw_buf_get_u64(b, &k->created_ms)) != KW_OK ||
            (r = kw_buf_get_u64(b, &k->retired_ms)) != KW_OK ||
            (r = kw_buf_get_u8(b, &k->published)) != KW_OK || (r = kw_buf_get(b, k->sk, 32)) != KW_OK ||
            (r = kw_buf_get(b, k->pk, 32)) != KW_OK)
            goto bad;
    }
    if ((r = kw_buf_get_u64(b, &s->seen_floor_ms)) != KW_OK || (r = kw_buf_get_u32(b, &s->nseen)) != KW_OK)
        goto bad;
    if (s->nseen > SEEN_MAX)
        goto bad;
    for (size_t i = 0; i < s->nseen; i++)
        if ((r = kw_buf_get(b, s->seen[i].id, 16)) != KW_OK ||
            (r = kw_buf_get_u64(b, &s->seen[i].ts)) != KW_OK)
            goto bad;
    if (kw_buf_len(b) != 0)
        goto bad;
    *out = s;
    s = NULL;
    r = KW_OK;
    goto out;
bad:
    r = kwc_fail(c, PROFILE, KW_ERR_FORMAT, "%s/%s is damaged", c->dir, STATE_FILE);
out:
    kw_buf_free(&b);
    if (pt != NULL) {
        sodium_memzero(pt, len);
        free(pt);
    }
    state_free(&s);
    return r;
}

static int state_save(kw_client *c, mstate *s)
{
    kw_buf *b = kw_buf_new(STATE_MAXBYTES);
    int r = b == NULL ? KW_ERR_NOMEM : KW_OK;
    if (r == KW_OK && ((r = kw_buf_put_u32(b, s->next_prekey_id)) != KW_OK ||
                       (r = kw_buf_put_u16(b, s->nprekeys)) != KW_OK))
        goto out;
    for (size_t i = 0; r == KW_OK && i < s->nprekeys; i++) {
        const prekey_t *k = &s->prekeys[i];
        if ((r = kw_buf_put_u32(b, k->id)) != KW_OK || (r = kw_buf_put_u64(b, k->created_ms)) != KW_OK ||
            (r = kw_buf_put_u64(b, k->retired_ms)) != KW_OK ||
            (r = kw_buf_put_u8(b, k->published)) != KW_OK || (r = kw_buf_put(b, k->sk, 32)) != KW_OK ||
            (r = kw_buf_put(b, k->pk, 32)) != KW_OK)
            goto out;
    }
    if (r == KW_OK && ((r = kw_buf_put_u64(b, s->seen_floor_ms)) != KW_OK ||
                       (r = kw_buf_put_u32(b, s->nseen)) != KW_OK))
        goto out;
    for (size_t i = 0; r == KW_OK && i < s->nseen; i++)
        if ((r = kw_buf_put(b, s->seen[i].id, 16)) != KW_OK ||
            (r = kw_buf_put_u64(b, s->seen[i].ts)) != KW_OK)
            goto out;
    if (r == KW_OK)
        r = seal_write(c, c->dir, STATE_FILE, STATE_MAGIC, c->p->device_id, 16, kw_buf_ptr(b),
                       kw_buf_len(b));
    if (r == KW_OK)
        s->dirty = false;
out:
    kw_buf_free(&b);
    if (r != KW_OK)
        return kwc_fail(c, PROFILE, r, "cannot write %s/%s: %s", c->dir, STATE_FILE, kw_strerror(r));
    return KW_OK;
}

static bool seen_has(const mstate *s, const uint8_t id[16])
{
    for (size_t i = 0; i < s->nseen; i++)
        if (memcmp(s->seen[i].id, id, 16) == 0)
            return true;
    return false;
}

/* Drops ids older than the window (their envelopes are refused as stale
 * anyway) and, when full, the oldest, raising the floor below which every
 * envelope is refused. */
static void seen_add(mstate *s, const uint8_t id[16], uint64_t ts, uint64_t now)
{
    uint64_t window = (uint64_t)KW_CLIENT_MSG_WINDOW_SECONDS * 1000u;
    size_t w = 0;
    for (size_t i = 0; i < s->nseen; i++)
        if (s->seen[i].ts + window >= now)
            s->seen[w++] = s->seen[i];
    s->nseen = (uint32_t)w;
    if (s->nseen == SEEN_MAX) {
        size_t oldest = 0;
        for (size_t i = 1; i < s->nseen; i++)
            if (s->seen[i].ts < s->seen[oldest].ts)
                oldest = i;
        if (s->seen[oldest].ts > s->seen_floor_ms)
            s->seen_floor_ms = s->seen[oldest].ts;
        s->seen[oldest] = s->seen[--s->nseen];
    }
    memcpy(s->seen[s->nseen].id, id, 16);
    s->seen[s->nseen].ts = ts;
    s->nseen++;
    s->dirty = true;
}

static prekey_t *prekey_current(mstate *s)
{
    for (size_t i = 0; i < s->nprekeys; i++)
        if (s->prekeys[i].retired_ms == 0)
            return &s->prekeys[i];
    return NULL;
}

static const prekey_t *prekey_find(const mstate *s, uint32_t id)
{
    for (size_t i = 0; i < s->nprekeys; i++)
        if (s->prekeys[i].id == id)
            return &s->prekeys[i];
    return NULL;
}

/* Wipes retired prekeys whose grace period is over. */
static void prekeys_expire(mstate *s, uint64_t now)
{
    uint64_t grace = env_seconds("KEYWARD_PREKEY_GRACE_SECONDS", 7 * 24 * 3600) * 1000u;
    size_t w = 0;
    for (size_t i = 0; i < s->nprekeys; i++) {
        prekey_t *k = &s->prekeys[i];
        if (k->retired_ms != 0 && k->retired_ms + grace <= now) {
            sodium_memzero(k, sizeof(*k));
            s->dirty = true;
            continue;
        }
        if (w != i) {
            s->prekeys[w] = *k;
            sodium_memzero(k, sizeof(*k));
        }
        w++;
    }
    s->nprekeys = (uint16_t)w;
}

static int prekey_publish(kw_client *c, prekey_t *k)
{
    kw_sign_key *id = NULL;
    uint8_t raw[KW_PREKEY_BYTES];
    json_t *body = NULL, *resp = NULL;
    kw_prekey pk = {.prekey_id = k->id, .created_ms = k->created_ms};
    memcpy(pk.device_id, c->p->device_id, 16);
    memcpy(pk.pk, k->pk, 32);
    int r = kw_sign_key_from_seed(&id, c->p->s->identity_seed);
    if (r == KW_OK)
        r = kw_prekey_sign(raw, &pk, id);
    kw_sign_key_free(&id);
    if (r != KW_OK)
        return kwc_fail(c, LOCAL, r, "cannot sign the prekey: %s", kw_strerror(r));
    if ((body = json_object()) == NULL || kwc_put_b64(body, "prekey", raw, sizeof(raw)) != KW_OK) {
        json_decref(body);
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    }
    r = kwc_http(c, "POST", "/v1/msg/prekey", body, true, &resp);
    json_decref(body);
    json_decref(resp);
    if (r == KW_OK)
        k->published = 1;
    return r;
}

/* Makes a new current prekey (saved before it is published, so its private
 * key is never lost) and retires the previous one. */
static int prekey_new(kw_client *c, mstate *s, uint64_t now)
{
    if (s->nprekeys == PREKEYS_MAX) { /* drop the oldest retired one */
        size_t oldest = 0;
        for (size_t i = 1; i < s->nprekeys; i++)
            if (s->prekeys[i].created_ms < s->prekeys[oldest].created_ms)
                oldest = i;
        sodium_memzero(&s->prekeys[oldest], sizeof(prekey_t));
        s->prekeys[oldest] = s->prekeys[--s->nprekeys];
        sodium_memzero(&s->prekeys[s->nprekeys], sizeof(prekey_t));
    }
    prekey_t *cur = prekey_current(s);
    prekey_t *k = &s->prekeys[s->nprekeys];
    memset(k, 0, sizeof(*k));
    int r = kw_hpke_keypair(k->pk, k->sk);
    if (r != KW_OK)
        return kwc_fail(c, LOCAL, r, "cannot make a prekey");
    k->id = s->next_prekey_id++;
    k->created_ms = now;
    s->nprekeys++;
    if (cur != NULL)
        cur->retired_ms = now;
    if ((r = state_save(c, s)) != KW_OK)
        return r;
    if ((r = prekey_publish(c, k)) != KW_OK)
        return r;
    return state_save(c, s);
}

/* Rotation, publication retries and expiry, as a sync does them. */
static int prekeys_maintain(kw_client *c, mstate *s, bool force)
{
    uint64_t now = now_ms();
    uint64_t rotate = env_seconds("KEYWARD_PREKEY_ROTATE_SECONDS", 7 * 24 * 3600) * 1000u;
    prekeys_expire(s, now);
    prekey_t *cur = prekey_current(s);
    if (force || cur == NULL || cur->created_ms + rotate <= now)
        return prekey_new(c, s, now);
    if (!cur->published) {
        int r = prekey_publish(c, cur);
        if (r != KW_OK)
            return r;
        s->dirty = true;
    }
    return s->dirty ? state_save(c, s) : KW_OK;
}

/* ---- rosters ---- */

typedef struct {
    char name[KW_CLIENT_NAME_MAXBYTES + 1];
    int result; /* KW_OK or the error of the lookup */
    char reason[64];
    kw_roster *ros;
} roster_slot;

typedef struct {
    roster_slot slot[ROSTERS_CACHE];
    size_t n;
} roster_cache;

static void cache_free(roster_cache *rc)
{
    for (size_t i = 0; i < rc->n; i++)
        free(rc->slot[i].ros);
    memset(rc, 0, sizeof(*rc));
}

/* The verified roster of account `name`: our own from the server under the
 * pinned account key (kwc_fetch_roster, rollback-pinned), another's from
 * the key-transparency log (kw_client_kt_lookup). Verification failures
 * are cached per sync (result KW_ERR_VERIFY with reason); network errors
 * are returned and not cached. */
static int roster_get(kw_client *c, roster_cache *rc, const char *name, const kw_roster **out,
                      const char **reason)
{
    *out = NULL;
    if (reason != NULL)
        *reason = "";
    for (size_t i = 0; i < rc->n; i++)
        if (strcmp(rc->slot[i].name, name) == 0) {
            *out = rc->slot[i].ros;
            if (reason != NULL)
                *reason = rc->slot[i].reason;
            return rc->slot[i].result;
        }
    kw_roster *ros = malloc(sizeof(*ros));
    if (ros == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    int r;
    char why[64] = "";
    if (strcmp(name, c->p->account) == 0) {
        r = kwc_fetch_roster(c, ros);
        if (r == KW_ERR_VERIFY)
            snprintf(why, sizeof(why), "own-roster");
    } else {
        kw_client_kt_result res;
        memset(&res, 0, sizeof(res));
        r = kw_client_kt_lookup(c, name, &res);
        if (r == KW_OK && res.version == 0)
            r = kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND, "the key-transparency log proves there is no "
                                                     "account '%s'", name);
        else if (r == KW_OK && kw_roster_open(ros, res.roster, res.roster_len, res.account_pk) != KW_OK)
            r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the roster of '%s' does not open", name);
        if (r == KW_ERR_VERIFY)
            snprintf(why, sizeof(why), "%s", res.reason != NULL && *res.reason ? res.reason : "roster");
        kw_client_kt_result_clear(&res);
    }
    if (r != KW_OK && r != KW_ERR_VERIFY && r != KW_ERR_NOT_FOUND) {
        free(ros);
        return r;
    }
    if (rc->n == ROSTERS_CACHE) {
        if (r == KW_OK) {
            /* no room to cache: hand it out once (the caller does not free) */
            free(rc->slot[0].ros);
            memmove(&rc->slot[0], &rc->slot[1], sizeof(rc->slot[0]) * (ROSTERS_CACHE - 1));
            rc->n--;
        } else {
            free(ros);
            if (reason != NULL)
                *reason = "roster";
            return r;
        }
    }
    roster_slot *sl = &rc->slot[rc->n++];
    snprintf(sl->name, sizeof(sl->name), "%s", name);
    sl->result = r;
    snprintf(sl->reason, sizeof(sl->reason), "%s", why);
    if (r == KW_OK) {
        sl->ros = ros;
        *out = ros;
    } else {
        free(ros);
        sl->ros = NULL;
    }
    if (reason != NULL)
        *reason = sl->reason;
    return r;
}

/* ---- sending ---- */

/* Adds the devices of `ros` (except skip) to rcpt, each with its prekey
 * from the server's keys answer when it verifies under the device's
 * identity key from the verified roster, else its roster HPKE key. Only
 * devices the server lists as trusted get a copy (a device listed by the
 * log but not yet by the server is a publication lag). */
static int add_recipients(kw_client *c, const kw_roster *ros, const json_t *keys, const uint8_t *skip,
                          kw_envelope_recipient *rcpt, size_t *n)
{
    const json_t *devs = json_object_get(keys, "devices");
    if (!json_is_array(devs))
        return kwc_bad_answer(c, "msg keys");
    for (size_t i = 0; i < ros->ndevices; i++) {
        const kw_roster_device *d = &ros->devices[i];
        if (skip != NULL && memcmp(d->id, skip, 16) == 0)
            continue;
        const json_t *jd = NULL;
        for (size_t j = 0; j < json_array_size(devs) && jd == NULL; j++) {
            uint8_t id[16];
            if (kwc_get_b64_fixed(json_array_get(devs, j), "id", id, 16) == KW_OK &&
                memcmp(id, d->id, 16) == 0)
                jd = json_array_get(devs, j);
        }
        if (jd == NULL)
            continue;
        if (*n == KW_ENVELOPE_WRAPS_MAX)
            return kwc_fail(c, LOCAL, KW_ERR_LIMIT, "too many devices");
        kw_envelope_recipient *rp = &rcpt[*n];
        memcpy(rp->device_id, d->id, 16);
        rp->prekey_id = 0;
        memcpy(rp->pk, d->hpke_pk, 32);
        if (json_object_get(jd, "prekey") != NULL) {
            uint8_t raw[KW_PREKEY_BYTES];
            kw_prekey pk;
            if (kwc_get_b64_fixed(jd, "prekey", raw, sizeof(raw)) != KW_OK)
                return kwc_bad_answer(c, "prekey");
            if (kw_prekey_open(&pk, raw, sizeof(raw), d->identity_pk) != KW_OK ||
                memcmp(pk.device_id, d->id, 16) != 0) {
                char id[24];
                b64_16(id, d->id);
                return kwc_fail(c, LOCAL, KW_ERR_VERIFY,
                                "ALERT: the server's prekey of device %s of '%s' is not signed by "
                                "that device",
                                id, ros->name);
            }
            rp->prekey_id = pk.prekey_id;
            memcpy(rp->pk, pk.pk, 32);
        }
        (*n)++;
    }
    return KW_OK;
}

static int get_keys(kw_client *c, const char *name, json_t **resp)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/msg/keys/%s", name);
    return kwc_http(c, "GET", path, NULL, true, resp);
}

/* The Contact Key Verification pins of a recipient who is a contact
 * (keyward/client_ckv.h): *is_contact tells whether `account` is one; if
 * so its roster must pass kw_client_ckv_contact_check (pinned account key,
 * verified flag, rollback, signatures), and *ros is that roster. On a
 * refusal *ckv holds the result with the named alert (the caller's). */
static int contact_roster(kw_client *c, const char *account, kw_roster *ros, bool *is_contact,
                          json_t **ckv)
{
    json_t *list = NULL, *e;
    uint8_t *blob = NULL, pk[32];
    size_t blen = 0, i;
    *is_contact = false;
    *ckv = NULL;
    int r = kw_client_contact_list(c, &list);
    if (r != KW_OK) {
        json_decref(list);
        return r;
    }
    json_array_foreach(json_object_get(list, "contacts"), i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n != NULL && strcmp(n, account) == 0)
            *is_contact = true;
    }
    json_decref(list);
    if (!*is_contact)
        return KW_OK;
    if ((r = kw_client_ckv_contact_check(c, account, &blob, &blen, ckv)) != KW_OK)
        goto out;
    if (blob == NULL || kwc_get_b64_fixed(*ckv, "account_pk", pk, 32) != KW_OK ||
        kw_roster_open(ros, blob, blen, pk) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "the checked roster of '%s' does not open", account);
        goto out;
    }
    r = KW_OK;
out:
    free(blob);
    return r;
}

int kw_client_msg_send(kw_client *c, const char *account, const char *type, const uint8_t *bytes,
                       size_t len, json_t **out)
{
    int r = KW_ERR_INTERNAL;
    roster_cache rc;
    const kw_roster *own = NULL, *theirs = NULL;
    json_t *own_keys = NULL, *their_keys = NULL, *body = NULL, *resp = NULL, *arr = NULL;
    kw_envelope_recipient *rcpt = NULL;
    kw_sign_key *id = NULL;
    uint8_t *payload = NULL, *env = NULL, head[KW_KT_HEADBYTES];
    size_t nrcpt = 0, plen = 0, elen = 0;
    bool have_head = false, contact = false;
    kw_roster *pinned = NULL;
    json_t *ckv = NULL;
    memset(&rc, 0, sizeof(rc));
    if (out != NULL)
        *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if (!kw_envelope_name_ok(account) || strlen(account) > KW_CLIENT_NAME_MAXBYTES ||
        strchr(account, '/') != NULL)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "bad account name");
    if (!kw_envelope_type_ok(type))
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "bad message type (1..32 of [a-z0-9-])");
    if (bytes == NULL && len > 0)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "no content");
    if (len > KW_CLIENT_MSG_CONTENT_MAXBYTES)
        return kwc_fail(c, LOCAL, KW_ERR_TOO_LARGE, "the message is over %zu bytes",
                        (size_t)KW_CLIENT_MSG_CONTENT_MAXBYTES);
    bool self = strcmp(account, c->p->account) == 0;
    if ((rcpt = calloc(KW_ENVELOPE_WRAPS_MAX, sizeof(*rcpt))) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = roster_get(c, &rc, c->p->account, &own, NULL)) != KW_OK)
        goto out;
    if (kw_roster_find(own, c->p->device_id) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_VERIFY, "this device is not in the account's signed roster");
        goto out;
    }
    if (!self) {
        /* a contact is held to its CKV pins: an account-key change of a
         * verified contact refuses the send with the named alert instead
         * of encrypting to the new keys */
        if ((pinned = malloc(sizeof(*pinned))) == NULL) {
            r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
            goto out;
        }
        if ((r = contact_roster(c, account, pinned, &contact, &ckv)) != KW_OK) {
            if (out != NULL) {
                *out = ckv;
                ckv = NULL;
            }
            goto out;
        }
        if (contact)
            theirs = pinned;
    }
    if (!self && !contact && (r = roster_get(c, &rc, account, &theirs, NULL)) != KW_OK)
        goto out;
    if (!self && ((r = get_keys(c, account, &their_keys)) != KW_OK ||
                  (r = add_recipients(c, theirs, their_keys, NULL, rcpt, &nrcpt)) != KW_OK))
        goto out;
    if (!self && nrcpt == 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND, "'%s' has no device to deliver to", account);
        goto out;
    }
    if ((r = get_keys(c, c->p->account, &own_keys)) != KW_OK ||
        (r = add_recipients(c, own, own_keys, c->p->device_id, rcpt, &nrcpt)) != KW_OK)
        goto out;
    if (nrcpt == 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND, "this account has no other device to send to");
        goto out;
    }
    kw_kt_head h;
    if (kw_client_kt_pinned(c, &h) == KW_OK) {
        kw_kt_head_encode(head, &h);
        have_head = true;
    }
    kw_envelope_params p = {.timestamp_ms = now_ms(), .sender = c->p->account, .recipient = account,
                            .type = type};
    randombytes_buf(p.id, sizeof(p.id));
    memcpy(p.sender_device, c->p->device_id, 16);
    if ((r = kw_payload_encode(&payload, &plen, have_head ? head : NULL, bytes, len)) != KW_OK ||
        (r = kw_sign_key_from_seed(&id, c->p->s->identity_seed)) != KW_OK ||
        (r = kw_envelope_seal(&env, &elen, &p, rcpt, nrcpt, c->p->s->hpke_sk, c->p->s->hpke_pk, id,
                              payload, plen)) != KW_OK) {
        r = kwc_fail(c, LOCAL, r, "cannot seal the message: %s", kw_strerror(r));
        goto out;
    }
    if ((body = json_object()) == NULL || (arr = json_array()) == NULL ||
        json_object_set_new(body, "devices", arr) != 0 ||
        kwc_put_b64(body, "envelope", env, elen) != KW_OK) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nrcpt; i++) {
        char s[24];
        b64_16(s, rcpt[i].device_id);
        if (json_array_append_new(arr, json_string(s)) != 0) {
            r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if ((r = kwc_http(c, "POST", "/v1/msg/send", body, true, &resp)) != KW_OK)
        goto out;
    if (out != NULL) {
        char s[24];
        b64_16(s, p.id);
        if ((*out = kwc_result(c)) == NULL ||
            json_object_set_new(*out, "id", json_string(s)) != 0 ||
            json_object_set_new(*out, "recipient", json_string(account)) != 0 ||
            json_object_set_new(*out, "type", json_string(type)) != 0 ||
            json_object_set_new(*out, "devices", json_integer((json_int_t)nrcpt)) != 0 ||
            json_object_set_new(*out, "bytes", json_integer((json_int_t)len)) != 0 ||
            json_object_set_new(*out, "contact", json_boolean(contact)) != 0 ||
            (contact && json_object_set(*out, "verified",
                                        json_is_true(json_object_get(ckv, "verified"))
                                            ? json_true()
                                            : json_false()) != 0) ||
            (json_array_size(json_object_get(ckv, "alerts")) > 0 &&
             json_object_set(*out, "alerts", json_object_get(ckv, "alerts")) != 0)) {
            json_decref(*out);
            *out = NULL;
            r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    r = KW_OK;
out:
    if (payload != NULL) {
        sodium_memzero(payload, plen);
        free(payload);
    }
    free(env);
    free(rcpt);
    kw_sign_key_free(&id);
    json_decref(own_keys);
    json_decref(their_keys);
    json_decref(body);
    json_decref(resp);
    json_decref(ckv);
    free(pinned);
    cache_free(&rc);
    return r;
}

int kw_client_msg_send_typed(kw_client *c, const char *account, const char *type,
                             const uint8_t *bytes, size_t len)
{
    return kw_client_msg_send(c, account, type, bytes, len, NULL);
}

/* ---- inbox files ---- */

static int inbox_dir(kw_client *c, char out[PATH_MAX], bool create)
{
    if (snprintf(out, PATH_MAX, "%s/%s", c->dir, INBOX_DIR) >= PATH_MAX)
        return kwc_fail(c, PROFILE, KW_ERR_TOO_LARGE, "profile path too long");
    if (create && mkdir(out, 0700) != 0 && errno != EEXIST)
        return kwc_fail(c, PROFILE, KW_ERR_SYSTEM, "cannot create %s", out);
    return KW_OK;
}

static int put_str8(kw_buf *b, const char *s)
{
    size_t n = strlen(s);
    int r = kw_buf_put_u8(b, (uint8_t)n);
    return r == KW_OK ? kw_buf_put(b, s, n) : r;
}

static int get_str8(kw_buf *b, char *dst, size_t cap)
{
    uint8_t n;
    int r = kw_buf_get_u8(b, &n);
    if (r != KW_OK)
        return r;
    if (n >= cap)
        return KW_ERR_FORMAT;
    if ((r = kw_buf_get(b, dst, n)) != KW_OK)
        return r;
    dst[n] = '\0';
    return KW_OK;
}

static int inbox_write(kw_client *c, const kw_client_msg *m)
{
    char dir[PATH_MAX], name[40];
    uint8_t ad[32];
    kw_buf *b = kw_buf_new(INBOX_MAXBYTES);
    int r = b == NULL ? KW_ERR_NOMEM : KW_OK;
    if (r == KW_OK && ((r = kw_buf_put_u64(b, m->timestamp_ms)) != KW_OK ||
                       (r = kw_buf_put_u64(b, m->received_ms)) != KW_OK ||
                       (r = kw_buf_put_u8(b, m->own ? 1 : 0)) != KW_OK ||
                       (r = kw_buf_put_u8(b, (uint8_t)m->gossip)) != KW_OK ||
                       (r = put_str8(b, m->gossip_reason)) != KW_OK ||
                       (r = put_str8(b, m->sender)) != KW_OK ||
                       (r = kw_buf_put(b, m->sender_device, 16)) != KW_OK ||
                       (r = put_str8(b, m->recipient)) != KW_OK || (r = put_str8(b, m->type)) != KW_OK ||
                       (r = kw_buf_put_u32(b, (uint32_t)m->content_len)) != KW_OK ||
                       (r = kw_buf_put(b, m->content, m->content_len)) != KW_OK))
        goto out;
    if (r != KW_OK || (r = inbox_dir(c, dir, true)) != KW_OK)
        goto out;
    kw_hex_encode(name, sizeof(name), m->id, 16);
    memcpy(ad, c->p->device_id, 16);
    memcpy(ad + 16, m->id, 16);
    r = seal_write(c, dir, name, INBOX_MAGIC, ad, 32, kw_buf_ptr(b), kw_buf_len(b));
out:
    kw_buf_free(&b);
    if (r != KW_OK && c->err[0] == '\0')
        kwc_fail(c, PROFILE, r, "cannot write the inbox: %s", kw_strerror(r));
    return r;
}

static int inbox_read(kw_client *c, const char *dir, const char *name, kw_client_msg *m)
{
    char path[PATH_MAX + 48];
    uint8_t ad[32], *pt = NULL;
    size_t len = 0, idn = 0;
    uint32_t clen = 0;
    uint8_t own = 0, gossip = 0;
    kw_buf *b = NULL;
    memset(m, 0, sizeof(*m));
    if (strlen(name) != 32 || kw_hex_decode(m->id, 16, &idn, name, 32) != KW_OK || idn != 16)
        return KW_ERR_FORMAT;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    memcpy(ad, c->p->device_id, 16);
    memcpy(ad + 16, m->id, 16);
    int r = read_open(c, path, INBOX_MAXBYTES + 64, INBOX_MAGIC, ad, 32, &pt, &len);
    if (r != KW_OK)
        return r;
    if ((b = kw_buf_from(pt, len)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kw_buf_get_u64(b, &m->timestamp_ms)) != KW_OK ||
        (r = kw_buf_get_u64(b, &m->received_ms)) != KW_OK || (r = kw_buf_get_u8(b, &own)) != KW_OK ||
        (r = kw_buf_get_u8(b, &gossip)) != KW_OK ||
        (r = get_str8(b, m->gossip_reason, sizeof(m->gossip_reason))) != KW_OK ||
        (r = get_str8(b, m->sender, sizeof(m->sender))) != KW_OK ||
        (r = kw_buf_get(b, m->sender_device, 16)) != KW_OK ||
        (r = get_str8(b, m->recipient, sizeof(m->recipient))) != KW_OK ||
        (r = get_str8(b, m->type, sizeof(m->type))) != KW_OK || (r = kw_buf_get_u32(b, &clen)) != KW_OK)
        goto out;
    if (clen != kw_buf_len(b) || clen > KW_CLIENT_MSG_CONTENT_MAXBYTES ||
        gossip > KW_CLIENT_MSG_GOSSIP_BAD_HEAD) {
        r = KW_ERR_FORMAT;
        goto out;
    }
    if ((m->content = malloc(clen == 0 ? 1 : clen)) == NULL) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    if ((r = kw_buf_get(b, m->content, clen)) != KW_OK)
        goto out;
    m->content_len = clen;
    m->own = own != 0;
    m->gossip = (kw_client_msg_gossip)gossip;
    b64_16(m->id_b64, m->id);
    b64_16(m->sender_device_b64, m->sender_device);
    r = KW_OK;
out:
    kw_buf_free(&b);
    if (pt != NULL) {
        sodium_memzero(pt, len);
        free(pt);
    }
    if (r != KW_OK) {
        free(m->content);
        memset(m, 0, sizeof(*m));
    }
    return r;
}

static int msg_cmp(const void *a, const void *b)
{
    const kw_client_msg *x = a, *y = b;
    if (x->timestamp_ms != y->timestamp_ms)
        return x->timestamp_ms < y->timestamp_ms ? -1 : 1;
    return memcmp(x->id, y->id, 16);
}

int kw_client_msg_list(kw_client *c, const char *type, const char *sender, kw_client_msg **list,
                       size_t *n)
{
    char dir[PATH_MAX];
    kw_client_msg *arr = NULL;
    size_t cnt = 0, cap = 0;
    int r;
    if (list == NULL || n == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_INVALID_ARG, "no output");
    *list = NULL;
    *n = 0;
    if ((r = kwc_need_profile(c)) != KW_OK || (r = inbox_dir(c, dir, false)) != KW_OK)
        return r;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? KW_OK : kwc_fail(c, PROFILE, KW_ERR_SYSTEM, "cannot read %s", dir);
    struct dirent *e;
    r = KW_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        kw_client_msg m;
        int rr = inbox_read(c, dir, e->d_name, &m);
        if (rr == KW_ERR_FORMAT && strlen(e->d_name) != 32)
            continue; /* not an inbox file */
        if (rr != KW_OK) {
            r = kwc_fail(c, PROFILE, rr, "inbox entry %s does not open (%s)", e->d_name,
                         kw_strerror(rr));
            break;
        }
        if ((type != NULL && strcmp(type, m.type) != 0) ||
            (sender != NULL && strcmp(sender, m.sender) != 0)) {
            sodium_memzero(m.content, m.content_len);
            free(m.content);
            continue;
        }
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            kw_client_msg *na = realloc(arr, ncap * sizeof(*na));
            if (na == NULL) {
                sodium_memzero(m.content, m.content_len);
                free(m.content);
                r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
                break;
            }
            arr = na;
            cap = ncap;
        }
        arr[cnt++] = m;
    }
    closedir(d);
    if (r != KW_OK) {
        kw_client_msg_list_free(&arr, cnt);
        return r;
    }
    if (cnt > 1)
        qsort(arr, cnt, sizeof(*arr), msg_cmp);
    *list = arr;
    *n = cnt;
    return KW_OK;
}

int kw_client_msg_delete(kw_client *c, const uint8_t id[static KW_CLIENT_MSG_IDBYTES])
{
    char dir[PATH_MAX], name[40], path[PATH_MAX + 48];
    int r;
    if ((r = kwc_need_profile(c)) != KW_OK || (r = inbox_dir(c, dir, false)) != KW_OK)
        return r;
    kw_hex_encode(name, sizeof(name), id, 16);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (unlink(path) != 0)
        return errno == ENOENT ? kwc_fail(c, LOCAL, KW_ERR_NOT_FOUND, "no such message")
                               : kwc_fail(c, PROFILE, KW_ERR_SYSTEM, "cannot delete %s", path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return KW_OK;
}

static json_t *msg_json(const kw_client_msg *m)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:s}", "id", m->id_b64, "sender", m->sender,
                          "sender_device", m->sender_device_b64, "recipient", m->recipient, "type",
                          m->type, "timestamp_ms", (json_int_t)m->timestamp_ms, "own", m->own,
                          "gossip", kw_client_msg_gossip_name(m->gossip));
    if (o == NULL)
        return NULL;
    if (m->gossip_reason[0] != '\0')
        json_object_set_new(o, "gossip_reason", json_string(m->gossip_reason));
    json_object_set_new(o, "bytes", json_integer((json_int_t)m->content_len));
    bool text = strcmp(m->type, KW_CLIENT_MSG_TYPE_TEXT) == 0;
    if (text) {
        char *s = malloc(m->content_len + 1);
        if (s != NULL) {
            memcpy(s, m->content, m->content_len);
            s[m->content_len] = '\0';
            json_t *js = json_stringn(s, m->content_len); /* NULL for invalid UTF-8 */
            sodium_memzero(s, m->content_len + 1);
            free(s);
            if (js != NULL) {
                json_object_set_new(o, "text", js);
                return o;
            }
        }
    }
    if (kwc_put_b64(o, "content", m->content, m->content_len) != KW_OK) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int kw_client_msg_inbox(kw_client *c, const char *type, json_t **out)
{
    kw_client_msg *list = NULL;
    size_t n = 0;
    json_t *arr = NULL;
    *out = NULL;
    int r = kw_client_msg_list(c, type, NULL, &list, &n);
    if (r != KW_OK)
        return r;
    if ((*out = kwc_result(c)) == NULL || (arr = json_array()) == NULL ||
        json_object_set_new(*out, "messages", arr) != 0) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *m = msg_json(&list[i]);
        if (m == NULL || json_array_append_new(arr, m) != 0) {
            r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    r = KW_OK;
out:
    if (r != KW_OK) {
        json_decref(*out);
        *out = NULL;
    }
    kw_client_msg_list_free(&list, n);
    return r;
}

/* ---- receiving ---- */

typedef struct {
    const kw_client_msg_hooks *hooks;
    json_t *rejects, *alerts, *messages;
    size_t received, rejected, deferred;
    bool head_fresh; /* kw_client_kt_head already tried in this sync */
} sync_ctx;

static int reject(sync_ctx *sc, const char *reason, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reject(sync_ctx *sc, const char *reason, const char *id, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    sc->rejected++;
    json_array_append_new(sc->rejects, json_pack("{s:s,s:s,s:s}", "reason", reason, "id", id,
                                                 "detail", detail));
    if (sc->hooks != NULL && sc->hooks->on_reject != NULL)
        sc->hooks->on_reject(reason, detail, sc->hooks->arg);
    return KW_OK;
}

static kw_client_msg_gossip check_gossip(kw_client *c, sync_ctx *sc, const uint8_t *head,
                                         char reason[48])
{
    kw_client_kt_failure f = KW_CLIENT_KT_OK;
    kw_kt_reason kr = KW_KT_OK;
    reason[0] = '\0';
    int r = kw_client_kt_check_gossip(c, head, KW_KT_HEADBYTES, &f, &kr);
    if (r == KW_ERR_NOT_FOUND && !sc->head_fresh) {
        sc->head_fresh = true;
        if (kw_client_kt_head(c, NULL, &f, &kr) == KW_OK)
            r = kw_client_kt_check_gossip(c, head, KW_KT_HEADBYTES, &f, &kr);
    }
    if (r == KW_OK)
        return KW_CLIENT_MSG_GOSSIP_OK;
    if (r == KW_ERR_VERIFY) {
        snprintf(reason, 48, "%s", kw_client_kt_reason_name(f, kr));
        return f == KW_CLIENT_KT_SPLIT_VIEW ? KW_CLIENT_MSG_GOSSIP_SPLIT_VIEW
                                            : KW_CLIENT_MSG_GOSSIP_BAD_HEAD;
    }
    snprintf(reason, 48, "%s", kw_strerror(r));
    return KW_CLIENT_MSG_GOSSIP_UNCHECKED;
}

/* What to do with a fetched envelope. */
enum { ITEM_ACK = 0, ITEM_KEEP = 1 };

/* Verifies and stores one envelope. Returns KW_OK with *action, or an error
 * that stops the sync (network, profile) without acknowledging. */
static int process(kw_client *c, sync_ctx *sc, mstate *st, roster_cache *rc, const uint8_t *in,
                   size_t len, const char *sid, int *action)
{
    int r = KW_OK;
    kw_envelope *env = malloc(sizeof(*env));
    uint8_t *payload = NULL;
    size_t plen = 0;
    kw_client_msg m;
    memset(&m, 0, sizeof(m));
    *action = ITEM_ACK;
    if (env == NULL)
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    uint64_t now = now_ms();
    if (kw_envelope_decode(env, in, len) != KW_OK) {
        reject(sc, "malformed", sid, "the envelope does not parse");
        goto out;
    }
    char eid[24];
    b64_16(eid, env->id);
    bool own = strcmp(env->sender, c->p->account) == 0;
    if ((!own && strcmp(env->recipient, c->p->account) != 0) ||
        (own && memcmp(env->sender_device, c->p->device_id, 16) == 0)) {
        reject(sc, "misdelivered", eid, "an envelope from '%s' to '%s' is not for this device",
               env->sender, env->recipient);
        goto out;
    }
    if (env->timestamp_ms > now + (uint64_t)KW_CLIENT_MSG_FUTURE_SECONDS * 1000u) {
        reject(sc, "future", eid, "the envelope is dated in the future");
        goto out;
    }
    if (env->timestamp_ms + (uint64_t)KW_CLIENT_MSG_WINDOW_SECONDS * 1000u < now ||
        env->timestamp_ms <= st->seen_floor_ms) {
        reject(sc, "stale", eid, "the envelope is older than the replay window");
        goto out;
    }
    if (seen_has(st, env->id)) {
        reject(sc, "replay", eid, "message %s from '%s' was received before", eid, env->sender);
        goto out;
    }
    const kw_roster *ros = NULL;
    const char *why = "";
    r = roster_get(c, rc, env->sender, &ros, &why);
    if (r == KW_ERR_VERIFY || r == KW_ERR_NOT_FOUND) {
        /* a roster that does not verify may be an attack on the log, not on
         * this message: keep it (unacknowledged) until the roster verifies,
         * unless the log proves the account does not exist */
        if (r == KW_ERR_VERIFY)
            *action = ITEM_KEEP;
        r = KW_OK;
        reject(sc, "sender-roster", eid, "the roster of '%s' does not verify (%s)", env->sender, why);
        json_array_append_new(sc->alerts, json_pack("{s:s,s:s,s:s,s:s}", "reason", why, "sender",
                                                    env->sender, "id", eid, "detail",
                                                    "the sender's roster failed verification"));
        goto out;
    }
    if (r != KW_OK)
        goto out;
    const kw_roster_device *sd = kw_roster_find(ros, env->sender_device);
    if (sd == NULL) {
        if (!own && env->timestamp_ms + (uint64_t)DEFER_SECONDS * 1000u > now) {
            sc->deferred++; /* maybe a device the log has not published yet: retry later */
            *action = ITEM_KEEP;
            goto out;
        }
        reject(sc, "sender-not-in-roster", eid,
               "the sending device is not in the verified roster of '%s'", env->sender);
        goto out;
    }
    if (kw_envelope_verify(env, in, len, sd->identity_pk) != KW_OK) {
        reject(sc, "bad-signature", eid, "the envelope is not signed by the sending device");
        goto out;
    }
    const kw_envelope_wrap *w = kw_envelope_find(env, c->p->device_id);
    if (w == NULL) {
        reject(sc, "not-for-this-device", eid, "the envelope has no key for this device");
        goto out;
    }
    const uint8_t *sk = c->p->s->hpke_sk, *pk = c->p->s->hpke_pk;
    if (w->prekey_id != 0) {
        const prekey_t *k = prekey_find(st, w->prekey_id);
        if (k == NULL) {
            reject(sc, "decrypt-failed", eid, "prekey %u of this device is gone (expired)",
                   (unsigned)w->prekey_id);
            goto out;
        }
        sk = k->sk;
        pk = k->pk;
    }
    if (kw_envelope_open(&payload, &plen, env, w, sk, pk, sd->hpke_pk) != KW_OK) {
        reject(sc, "decrypt-failed", eid, "the key wrap or the body does not authenticate");
        goto out;
    }
    bool has_head = false;
    uint8_t head[KW_PAYLOAD_HEADBYTES];
    const uint8_t *content = NULL;
    size_t clen = 0;
    if (kw_payload_decode(payload, plen, &has_head, head, &content, &clen) != KW_OK) {
        reject(sc, "malformed", eid, "the payload does not parse");
        goto out;
    }
    memcpy(m.id, env->id, 16);
    memcpy(m.id_b64, eid, sizeof(eid));
    snprintf(m.sender, sizeof(m.sender), "%s", env->sender);
    memcpy(m.sender_device, env->sender_device, 16);
    b64_16(m.sender_device_b64, env->sender_device);
    snprintf(m.recipient, sizeof(m.recipient), "%s", env->recipient);
    snprintf(m.type, sizeof(m.type), "%s", env->type);
    m.timestamp_ms = env->timestamp_ms;
    m.received_ms = now;
    m.own = own;
    m.gossip = has_head ? check_gossip(c, sc, head, m.gossip_reason) : KW_CLIENT_MSG_GOSSIP_NONE;
    m.content = (uint8_t *)content; /* borrowed from payload */
    m.content_len = clen;
    if ((r = inbox_write(c, &m)) != KW_OK)
        goto out;
    seen_add(st, env->id, env->timestamp_ms, now);
    sc->received++;
    json_t *jm = json_pack("{s:s,s:s,s:s,s:b,s:s}", "id", eid, "sender", m.sender, "type", m.type,
                           "own", m.own, "gossip", kw_client_msg_gossip_name(m.gossip));
    json_array_append_new(sc->messages, jm);
    if (m.gossip == KW_CLIENT_MSG_GOSSIP_SPLIT_VIEW || m.gossip == KW_CLIENT_MSG_GOSSIP_BAD_HEAD) {
        json_array_append_new(sc->alerts,
                              json_pack("{s:s,s:s,s:s,s:s}", "reason",
                                        kw_client_msg_gossip_name(m.gossip), "sender", m.sender, "id",
                                        eid, "detail",
                                        m.gossip == KW_CLIENT_MSG_GOSSIP_SPLIT_VIEW
                                            ? "ALERT: the tree head this contact saw is not on the "
                                              "log we see (split view): the server may be showing "
                                              "you different key directories"
                                            : "ALERT: the tree head this contact sent is not signed "
                                              "by the log key"));
    }
    if (sc->hooks != NULL && sc->hooks->on_gossip != NULL && m.gossip != KW_CLIENT_MSG_GOSSIP_OK &&
        m.gossip != KW_CLIENT_MSG_GOSSIP_NONE)
        sc->hooks->on_gossip(&m, m.gossip, m.gossip_reason, sc->hooks->arg);
    if (sc->hooks != NULL && sc->hooks->on_message != NULL)
        sc->hooks->on_message(&m, sc->hooks->arg);
out:
    if (payload != NULL) {
        sodium_memzero(payload, plen);
        free(payload);
    }
    free(env);
    return r;
}

static int ack(kw_client *c, json_t *ids)
{
    json_t *body = json_object(), *resp = NULL;
    if (body == NULL || json_object_set(body, "ids", ids) != 0) {
        json_decref(body);
        return kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
    }
    int r = kwc_http(c, "POST", "/v1/msg/ack", body, true, &resp);
    json_decref(body);
    json_decref(resp);
    return r;
}

int kw_client_msg_sync(kw_client *c, const kw_client_msg_hooks *hooks, json_t **out)
{
    int r;
    mstate *st = NULL;
    roster_cache rc;
    sync_ctx sc = {.hooks = hooks};
    int64_t after = 0;
    memset(&rc, 0, sizeof(rc));
    if (out != NULL)
        *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((sc.rejects = json_array()) == NULL || (sc.alerts = json_array()) == NULL ||
        (sc.messages = json_array()) == NULL) {
        r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = state_load(c, &st)) != KW_OK || (r = prekeys_maintain(c, st, false)) != KW_OK)
        goto out;
    for (int rounds = 0; rounds < 1000; rounds++) {
        char path[64];
        json_t *resp = NULL, *ids = NULL;
        snprintf(path, sizeof(path), "/v1/msg/fetch/%lld", (long long)after);
        if ((r = kwc_http(c, "GET", path, NULL, true, &resp)) != KW_OK)
            goto out;
        json_t *list = json_object_get(resp, "messages");
        bool more = json_is_true(json_object_get(resp, "more"));
        if (!json_is_array(list) || (ids = json_array()) == NULL) {
            json_decref(resp);
            r = kwc_bad_answer(c, "msg fetch");
            goto out;
        }
        for (size_t i = 0; i < json_array_size(list) && r == KW_OK; i++) {
            json_t *it = json_array_get(list, i);
            uint8_t *env = NULL, sid[16];
            size_t elen = 0;
            uint64_t seq = 0;
            char sids[24];
            int action = ITEM_ACK;
            if (kwc_get_u64(it, "seq", &seq) != KW_OK || kwc_get_b64_fixed(it, "id", sid, 16) != KW_OK ||
                kwc_get_b64(it, "envelope", KW_ENVELOPE_MAXBYTES, &env, &elen) != KW_OK) {
                r = kwc_bad_answer(c, "msg fetch entry");
                break;
            }
            b64_16(sids, sid);
            if ((int64_t)seq > after)
                after = (int64_t)seq;
            r = process(c, &sc, st, &rc, env, elen, sids, &action);
            free(env);
            if (r == KW_OK && action == ITEM_ACK)
                json_array_append_new(ids, json_string(sids));
        }
        json_decref(resp);
        /* durable first (inbox files are; the seen ids now), then acknowledge */
        int r2 = st->dirty ? state_save(c, st) : KW_OK;
        if (r == KW_OK)
            r = r2;
        if (r == KW_OK && json_array_size(ids) > 0)
            r = ack(c, ids);
        json_decref(ids);
        if (r != KW_OK || !more)
            break;
    }
    if (r != KW_OK)
        goto out;
    if (out != NULL) {
        if ((*out = kwc_result(c)) == NULL) {
            r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
            goto out;
        }
        json_object_set_new(*out, "received", json_integer((json_int_t)sc.received));
        json_object_set_new(*out, "rejected", json_integer((json_int_t)sc.rejected));
        json_object_set_new(*out, "deferred", json_integer((json_int_t)sc.deferred));
        json_object_set(*out, "messages", sc.messages);
        json_object_set(*out, "rejects", sc.rejects);
        json_object_set(*out, "alerts", sc.alerts);
        const prekey_t *cur = prekey_current(st);
        if (cur != NULL)
            json_object_set_new(*out, "prekey_id", json_integer((json_int_t)cur->id));
    }
    r = KW_OK;
out:
    json_decref(sc.rejects);
    json_decref(sc.alerts);
    json_decref(sc.messages);
    cache_free(&rc);
    state_free(&st);
    return r;
}

int kw_client_msg_prekey_rotate(kw_client *c, json_t **out)
{
    mstate *st = NULL;
    int r;
    if (out != NULL)
        *out = NULL;
    if ((r = kwc_need_session(c)) != KW_OK)
        return r;
    if ((r = state_load(c, &st)) != KW_OK || (r = prekeys_maintain(c, st, true)) != KW_OK)
        goto out;
    if (out != NULL) {
        const prekey_t *cur = prekey_current(st);
        if ((*out = kwc_result(c)) == NULL) {
            r = kwc_fail(c, LOCAL, KW_ERR_NOMEM, "out of memory");
            goto out;
        }
        json_object_set_new(*out, "prekey_id", json_integer(cur != NULL ? (json_int_t)cur->id : 0));
    }
    r = KW_OK;
out:
    state_free(&st);
    return r;
}
