#!/usr/bin/env bash
# Creates .venv-deploy with the SAM CLI and cargo-lambda (with zig) unless it is there and
# current; prints its bin directory for PATH.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-deploy"
req="$root/scripts/requirements-deploy.txt"
stamp="$venv/.requirements"
if ! { [ -x "$venv/bin/sam" ] && [ -x "$venv/bin/cargo-lambda" ] && cmp -s "$req" "$stamp"; }; then
  echo "setting up $venv (aws-sam-cli, cargo-lambda)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  cp "$req" "$stamp"
fi
echo "$venv/bin"
