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
 *  - durability: a send acknowledged before keywardd is killed with
 *    SIGKILL is delivered after the restart.
 */
#include "../attacks/attack_util.h"

static kw_it_server srv;
static char *pa1, *pa2, *pb1, *pb2, *pb3;
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
        cmocka_unit_test(test_removed_device),   cmocka_unit_test(test_durable_after_kill),
    };
    return cmocka_run_group_tests_name("messages", tests, setup, teardown);
}
