/*
 * tests/unit/server/pg_reuse.h — runs another domain's store unit test
 * (written against SQLite paths) on PostgreSQL without editing it:
 *
 *     #include "pg_reuse.h"
 *     #include "test_store_adp.c"
 *
 * When KEYWARD_TEST_STORE_URI names PostgreSQL (scripts/test-pg), every
 * kw_store_open(path) of the included test is redirected to a database of
 * its own, created on first use of that path (reopening the same path
 * reaches the same database, as reopening a SQLite file does) and dropped
 * at exit. Without that variable the test runs on SQLite unchanged.
 */
#ifndef KEYWARD_TESTS_PG_REUSE_H
#define KEYWARD_TESTS_PG_REUSE_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyward/err.h"
#include "store/store.h"

#define PGR_MAX 64

static struct {
    char path[256];
    char db[64];
} pgr_map[PGR_MAX];
static size_t pgr_n;

static const char *pgr_base(void)
{
    const char *u = getenv("KEYWARD_TEST_STORE_URI");
    if (u != NULL && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0))
        return u;
    return NULL;
}

static int pgr_admin(const char *sql)
{
    PGconn *c = PQconnectdb(pgr_base());
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *res = PQexec(c, sql);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    if (!ok)
        fprintf(stderr, "pg_reuse: %s", PQerrorMessage(c));
    PQfinish(c);
    return ok ? 0 : -1;
}

static void pgr_drop_all(void)
{
    char sql[128];
    for (size_t i = 0; i < pgr_n; i++) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pgr_map[i].db);
        pgr_admin(sql);
    }
}

static int pgr_store_open(const char *path, kw_store **out)
{
    const char *base = pgr_base();
    char sql[128], uri[512];
    size_t i;
    if (base == NULL)
        return kw_store_open(path, out);
    for (i = 0; i < pgr_n && strcmp(pgr_map[i].path, path) != 0; i++)
        ;
    if (i == pgr_n) {
        if (pgr_n == PGR_MAX || strlen(path) >= sizeof(pgr_map[0].path))
            return KW_ERR_LIMIT;
        if (pgr_n == 0)
            atexit(pgr_drop_all);
        snprintf(pgr_map[i].path, sizeof(pgr_map[i].path), "%s", path);
        snprintf(pgr_map[i].db, sizeof(pgr_map[i].db), "kwr_%d_%zu", (int)getpid(), i);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", pgr_map[i].db);
        if (pgr_admin(sql) != 0)
            return KW_ERR_STORAGE;
        pgr_n++;
    }
    snprintf(uri, sizeof(uri), "%s%cdbname=%s", base, strchr(base, '?') != NULL ? '&' : '?', pgr_map[i].db);
    return kw_store_open(uri, out);
}

#define kw_store_open pgr_store_open

#endif
