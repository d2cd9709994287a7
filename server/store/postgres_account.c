/*
 * server/store/postgres_account.c — PostgreSQL backend: accounts, devices,
 * rosters, keychain, KK generations/wraps/chain and the recovery wrap.
 *
 * Each operation is a body run by pg_run_txn. Isolation per operation:
 * - single statements (gets, set_opaque/set_totp, the TOTP step and device
 *   touch as conditional UPDATEs) run in autocommit: one statement is
 *   atomic on its own;
 * - account_create is inserts only (READ COMMITTED; the unique keys decide
 *   conflicts);
 * - roster_apply reads, checks and writes several tables: it runs
 *   SERIALIZABLE and first locks the account row (FOR UPDATE) so that
 *   changes of one account queue up instead of aborting each other; a
 *   serialization failure re-runs it from the start.
 * Arguments were already checked by store.c.
 */
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/postgres_internal.h"

#define I64(x) ((int64_t)(x))

#define ACC_COLS "id, name, opaque_record, account_pk, totp_secret, totp_last_step, created_at"
#define DEV_COLS "id, account_id, name, identity_pk, hpke_pk, state, created_at, last_seen_at"

static const char SQL_ACC_INSERT[] =
    "INSERT INTO accounts (name, opaque_record, account_pk, totp_last_step, created_at)"
    " VALUES ($1, $2, $3, 0, $4) RETURNING id";
static const char SQL_ACC_BY_NAME[] = "SELECT " ACC_COLS " FROM accounts WHERE name = $1";
static const char SQL_ACC_BY_ID[] = "SELECT " ACC_COLS " FROM accounts WHERE id = $1";
static const char SQL_ACC_LOCK[] = "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE";
static const char SQL_ACC_EXISTS[] = "SELECT 1 FROM accounts WHERE id = $1";
static const char SQL_ACC_SET_OPAQUE[] = "UPDATE accounts SET opaque_record = $1 WHERE id = $2";
static const char SQL_ACC_SET_TOTP[] = "UPDATE accounts SET totp_secret = $1 WHERE id = $2";
static const char SQL_ACC_USE_STEP[] =
    "UPDATE accounts SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2";

static const char SQL_DEV_INSERT[] =
    "INSERT INTO devices (" DEV_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
static const char SQL_DEV_GET[] = "SELECT " DEV_COLS " FROM devices WHERE id = $1";
static const char SQL_DEV_LIST[] =
    "SELECT " DEV_COLS " FROM devices WHERE account_id = $1 ORDER BY created_at, seq";
static const char SQL_DEV_TOUCH[] =
    "UPDATE devices SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2";
static const char SQL_DEV_STATE[] = "SELECT state FROM devices WHERE id = $1 AND account_id = $2";
static const char SQL_DEV_SET_STATE[] = "UPDATE devices SET state = $1 WHERE id = $2 AND account_id = $3";
static const char SQL_DEV_UNWRAPPED[] =
    "SELECT count(*) FROM devices AS d WHERE d.account_id = $1 AND d.state = 1"
    " AND NOT EXISTS (SELECT 1 FROM kk_wraps AS w WHERE w.account_id = $1"
    " AND w.generation = $2 AND w.device_id = d.id)";

static const char SQL_ROSTER_INSERT[] = "INSERT INTO rosters (account_id, version, roster) VALUES ($1, $2, $3)";
static const char SQL_ROSTER_CUR[] = "SELECT coalesce(max(version), 0) FROM rosters WHERE account_id = $1";
static const char SQL_ROSTER_LATEST[] =
    "SELECT version, roster FROM rosters WHERE account_id = $1 ORDER BY version DESC LIMIT 1";
static const char SQL_ROSTER_GET[] = "SELECT roster FROM rosters WHERE account_id = $1 AND version = $2";
static const char SQL_KC_INSERT[] = "INSERT INTO keychains (account_id, version, keychain) VALUES ($1, $2, $3)";
static const char SQL_KC_GET[] = "SELECT version, keychain FROM keychains WHERE account_id = $1";
static const char SQL_KC_CAS[] = "UPDATE keychains SET version = $2, keychain = $3"
                                 " WHERE account_id = $1 AND version = $2 - 1";
static const char SQL_KK_CUR[] =
    "SELECT coalesce(max(generation), 0) FROM kk_generations WHERE account_id = $1";
static const char SQL_KK_INSERT[] =
    "INSERT INTO kk_generations (account_id, generation, chain) VALUES ($1, $2, $3)";
static const char SQL_KK_CHAIN[] = "SELECT chain FROM kk_generations WHERE account_id = $1"
                                   " AND generation = $2 AND chain IS NOT NULL";
static const char SQL_WRAP_INSERT[] =
    "INSERT INTO kk_wraps (account_id, generation, device_id, wrap) VALUES ($1, $2, $3, $4)";
static const char SQL_WRAP_GET[] =
    "SELECT w.generation, w.wrap FROM kk_wraps AS w"
    " WHERE w.account_id = $1 AND w.device_id = $2 AND w.generation ="
    " (SELECT max(generation) FROM kk_generations WHERE account_id = $1)";
static const char SQL_WRAP_DEL_DEVICE[] = "DELETE FROM kk_wraps WHERE device_id = $1";
static const char SQL_REC_GET[] = "SELECT generation, wrap, auth FROM recovery WHERE account_id = $1";
static const char SQL_REC_UPSERT[] =
    "INSERT INTO recovery (account_id, generation, wrap, auth) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (account_id) DO UPDATE SET generation = excluded.generation,"
    " wrap = excluded.wrap, auth = excluded.auth";
static const char SQL_REC_SET_WRAP[] = "UPDATE recovery SET generation = $2, wrap = $3 WHERE account_id = $1";
static const char SQL_SES_INSERT[] =
    "INSERT INTO sessions (hash, account_id, device_id, created_at, expires_at, revoked)"
    " VALUES ($1, $2, $3, $4, $5, $6)";
static const char SQL_SES_REVOKE_DEV[] = "UPDATE sessions SET revoked = 1 WHERE device_id = $1";

/* ---- row readers ---- */

static int read_account(const PGresult *res, kw_store_account *out)
{
    int r;
    out->id = pg_col_i64(res, 0, 0);
    pg_col_text(res, 0, 1, out->name, sizeof(out->name));
    if ((r = pg_col_dup(res, 0, 2, &out->opaque_record, &out->opaque_record_len)) != KW_OK)
        goto out;
    pg_col_fixed(res, 0, 3, out->account_pk, sizeof(out->account_pk));
    if (!pg_col_null(res, 0, 4) && (r = pg_col_dup(res, 0, 4, &out->totp_secret, &out->totp_secret_len)) != KW_OK)
        goto out;
    out->totp_last_step = pg_col_i64(res, 0, 5);
    out->created_at = pg_col_i64(res, 0, 6);
    r = KW_OK;
out:
    if (r != KW_OK) {
        kw_store_account_clear(out);
        memset(out, 0, sizeof(*out));
    }
    return r;
}

static void read_device(const PGresult *res, int row, kw_store_device *out)
{
    memset(out, 0, sizeof(*out));
    pg_col_fixed(res, row, 0, out->id, sizeof(out->id));
    out->account_id = pg_col_i64(res, row, 1);
    pg_col_text(res, row, 2, out->name, sizeof(out->name));
    pg_col_fixed(res, row, 3, out->identity_pk, sizeof(out->identity_pk));
    pg_col_fixed(res, row, 4, out->hpke_pk, sizeof(out->hpke_pk));
    out->state = (int)pg_col_i64(res, row, 5);
    out->created_at = pg_col_i64(res, row, 6);
    out->last_seen_at = pg_col_i64(res, row, 7);
}

static int insert_device(pg_ctx *x, const kw_store_device *d, int64_t account_id, int state)
{
    return pg_q(x, SQL_DEV_INSERT, NULL, NULL, "IitHHiii", d->id, account_id, d->name, d->identity_pk,
                d->hpke_pk, I64(state), d->created_at, d->last_seen_at);
}

/* ---- accounts ---- */

typedef struct {
    const kw_store_new_account *na;
    int64_t id;
} create_arg;

static int create_body(pg_ctx *x, void *p)
{
    create_arg *a = p;
    const kw_store_new_account *na = a->na;
    const kw_store_device *d = na->device;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_ACC_INSERT, &res, NULL, "tbHi", na->name, na->opaque_record, na->opaque_record_len,
                 na->account_pk, d->created_at);
    if (r != KW_OK)
        return r;
    int64_t id = PQntuples(res) == 1 ? pg_col_i64(res, 0, 0) : 0;
    PQclear(res);
    if (id <= 0)
        return KW_ERR_STORAGE;
    if ((r = insert_device(x, d, id, KW_DEVICE_TRUSTED)) != KW_OK)
        return r;
    if ((r = pg_q(x, SQL_ROSTER_INSERT, NULL, NULL, "iib", id, I64(1), na->roster, na->roster_len)) != KW_OK)
        return r;
    if ((r = pg_q(x, SQL_KC_INSERT, NULL, NULL, "iib", id, I64(1), na->keychain, na->keychain_len)) != KW_OK)
        return r;
    if ((r = pg_q(x, SQL_KK_INSERT, NULL, NULL, "iib", id, I64(1), NULL, (size_t)0)) != KW_OK)
        return r;
    r = pg_q(x, SQL_WRAP_INSERT, NULL, NULL, "iiIb", id, I64(1), d->id, na->device_wrap, na->device_wrap_len);
    if (r != KW_OK)
        return r;
    r = pg_q(x, SQL_SES_INSERT, NULL, NULL, "HiIiii", na->session_hash, id, d->id, d->created_at,
             na->session_expires_at, I64(0));
    if (r != KW_OK)
        return r;
    a->id = id;
    return KW_OK;
}

int pg_account_create(kw_store *st, const kw_store_new_account *na, int64_t *account_id)
{
    create_arg a = {.na = na};
    int r = pg_run_txn((pg_store *)st, "account_create", PG_READ_COMMITTED, create_body, &a);
    if (r == KW_OK)
        *account_id = a.id;
    return r;
}

typedef struct {
    const char *name;
    int64_t id;
    kw_store_account *out;
} acc_get_arg;

static int acc_get_body(pg_ctx *x, void *p)
{
    acc_get_arg *a = p;
    PGresult *res = NULL;
    int r = a->name != NULL ? pg_q(x, SQL_ACC_BY_NAME, &res, NULL, "t", a->name)
                            : pg_q(x, SQL_ACC_BY_ID, &res, NULL, "i", a->id);
    if (r != KW_OK)
        return r;
    r = PQntuples(res) == 1 ? read_account(res, a->out) : KW_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}

int pg_account_get_by_name(kw_store *st, const char *name, kw_store_account *out)
{
    acc_get_arg a = {.name = name, .out = out};
    return pg_run_txn((pg_store *)st, "account_get", PG_AUTOCOMMIT, acc_get_body, &a);
}

int pg_account_get(kw_store *st, int64_t account_id, kw_store_account *out)
{
    acc_get_arg a = {.id = account_id, .out = out};
    return pg_run_txn((pg_store *)st, "account_get", PG_AUTOCOMMIT, acc_get_body, &a);
}

/* An UPDATE of one account row by id; KW_ERR_NOT_FOUND when no row. */
typedef struct {
    const char *sql;
    const uint8_t *blob;
    size_t len;
    int64_t id;
} acc_set_arg;

static int acc_set_body(pg_ctx *x, void *p)
{
    acc_set_arg *a = p;
    int changes = 0;
    int r = pg_q(x, a->sql, NULL, &changes, "bi", a->blob, a->len, a->id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    return r;
}

int pg_account_set_opaque(kw_store *st, int64_t account_id, const uint8_t *record, size_t len)
{
    acc_set_arg a = {SQL_ACC_SET_OPAQUE, record, len, account_id};
    return pg_run_txn((pg_store *)st, "account_set_opaque", PG_AUTOCOMMIT, acc_set_body, &a);
}

int pg_account_set_totp(kw_store *st, int64_t account_id, const uint8_t *secret, size_t len)
{
    acc_set_arg a = {SQL_ACC_SET_TOTP, secret, len, account_id};
    return pg_run_txn((pg_store *)st, "account_set_totp", PG_AUTOCOMMIT, acc_set_body, &a);
}

typedef struct {
    int64_t id, step;
} step_arg;

static int step_body(pg_ctx *x, void *p)
{
    step_arg *a = p;
    int changes = 0;
    /* One conditional UPDATE: the compare and the advance are atomic. */
    int r = pg_q(x, SQL_ACC_USE_STEP, NULL, &changes, "ii", a->id, a->step);
    if (r == KW_OK && changes == 0) {
        int64_t one;
        r = pg_scalar(x, SQL_ACC_EXISTS, &one, "i", a->id);
        if (r == KW_OK)
            r = KW_ERR_CONFLICT; /* not after the last accepted step: a replay */
    }
    return r;
}

int pg_account_use_totp_step(kw_store *st, int64_t account_id, int64_t step)
{
    step_arg a = {account_id, step};
    return pg_run_txn((pg_store *)st, "account_use_totp_step", PG_AUTOCOMMIT, step_body, &a);
}

/* ---- devices ---- */

static int dev_add_body(pg_ctx *x, void *p)
{
    const kw_store_device *d = p;
    return insert_device(x, d, d->account_id, KW_DEVICE_PENDING);
}

int pg_device_add(kw_store *st, const kw_store_device *d)
{
    return pg_run_txn((pg_store *)st, "device_add", PG_AUTOCOMMIT, dev_add_body, (void *)d);
}

typedef struct {
    const uint8_t *id;
    int64_t account_id;
    int64_t now;
    kw_store_device *out;
    kw_store_device *list;
    size_t count;
} dev_arg;

static int dev_get_body(pg_ctx *x, void *p)
{
    dev_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_DEV_GET, &res, NULL, "I", a->id);
    if (r != KW_OK)
        return r;
    if (PQntuples(res) == 1)
        read_device(res, 0, a->out);
    else
        r = KW_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}

int pg_device_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_device *out)
{
    dev_arg a = {.id = id, .out = out};
    return pg_run_txn((pg_store *)st, "device_get", PG_AUTOCOMMIT, dev_get_body, &a);
}

static int dev_list_body(pg_ctx *x, void *p)
{
    dev_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_DEV_LIST, &res, NULL, "i", a->account_id);
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    if (n > 0) {
        a->list = calloc((size_t)n, sizeof(kw_store_device));
        if (a->list == NULL) {
            PQclear(res);
            return KW_ERR_NOMEM;
        }
        for (int i = 0; i < n; i++)
            read_device(res, i, &a->list[i]);
    }
    a->count = (size_t)n;
    PQclear(res);
    return KW_OK;
}

int pg_device_list(kw_store *st, int64_t account_id, kw_store_device **out, size_t *count)
{
    dev_arg a = {.account_id = account_id};
    int r = pg_run_txn((pg_store *)st, "device_list", PG_AUTOCOMMIT, dev_list_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *count = a.count;
    }
    return r;
}

static int dev_touch_body(pg_ctx *x, void *p)
{
    dev_arg *a = p;
    return pg_q(x, SQL_DEV_TOUCH, NULL, NULL, "Ii", a->id, a->now);
}

void pg_device_touch(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now)
{
    dev_arg a = {.id = id, .now = now};
    (void)pg_run_txn((pg_store *)st, "device_touch", PG_AUTOCOMMIT, dev_touch_body, &a); /* logged */
}

/* ---- roster changes ---- */

#define STATE_BIT(st) (1u << (unsigned)(st))

static int move_state(pg_ctx *x, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES], unsigned from, int to)
{
    int64_t state;
    int r = pg_scalar(x, SQL_DEV_STATE, &state, "Ii", id, account_id);
    if (r != KW_OK)
        return r;
    if (state < 0 || state > 31 || (STATE_BIT(state) & from) == 0)
        return KW_ERR_CONFLICT;
    return pg_q(x, SQL_DEV_SET_STATE, NULL, NULL, "iIi", I64(to), id, account_id);
}

static int roster_body(pg_ctx *x, void *p)
{
    const kw_store_roster_change *ch = p;
    int64_t acc = ch->account_id, cur, gen, n, one;
    int changes;
    int r;
    /* Lock the account: its roster changes run one after the other. */
    if ((r = pg_scalar(x, SQL_ACC_LOCK, &one, "i", acc)) != KW_OK)
        return r;

    if ((r = pg_scalar(x, SQL_ROSTER_CUR, &cur, "i", acc)) != KW_OK)
        return r;
    if (ch->roster_version != cur + 1)
        return KW_ERR_CONFLICT;
    if ((r = pg_q(x, SQL_ROSTER_INSERT, NULL, NULL, "iib", acc, ch->roster_version, ch->roster,
                  ch->roster_len)) != KW_OK)
        return r;

    for (size_t i = 0; i < ch->ntrust; i++)
        if ((r = move_state(x, acc, ch->trust[i], STATE_BIT(KW_DEVICE_PENDING), KW_DEVICE_TRUSTED)) != KW_OK)
            return r;
    for (size_t i = 0; i < ch->nremove; i++) {
        r = move_state(x, acc, ch->remove[i], STATE_BIT(KW_DEVICE_PENDING) | STATE_BIT(KW_DEVICE_TRUSTED),
                       KW_DEVICE_REMOVED);
        if (r != KW_OK)
            return r;
        if ((r = pg_q(x, SQL_SES_REVOKE_DEV, NULL, NULL, "I", ch->remove[i])) != KW_OK)
            return r;
        if ((r = pg_q(x, SQL_WRAP_DEL_DEVICE, NULL, NULL, "I", ch->remove[i])) != KW_OK)
            return r;
    }

    if ((r = pg_scalar(x, SQL_KK_CUR, &gen, "i", acc)) != KW_OK)
        return r;
    if (ch->kk_generation == gen + 1) {
        if (ch->kk_chain == NULL)
            return KW_ERR_INVALID_ARG;
        if ((r = pg_q(x, SQL_KK_INSERT, NULL, NULL, "iib", acc, ch->kk_generation, ch->kk_chain,
                      ch->kk_chain_len)) != KW_OK)
            return r;
        gen = ch->kk_generation;
    } else if (ch->kk_generation == gen) {
        if (ch->kk_chain != NULL)
            return KW_ERR_INVALID_ARG;
    } else {
        return KW_ERR_CONFLICT;
    }

    for (size_t i = 0; i < ch->nwraps; i++) {
        const kw_store_wrap *w = &ch->wraps[i];
        int64_t state;
        if ((r = pg_scalar(x, SQL_DEV_STATE, &state, "Ii", w->device_id, acc)) != KW_OK)
            return r;
        if (state != KW_DEVICE_TRUSTED)
            return KW_ERR_INVALID_ARG;
        if ((r = pg_q(x, SQL_WRAP_INSERT, NULL, NULL, "iiIb", acc, gen, w->device_id, w->wrap, w->wrap_len)) !=
            KW_OK)
            return r;
    }
    if ((r = pg_scalar(x, SQL_DEV_UNWRAPPED, &n, "ii", acc, gen)) != KW_OK)
        return r;
    if (n != 0)
        return KW_ERR_INVALID_ARG;

    if (ch->keychain != NULL) {
        if ((r = pg_q(x, SQL_KC_CAS, NULL, &changes, "iib", acc, ch->keychain_version, ch->keychain,
                      ch->keychain_len)) != KW_OK)
            return r;
        if (changes == 0)
            return KW_ERR_CONFLICT;
    }

    if (ch->recovery_wrap != NULL) {
        if (ch->recovery_auth != NULL) {
            r = pg_q(x, SQL_REC_UPSERT, NULL, NULL, "iibH", acc, gen, ch->recovery_wrap, ch->recovery_wrap_len,
                     ch->recovery_auth);
        } else {
            r = pg_q(x, SQL_REC_SET_WRAP, NULL, &changes, "iib", acc, gen, ch->recovery_wrap,
                     ch->recovery_wrap_len);
            if (r == KW_OK && changes == 0)
                r = KW_ERR_INVALID_ARG;
        }
        if (r != KW_OK)
            return r;
    }
    return KW_OK;
}

int pg_roster_apply(kw_store *st, const kw_store_roster_change *ch)
{
    return pg_run_txn((pg_store *)st, "roster_apply", PG_SERIALIZABLE, roster_body, (void *)ch);
}

/* ---- readers: (version or generation,) one blob ---- */

typedef struct {
    const char *sql;
    char fmt[4];
    int64_t a, b;
    const uint8_t *id;
    int blob_col, num_col, auth_col; /* -1: none */
    int64_t *num;
    uint8_t **blob;
    size_t *len;
    uint8_t *auth;
} read_arg;

static int read_body(pg_ctx *x, void *p)
{
    read_arg *a = p;
    PGresult *res = NULL;
    int r;
    if (a->id != NULL)
        r = pg_q(x, a->sql, &res, NULL, a->fmt, a->a, a->id);
    else
        r = pg_q(x, a->sql, &res, NULL, a->fmt, a->a, a->b);
    if (r != KW_OK)
        return r;
    if (PQntuples(res) < 1) {
        PQclear(res);
        return KW_ERR_NOT_FOUND;
    }
    r = pg_col_dup(res, 0, a->blob_col, a->blob, a->len);
    if (r == KW_OK && a->num_col >= 0)
        *a->num = pg_col_i64(res, 0, a->num_col);
    if (r == KW_OK && a->auth_col >= 0)
        pg_col_fixed(res, 0, a->auth_col, a->auth, 32);
    PQclear(res);
    return r;
}

int pg_roster_latest(kw_store *st, int64_t account_id, int64_t *version, uint8_t **roster, size_t *len)
{
    read_arg a = {.sql = SQL_ROSTER_LATEST, .fmt = "i", .a = account_id, .blob_col = 1, .num_col = 0,
                  .auth_col = -1, .num = version, .blob = roster, .len = len};
    return pg_run_txn((pg_store *)st, "roster_latest", PG_AUTOCOMMIT, read_body, &a);
}

int pg_roster_get(kw_store *st, int64_t account_id, int64_t version, uint8_t **roster, size_t *len)
{
    read_arg a = {.sql = SQL_ROSTER_GET, .fmt = "ii", .a = account_id, .b = version, .blob_col = 0,
                  .num_col = -1, .auth_col = -1, .blob = roster, .len = len};
    return pg_run_txn((pg_store *)st, "roster_get", PG_AUTOCOMMIT, read_body, &a);
}

int pg_keychain_get(kw_store *st, int64_t account_id, int64_t *version, uint8_t **blob, size_t *len)
{
    read_arg a = {.sql = SQL_KC_GET, .fmt = "i", .a = account_id, .blob_col = 1, .num_col = 0,
                  .auth_col = -1, .num = version, .blob = blob, .len = len};
    return pg_run_txn((pg_store *)st, "keychain_get", PG_AUTOCOMMIT, read_body, &a);
}

int pg_kk_wrap_get(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES],
                   int64_t *generation, uint8_t **wrap, size_t *len)
{
    read_arg a = {.sql = SQL_WRAP_GET, .fmt = "iI", .a = account_id, .id = device_id, .blob_col = 1,
                  .num_col = 0, .auth_col = -1, .num = generation, .blob = wrap, .len = len};
    return pg_run_txn((pg_store *)st, "kk_wrap_get", PG_AUTOCOMMIT, read_body, &a);
}

int pg_kk_chain_get(kw_store *st, int64_t account_id, int64_t generation, uint8_t **blob, size_t *len)
{
    read_arg a = {.sql = SQL_KK_CHAIN, .fmt = "ii", .a = account_id, .b = generation, .blob_col = 0,
                  .num_col = -1, .auth_col = -1, .blob = blob, .len = len};
    return pg_run_txn((pg_store *)st, "kk_chain_get", PG_AUTOCOMMIT, read_body, &a);
}

int pg_recovery_get(kw_store *st, int64_t account_id, int64_t *generation, uint8_t **wrap, size_t *len,
                    uint8_t auth[32])
{
    read_arg a = {.sql = SQL_REC_GET, .fmt = "i", .a = account_id, .blob_col = 1, .num_col = 0,
                  .auth_col = 2, .num = generation, .blob = wrap, .len = len, .auth = auth};
    return pg_run_txn((pg_store *)st, "recovery_get", PG_AUTOCOMMIT, read_body, &a);
}
