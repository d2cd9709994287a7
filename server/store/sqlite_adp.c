/*
 * server/store/sqlite_adp.c — SQLite backend of the "adp" domain
 * (store/adp.h): custody copies, the ADP state mirror and switch, device
 * capabilities, passcode escrow, web-access requests and grants.
 *
 * The switch writes the core tables rosters and keychains with the same
 * compare-and-swap rules as sqlite_account.c (roster exactly current+1,
 * keychain exactly current+1) together with the custody rows, in one
 * BEGIN IMMEDIATE … COMMIT: either the account is under ADP with no custody
 * copy of its ADP categories left, or nothing changed.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/adp.h"
#include "store/sqlite_internal.h"

static const char adp_schema_v1[] =
    "CREATE TABLE adp_state ("
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,"
    "  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),"
    "  web_access INTEGER NOT NULL DEFAULT 0 CHECK (web_access IN (0, 1)),"
    "  roster_version INTEGER NOT NULL,"
    "  changed_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE adp_custody ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  generation INTEGER NOT NULL CHECK (generation >= 1),"
    "  wrap BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (account_id, category, generation)"
    ") WITHOUT ROWID;"
    "CREATE TABLE adp_device_caps ("
    "  device_id BLOB PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,"
    "  caps INTEGER NOT NULL,"
    "  declared_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE adp_passcode ("
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,"
    "  salt BLOB NOT NULL CHECK (length(salt) = 16),"
    "  verifier BLOB NOT NULL,"
    "  blob BLOB NOT NULL,"
    "  generation INTEGER NOT NULL,"
    "  attempts_left INTEGER NOT NULL CHECK (attempts_left >= 0 AND attempts_left <= 10)"
    ");"
    "CREATE TABLE adp_web_requests ("
    "  id BLOB PRIMARY KEY CHECK (length(id) = 16),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  web_session_id BLOB NOT NULL,"
    "  ephemeral_pk BLOB NOT NULL CHECK (length(ephemeral_pk) = 32),"
    "  categories TEXT NOT NULL,"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX adp_web_requests_by_account ON adp_web_requests(account_id, created_at);"
    "CREATE TABLE adp_web_grants ("
    "  request_id BLOB NOT NULL REFERENCES adp_web_requests(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  generation INTEGER NOT NULL,"
    "  sealed BLOB NOT NULL,"
    "  PRIMARY KEY (request_id, category, generation)"
    ") WITHOUT ROWID;";

/* Step 2: recovery contacts. */
static const char adp_schema_v2[] =
    "CREATE TABLE adp_contacts ("
    "  id BLOB PRIMARY KEY CHECK (length(id) = 16),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  contact_account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  unwrap_key BLOB NOT NULL,"
    "  packets BLOB NOT NULL,"
    "  kk_wrap BLOB NOT NULL,"
    "  generation INTEGER NOT NULL CHECK (generation >= 1),"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
    "  requested_at INTEGER NOT NULL DEFAULT 0,"
    "  release_at INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (account_id, contact_account_id),"
    "  CHECK (account_id <> contact_account_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX adp_contacts_by_contact ON adp_contacts(contact_account_id);";

static const char *const adp_steps[] = {adp_schema_v1, adp_schema_v2};
const sq_component sq_adp_component = {"adp", adp_steps, 2};

/* ---- state ---- */

static const char SQL_STATE_GET[] =
    "SELECT enabled, web_access, roster_version, changed_at FROM adp_state WHERE account_id = ?1";
static const char SQL_STATE_PUT[] =
    "INSERT INTO adp_state (account_id, enabled, web_access, roster_version, changed_at)"
    " VALUES (?1, ?2, 0, ?3, ?4) ON CONFLICT (account_id) DO UPDATE SET enabled = excluded.enabled,"
    " web_access = 0, roster_version = excluded.roster_version, changed_at = excluded.changed_at";
static const char SQL_WEB_SET[] =
    "UPDATE adp_state SET web_access = ?2, changed_at = ?3 WHERE account_id = ?1 AND enabled = 1";

static int state_read(sq_store *s, int64_t account_id, kw_store_adp_state *out)
{
    bool row = false;
    int r = sq_run_q(s, SQL_STATE_GET, &row, "i", account_id);
    memset(out, 0, sizeof(*out));
    if (r == KW_OK && row) {
        sqlite3_stmt *st = sq_stmt_q(s, SQL_STATE_GET);
        out->enabled = sqlite3_column_int(st, 0) != 0;
        out->web_access = sqlite3_column_int(st, 1) != 0;
        out->roster_version = sqlite3_column_int64(st, 2);
        out->changed_at = sqlite3_column_int64(st, 3);
    }
    sqlite3_reset(sq_stmt_q(s, SQL_STATE_GET));
    return r;
}

static int sq_adp_state_get(kw_store *st, int64_t account_id, kw_store_adp_state *out)
{
    sq_store *s = sq_lock(st, "adp_state_get");
    int r = state_read(s, account_id, out);
    sq_unlock(s);
    return r;
}

static int sq_adp_web_access_set(kw_store *st, int64_t account_id, bool on, int64_t now)
{
    sq_store *s = sq_lock(st, "adp_web_access_set");
    int changes = 0;
    int r = sq_exec_q(s, SQL_WEB_SET, &changes, "iii", account_id, (int64_t)(on ? 1 : 0), now);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_CONFLICT;
    sq_unlock(s);
    return r;
}

/* ---- custody ---- */

static const char SQL_CUSTODY_PUT[] =
    "INSERT INTO adp_custody (account_id, category, generation, wrap, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (account_id, category, generation)"
    " DO UPDATE SET wrap = excluded.wrap, created_at = excluded.created_at";
static const char SQL_CUSTODY_LIST[] =
    "SELECT category, generation, wrap FROM adp_custody WHERE account_id = ?1"
    " ORDER BY category, generation";
static const char SQL_CUSTODY_DROP[] = "DELETE FROM adp_custody WHERE account_id = ?1 AND category = ?2";
static const char SQL_ACCOUNT_EXISTS[] = "SELECT count(*) FROM accounts WHERE id = ?1";

static int custody_insert(sq_store *s, int64_t account_id, const kw_store_adp_custody *list, size_t n,
                          int64_t now)
{
    int r = KW_OK;
    for (size_t i = 0; i < n && r == KW_OK; i++)
        r = sq_exec_q(s, SQL_CUSTODY_PUT, NULL, "itibi", account_id, list[i].category,
                      list[i].generation, list[i].wrap, list[i].wrap_len, now);
    return r;
}

static int sq_adp_custody_put(kw_store *st, int64_t account_id, const kw_store_adp_custody *list,
                              size_t n, const char *const *adp_only, size_t nadp_only, int64_t now)
{
    sq_store *s = sq_lock(st, "adp_custody_put");
    kw_store_adp_state state;
    int64_t exists = 0;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = sq_scalar_q(s, SQL_ACCOUNT_EXISTS, &exists, "i", account_id);
    if (r == KW_OK && exists == 0)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        r = state_read(s, account_id, &state);
    if (r == KW_OK && state.enabled)
        for (size_t i = 0; i < n && r == KW_OK; i++)
            for (size_t j = 0; j < nadp_only && r == KW_OK; j++)
                if (strcmp(list[i].category, adp_only[j]) == 0)
                    r = KW_ERR_CONFLICT;
    if (r == KW_OK)
        r = custody_insert(s, account_id, list, n, now);
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

static void read_custody(sqlite3_stmt *st, void *elem)
{
    kw_store_adp_custody *c = elem;
    memset(c, 0, sizeof(*c));
    const unsigned char *cat = sqlite3_column_text(st, 0);
    snprintf(c->category, sizeof(c->category), "%s", cat != NULL ? (const char *)cat : "");
    c->generation = sqlite3_column_int64(st, 1);
    if (sq_col_dup(st, 2, &c->wrap, &c->wrap_len) != KW_OK) {
        c->wrap = NULL;
        c->wrap_len = 0;
    }
}

static int sq_adp_custody_list(kw_store *st, int64_t account_id, kw_store_adp_custody **out,
                               size_t *count)
{
    sq_store *s = sq_lock(st, "adp_custody_list");
    bool row = false;
    int r = sq_run_q(s, SQL_CUSTODY_LIST, &row, "i", account_id);
    void *list = NULL;
    r = sq_collect_rows(s, sq_stmt_q(s, SQL_CUSTODY_LIST), r, row, sizeof(kw_store_adp_custody),
                        read_custody, &list, count);
    sq_unlock(s);
    if (r == KW_OK) {
        *out = list;
        for (size_t i = 0; i < *count; i++)
            if ((*out)[i].wrap == NULL) {
                kw_store_adp_custody_free(*out, *count);
                *out = NULL;
                *count = 0;
                return KW_ERR_NOMEM;
            }
    }
    return r;
}

/* ---- the switch ---- */

static const char SQL_ROSTER_CUR[] = "SELECT coalesce(max(version), 0) FROM rosters WHERE account_id = ?1";
static const char SQL_ROSTER_INS[] = "INSERT INTO rosters (account_id, version, roster) VALUES (?1, ?2, ?3)";
static const char SQL_KC_CAS[] = "UPDATE keychains SET version = ?2, keychain = ?3"
                                 " WHERE account_id = ?1 AND version = ?2 - 1";

static int sq_adp_switch_apply(kw_store *st, const kw_store_adp_switch *sw)
{
    sq_store *s = sq_lock(st, "adp_switch");
    kw_store_adp_state state;
    int64_t cur = 0;
    int changes = 0;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = sq_scalar_q(s, SQL_ROSTER_CUR, &cur, "i", sw->account_id);
    if (r == KW_OK && cur == 0)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK && cur + 1 != sw->roster_version)
        r = KW_ERR_CONFLICT;
    if (r == KW_OK)
        r = state_read(s, sw->account_id, &state);
    if (r == KW_OK && state.enabled == sw->enable)
        r = KW_ERR_CONFLICT;
    if (r == KW_OK)
        r = sq_exec_q(s, SQL_ROSTER_INS, NULL, "iib", sw->account_id, sw->roster_version, sw->roster,
                      sw->roster_len);
    if (r == KW_OK && sw->keychain_version != 0) {
        r = sq_exec_q(s, SQL_KC_CAS, &changes, "iib", sw->account_id, sw->keychain_version,
                      sw->keychain, sw->keychain_len);
        if (r == KW_OK && changes != 1)
            r = KW_ERR_CONFLICT;
    }
    for (size_t i = 0; i < sw->ndrop && r == KW_OK; i++)
        r = sq_exec_q(s, SQL_CUSTODY_DROP, NULL, "it", sw->account_id, sw->drop[i]);
    if (r == KW_OK)
        r = custody_insert(s, sw->account_id, sw->escrow, sw->nescrow, sw->now);
    if (r == KW_OK)
        r = sq_exec_q(s, SQL_STATE_PUT, NULL, "iiii", sw->account_id, (int64_t)(sw->enable ? 1 : 0),
                      sw->roster_version, sw->now);
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

/* ---- device capabilities ---- */

static const char SQL_CAPS_SET[] =
    "INSERT INTO adp_device_caps (device_id, caps, declared_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (device_id) DO UPDATE SET caps = excluded.caps, declared_at = excluded.declared_at";
static const char SQL_CAPS_GET[] = "SELECT caps FROM adp_device_caps WHERE device_id = ?1";

static int sq_adp_caps_set(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t caps,
                           int64_t now)
{
    sq_store *s = sq_lock(st, "adp_caps_set");
    int r = sq_exec_q(s, SQL_CAPS_SET, NULL, "Iii", device_id, caps, now);
    sq_unlock(s);
    return r;
}

static int sq_adp_caps_get(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t *caps)
{
    sq_store *s = sq_lock(st, "adp_caps_get");
    int r = sq_scalar_q(s, SQL_CAPS_GET, caps, "I", device_id);
    sq_unlock(s);
    if (r == KW_ERR_NOT_FOUND) {
        *caps = 0;
        r = KW_OK;
    }
    return r;
}

/* ---- passcode escrow ---- */

static const char SQL_PC_PUT[] =
    "INSERT INTO adp_passcode (account_id, salt, verifier, blob, generation, attempts_left)"
    " VALUES (?1, ?2, ?3, ?4, ?5, 10) ON CONFLICT (account_id) DO UPDATE SET salt = excluded.salt,"
    " verifier = excluded.verifier, blob = excluded.blob, generation = excluded.generation,"
    " attempts_left = 10";
static const char SQL_PC_GET[] =
    "SELECT salt, verifier, blob, generation, attempts_left FROM adp_passcode WHERE account_id = ?1";
static const char SQL_PC_SPEND[] =
    "UPDATE adp_passcode SET attempts_left = attempts_left - 1 WHERE account_id = ?1 AND attempts_left > 0";
static const char SQL_PC_DEL[] = "DELETE FROM adp_passcode WHERE account_id = ?1";
static const char SQL_PC_RESET[] = "UPDATE adp_passcode SET attempts_left = 10 WHERE account_id = ?1";
static const char SQL_PC_LEFT[] = "SELECT attempts_left, salt FROM adp_passcode WHERE account_id = ?1";

static int sq_adp_passcode_put(kw_store *st, int64_t account_id, const kw_store_adp_passcode *p)
{
    sq_store *s = sq_lock(st, "adp_passcode_put");
    int r = sq_exec_q(s, SQL_PC_PUT, NULL, "ibbbi", account_id, p->salt, (size_t)KW_STORE_ADP_SALTBYTES,
                      p->verifier, p->verifier_len, p->blob, p->blob_len, p->generation);
    sq_unlock(s);
    return r;
}

static int sq_adp_passcode_take_attempt(kw_store *st, int64_t account_id, kw_store_adp_passcode *out,
                                        bool *last)
{
    sq_store *s = sq_lock(st, "adp_passcode_attempt");
    bool row = false;
    int changes = 0;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = sq_run_q(s, SQL_PC_GET, &row, "i", account_id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        sqlite3_stmt *q = sq_stmt_q(s, SQL_PC_GET);
        sq_col_fixed(q, 0, out->salt, sizeof(out->salt));
        out->generation = sqlite3_column_int64(q, 3);
        out->attempts_left = sqlite3_column_int64(q, 4);
        if ((r = sq_col_dup(q, 1, &out->verifier, &out->verifier_len)) == KW_OK)
            r = sq_col_dup(q, 2, &out->blob, &out->blob_len);
        sqlite3_reset(q);
    }
    if (r == KW_OK && out->attempts_left <= 0) {
        /* a record left with no attempts (never acknowledged as usable) */
        sq_exec_q(s, SQL_PC_DEL, NULL, "i", account_id);
        sq_commit(s);
        r = KW_ERR_NOT_FOUND;
    }
    if (r == KW_OK) {
        if (out->attempts_left == 1) {
            *last = true;
            r = sq_exec_q(s, SQL_PC_DEL, &changes, "i", account_id);
        } else {
            r = sq_exec_q(s, SQL_PC_SPEND, &changes, "i", account_id);
        }
        if (r == KW_OK && changes != 1)
            r = KW_ERR_CONFLICT;
    }
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    if (r != KW_OK) {
        kw_store_adp_passcode_clear(out);
        *last = false;
    }
    return r;
}

static int sq_adp_passcode_success(kw_store *st, int64_t account_id)
{
    sq_store *s = sq_lock(st, "adp_passcode_success");
    int r = sq_exec_q(s, SQL_PC_RESET, NULL, "i", account_id);
    sq_unlock(s);
    return r;
}

static int sq_adp_passcode_exists(kw_store *st, int64_t account_id, int64_t *left, uint8_t *salt)
{
    sq_store *s = sq_lock(st, "adp_passcode_exists");
    bool row = false;
    int r = sq_run_q(s, SQL_PC_LEFT, &row, "i", account_id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        *left = sqlite3_column_int64(sq_stmt_q(s, SQL_PC_LEFT), 0);
        if (salt != NULL)
            sq_col_fixed(sq_stmt_q(s, SQL_PC_LEFT), 1, salt, KW_STORE_ADP_SALTBYTES);
    }
    sq_unlock(s);
    return r;
}

static int sq_adp_passcode_delete(kw_store *st, int64_t account_id)
{
    sq_store *s = sq_lock(st, "adp_passcode_delete");
    int changes = 0;
    int r = sq_exec_q(s, SQL_PC_DEL, &changes, "i", account_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

/* ---- web access ---- */

#define WEB_COLS "id, account_id, web_session_id, ephemeral_pk, categories, state, created_at, expires_at"
static const char SQL_WEB_ADD[] = "INSERT INTO adp_web_requests (" WEB_COLS
                                  ") VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)";
static const char SQL_WEB_GET[] = "SELECT " WEB_COLS " FROM adp_web_requests WHERE id = ?1";
static const char SQL_WEB_LIST[] = "SELECT " WEB_COLS " FROM adp_web_requests WHERE account_id = ?1"
                                   " AND state = 0 AND expires_at > ?2 ORDER BY created_at";
static const char SQL_WEB_APPROVE[] =
    "UPDATE adp_web_requests SET state = 1, expires_at = ?3 WHERE id = ?1 AND account_id = ?2"
    " AND state = 0 AND expires_at > ?4";
static const char SQL_GRANT_ADD[] =
    "INSERT INTO adp_web_grants (request_id, category, generation, sealed) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_GRANTS[] =
    "SELECT g.category, g.generation, g.sealed FROM adp_web_grants g JOIN adp_web_requests r"
    " ON r.id = g.request_id WHERE g.request_id = ?1 AND r.state = 1 AND r.expires_at > ?2"
    " ORDER BY g.category, g.generation";

static void read_web(sqlite3_stmt *st, void *elem)
{
    kw_store_adp_web_request *w = elem;
    memset(w, 0, sizeof(*w));
    sq_col_fixed(st, 0, w->id, sizeof(w->id));
    w->account_id = sqlite3_column_int64(st, 1);
    sq_col_fixed(st, 2, w->web_session_id, sizeof(w->web_session_id));
    sq_col_fixed(st, 3, w->ephemeral_pk, sizeof(w->ephemeral_pk));
    const unsigned char *c = sqlite3_column_text(st, 4);
    snprintf(w->categories, sizeof(w->categories), "%s", c != NULL ? (const char *)c : "");
    w->state = sqlite3_column_int(st, 5);
    w->created_at = sqlite3_column_int64(st, 6);
    w->expires_at = sqlite3_column_int64(st, 7);
}

static int sq_adp_web_request_add(kw_store *st, const kw_store_adp_web_request *rq)
{
    sq_store *s = sq_lock(st, "adp_web_request_add");
    int r = sq_exec_q(s, SQL_WEB_ADD, NULL, "IiIHtii", rq->id, rq->account_id, rq->web_session_id,
                      rq->ephemeral_pk, rq->categories, rq->created_at, rq->expires_at);
    sq_unlock(s);
    return r;
}

static int sq_adp_web_request_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES],
                                  kw_store_adp_web_request *out)
{
    sq_store *s = sq_lock(st, "adp_web_request_get");
    bool row = false;
    int r = sq_run_q(s, SQL_WEB_GET, &row, "I", id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        read_web(sq_stmt_q(s, SQL_WEB_GET), out);
    sq_unlock(s);
    return r;
}

static int sq_adp_web_request_list(kw_store *st, int64_t account_id, int64_t now,
                                   kw_store_adp_web_request **out, size_t *count)
{
    sq_store *s = sq_lock(st, "adp_web_request_list");
    bool row = false;
    void *list = NULL;
    int r = sq_run_q(s, SQL_WEB_LIST, &row, "ii", account_id, now);
    r = sq_collect_rows(s, sq_stmt_q(s, SQL_WEB_LIST), r, row, sizeof(kw_store_adp_web_request),
                        read_web, &list, count);
    sq_unlock(s);
    if (r == KW_OK)
        *out = list;
    return r;
}

static int sq_adp_web_approve(kw_store *st, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES],
                              const kw_store_adp_web_grant *grants, size_t n, int64_t expires_at,
                              int64_t now)
{
    sq_store *s = sq_lock(st, "adp_web_approve");
    int changes = 0;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = sq_exec_q(s, SQL_WEB_APPROVE, &changes, "Iiii", id, account_id, expires_at, now);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_CONFLICT;
    for (size_t i = 0; i < n && r == KW_OK; i++)
        r = sq_exec_q(s, SQL_GRANT_ADD, NULL, "Itib", id, grants[i].category, grants[i].generation,
                      grants[i].sealed, grants[i].sealed_len);
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

static void read_grant(sqlite3_stmt *st, void *elem)
{
    kw_store_adp_web_grant *g = elem;
    memset(g, 0, sizeof(*g));
    const unsigned char *c = sqlite3_column_text(st, 0);
    snprintf(g->category, sizeof(g->category), "%s", c != NULL ? (const char *)c : "");
    g->generation = sqlite3_column_int64(st, 1);
    if (sq_col_dup(st, 2, &g->sealed, &g->sealed_len) != KW_OK) {
        g->sealed = NULL;
        g->sealed_len = 0;
    }
}

static int sq_adp_web_grants(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now,
                             kw_store_adp_web_grant **out, size_t *count)
{
    sq_store *s = sq_lock(st, "adp_web_grants");
    bool row = false;
    void *list = NULL;
    int r = sq_run_q(s, SQL_GRANTS, &row, "Ii", id, now);
    r = sq_collect_rows(s, sq_stmt_q(s, SQL_GRANTS), r, row, sizeof(kw_store_adp_web_grant), read_grant,
                        &list, count);
    sq_unlock(s);
    if (r != KW_OK)
        return r;
    *out = list;
    for (size_t i = 0; i < *count; i++)
        if ((*out)[i].sealed == NULL) {
            kw_store_adp_web_grants_free(*out, *count);
            *out = NULL;
            *count = 0;
            return KW_ERR_NOMEM;
        }
    return KW_OK;
}

/* ---- recovery contacts ---- */

#define CT_COLS                                                                                    \
    "c.id, c.account_id, c.contact_account_id, o.name, k.name, c.unwrap_key, c.packets, c.kk_wrap, " \
    "c.generation, c.state, c.requested_at, c.release_at, c.created_at"
#define CT_FROM                                                                                    \
    " FROM adp_contacts c JOIN accounts o ON o.id = c.account_id JOIN accounts k ON k.id = "       \
    "c.contact_account_id"
static const char SQL_CT_COUNT[] = "SELECT count(*) FROM adp_contacts WHERE account_id = ?1";
static const char SQL_CT_ADD[] =
    "INSERT INTO adp_contacts (id, account_id, contact_account_id, unwrap_key, packets, kk_wrap,"
    " generation, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)";
static const char SQL_CT_BY_OWNER[] = "SELECT " CT_COLS CT_FROM " WHERE c.account_id = ?1 ORDER BY c.created_at";
static const char SQL_CT_BY_CONTACT[] =
    "SELECT " CT_COLS CT_FROM " WHERE c.contact_account_id = ?1 ORDER BY c.created_at";
static const char SQL_CT_GET[] = "SELECT " CT_COLS CT_FROM " WHERE c.id = ?1";
static const char SQL_CT_STATE[] =
    "UPDATE adp_contacts SET state = ?2, requested_at = ?3, release_at = ?4 WHERE id = ?1"
    " AND (?5 < 0 OR state = ?5)";
static const char SQL_CT_DEL[] = "DELETE FROM adp_contacts WHERE id = ?1 AND account_id = ?2";
static const char SQL_CT_REWRAP[] =
    "UPDATE adp_contacts SET kk_wrap = ?3, generation = ?4 WHERE id = ?1 AND account_id = ?2";

static void read_contact(sqlite3_stmt *st, void *elem)
{
    kw_store_adp_contact *c = elem;
    memset(c, 0, sizeof(*c));
    sq_col_fixed(st, 0, c->id, sizeof(c->id));
    c->account_id = sqlite3_column_int64(st, 1);
    c->contact_account_id = sqlite3_column_int64(st, 2);
    const unsigned char *o = sqlite3_column_text(st, 3), *k = sqlite3_column_text(st, 4);
    snprintf(c->owner_name, sizeof(c->owner_name), "%s", o != NULL ? (const char *)o : "");
    snprintf(c->contact_name, sizeof(c->contact_name), "%s", k != NULL ? (const char *)k : "");
    if (sq_col_dup(st, 5, &c->unwrap_key, &c->unwrap_key_len) != KW_OK ||
        sq_col_dup(st, 6, &c->packets, &c->packets_len) != KW_OK ||
        sq_col_dup(st, 7, &c->kk_wrap, &c->kk_wrap_len) != KW_OK)
        c->generation = -1; /* marks an allocation failure */
    else
        c->generation = sqlite3_column_int64(st, 8);
    c->state = sqlite3_column_int(st, 9);
    c->requested_at = sqlite3_column_int64(st, 10);
    c->release_at = sqlite3_column_int64(st, 11);
    c->created_at = sqlite3_column_int64(st, 12);
}

static int sq_adp_contact_add(kw_store *st, const kw_store_adp_contact *ct)
{
    sq_store *s = sq_lock(st, "adp_contact_add");
    int64_t n = 0;
    int r = sq_begin(s);
    if (r == KW_OK)
        r = sq_scalar_q(s, SQL_CT_COUNT, &n, "i", ct->account_id);
    if (r == KW_OK && n >= KW_STORE_ADP_CONTACTS_MAX)
        r = KW_ERR_LIMIT;
    if (r == KW_OK)
        r = sq_exec_q(s, SQL_CT_ADD, NULL, "Iiibbbii", ct->id, ct->account_id, ct->contact_account_id,
                      ct->unwrap_key, ct->unwrap_key_len, ct->packets, ct->packets_len, ct->kk_wrap,
                      ct->kk_wrap_len, ct->generation, ct->created_at);
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

static int sq_adp_contact_list(kw_store *st, int64_t owner, int64_t contact, kw_store_adp_contact **out,
                               size_t *count)
{
    sq_store *s = sq_lock(st, "adp_contact_list");
    const char *sql = owner != 0 ? SQL_CT_BY_OWNER : SQL_CT_BY_CONTACT;
    bool row = false;
    void *list = NULL;
    int r = sq_run_q(s, sql, &row, "i", owner != 0 ? owner : contact);
    r = sq_collect_rows(s, sq_stmt_q(s, sql), r, row, sizeof(kw_store_adp_contact), read_contact, &list,
                        count);
    sq_unlock(s);
    if (r != KW_OK)
        return r;
    *out = list;
    for (size_t i = 0; i < *count; i++)
        if ((*out)[i].generation < 0) {
            kw_store_adp_contacts_free(*out, *count);
            *out = NULL;
            *count = 0;
            return KW_ERR_NOMEM;
        }
    return KW_OK;
}

static int sq_adp_contact_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_adp_contact *out)
{
    sq_store *s = sq_lock(st, "adp_contact_get");
    bool row = false;
    int r = sq_run_q(s, SQL_CT_GET, &row, "I", id);
    if (r == KW_OK && !row)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        read_contact(sq_stmt_q(s, SQL_CT_GET), out);
        if (out->generation < 0) {
            kw_store_adp_contact_clear(out);
            r = KW_ERR_NOMEM;
        }
    }
    sq_unlock(s);
    return r;
}

static int sq_adp_contact_set_state(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int from_state,
                                    int state, int64_t requested_at, int64_t release_at)
{
    sq_store *s = sq_lock(st, "adp_contact_set_state");
    int changes = 0;
    int r = sq_exec_q(s, SQL_CT_STATE, &changes, "Iiiii", id, (int64_t)state, requested_at, release_at,
                      (int64_t)from_state);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_CONFLICT;
    sq_unlock(s);
    return r;
}

static int sq_adp_contact_remove(kw_store *st, int64_t owner, const uint8_t id[KW_STORE_ID_BYTES])
{
    sq_store *s = sq_lock(st, "adp_contact_remove");
    int changes = 0;
    int r = sq_exec_q(s, SQL_CT_DEL, &changes, "Ii", id, owner);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_NOT_FOUND;
    sq_unlock(s);
    return r;
}

static int sq_adp_contact_rewrap(kw_store *st, int64_t owner, int64_t generation,
                                 const uint8_t (*ids)[KW_STORE_ID_BYTES], const uint8_t *const *wraps,
                                 const size_t *lens, size_t n)
{
    sq_store *s = sq_lock(st, "adp_contact_rewrap");
    int changes = 0;
    int r = sq_begin(s);
    for (size_t i = 0; i < n && r == KW_OK; i++) {
        r = sq_exec_q(s, SQL_CT_REWRAP, &changes, "Iibi", ids[i], owner, wraps[i], lens[i], generation);
        if (r == KW_OK && changes != 1)
            r = KW_ERR_NOT_FOUND;
    }
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    return r;
}

const struct kw_store_adp_ops sq_adp_ops = {
    .contact_add = sq_adp_contact_add,
    .contact_list = sq_adp_contact_list,
    .contact_get = sq_adp_contact_get,
    .contact_set_state = sq_adp_contact_set_state,
    .contact_remove = sq_adp_contact_remove,
    .contact_rewrap = sq_adp_contact_rewrap,
    .state_get = sq_adp_state_get,
    .web_access_set = sq_adp_web_access_set,
    .custody_put = sq_adp_custody_put,
    .custody_list = sq_adp_custody_list,
    .switch_apply = sq_adp_switch_apply,
    .caps_set = sq_adp_caps_set,
    .caps_get = sq_adp_caps_get,
    .passcode_put = sq_adp_passcode_put,
    .passcode_take_attempt = sq_adp_passcode_take_attempt,
    .passcode_success = sq_adp_passcode_success,
    .passcode_exists = sq_adp_passcode_exists,
    .passcode_delete = sq_adp_passcode_delete,
    .web_request_add = sq_adp_web_request_add,
    .web_request_get = sq_adp_web_request_get,
    .web_request_list = sq_adp_web_request_list,
    .web_approve = sq_adp_web_approve,
    .web_grants = sq_adp_web_grants,
};
