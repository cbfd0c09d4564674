#!/usr/bin/env bash
# Local development server: migrate every schema, fill the spare pool, create the demo
# tenants, then run a Celery worker, Celery beat and uvicorn until Ctrl-C.
# Normally started through `make run` (which builds .venv and checks the services).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.dev}"
PORT="${PORT:-8000}"
# The Python side prints tenant URLs with this port.
export ATRIUM_SITE_PORT="${ATRIUM_SITE_PORT:-$PORT}"
BIN=.venv/bin

[ -x "$BIN/python" ] || {
    echo "run: .venv is missing; run \`make run\` (or \`make venv\` first)." >&2
    exit 1
}

"$BIN/python" manage.py tenants migrate
"$BIN/python" manage.py tenants pool fill 2
"$BIN/python" manage.py demo_tenants
"$BIN/python" manage.py seed_catalog acme globex

# Both servers run in the background so that the traps fire at once on Ctrl-C or on a
# TERM sent to this script alone; when one of them stops, the others are stopped too.
worker_pid=""
beat_pid=""
web_pid=""
# shellcheck disable=SC2317  # called from the traps below
stop() { # stop NAME PID
    if [ -n "$2" ] && kill -0 "$2" 2>/dev/null; then
        echo "run: stopping $1 (pid $2)"
        kill -TERM "$2" 2>/dev/null || true
    fi
}
# shellcheck disable=SC2317
cleanup() {
    trap - INT TERM
    stop uvicorn "$web_pid"
    stop "the Celery worker" "$worker_pid"
    stop "Celery beat" "$beat_pid"
    # Celery's warm shutdown lets running tasks finish; do not wait forever.
    local pid alive
    for _ in $(seq 1 20); do
        alive=0
        for pid in $worker_pid $beat_pid $web_pid; do
            if kill -0 "$pid" 2>/dev/null; then alive=1; fi
        done
        [ "$alive" = 1 ] || break
        sleep 0.5
    done
    for pid in $worker_pid $beat_pid $web_pid; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$BIN/celery" -A config.celery worker --loglevel=info --concurrency=2 &
worker_pid=$!
# Periodic work: the spare-pool top-up and each tenant's upkeep (CELERY_BEAT_SCHEDULE).
"$BIN/celery" -A config.celery beat --loglevel=info &
beat_pid=$!

cat <<URLS

Atrium is starting on port $PORT:
  tenant API (acme)     http://acme.localhost:$PORT/
  tenant API (globex)   http://globex.localhost:$PORT/
  tenant admin (acme)   http://acme.localhost:$PORT/admin/
  platform admin        http://localhost:$PORT/admin/
  health check          http://acme.localhost:$PORT/healthz
(*.localhost resolves to 127.0.0.1 in browsers and curl; the demo credentials are above.)

URLS

# --no-proxy-headers: the app alone reads X-Forwarded-For (ATRIUM_TRUSTED_PROXY_COUNT, default
# 0: not at all); uvicorn would otherwise rewrite the client address for requests from
# loopback. --lifespan off: Django has no lifespan handler. Same flags as the Dockerfile.
"$BIN/uvicorn" config.asgi:application --host 0.0.0.0 --port "$PORT" \
    --no-proxy-headers --lifespan off --ws-max-size 65536 &
web_pid=$!

# Returns when either server exits or a signal arrives; the EXIT trap stops the rest.
status=0
wait -n "$web_pid" "$worker_pid" "$beat_pid" || status=$?
exit "$status"
