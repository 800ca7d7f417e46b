#!/usr/bin/env bash
# make bench: every operation against its own moto; prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/local-env.sh
scripts/venv.sh
state=$(mktemp -d)
cleanup() { scripts/moto.sh stop "$state/moto.pid"; rm -rf "$state"; }
trap cleanup EXIT
port=$(.venv/bin/python scripts/free-port.py)
scripts/moto.sh start "$port" "$state/moto.pid" "$state/moto.log"
MOTO_ENDPOINT=http://127.0.0.1:$port cargo bench -p local-api --bench operations
