# The guided demo of `make run` (scripts/demo): its smoke test runs the whole
# demo with --exit on a free port (tests/scripts/test-demo, about 15-40 s)
# plus three tampered runs that must stop it; `make demo-test` runs it alone.
EXTRA_TESTS += tests/scripts/test-demo

.PHONY: demo-test
demo-test: programs
	@KEYWARD_BUILD="$(abspath $(BUILD))" ./tests/scripts/test-demo
