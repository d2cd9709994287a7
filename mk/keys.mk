# Security keys (issue 4): the client-side options fuzz target links the
# client library's HTTP layer, hence libcurl (the generic fuzz rule does not).
$(BUILD)/fuzz/fuzz_seckey_options: fuzz/fuzz_seckey_options.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined $< $(LIB_A) $(LDLIBS_LIB) -lcurl -o $@
