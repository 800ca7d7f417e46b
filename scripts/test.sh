#!/usr/bin/env bash
# make test: cfn-lint and the SAM transform's output (scripts/check-transform.py), the
# zxcvbn fork's tests against upstream, every binary built (the runtime tests start them as Lambda
# processes), then every test of the workspace against a moto of its own, then schemathesis
# against the local server (scripts/schemathesis.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
scripts/node-sdk.sh
scripts/browser.sh
echo "== cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml
echo "== template.yaml through the SAM transform"
.venv/bin/python scripts/check-transform.py
echo "== the zxcvbn fork against upstream zxcvbn (vendor/zxcvbn/FORK.md)"
cargo test --release --manifest-path vendor/zxcvbn/Cargo.toml
echo "== cargo build --workspace --bins"
cargo build --workspace --bins
echo "== cargo test --workspace"
# Every (function, AWS action) pair the suite makes lands here; the IAM test then holds
# template.yaml's policies to it, so it runs after the rest.
# A filtered run (arguments given) sees only some calls, so it skips that comparison.
export CALL_LOG_DIR="$PWD/target/call-log"
# Every log line the suite writes lands here; the log safety test then reads them all.
export LOG_CAPTURE_DIR="$PWD/target/test-logs"
rm -rf "$CALL_LOG_DIR" "$LOG_CAPTURE_DIR"
if [ $# -gt 0 ]; then
  exec scripts/with-moto.sh cargo test --workspace --no-fail-fast "$@"
fi
scripts/with-moto.sh cargo test --workspace --no-fail-fast -- \
  --skip every_policy_grants --skip no_log_line_of_the_suite
echo "== IAM policies against the calls the suite made"
cargo test -p local-api --test iam
echo "== schemathesis: the local server against docs/openapi.yaml"
scripts/schemathesis.sh
echo "== no secret or address in the suite's logs"
cargo test -p local-api --test logsafety
