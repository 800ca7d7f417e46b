#!/usr/bin/env bash
# scripts/moto.sh start PORT PIDFILE LOGFILE   starts moto in server mode on 127.0.0.1:PORT
# scripts/moto.sh stop PIDFILE                 stops it
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
  start)
    port=$2 pidfile=$3 logfile=$4
    "$root/.venv/bin/python" "$root/scripts/moto_server.py" "$port" >"$logfile" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if "$root/.venv/bin/python" - "$port" <<'PY' 2>/dev/null; then exit 0; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
PY
      if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "moto exited; its log:" >&2; cat "$logfile" >&2; exit 1
      fi
      sleep 0.2
    done
    echo "moto did not answer on port $port within 20 s; its log:" >&2; cat "$logfile" >&2
    exit 1
    ;;
  stop)
    pidfile=$2
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *)
    echo "usage: $0 start PORT PIDFILE LOGFILE | stop PIDFILE" >&2
    exit 2
    ;;
esac
