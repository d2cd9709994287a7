/*
 * Sign-in: OPAQUE login/start and login/finish with the second-factor table,
 * plus the per-server state the areas share (OPAQUE server, pending-login
 * key, rate limits).
 *
 * A pending login is exported from the OPAQUE server with what its finish
 * needs to check (its kind, account, start time, and for a password change
 * the session and the record it was made for), sealed under a key derived
 * from the server's code_key and bound to its login id, and parked in the
 * store for KW_SERVER_LOGIN_TTL seconds; the finish takes it out (deleting
 * it), so every login id finishes at most once, also on failure.
 *
 * login/start is counted per account name and per remote address (a wrong
 * password shows on the client after login/start, so the failed-finish
 * limits alone never see an offline-checked guess); a finish that proves the
 * password takes its start back (kw_api_rl_refund).
 * With srv->pending_logins_memory the sealed state is parked in a bounded
 * in-process table instead (same seal, same take-once rule, no durable
 * commit: two fewer fsyncs per sign-in; a restart drops pending logins, whose
 * clients then start over). Only for a single keywardd process per store.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/areas.h"
#include "api/seckeys.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/hkdf.h"
#include "keyward/sign.h"
#include "keyward/totp.h"

/* ---- per-server state ---- */

#define RL_SLOTS 1024 /* per kind */
#define RL_PROBES 8
#define RL_KEY_MAX 48

/* In-memory pending logins: open addressing over PL_SLOTS slots, probing
 * PL_PROBES from the slot the (random) login id picks. A full window with
 * no expired entry refuses the new login (KW_ERR_LIMIT): a flood of
 * login/start cannot evict the live logins of others. */
#define PL_SLOTS 65536u /* power of two */
#define PL_PROBES 32u
/* sealed plaintext: u8 kind ‖ u64 account_id ‖ u64 started_at ‖ remote hash[16] ‖
 * session_hash[32] ‖ record_hash[32] ‖ OPAQUE server login state */
#define PENDING_REMOTE_HASHBYTES 16
#define PENDING_PLAIN_BYTES                                                                        \
    (1 + 8 + 8 + PENDING_REMOTE_HASHBYTES + 2 * KW_STORE_HASH_BYTES + KW_OPAQUE_SERVER_LOGIN_STATEBYTES)
#define PL_SEALED_BYTES (PENDING_PLAIN_BYTES + KW_API_SEAL_OVERHEAD)

typedef struct {
    char key[RL_KEY_MAX];
    int64_t window_start;
    uint32_t count;
    bool used;
} rl_slot;

static const struct {
    uint32_t limit;
    int64_t window;
    const char *what;
} rl_rules[KW_RL_KINDS] = {
    [KW_RL_LOGIN_REMOTE] = {100, 900, "too many failed sign-ins from this address"},
    [KW_RL_LOGIN_ACCOUNT] = {20, 900, "too many failed sign-ins for this account"},
    [KW_RL_APPROVAL_FAIL] = {KW_SERVER_APPROVAL_ATTEMPTS, KW_SERVER_APPROVAL_TTL,
                             "too many wrong approval codes"},
    [KW_RL_TOTP_FAIL] = {10, 900, "too many wrong TOTP codes"},
    [KW_RL_APPROVAL_CREATE] = {10, KW_SERVER_APPROVAL_TTL, "too many approval codes requested"},
    /* starts not (yet) taken back by a finish that proved the password; the
     * account limit leaves room for a few dozen concurrent sign-ins of one
     * account (the server benchmark runs 32) */
    [KW_RL_START_ACCOUNT] = {40, 900, "too many sign-ins started for this account"},
    [KW_RL_START_REMOTE] = {300, 900, "too many sign-ins started from this address"},
};

typedef struct {
    uint8_t id[KW_STORE_ID_BYTES];
    int64_t account_id;
    int64_t expires_at;
    bool used;
    uint8_t sealed[PL_SEALED_BYTES];
} pl_slot;

struct kw_api_state {
    kw_opaque_server *opaque;
    pthread_mutex_t pl_lock;
    pl_slot *pl; /* PL_SLOTS, only with srv->pending_logins_memory */
    uint8_t *login_key; /* sodium_malloc'd, 32 bytes */
    uint8_t rl_hash_key[crypto_shorthash_KEYBYTES];
    pthread_mutex_t rl_lock;
    rl_slot *rl; /* KW_RL_KINDS * RL_SLOTS */
};

void kw_api_opaque_config(kw_opaque_config *cfg)
{
    kw_opaque_config_default(cfg, (const uint8_t *)KW_API_OPAQUE_CONTEXT,
                             sizeof(KW_API_OPAQUE_CONTEXT) - 1);
}

int kw_api_server_init(kw_server *srv)
{
    static const char salt[] = "keyward-login-state-v1";
    kw_opaque_config cfg;
    int r = KW_ERR_NOMEM;
    struct kw_api_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KW_ERR_NOMEM;
    pthread_mutex_init(&s->rl_lock, NULL);
    pthread_mutex_init(&s->pl_lock, NULL);
    s->rl = calloc((size_t)KW_RL_KINDS * RL_SLOTS, sizeof(rl_slot));
    s->login_key = sodium_malloc(32);
    if (s->rl == NULL || s->login_key == NULL)
        goto out;
    if (srv->pending_logins_memory && (s->pl = calloc(PL_SLOTS, sizeof(pl_slot))) == NULL)
        goto out;
    randombytes_buf(s->rl_hash_key, sizeof(s->rl_hash_key));
    if ((r = kw_hkdf_sha256(s->login_key, 32, (const uint8_t *)salt, sizeof(salt) - 1,
                            srv->keys->code_key, sizeof(srv->keys->code_key), NULL, 0)) != KW_OK)
        goto out;
    kw_api_opaque_config(&cfg);
    if ((r = kw_opaque_server_new(&s->opaque, &cfg, srv->keys->opaque_sk, srv->keys->opaque_pk,
                                  srv->keys->oprf_seed)) != KW_OK)
        goto out;
    srv->state = s;
    s = NULL;
    r = KW_OK;
out:
    if (s != NULL) { /* fini wipes and frees whatever was built */
        srv->state = s;
        kw_api_server_fini(srv);
    }
    return r;
}

void kw_api_server_fini(kw_server *srv)
{
    if (srv == NULL || srv->state == NULL)
        return;
    struct kw_api_state *s = srv->state;
    kw_opaque_server_free(&s->opaque);
    if (s->login_key != NULL)
        sodium_free(s->login_key);
    free(s->rl);
    if (s->pl != NULL) {
        sodium_memzero(s->pl, PL_SLOTS * sizeof(pl_slot));
        free(s->pl);
    }
    pthread_mutex_destroy(&s->rl_lock);
    pthread_mutex_destroy(&s->pl_lock);
    sodium_memzero(s, sizeof(*s));
    free(s);
    srv->state = NULL;
}

const kw_opaque_server *kw_api_opaque(const kw_server *srv)
{
    return srv->state->opaque;
}

int kw_api_login_seal(const kw_server *srv, uint8_t *sealed, const uint8_t *state, size_t len,
                      const uint8_t id[KW_STORE_ID_BYTES])
{
    randombytes_buf(sealed, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                               NULL, state, len, id, KW_STORE_ID_BYTES, NULL, sealed,
                                               srv->state->login_key);
    return KW_OK;
}

int kw_api_login_open(const kw_server *srv, uint8_t *state, const uint8_t *sealed, size_t sealed_len,
                      const uint8_t id[KW_STORE_ID_BYTES])
{
    if (sealed_len < KW_API_SEAL_OVERHEAD)
        return KW_ERR_VERIFY;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            state, NULL, NULL, sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            sealed_len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, id, KW_STORE_ID_BYTES, sealed,
            srv->state->login_key) != 0) {
        sodium_memzero(state, sealed_len - KW_API_SEAL_OVERHEAD);
        return KW_ERR_VERIFY;
    }
    return KW_OK;
}

/* ---- pending logins: the store, or the in-memory table ---- */

static size_t pl_start(const uint8_t id[KW_STORE_ID_BYTES])
{
    uint64_t h = 0;
    memcpy(&h, id, sizeof(h)); /* ids are 16 random bytes chosen by the server */
    return (size_t)(h & (PL_SLOTS - 1));
}

static int pending_put(kw_server *srv, const uint8_t id[KW_STORE_ID_BYTES], int64_t account_id,
                       const uint8_t *sealed, size_t len, int64_t expires_at)
{
    struct kw_api_state *s = srv->state;
    if (s->pl == NULL)
        return kw_store_login_put(srv->store, id, account_id, sealed, len, expires_at);
    if (len != PL_SEALED_BYTES)
        return KW_ERR_INVALID_ARG;
    int64_t now = kw_api_now(srv);
    size_t start = pl_start(id);
    int r = KW_ERR_LIMIT;
    pthread_mutex_lock(&s->pl_lock);
    for (size_t i = 0; i < PL_PROBES; i++) {
        pl_slot *e = &s->pl[(start + i) & (PL_SLOTS - 1)];
        if (e->used && now < e->expires_at)
            continue;
        memcpy(e->id, id, KW_STORE_ID_BYTES);
        e->account_id = account_id;
        e->expires_at = expires_at;
        memcpy(e->sealed, sealed, len);
        e->used = true;
        r = KW_OK;
        break;
    }
    pthread_mutex_unlock(&s->pl_lock);
    return r;
}

/* As kw_store_login_take: removes the entry (also an expired one, which is
 * refused with KW_ERR_NOT_FOUND); *sealed is malloc'd, wipe before free. */
static int pending_take(kw_server *srv, const uint8_t id[KW_STORE_ID_BYTES], int64_t now,
                        int64_t *account_id, uint8_t **sealed, size_t *len)
{
    struct kw_api_state *s = srv->state;
    if (s->pl == NULL)
        return kw_store_login_take(srv->store, id, now, account_id, sealed, len);
    uint8_t *copy = malloc(PL_SEALED_BYTES);
    if (copy == NULL)
        return KW_ERR_NOMEM;
    size_t start = pl_start(id);
    int r = KW_ERR_NOT_FOUND;
    pthread_mutex_lock(&s->pl_lock);
    for (size_t i = 0; i < PL_PROBES; i++) {
        pl_slot *e = &s->pl[(start + i) & (PL_SLOTS - 1)];
        if (!e->used || sodium_memcmp(e->id, id, KW_STORE_ID_BYTES) != 0)
            continue;
        if (now < e->expires_at) {
            memcpy(copy, e->sealed, PL_SEALED_BYTES);
            *account_id = e->account_id;
            r = KW_OK;
        }
        sodium_memzero(e, sizeof(*e));
        break;
    }
    pthread_mutex_unlock(&s->pl_lock);
    if (r != KW_OK) {
        free(copy);
        return r;
    }
    *sealed = copy;
    *len = PL_SEALED_BYTES;
    return KW_OK;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void remote_hash(uint8_t out[PENDING_REMOTE_HASHBYTES], const char *remote)
{
    const char *r = remote != NULL ? remote : "unknown";
    crypto_generichash(out, PENDING_REMOTE_HASHBYTES, (const uint8_t *)r, strlen(r), NULL, 0);
}

int kw_api_pending_put(kw_server *srv, kw_api_pending *p, const char *remote,
                       uint8_t id[KW_STORE_ID_BYTES])
{
    uint8_t plain[PENDING_PLAIN_BYTES], sealed[PL_SEALED_BYTES], *q = plain;
    int64_t now = kw_api_now(srv);
    int r;
    p->started_at = now;
    remote_hash(p->remote_hash, remote);
    *q++ = (uint8_t)p->kind;
    put64(q, (uint64_t)p->account_id);
    q += 8;
    put64(q, (uint64_t)p->started_at);
    q += 8;
    memcpy(q, p->remote_hash, PENDING_REMOTE_HASHBYTES);
    q += PENDING_REMOTE_HASHBYTES;
    memcpy(q, p->session_hash, KW_STORE_HASH_BYTES);
    q += KW_STORE_HASH_BYTES;
    memcpy(q, p->record_hash, KW_STORE_HASH_BYTES);
    q += KW_STORE_HASH_BYTES;
    if ((r = kw_opaque_server_login_export(q, p->login)) != KW_OK)
        goto out;
    randombytes_buf(id, KW_STORE_ID_BYTES);
    kw_api_login_seal(srv, sealed, plain, sizeof(plain), id);
    r = pending_put(srv, id, p->account_id, sealed, sizeof(sealed), now + KW_SERVER_LOGIN_TTL);
out:
    sodium_memzero(plain, sizeof(plain));
    return r;
}

int kw_api_pending_take(kw_server *srv, const uint8_t id[KW_STORE_ID_BYTES], kw_api_pending *p)
{
    uint8_t *sealed = NULL, plain[PENDING_PLAIN_BYTES];
    const uint8_t *q = plain;
    size_t sealed_len = 0;
    int64_t stored_account = 0;
    memset(p, 0, sizeof(*p));
    int r = pending_take(srv, id, kw_api_now(srv), &stored_account, &sealed, &sealed_len);
    if (r != KW_OK)
        return r;
    if (sealed_len != sizeof(plain) + KW_API_SEAL_OVERHEAD ||
        kw_api_login_open(srv, plain, sealed, sealed_len, id) != KW_OK) {
        fprintf(stderr, "level=error event=login_state_unreadable\n");
        r = KW_ERR_INTERNAL;
        goto out;
    }
    p->kind = *q++;
    p->account_id = (int64_t)get64(q);
    q += 8;
    p->started_at = (int64_t)get64(q);
    q += 8;
    memcpy(p->remote_hash, q, PENDING_REMOTE_HASHBYTES);
    q += PENDING_REMOTE_HASHBYTES;
    memcpy(p->session_hash, q, KW_STORE_HASH_BYTES);
    q += KW_STORE_HASH_BYTES;
    memcpy(p->record_hash, q, KW_STORE_HASH_BYTES);
    q += KW_STORE_HASH_BYTES;
    if (p->account_id != stored_account ||
        kw_opaque_server_login_import(&p->login, q, KW_OPAQUE_SERVER_LOGIN_STATEBYTES) != KW_OK) {
        fprintf(stderr, "level=error event=login_state_unreadable\n");
        r = KW_ERR_INTERNAL;
        goto out;
    }
    r = KW_OK;
out:
    if (r != KW_OK)
        kw_api_pending_clear(p);
    sodium_memzero(plain, sizeof(plain));
    sodium_memzero(sealed, sealed_len);
    free(sealed);
    return r;
}

void kw_api_pending_clear(kw_api_pending *p)
{
    kw_opaque_server_login_free(&p->login);
    sodium_memzero(p, sizeof(*p));
}

/* ---- rate limits ---- */

/* Finds the key's slot (or a free / stale / oldest one to take over) among
 * RL_PROBES slots after its keyed hash; called with the lock held. */
static rl_slot *rl_find(struct kw_api_state *s, kw_rl_kind kind, const char *key, int64_t now,
                        bool *found)
{
    uint8_t h[crypto_shorthash_BYTES];
    size_t klen = strnlen(key, RL_KEY_MAX - 1);
    crypto_shorthash(h, (const uint8_t *)key, klen, s->rl_hash_key);
    uint64_t start = 0;
    memcpy(&start, h, sizeof(start));
    rl_slot *base = s->rl + (size_t)kind * RL_SLOTS, *victim = NULL;
    int64_t victim_rank = INT64_MAX;
    *found = false;
    for (size_t i = 0; i < RL_PROBES; i++) {
        rl_slot *e = &base[(start + i) % RL_SLOTS];
        if (e->used && strncmp(e->key, key, RL_KEY_MAX - 1) == 0 && strlen(e->key) == klen) {
            *found = true;
            return e;
        }
        int64_t rank = (!e->used || now - e->window_start >= rl_rules[kind].window) ? INT64_MIN
                                                                                     : e->window_start;
        if (victim == NULL || rank < victim_rank) {
            victim = e;
            victim_rank = rank;
        }
    }
    return victim;
}

int kw_api_rl_check(kw_server *srv, kw_http_resp *resp, kw_rl_kind kind, const char *key)
{
    struct kw_api_state *s = srv->state;
    int64_t now = kw_api_now(srv);
    bool found;
    int r = KW_OK;
    pthread_mutex_lock(&s->rl_lock);
    rl_slot *e = rl_find(s, kind, key, now, &found);
    if (found && now - e->window_start < rl_rules[kind].window && e->count >= rl_rules[kind].limit)
        r = KW_ERR_LIMIT;
    pthread_mutex_unlock(&s->rl_lock);
    if (r != KW_OK)
        return kw_http_fail(resp, r, "%s; try again later", rl_rules[kind].what);
    return KW_OK;
}

void kw_api_rl_hit(kw_server *srv, kw_rl_kind kind, const char *key)
{
    struct kw_api_state *s = srv->state;
    int64_t now = kw_api_now(srv);
    bool found;
    pthread_mutex_lock(&s->rl_lock);
    rl_slot *e = rl_find(s, kind, key, now, &found);
    if (!found || now - e->window_start >= rl_rules[kind].window) {
        memset(e, 0, sizeof(*e));
        snprintf(e->key, sizeof(e->key), "%s", key);
        e->used = true;
        e->window_start = now;
    }
    if (e->count < UINT32_MAX)
        e->count++;
    pthread_mutex_unlock(&s->rl_lock);
}

void kw_api_rl_account_key(char out[24], int64_t account_id)
{
    snprintf(out, 24, "a%lld", (long long)account_id);
}

void kw_api_rl_refund(kw_server *srv, kw_rl_kind kind, const char *key, int64_t since)
{
    struct kw_api_state *s = srv->state;
    int64_t now = kw_api_now(srv);
    bool found;
    pthread_mutex_lock(&s->rl_lock);
    rl_slot *e = rl_find(s, kind, key, now, &found);
    /* only a count made in the current window: a start from an earlier
     * window was already forgotten with it */
    if (found && now - e->window_start < rl_rules[kind].window && e->window_start <= since &&
        e->count > 0)
        e->count--;
    pthread_mutex_unlock(&s->rl_lock);
}

void kw_api_rl_name_key(char out[KW_API_RL_NAME_KEYBYTES], const char *name)
{
    uint8_t h[16];
    crypto_generichash(h, sizeof(h), (const uint8_t *)name, strlen(name), NULL, 0);
    out[0] = 'n';
    sodium_bin2hex(out + 1, KW_API_RL_NAME_KEYBYTES - 1, h, sizeof(h));
}

int kw_api_start_limit(kw_server *srv, kw_http_resp *resp, const char *name, const char *remote)
{
    char key[KW_API_RL_NAME_KEYBYTES];
    const char *addr = remote != NULL ? remote : "unknown";
    kw_api_rl_name_key(key, name);
    int r;
    if ((r = kw_api_rl_check(srv, resp, KW_RL_START_REMOTE, addr)) != KW_OK ||
        (r = kw_api_rl_check(srv, resp, KW_RL_START_ACCOUNT, key)) != KW_OK)
        return r;
    kw_api_rl_hit(srv, KW_RL_START_REMOTE, addr);
    kw_api_rl_hit(srv, KW_RL_START_ACCOUNT, key);
    return KW_OK;
}

void kw_api_start_refund(kw_server *srv, const kw_api_pending *p, const char *name,
                         const char *remote)
{
    char key[KW_API_RL_NAME_KEYBYTES];
    uint8_t rh[PENDING_REMOTE_HASHBYTES];
    const char *addr = remote != NULL ? remote : "unknown";
    kw_api_rl_name_key(key, name);
    kw_api_rl_refund(srv, KW_RL_START_ACCOUNT, key, p->started_at);
    remote_hash(rh, addr);
    if (sodium_memcmp(rh, p->remote_hash, sizeof(rh)) == 0)
        kw_api_rl_refund(srv, KW_RL_START_REMOTE, addr, p->started_at);
}

/* ---- second factors ---- */

typedef struct {
    kw_server *srv;
    kw_http_req *req;
    const kw_store_account *account;
    const uint8_t *login_id;
    json_t *factor;
} factor_ctx;

typedef struct {
    const char *type;
    const char *const *fields;               /* allowed fields, "type" included */
    bool (*exclusive)(const factor_ctx *c);  /* true: every other factor is off for the account */
    int (*verify)(const factor_ctx *c, kw_http_resp *resp);
} factor_verifier;

static int factor_approval(const factor_ctx *c, kw_http_resp *resp)
{
    char key[24], code[KW_API_CODE_DIGITS + 1];
    uint8_t hash[KW_STORE_HASH_BYTES];
    kw_api_rl_account_key(key, c->account->id);
    int r = kw_api_rl_check(c->srv, resp, KW_RL_APPROVAL_FAIL, key);
    if (r != KW_OK)
        return r;
    if ((r = kw_api_get_code(resp, c->factor, "code", code)) != KW_OK)
        return r;
    kw_api_approval_hash(c->srv, c->account->id, code, hash);
    r = kw_store_approval_use(c->srv->store, c->account->id, hash, kw_api_now(c->srv));
    sodium_memzero(code, sizeof(code));
    sodium_memzero(hash, sizeof(hash));
    if (r == KW_ERR_VERIFY || r == KW_ERR_NOT_FOUND) {
        kw_api_rl_hit(c->srv, KW_RL_APPROVAL_FAIL, key);
        return kw_http_fail(resp, KW_ERR_VERIFY, "wrong, expired or used approval code");
    }
    return r == KW_OK ? KW_OK : kw_api_store_fail(resp, r, "approval code");
}

static int factor_totp(const factor_ctx *c, kw_http_resp *resp)
{
    char key[24], code[KW_API_CODE_DIGITS + 1];
    uint8_t secret[KW_TOTP_SECRET_MAX];
    size_t slen = 0;
    uint64_t step = 0;
    int r;
    if (c->account->totp_secret == NULL)
        return kw_http_fail(resp, KW_ERR_VERIFY, "TOTP is not enabled for this account");
    kw_api_rl_account_key(key, c->account->id);
    if ((r = kw_api_rl_check(c->srv, resp, KW_RL_TOTP_FAIL, key)) != KW_OK)
        return r;
    if ((r = kw_api_get_code(resp, c->factor, "code", code)) != KW_OK)
        return r;
    if (kw_api_totp_open(c->srv, c->account->id, secret, &slen, c->account->totp_secret,
                         c->account->totp_secret_len) != KW_OK) {
        fprintf(stderr, "level=error event=totp_secret_unreadable account=%lld\n",
                (long long)c->account->id);
        r = KW_ERR_INTERNAL;
        goto out;
    }
    r = kw_totp_verify(&step, KW_TOTP_SHA1, secret, slen, (uint32_t)strtoul(code, NULL, 10),
                       (uint64_t)kw_api_now(c->srv), KW_TOTP_DEFAULT_PERIOD, KW_TOTP_DEFAULT_DIGITS, 1);
    if (r != KW_OK) {
        kw_api_rl_hit(c->srv, KW_RL_TOTP_FAIL, key);
        r = kw_http_fail(resp, KW_ERR_VERIFY, "wrong TOTP code");
        goto out;
    }
    r = kw_store_account_use_totp_step(c->srv->store, c->account->id, (int64_t)step);
    if (r == KW_ERR_CONFLICT) {
        kw_api_rl_hit(c->srv, KW_RL_TOTP_FAIL, key);
        r = kw_http_fail(resp, KW_ERR_VERIFY, "this TOTP code was already used");
    } else if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "TOTP step");
    }
out:
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(code, sizeof(code));
    return r;
}

/* The security-key policy of the account; a store failure counts as on, so
 * that the weaker factors are never let through by an error. */
static bool factor_seckey_exclusive(const factor_ctx *c)
{
    bool on = false;
    return kw_api_seckey_required(c->srv, c->account->id, &on) != KW_OK || on;
}

static int factor_seckey(const factor_ctx *c, kw_http_resp *resp)
{
    json_t *a = json_object_get(c->factor, "assertion");
    if (a == NULL)
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'assertion' is missing");
    int r = kw_api_seckey_verify(c->srv, resp, c->account->id, KW_STORE_SECKEY_OP_LOGIN, a, NULL);
    if (r == KW_ERR_VERIFY) { /* counted like a wrong code */
        char key[24];
        kw_api_rl_account_key(key, c->account->id);
        kw_api_rl_hit(c->srv, KW_RL_LOGIN_ACCOUNT, key);
    }
    return r;
}

static int factor_recovery(const factor_ctx *c, kw_http_resp *resp)
{
    /* with security keys required, the recovery key comes with an assertion
     * (login challenge), checked first */
    if (json_object_get(c->factor, "assertion") != NULL) {
        int rs = factor_seckey(c, resp);
        if (rs != KW_OK)
            return rs;
    }
    uint8_t proof[crypto_auth_hmacsha256_BYTES], want[crypto_auth_hmacsha256_BYTES], auth[32];
    uint8_t *wrap = NULL;
    size_t wrap_len = 0;
    int64_t gen = 0;
    char key[24];
    kw_api_rl_account_key(key, c->account->id);
    int r = kw_api_get_b64_fixed(resp, c->factor, "proof", proof, sizeof(proof));
    if (r != KW_OK)
        return r;
    r = kw_store_recovery_get(c->srv->store, c->account->id, &gen, &wrap, &wrap_len, auth);
    free(wrap);
    if (r == KW_ERR_NOT_FOUND)
        return kw_http_fail(resp, KW_ERR_VERIFY, "the account has no recovery key");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "recovery key");
    crypto_auth_hmacsha256(want, c->login_id, KW_STORE_ID_BYTES, auth);
    bool ok = kw_ct_equal(want, proof, sizeof(want));
    sodium_memzero(auth, sizeof(auth));
    sodium_memzero(want, sizeof(want));
    if (!ok) {
        kw_api_rl_hit(c->srv, KW_RL_LOGIN_ACCOUNT, key);
        return kw_http_fail(resp, KW_ERR_VERIFY, "wrong recovery proof");
    }
    return KW_OK;
}

static const char *const code_fields[] = {"type", "code", NULL};
static const char *const proof_fields[] = {"type", "proof", "assertion", NULL};
static const char *const seckey_fields[] = {"type", "assertion", NULL};

/* The factors a new device may present. The security key's `exclusive`
 * hook (the account's policy: on only with at least two keys) turns the
 * others off for that account; the recovery key then still works, but only
 * together with an assertion (factor_recovery). */
static const factor_verifier factors[] = {
    {"security_key", seckey_fields, factor_seckey_exclusive, factor_seckey},
    {"approval", code_fields, NULL, factor_approval},
    {"totp", code_fields, NULL, factor_totp},
    {"recovery", proof_fields, NULL, factor_recovery},
};

static int factor_check(const factor_ctx *c, kw_http_resp *resp)
{
    const char *type;
    if (c->factor == NULL)
        return kw_http_fail(resp, KW_ERR_VERIFY, "second factor required");
    if (!json_is_object(c->factor))
        return kw_http_fail(resp, KW_ERR_FORMAT, "field 'factor' must be an object");
    int r = kw_api_get_str(resp, c->factor, "type", 32, &type);
    if (r != KW_OK)
        return r;
    const factor_verifier *f = NULL, *excl = NULL;
    for (size_t i = 0; i < sizeof(factors) / sizeof(factors[0]); i++) {
        if (strcmp(factors[i].type, type) == 0)
            f = &factors[i];
        if (excl == NULL && factors[i].exclusive != NULL && factors[i].exclusive(c))
            excl = &factors[i];
    }
    if (f == NULL)
        return kw_http_fail(resp, KW_ERR_FORMAT, "unknown factor type");
    if ((r = kw_api_only_fields(resp, c->factor, f->fields)) != KW_OK)
        return r;
    bool recovery_with_key =
        f->verify == factor_recovery && json_object_get(c->factor, "assertion") != NULL;
    if (excl != NULL && excl != f && !recovery_with_key)
        return kw_http_fail(resp, KW_ERR_VERIFY, "the account requires a %s factor", excl->type);
    return f->verify(c, resp);
}

/* With security keys required and no assertion in the factor (none given,
 * or the recovery key alone): the password is proven, so the answer is a
 * login challenge instead of a session; the client signs in again with it. */
static bool needs_seckey(const factor_ctx *c)
{
    if (!factor_seckey_exclusive(c))
        return false;
    if (c->factor == NULL)
        return true;
    const char *type = json_string_value(json_object_get(c->factor, "type"));
    return type != NULL && strcmp(type, "recovery") == 0 &&
           json_object_get(c->factor, "assertion") == NULL;
}

static int seckey_step(kw_server *srv, kw_http_resp *resp, int64_t account_id)
{
    json_t *opts = NULL;
    int r = kw_api_seckey_challenge(srv, account_id, KW_STORE_SECKEY_OP_LOGIN, &opts);
    if (r == KW_ERR_LIMIT)
        return kw_http_fail(resp, KW_ERR_LIMIT, "too many security key challenges; try again later");
    if (r != KW_OK)
        return kw_api_store_fail(resp, r, "security key challenge");
    json_t *out = json_pack("{s:b,s:s,s:o}", "needs_factor", 1, "factor", "security_key",
                            "publicKey", opts);
    if (out == NULL)
        return KW_ERR_NOMEM;
    kw_http_json(resp, 200, out);
    return KW_OK;
}

/* ---- handlers ---- */

int kw_api_login_begin(kw_http_req *req, kw_http_resp *resp, const kw_opaque_server *os, int kind,
                       const char *log_event)
{
    static const char *const fields[] = {"name", "ke1", NULL};
    kw_server *srv = req->app;
    kw_store_account acct = {0};
    kw_api_pending p = {0};
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES], id[KW_STORE_ID_BYTES];
    const char *name;
    json_t *out = NULL;
    int r;
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_str(resp, req->body, "name", KW_STORE_NAME_MAX, &name)) != KW_OK ||
        (r = kw_api_check_name(resp, name)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "ke1", ke1, sizeof(ke1))) != KW_OK)
        return r;
    /* counted by name, known or not: the limit tells nothing about which
     * names exist */
    if ((r = kw_api_start_limit(srv, resp, name, req->remote)) != KW_OK)
        return r;
    r = kw_store_account_get_by_name(srv->store, name, &acct);
    if (r != KW_OK && r != KW_ERR_NOT_FOUND)
        return kw_api_store_fail(resp, r, "account");
    bool known = r == KW_OK;
    r = kw_opaque_server_ke2(os, &p.login, ke2, known ? acct.opaque_record : NULL,
                             known ? acct.opaque_record_len : 0, (const uint8_t *)name, strlen(name),
                             ke1, sizeof(ke1), NULL);
    if (r == KW_ERR_FORMAT || r == KW_ERR_TRUNCATED || r == KW_ERR_CRYPTO || r == KW_ERR_TOO_LARGE) {
        r = kw_http_fail(resp, KW_ERR_FORMAT, "ke1 is not a valid KE1");
        goto out;
    }
    if (r != KW_OK) {
        fprintf(stderr, "level=error event=%s error=%s\n", log_event, kw_errname(r));
        r = KW_ERR_INTERNAL;
        goto out;
    }
    p.kind = kind;
    p.account_id = known ? acct.id : 0;
    r = kw_api_pending_put(srv, &p, req->remote, id);
    if (r == KW_ERR_LIMIT) {
        r = kw_http_fail(resp, KW_ERR_LIMIT, "too many sign-ins in progress; try again later");
        goto out;
    }
    if (r != KW_OK) {
        r = kw_api_store_fail(resp, r, "pending login");
        goto out;
    }
    out = json_object();
    if (out == NULL || kw_api_put_b64(out, "login_id", id, sizeof(id)) != KW_OK ||
        kw_api_put_b64(out, "ke2", ke2, sizeof(ke2)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    kw_api_pending_clear(&p);
    kw_store_account_clear(&acct);
    return r;
}

static int login_start(kw_http_req *req, kw_http_resp *resp)
{
    return kw_api_login_begin(req, resp, kw_api_opaque(req->app), KW_API_PENDING_LOGIN, "opaque_ke2");
}

int kw_api_login_verify(kw_server *srv, kw_http_resp *resp, const uint8_t id[KW_STORE_ID_BYTES],
                        const uint8_t ke3[KW_OPAQUE_KE3BYTES], const char *remote, int kind,
                        const char *fail_msg, kw_api_pending *p)
{
    uint8_t session_key[KW_OPAQUE_SESSION_KEYBYTES];
    char key[24];
    int r = kw_api_pending_take(srv, id, p);
    if (r == KW_OK && p->kind != kind) {
        kw_api_pending_clear(p);
        r = KW_ERR_NOT_FOUND;
    }
    if (r == KW_ERR_NOT_FOUND) {
        kw_api_rl_hit(srv, KW_RL_LOGIN_REMOTE, remote);
        return kw_http_fail(resp, KW_ERR_VERIFY, "sign-in failed: unknown, expired or used login");
    }
    if (r != KW_OK)
        return r == KW_ERR_INTERNAL ? r : kw_api_store_fail(resp, r, "pending login");
    if (p->account_id != 0) {
        kw_api_rl_account_key(key, p->account_id);
        if ((r = kw_api_rl_check(srv, resp, KW_RL_LOGIN_ACCOUNT, key)) != KW_OK)
            goto out;
    }
    /* an unknown name (fake KE2) never signs in, whatever KE3 says */
    if (kw_opaque_server_finish(p->login, session_key, ke3, KW_OPAQUE_KE3BYTES) != KW_OK ||
        p->account_id == 0) {
        kw_api_rl_hit(srv, KW_RL_LOGIN_REMOTE, remote);
        if (p->account_id != 0)
            kw_api_rl_hit(srv, KW_RL_LOGIN_ACCOUNT, key);
        r = kw_http_fail(resp, KW_ERR_VERIFY, "%s", fail_msg);
        goto out;
    }
    r = KW_OK;
out:
    if (r != KW_OK)
        kw_api_pending_clear(p);
    sodium_memzero(session_key, sizeof(session_key));
    return r;
}

static int login_finish(kw_http_req *req, kw_http_resp *resp)
{
    static const char *const fields[] = {"login_id", "ke3", "device", "device_sig", "factor", NULL};
    kw_server *srv = req->app;
    uint8_t id[KW_STORE_ID_BYTES], ke3[KW_OPAQUE_KE3BYTES], sig[KW_SIGN_BYTES];
    uint8_t msg[2 * KW_STORE_ID_BYTES];
    kw_store_device dev = {0}, known = {0};
    kw_store_account acct = {0};
    kw_api_pending pending = {0};
    int64_t expires_at = 0;
    char token[64] = {0};
    json_t *out = NULL;
    int r;
    const char *remote = req->remote != NULL ? req->remote : "unknown";
    if ((r = kw_api_only_fields(resp, req->body, fields)) != KW_OK ||
        (r = kw_api_get_id(resp, req->body, "login_id", id)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "ke3", ke3, sizeof(ke3))) != KW_OK ||
        (r = kw_api_get_device(resp, req->body, "device", &dev)) != KW_OK ||
        (r = kw_api_get_b64_fixed(resp, req->body, "device_sig", sig, sizeof(sig))) != KW_OK)
        return r;
    if ((r = kw_api_rl_check(srv, resp, KW_RL_LOGIN_REMOTE, remote)) != KW_OK)
        return r;
    if ((r = kw_api_login_verify(srv, resp, id, ke3, remote, KW_API_PENDING_LOGIN, "sign-in failed",
                                   &pending)) != KW_OK)
        return r;
    if ((r = kw_store_account_get(srv->store, pending.account_id, &acct)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "account");
        goto out;
    }
    /* the password is proven: this start no longer counts against the limits */
    kw_api_start_refund(srv, &pending, acct.name, req->remote);
    memcpy(msg, id, KW_STORE_ID_BYTES);
    memcpy(msg + KW_STORE_ID_BYTES, dev.id, KW_STORE_ID_BYTES);
    if (kw_sign_verify(sig, dev.identity_pk, (const uint8_t *)KW_API_LOGIN_SIG_CONTEXT,
                       sizeof(KW_API_LOGIN_SIG_CONTEXT) - 1, msg, sizeof(msg)) != KW_OK) {
        r = kw_http_fail(resp, KW_ERR_VERIFY, "device signature does not verify");
        goto out;
    }
    r = kw_store_device_get(srv->store, dev.id, &known);
    if (r == KW_OK) {
        if (known.account_id != acct.id) {
            r = kw_http_fail(resp, KW_ERR_CONFLICT, "device id belongs to another account");
            goto out;
        }
        if (known.state == KW_DEVICE_REMOVED) {
            r = kw_http_fail(resp, KW_ERR_VERIFY, "device removed");
            goto out;
        }
        bool queued = false;
        if ((r = kw_api_web_device_blocked(srv, known.id, &queued)) != KW_OK || queued) {
            r = queued ? kw_http_fail(resp, KW_ERR_VERIFY, "removal of this device was requested from the web page")
                       : kw_api_store_fail(resp, r, "device removals");
            goto out;
        }
        if (!kw_ct_equal(known.identity_pk, dev.identity_pk, 32) ||
            !kw_ct_equal(known.hpke_pk, dev.hpke_pk, 32)) {
            r = kw_http_fail(resp, KW_ERR_CONFLICT, "device id is known with other keys");
            goto out;
        }
        /* a device still pending is not yet one of the account's devices:
         * with security keys required it signs in as a new device does
         * (it may have been let in by a code before the policy was on) */
        factor_ctx pc = {srv, req, &acct, id, json_object_get(req->body, "factor")};
        if (known.state == KW_DEVICE_PENDING && factor_seckey_exclusive(&pc)) {
            if (needs_seckey(&pc)) {
                r = seckey_step(srv, resp, acct.id);
                goto out;
            }
            if ((r = factor_check(&pc, resp)) != KW_OK)
                goto out;
        }
        dev = known;
    } else if (r == KW_ERR_NOT_FOUND) {
        factor_ctx fc = {srv, req, &acct, id, json_object_get(req->body, "factor")};
        if (needs_seckey(&fc)) {
            r = seckey_step(srv, resp, acct.id);
            goto out;
        }
        if ((r = factor_check(&fc, resp)) != KW_OK)
            goto out;
        dev.account_id = acct.id;
        dev.created_at = dev.last_seen_at = kw_api_now(srv);
        dev.state = KW_DEVICE_PENDING;
        r = kw_store_device_add(srv->store, &dev);
        if (r == KW_ERR_CONFLICT) {
            r = kw_http_fail(resp, KW_ERR_CONFLICT, "device id or identity key already registered");
            goto out;
        }
        if (r != KW_OK) {
            r = kw_api_store_fail(resp, r, "device");
            goto out;
        }
    } else {
        r = kw_api_store_fail(resp, r, "device");
        goto out;
    }
    if ((r = kw_api_session_create(srv, acct.id, dev.id, token, &expires_at)) != KW_OK) {
        r = kw_api_store_fail(resp, r, "session");
        goto out;
    }
    out = json_pack("{s:s,s:I,s:s,s:b}", "token", token, "expires_at", (json_int_t)expires_at,
                    "device_state", kw_api_device_state_name(dev.state), "needs_factor", 0);
    if (out == NULL || kw_api_put_b64(out, "device_id", dev.id, sizeof(dev.id)) != KW_OK) {
        r = KW_ERR_NOMEM;
        goto out;
    }
    kw_http_json(resp, 200, out);
    out = NULL;
    r = KW_OK;
out:
    json_decref(out);
    sodium_memzero(token, sizeof(token));
    kw_api_pending_clear(&pending);
    kw_store_account_clear(&acct);
    return r;
}

const kw_http_route kw_api_login_routes[] = {
    {"POST", "/v1/login/start", login_start, 0},
    {"POST", "/v1/login/finish", login_finish, 0},
};
const size_t kw_api_login_nroutes = sizeof(kw_api_login_routes) / sizeof(kw_api_login_routes[0]);
