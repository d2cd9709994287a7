/*
 * server/store/backend.h — the table of operations a storage backend
 * provides (internal to server/store/).
 *
 * store.c owns the public kw_store_* functions: it picks the backend from
 * the URI, validates every argument (NULLs, name and blob size limits,
 * counts) and clears out-params before dispatching, so a backend receives
 * only arguments inside the contract and never repeats those checks. A
 * backend embeds `struct kw_store` as the first member of its own handle and
 * fills in one static kw_store_ops. Each operation has exactly the meaning
 * of the public function of the same name in store.h.
 */
#ifndef KEYWARD_SERVER_STORE_BACKEND_H
#define KEYWARD_SERVER_STORE_BACKEND_H

#include "store/store.h"

/* Domain operation tables. Each domain (store/<domain>.h with its public
 * kw_store_<domain>_* functions, store/<domain>.c validating and
 * dispatching, sqlite_<domain>.c implementing) defines its own ops struct;
 * a backend that does not implement a domain leaves the pointer NULL and the
 * domain's public functions return KW_ERR_UNSUPPORTED. */
struct kw_store_seckey_ops; /* security keys, WebAuthn challenges (issue 4) */
struct kw_store_kt_ops;     /* key-transparency directory state (issue 5) */
struct kw_store_msg_ops;    /* mailboxes, prekeys (issue 6) */
struct kw_store_record_ops; /* records and chunks metadata (issue 7) */
struct kw_store_adp_ops;    /* custody, ADP state, recovery contacts, escrow, web access (issue 7) */
struct kw_store_web_ops;    /* web (browser) sessions of the account-security page (issue 4) */
struct kw_store_admin_ops;  /* consistency check, leader lease (store/admin.h, issue 8) */

typedef struct kw_store_ops {
    const char *name; /* "sqlite", later "postgres" */
    const struct kw_store_seckey_ops *seckey;
    const struct kw_store_kt_ops *kt;
    const struct kw_store_msg_ops *msg;
    const struct kw_store_record_ops *record;
    const struct kw_store_adp_ops *adp;
    const struct kw_store_web_ops *web;
    const struct kw_store_admin_ops *admin;
    void (*close)(kw_store *st);
    int (*schema_version)(kw_store *st, int *version);

    int (*account_create)(kw_store *st, const kw_store_new_account *na, int64_t *account_id);
    int (*account_get_by_name)(kw_store *st, const char *name, kw_store_account *out);
    int (*account_get)(kw_store *st, int64_t account_id, kw_store_account *out);
    int (*account_set_opaque)(kw_store *st, int64_t account_id, const uint8_t *record, size_t len);
    int (*account_set_totp)(kw_store *st, int64_t account_id, const uint8_t *secret, size_t len);
    int (*account_use_totp_step)(kw_store *st, int64_t account_id, int64_t step);

    int (*device_add)(kw_store *st, const kw_store_device *d);
    int (*device_get)(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_device *out);
    int (*device_list)(kw_store *st, int64_t account_id, kw_store_device **out, size_t *count);
    void (*device_touch)(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now);

    int (*roster_apply)(kw_store *st, const kw_store_roster_change *ch);
    int (*roster_latest)(kw_store *st, int64_t account_id, int64_t *version, uint8_t **roster,
                         size_t *len);
    int (*roster_get)(kw_store *st, int64_t account_id, int64_t version, uint8_t **roster,
                      size_t *len);
    int (*keychain_get)(kw_store *st, int64_t account_id, int64_t *version, uint8_t **blob,
                        size_t *len);
    int (*kk_wrap_get)(kw_store *st, int64_t account_id, const uint8_t device_id[KW_STORE_ID_BYTES],
                       int64_t *generation, uint8_t **wrap, size_t *len);
    int (*kk_chain_get)(kw_store *st, int64_t account_id, int64_t generation, uint8_t **blob,
                        size_t *len);
    int (*recovery_get)(kw_store *st, int64_t account_id, int64_t *generation, uint8_t **wrap,
                        size_t *len, uint8_t auth[32]);

    int (*session_add)(kw_store *st, const kw_store_session *s);
    int (*session_get)(kw_store *st, const uint8_t hash[KW_STORE_HASH_BYTES], kw_store_session *out);
    int (*session_list)(kw_store *st, int64_t account_id, kw_store_session **out, size_t *count);
    int (*session_revoke)(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES]);
    int (*session_revoke_device)(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES]);

    int (*login_put)(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t account_id,
                     const uint8_t *state, size_t len, int64_t expires_at);
    int (*login_take)(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now,
                      int64_t *account_id, uint8_t **state, size_t *len);
    int (*approval_put)(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                        int64_t expires_at, int attempts);
    int (*approval_use)(kw_store *st, int64_t account_id, const uint8_t hash[KW_STORE_HASH_BYTES],
                        int64_t now);
    int (*expire)(kw_store *st, int64_t now, size_t *removed);
} kw_store_ops;

struct kw_store {
    const kw_store_ops *ops;
};

/* The SQLite backend (sqlite.c): opens or creates the database file at path
 * and migrates it. */
int kw_store_sqlite_open(const char *path, kw_store **out);

/* The PostgreSQL backend (postgres.c): connects with a libpq URI
 * (postgres://…) and migrates the database. */
int kw_store_postgres_open(const char *uri, kw_store **out);

#endif
