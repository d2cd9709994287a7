/*
 * keyward/client_web.h — a trusted device's side of the account-security
 * web page (docs/api.md "Web page"): the queue of device removals the page
 * asked for. The browser cannot sign a roster, so it only revokes the
 * device's sessions and queues the removal; a trusted device lists the
 * queue and completes a removal (kw_client_device_remove, which signs the
 * new roster and rotates the keys) or dismisses it.
 *
 * Both functions need a signed-in trusted device; they return 0 or a
 * negative KW_ERR_* with the client error set (kw_client_error), and on
 * success a JSON object in *out (caller frees). Nothing secret is handled.
 */
#ifndef KEYWARD_CLIENT_WEB_H
#define KEYWARD_CLIENT_WEB_H

#include <jansson.h>

#include "keyward/client.h"

/* The queued removals: *out {removals: [{device_id, requested_at, name?,
 * state?}]} — name and state from this account's device table when the
 * device is listed there. */
int kw_client_web_removals(kw_client *c, json_t **out);

/* Dismisses the queued removal of device `id` (base64url, 16 bytes): the
 * device keeps its place in the roster and may sign in again.
 * KW_ERR_NOT_FOUND when no removal is queued for it. *out {dismissed: id}. */
int kw_client_web_removal_dismiss(kw_client *c, const char *id, json_t **out);

#endif
