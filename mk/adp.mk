# ADP (issue 7): the integration test checks the server's database directly
# (custody copies gone under ADP, escrow destroyed after 10 wrong passcodes).
$(BUILD)/tests/integration/test_adp: LDLIBS_TEST += -lsqlite3
# The custody fuzz target #includes the custody sources: rebuild it when they change.
$(BUILD)/fuzz/fuzz_server_custody: $(wildcard server/custody/*.c server/custody/*.h)
