#!/usr/bin/env bash
# Run the whole test suite twice: on SQLite, then on PostgreSQL. Fails if either fails or if
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

echo
echo "==================== tests on SQLite ===================="
.venv/bin/pytest -q || status=1

echo
echo "==================== tests on PostgreSQL (${PG_URL}) ===================="
if ensure_postgres; then
    TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest -q || status=1
else
    status=1
fi

echo
if ((status)); then
    echo "FAILED: see the runs above" >&2
else
    echo "OK: all tests passed on SQLite and PostgreSQL"
fi
exit "$status"
