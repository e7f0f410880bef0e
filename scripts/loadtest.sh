#!/usr/bin/env bash
# Load test (issue 6 point 5): 200 Locust users, reviewers and applicants, against gunicorn + PostgreSQL.
# Recreates the PostgreSQL database `load` with the demo data plus generated cases, starts gunicorn and one timer
# worker, runs Locust headless and writes var/loadtest/<timestamp>/report.md (+ Locust's CSV and HTML).
# Exit status: 0 when the run met the targets (0 errors, p95 ≤ 200 ms), 1 when it did not, 2 on a set-up failure.
#
#   bash scripts/loadtest.sh [--users 200] [--spawn-rate 10] [--run-time 3m] [--cases 20000]
#                            [--workers 3] [--threads 2] [--port 8150] [--app-env production|development]
#                            [--reuse-db] [--no-setup] [--profile] [--skip TASK[,TASK...]]
#
# --reuse-db keeps an existing `load` database (faster reruns; cases filed by earlier runs stay in it),
# --no-setup skips scripts/setup.sh, --profile samples one gunicorn worker with py-spy for the whole run
# (profile.folded, summarised in the report), --skip leaves Locust tasks out by method name (e.g. browse_cases),
# for diagnosis only: such a run is marked so.
# PostgreSQL must listen on 127.0.0.1:5432 with trust authentication for user postgres (PGHOST/PGPORT/PGUSER
# override). Only processes this script started are stopped at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

USERS=200 SPAWN_RATE=5 RUN_TIME=3m CASES=20000 WORKERS=3 THREADS=2 PORT=8150 APP_ENV_CHOICE=production
REUSE_DB=0 SETUP=1 PROFILE=0 SKIP=""
while (($#)); do
    case "$1" in
        --users) USERS=$2; shift 2 ;;
        --spawn-rate) SPAWN_RATE=$2; shift 2 ;;
        --run-time) RUN_TIME=$2; shift 2 ;;
        --cases) CASES=$2; shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --app-env) APP_ENV_CHOICE=$2; shift 2 ;;
        --reuse-db) REUSE_DB=1; shift ;;
        --no-setup) SETUP=0; shift ;;
        --profile) PROFILE=1; shift ;;
        --skip) SKIP=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "loadtest: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=load
RUN=var/loadtest/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RUN"
log() { echo "loadtest: $*" | tee -a "$RUN/run.log"; }

if ((SETUP)); then bash scripts/setup.sh || { echo "loadtest: scripts/setup.sh failed" >&2; exit 2; }; fi
# Locust brings its own gevent and Flask pins: it lives in its own virtualenv, never in the app's.
if ! cmp -s requirements-load.txt .venv-load/.installed-requirements 2>/dev/null; then
    [[ -x .venv-load/bin/python ]] || python3 -m venv .venv-load
    .venv-load/bin/pip install -q --disable-pip-version-check -r requirements-load.txt
    cp requirements-load.txt .venv-load/.installed-requirements
fi

pg_isready -q || { echo "loadtest: no PostgreSQL at $PGHOST:$PGPORT" >&2; exit 2; }
export APP_ENV=$APP_ENV_CHOICE
export DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$DB"
export FILE_STORE=$ROOT/var/loadtest/files DATA_DIR=$ROOT/var/loadtest
export SECRET_KEY=${SECRET_KEY:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}
export SESSION_COOKIE_SECURE=0  # plain HTTP on 127.0.0.1: secure cookies would never be sent back
# The audit chain's key (docs/deployment.md §13): fixed, so a reused database still verifies; a benchmark, not a secret.
export AUDIT_HMAC_KEYS=${AUDIT_HMAC_KEYS:-loadtest:test-only-loadtest-audit-key-0000000000} AUDIT_HMAC_KEY_ID=${AUDIT_HMAC_KEY_ID:-loadtest}
export AUDIT_CHECKPOINT_DIR=$ROOT/var/loadtest/audit-checkpoints
FLASK=(.venv/bin/flask --app wsgi)

if ((REUSE_DB)) && psql -d "$DB" -Atc 'select 1' >/dev/null 2>&1; then
    log "reusing database $DB"
else
    log "recreating database $DB with $CASES generated cases"
    dropdb --if-exists --force "$DB"
    rm -rf "$FILE_STORE" "$AUDIT_CHECKPOINT_DIR"  # checkpoints of the old database would not match
    createdb "$DB"
    # Demo accounts are refused under production config; only the seeding step runs as development.
    APP_ENV=development "${FLASK[@]}" demo seed --records-only --cases "$CASES" >>"$RUN/seed.log" 2>&1 \
        || { tail -20 "$RUN/seed.log" >&2; exit 2; }
    tail -1 "$RUN/seed.log" | tee -a "$RUN/run.log"
fi
"${FLASK[@]}" db upgrade >>"$RUN/seed.log" 2>&1
# `demo seed --cases` inserts generated rows with explicit ids but leaves PostgreSQL's id sequences behind, so the
# first cases filed afterwards would collide with generated ones (pk_case, a 500). Move every sequence past its
# table's largest id until the seeder does it itself.
psql -d "$DB" -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT table_name, column_name, pg_get_serial_sequence(format('%I', table_name), column_name) AS seq
             FROM information_schema.columns
             WHERE table_schema = 'public' AND (column_default LIKE 'nextval(%' OR is_identity = 'YES') LOOP
        EXECUTE format('SELECT setval(%L, (SELECT coalesce(max(%I), 0) + 1 FROM %I), false)',
                       c.seq, c.column_name, c.table_name);
    END LOOP;
END $$;
SQL
psql -d "$DB" -qc 'ANALYZE' # planner statistics, as autovacuum would have them on a database in service

# Single-request cost per page (CPU, SQL statements, size) while nothing else of ours runs: comparable across
# machines and unaffected by the load; report.md quotes it.
.venv/bin/python loadtest/page_costs.py >"$RUN/page_costs.md" 2>>"$RUN/run.log" || log "page_costs.py failed"

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# gthread, 3 processes × 2 threads on 2 cores shared with PostgreSQL and Locust: a process per core plus one, and a
# second thread to cover database waits. Many threads per process (2 × 8 was tried) only time-slice the GIL between
# CPU-bound requests: server-side p95 rose about fourfold under the same load (docs/loadtest.md).
# No max_requests recycling: a gthread worker that restarts drops the keep-alive connections it holds, requests
# in flight on them included (gunicorn issue #3038, open); Locust saw them as lost requests. gunicorn.conf.py's
# sync workers hold no keep-alive connections and are not affected.
# Keep-alive longer than a user's longest think time (5 s, locustfile.py): with gunicorn.conf.py's 5 s, the server
# closed an idle connection just as Locust reused it after a full think time, and a POST on it was lost without an
# answer (geventhttpclient retries no POST; a browser resends on a reused connection closed before any answer) —
# the "connection closed" errors on POST /tasks/[id]/release, the one request sent right after a think time.
GUNICORN_ARGS=(-k gthread --workers "$WORKERS" --threads "$THREADS" --bind "127.0.0.1:$PORT" --timeout 60
               --graceful-timeout 10 --max-requests 0 --keep-alive 15)
if [[ -f gunicorn.conf.py ]]; then GUNICORN_ARGS=(-c gunicorn.conf.py "${GUNICORN_ARGS[@]}"); fi
.venv/bin/gunicorn "${GUNICORN_ARGS[@]}" --error-logfile "$RUN/gunicorn.log" \
    --access-logfile "$RUN/access.log" --access-logformat '%(m)s %(U)s %(s)s %(B)s %(D)s' wsgi:app &
GUNICORN_PID=$!
pids+=("$GUNICORN_PID")
"${FLASK[@]}" worker >"$RUN/worker.log" 2>&1 &
WORKER_PID=$!
pids+=("$WORKER_PID")

for _ in $(seq 1 60); do
    if curl -fs -o /dev/null "http://127.0.0.1:$PORT/login"; then break; fi
    kill -0 "$GUNICORN_PID" 2>/dev/null || { tail -20 "$RUN/gunicorn.log" >&2; exit 2; }
    sleep 0.5
done
curl -fs -o /dev/null "http://127.0.0.1:$PORT/login" || { echo "loadtest: gunicorn did not answer" >&2; exit 2; }
log "gunicorn up on :$PORT (${GUNICORN_ARGS[*]}), worker pid $WORKER_PID"

PY=.venv-load/bin/python
cores=$(nproc)
"$PY" - "$RUN/meta.json" <<EOF
import json, platform, subprocess, sys, time
def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "?"
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
dirty = " (with uncommitted changes)" if out("git", "status", "--porcelain", "--untracked-files=no") else ""
json.dump({
    "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "users": $USERS, "spawn_rate": $SPAWN_RATE,
    "run_time": "$RUN_TIME", "cases": "$CASES" if not $REUSE_DB else "existing", "database": "$DB",
    "app_env": "$APP_ENV", "gunicorn": out(".venv/bin/gunicorn", "--version").split()[-1].rstrip(")"),
    "gunicorn_args": "${GUNICORN_ARGS[*]}", "cores": $cores, "cpu_model": model,
    "memory": f"{int(mem) / 1024 / 1024:.0f} GiB RAM", "python": out(".venv/bin/python", "-c",
    "import platform; print(platform.python_version())"),
    "postgres": out("psql", "-d", "$DB", "-Atc", "show server_version"),
    "locust": (out(".venv-load/bin/locust", "--version").split() + ["?", "?"])[1],
    "commit": out("git", "rev-parse", "--short", "HEAD") + dirty,
    "loadavg_before": open("/proc/loadavg").read().split()[:3], "skipped": "$SKIP",
}, open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
EOF

PG_STATS="select relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0) from pg_stat_user_tables"
psql -d "$DB" -At -F, -c "$PG_STATS" >"$RUN/pg_tables_before.csv"

PROFILER_PID=""
if ((PROFILE)); then
    # One worker for the whole run (py-spy writes the profile when interrupted); its threads show as separate stacks.
    .venv-load/bin/py-spy record --pid "$(pgrep -P "$GUNICORN_PID" | head -1)" --rate 20 --format raw \
        --output "$RUN/profile.folded" >"$RUN/py-spy.log" 2>&1 &
    PROFILER_PID=$!
    pids+=("$PROFILER_PID")
fi

log "locust: $USERS users, spawn rate $SPAWN_RATE/s, run time $RUN_TIME"
set +e
LOAD_SKIP=$SKIP LOAD_EXTRA_JSON=$RUN/side.json LOAD_STEADY_JSON=$RUN/steady.json \
    .venv-load/bin/locust -f loadtest/locustfile.py --headless \
    --users "$USERS" --spawn-rate "$SPAWN_RATE" --run-time "$RUN_TIME" --stop-timeout 10 \
    --host "http://127.0.0.1:$PORT" --csv "$RUN/locust" --csv-full-history --html "$RUN/locust.html" \
    --only-summary --logfile "$RUN/locust.log" --loglevel WARNING >"$RUN/locust.out" 2>&1 &
LOCUST_PID=$!
pids+=("$LOCUST_PID")
# Sample who uses the cores while Locust runs (gunicorn, worker, Locust, this database's backends, the rest).
"$PY" loadtest/cpu.py "$RUN/cpu.json" "$DB" "gunicorn ($WORKERS workers × $THREADS threads)=$GUNICORN_PID" \
    "flask worker=$WORKER_PID" "Locust (load generator)=$LOCUST_PID" &
SAMPLER_PID=$!
pids+=("$SAMPLER_PID")
wait "$LOCUST_PID"
locust_rc=$?
kill -TERM "$SAMPLER_PID" && wait "$SAMPLER_PID"
if [[ -n $PROFILER_PID ]]; then kill -INT "$PROFILER_PID" && wait "$PROFILER_PID"; fi
set -e
psql -d "$DB" -At -F, -c "$PG_STATS" >"$RUN/pg_tables_after.csv"
"$PY" - "$RUN" <<'EOF'
import csv, json, sys
from pathlib import Path
run = Path(sys.argv[1])
def read(name):
    return {r[0]: [int(v or 0) for v in r[1:]] for r in csv.reader((run / name).open())}
before, after = read("pg_tables_before.csv"), read("pg_tables_after.csv")
out = {}
for table, (seq, tup, idx) in after.items():
    b = before.get(table, [0, 0, 0])
    out[table] = {"seq_scan": seq - b[0], "seq_tup_read": tup - b[1], "idx_scan": idx - b[2]}
(run / "pg_tables.json").write_text(json.dumps(out, indent=1))
EOF
if [[ ! -s "$RUN/locust_stats.csv" ]]; then
    tail -30 "$RUN/locust.out" >&2
    echo "loadtest: Locust wrote no statistics (exit $locust_rc)" >&2
    exit 2
fi
if grep -q "Traceback" "$RUN/gunicorn.log"; then log "gunicorn.log has tracebacks: see $RUN/gunicorn.log"; fi

set +e
"$PY" loadtest/report.py "$RUN" >/dev/null
verdict=$?
set -e
cat "$RUN/report.md"
log "report: $RUN/report.md ($([[ $verdict -eq 0 ]] && echo PASS || echo FAIL))"
exit "$verdict"
