/*
 * Attack 11 (DESIGN.md "Attacks the tests must show detected"), messages:
 * the lying server replays, duplicates, forges and misdelivers envelopes by
 * editing keywardd's database while it runs (SQLite WAL: a second writer
 * is fine), and the receiving device refuses each with a named reason while
 * every honest message is delivered exactly once.
 *
 * Set-up (honest): "alice" (A1), "bob" (B1, B2), "carol" (C1).
 *  - replay: an envelope B1 already read is put back in B1's mailbox under
 *    a fresh server id: refused "replay", the inbox keeps one copy, the
 *    mailbox entry is acknowledged (gone).
 *  - duplicate: a new message is delivered twice in one fetch: one copy
 *    stored, the other refused "replay".
 *  - a device not in alice's roster (a key the server made up) "sends" to
 *    bob: refused "sender-not-in-roster" (a recent one is held back as a
 *    possible log lag: not stored, not acknowledged);
 *    an envelope naming A1's device but signed by another key: refused
 *    "bad-signature".
 *  - mailbox swap: alice's message to carol is copied into B1's mailbox:
 *    refused "misdelivered"; carol still reads it.
 *  - nothing lost: B1 and B2 hold each honest message exactly once.
 *  - gossip: a message signed by A1 (with A1's real keys, as if the lie
 *    were in the log rather than the envelope) whose tree head's signature
 *    is broken is stored with gossip "bad-head" and raises an alert (sync
 *    exit 2); an honest head gives gossip "ok".
 *  - the server's own checks on POST /v1/msg/send (A1's real session and
 *    keys, raw HTTP): a mailbox of a third account's device (404), mailboxes
 *    other than the envelope's devices (400), an envelope naming another
 *    sender device (401 verify), an unknown recipient (404), a message id
 *    sent before (409).
 */
#include "attack_util.h"

#include <time.h>

#include "client/client_internal.h"
#include "keyward/client_kt.h"
#include "keyward/kt.h"

#include "keyward/envelope.h"
#include "keyward/hpke.h"
#include "keyward/sign.h"

static kw_it_server srv;
static char *pa1, *pb1, *pb2, *pc1;
static uint8_t b1_id[16], c1_id[16], a1_id[16];
static uint8_t *env1;
static size_t env1_len;
static const char *const SRV_ARGS[] = {"--kt-epoch-ms", "100", NULL};

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, SRV_ARGS) != 0)
        return -1;
    pa1 = kw_it_profile(&srv, "A1");
    pb1 = kw_it_profile(&srv, "B1");
    pb2 = kw_it_profile(&srv, "B2");
    pc1 = kw_it_profile(&srv, "C1");
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(pa1);
    free(pb1);
    free(pb2);
    free(pc1);
    free(env1);
    return 0;
}

/* The server's database, written while keywardd runs (WAL; wait for its
 * group commits instead of failing on a busy lock). */
static sqlite3 *db_open(void)
{
    sqlite3 *db = at_db_open(&srv);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static int64_t jint(const kw_it_result *r, const char *k)
{
    return json_integer_value(json_object_get(r->json, k));
}

static kw_it_result sync_ok(const char *prof)
{
    const char *a[] = {"--json", "sync", NULL};
    kw_it_result r = at_cli(&srv, prof, a, 0);
    assert_int_equal(r.status, 0);
    return r;
}

/* The reason of the only refusal of a sync result. */
static const char *only_reject(const kw_it_result *r)
{
    json_t *rej = json_object_get(r->json, "rejects");
    assert_int_equal(json_array_size(rej), 1);
    return json_string_value(json_object_get(json_array_get(rej, 0), "reason"));
}

static int inbox_count_text(const char *prof, const char *text)
{
    const char *a[] = {"--json", "inbox", NULL};
    kw_it_result r = at_cli(&srv, prof, a, 0);
    json_t *m;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(r.json, "messages"), i, m)
    {
        const char *t = json_string_value(json_object_get(m, "text"));
        if (t != NULL && strcmp(t, text) == 0)
            n++;
    }
    kw_it_result_free(&r);
    return n;
}

/* Sends and returns the message id. */
static void send_text(const char *prof, const char *to, const char *text, uint8_t id[16])
{
    const char *a[] = {"--json", "send", to, "--", text, NULL};
    kw_it_result r = at_cli(&srv, prof, a, 0);
    assert_int_equal(r.status, 0);
    at_id(id, at_jstr(&r, "id"));
    kw_it_result_free(&r);
}

static void device_id(const char *prof, uint8_t id[16])
{
    const char *a[] = {"--json", "status", NULL};
    kw_it_result r = at_cli(&srv, prof, a, 0);
    at_id(id, at_jstr(&r, "device_id"));
    kw_it_result_free(&r);
}

static int64_t mailbox_count(const uint8_t dev[16])
{
    sqlite3 *db = db_open();
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM msg_mailbox WHERE device_id = ?1", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, dev, 16, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    at_db_close(db);
    return n;
}

/* The lie: envelope bytes put into dev's mailbox under a fresh server id. */
static void inject(const uint8_t dev[16], const uint8_t *env, size_t len)
{
    uint8_t fresh[16];
    randombytes_buf(fresh, sizeof(fresh));
    sqlite3 *db = db_open();
    at_exec(db,
            "INSERT INTO msg_envelopes (msg_id, sender_account, body, refs, created_at) "
            "VALUES (?1, 1, ?2, 1, strftime('%s','now'))",
            fresh, 16, env, len, 1);
    at_exec(db,
            "INSERT INTO msg_mailbox (device_id, env) VALUES (?1, (SELECT id FROM msg_envelopes "
            "WHERE msg_id = ?2))",
            dev, 16, fresh, 16, 1);
    at_db_close(db);
}

static uint8_t *envelope_of(const uint8_t msg_id[16], size_t *len)
{
    sqlite3 *db = db_open();
    uint8_t *b = at_blob(db, "SELECT body FROM msg_envelopes WHERE msg_id = ?1", msg_id, 16, len);
    at_db_close(db);
    assert_true(*len > 0);
    return b;
}

static void test_setup_honest(void **state)
{
    (void)state;
    char id[32];
    at_create(&srv, pa1, "alice", "A1", NULL);
    at_create(&srv, pb1, "bob", "B1", NULL);
    at_create(&srv, pc1, "carol", "C1", NULL);
    at_join(&srv, pb1, pb2, "bob", "B2", id);
    device_id(pa1, a1_id);
    device_id(pb1, b1_id);
    device_id(pc1, c1_id);
    usleep(400 * 1000); /* one key-transparency epoch */
    uint8_t mid[16];
    send_text(pa1, "bob", "M1 honest", mid);
    env1 = envelope_of(mid, &env1_len);
    kw_it_result r = sync_ok(pb1);
    assert_int_equal(jint(&r, "received"), 1);
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pb1, "M1 honest"), 1);
}

static void test_replay(void **state)
{
    (void)state;
    inject(b1_id, env1, env1_len);
    assert_int_equal(mailbox_count(b1_id), 1);
    kw_it_result r = sync_ok(pb1);
    assert_int_equal(jint(&r, "received"), 0);
    assert_int_equal(jint(&r, "rejected"), 1);
    assert_string_equal(only_reject(&r), "replay");
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pb1, "M1 honest"), 1);
    assert_int_equal(mailbox_count(b1_id), 0); /* refused for good: acknowledged */
}

static void test_duplicate(void **state)
{
    (void)state;
    uint8_t mid[16];
    size_t len = 0;
    send_text(pa1, "bob", "M2 once", mid);
    uint8_t *env = envelope_of(mid, &len);
    inject(b1_id, env, len);
    free(env);
    kw_it_result r = sync_ok(pb1);
    assert_int_equal(jint(&r, "received"), 1);
    assert_int_equal(jint(&r, "rejected"), 1);
    assert_string_equal(only_reject(&r), "replay");
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pb1, "M2 once"), 1);
}

/* An envelope "from" alice's device dev_id, signed by a key the server
 * made up, wrapped to B1's roster HPKE key, dated `age_ms` ago. */
static uint8_t *forge(const uint8_t dev_id[16], uint64_t age_ms, const char *text, size_t *len)
{
    kw_sign_key *idk = NULL;
    uint8_t hpk[32], hsk[32], *payload = NULL, *env = NULL;
    size_t plen = 0, elen = 0;
    assert_int_equal(kw_sign_key_new(&idk), KW_OK);
    assert_int_equal(kw_hpke_keypair(hpk, hsk), KW_OK);
    kw_envelope_recipient rc = {.prekey_id = 0};
    memcpy(rc.device_id, b1_id, 16);
    size_t n = 0;
    sqlite3 *db = db_open();
    uint8_t *pk = at_blob(db, "SELECT hpke_pk FROM devices WHERE id = ?1", b1_id, 16, &n);
    at_db_close(db);
    assert_int_equal(n, 32);
    memcpy(rc.pk, pk, 32);
    free(pk);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    kw_envelope_params p = {.timestamp_ms = (uint64_t)ts.tv_sec * 1000u - age_ms,
                            .sender = "alice", .recipient = "bob", .type = "text"};
    randombytes_buf(p.id, 16);
    memcpy(p.sender_device, dev_id, 16);
    assert_int_equal(kw_payload_encode(&payload, &plen, NULL, (const uint8_t *)text, strlen(text)),
                     KW_OK);
    assert_int_equal(kw_envelope_seal(&env, &elen, &p, &rc, 1, hsk, hpk, idk, payload, plen), KW_OK);
    free(payload);
    kw_sign_key_free(&idk);
    *len = elen;
    return env;
}

static void test_device_not_in_roster(void **state)
{
    (void)state;
    uint8_t fake_dev[16];
    size_t len = 0;
    randombytes_buf(fake_dev, sizeof(fake_dev));
    /* old enough not to be a publication lag: refused */
    uint8_t *env = forge(fake_dev, 30u * 60 * 1000, "forged by a made-up device", &len);
    inject(b1_id, env, len);
    free(env);
    kw_it_result r = sync_ok(pb1);
    assert_int_equal(jint(&r, "received"), 0);
    assert_string_equal(only_reject(&r), "sender-not-in-roster");
    kw_it_result_free(&r);
    assert_int_equal(mailbox_count(b1_id), 0);

    /* recent: held back (not stored, not acknowledged) */
    env = forge(fake_dev, 0, "forged and recent", &len);
    inject(b1_id, env, len);
    free(env);
    r = sync_ok(pb1);
    assert_int_equal(jint(&r, "received"), 0);
    assert_int_equal(jint(&r, "deferred"), 1);
    kw_it_result_free(&r);
    assert_int_equal(mailbox_count(b1_id), 1);
    sqlite3 *db = db_open();
    at_exec(db, "DELETE FROM msg_mailbox WHERE device_id = ?1", b1_id, 16, NULL, 0, 1);
    at_db_close(db);

    /* A1's device id, another key: the signature does not verify */
    env = forge(a1_id, 0, "forged in A1's name", &len);
    inject(b1_id, env, len);
    free(env);
    r = sync_ok(pb1);
    assert_int_equal(jint(&r, "received"), 0);
    assert_string_equal(only_reject(&r), "bad-signature");
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pb1, "forged by a made-up device"), 0);
    assert_int_equal(inbox_count_text(pb1, "forged and recent"), 0);
    assert_int_equal(inbox_count_text(pb1, "forged in A1's name"), 0);
}

static void test_mailbox_swap(void **state)
{
    (void)state;
    uint8_t mid[16];
    send_text(pa1, "carol", "M3 for carol", mid);
    sqlite3 *db = db_open();
    at_exec(db,
            "INSERT INTO msg_mailbox (device_id, env) VALUES (?1, (SELECT id FROM msg_envelopes "
            "WHERE msg_id = ?2))",
            b1_id, 16, mid, 16, 1);
    at_exec(db, "UPDATE msg_envelopes SET refs = refs + 1 WHERE msg_id = ?1", mid, 16, NULL, 0, 1);
    at_db_close(db);
    kw_it_result r = sync_ok(pb1);
    assert_int_equal(jint(&r, "received"), 0);
    assert_string_equal(only_reject(&r), "misdelivered");
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pb1, "M3 for carol"), 0);
    r = sync_ok(pc1);
    assert_int_equal(jint(&r, "received"), 1);
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pc1, "M3 for carol"), 1);
}

static void test_nothing_lost(void **state)
{
    (void)state;
    kw_it_result r = sync_ok(pb2);
    assert_int_equal(jint(&r, "received"), 2);
    assert_int_equal(jint(&r, "rejected"), 0);
    kw_it_result_free(&r);
    const char *profs[] = {pb1, pb2};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(inbox_count_text(profs[i], "M1 honest"), 1);
        assert_int_equal(inbox_count_text(profs[i], "M2 once"), 1);
    }
    assert_int_equal(mailbox_count(b1_id), 0);
}

/* A1 seals `text` to B1 (roster key) with `head` (NULL: none) in the
 * payload, signed with A1's real identity key. */
static uint8_t *seal_as_a1(const uint8_t *head, const char *text, size_t *len)
{
    kwc_profile *a = NULL;
    kw_sign_key *idk = NULL;
    uint8_t *payload = NULL, *env = NULL;
    size_t plen = 0, n = 0;
    assert_int_equal(kwc_profile_load(&a, pa1, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    assert_int_equal(kw_sign_key_from_seed(&idk, a->s->identity_seed), KW_OK);
    sqlite3 *db = db_open();
    uint8_t *b1pk = at_blob(db, "SELECT hpke_pk FROM devices WHERE id = ?1", b1_id, 16, &n);
    at_db_close(db);
    kw_envelope_recipient rc = {.prekey_id = 0};
    memcpy(rc.device_id, b1_id, 16);
    memcpy(rc.pk, b1pk, 32);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    kw_envelope_params p = {.timestamp_ms = (uint64_t)ts.tv_sec * 1000u, .sender = "alice",
                            .recipient = "bob", .type = "text"};
    randombytes_buf(p.id, 16);
    memcpy(p.sender_device, a1_id, 16);
    assert_int_equal(kw_payload_encode(&payload, &plen, head, (const uint8_t *)text, strlen(text)), KW_OK);
    assert_int_equal(kw_envelope_seal(&env, len, &p, &rc, 1, a->s->hpke_sk, a->s->hpke_pk, idk, payload,
                                      plen),
                     KW_OK);
    free(payload);
    free(b1pk);
    kw_sign_key_free(&idk);
    kwc_profile_free(&a);
    return env;
}

static void test_gossip_bad_head(void **state)
{
    (void)state;
    kw_client *c = NULL;
    kw_client_options o = {.profile_dir = pa1, .server_url = srv.url};
    kw_kt_head h;
    uint8_t head[KW_KT_HEADBYTES], *env = NULL;
    size_t len = 0;
    assert_int_equal(kw_client_kt_open(&c, &o), KW_OK);
    assert_int_equal(kw_client_kt_pinned(c, &h), KW_OK); /* A1 looked bob up to send */
    kw_client_free(&c);
    kw_kt_head_encode(head, &h);

    env = seal_as_a1(head, "an honest head", &len);
    inject(b1_id, env, len);
    free(env);
    kw_it_result r = sync_ok(pb1);
    assert_int_equal(jint(&r, "received"), 1);
    json_t *m = json_array_get(json_object_get(r.json, "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "gossip")), "ok");
    assert_int_equal(json_array_size(json_object_get(r.json, "alerts")), 0);
    kw_it_result_free(&r);

    head[KW_KT_HEADBYTES - 1] ^= 0x01; /* the log's signature no longer verifies */
    env = seal_as_a1(head, "a forged head", &len);
    inject(b1_id, env, len);
    free(env);
    const char *a[] = {"--json", "sync", NULL};
    r = at_cli(&srv, pb1, a, 2);
    assert_int_equal(r.status, 2); /* an alert */
    assert_int_equal(jint(&r, "received"), 1);
    m = json_array_get(json_object_get(r.json, "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "gossip")), "bad-head");
    json_t *al = json_array_get(json_object_get(r.json, "alerts"), 0);
    assert_string_equal(json_string_value(json_object_get(al, "reason")), "bad-head");
    assert_string_equal(json_string_value(json_object_get(al, "sender")), "alice");
    kw_it_result_free(&r);
    /* the inbox keeps the outcome with the message */
    const char *in[] = {"--json", "inbox", NULL};
    r = at_cli(&srv, pb1, in, 0);
    json_t *x;
    size_t i;
    int seen = 0;
    json_array_foreach(json_object_get(r.json, "messages"), i, x)
    {
        const char *t = json_string_value(json_object_get(x, "text"));
        if (t != NULL && strcmp(t, "a forged head") == 0) {
            assert_string_equal(json_string_value(json_object_get(x, "gossip")), "bad-head");
            assert_string_equal(json_string_value(json_object_get(x, "gossip_reason")), "bad-head-signature");
            seen++;
        }
    }
    assert_int_equal(seen, 1);
    kw_it_result_free(&r);
}

/* POST /v1/msg/send with A1's session: the HTTP status. */
static int post_send(const char *token, const uint8_t *env, size_t len, const uint8_t (*devs)[16],
                     size_t ndev)
{
    char *b64 = malloc(kw_b64url_encoded_len(len) + 1), *body = malloc(len * 2 + 400), *resp = NULL;
    assert_non_null(b64);
    assert_non_null(body);
    assert_int_equal(kw_b64url_encode(b64, kw_b64url_encoded_len(len) + 1, env, len), KW_OK);
    size_t o = (size_t)sprintf(body, "{\"envelope\":\"%s\",\"devices\":[", b64);
    for (size_t i = 0; i < ndev; i++) {
        char id[32];
        kw_b64url_encode(id, sizeof(id), devs[i], 16);
        o += (size_t)sprintf(body + o, "%s\"%s\"", i > 0 ? "," : "", id);
    }
    sprintf(body + o, "]}");
    int st = kw_it_http(&srv, "POST", "/v1/msg/send", body, token, &resp);
    free(resp);
    free(b64);
    free(body);
    return st;
}

static void test_server_refuses(void **state)
{
    (void)state;
    kwc_profile *a = NULL;
    kw_sign_key *idk = NULL;
    uint8_t *payload = NULL, *env = NULL, devs[2][16];
    size_t plen = 0, elen = 0, n = 0;
    assert_int_equal(kwc_profile_load(&a, pa1, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    assert_int_equal(kw_sign_key_from_seed(&idk, a->s->identity_seed), KW_OK);
    sqlite3 *db = db_open();
    uint8_t *b1pk = at_blob(db, "SELECT hpke_pk FROM devices WHERE id = ?1", b1_id, 16, &n);
    uint8_t *c1pk = at_blob(db, "SELECT hpke_pk FROM devices WHERE id = ?1", c1_id, 16, &n);
    at_db_close(db);
    kw_envelope_recipient rc[2] = {{.prekey_id = 0}, {.prekey_id = 0}};
    memcpy(rc[0].device_id, b1_id, 16);
    memcpy(rc[0].pk, b1pk, 32);
    memcpy(rc[1].device_id, c1_id, 16);
    memcpy(rc[1].pk, c1pk, 32);
    memcpy(devs[0], b1_id, 16);
    memcpy(devs[1], c1_id, 16);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    kw_envelope_params p = {.timestamp_ms = (uint64_t)ts.tv_sec * 1000u, .sender = "alice",
                            .recipient = "bob", .type = "text"};
    randombytes_buf(p.id, 16);
    memcpy(p.sender_device, a1_id, 16);
    assert_int_equal(kw_payload_encode(&payload, &plen, NULL, (const uint8_t *)"x", 1), KW_OK);
    /* wrapped to B1 and to carol's C1: C1 is not bob's nor alice's */
    assert_int_equal(kw_envelope_seal(&env, &elen, &p, rc, 2, a->s->hpke_sk, a->s->hpke_pk, idk, payload,
                                      plen),
                     KW_OK);
    assert_int_equal(post_send(a->s->token, env, elen, (const uint8_t(*)[16])devs, 2), 404);
    assert_int_equal(post_send(a->s->token, env, elen, (const uint8_t(*)[16])devs, 1), 400);
    free(env);
    /* names B1 as its sender device */
    memcpy(p.sender_device, b1_id, 16);
    assert_int_equal(kw_envelope_seal(&env, &elen, &p, rc, 1, a->s->hpke_sk, a->s->hpke_pk, idk, payload,
                                      plen),
                     KW_OK);
    assert_int_equal(post_send(a->s->token, env, elen, (const uint8_t(*)[16])devs, 1), 401);
    free(env);
    /* an unknown recipient */
    memcpy(p.sender_device, a1_id, 16);
    p.recipient = "nobody";
    assert_int_equal(kw_envelope_seal(&env, &elen, &p, rc, 1, a->s->hpke_sk, a->s->hpke_pk, idk, payload,
                                      plen),
                     KW_OK);
    assert_int_equal(post_send(a->s->token, env, elen, (const uint8_t(*)[16])devs, 1), 404);
    free(env);
    /* the honest M1 once more (to B1 and B2): its id was stored before */
    device_id(pb2, devs[1]);
    assert_int_equal(post_send(a->s->token, env1, env1_len, (const uint8_t(*)[16])devs, 2), 409);
    assert_int_equal(mailbox_count(b1_id), 0);
    free(payload);
    free(b1pk);
    free(c1pk);
    kw_sign_key_free(&idk);
    kwc_profile_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_honest),         cmocka_unit_test(test_replay),
        cmocka_unit_test(test_duplicate),            cmocka_unit_test(test_device_not_in_roster),
        cmocka_unit_test(test_mailbox_swap),         cmocka_unit_test(test_nothing_lost),
        cmocka_unit_test(test_gossip_bad_head),      cmocka_unit_test(test_server_refuses),
    };
    return cmocka_run_group_tests_name("attack 11: message replay", tests, setup, teardown);
}
