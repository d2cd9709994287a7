/*
 * server/store/postgres_admin.c — PostgreSQL backend: the consistency check
 * (every rule of store/admin.h in one read-only snapshot) and the leader
 * lease.
 *
 * The lease is a row (name, holder, expiry in milliseconds of the
 * database's clock), taken or renewed by one conditional upsert: it goes to
 * the caller when nobody holds it, when the caller already holds it, or when
 * the holder let it expire. This works the same on PostgreSQL-compatible
 * distributed engines, which lack session advisory locks, and a holder that
 * dies (kill -9, lost network) loses the lease after its ttl without anyone
 * having to notice the death.
 */
#include <string.h>

#include "keyward/err.h"
#include "store/admin.h"
#include "store/postgres_internal.h"

/* Component "admin": the lease table. */
static const char pg_admin_v1[] = "CREATE TABLE leases ("
                                  "  name TEXT PRIMARY KEY,"
                                  "  holder TEXT NOT NULL,"
                                  "  expires_ms BIGINT NOT NULL"
                                  ");";
static const char *const pg_admin_steps[] = {pg_admin_v1};
const pg_component pg_admin_component = {"admin", pg_admin_steps, 1};

#define NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT"

static const char SQL_LEASE_TRY[] =
    "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, " NOW_MS " + $3)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms"
    " WHERE leases.holder = excluded.holder OR leases.expires_ms <= " NOW_MS
    " RETURNING holder";
static const char SQL_LEASE_RELEASE[] = "DELETE FROM leases WHERE name = $1 AND holder = $2";

typedef struct {
    kw_store_check_report report;
    void *ud;
    int64_t total;
} check_arg;

static int check_body(pg_ctx *x, void *p)
{
    check_arg *a = p;
    a->total = 0;
    for (size_t i = 0; i < kw_store_check_nrules; i++) {
        int64_t n = 0;
        int r = pg_scalar(x, kw_store_check_rules[i].sql, &n, "");
        if (r != KW_OK)
            return r;
        if (a->report != NULL)
            a->report(a->ud, &kw_store_check_rules[i], n);
        a->total += n;
    }
    return KW_OK;
}

static int pg_check(kw_store *st, kw_store_check_report report, void *ud, int64_t *problems)
{
    check_arg a = {.report = report, .ud = ud};
    int r = pg_run_txn((pg_store *)st, "check", PG_SNAPSHOT, check_body, &a);
    if (r == KW_OK)
        *problems = a.total;
    return r;
}

typedef struct {
    const char *name, *holder;
    int64_t ttl_ms;
    bool held;
} lease_arg;

static int lease_try_body(pg_ctx *x, void *p)
{
    lease_arg *a = p;
    PGresult *res = NULL;
    int r = pg_q(x, SQL_LEASE_TRY, &res, NULL, "tti", a->name, a->holder, a->ttl_ms);
    if (r != KW_OK)
        return r;
    a->held = PQntuples(res) == 1;
    PQclear(res);
    return KW_OK;
}

static int pg_leader_try(kw_store *st, const char *name, const char *holder, int64_t ttl_ms, bool *held)
{
    lease_arg a = {.name = name, .holder = holder, .ttl_ms = ttl_ms};
    int r = pg_run_txn((pg_store *)st, "leader_try", PG_AUTOCOMMIT, lease_try_body, &a);
    if (r == KW_ERR_CONFLICT) /* two first inserts raced; the other one won */
        r = KW_OK;
    if (r == KW_OK)
        *held = a.held;
    return r;
}

static int lease_release_body(pg_ctx *x, void *p)
{
    lease_arg *a = p;
    return pg_q(x, SQL_LEASE_RELEASE, NULL, NULL, "tt", a->name, a->holder);
}

static int pg_leader_release(kw_store *st, const char *name, const char *holder)
{
    lease_arg a = {.name = name, .holder = holder};
    return pg_run_txn((pg_store *)st, "leader_release", PG_AUTOCOMMIT, lease_release_body, &a);
}

const struct kw_store_admin_ops pg_admin_ops = {
    .check = pg_check,
    .leader_try = pg_leader_try,
    .leader_release = pg_leader_release,
};
