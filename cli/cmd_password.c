/* keyward password change [--password-file F] [--new-password-file F]
 *
 * The current password as for login (--password-file, KEYWARD_PASSWORD or
 * the terminal); the new one from --new-password-file, KEYWARD_NEW_PASSWORD,
 * or asked twice on the terminal. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_password_main(int argc, char **argv)
{
    const char *pwfile = NULL, *newfile = NULL, *v;
    char pw[1024], npw[1024];
    kw_client *c = NULL;
    json_t *out = NULL;
    int rc;
    if (argc < 2 || strcmp(argv[1], "change") != 0)
        return cli_usage("usage: keyward password change [--password-file F] [--new-password-file F]");
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "password-file", &v))
            pwfile = v;
        else if (cli_opt(argc, argv, &i, "new-password-file", &v))
            newfile = v;
        else
            return cli_usage("password change: unexpected '%s'", argv[i]);
    }
    memset(npw, 0, sizeof(npw));
    rc = cli_password(pw, sizeof(pw), pwfile, false);
    if (rc == 0)
        rc = cli_secret(npw, sizeof(npw), newfile, "KEYWARD_NEW_PASSWORD", "new account password", true);
    if (rc == 0 && (rc = cli_open(&c)) == 0) {
        int r = kw_client_password_change(c, (const unsigned char *)pw, strlen(pw),
                                          (const unsigned char *)npw, strlen(npw), &out);
        rc = r == 0 ? cli_print(out, "password changed; the account's other sessions were signed out")
                    : cli_fail(c, r);
    }
    sodium_memzero(pw, sizeof(pw));
    sodium_memzero(npw, sizeof(npw));
    kw_client_free(&c);
    return rc;
}
