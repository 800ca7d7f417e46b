#!/usr/bin/env bash
# Installs Auth0's Node SDK for the /api/v2 tests, as package-lock.json pins it, unless it is
# there and current.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/local/tests/sdk/node"
stamp="$dir/node_modules/.package-lock.stamp"
if [ -d "$dir/node_modules/auth0" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed for the Auth0 Node SDK tests" >&2; exit 1; }
echo "installing $dir (auth0, pinned)..." >&2
npm ci --prefix "$dir" --no-audit --no-fund --silent
cp "$dir/package-lock.json" "$stamp"
