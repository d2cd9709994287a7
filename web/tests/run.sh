#!/usr/bin/env bash
# Browser tests of the account-security page: starts a real keywardd on a
# free port with a temporary data directory, creates an account (trusted
# device) and a second, pending device with the real keyward CLI, then runs
# web/tests/browser.test.mjs in headless Chromium (playwright-core + CDP
# virtual authenticators) against http://localhost:PORT. Everything started
# here is stopped on exit, also on failure. Prints cmocka-style
# "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)" and exits non-zero on
# failure. Environment: KEYWARD_BIN_DIR (binaries), KEYWARD_BUILD (the build
# directory; screenshots go to $KEYWARD_BUILD/artifacts/web).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${KEYWARD_BIN_DIR:-$root/build/bin}
build=${KEYWARD_BUILD:-$root/build}
fail() { echo "[  ERROR   ] web: $*"; echo "[  FAILED  ] 1 test(s), listed above."; exit 1; }

command -v node >/dev/null || fail "node is not installed (make deps)"
[ -x "${KW_CHROMIUM:-/usr/bin/chromium}" ] || fail "chromium is not installed (make deps)"
if [ ! -d "$root/web/node_modules/playwright-core" ] || [ ! -f "$root/web/opaque.js" ] ||
   [ ! -f "$root/web/kwcrypto.js" ] || [ "$root/web/src/kwcrypto.mjs" -nt "$root/web/kwcrypto.js" ]; then
    sh "$root/scripts/deps.d/web.sh" >/dev/null || fail "npm packages missing and npm ci failed"
fi
[ -x "$bin/keywardd" ] && [ -x "$bin/keyward" ] || fail "no keywardd/keyward in $bin"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyward-web.XXXXXX")
srv_pid=""
cleanup() {
    if [ -n "$srv_pid" ] && kill -0 "$srv_pid" 2>/dev/null; then
        kill -TERM "$srv_pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$srv_pid" 2>/dev/null
        wait "$srv_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$bin/keywardd" --data "$tmp/data" --listen 127.0.0.1:0 --port-file "$tmp/port" --threads 4 --quiet \
    --set webauthn.timeout_ms=10000 --set "web.dir=$root/web" >"$tmp/server.log" 2>&1 &
srv_pid=$!
for _ in $(seq 1 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/server.log"; fail "keywardd did not start"; }
port=$(cat "$tmp/port")
server="http://127.0.0.1:$port"

export KEYWARD_PASSPHRASE=web-test-passphrase KEYWARD_TEST_FAST_KDF=1
export KEYWARD_PASSWORD="web test password $$"
name="webuser$$"
cli() { "$bin/keyward" --server "$server" --json "$@"; }
cli --profile "$tmp/p1" account create "$name" --device-name laptop >/dev/null 2>"$tmp/cli.log" ||
    { cat "$tmp/cli.log"; fail "account create failed"; }
code=$(cli --profile "$tmp/p1" approval-code 2>>"$tmp/cli.log" | node -e \
    'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).code))') ||
    fail "approval-code failed"
cli --profile "$tmp/p2" login "$name" --approval-code "$code" --device-name phone >/dev/null 2>>"$tmp/cli.log" ||
    { cat "$tmp/cli.log"; fail "second device sign-in failed"; }

KW_BASE="http://localhost:$port" KW_NAME="$name" KW_PASSWORD="$KEYWARD_PASSWORD" KW_ARTIFACTS="$build/artifacts/web" \
KW_CLI="$bin/keyward" KW_SERVER_URL="$server" KW_PROFILE1="$tmp/p1" KW_PROFILE2="$tmp/p2" \
    node "$here/browser.test.mjs"
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "--- keywardd log (tail)"
    tail -n 30 "$tmp/server.log"
fi
exit "$rc"
