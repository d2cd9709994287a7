/*
 * Integration: Advanced Data Protection through the real keyward CLI and a
 * real keywardd (docs/api.md "ADP"). The tests run in order and share the
 * server and the profiles:
 *
 * 1. standard protection: A creates "alice" with service keys for photos,
 *    notes (ADP class) and mail (interoperable); `adp status` uploads their
 *    custody copies — the database holds wraps, never the raw keys.
 * 2. `adp on` without a recovery method is refused (the client, and the
 *    server too when the client's check is bypassed: 409), and so is a
 *    roster that changes more than the ADP bit.
 * 3. with B trusted but never having declared ADP support, `adp on` is
 *    refused naming B; after B's `adp status` it succeeds: photos and notes
 *    roll to generation 2, their custody rows are gone from the database in
 *    the same transaction, mail's stays; the signed roster carries the flag;
 *    the server refuses a custody copy of photos now (409).
 * 4. `adp off` re-escrows current and old generations (photos 1 and 2).
 * 5. ADP on again; A removes B: every service key rolls (photos 4), the
 *    new interoperable generation is escrowed, no ADP one is.
 * 6. recovery key on a fresh device C: it joins and reads every service key
 *    of every generation, identical to A's.
 * 8. web access (after 7): a browser session (signed in with OPAQUE and an
 *    approval code) asks for photos, health and notes with an ephemeral
 *    key: refused while web access is off; after `web access on` and `web
 *    approve --code CODE --category photos` it opens exactly the photos keys
 *    of every generation (bound to the generation); a request the server
 *    slipped in (its own key, so another code) gets nothing; a device
 *    session sees nothing,
 *    a second approve releases nothing, and an hour later the grants are
 *    gone.
 * 9. recovery contact: A adds bob (not itself); a device removal re-wraps
 *    for the contact; bob asks, A cancels from another trusted device: after
 *    the waiting period nothing is released and the wait starts again; the
 *    next time bob gets the recovery code; a mistyped code is refused; a
 *    fresh device F recovers with it and holds every service key of A.
 *    Then bob, without a recovery key, is refused `adp on` until he adds
 *    alice as his recovery contact.
 * 7. passcode escrow: a pending device recovers with the passcode after 9
 *    wrong guesses (the budget resets); another pending device guesses
 *    wrong 10 times: the record is gone from the database and the right
 *    passcode no longer helps.
 */
#include "../attacks/adp_util.h"

#include "keyward/hpke.h"
#include "keyward/opaque.h"

static kw_it_server srv;
static char *prof_a, *prof_b, *prof_c, *prof_d, *prof_e, *prof_f, *prof_bob;
/* every start: web sessions outlive the one-hour grants (test_web_access);
 * recovery contacts wait 2 seconds (test_recovery_contact) */
static const char *const SERVER_ARGS[] = {"--set", "web.session_ttl=86400", "--set", "adp.contact_wait=2",
                                          NULL};
static char a_pk[64], b_id[32], recovery_code[128];

static const char *const ADP_CATS[] = {"photos", "notes", "mail", NULL};

static const kw_it_prof profs[] = {
    {"A", &prof_a}, {"B", &prof_b}, {"C", &prof_c}, {"D", &prof_d},
    {"E", &prof_e}, {"F", &prof_f}, {"bob", &prof_bob},
    {NULL, NULL},
};

static int setup(void **state)
{
    (void)state;
    return at_fixture_up(&srv, SERVER_ARGS, profs);
}

static int teardown(void **state)
{
    (void)state;
    kw_it_fixture_down(&srv, profs);
    return 0;
}

static bool json_true_at(const kw_it_result *r, const char *key)
{
    return json_is_true(json_object_get(r->json, key));
}

static void test_standard_protection_escrow(void **state)
{
    (void)state;
    at_create(&srv, prof_a, "alice", "laptop-A", a_pk);
    adp_svc_roll(&srv, prof_a, ADP_CATS);
    const char *st[] = {"--json", "adp", "status", NULL};
    kw_it_result r = at_cli(&srv, prof_a, st, 0);
    assert_int_equal(r.status, 0);
    assert_false(json_true_at(&r, "adp"));
    assert_int_equal(json_integer_value(json_object_get(r.json, "escrowed")), 3);
    kw_it_result_free(&r);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 1);
    assert_int_equal(adp_custody_rows(&srv, "alice", "mail"), 1);
    /* a second status uploads nothing new */
    r = at_cli(&srv, prof_a, st, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "escrowed")), 0);
    kw_it_result_free(&r);
    /* the server keeps wraps: the raw key is nowhere in the database */
    kw_keychain *kc = adp_keychain(&srv, prof_a);
    uint8_t key[KW_SVCKEY_BYTES];
    assert_int_equal(kw_keychain_svc_get(kc, "photos", 1, key, NULL), KW_OK);
    char db[400], wal[420];
    snprintf(db, sizeof(db), "%s/data/keyward.db", srv.dir);
    snprintf(wal, sizeof(wal), "%s/data/keyward.db-wal", srv.dir);
    assert_false(adp_file_has(db, key, sizeof(key)));
    assert_false(adp_file_has(wal, key, sizeof(key)));
    sodium_memzero(key, sizeof(key));
    kw_keychain_free(&kc);
}

/* POST /v1/adp/enable with a correctly signed ADP roster, bypassing the
 * client's own checks: the server must refuse on its own. flags_extra adds
 * other flag bits (a roster that changes more than the ADP bit). */
static int raw_enable(const char *prof, uint8_t flags_extra, char *msg, size_t cap)
{
    kw_client *c = adp_client(&srv, prof);
    kw_roster *ros = malloc(sizeof(*ros));
    kw_sign_key *ak = NULL;
    json_t *body = json_object(), *resp = NULL;
    assert_non_null(ros);
    assert_int_equal(kwc_fetch_roster(c, ros), KW_OK);
    assert_int_equal(kwc_account_key(c, &ak), KW_OK);
    ros->version++;
    ros->flags |= (uint8_t)(KW_ROSTER_FLAG_ADP | flags_extra);
    assert_int_equal(kwc_put_roster(c, body, ros, ak), KW_OK);
    int r = kwc_http(c, "POST", "/v1/adp/enable", body, true, &resp);
    snprintf(msg, cap, "%s", kw_client_error(c));
    json_decref(resp);
    json_decref(body);
    kw_sign_key_free(&ak);
    free(ros);
    kw_client_free(&c);
    return r;
}

static void test_adp_on_refused_without_recovery(void **state)
{
    (void)state;
    char msg[512];
    const char *on[] = {"--json", "adp", "on", NULL};
    kw_it_result r = at_cli(&srv, prof_a, on, 4);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "recovery method"));
    kw_it_result_free(&r);
    assert_int_equal(raw_enable(prof_a, 0, msg, sizeof(msg)), KW_ERR_CONFLICT);
    assert_non_null(strstr(msg, "recovery method"));
    /* nothing changed: custody copies still there, roster without the flag */
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 1);
    const char *mk[] = {"--json", "recovery-key", "create", NULL};
    r = at_cli(&srv, prof_a, mk, 0);
    assert_int_equal(r.status, 0);
    snprintf(recovery_code, sizeof(recovery_code), "%s", at_jstr(&r, "recovery_key"));
    kw_it_result_free(&r);
    /* a roster flipping CKV as well is refused even with a recovery key */
    assert_int_equal(raw_enable(prof_a, KW_ROSTER_FLAG_CKV, msg, sizeof(msg)), KW_ERR_FORMAT);
    assert_non_null(strstr(msg, "ADP bit only"));
}

static void test_adp_on(void **state)
{
    (void)state;
    at_join(&srv, prof_a, prof_b, "alice", "phone-B", b_id);
    const char *on[] = {"--json", "adp", "on", NULL};
    kw_it_result r = at_cli(&srv, prof_a, on, 4);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "phone-B has not declared ADP support"));
    kw_it_result_free(&r);
    const char *st[] = {"--json", "adp", "status", NULL};
    r = at_cli(&srv, prof_b, st, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    r = at_cli(&srv, prof_a, on, 0);
    assert_int_equal(r.status, 0);
    assert_true(json_true_at(&r, "adp"));
    assert_int_equal(json_array_size(json_object_get(r.json, "rolled")), 2); /* photos, notes */
    kw_it_result_free(&r);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 0);
    assert_int_equal(adp_custody_rows(&srv, "alice", "notes"), 0);
    assert_int_equal(adp_custody_rows(&srv, "alice", "mail"), 1);
    kw_keychain *kc = adp_keychain(&srv, prof_b);
    assert_int_equal(adp_svc_gen(kc, "photos"), 2);
    assert_int_equal(adp_svc_gen(kc, "mail"), 1);
    kw_keychain_free(&kc);
    /* B reads the flag from the signed roster */
    r = at_cli(&srv, prof_b, st, 0);
    assert_true(json_true_at(&r, "adp"));
    assert_true(json_true_at(&r, "server_adp"));
    kw_it_result_free(&r);
    /* the server refuses a custody copy of an ADP category now */
    kw_client *c = adp_client(&srv, prof_a);
    uint8_t key[32] = {1};
    json_t *body = json_pack("{s:[{s:s,s:i}]}", "keys", "category", "photos", "generation", 2), *resp = NULL;
    kwc_put_b64(json_array_get(json_object_get(body, "keys"), 0), "key", key, sizeof(key));
    assert_int_equal(kwc_http(c, "POST", "/v1/adp/escrow", body, true, &resp), KW_ERR_CONFLICT);
    json_decref(body);
    /* and never one of an always-end-to-end category */
    body = json_pack("{s:[{s:s,s:i}]}", "keys", "category", "health", "generation", 1);
    kwc_put_b64(json_array_get(json_object_get(body, "keys"), 0), "key", key, sizeof(key));
    assert_int_equal(kwc_http(c, "POST", "/v1/adp/escrow", body, true, &resp), KW_ERR_FORMAT);
    json_decref(body);
    kw_client_free(&c);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 0);
    assert_int_equal(adp_custody_rows(&srv, "alice", "health"), 0);
    /* on twice is refused */
    r = at_cli(&srv, prof_a, on, 4);
    assert_int_equal(r.status, 4);
    kw_it_result_free(&r);
}

static void test_adp_off_reescrows(void **state)
{
    (void)state;
    const char *off[] = {"--json", "adp", "off", NULL};
    kw_it_result r = at_cli(&srv, prof_b, off, 0);
    assert_int_equal(r.status, 0);
    assert_false(json_true_at(&r, "adp"));
    /* photos 1+2, notes 1+2, mail 1 */
    assert_int_equal(json_integer_value(json_object_get(r.json, "escrowed")), 5);
    kw_it_result_free(&r);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 2);
    assert_int_equal(adp_custody_rows(&srv, "alice", "notes"), 2);
    const char *st[] = {"--json", "adp", "status", NULL};
    r = at_cli(&srv, prof_a, st, 0);
    assert_false(json_true_at(&r, "adp"));
    assert_false(json_true_at(&r, "server_adp"));
    kw_it_result_free(&r);
}

static void test_removal_rolls_service_keys(void **state)
{
    (void)state;
    const char *on[] = {"--json", "adp", "on", NULL};
    kw_it_result r = at_cli(&srv, prof_a, on, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 0);
    const char *rm[] = {"--json", "device", "remove", b_id, "--yes", NULL};
    r = at_cli(&srv, prof_a, rm, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "service_keys_rolled")), 3);
    assert_int_equal(json_integer_value(json_object_get(r.json, "escrowed")), 1); /* mail 2 */
    kw_it_result_free(&r);
    kw_keychain *kc = adp_keychain(&srv, prof_a);
    assert_int_equal(adp_svc_gen(kc, "photos"), 4);
    assert_int_equal(adp_svc_gen(kc, "mail"), 2);
    kw_keychain_free(&kc);
    assert_int_equal(adp_custody_rows(&srv, "alice", "photos"), 0);
    assert_int_equal(adp_custody_rows(&srv, "alice", "mail"), 2);
}

static void test_recovery_key_restores_service_keys(void **state)
{
    (void)state;
    const char *in[] = {"--json", "login", "alice", "--device-name", "fresh-C", "--recovery-key",
                        recovery_code, NULL};
    kw_it_result r = at_cli(&srv, prof_c, in, 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(at_jstr(&r, "device_state"), "trusted");
    kw_it_result_free(&r);
    kw_keychain *ka = adp_keychain(&srv, prof_a), *kc = adp_keychain(&srv, prof_c);
    assert_int_equal(kw_keychain_svc_count(kc), 3);
    for (size_t i = 0; ADP_CATS[i] != NULL; i++) {
        uint32_t cur = adp_svc_gen(kc, ADP_CATS[i]);
        assert_int_equal(cur, adp_svc_gen(ka, ADP_CATS[i]));
        for (uint32_t g = 1; g <= cur; g++) {
            uint8_t x[32], y[32];
            assert_int_equal(kw_keychain_svc_get(ka, ADP_CATS[i], g, x, NULL), KW_OK);
            assert_int_equal(kw_keychain_svc_get(kc, ADP_CATS[i], g, y, NULL), KW_OK);
            assert_memory_equal(x, y, 32);
        }
    }
    kw_keychain_free(&ka);
    kw_keychain_free(&kc);
}

/* prof signs in to alice with an approval code from A: pending. */
static void pending(const char *prof, const char *name)
{
    char id[32], join[8];
    at_pending(&srv, prof_a, prof, "alice", name, id, join);
}

static kw_it_result recover_pc(const char *prof, const char *pc, int expect)
{
    setenv("KEYWARD_PASSCODE", pc, 1);
    const char *args[] = {"--json", "recover", "--passcode", NULL};
    kw_it_result r = at_cli(&srv, prof, args, expect);
    unsetenv("KEYWARD_PASSCODE");
    return r;
}

static void test_passcode_escrow(void **state)
{
    (void)state;
    setenv("KEYWARD_PASSCODE", "271828", 1);
    const char *set[] = {"--json", "recovery", "passcode", "set", NULL};
    kw_it_result r = at_cli(&srv, prof_a, set, 0);
    unsetenv("KEYWARD_PASSCODE");
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    pending(prof_d, "pending-D");
    for (int i = 0; i < 9; i++) {
        r = recover_pc(prof_d, "000000", 2);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "wrong passcode"));
        kw_it_result_free(&r);
    }
    r = recover_pc(prof_d, "271828", 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(at_jstr(&r, "device_state"), "trusted");
    kw_it_result_free(&r);
    kw_keychain *kd = adp_keychain(&srv, prof_d);
    assert_int_equal(adp_svc_gen(kd, "photos"), 4);
    kw_keychain_free(&kd);

    /* the right passcode restored the budget: ten more wrong ones destroy it */
    pending(prof_e, "pending-E");
    for (int i = 0; i < 10; i++) {
        r = recover_pc(prof_e, "999999", 2);
        assert_int_equal(r.status, 2);
        if (i == 9)
            assert_non_null(strstr(r.err, "destroyed"));
        kw_it_result_free(&r);
    }
    sqlite3 *db = at_db_open(&srv);
    assert_int_equal(at_int(db, "SELECT count(*) FROM adp_passcode"), 0);
    at_db_close(db);
    r = recover_pc(prof_e, "271828", 3);
    assert_int_equal(r.status, 3);
    kw_it_result_free(&r);

    /* a new escrow, then `recovery passcode delete` drops it on the server */
    setenv("KEYWARD_PASSCODE", "161803", 1);
    r = at_cli(&srv, prof_a, set, 0);
    unsetenv("KEYWARD_PASSCODE");
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    db = at_db_open(&srv);
    assert_int_equal(at_int(db, "SELECT count(*) FROM adp_passcode"), 1);
    at_db_close(db);
    const char *del[] = {"--json", "recovery", "passcode", "delete", NULL};
    r = at_cli(&srv, prof_a, del, 0);
    assert_int_equal(r.status, 0);
    assert_true(json_is_false(json_object_get(r.json, "passcode_escrow")));
    kw_it_result_free(&r);
    db = at_db_open(&srv);
    assert_int_equal(at_int(db, "SELECT count(*) FROM adp_passcode"), 0);
    at_db_close(db);
}

/* ---- web access: a browser session signed in the page's way (OPAQUE
 * with the empty context, then an approval code) ---- */

static char *post(const char *path, json_t *body, const char *bearer, int *status)
{
    char *text = json_dumps(body, JSON_COMPACT), *resp = NULL;
    *status = kw_it_http(&srv, "POST", path, text, bearer, &resp);
    free(text);
    json_decref(body);
    return resp;
}

static json_t *parse(char *text)
{
    json_error_t e;
    json_t *o = json_loads(text != NULL ? text : "", 0, &e);
    free(text);
    return o;
}

static void web_sign_in(char token[128])
{
    kw_opaque_config cfg;
    kw_opaque_client *oc = NULL;
    uint8_t ke1[KW_OPAQUE_KE1BYTES], ke2[KW_OPAQUE_KE2BYTES], ke3[KW_OPAQUE_KE3BYTES];
    uint8_t sk[KW_OPAQUE_SESSION_KEYBYTES], ek[KW_OPAQUE_EXPORT_KEYBYTES];
    char b[256], lid[64];
    int st = 0;
    size_t n = 0;
    kw_opaque_config_default(&cfg, NULL, 0);
    assert_int_equal(kw_opaque_client_new(&oc, &cfg), KW_OK);
    assert_int_equal(kw_opaque_client_login_start(oc, ke1, (const uint8_t *)AT_PASSWORD, strlen(AT_PASSWORD)),
                     KW_OK);
    kw_b64url_encode(b, sizeof(b), ke1, sizeof(ke1));
    json_t *o = parse(post("/v1/web/login/start", json_pack("{s:s,s:s}", "name", "alice", "ke1", b), NULL, &st));
    assert_int_equal(st, 200);
    snprintf(lid, sizeof(lid), "%s", json_string_value(json_object_get(o, "login_id")));
    const char *k2 = json_string_value(json_object_get(o, "ke2"));
    assert_int_equal(kw_b64url_decode(ke2, sizeof(ke2), &n, k2, strlen(k2)), KW_OK);
    json_decref(o);
    assert_int_equal(kw_opaque_client_login_finish(oc, ke3, sk, ek, ke2, sizeof(ke2), NULL), KW_OK);
    kw_opaque_client_free(&oc);
    kw_b64url_encode(b, sizeof(b), ke3, sizeof(ke3));
    o = parse(post("/v1/web/login/finish", json_pack("{s:s,s:s}", "login_id", lid, "ke3", b), NULL, &st));
    assert_int_equal(st, 200);
    char factor[128];
    snprintf(factor, sizeof(factor), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    const char *mk[] = {"--json", "approval-code", NULL};
    kw_it_result r = at_cli(&srv, prof_a, mk, 0);
    o = parse(post("/v1/web/login/factor", json_pack("{s:s,s:s}", "type", "approval", "code", at_jstr(&r, "code")),
                   factor, &st));
    kw_it_result_free(&r);
    assert_int_equal(st, 200);
    snprintf(token, 128, "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
}

static void test_web_access(void **state)
{
    (void)state;
    char token[128], pkb[64], path[160], rid[64];
    uint8_t epk[32], esk[32];
    int st = 0;
    web_sign_in(token);
    /* the page reads the ADP state */
    char *st_text = NULL;
    assert_int_equal(kw_it_http(&srv, "GET", "/v1/adp", NULL, token, &st_text), 200);
    json_t *st_o = parse(st_text);
    assert_true(json_is_true(json_object_get(st_o, "enabled")));
    json_decref(st_o);
    kw_hpke_keypair(epk, esk);
    kw_b64url_encode(pkb, sizeof(pkb), epk, sizeof(epk));
    /* off by default under ADP */
    json_t *o = parse(post("/v1/adp/web/requests",
                           json_pack("{s:s,s:[s,s]}", "ephemeral_pk", pkb, "categories", "photos", "health"),
                           token, &st));
    assert_int_equal(st, 409);
    json_decref(o);
    const char *on[] = {"--json", "web", "access", "on", NULL};
    kw_it_result r = at_cli(&srv, prof_a, on, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    o = parse(post("/v1/adp/web/requests",
                   json_pack("{s:s,s:[s,s,s]}", "ephemeral_pk", pkb, "categories", "photos", "health", "notes"),
                   token, &st));
    assert_int_equal(st, 200);
    snprintf(rid, sizeof(rid), "%s", json_string_value(json_object_get(o, "request_id")));
    json_decref(o);
    /* a device session cannot ask in a browser's name */
    kw_client *c = adp_client(&srv, prof_a);
    json_t *resp = NULL, *body = json_pack("{s:s,s:[s]}", "ephemeral_pk", pkb, "categories", "photos");
    assert_int_equal(kwc_http(c, "POST", "/v1/adp/web/requests", body, true, &resp), KW_ERR_FORMAT);
    json_decref(body);
    kw_client_free(&c);
    /* nothing released before the approval */
    snprintf(path, sizeof(path), "/v1/adp/web/requests/%s", rid);
    char *text = NULL;
    assert_int_equal(kw_it_http(&srv, "GET", path, NULL, token, &text), 200);
    o = parse(text);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "pending");
    assert_int_equal(json_array_size(json_object_get(o, "grants")), 0);
    json_decref(o);

    /* the lying server slips in a request of its own (its own key): the
     * device approves only the request whose code the page shows */
    uint8_t rid_raw[16], fake_id[16], fake_pk[32];
    size_t n = 0;
    char wcode[KW_CLIENT_CODEBYTES];
    assert_int_equal(kw_b64url_decode(rid_raw, sizeof(rid_raw), &n, rid, strlen(rid)), KW_OK);
    kw_client_web_code(wcode, "alice", rid_raw, epk);
    randombytes_buf(fake_id, sizeof(fake_id));
    randombytes_buf(fake_pk, sizeof(fake_pk));
    kw_it_server_stop(&srv, false);
    sqlite3 *db = at_db_open(&srv);
    at_exec(db,
            "INSERT INTO adp_web_requests (id, account_id, web_session_id, ephemeral_pk, categories, state,"
            " created_at, expires_at) SELECT ?1, id, ?1, ?2, 'photos', 0, strftime('%s','now'),"
            " strftime('%s','now') + 600 FROM accounts WHERE name = 'alice'",
            fake_id, 16, fake_pk, 32, 1);
    at_db_close(db);
    assert_int_equal(kw_it_server_start(&srv, srv.dir, SERVER_ARGS), 0);
    const char *ap[] = {"--json", "web", "approve", "--code", wcode, "--category", "photos", NULL};
    r = at_cli(&srv, prof_a, ap, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "releases")), 1);
    json_t *rel = json_array_get(json_object_get(r.json, "releases"), 0);
    assert_non_null(rel);
    assert_string_equal(json_string_value(json_object_get(rel, "request_id")), rid);
    assert_string_equal(json_string_value(json_object_get(rel, "code")), wcode);
    assert_int_equal(json_array_size(json_object_get(rel, "released")), 1); /* photos only */
    kw_it_result_free(&r);
    db = at_db_open(&srv);
    assert_int_equal(at_int(db, "SELECT count(*) FROM adp_web_grants g JOIN adp_web_requests q ON q.id ="
                                " g.request_id WHERE q.state = 0"),
                     0);
    at_db_close(db);
    c = adp_client(&srv, prof_a);
    /* the device's own session never sees the grants, the browser does */
    assert_int_equal(kwc_http(c, "GET", path, NULL, true, &resp), KW_ERR_NOT_FOUND);
    kw_client_free(&c);
    assert_int_equal(kw_it_http(&srv, "GET", path, NULL, token, &text), 200);
    o = parse(text);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "approved");
    json_t *grants = json_object_get(o, "grants"), *g;
    kw_keychain *ka = adp_keychain(&srv, prof_a);
    uint32_t cur = adp_svc_gen(ka, "photos");
    assert_int_equal(json_array_size(grants), cur);
    size_t i;
    json_array_foreach(grants, i, g)
    {
        const char *cat = json_string_value(json_object_get(g, "category"));
        uint32_t gen = (uint32_t)json_integer_value(json_object_get(g, "generation"));
        assert_string_equal(cat, "photos");
        uint8_t sealed[128], key[32], want[32], info[256];
        const char *sb = json_string_value(json_object_get(g, "sealed"));
        assert_int_equal(kw_b64url_decode(sealed, sizeof(sealed), &n, sb, strlen(sb)), KW_OK);
        /* info = "keyward web grant v1" ‖ u8 len ‖ account ‖ request id ‖ u8 len ‖ category ‖ u32 g */
        size_t k = 0;
        memcpy(info, "keyward web grant v1", 20);
        k = 20;
        info[k++] = 5;
        memcpy(info + k, "alice", 5);
        k += 5;
        memcpy(info + k, rid_raw, 16);
        k += 16;
        info[k++] = 6;
        memcpy(info + k, "photos", 6);
        k += 6;
        for (int s = 3; s >= 0; s--)
            info[k++] = (uint8_t)(gen >> (8 * s));
        kw_hpke_params hp = {.mode = KW_HPKE_MODE_BASE, .info = info, .info_len = k};
        size_t kl = 0;
        assert_int_equal(kw_hpke_open(key, sizeof(key), &kl, esk, epk, &hp, NULL, 0, sealed, n), KW_OK);
        assert_int_equal(kw_keychain_svc_get(ka, "photos", gen, want, NULL), KW_OK);
        assert_memory_equal(key, want, 32);
        /* bound to the generation: the same ciphertext under another one fails */
        info[k - 1] ^= 1;
        assert_int_equal(kw_hpke_open(key, sizeof(key), &kl, esk, epk, &hp, NULL, 0, sealed, n), KW_ERR_VERIFY);
    }
    kw_keychain_free(&ka);
    json_decref(o);
    /* approving twice releases nothing; the grants expire after an hour */
    r = at_cli(&srv, prof_a, ap, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "releases")), 0);
    kw_it_result_free(&r);
    kw_it_server_stop(&srv, false);
    setenv("KEYWARD_TEST_FAULTS", "1", 1);
    setenv("KEYWARD_TEST_TIME_OFFSET", "3601", 1);
    const char *faults[] = {"--test-faults", "--set", "web.session_ttl=86400", "--set", "adp.contact_wait=2", NULL};
    assert_int_equal(kw_it_server_start(&srv, srv.dir, faults), 0);
    text = NULL;
    int code = kw_it_http(&srv, "GET", path, NULL, token, &text);
    o = parse(text);
    /* the web session lives on (86400 s), the grants do not */
    assert_int_equal(code, 200);
    assert_int_equal(json_array_size(json_object_get(o, "grants")), 0);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "expired");
    json_decref(o);
    kw_it_server_stop(&srv, false);
    unsetenv("KEYWARD_TEST_TIME_OFFSET");
    unsetenv("KEYWARD_TEST_FAULTS");
    assert_int_equal(kw_it_server_start(&srv, srv.dir, SERVER_ARGS), 0);
}

static kw_it_result contact_help(void)
{
    const char *help[] = {"--json", "recovery", "contact", "help", "alice", NULL};
    return at_cli(&srv, prof_bob, help, 0);
}

static void test_recovery_contact(void **state)
{
    (void)state;
    char id[64], code[128], d_id[32];
    at_create(&srv, prof_bob, "bob", "bobs-phone", NULL);
    /* bob's roster must be in a published key-transparency epoch first */
    const char *add[] = {"--json", "recovery", "contact", "add", "bob", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, add);
    for (int tries = 0; r.status != 0 && tries < 20 && strstr(r.err, "proves there is no account") != NULL;
         tries++) {
        kw_it_result_free(&r);
        usleep(500 * 1000);
        r = kw_it_cli(&srv, prof_a, NULL, add);
    }
    if (r.status != 0)
        kw_it_dump("recovery contact add", &r);
    assert_int_equal(r.status, 0);
    snprintf(id, sizeof(id), "%s", at_jstr(&r, "id"));
    kw_it_result_free(&r);
    const char *self[] = {"--json", "recovery", "contact", "add", "alice", NULL};
    r = kw_it_cli(&srv, prof_a, NULL, self);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "its own recovery contact"));
    kw_it_result_free(&r);
    const char *ls[] = {"--json", "recovery", "contact", "list", NULL};
    r = at_cli(&srv, prof_bob, ls, 0);
    json_t *h = json_array_get(json_object_get(r.json, "helping"), 0);
    assert_string_equal(json_string_value(json_object_get(h, "owner")), "alice");
    kw_it_result_free(&r);

    /* a KK rotation after the add re-wraps for the contact */
    const char *st[] = {"--json", "status", NULL};
    r = at_cli(&srv, prof_d, st, 0);
    snprintf(d_id, sizeof(d_id), "%s", at_jstr(&r, "device_id"));
    kw_it_result_free(&r);
    const char *rm[] = {"--json", "device", "remove", d_id, "--yes", NULL};
    r = at_cli(&srv, prof_a, rm, 0);
    assert_int_equal(r.status, 0);
    assert_true(json_is_true(json_object_get(r.json, "contacts_rewrapped")));
    kw_it_result_free(&r);

    /* the contact asks; the owner cancels from a trusted device */
    r = contact_help();
    assert_string_equal(at_jstr(&r, "state"), "waiting");
    assert_null(json_object_get(r.json, "recovery_code"));
    kw_it_result_free(&r);
    const char *cancel[] = {"--json", "recovery", "contact", "cancel", id, NULL};
    r = at_cli(&srv, prof_c, cancel, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    sleep(3);
    r = contact_help(); /* cancelled: the wait starts again, nothing released */
    assert_string_equal(at_jstr(&r, "state"), "waiting");
    assert_null(json_object_get(r.json, "recovery_code"));
    kw_it_result_free(&r);
    sqlite3 *db = at_db_open(&srv);
    assert_int_equal(at_int(db, "SELECT count(*) FROM adp_contacts WHERE state = 2"), 0);
    at_db_close(db);
    sleep(3);
    r = contact_help();
    assert_string_equal(at_jstr(&r, "state"), "released");
    snprintf(code, sizeof(code), "%s", at_jstr(&r, "recovery_code"));
    kw_it_result_free(&r);
    assert_int_equal(strlen(code), 6 + 1 + KW_RECOVERY_CODEBYTES - 1);

    /* a mistyped code is refused before anything is sent */
    char bad[128];
    snprintf(bad, sizeof(bad), "%s", code);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    const char *rb[] = {"--json", "recover", "alice", "--contact", bad, "--device-name", "fresh-F", NULL};
    r = at_cli(&srv, prof_f, rb, 5);
    assert_int_equal(r.status, 5);
    assert_non_null(strstr(r.err, "checksum"));
    kw_it_result_free(&r);
    const char *rc[] = {"--json", "recover", "alice", "--contact", code, "--device-name", "fresh-F", NULL};
    r = at_cli(&srv, prof_f, rc, 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(at_jstr(&r, "device_state"), "trusted");
    kw_it_result_free(&r);
    kw_keychain *ka = adp_keychain(&srv, prof_a), *kf = adp_keychain(&srv, prof_f);
    for (size_t i = 0; ADP_CATS[i] != NULL; i++) {
        uint32_t cur = adp_svc_gen(ka, ADP_CATS[i]);
        assert_int_equal(adp_svc_gen(kf, ADP_CATS[i]), cur);
        for (uint32_t g = 1; g <= cur; g++) {
            uint8_t x[32], y[32];
            assert_int_equal(kw_keychain_svc_get(ka, ADP_CATS[i], g, x, NULL), KW_OK);
            assert_int_equal(kw_keychain_svc_get(kf, ADP_CATS[i], g, y, NULL), KW_OK);
            assert_memory_equal(x, y, 32);
        }
    }
    kw_keychain_free(&ka);
    kw_keychain_free(&kf);

    /* a recovery contact alone is a recovery method for ADP: bob has no
     * recovery key and is refused until he adds alice */
    const char *on[] = {"--json", "adp", "on", NULL};
    r = at_cli(&srv, prof_bob, on, 4);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "recovery method"));
    kw_it_result_free(&r);
    const char *add_alice[] = {"--json", "recovery", "contact", "add", "alice", NULL};
    r = at_cli(&srv, prof_bob, add_alice, 0);
    assert_int_equal(r.status, 0);
    /* the recovery contact is a CKV contact of bob's now (pinned key) */
    const char *cl[] = {"--json", "contact", "list", NULL};
    kw_it_result_free(&r);
    r = at_cli(&srv, prof_bob, cl, 0);
    assert_non_null(strstr(r.out, "alice"));
    kw_it_result_free(&r);
    r = at_cli(&srv, prof_bob, on, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_protection_escrow),
        cmocka_unit_test(test_adp_on_refused_without_recovery),
        cmocka_unit_test(test_adp_on),
        cmocka_unit_test(test_adp_off_reescrows),
        cmocka_unit_test(test_removal_rolls_service_keys),
        cmocka_unit_test(test_recovery_key_restores_service_keys),
        cmocka_unit_test(test_passcode_escrow),
        cmocka_unit_test(test_web_access),
        cmocka_unit_test(test_recovery_contact),
    };
    return cmocka_run_group_tests_name("adp", tests, setup, teardown);
}
