/*
 * Attack 10 (DESIGN.md): a removed device reads data written after its
 * removal — with records and service keys (keyward/client_records.h).
 *
 * Set-up (honest): A creates "alice", B joins; A writes photos record
 * "before" (photos service key generation 1); B reads it. B keeps its whole
 * view: its profile (KK 1) and the photos key of generation 1. A removes B:
 * KK 2, every service key rolls (photos generation 2, generation 1 chained
 * under it). A writes photos record "after", wrapped under generation 2.
 *   (honest) B cannot even open a records session (its session is dead).
 *   (lie) the server colludes: revives B's session, marks B trusted and
 *     hands B the generation-2 KK wrap made for A: B refuses, "this device
 *     is not in the account's signed roster".
 *   (offline) with everything the server has (the record's wrap, the new
 *     keychain, the KK chain) and everything B holds, nothing opens: the
 *     wrap names generation 2, B's keychain stops at 1, the generation-1 key
 *     does not unwrap it, and KK 1 does not open the new keychain.
 * Nothing is lost for A: both records read back, and generation 1 is still
 * reachable from generation 2.
 */
#include "adp_util.h"

#include "keyward/client_records.h"
#include "keyward/record.h"

static kw_it_server srv;
static char *prof_a, *prof_b;
static char a_pk[64], b_id[32];
static uint8_t bid[16];
static uint8_t b_photos_g1[KW_SVCKEY_BYTES];

#define ALICE "(SELECT id FROM accounts WHERE name = 'alice')"
static const char BEFORE[] = "holiday photo, written before the removal";
static const char AFTER[] = "new photo, written after the removal";

static const kw_it_prof profs[] = {{"A", &prof_a}, {"B", &prof_b}, {NULL, NULL}};

static int setup(void **state)
{
    (void)state;
    return at_fixture_up(&srv, NULL, profs);
}

static int teardown(void **state)
{
    (void)state;
    kw_it_fixture_down(&srv, profs);
    return 0;
}

static void put(const char *prof, const char *name, const char *data)
{
    kw_client *c = adp_client(&srv, prof);
    kw_records *rs = NULL;
    json_t *out = NULL;
    int r = kw_records_open(&rs, c);
    if (r != KW_OK)
        fprintf(stderr, "records open: %s\n", kw_client_error(c));
    assert_int_equal(r, KW_OK);
    r = kw_records_put_data(rs, "photos", NULL, name, (const uint8_t *)data, strlen(data), &out);
    if (r != KW_OK)
        fprintf(stderr, "put: %s\n", kw_client_error(c));
    assert_int_equal(r, KW_OK);
    json_decref(out);
    kw_records_free(&rs);
    kw_client_free(&c);
}

/* Reads record `name` through prof's records session into buf; returns the
 * session's error code. */
static int get(const char *prof, const char *name, char *buf, size_t cap)
{
    char path[600];
    kw_client *c = adp_client(&srv, prof);
    kw_records *rs = NULL;
    json_t *out = NULL;
    snprintf(path, sizeof(path), "%s/out-%s", prof, name);
    unlink(path);
    int r = kw_records_open(&rs, c);
    if (r == KW_OK)
        r = kw_records_get(rs, "photos", NULL, name, path, &out);
    if (r != KW_OK)
        snprintf(buf, cap, "%s", kw_client_error(c));
    json_decref(out);
    kw_records_free(&rs);
    kw_client_free(&c);
    if (r == KW_OK) {
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(buf, 1, cap - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return r;
}

static void test_setup_honest(void **state)
{
    (void)state;
    char buf[256];
    at_create(&srv, prof_a, "alice", "laptop-A", a_pk);
    at_join(&srv, prof_a, prof_b, "alice", "phone-B", b_id);
    at_id(bid, b_id);
    put(prof_a, "before", BEFORE);
    assert_int_equal(get(prof_b, "before", buf, sizeof(buf)), KW_OK);
    assert_string_equal(buf, BEFORE);
    kw_keychain *kb = adp_keychain(&srv, prof_b);
    assert_int_equal(adp_svc_gen(kb, "photos"), 1);
    assert_int_equal(kw_keychain_svc_get(kb, "photos", 1, b_photos_g1, NULL), KW_OK);
    kw_keychain_free(&kb);

    const char *rm[] = {"--json", "device", "remove", b_id, "--yes", NULL};
    kw_it_result r = at_cli(&srv, prof_a, rm, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "service_keys_rolled")), 1);
    kw_it_result_free(&r);
    put(prof_a, "after", AFTER);
    sqlite3 *db = at_db_open(&srv);
    assert_int_equal(at_int(db, "SELECT max(key_generation) FROM records WHERE category = 'photos'"), 2);
    at_db_close(db);
    /* honest server: B's session is dead */
    assert_int_not_equal(get(prof_b, "after", buf, sizeof(buf)), KW_OK);
}

static void test_server_colludes(void **state)
{
    (void)state;
    char buf[256];
    size_t wlen = 0;
    sqlite3 *db = at_lie_begin(&srv);
    uint8_t aid[16];
    size_t alen = 0;
    uint8_t *a = at_blob(db, "SELECT device_id FROM kk_wraps WHERE generation = 2", NULL, 0, &alen);
    assert_int_equal(alen, 16);
    memcpy(aid, a, 16);
    free(a);
    at_exec(db, "UPDATE sessions SET revoked = 0 WHERE device_id = ?1", bid, 16, NULL, 0, -1);
    at_exec(db, "UPDATE devices SET state = 1 WHERE id = ?1", bid, 16, NULL, 0, 1);
    uint8_t *aw = at_blob(db, "SELECT wrap FROM kk_wraps WHERE generation = 2 AND device_id = ?1", aid, 16,
                          &wlen);
    at_exec(db, "INSERT INTO kk_wraps (account_id, generation, device_id, wrap) VALUES (" ALICE ", 2, ?1, ?2)",
            bid, 16, aw, wlen, 1);
    free(aw);
    at_lie_end(&srv, db);
    assert_int_equal(get(prof_b, "after", buf, sizeof(buf)), KW_ERR_VERIFY);
    assert_non_null(strstr(buf, "not in the account's signed roster"));
    assert_int_equal(get(prof_b, "before", buf, sizeof(buf)), KW_ERR_VERIFY);
}

static void test_offline_nothing_opens(void **state)
{
    (void)state;
    size_t wlen = 0, klen = 0, idlen = 0;
    sqlite3 *db = at_db_open(&srv);
    uint8_t *wrap = at_blob(db, "SELECT wrap FROM records WHERE category = 'photos' AND key_generation = 2",
                            NULL, 0, &wlen);
    uint8_t *rid = at_blob(db, "SELECT id FROM records WHERE category = 'photos' AND key_generation = 2",
                           NULL, 0, &idlen);
    int64_t ver = at_int(db, "SELECT version FROM records WHERE category = 'photos' AND key_generation = 2");
    uint8_t *kcblob = at_blob(db, "SELECT keychain FROM keychains WHERE account_id = " ALICE, NULL, 0, &klen);
    at_db_close(db);
    uint32_t g = 0;
    assert_int_equal(kw_record_wrap_generation(wrap, wlen, &g), KW_OK);
    assert_int_equal(g, 2);
    kw_record_ref ref = {.category = "photos", .zone = "default", .version = (uint64_t)ver};
    assert_int_equal(idlen, 16);
    memcpy(ref.id, rid, 16);
    uint8_t rkey[KW_RECORD_KEYBYTES];
    assert_int_equal(kw_record_key_unwrap(rkey, wrap, wlen, b_photos_g1, &ref), KW_ERR_VERIFY);
    assert_true(sodium_is_zero(rkey, sizeof(rkey)));
    /* B's KK is generation 1 only; it does not open the new keychain */
    kwc_profile *pb = NULL;
    assert_int_equal(kwc_profile_load(&pb, prof_b, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    assert_null(kwc_profile_kk(pb, 2));
    uint64_t hv = 0, hg = 0;
    assert_int_equal(kw_keychain_header(kcblob, klen, &hv, &hg), KW_OK);
    assert_true(hg >= 2);
    kw_keychain *k = NULL;
    assert_int_equal(kw_keychain_open(&k, kcblob, klen, kwc_profile_kk(pb, 1), "alice", hv, hg),
                     KW_ERR_VERIFY);
    assert_null(k);
    kwc_profile_free(&pb);
    free(wrap);
    free(rid);
    free(kcblob);
}

static void test_nothing_lost(void **state)
{
    (void)state;
    char buf[256];
    sqlite3 *db = at_lie_begin(&srv);
    at_exec(db, "DELETE FROM kk_wraps WHERE device_id = ?1", bid, 16, NULL, 0, 1);
    at_exec(db, "UPDATE devices SET state = 2 WHERE id = ?1", bid, 16, NULL, 0, 1);
    at_exec(db, "UPDATE sessions SET revoked = 1 WHERE device_id = ?1", bid, 16, NULL, 0, -1);
    at_lie_end(&srv, db);
    assert_int_equal(get(prof_a, "before", buf, sizeof(buf)), KW_OK);
    assert_string_equal(buf, BEFORE);
    assert_int_equal(get(prof_a, "after", buf, sizeof(buf)), KW_OK);
    assert_string_equal(buf, AFTER);
    kw_keychain *ka = adp_keychain(&srv, prof_a);
    uint8_t g1[KW_SVCKEY_BYTES];
    assert_int_equal(adp_svc_gen(ka, "photos"), 2);
    assert_int_equal(kw_keychain_svc_get(ka, "photos", 1, g1, NULL), KW_OK);
    assert_memory_equal(g1, b_photos_g1, sizeof(g1));
    kw_keychain_free(&ka);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_honest),
        cmocka_unit_test(test_server_colludes),
        cmocka_unit_test(test_offline_nothing_opens),
        cmocka_unit_test(test_nothing_lost),
    };
    return cmocka_run_group_tests_name("attack_adp_removed", tests, setup, teardown);
}
