/*
 * server/store/sqlite_admin.c — SQLite backend: the consistency check
 * (every rule of store/admin.h, under the store lock inside one read
 * transaction) and the leader lease, which a single-node store always
 * grants: a SQLite file serves exactly one keywardd.
 */
#include "keyward/err.h"
#include "store/admin.h"
#include "store/sqlite_internal.h"

static int sq_check(kw_store *st, kw_store_check_report report, void *ud, int64_t *problems)
{
    sq_store *s = sq_lock(st, "check");
    int64_t total = 0;
    int r = sq_begin(s);
    for (size_t i = 0; r == KW_OK && i < kw_store_check_nrules; i++) {
        int64_t n = 0;
        r = sq_scalar_q(s, kw_store_check_rules[i].sql, &n, "");
        if (r == KW_OK) {
            if (report != NULL)
                report(ud, &kw_store_check_rules[i], n);
            total += n;
        }
    }
    if (r == KW_OK)
        r = sq_commit(s);
    sq_unlock(s);
    if (r == KW_OK)
        *problems = total;
    return r;
}

static int sq_leader_try(kw_store *st, const char *name, const char *holder, int64_t ttl_ms, bool *held)
{
    (void)st;
    (void)name;
    (void)holder;
    (void)ttl_ms;
    *held = true;
    return KW_OK;
}

static int sq_leader_release(kw_store *st, const char *name, const char *holder)
{
    (void)st;
    (void)name;
    (void)holder;
    return KW_OK;
}

const struct kw_store_admin_ops sq_admin_ops = {
    .check = sq_check,
    .leader_try = sq_leader_try,
    .leader_release = sq_leader_release,
};
