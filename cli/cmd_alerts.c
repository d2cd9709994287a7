/* keyward alerts [--seen] — the stored Contact Key Verification alerts,
 * newest first (self-monitoring runs first when due); --seen marks them
 * seen. Exit 8 while there are unseen alerts. */
#include <string.h>

#include "cmd_ckv.h"
#include "keyward/client_ckv.h"

int cmd_alerts_main(int argc, char **argv);

int cmd_alerts_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    bool seen = false;
    int rc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seen") == 0)
            seen = true;
        else
            return cli_usage("usage: keyward alerts [--seen]");
    }
    if ((rc = cli_open(&c)) != CLI_EXIT_OK)
        return rc;
    int r = kw_client_ckv_alerts(c, seen, &out);
    if (r != 0)
        return ckv_cli_finish(&c, r, out, NULL);
    int64_t unseen = (int64_t)json_integer_value(json_object_get(out, "unseen"));
    if (!cli_g.json) {
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(out, "all"), i, a)
        {
            printf("#%lld %s %s (%s)%s\n  %s\n  what to do: %s\n",
                   (long long)json_integer_value(json_object_get(a, "id")),
                   json_string_value(json_object_get(a, "kind")),
                   json_string_value(json_object_get(a, "subject")),
                   json_is_true(json_object_get(a, "seen")) ? "seen" : "NEW", "",
                   json_string_value(json_object_get(a, "what")),
                   json_string_value(json_object_get(a, "todo")));
        }
        if (json_array_size(json_object_get(out, "all")) == 0)
            printf("no alerts\n");
        json_object_del(out, "all");
    }
    json_object_del(out, "alerts"); /* the list above holds them all */
    rc = ckv_cli_finish(&c, 0, out, NULL);
    return rc == CLI_EXIT_OK && unseen > 0 && !seen ? CLI_EXIT_ALERT : rc;
}
