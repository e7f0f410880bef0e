"""The keyed audit chain against someone who can write to the database but does not hold the audit key.

Each attack below went unnoticed with the plain SHA-256 chain (`flask audit verify` reported 0 problems): deleting
the newest events, editing an event and recomputing the rest, forging an `audit.archived` anchor. Now the HMAC
seals and the keyed checkpoints outside the database show each one, with exit code 1. Both databases.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import AuditEvent
from app.services import audit
from app.services.audit import archive, chain, checkpoint, checkpoint_file as audit_checkpoint
from app.core import clock
from app.services.audit.keys import Keyring, KeyringError, keyring, load_keyring, parse_keys
from app.services.worker import Schedule
from tests.support.constants import T0
from tests.support import factories

TODAY = T0.date()


def tamper(sql: str, **params) -> None:
    """Write behind the application's back, as a database administrator could (PG: the trigger is skipped)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(text(sql), params)
    db.session.commit()


def events(n: int, *, days_ago: int = 0) -> list[int]:
    with clock.frozen_at(T0 - timedelta(days=days_ago)):
        ids = [factories.audit_event("auth.login", details={"n": i}, actor=audit.Actor(username=f"u{i}", ip="10.0.0.1")).id
               for i in range(n)]
    db.session.commit()
    return ids


def rows() -> list:
    return db.session.execute(select(*chain._columns()).order_by(AuditEvent.id)).all()


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def recompute_with_sha256(from_id: int, *, legacy: bool) -> None:
    """What a writer without the key can do: re-link and re-hash every event from `from_id` with plain SHA-256."""
    prev = None
    for row in rows():
        if row.id < from_id:
            prev = row.hash
            continue
        prev = prev or chain.GENESIS
        key_id = None if legacy else row.key_id
        new_hash = chain._digest(prev, chain._row_fields(row))
        tamper("UPDATE audit_event SET prev_hash = :p, hash = :h, key_id = :k WHERE id = :id",
               p=prev, h=new_hash, k=key_id, id=row.id)
        prev = new_hash


def checkpoint_lines(app) -> list[dict]:
    folder = audit_checkpoint.directory()
    return [json.loads(line) for path in audit_checkpoint.files(folder) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------------------ the attacks

def test_deleting_the_newest_events_shows_against_the_checkpoint(app):
    ids = events(6)
    written = cli(app, "audit", "checkpoint")
    assert written.exit_code == 0 and f"已写入审计检查点：事件 {ids[-1]}（至此共 6 条）" in written.output
    tamper("DELETE FROM audit_event WHERE id >= :id", id=ids[-2])
    assert audit.verify_chain(checkpoints=False) == (4, [])  # the chain alone cannot tell: it just ends earlier

    result = cli(app, "audit", "verify")
    assert result.exit_code == 1
    assert f"库中最新的事件是 {ids[-3]}，早于" in result.output and f"记录的事件 {ids[-1]}：最新的事件被删除" in result.output
    assert "应有 6 条事件" in result.output and "2 条被删除" in result.output

    # The worker does not sign the shortened chain; it says so in the audit log, and verify keeps failing.
    assert cli(app, "worker", "--once").exit_code == 0
    refusal = db.session.scalars(select(AuditEvent).where(AuditEvent.action == chain.CHECKPOINT)).one()
    assert refusal.outcome == "failure" and refusal.details["code"] == "chain_broken"
    assert len(checkpoint_lines(app)) == 1
    assert cli(app, "audit", "verify").exit_code == 1


@pytest.mark.parametrize("how", ["keep_key_id", "as_legacy", "whole_chain_as_legacy"])
def test_editing_an_event_and_recomputing_the_rest_with_sha256_is_detected(app, how):
    ids = events(8)
    assert cli(app, "audit", "checkpoint").exit_code == 0
    victim = ids[3]
    tamper("UPDATE audit_event SET outcome = 'failure' WHERE id = :id", id=victim)
    recompute_with_sha256(ids[0] if how == "whole_chain_as_legacy" else victim, legacy=how != "keep_key_id")

    result = cli(app, "audit", "verify")
    assert result.exit_code == 1, result.output
    assert "前序哈希不符" not in result.output  # the links are perfect: only the seals give it away
    if how == "keep_key_id":
        assert f"事件 {victim}：内容哈希不符（该条被改动，或链被不持有密钥者重算）" in result.output
        assert f"事件 {ids[-1]}：内容哈希不符" in result.output
    elif how == "as_legacy":
        assert f"事件 {victim}：内容哈希不符（不带密钥的旧式 SHA-256 出现在带密钥的事件之后" in result.output
        assert f"事件 {ids[2]}：" not in result.output
    else:
        # Every event now looks like a pre-0010 legacy event; the keyed checkpoint outside the database says
        # otherwise: its head hash differs, and it knows where keyed events began.
        assert f"事件 {ids[-1]} 的哈希与" in result.output and "的检查点不符" in result.output
        assert f"事件 {ids[0]}：内容哈希不符（不带密钥的旧式 SHA-256" in result.output
        # Without any checkpoint such a wholesale rewrite would pass: hence one right after the upgrade
        # (docs/deployment.md §12) and every five minutes by the worker.
        assert audit.verify_chain(checkpoints=False) == (8, [])


@pytest.mark.parametrize("label", [None, "test"])
def test_a_forged_archive_anchor_is_detected(app, tmp_path, label):
    ids = events(6, days_ago=500)
    assert cli(app, "audit", "checkpoint").exit_code == 0
    stolen = rows()[:3]
    # The forger deletes the oldest events, keeps them in a file and appends an anchor that describes them exactly.
    tamper("DELETE FROM audit_event WHERE id <= :id", id=ids[2])
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(
        {"id": r.id, **chain._row_fields(r), "prev_hash": r.prev_hash, "hash": r.hash, "key_id": r.key_id},
        ensure_ascii=False, sort_keys=True) + "\n" for r in stolen), encoding="utf-8")
    head = rows()[-1]
    anchor = {"at": T0, "user_id": None, "username": "system", "unit_id": None, "ip": "", "action": chain.ARCHIVED,
              "object_type": "audit_archive", "object_id": str(ids[2]), "outcome": "success",
              "details": {"before": "2025-07-01", "first_id": ids[0], "through_id": ids[2], "count": 3,
                          "first_prev_hash": chain.GENESIS, "last_hash": stolen[-1].hash, "file": "a.jsonl",
                          "sha256": archive._sha256_file(tmp_path / "a.jsonl"), "retention_days": 365}}
    fields = {**anchor, "at": T0.isoformat()}
    db.session.execute(AuditEvent.__table__.insert().values(
        **anchor, prev_hash=head.hash, hash=chain._digest(head.hash, fields), key_id=label))
    db.session.commit()
    forged = db.session.scalar(select(func.max(AuditEvent.id)))

    assert chain.latest_anchor() is None  # not trusted as the chain's start
    result = cli(app, "audit", "verify")
    assert result.exit_code == 1
    assert f"事件 {forged}：归档锚点（audit.archived）校验不通过：伪造或被改动" in result.output
    assert f"事件 {ids[3]}：前序哈希不符" in result.output  # the chain starts at genesis without a valid anchor
    assert "3 条被删除" in result.output
    archived = cli(app, "audit", "verify-archive", str(tmp_path / "a.jsonl"))
    assert archived.exit_code == 1 and "审计链中没有与之对应的归档记录" in archived.output


# ------------------------------------------------------------------------------------------ checkpoints

def test_a_tampered_or_forged_checkpoint_line_is_a_problem(app):
    ids = events(3)
    assert cli(app, "audit", "checkpoint").exit_code == 0
    (path,) = audit_checkpoint.files(audit_checkpoint.directory())
    line = json.loads(path.read_text())
    assert set(line) == {"v", "head_id", "head_hash", "count", "first_id", "keyed_from", "at", "key_id", "reset", "mac"}
    assert (line["head_id"], line["count"], line["first_id"], line["keyed_from"], line["key_id"]) == (
        ids[-1], 3, ids[0], ids[0], "test")
    assert cli(app, "audit", "verify").exit_code == 0

    edited = {**line, "head_id": ids[0], "count": 1}  # to hide later deletions
    path.write_text(json.dumps(edited) + "\n")
    result = cli(app, "audit", "verify")
    assert result.exit_code == 1 and "第 1 行：校验码不符（检查点被改动或伪造）" in result.output
    assert "未找到审计检查点" in result.output
    # Nor does the worker build on a damaged file.
    refused = cli(app, "audit", "checkpoint")
    assert refused.exit_code == 1 and "检查点文件有问题" in refused.output


def _append_many(args) -> int:
    folder, keys, worker = args
    ring = Keyring(keys, "test")
    for n in range(50):
        audit_checkpoint.append(folder, audit_checkpoint.Checkpoint(
            head_id=worker * 1000 + n, head_hash="ab" * 32, count=n, first_id=1, keyed_from=1,
            at=datetime.now(timezone.utc), key_id=ring.current), ring)
    return 50


def test_workers_append_checkpoints_to_one_file_at_once(app, tmp_path):
    import multiprocessing as mp

    ring = keyring()
    with mp.get_context("fork").Pool(4) as pool:
        assert sum(pool.map(_append_many, [(tmp_path, ring.secrets, w) for w in range(1, 5)])) == 200
    newest, problems = audit_checkpoint.newest(tmp_path, ring)
    assert problems == [] and newest.head_id == 4049
    assert sum(len(p.read_text().splitlines()) for p in audit_checkpoint.files(tmp_path)) == 200


def test_the_worker_checkpoints_at_once_and_then_every_interval(app):
    events(2)
    assert cli(app, "worker", "--once").exit_code == 0
    (line,) = checkpoint_lines(app)
    assert line["head_id"] == rows()[-1].id and line["reset"] is False

    moments, calls = [1000.0], []
    schedule = Schedule(300, clock=lambda: moments[0], action=lambda: calls.append(moments[0]) or True)
    for moment in (1000.0, 1100.0, 1299.9, 1300.0, 1450.0, 1600.0):
        moments[0] = moment
        schedule.run_if_due()
    assert calls == [1000.0, 1300.0, 1600.0]
    assert app.config["AUDIT_CHECKPOINT_INTERVAL"] == 300


def test_checkpoints_follow_archives(app, tmp_path):
    old = events(4, days_ago=800)
    young = events(2, days_ago=500)
    recent = events(1)
    assert cli(app, "audit", "checkpoint").exit_code == 0
    assert cli(app, "audit", "archive", "--before", str(TODAY - timedelta(days=700)), "--out",
               str(tmp_path / "a.jsonl")).exit_code == 0
    # 7 − 4 archived + the anchor; the checkpoint (7 events up to its head) allows for the 4 archived since.
    assert audit.verify_chain() == (4, [])
    assert cli(app, "audit", "checkpoint").exit_code == 0
    assert cli(app, "audit", "verify").exit_code == 0
    assert [r.id for r in rows()][:3] == young + recent


def test_a_checkpoint_whose_head_was_archived_continues_from_the_anchor(app, tmp_path):
    old = events(4, days_ago=800)
    assert cli(app, "audit", "checkpoint").exit_code == 0
    assert cli(app, "audit", "archive", "--before", str(TODAY - timedelta(days=700)), "--out",
               str(tmp_path / "a.jsonl")).exit_code == 0
    assert db.session.get(AuditEvent, old[-1]) is None
    assert audit.verify_chain() == (1, [])
    assert cli(app, "audit", "checkpoint").exit_code == 0
    assert cli(app, "audit", "verify").exit_code == 0
    # Deleting the anchor as well leaves nothing to explain the checkpoint's missing head.
    tamper("DELETE FROM audit_event")
    result = cli(app, "audit", "verify")
    assert result.exit_code == 1 and "最新的事件被删除" in result.output


def test_after_a_restore_the_operator_resets_the_checkpoints(app):
    ids = events(5)
    assert cli(app, "audit", "checkpoint").exit_code == 0
    tamper("DELETE FROM audit_event WHERE id >= :id", id=ids[-2])  # what a restore from last night's backup loses
    assert cli(app, "audit", "verify").exit_code == 1
    assert cli(app, "audit", "checkpoint").exit_code == 1

    reset = cli(app, "audit", "checkpoint", "--after-restore")
    assert reset.exit_code == 0, reset.output
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == chain.CHECKPOINT,
                                                        AuditEvent.outcome == "success")).one()
    assert event.details == {"reset": True, "previous_head_id": ids[-1], "previous_at": event.details["previous_at"]}
    assert checkpoint_lines(app)[-1]["reset"] is True
    result = cli(app, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert cli(app, "audit", "checkpoint").exit_code == 0

    # A reset does not sign a broken chain.
    tamper("UPDATE audit_event SET outcome = 'denied' WHERE id = :id", id=ids[0])
    refused = cli(app, "audit", "checkpoint", "--after-restore")
    assert refused.exit_code == 1 and f"事件 {ids[0]}：内容哈希不符" in refused.output


def test_the_restore_drill_compares_with_the_checkpoint_before_its_snapshot(app):
    events(3)
    assert cli(app, "audit", "checkpoint").exit_code == 0
    early = datetime.now(timezone.utc)
    events(2)
    assert cli(app, "audit", "checkpoint").exit_code == 0
    newest = checkpoint.newest_checkpoint()
    before = chain.verify(checkpoint_before=early)
    assert before.checkpoint.head_id == newest.head_id - 2 and before.problems == []


# ------------------------------------------------------------------------------------------ keys

def test_key_rotation_keeps_old_rows_verifiable(app, monkeypatch):
    first = events(2)
    monkeypatch.setitem(app.config, "AUDIT_HMAC_KEYS",
                        "test:test-only-audit-key-not-secret-00000000, k2027:" + "5e" * 16 + "a1b2c3d4e5f60718")
    monkeypatch.setitem(app.config, "AUDIT_HMAC_KEY_ID", "k2027")
    second = events(2)
    assert [r.key_id for r in rows()] == ["test", "test", "k2027", "k2027"]
    assert cli(app, "audit", "checkpoint").exit_code == 0
    assert checkpoint_lines(app)[-1]["key_id"] == "k2027"
    assert cli(app, "audit", "verify").exit_code == 0

    monkeypatch.setitem(app.config, "AUDIT_HMAC_KEYS", "k2027:" + "5e" * 16 + "a1b2c3d4e5f60718")
    result = cli(app, "audit", "verify")
    assert result.exit_code == 1 and f"事件 {first[0]}：密钥编号 test 未配置，无法校验" in result.output
    assert f"事件 {second[0]}" not in result.output


def test_legacy_rows_are_accepted_only_before_the_first_keyed_row(app):
    # Two events as written before migration 0010: no key id, plain SHA-256.
    prev = chain.GENESIS
    for n in range(2):
        fields = {"at": T0.isoformat(), "user_id": None, "username": "old", "unit_id": None, "ip": "",
                  "action": "auth.login", "object_type": "", "object_id": "", "outcome": "success", "details": {"n": n}}
        digest = chain._digest(prev, fields)
        db.session.execute(AuditEvent.__table__.insert().values(**{**fields, "at": T0}, prev_hash=prev, hash=digest))
        prev = digest
    db.session.commit()
    keyed = events(2)
    assert audit.verify_chain() == (4, [])
    assert chain.check_event(db.session.get(AuditEvent, keyed[0])) == {"content": True, "linked": True}
    # A legacy-looking row after keyed ones (a writer without the key appending) is refused.
    last = rows()[-1]
    fields = {**chain._row_fields(last), "details": {"forged": True}}
    db.session.execute(AuditEvent.__table__.insert().values(
        **{**fields, "at": last.at}, prev_hash=last.hash, hash=chain._digest(last.hash, fields)))
    db.session.commit()
    forged = rows()[-1]
    assert chain.check_event(db.session.get(AuditEvent, forged.id))["content"] is False
    assert audit.verify_chain()[1] == [f"事件 {forged.id}：内容哈希不符（不带密钥的旧式 SHA-256 出现在带密钥的事件之后："
                                       "链被不持有密钥者重算）"]


def test_keys_come_from_the_environment_or_a_key_file(tmp_path):
    assert parse_keys("a:" + "x" * 40 + ", b:" + "y" * 40, "AUDIT_HMAC_KEYS") == {"a": "x" * 40, "b": "y" * 40}
    key_file = tmp_path / "audit-keys"
    key_file.write_text("# rotated 2027-01\nk1:" + "1" * 40 + "\nk2:" + "2" * 40 + "\n", encoding="utf-8")
    ring = load_keyring({"AUDIT_HMAC_KEY_FILE": str(key_file), "AUDIT_HMAC_KEY_ID": "k2"})
    assert ring.current == "k2" and set(ring.secrets) == {"k1", "k2"}
    assert ring.mac("k1", b"x") != ring.mac("k2", b"x") and ring.mac("k3", b"x") is None
    assert load_keyring({}) is None
    for config, message in [
        ({"AUDIT_HMAC_KEY_FILE": str(key_file)}, "AUDIT_HMAC_KEY_ID"),  # two keys: which one signs?
        ({"AUDIT_HMAC_KEYS": "k1:" + "a" * 40, "AUDIT_HMAC_KEY_ID": "k9"}, "不在已配置的审计密钥中"),
        ({"AUDIT_HMAC_KEYS": "no-separator"}, "密钥编号:密钥"),
        ({"AUDIT_HMAC_KEYS": "bad id!:" + "a" * 40}, "密钥编号"),
        ({"AUDIT_HMAC_KEYS": "k1:" + "a" * 40, "AUDIT_HMAC_KEY_FILE": str(key_file)}, "取值不同"),
        ({"AUDIT_HMAC_KEY_FILE": str(tmp_path / "missing")}, "无法读取审计密钥文件"),
    ]:
        with pytest.raises(KeyringError, match=message):
            load_keyring(config)


def test_the_app_refuses_to_start_without_an_audit_key():
    from app import create_app
    from config import TestConfig

    class NoKey(TestConfig):
        AUDIT_HMAC_KEYS = None

    with pytest.raises(RuntimeError, match="AUDIT_HMAC_KEYS or AUDIT_HMAC_KEY_FILE must be set"):
        create_app(NoKey)

    class Unknown(TestConfig):
        AUDIT_HMAC_KEY_ID = "other"

    with pytest.raises(RuntimeError, match="AUDIT_HMAC_KEY_ID=other"):
        create_app(Unknown)


@pytest.mark.parametrize("length", [1, 32, 64, 65, 200])
def test_the_keyring_computes_standard_hmac_sha256(length):
    import hashlib
    import hmac

    secret = ("密" + "k" * length)[:length]
    ring = Keyring({"a": secret}, "a")
    for message in (b"", b"x", "前序哈希".encode() * 50):
        assert ring.mac("a", message) == hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_the_keyring_is_built_once_per_setting(app, monkeypatch):
    assert keyring() is keyring()
    monkeypatch.setitem(app.config, "AUDIT_HMAC_KEYS", "x1:" + "q" * 40)
    monkeypatch.setitem(app.config, "AUDIT_HMAC_KEY_ID", "x1")
    assert keyring().current == "x1" and keyring() is keyring()
