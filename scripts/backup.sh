#!/usr/bin/env bash
# Nightly backup: database dump + file store tar + SHA-256 manifest in a dated folder, keeping the newest N.
# Usage: scripts/backup.sh [BACKUP_DIR] [KEEP]   (defaults: $BACKUP_DIR or /srv/xinyong/backups, 14)
# Reads the same environment as the app (APP_ENV, DATABASE_URL, FILE_STORE, SECRET_KEY …): under systemd
# the EnvironmentFile of deploy/xinyong-backup.service. Exit 1 when a stored file no longer matches its hash.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target="${1:-${BACKUP_DIR:-/srv/xinyong/backups}}"
keep="${2:-${BACKUP_KEEP:-14}}"
umask 077  # a backup holds every case and every password hash
exec .venv/bin/flask --app wsgi backup create "$target" --keep "$keep"
