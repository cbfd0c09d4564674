#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis that Atrium is configured for are reachable,
# and that the database named in DATABASE_URL exists.
#
#   DATABASE_URL  default postgres://postgres@127.0.0.1:5432/atrium
#   REDIS_URL     default redis://127.0.0.1:6379/0
#
# A local server on its default port that is down is started when its tools are
# installed here (pg_ctlcluster, redis-server); anything else gets one clear message
# and exit status 1.
set -euo pipefail

DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/atrium}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
WAIT_SECONDS="${ATRIUM_SERVICE_WAIT:-20}"

say() { printf 'services: %s\n' "$*"; }
die() {
    printf 'services: %s\n' "$*" >&2
    exit 1
}

# parse_url URL DEFAULT_PORT -> "scheme host port user password path", one per line.
# Python's urllib is always there and gets IPv6 literals and %-escapes right.
parse_url() {
    python3 - "$1" "$2" <<'PY'
import sys
from urllib.parse import unquote, urlsplit

url, default_port = sys.argv[1], int(sys.argv[2])
try:
    u = urlsplit(url)
    port = u.port or default_port
except ValueError as exc:
    sys.exit(f"invalid URL {url!r}: {exc}")
print(u.scheme)
host = u.hostname or ""
if host.lower().startswith("%2f"):  # %2Fvar%2Frun%2Fpostgresql: a socket directory (case kept)
    host = unquote(u.netloc.rpartition("@")[2].partition(":")[0])
print(host)
print(port)
print(unquote(u.username or ""))
print(unquote(u.password or ""))
print(unquote(u.path.lstrip("/")))
PY
}

is_local() {
    case "$1" in
        "" | 127.* | localhost | ::1 | /*) return 0 ;;
        *) return 1 ;;
    esac
}

# Plain TCP check, for when a service's own client is not installed.
tcp_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

wait_for() { # wait_for CHECK_FUNCTION
    local i
    for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
        if "$1"; then return 0; fi
        sleep 0.5
    done
    "$1"
}

# --------------------------------------------------------------------------- PostgreSQL
mapfile -t db < <(parse_url "$DATABASE_URL" 5432) || die "cannot parse DATABASE_URL"
[ "${#db[@]}" -eq 6 ] || die "cannot parse DATABASE_URL=$DATABASE_URL"
PG_SCHEME="${db[0]}" PG_HOST="${db[1]:-127.0.0.1}" PG_PORT="${db[2]}"
PG_USER="${db[3]:-postgres}" PG_PASSWORD="${db[4]}" PG_DB="${db[5]}"
case "$PG_SCHEME" in
    postgres | postgresql | pgsql | postgis) ;;
    *) die "DATABASE_URL must be a postgres:// URL (got scheme '$PG_SCHEME')" ;;
esac
[ -n "$PG_DB" ] || die "DATABASE_URL names no database: $DATABASE_URL"

pg_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
    else
        tcp_open "$PG_HOST" "$PG_PORT"
    fi
}

pg_hint="PostgreSQL is not reachable at $PG_HOST:$PG_PORT. Start it (e.g. \`pg_ctlcluster --skip-systemctl-redirect <version> main start\` or \`docker compose up -d postgres\`) or set DATABASE_URL."

if pg_up; then
    say "PostgreSQL is up at $PG_HOST:$PG_PORT"
elif is_local "$PG_HOST" && [ "$PG_PORT" = 5432 ] && command -v pg_ctlcluster >/dev/null 2>&1 \
    && [ -d /etc/postgresql ] && [ -n "$(ls -A /etc/postgresql)" ]; then
    pg_version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
    say "PostgreSQL is down; starting cluster $pg_version/main"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || true
    wait_for pg_up || die "$pg_hint"
    say "PostgreSQL is up at $PG_HOST:$PG_PORT"
else
    die "$pg_hint"
fi

export PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=5
psql_admin() {
    # Connect to a maintenance database: "postgres", or "template1" where that is missing.
    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@" 2>/dev/null \
        || psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d template1 "$@"
}

if command -v psql >/dev/null 2>&1; then
    db_literal="${PG_DB//\'/\'\'}"
    exists="$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$db_literal'")" \
        || die "cannot connect to PostgreSQL at $PG_HOST:$PG_PORT as '$PG_USER' (check DATABASE_URL)"
    if [ "$exists" = 1 ]; then
        say "database '$PG_DB' exists"
    else
        createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB" \
            || die "could not create database '$PG_DB' as '$PG_USER' (check DATABASE_URL)"
        say "database '$PG_DB' created"
    fi
else
    say "psql not installed; not checking that database '$PG_DB' exists"
fi
unset PGPASSWORD

# --------------------------------------------------------------------------- Redis
mapfile -t rd < <(parse_url "$REDIS_URL" 6379) || die "cannot parse REDIS_URL"
[ "${#rd[@]}" -eq 6 ] || die "cannot parse REDIS_URL=$REDIS_URL"
REDIS_SCHEME="${rd[0]}" REDIS_HOST="${rd[1]:-127.0.0.1}" REDIS_PORT="${rd[2]}" REDIS_PASSWORD="${rd[4]}"
case "$REDIS_SCHEME" in
    redis | rediss) ;;
    *) die "REDIS_URL must be a redis:// or rediss:// URL (got scheme '$REDIS_SCHEME')" ;;
esac

redis_up() {
    if command -v redis-cli >/dev/null 2>&1; then
        local tls=()
        [ "$REDIS_SCHEME" = rediss ] && tls=(--tls)
        [ "$(REDISCLI_AUTH="$REDIS_PASSWORD" timeout 3 redis-cli "${tls[@]}" \
            -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
    else
        tcp_open "$REDIS_HOST" "$REDIS_PORT"
    fi
}

redis_hint="Redis is not reachable at $REDIS_HOST:$REDIS_PORT. Start it (e.g. \`redis-server --daemonize yes\` or \`docker compose up -d redis\`) or set REDIS_URL."

if redis_up; then
    say "Redis is up at $REDIS_HOST:$REDIS_PORT"
elif is_local "$REDIS_HOST" && [ "$REDIS_PORT" = 6379 ] && command -v redis-server >/dev/null 2>&1; then
    say "Redis is down; starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
    wait_for redis_up || die "$redis_hint"
    say "Redis is up at $REDIS_HOST:$REDIS_PORT"
else
    die "$redis_hint"
fi
