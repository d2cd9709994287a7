/*
 * keyward/opaque.h — the OPAQUE augmented PAKE (RFC 9807) with 3DH.
 *
 * Configuration: OPRF ristretto255-SHA512 (RFC 9497 mode 0), KDF
 * HKDF-SHA512, MAC HMAC-SHA512, Hash SHA-512, AKE group ristretto255 or
 * curve25519 (X25519; a key pair derived from a seed is sk = seed,
 * pk = X25519(seed, 9)), KSF Identity (for known-answer tests only) or
 * Argon2id (libsodium crypto_pwhash, parallelism 1, a 16-byte all-zero salt
 * and a 64-byte output; its opslimit/memlimit are part of the configuration
 * and must be the same at registration and at every login). The
 * application context string is part of the configuration too.
 *
 * Owns: the client and server state objects, the registration and login
 * flows, the fake-record path that answers a login for an unknown
 * credential identifier indistinguishably, and the codecs of the six wire
 * messages. All messages have fixed sizes; their parsers refuse a short
 * input (KW_ERR_TRUNCATED), a long input (KW_ERR_TOO_LARGE), a
 * non-canonical ristretto255 element (KW_ERR_FORMAT) and the identity or an
 * all-zero X25519 key (KW_ERR_CRYPTO).
 *
 * Secrets: the password, blinds, keyshare secrets, the server's private key
 * and oprf_seed, the randomized password, masking and envelope keys, the
 * export key and the session key. Long-lived server keys and the client's
 * password live in sodium_malloc memory; every object is wiped when freed;
 * stack temporaries are wiped on every path. Outputs are written only after
 * every check passed and are zeroed on error.
 *
 * Errors: KW_ERR_VERIFY when the envelope does not open (wrong password,
 * tampered record or identities), when the server's MAC fails at the client
 * or the client's MAC fails at the server; KW_ERR_CRYPTO for a DH result of
 * zero; KW_ERR_INVALID_ARG for a call out of order or a bad configuration;
 * KW_ERR_TOO_LARGE for a password, identity or context over its maximum;
 * KW_ERR_NOMEM when memory (also Argon2id's) cannot be had.
 *
 * Thread safety: a kw_opaque_server may serve many logins at once from
 * several threads (it is read-only after creation); a kw_opaque_client and
 * a kw_opaque_server_login belong to one thread at a time.
 *
 * Functions ending in _det take every random value from the caller; they
 * exist for known-answer tests. Production code calls the other variants,
 * which draw from randombytes_buf.
 */
#ifndef KEYWARD_OPAQUE_H
#define KEYWARD_OPAQUE_H

#include <stddef.h>
#include <stdint.h>

#define KW_OPAQUE_NONCEBYTES 32      /* Nn */
#define KW_OPAQUE_SEEDBYTES 32       /* Nseed */
#define KW_OPAQUE_PKBYTES 32         /* Npk */
#define KW_OPAQUE_SKBYTES 32         /* Nsk */
#define KW_OPAQUE_HASHBYTES 64       /* Nh */
#define KW_OPAQUE_MACBYTES 64        /* Nm */
#define KW_OPAQUE_ELEMENTBYTES 32    /* Noe */
#define KW_OPAQUE_OPRF_SEEDBYTES 64  /* Nh */
#define KW_OPAQUE_MASKING_KEYBYTES 64
#define KW_OPAQUE_ENVELOPEBYTES 96   /* nonce || auth_tag */
#define KW_OPAQUE_SESSION_KEYBYTES 64
#define KW_OPAQUE_EXPORT_KEYBYTES 64
#define KW_OPAQUE_REGISTRATION_REQUESTBYTES 32
#define KW_OPAQUE_REGISTRATION_RESPONSEBYTES 64
#define KW_OPAQUE_REGISTRATION_RECORDBYTES 192
#define KW_OPAQUE_KE1BYTES 96
#define KW_OPAQUE_KE2BYTES 320
#define KW_OPAQUE_KE3BYTES 64

#define KW_OPAQUE_PASSWORD_MAXBYTES 4096
#define KW_OPAQUE_IDENTITY_MAXBYTES 65535 /* framed with a 2-byte length */
#define KW_OPAQUE_CONTEXT_MAXBYTES 65535
#define KW_OPAQUE_CREDENTIAL_ID_MAXBYTES 4096

#define KW_OPAQUE_GROUP_RISTRETTO255 1
#define KW_OPAQUE_GROUP_CURVE25519 2

#define KW_OPAQUE_KSF_IDENTITY 0 /* no stretching: vectors and tests only */
#define KW_OPAQUE_KSF_ARGON2ID 1

/* Production Argon2id defaults: t = 3, m = 64 MiB, p = 1 (libsodium). */
#define KW_OPAQUE_ARGON2_OPSLIMIT_DEFAULT 3ULL
#define KW_OPAQUE_ARGON2_MEMLIMIT_DEFAULT ((size_t)64 << 20)

#define KW_OPAQUE_WUR __attribute__((warn_unused_result))

/* The suite and application parameters; both sides must agree on all. */
typedef struct {
    int group;                         /* KW_OPAQUE_GROUP_* */
    int ksf;                           /* KW_OPAQUE_KSF_* */
    unsigned long long argon2_opslimit; /* Argon2id only */
    size_t argon2_memlimit;            /* bytes; Argon2id only */
    const uint8_t *context;            /* copied by _new */
    size_t context_len;
} kw_opaque_config;

/* Optional identities; a NULL kw_opaque_ids pointer, or a NULL/zero-length
 * member, means "absent", which OPAQUE replaces by the party's public key. */
typedef struct {
    const uint8_t *client_identity;
    size_t client_identity_len;
    const uint8_t *server_identity;
    size_t server_identity_len;
} kw_opaque_ids;

/* Fills cfg with the production defaults: ristretto255, Argon2id with the
 * defaults above, and the given context (not copied here). */
void kw_opaque_config_default(kw_opaque_config *cfg, const uint8_t *context, size_t context_len);

/* DeriveDiffieHellmanKeyPair(seed) for the group. */
int kw_opaque_derive_keypair(int group, uint8_t sk[static KW_OPAQUE_SKBYTES],
                             uint8_t pk[static KW_OPAQUE_PKBYTES],
                             const uint8_t seed[static KW_OPAQUE_SEEDBYTES]);

/* A fresh server key pair for the group. */
int kw_opaque_keygen(int group, uint8_t sk[static KW_OPAQUE_SKBYTES],
                     uint8_t pk[static KW_OPAQUE_PKBYTES]);

/* --- wire messages --------------------------------------------------------- */

typedef struct {
    uint8_t blinded_element[KW_OPAQUE_ELEMENTBYTES];
} kw_opaque_registration_request;

typedef struct {
    uint8_t evaluated_element[KW_OPAQUE_ELEMENTBYTES];
    uint8_t server_public_key[KW_OPAQUE_PKBYTES];
} kw_opaque_registration_response;

typedef struct {
    uint8_t client_public_key[KW_OPAQUE_PKBYTES];
    uint8_t masking_key[KW_OPAQUE_MASKING_KEYBYTES];
    uint8_t envelope[KW_OPAQUE_ENVELOPEBYTES];
} kw_opaque_registration_record;

typedef struct {
    uint8_t blinded_element[KW_OPAQUE_ELEMENTBYTES];
    uint8_t client_nonce[KW_OPAQUE_NONCEBYTES];
    uint8_t client_public_keyshare[KW_OPAQUE_PKBYTES];
} kw_opaque_ke1;

typedef struct {
    uint8_t evaluated_element[KW_OPAQUE_ELEMENTBYTES];
    uint8_t masking_nonce[KW_OPAQUE_NONCEBYTES];
    uint8_t masked_response[KW_OPAQUE_PKBYTES + KW_OPAQUE_ENVELOPEBYTES];
    uint8_t server_nonce[KW_OPAQUE_NONCEBYTES];
    uint8_t server_public_keyshare[KW_OPAQUE_PKBYTES];
    uint8_t server_mac[KW_OPAQUE_MACBYTES];
} kw_opaque_ke2;

typedef struct {
    uint8_t client_mac[KW_OPAQUE_MACBYTES];
} kw_opaque_ke3;

/* Parsers: exact length, elements validated for the AKE group (OPRF
 * elements are always ristretto255). The output is zeroed on error. */
int kw_opaque_registration_request_parse(kw_opaque_registration_request *m, const uint8_t *in,
                                         size_t len);
int kw_opaque_registration_response_parse(kw_opaque_registration_response *m, int group,
                                          const uint8_t *in, size_t len);
int kw_opaque_registration_record_parse(kw_opaque_registration_record *m, int group,
                                        const uint8_t *in, size_t len);
int kw_opaque_ke1_parse(kw_opaque_ke1 *m, int group, const uint8_t *in, size_t len);
int kw_opaque_ke2_parse(kw_opaque_ke2 *m, int group, const uint8_t *in, size_t len);
int kw_opaque_ke3_parse(kw_opaque_ke3 *m, const uint8_t *in, size_t len);

/* Serialisers: cannot fail. */
void kw_opaque_registration_request_serialize(uint8_t out[static KW_OPAQUE_REGISTRATION_REQUESTBYTES],
                                              const kw_opaque_registration_request *m);
void kw_opaque_registration_response_serialize(uint8_t out[static KW_OPAQUE_REGISTRATION_RESPONSEBYTES],
                                               const kw_opaque_registration_response *m);
void kw_opaque_registration_record_serialize(uint8_t out[static KW_OPAQUE_REGISTRATION_RECORDBYTES],
                                             const kw_opaque_registration_record *m);
void kw_opaque_ke1_serialize(uint8_t out[static KW_OPAQUE_KE1BYTES], const kw_opaque_ke1 *m);
void kw_opaque_ke2_serialize(uint8_t out[static KW_OPAQUE_KE2BYTES], const kw_opaque_ke2 *m);
void kw_opaque_ke3_serialize(uint8_t out[static KW_OPAQUE_KE3BYTES], const kw_opaque_ke3 *m);

/* --- client ----------------------------------------------------------------- */

typedef struct kw_opaque_client kw_opaque_client;

/* Creates a client for cfg (context copied). KW_ERR_INVALID_ARG for an
 * unknown group/KSF or Argon2id limits outside libsodium's range. */
int kw_opaque_client_new(kw_opaque_client **out, const kw_opaque_config *cfg);

/* Wipes and frees *c, setting it to NULL; NULL is a no-op. */
void kw_opaque_client_free(kw_opaque_client **c);

/* CreateRegistrationRequest: blinds the password (kept in the client until
 * the matching _finish) and writes the request. */
int kw_opaque_client_registration_start(kw_opaque_client *c,
                                        uint8_t request[static KW_OPAQUE_REGISTRATION_REQUESTBYTES],
                                        const uint8_t *password, size_t password_len);
int kw_opaque_client_registration_start_det(kw_opaque_client *c,
                                            uint8_t request[static KW_OPAQUE_REGISTRATION_REQUESTBYTES],
                                            const uint8_t *password, size_t password_len,
                                            const uint8_t blind[static 32]);

/* FinalizeRegistrationRequest: from the server's response builds the
 * record to upload and the export key. Consumes the pending registration
 * (also on error). */
int kw_opaque_client_registration_finish(kw_opaque_client *c,
                                         uint8_t record[static KW_OPAQUE_REGISTRATION_RECORDBYTES],
                                         uint8_t export_key[static KW_OPAQUE_EXPORT_KEYBYTES],
                                         const uint8_t *response, size_t response_len,
                                         const kw_opaque_ids *ids);
int kw_opaque_client_registration_finish_det(kw_opaque_client *c,
                                             uint8_t record[static KW_OPAQUE_REGISTRATION_RECORDBYTES],
                                             uint8_t export_key[static KW_OPAQUE_EXPORT_KEYBYTES],
                                             const uint8_t *response, size_t response_len,
                                             const kw_opaque_ids *ids,
                                             const uint8_t envelope_nonce[static KW_OPAQUE_NONCEBYTES]);

/* GenerateKE1: starts a login (replacing any pending one). */
int kw_opaque_client_login_start(kw_opaque_client *c, uint8_t ke1[static KW_OPAQUE_KE1BYTES],
                                 const uint8_t *password, size_t password_len);
int kw_opaque_client_login_start_det(kw_opaque_client *c, uint8_t ke1[static KW_OPAQUE_KE1BYTES],
                                     const uint8_t *password, size_t password_len,
                                     const uint8_t blind[static 32],
                                     const uint8_t client_nonce[static KW_OPAQUE_NONCEBYTES],
                                     const uint8_t keyshare_seed[static KW_OPAQUE_SEEDBYTES]);

/* GenerateKE3: opens the envelope, checks the server's MAC and writes KE3,
 * the session key and the export key. KW_ERR_VERIFY for a wrong password,
 * a tampered KE2 or mismatched identities; nothing is output then.
 * Consumes the pending login (also on error). */
KW_OPAQUE_WUR int kw_opaque_client_login_finish(kw_opaque_client *c,
                                                uint8_t ke3[static KW_OPAQUE_KE3BYTES],
                                                uint8_t session_key[static KW_OPAQUE_SESSION_KEYBYTES],
                                                uint8_t export_key[static KW_OPAQUE_EXPORT_KEYBYTES],
                                                const uint8_t *ke2, size_t ke2_len,
                                                const kw_opaque_ids *ids);

/* --- server ----------------------------------------------------------------- */

typedef struct kw_opaque_server kw_opaque_server;
typedef struct kw_opaque_server_login kw_opaque_server_login;

/* Creates a server with its long-term AKE key pair (pk must match sk) and
 * its oprf_seed (64 random bytes kept with the key; the same seed must be
 * used for the lifetime of the records). */
int kw_opaque_server_new(kw_opaque_server **out, const kw_opaque_config *cfg,
                         const uint8_t sk[static KW_OPAQUE_SKBYTES],
                         const uint8_t pk[static KW_OPAQUE_PKBYTES],
                         const uint8_t oprf_seed[static KW_OPAQUE_OPRF_SEEDBYTES]);

/* Wipes and frees *s, setting it to NULL; NULL is a no-op. */
void kw_opaque_server_free(kw_opaque_server **s);

/* CreateRegistrationResponse for the client's request and the credential
 * identifier under which the record will be stored. */
int kw_opaque_server_registration_response(const kw_opaque_server *s,
                                           uint8_t response[static KW_OPAQUE_REGISTRATION_RESPONSEBYTES],
                                           const uint8_t *request, size_t request_len,
                                           const uint8_t *credential_id, size_t credential_id_len);

/* Randomness of GenerateKE2 for the _det variant. The fake_* members are
 * used only when record is NULL (the fake-record path). */
typedef struct {
    uint8_t masking_nonce[KW_OPAQUE_NONCEBYTES];
    uint8_t server_nonce[KW_OPAQUE_NONCEBYTES];
    uint8_t server_keyshare_seed[KW_OPAQUE_SEEDBYTES];
    uint8_t fake_client_public_key[KW_OPAQUE_PKBYTES];
    uint8_t fake_masking_key[KW_OPAQUE_MASKING_KEYBYTES];
} kw_opaque_ke2_randomness;

/* GenerateKE2: answers KE1 for the stored record, or — when record is NULL
 * because the credential identifier is unknown — for a fake record, so the
 * reply, the error codes and the work done look the same: the fake record
 * has a fresh random masking key, a zero envelope and a client public key
 * made once by kw_opaque_server_new (no key generation per request), and it
 * goes through the same record parser. *login receives the state
 * ServerFinish needs (free with kw_opaque_server_login_free). */
int kw_opaque_server_ke2(const kw_opaque_server *s, kw_opaque_server_login **login,
                         uint8_t ke2[static KW_OPAQUE_KE2BYTES], const uint8_t *record,
                         size_t record_len, const uint8_t *credential_id,
                         size_t credential_id_len, const uint8_t *ke1, size_t ke1_len,
                         const kw_opaque_ids *ids);
int kw_opaque_server_ke2_det(const kw_opaque_server *s, kw_opaque_server_login **login,
                             uint8_t ke2[static KW_OPAQUE_KE2BYTES], const uint8_t *record,
                             size_t record_len, const uint8_t *credential_id,
                             size_t credential_id_len, const uint8_t *ke1, size_t ke1_len,
                             const kw_opaque_ids *ids, const kw_opaque_ke2_randomness *rnd);

/* ServerFinish: checks the client's MAC in KE3 and releases the session
 * key. KW_ERR_VERIFY on mismatch (always so for a fake record). A login
 * finishes once: later calls give KW_ERR_INVALID_ARG. */
KW_OPAQUE_WUR int kw_opaque_server_finish(kw_opaque_server_login *login,
                                          uint8_t session_key[static KW_OPAQUE_SESSION_KEYBYTES],
                                          const uint8_t *ke3, size_t ke3_len);

/* Wipes and frees *login, setting it to NULL; NULL is a no-op. */
void kw_opaque_server_login_free(kw_opaque_server_login **login);

/* Bytes of an exported pending login (version, fake flag, expected client
 * MAC, session key). */
#define KW_OPAQUE_SERVER_LOGIN_STATEBYTES (2 + KW_OPAQUE_MACBYTES + KW_OPAQUE_HASHBYTES)

/* Exports a pending login so a server can finish it in another request or
 * on another node. The state is SECRET (whoever holds it can complete the
 * login without the password): encrypt it before storing it. KW_ERR_INVALID_ARG
 * when the login is already finished. */
int kw_opaque_server_login_export(uint8_t out[static KW_OPAQUE_SERVER_LOGIN_STATEBYTES],
                                  const kw_opaque_server_login *login);

/* Rebuilds a pending login from an exported state; KW_ERR_FORMAT for a
 * state of the wrong version or length. */
int kw_opaque_server_login_import(kw_opaque_server_login **login, const uint8_t *state, size_t len);

#endif
