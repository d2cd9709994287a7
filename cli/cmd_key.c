/* keyward key add [--name N] | key list | key remove ID | key rename ID NAME |
 *             key policy on|off
 *
 * Also the authenticator every command's client uses when the server asks
 * for a security key (cli_attach_authenticator, called by cli_open): a USB
 * key through libfido2 (PIN asked on the terminal), or, only with the
 * global --soft-key FILE, the INSECURE software authenticator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "keyward/client_keys.h"

static kw_client_authenticator *cli_auth;

static void cli_auth_free(void)
{
    kw_client_authenticator_free(&cli_auth);
}

static bool cli_pin(char *pin, size_t cap, void *arg)
{
    (void)arg;
    const char *env = getenv("KEYWARD_FIDO_PIN");
    if (env != NULL) {
        snprintf(pin, cap, "%s", env);
        return true;
    }
    return cli_prompt("security key PIN: ", pin, cap, true);
}

int cli_attach_authenticator(kw_client *c)
{
    if (cli_auth == NULL) {
        int r = cli_g.soft_key != NULL
                    ? kw_client_authenticator_soft_insecure(&cli_auth, cli_g.soft_key)
                    : kw_client_authenticator_fido2(&cli_auth, getenv("KEYWARD_FIDO_DEVICE"),
                                                    cli_pin, NULL);
        if (r != 0) {
            fprintf(stderr, "keyward: cannot set up the security key%s%s\n",
                    cli_g.soft_key != NULL ? " file " : "",
                    cli_g.soft_key != NULL ? cli_g.soft_key : "");
            return CLI_EXIT_PROFILE;
        }
        atexit(cli_auth_free);
    }
    kw_client_use_authenticator(c, cli_auth);
    return CLI_EXIT_OK;
}

static bool parse_id(const char *s, int64_t *id)
{
    char *end = NULL;
    long long v = s != NULL ? strtoll(s, &end, 10) : 0;
    if (s == NULL || end == s || *end != '\0' || v <= 0)
        return false;
    *id = v;
    return true;
}

static const char usage[] =
    "usage: keyward key add [--name N] | key list | key remove ID | key rename ID NAME |\n"
    "       key policy on|off";

int cmd_key_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    const char *sub = argc >= 2 ? argv[1] : "", *name = NULL, *v, *head = NULL;
    int64_t id = 0;
    int r = 0, rc;
    if (strcmp(sub, "add") == 0) {
        for (int i = 2; i < argc; i++) {
            if (cli_opt(argc, argv, &i, "name", &v))
                name = v;
            else
                return cli_usage("key add: unexpected '%s'\n%s", argv[i], usage);
        }
    } else if (strcmp(sub, "list") == 0) {
        if (argc != 2)
            return cli_usage("%s", usage);
    } else if (strcmp(sub, "remove") == 0) {
        if (argc != 3 || !parse_id(argv[2], &id))
            return cli_usage("%s", usage);
    } else if (strcmp(sub, "rename") == 0) {
        if (argc != 4 || !parse_id(argv[2], &id))
            return cli_usage("%s", usage);
    } else if (strcmp(sub, "policy") == 0) {
        if (argc != 3 || (strcmp(argv[2], "on") != 0 && strcmp(argv[2], "off") != 0))
            return cli_usage("%s", usage);
    } else {
        return cli_usage("%s", usage);
    }
    if ((rc = cli_open(&c)) != 0)
        return rc;
    if (strcmp(sub, "add") == 0) {
        r = kw_client_key_add(c, name, &out);
        head = "security key added";
    } else if (strcmp(sub, "list") == 0) {
        r = kw_client_key_list(c, &out);
    } else if (strcmp(sub, "remove") == 0) {
        r = kw_client_key_remove(c, id, &out);
        head = "security key removed";
    } else if (strcmp(sub, "rename") == 0) {
        r = kw_client_key_rename(c, id, argv[3], &out);
        head = "security key renamed";
    } else {
        bool on = strcmp(argv[2], "on") == 0;
        r = kw_client_key_policy(c, on, &out);
        head = on ? "security keys are now REQUIRED for new devices, password changes, key changes "
                    "and recovery"
                  : "security keys are no longer required";
    }
    rc = r == 0 ? cli_print(out, head) : cli_fail(c, r);
    kw_client_free(&c);
    return rc;
}
