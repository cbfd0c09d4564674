#!/usr/bin/env bash
# Local development server: migrate every schema, fill the spare pool, create the demo
# tenants, then run a Celery worker, Celery beat, gunicorn (HTTP, WEB_CONCURRENCY workers,
# default one per core), uvicorn (/ws/) and HAProxy in front of both on PORT until Ctrl-C.
# Normally started through `make run` (which builds .venv and checks the services).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.dev}"
PORT="${PORT:-8000}"
# The Python side prints tenant URLs with this port.
export ATRIUM_SITE_PORT="${ATRIUM_SITE_PORT:-$PORT}"
# The servers behind HAProxy listen on loopback only (config/gunicorn.conf.py reads the bind).
HTTP_PORT="${ATRIUM_HTTP_PORT:-$((PORT + 1))}"
WS_PORT="${ATRIUM_WS_PORT:-$((PORT + 2))}"
export ATRIUM_HTTP_BIND="127.0.0.1:$HTTP_PORT"
# Every request arrives through HAProxy, which appends the client's address to
# X-Forwarded-For: the app trusts that one entry (and no more) for the client address.
export ATRIUM_TRUSTED_PROXY_COUNT="${ATRIUM_TRUSTED_PROXY_COUNT:-1}"
HAPROXY="$(PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v haproxy || true)"
BIN=.venv/bin

[ -x "$BIN/python" ] || {
    echo "run: .venv is missing; run \`make run\` (or \`make venv\` first)." >&2
    exit 1
}
[ -n "$HAPROXY" ] || {
    echo "run: haproxy is missing; run \`make run\` (or \`make services\`), which installs it." >&2
    exit 1
}

"$BIN/python" manage.py tenants migrate
"$BIN/python" manage.py tenants pool fill 2
# The logins are printed again at the very end, where they do not scroll away.
logins="$("$BIN/python" manage.py demo_tenants)"
printf '%s\n' "$logins"
"$BIN/python" manage.py seed_catalog acme globex

# Celery refuses nothing as root here (tasks are JSON, not pickle) but warns on every start.
# Dropping to an unprivileged user does not work for a development checkout: the venv's
# Python usually lives under the user's home (pyenv in /root, mode 0700), and the worker
# and uvicorn share media/, so both would have to switch. Say so once instead of a warning
# box; the Docker image runs everything as its unprivileged `atrium` user.
if [ "$(id -u)" = 0 ]; then
    echo "run: running as root, so the Celery worker does too (development only; the Docker image uses an unprivileged user)."
    export ATRIUM_CELERY_ROOT_EXPLAINED=1
fi

# Both servers run in the background so that the traps fire at once on Ctrl-C or on a
# TERM sent to this script alone; when one of them stops, the others are stopped too.
mail_pid=""
worker_pid=""
beat_pid=""
web_pid=""
ws_pid=""
proxy_pid=""
# shellcheck disable=SC2317  # called from the traps below
stop() { # stop NAME PID [SIGNAL]
    if [ -n "$2" ] && kill -0 "$2" 2>/dev/null; then
        echo "run: stopping $1 (pid $2)"
        kill "-${3:-TERM}" "$2" 2>/dev/null || true
    fi
}
# shellcheck disable=SC2317
cleanup() {
    trap - INT TERM
    # gunicorn lets in-flight requests finish; uvicorn closes sockets with 1012 (service
    # restart); HAProxy stops last and softly (USR1: it stops listening, lets them end).
    stop gunicorn "$web_pid"
    stop uvicorn "$ws_pid"
    stop "the Celery worker" "$worker_pid"
    stop "Celery beat" "$beat_pid"
    stop haproxy "$proxy_pid" USR1
    stop "the mail sink" "$mail_pid"
    # Celery's warm shutdown lets running tasks finish; do not wait forever.
    local pid alive
    for _ in $(seq 1 20); do
        alive=0
        for pid in $mail_pid $worker_pid $beat_pid $web_pid $ws_pid $proxy_pid; do
            if kill -0 "$pid" 2>/dev/null; then alive=1; fi
        done
        [ "$alive" = 1 ] || break
        sleep 0.5
    done
    for pid in $mail_pid $worker_pid $beat_pid $web_pid $ws_pid $proxy_pid; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Mail goes to a local SMTP sink that keeps every message in var/mail/ (one .eml file each)
# and prints a line per message, unless EMAIL_URL names a real server.
MAIL_DIR="var/mail"
if [ -z "${EMAIL_URL:-}" ]; then
    MAIL_PORT="${ATRIUM_MAIL_PORT:-$((PORT + 25))}"
    export EMAIL_URL="smtp://127.0.0.1:$MAIL_PORT/"
    "$BIN/python" scripts/mail_sink.py --port "$MAIL_PORT" --dir "$MAIL_DIR" &
    mail_pid=$!
    mail_where="every mail is kept in $MAIL_DIR/ (SMTP sink on 127.0.0.1:$MAIL_PORT); read a link with: grep -h token= $MAIL_DIR/*.eml"
else
    mail_where="mail goes to the SMTP server of EMAIL_URL"
fi

# -q: no banners (40 lines that would bury the URLs); the log lines stay.
"$BIN/celery" -q -A config.celery worker --loglevel=info --concurrency=2 -n "atrium-dev-$$@%h" &
worker_pid=$!
# Periodic work: the spare-pool top-up (CELERY_BEAT_SCHEDULE) and each tenant's upkeep (its
# apps' AppConfig.tenant_periodic_tasks, see atrium/platform/schedule.py).
"$BIN/celery" -q -A config.celery beat --loglevel=info &
beat_pid=$!

# The same servers as the Dockerfile and compose. gunicorn: config/gunicorn.conf.py
# (WEB_CONCURRENCY workers, recycling, graceful timeout, no proxy headers trusted).
"$BIN/gunicorn" -c config/gunicorn.conf.py &
web_pid=$!
# --no-proxy-headers: the app alone reads X-Forwarded-For (ATRIUM_TRUSTED_PROXY_COUNT);
# uvicorn would otherwise rewrite the client address for requests from loopback.
# --lifespan off: Django has no lifespan handler. On TERM uvicorn closes sockets with 1012.
"$BIN/uvicorn" config.asgi:application --host 127.0.0.1 --port "$WS_PORT" \
    --no-proxy-headers --lifespan off --ws-max-size 65536 --timeout-graceful-shutdown 10 &
ws_pid=$!
ATRIUM_PROXY_BIND=":$PORT" ATRIUM_HTTP_ADDR="127.0.0.1:$HTTP_PORT" ATRIUM_WS_ADDR="127.0.0.1:$WS_PORT" \
    "$HAPROXY" -db -f deploy/haproxy.cfg &
proxy_pid=$!

# The URLs and logins come last, once HAProxy (and gunicorn behind it) answers and the worker replies to a ping.
"$BIN/python" - "$PORT" "$worker_pid" "$web_pid" "$ws_pid" "$proxy_pid" <<'PY'
import os, sys, time, urllib.request

port, pids = sys.argv[1], [int(pid) for pid in sys.argv[2:]]
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    for pid in pids:  # a server that died: run.sh's wait reports it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit(0)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": "localhost"})
        with urllib.request.urlopen(request, timeout=1) as response:
            if response.status == 200:
                break
    except OSError:
        pass
    time.sleep(0.2)
PY
"$BIN/celery" -A config.celery inspect ping -d "atrium-dev-$$@$(hostname)" --timeout 10 >/dev/null 2>&1 ||
    echo "run: the Celery worker did not answer a ping yet; background jobs may wait."

cat <<URLS

Atrium is serving on port $PORT through HAProxy: HTTP by gunicorn, /ws/ by uvicorn
(Ctrl-C stops everything):
  tenant API (acme)     http://acme.localhost:$PORT/        API docs: /api/docs/
  tenant API (globex)   http://globex.localhost:$PORT/
  tenant admin (acme)   http://acme.localhost:$PORT/admin/
  platform admin        http://localhost:$PORT/admin/      (.venv/bin/python manage.py createsuperuser)
  health check          http://acme.localhost:$PORT/healthz
  mail                  $mail_where
(*.localhost resolves to 127.0.0.1 in browsers and curl.)

Demo logins (tenant API and tenant admin):
$logins

URLS

# Returns when either server exits or a signal arrives; the EXIT trap stops the rest.
status=0
wait -n "$web_pid" "$ws_pid" "$proxy_pid" "$worker_pid" "$beat_pid" || status=$?
exit "$status"
