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
CFLAGS    += -std=c17 -D_DEFAULT_SOURCE $(OPT) $(WARN) -Iinclude -Ilib
CFLAGS_HARDEN ?= $(HARDEN)
LDLIBS_LIB := $(shell pkg-config --libs libsodium 2>/dev/null || echo -lsodium)
LDLIBS_TEST := $(LDLIBS_LIB) -ljansson -lcmocka

LIB_SRC   := $(sort $(wildcard lib/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A     := $(BUILD)/libkeyward.a

UNIT_SRC  := $(sort $(wildcard tests/unit/*/test_*.c))
UNIT_BIN  := $(UNIT_SRC:%.c=$(BUILD)/%)
VEC_SRC   := $(sort $(wildcard tests/vectors/test_*.c))
VEC_BIN   := $(VEC_SRC:%.c=$(BUILD)/%)
VEC_UTIL  := $(BUILD)/tests/vectors/vecutil.o

FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN  := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all lib tests deps run test asan fuzz bench clean check-tests

all: lib tests $(BUILD)/bench/bench

deps:
	@./scripts/deps

lib: $(LIB_A)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CFLAGS_HARDEN) -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

tests: $(UNIT_BIN) $(VEC_BIN)

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
	@KEYWARD_SHARED_VECTORS="$(SHARED_VECTORS)" ./scripts/run-tests $(BUILD) $(UNIT_BIN) $(VEC_BIN)

test: deps
	@$(MAKE) --no-print-directory check-tests

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
	    CFLAGS_HARDEN="-fPIC" \
	    LDFLAGS="-fsanitize=address,undefined" \
	    CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" check-tests

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT="-O1 -g" CFLAGS_HARDEN="-fPIC" \
	    CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" fuzz-run

.PHONY: fuzz-run
fuzz-run: $(FUZZ_BIN)
	@./scripts/run-fuzz $(FUZZ_SECONDS) $(FUZZ_BIN)

$(BUILD)/fuzz/%: fuzz/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined $< $(LIB_A) $(LDLIBS_LIB) -o $@

bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/bench/bench
	@./$(BUILD)/bench/bench

run: deps
	@$(MAKE) --no-print-directory all
	@./scripts/demo $(BUILD)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d)
