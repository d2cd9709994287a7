/*
 * server/store/admin.c — kw_store_check and the leader lease: argument
 * checks and dispatch to the backend's admin ops (store/admin.h), and the
 * consistency rules both backends run.
 */
#include "store/admin.h"

#include <string.h>

#include "keyward/err.h"
#include "store/backend.h"

/* Portable SQL (SQLite and PostgreSQL): each counts the rows breaking one
 * invariant of store.h. */
const kw_store_check_rule kw_store_check_rules[] = {
    {"device_account", "devices whose account does not exist",
     "SELECT count(*) FROM devices AS d WHERE NOT EXISTS"
     " (SELECT 1 FROM accounts AS a WHERE a.id = d.account_id)"},
    {"account_roster", "accounts without a roster",
     "SELECT count(*) FROM accounts AS a WHERE NOT EXISTS"
     " (SELECT 1 FROM rosters AS r WHERE r.account_id = a.id)"},
    {"roster_contiguous", "accounts whose roster versions are not exactly 1..latest",
     "SELECT count(*) FROM (SELECT account_id FROM rosters GROUP BY account_id"
     " HAVING min(version) <> 1 OR max(version) <> count(*)) AS g"},
    {"account_keychain", "accounts without a keychain",
     "SELECT count(*) FROM accounts AS a WHERE NOT EXISTS"
     " (SELECT 1 FROM keychains AS k WHERE k.account_id = a.id)"},
    {"kk_contiguous", "accounts whose KK generations are not exactly 1..current",
     "SELECT (SELECT count(*) FROM accounts AS a WHERE NOT EXISTS"
     " (SELECT 1 FROM kk_generations AS g WHERE g.account_id = a.id)) +"
     " (SELECT count(*) FROM (SELECT account_id FROM kk_generations GROUP BY account_id"
     " HAVING min(generation) <> 1 OR max(generation) <> count(*)) AS g)"},
    {"kk_chain", "KK generations after the first without their chain blob",
     "SELECT count(*) FROM kk_generations WHERE generation > 1 AND chain IS NULL"},
    {"trusted_wrap", "trusted devices without a wrap of their account's current KK",
     "SELECT count(*) FROM devices AS d WHERE d.state = 1 AND NOT EXISTS"
     " (SELECT 1 FROM kk_wraps AS w WHERE w.account_id = d.account_id AND w.device_id = d.id"
     " AND w.generation = (SELECT max(generation) FROM kk_generations AS g"
     " WHERE g.account_id = d.account_id))"},
    {"wrap_device", "KK wraps held by a device that is missing, another account's or removed",
     "SELECT count(*) FROM kk_wraps AS w WHERE NOT EXISTS"
     " (SELECT 1 FROM devices AS d WHERE d.id = w.device_id AND d.account_id = w.account_id"
     " AND d.state <> 2)"},
    {"session_device", "sessions whose device is missing or another account's",
     "SELECT count(*) FROM sessions AS s WHERE NOT EXISTS"
     " (SELECT 1 FROM devices AS d WHERE d.id = s.device_id AND d.account_id = s.account_id)"},
    {"removed_session", "live (unrevoked) sessions of removed devices",
     "SELECT count(*) FROM sessions AS s JOIN devices AS d ON d.id = s.device_id"
     " WHERE d.state = 2 AND s.revoked = 0"},
    {"recovery_generation", "recovery wraps of a KK generation that does not exist",
     "SELECT count(*) FROM recovery AS r WHERE NOT EXISTS"
     " (SELECT 1 FROM kk_generations AS g WHERE g.account_id = r.account_id"
     " AND g.generation = r.generation)"},
};
const size_t kw_store_check_nrules = sizeof(kw_store_check_rules) / sizeof(kw_store_check_rules[0]);

void kw_store_uri_redacted(const char *uri, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    if (uri == NULL)
        return;
    const char *scheme = strstr(uri, "://");
    const char *at = scheme != NULL ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme != NULL ? strchr(scheme + 3, '/') : NULL;
    const char *colon = scheme != NULL ? memchr(scheme + 3, ':', at != NULL ? (size_t)(at - scheme - 3) : 0) : NULL;
    if (slash != NULL && at != NULL && slash < at)
        at = colon = NULL; /* the '@' is not in the authority */
    for (const char *p = uri; *p != '\0' && o + 1 < cap;) {
        if (colon != NULL && p == colon + 1) { /* user:PASSWORD@ */
            for (const char *r = "***"; *r != '\0' && o + 1 < cap; r++)
                out[o++] = *r;
            p = at;
            continue;
        }
        if ((p == uri || p[-1] == '?' || p[-1] == '&' || p[-1] == ' ') && strncmp(p, "password=", 9) == 0) {
            for (const char *r = "password=***"; *r != '\0' && o + 1 < cap; r++)
                out[o++] = *r;
            p += 9;
            while (*p != '\0' && *p != '&' && *p != ' ')
                p++;
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
}

int kw_store_check(kw_store *st, kw_store_check_report report, void *ud, int64_t *problems)
{
    if (problems == NULL)
        return KW_ERR_INVALID_ARG;
    *problems = 0;
    if (st == NULL)
        return KW_ERR_INVALID_ARG;
    if (st->ops->admin == NULL)
        return KW_ERR_UNSUPPORTED;
    return st->ops->admin->check(st, report, ud, problems);
}

static int check_lease_name(const char *name)
{
    if (name == NULL)
        return KW_ERR_INVALID_ARG;
    size_t n = strnlen(name, KW_STORE_LEASE_NAME_MAX + 1);
    if (n > KW_STORE_LEASE_NAME_MAX)
        return KW_ERR_TOO_LARGE;
    return n == 0 ? KW_ERR_INVALID_ARG : KW_OK;
}

int kw_store_leader_try(kw_store *st, const char *name, const char *holder, int64_t ttl_ms, bool *held)
{
    int r;
    if (held == NULL)
        return KW_ERR_INVALID_ARG;
    *held = false;
    if (st == NULL || ttl_ms < 1 || ttl_ms > 24 * 3600 * 1000LL)
        return KW_ERR_INVALID_ARG;
    if ((r = check_lease_name(name)) != KW_OK || (r = check_lease_name(holder)) != KW_OK)
        return r;
    if (st->ops->admin == NULL)
        return KW_ERR_UNSUPPORTED;
    return st->ops->admin->leader_try(st, name, holder, ttl_ms, held);
}

int kw_store_leader_release(kw_store *st, const char *name, const char *holder)
{
    int r;
    if (st == NULL)
        return KW_ERR_INVALID_ARG;
    if ((r = check_lease_name(name)) != KW_OK || (r = check_lease_name(holder)) != KW_OK)
        return r;
    if (st->ops->admin == NULL)
        return KW_ERR_UNSUPPORTED;
    return st->ops->admin->leader_release(st, name, holder);
}
