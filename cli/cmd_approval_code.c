/* keyward approval-code — a 6-digit code for signing in a new device. */
#include <stdio.h>

#include "cli.h"

int cmd_approval_code_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    if (argc != 1)
        return cli_usage("approval-code: unexpected '%s'", argv[1]);
    int rc = cli_open(&c);
    if (rc == 0) {
        int r = kw_client_approval_code(c, &out);
        rc = r == 0 ? cli_print(out, "approval code for a new device (single use, 5 minutes):")
                    : cli_fail(c, r);
    }
    kw_client_free(&c);
    return rc;
}
