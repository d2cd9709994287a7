/*
 * End-to-end messages through a real keywardd and the real keyward CLI
 * (keyward/client_msg.h, docs/api.md "Messages").
 *
 * Set-up: "alice" with devices A1, A2; "bob" with B1, B2, B3.
 *  - fan-out: A1 sends a text to bob: the server is told 4 mailboxes (B1,
 *    B2, B3 and A1's other device A2); every one of them reads it once,
 *    A2 as its own account's copy; A1 itself gets nothing; a second sync
 *    finds nothing (acknowledged = deleted).
 *  - a file and a typed message ("sas-commit") from B2 reach A1 and A2 with
 *    the exact bytes, and B1/B3 get their own copy.
 *  - prekey rotation: B2 rotates its prekey; a message wrapped to the old
 *    prekey still opens during the grace period; with the grace period at
 *    0 the old private key is wiped and a message still wrapped to it is
 *    refused ("decrypt-failed"), while the next one (to the new prekey)
 *    reads.
 *  - removal: B1 removes B3; the next message goes to B1, B2, A2 only (3
 *    mailboxes), B3 cannot fetch anything any more, B1 and B2 read it.
 *  - raw forms: A1 (its real session and keys) POSTs an envelope sealed to
 *    B1 and B2 as an application/octet-stream body (the mailboxes are its
 *    wrap devices); GET /v1/msg/fetch-raw gives B1 the same bytes; the
 *    real client reads it on B2; the same envelope again is 409, bytes that
 *    are no envelope 400, an envelope naming another sender device 401,
 *    one beyond the store's limit 413, a bad position 400.
 *  - the session cache: a token used (so cached) and then signed out
 *    (keyward logout), or whose device is removed, is refused by the very
 *    next request.
 *  - durability: a send acknowledged before keywardd is killed with
 *    SIGKILL is delivered after the restart.
 */
#include "../attacks/attack_util.h"

#include <curl/curl.h>
#include <time.h>

#include "client/client_internal.h"
#include "keyward/envelope.h"
#include "keyward/sign.h"

static kw_it_server srv;
static char *pa1, *pa2, *pb1, *pb2, *pb3, *pb4, *pb5;
static char b3_id[32], tmpfile_path[600];
static const char *const SRV_ARGS[] = {"--kt-epoch-ms", "100", NULL};

static int setup(void **state)
{
    (void)state;
    if (kw_init() != KW_OK || kw_it_server_start(&srv, NULL, SRV_ARGS) != 0)
        return -1;
    pa1 = kw_it_profile(&srv, "A1");
    pa2 = kw_it_profile(&srv, "A2");
    pb1 = kw_it_profile(&srv, "B1");
    pb2 = kw_it_profile(&srv, "B2");
    pb3 = kw_it_profile(&srv, "B3");
    pb4 = kw_it_profile(&srv, "B4");
    pb5 = kw_it_profile(&srv, "B5");
    setenv("KEYWARD_PASSWORD", AT_PASSWORD, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kw_it_server_stop(&srv, false);
    kw_it_server_cleanup(&srv);
    free(pa1);
    free(pa2);
    free(pb1);
    free(pb2);
    free(pb3);
    free(pb4);
    free(pb5);
    return 0;
}

/* Lets the key-transparency publisher close an epoch after a roster change. */
static void epoch_wait(void)
{
    usleep(400 * 1000);
}

static kw_it_result sync_ok(const char *prof)
{
    const char *a[] = {"--json", "sync", NULL};
    kw_it_result r = at_cli(&srv, prof, a, 0);
    assert_int_equal(r.status, 0);
    return r;
}

static int64_t jint(const kw_it_result *r, const char *k)
{
    return json_integer_value(json_object_get(r->json, k));
}

/* The inbox of prof (--json) filtered by type (NULL: all). */
static kw_it_result inbox(const char *prof, const char *type)
{
    const char *a[] = {"--json", "inbox", type != NULL ? "--type" : NULL, type, NULL};
    kw_it_result r = at_cli(&srv, prof, a, 0);
    assert_int_equal(r.status, 0);
    return r;
}

/* Whether prof's inbox holds a message with this text from sender. */
static int inbox_count_text(const char *prof, const char *sender, const char *text)
{
    kw_it_result r = inbox(prof, NULL);
    json_t *m;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(r.json, "messages"), i, m)
    {
        const char *t = json_string_value(json_object_get(m, "text"));
        if (t != NULL && strcmp(t, text) == 0 &&
            strcmp(json_string_value(json_object_get(m, "sender")), sender) == 0)
            n++;
    }
    kw_it_result_free(&r);
    return n;
}

static void send_text(const char *prof, const char *to, const char *text, int64_t devices)
{
    const char *a[] = {"--json", "send", to, "--", text, NULL};
    kw_it_result r = at_cli(&srv, prof, a, 0);
    assert_int_equal(r.status, 0);
    if (devices >= 0)
        assert_int_equal(jint(&r, "devices"), devices);
    kw_it_result_free(&r);
}

static void test_setup_accounts(void **state)
{
    (void)state;
    char id[32];
    at_create(&srv, pa1, "alice", "A1", NULL);
    at_create(&srv, pb1, "bob", "B1", NULL);
    at_join(&srv, pa1, pa2, "alice", "A2", id);
    at_join(&srv, pb1, pb2, "bob", "B2", id);
    at_join(&srv, pb1, pb3, "bob", "B3", b3_id);
    epoch_wait();
    /* every device publishes its first signed prekey on its first sync */
    const char *profs[] = {pa1, pa2, pb1, pb2, pb3};
    for (size_t i = 0; i < 5; i++) {
        kw_it_result r = sync_ok(profs[i]);
        assert_int_equal(jint(&r, "received"), 0);
        assert_int_equal(jint(&r, "prekey_id"), 1);
        kw_it_result_free(&r);
    }
}

static void test_fanout(void **state)
{
    (void)state;
    send_text(pa1, "bob", "hello bob, all three of you", 4);
    const char *readers[] = {pb1, pb2, pb3, pa2};
    for (size_t i = 0; i < 4; i++) {
        kw_it_result r = sync_ok(readers[i]);
        assert_int_equal(jint(&r, "received"), 1);
        assert_int_equal(jint(&r, "rejected"), 0);
        json_t *m = json_array_get(json_object_get(r.json, "messages"), 0);
        assert_string_equal(json_string_value(json_object_get(m, "sender")), "alice");
        assert_string_equal(json_string_value(json_object_get(m, "gossip")), "ok");
        assert_int_equal(json_is_true(json_object_get(m, "own")), readers[i] == pa2);
        kw_it_result_free(&r);
        assert_int_equal(inbox_count_text(readers[i], "alice", "hello bob, all three of you"), 1);
        /* acknowledged: nothing left on the server for this device */
        r = sync_ok(readers[i]);
        assert_int_equal(jint(&r, "received"), 0);
        kw_it_result_free(&r);
    }
    kw_it_result r = sync_ok(pa1);
    assert_int_equal(jint(&r, "received"), 0);
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pa1, "alice", "hello bob, all three of you"), 0);
}

static void test_file_and_typed(void **state)
{
    (void)state;
    uint8_t data[3000];
    char b64[4200];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    snprintf(tmpfile_path, sizeof(tmpfile_path), "%s/file.bin", srv.dir);
    FILE *f = fopen(tmpfile_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, sizeof(data), f), sizeof(data));
    fclose(f);
    assert_int_equal(kw_b64url_encode(b64, sizeof(b64), data, sizeof(data)), KW_OK);

    const char *sf[] = {"--json", "send", "alice", "--file", tmpfile_path, NULL};
    kw_it_result r = at_cli(&srv, pb2, sf, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(jint(&r, "devices"), 4); /* A1, A2, B1, B3 */
    assert_int_equal(jint(&r, "bytes"), (int64_t)sizeof(data));
    kw_it_result_free(&r);
    const char *st[] = {"--json", "send", "alice", "--type", "sas-commit", "c0mmit", NULL};
    r = at_cli(&srv, pb2, st, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);

    const char *readers[] = {pa1, pa2, pb1, pb3};
    for (size_t i = 0; i < 4; i++) {
        r = sync_ok(readers[i]);
        assert_int_equal(jint(&r, "received"), 2);
        kw_it_result_free(&r);
        r = inbox(readers[i], "file");
        json_t *list = json_object_get(r.json, "messages");
        assert_int_equal(json_array_size(list), 1);
        json_t *m = json_array_get(list, 0);
        assert_string_equal(json_string_value(json_object_get(m, "sender")), "bob");
        assert_string_equal(json_string_value(json_object_get(m, "content")), b64);
        kw_it_result_free(&r);
        r = inbox(readers[i], "sas-commit");
        list = json_object_get(r.json, "messages");
        assert_int_equal(json_array_size(list), 1);
        /* typed content is not text: base64url of "c0mmit" */
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "content")),
                            "YzBtbWl0");
        kw_it_result_free(&r);
    }
    /* bad type and over-size content are refused locally */
    const char *bt[] = {"--json", "send", "alice", "--type", "Bad_Type", "x", NULL};
    r = at_cli(&srv, pb2, bt, 1);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
    const char *nobody[] = {"--json", "send", "nobody-here", "hi", NULL};
    r = kw_it_cli(&srv, pb2, NULL, nobody);
    assert_int_not_equal(r.status, 0);
    kw_it_result_free(&r);
}

static void test_prekey_rotation(void **state)
{
    (void)state;
    /* M1 is wrapped to B2's prekey 1; B2 rotates (1 retired, 2 current) and
     * still reads M1 within the grace period */
    send_text(pa1, "bob", "to prekey 1", 4);
    const char *rot[] = {"--json", "sync", "--rotate-prekey", NULL};
    kw_it_result r = at_cli(&srv, pb2, rot, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(jint(&r, "prekey_id"), 2);
    assert_int_equal(jint(&r, "received"), 1);
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pb2, "alice", "to prekey 1"), 1);

    /* M2 goes to prekey 2; B2 rotates twice without fetching and with no
     * grace period: prekey 2 is wiped, M2 can no longer be opened */
    send_text(pa1, "bob", "to prekey 2", 4);
    setenv("KEYWARD_PREKEY_GRACE_SECONDS", "0", 1);
    const char *rot_only[] = {"--json", "sync", "--rotate-prekey", "--no-fetch", NULL};
    r = at_cli(&srv, pb2, rot_only, 0);
    assert_int_equal(jint(&r, "prekey_id"), 3);
    kw_it_result_free(&r);
    r = at_cli(&srv, pb2, rot_only, 0);
    assert_int_equal(jint(&r, "prekey_id"), 4);
    kw_it_result_free(&r);
    r = sync_ok(pb2);
    assert_int_equal(jint(&r, "received"), 0);
    assert_int_equal(jint(&r, "rejected"), 1);
    json_t *rej = json_array_get(json_object_get(r.json, "rejects"), 0);
    assert_string_equal(json_string_value(json_object_get(rej, "reason")), "decrypt-failed");
    assert_non_null(strstr(json_string_value(json_object_get(rej, "detail")), "prekey 2"));
    kw_it_result_free(&r);
    unsetenv("KEYWARD_PREKEY_GRACE_SECONDS");
    assert_int_equal(inbox_count_text(pb2, "alice", "to prekey 2"), 0);
    /* the others read M1 and M2; the next message reaches B2 under prekey 4 */
    const char *others[] = {pb1, pb3, pa2};
    for (size_t i = 0; i < 3; i++) {
        r = sync_ok(others[i]);
        assert_int_equal(jint(&r, "received"), 2);
        kw_it_result_free(&r);
    }
    send_text(pa1, "bob", "to prekey 4", 4);
    r = sync_ok(pb2);
    assert_int_equal(jint(&r, "received"), 1);
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pb2, "alice", "to prekey 4"), 1);
    for (size_t i = 0; i < 3; i++) {
        r = sync_ok(others[i]);
        kw_it_result_free(&r);
    }
}

static void test_removed_device(void **state)
{
    (void)state;
    const char *rm[] = {"--json", "device", "remove", b3_id, "--yes", NULL};
    kw_it_result r = at_cli(&srv, pb1, rm, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    epoch_wait();
    send_text(pa1, "bob", "after B3 left", 3); /* B1, B2, A2 */
    const char *readers[] = {pb1, pb2, pa2};
    for (size_t i = 0; i < 3; i++) {
        r = sync_ok(readers[i]);
        assert_int_equal(jint(&r, "received"), 1);
        kw_it_result_free(&r);
        assert_int_equal(inbox_count_text(readers[i], "alice", "after B3 left"), 1);
    }
    const char *sy[] = {"--json", "sync", NULL};
    r = kw_it_cli(&srv, pb3, NULL, sy);
    assert_int_not_equal(r.status, 0); /* its session is revoked */
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pb3, "alice", "after B3 left"), 0);
    /* bob keeps messaging from the remaining devices */
    send_text(pb2, "alice", "still here", 3); /* A1, A2, B1 */
    r = sync_ok(pa1);
    assert_int_equal(jint(&r, "received"), 1);
    kw_it_result_free(&r);
}

/* ---- the raw forms and the session cache (raw HTTP) ---- */

typedef struct {
    uint8_t *data;
    size_t len;
} sink;

static size_t sink_add(char *ptr, size_t size, size_t nmemb, void *arg)
{
    sink *b = arg;
    size_t n = size * nmemb;
    uint8_t *nd = realloc(b->data, b->len + n + 1);
    if (nd == NULL)
        return 0;
    memcpy(nd + b->len, ptr, n);
    b->len += n;
    nd[b->len] = '\0';
    b->data = nd;
    return n;
}

/* One request (body NULL: none) with Content-Type ctype; the status, the
 * answer in *out (caller frees out->data). */
static long http_raw(const char *method, const char *path, const char *ctype, const void *body, size_t blen,
                     const char *tok, sink *out)
{
    char url[400], authz[200], cth[100];
    CURL *h = curl_easy_init();
    assert_non_null(h);
    snprintf(url, sizeof(url), "%s%s", srv.url, path);
    snprintf(authz, sizeof(authz), "Authorization: Bearer %s", tok);
    snprintf(cth, sizeof(cth), "Content-Type: %s", ctype);
    struct curl_slist *l = curl_slist_append(NULL, authz);
    l = curl_slist_append(l, cth);
    l = curl_slist_append(l, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_add);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    long status = 0;
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(l);
    curl_easy_cleanup(h);
    return status;
}

static long http_status(const char *method, const char *path, const char *ctype, const void *body,
                        size_t blen, const char *tok)
{
    sink o = {0};
    long st = http_raw(method, path, ctype, body, blen, tok, &o);
    free(o.data);
    return st;
}

static void profile_token(const char *prof, char *tok, size_t cap, uint8_t dev[16])
{
    kwc_profile *p = NULL;
    assert_int_equal(kwc_profile_load(&p, prof, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    snprintf(tok, cap, "%s", p->s->token);
    if (dev != NULL)
        memcpy(dev, p->device_id, 16);
    kwc_profile_free(&p);
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* A1 seals text to the devices of the listed profiles (their roster HPKE
 * keys), naming sender_dev as its sending device. */
static uint8_t *seal_a1(const char *const *profs, size_t ndev, const uint8_t sender_dev[16], const char *text,
                        size_t *len)
{
    kwc_profile *a = NULL;
    kw_sign_key *idk = NULL;
    uint8_t *payload = NULL, *env = NULL;
    size_t plen = 0;
    kw_envelope_recipient rc[4];
    assert_true(ndev <= 4);
    assert_int_equal(kwc_profile_load(&a, pa1, AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
    assert_int_equal(kw_sign_key_from_seed(&idk, a->s->identity_seed), KW_OK);
    for (size_t i = 0; i < ndev; i++) {
        kwc_profile *b = NULL;
        assert_int_equal(kwc_profile_load(&b, profs[i], AT_PASSPHRASE, strlen(AT_PASSPHRASE)), KW_OK);
        rc[i].prekey_id = 0;
        memcpy(rc[i].device_id, b->device_id, 16);
        memcpy(rc[i].pk, b->s->hpke_pk, 32);
        kwc_profile_free(&b);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    kw_envelope_params p = {.timestamp_ms = (uint64_t)ts.tv_sec * 1000u, .sender = "alice",
                            .recipient = "bob", .type = "text"};
    randombytes_buf(p.id, 16);
    memcpy(p.sender_device, sender_dev, 16);
    assert_int_equal(kw_payload_encode(&payload, &plen, NULL, (const uint8_t *)text, strlen(text)), KW_OK);
    assert_int_equal(kw_envelope_seal(&env, len, &p, rc, ndev, a->s->hpke_sk, a->s->hpke_pk, idk, payload,
                                      plen),
                     KW_OK);
    free(payload);
    kw_sign_key_free(&idk);
    kwc_profile_free(&a);
    return env;
}

static void test_raw_forms(void **state)
{
    (void)state;
    static const char *OCT = "application/octet-stream";
    char ta[100], tb1[100];
    uint8_t a1[16], devs[2][16];
    profile_token(pa1, ta, sizeof(ta), a1);
    profile_token(pb1, tb1, sizeof(tb1), devs[0]);
    char tb2[100];
    profile_token(pb2, tb2, sizeof(tb2), devs[1]);
    size_t elen = 0;
    const char *const bobs[] = {pb1, pb2};
    uint8_t *env = seal_a1(bobs, 2, a1, "sent raw", &elen);
    sink o = {0};
    assert_int_equal(http_raw("POST", "/v1/msg/send", OCT, env, elen, ta, &o), 200);
    json_t *j = json_loads((const char *)o.data, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "devices")), 2); /* the wraps' devices */
    json_decref(j);
    free(o.data);
    /* B1 fetches the same bytes, raw */
    o = (sink){0};
    assert_int_equal(http_raw("GET", "/v1/msg/fetch-raw", "application/json", NULL, 0, tb1, &o), 200);
    assert_true(o.len >= 9);
    assert_memory_equal(o.data, "KWM1", 4);
    assert_int_equal(o.data[4], 0); /* no more */
    assert_int_equal(be(o.data + 5, 4), 1);
    assert_int_equal(o.len, 9 + 28 + elen);
    assert_int_equal(be(o.data + 9 + 24, 4), elen);
    assert_memory_equal(o.data + 9 + 28, env, elen);
    assert_memory_equal(o.data + 9 + 8, env + 4, 16); /* the message id */
    /* acknowledged with the JSON form: gone */
    char id[32], ack[80];
    kw_b64url_encode(id, sizeof(id), o.data + 9 + 8, 16);
    int64_t seq = (int64_t)be(o.data + 9, 8);
    free(o.data);
    snprintf(ack, sizeof(ack), "{\"ids\":[\"%s\"]}", id);
    assert_int_equal(http_status("POST", "/v1/msg/ack", "application/json", ack, strlen(ack), tb1), 200);
    o = (sink){0};
    char path[64];
    snprintf(path, sizeof(path), "/v1/msg/fetch-raw/%lld", (long long)(seq - 1));
    assert_int_equal(http_raw("GET", path, "application/json", NULL, 0, tb1, &o), 200);
    assert_int_equal(o.len, 9);
    assert_int_equal(be(o.data + 5, 4), 0);
    free(o.data);
    /* the real client reads its copy on B2 (JSON fetch) */
    kw_it_result r = sync_ok(pb2);
    assert_int_equal(jint(&r, "received"), 1);
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pb2, "alice", "sent raw"), 1);
    /* refusals of the raw form */
    assert_int_equal(http_status("POST", "/v1/msg/send", OCT, env, elen, ta), 409); /* id seen */
    uint8_t junk[300];
    randombytes_buf(junk, sizeof(junk));
    assert_int_equal(http_status("POST", "/v1/msg/send", OCT, junk, sizeof(junk), ta), 400);
    free(env);
    env = seal_a1(bobs, 1, devs[1], "names B2 as sender", &elen);
    assert_int_equal(http_status("POST", "/v1/msg/send", OCT, env, elen, ta), 401);
    free(env);
    size_t big = ((size_t)1 << 20) + 1;
    uint8_t *huge = calloc(1, big);
    assert_non_null(huge);
    assert_int_equal(http_status("POST", "/v1/msg/send", OCT, huge, big, ta), 413);
    free(huge);
    assert_int_equal(http_status("GET", "/v1/msg/fetch-raw/x1", "application/json", NULL, 0, tb1), 400);
    assert_int_equal(http_status("GET", "/v1/msg/fetch-raw", "application/json", NULL, 0, "bogus"), 401);
    /* nothing else reached B1's mailbox */
    o = (sink){0};
    assert_int_equal(http_raw("GET", "/v1/msg/fetch-raw", "application/json", NULL, 0, tb1, &o), 200);
    assert_int_equal(be(o.data + 5, 4), 0);
    free(o.data);
}

/* A token that was just used (so cached by keywardd) stops working with
 * the request right after its sign-out, or after its device's removal. */
static void test_cache_revocation(void **state)
{
    (void)state;
    char id4[32], id5[32], t4[100], t5[100];
    at_join(&srv, pb1, pb4, "bob", "B4", id4);
    at_join(&srv, pb1, pb5, "bob", "B5", id5);
    profile_token(pb4, t4, sizeof(t4), NULL);
    profile_token(pb5, t5, sizeof(t5), NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(http_status("GET", "/v1/msg/fetch-raw", "application/json", NULL, 0, t4), 200);
        assert_int_equal(http_status("GET", "/v1/msg/fetch", "application/json", NULL, 0, t5), 200);
    }
    const char *lo[] = {"--json", "logout", NULL};
    kw_it_result r = at_cli(&srv, pb4, lo, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    assert_int_equal(http_status("GET", "/v1/msg/fetch-raw", "application/json", NULL, 0, t4), 401);
    assert_int_equal(http_status("GET", "/v1/msg/fetch", "application/json", NULL, 0, t4), 401);
    assert_int_equal(http_status("GET", "/v1/msg/fetch", "application/json", NULL, 0, t5), 200);
    const char *rm[] = {"--json", "device", "remove", id5, "--yes", NULL};
    r = at_cli(&srv, pb1, rm, 0);
    assert_int_equal(r.status, 0);
    kw_it_result_free(&r);
    assert_int_equal(http_status("GET", "/v1/msg/fetch", "application/json", NULL, 0, t5), 401);
    assert_int_equal(http_status("POST", "/v1/msg/ack", "application/json", "{\"ids\":[]}", 10, t5), 401);
    /* the other devices' cached sessions still work */
    char tb1[100];
    profile_token(pb1, tb1, sizeof(tb1), NULL);
    assert_int_equal(http_status("GET", "/v1/msg/fetch-raw", "application/json", NULL, 0, tb1), 200);
    epoch_wait();
}

/* Last: a note to the own account's other device, across a SIGKILL. */
static void test_durable_after_kill(void **state)
{
    (void)state;
    kw_it_result r0 = sync_ok(pa2); /* bob's last message: its lookup needs the log */
    kw_it_result_free(&r0);
    send_text(pa1, "alice", "survives kill -9", 1); /* A2 */
    kw_it_server_stop(&srv, true); /* SIGKILL right after the acknowledged send */
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", srv.port); /* the same URL: kt.json pins it */
    const char *again[] = {"--kt-epoch-ms", "100", "--listen", listen, NULL};
    assert_int_equal(kw_it_server_start(&srv, srv.dir, again), 0);
    kw_it_result r = sync_ok(pa2);
    assert_int_equal(jint(&r, "received"), 1);
    kw_it_result_free(&r);
    assert_int_equal(inbox_count_text(pa2, "alice", "survives kill -9"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_accounts),   cmocka_unit_test(test_fanout),
        cmocka_unit_test(test_file_and_typed),   cmocka_unit_test(test_prekey_rotation),
        cmocka_unit_test(test_raw_forms),        cmocka_unit_test(test_removed_device),
        cmocka_unit_test(test_cache_revocation), cmocka_unit_test(test_durable_after_kill),
    };
    return cmocka_run_group_tests_name("messages", tests, setup, teardown);
}
