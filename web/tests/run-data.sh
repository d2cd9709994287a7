#!/usr/bin/env bash
# Browser tests of the page's "Data" view (web access under ADP):
# web/tests/data.test.mjs starts its own keywardd (with --test-faults, to
# restart it with the clock an hour ahead) on a temporary data directory and
# drives headless Chromium; the real keyward CLI is the trusted device.
# Prints cmocka-style "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)"
# and exits non-zero on failure. Environment: KEYWARD_BIN_DIR (binaries),
# KEYWARD_BUILD (screenshots go to $KEYWARD_BUILD/artifacts/web).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${KEYWARD_BIN_DIR:-$root/build/bin}
build=${KEYWARD_BUILD:-$root/build}
fail() { echo "[  ERROR   ] web data: $*"; echo "[  FAILED  ] 1 test(s), listed above."; exit 1; }

command -v node >/dev/null || fail "node is not installed (make deps)"
[ -x "${KW_CHROMIUM:-/usr/bin/chromium}" ] || fail "chromium is not installed (make deps)"
if [ ! -d "$root/web/node_modules/@hpke/core" ] || [ ! -f "$root/web/opaque.js" ] ||
   [ ! -f "$root/web/kwcrypto.js" ] || [ "$root/web/src/kwcrypto.mjs" -nt "$root/web/kwcrypto.js" ]; then
    sh "$root/scripts/deps.d/web.sh" >/dev/null || fail "npm packages missing and npm ci failed"
fi
[ -x "$bin/keywardd" ] && [ -x "$bin/keyward" ] || fail "no keywardd/keyward in $bin"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyward-webdata.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
KW_BIN="$bin" KW_WEB_DIR="$root/web" KW_ARTIFACTS="$build/artifacts/web" KW_TMP="$tmp" \
    node "$here/data.test.mjs"
