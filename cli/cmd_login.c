/* keyward login NAME [--device-name N] [--password-file F]
 *               [--approval-code C | --totp C | --recovery-key CODE] */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_login_main(int argc, char **argv)
{
    const char *name = NULL, *dev = NULL, *pwfile = NULL, *v;
    kw_client_factor f = {KW_CLIENT_FACTOR_NONE, NULL};
    int nfactors = 0;
    char pw[1024];
    kw_client *c = NULL;
    json_t *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "device-name", &v))
            dev = v;
        else if (cli_opt(argc, argv, &i, "password-file", &v))
            pwfile = v;
        else if (cli_opt(argc, argv, &i, "approval-code", &v) || cli_opt(argc, argv, &i, "code", &v)) {
            f = (kw_client_factor){KW_CLIENT_FACTOR_APPROVAL, v};
            nfactors++;
        } else if (cli_opt(argc, argv, &i, "totp", &v)) {
            f = (kw_client_factor){KW_CLIENT_FACTOR_TOTP, v};
            nfactors++;
        } else if (cli_opt(argc, argv, &i, "recovery-key", &v)) {
            f = (kw_client_factor){KW_CLIENT_FACTOR_RECOVERY, v};
            nfactors++;
        } else if (argv[i][0] != '-' && name == NULL)
            name = argv[i];
        else
            return cli_usage("login: unexpected '%s'", argv[i]);
    }
    if (name == NULL)
        return cli_usage("login: missing NAME");
    if (nfactors > 1)
        return cli_usage("login: give at most one of --approval-code, --totp, --recovery-key");
    int rc = cli_password(pw, sizeof(pw), pwfile, false);
    if (rc == 0 && (rc = cli_open(&c)) == 0) {
        int r = kw_client_login(c, name, dev, (const unsigned char *)pw, strlen(pw), &f, &out);
        if (r != 0) {
            rc = cli_fail(c, r);
        } else {
            const char *st = json_string_value(json_object_get(out, "device_state"));
            const char *code = json_string_value(json_object_get(out, "join_code"));
            char head[256];
            if (st != NULL && strcmp(st, "pending") == 0 && code != NULL)
                snprintf(head, sizeof(head),
                         "signed in; this device is PENDING.\nOn a trusted device run:\n"
                         "  keyward device approve %s --code %s\nand check that it shows join code %s",
                         json_string_value(json_object_get(out, "device_id")), code, code);
            else
                snprintf(head, sizeof(head), "signed in; this device is %s", st != NULL ? st : "?");
            rc = cli_print(out, head);
        }
    }
    sodium_memzero(pw, sizeof(pw));
    kw_client_free(&c);
    return rc;
}
