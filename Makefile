# keyward — the one entry point.
#   make run     install deps, build, start what exists of the system
#   make test    install deps, build, run every test (unit + vectors)
#   make asan    the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz    build the libFuzzer targets and run each for FUZZ_SECONDS
#   make bench   benchmarks with in-run baselines

CC        ?= cc
BUILD     ?= build
FUZZ_SECONDS ?= 20
# Where the shared vectors live: ../shared/vectors when this checkout sits
# beside it, else the copy kept in tests/vectors/data. Tests also read every
# folder listed in KEYWARD_VECTORS (colon-separated).
SHARED_VECTORS ?= $(abspath $(if $(wildcard ../shared/vectors/README.md),../shared/vectors,tests/vectors/data))

PKGS      := libsodium jansson cmocka
WARN      := -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
	         -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
HARDEN    := -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2
OPT       ?= -O2 -g
# SAN carries sanitizer/fuzzer flags for `make asan` / `make fuzz`; CFLAGS
# from the command line is added on top, never replacing the base flags.
SAN       ?=
override CFLAGS += -std=c17 -D_DEFAULT_SOURCE $(OPT) $(WARN) -Iinclude -Ilib $(SAN)
CFLAGS_HARDEN ?= $(HARDEN)
LDLIBS_LIB := $(shell pkg-config --libs libsodium 2>/dev/null || echo -lsodium) -lcrypto -lfido2 -lcbor -ljansson
LDLIBS_TEST := $(LDLIBS_LIB) -ljansson -lcmocka

LIB_SRC   := $(sort $(wildcard lib/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A     := $(BUILD)/libkeyward.a

# keywardd: everything under server/ but main.c forms an internal archive so
# the server's unit tests can link it.
SRV_SRC   := $(sort $(filter-out server/main.c,$(wildcard server/*.c server/*/*.c)))
SRV_OBJ   := $(SRV_SRC:%.c=$(BUILD)/%.o)
SRV_A     := $(BUILD)/libkeywardd.a
LDLIBS_SRV := -lsqlite3 -lmicrohttpd -ljansson -lcrypto -lpthread -lcurl
KEYWARDD  := $(BUILD)/bin/keywardd

# keyward, the CLI: uses only the public library API.
CLI_SRC   := $(sort $(wildcard cli/*.c))
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
LDLIBS_CLI := -lcurl -ljansson
KEYWARD   := $(BUILD)/bin/keyward

UNIT_SRC  := $(sort $(wildcard tests/unit/core/test_*.c tests/unit/crypto/test_*.c tests/unit/kt/test_*.c tests/unit/wire/test_*.c tests/unit/client/test_*.c tests/unit/webauthn/test_*.c))
UNIT_BIN  := $(UNIT_SRC:%.c=$(BUILD)/%)
SRV_TEST_SRC := $(sort $(wildcard tests/unit/server/test_*.c))
SRV_TEST_BIN := $(SRV_TEST_SRC:%.c=$(BUILD)/%)
INTEG_SRC := $(sort $(wildcard tests/integration/test_*.c tests/attacks/test_*.c))
INTEG_BIN := $(INTEG_SRC:%.c=$(BUILD)/%)
VEC_SRC   := $(sort $(wildcard tests/vectors/test_*.c))
VEC_BIN   := $(VEC_SRC:%.c=$(BUILD)/%)
VEC_UTIL  := $(BUILD)/tests/vectors/vecutil.o

# Areas extend the build in mk/<area>.mk: extra link libraries for the
# server (LDLIBS_SRV += ...), extra test commands run by check-tests after the
# binaries (EXTRA_TESTS += path; each prints cmocka-style "[  PASSED  ] N
# test(s)." / "[  FAILED  ] N test(s)" lines and exits non-zero on failure),
# and their own targets.
EXTRA_TESTS :=
-include $(sort $(wildcard mk/*.mk))

FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN  := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all lib programs tests deps run test asan fuzz bench clean check-tests

all: lib programs tests $(BUILD)/bench/bench

programs: $(if $(wildcard server/main.c),$(KEYWARDD)) $(if $(CLI_SRC),$(KEYWARD))

deps:
	@./scripts/deps

lib: $(LIB_A)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CFLAGS_HARDEN) -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

tests: programs $(UNIT_BIN) $(VEC_BIN) $(SRV_TEST_BIN) $(INTEG_BIN)

$(BUILD)/server/%.o: server/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver $(CFLAGS_HARDEN) -MMD -MP -c $< -o $@

$(SRV_A): $(SRV_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(KEYWARDD): server/main.c $(SRV_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver $(CFLAGS_HARDEN) $< $(SRV_A) $(LIB_A) $(LDFLAGS) $(LDLIBS_SRV) $(LDLIBS_LIB) -o $@

$(KEYWARD): $(CLI_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CLI_OBJ) $(LIB_A) $(LDFLAGS) $(LDLIBS_CLI) $(LDLIBS_LIB) -o $@

$(BUILD)/tests/unit/server/%: tests/unit/server/%.c $(SRV_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver $(CFLAGS_HARDEN) $< $(SRV_A) $(LIB_A) $(LDFLAGS) $(LDLIBS_SRV) $(LDLIBS_TEST) -o $@

$(BUILD)/tests/integration/%: tests/integration/%.c $(LIB_A) programs
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/integration $(CFLAGS_HARDEN) $< $(wildcard tests/integration/util/*.c) $(LIB_A) $(LDFLAGS) -lcurl $(LDLIBS_TEST) -o $@

# Attack tests play the lying server (editing its database or using its
# test-only fault hooks) against the real CLI, through the integration harness.
$(BUILD)/tests/attacks/%: tests/attacks/%.c $(LIB_A) programs
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/integration $(CFLAGS_HARDEN) $< $(wildcard tests/integration/util/*.c) $(LIB_A) $(LDFLAGS) -lcurl -lsqlite3 $(LDLIBS_TEST) -o $@

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CFLAGS_HARDEN) $< $(LIB_A) $(LDFLAGS) $(LDLIBS_TEST) -o $@

$(BUILD)/tests/vectors/%: tests/vectors/%.c $(VEC_UTIL) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CFLAGS_HARDEN) -Itests/vectors $< $(VEC_UTIL) $(LIB_A) $(LDFLAGS) $(LDLIBS_TEST) -o $@

$(BUILD)/bench/bench: $(wildcard bench/*.c) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CFLAGS_HARDEN) -O3 $(wildcard bench/*.c) $(LIB_A) $(LDFLAGS) $(LDLIBS_LIB) -lpthread -o $@

check-tests: tests
	@KEYWARD_SHARED_VECTORS="$(SHARED_VECTORS)" KEYWARD_BIN_DIR="$(abspath $(BUILD)/bin)" KEYWARD_BUILD="$(abspath $(BUILD))" ./scripts/run-tests $(BUILD) $(UNIT_BIN) $(VEC_BIN) $(SRV_TEST_BIN) $(INTEG_BIN) $(EXTRA_TESTS)

test: deps
	@$(MAKE) --no-print-directory check-tests

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
	    CFLAGS_HARDEN="-fPIC" \
	    LDFLAGS="-fsanitize=address,undefined" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" check-tests

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT="-O1 -g" CFLAGS_HARDEN="-fPIC" \
	    SAN="-fsanitize=fuzzer-no-link,address,undefined" fuzz-run

.PHONY: fuzz-run
fuzz-run: $(FUZZ_BIN)
	@./scripts/run-fuzz $(FUZZ_SECONDS) $(FUZZ_BIN)

$(BUILD)/fuzz/%: fuzz/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined $< $(LIB_A) $(LDLIBS_LIB) -o $@

# Server-side parsers (config file, key file, request path router): the
# fuzz_server_* targets compile the server sources they exercise next to
# libkeyward. fuzz_server_http #includes server/http/http.c itself (its path
# splitter and route matcher are static), so http.c is a prerequisite here
# but not compiled a second time.
FUZZ_SRV_SRC := server/config.c server/keys.c
LDLIBS_FUZZ_SRV := -lmicrohttpd -ljansson -lsqlite3 -lpthread

$(BUILD)/fuzz/fuzz_server_%: fuzz/fuzz_server_%.c $(FUZZ_SRV_SRC) server/http/http.c \
	    $(wildcard server/*.h server/*/*.h) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver -fsanitize=fuzzer,address,undefined $< $(FUZZ_SRV_SRC) $(LIB_A) \
	    $(LDLIBS_LIB) $(LDLIBS_FUZZ_SRV) -o $@

bench: deps programs
	@$(MAKE) --no-print-directory $(BUILD)/bench/bench
	@./$(BUILD)/bench/bench

run: deps
	@$(MAKE) --no-print-directory all
	@./scripts/demo $(BUILD)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(SRV_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
.SECONDARY:
