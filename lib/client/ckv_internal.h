/*
 * lib/client/ckv_internal.h — what the Contact Key Verification files of
 * the client share (ckv_state.c: the sealed state and alerts; ckv.c: the
 * checks and flows). One ckv_ctx per public call: load, work, save, done.
 */
#ifndef KEYWARD_CLIENT_CKV_INTERNAL_H
#define KEYWARD_CLIENT_CKV_INTERNAL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/client_internal.h"
#include "keyward/client_ckv.h"

typedef struct {
    kw_client *c;
    json_t *st;    /* the state document */
    json_t *fresh; /* alerts raised (or met again) during this call */
    bool dirty;
} ckv_ctx;

/* Unix seconds (with the test-only clock offset). */
int64_t ckv_now(void);
/* The maximum merge delay the client allows the log, seconds. */
int64_t ckv_max_delay(void);

int ckv_load(ckv_ctx *x, kw_client *c);
int ckv_save(ckv_ctx *x);
void ckv_done(ckv_ctx *x);
void ckv_alert(ckv_ctx *x, const char *kind, const char *subject, const char *key, const char *todo,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
json_t *ckv_result(ckv_ctx *x, json_t *base);
int ckv_get_b64_fixed(const json_t *o, const char *key, uint8_t *out, size_t len);
int64_t ckv_int(const json_t *o, const char *key);

static inline const char *ckv_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

#endif
