/*
 * lib/client/keys_internal.h — what keys.c (security keys) offers the other
 * client flows: an assertion for a server-issued challenge, made by the
 * client's authenticator (keyword/client_keys.h). Each sets the client
 * error on failure.
 */
#ifndef KEYWARD_CLIENT_KEYS_INTERNAL_H
#define KEYWARD_CLIENT_KEYS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "client/client_internal.h"

/* An assertion (PublicKeyCredential JSON) answering the request options
 * `opts` ({challenge, rpId, allowCredentials, ...}) from the server. */
int kwc_seckey_assert(kw_client *c, const json_t *opts, json_t **assertion);

/* Asks /v1/seckeys/challenge for op and answers it (kwc_seckey_assert). */
int kwc_seckey_assert_op(kw_client *c, const char *op, json_t **assertion);

/* Whether the account requires security keys (GET /v1/seckeys). */
int kwc_seckey_policy(kw_client *c, bool *on);

#endif
