#!/usr/bin/env bash
# make bench: every operation against a moto of its own; prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/with-moto.sh cargo bench -p local-api --bench operations
