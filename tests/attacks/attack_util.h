/*
 * attack_util.h — helpers shared by the attack tests (tests/attacks/): they
 * play the lying server by editing keywardd's SQLite database while it is
 * stopped, then restart it on the same data directory and drive the real
 * keyward CLI against it.
 *
 * Header-only (static inline) because the Makefile builds each
 * tests/attacks/test_*.c on its own with the integration harness.
 * Every helper asserts through cmocka: a failing edit fails the test that
 * asked for it, never silently.
 */
#ifndef KEYWARD_TESTS_ATTACK_UTIL_H
#define KEYWARD_TESTS_ATTACK_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <sqlite3.h>

#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keyward.h"
#include "util/harness.h"

#define AT_PASSWORD "correct horse battery staple"
#define AT_PASSPHRASE "integration-test-passphrase" /* what the harness sets */

/* The CLI, dumping its output on an unexpected exit code. */
static inline kw_it_result at_cli(const kw_it_server *s, const char *profile, const char *const *args,
                                  int expect)
{
    kw_it_result r = kw_it_cli(s, profile, NULL, args);
    if (r.status != expect)
        kw_it_dump(args[1] != NULL ? args[1] : args[0], &r);
    return r;
}

static inline const char *at_jstr(const kw_it_result *r, const char *key)
{
    const char *v = json_string_value(json_object_get(r->json, key));
    return v != NULL ? v : "";
}

/* The client refused with exit 2 (verification failed), a JSON error
 * {"error":{"code":"verify","exit":2,...}} on stdout and a message on
 * stderr that contains every given fragment (NULL-terminated). */
static inline void at_assert_refused(const kw_it_result *r, ...)
{
    va_list ap;
    const char *frag;
    if (r->status != 2)
        kw_it_dump("expected a refusal (exit 2)", r);
    assert_int_equal(r->status, 2);
    assert_non_null(r->json);
    json_t *e = json_object_get(r->json, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "verify");
    assert_int_equal(json_integer_value(json_object_get(e, "exit")), 2);
    va_start(ap, r);
    while ((frag = va_arg(ap, const char *)) != NULL) {
        if (strstr(r->err, frag) == NULL)
            fprintf(stderr, "stderr lacks \"%s\": %s\n", frag, r->err);
        assert_non_null(strstr(r->err, frag));
    }
    va_end(ap);
}

/* The fixture of an attack test (kw_it_fixture_up), with the CLI's account
 * password set to AT_PASSWORD. */
static inline int at_fixture_up(kw_it_server *s, const char *const *extra_args, const kw_it_prof *profs)
{
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return kw_it_fixture_up(s, extra_args, profs);
}

/* ---- the server's database ---- */

static inline sqlite3 *at_db_open(const kw_it_server *s)
{
    char path[400];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/data/keyward.db", s->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static inline void at_db_close(sqlite3 *db)
{
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Stops the server and opens its database for the lie. */
static inline sqlite3 *at_lie_begin(kw_it_server *s)
{
    kw_it_server_stop(s, false);
    return at_db_open(s);
}

/* Closes the database and restarts the server on the same directory. */
static inline void at_lie_end(kw_it_server *s, sqlite3 *db)
{
    at_db_close(db);
    assert_int_equal(kw_it_server_start(s, s->dir, NULL), 0);
}

/* Runs sql with up to two blob parameters (NULL for none) and, when
 * changes >= 0, asserts how many rows it changed. */
static inline void at_exec(sqlite3 *db, const char *sql, const void *b1, size_t l1, const void *b2,
                           size_t l2, int changes)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "prepare %s: %s\n", sql, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_OK);
    if (b1 != NULL)
        assert_int_equal(sqlite3_bind_blob(st, 1, b1, (int)l1, SQLITE_TRANSIENT), SQLITE_OK);
    if (b2 != NULL)
        assert_int_equal(sqlite3_bind_blob(st, 2, b2, (int)l2, SQLITE_TRANSIENT), SQLITE_OK);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        fprintf(stderr, "step %s: %s\n", sql, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_DONE);
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    if (changes >= 0)
        assert_int_equal(sqlite3_changes(db), changes);
}

/* The first column of the single row sql (with an optional blob parameter)
 * answers, as a malloc'd blob. */
static inline uint8_t *at_blob(sqlite3 *db, const char *sql, const void *b1, size_t l1, size_t *len)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (b1 != NULL)
        assert_int_equal(sqlite3_bind_blob(st, 1, b1, (int)l1, SQLITE_TRANSIENT), SQLITE_OK);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        fprintf(stderr, "no row for %s\n", sql);
    assert_int_equal(rc, SQLITE_ROW);
    int n = sqlite3_column_bytes(st, 0);
    const void *p = sqlite3_column_blob(st, 0);
    uint8_t *out = malloc((size_t)n + 1);
    assert_non_null(out);
    if (n > 0)
        memcpy(out, p, (size_t)n);
    *len = (size_t)n;
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    return out;
}

static inline int64_t at_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    return v;
}

/* A device id as printed by the CLI (base64url) to its 16 raw bytes. */
static inline void at_id(uint8_t id[16], const char *b64)
{
    size_t n = 0;
    assert_int_equal(kw_b64url_decode(id, 16, &n, b64, strlen(b64)), KW_OK);
    assert_int_equal(n, 16);
}

/* ---- the honest set-up ---- */

/* prof creates account name; its account key (base64url) goes to pk. */
static inline void at_create(const kw_it_server *s, const char *prof, const char *name,
                             const char *device_name, char pk[64])
{
    const char *args[] = {"--json", "account", "create", name, "--device-name", device_name, NULL};
    kw_it_result r = at_cli(s, prof, args, 0);
    assert_int_equal(r.status, 0);
    if (pk != NULL)
        snprintf(pk, 64, "%s", at_jstr(&r, "account_pk"));
    kw_it_result_free(&r);
}

/* Empties a profile directory (regular files only). */
static inline void at_profile_wipe(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[600];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

/* The trusted device `trusted` makes an approval code and device `newdev`
 * signs in to account name with it (pending); its device id and join code
 * go to id and join. A device id may start with '-' (1 in 64): the CLI
 * takes a well-formed device id as the ID even then, so no retry is
 * needed. */
static inline void at_pending(kw_it_server *s, const char *trusted, const char *newdev,
                              const char *name, const char *device_name, char id[32], char join[8])
{
    char code[8];
    const char *mk[] = {"--json", "approval-code", NULL};
    kw_it_result r = at_cli(s, trusted, mk, 0);
    assert_int_equal(r.status, 0);
    snprintf(code, sizeof(code), "%s", at_jstr(&r, "code"));
    kw_it_result_free(&r);
    const char *in[] = {"--json", "login", name, "--device-name", device_name, "--approval-code",
                        code, NULL};
    r = at_cli(s, newdev, in, 0);
    assert_int_equal(r.status, 0);
    snprintf(id, 32, "%s", at_jstr(&r, "device_id"));
    snprintf(join, 8, "%s", at_jstr(&r, "join_code"));
    kw_it_result_free(&r);
    assert_int_equal(strlen(id), 22);
}

/* The trusted device `trusted` lets device `newdev` join account name by
 * approval code and join code; newdev's device id goes to id. */
static inline void at_join(kw_it_server *s, const char *trusted, const char *newdev,
                           const char *name, const char *device_name, char id[32])
{
    char join[8];
    at_pending(s, trusted, newdev, name, device_name, id, join);
    const char *ok[] = {"--json", "device", "approve", id, "--code", join, NULL};
    kw_it_result r = at_cli(s, trusted, ok, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    const char *show[] = {"--json", "keychain", "show", NULL};
    r = at_cli(s, newdev, show, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
}

/* `keychain show` on prof succeeds and reports generation gen (0: any). */
static inline void at_keychain_ok(const kw_it_server *s, const char *prof, const char *pk, int64_t gen)
{
    const char *show[] = {"--json", "keychain", "show", NULL};
    kw_it_result r = at_cli(s, prof, show, 0);
    assert_int_equal(r.status, 0);
    if (pk != NULL)
        assert_string_equal(at_jstr(&r, "account_pk"), pk);
    if (gen > 0)
        assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), gen);
    kw_it_result_free(&r);
}

/* ---- what the operator holds: the server's files ---- */

/* Every regular file under the server's data directory and its log, read
 * into memory (at_files_load), searched for secrets in the encodings a
 * careless server might store them in (at_assert_absent). */
typedef struct {
    char path[512];
    uint8_t *data;
    size_t len;
} at_file;

typedef struct {
    at_file *f;
    size_t n, cap;
} at_files;

static inline void at_files_free(at_files *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        free(fs->f[i].data);
    free(fs->f);
    memset(fs, 0, sizeof(*fs));
}

/* Reads path (a file that vanished meanwhile, like a WAL at checkpoint, is
 * skipped). */
static inline void at_files_add(at_files *fs, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap != 0 ? 2 * fs->cap : 64;
        at_file *nf = realloc(fs->f, cap * sizeof(*nf));
        assert_non_null(nf);
        fs->f = nf;
        fs->cap = cap;
    }
    at_file *sf = &fs->f[fs->n++];
    snprintf(sf->path, sizeof(sf->path), "%s", path);
    sf->data = NULL;
    sf->len = 0;
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        uint8_t *nd = realloc(sf->data, sf->len + n);
        assert_non_null(nd);
        memcpy(nd + sf->len, buf, n);
        sf->data = nd;
        sf->len += n;
    }
    fclose(f);
}

static inline void at_files_add_dir(at_files *fs, const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[512];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int w = snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (w < 0 || (size_t)w >= sizeof(p))
            fail_msg("path too long under %s", dir);
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            at_files_add_dir(fs, p);
        else if (S_ISREG(st.st_mode))
            at_files_add(fs, p);
    }
    closedir(d);
}

/* (Re)loads everything the operator holds: the data directory and the
 * server log (not the device profiles the harness keeps beside them);
 * asserts that keyward.db was among them and not empty. */
static inline void at_files_load(at_files *fs, const kw_it_server *s)
{
    char p[400];
    at_files_free(fs);
    snprintf(p, sizeof(p), "%s/data", s->dir);
    at_files_add_dir(fs, p);
    at_files_add(fs, s->log_path);
    bool have_db = false;
    for (size_t i = 0; i < fs->n; i++)
        if (strstr(fs->f[i].path, "keyward.db") != NULL && fs->f[i].len > 0)
            have_db = true;
    assert_true(have_db);
}

static inline bool at_contains(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t n)
{
    for (size_t i = 0; n > 0 && n <= hay_len && i <= hay_len - n; i++) {
        const uint8_t *p = memchr(hay + i, needle[0], hay_len - n + 1 - i);
        if (p == NULL)
            return false;
        i = (size_t)(p - hay);
        if (memcmp(p, needle, n) == 0)
            return true;
    }
    return false;
}

/* The file holding needle (n > 0 bytes), or NULL. */
static inline const char *at_files_find(const at_files *fs, const void *needle, size_t n)
{
    for (size_t i = 0; i < fs->n; i++)
        if (at_contains(fs->f[i].data, fs->f[i].len, needle, n))
            return fs->f[i].path;
    return NULL;
}

/* Standard or URL base64 of the whole 3-byte groups of in (the characters
 * that stand in any longer encoding starting at that byte alignment). */
static inline void at_b64_groups(char *out, size_t cap, const uint8_t *in, size_t n, bool url)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url ? u : std;
    size_t o = 0;
    assert_true(cap > (n / 3) * 4);
    for (size_t i = 0; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

/* Asserts that secret (what names it; 8 to 256 bytes) appears in none of
 * the files: as raw bytes, hex (both cases), base64 and base64url. Inside a
 * longer base64 string the secret may start at any of three byte
 * alignments: skipping 0, 1 or 2 leading bytes and encoding whole groups
 * gives the characters that appear whatever the alignment. */
static inline void at_assert_absent(const at_files *fs, const char *what, const uint8_t *secret, size_t n)
{
    char enc[520];
    const char *hit;
    assert_true(n >= 8 && n <= 256);
    if ((hit = at_files_find(fs, secret, n)) != NULL)
        fail_msg("%s found as raw bytes in %s", what, hit);
    assert_int_equal(kw_hex_encode(enc, sizeof(enc), secret, n), KW_OK);
    if ((hit = at_files_find(fs, enc, strlen(enc))) != NULL)
        fail_msg("%s found as hex in %s", what, hit);
    for (char *p = enc; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    if ((hit = at_files_find(fs, enc, strlen(enc))) != NULL)
        fail_msg("%s found as HEX in %s", what, hit);
    for (size_t skip = 0; skip < 3; skip++)
        for (int url = 0; url < 2; url++) {
            at_b64_groups(enc, sizeof(enc), secret + skip, n - skip, url != 0);
            if ((hit = at_files_find(fs, enc, strlen(enc))) != NULL)
                fail_msg("%s found as base64%s (offset %zu) in %s", what, url ? "url" : "", skip, hit);
        }
}

/* The control of a search: v (what names it) must be found. */
static inline void at_assert_present(const at_files *fs, const char *what, const uint8_t *v, size_t n)
{
    if (at_files_find(fs, v, n) == NULL)
        fail_msg("control: %s not found in the server's files: the search is broken", what);
}

#endif
