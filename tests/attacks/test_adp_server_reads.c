/*
 * Attack 12 with ADP on (DESIGN.md): the server searches its database, its
 * chunk directory and its log for known plaintext and key material.
 *
 * Scenario: A creates "alice", creates a recovery key, sets a passcode
 * escrow, writes records in photos (ADP class: a small one inline and a
 * 600 KiB one through chunk storage) and in mail (interoperable), then turns
 * ADP on and writes more photos and mail records. The operator holds every
 * file under the data directory (keyward.db, -wal, -shm, chunks/, the
 * custody and server keys) and the log. Searched there as raw bytes, hex
 * and base64/base64url at the three byte alignments, with keywardd running
 * and after it stopped:
 *   - never found: the photos plaintexts (names and contents), every
 *     generation of the photos service key, every KK generation, the
 *     passcode, the recovery key;
 *   - and the server cannot decrypt photos with what it has: there is no
 *     custody copy of photos, and the custody copies it has (mail) do not
 *     unwrap a photos record key.
 *   - readable by design: the interoperable mail record — unwrapping mail's
 *     custody copy with the key-file provider's key (the documented format)
 *     gives the mail service key, which opens the mail record's name.
 * A positive control (the account public key, in the roster) shows the
 * search finds what is there.
 */
#include "adp_util.h"

#include <dirent.h>
#include <sys/stat.h>

#include "keyward/client_records.h"
#include "keyward/record.h"

static kw_it_server srv;
static char *prof_a;
static char a_pk[64], recovery_code[128];
static const char PASSCODE[] = "31415926";
static const char PHOTO_NAME[] = "secret-beach-photo-name.jpg";
static const char PHOTO_TEXT[] = "KNOWN-PLAINTEXT-of-an-end-to-end-photo";
static const char MAIL_NAME[] = "interoperable-mail-subject";

typedef struct {
    char path[512];
    uint8_t *data;
    size_t len;
} sfile;
static sfile files[256];
static size_t nfiles;

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, NULL) != 0)
        return -1;
    prof_a = kw_it_profile(&srv, "A");
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].data);
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(prof_a);
    return 0;
}

static void load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_true(nfiles < sizeof(files) / sizeof(files[0]));
    if (f == NULL)
        return;
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

static void load_server_files(void)
{
    char p[400];
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].data);
    nfiles = 0;
    snprintf(p, sizeof(p), "%s/data", srv.dir);
    load_dir(p);
    load_file(srv.log_path);
    bool chunks = false;
    for (size_t i = 0; i < nfiles; i++)
        chunks = chunks || strstr(files[i].path, "/chunks/") != NULL;
    assert_true(chunks); /* the large record went to chunk storage */
}

static bool contains(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t n)
{
    for (size_t i = 0; n > 0 && n <= hay_len && i <= hay_len - n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

static const char *find(const void *needle, size_t n)
{
    for (size_t i = 0; i < nfiles; i++)
        if (contains(files[i].data, files[i].len, needle, n))
            return files[i].path;
    return NULL;
}

static void b64(char *out, size_t cap, const uint8_t *in, size_t n, bool url)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url ? u : std;
    size_t o = 0;
    for (size_t i = 0; i + 2 < n && o + 4 < cap; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

/* Raw, hex, and base64/base64url of the secret at each alignment (the
 * full groups only, so a match inside a longer encoding is found too). */
static void assert_absent(const char *what, const uint8_t *secret, size_t n)
{
    char enc[512];
    const char *where;
    if ((where = find(secret, n)) != NULL)
        fail_msg("%s found raw in %s", what, where);
    for (int upper = 0; upper < 2; upper++) {
        size_t o = 0;
        for (size_t i = 0; i < n && o + 3 < sizeof(enc); i++)
            o += (size_t)snprintf(enc + o, sizeof(enc) - o, upper ? "%02X" : "%02x", secret[i]);
        if ((where = find(enc, o)) != NULL)
            fail_msg("%s found as hex in %s", what, where);
    }
    for (size_t shift = 0; shift < 3 && shift + 3 <= n; shift++)
        for (int url = 0; url < 2; url++) {
            b64(enc, sizeof(enc), secret + shift, n - shift, url);
            if (strlen(enc) >= 8 && (where = find(enc + 4, strlen(enc) - 8)) != NULL)
                fail_msg("%s found as base64 in %s", what, where);
        }
}

static void put(const char *cat, const char *name, const uint8_t *data, size_t len)
{
    kw_client *c = adp_client(&srv, prof_a);
    kw_records *rs = NULL;
    json_t *out = NULL;
    assert_int_equal(kw_records_open(&rs, c), KW_OK);
    int r = kw_records_put_data(rs, cat, NULL, name, data, len, &out);
    if (r != KW_OK)
        fprintf(stderr, "put: %s\n", kw_client_error(c));
    assert_int_equal(r, KW_OK);
    json_decref(out);
    kw_records_free(&rs);
    kw_client_free(&c);
}

static uint8_t *big;
static size_t big_len = 600 * 1024;

static void test_scenario(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", a_pk);
    const char *mk[] = {"--json", "recovery-key", "create", NULL};
    kw_it_result r = at_cli(&srv, prof_a, mk, 0);
    snprintf(recovery_code, sizeof(recovery_code), "%s", at_jstr(&r, "recovery_key"));
    kw_it_result_free(&r);
    setenv("KEYWARD_PASSCODE", PASSCODE, 1);
    const char *pc[] = {"--json", "recovery", "passcode", "set", NULL};
    r = at_cli(&srv, prof_a, pc, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    unsetenv("KEYWARD_PASSCODE");
    big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i += sizeof(PHOTO_TEXT) - 1)
        memcpy(big + i, PHOTO_TEXT, i + sizeof(PHOTO_TEXT) - 1 <= big_len ? sizeof(PHOTO_TEXT) - 1 : big_len - i);
    put("photos", PHOTO_NAME, (const uint8_t *)PHOTO_TEXT, strlen(PHOTO_TEXT));
    put("photos", "large-before", big, big_len);
    put("mail", MAIL_NAME, (const uint8_t *)"hello", 5);
    /* standard protection: the server holds custody copies of both (the
     * records flows escrow a new service key; `adp status` would too) */
    const char *st[] = {"--json", "adp", "status", NULL};
    r = at_cli(&srv, prof_a, st, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 1);
    assert_int_equal(adp_custody_rows(&srv, "alice", "mail"), 1);
    const char *on[] = {"--json", "adp", "on", NULL};
    r = at_cli(&srv, prof_a, on, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    put("photos", "large-after", big, big_len);
    put("photos", "after-small", (const uint8_t *)PHOTO_TEXT, strlen(PHOTO_TEXT));
    put("mail", "mail-after", (const uint8_t *)"hello again", 11);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 0);
    assert_int_equal(adp_custody_rows(&srv, "alice", "mail"), 1);
}

static void search_all(void)
{
    load_server_files();
    uint8_t pk[32];
    size_t n = 0;
    assert_int_equal(kw_b64url_decode(pk, sizeof(pk), &n, a_pk, strlen(a_pk)), KW_OK);
    if (find(pk, 32) == NULL)
        fail_msg("control: the account key is not found: the search is broken");
    assert_absent("photo name", (const uint8_t *)PHOTO_NAME, strlen(PHOTO_NAME));
    assert_absent("photo content", (const uint8_t *)PHOTO_TEXT, strlen(PHOTO_TEXT));
    assert_absent("passcode", (const uint8_t *)PASSCODE, strlen(PASSCODE));
    assert_absent("recovery code", (const uint8_t *)recovery_code, strlen(recovery_code));
    kw_keychain *kc = adp_keychain(&srv, prof_a);
    uint8_t key[KW_SVCKEY_BYTES];
    uint32_t g = adp_svc_gen(kc, "photos");
    assert_int_equal(g, 2);
    for (uint32_t i = 1; i <= g; i++) {
        assert_int_equal(kw_keychain_svc_get(kc, "photos", i, key, NULL), KW_OK);
        assert_absent("photos service key", key, sizeof(key));
    }
    kw_keychain_free(&kc);
    kwc_profile *p = NULL;
    assert_int_equal(kwc_profile_load(&p, prof_a, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    for (uint16_t i = 0; i < p->s->nkk; i++)
        assert_absent("KK", p->s->kk[i].kk, 32);
    kwc_profile_free(&p);
    sodium_memzero(key, sizeof(key));
}

static void test_search_running(void **state)
{
    (void)state;
    search_all();
}

/* The operator's own decryption: custody key file + custody copy. */
static int custody_unwrap(const char *cat, int64_t gen, uint8_t out[32])
{
    char path[400];
    size_t klen = 0, wlen = 0;
    snprintf(path, sizeof(path), "%s/data/custody.key", srv.dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t file[38];
    assert_int_equal(fread(file, 1, sizeof(file), f), 38);
    fclose(f);
    (void)klen;
    sqlite3 *db = at_db_open(&srv);
    int64_t acct = at_int(db, "SELECT id FROM accounts WHERE name = 'alice'");
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM adp_custody WHERE category = '%s' AND generation = %lld",
             cat, (long long)gen);
    if (at_int(db, sql) == 0) {
        at_db_close(db);
        return KW_ERR_NOT_FOUND;
    }
    snprintf(sql, sizeof(sql), "SELECT wrap FROM adp_custody WHERE category = '%s' AND generation = %lld", cat,
             (long long)gen);
    uint8_t *w = at_blob(db, sql, NULL, 0, &wlen);
    at_db_close(db);
    uint8_t ad[128];
    size_t k = 0, cl = strlen(cat);
    memcpy(ad, "keyward custody v1", 18);
    k = 18;
    for (int i = 7; i >= 0; i--)
        ad[k++] = (uint8_t)((uint64_t)acct >> (8 * i));
    ad[k++] = (uint8_t)cl;
    memcpy(ad + k, cat, cl);
    k += cl;
    for (int i = 7; i >= 0; i--)
        ad[k++] = (uint8_t)((uint64_t)gen >> (8 * i));
    assert_int_equal(w[0], 0x01);
    unsigned long long mlen = 0;
    int r = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, w + 25, wlen - 25, ad, k, w + 1,
                                                       file + 6) == 0 && mlen == 32
                ? KW_OK
                : KW_ERR_VERIFY;
    free(w);
    sodium_memzero(file, sizeof(file));
    return r;
}

/* Opens the name of the newest record of cat with svc key (generation gen). */
static int open_name(const char *cat, int64_t gen, const uint8_t svc[32], char *name, size_t cap)
{
    char q[300];
    size_t wlen = 0, mlen = 0, ilen = 0;
    sqlite3 *db = at_db_open(&srv);
#define NEWEST(col) "SELECT " col " FROM records WHERE category = '%s' AND key_generation = %lld " \
                    "ORDER BY updated_at DESC LIMIT 1"
    snprintf(q, sizeof(q), NEWEST("wrap"), cat, (long long)gen);
    uint8_t *wrap = at_blob(db, q, NULL, 0, &wlen);
    snprintf(q, sizeof(q), NEWEST("meta"), cat, (long long)gen);
    uint8_t *meta = at_blob(db, q, NULL, 0, &mlen);
    snprintf(q, sizeof(q), NEWEST("id"), cat, (long long)gen);
    uint8_t *id = at_blob(db, q, NULL, 0, &ilen);
    snprintf(q, sizeof(q), NEWEST("version"), cat, (long long)gen);
    int64_t ver = at_int(db, q);
#undef NEWEST
    at_db_close(db);
    kw_record_ref ref = {.category = cat, .zone = "default", .version = (uint64_t)ver};
    memcpy(ref.id, id, 16);
    uint8_t rk[KW_RECORD_KEYBYTES];
    kw_record_meta *m = malloc(sizeof(*m));
    assert_non_null(m);
    int r = kw_record_key_unwrap(rk, wrap, wlen, svc, &ref);
    if (r == KW_OK)
        r = kw_record_meta_open(m, meta, mlen, rk, &ref);
    if (r == KW_OK) {
        size_t nl = strnlen(m->name, cap - 1);
        memcpy(name, m->name, nl);
        name[nl] = '\0';
    }
    sodium_memzero(rk, sizeof(rk));
    free(m);
    free(wrap);
    free(meta);
    free(id);
    return r;
}

static void test_operator_decrypts(void **state)
{
    (void)state;
    uint8_t svc[32];
    char name[256];
    /* by design: mail is readable by the operator */
    assert_int_equal(custody_unwrap("mail", 1, svc), KW_OK);
    assert_int_equal(open_name("mail", 1, svc, name, sizeof(name)), KW_OK);
    assert_true(strcmp(name, MAIL_NAME) == 0 || strcmp(name, "mail-after") == 0);
    /* photos: no custody copy of any generation, and mail's key opens nothing */
    assert_int_equal(custody_unwrap("photos", 1, svc), KW_ERR_NOT_FOUND);
    assert_int_equal(custody_unwrap("photos", 2, svc), KW_ERR_NOT_FOUND);
    assert_int_equal(custody_unwrap("mail", 1, svc), KW_OK);
    assert_int_equal(open_name("photos", 2, svc, name, sizeof(name)), KW_ERR_VERIFY);
    sodium_memzero(svc, sizeof(svc));
}

static void test_search_stopped(void **state)
{
    (void)state;
    kw_keychain *kc = adp_keychain(&srv, prof_a); /* warm: read before the stop */
    kw_keychain_free(&kc);
    kw_it_server_stop(&srv, false);
    load_server_files();
    assert_int_equal(kw_it_server_start(&srv, srv.dir, NULL), 0);
    search_all();
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario),
        cmocka_unit_test(test_search_running),
        cmocka_unit_test(test_operator_decrypts),
        cmocka_unit_test(test_search_stopped),
    };
    return cmocka_run_group_tests_name("attack_adp_server_reads", tests, setup, teardown);
}
