#!/usr/bin/env bash
# Set up what `make run` and `make test` need on this machine: the Debian/Ubuntu packages
# (PostgreSQL, Redis, HAProxy; for the tests also Chromium and PgBouncer), then PostgreSQL and Redis
# reachable and the database named in DATABASE_URL created.
#
#   scripts/ensure_services.sh [--for run|test] [--check]
#
#   --for run     (default) what `make run` needs: PostgreSQL and Redis, unless the URLs
#                 point at another machine
#   --for test    also what the test suite starts itself: a private PostgreSQL cluster
#                 (server binaries), a private redis-server, PgBouncer and Chromium
#   --check       only report the missing packages and the command that installs them;
#                 install nothing, start nothing (exit 1 when something is missing)
#
#   DATABASE_URL  default postgres://postgres@127.0.0.1:5432/atrium
#   REDIS_URL     default redis://127.0.0.1:6379/0
#   ATRIUM_CHROMIUM  the browser the browser tests drive (default /usr/bin/chromium)
#
# Missing packages are installed with apt-get (visible progress) where this user may:
# as root or with passwordless sudo. Elsewhere the script stops at once with the exact
# command to run. A local server on its default port that is down is started when its
# tools are installed here (pg_ctlcluster, redis-server); anything else gets one clear
# message and exit status 1.
set -euo pipefail

PURPOSE=run
CHECK_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --for)
            PURPOSE="${2:-}"
            shift 2 || true
            ;;
        --for=*)
            PURPOSE="${1#--for=}"
            shift
            ;;
        --check)
            CHECK_ONLY=1
            shift
            ;;
        *)
            echo "services: unknown argument '$1' (usage: $0 [--for run|test] [--check])" >&2
            exit 2
            ;;
    esac
done
case "$PURPOSE" in
    run | test) ;;
    *)
        echo "services: --for takes 'run' or 'test' (got '$PURPOSE')" >&2
        exit 2
        ;;
esac

DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/atrium}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
WAIT_SECONDS="${ATRIUM_SERVICE_WAIT:-20}"
CHROMIUM="${ATRIUM_CHROMIUM:-/usr/bin/chromium}"
# Where Debian puts programs that a normal user's PATH may lack (pgbouncer) and the
# PostgreSQL server binaries (initdb, pg_ctl: the tests start private clusters with them).
SBIN_PATH="${ATRIUM_SBIN_PATH-/usr/local/sbin:/usr/sbin:/sbin}"
POSTGRES_LIB="${ATRIUM_POSTGRES_LIB-/usr/lib/postgresql}"

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

# --------------------------------------------------------------------------- URLs
mapfile -t db < <(parse_url "$DATABASE_URL" 5432) || die "cannot parse DATABASE_URL"
[ "${#db[@]}" -eq 6 ] || die "cannot parse DATABASE_URL=$DATABASE_URL"
PG_SCHEME="${db[0]}" PG_HOST="${db[1]:-127.0.0.1}" PG_PORT="${db[2]}"
PG_USER="${db[3]:-postgres}" PG_PASSWORD="${db[4]}" PG_DB="${db[5]}"
case "$PG_SCHEME" in
    postgres | postgresql | pgsql | postgis) ;;
    *) die "DATABASE_URL must be a postgres:// URL (got scheme '$PG_SCHEME')" ;;
esac
[ -n "$PG_DB" ] || die "DATABASE_URL names no database: $DATABASE_URL"
mapfile -t rd < <(parse_url "$REDIS_URL" 6379) || die "cannot parse REDIS_URL"
[ "${#rd[@]}" -eq 6 ] || die "cannot parse REDIS_URL=$REDIS_URL"
REDIS_SCHEME="${rd[0]}" REDIS_HOST="${rd[1]:-127.0.0.1}" REDIS_PORT="${rd[2]}" REDIS_PASSWORD="${rd[4]}"
case "$REDIS_SCHEME" in
    redis | rediss) ;;
    *) die "REDIS_URL must be a redis:// or rediss:// URL (got scheme '$REDIS_SCHEME')" ;;
esac

# --------------------------------------------------------------------------- packages
have() { # have PROGRAM: on PATH, or in the sbin directories
    PATH="$PATH${SBIN_PATH:+:$SBIN_PATH}" command -v "$1" >/dev/null 2>&1
}
postgres_server_installed() {
    compgen -G "$POSTGRES_LIB/*/bin/initdb" >/dev/null || have initdb
}

# Root, or passwordless sudo: may install packages and manage the local cluster.
as_root=()
can_root=1
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo)
    else
        can_root=0
    fi
fi

missing=() # Debian package names
# The tests start private clusters and a private redis-server; `make run` needs a server
# here only for a local URL where none answers (not, e.g., for `docker compose up -d
# postgres redis`).
if [ "$PURPOSE" = test ] || { is_local "$PG_HOST" && ! tcp_open "$PG_HOST" "$PG_PORT"; }; then
    postgres_server_installed || missing+=(postgresql)
fi
if ! have psql && [[ " ${missing[*]} " != *" postgresql "* ]]; then
    missing+=(postgresql-client)
fi
if [ "$PURPOSE" = test ] || { is_local "$REDIS_HOST" && ! tcp_open "$REDIS_HOST" "$REDIS_PORT"; }; then
    have redis-server || missing+=(redis-server)
fi
# `make run` serves HTTP (gunicorn) and /ws/ (uvicorn) on one port through HAProxy.
have haproxy || missing+=(haproxy)
if [ "$PURPOSE" = test ]; then
    [ -x "$CHROMIUM" ] || missing+=(chromium) # Playwright drives it; it never downloads one
    have pgbouncer || missing+=(pgbouncer)   # tests/test_database.py: session/transaction mode
fi

if [ ${#missing[@]} -eq 0 ]; then
    say "system packages present (for make $PURPOSE)"
    [ "$CHECK_ONLY" = 0 ] || exit 0
elif ! command -v apt-get >/dev/null 2>&1; then
    die "missing: ${missing[*]} (Debian package names). This is not a Debian/Ubuntu machine: install them with its package manager and run again."
else
    apt=(apt-get install -y "${missing[@]}")
    if [ "$(id -u)" = 0 ]; then
        shown="apt-get update && ${apt[*]}"
    else
        shown="sudo apt-get update && sudo ${apt[*]}"
    fi
    if [ "$CHECK_ONLY" = 1 ]; then
        say "missing: ${missing[*]}; to install: $shown"
        exit 1
    fi
    [ "$can_root" = 1 ] || die "missing: ${missing[*]}. Installing needs root; run this, then make $PURPOSE again:
    $shown"
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update
    "${as_root[@]}" "${apt[@]}"
    if [[ " ${missing[*]} " == *" postgresql "* ]]; then
        fresh_postgres=1
    fi
    say "installed ${missing[*]}"
fi
[ "$CHECK_ONLY" = 0 ] || exit 0

# --------------------------------------------------------------------------- PostgreSQL

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
    "${as_root[@]}" pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || true
    wait_for pg_up || die "$pg_hint"
    say "PostgreSQL is up at $PG_HOST:$PG_PORT"
else
    die "$pg_hint"
fi

# Debian's new cluster asks for a password on TCP, and the default DATABASE_URL has none.
# Only a cluster that this run installed is changed: local TCP connections of the postgres
# role are trusted, as in docker-compose.yml's PostgreSQL.
if [ "${fresh_postgres:-0}" = 1 ] && is_local "$PG_HOST" && [ "$PG_USER" = postgres ] \
    && [ -z "$PG_PASSWORD" ]; then
    pg_version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
    hba="/etc/postgresql/$pg_version/main/pg_hba.conf"
    say "new cluster $pg_version/main: trusting local TCP connections of 'postgres' ($hba)"
    "${as_root[@]}" sed -i -e '1i host all postgres 127.0.0.1/32 trust' \
        -e '1i host all postgres ::1/128 trust' "$hba"
    "${as_root[@]}" pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
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
