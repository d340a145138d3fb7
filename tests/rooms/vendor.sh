#!/usr/bin/env bash
# Copies the Socket.io browser client pinned by package-lock.json into the
# room server's assets (rooms/web/vendor/), where the server builds it in.
# Run after changing the client's version in package.json.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
cp node_modules/socket.io-client/dist/socket.io.min.js ../../rooms/web/vendor/
cp node_modules/socket.io-client/LICENSE ../../rooms/web/vendor/socket.io-client.LICENSE
echo "vendored socket.io-client $(node -p 'require("./node_modules/socket.io-client/package.json").version')"
