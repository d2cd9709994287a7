/* The "record" store suite (test_store_record.c, unchanged) on PostgreSQL
 * when KEYWARD_TEST_STORE_URI names it (scripts/test-pg); on SQLite otherwise. */
#include "pg_reuse.h"

#include "test_store_record.c"
