#!/usr/bin/env bash
# make test: its own moto on a free port (so it runs beside make dev), cfn-lint, every
# binary built, then every test of the workspace. Stops what it started.
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

echo "== cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml

echo "== cargo build --workspace --bins (the Lambda processes the runtime tests start)"
cargo build --workspace --bins

echo "== cargo test --workspace"
cargo test --workspace --no-fail-fast "$@"
