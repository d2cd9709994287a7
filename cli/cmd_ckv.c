/* keyward ckv on | off | status | check | head | check-head HEAD [--from NAME]
 *
 * The account's Contact Key Verification switch (in the signed roster),
 * self-monitoring of the own label on demand, and the newest verified tree
 * head for comparing out of band (check-head: a head another user showed
 * you; a split view is the split-view alert). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_ckv.h"
#include "keyward/client_ckv.h"
#include "keyward/codec.h"
#include "keyward/err.h"

int cmd_ckv_main(int argc, char **argv);

static void print_alerts(const json_t *alerts)
{
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        fprintf(stderr, "keyward: ALERT %s (%s): %s\n  what to do: %s\n",
                json_string_value(json_object_get(a, "kind")),
                json_string_value(json_object_get(a, "subject")),
                json_string_value(json_object_get(a, "what")),
                json_string_value(json_object_get(a, "todo")));
    }
}

int ckv_cli_finish(kw_client **c, int r, json_t *out, const char *headline)
{
    json_t *alerts = json_object_get(out, "alerts");
    int code;
    print_alerts(alerts);
    if (r != KW_OK) {
        bool json = cli_g.json;
        cli_g.json = false;
        code = cli_fail(*c, r);
        cli_g.json = json;
        if (json) {
            const char *msg = kw_client_error(*c);
            json_t *al = alerts != NULL ? json_incref(alerts) : json_array();
            json_t *o = json_pack("{s:{s:s,s:s,s:i},s:o}", "error", "code", kw_errname(r), "message",
                                  msg[0] != '\0' ? msg : kw_strerror(r), "exit", code, "alerts", al);
            char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
            if (s != NULL)
                printf("%s\n", s);
            free(s);
            json_decref(o);
        }
        json_decref(out);
    } else {
        bool alerted = json_array_size(alerts) > 0;
        if (!cli_g.json && alerts != NULL)
            json_object_del(out, "alerts");
        cli_print(out, headline);
        code = alerted ? CLI_EXIT_ALERT : CLI_EXIT_OK;
    }
    kw_client_free(c);
    return code;
}

int cmd_ckv_main(int argc, char **argv)
{
    kw_client *c = NULL;
    json_t *out = NULL;
    int r, rc;
    const char *from = NULL, *v;
    if (argc < 2)
        return cli_usage("usage: keyward ckv on | off | status | check | head | check-head HEAD "
                         "[--from NAME]");
    const char *sub = argv[1];
    const char *arg = NULL;
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "from", &v))
            from = v;
        else if (arg == NULL && argv[i][0] != '-')
            arg = argv[i];
        else
            return cli_usage("ckv: unexpected '%s'", argv[i]);
    }
    bool needs_arg = strcmp(sub, "check-head") == 0;
    if ((arg != NULL) != needs_arg)
        return cli_usage("usage: keyward ckv on | off | status | check | head | check-head HEAD");
    if ((rc = cli_open(&c)) != CLI_EXIT_OK)
        return rc;
    if (strcmp(sub, "on") == 0 || strcmp(sub, "off") == 0) {
        r = kw_client_ckv_set(c, strcmp(sub, "on") == 0, &out);
        return ckv_cli_finish(&c, r, out, NULL);
    }
    if (strcmp(sub, "status") == 0) {
        r = kw_client_ckv_status(c, &out);
        return ckv_cli_finish(&c, r, out, NULL);
    }
    if (strcmp(sub, "check") == 0) {
        r = kw_client_ckv_self_check(c, true, &out);
        return ckv_cli_finish(&c, r, out, NULL);
    }
    if (strcmp(sub, "head") == 0) {
        uint8_t head[152];
        char b64[256];
        r = kw_client_ckv_head(c, head);
        if (r != KW_OK)
            return ckv_cli_finish(&c, r, NULL, NULL);
        kw_b64url_encode(b64, sizeof(b64), head, sizeof(head));
        return ckv_cli_finish(&c, KW_OK, json_pack("{s:s}", "head", b64), NULL);
    }
    if (strcmp(sub, "check-head") == 0) {
        uint8_t head[200];
        size_t n = 0;
        if (kw_b64url_decode(head, sizeof(head), &n, arg, strlen(arg)) != KW_OK) {
            kw_client_free(&c);
            return cli_usage("ckv check-head: HEAD is a base64url tree head (`keyward ckv head`)");
        }
        r = kw_client_ckv_gossip_check(c, head, n, from, &out);
        return ckv_cli_finish(&c, r, out, NULL);
    }
    kw_client_free(&c);
    return cli_usage("usage: keyward ckv on | off | status | check | head | check-head HEAD");
}
