"""Restore a backup into a scratch database and folder and verify every hash: the restore drill (`flask backup drill`).

The restored database is read through a second app, built by the factory the caller passes in (the CLI hands on
create_app): operations never import the app factory.
"""
from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from flask import Flask, current_app
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core import clock
from app.extensions import db
from app.services import audit
from app.services.ops.backup import attachment_path, inventory, list_backups, pg_env, run_tool, sha256_file


@dataclass
class DrillReport:
    """What the drill found: one (passed, message) line per check, for the backup it restored."""

    backup: Path
    lines: list[tuple[bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.lines) and all(ok for ok, _ in self.lines)

    def check(self, ok: bool, message: str) -> bool:
        self.lines.append((ok, message))
        return ok


def restore_drill(source: Path, *, work_dir: Path | None = None, scratch_url: str | None = None,
                  keep: bool = False, app_factory: Callable[[type], Flask]) -> DrillReport:
    """Restore a backup (or the newest one below a folder) into a scratch database and directory and verify it.

    `app_factory` builds the app that reads the restored database (create_app, handed on by the CLI).
    """
    source = Path(source)
    backup = source if (source / "manifest.json").is_file() else (list_backups(source) or [None])[-1]
    if backup is None:
        raise FileNotFoundError(f"{source} 下没有完整的备份")
    report = DrillReport(backup=backup)
    if work_dir:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    # Always a fresh folder of our own (inside work_dir if given): cleaning up never touches anything else.
    work = Path(tempfile.mkdtemp(prefix="xinyong-drill-", dir=work_dir))
    created_db: tuple | None = None
    try:
        if not _verify_sums(backup, report):
            return report
        manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
        files_dir = work / "files"
        with tarfile.open(backup / manifest["files_tar"]) as tar:
            tar.extractall(files_dir, filter="data")  # refuses absolute paths, links out and device files
        bad = [rel for rel, entry in manifest["files"].items()
               if not (files_dir / rel).is_file() or sha256_file(files_dir / rel) != entry["sha256"]]
        report.check(not bad, f"文件库：{len(manifest['files'])} 个文件与清单核对，不符 {len(bad)} 个"
                              + (f"（{'、'.join(bad[:5])}）" if bad else ""))
        if manifest["database_kind"] == "postgresql":
            url, created_db = _restore_postgresql(backup / manifest["database_file"], scratch_url)
        else:
            target = work / "restored.sqlite3"
            shutil.copyfile(backup / manifest["database_file"], target)
            url = f"sqlite:///{target}"
        report.check(True, f"数据库已还原到临时库（{make_url(url).render_as_string(hide_password=True)}）")
        _verify_restored(url, files_dir, manifest, report, app_factory)
    finally:
        if created_db and not keep:
            _drop_database(*created_db)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return report


def _verify_sums(backup: Path, report: DrillReport) -> bool:
    sums = backup / "MANIFEST.sha256"
    if not sums.is_file():
        return report.check(False, "缺少 MANIFEST.sha256")
    ok = True
    for line in sums.read_text(encoding="utf-8").splitlines():
        expected, name = line.split(None, 1)
        name = name.lstrip("*")
        path = backup / name
        matches = path.is_file() and sha256_file(path) == expected
        ok &= report.check(matches, f"{name}：SHA-256 {'一致' if matches else '不符或文件缺失'}")
    return ok


def _restore_postgresql(dump: Path, scratch_url: str | None) -> tuple[str, tuple | None]:
    source = db.engine.url
    created = None
    if scratch_url:
        url = make_url(scratch_url)
    else:
        name = f"{source.database}_drill_{clock.machine_now():%Y%m%d%H%M%S}"[:63]
        url = source.set(database=name)
        _admin_execute(source, f'CREATE DATABASE "{name}"')
        created = (source, name)
    try:
        run_tool(["pg_restore", "--no-owner", "--no-acl", "--exit-on-error", f"--dbname={url.database}", str(dump)],
             env=pg_env(url))
    except BaseException:
        if created:
            _drop_database(*created)
        raise
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False), created


def _admin_execute(url, statement: str) -> None:
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _drop_database(url, name: str) -> None:
    _admin_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _verify_restored(url: str, files_dir: Path, manifest: dict, report: DrillReport,
                     app_factory: Callable[[type], Flask]) -> None:
    settings = {k: v for k, v in current_app.config.items() if k.isupper()}
    settings.update(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={}, FILE_STORE=files_dir)
    drill_app = app_factory(type("DrillConfig", (), settings))
    with drill_app.app_context():
        try:
            expected = manifest["database"]
            with db.engine.connect() as conn:
                found = inventory(conn)
            report.check(found["revision"] == expected["revision"],
                         f"迁移版本：{', '.join(found['revision'])}（备份时 {', '.join(expected['revision'])}）")
            differing = {t: (n, found["counts"].get(t)) for t, n in expected["counts"].items()
                         if found["counts"].get(t) != n}
            total = sum(expected["counts"].values())
            report.check(not differing, f"数据行数：{len(expected['counts'])} 张表共 {total} 行"
                                        + (f"，不符：{differing}" if differing else "，全部一致"))
            missing, mismatched = [], []
            for attachment_id, stored in found["attachments"].items():
                path = attachment_path(files_dir, attachment_id)
                if not path.is_file():
                    missing.append(attachment_id)
                elif sha256_file(path) != stored or expected["attachments"].get(attachment_id) != stored:
                    mismatched.append(attachment_id)
            report.check(not missing and not mismatched and len(found["attachments"]) == len(expected["attachments"]),
                         f"附件：{len(found['attachments'])} 个与还原库登记的哈希核对，缺失 {len(missing)}，不符 {len(mismatched)}")
            letters_changed = [i for i, s in found["letters"].items() if expected["letters"].get(i) != s]
            report.check(not found["letters_bad"] and not letters_changed
                         and len(found["letters"]) == len(expected["letters"]),
                         f"文书：{len(found['letters'])} 份 PDF 与登记的哈希核对，不符 {len(found['letters_bad'])}，"
                         f"与清单不同 {len(letters_changed)}")
            # Compared with the newest checkpoint taken before the dump's snapshot (older backups: the chain alone).
            snapshot_at = manifest.get("snapshot_at")
            checked, problems = audit.verify_chain(
                checkpoints=snapshot_at is not None,
                checkpoint_before=datetime.fromisoformat(snapshot_at) if snapshot_at else None)
            report.check(not problems, f"审计哈希链：已校验 {checked} 条，问题 {len(problems)} 处"
                                       + (f"（{problems[0]}）" if problems else ""))
        finally:
            db.session.remove()
            db.engine.dispose()
