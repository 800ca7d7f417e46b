#!/usr/bin/env bash
# make purge: runs the scheduled purge once, as a Lambda process fed events/purge.json, against
# the stack `make dev` started (same moto, same table); prints its logs and its answer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/dev-env.sh
scripts/venv.sh
if ! .venv/bin/python -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/', timeout=1)" 2>/dev/null; then
  echo "Nothing answers on $AWS_ENDPOINT_URL: start the stack with \`make dev\` first." >&2
  exit 1
fi
cargo build -p purge -p local-api
target/debug/local-api invoke purge events/purge.json
