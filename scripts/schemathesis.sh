#!/usr/bin/env bash
# scripts/schemathesis.sh: holds the local server to docs/openapi.yaml. Starts a moto and the
# local API of their own on free ports, creates the users the requests name, then lets
# schemathesis (pinned in scripts/requirements.txt, settings in scripts/schemathesis.toml)
# send generated requests to every operation, with a fixed seed, and check that no answer is
# a 5xx and that each answer's status, content type, body and required headers are the
# documented ones. /me gets an end-user token, every other route the dev admin's.
# Arguments go on to `schemathesis run` (e.g. `--report har`). Stops what it started,
# whatever happens.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/local-env.sh
scripts/venv.sh
st=.venv/bin/schemathesis
[ -x "$st" ] || { echo "schemathesis is not in .venv: see scripts/requirements.txt" >&2; exit 1; }
cargo build -p local-api
state=$(mktemp -d)
# A copy, so a build that writes the target directory meanwhile cannot swap the server.
bin=$state/local-api
cp "${CARGO_TARGET_DIR:-$root/target}/debug/local-api" "$bin"
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  scripts/moto.sh stop "$state/moto.pid"
  rm -rf "$state"
}
trap cleanup EXIT

moto_port=$(.venv/bin/python scripts/free-port.py)
port=$(.venv/bin/python scripts/free-port.py)
base=http://127.0.0.1:$port
scripts/moto.sh start "$moto_port" "$state/moto.pid" "$state/moto.log"

export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
export TABLE_NAME=profiles-schemathesis
export DEV_JWT_SECRET=schemathesis-secret
export PUBLIC_BASE_URL=$base
export EMAIL_FROM=no-reply@example.com
export MAIL_QUEUE_URL=http://127.0.0.1:$moto_port/123456789012/password-resets
# `setup` creates it on this moto.
export ERASURE_RECEIPT_SECRET=profiles-schemathesis-erasure-receipt-key
# No rate limit: a run sends far more than a tenant's default bucket takes, and a throttled
# request reaches no handler. 429 stays documented (and tested in rate_limits.rs).
export TENANT_SETTINGS='{"*": {"default_result_url": "'$base'/verified", "result_url_hosts": ["127.0.0.1"], "rate_limit": {"requests_per_second": 0}, "public_rate_limit": {"requests_per_second": 0}}}'
"$bin" setup
LOG_LEVEL=debug PORT=$port "$bin" serve >"$state/server.log" 2>&1 &
server_pid=$!

# The users the requests name: one to read and change, one for each erasure, one whose token
# calls /me, one to send verifications to, and a social one to link (the examples of
# docs/openapi.yaml name it and the first user's address and password).
ADMIN_TOKEN=$("$bin" token --tenant acme --sub schemathesis@clients --scope all --ttl 3600)
export ADMIN_TOKEN
if ! .venv/bin/python - "$base" "$ADMIN_TOKEN" >"$state/users.sh" <<'PY'; then
import json, sys, time, urllib.error, urllib.request

base, token = sys.argv[1], sys.argv[2]
for _ in range(100):
    try:
        urllib.request.urlopen(f"{base}/openapi.yaml", timeout=1)
        break
    except (urllib.error.URLError, OSError):
        time.sleep(0.2)
else:
    sys.exit("the local API did not answer within 20 s")

def create(body):
    request = urllib.request.Request(
        f"{base}/v1/tenants/acme/users",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)["user_id"]

password = "correct horse battery staple"
users = {
    "USER_ID": {"email": "ana@example.com", "password": password, "email_verified": True, "name": "Ana"},
    "DOOMED_ID": {"email": "bea@example.com", "password": password, "verify_email": False},
    "DOOMED_AUTH0_ID": {"email": "cai@example.com", "password": password, "verify_email": False},
    "SELF_ID": {"email": "dee@example.com", "password": password, "email_verified": True},
    "UNVERIFIED_ID": {"email": "fin@example.com", "password": password, "verify_email": False},
    "SOCIAL_ID": {"connection": "google-oauth2", "user_id": "10876", "email": "eve@example.com", "email_verified": True},
}
for name, body in users.items():
    print(f"export {name}={create(body)}")
PY
  echo "== the local API's log" >&2
  cat "$state/server.log" >&2
  exit 1
fi
source "$state/users.sh"
SELF_TOKEN=$("$bin" token --tenant acme --sub "$SELF_ID" --ttl 3600)
export SELF_TOKEN

echo "== schemathesis run docs/openapi.yaml against $base"
started=$SECONDS
status=0
"$st" --config-file scripts/schemathesis.toml run docs/openapi.yaml --url "$base" "$@" || status=$?
echo "schemathesis took $((SECONDS - started)) s"
# Thousands of generated requests: the log safety test reads what the server logged of them.
if [ -n "${LOG_CAPTURE_DIR:-}" ]; then
  mkdir -p "$LOG_CAPTURE_DIR"
  cp "$state/server.log" "$LOG_CAPTURE_DIR/local-api-schemathesis.log"
fi
if [ "$status" -ne 0 ]; then
  echo "== the local API's log (last 50 lines)" >&2
  tail -n 50 "$state/server.log" >&2
fi
exit "$status"
