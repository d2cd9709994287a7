/* keyward sync [--rotate-prekey [--no-fetch]] — fetches, verifies, stores and
 * acknowledges this device's messages; prints what arrived, what was
 * refused (with the reason) and any alert from the gossiped tree heads.
 * Exit 0 even when envelopes were refused (they are reported); exit 2 when
 * an alert was raised. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keyward/client_msg.h"

int cmd_sync_main(int argc, char **argv)
{
    bool rotate = false, fetch = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rotate-prekey") == 0)
            rotate = true;
        else if (strcmp(argv[i], "--no-fetch") == 0)
            fetch = false;
        else
            return cli_usage("sync: unexpected '%s'", argv[i]);
    }
    kw_client *c = NULL;
    json_t *out = NULL, *tmp = NULL;
    int rc = cli_open(&c);
    if (rc == 0) {
        if (!fetch && !rotate) {
            kw_client_free(&c);
            return cli_usage("sync: --no-fetch needs --rotate-prekey");
        }
        int r = rotate ? kw_client_msg_prekey_rotate(c, &tmp) : 0;
        if (r == 0 && !fetch) {
            kw_client_free(&c);
            return cli_print(tmp, "prekey rotated");
        }
        json_decref(tmp);
        if (r == 0)
            r = kw_client_msg_sync(c, NULL, &out);
        if (r != 0) {
            rc = cli_fail(c, r);
        } else {
            size_t nalerts = json_array_size(json_object_get(out, "alerts"));
            if (!cli_g.json) {
                json_t *a;
                size_t i;
                json_array_foreach(json_object_get(out, "alerts"), i, a)
                    fprintf(stderr, "ALERT (%s) from %s: %s\n",
                            json_string_value(json_object_get(a, "reason")),
                            json_string_value(json_object_get(a, "sender")),
                            json_string_value(json_object_get(a, "detail")));
                json_array_foreach(json_object_get(out, "rejects"), i, a)
                    fprintf(stderr, "refused (%s): %s\n",
                            json_string_value(json_object_get(a, "reason")),
                            json_string_value(json_object_get(a, "detail")));
            }
            rc = cli_print(out, "synced");
            if (nalerts > 0)
                rc = CLI_EXIT_AUTH;
        }
    }
    kw_client_free(&c);
    return rc;
}
