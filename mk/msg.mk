# End-to-end messages (issue 6): sources, tests and the relay benchmark are
# picked up by the Makefile's wildcards (lib/wire/envelope.c,
# lib/client/messages.c, server/api/messages.c, server/store/*msg.c,
# tests/unit/wire/test_envelope.c, tests/integration/test_messages.c,
# tests/attacks/test_message_replay.c, bench/bench_relay.c,
# fuzz/fuzz_envelope.c). The relay benchmark's baseline needs redis-server
# and redis-benchmark (scripts/deps.d/msg.packages); it starts and stops its
# own redis-server and keywardd.
#   make bench-relay    only the relay benchmark (part of `make bench`)
.PHONY: bench-relay
bench-relay: deps programs
	@$(MAKE) --no-print-directory $(BUILD)/bench/bench
	@KEYWARD_BIN_DIR="$(abspath $(BUILD)/bin)" ./$(BUILD)/bench/bench relay
