#!/usr/bin/env bash
# make bench: every operation against a moto of its own (a Markdown table for BENCHMARKS.md),
# then each function's cold start against the floor's, then argon2id against Debian's
# `argon2` tool, then the deploy build's time and sizes (docs/performance.md); exits non-zero
# when a figure misses its budget, after running every step.
set -euo pipefail
cd "$(dirname "$0")/.."
# The argon2id budget is relative to Debian's reference tool (package argon2), installed
# here when missing, as scripts/browser.sh installs Chromium: no tool, no figure.
if [ ! -x /usr/bin/argon2 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "make bench: /usr/bin/argon2 is missing: run as root, or apt-get install argon2" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq argon2 >/dev/null
fi
scripts/with-moto.sh cargo bench -p local-api --bench operations
echo "== cold starts (release binaries)"
cargo build --release --workspace --bins
status=0
scripts/with-moto.sh cargo bench -p local-api --bench coldstart || status=1
echo "== argon2id against Debian's argon2 (release profile)"
cargo run --release --quiet -p argon-bench || status=1
echo "== deploy build (sam build from clean, then after a one-line change; arm64 sizes)"
scripts/bench-build.sh || status=1
exit $status
