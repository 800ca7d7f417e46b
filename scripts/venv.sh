#!/usr/bin/env bash
# Creates .venv with moto, cfn-lint, the SAM transform, auth0-python and schemathesis unless it is there and current.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements"
if [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/cfn-lint" ] && [ -x "$venv/bin/schemathesis" ] \
  && cmp -s "$req" "$stamp"; then
  exit 0
fi
echo "setting up $venv (moto, cfn-lint, aws-sam-translator, auth0-python, schemathesis)..." >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
