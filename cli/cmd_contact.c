/* keyward contact add NAME | list | show NAME | remove NAME |
 *                 verify NAME --code CODE | verify NAME [--timeout S]
 *
 * Contacts are looked up in the key-transparency log with a verified
 * search proof, their roster verified under their account key, which is
 * pinned on first use; every use re-checks them. `verify --code` checks
 * the contact's public verification code (`keyward code` on their side)
 * and marks the contact verified; `verify` without a code runs the
 * interactive compare with NAME's device (both users run it at once): the
 * short code is printed (with --json as a first line {"sas": ...}) and the
 * answer read from the terminal, or from standard input when there is no
 * terminal. Alerts raised go to stderr (and the
 * "alerts" array with --json); see keyward(1) for the exit codes. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_ckv.h"
#include "keyward/client_ckv.h"

int cmd_contact_main(int argc, char **argv);

#define USAGE                                                                                      \
    "usage: keyward contact add NAME | list | show NAME | remove NAME |\n"                         \
    "       verify NAME --code CODE | verify NAME [--timeout S]"

static bool confirm_sas(const char *sas, void *arg)
{
    const char *name = arg;
    char ans[16], q[200];
    if (cli_g.json)
        printf("{\"sas\":\"%s\"}\n", sas);
    else
        printf("verification code: %s\n", sas);
    fflush(stdout);
    snprintf(q, sizeof(q), "Does %s's device show the same code %s? [y/N] ", name, sas);
    if (!cli_prompt(q, ans, sizeof(ans), false)) {
        fprintf(stderr, "%s", q);
        if (fgets(ans, sizeof(ans), stdin) == NULL)
            return false;
    }
    return ans[0] == 'y' || ans[0] == 'Y';
}

int cmd_contact_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    const char *name = NULL, *code = NULL, *v;
    unsigned timeout = 0;
    int r, rc;
    if (argc < 2)
        return cli_usage(USAGE);
    const char *sub = argv[1];
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "code", &v))
            code = v;
        else if (cli_opt(argc, argv, &i, "timeout", &v)) {
            char *end = NULL;
            unsigned long t = strtoul(v, &end, 10);
            if (end == v || *end != '\0' || t < 1 || t > 3600)
                return cli_usage("contact verify: --timeout takes 1..3600 seconds");
            timeout = (unsigned)t;
        }
        else if (name == NULL && argv[i][0] != '-')
            name = argv[i];
        else
            return cli_usage("contact: unexpected '%s'\n%s", argv[i], USAGE);
    }
    bool list = strcmp(sub, "list") == 0;
    if (list != (name == NULL) || (code != NULL && strcmp(sub, "verify") != 0))
        return cli_usage(USAGE);
    if ((rc = cli_open(&c)) != CLI_EXIT_OK)
        return rc;
    if (strcmp(sub, "add") == 0)
        r = kw_client_contact_add(c, name, &out);
    else if (list)
        r = kw_client_contact_list(c, &out);
    else if (strcmp(sub, "show") == 0)
        r = kw_client_contact_show(c, name, &out);
    else if (strcmp(sub, "remove") == 0)
        r = kw_client_contact_remove(c, name, &out);
    else if (strcmp(sub, "verify") == 0 && code != NULL)
        r = kw_client_contact_verify_code(c, name, code, &out);
    else if (strcmp(sub, "verify") == 0)
        r = kw_client_contact_verify_sas(c, name, confirm_sas, (void *)(uintptr_t)name, timeout, &out);
    else {
        kw_client_free(&c);
        return cli_usage(USAGE);
    }
    return ckv_cli_finish(&c, r, out, NULL);
}
