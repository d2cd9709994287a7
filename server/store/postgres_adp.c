/*
 * server/store/postgres_adp.c — PostgreSQL backend of the "adp" domain
 * (store/adp.h): custody copies, the ADP state mirror and switch, device
 * capabilities, passcode escrow, web-access requests and grants, recovery
 * contacts. Same tables and meanings as sqlite_adp.c (BLOB → BYTEA,
 * INTEGER → BIGINT).
 *
 * Concurrency between nodes (SQLite gets it from BEGIN IMMEDIATE):
 * - the switch and custody_put lock the account row (SELECT … FOR UPDATE,
 *   the same lock roster_apply takes) in a READ COMMITTED transaction, so
 *   per account they run one after the other whichever node serves them:
 *   a custody copy of an ADP-only category can never slip in after the
 *   switch deleted them, and the roster/keychain compare-and-swaps see the
 *   latest committed versions;
 * - passcode take_attempt locks the escrow row FOR UPDATE: parallel guesses
 *   on several nodes each spend their own attempt, never more than the
 *   budget;
 * - web approval is one conditional UPDATE (PENDING → APPROVED) plus the
 *   grants in one transaction: of two approvals one wins;
 * - contact_add locks the owner's account row before counting, so the
 *   contact limit holds across nodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "store/adp.h"
#include "store/postgres_internal.h"

/* Steps of the component. Never edit; append new steps. */
static const char adp_step1[] =
    "CREATE TABLE adp_state ("
    "  account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,"
    "  enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),"
    "  web_access BIGINT NOT NULL DEFAULT 0 CHECK (web_access IN (0, 1)),"
    "  roster_version BIGINT NOT NULL,"
    "  changed_at BIGINT NOT NULL"
    ");"
    "CREATE TABLE adp_custody ("
    "  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  generation BIGINT NOT NULL CHECK (generation >= 1),"
    "  wrap BYTEA NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (account_id, category, generation)"
    ");"
    "CREATE TABLE adp_device_caps ("
    "  device_id BYTEA PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,"
    "  caps BIGINT NOT NULL,"
    "  declared_at BIGINT NOT NULL"
    ");"
    "CREATE TABLE adp_passcode ("
    "  account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,"
    "  salt BYTEA NOT NULL CHECK (octet_length(salt) = 16),"
    "  verifier BYTEA NOT NULL,"
    "  blob BYTEA NOT NULL,"
    "  generation BIGINT NOT NULL,"
    "  attempts_left BIGINT NOT NULL CHECK (attempts_left >= 0 AND attempts_left <= 10)"
    ");"
    "CREATE TABLE adp_web_requests ("
    "  id BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),"
    "  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  web_session_id BYTEA NOT NULL,"
    "  ephemeral_pk BYTEA NOT NULL CHECK (octet_length(ephemeral_pk) = 32),"
    "  categories TEXT NOT NULL,"
    "  state BIGINT NOT NULL CHECK (state IN (0, 1, 2)),"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL"
    ");"
    "CREATE INDEX adp_web_requests_by_account ON adp_web_requests(account_id, created_at);"
    "CREATE TABLE adp_web_grants ("
    "  request_id BYTEA NOT NULL REFERENCES adp_web_requests(id) ON DELETE CASCADE,"
    "  category TEXT NOT NULL,"
    "  generation BIGINT NOT NULL,"
    "  sealed BYTEA NOT NULL,"
    "  PRIMARY KEY (request_id, category, generation)"
    ");";

static const char adp_step2[] =
    "CREATE TABLE adp_contacts ("
    "  id BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),"
    "  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  contact_account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  unwrap_key BYTEA NOT NULL,"
    "  packets BYTEA NOT NULL,"
    "  kk_wrap BYTEA NOT NULL,"
    "  generation BIGINT NOT NULL CHECK (generation >= 1),"
    "  state BIGINT NOT NULL CHECK (state IN (0, 1, 2)),"
    "  requested_at BIGINT NOT NULL DEFAULT 0,"
    "  release_at BIGINT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL,"
    "  UNIQUE (account_id, contact_account_id),"
    "  CHECK (account_id <> contact_account_id)"
    ");"
    "CREATE INDEX adp_contacts_by_contact ON adp_contacts(contact_account_id);";

static const char *const adp_steps[] = {adp_step1, adp_step2};
const pg_component pg_adp_component = {"adp", adp_steps, 2};

#define I64(x) ((int64_t)(x))

static const char SQL_ACC_LOCK[] = "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE";

/* The argument block every body gets. */
typedef struct {
    int64_t account_id, owner, contact, now, caps, expires_at, generation;
    bool on, last;
    int from_state, state;
    int64_t requested_at, release_at;
    const uint8_t *id;
    const kw_store_adp_custody *custody;
    size_t n;
    const char *const *adp_only;
    size_t nadp_only;
    const kw_store_adp_switch *sw;
    const kw_store_adp_passcode *pc_in;
    kw_store_adp_passcode *pc_out;
    const kw_store_adp_web_request *rq_in;
    kw_store_adp_web_request *rq_out;
    const kw_store_adp_web_grant *grants;
    const kw_store_adp_contact *ct_in;
    kw_store_adp_contact *ct_out;
    const uint8_t (*ids)[KW_STORE_ID_BYTES];
    const uint8_t *const *wraps;
    const size_t *lens;
    kw_store_adp_state *state_out;
    int64_t *i64_out;
    uint8_t *salt_out;
    void *list;
    size_t count;
} adp_arg;

static int run(kw_store *st, const char *op, enum pg_iso iso, pg_body body, adp_arg *a)
{
    return pg_run_txn((pg_store *)st, op, iso, body, a);
}

static int lock_account(pg_ctx *x, int64_t account_id)
{
    PGresult *res = NULL;
    int r = pg_q(x, SQL_ACC_LOCK, &res, NULL, "i", account_id);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}

/* ---- state ---- */

static const char SQL_STATE_GET[] =
    "SELECT enabled, web_access, roster_version, changed_at FROM adp_state WHERE account_id = $1";
static const char SQL_STATE_PUT[] =
    "INSERT INTO adp_state (account_id, enabled, web_access, roster_version, changed_at)"
    " VALUES ($1, $2, 0, $3, $4) ON CONFLICT (account_id) DO UPDATE SET enabled = excluded.enabled,"
    " web_access = 0, roster_version = excluded.roster_version, changed_at = excluded.changed_at";
static const char SQL_WEB_SET[] =
    "UPDATE adp_state SET web_access = $2, changed_at = $3 WHERE account_id = $1 AND enabled = 1";

static int state_read(pg_ctx *x, int64_t account_id, kw_store_adp_state *out)
{
    PGresult *res = NULL;
    memset(out, 0, sizeof(*out));
    int r = pg_q(x, SQL_STATE_GET, &res, NULL, "i", account_id);
    if (r == KW_OK && PQntuples(res) == 1) {
        out->enabled = pg_col_i64(res, 0, 0) != 0;
        out->web_access = pg_col_i64(res, 0, 1) != 0;
        out->roster_version = pg_col_i64(res, 0, 2);
        out->changed_at = pg_col_i64(res, 0, 3);
    }
    PQclear(res);
    return r;
}

static int state_get_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    return state_read(x, a->account_id, a->state_out);
}

static int pg_adp_state_get(kw_store *st, int64_t account_id, kw_store_adp_state *out)
{
    adp_arg a = {.account_id = account_id, .state_out = out};
    return run(st, "adp_state_get", PG_AUTOCOMMIT, state_get_body, &a);
}

static int web_set_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_WEB_SET, NULL, &changes, "iii", a->account_id, I64(a->on ? 1 : 0), a->now);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_CONFLICT;
    return r;
}

static int pg_adp_web_access_set(kw_store *st, int64_t account_id, bool on, int64_t now)
{
    adp_arg a = {.account_id = account_id, .on = on, .now = now};
    return run(st, "adp_web_access_set", PG_AUTOCOMMIT, web_set_body, &a);
}

/* ---- custody ---- */

static const char SQL_CUSTODY_PUT[] =
    "INSERT INTO adp_custody (account_id, category, generation, wrap, created_at)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, category, generation)"
    " DO UPDATE SET wrap = excluded.wrap, created_at = excluded.created_at";
static const char SQL_CUSTODY_LIST[] = "SELECT category, generation, wrap FROM adp_custody WHERE account_id = $1"
                                       " ORDER BY category, generation";
static const char SQL_CUSTODY_DROP[] = "DELETE FROM adp_custody WHERE account_id = $1 AND category = $2";

static int custody_insert(pg_ctx *x, int64_t account_id, const kw_store_adp_custody *list, size_t n,
                          int64_t now)
{
    int r = KW_OK;
    for (size_t i = 0; i < n && r == KW_OK; i++)
        r = pg_q(x, SQL_CUSTODY_PUT, NULL, NULL, "itibi", account_id, list[i].category, list[i].generation,
                 list[i].wrap, list[i].wrap_len, now);
    return r;
}

static int custody_put_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    kw_store_adp_state state;
    int r = lock_account(x, a->account_id);
    if (r == KW_OK)
        r = state_read(x, a->account_id, &state);
    if (r == KW_OK && state.enabled)
        for (size_t i = 0; i < a->n && r == KW_OK; i++)
            for (size_t j = 0; j < a->nadp_only && r == KW_OK; j++)
                if (strcmp(a->custody[i].category, a->adp_only[j]) == 0)
                    r = KW_ERR_CONFLICT;
    if (r == KW_OK)
        r = custody_insert(x, a->account_id, a->custody, a->n, a->now);
    return r;
}

static int pg_adp_custody_put(kw_store *st, int64_t account_id, const kw_store_adp_custody *list, size_t n,
                              const char *const *adp_only, size_t nadp_only, int64_t now)
{
    adp_arg a = {.account_id = account_id, .custody = list, .n = n, .adp_only = adp_only,
                 .nadp_only = nadp_only, .now = now};
    return run(st, "adp_custody_put", PG_READ_COMMITTED, custody_put_body, &a);
}

static int custody_list_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_CUSTODY_LIST, &res, NULL, "i", a->account_id);
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    kw_store_adp_custody *list = NULL;
    if (n > 0 && (list = calloc((size_t)n, sizeof(*list))) == NULL)
        r = KW_ERR_NOMEM;
    for (int i = 0; i < n && r == KW_OK; i++) {
        pg_col_text(res, i, 0, list[i].category, sizeof(list[i].category));
        list[i].generation = pg_col_i64(res, i, 1);
        r = pg_col_dup(res, i, 2, &list[i].wrap, &list[i].wrap_len);
    }
    PQclear(res);
    if (r != KW_OK) {
        kw_store_adp_custody_free(list, (size_t)n);
        return r;
    }
    a->list = list;
    a->count = (size_t)n;
    return KW_OK;
}

static int pg_adp_custody_list(kw_store *st, int64_t account_id, kw_store_adp_custody **out, size_t *count)
{
    adp_arg a = {.account_id = account_id};
    int r = run(st, "adp_custody_list", PG_AUTOCOMMIT, custody_list_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *count = a.count;
    }
    return r;
}

/* ---- the switch ---- */

static const char SQL_ROSTER_CUR[] = "SELECT coalesce(max(version), 0) FROM rosters WHERE account_id = $1";
static const char SQL_ROSTER_INS[] = "INSERT INTO rosters (account_id, version, roster) VALUES ($1, $2, $3)";
static const char SQL_KC_CAS[] = "UPDATE keychains SET version = $2, keychain = $3"
                                 " WHERE account_id = $1 AND version = $2 - 1";

static int switch_body(pg_ctx *x, void *p)
{
    const kw_store_adp_switch *sw = ((adp_arg *)p)->sw;
    kw_store_adp_state state;
    int64_t cur = 0;
    int changes = 0;
    int r = lock_account(x, sw->account_id);
    if (r == KW_OK)
        r = pg_scalar(x, SQL_ROSTER_CUR, &cur, "i", sw->account_id);
    if (r == KW_OK && cur == 0)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK && cur + 1 != sw->roster_version)
        r = KW_ERR_CONFLICT;
    if (r == KW_OK)
        r = state_read(x, sw->account_id, &state);
    if (r == KW_OK && state.enabled == sw->enable)
        r = KW_ERR_CONFLICT;
    if (r == KW_OK)
        r = pg_q(x, SQL_ROSTER_INS, NULL, NULL, "iib", sw->account_id, sw->roster_version, sw->roster,
                 sw->roster_len);
    if (r == KW_OK && sw->keychain_version != 0) {
        r = pg_q(x, SQL_KC_CAS, NULL, &changes, "iib", sw->account_id, sw->keychain_version, sw->keychain,
                 sw->keychain_len);
        if (r == KW_OK && changes != 1)
            r = KW_ERR_CONFLICT;
    }
    for (size_t i = 0; i < sw->ndrop && r == KW_OK; i++)
        r = pg_q(x, SQL_CUSTODY_DROP, NULL, NULL, "it", sw->account_id, sw->drop[i]);
    if (r == KW_OK)
        r = custody_insert(x, sw->account_id, sw->escrow, sw->nescrow, sw->now);
    if (r == KW_OK)
        r = pg_q(x, SQL_STATE_PUT, NULL, NULL, "iiii", sw->account_id, I64(sw->enable ? 1 : 0), sw->roster_version,
                 sw->now);
    return r;
}

static int pg_adp_switch_apply(kw_store *st, const kw_store_adp_switch *sw)
{
    adp_arg a = {.sw = sw};
    return run(st, "adp_switch", PG_READ_COMMITTED, switch_body, &a);
}

/* ---- device capabilities ---- */

static const char SQL_CAPS_SET[] =
    "INSERT INTO adp_device_caps (device_id, caps, declared_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (device_id) DO UPDATE SET caps = excluded.caps, declared_at = excluded.declared_at";
static const char SQL_CAPS_GET[] = "SELECT caps FROM adp_device_caps WHERE device_id = $1";

static int caps_set_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    return pg_q(x, SQL_CAPS_SET, NULL, NULL, "Iii", a->id, a->caps, a->now);
}

static int pg_adp_caps_set(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t caps, int64_t now)
{
    adp_arg a = {.id = device_id, .caps = caps, .now = now};
    return run(st, "adp_caps_set", PG_AUTOCOMMIT, caps_set_body, &a);
}

static int caps_get_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    int r = pg_scalar(x, SQL_CAPS_GET, a->i64_out, "I", a->id);
    if (r == KW_ERR_NOT_FOUND) {
        *a->i64_out = 0;
        r = KW_OK;
    }
    return r;
}

static int pg_adp_caps_get(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t *caps)
{
    adp_arg a = {.id = device_id, .i64_out = caps};
    return run(st, "adp_caps_get", PG_AUTOCOMMIT, caps_get_body, &a);
}

/* ---- passcode escrow ---- */

static const char SQL_PC_PUT[] =
    "INSERT INTO adp_passcode (account_id, salt, verifier, blob, generation, attempts_left)"
    " VALUES ($1, $2, $3, $4, $5, 10) ON CONFLICT (account_id) DO UPDATE SET salt = excluded.salt,"
    " verifier = excluded.verifier, blob = excluded.blob, generation = excluded.generation,"
    " attempts_left = 10";
static const char SQL_PC_LOCK[] = "SELECT salt, verifier, blob, generation, attempts_left FROM adp_passcode"
                                  " WHERE account_id = $1 FOR UPDATE";
static const char SQL_PC_SPEND[] =
    "UPDATE adp_passcode SET attempts_left = attempts_left - 1 WHERE account_id = $1 AND attempts_left > 0";
static const char SQL_PC_DEL[] = "DELETE FROM adp_passcode WHERE account_id = $1";
static const char SQL_PC_RESET[] = "UPDATE adp_passcode SET attempts_left = 10 WHERE account_id = $1";
static const char SQL_PC_LEFT[] = "SELECT attempts_left, salt FROM adp_passcode WHERE account_id = $1";

static int pc_put_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    const kw_store_adp_passcode *pc = a->pc_in;
    return pg_q(x, SQL_PC_PUT, NULL, NULL, "ibbbi", a->account_id, pc->salt, (size_t)KW_STORE_ADP_SALTBYTES,
                pc->verifier, pc->verifier_len, pc->blob, pc->blob_len, pc->generation);
}

static int pg_adp_passcode_put(kw_store *st, int64_t account_id, const kw_store_adp_passcode *p)
{
    adp_arg a = {.account_id = account_id, .pc_in = p};
    return run(st, "adp_passcode_put", PG_AUTOCOMMIT, pc_put_body, &a);
}

/* Locks the escrow row, reads it as it was, spends one attempt (deleting
 * the row with its last one). A row found with no attempt left (never
 * acknowledged as usable) is deleted and reported as absent. */
static int pc_take_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    kw_store_adp_passcode *out = a->pc_out;
    PGresult *res = NULL;
    int changes = 0;
    kw_store_adp_passcode_clear(out);
    a->last = false;
    int r = pg_q(x, SQL_PC_LOCK, &res, NULL, "i", a->account_id);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        pg_col_fixed(res, 0, 0, out->salt, sizeof(out->salt));
        out->generation = pg_col_i64(res, 0, 3);
        out->attempts_left = pg_col_i64(res, 0, 4);
        if ((r = pg_col_dup(res, 0, 1, &out->verifier, &out->verifier_len)) == KW_OK)
            r = pg_col_dup(res, 0, 2, &out->blob, &out->blob_len);
    }
    PQclear(res);
    if (r == KW_OK && out->attempts_left <= 0) {
        r = pg_q(x, SQL_PC_DEL, NULL, NULL, "i", a->account_id);
        if (r == KW_OK)
            r = pg_simple(x, "COMMIT");
        if (r == KW_OK)
            r = KW_ERR_NOT_FOUND;
    }
    if (r == KW_OK) {
        if (out->attempts_left == 1) {
            a->last = true;
            r = pg_q(x, SQL_PC_DEL, NULL, &changes, "i", a->account_id);
        } else {
            r = pg_q(x, SQL_PC_SPEND, NULL, &changes, "i", a->account_id);
        }
        if (r == KW_OK && changes != 1)
            r = KW_ERR_CONFLICT;
    }
    if (r != KW_OK) {
        kw_store_adp_passcode_clear(out);
        a->last = false;
    }
    return r;
}

static int pg_adp_passcode_take_attempt(kw_store *st, int64_t account_id, kw_store_adp_passcode *out,
                                        bool *last)
{
    memset(out, 0, sizeof(*out));
    adp_arg a = {.account_id = account_id, .pc_out = out};
    int r = run(st, "adp_passcode_attempt", PG_READ_COMMITTED, pc_take_body, &a);
    if (r != KW_OK) {
        kw_store_adp_passcode_clear(out);
        a.last = false;
    }
    *last = a.last;
    return r;
}

static int pc_reset_body(pg_ctx *x, void *p)
{
    return pg_q(x, SQL_PC_RESET, NULL, NULL, "i", ((adp_arg *)p)->account_id);
}

static int pg_adp_passcode_success(kw_store *st, int64_t account_id)
{
    adp_arg a = {.account_id = account_id};
    return run(st, "adp_passcode_success", PG_AUTOCOMMIT, pc_reset_body, &a);
}

static int pc_left_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_PC_LEFT, &res, NULL, "i", a->account_id);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK) {
        *a->i64_out = pg_col_i64(res, 0, 0);
        if (a->salt_out != NULL)
            pg_col_fixed(res, 0, 1, a->salt_out, KW_STORE_ADP_SALTBYTES);
    }
    PQclear(res);
    return r;
}

static int pg_adp_passcode_exists(kw_store *st, int64_t account_id, int64_t *left, uint8_t *salt)
{
    adp_arg a = {.account_id = account_id, .i64_out = left, .salt_out = salt};
    return run(st, "adp_passcode_exists", PG_AUTOCOMMIT, pc_left_body, &a);
}

static int pc_del_body(pg_ctx *x, void *p)
{
    int changes = 0;
    int r = pg_q(x, SQL_PC_DEL, NULL, &changes, "i", ((adp_arg *)p)->account_id);
    if (r == KW_OK && changes == 0)
        r = KW_ERR_NOT_FOUND;
    return r;
}

static int pg_adp_passcode_delete(kw_store *st, int64_t account_id)
{
    adp_arg a = {.account_id = account_id};
    return run(st, "adp_passcode_delete", PG_AUTOCOMMIT, pc_del_body, &a);
}

/* ---- web access ---- */

#define WEB_COLS "id, account_id, web_session_id, ephemeral_pk, categories, state, created_at, expires_at"
static const char SQL_WEB_ADD[] = "INSERT INTO adp_web_requests (" WEB_COLS
                                  ") VALUES ($1, $2, $3, $4, $5, 0, $6, $7)";
static const char SQL_WEB_GET[] = "SELECT " WEB_COLS " FROM adp_web_requests WHERE id = $1";
static const char SQL_WEB_LIST[] = "SELECT " WEB_COLS " FROM adp_web_requests WHERE account_id = $1"
                                   " AND state = 0 AND expires_at > $2 ORDER BY created_at, id";
static const char SQL_WEB_APPROVE[] =
    "UPDATE adp_web_requests SET state = 1, expires_at = $3 WHERE id = $1 AND account_id = $2"
    " AND state = 0 AND expires_at > $4";
static const char SQL_GRANT_ADD[] =
    "INSERT INTO adp_web_grants (request_id, category, generation, sealed) VALUES ($1, $2, $3, $4)";
static const char SQL_GRANTS[] =
    "SELECT g.category, g.generation, g.sealed FROM adp_web_grants g JOIN adp_web_requests r"
    " ON r.id = g.request_id WHERE g.request_id = $1 AND r.state = 1 AND r.expires_at > $2"
    " ORDER BY g.category, g.generation";

static void read_web(const PGresult *res, int row, kw_store_adp_web_request *w)
{
    memset(w, 0, sizeof(*w));
    pg_col_fixed(res, row, 0, w->id, sizeof(w->id));
    w->account_id = pg_col_i64(res, row, 1);
    pg_col_fixed(res, row, 2, w->web_session_id, sizeof(w->web_session_id));
    pg_col_fixed(res, row, 3, w->ephemeral_pk, sizeof(w->ephemeral_pk));
    pg_col_text(res, row, 4, w->categories, sizeof(w->categories));
    w->state = (int)pg_col_i64(res, row, 5);
    w->created_at = pg_col_i64(res, row, 6);
    w->expires_at = pg_col_i64(res, row, 7);
}

static int web_add_body(pg_ctx *x, void *p)
{
    const kw_store_adp_web_request *rq = ((adp_arg *)p)->rq_in;
    return pg_q(x, SQL_WEB_ADD, NULL, NULL, "IiIHtii", rq->id, rq->account_id, rq->web_session_id,
                rq->ephemeral_pk, rq->categories, rq->created_at, rq->expires_at);
}

static int pg_adp_web_request_add(kw_store *st, const kw_store_adp_web_request *rq)
{
    adp_arg a = {.rq_in = rq};
    return run(st, "adp_web_request_add", PG_AUTOCOMMIT, web_add_body, &a);
}

static int web_get_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_WEB_GET, &res, NULL, "I", a->id);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK)
        read_web(res, 0, a->rq_out);
    PQclear(res);
    return r;
}

static int pg_adp_web_request_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES],
                                  kw_store_adp_web_request *out)
{
    adp_arg a = {.id = id, .rq_out = out};
    return run(st, "adp_web_request_get", PG_AUTOCOMMIT, web_get_body, &a);
}

static int web_list_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_WEB_LIST, &res, NULL, "ii", a->account_id, a->now);
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    kw_store_adp_web_request *list = NULL;
    if (n > 0 && (list = calloc((size_t)n, sizeof(*list))) == NULL)
        r = KW_ERR_NOMEM;
    for (int i = 0; i < n && r == KW_OK; i++)
        read_web(res, i, &list[i]);
    PQclear(res);
    if (r != KW_OK)
        return r;
    a->list = list;
    a->count = (size_t)n;
    return KW_OK;
}

static int pg_adp_web_request_list(kw_store *st, int64_t account_id, int64_t now, kw_store_adp_web_request **out,
                                   size_t *count)
{
    adp_arg a = {.account_id = account_id, .now = now};
    int r = run(st, "adp_web_request_list", PG_AUTOCOMMIT, web_list_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *count = a.count;
    }
    return r;
}

static int web_approve_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_WEB_APPROVE, NULL, &changes, "Iiii", a->id, a->account_id, a->expires_at, a->now);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_CONFLICT;
    for (size_t i = 0; i < a->n && r == KW_OK; i++)
        r = pg_q(x, SQL_GRANT_ADD, NULL, NULL, "Itib", a->id, a->grants[i].category, a->grants[i].generation,
                 a->grants[i].sealed, a->grants[i].sealed_len);
    return r;
}

static int pg_adp_web_approve(kw_store *st, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES],
                              const kw_store_adp_web_grant *grants, size_t n, int64_t expires_at, int64_t now)
{
    adp_arg a = {.account_id = account_id, .id = id, .grants = grants, .n = n, .expires_at = expires_at,
                 .now = now};
    return run(st, "adp_web_approve", PG_READ_COMMITTED, web_approve_body, &a);
}

static int grants_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_GRANTS, &res, NULL, "Ii", a->id, a->now);
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    kw_store_adp_web_grant *list = NULL;
    if (n > 0 && (list = calloc((size_t)n, sizeof(*list))) == NULL)
        r = KW_ERR_NOMEM;
    for (int i = 0; i < n && r == KW_OK; i++) {
        pg_col_text(res, i, 0, list[i].category, sizeof(list[i].category));
        list[i].generation = pg_col_i64(res, i, 1);
        r = pg_col_dup(res, i, 2, &list[i].sealed, &list[i].sealed_len);
    }
    PQclear(res);
    if (r != KW_OK) {
        kw_store_adp_web_grants_free(list, (size_t)n);
        return r;
    }
    a->list = list;
    a->count = (size_t)n;
    return KW_OK;
}

static int pg_adp_web_grants(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now,
                             kw_store_adp_web_grant **out, size_t *count)
{
    adp_arg a = {.id = id, .now = now};
    int r = run(st, "adp_web_grants", PG_AUTOCOMMIT, grants_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *count = a.count;
    }
    return r;
}

/* ---- recovery contacts ---- */

#define CT_COLS                                                                                    \
    "c.id, c.account_id, c.contact_account_id, o.name, k.name, c.unwrap_key, c.packets, c.kk_wrap, " \
    "c.generation, c.state, c.requested_at, c.release_at, c.created_at"
#define CT_FROM                                                                                    \
    " FROM adp_contacts c JOIN accounts o ON o.id = c.account_id JOIN accounts k ON k.id = "       \
    "c.contact_account_id"
static const char SQL_CT_COUNT[] = "SELECT count(*) FROM adp_contacts WHERE account_id = $1";
static const char SQL_CT_ADD[] =
    "INSERT INTO adp_contacts (id, account_id, contact_account_id, unwrap_key, packets, kk_wrap,"
    " generation, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)";
static const char SQL_CT_BY_OWNER[] =
    "SELECT " CT_COLS CT_FROM " WHERE c.account_id = $1 ORDER BY c.created_at, c.id";
static const char SQL_CT_BY_CONTACT[] =
    "SELECT " CT_COLS CT_FROM " WHERE c.contact_account_id = $1 ORDER BY c.created_at, c.id";
static const char SQL_CT_GET[] = "SELECT " CT_COLS CT_FROM " WHERE c.id = $1";
static const char SQL_CT_STATE[] =
    "UPDATE adp_contacts SET state = $2, requested_at = $3, release_at = $4 WHERE id = $1"
    " AND ($5 < 0 OR state = $5)";
static const char SQL_CT_DEL[] = "DELETE FROM adp_contacts WHERE id = $1 AND account_id = $2";
static const char SQL_CT_REWRAP[] =
    "UPDATE adp_contacts SET kk_wrap = $3, generation = $4 WHERE id = $1 AND account_id = $2";

static int read_contact(const PGresult *res, int row, kw_store_adp_contact *c)
{
    memset(c, 0, sizeof(*c));
    pg_col_fixed(res, row, 0, c->id, sizeof(c->id));
    c->account_id = pg_col_i64(res, row, 1);
    c->contact_account_id = pg_col_i64(res, row, 2);
    pg_col_text(res, row, 3, c->owner_name, sizeof(c->owner_name));
    pg_col_text(res, row, 4, c->contact_name, sizeof(c->contact_name));
    c->generation = pg_col_i64(res, row, 8);
    c->state = (int)pg_col_i64(res, row, 9);
    c->requested_at = pg_col_i64(res, row, 10);
    c->release_at = pg_col_i64(res, row, 11);
    c->created_at = pg_col_i64(res, row, 12);
    int r = pg_col_dup(res, row, 5, &c->unwrap_key, &c->unwrap_key_len);
    if (r == KW_OK)
        r = pg_col_dup(res, row, 6, &c->packets, &c->packets_len);
    if (r == KW_OK)
        r = pg_col_dup(res, row, 7, &c->kk_wrap, &c->kk_wrap_len);
    return r;
}

static int ct_add_body(pg_ctx *x, void *p)
{
    const kw_store_adp_contact *ct = ((adp_arg *)p)->ct_in;
    int64_t n = 0;
    int r = lock_account(x, ct->account_id);
    if (r == KW_OK)
        r = pg_scalar(x, SQL_CT_COUNT, &n, "i", ct->account_id);
    if (r == KW_OK && n >= KW_STORE_ADP_CONTACTS_MAX)
        r = KW_ERR_LIMIT;
    if (r == KW_OK)
        r = pg_q(x, SQL_CT_ADD, NULL, NULL, "Iiibbbii", ct->id, ct->account_id, ct->contact_account_id,
                 ct->unwrap_key, ct->unwrap_key_len, ct->packets, ct->packets_len, ct->kk_wrap, ct->kk_wrap_len,
                 ct->generation, ct->created_at);
    return r;
}

static int pg_adp_contact_add(kw_store *st, const kw_store_adp_contact *ct)
{
    adp_arg a = {.ct_in = ct};
    return run(st, "adp_contact_add", PG_READ_COMMITTED, ct_add_body, &a);
}

static int ct_list_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    PGresult *res = NULL;
    const char *sql = a->owner != 0 ? SQL_CT_BY_OWNER : SQL_CT_BY_CONTACT;
    int r = pg_q(x, sql, &res, NULL, "i", a->owner != 0 ? a->owner : a->contact);
    if (r != KW_OK)
        return r;
    int n = PQntuples(res);
    kw_store_adp_contact *list = NULL;
    if (n > 0 && (list = calloc((size_t)n, sizeof(*list))) == NULL)
        r = KW_ERR_NOMEM;
    for (int i = 0; i < n && r == KW_OK; i++)
        r = read_contact(res, i, &list[i]);
    PQclear(res);
    if (r != KW_OK) {
        kw_store_adp_contacts_free(list, (size_t)n);
        return r;
    }
    a->list = list;
    a->count = (size_t)n;
    return KW_OK;
}

static int pg_adp_contact_list(kw_store *st, int64_t owner, int64_t contact, kw_store_adp_contact **out,
                               size_t *count)
{
    adp_arg a = {.owner = owner, .contact = contact};
    int r = run(st, "adp_contact_list", PG_AUTOCOMMIT, ct_list_body, &a);
    if (r == KW_OK) {
        *out = a.list;
        *count = a.count;
    }
    return r;
}

static int ct_get_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_CT_GET, &res, NULL, "I", a->id);
    if (r == KW_OK && PQntuples(res) != 1)
        r = KW_ERR_NOT_FOUND;
    if (r == KW_OK && (r = read_contact(res, 0, a->ct_out)) != KW_OK)
        kw_store_adp_contact_clear(a->ct_out);
    PQclear(res);
    return r;
}

static int pg_adp_contact_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_adp_contact *out)
{
    adp_arg a = {.id = id, .ct_out = out};
    return run(st, "adp_contact_get", PG_AUTOCOMMIT, ct_get_body, &a);
}

static int ct_state_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_CT_STATE, NULL, &changes, "Iiiii", a->id, I64(a->state), a->requested_at, a->release_at,
                 I64(a->from_state));
    if (r == KW_OK && changes != 1)
        r = KW_ERR_CONFLICT;
    return r;
}

static int pg_adp_contact_set_state(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int from_state, int state,
                                    int64_t requested_at, int64_t release_at)
{
    adp_arg a = {.id = id, .from_state = from_state, .state = state, .requested_at = requested_at,
                 .release_at = release_at};
    return run(st, "adp_contact_set_state", PG_AUTOCOMMIT, ct_state_body, &a);
}

static int ct_del_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    int changes = 0;
    int r = pg_q(x, SQL_CT_DEL, NULL, &changes, "Ii", a->id, a->owner);
    if (r == KW_OK && changes != 1)
        r = KW_ERR_NOT_FOUND;
    return r;
}

static int pg_adp_contact_remove(kw_store *st, int64_t owner, const uint8_t id[KW_STORE_ID_BYTES])
{
    adp_arg a = {.owner = owner, .id = id};
    return run(st, "adp_contact_remove", PG_AUTOCOMMIT, ct_del_body, &a);
}

static int ct_rewrap_body(pg_ctx *x, void *p)
{
    adp_arg *a = p;
    int changes = 0;
    int r = KW_OK;
    for (size_t i = 0; i < a->n && r == KW_OK; i++) {
        r = pg_q(x, SQL_CT_REWRAP, NULL, &changes, "Iibi", a->ids[i], a->owner, a->wraps[i], a->lens[i],
                 a->generation);
        if (r == KW_OK && changes != 1)
            r = KW_ERR_NOT_FOUND;
    }
    return r;
}

static int pg_adp_contact_rewrap(kw_store *st, int64_t owner, int64_t generation,
                                 const uint8_t (*ids)[KW_STORE_ID_BYTES], const uint8_t *const *wraps,
                                 const size_t *lens, size_t n)
{
    adp_arg a = {.owner = owner, .generation = generation, .ids = ids, .wraps = wraps, .lens = lens, .n = n};
    return run(st, "adp_contact_rewrap", PG_READ_COMMITTED, ct_rewrap_body, &a);
}

const struct kw_store_adp_ops pg_adp_ops = {
    .contact_add = pg_adp_contact_add,
    .contact_list = pg_adp_contact_list,
    .contact_get = pg_adp_contact_get,
    .contact_set_state = pg_adp_contact_set_state,
    .contact_remove = pg_adp_contact_remove,
    .contact_rewrap = pg_adp_contact_rewrap,
    .state_get = pg_adp_state_get,
    .web_access_set = pg_adp_web_access_set,
    .custody_put = pg_adp_custody_put,
    .custody_list = pg_adp_custody_list,
    .switch_apply = pg_adp_switch_apply,
    .caps_set = pg_adp_caps_set,
    .caps_get = pg_adp_caps_get,
    .passcode_put = pg_adp_passcode_put,
    .passcode_take_attempt = pg_adp_passcode_take_attempt,
    .passcode_success = pg_adp_passcode_success,
    .passcode_exists = pg_adp_passcode_exists,
    .passcode_delete = pg_adp_passcode_delete,
    .web_request_add = pg_adp_web_request_add,
    .web_request_get = pg_adp_web_request_get,
    .web_request_list = pg_adp_web_request_list,
    .web_approve = pg_adp_web_approve,
    .web_grants = pg_adp_web_grants,
};
