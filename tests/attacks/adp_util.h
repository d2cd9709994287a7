/*
 * adp_util.h — helpers of the ADP tests (tests/integration/test_adp.c and
 * tests/attacks/test_adp_*.c), on top of attack_util.h: a device's view of
 * its service keys through libkeyward (the client's own code, opened on the
 * device's profile), and adding service keys to the keychain the way the
 * records flows do (roll, re-seal, POST /v1/records/keychain).
 */
#ifndef KEYWARD_TESTS_ADP_UTIL_H
#define KEYWARD_TESTS_ADP_UTIL_H

#include "attack_util.h"

#include "client/client_internal.h"
#include "keyward/client_adp.h"
#include "keyward/keychain.h"

static inline kw_client *adp_client(const kw_it_server *s, const char *prof)
{
    kw_client *c = NULL;
    kw_client_options o = {.profile_dir = prof,
                           .server_url = s->url,
                           .passphrase = AT_PASSPHRASE,
                           .passphrase_len = strlen(AT_PASSPHRASE),
                           .fast_kdf = true};
    int r = kw_client_open(&c, &o);
    if (r != KW_OK)
        fprintf(stderr, "open %s: %s\n", prof, kw_client_error(c));
    assert_int_equal(r, KW_OK);
    return c;
}

/* The device's current keychain (through the client's checks). */
static inline kw_keychain *adp_keychain(const kw_it_server *s, const char *prof)
{
    kw_client *c = adp_client(s, prof);
    kw_keychain *kc = NULL;
    int r = kwc_sync_kk(c, &kc, NULL, NULL, NULL);
    if (r != KW_OK)
        fprintf(stderr, "sync %s: %s\n", prof, kw_client_error(c));
    assert_int_equal(r, KW_OK);
    kw_client_free(&c);
    return kc;
}

/* Rolls (creates) the service keys of the NULL-terminated categories in
 * prof's keychain and stores it. */
static inline void adp_svc_roll(const kw_it_server *s, const char *prof, const char *const *cats)
{
    kw_client *c = adp_client(s, prof);
    kw_keychain *kc = NULL;
    uint64_t kcv = 0, gen = 0;
    json_t *resp = NULL;
    assert_int_equal(kwc_sync_kk(c, &kc, &kcv, &gen, NULL), KW_OK);
    for (size_t i = 0; cats[i] != NULL; i++)
        assert_int_equal(kw_keychain_svc_roll(kc, cats[i], NULL), KW_OK);
    json_t *body = json_pack("{s:I}", "keychain_version", (json_int_t)(kcv + 1));
    assert_int_equal(kwc_seal_keychain(c, body, "keychain", kc, kwc_profile_kk(c->p, gen), kcv + 1, gen),
                     KW_OK);
    int r = kwc_http(c, "POST", "/v1/records/keychain", body, true, &resp);
    if (r != KW_OK)
        fprintf(stderr, "records/keychain: %s\n", kw_client_error(c));
    assert_int_equal(r, KW_OK);
    assert_int_equal(kwc_keychain_pin(c, kcv + 1, gen), KW_OK);
    json_decref(resp);
    json_decref(body);
    kw_keychain_free(&kc);
    kw_client_free(&c);
}

/* The current generation of a category in kc (0: none). */
static inline uint32_t adp_svc_gen(const kw_keychain *kc, const char *cat)
{
    const char *name;
    uint32_t g = 0;
    for (size_t i = 0; i < kw_keychain_svc_count(kc); i++)
        if (kw_keychain_svc_at(kc, i, &name, &g) == KW_OK && strcmp(name, cat) == 0)
            return g;
    return 0;
}

/* Rows of the server's adp_custody for a category of account name. */
static inline int64_t adp_custody_rows(const kw_it_server *s, const char *name, const char *cat)
{
    char sql[256];
    sqlite3 *db = at_db_open(s);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM adp_custody WHERE category = '%s' AND account_id = (SELECT id FROM "
             "accounts WHERE name = '%s')",
             cat, name);
    int64_t n = at_int(db, sql);
    at_db_close(db);
    return n;
}

/* Searches a file for needle; true when found. */
static inline bool adp_file_has(const char *path, const uint8_t *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    bool found = false;
    if (size > 0) {
        uint8_t *buf = malloc((size_t)size);
        assert_non_null(buf);
        if (fread(buf, 1, (size_t)size, f) == (size_t)size)
            for (size_t i = 0; !found && i + n <= (size_t)size; i++)
                found = buf[i] == needle[0] && memcmp(buf + i, needle, n) == 0;
        free(buf);
    }
    fclose(f);
    return found;
}

#endif
