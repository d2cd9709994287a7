/* keyward session list | session revoke ID */
#include <string.h>

#include "cli.h"

int cmd_session_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    int r, rc;
    bool list = argc == 2 && strcmp(argv[1], "list") == 0;
    bool revoke = argc == 3 && strcmp(argv[1], "revoke") == 0;
    if (!list && !revoke)
        return cli_usage("usage: keyward session list | session revoke ID");
    if ((rc = cli_open(&c)) != 0)
        return rc;
    r = list ? kw_client_session_list(c, &out) : kw_client_session_revoke(c, argv[2], &out);
    rc = r == 0 ? cli_print(out, list ? NULL : "session revoked") : cli_fail(c, r);
    kw_client_free(&c);
    return rc;
}
