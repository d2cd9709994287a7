#include "keyward/keyward.h"

#include <sodium.h>

int kw_init(void)
{
    return sodium_init() < 0 ? KW_ERR_CRYPTO : KW_OK;
}
