/*
 * Key custody (server/custody/custody.h): the key-file provider and the
 * PKCS#11 provider against a real SoftHSM2 token, initialised in a
 * temporary directory (SOFTHSM2_CONF, softhsm2-util --init-token) — the
 * test fails, never skips, when SoftHSM2 is missing: CI installs it
 * (scripts/deps.d/adp.packages).
 *
 * Each provider: a wrap opens for exactly its (account, label, generation)
 * and for nothing else; a flipped byte, a truncated wrap and another
 * provider's wrap do not open; a reopened provider opens older wraps (the
 * key persists: key file on disk, key object on the token); the key file is
 * 0600 and a damaged or world-readable one is refused; a wrong PIN, an
 * unknown token or a module that is not PKCS#11 fail to open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "api/api.h"
#include "api/areas.h"
#include "config.h"
#include "custody/custody.h"
#include "keyward/err.h"

static char tmp[256];
static const char *softhsm_module;

static const char *const modules[] = {"/usr/lib/softhsm/libsofthsm2.so",
                                      "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                                      "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", NULL};

static int run(const char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state)
{
    (void)state;
    char path[400];
    if (sodium_init() < 0)
        return -1;
    snprintf(tmp, sizeof(tmp), "/tmp/kw-custody-XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/tokens", tmp);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/softhsm2.conf", tmp);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", tmp);
    fclose(f);
    setenv("SOFTHSM2_CONF", path, 1);
    for (size_t i = 0; modules[i] != NULL && softhsm_module == NULL; i++)
        if (access(modules[i], R_OK) == 0)
            softhsm_module = modules[i];
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *rm[] = {"rm", "-rf", tmp, NULL};
    run(rm);
    return 0;
}

/* Round trip and every binding of the associated data. */
static void check_provider(kw_custody *c)
{
    uint8_t key[32], out[64], wrap[KW_CUSTODY_WRAP_MAX];
    size_t wlen = 0, olen = 0;
    randombytes_buf(key, sizeof(key));
    assert_int_equal(kw_custody_wrap(c, 7, "photos", 3, key, sizeof(key), wrap, sizeof(wrap), &wlen), KW_OK);
    assert_true(wlen > sizeof(key));
    assert_int_equal(kw_custody_unwrap(c, 7, "photos", 3, wrap, wlen, out, sizeof(out), &olen), KW_OK);
    assert_int_equal(olen, 32);
    assert_memory_equal(out, key, 32);
    /* the plaintext is not in the wrap */
    for (size_t i = 0; i + 32 <= wlen; i++)
        assert_true(memcmp(wrap + i, key, 32) != 0);
    assert_int_equal(kw_custody_unwrap(c, 8, "photos", 3, wrap, wlen, out, sizeof(out), &olen),
                     KW_ERR_VERIFY);
    assert_int_equal(olen, 0);
    assert_true(sodium_is_zero(out, sizeof(out)));
    assert_int_equal(kw_custody_unwrap(c, 7, "notes", 3, wrap, wlen, out, sizeof(out), &olen),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_custody_unwrap(c, 7, "photos", 4, wrap, wlen, out, sizeof(out), &olen),
                     KW_ERR_VERIFY);
    for (size_t i = 0; i < wlen; i += 7) {
        wrap[i] ^= 0x01;
        assert_int_equal(kw_custody_unwrap(c, 7, "photos", 3, wrap, wlen, out, sizeof(out), &olen),
                         KW_ERR_VERIFY);
        wrap[i] ^= 0x01;
    }
    assert_int_equal(kw_custody_unwrap(c, 7, "photos", 3, wrap, wlen - 1, out, sizeof(out), &olen),
                     KW_ERR_VERIFY);
    assert_int_equal(kw_custody_unwrap(c, 7, "photos", 3, wrap, 1, out, sizeof(out), &olen), KW_ERR_VERIFY);
    /* limits */
    uint8_t big[KW_CUSTODY_SECRET_MAX + 1] = {0};
    assert_int_equal(kw_custody_wrap(c, 7, "photos", 3, big, sizeof(big), wrap, sizeof(wrap), &wlen),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_custody_wrap(c, 7, "", 3, key, 32, wrap, sizeof(wrap), &wlen), KW_ERR_INVALID_ARG);
}

static void test_keyfile(void **state)
{
    (void)state;
    kw_config cfg;
    kw_custody *c = NULL, *c2 = NULL;
    char dir[400], path[480];
    struct stat st;
    uint8_t key[32], out[32], wrap[KW_CUSTODY_WRAP_MAX];
    size_t wlen = 0, olen = 0;
    kw_config_defaults(&cfg);
    snprintf(dir, sizeof(dir), "%s/data", tmp);
    mkdir(dir, 0700);
    assert_int_equal(kw_custody_open(&c, &cfg, dir), KW_OK);
    assert_string_equal(kw_custody_name(c), "keyfile");
    snprintf(path, sizeof(path), "%s/custody.key", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 38);
    check_provider(c);
    randombytes_buf(key, sizeof(key));
    assert_int_equal(kw_custody_wrap(c, 1, "mail", 1, key, 32, wrap, sizeof(wrap), &wlen), KW_OK);
    kw_custody_close(&c);
    assert_null(c);
    /* the key persists */
    assert_int_equal(kw_custody_open(&c2, &cfg, dir), KW_OK);
    assert_int_equal(kw_custody_unwrap(c2, 1, "mail", 1, wrap, wlen, out, sizeof(out), &olen), KW_OK);
    assert_memory_equal(out, key, 32);
    kw_custody_close(&c2);
    /* a world-readable key file is refused */
    chmod(path, 0644);
    assert_int_equal(kw_custody_open(&c, &cfg, dir), KW_ERR_INVALID_ARG);
    chmod(path, 0600);
    /* a damaged one is refused, not replaced */
    assert_int_equal(truncate(path, 20), 0);
    assert_int_equal(kw_custody_open(&c, &cfg, dir), KW_ERR_FORMAT);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 20);
    /* unknown provider */
    assert_int_equal(kw_config_set(&cfg, "custody.provider", "vault"), KW_OK);
    assert_int_equal(kw_custody_open(&c, &cfg, dir), KW_ERR_INVALID_ARG);
}

static void init_token(const char *label)
{
    const char *argv[] = {"softhsm2-util", "--init-token", "--free", "--label", label, "--pin", "1234",
                          "--so-pin", "5678", NULL};
    int rc = run(argv);
    if (rc != 0)
        fprintf(stderr, "softhsm2-util --init-token failed (%d): install softhsm2\n", rc);
    assert_int_equal(rc, 0);
}

static void p11_config(kw_config *cfg, const char *token, const char *pin)
{
    kw_config_defaults(cfg);
    assert_int_equal(kw_config_set(cfg, "custody.provider", "pkcs11"), KW_OK);
    assert_int_equal(kw_config_set(cfg, "custody.pkcs11_module", softhsm_module), KW_OK);
    assert_int_equal(kw_config_set(cfg, "custody.pkcs11_token", token), KW_OK);
    assert_int_equal(kw_config_set(cfg, "custody.pkcs11_pin", pin), KW_OK);
}

static void test_pkcs11_softhsm(void **state)
{
    (void)state;
    kw_config cfg, kf;
    kw_custody *c = NULL, *k = NULL;
    uint8_t key[32], out[32], wrap[KW_CUSTODY_WRAP_MAX], kwrap[KW_CUSTODY_WRAP_MAX];
    size_t wlen = 0, klen = 0, olen = 0;
    char dir[400];
    if (softhsm_module == NULL)
        fprintf(stderr, "libsofthsm2.so not found: install softhsm2\n");
    assert_non_null(softhsm_module);
    init_token("kw-custody");
    p11_config(&cfg, "kw-custody", "1234");
    int r = kw_custody_open(&c, &cfg, tmp);
    assert_int_equal(r, KW_OK);
    assert_string_equal(kw_custody_name(c), "pkcs11");
    check_provider(c);
    randombytes_buf(key, sizeof(key));
    assert_int_equal(kw_custody_wrap(c, 42, "drive", 2, key, 32, wrap, sizeof(wrap), &wlen), KW_OK);
    assert_int_equal(wrap[0], 0x02);
    /* another provider's wrap does not open here, nor the reverse */
    kw_config_defaults(&kf);
    snprintf(dir, sizeof(dir), "%s/data2", tmp);
    mkdir(dir, 0700);
    assert_int_equal(kw_custody_open(&k, &kf, dir), KW_OK);
    assert_int_equal(kw_custody_wrap(k, 42, "drive", 2, key, 32, kwrap, sizeof(kwrap), &klen), KW_OK);
    assert_int_equal(kw_custody_unwrap(c, 42, "drive", 2, kwrap, klen, out, sizeof(out), &olen),
                     KW_ERR_VERIFY);
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(kw_custody_unwrap(k, 42, "drive", 2, wrap, wlen, out, sizeof(out), &olen),
                     KW_ERR_VERIFY);
    assert_true(sodium_is_zero(out, sizeof(out))); /* found by fuzz_server_custody */
    kw_custody_close(&k);
    kw_custody_close(&c);
    /* the key object persists on the token: a new session opens old wraps */
    assert_int_equal(kw_custody_open(&c, &cfg, tmp), KW_OK);
    assert_int_equal(kw_custody_unwrap(c, 42, "drive", 2, wrap, wlen, out, sizeof(out), &olen), KW_OK);
    assert_memory_equal(out, key, 32);
    kw_custody_close(&c);
    /* a wrong PIN, an unknown token, a module that is not PKCS#11 */
    p11_config(&cfg, "kw-custody", "0000");
    assert_int_not_equal(kw_custody_open(&c, &cfg, tmp), KW_OK);
    assert_null(c);
    p11_config(&cfg, "no-such-token", "1234");
    assert_int_not_equal(kw_custody_open(&c, &cfg, tmp), KW_OK);
    p11_config(&cfg, "kw-custody", "1234");
    assert_int_equal(kw_config_set(&cfg, "custody.pkcs11_module", "libc.so.6"), KW_OK);
    assert_int_not_equal(kw_custody_open(&c, &cfg, tmp), KW_OK);
    /* a second token gets its own key: wraps do not cross tokens */
    init_token("kw-custody-2");
    p11_config(&cfg, "kw-custody-2", "1234");
    assert_int_equal(kw_custody_open(&c, &cfg, tmp), KW_OK);
    assert_int_equal(kw_custody_unwrap(c, 42, "drive", 2, wrap, wlen, out, sizeof(out), &olen),
                     KW_ERR_VERIFY);
    kw_custody_close(&c);
}

/* keywardd's ADP area starts on the provider its config names, and refuses
 * to start on a bad one (a start failure stops the server). */
static void test_area_start(void **state)
{
    (void)state;
    kw_config cfg;
    kw_server srv;
    memset(&srv, 0, sizeof(srv));
    p11_config(&cfg, "kw-custody", "1234");
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmp);
    srv.cfg = &cfg;
    assert_int_equal(kw_api_adp_start(&srv), KW_OK);
    assert_non_null(srv.adp);
    kw_api_adp_stop(&srv);
    assert_null(srv.adp);
    p11_config(&cfg, "kw-custody", "9999");
    assert_int_not_equal(kw_api_adp_start(&srv), KW_OK);
    assert_null(srv.adp);
    kw_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmp);
    assert_int_equal(kw_config_set(&cfg, "adp.categories_interop", "mail,photos,Bad!"), KW_OK);
    assert_int_equal(kw_api_adp_start(&srv), KW_ERR_INVALID_ARG);
    kw_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmp);
    assert_int_equal(kw_config_set(&cfg, "adp.categories_interop", "mail,photos"), KW_OK);
    assert_int_equal(kw_api_adp_start(&srv), KW_ERR_INVALID_ARG); /* photos in two classes */
    assert_int_equal(kw_config_set(&cfg, "adp.categories_interop", "mail"), KW_OK);
    assert_int_equal(kw_config_set(&cfg, "adp.contact_wait", "-1"), KW_OK);
    assert_int_equal(kw_api_adp_start(&srv), KW_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyfile),
        cmocka_unit_test(test_pkcs11_softhsm),
        cmocka_unit_test(test_area_start),
    };
    return cmocka_run_group_tests_name("custody", tests, setup, teardown);
}
