/* keyward inbox [--type TYPE] — the messages stored on this device, oldest
 * first (run `keyward sync` to fetch new ones). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "keyward/client_msg.h"

int cmd_inbox_main(int argc, char **argv)
{
    const char *type = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "type", &v))
            type = v;
        else
            return cli_usage("inbox: unexpected '%s'", argv[i]);
    }
    kw_client *c = NULL;
    json_t *out = NULL;
    int rc = cli_open(&c);
    if (rc == 0) {
        int r = kw_client_msg_inbox(c, type, &out);
        if (r != 0) {
            rc = cli_fail(c, r);
        } else if (cli_g.json) {
            rc = cli_print(out, NULL);
        } else {
            json_t *m;
            size_t i;
            json_t *list = json_object_get(out, "messages");
            if (json_array_size(list) == 0)
                printf("no messages\n");
            json_array_foreach(list, i, m)
            {
                char when[32] = "";
                time_t t = (time_t)(json_integer_value(json_object_get(m, "timestamp_ms")) / 1000);
                struct tm tmv;
                if (gmtime_r(&t, &tmv) != NULL)
                    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tmv);
                const char *text = json_string_value(json_object_get(m, "text"));
                const char *g = json_string_value(json_object_get(m, "gossip"));
                printf("%s  %s%s  [%s]%s%s  ", when,
                       json_string_value(json_object_get(m, "sender")),
                       json_is_true(json_object_get(m, "own")) ? " (own device)" : "",
                       json_string_value(json_object_get(m, "type")),
                       g != NULL && strcmp(g, "split-view") == 0 ? " ALERT: split view" : "",
                       g != NULL && strcmp(g, "bad-head") == 0 ? " ALERT: bad tree head" : "");
                if (text != NULL)
                    printf("%s\n", text);
                else
                    printf("(%lld bytes)\n",
                           (long long)json_integer_value(json_object_get(m, "bytes")));
            }
            rc = CLI_EXIT_OK;
            json_decref(out);
        }
    }
    kw_client_free(&c);
    return rc;
}
