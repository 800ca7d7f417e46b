#!/usr/bin/env bash
# scripts/with-moto.sh CMD...: runs CMD with MOTO_ENDPOINT pointing at a moto of its own on a
# free port (so it runs beside make dev), and stops that moto afterwards whatever happens.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/local-env.sh
unset AWS_ENDPOINT_URL
scripts/venv.sh
state=$(mktemp -d)
cleanup() { scripts/moto.sh stop "$state/moto.pid"; rm -rf "$state"; }
trap cleanup EXIT
port=$(.venv/bin/python scripts/free-port.py)
scripts/moto.sh start "$port" "$state/moto.pid" "$state/moto.log"
export MOTO_ENDPOINT=http://127.0.0.1:$port
"$@"
