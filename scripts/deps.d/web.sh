#!/bin/sh
# The web page's npm packages (web/package-lock.json): the OPAQUE client the
# page ships (@serenity-kit/opaque, copied to web/opaque.js, which keywardd
# serves at /web/opaque.js), the HPKE and XChaCha20-Poly1305 code of web
# access under ADP (@hpke/core, @hpke/dhkem-x25519, @hpke/chacha20poly1305,
# @noble/ciphers, bundled from web/src/kwcrypto.mjs into web/kwcrypto.js by
# esbuild) and playwright-core for the browser tests.
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
# the page's crypto module: one file (keywardd serves a flat directory)
if [ ! -f kwcrypto.js ] || [ src/kwcrypto.mjs -nt kwcrypto.js ] || [ package-lock.json -nt kwcrypto.js ]; then
    ./node_modules/.bin/esbuild src/kwcrypto.mjs --bundle --format=esm --platform=browser --target=es2022 \
        --outfile=kwcrypto.js.tmp --log-level=warning
    mv kwcrypto.js.tmp kwcrypto.js
    echo "deps(web): web/kwcrypto.js bundled"
fi
