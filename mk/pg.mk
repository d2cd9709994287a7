# PostgreSQL backend (server/store/postgres*.c): libpq for keywardd and the
# server unit tests. Tests: scripts/test-backup (online backup/restore on the
# default SQLite store) and scripts/test-pg (the store suite, integration
# scenarios, several nodes and backup/restore against a throwaway cluster,
# scripts/pg-cluster). `make loadtest`: scripts/loadtest with the load
# generator tests/load/loadgen.c (two nodes on PostgreSQL, loopback only).
LDLIBS_SRV += -lpq
override CFLAGS += $(shell pkg-config --cflags-only-I libpq 2>/dev/null)
EXTRA_TESTS += scripts/test-backup scripts/test-pg

LOADGEN := $(BUILD)/bin/kw-loadgen

$(LOADGEN): tests/load/loadgen.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CFLAGS_HARDEN) $< $(LIB_A) $(LDFLAGS) -lcurl $(LDLIBS_TEST) -lpthread -o $@

.PHONY: loadtest
loadtest: programs $(LOADGEN)
	@KEYWARD_BIN_DIR="$(abspath $(BUILD)/bin)" ./scripts/loadtest
