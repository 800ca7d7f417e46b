#!/usr/bin/env bash
# make test: cfn-lint, every binary built (the runtime tests start them as Lambda
# processes), then every test of the workspace against a moto of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
echo "== cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml
echo "== cargo build --workspace --bins"
cargo build --workspace --bins
echo "== cargo test --workspace"
scripts/with-moto.sh cargo test --workspace --no-fail-fast "$@"
