/* keyward recovery-key create — shows the new recovery key once. */
#include <string.h>

#include "cli.h"

int cmd_recovery_key_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    if (argc != 2 || strcmp(argv[1], "create") != 0)
        return cli_usage("usage: keyward recovery-key create");
    int rc = cli_open(&c);
    if (rc == 0) {
        int r = kw_client_recovery_create(c, &out);
        rc = r == 0 ? cli_print(out, "recovery key created. Write it down now: it is shown once and "
                                     "replaces any earlier one.")
                    : cli_fail(c, r);
    }
    kw_client_free(&c);
    return rc;
}
