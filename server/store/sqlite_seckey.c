/*
 * server/store/sqlite_seckey.c — SQLite backend of the security-key domain
 * (store/seckey.h): component "seckeys" with the tables seckeys,
 * seckey_challenges and seckey_policy.
 *
 * Each write is one transaction (BEGIN IMMEDIATE … COMMIT with the
 * connection's synchronous=FULL WAL), so what a call acknowledges is
 * durable, and the read-check-write operations (the per-account key limit,
 * the policy minimum, the single-use challenge) cannot interleave with
 * another writer.
 */
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/seckey.h"
#include "store/sqlite_internal.h"

#define I64(x) ((int64_t)(x))

/* Step 1 of the component. Never edit; append new steps. */
static const char seckey_schema_v1[] =
    "CREATE TABLE seckeys ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  cred_id BLOB NOT NULL UNIQUE"
    "    CHECK (typeof(cred_id) = 'blob' AND length(cred_id) BETWEEN 1 AND 1023),"
    "  cose_key BLOB NOT NULL"
    "    CHECK (typeof(cose_key) = 'blob' AND length(cose_key) BETWEEN 1 AND 1100),"
    "  alg INTEGER NOT NULL,"
    "  sign_count INTEGER NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),"
    "  backup_eligible INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),"
    "  backup_state INTEGER NOT NULL CHECK (backup_state IN (0, 1)),"
    "  uv_initialized INTEGER NOT NULL CHECK (uv_initialized IN (0, 1)),"
    "  att_type INTEGER NOT NULL CHECK (att_type BETWEEN 0 AND 3),"
    "  aaguid BLOB NOT NULL CHECK (typeof(aaguid) = 'blob' AND length(aaguid) = 16),"
    "  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
    "  created_at INTEGER NOT NULL,"
    "  last_used_at INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX seckeys_by_account ON seckeys(account_id, id);"
    "CREATE TABLE seckey_challenges ("
    "  challenge BLOB PRIMARY KEY"
    "    CHECK (typeof(challenge) = 'blob' AND length(challenge) = 32),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  op TEXT NOT NULL CHECK (length(op) BETWEEN 1 AND 16),"
    "  expires_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX seckey_challenges_by_account ON seckey_challenges(account_id, expires_at);"
    "CREATE INDEX seckey_challenges_by_expiry ON seckey_challenges(expires_at);"
    "CREATE TABLE seckey_policy ("
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,"
    "  required INTEGER NOT NULL CHECK (required IN (0, 1))"
    ");";

static const char *const seckey_steps[] = {seckey_schema_v1};
const sq_component sq_seckey_component = {"seckeys", seckey_steps,
                                          (int)(sizeof(seckey_steps) / sizeof(seckey_steps[0]))};

#define KEY_COLS                                                                                   \
    "id, account_id, cred_id, cose_key, alg, sign_count, backup_eligible, backup_state,"         \
    " uv_initialized, att_type, aaguid, name, created_at, last_used_at"

static const char SQL_COUNT[] = "SELECT count(*) FROM seckeys WHERE account_id = ?";
static const char SQL_INSERT[] =
    "INSERT INTO seckeys (account_id, cred_id, cose_key, alg, sign_count, backup_eligible,"
    " backup_state, uv_initialized, att_type, aaguid, name, created_at, last_used_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_LIST[] = "SELECT " KEY_COLS " FROM seckeys WHERE account_id = ? ORDER BY id";
static const char SQL_GET[] = "SELECT " KEY_COLS " FROM seckeys WHERE account_id = ? AND id = ?";
static const char SQL_FIND[] = "SELECT " KEY_COLS " FROM seckeys WHERE cred_id = ?";
static const char SQL_RENAME[] = "UPDATE seckeys SET name = ? WHERE account_id = ? AND id = ?";
static const char SQL_EXISTS[] = "SELECT 1 FROM seckeys WHERE account_id = ? AND id = ?";
static const char SQL_DELETE[] = "DELETE FROM seckeys WHERE account_id = ? AND id = ?";
static const char SQL_USE[] =
    "UPDATE seckeys SET sign_count = ?, backup_state = ?, last_used_at = ?"
    " WHERE account_id = ? AND id = ? AND sign_count = ?";
static const char SQL_POLICY_GET[] = "SELECT required FROM seckey_policy WHERE account_id = ?";
static const char SQL_POLICY_SET[] =
    "INSERT INTO seckey_policy (account_id, required) VALUES (?, ?)"
    " ON CONFLICT (account_id) DO UPDATE SET required = excluded.required";
static const char SQL_CH_SWEEP[] =
    "DELETE FROM seckey_challenges WHERE account_id = ? AND expires_at <= ?";
/* live challenges of the account in one class: sign-in (login, web-login:
 * issued on a proven password alone) or the rest (issued to a session) */
static const char SQL_CH_LIVE[] =
    "SELECT count(*) FROM seckey_challenges WHERE account_id = ?"
    " AND (op IN ('login', 'web-login')) = ?";
/* the sign-in class makes room by dropping its oldest challenge */
static const char SQL_CH_EVICT[] =
    "DELETE FROM seckey_challenges WHERE challenge = (SELECT challenge FROM seckey_challenges"
    " WHERE account_id = ? AND op IN ('login', 'web-login') ORDER BY expires_at LIMIT 1)";
static const char SQL_CH_INSERT[] =
    "INSERT INTO seckey_challenges (challenge, account_id, op, expires_at) VALUES (?, ?, ?, ?)";
static const char SQL_CH_GET[] =
    "SELECT account_id, op, expires_at FROM seckey_challenges WHERE challenge = ?";
static const char SQL_CH_DEL[] = "DELETE FROM seckey_challenges WHERE challenge = ?";
static const char SQL_CH_EXPIRE[] = "DELETE FROM seckey_challenges WHERE expires_at <= ?";

static void read_key(sqlite3_stmt *stmt, void *elem)
{
    kw_store_seckey *k = elem;
    memset(k, 0, sizeof(*k));
    k->id = sqlite3_column_int64(stmt, 0);
    k->account_id = sqlite3_column_int64(stmt, 1);
    int n = sqlite3_column_bytes(stmt, 2);
    if (n > 0 && (size_t)n <= sizeof(k->cred_id)) {
        memcpy(k->cred_id, sqlite3_column_blob(stmt, 2), (size_t)n);
        k->cred_id_len = (size_t)n;
    }
    n = sqlite3_column_bytes(stmt, 3);
    if (n > 0 && (size_t)n <= sizeof(k->cose_key)) {
        memcpy(k->cose_key, sqlite3_column_blob(stmt, 3), (size_t)n);
        k->cose_key_len = (size_t)n;
    }
    k->alg = (int32_t)sqlite3_column_int64(stmt, 4);
    k->sign_count = (uint32_t)sqlite3_column_int64(stmt, 5);
    k->backup_eligible = sqlite3_column_int(stmt, 6) != 0;
    k->backup_state = sqlite3_column_int(stmt, 7) != 0;
    k->uv_initialized = sqlite3_column_int(stmt, 8) != 0;
    k->att_type = (uint8_t)sqlite3_column_int(stmt, 9);
    sq_col_fixed(stmt, 10, k->aaguid, sizeof(k->aaguid));
    const unsigned char *name = sqlite3_column_text(stmt, 11);
    if (name != NULL) {
        size_t len = strnlen((const char *)name, KW_STORE_NAME_MAX);
        memcpy(k->name, name, len);
        k->name[len] = '\0';
    }
    k->created_at = sqlite3_column_int64(stmt, 12);
    k->last_used_at = sqlite3_column_int64(stmt, 13);
}

static int count_keys(sq_store *s, int64_t account_id, int64_t *n)
{
    return sq_scalar_q(s, SQL_COUNT, n, "i", account_id);
}

static int policy_of(sq_store *s, int64_t account_id, bool *on)
{
    int64_t v = 0;
    int r = sq_scalar_q(s, SQL_POLICY_GET, &v, "i", account_id);
    *on = r == KW_OK && v != 0;
    return r == KW_ERR_NOT_FOUND ? KW_OK : r;
}

static int sk_add(kw_store *st, kw_store_seckey *k)
{
    sq_store *s = sq_lock(st, "seckey_add");
    int64_t n = 0;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = count_keys(s, k->account_id, &n);
    if (r == KW_OK && n >= KW_STORE_SECKEY_MAX)
        r = KW_ERR_LIMIT;
    if (r == KW_OK)
        r = sq_exec_q(s, SQL_INSERT, NULL, "ibbiiiiiibtii", k->account_id, k->cred_id,
                      k->cred_id_len, k->cose_key, k->cose_key_len, I64(k->alg),
                      I64(k->sign_count), I64(k->backup_eligible ? 1 : 0),
                      I64(k->backup_state ? 1 : 0), I64(k->uv_initialized ? 1 : 0),
                      I64(k->att_type), k->aaguid, sizeof(k->aaguid), k->name, k->created_at,
                      k->last_used_at);
    if (r == KW_OK)
        k->id = sqlite3_last_insert_rowid(s->db);
    if (r == KW_OK)
        r = sq_commit(s);
    if (r != KW_OK)
        k->id = 0;
    sq_unlock(s);
    return r;
}

static int sk_list(kw_store *st, int64_t account_id, kw_store_seckey **out, size_t *count)
{
    sq_store *s = sq_lock(st, "seckey_list");
    bool row = false;
    int r = sq_run_q(s, SQL_LIST, &row, "i", account_id);
    void *list = NULL;
    r = sq_collect_rows(s, sq_stmt_q(s, SQL_LIST), r, row, sizeof(kw_store_seckey), read_key,
                        &list, count);
    if (r == KW_OK)
        *out = list;
    sq_unlock(s);
    return r;
}

static int sk_count(kw_store *st, int64_t account_id, size_t *count)
{
    sq_store *s = sq_lock(st, "seckey_count");
    int64_t n = 0;
    int r = count_keys(s, account_id, &n);
    if (r == KW_OK)
        *count = (size_t)n;
    sq_unlock(s);
    return r;
}

static int sk_get(kw_store *st, int64_t account_id, int64_t key_id, kw_store_seckey *out)
{
    sq_store *s = sq_lock(st, "seckey_get");
    bool row = false;
    int r = sq_run_q(s, SQL_GET, &row, "ii", account_id, key_id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        read_key(sq_stmt_q(s, SQL_GET), out);
    sq_unlock(s);
    return r;
}

static int sk_find(kw_store *st, const uint8_t *cred_id, size_t cred_id_len, kw_store_seckey *out)
{
    sq_store *s = sq_lock(st, "seckey_find");
    bool row = false;
    int r = sq_run_q(s, SQL_FIND, &row, "b", cred_id, cred_id_len);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        read_key(sq_stmt_q(s, SQL_FIND), out);
    sq_unlock(s);
    return r;
}

static int sk_rename(kw_store *st, int64_t account_id, int64_t key_id, const char *name)
{
    sq_store *s = sq_lock(st, "seckey_rename");
    int changes = 0;
    int r = sq_exec_q(s, SQL_RENAME, &changes, "tii", name, account_id, key_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

static int sk_remove(kw_store *st, int64_t account_id, int64_t key_id, int flags,
                     bool *policy_turned_off)
{
    sq_store *s = sq_lock(st, "seckey_remove");
    int64_t n = 0, one = 0;
    bool on = false, turn_off = false;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = sq_scalar_q(s, SQL_EXISTS, &one, "ii", account_id, key_id);
    if (r == KW_OK)
        r = count_keys(s, account_id, &n);
    if (r == KW_OK)
        r = policy_of(s, account_id, &on);
    if (r == KW_OK && on && n - 1 < KW_STORE_SECKEY_POLICY_MIN) {
        if ((flags & KW_STORE_SECKEY_RM_POLICY_OFF) == 0)
            r = KW_ERR_CONFLICT;
        else
            turn_off = true;
    }
    if (r == KW_OK)
        r = sq_exec_q(s, SQL_DELETE, NULL, "ii", account_id, key_id);
    if (r == KW_OK && turn_off)
        r = sq_exec_q(s, SQL_POLICY_SET, NULL, "ii", account_id, I64(0));
    if (r == KW_OK)
        r = sq_commit(s);
    if (r == KW_OK && policy_turned_off != NULL)
        *policy_turned_off = turn_off;
    sq_unlock(s);
    return r;
}

static int sk_use(kw_store *st, int64_t account_id, int64_t key_id, uint32_t old_count,
                  uint32_t new_count, bool backup_state, int64_t now)
{
    sq_store *s = sq_lock(st, "seckey_use");
    int changes = 0;
    int64_t one = 0;
    int r = sq_exec_q(s, SQL_USE, &changes, "iiiiii", I64(new_count), I64(backup_state ? 1 : 0),
                      now, account_id, key_id, I64(old_count));
    if (r == KW_OK && changes == 0) {
        r = sq_scalar_q(s, SQL_EXISTS, &one, "ii", account_id, key_id);
        if (r == KW_OK)
            r = KW_ERR_CONFLICT; /* the counter moved since it was read */
    }
    sq_unlock(s);
    return r;
}

static int sk_challenge_put(kw_store *st, int64_t account_id, const char *op,
                            const uint8_t challenge[KW_STORE_SECKEY_CHALLENGE_BYTES], int64_t now,
                            int64_t expires_at)
{
    sq_store *s = sq_lock(st, "seckey_challenge_put");
    int64_t live = 0;
    bool signin = kw_store_seckey_op_signin(op);
    int r = sq_begin(s);
    if (r == KW_OK) /* the account's expired challenges go first */
        r = sq_exec_q(s, SQL_CH_SWEEP, NULL, "ii", account_id, now);
    if (r == KW_OK)
        r = sq_scalar_q(s, SQL_CH_LIVE, &live, "ii", account_id, I64(signin ? 1 : 0));
    if (r == KW_OK && live >= KW_STORE_SECKEY_CHALLENGES_MAX) {
        if (signin) /* make room: a flood of sign-ins cannot lock the account */
            r = sq_exec_q(s, SQL_CH_EVICT, NULL, "i", account_id);
        else
            r = KW_ERR_LIMIT;
    }
    if (r == KW_OK)
        r = sq_exec_q(s, SQL_CH_INSERT, NULL, "biti", challenge,
                      (size_t)KW_STORE_SECKEY_CHALLENGE_BYTES, account_id, op, expires_at);
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

static int sk_challenge_take(kw_store *st, int64_t account_id, const char *op,
                             const uint8_t challenge[KW_STORE_SECKEY_CHALLENGE_BYTES], int64_t now)
{
    sq_store *s = sq_lock(st, "seckey_challenge_take");
    bool row = false, match = false;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = sq_run_q(s, SQL_CH_GET, &row, "b", challenge, (size_t)KW_STORE_SECKEY_CHALLENGE_BYTES);
    if (r == KW_OK && row) {
        sqlite3_stmt *q = sq_stmt_q(s, SQL_CH_GET);
        const unsigned char *stored_op = sqlite3_column_text(q, 1);
        match = sqlite3_column_int64(q, 0) == account_id && stored_op != NULL &&
                strcmp((const char *)stored_op, op) == 0 && now < sqlite3_column_int64(q, 2);
        sqlite3_reset(q);
        /* single use: gone whatever the outcome */
        r = sq_exec_q(s, SQL_CH_DEL, NULL, "b", challenge, (size_t)KW_STORE_SECKEY_CHALLENGE_BYTES);
        if (r == KW_OK)
            r = sq_commit(s);
    }
    if (r == KW_OK && !match)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

static int sk_policy_get(kw_store *st, int64_t account_id, bool *on)
{
    sq_store *s = sq_lock(st, "seckey_policy_get");
    int r = policy_of(s, account_id, on);
    sq_unlock(s);
    return r;
}

static int sk_policy_set(kw_store *st, int64_t account_id, bool on)
{
    sq_store *s = sq_lock(st, "seckey_policy_set");
    int64_t n = 0;
    int r = sq_begin(s);
    if (r == KW_OK && on) {
        r = count_keys(s, account_id, &n);
        if (r == KW_OK && n < KW_STORE_SECKEY_POLICY_MIN)
            r = KW_ERR_CONFLICT;
    }
    if (r == KW_OK)
        r = sq_exec_q(s, SQL_POLICY_SET, NULL, "ii", account_id, I64(on ? 1 : 0));
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

static int sk_expire(kw_store *st, int64_t now, size_t *removed)
{
    sq_store *s = sq_lock(st, "seckey_expire");
    int changes = 0;
    int r = sq_exec_q(s, SQL_CH_EXPIRE, &changes, "i", now);
    if (r == KW_OK && removed != NULL)
        *removed = (size_t)changes;
    sq_unlock(s);
    return r;
}

const struct kw_store_seckey_ops sq_seckey_ops = {
    .add = sk_add,
    .list = sk_list,
    .count = sk_count,
    .get = sk_get,
    .find = sk_find,
    .rename = sk_rename,
    .remove = sk_remove,
    .use = sk_use,
    .challenge_put = sk_challenge_put,
    .challenge_take = sk_challenge_take,
    .policy_get = sk_policy_get,
    .policy_set = sk_policy_set,
    .expire = sk_expire,
};
