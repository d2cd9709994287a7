/*
 * server/api/lifecycle.c — start and stop hooks of the API areas that keep
 * state of their own (security keys, web page, messages, records, ADP).
 *
 * An area adds one line to `hooks` below with its start and stop functions
 * (declared in areas.h). start reads the area's "<area>.<name>" config keys
 * from srv->cfg, validates them (a bad value is a start failure with a log
 * line naming the key) and sets its srv-><area> pointer; stop frees it and
 * sets the pointer back to NULL and must be safe when start never ran.
 */
#include "api/api.h"
#include "api/areas.h"

#include <stddef.h>

#include "keyward/err.h"

static const struct {
    const char *name;
    int (*start)(kw_server *srv);
    void (*stop)(kw_server *srv);
} hooks[] = {
    {"none", NULL, NULL}, /* placeholder so the table is never empty */
    {"seckeys", kw_api_seckeys_start, kw_api_seckeys_stop}, /* before web: it verifies assertions */
    {"web", kw_api_web_start, kw_api_web_stop},
    {"adp", kw_api_adp_start, kw_api_adp_stop},
    {"records", kw_api_records_start, kw_api_records_stop},
    {"msg", kw_api_msg_start, kw_api_msg_stop},
};

#define NHOOKS (sizeof(hooks) / sizeof(hooks[0]))

int kw_api_areas_start(kw_server *srv)
{
    for (size_t i = 0; i < NHOOKS; i++) {
        if (hooks[i].start == NULL)
            continue;
        int r = hooks[i].start(srv);
        if (r != KW_OK) {
            while (i-- > 0)
                if (hooks[i].stop != NULL)
                    hooks[i].stop(srv);
            return r;
        }
    }
    return KW_OK;
}

void kw_api_areas_stop(kw_server *srv)
{
    for (size_t i = NHOOKS; i-- > 0;)
        if (hooks[i].stop != NULL)
            hooks[i].stop(srv);
}
