/*
 * server/store/sqlite_account.c — SQLite backend: accounts, devices,
 * rosters, keychain, KK generations/wraps/chain and the recovery wrap.
 *
 * Every function takes the store lock for its whole run (sq_lock) and
 * leaves through sq_unlock, which rolls back a transaction left open by an
 * error path. Arguments were already checked by store.c.
 */
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/sqlite_internal.h"

#define I64(x) ((int64_t)(x))

/* ---- row readers ---- */

static void col_name(sqlite3_stmt *stmt, int col, char name[KW_STORE_NAME_MAX + 1])
{
    const unsigned char *t = sqlite3_column_text(stmt, col);
    int n = sqlite3_column_bytes(stmt, col);
    memset(name, 0, KW_STORE_NAME_MAX + 1);
    if (t != NULL && n > 0)
        memcpy(name, t, (size_t)n > KW_STORE_NAME_MAX ? KW_STORE_NAME_MAX : (size_t)n);
}

static int read_account(sqlite3_stmt *stmt, kw_store_account *out)
{
    int r;
    out->id = sqlite3_column_int64(stmt, 0);
    col_name(stmt, 1, out->name);
    if ((r = sq_col_dup(stmt, 2, &out->opaque_record, &out->opaque_record_len)) != KW_OK)
        goto out;
    sq_col_fixed(stmt, 3, out->account_pk, sizeof(out->account_pk));
    if (sqlite3_column_type(stmt, 4) != SQLITE_NULL &&
        (r = sq_col_dup(stmt, 4, &out->totp_secret, &out->totp_secret_len)) != KW_OK)
        goto out;
    out->totp_last_step = sqlite3_column_int64(stmt, 5);
    out->created_at = sqlite3_column_int64(stmt, 6);
    r = KW_OK;
out:
    if (r != KW_OK) {
        kw_store_account_clear(out);
        memset(out, 0, sizeof(*out));
    }
    return r;
}

static void read_device(sqlite3_stmt *stmt, kw_store_device *out)
{
    memset(out, 0, sizeof(*out));
    sq_col_fixed(stmt, 0, out->id, sizeof(out->id));
    out->account_id = sqlite3_column_int64(stmt, 1);
    col_name(stmt, 2, out->name);
    sq_col_fixed(stmt, 3, out->identity_pk, sizeof(out->identity_pk));
    sq_col_fixed(stmt, 4, out->hpke_pk, sizeof(out->hpke_pk));
    out->state = sqlite3_column_int(stmt, 5);
    out->created_at = sqlite3_column_int64(stmt, 6);
    out->last_seen_at = sqlite3_column_int64(stmt, 7);
}

static int insert_device(sq_store *s, const kw_store_device *d, int64_t account_id, int state)
{
    return sq_exec(s, SQ_DEV_INSERT, NULL, "IitHHiii", d->id, account_id, d->name, d->identity_pk,
                   d->hpke_pk, I64(state), d->created_at, d->last_seen_at);
}

static int account_exists(sq_store *s, int64_t account_id)
{
    int64_t one;
    return sq_scalar(s, SQ_ACC_EXISTS, &one, "i", account_id);
}

/* ---- accounts ---- */

int sq_account_create(kw_store *st, const kw_store_new_account *na, int64_t *account_id)
{
    sq_store *s = sq_lock(st, "account_create");
    const kw_store_device *d = na->device;
    int r;
    if ((r = sq_begin(s)) != KW_OK)
        goto out;
    /* The account is created when its first device is. */
    r = sq_exec(s, SQ_ACC_INSERT, NULL, "tbHi", na->name, na->opaque_record, na->opaque_record_len,
                na->account_pk, d->created_at);
    if (r != KW_OK)
        goto out;
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if ((r = insert_device(s, d, id, KW_DEVICE_TRUSTED)) != KW_OK)
        goto out;
    if ((r = sq_exec(s, SQ_ROSTER_INSERT, NULL, "iib", id, I64(1), na->roster, na->roster_len)) != KW_OK)
        goto out;
    if ((r = sq_exec(s, SQ_KC_INSERT, NULL, "iib", id, I64(1), na->keychain, na->keychain_len)) != KW_OK)
        goto out;
    if ((r = sq_exec(s, SQ_KK_INSERT, NULL, "iib", id, I64(1), NULL, (size_t)0)) != KW_OK)
        goto out;
    r = sq_exec(s, SQ_WRAP_INSERT, NULL, "iiIb", id, I64(1), d->id, na->device_wrap, na->device_wrap_len);
    if (r != KW_OK)
        goto out;
    r = sq_exec(s, SQ_SES_INSERT, NULL, "HiIiii", na->session_hash, id, d->id, d->created_at,
                na->session_expires_at, I64(0));
    if (r != KW_OK)
        goto out;
    if ((r = sq_commit(s)) != KW_OK)
        goto out;
    *account_id = id;
out:
    sq_unlock(s);
    return r;
}

static int account_get(kw_store *st, enum sq_stmt_id id, const char *name, int64_t account_id,
                       kw_store_account *out)
{
    sq_store *s = sq_lock(st, "account_get");
    bool row;
    int r = name != NULL ? sq_run(s, id, &row, "t", name) : sq_run(s, id, &row, "i", account_id);
    if (r == KW_OK)
        r = row ? read_account(s->stmts[id], out) : KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

int sq_account_get_by_name(kw_store *st, const char *name, kw_store_account *out)
{
    return account_get(st, SQ_ACC_BY_NAME, name, 0, out);
}

int sq_account_get(kw_store *st, int64_t account_id, kw_store_account *out)
{
    return account_get(st, SQ_ACC_BY_ID, NULL, account_id, out);
}

int sq_account_set_opaque(kw_store *st, int64_t account_id, const uint8_t *record, size_t len)
{
    sq_store *s = sq_lock(st, "account_set_opaque");
    int changes;
    int r = sq_exec(s, SQ_ACC_SET_OPAQUE, &changes, "bi", record, len, account_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

int sq_account_set_totp(kw_store *st, int64_t account_id, const uint8_t *secret, size_t len)
{
    sq_store *s = sq_lock(st, "account_set_totp");
    int changes;
    int r = sq_exec(s, SQ_ACC_SET_TOTP, &changes, "bi", secret, len, account_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

int sq_account_use_totp_step(kw_store *st, int64_t account_id, int64_t step)
{
    sq_store *s = sq_lock(st, "account_use_totp_step");
    int changes;
    /* One conditional UPDATE: the compare and the advance are atomic. */
    int r = sq_exec(s, SQ_ACC_USE_STEP, &changes, "ii", account_id, step);
    if (r == KW_OK && changes == 0) {
        r = account_exists(s, account_id);
        if (r == KW_OK)
            r = KW_ERR_CONFLICT; /* step not after the last accepted one: a replay */
    }
    sq_unlock(s);
    return r;
}

/* ---- devices ---- */

int sq_device_add(kw_store *st, const kw_store_device *d)
{
    sq_store *s = sq_lock(st, "device_add");
    int r = insert_device(s, d, d->account_id, KW_DEVICE_PENDING);
    sq_unlock(s);
    return r;
}

int sq_device_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_device *out)
{
    sq_store *s = sq_lock(st, "device_get");
    bool row;
    int r = sq_run(s, SQ_DEV_GET, &row, "I", id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        read_device(s->stmts[SQ_DEV_GET], out);
    sq_unlock(s);
    return r;
}

static void read_device_row(sqlite3_stmt *stmt, void *elem)
{
    read_device(stmt, elem);
}

int sq_device_list(kw_store *st, int64_t account_id, kw_store_device **out, size_t *count)
{
    sq_store *s = sq_lock(st, "device_list");
    bool row;
    void *list = NULL;
    int r = sq_run(s, SQ_DEV_LIST, &row, "i", account_id);
    r = sq_collect_rows(s, s->stmts[SQ_DEV_LIST], r, row, sizeof(kw_store_device), read_device_row, &list, count);
    sq_unlock(s);
    *out = list; /* transferred (NULL on error) */
    return r;
}

void sq_device_touch(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now)
{
    sq_store *s = sq_lock(st, "device_touch");
    (void)sq_exec(s, SQ_DEV_TOUCH, NULL, "Ii", id, now); /* failures are logged */
    sq_unlock(s);
}

/* ---- roster changes ---- */

#define STATE_BIT(st) (1u << (unsigned)(st))

/* Moves a device of the account from one of the states in `from` to `to`:
 * KW_ERR_NOT_FOUND when the account has no such device, KW_ERR_CONFLICT when
 * it is in another state (trusting twice, reviving a removed device). */
static int move_state(sq_store *s, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES],
                      unsigned from, int to)
{
    int64_t state;
    int r = sq_scalar(s, SQ_DEV_STATE, &state, "Ii", id, account_id);
    if (r != KW_OK)
        return r;
    if (state < 0 || state > 31 || (STATE_BIT(state) & from) == 0)
        return KW_ERR_CONFLICT;
    return sq_exec(s, SQ_DEV_SET_STATE, NULL, "iIi", I64(to), id, account_id);
}

int sq_roster_apply(kw_store *st, const kw_store_roster_change *ch)
{
    sq_store *s = sq_lock(st, "roster_apply");
    int64_t acc = ch->account_id, cur, gen, n;
    int changes;
    int r;
    if ((r = sq_begin(s)) != KW_OK)
        goto out;
    if ((r = account_exists(s, acc)) != KW_OK)
        goto out;

    /* The roster: compare-and-swap on the version. */
    if ((r = sq_scalar(s, SQ_ROSTER_CUR, &cur, "i", acc)) != KW_OK)
        goto out;
    if (ch->roster_version != cur + 1) {
        r = KW_ERR_CONFLICT;
        goto out;
    }
    if ((r = sq_exec(s, SQ_ROSTER_INSERT, NULL, "iib", acc, ch->roster_version, ch->roster,
                     ch->roster_len)) != KW_OK)
        goto out;

    /* Device states. A removed device loses its sessions and every KK wrap
     * it had: the server never serves it key material again. */
    for (size_t i = 0; i < ch->ntrust; i++)
        if ((r = move_state(s, acc, ch->trust[i], STATE_BIT(KW_DEVICE_PENDING), KW_DEVICE_TRUSTED)) !=
            KW_OK)
            goto out;
    for (size_t i = 0; i < ch->nremove; i++) {
        r = move_state(s, acc, ch->remove[i], STATE_BIT(KW_DEVICE_PENDING) | STATE_BIT(KW_DEVICE_TRUSTED),
                       KW_DEVICE_REMOVED);
        if (r != KW_OK)
            goto out;
        if ((r = sq_exec(s, SQ_SES_REVOKE_DEV, NULL, "I", ch->remove[i])) != KW_OK)
            goto out;
        if ((r = sq_exec(s, SQ_WRAP_DEL_DEVICE, NULL, "I", ch->remove[i])) != KW_OK)
            goto out;
    }

    /* KK: a new generation (exactly current+1, with its chain blob) or the
     * current one (no chain); anything else is stale. */
    if ((r = sq_scalar(s, SQ_KK_CUR, &gen, "i", acc)) != KW_OK)
        goto out;
    if (ch->kk_generation == gen + 1) {
        if (ch->kk_chain == NULL) {
            r = KW_ERR_INVALID_ARG;
            goto out;
        }
        if ((r = sq_exec(s, SQ_KK_INSERT, NULL, "iib", acc, ch->kk_generation, ch->kk_chain,
                         ch->kk_chain_len)) != KW_OK)
            goto out;
        gen = ch->kk_generation;
    } else if (ch->kk_generation == gen) {
        if (ch->kk_chain != NULL) {
            r = KW_ERR_INVALID_ARG;
            goto out;
        }
    } else {
        r = KW_ERR_CONFLICT;
        goto out;
    }

    /* Wraps go only to devices that are TRUSTED after this change. */
    for (size_t i = 0; i < ch->nwraps; i++) {
        const kw_store_wrap *w = &ch->wraps[i];
        int64_t state;
        if ((r = sq_scalar(s, SQ_DEV_STATE, &state, "Ii", w->device_id, acc)) != KW_OK)
            goto out;
        if (state != KW_DEVICE_TRUSTED) {
            r = KW_ERR_INVALID_ARG;
            goto out;
        }
        if ((r = sq_exec(s, SQ_WRAP_INSERT, NULL, "iiIb", acc, gen, w->device_id, w->wrap, w->wrap_len)) !=
            KW_OK)
            goto out;
    }
    /* …and afterwards every TRUSTED device holds a wrap of the current KK. */
    if ((r = sq_scalar(s, SQ_DEV_UNWRAPPED, &n, "ii", acc, gen)) != KW_OK)
        goto out;
    if (n != 0) {
        r = KW_ERR_INVALID_ARG;
        goto out;
    }

    /* Keychain: compare-and-swap on its version. */
    if (ch->keychain != NULL) {
        if ((r = sq_exec(s, SQ_KC_CAS, &changes, "iib", acc, ch->keychain_version, ch->keychain,
                         ch->keychain_len)) != KW_OK)
            goto out;
        if (changes == 0) {
            r = KW_ERR_CONFLICT;
            goto out;
        }
    }

    /* Recovery wrap of the (new) current KK; the verifier key is replaced
     * when given, kept otherwise (and then one must already exist). */
    if (ch->recovery_wrap != NULL) {
        if (ch->recovery_auth != NULL) {
            r = sq_exec(s, SQ_REC_UPSERT, NULL, "iibH", acc, gen, ch->recovery_wrap, ch->recovery_wrap_len,
                        ch->recovery_auth);
        } else {
            r = sq_exec(s, SQ_REC_SET_WRAP, &changes, "iib", acc, gen, ch->recovery_wrap,
                        ch->recovery_wrap_len);
            if (r == KW_OK && changes == 0)
                r = KW_ERR_INVALID_ARG;
        }
        if (r != KW_OK)
            goto out;
    }
    r = sq_commit(s);
out:
    sq_unlock(s);
    return r;
}

/* ---- readers ---- */

int sq_roster_latest(kw_store *st, int64_t account_id, int64_t *version, uint8_t **roster, size_t *len)
{
    sq_store *s = sq_lock(st, "roster_latest");
    bool row;
    int r = sq_run(s, SQ_ROSTER_LATEST, &row, "i", account_id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        r = sq_col_dup(s->stmts[SQ_ROSTER_LATEST], 1, roster, len);
    if (r == KW_OK)
        *version = sqlite3_column_int64(s->stmts[SQ_ROSTER_LATEST], 0);
    sq_unlock(s);
    return r;
}

int sq_roster_get(kw_store *st, int64_t account_id, int64_t version, uint8_t **roster, size_t *len)
{
    sq_store *s = sq_lock(st, "roster_get");
    bool row;
    int r = sq_run(s, SQ_ROSTER_GET, &row, "ii", account_id, version);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        r = sq_col_dup(s->stmts[SQ_ROSTER_GET], 0, roster, len);
    sq_unlock(s);
    return r;
}

int sq_keychain_get(kw_store *st, int64_t account_id, int64_t *version, uint8_t **blob, size_t *len)
{
    sq_store *s = sq_lock(st, "keychain_get");
    bool row;
    int r = sq_run(s, SQ_KC_GET, &row, "i", account_id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        r = sq_col_dup(s->stmts[SQ_KC_GET], 1, blob, len);
    if (r == KW_OK)
        *version = sqlite3_column_int64(s->stmts[SQ_KC_GET], 0);
    sq_unlock(s);
    return r;
}

int sq_kk_wrap_get(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES],
                   int64_t *generation, uint8_t **wrap, size_t *len)
{
    sq_store *s = sq_lock(st, "kk_wrap_get");
    bool row;
    int r = sq_run(s, SQ_WRAP_GET, &row, "iI", account_id, device_id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        r = sq_col_dup(s->stmts[SQ_WRAP_GET], 1, wrap, len);
    if (r == KW_OK)
        *generation = sqlite3_column_int64(s->stmts[SQ_WRAP_GET], 0);
    sq_unlock(s);
    return r;
}

int sq_kk_chain_get(kw_store *st, int64_t account_id, int64_t generation, uint8_t **blob, size_t *len)
{
    sq_store *s = sq_lock(st, "kk_chain_get");
    bool row;
    int r = sq_run(s, SQ_KK_CHAIN, &row, "ii", account_id, generation);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        r = sq_col_dup(s->stmts[SQ_KK_CHAIN], 0, blob, len);
    sq_unlock(s);
    return r;
}

int sq_recovery_get(kw_store *st, int64_t account_id, int64_t *generation, uint8_t **wrap, size_t *len,
                    uint8_t auth[32])
{
    sq_store *s = sq_lock(st, "recovery_get");
    bool row;
    int r = sq_run(s, SQ_REC_GET, &row, "i", account_id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        r = sq_col_dup(s->stmts[SQ_REC_GET], 1, wrap, len);
    if (r == KW_OK) {
        *generation = sqlite3_column_int64(s->stmts[SQ_REC_GET], 0);
        sq_col_fixed(s->stmts[SQ_REC_GET], 2, auth, 32);
    }
    sq_unlock(s);
    return r;
}
