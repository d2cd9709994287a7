# ADP (issue 7): the integration test checks the server's database directly
# (custody copies gone under ADP, escrow destroyed after 10 wrong passcodes).
$(BUILD)/tests/integration/test_adp: LDLIBS_TEST += -lsqlite3
