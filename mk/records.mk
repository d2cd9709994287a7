# Records (issue 7): the records benchmark (bench/bench_records.c) drives a
# real keywardd through the client library, hence libcurl for the bench
# binary; its nginx baseline comes from scripts/deps.d/records.packages.
$(BUILD)/bench/bench: LDLIBS_LIB += -lcurl
