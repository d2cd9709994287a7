/* keyward code — this account's public verification code: 30 digits
 * derived from the account key (and name) that a user can publish or read
 * out; another user checks it with `keyward contact verify NAME --code`. */
#include "cmd_ckv.h"
#include "keyward/client_ckv.h"

int cmd_code_main(int argc, char **argv);

int cmd_code_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    int rc;
    (void)argv;
    if (argc != 1)
        return cli_usage("usage: keyward code");
    if ((rc = cli_open(&c)) != CLI_EXIT_OK)
        return rc;
    int r = kw_client_ckv_code(c, &out);
    return ckv_cli_finish(&c, r, out, NULL);
}
