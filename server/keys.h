/*
 * server/keys.h — the server's key file: OPAQUE OPRF seed and AKE key pair,
 * the keys that protect TOTP secrets and approval-code hashes, and the seed
 * of the key-transparency log and VRF keys.
 *
 * The file is created on first start (mode 0600, written durably) and read
 * on every start; its contents are kept in sodium_malloc'd, read-only memory
 * and wiped on free. Format: "KWSK1\n" then the fields of kw_server_keys in
 * order (kt_seed last), then a BLAKE2b-256 checksum of everything before it.
 * A file of the older size (without kt_seed) is refused as damaged
 * (KW_ERR_FORMAT): no server was deployed with it; delete it to regenerate.
 */
#ifndef KEYWARD_SERVER_KEYS_H
#define KEYWARD_SERVER_KEYS_H

#include "api/api.h"

/* Loads the key file at path, creating it when absent. KW_ERR_FORMAT for a
 * damaged file (wrong size, magic or checksum), KW_ERR_SYSTEM for I/O. */
int kw_server_keys_load(const char *path, kw_server_keys **out);

/* Wipes and frees; NULL-safe; sets *keys to NULL. */
void kw_server_keys_free(kw_server_keys **keys);

#endif
