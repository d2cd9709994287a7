/*
 * The store's "adp" domain (server/store/adp.h) on SQLite, against its
 * contract: every multi-row change happens in one transaction or not at all.
 *
 * - the switch: roster and keychain compare-and-swap (a stale version
 *   changes nothing: no roster, no custody deletion, no mirror), on/off only
 *   from the other state, custody copies of the dropped categories deleted
 *   and the others kept, custody copies of ADP categories refused while ADP
 *   is on, re-escrow on the way off;
 * - passcode escrow: each attempt is spent before verification, success
 *   restores 10, the tenth attempt deletes the record (and there is no
 *   eleventh);
 * - recovery contacts: at most five, no duplicates, state changes only from
 *   the expected state, re-wrap and removal by the owner only;
 * - web access: approve once, only while pending and unexpired; grants
 *   vanish at expiry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "store/adp.h"
#include "store/store.h"

static char dir[64];
static kw_store *st;
static int64_t alice, bob;

static int64_t mkaccount(const char *name, uint8_t tag)
{
    uint8_t rec[64], pk[32], roster[40], kc[50], wrap[80], sh[32];
    kw_store_device d;
    int64_t id = 0;
    memset(rec, tag, sizeof(rec));
    memset(pk, tag, sizeof(pk));
    memset(roster, tag, sizeof(roster));
    memset(kc, tag, sizeof(kc));
    memset(wrap, tag, sizeof(wrap));
    memset(sh, tag, sizeof(sh));
    memset(&d, 0, sizeof(d));
    memset(d.id, tag, sizeof(d.id));
    memset(d.identity_pk, tag, 32);
    memset(d.hpke_pk, tag, 32);
    snprintf(d.name, sizeof(d.name), "dev-%s", name);
    kw_store_new_account na = {.name = name, .opaque_record = rec, .opaque_record_len = sizeof(rec),
                               .account_pk = pk, .device = &d, .roster = roster, .roster_len = sizeof(roster),
                               .keychain = kc, .keychain_len = sizeof(kc), .device_wrap = wrap,
                               .device_wrap_len = sizeof(wrap), .session_hash = sh,
                               .session_expires_at = 4000000000};
    assert_int_equal(kw_store_account_create(st, &na, &id), KW_OK);
    return id;
}

static int setup(void **state)
{
    (void)state;
    char path[128];
    if (kw_init() != KW_OK)
        return -1;
    snprintf(dir, sizeof(dir), "/tmp/kw-store-adp-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/keyward.db", dir);
    if (kw_store_open(path, &st) != KW_OK)
        return -1;
    alice = mkaccount("alice", 1);
    bob = mkaccount("bob", 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    kw_store_close(&st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t custody_count(int64_t acct, const char *cat)
{
    kw_store_adp_custody *l = NULL;
    size_t n = 0, k = 0;
    assert_int_equal(kw_store_adp_custody_list(st, acct, &l, &n), KW_OK);
    for (size_t i = 0; i < n; i++)
        if (cat == NULL || strcmp(l[i].category, cat) == 0)
            k++;
    kw_store_adp_custody_free(l, n);
    return k;
}

static kw_store_adp_custody copy(const char *cat, int64_t gen, uint8_t *w)
{
    kw_store_adp_custody c;
    memset(&c, 0, sizeof(c));
    snprintf(c.category, sizeof(c.category), "%s", cat);
    c.generation = gen;
    c.wrap = w;
    c.wrap_len = 40;
    return c;
}

static void test_switch(void **state)
{
    (void)state;
    uint8_t w[40] = {7}, roster[48] = {9}, kc[60] = {3};
    const char *adp_only[] = {"photos", "notes"};
    kw_store_adp_custody in[3] = {copy("photos", 1, w), copy("notes", 1, w), copy("mail", 1, w)};
    kw_store_adp_state s;
    assert_int_equal(kw_store_adp_custody_put(st, alice, in, 3, adp_only, 2, 100), KW_OK);
    assert_int_equal(custody_count(alice, NULL), 3);
    /* replacing the same generation keeps one row */
    assert_int_equal(kw_store_adp_custody_put(st, alice, in, 1, adp_only, 2, 101), KW_OK);
    assert_int_equal(custody_count(alice, "photos"), 1);

    /* a stale roster version: nothing happens */
    kw_store_adp_switch sw = {.account_id = alice, .enable = true, .roster_version = 3, .roster = roster,
                              .roster_len = sizeof(roster), .drop = adp_only, .ndrop = 2, .now = 200};
    assert_int_equal(kw_store_adp_switch_apply(st, &sw), KW_ERR_CONFLICT);
    /* the right roster but a stale keychain version: nothing either */
    sw.roster_version = 2;
    sw.keychain_version = 5;
    sw.keychain = kc;
    sw.keychain_len = sizeof(kc);
    assert_int_equal(kw_store_adp_switch_apply(st, &sw), KW_ERR_CONFLICT);
    int64_t v = 0;
    uint8_t *blob = NULL;
    size_t len = 0;
    assert_int_equal(kw_store_roster_latest(st, alice, &v, &blob, &len), KW_OK);
    free(blob);
    assert_int_equal(v, 1);
    assert_int_equal(custody_count(alice, NULL), 3);
    assert_int_equal(kw_store_adp_state_get(st, alice, &s), KW_OK);
    assert_false(s.enabled);
    /* the real switch */
    sw.keychain_version = 2;
    assert_int_equal(kw_store_adp_switch_apply(st, &sw), KW_OK);
    assert_int_equal(custody_count(alice, "photos"), 0);
    assert_int_equal(custody_count(alice, "notes"), 0);
    assert_int_equal(custody_count(alice, "mail"), 1);
    assert_int_equal(kw_store_adp_state_get(st, alice, &s), KW_OK);
    assert_true(s.enabled);
    assert_int_equal(s.roster_version, 2);
    assert_int_equal(kw_store_keychain_get(st, alice, &v, &blob, &len), KW_OK);
    assert_int_equal(v, 2);
    assert_memory_equal(blob, kc, sizeof(kc));
    free(blob);
    /* on again: refused */
    sw.roster_version = 3;
    sw.keychain_version = 0;
    sw.keychain = NULL;
    sw.keychain_len = 0;
    assert_int_equal(kw_store_adp_switch_apply(st, &sw), KW_ERR_CONFLICT);
    /* no custody copy of an ADP category under ADP; interoperable ones fine */
    assert_int_equal(kw_store_adp_custody_put(st, alice, in, 2, adp_only, 2, 300), KW_ERR_CONFLICT);
    assert_int_equal(custody_count(alice, "photos"), 0);
    assert_int_equal(kw_store_adp_custody_put(st, alice, &in[2], 1, adp_only, 2, 300), KW_OK);
    /* web access only under ADP; off: re-escrow in the same transaction */
    assert_int_equal(kw_store_adp_web_access_set(st, alice, true, 301), KW_OK);
    assert_int_equal(kw_store_adp_web_access_set(st, bob, true, 301), KW_ERR_CONFLICT);
    kw_store_adp_custody back[2] = {copy("photos", 1, w), copy("photos", 2, w)};
    kw_store_adp_switch off = {.account_id = alice, .enable = false, .roster_version = 3, .roster = roster,
                               .roster_len = sizeof(roster), .escrow = back, .nescrow = 2, .now = 400};
    assert_int_equal(kw_store_adp_switch_apply(st, &off), KW_OK);
    assert_int_equal(custody_count(alice, "photos"), 2);
    assert_int_equal(kw_store_adp_state_get(st, alice, &s), KW_OK);
    assert_false(s.enabled);
    assert_false(s.web_access);
    /* argument checks */
    off.roster_version = 4;
    off.ndrop = 1;
    off.drop = adp_only;
    assert_int_equal(kw_store_adp_switch_apply(st, &off), KW_ERR_INVALID_ARG);
}

static void test_passcode(void **state)
{
    (void)state;
    uint8_t v[40] = {1}, b[72] = {2};
    kw_store_adp_passcode p = {.verifier = v, .verifier_len = sizeof(v), .blob = b, .blob_len = sizeof(b),
                               .generation = 1};
    memset(p.salt, 5, sizeof(p.salt));
    kw_store_adp_passcode got;
    bool last = true;
    int64_t left = 0;
    uint8_t salt[16];
    assert_int_equal(kw_store_adp_passcode_take_attempt(st, bob, &got, &last), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_adp_passcode_put(st, bob, &p), KW_OK);
    for (int i = 0; i < 9; i++) {
        assert_int_equal(kw_store_adp_passcode_take_attempt(st, bob, &got, &last), KW_OK);
        assert_false(last);
        assert_int_equal(got.attempts_left, 10 - i); /* before this attempt */
        assert_memory_equal(got.blob, b, sizeof(b));
        kw_store_adp_passcode_clear(&got);
    }
    assert_int_equal(kw_store_adp_passcode_exists(st, bob, &left, salt), KW_OK);
    assert_int_equal(left, 1);
    assert_memory_equal(salt, p.salt, 16);
    assert_int_equal(kw_store_adp_passcode_success(st, bob), KW_OK);
    assert_int_equal(kw_store_adp_passcode_exists(st, bob, &left, NULL), KW_OK);
    assert_int_equal(left, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(kw_store_adp_passcode_take_attempt(st, bob, &got, &last), KW_OK);
        assert_int_equal(last, i == 9);
        kw_store_adp_passcode_clear(&got);
    }
    assert_int_equal(kw_store_adp_passcode_exists(st, bob, &left, NULL), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_adp_passcode_take_attempt(st, bob, &got, &last), KW_ERR_NOT_FOUND);
    assert_false(last);
}

static void test_contacts(void **state)
{
    (void)state;
    uint8_t u[40] = {1}, pk[20] = {'[', ']'}, kw[72] = {3};
    int64_t others[6];
    char name[16];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        others[i] = mkaccount(name, (uint8_t)(10 + i));
    }
    kw_store_adp_contact ct;
    memset(&ct, 0, sizeof(ct));
    ct.account_id = alice;
    ct.unwrap_key = u;
    ct.unwrap_key_len = sizeof(u);
    ct.packets = pk;
    ct.packets_len = 2;
    ct.kk_wrap = kw;
    ct.kk_wrap_len = sizeof(kw);
    ct.generation = 1;
    ct.created_at = 10;
    ct.contact_account_id = alice;
    assert_int_equal(kw_store_adp_contact_add(st, &ct), KW_ERR_INVALID_ARG); /* itself */
    uint8_t first[16];
    for (int i = 0; i < 5; i++) {
        memset(ct.id, 0x40 + i, sizeof(ct.id));
        ct.contact_account_id = others[i];
        assert_int_equal(kw_store_adp_contact_add(st, &ct), KW_OK);
    }
    memcpy(first, ct.id, 16);
    memset(ct.id, 0x60, sizeof(ct.id));
    ct.contact_account_id = others[5];
    assert_int_equal(kw_store_adp_contact_add(st, &ct), KW_ERR_LIMIT);
    ct.account_id = bob;
    ct.contact_account_id = others[0];
    assert_int_equal(kw_store_adp_contact_add(st, &ct), KW_OK);
    memset(ct.id, 0x61, sizeof(ct.id));
    assert_int_equal(kw_store_adp_contact_add(st, &ct), KW_ERR_CONFLICT); /* already bob's contact */
    kw_store_adp_contact *l = NULL;
    size_t n = 0;
    assert_int_equal(kw_store_adp_contact_list(st, alice, 0, &l, &n), KW_OK);
    assert_int_equal(n, 5);
    assert_string_equal(l[0].owner_name, "alice");
    assert_string_equal(l[0].contact_name, "c0");
    kw_store_adp_contacts_free(l, n);
    assert_int_equal(kw_store_adp_contact_list(st, 0, others[0], &l, &n), KW_OK);
    assert_int_equal(n, 2); /* helps alice and bob */
    kw_store_adp_contacts_free(l, n);
    /* states: only from the expected one */
    assert_int_equal(kw_store_adp_contact_set_state(st, first, KW_STORE_ADP_CONTACT_WAITING,
                                                    KW_STORE_ADP_CONTACT_RELEASED, 1, 2),
                     KW_ERR_CONFLICT);
    assert_int_equal(kw_store_adp_contact_set_state(st, first, KW_STORE_ADP_CONTACT_ACTIVE,
                                                    KW_STORE_ADP_CONTACT_WAITING, 1, 2),
                     KW_OK);
    kw_store_adp_contact one;
    assert_int_equal(kw_store_adp_contact_get(st, first, &one), KW_OK);
    assert_int_equal(one.state, KW_STORE_ADP_CONTACT_WAITING);
    assert_int_equal(one.release_at, 2);
    kw_store_adp_contact_clear(&one);
    /* re-wrap by the owner only */
    const uint8_t *wraps[1] = {kw};
    size_t lens[1] = {sizeof(kw)};
    const uint8_t(*ids)[16] = (const uint8_t(*)[16])first;
    assert_int_equal(kw_store_adp_contact_rewrap(st, bob, 2, ids, wraps, lens, 1), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_adp_contact_rewrap(st, alice, 2, ids, wraps, lens, 1), KW_OK);
    assert_int_equal(kw_store_adp_contact_get(st, first, &one), KW_OK);
    assert_int_equal(one.generation, 2);
    kw_store_adp_contact_clear(&one);
    assert_int_equal(kw_store_adp_contact_remove(st, bob, first), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_adp_contact_remove(st, alice, first), KW_OK);
    assert_int_equal(kw_store_adp_contact_get(st, first, &one), KW_ERR_NOT_FOUND);
}

static void test_web(void **state)
{
    (void)state;
    kw_store_adp_web_request rq, got;
    memset(&rq, 0, sizeof(rq));
    memset(rq.id, 0x77, 16);
    rq.account_id = alice;
    memset(rq.web_session_id, 0x11, 16);
    memset(rq.ephemeral_pk, 0x22, 32);
    snprintf(rq.categories, sizeof(rq.categories), "photos,notes");
    rq.created_at = 1000;
    rq.expires_at = 1600;
    assert_int_equal(kw_store_adp_web_request_add(st, &rq), KW_OK);
    assert_int_equal(kw_store_adp_web_request_add(st, &rq), KW_ERR_CONFLICT);
    kw_store_adp_web_request *l = NULL;
    size_t n = 0;
    assert_int_equal(kw_store_adp_web_request_list(st, alice, 1100, &l, &n), KW_OK);
    assert_int_equal(n, 1);
    free(l);
    assert_int_equal(kw_store_adp_web_request_list(st, alice, 1600, &l, &n), KW_OK);
    assert_int_equal(n, 0); /* expired */
    free(l);
    uint8_t sealed[80] = {4};
    kw_store_adp_web_grant g;
    memset(&g, 0, sizeof(g));
    snprintf(g.category, sizeof(g.category), "photos");
    g.generation = 1;
    g.sealed = sealed;
    g.sealed_len = sizeof(sealed);
    assert_int_equal(kw_store_adp_web_approve(st, bob, rq.id, &g, 1, 4700, 1100), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_adp_web_approve(st, alice, rq.id, &g, 1, 4700, 1700), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_adp_web_approve(st, alice, rq.id, &g, 1, 4700, 1100), KW_OK);
    assert_int_equal(kw_store_adp_web_approve(st, alice, rq.id, &g, 1, 4700, 1101), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_adp_web_request_get(st, rq.id, &got), KW_OK);
    assert_int_equal(got.state, KW_STORE_ADP_WEB_APPROVED);
    kw_store_adp_web_grant *gl = NULL;
    assert_int_equal(kw_store_adp_web_grants(st, rq.id, 4699, &gl, &n), KW_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(gl[0].sealed, sealed, sizeof(sealed));
    kw_store_adp_web_grants_free(gl, n);
    assert_int_equal(kw_store_adp_web_grants(st, rq.id, 4700, &gl, &n), KW_OK);
    assert_int_equal(n, 0);
    kw_store_adp_web_grants_free(gl, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch),
        cmocka_unit_test(test_passcode),
        cmocka_unit_test(test_contacts),
        cmocka_unit_test(test_web),
    };
    return cmocka_run_group_tests_name("store_adp", tests, setup, teardown);
}
