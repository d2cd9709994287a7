/*
 * server/store/adp.h — store domain "adp" (Advanced Data Protection):
 * the server's custody copies of service keys (wrapped by the custody
 * provider, server/custody/custody.h), a mirror of the account's ADP state
 * (the truth is the flag in the signed roster: clients never take this
 * mirror's word), the ADP capability each device declared, the ADP switch
 * (roster, keychain and custody in one transaction), passcode escrow with
 * its attempt budget, and web-access requests and grants.
 *
 * Argument rules as in store.h (blobs <= KW_STORE_BLOB_MAX, categories 1..64
 * bytes). Errors: KW_ERR_NOT_FOUND, KW_ERR_CONFLICT (stale roster/keychain
 * version, ADP in the wrong state, a request no longer pending),
 * KW_ERR_LIMIT, KW_ERR_STORAGE, KW_ERR_NOMEM, KW_ERR_INVALID_ARG,
 * KW_ERR_UNSUPPORTED when the backend has no adp domain.
 * Thread safety: as the store.
 * Secrets: none in the clear: custody copies and escrow verifiers are
 * custody-provider wraps; web grants are HPKE ciphertexts to a browser key;
 * the escrow blob is encrypted under a passcode-derived key.
 */
#ifndef KEYWARD_SERVER_STORE_ADP_H
#define KEYWARD_SERVER_STORE_ADP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define KW_STORE_ADP_CATEGORY_MAX 64
#define KW_STORE_ADP_CAP_ADP 1 /* the device's client supports ADP */
#define KW_STORE_ADP_PASSCODE_ATTEMPTS 10
#define KW_STORE_ADP_SALTBYTES 16

typedef struct {
    bool enabled;           /* mirror of the roster's ADP flag */
    bool web_access;        /* web access under ADP (off by default) */
    int64_t roster_version; /* the roster version of the last switch */
    int64_t changed_at;
} kw_store_adp_state;

/* One custody copy: a service key generation wrapped by the provider. */
typedef struct {
    char category[KW_STORE_ADP_CATEGORY_MAX + 1];
    int64_t generation;
    uint8_t *wrap; /* malloc'd in results; borrowed in arguments */
    size_t wrap_len;
} kw_store_adp_custody;

/* The ADP switch, in one transaction: roster `roster_version` (exactly
 * current+1), optionally the keychain (exactly current+1), the state mirror,
 * and on enable the deletion of the custody copies of the categories in
 * drop[], on disable the insertion (or replacement) of escrow[]. */
typedef struct {
    int64_t account_id;
    bool enable;
    int64_t roster_version;
    const uint8_t *roster;
    size_t roster_len;
    int64_t keychain_version; /* 0: keep */
    const uint8_t *keychain;
    size_t keychain_len;
    const char *const *drop; /* enable: categories whose custody copies go */
    size_t ndrop;
    const kw_store_adp_custody *escrow; /* disable: copies to store */
    size_t nescrow;
    int64_t now;
} kw_store_adp_switch;

/* The escrow of a passcode-protected recovery wrap. */
typedef struct {
    uint8_t salt[KW_STORE_ADP_SALTBYTES];
    uint8_t *verifier; /* custody wrap of the passcode verifier */
    size_t verifier_len;
    uint8_t *blob;     /* KK wrapped under the passcode wrap key */
    size_t blob_len;
    int64_t generation;
    int64_t attempts_left;
} kw_store_adp_passcode;

#define KW_STORE_ADP_WEB_PENDING 0
#define KW_STORE_ADP_WEB_APPROVED 1
#define KW_STORE_ADP_WEB_DENIED 2
#define KW_STORE_ADP_WEB_CATEGORIES_MAX 512

typedef struct {
    uint8_t id[KW_STORE_ID_BYTES];
    int64_t account_id;
    uint8_t web_session_id[KW_STORE_ID_BYTES];
    uint8_t ephemeral_pk[32];
    char categories[KW_STORE_ADP_WEB_CATEGORIES_MAX + 1]; /* comma-separated */
    int state;
    int64_t created_at;
    int64_t expires_at; /* pending requests expire; approved: the grants' expiry */
} kw_store_adp_web_request;

typedef struct {
    char category[KW_STORE_ADP_CATEGORY_MAX + 1];
    int64_t generation;
    uint8_t *sealed; /* HPKE to the request's ephemeral key; malloc'd in results */
    size_t sealed_len;
} kw_store_adp_web_grant;

/* The state mirror (all false/0 when the account never switched). */
int kw_store_adp_state_get(kw_store *st, int64_t account_id, kw_store_adp_state *out);
/* Turns web access on or off; KW_ERR_CONFLICT when ADP is off. */
int kw_store_adp_web_access_set(kw_store *st, int64_t account_id, bool on, int64_t now);

/* Stores custody copies (replacing the same category+generation).
 * KW_ERR_CONFLICT when ADP is on and a category is listed in adp_only[]
 * (checked inside the transaction, so a concurrent switch cannot slip a copy
 * in after the deletion). */
int kw_store_adp_custody_put(kw_store *st, int64_t account_id, const kw_store_adp_custody *list,
                             size_t n, const char *const *adp_only, size_t nadp_only, int64_t now);
/* The account's custody copies (wraps malloc'd: kw_store_adp_custody_free). */
int kw_store_adp_custody_list(kw_store *st, int64_t account_id, kw_store_adp_custody **out,
                              size_t *count);
void kw_store_adp_custody_free(kw_store_adp_custody *list, size_t count);

/* Applies the switch. KW_ERR_CONFLICT for a stale version or when ADP is
 * already in the requested state. */
int kw_store_adp_switch_apply(kw_store *st, const kw_store_adp_switch *sw);

/* Device capabilities (KW_STORE_ADP_CAP_*), declared by the device. */
int kw_store_adp_caps_set(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t caps,
                          int64_t now);
/* 0 when the device never declared any. */
int kw_store_adp_caps_get(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t *caps);

/* Passcode escrow: put replaces the record (attempts reset to
 * KW_STORE_ADP_PASSCODE_ATTEMPTS). take_attempt, in one transaction,
 * spends one attempt and returns the record as it was before verification;
 * the record with the last attempt spent is deleted before the caller
 * verifies (*last = true), so a wrong tenth guess leaves nothing behind and
 * parallel guesses cannot exceed the budget. KW_ERR_NOT_FOUND when there is
 * none. success restores the full budget. */
int kw_store_adp_passcode_put(kw_store *st, int64_t account_id, const kw_store_adp_passcode *p);
int kw_store_adp_passcode_take_attempt(kw_store *st, int64_t account_id, kw_store_adp_passcode *out,
                                       bool *last);
int kw_store_adp_passcode_success(kw_store *st, int64_t account_id);
/* The attempts left and (salt non-NULL) the salt, spending nothing. */
int kw_store_adp_passcode_exists(kw_store *st, int64_t account_id, int64_t *attempts_left,
                                 uint8_t *salt);
int kw_store_adp_passcode_delete(kw_store *st, int64_t account_id);
void kw_store_adp_passcode_clear(kw_store_adp_passcode *p);

/* Web access: a browser session's request, its approval with grants (state
 * PENDING → APPROVED, grants stored, in one transaction; KW_ERR_CONFLICT
 * when no longer pending or expired), and the grants of a request
 * (unexpired only). */
int kw_store_adp_web_request_add(kw_store *st, const kw_store_adp_web_request *rq);
int kw_store_adp_web_request_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES],
                                 kw_store_adp_web_request *out);
int kw_store_adp_web_request_list(kw_store *st, int64_t account_id, int64_t now,
                                  kw_store_adp_web_request **out, size_t *count);
int kw_store_adp_web_approve(kw_store *st, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES],
                             const kw_store_adp_web_grant *grants, size_t n, int64_t expires_at,
                             int64_t now);
int kw_store_adp_web_grants(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now,
                            kw_store_adp_web_grant **out, size_t *count);
void kw_store_adp_web_grants_free(kw_store_adp_web_grant *list, size_t count);

/* Recovery contacts: the owner's account, the contact's account, the
 * custody wrap of the unwrap key U, the packets (opaque to the store: the
 * HPKE-encrypted packets for the contact's devices), the owner's KK wrapped
 * for this contact, and the release state. */
#define KW_STORE_ADP_CONTACTS_MAX 5
#define KW_STORE_ADP_CONTACT_ACTIVE 0
#define KW_STORE_ADP_CONTACT_WAITING 1 /* the contact asked; release_at set */
#define KW_STORE_ADP_CONTACT_RELEASED 2

typedef struct {
    uint8_t id[KW_STORE_ID_BYTES];
    int64_t account_id;         /* the owner */
    int64_t contact_account_id; /* the contact */
    char owner_name[KW_STORE_NAME_MAX + 1];   /* filled by reads */
    char contact_name[KW_STORE_NAME_MAX + 1]; /* filled by reads */
    uint8_t *unwrap_key; /* custody wrap of U; malloc'd in results */
    size_t unwrap_key_len;
    uint8_t *packets;
    size_t packets_len;
    uint8_t *kk_wrap;
    size_t kk_wrap_len;
    int64_t generation;
    int state;
    int64_t requested_at, release_at, created_at;
} kw_store_adp_contact;

/* Adds a contact; KW_ERR_LIMIT at KW_STORE_ADP_CONTACTS_MAX (checked in the
 * transaction), KW_ERR_CONFLICT when the contact is already one. */
int kw_store_adp_contact_add(kw_store *st, const kw_store_adp_contact *ct);
/* The owner's contacts (owner != 0) or the owners this account helps
 * (contact != 0); *out malloc'd, free with kw_store_adp_contacts_free. */
int kw_store_adp_contact_list(kw_store *st, int64_t owner, int64_t contact, kw_store_adp_contact **out,
                              size_t *count);
int kw_store_adp_contact_get(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_adp_contact *out);
/* Moves contact id of owner to state (with its times); KW_ERR_CONFLICT when
 * it is not in from_state (from_state < 0: any). */
int kw_store_adp_contact_set_state(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int from_state,
                                   int state, int64_t requested_at, int64_t release_at);
int kw_store_adp_contact_remove(kw_store *st, int64_t owner, const uint8_t id[KW_STORE_ID_BYTES]);
/* Replaces the KK wraps of the owner's contacts (ids[i] gets wraps[i]) for
 * generation, in one transaction. */
int kw_store_adp_contact_rewrap(kw_store *st, int64_t owner, int64_t generation,
                                const uint8_t (*ids)[KW_STORE_ID_BYTES], const uint8_t *const *wraps,
                                const size_t *lens, size_t n);
void kw_store_adp_contacts_free(kw_store_adp_contact *list, size_t count);
void kw_store_adp_contact_clear(kw_store_adp_contact *ct);

struct kw_store_adp_ops {
    int (*contact_add)(kw_store *st, const kw_store_adp_contact *ct);
    int (*contact_list)(kw_store *st, int64_t owner, int64_t contact, kw_store_adp_contact **out,
                        size_t *count);
    int (*contact_get)(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], kw_store_adp_contact *out);
    int (*contact_set_state)(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int from_state, int state,
                             int64_t requested_at, int64_t release_at);
    int (*contact_remove)(kw_store *st, int64_t owner, const uint8_t id[KW_STORE_ID_BYTES]);
    int (*contact_rewrap)(kw_store *st, int64_t owner, int64_t generation,
                          const uint8_t (*ids)[KW_STORE_ID_BYTES], const uint8_t *const *wraps,
                          const size_t *lens, size_t n);
    int (*state_get)(kw_store *st, int64_t account_id, kw_store_adp_state *out);
    int (*web_access_set)(kw_store *st, int64_t account_id, bool on, int64_t now);
    int (*custody_put)(kw_store *st, int64_t account_id, const kw_store_adp_custody *list, size_t n,
                       const char *const *adp_only, size_t nadp_only, int64_t now);
    int (*custody_list)(kw_store *st, int64_t account_id, kw_store_adp_custody **out, size_t *count);
    int (*switch_apply)(kw_store *st, const kw_store_adp_switch *sw);
    int (*caps_set)(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t caps, int64_t now);
    int (*caps_get)(kw_store *st, const uint8_t device_id[KW_STORE_ID_BYTES], int64_t *caps);
    int (*passcode_put)(kw_store *st, int64_t account_id, const kw_store_adp_passcode *p);
    int (*passcode_take_attempt)(kw_store *st, int64_t account_id, kw_store_adp_passcode *out,
                                 bool *last);
    int (*passcode_success)(kw_store *st, int64_t account_id);
    int (*passcode_exists)(kw_store *st, int64_t account_id, int64_t *attempts_left, uint8_t *salt);
    int (*passcode_delete)(kw_store *st, int64_t account_id);
    int (*web_request_add)(kw_store *st, const kw_store_adp_web_request *rq);
    int (*web_request_get)(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES],
                           kw_store_adp_web_request *out);
    int (*web_request_list)(kw_store *st, int64_t account_id, int64_t now,
                            kw_store_adp_web_request **out, size_t *count);
    int (*web_approve)(kw_store *st, int64_t account_id, const uint8_t id[KW_STORE_ID_BYTES],
                       const kw_store_adp_web_grant *grants, size_t n, int64_t expires_at, int64_t now);
    int (*web_grants)(kw_store *st, const uint8_t id[KW_STORE_ID_BYTES], int64_t now,
                      kw_store_adp_web_grant **out, size_t *count);
};

#endif
