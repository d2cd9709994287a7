/* The record domain of the store (server/store/record.h) on SQLite:
 * compare-and-swap puts and deletes with the zone change counter, paging
 * in id order, upload sessions consumed by the commit (and refused for
 * another record or version), content references for collection, the
 * keychain update, argument limits, and everything still there after the
 * store is reopened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "store/record.h"
#include "store/store.h"

typedef struct {
    char dir[64];
    char uri[128];
    kw_store *st;
    int64_t acc;
} fixture;

static const uint8_t opaque[] = "opaque", roster[] = "roster", kc[] = "keychain", wrap1[] = "wrap";

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || kw_init() != KW_OK)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/kwrec.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->uri, sizeof(f->uri), "%s/store.db", f->dir);
    if (kw_store_open(f->uri, &f->st) != KW_OK)
        return -1;
    kw_store_device d;
    memset(&d, 0, sizeof(d));
    memset(d.id, 0x11, 16);
    snprintf(d.name, sizeof(d.name), "dev");
    memset(d.identity_pk, 0x22, 32);
    memset(d.hpke_pk, 0x33, 32);
    d.created_at = d.last_seen_at = 1000;
    uint8_t pk[32] = {1}, sh[32] = {2};
    kw_store_new_account na = {.name = "alice", .opaque_record = opaque, .opaque_record_len = sizeof(opaque),
                               .account_pk = pk, .device = &d, .roster = roster, .roster_len = sizeof(roster),
                               .keychain = kc, .keychain_len = sizeof(kc), .device_wrap = wrap1,
                               .device_wrap_len = sizeof(wrap1), .session_hash = sh, .session_expires_at = 9999};
    if (kw_store_account_create(f->st, &na, &f->acc) != KW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    kw_store_close(&f->st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static uint8_t meta[] = "sealed-metadata", wrapb[] = "wrapped-record-key", content[] = "inline-content";

static kw_store_record rec(const char *zone, uint8_t idb, int64_t version)
{
    kw_store_record r;
    memset(&r, 0, sizeof(r));
    snprintf(r.category, sizeof(r.category), "notes");
    snprintf(r.zone, sizeof(r.zone), "%s", zone);
    memset(r.id, idb, 16);
    r.version = version;
    r.meta = meta;
    r.meta_len = sizeof(meta);
    r.wrap = wrapb;
    r.wrap_len = sizeof(wrapb);
    r.key_generation = 1;
    r.content = content;
    r.content_size = sizeof(content);
    r.content_len = sizeof(content);
    r.nchunks = 1;
    return r;
}

static void test_cas_and_change(void **state)
{
    fixture *f = *state;
    int64_t ch = 0;
    uint8_t old[16];
    bool had = true;
    kw_store_record r = rec("z", 1, 1), got;
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 10, &ch, old, &had), KW_OK);
    assert_int_equal(ch, 1);
    assert_false(had);
    /* the same version again, or one that skips: conflicts, nothing changes */
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 11, &ch, old, &had), KW_ERR_CONFLICT);
    r.version = 3;
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 11, &ch, old, &had), KW_ERR_CONFLICT);
    r.version = 2;
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 12, &ch, old, &had), KW_OK);
    assert_int_equal(ch, 2);
    assert_int_equal(kw_store_record_get(f->st, f->acc, "notes", "z", r.id, &got), KW_OK);
    assert_int_equal(got.version, 2);
    assert_int_equal(got.change, 2);
    assert_int_equal(got.content_size, sizeof(content));
    assert_memory_equal(got.content, content, sizeof(content));
    kw_store_record_clear(&got);
    /* another account sees nothing */
    assert_int_equal(kw_store_record_get(f->st, f->acc + 1, "notes", "z", r.id, &got), KW_ERR_NOT_FOUND);
    /* delete: only at the current version */
    assert_int_equal(kw_store_record_delete(f->st, f->acc, "notes", "z", r.id, 1, &ch, old, &had),
                     KW_ERR_CONFLICT);
    assert_int_equal(kw_store_record_delete(f->st, f->acc, "notes", "z", r.id, 2, &ch, old, &had), KW_OK);
    assert_int_equal(ch, 3);
    assert_int_equal(kw_store_record_get(f->st, f->acc, "notes", "z", r.id, &got), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_record_delete(f->st, f->acc, "notes", "z", r.id, 2, &ch, old, &had),
                     KW_ERR_NOT_FOUND);
    /* argument rules */
    r = rec("z", 2, 1);
    r.meta_len = KW_STORE_REC_META_MAX + 1;
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 1, &ch, old, &had), KW_ERR_TOO_LARGE);
    r = rec("z", 2, 1);
    r.has_ref = true; /* both inline content and a ref */
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 1, &ch, old, &had), KW_ERR_INVALID_ARG);
    r = rec("", 2, 1);
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 1, &ch, old, &had), KW_ERR_INVALID_ARG);
}

static void test_paging(void **state)
{
    fixture *f = *state;
    int64_t ch = 0;
    uint8_t old[16];
    bool had;
    for (uint8_t i = 0; i < 25; i++) {
        kw_store_record r = rec("p", (uint8_t)(200 - i * 7), 1);
        assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 1, &ch, old, &had), KW_OK);
    }
    kw_store_record *list = NULL;
    size_t n = 0, total = 0;
    uint8_t after[16], prev[16];
    bool has_after = false;
    memset(prev, 0, 16);
    for (int page = 0; page < 10; page++) {
        assert_int_equal(kw_store_record_list(f->st, f->acc, "notes", "p", has_after ? after : NULL, 10, &list, &n, &ch),
                         KW_OK);
        assert_int_equal(ch, 25);
        for (size_t i = 0; i < n; i++) {
            assert_true(total == 0 || memcmp(prev, list[i].id, 16) < 0);
            memcpy(prev, list[i].id, 16);
            assert_null(list[i].content); /* listings carry no content */
            total++;
        }
        if (n > 0) {
            memcpy(after, list[n - 1].id, 16);
            has_after = true;
        }
        size_t got = n;
        kw_store_record_free_list(&list, n);
        if (got < 10)
            break;
    }
    assert_int_equal(total, 25);
    assert_int_equal(kw_store_record_list(f->st, f->acc, "notes", "p", NULL, KW_STORE_REC_LIST_MAX + 1, &list, &n, &ch),
                     KW_ERR_TOO_LARGE);
    assert_int_equal(kw_store_record_list(f->st, f->acc, "notes", "empty", NULL, 5, &list, &n, &ch), KW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ch, 0);
    kw_store_record_free_list(&list, n);
}

static void test_uploads(void **state)
{
    fixture *f = *state;
    int64_t ch = 0, owner = 0, nch = 0;
    uint8_t old[16];
    bool had;
    kw_store_upload up;
    memset(&up, 0, sizeof(up));
    memset(up.ref, 0xaa, 16);
    up.account_id = f->acc;
    snprintf(up.category, sizeof(up.category), "drive");
    snprintf(up.zone, sizeof(up.zone), "u");
    memset(up.id, 7, 16);
    up.version = 2; /* the record does not exist: 1 is next */
    up.created_at = 100;
    assert_int_equal(kw_store_record_upload_create(f->st, &up), KW_ERR_CONFLICT);
    up.version = 1;
    assert_int_equal(kw_store_record_upload_create(f->st, &up), KW_OK);
    assert_int_equal(kw_store_record_upload_create(f->st, &up), KW_ERR_CONFLICT); /* same ref */
    kw_store_upload got;
    assert_int_equal(kw_store_record_upload_get(f->st, up.ref, &got), KW_OK);
    assert_int_equal(got.account_id, f->acc);
    assert_string_equal(got.zone, "u");
    /* a chunked content is not visible before the commit */
    assert_int_equal(kw_store_record_ref_owner(f->st, up.ref, &owner, &nch), KW_ERR_NOT_FOUND);
    /* commit through put with the ref: for another id it is refused */
    kw_store_record r = rec("u", 8, 1);
    snprintf(r.category, sizeof(r.category), "drive");
    r.content = NULL;
    r.content_size = 0;
    r.has_ref = true;
    memcpy(r.ref, up.ref, 16);
    r.nchunks = 3;
    r.content_len = 3000;
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 1, &ch, old, &had), KW_ERR_CONFLICT);
    memset(r.id, 7, 16);
    assert_int_equal(kw_store_record_put(f->st, f->acc + 5, &r, 1, &ch, old, &had), KW_ERR_NOT_FOUND);
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 1, &ch, old, &had), KW_OK);
    assert_int_equal(kw_store_record_upload_get(f->st, up.ref, &got), KW_ERR_NOT_FOUND); /* consumed */
    assert_int_equal(kw_store_record_ref_owner(f->st, up.ref, &owner, &nch), KW_OK);
    assert_int_equal(owner, f->acc);
    assert_int_equal(nch, 3);
    /* version 2 from a second upload replaces the ref, reported as old */
    memset(up.ref, 0xbb, 16);
    up.version = 2;
    assert_int_equal(kw_store_record_upload_create(f->st, &up), KW_OK);
    memcpy(r.ref, up.ref, 16);
    r.version = 2;
    assert_int_equal(kw_store_record_put(f->st, f->acc, &r, 2, &ch, old, &had), KW_OK);
    assert_true(had);
    uint8_t aa[16];
    memset(aa, 0xaa, 16);
    assert_memory_equal(old, aa, 16);
    /* refs: the live record's and young uploads'; old uploads are dropped */
    memset(up.ref, 0xcc, 16);
    up.version = 3;
    up.created_at = 50;
    assert_int_equal(kw_store_record_upload_create(f->st, &up), KW_OK);
    uint8_t(*refs)[16] = NULL;
    size_t n = 0;
    assert_int_equal(kw_store_record_refs(f->st, 0, &refs, &n), KW_OK);
    assert_int_equal(n, 2);
    free(refs);
    assert_int_equal(kw_store_record_refs(f->st, 60, &refs, &n), KW_OK);
    assert_int_equal(n, 1); /* the 0xcc upload expired */
    uint8_t bb[16];
    memset(bb, 0xbb, 16);
    assert_memory_equal(refs[0], bb, 16);
    free(refs);
    assert_int_equal(kw_store_record_upload_get(f->st, up.ref, &got), KW_ERR_NOT_FOUND);
}

static void test_keychain_and_reopen(void **state)
{
    fixture *f = *state;
    static const uint8_t kc2[] = "keychain-v2";
    assert_int_equal(kw_store_record_keychain_put(f->st, f->acc, 3, kc2, sizeof(kc2)), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_record_keychain_put(f->st, f->acc, 2, kc2, sizeof(kc2)), KW_OK);
    assert_int_equal(kw_store_record_keychain_put(f->st, f->acc, 2, kc2, sizeof(kc2)), KW_ERR_CONFLICT);
    assert_int_equal(kw_store_record_keychain_put(f->st, f->acc + 9, 2, kc2, sizeof(kc2)), KW_ERR_NOT_FOUND);
    kw_store_close(&f->st);
    assert_int_equal(kw_store_open(f->uri, &f->st), KW_OK);
    int64_t v = 0;
    uint8_t *b = NULL;
    size_t len = 0;
    assert_int_equal(kw_store_keychain_get(f->st, f->acc, &v, &b, &len), KW_OK);
    assert_int_equal(v, 2);
    assert_memory_equal(b, kc2, sizeof(kc2));
    free(b);
    kw_store_record *list = NULL;
    size_t n = 0;
    int64_t ch = 0;
    assert_int_equal(kw_store_record_list(f->st, f->acc, "notes", "p", NULL, 100, &list, &n, &ch), KW_OK);
    assert_int_equal(n, 25);
    kw_store_record_free_list(&list, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cas_and_change),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_uploads),
        cmocka_unit_test(test_keychain_and_reopen),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
