/*
 * server/store/seckey.h — the security-key domain of keywardd's store
 * (issue 4): an account's WebAuthn credentials, its single-use expiring
 * challenges, and its security-key policy flag.
 *
 * Credentials: at most KW_STORE_SECKEY_MAX per account; the credential id is
 * UNIQUE across all accounts (a second registration of the same id, by any
 * account, is KW_ERR_CONFLICT). Each key has a small per-account-unique
 * integer id (the `id` of the API), a name, creation and last-use times.
 * kw_store_seckey_use updates the signature counter with a compare-and-swap
 * on the old counter, so two concurrent assertions with the same counter
 * cannot both be accepted (the loser gets KW_ERR_CONFLICT).
 *
 * Challenges: 32 random bytes (the primary key), bound to an account and an
 * operation name (KW_STORE_SECKEY_OP_*) and an expiry. kw_store_seckey_
 * challenge_take deletes the row whatever the outcome (single use, also on
 * a mismatch) and answers KW_OK only when it existed, was live (now <
 * expires_at) and was bound to that very account and operation; otherwise
 * KW_ERR_NOT_FOUND. At most KW_STORE_SECKEY_CHALLENGES_MAX live challenges
 * per account in each of two classes (expired ones are swept on put): the
 * sign-in class (KW_STORE_SECKEY_OP_LOGIN, _WEB_LOGIN — issued on a proven
 * password alone, so anyone holding the password can ask for many) makes
 * room for a new one by deleting its oldest, so that such a flood can
 * neither lock the account's sign-ins for a challenge lifetime nor take the
 * slots of the other class; the other operations (issued to a signed-in
 * session) get KW_ERR_LIMIT beyond the maximum.
 *
 * Policy: a flag per account (security keys required). Turning it on needs
 * at least KW_STORE_SECKEY_POLICY_MIN keys (KW_ERR_CONFLICT otherwise, in
 * the same transaction as the count). kw_store_seckey_remove refuses, while
 * the policy is on, to go below KW_STORE_SECKEY_POLICY_MIN keys unless
 * KW_STORE_SECKEY_RM_POLICY_OFF is given, in which case the removal and
 * policy off are one transaction.
 *
 * Every write is committed (durable) before the call returns.
 * Nothing here is secret (public keys, credential ids, public challenges).
 * Errors as store.h; KW_ERR_UNSUPPORTED when the backend has no seckey ops.
 * Thread safety: as store.h.
 */
#ifndef KEYWARD_SERVER_STORE_SECKEY_H
#define KEYWARD_SERVER_STORE_SECKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/store.h"

#define KW_STORE_SECKEY_MAX 6             /* keys per account */
#define KW_STORE_SECKEY_POLICY_MIN 2      /* keys needed for the policy */
#define KW_STORE_SECKEY_CREDID_MAX 1023   /* WebAuthn credential id, bytes */
#define KW_STORE_SECKEY_COSE_MAX 1100     /* COSE public key, bytes */
#define KW_STORE_SECKEY_AAGUID_BYTES 16
#define KW_STORE_SECKEY_CHALLENGE_BYTES 32
#define KW_STORE_SECKEY_CHALLENGES_MAX 16 /* live challenges per account */
#define KW_STORE_SECKEY_OP_MAX 16         /* operation name, bytes */

/* Operation names a challenge is bound to. */
#define KW_STORE_SECKEY_OP_REGISTER "register"
#define KW_STORE_SECKEY_OP_LOGIN "login"
#define KW_STORE_SECKEY_OP_WEB_LOGIN "web-login"
#define KW_STORE_SECKEY_OP_PASSWORD "password"
#define KW_STORE_SECKEY_OP_KEY_ADD "key-add"
#define KW_STORE_SECKEY_OP_KEY_REMOVE "key-remove"
#define KW_STORE_SECKEY_OP_RECOVERY "recovery"
#define KW_STORE_SECKEY_OP_POLICY "policy"

/* Whether op is of the sign-in class (see above). */
static inline bool kw_store_seckey_op_signin(const char *op)
{
    return op != NULL && (strcmp(op, KW_STORE_SECKEY_OP_LOGIN) == 0 ||
                          strcmp(op, KW_STORE_SECKEY_OP_WEB_LOGIN) == 0);
}

/* One stored security key (public data). */
typedef struct {
    int64_t id;         /* per-store row id; set by kw_store_seckey_add */
    int64_t account_id;
    uint8_t cred_id[KW_STORE_SECKEY_CREDID_MAX];
    size_t cred_id_len;
    uint8_t cose_key[KW_STORE_SECKEY_COSE_MAX];
    size_t cose_key_len;
    int32_t alg;        /* COSE algorithm (KW_COSE_*) */
    uint32_t sign_count;
    bool backup_eligible; /* BE at registration */
    bool backup_state;    /* BS as last seen */
    bool uv_initialized;
    uint8_t att_type;   /* kw_webauthn_att_type */
    uint8_t aaguid[KW_STORE_SECKEY_AAGUID_BYTES];
    char name[KW_STORE_NAME_MAX + 1];
    int64_t created_at;
    int64_t last_used_at; /* 0: never used */
} kw_store_seckey;

/* Stores a new key for k->account_id and sets k->id. KW_ERR_CONFLICT when
 * the credential id exists (any account), KW_ERR_LIMIT when the account has
 * KW_STORE_SECKEY_MAX keys, KW_ERR_NOT_FOUND for an unknown account. */
int kw_store_seckey_add(kw_store *st, kw_store_seckey *k);

/* The account's keys, oldest first (*out malloc'd, free(); may be NULL
 * when *count is 0). */
int kw_store_seckey_list(kw_store *st, int64_t account_id, kw_store_seckey **out, size_t *count);

/* Number of keys of the account. */
int kw_store_seckey_count(kw_store *st, int64_t account_id, size_t *count);

/* One key of the account by its id; KW_ERR_NOT_FOUND (also for another
 * account's key). */
int kw_store_seckey_get(kw_store *st, int64_t account_id, int64_t key_id, kw_store_seckey *out);

/* The key with this credential id, whichever account holds it. */
int kw_store_seckey_find(kw_store *st, const uint8_t *cred_id, size_t cred_id_len,
                         kw_store_seckey *out);

/* Renames a key of the account; KW_ERR_NOT_FOUND otherwise. */
int kw_store_seckey_rename(kw_store *st, int64_t account_id, int64_t key_id, const char *name);

/* Flag for kw_store_seckey_remove. */
#define KW_STORE_SECKEY_RM_POLICY_OFF 1 /* below the minimum: turn the policy off */

/* Removes a key of the account. With the policy on and fewer than
 * KW_STORE_SECKEY_POLICY_MIN keys left: KW_ERR_CONFLICT (nothing changed)
 * unless flags has KW_STORE_SECKEY_RM_POLICY_OFF, then the policy is turned
 * off in the same transaction and *policy_turned_off (optional) is set. */
int kw_store_seckey_remove(kw_store *st, int64_t account_id, int64_t key_id, int flags,
                           bool *policy_turned_off);

/* Records a verified assertion: sign_count old_count → new_count (compare
 * and swap: KW_ERR_CONFLICT when the stored counter is no longer old_count),
 * backup state, last_used_at = now. */
int kw_store_seckey_use(kw_store *st, int64_t account_id, int64_t key_id, uint32_t old_count,
                        uint32_t new_count, bool backup_state, int64_t now);

/* Stores a challenge bound to (account, op) until expires_at, first
 * deleting the account's challenges expired at now. KW_ERR_LIMIT
 * when the account has KW_STORE_SECKEY_CHALLENGES_MAX live ones of a
 * non-sign-in operation (the sign-in class evicts its oldest instead),
 * KW_ERR_CONFLICT for a duplicate (random: never in practice),
 * KW_ERR_INVALID_ARG for an op name that is empty or over
 * KW_STORE_SECKEY_OP_MAX. */
int kw_store_seckey_challenge_put(kw_store *st, int64_t account_id, const char *op,
                                  const uint8_t challenge[KW_STORE_SECKEY_CHALLENGE_BYTES],
                                  int64_t now, int64_t expires_at);

/* Takes (deletes) the challenge; KW_OK only when it was live and bound to
 * account_id and op, KW_ERR_NOT_FOUND otherwise (the row is gone either
 * way). */
int kw_store_seckey_challenge_take(kw_store *st, int64_t account_id, const char *op,
                                   const uint8_t challenge[KW_STORE_SECKEY_CHALLENGE_BYTES],
                                   int64_t now);

/* The account's policy flag (false for an account never set). */
int kw_store_seckey_policy_get(kw_store *st, int64_t account_id, bool *on);

/* Sets the policy. Turning it on with fewer than KW_STORE_SECKEY_POLICY_MIN
 * keys is KW_ERR_CONFLICT (checked in the same transaction). */
int kw_store_seckey_policy_set(kw_store *st, int64_t account_id, bool on);

/* Deletes expired challenges (all accounts); *removed optional. */
int kw_store_seckey_expire(kw_store *st, int64_t now, size_t *removed);

/* The backend's operations (backend.h); each has the meaning of the public
 * function of the same name, arguments already checked. */
struct kw_store_seckey_ops {
    int (*add)(kw_store *st, kw_store_seckey *k);
    int (*list)(kw_store *st, int64_t account_id, kw_store_seckey **out, size_t *count);
    int (*count)(kw_store *st, int64_t account_id, size_t *count);
    int (*get)(kw_store *st, int64_t account_id, int64_t key_id, kw_store_seckey *out);
    int (*find)(kw_store *st, const uint8_t *cred_id, size_t cred_id_len, kw_store_seckey *out);
    int (*rename)(kw_store *st, int64_t account_id, int64_t key_id, const char *name);
    int (*remove)(kw_store *st, int64_t account_id, int64_t key_id, int flags,
                  bool *policy_turned_off);
    int (*use)(kw_store *st, int64_t account_id, int64_t key_id, uint32_t old_count,
               uint32_t new_count, bool backup_state, int64_t now);
    int (*challenge_put)(kw_store *st, int64_t account_id, const char *op,
                         const uint8_t challenge[KW_STORE_SECKEY_CHALLENGE_BYTES], int64_t now,
                         int64_t expires_at);
    int (*challenge_take)(kw_store *st, int64_t account_id, const char *op,
                          const uint8_t challenge[KW_STORE_SECKEY_CHALLENGE_BYTES], int64_t now);
    int (*policy_get)(kw_store *st, int64_t account_id, bool *on);
    int (*policy_set)(kw_store *st, int64_t account_id, bool on);
    int (*expire)(kw_store *st, int64_t now, size_t *removed);
};

#endif
