/* keyward account create NAME [--device-name N] [--password-file F] */
#include <sodium.h>
#include <string.h>

#include "cli.h"

int cmd_account_main(int argc, char **argv)
{
    const char *name = NULL, *dev = NULL, *pwfile = NULL, *v;
    char pw[1024];
    kw_client *c = NULL;
    json_t *out = NULL;
    if (argc < 2 || strcmp(argv[1], "create") != 0)
        return cli_usage("usage: keyward account create NAME [--device-name N]");
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "device-name", &v))
            dev = v;
        else if (cli_opt(argc, argv, &i, "password-file", &v))
            pwfile = v;
        else if (argv[i][0] != '-' && name == NULL)
            name = argv[i];
        else
            return cli_usage("account create: unexpected '%s'", argv[i]);
    }
    if (name == NULL)
        return cli_usage("account create: missing NAME");
    int rc = cli_password(pw, sizeof(pw), pwfile, true);
    if (rc == 0 && (rc = cli_open(&c)) == 0) {
        int r = kw_client_account_create(c, name, dev, (const unsigned char *)pw, strlen(pw), &out);
        rc = r == 0 ? cli_print(out, "account created; this device is trusted") : cli_fail(c, r);
    }
    sodium_memzero(pw, sizeof(pw));
    kw_client_free(&c);
    return rc;
}
