/* libFuzzer target: the roster decoder (keyward/roster.h) on
 * attacker-controlled bytes.
 *
 * Checks: only TRUNCATED / TOO_LARGE / FORMAT come back from the
 * unverified decode, and a failed decode leaves the struct zeroed; a
 * decoded roster is canonical (its encoding has exactly the input's
 * length) and within every limit; kw_roster_open under the fixed account
 * key (the seeds in fuzz/corpus/roster/ are signed by it) agrees with
 * decode + verify and yields VERIFY or OK only for inputs that decode;
 * find and diff run on whatever decoded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward/err.h"
#include "keyward/keyward.h"
#include "keyward/roster.h"
#include "keyward/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds were signed with the key of this seed; changing it makes them
 * stale (they then only reach KW_ERR_VERIFY). */
static const uint8_t account_seed[32] = "keyward fuzz roster account key";
static uint8_t account_pk[32];
static kw_roster *r1, *r2, *zero;

static void setup_once(void)
{
    static int done;
    kw_sign_key *k = NULL;
    if (done)
        return;
    if (kw_init() != KW_OK || kw_sign_key_from_seed(&k, account_seed) != KW_OK)
        abort();
    kw_sign_key_public(k, account_pk);
    kw_sign_key_free(&k);
    r1 = malloc(sizeof(*r1));
    r2 = malloc(sizeof(*r2));
    zero = calloc(1, sizeof(*zero));
    if (r1 == NULL || r2 == NULL || zero == NULL)
        abort();
    done = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    memset(r1, 0xa5, sizeof(*r1));
    int d = kw_roster_decode_unverified(r1, data, size);
    if (d != KW_OK) {
        if (d != KW_ERR_TRUNCATED && d != KW_ERR_TOO_LARGE && d != KW_ERR_FORMAT)
            abort();
        if (memcmp(r1, zero, sizeof(*r1)) != 0)
            abort();
    } else {
        if (kw_roster_encoded_len(r1) != size || r1->ndevices == 0 ||
            r1->ndevices > KW_ROSTER_DEVICES_MAX || r1->name_len == 0 ||
            r1->name_len > KW_ROSTER_NAME_MAXBYTES || r1->name[r1->name_len] != '\0' ||
            (r1->flags & ~KW_ROSTER_FLAGS_KNOWN) != 0)
            abort();
        for (size_t i = 0; i < r1->ndevices; i++)
            if (kw_roster_find(r1, r1->devices[i].id) != &r1->devices[i] ||
                kw_roster_find_hpke(r1, r1->devices[i].hpke_pk) != &r1->devices[i])
                abort();
    }
    int o = kw_roster_open(r2, data, size, account_pk);
    if (d != KW_OK) {
        if (o != d)
            abort();
    } else {
        int v = kw_roster_verify(r1, account_pk);
        if ((v != KW_OK && v != KW_ERR_VERIFY) || o != v)
            abort();
        if (o == KW_OK) {
            if (memcmp(r1, r2, sizeof(*r1)) != 0)
                abort();
            kw_roster_changes ch;
            kw_roster_diff(&ch, r1, r2);
            if (ch.nadded + ch.nremoved + ch.nchanged != 0)
                abort();
        }
    }
    if (o != KW_OK && memcmp(r2, zero, sizeof(*r2)) != 0)
        abort();
    return 0;
}
