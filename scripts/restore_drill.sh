#!/usr/bin/env bash
# Restore drill: restore the newest backup into a scratch database and folder, verify every hash (manifest,
# attachments and letters against the restored database, the audit hash chain), print a report, clean up.
# Usage: scripts/restore_drill.sh [BACKUP_DIR] [extra options of `flask backup drill`, e.g. --keep]
# PostgreSQL: the database user needs CREATEDB (the scratch database is created and dropped on the same server),
# or pass --scratch-url postgresql://…/an_empty_database. Exit 1 on any mismatch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source_dir="${1:-${BACKUP_DIR:-/srv/xinyong/backups}}"
shift || true
umask 077
exec .venv/bin/flask --app wsgi backup drill "$source_dir" "$@"
