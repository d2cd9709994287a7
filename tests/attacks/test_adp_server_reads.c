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

#include "keyward/client_records.h"
#include "keyward/record.h"

static kw_it_server srv;
static char *prof_a;
static char a_pk[64], recovery_code[128];
static const char PASSCODE[] = "31415926";
static const char PHOTO_NAME[] = "secret-beach-photo-name.jpg";
static const char PHOTO_TEXT[] = "KNOWN-PLAINTEXT-of-an-end-to-end-photo";
static const char MAIL_NAME[] = "interoperable-mail-subject";

static at_files files; /* what the operator holds */

static const kw_it_prof profs[] = {{"A", &prof_a}, {NULL, NULL}};

static int setup(void **state)
{
    (void)state;
    return at_fixture_up(&srv, NULL, profs);
}

static int teardown(void **state)
{
    (void)state;
    at_files_free(&files);
    kw_it_fixture_down(&srv, profs);
    return 0;
}

/* Loads the server's files; the large record must have gone to chunk
 * storage. */
static void load_server_files(void)
{
    at_files_load(&files, &srv);
    bool chunks = false;
    for (size_t i = 0; i < files.n; i++)
        chunks = chunks || strstr(files.f[i].path, "/chunks/") != NULL;
    assert_true(chunks); /* the large record went to chunk storage */
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

/* Searches the files loaded last (the caller loads them: running, or
 * stopped before the restart the keychain read below needs). */
static void search_all(void)
{
    uint8_t pk[32];
    size_t n = 0;
    assert_int_equal(kw_b64url_decode(pk, sizeof(pk), &n, a_pk, strlen(a_pk)), KW_OK);
    at_assert_present(&files, "the account key", pk, 32);
    at_assert_absent(&files, "photo name", (const uint8_t *)PHOTO_NAME, strlen(PHOTO_NAME));
    at_assert_absent(&files, "photo content", (const uint8_t *)PHOTO_TEXT, strlen(PHOTO_TEXT));
    at_assert_absent(&files, "passcode", (const uint8_t *)PASSCODE, strlen(PASSCODE));
    at_assert_absent(&files, "recovery code", (const uint8_t *)recovery_code, strlen(recovery_code));
    uint8_t rkey[KW_RECOVERY_KEYBYTES];
    assert_int_equal(kw_recovery_code_parse(rkey, recovery_code), KW_OK);
    at_assert_absent(&files, "recovery key", rkey, sizeof(rkey));
    sodium_memzero(rkey, sizeof(rkey));
    kw_keychain *kc = adp_keychain(&srv, prof_a);
    uint8_t key[KW_SVCKEY_BYTES];
    uint32_t g = adp_svc_gen(kc, "photos");
    assert_int_equal(g, 2);
    for (uint32_t i = 1; i <= g; i++) {
        assert_int_equal(kw_keychain_svc_get(kc, "photos", i, key, NULL), KW_OK);
        at_assert_absent(&files, "photos service key", key, sizeof(key));
    }
    kw_keychain_free(&kc);
    kwc_profile *p = NULL;
    assert_int_equal(kwc_profile_load(&p, prof_a, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    for (uint16_t i = 0; i < p->s->nkk; i++)
        at_assert_absent(&files, "KK", p->s->kk[i].kk, 32);
    kwc_profile_free(&p);
    sodium_memzero(key, sizeof(key));
}

static void test_search_running(void **state)
{
    (void)state;
    load_server_files();
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
