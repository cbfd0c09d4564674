#!/usr/bin/env bash
# Local development server: migrate every schema, fill the spare pool, create the demo
# tenants, then run a Celery worker in the background and uvicorn in the foreground.
# Normally started through `make run` (which builds .venv and checks the services).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.dev}"
PORT="${PORT:-8000}"
BIN=.venv/bin

[ -x "$BIN/python" ] || {
    echo "run: .venv is missing; run \`make run\` (or \`make venv\` first)." >&2
    exit 1
}

"$BIN/python" manage.py tenants migrate
"$BIN/python" manage.py tenants pool fill 2
"$BIN/python" manage.py demo_tenants

worker_pid=""
cleanup() {
    if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
        echo "run: stopping the Celery worker (pid $worker_pid)"
        kill -TERM "$worker_pid" 2>/dev/null || true
        # Celery's warm shutdown lets running tasks finish; do not wait forever.
        for _ in $(seq 1 20); do
            kill -0 "$worker_pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$worker_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$BIN/celery" -A config.celery worker --loglevel=info --concurrency=2 &
worker_pid=$!

cat <<EOF

Atrium is starting on port $PORT:
  tenant API (acme)     http://acme.localhost:$PORT/
  tenant API (globex)   http://globex.localhost:$PORT/
  tenant admin (acme)   http://acme.localhost:$PORT/admin/
  platform admin        http://localhost:$PORT/admin/
  health check          http://acme.localhost:$PORT/healthz
(*.localhost resolves to 127.0.0.1 in browsers and curl; the demo credentials are above.)

EOF

# Not exec: the EXIT trap must run to stop the worker when uvicorn ends.
"$BIN/uvicorn" config.asgi:application --host 0.0.0.0 --port "$PORT"
