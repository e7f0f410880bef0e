#!/usr/bin/env bash
# Run the whole test suite twice, on SQLite and on PostgreSQL, side by side. Fails if either fails or if
# PostgreSQL cannot be reached (it is never skipped).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PG_HOST=127.0.0.1
PG_PORT=5432
PG_URL="postgresql://postgres@${PG_HOST}:${PG_PORT}/test"

bash scripts/setup.sh

ensure_postgres() {
    if pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
        return 0
    fi
    echo "PostgreSQL is not answering on ${PG_HOST}:${PG_PORT}; starting it"
    local version
    for version in $(ls /etc/postgresql 2>/dev/null); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    local waited
    for ((waited = 0; waited < 30; waited++)); do
        if pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
            return 0
        fi
        sleep 1
    done
    echo "ERROR: PostgreSQL did not answer on ${PG_HOST}:${PG_PORT} within 30 s" >&2
    return 1
}

status=0
mkdir -p var
SQLITE_LOG=var/tests-sqlite.log

# The two passes run at the same time: the PostgreSQL pass spends about a third of its time waiting for the
# server, and this machine has two cores. Each pass has its own temporary folder (pytest --basetemp), its own
# database and its own file store; only the SQLite pass starts browsers and servers for the e2e tests.
echo
echo "==================== tests on SQLite: started, output below when it ends ===================="
.venv/bin/pytest -q -p no:cacheprovider --basetemp=var/pytest-sqlite >"$SQLITE_LOG" 2>&1 &
sqlite_pid=$!
trap 'kill "$sqlite_pid" 2>/dev/null || true' INT TERM

echo
echo "==================== tests on PostgreSQL (${PG_URL}) ===================="
if ensure_postgres; then
    TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest -q -p no:cacheprovider --basetemp=var/pytest-postgres || status=1
else
    status=1
fi

sqlite_status=0
wait "$sqlite_pid" || sqlite_status=1
echo
echo "==================== tests on SQLite (${SQLITE_LOG}) ===================="
cat "$SQLITE_LOG"
if ((sqlite_status)); then
    status=1
fi

echo
if ((status)); then
    echo "FAILED: see the runs above" >&2
else
    echo "OK: all tests passed on SQLite and PostgreSQL"
fi
exit "$status"
