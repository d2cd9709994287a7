# Key transparency, library side (issue 5): bench/bench_kt_dir.c measures
# publishing end to end, with the store writes keywardd does per update and
# per epoch (store/kt.h on the SQLite store in a temporary directory), so
# the bench binary links the server archive (only store/ gets pulled in)
# and the server's libraries; -Iserver for store/kt.h, for the bench only.
$(BUILD)/bench/bench: $(SRV_A)
$(BUILD)/bench/bench: private override CFLAGS += -Iserver
$(BUILD)/bench/bench: private LDLIBS_LIB += $(SRV_A) $(LIB_A) -lsqlite3 -lpq -lmicrohttpd \
    -ljansson -lcrypto -lcurl -lsodium -lpthread
