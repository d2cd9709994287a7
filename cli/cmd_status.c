/* keyward status — account, device, state, server, KK generation. */
#include "cli.h"

int cmd_status_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    if (argc != 1)
        return cli_usage("status: unexpected '%s'", argv[1]);
    int rc = cli_open(&c);
    if (rc == 0) {
        int r = kw_client_status(c, &out);
        rc = r == 0 ? cli_print(out, NULL) : cli_fail(c, r);
    }
    kw_client_free(&c);
    return rc;
}
