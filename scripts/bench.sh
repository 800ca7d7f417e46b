#!/usr/bin/env bash
# make bench: every operation against a moto of its own (a Markdown table for BENCHMARKS.md),
# then each function's cold start against the floor's (docs/performance.md); exits non-zero
# when a figure misses its budget.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/with-moto.sh cargo bench -p local-api --bench operations
echo "== cold starts (release binaries)"
cargo build --release --workspace --bins
scripts/with-moto.sh cargo bench -p local-api --bench coldstart
