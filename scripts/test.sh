#!/usr/bin/env bash
# Run every check, in order, stopping at the first failure: lint, formatting, import
# layers, types, migrations, then the test suite on SQLite and on PostgreSQL.
#
# Extra arguments go to pytest (e.g. `scripts/test.sh -k approvals`).
# PostgreSQL runs when CI=true (required there) or when it answers on 127.0.0.1:5432;
# override the URL with RANTAI_TEST_DATABASE_URL.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=.venv/bin
PG_HOST=127.0.0.1
PG_PORT=5432
PG_URL=${RANTAI_TEST_DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/test}
in_ci=0
[[ "${CI:-}" == "true" ]] && in_ci=1

current="setup"
on_exit() {
    local rc=$?
    if ((rc != 0)); then
        printf '\ntest.sh: FAILED at step "%s" (exit %d)\n' "$current" "$rc" >&2
    fi
}
trap on_exit EXIT

section() {
    current=$1
    printf '\n==== %s ====\n' "$1"
}

pg_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
    else
        "$BIN/python" - "$PG_HOST" "$PG_PORT" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
PY
    fi
}

start_pg() {
    local version
    command -v pg_ctlcluster >/dev/null 2>&1 || return 1
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null |
        sort -V | tail -n 1)
    [[ -n "$version" ]] || return 1
    echo "Starting PostgreSQL $version (cluster main)"
    # A cluster that is already starting makes this fail; the wait below decides.
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do
        pg_ready && return 0
        sleep 1
    done
    return 1
}

# pytest exits 5 when it collected no tests: a failure here, never skipped quietly.
run_pytest() {
    local rc=0
    "$@" || rc=$?
    if ((rc == 5)); then
        echo "pytest collected no tests (exit 5): the suite must run tests." >&2
    fi
    return "$rc"
}

section "setup"
scripts/setup.sh --with-browser

export RANTAI_TEST_OUTPUT="$PWD/var/test-output"
mkdir -p "$RANTAI_TEST_OUTPUT"

# Two workers at most: the suite is sized for 2 cores.
cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
workers=$((cores < 2 ? cores : 2))

section "ruff check"
"$BIN/ruff" check .

section "ruff format --check"
"$BIN/ruff" format --check .

section "lint-imports"
"$BIN/lint-imports"

section "mypy"
"$BIN/mypy"

section "makemigrations --check"
env -u DATABASE_URL "$BIN/rantai" makemigrations --check --dry-run

section "pytest (SQLite)"
run_pytest env -u DATABASE_URL RANTAI_TESTING=1 \
    "$BIN/pytest" -n "$workers" -p no:cacheprovider "$@"

if ! pg_ready && ((in_ci)); then
    start_pg || {
        current="pytest (PostgreSQL)"
        echo "PostgreSQL is required in CI but does not answer on $PG_HOST:$PG_PORT" >&2
        exit 1
    }
fi
if pg_ready; then
    section "pytest (PostgreSQL)"
    run_pytest env RANTAI_TESTING=1 DATABASE_URL="$PG_URL" \
        "$BIN/pytest" -n "$workers" -p no:cacheprovider "$@"
else
    printf '\nPostgreSQL run skipped: nothing answers on %s:%s ' "$PG_HOST" "$PG_PORT"
    printf '(start PostgreSQL, or set CI=true to make it required).\n'
fi

current="done"
printf '\nAll checks passed.\n'
