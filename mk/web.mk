# The account-security web page (web/, server/api/web.c): its browser tests
# run in headless Chromium (web/tests/run.sh; packages in
# scripts/deps.d/web.packages, npm packages by scripts/deps.d/web.sh);
# web/tests/run-data.sh: the "Data" view (web access under ADP).
EXTRA_TESTS += web/tests/run.sh web/tests/run-data.sh

.PHONY: web-test
web-test: programs
	@KEYWARD_BIN_DIR="$(abspath $(BUILD)/bin)" KEYWARD_BUILD="$(abspath $(BUILD))" ./web/tests/run.sh
	@KEYWARD_BIN_DIR="$(abspath $(BUILD)/bin)" KEYWARD_BUILD="$(abspath $(BUILD))" ./web/tests/run-data.sh
