/*
 * Attack 4: two clients shown different tree heads (a split view), met
 * through gossip.
 *
 * The lying operator runs two keywardd processes with the SAME log signing
 * and VRF keys (one key file) but different contents — every head each
 * signs is valid, yet the two histories differ. Device X ("alice") talks
 * to server S1, device Y ("bob") to S2; each verifies and pins a head of
 * its own view. Y's newest head reaches X out of band (`keyward ckv head`
 * on Y, `keyward ckv check-head HEAD --from bob` on X — the same check
 * messages run on the head every payload carries): S1 cannot prove that
 * head consistent with X's view, so X refuses with the split-view alert,
 * stores it, and keeps its pinned head. Negative control: a head from a
 * third device Z on S1 (the same view) is accepted.
 * A head whose signature is broken is proof-failed, not split-view.
 *
 * Met through message gossip: device D ("dave") reaches the operator
 * through a front (a small proxy in this test) that answers its
 * key-transparency requests from S2 and everything else from S1 — the
 * targeted split view. The operator copied dave's and erin's rosters into
 * S2's log, so every proof D checks verifies. D sends erin a message (to
 * S1's mailboxes) carrying its newest head, from S2's history; erin's
 * device E (on S1) accepts the message from dave's verified device but
 * its gossip check fails, and `keyward alerts` on E names the split view
 * (split-view about dave).
 */
#include <netinet/in.h>
#include <strings.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "test_ckv_util.h"

static kw_it_server s1, s2;
static char *prof_x, *prof_y, *prof_z, *prof_d, *prof_e;
static pid_t proxy_pid = -1;
static kw_it_server front; /* the proxy, as a server the harness can talk to */

/* ---- the operator's front: KT requests from S2, the rest from S1 ---- */

static int connect_port(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(0x7f000001)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void proxy_one(int cfd)
{
    static char buf[1 << 20];
    size_t len = 0;
    char *end = NULL;
    while (len < sizeof(buf) - 1 && end == NULL) {
        ssize_t n = read(cfd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (end == NULL)
        return;
    size_t head_len = (size_t)(end + 4 - buf), body = 0;
    for (char *p = buf; p < end; p++)
        if (strncasecmp(p, "\r\ncontent-length:", 17) == 0)
            body = (size_t)strtoul(p + 17, NULL, 10);
    while (len < head_len + body && len < sizeof(buf) - 1) {
        ssize_t n = read(cfd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return;
        len += (size_t)n;
    }
    char *sp = strchr(buf, ' ');
    bool kt = sp != NULL && strncmp(sp + 1, "/v1/kt/", 7) == 0;
    int ufd = connect_port(kt ? s2.port : s1.port);
    if (ufd < 0)
        return;
    char *eol = strstr(buf, "\r\n");
    const char *close_hdr = "\r\nConnection: close";
    if (write(ufd, buf, (size_t)(eol - buf)) < 0 || write(ufd, close_hdr, strlen(close_hdr)) < 0 ||
        write(ufd, eol, len - (size_t)(eol - buf)) < 0) {
        close(ufd);
        return;
    }
    for (;;) {
        ssize_t n = read(ufd, buf, sizeof(buf));
        if (n <= 0 || write(cfd, buf, (size_t)n) != n)
            break;
    }
    close(ufd);
}

static int proxy_start(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0,
                            .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t al = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    front = s1;
    front.port = ntohs(a.sin_port);
    snprintf(front.url, sizeof(front.url), "http://127.0.0.1:%u", front.port);
    proxy_pid = fork();
    if (proxy_pid < 0)
        return -1;
    if (proxy_pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        for (;;) {
            int cfd = accept(lfd, NULL, NULL);
            if (cfd < 0)
                continue;
            proxy_one(cfd);
            close(cfd);
        }
    }
    close(lfd);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    char key[400];
    if (kw_init() != KW_OK || ckv_server_start(&s1, NULL) != 0)
        return -1;
    snprintf(key, sizeof(key), "%s/data/server.key", s1.dir);
    const char *const args[] = {"--test-faults", "--kt-epoch-ms", "100", "--key-file", key, NULL};
    if (kw_it_server_start(&s2, NULL, args) != 0)
        return -1;
    prof_x = kw_it_profile(&s1, "X");
    prof_z = kw_it_profile(&s1, "Z");
    prof_y = kw_it_profile(&s2, "Y");
    prof_d = kw_it_profile(&s1, "D");
    prof_e = kw_it_profile(&s1, "E");
    return proxy_start();
}

static int teardown(void **state)
{
    (void)state;
    if (proxy_pid > 0) {
        kill(proxy_pid, SIGTERM);
        waitpid(proxy_pid, NULL, 0);
    }
    free(prof_d);
    free(prof_e);
    kw_it_server_stop(&s2, false);
    kw_it_server_cleanup(&s2);
    kw_it_server_stop(&s1, false);
    kw_it_server_cleanup(&s1);
    free(prof_x);
    free(prof_y);
    free(prof_z);
    return 0;
}

static void head_of(const kw_it_server *s, const char *prof, char head[256])
{
    const char *check[] = {"--json", "ckv", "check", NULL};
    ckv_run(s, prof, check, 0);
    const char *h[] = {"--json", "ckv", "head", NULL};
    kw_it_result r = ckv_cli(s, prof, h, 0);
    snprintf(head, 256, "%s", at_jstr(&r, "head"));
    assert_true(strlen(head) > 200);
    kw_it_result_free(&r);
}

static void test_same_keys_two_views(void **state)
{
    (void)state;
    char *b1 = NULL, *b2 = NULL;
    assert_int_equal(kw_it_http(&s1, "GET", "/v1/kt/keys", NULL, NULL, &b1), 200);
    assert_int_equal(kw_it_http(&s2, "GET", "/v1/kt/keys", NULL, NULL, &b2), 200);
    assert_string_equal(b1, b2); /* one log key, one VRF key */
    free(b1);
    free(b2);
    at_create(&s1, prof_x, "alice", "laptop-X", NULL);
    at_create(&s1, prof_z, "carol", "laptop-Z", NULL);
    at_create(&s2, prof_y, "bob", "phone-Y", NULL);
    ckv_wait_epochs(&s1);
    ckv_wait_epochs(&s2);
}

static void test_same_view_accepted(void **state)
{
    (void)state;
    char hx[256], hz[256];
    head_of(&s1, prof_x, hx);
    ckv_wait_epochs(&s1);
    head_of(&s1, prof_z, hz);
    const char *chk[] = {"--json", "ckv", "check-head", hz, "--from", "carol", NULL};
    kw_it_result r = ckv_cli(&s1, prof_x, chk, 0);
    assert_true(json_is_true(json_object_get(r.json, "consistent")));
    kw_it_result_free(&r);
}

static void test_split_view_detected(void **state)
{
    (void)state;
    char hx[256], hy[256], hx2[256];
    head_of(&s1, prof_x, hx);
    head_of(&s2, prof_y, hy);
    const char *chk[] = {"--json", "ckv", "check-head", hy, "--from", "bob", NULL};
    kw_it_result r = kw_it_cli(&s1, prof_x, NULL, chk);
    ckv_assert_refused_alert(&r, "split-view", "bob");
    kw_it_result_free(&r);
    ckv_assert_stored(&s1, prof_x, "split-view", "bob", NULL);
    /* X keeps its own view */
    const char *h[] = {"--json", "ckv", "head", NULL};
    r = ckv_cli(&s1, prof_x, h, 0);
    snprintf(hx2, sizeof(hx2), "%s", at_jstr(&r, "head"));
    kw_it_result_free(&r);
    assert_string_equal(hx, hx2);
}

static void test_broken_head_is_proof_failed(void **state)
{
    (void)state;
    char hz[256];
    head_of(&s1, prof_z, hz);
    hz[200] = hz[200] == 'A' ? 'B' : 'A'; /* inside the signature */
    const char *chk[] = {"--json", "ckv", "check-head", hz, "--from", "carol", NULL};
    kw_it_result r = kw_it_cli(&s1, prof_x, NULL, chk);
    ckv_assert_refused_alert(&r, "proof-failed", "carol");
    kw_it_result_free(&r);
}

static void test_split_view_through_gossip(void **state)
{
    (void)state;
    at_create(&front, prof_d, "dave", "laptop-D", NULL);
    at_create(&s1, prof_e, "erin", "laptop-E", NULL);
    /* the operator copies both rosters into S2's log */
    const char *names[] = {"dave", "erin"};
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        uint8_t *ros = ckv_db_roster(&s1, names[i], 0, &len);
        ckv_lie_roster(&s2, names[i], ros, len, false);
        free(ros);
    }
    ckv_wait_epochs(&s1);
    ckv_wait_epochs(&s2);
    const char *check[] = {"--json", "ckv", "check", NULL};
    ckv_run(&front, prof_d, check, 0); /* D's view: S2's log, consistent in itself */
    ckv_run(&s1, prof_e, check, 0);    /* E's view: S1's log */
    const char *add[] = {"--json", "contact", "add", "erin", NULL};
    ckv_run(&front, prof_d, add, 0);
    const char *send[] = {"--json", "send", "erin", "--", "meet me", NULL};
    ckv_run(&front, prof_d, send, 0);
    const char *sync[] = {"--json", "sync", NULL};
    kw_it_result r = kw_it_cli(&s1, prof_e, NULL, sync);
    assert_true(r.status == 0 || r.status == 2 || r.status == 8);
    assert_non_null(strstr(r.out, "split-view"));
    kw_it_result_free(&r);
    ckv_assert_stored(&s1, prof_e, "split-view", "dave", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_keys_two_views),
        cmocka_unit_test(test_same_view_accepted),
        cmocka_unit_test(test_split_view_detected),
        cmocka_unit_test(test_broken_head_is_proof_failed),
        cmocka_unit_test(test_split_view_through_gossip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
