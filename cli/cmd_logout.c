/* keyward logout — revokes this device's session and forgets its token. */
#include "cli.h"

int cmd_logout_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    if (argc != 1)
        return cli_usage("logout: unexpected '%s'", argv[1]);
    int rc = cli_open(&c);
    if (rc == 0) {
        int r = kw_client_logout(c, &out);
        rc = r == 0 ? cli_print(out, "signed out") : cli_fail(c, r);
    }
    kw_client_free(&c);
    return rc;
}
