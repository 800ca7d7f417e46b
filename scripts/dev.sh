#!/usr/bin/env bash
# make dev: moto on 127.0.0.1:4566, the table, and the local API on 127.0.0.1:${PORT:-3000}.
# Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/dev-env.sh
state="$root/.local"
mkdir -p "$state"

scripts/venv.sh
cargo build -p local-api
started_moto=
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$started_moto" ] && scripts/moto.sh stop "$state/moto.pid"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/', timeout=1)" 2>/dev/null; then
  echo "moto already answers on $AWS_ENDPOINT_URL; using it"
else
  scripts/moto.sh start "$moto_port" "$state/moto.pid" "$state/moto.log"
  started_moto=1
fi
target/debug/local-api setup

token=$(target/debug/local-api token --tenant acme --sub dev-admin --scope all --ttl 86400)
cat <<MSG

Local API on http://127.0.0.1:$port (moto at $AWS_ENDPOINT_URL, table $TABLE_NAME).
Dev admin token for tenant "acme" (valid 24 h):

  export TOKEN=$token

Try:

  curl -s -X POST http://127.0.0.1:$port/v1/tenants/acme/users \\
    -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
    -d '{"email":"ana@example.com","password":"correct horse battery","name":"Ana"}'
  curl -s "http://127.0.0.1:$port/v1/tenants/acme/users" -H "Authorization: Bearer \$TOKEN"

Emails (verification, reset, ...) are kept by moto; read them, and click their links, in the
local mailbox:

  http://127.0.0.1:$port/_dev/mail

Other tokens: target/debug/local-api token --tenant acme --sub <user_id> (an end-user token for /me).
DELETE /me with such a token schedules that user's erasure, due at once here
(DELETION_GRACE_DAYS=$DELETION_GRACE_DAYS); \`make purge\` in another shell runs the purge.
Ctrl-C stops the API and moto.

MSG
PORT=$port target/debug/local-api serve &
server_pid=$!
wait "$server_pid"
