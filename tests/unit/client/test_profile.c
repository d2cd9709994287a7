/* Unit tests of the device profile (lib/client/profile.c): secrets are
 * sealed at rest, the passphrase is checked, damage is detected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "client/client_internal.h"
#include "keyward/err.h"
#include "keyward/keyward.h"

#define PASS "profile passphrase"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kw-test-profile-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    strcat(dir, "/p"); /* created by kwc_profile_create */
    return kw_init();
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(dir) - 2), dir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *b = malloc(1 << 16);
    *len = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void put(const char *name, const uint8_t *b, size_t len)
{
    assert_int_equal(kwc_write_file(dir, name, b, len), KW_OK);
}

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

static void test_roundtrip_and_at_rest(void **state)
{
    (void)state;
    kwc_profile *p = NULL, *q = NULL;
    uint8_t kk[32], seed[32];
    struct stat st;
    assert_int_equal(kwc_profile_load(&p, dir, PASS, strlen(PASS)), KW_ERR_NOT_FOUND);
    assert_int_equal(kwc_profile_create(&p, dir, PASS, strlen(PASS), true), KW_OK);
    memset(kk, 0xa5, sizeof(kk));
    memset(seed, 0x5a, sizeof(seed));
    kwc_profile_kk_put(p, 1, kk);
    memcpy(p->s->account_seed, seed, 32);
    p->s->has_account_seed = 1;
    snprintf(p->s->token, sizeof(p->s->token), "tok-SECRET-tok");
    snprintf(p->account, sizeof(p->account), "alice");
    assert_int_equal(kwc_profile_save(p), KW_OK);

    size_t n1, n2;
    uint8_t *sec = slurp("secrets.bin", &n1), *cfg = slurp("config.json", &n2);
    const uint8_t *secrets[] = {p->s->identity_seed, p->s->hpke_sk, kk, seed};
    for (size_t i = 0; i < 4; i++) {
        assert_false(contains(sec, n1, secrets[i], 16));
        assert_false(contains(cfg, n2, secrets[i], 16));
    }
    assert_false(contains(sec, n1, (const uint8_t *)"SECRET", 6));
    assert_false(contains(cfg, n2, (const uint8_t *)"SECRET", 6));
    free(sec);
    free(cfg);
    char path[400];
    snprintf(path, sizeof(path), "%s/secrets.bin", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(kwc_profile_load(&q, dir, PASS, strlen(PASS)), KW_OK);
    assert_memory_equal(q->s->identity_seed, p->s->identity_seed, 32);
    assert_memory_equal(q->s->hpke_sk, p->s->hpke_sk, 32);
    assert_memory_equal(q->device_id, p->device_id, 16);
    assert_memory_equal(kwc_profile_kk(q, 1), kk, 32);
    assert_null(kwc_profile_kk(q, 2));
    assert_int_equal(kwc_profile_kk_latest(q), 1);
    assert_string_equal(q->s->token, "tok-SECRET-tok");
    assert_string_equal(q->account, "alice");
    kwc_profile_free(&q);

    /* a second create over it is refused */
    assert_int_equal(kwc_profile_create(&q, dir, PASS, strlen(PASS), true), KW_ERR_CONFLICT);
    kwc_profile_free(&p);
}

static void test_wrong_passphrase(void **state)
{
    (void)state;
    kwc_profile *p = NULL;
    assert_int_equal(kwc_profile_load(&p, dir, "not it", 6), KW_ERR_VERIFY);
    assert_null(p);
}

static void test_tampered(void **state)
{
    (void)state;
    kwc_profile *p = NULL;
    size_t n;
    uint8_t *orig = slurp("secrets.bin", &n);
    uint8_t *b = malloc(n);

    memcpy(b, orig, n); /* ciphertext byte */
    b[n - 20] ^= 1;
    put("secrets.bin", b, n);
    assert_int_equal(kwc_profile_load(&p, dir, PASS, strlen(PASS)), KW_ERR_VERIFY);

    memcpy(b, orig, n); /* salt in the header (bound as associated data) */
    b[4 + 14] ^= 1;
    put("secrets.bin", b, n);
    assert_int_equal(kwc_profile_load(&p, dir, PASS, strlen(PASS)), KW_ERR_VERIFY);

    memcpy(b, orig, n); /* magic */
    b[0] = 'X';
    put("secrets.bin", b, n);
    assert_int_equal(kwc_profile_load(&p, dir, PASS, strlen(PASS)), KW_ERR_FORMAT);

    memcpy(b, orig, n); /* Argon2 parameters below the floor */
    b[4 + 2] = b[4 + 3] = b[4 + 4] = 0;
    b[4 + 5] = 1;
    put("secrets.bin", b, n);
    assert_int_equal(kwc_profile_load(&p, dir, PASS, strlen(PASS)), KW_ERR_FORMAT);

    put("secrets.bin", orig, 40); /* truncated */
    assert_int_equal(kwc_profile_load(&p, dir, PASS, strlen(PASS)), KW_ERR_TRUNCATED);

    put("secrets.bin", orig, n);
    assert_int_equal(kwc_profile_load(&p, dir, PASS, strlen(PASS)), KW_OK);
    kwc_profile_free(&p);
    free(b);
    free(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_at_rest),
        cmocka_unit_test(test_wrong_passphrase),
        cmocka_unit_test(test_tampered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
