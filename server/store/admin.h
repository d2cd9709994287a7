/*
 * server/store/admin.h — operations on the store as a whole: the
 * consistency check behind `keywardd check`, and the leader lease that lets
 * exactly one of several keywardd nodes on one shared store run a singleton
 * task (the key-transparency epoch publisher).
 *
 * Backends implement struct kw_store_admin_ops (SQLite: sqlite_admin.c,
 * PostgreSQL: postgres_admin.c); a backend without it gives
 * KW_ERR_UNSUPPORTED. Thread safety: like every kw_store_* function.
 */
#ifndef KEYWARD_SERVER_STORE_ADMIN_H
#define KEYWARD_SERVER_STORE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define KW_STORE_LEASE_NAME_MAX 64 /* lease and holder names, bytes */

/* One consistency rule: a query counting the rows that break it. The SQL
 * takes no parameters and is portable across the backends. */
typedef struct {
    const char *name;        /* short id, e.g. "device_account" */
    const char *description; /* what a violation means */
    const char *sql;         /* SELECT count(*) … */
} kw_store_check_rule;

/* The rules of the core schema (accounts, devices, rosters, KK, sessions). */
extern const kw_store_check_rule kw_store_check_rules[];
extern const size_t kw_store_check_nrules;

/* Receives one line per rule: its name, the number of violations, the
 * description. */
typedef void (*kw_store_check_report)(void *ud, const kw_store_check_rule *rule, int64_t violations);

/* Runs every rule (read-only, one snapshot where the backend has them);
 * *problems gets the total number of violations. report may be NULL.
 * Returns KW_OK when the rules ran (whatever they found). */
int kw_store_check(kw_store *st, kw_store_check_report report, void *ud, int64_t *problems);

/* Tries to take or renew the lease `name` for `holder` for ttl_ms
 * milliseconds: *held is true when holder has it now (newly taken, renewed,
 * or taken over because the previous holder let it expire). Call it again
 * well before ttl_ms runs out to keep it (e.g. every epoch with ttl = 2
 * epochs). Times are the database's clock where it has one, so the nodes'
 * clocks need not agree. A single-node backend (SQLite) always holds it.
 * KW_ERR_INVALID_ARG for empty/over-long names or ttl_ms < 1. */
int kw_store_leader_try(kw_store *st, const char *name, const char *holder, int64_t ttl_ms, bool *held);

/* Gives the lease up at once when holder has it (clean shutdown, so the
 * next node need not wait for expiry); KW_OK also when it was not held. */
int kw_store_leader_release(kw_store *st, const char *name, const char *holder);

/* The store URI fit for a log line: a password in it (postgres://u:PW@h/…
 * or a password=… parameter) replaced by "***"; truncated to cap. */
void kw_store_uri_redacted(const char *uri, char *out, size_t cap);

struct kw_store_admin_ops {
    int (*check)(kw_store *st, kw_store_check_report report, void *ud, int64_t *problems);
    int (*leader_try)(kw_store *st, const char *name, const char *holder, int64_t ttl_ms, bool *held);
    int (*leader_release)(kw_store *st, const char *name, const char *holder);
};

#endif
