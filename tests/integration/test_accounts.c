/*
 * Integration: accounts, sign-in and devices through the real keyward CLI
 * against a real keywardd (loopback, temporary SQLite store).
 *
 * Scenario (the tests run in order and share the server and the profiles):
 * A creates the account; bad sign-ins are refused alike; A makes an
 * approval code; B signs in with password + code (pending) and prints its
 * join code; a replayed code and a wrong join code are refused; A approves
 * B; B reads the keychain (same account key); A removes B: B's session is
 * refused and B's profile cannot open the new KK generation; A creates a
 * recovery key; C signs in with password + recovery key, joins and reads
 * the keychain. Then: a recovery key survives a device removal (A makes a
 * new one, removes C; F recovers with it at the new KK generation), and the
 * password change (a wrong current password changes nothing; after the
 * change the old password is refused and the new one signs in).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_internal.h"
#include "keyward/codec.h"
#include "keyward/err.h"
#include "keyward/keychain.h"
#include "keyward/keyward.h"
#include "util/harness.h"

#define PASSWORD "correct horse battery staple"
#define PASSPHRASE "integration-test-passphrase" /* what the harness sets */

static kw_it_server srv;
static char *prof_a, *prof_b, *prof_c, *prof_d, *prof_e, *prof_f;
static char a_pk[64], b_id[32], b_join[8], approval[8];

static kw_it_result cli(const char *profile, const char *const *args)
{
    kw_it_result r = kw_it_cli(&srv, profile, NULL, args);
    if (r.status != 0)
        kw_it_dump(args[1] != NULL ? args[1] : args[0], &r);
    return r;
}

static const char *jstr(const kw_it_result *r, const char *key)
{
    const char *s = json_string_value(json_object_get(r->json, key));
    return s != NULL ? s : "";
}

static const kw_it_prof profs[] = {
    {"A", &prof_a}, {"B", &prof_b}, {"C", &prof_c}, {"D", &prof_d}, {"E", &prof_e}, {"F", &prof_f},
    {NULL, NULL},
};

static int setup(void **state)
{
    (void)state;
    if (kw_it_fixture_up(&srv, NULL, profs) != 0)
        return -1;
    setenv("KEYWARD_PASSWORD", PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_fixture_down(&srv, profs);
    return 0;
}

/* A creates the account: trusted, KK generation 1, an account key. */
static void test_create_account(void **state)
{
    (void)state;
    const char *args[] = {"--json", "account", "create", "alice", "--device-name", "laptop-A", NULL};
    kw_it_result r = cli(prof_a, args);
    assert_int_equal(r.status, 0);
    assert_non_null(r.json);
    assert_string_equal(jstr(&r, "state"), "trusted");
    assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), 1);
    assert_int_equal(strlen(jstr(&r, "account_pk")), 43);
    snprintf(a_pk, sizeof(a_pk), "%s", jstr(&r, "account_pk"));
    kw_it_result_free(&r);

    /* the name is taken: 4 (conflict) */
    const char *again[] = {"--json", "account", "create", "alice", NULL};
    r = kw_it_cli(&srv, prof_e, NULL, again);
    assert_int_equal(r.status, 4);
    kw_it_result_free(&r);

    /* names are checked before anything is sent: 1 (usage) */
    const char *bad_name[] = {"--json", "account", "create", "al ice", NULL};
    r = kw_it_cli(&srv, prof_e, NULL, bad_name);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "account names are"));
    kw_it_result_free(&r);
    const char *bad_dev[] = {"--json", "login", "alice", "--device-name", "lap/top", NULL};
    r = kw_it_cli(&srv, prof_e, NULL, bad_dev);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "device names are"));
    kw_it_result_free(&r);
}

/* Wrong password and unknown account: exit 2 with the same message. */
static void test_bad_sign_in(void **state)
{
    (void)state;
    char pwfile[400];
    snprintf(pwfile, sizeof(pwfile), "%s/wrong-password", srv.dir);
    FILE *f = fopen(pwfile, "w");
    assert_non_null(f);
    fputs("not the password\n", f);
    fclose(f);
    const char *wrong[] = {"login", "alice", "--password-file", pwfile, NULL};
    kw_it_result r1 = kw_it_cli(&srv, prof_e, NULL, wrong);
    assert_int_equal(r1.status, 2);
    const char *unknown[] = {"login", "nobody-here", NULL};
    kw_it_result r2 = kw_it_cli(&srv, prof_e, NULL, unknown);
    assert_int_equal(r2.status, 2);
    assert_non_null(strstr(r1.err, "sign-in failed"));
    assert_string_equal(r1.err, r2.err);
    kw_it_result_free(&r1);
    kw_it_result_free(&r2);
}

/* A makes an approval code; B signs in with a wrong one (2), then the
 * right one (pending, join code); D replays it (2). */
static void test_approval_sign_in(void **state)
{
    (void)state;
    const char *mk[] = {"--json", "approval-code", NULL};
    kw_it_result r = cli(prof_a, mk);
    assert_int_equal(r.status, 0);
    assert_int_equal(strlen(jstr(&r, "code")), 6);
    snprintf(approval, sizeof(approval), "%s", jstr(&r, "code"));
    kw_it_result_free(&r);

    char wrong[8];
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(approval) + 1) % 1000000);
    const char *bad[] = {"--json", "login", "alice", "--approval-code", wrong, NULL};
    r = kw_it_cli(&srv, prof_b, NULL, bad);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);

    const char *good[] = {"--json", "login", "alice", "--device-name", "phone-B", "--approval-code",
                          approval, NULL};
    r = cli(prof_b, good);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "device_state"), "pending");
    assert_int_equal(strlen(jstr(&r, "join_code")), 6);
    snprintf(b_id, sizeof(b_id), "%s", jstr(&r, "device_id"));
    snprintf(b_join, sizeof(b_join), "%s", jstr(&r, "join_code"));
    kw_it_result_free(&r);

    const char *replay[] = {"--json", "login", "alice", "--approval-code", approval, NULL};
    r = kw_it_cli(&srv, prof_d, NULL, replay);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);

    /* a pending device has no key wrap yet: 3 (not found) */
    const char *show[] = {"--json", "keychain", "show", NULL};
    r = kw_it_cli(&srv, prof_b, NULL, show);
    assert_int_equal(r.status, 3);
    kw_it_result_free(&r);
}

/* A lists B as pending with B's join code; a wrong join code is refused
 * locally (B stays pending); the right one approves; B reads the keychain
 * and sees the same account key as A. */
static void test_approve(void **state)
{
    (void)state;
    const char *list[] = {"--json", "device", "list", NULL};
    kw_it_result r = cli(prof_a, list);
    assert_int_equal(r.status, 0);
    json_t *devs = json_object_get(r.json, "devices");
    assert_int_equal(json_array_size(devs), 2);
    bool seen = false;
    size_t i;
    json_t *d;
    json_array_foreach(devs, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "id")), b_id) == 0) {
            assert_string_equal(json_string_value(json_object_get(d, "state")), "pending");
            assert_string_equal(json_string_value(json_object_get(d, "join_code")), b_join);
            seen = true;
        }
    }
    assert_true(seen);
    kw_it_result_free(&r);

    char wrong[8];
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(b_join) + 7) % 1000000);
    const char *bad[] = {"--json", "device", "approve", b_id, "--code", wrong, NULL};
    r = kw_it_cli(&srv, prof_a, NULL, bad);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "join code does not match"));
    kw_it_result_free(&r);
    r = cli(prof_a, list);
    json_array_foreach(json_object_get(r.json, "devices"), i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "id")), b_id) == 0)
            assert_string_equal(json_string_value(json_object_get(d, "state")), "pending");
    }
    kw_it_result_free(&r);

    const char *ok[] = {"--json", "device", "approve", b_id, "--code", b_join, NULL};
    r = cli(prof_a, ok);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "roster_version")), 2);
    kw_it_result_free(&r);

    const char *show[] = {"--json", "keychain", "show", NULL};
    r = cli(prof_b, show);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "account_pk"), a_pk);
    assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), 1);
    kw_it_result_free(&r);
}

/* Device ids are base64url, so 1 in 64 starts with '-': the CLI takes a
 * well-formed 22-character id as the ID even then, and after "--"; other
 * dash words stay options (a usage error). Here an id that names no device
 * reaches the lookup (exit 3, not 1), whatever random ids this run drew. */
static void test_dash_device_id(void **state)
{
    (void)state;
    const char *dash = "-AAAAAAAAAAAAAAAAAAAAA";
    const char *as_arg[] = {"--json", "device", "approve", dash, "--code", "123456", NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, as_arg);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "no device -AAAAAAAAAAAAAAAAAAAAA"));
    kw_it_result_free(&r);
    const char *after[] = {"--json", "device", "approve", "--code", "123456", "--", dash, NULL};
    r = kw_it_cli(&srv, prof_a, NULL, after);
    assert_int_equal(r.status, 3);
    kw_it_result_free(&r);
    const char *rm[] = {"--json", "device", "remove", "--yes", "--", "-x", NULL};
    r = kw_it_cli(&srv, prof_a, NULL, rm); /* not an id: refused locally */
    assert_int_equal(r.status, 1);
    kw_it_result_free(&r);
    const char *opt[] = {"--json", "device", "approve", "-x", "--code", "123456", NULL};
    r = kw_it_cli(&srv, prof_a, NULL, opt);
    assert_int_equal(r.status, 1);
    kw_it_result_free(&r);
}

/* A removes B: KK generation 2; B's next request is refused (2); B's
 * profile holds no KK of generation 2 and its KK 1 does not open the new
 * keychain, nor does B's HPKE key open A's wrap. */
static void test_remove(void **state)
{
    (void)state;
    const char *rm[] = {"--json", "device", "remove", b_id, "--yes", NULL};
    kw_it_result r = cli(prof_a, rm);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), 2);
    kw_it_result_free(&r);

    const char *show[] = {"--json", "keychain", "show", NULL};
    r = kw_it_cli(&srv, prof_b, NULL, show);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
    const char *list[] = {"--json", "device", "list", NULL};
    r = kw_it_cli(&srv, prof_b, NULL, list);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);

    /* What B could do with what it holds, given the new keychain and wrap. */
    kwc_profile *pa = NULL, *pb = NULL;
    assert_int_equal(kwc_profile_load(&pa, prof_a, PASSPHRASE, strlen(PASSPHRASE)), KW_OK);
    assert_int_equal(kwc_profile_load(&pb, prof_b, PASSPHRASE, strlen(PASSPHRASE)), KW_OK);
    char *body = NULL;
    int st = kw_it_http(&srv, "GET", "/v1/keychain", NULL, pa->s->token, &body);
    assert_int_equal(st, 200);
    json_error_t jerr;
    json_t *kc = json_loads(body, 0, &jerr);
    assert_non_null(kc);
    assert_int_equal(json_integer_value(json_object_get(kc, "generation")), 2);
    uint8_t *blob = NULL, *wrap = NULL;
    size_t blob_len = 0, wrap_len = 0;
    assert_int_equal(kwc_get_b64(kc, "keychain", KW_KEYCHAIN_MAXBYTES, &blob, &blob_len), KW_OK);
    assert_int_equal(kwc_get_b64(kc, "wrap", 4096, &wrap, &wrap_len), KW_OK);
    uint64_t version = (uint64_t)json_integer_value(json_object_get(kc, "version"));

    assert_null(kwc_profile_kk(pb, 2));
    const uint8_t *kk1 = kwc_profile_kk(pb, 1);
    assert_non_null(kk1);
    kw_keychain *k = NULL;
    assert_int_equal(kw_keychain_open(&k, blob, blob_len, kk1, "alice", version, 2), KW_ERR_VERIFY);
    assert_null(k);
    uint8_t kk[KW_KK_BYTES];
    assert_int_not_equal(kw_kk_unwrap(kk, wrap, wrap_len, "alice", 2, pb->device_id, pb->s->hpke_sk,
                                      pb->s->hpke_pk, pa->s->hpke_pk),
                         KW_OK);
    /* and A's own KK 2 does open it (the check above is meaningful) */
    assert_int_equal(kw_keychain_open(&k, blob, blob_len, kwc_profile_kk(pa, 2), "alice", version, 2),
                     KW_OK);
    kw_keychain_free(&k);
    free(blob);
    free(wrap);
    json_decref(kc);
    free(body);
    kwc_profile_free(&pa);
    kwc_profile_free(&pb);

    /* the removed device cannot sign in again either */
    const char *again[] = {"--json", "login", "alice", NULL};
    r = kw_it_cli(&srv, prof_b, NULL, again);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
}

/* A creates a recovery key; C signs in with password + recovery key, joins
 * itself and reads the keychain of generation 2. */
static void test_recovery(void **state)
{
    (void)state;
    const char *mk[] = {"--json", "recovery-key", "create", NULL};
    kw_it_result r = cli(prof_a, mk);
    assert_int_equal(r.status, 0);
    char code[KW_RECOVERY_CODEBYTES];
    snprintf(code, sizeof(code), "%s", jstr(&r, "recovery_key"));
    assert_int_equal(strlen(code), KW_RECOVERY_CODEBYTES - 1);
    kw_it_result_free(&r);

    /* a wrong recovery key (valid format, other key) is refused: 2 */
    uint8_t other[KW_RECOVERY_KEYBYTES];
    char other_code[KW_RECOVERY_CODEBYTES];
    kw_recovery_key_new(other);
    kw_recovery_code_encode(other_code, other);
    const char *bad[] = {"--json", "login", "alice", "--recovery-key", other_code, NULL};
    r = kw_it_cli(&srv, prof_d, NULL, bad);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);

    const char *in[] = {"--json", "login", "alice", "--recovery-key", code, NULL};
    r = cli(prof_c, in);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "device_state"), "trusted");
    kw_it_result_free(&r);

    const char *show[] = {"--json", "keychain", "show", NULL};
    r = cli(prof_c, show);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "account_pk"), a_pk);
    assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), 2);
    kw_it_result_free(&r);

    const char *status[] = {"--json", "status", NULL};
    r = cli(prof_c, status);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "state"), "trusted");
    kw_it_result_free(&r);

    /* C is trusted now: it can list the devices (A and C trusted, B removed) */
    const char *list[] = {"--json", "device", "list", NULL};
    r = cli(prof_c, list);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "devices")), 3);
    kw_it_result_free(&r);
}

/* Sessions and logout: C lists its sessions, revokes its own (refused
 * after, signs in again), logs out, is refused after. */
static void test_logout(void **state)
{
    (void)state;
    const char *sl[] = {"--json", "session", "list", NULL};
    kw_it_result r = cli(prof_c, sl);
    assert_int_equal(r.status, 0);
    assert_true(json_array_size(json_object_get(r.json, "sessions")) >= 2);
    char own[128] = "";
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r.json, "sessions"), i, e)
    {
        if (json_is_true(json_object_get(e, "current")))
            snprintf(own, sizeof(own), "%s", json_string_value(json_object_get(e, "id")));
    }
    kw_it_result_free(&r);
    assert_true(strlen(own) > 0);
    const char *rv[] = {"--json", "session", "revoke", own, NULL};
    r = cli(prof_c, rv);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "revoked"), own);
    kw_it_result_free(&r);
    r = kw_it_cli(&srv, prof_c, NULL, sl);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
    const char *again[] = {"--json", "login", "alice", NULL};
    r = cli(prof_c, again);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    r = cli(prof_c, sl);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    const char *out[] = {"--json", "logout", NULL};
    r = cli(prof_c, out);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    r = kw_it_cli(&srv, prof_c, NULL, sl);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
    /* a known trusted device signs in again with the password alone */
    const char *in[] = {"--json", "login", "alice", NULL};
    r = cli(prof_c, in);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "device_state"), "trusted");
    kw_it_result_free(&r);
}

/* The recovery key survives a device removal: A creates a recovery key
 * (its wrapping key goes into the keychain), removes C (KK generation 3,
 * re-wrapped for recovery in the same request); F, a new device, recovers
 * with that key and reads the keychain of generation 3. */
static void test_recovery_after_removal(void **state)
{
    (void)state;
    const char *st[] = {"--json", "status", NULL};
    kw_it_result r = cli(prof_c, st);
    assert_int_equal(r.status, 0);
    char c_id[32];
    snprintf(c_id, sizeof(c_id), "%s", jstr(&r, "device_id"));
    assert_int_equal(strlen(c_id), 22);
    kw_it_result_free(&r);

    const char *mk[] = {"--json", "recovery-key", "create", NULL};
    r = cli(prof_a, mk);
    assert_int_equal(r.status, 0);
    char code[KW_RECOVERY_CODEBYTES];
    snprintf(code, sizeof(code), "%s", jstr(&r, "recovery_key"));
    assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), 2);
    kw_it_result_free(&r);

    /* the keychain now holds the recovery wrapping key */
    const char *show[] = {"--json", "keychain", "show", NULL};
    r = cli(prof_a, show);
    assert_int_equal(r.status, 0);
    bool has_rwk = false;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "name")), KW_RECOVERY_RWK_ITEM) == 0)
            has_rwk = json_integer_value(json_object_get(it, "size")) == KW_RECOVERY_WRAPKEYBYTES;
    }
    assert_true(has_rwk);
    kw_it_result_free(&r);

    const char *rm[] = {"--json", "device", "remove", c_id, "--yes", NULL};
    r = cli(prof_a, rm);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), 3);
    assert_true(json_is_true(json_object_get(r.json, "recovery_rewrapped")));
    kw_it_result_free(&r);

    const char *in[] = {"--json", "login", "alice", "--device-name", "tablet-F", "--recovery-key", code,
                        NULL};
    r = cli(prof_f, in);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "device_state"), "trusted");
    kw_it_result_free(&r);

    r = cli(prof_f, show);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "account_pk"), a_pk);
    assert_int_equal(json_integer_value(json_object_get(r.json, "kk_generation")), 3);
    kw_it_result_free(&r);
}

static void write_file(char *path, size_t cap, const char *name, const char *text)
{
    snprintf(path, cap, "%s/%s", srv.dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Password change on A. A wrong current password is refused (2) and
 * nothing changes (F still signs in with the old password). With the right
 * one the record is replaced and A's other sessions (F's) are revoked; the
 * old password no longer signs in (2), the new one does, and A's own
 * session still works. */
static void test_password_change(void **state)
{
    (void)state;
    char wrong[400], newpw[400];
    write_file(wrong, sizeof(wrong), "pw-wrong", "not the password\n");
    write_file(newpw, sizeof(newpw), "pw-new", "a brand new passphrase\n");

    const char *bad[] = {"--json", "password", "change", "--password-file", wrong,
                         "--new-password-file", newpw, NULL};
    kw_it_result r = kw_it_cli(&srv, prof_a, NULL, bad);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "current password is wrong"));
    kw_it_result_free(&r);
    const char *in_old[] = {"--json", "login", "alice", NULL};
    r = cli(prof_f, in_old);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    const char *ch[] = {"--json", "password", "change", "--new-password-file", newpw, NULL};
    r = cli(prof_a, ch);
    assert_int_equal(r.status, 0);
    assert_true(json_is_true(json_object_get(r.json, "password_changed")));
    assert_true(json_integer_value(json_object_get(r.json, "sessions_revoked")) >= 1);
    kw_it_result_free(&r);

    /* F's session was revoked with the change */
    const char *list[] = {"--json", "device", "list", NULL};
    r = kw_it_cli(&srv, prof_f, NULL, list);
    assert_int_equal(r.status, 2);
    kw_it_result_free(&r);
    /* the old password (KEYWARD_PASSWORD) no longer signs in */
    r = kw_it_cli(&srv, prof_f, NULL, in_old);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "sign-in failed"));
    kw_it_result_free(&r);
    /* the new one does, and A's own session is still good */
    const char *in_new[] = {"--json", "login", "alice", "--password-file", newpw, NULL};
    r = cli(prof_f, in_new);
    assert_int_equal(r.status, 0);
    assert_string_equal(jstr(&r, "device_state"), "trusted");
    kw_it_result_free(&r);
    r = cli(prof_a, list);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_account), cmocka_unit_test(test_bad_sign_in),
        cmocka_unit_test(test_approval_sign_in), cmocka_unit_test(test_approve),
        cmocka_unit_test(test_dash_device_id),
        cmocka_unit_test(test_remove),         cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_logout),         cmocka_unit_test(test_recovery_after_removal),
        cmocka_unit_test(test_password_change),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
