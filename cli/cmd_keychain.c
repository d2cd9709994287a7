/* keyward keychain show — unwraps the current KK and lists the keychain. */
#include <string.h>

#include "cli.h"

int cmd_keychain_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    if (argc != 2 || strcmp(argv[1], "show") != 0)
        return cli_usage("usage: keyward keychain show");
    int rc = cli_open(&c);
    if (rc == 0) {
        int r = kw_client_keychain_show(c, &out);
        rc = r == 0 ? cli_print(out, NULL) : cli_fail(c, r);
    }
    kw_client_free(&c);
    return rc;
}
