/* keyward web access on|off | web approve [--code CODE] [--category C]... —
 * web access to end-to-end data under ADP; each release is printed. With
 * --code only the request whose code the web page shows is approved. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keyward/client_adp.h"

#define WEB_CATEGORIES_MAX 32

static void show_releases(const json_t *out)
{
    size_t i, j;
    const json_t *rel, *k;
    if (cli_g.json)
        return;
    json_array_foreach(json_object_get(out, "releases"), i, rel)
    {
        fprintf(stderr, "released to web session %s (code %s) until %lld:\n",
                json_string_value(json_object_get(rel, "web_session_id")),
                json_string_value(json_object_get(rel, "code")),
                (long long)json_integer_value(json_object_get(rel, "expires_at")));
        json_array_foreach(json_object_get(rel, "released"), j, k)
            fprintf(stderr, "  %s (generations 1-%lld)\n",
                    json_string_value(json_object_get(k, "category")),
                    (long long)json_integer_value(json_object_get(k, "generations")));
    }
    if (json_array_size(json_object_get(out, "releases")) == 0)
        fprintf(stderr, "no pending web access requests\n");
}

int cmd_web_main(int argc, char **argv)
{
    const char *cats[WEB_CATEGORIES_MAX], *v, *code = NULL;
    size_t ncat = 0;
    kw_client *c = NULL;
    json_t *out = NULL;
    int r, rc;
    bool access = argc == 3 && strcmp(argv[1], "access") == 0 &&
                  (strcmp(argv[2], "on") == 0 || strcmp(argv[2], "off") == 0);
    bool approve = argc >= 2 && strcmp(argv[1], "approve") == 0;
    if (!access && !approve)
        return cli_usage("usage: keyward web access on|off | web approve [--code CODE] [--category C]...");
    for (int i = 2; approve && i < argc; i++) {
        if (cli_opt(argc, argv, &i, "code", &v)) {
            code = v;
            continue;
        }
        if (!cli_opt(argc, argv, &i, "category", &v))
            return cli_usage("web approve: unexpected '%s'", argv[i]);
        if (ncat == WEB_CATEGORIES_MAX)
            return cli_usage("web approve: at most %d categories", WEB_CATEGORIES_MAX);
        cats[ncat++] = v;
    }
    if ((rc = cli_open(&c)) != 0) {
        kw_client_free(&c);
        return rc;
    }
    if (access) {
        r = kw_client_web_access(c, strcmp(argv[2], "on") == 0, &out);
        rc = r == 0 ? cli_print(out, NULL) : cli_fail(c, r);
    } else {
        r = kw_client_web_approve(c, cats, ncat, code, &out);
        if (r == 0)
            show_releases(out);
        rc = r == 0 ? cli_print(out, NULL) : cli_fail(c, r);
    }
    kw_client_free(&c);
    return rc;
}
