/*
 * keyward/keyward.h — library initialisation and the umbrella include.
 *
 * Call kw_init() once before any other libkeyward function; it initialises
 * libsodium and is safe to call again (and from several threads).
 */
#ifndef KEYWARD_KEYWARD_H
#define KEYWARD_KEYWARD_H

#include "keyward/err.h"
#include "keyward/buf.h"
#include "keyward/codec.h"

#define KW_VERSION_STRING "0.1.0"

/* Initialises the library. KW_ERR_CRYPTO when libsodium cannot start. */
int kw_init(void);

#endif
