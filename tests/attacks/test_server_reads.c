/*
 * Attack 12 (DESIGN.md "Attacks the tests must show detected"): the server
 * reads end-to-end content.
 *
 * The CLI has no command to add a keychain item yet, so the known plaintext
 * is the account flow's own secret data. Scenario: A creates "alice", B
 * joins, A creates a recovery key, A removes B (KK generation 2). The
 * secrets, read from the devices' profiles with the profile passphrase:
 * the account key seed (the keychain's plaintext), KK generations 1 and 2,
 * both devices' HPKE private keys and identity seeds, the recovery key (raw
 * and as the printed code), the account password and the profile
 * passphrase. None may appear in any file under the server's data directory
 * (keyward.db, -wal, -shm, server.key, ...) or in its log, searched as raw
 * bytes, hex (both cases), base64 and base64url at each of the three byte
 * alignments inside a longer encoding: once while keywardd runs (WAL
 * populated) and once after it stopped. A positive control (the account
 * public key and the device id, which the server must store) shows the
 * search finds what is there.
 */
#include "attack_util.h"

#include <dirent.h>
#include <sys/stat.h>

#include "client/client_internal.h"
#include "keyward/keychain.h"

static kw_it_server srv;
static char *prof_a, *prof_b;
static char a_pk[64], b_id[32], recovery_code[KW_RECOVERY_CODEBYTES];

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    prof_a = kw_it_profile(&srv, "A");
    prof_b = kw_it_profile(&srv, "B");
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof_a);
    free(prof_b);
    return 0;
}

/* ---- the server's files ---- */

typedef struct {
    char path[512];
    uint8_t *data;
    size_t len;
} sfile;

static sfile files[64];
static size_t nfiles;

static void load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL || nfiles == sizeof(files) / sizeof(files[0])) {
        if (f != NULL)
            fclose(f);
        return;
    }
    sfile *sf = &files[nfiles++];
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

static void load_dir(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[512];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            load_dir(p);
        else if (S_ISREG(st.st_mode))
            load_file(p);
    }
    closedir(d);
}

/* Everything the operator holds: the data directory and the server log
 * (not the device profiles the harness keeps beside them). */
static void load_server_files(void)
{
    char p[400];
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].data);
    nfiles = 0;
    snprintf(p, sizeof(p), "%s/data", srv.dir);
    load_dir(p);
    load_file(srv.log_path);
    bool have_db = false;
    for (size_t i = 0; i < nfiles; i++)
        if (strstr(files[i].path, "keyward.db") != NULL && files[i].len > 0)
            have_db = true;
    assert_true(have_db);
}

static bool contains(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t n)
{
    for (size_t i = 0; n <= hay_len && i <= hay_len - n; i++) {
        const uint8_t *p = memchr(hay + i, needle[0], hay_len - n + 1 - i);
        if (p == NULL)
            return false;
        i = (size_t)(p - hay);
        if (memcmp(p, needle, n) == 0)
            return true;
    }
    return false;
}

/* The file holding needle (needle_len bytes), or NULL. */
static const char *find(const void *needle, size_t needle_len)
{
    for (size_t i = 0; i < nfiles; i++)
        if (needle_len > 0 && contains(files[i].data, files[i].len, needle, needle_len))
            return files[i].path;
    return NULL;
}

static void b64(char *out, size_t cap, const uint8_t *in, size_t n, bool url)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url ? u : std;
    size_t o = 0;
    assert_true(cap > (n / 3) * 4);
    for (size_t i = 0; i + 3 <= n; i += 3) { /* whole groups only */
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

/* Asserts that secret (what names it) appears in no server file in any of
 * the encodings. Inside a longer base64 string the secret may start at any
 * of three byte alignments: skipping 0, 1 or 2 leading bytes and encoding
 * whole groups gives the characters that appear whatever the alignment. */
static void assert_absent(const char *what, const uint8_t *secret, size_t n)
{
    char enc[512];
    const char *hit;
    assert_true(n >= 8 && n <= 256);
    if ((hit = find(secret, n)) != NULL)
        fail_msg("%s found as raw bytes in %s", what, hit);
    assert_int_equal(kw_hex_encode(enc, sizeof(enc), secret, n), KW_OK);
    if ((hit = find(enc, strlen(enc))) != NULL)
        fail_msg("%s found as hex in %s", what, hit);
    for (char *p = enc; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    if ((hit = find(enc, strlen(enc))) != NULL)
        fail_msg("%s found as HEX in %s", what, hit);
    for (size_t skip = 0; skip < 3; skip++)
        for (int url = 0; url < 2; url++) {
            b64(enc, sizeof(enc), secret + skip, n - skip, url != 0);
            if ((hit = find(enc, strlen(enc))) != NULL)
                fail_msg("%s found as base64%s (offset %zu) in %s", what, url ? "url" : "", skip, hit);
        }
}

static void assert_present(const char *what, const uint8_t *v, size_t n)
{
    if (find(v, n) == NULL)
        fail_msg("control: %s not found in the server's files: the search is broken", what);
}

static void test_scenario(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", a_pk);
    at_join(&srv, prof_a, prof_b, "alice", "phone-B", b_id);
    const char *rk[] = {"--json", "recovery-key", "create", NULL};
    kw_it_result r = at_cli(&srv, prof_a, rk, 0);
    assert_int_equal(r.status, 0);
    snprintf(recovery_code, sizeof(recovery_code), "%s", at_jstr(&r, "recovery_key"));
    assert_int_equal(strlen(recovery_code), KW_RECOVERY_CODEBYTES - 1);
    kw_it_result_free(&r);
    const char *rm[] = {"--json", "device", "remove", b_id, "--yes", NULL};
    r = at_cli(&srv, prof_a, rm, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    at_keychain_ok(&srv, prof_a, a_pk, 2);
}

static void search_all(void)
{
    kwc_profile *pa = NULL, *pb = NULL;
    assert_int_equal(kwc_profile_load(&pa, prof_a, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    assert_int_equal(kwc_profile_load(&pb, prof_b, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    load_server_files();

    /* control: public data the server must hold */
    uint8_t apk[32], bid[16];
    size_t n = 0;
    assert_int_equal(kw_b64url_decode(apk, sizeof(apk), &n, a_pk, strlen(a_pk)), KW_OK);
    assert_present("the account public key", apk, 32);
    at_id(bid, b_id);
    assert_present("B's device id", bid, 16);
    assert_present("A's HPKE public key", pa->s->hpke_pk, 32);

    assert_true(pa->s->has_account_seed);
    assert_absent("the account key seed", pa->s->account_seed, 32);
    assert_non_null(kwc_profile_kk(pa, 1));
    assert_non_null(kwc_profile_kk(pa, 2));
    assert_absent("KK generation 1", kwc_profile_kk(pa, 1), 32);
    assert_absent("KK generation 2", kwc_profile_kk(pa, 2), 32);
    assert_absent("A's HPKE private key", pa->s->hpke_sk, 32);
    assert_absent("A's identity seed", pa->s->identity_seed, 32);
    assert_absent("B's HPKE private key", pb->s->hpke_sk, 32);
    assert_absent("B's identity seed", pb->s->identity_seed, 32);
    uint8_t rkey[KW_RECOVERY_KEYBYTES];
    assert_int_equal(kw_recovery_code_parse(rkey, recovery_code), KW_OK);
    assert_absent("the recovery key", rkey, sizeof(rkey));
    assert_absent("the recovery code", (const uint8_t *)recovery_code, strlen(recovery_code));
    sodium_memzero(rkey, sizeof(rkey));
    assert_absent("the account password", (const uint8_t *)AT_PASSWORD, strlen(AT_PASSWORD));
    assert_absent("the profile passphrase", (const uint8_t *)AT_PASSPHRASE, strlen(AT_PASSPHRASE));
    kwc_profile_free(&pa);
    kwc_profile_free(&pb);
}

/* While keywardd runs: the WAL and the log as they are. */
static void test_nothing_readable_running(void **state)
{
    (void)state;
    search_all();
}

/* After a stop (checkpointed database, final log). */
static void test_nothing_readable_stopped(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    search_all();
    assert_int_equal(kw_it_server_start(&srv, srv.dir, NULL), 0);
    at_keychain_ok(&srv, prof_a, a_pk, 2);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].data);
    nfiles = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario),
        cmocka_unit_test(test_nothing_readable_running),
        cmocka_unit_test(test_nothing_readable_stopped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
