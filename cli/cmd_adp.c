/* keyward adp on | off | status — Advanced Data Protection (the switch
 * lives in the signed roster; see keyward/client_adp.h). */
#include <string.h>

#include "cli.h"
#include "keyward/client_adp.h"

int cmd_adp_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    int r, rc;
    if (argc != 2 || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0 &&
                      strcmp(argv[1], "status") != 0))
        return cli_usage("usage: keyward adp on | off | status");
    if ((rc = cli_open(&c)) != 0) {
        kw_client_free(&c);
        return rc;
    }
    if (strcmp(argv[1], "on") == 0) {
        r = kw_client_adp_enable(c, &out);
        rc = r == 0 ? cli_print(out, "Advanced Data Protection is on: the server no longer holds keys "
                                     "to your end-to-end categories; keep your recovery key safe")
                    : cli_fail(c, r);
    } else if (strcmp(argv[1], "off") == 0) {
        r = kw_client_adp_disable(c, &out);
        rc = r == 0 ? cli_print(out, "Advanced Data Protection is off: the server holds a copy of the "
                                     "service keys again (standard protection)")
                    : cli_fail(c, r);
    } else {
        r = kw_client_adp_status(c, &out);
        rc = r == 0 ? cli_print(out, NULL) : cli_fail(c, r);
    }
    kw_client_free(&c);
    return rc;
}
