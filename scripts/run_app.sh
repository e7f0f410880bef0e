#!/usr/bin/env bash
# Run the app locally on http://127.0.0.1:5000 with the timer worker beside it.
# The first run creates var/xinyong.db with the demo data (accounts: see README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
export FLASK_APP=wsgi
FLASK=(.venv/bin/flask --app wsgi)

if [[ ! -e var/xinyong.db ]]; then
    "${FLASK[@]}" demo seed  # migrates, deploys the processes and loads the demo data
fi
"${FLASK[@]}" db upgrade         # an existing database gets any new migrations
"${FLASK[@]}" processes deploy  # a new process version only when the BPMN files changed
mkdir -p "${FILE_STORE:-var/files}"  # evidence and letter files (/healthz checks it is writable)

# Worker and server run in the background so that the traps fire at once on Ctrl-C or TERM.
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"${FLASK[@]}" worker &
pids+=($!)
"${FLASK[@]}" run --host 127.0.0.1 --port 5000 &
pids+=($!)
wait "${pids[1]}"
