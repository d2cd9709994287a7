#!/bin/sh
# The web page's npm packages (web/package-lock.json): the OPAQUE client the
# page ships (@serenity-kit/opaque, copied to web/opaque.js, which keywardd
# serves at /web/opaque.js) and playwright-core for the browser tests.
# Idempotent: npm ci runs only when node_modules is missing or older than
# the lock file.
set -eu
if ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "deps(web): installing npm"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm
fi
web=$(cd "$(dirname "$0")/../../web" && pwd)
cd "$web"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
   [ ! -f node_modules/.package-lock.json ]; then
    echo "deps(web): npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi
src=node_modules/@serenity-kit/opaque/esm/index.js
if [ ! -f opaque.js ] || ! cmp -s "$src" opaque.js; then
    cp "$src" opaque.js.tmp && mv opaque.js.tmp opaque.js
    echo "deps(web): web/opaque.js from @serenity-kit/opaque $(node -p "require('./node_modules/@serenity-kit/opaque/package.json').version")"
fi
