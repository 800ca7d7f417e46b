#!/usr/bin/env bash
# Every function's arm64 `bootstrap`, in one cargo-lambda run over the workspace:
# target/lambda/<function>/bootstrap. sam build calls it once per function through
# deploy/Makefile; after the first call cargo finds nothing to do. Needs cargo-lambda (which
# brings zig) on PATH: docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-lambda >/dev/null; then
  echo "cargo-lambda is not on PATH: pip install cargo-lambda (docs/deploy.md)" >&2
  exit 1
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
  || rustup target add aarch64-unknown-linux-gnu
exec cargo lambda build --release --arm64 --workspace --exclude local-api --exclude floor "$@"
