/*
 * Attack 12 for records (DESIGN.md "Attacks the tests must show detected"):
 * the server trying to read end-to-end content. After A stores records in
 * an always-end-to-end category (passwords) and an ADP category (photos) —
 * a small inline record and a 3-piece chunked one each, with a known
 * plaintext marker in their contents and in their names — the test searches
 * every file under the server's data directory (database, WAL, chunk
 * files) and its log for:
 *   - the content marker and the name marker (plaintext),
 *   - the service keys of both categories (taken from A's keychain),
 *   - the record key of every record (unwrapped here with those keys),
 * and finds none of them. The search is shown to work: it finds the marker
 * in A's local source file, and a key planted in a scratch copy of the data.
 */
#include "attack_util.h"

#include <sys/stat.h>

#include "client/client_internal.h"
#include "keyward/record.h"

static kw_it_server srv;
static char *prof_a;
static char work[400];

#define CONTENT_MARKER "KW-KNOWN-PLAINTEXT-3c1e9a-"
#define NAME_MARKER "kw-secret-name-5b7d"

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    prof_a = kw_it_profile(&srv, "A");
    snprintf(work, sizeof(work), "%s/work", srv.dir);
    mkdir(work, 0700);
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof_a);
    return 0;
}

static bool contains(const uint8_t *h, size_t hl, const uint8_t *n, size_t nl)
{
    for (size_t i = 0; nl <= hl && i <= hl - nl; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nl) == 0)
            return true;
    return false;
}

static bool file_has(const char *path, const uint8_t *needle, size_t nlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    bool found = got >= nlen && contains(b, got, needle, nlen);
    free(b);
    return found;
}

/* Number of files under dir (recursively) holding needle. */
static int tree_has(const char *dir, const uint8_t *needle, size_t nlen, int *files)
{
    int hits = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[1200];
        struct stat sb;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            hits += tree_has(p, needle, nlen, files);
        } else if (S_ISREG(sb.st_mode)) {
            (*files)++;
            if (file_has(p, needle, nlen)) {
                fprintf(stderr, "found in %s\n", p);
                hits++;
            }
        }
    }
    closedir(d);
    return hits;
}

static int server_has(const uint8_t *needle, size_t nlen, int *files)
{
    char data[500];
    snprintf(data, sizeof(data), "%s/data", srv.dir);
    *files = 0;
    int hits = tree_has(data, needle, nlen, files);
    (*files)++;
    if (file_has(srv.log_path, needle, nlen))
        hits++;
    return hits;
}

static void mkput(const char *cat, const char *name, size_t len)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", work, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    for (size_t o = 0; o < len; o += strlen(CONTENT_MARKER) + 8)
        fprintf(f, "%s%08zu", CONTENT_MARKER, o);
    fclose(f);
    const char *put[] = {"--json", "put", cat, p, NULL};
    kw_it_result r = at_cli(&srv, prof_a, put, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
}

static void test_nothing_readable(void **state)
{
    (void)state;
    int files = 0;
    at_create(&srv, prof_a, "alice", "laptop-A", NULL);
    mkput("passwords", NAME_MARKER "-small.txt", 3000);
    mkput("passwords", NAME_MARKER "-large.txt", 2300000);
    mkput("photos", NAME_MARKER "-small.jpg", 3000);
    mkput("photos", NAME_MARKER "-large.jpg", 2300000);
    const char *ls[] = {"--json", "ls", "photos", NULL};
    kw_it_result r = at_cli(&srv, prof_a, ls, 0); /* the log sees reads too */
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    /* the search works: the marker is in the local file */
    char local[600];
    snprintf(local, sizeof(local), "%s/%s-small.txt", work, NAME_MARKER);
    assert_true(file_has(local, (const uint8_t *)CONTENT_MARKER, strlen(CONTENT_MARKER)));

    assert_int_equal(server_has((const uint8_t *)CONTENT_MARKER, strlen(CONTENT_MARKER), &files), 0);
    assert_true(files >= 4); /* database, WAL or chunks, log: the search looked somewhere */
    assert_int_equal(server_has((const uint8_t *)NAME_MARKER, strlen(NAME_MARKER), &files), 0);

    /* key material: the service keys and every record key */
    kw_client *c = NULL;
    kw_client_options o = {.profile_dir = prof_a, .server_url = srv.url, .passphrase = AT_PASSPHRASE,
                           .passphrase_len = strlen(AT_PASSPHRASE), .fast_kdf = true};
    assert_int_equal(kw_client_open(&c, &o), KW_OK);
    const char *cats[] = {"passwords", "photos"};
    sqlite3 *db = at_db_open(&srv);
    int nkeys = 0;
    for (size_t i = 0; i < 2; i++) {
        uint8_t sk[32];
        uint32_t gen = 0;
        assert_int_equal(kwc_service_key_get(c, cats[i], 0, false, sk, &gen), KW_OK);
        assert_int_equal(server_has(sk, 32, &files), 0);
        nkeys++;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT id, version, wrap FROM records WHERE category = ?1", -1,
                                            &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, cats[i], -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            kw_record_ref ref = {.category = cats[i], .zone = "default",
                                 .version = (uint64_t)sqlite3_column_int64(st, 1)};
            memcpy(ref.id, sqlite3_column_blob(st, 0), 16);
            uint8_t rk[32];
            assert_int_equal(kw_record_key_unwrap(rk, sqlite3_column_blob(st, 2),
                                                  (size_t)sqlite3_column_bytes(st, 2), sk, &ref),
                             KW_OK);
            assert_int_equal(server_has(rk, 32, &files), 0);
            nkeys++;
        }
        sqlite3_finalize(st);
        sodium_memzero(sk, sizeof(sk));
    }
    at_db_close(db);
    assert_int_equal(nkeys, 6);
    kw_client_free(&c);

    /* the search finds a key when one is there */
    uint8_t planted[32];
    randombytes_buf(planted, sizeof(planted));
    char pl[600];
    snprintf(pl, sizeof(pl), "%s/data/planted.bin", srv.dir);
    FILE *f = fopen(pl, "wb");
    assert_non_null(f);
    fwrite("xx", 1, 2, f);
    fwrite(planted, 1, 32, f);
    fclose(f);
    assert_int_equal(server_has(planted, 32, &files), 1);
    unlink(pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_readable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
