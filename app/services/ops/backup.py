"""Write dated backups (database dump, tar of the file store, manifest of every hash) and prune old ones.

Backups are stamped with the machine's real UTC time: a frozen test clock or a training shift must not move them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from flask import current_app
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection

from app.extensions import db
from app.services.ops.health import HEALTH_PROBE_PREFIX

BACKUP_PREFIX = "xinyong-"
BACKUP_NAME = re.compile(r"^xinyong-\d{8}T\d{6}Z$")


def sha256_file(path: Path) -> str:
    """Hash a file in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pg_env(url) -> dict:
    """Build the libpq environment for a SQLAlchemy URL: the password never appears on a command line."""
    env = dict(os.environ)
    pairs = {"PGHOST": url.host, "PGPORT": url.port, "PGUSER": url.username, "PGPASSWORD": url.password,
             "PGDATABASE": url.database}
    for name, value in pairs.items():
        if value is not None:
            env[name] = str(value)
    for key, name in (("host", "PGHOST"), ("sslmode", "PGSSLMODE"), ("port", "PGPORT")):
        if key in url.query:
            env[name] = str(url.query[key])
    return env


def run_tool(args: list[str], env: dict | None = None) -> None:
    """Run a database tool (pg_dump, pg_restore); raise RuntimeError with its stderr when it fails."""
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} 失败（退出码 {done.returncode}）：{done.stderr.strip()[:2000]}")


def inventory(conn: Connection) -> dict:
    """Describe a database for the manifest: revision, rows per table, registered hashes of attachments and letters."""
    counts = {}
    for table in db.metadata.sorted_tables:
        counts[table.name] = conn.execute(select(func.count()).select_from(table)).scalar()
    revision = sorted(r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version")))
    attachments = {row[0]: row[1] for row in conn.execute(text("SELECT id, sha256 FROM attachment"))}
    letters: dict[str, str] = {}
    letters_bad: list[str] = []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text("SELECT id, sha256, encode(sha256(pdf), 'hex') FROM letter"))
    else:
        rows = ((i, s, hashlib.sha256(p).hexdigest()) for i, s, p in conn.execute(text("SELECT id, sha256, pdf FROM letter")))
    for letter_id, stored, actual in rows:
        letters[str(letter_id)] = stored
        if stored != actual:
            letters_bad.append(str(letter_id))
    return {"revision": revision, "counts": counts, "attachments": attachments, "letters": letters,
            "letters_bad": sorted(letters_bad)}


def attachment_path(store: Path, attachment_id: str) -> Path:
    """Return an attachment's path below a file store (the layout of app.services.attachments)."""
    return store / "attachments" / attachment_id[:2] / attachment_id


def _store_files(store: Path) -> dict[str, dict]:
    files = {}
    for path in sorted(store.rglob("*")):
        if path.is_file() and not path.name.startswith(HEALTH_PROBE_PREFIX):
            files[path.relative_to(store).as_posix()] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return files


@dataclass
class BackupResult:
    """The backup folder written, problems found while writing it, rows per table and the number of files."""

    path: Path
    problems: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    files: int = 0


def create_backup(root: Path, *, keep: int | None = None, label: datetime | None = None) -> BackupResult:
    """Write a dated backup folder: database dump, tar of the file store, manifest with every hash."""
    # The database is dumped before the files are copied: attachments are written before their row
    # commits, so every row in the dump already has its file on disk when the tar is made.
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = (label or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    final = root / f"{BACKUP_PREFIX}{stamp}"
    if final.exists():
        raise FileExistsError(f"{final} 已存在")
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))  # renamed when complete: never a half backup
    try:
        result = BackupResult(path=final)
        engine = db.engine
        # Before the snapshot: every audit checkpoint written by then describes a head the dump contains.
        snapshot_at = datetime.now(timezone.utc)
        if engine.dialect.name == "postgresql":
            dump_name = "database.dump"
            info = _dump_postgresql(engine, work / dump_name)
        else:
            dump_name = "database.sqlite3"
            info = _dump_sqlite(engine, work / dump_name)
        store = Path(current_app.config["FILE_STORE"])
        files = _store_files(store) if store.is_dir() else {}
        with tarfile.open(work / "files.tar", "w") as tar:
            for rel in files:
                tar.add(store / rel, arcname=rel, recursive=False)
        for attachment_id, stored in info["attachments"].items():
            entry = files.get(attachment_path(Path(), attachment_id).as_posix())
            if entry is None:
                result.problems.append(f"附件 {attachment_id} 的文件缺失")
            elif entry["sha256"] != stored:
                result.problems.append(f"附件 {attachment_id} 的文件与数据库登记的哈希不符")
        result.problems += [f"文书 {i} 的 PDF 与数据库登记的哈希不符" for i in info["letters_bad"]]
        manifest = {
            "format": 1, "created_at": datetime.now(timezone.utc).isoformat(), "snapshot_at": snapshot_at.isoformat(),
            "database_kind": engine.dialect.name,
            "database_file": dump_name, "files_tar": "files.tar", "database": info, "files": files,
            "problems_at_backup": result.problems,
        }
        (work / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        sums = "".join(f"{sha256_file(work / name)}  {name}\n" for name in (dump_name, "files.tar", "manifest.json"))
        (work / "MANIFEST.sha256").write_text(sums, encoding="utf-8")
        for path in work.iterdir():
            path.chmod(0o600)  # a backup holds every case and password hash
        work.chmod(0o700)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    result.counts = info["counts"]
    result.files = len(files)
    if keep:
        prune_backups(root, keep)
    return result


def _dump_postgresql(engine, target: Path) -> dict:
    # pg_dump reads the snapshot this transaction exported, so the manifest describes exactly the dump.
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            run_tool(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={target}"], env=pg_env(engine.url))
            return inventory(conn)


def _dump_sqlite(engine, target: Path) -> dict:
    import sqlite3

    raw = engine.raw_connection()
    try:
        if raw.driver_connection.in_transaction:
            # Only possible when the pool hands out the caller's own connection (in-memory database): the
            # backup API would wait forever for that open write transaction to end.
            raise RuntimeError("备份前请先结束当前事务（commit 或 rollback）。")
        destination = sqlite3.connect(target)
        try:
            raw.driver_connection.backup(destination)  # the online backup API: a consistent copy while in use
        finally:
            destination.close()
    finally:
        raw.close()
    copy = create_engine(f"sqlite:///{target}")
    try:
        with copy.connect() as conn:
            return inventory(conn)
    finally:
        copy.dispose()


def list_backups(root: Path) -> list[Path]:
    """List the complete backup folders below root, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and BACKUP_NAME.match(p.name) and (p / "manifest.json").is_file())


def prune_backups(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; return the removed folders."""
    removed = list_backups(root)[:-keep] if keep > 0 else []
    for path in removed:
        shutil.rmtree(path)
    return removed
