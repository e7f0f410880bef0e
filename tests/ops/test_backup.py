"""Backup and restore drill: database plus files, every hash verified; tampering anywhere makes the drill fail.

Runs on SQLite (online backup API) and, in the PostgreSQL pass, on PostgreSQL (pg_dump -Fc / pg_restore into a
scratch database the drill creates and drops).
"""
from __future__ import annotations

import io
import json
import os
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url

from app.extensions import db
from app.models import Attachment, AuditEvent, Letter
from app import create_app
from app.services.ops import backup as backups, drill
from tests.support.flows import do_task, file_objection


@pytest.fixture()
def case_with_files(api, seeded):
    """An accepted objection: two uploaded PDFs in the file store and one issued letter in the database."""
    case_id = file_objection(api)["id"]
    do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
    ours = db.session.query(Attachment).filter(Attachment.case_id == case_id)
    assert ours.count() == 2 and db.session.query(Letter).filter(Letter.case_id == case_id).count() == 1
    db.session.commit()  # the in-memory test database shares one connection: the backup needs it idle
    return case_id


def backup(root: Path, **kw) -> backups.BackupResult:
    db.session.commit()  # end the test's read transaction: in-memory SQLite shares its one connection
    return backups.create_backup(root, **kw)


def restore_drill(source: Path, **kw) -> drill.DrillReport:
    return drill.restore_drill(source, app_factory=create_app, **kw)


def drill_failures(report: drill.DrillReport) -> list[str]:
    return [line for ok, line in report.lines if not ok]


def test_backup_then_drill_verifies_everything(case_with_files, seeded, tmp_path):
    from app.services import audit
    from app.services.audit import checkpoint

    checkpoint.write_checkpoint()  # the restored chain must contain the head of the checkpoint before the snapshot
    result = backup(tmp_path / "backups")
    db.session.commit()
    assert result.problems == []
    folder = result.path
    assert backups.BACKUP_NAME.match(folder.name)
    kind = db.engine.dialect.name
    dump = "database.dump" if kind == "postgresql" else "database.sqlite3"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["MANIFEST.sha256", "files.tar", "manifest.json", dump])
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert all(p.stat().st_mode & 0o077 == 0 for p in folder.iterdir())  # nobody else may read a backup
    sums = (folder / "MANIFEST.sha256").read_text().splitlines()
    assert [line.split("  ")[1] for line in sums] == [dump, "files.tar", "manifest.json"]

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    store = Path(seeded.config["FILE_STORE"])
    attachments = db.session.scalars(select(Attachment)).all()
    for attachment in attachments:  # every attachment's file is listed with the hash the database holds
        entry = manifest["files"][f"attachments/{attachment.id[:2]}/{attachment.id}"]
        assert entry["sha256"] == attachment.sha256 == backups.sha256_file(
            backups.attachment_path(store, attachment.id))
    letters = db.session.scalars(select(Letter)).all()  # the demo's letter pairs and the objection's
    assert manifest["database"]["letters"] == {str(letter.id): letter.sha256 for letter in letters}
    assert manifest["database"]["counts"]["audit_event"] == db.session.query(AuditEvent).count()

    assert manifest["snapshot_at"] <= manifest["created_at"]
    audit.record("auth.login")  # after the backup, and a checkpoint of it: not in the backup, not expected there
    db.session.commit()
    checkpoint.write_checkpoint()
    report = restore_drill(tmp_path / "backups", work_dir=tmp_path / "drill")
    assert report.backup == folder
    assert report.ok, report.lines
    lines = "\n".join(line for _, line in report.lines)
    files = db.session.query(Attachment).count()  # the objection's two and the demo's 认定文书
    assert f"附件：{files} 个与还原库登记的哈希核对，缺失 0，不符 0" in lines
    assert f"文书：{db.session.query(Letter).count()} 份 PDF 与登记的哈希核对，不符 0" in lines
    assert f"审计哈希链：已校验 {manifest['database']['counts']['audit_event']} 条，问题 0 处" in lines
    assert list((tmp_path / "drill").iterdir()) == []  # scratch files removed


def _rewrite_sums(folder: Path) -> None:
    """What a careful forger would do: recompute the outer checksums after changing a file."""
    names = [line.split("  ")[1] for line in (folder / "MANIFEST.sha256").read_text().splitlines()]
    (folder / "MANIFEST.sha256").write_text("".join(f"{backups.sha256_file(folder / n)}  {n}\n" for n in names))


def _replace_in_tar(folder: Path, member_suffix: str, data: bytes) -> None:
    source = folder / "files.tar"
    with tarfile.open(source) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(source, "w") as tar:
        for member, content in members:
            if member.name.endswith(member_suffix):
                content = data
            member.size = len(content)
            tar.addfile(member, io.BytesIO(content))


def test_a_changed_backup_file_fails_the_drill(case_with_files, tmp_path):
    folder = backup(tmp_path / "b").path
    with open(folder / "files.tar", "r+b") as handle:  # one flipped byte somewhere in the archive
        handle.seek(600)
        byte = handle.read(1)
        handle.seek(600)
        handle.write(bytes([byte[0] ^ 0xFF]))
    report = restore_drill(folder)
    assert not report.ok
    assert drill_failures(report) == ["files.tar：SHA-256 不符或文件缺失"]


def test_a_forged_attachment_fails_the_drill_even_with_recomputed_checksums(case_with_files, tmp_path):
    folder = backup(tmp_path / "b").path
    attachment = db.session.scalars(select(Attachment)).first()
    _replace_in_tar(folder, attachment.id, b"%PDF-1.4 forged")
    _rewrite_sums(folder)
    failures = drill_failures(restore_drill(folder))
    assert len(failures) == 2
    assert failures[0].startswith("文件库：") and attachment.id in failures[0]
    assert failures[1].startswith(f"附件：{db.session.query(Attachment).count()} 个") and "不符 1" in failures[1]


def test_a_file_changed_in_the_store_is_reported_by_backup_and_drill(case_with_files, seeded, tmp_path):
    attachment = db.session.scalars(select(Attachment)).first()
    backups.attachment_path(Path(seeded.config["FILE_STORE"]), attachment.id).write_bytes(b"%PDF-1.4 replaced on disk")
    result = backup(tmp_path / "b")
    assert result.problems == [f"附件 {attachment.id} 的文件与数据库登记的哈希不符"]
    failures = drill_failures(restore_drill(result.path))
    assert len(failures) == 1 and failures[0].startswith(f"附件：{db.session.query(Attachment).count()} 个") and "不符 1" in failures[0]


def test_a_missing_attachment_file_is_reported(case_with_files, seeded, tmp_path):
    attachment = db.session.scalars(select(Attachment)).first()
    backups.attachment_path(Path(seeded.config["FILE_STORE"]), attachment.id).unlink()
    result = backup(tmp_path / "b")
    assert result.problems == [f"附件 {attachment.id} 的文件缺失"]
    failures = drill_failures(restore_drill(result.path))
    assert len(failures) == 1 and "缺失 1" in failures[0]


def test_an_altered_letter_or_audit_row_fails_the_drill(case_with_files, tmp_path):
    letter = db.session.scalar(select(Letter))
    db.session.execute(update(Letter).where(Letter.id == letter.id).values(pdf=letter.pdf + b"\n% appended"))
    first_event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id))
    if db.engine.dialect.name == "postgresql":  # tamper as a superuser would: skip the append-only trigger (0009)
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(update(AuditEvent).where(AuditEvent.id == first_event.id).values(username="somebody-else"))
    db.session.commit()
    result = backup(tmp_path / "b")
    assert result.problems == [f"文书 {letter.id} 的 PDF 与数据库登记的哈希不符"]
    failures = drill_failures(restore_drill(result.path))
    assert [f.split("：")[0] for f in failures] == ["文书", "审计哈希链"]


def test_a_tar_escaping_its_folder_is_refused(case_with_files, tmp_path):
    folder = backup(tmp_path / "b").path
    with tarfile.open(folder / "files.tar", "a") as tar:
        member = tarfile.TarInfo("../../outside.txt")
        member.size = 4
        tar.addfile(member, io.BytesIO(b"evil"))
    _rewrite_sums(folder)
    with pytest.raises(tarfile.OutsideDestinationError):
        restore_drill(folder, work_dir=tmp_path / "w" / "drill")
    assert not any(p.name == "outside.txt" for p in tmp_path.rglob("*"))


def test_cli_create_and_drill_exit_codes_and_pruning(case_with_files, seeded, tmp_path):
    runner = seeded.test_cli_runner()
    root = tmp_path / "backups"
    for stamp in ("20260101T000000Z", "20260102T000000Z"):  # older backups to prune
        (root / f"xinyong-{stamp}").mkdir(parents=True)
        (root / f"xinyong-{stamp}" / "manifest.json").write_text("{}")
    created = runner.invoke(args=["backup", "create", str(root), "--keep", "2"])
    assert created.exit_code == 0, created.output
    assert "问题 0 处" in created.output
    assert [p.name for p in backups.list_backups(root)][0] == "xinyong-20260102T000000Z"
    assert len(backups.list_backups(root)) == 2
    drill = runner.invoke(args=["backup", "drill", str(root)])
    assert drill.exit_code == 0, drill.output
    assert "[FAIL]" not in drill.output and "结论：全部通过。" in drill.output
    newest = backups.list_backups(root)[-1]
    (newest / "manifest.json").write_text((newest / "manifest.json").read_text(encoding="utf-8") + " ",
                                          encoding="utf-8")
    failed = runner.invoke(args=["backup", "drill", str(root)])
    assert failed.exit_code == 1
    assert "[FAIL] manifest.json：SHA-256 不符或文件缺失" in failed.output
    outcomes = db.session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "backup.drill")
                                  .order_by(AuditEvent.id)).all()
    assert outcomes == ["success", "failure"]


def test_half_written_backups_are_never_picked(tmp_path):
    (tmp_path / ".partial-abc").mkdir()
    (tmp_path / ".partial-abc" / "manifest.json").write_text("{}")
    (tmp_path / "xinyong-20260101T000000Z").mkdir()  # no manifest: interrupted before the rename? never
    assert backups.list_backups(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        restore_drill(tmp_path)


@pytest.mark.postgres
def test_postgresql_drill_restores_a_custom_dump_into_a_scratch_database_and_drops_it(case_with_files, tmp_path):
    url = db.engine.url
    result = backup(tmp_path / "b", label=datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))
    assert result.path.name == "xinyong-20261127T020000Z"
    assert (result.path / "database.dump").read_bytes()[:5] == b"PGDMP"  # pg_dump custom format

    def scratch_databases() -> set[str]:
        admin = create_engine(url.set(database="postgres"))
        try:
            with admin.connect() as conn:
                return set(conn.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                        {"p": f"{url.database}_drill_%"}))
        finally:
            admin.dispose()

    before = scratch_databases()
    report = restore_drill(result.path)
    assert report.ok, report.lines
    restored = next(line for _, line in report.lines if line.startswith("数据库已还原"))
    assert f"{url.database}_drill_" in restored and "***" not in restored  # names the database; no password set
    assert scratch_databases() == before  # dropped again

    # An operator-provided empty database works too, and is left in place for inspection.
    name = f"{url.database}_drill_given"
    drill._admin_execute(url, f'DROP DATABASE IF EXISTS "{name}"')
    drill._admin_execute(url, f'CREATE DATABASE "{name}"')
    try:
        given = url.set(database=name).render_as_string(hide_password=False)
        report = restore_drill(result.path, scratch_url=given)
        assert report.ok, report.lines
        check = create_engine(given)
        try:
            with check.connect() as conn:
                # The objection's letter and the demo registrations' letter pairs, all restored.
                assert conn.scalar(text("SELECT count(*) FROM letter")) == db.session.query(Letter).count() > 1
        finally:
            check.dispose()
    finally:
        drill._drop_database(url, name)
    assert make_url(str(url)).database == db.engine.url.database
    assert os.environ["TEST_DATABASE_URL"].startswith("postgresql")
