"""Write a keyed checkpoint of the audit chain's head, only when the chain up to it verifies (worker, CLI)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import select, text

from app.core.clock import machine_now
from app.core.errors import ServiceError
from app.extensions import db
from app.models import AuditEvent
from app.services.audit import checkpoint_file
from app.services.audit.chain import GENESIS, _anchors, _Checker, _compare_checkpoint, _walk, verify
from app.services.audit.checkpoint_file import Checkpoint
from app.services.audit.keys import Keyring, keyring


@dataclass(frozen=True)
class CheckpointResult:
    checkpoint: Checkpoint
    path: Path
    checked: int


def _head_snapshot() -> tuple[int, str, int, int]:
    """(head id, head hash, events at or below it, first id) in one statement, so one snapshot."""
    row = db.session.execute(text(
        "SELECT h.id, h.hash, (SELECT count(*) FROM audit_event c WHERE c.id <= h.id), "
        "(SELECT min(m.id) FROM audit_event m) FROM (SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1) h"
    )).first()
    if row is None:
        return 0, GENESIS, 0, 0
    return int(row[0]), str(row[1]), int(row[2]), int(row[3])


def newest_checkpoint() -> Checkpoint | None:
    """The newest valid checkpoint in AUDIT_CHECKPOINT_DIR (None when there is none or checkpoints are off)."""
    return checkpoint_file.newest(checkpoint_file.directory(), keyring())[0]


def _extend(previous: Checkpoint, head_id: int, ring: Keyring) -> tuple[int, list[str], int | None]:
    """Check that the chain up to `head_id` continues the previous checkpoint: (rows walked, problems, keyed_from)."""
    anchors = _anchors(ring, previous.keyed_from)
    problems = _compare_checkpoint(previous, anchors)
    if problems:
        return 0, problems, previous.keyed_from
    checker = _Checker(ring, previous.keyed_from)
    if previous.head_id == 0 or db.session.scalar(select(AuditEvent.id).where(AuditEvent.id == previous.head_id)):
        start = previous.head_id, (previous.head_hash if previous.head_id else GENESIS), 0
    else:  # the previous head was archived since: the chain now starts at the newest anchor
        start = 0, str(anchors[0].details.get("last_hash", "")), int(anchors[0].details.get("through_id", 0)) + 1
    checked, _last, walked = _walk(checker, after_id=start[0], prev=start[1], up_to=head_id, first_allowed=start[2])
    return checked, walked, previous.keyed_from or checker.first_keyed


def write_checkpoint(*, reset: bool = False, at: datetime | None = None) -> CheckpointResult:
    """Append a keyed checkpoint of the current head to AUDIT_CHECKPOINT_DIR (reads only; nothing to commit).

    The head is signed only if it continues the previous checkpoint (nothing up to it missing or changed, and
    every row after it sealed and linked); the first checkpoint, and a reset after a restore, recompute the
    whole chain. Raises ServiceError (code chain_broken, checkpoint_file, write_failed, no_directory) instead.
    """
    folder = checkpoint_file.directory()
    if folder is None:
        raise ServiceError(_("未配置 AUDIT_CHECKPOINT_DIR，无法写审计检查点。"), code="no_directory")
    ring = keyring()
    previous, file_problems = (None, []) if reset else checkpoint_file.newest(folder, ring)
    if file_problems:
        raise ServiceError(_("检查点文件有问题，不再写新的检查点：%(problem)s", problem=file_problems[0]),
                           code="checkpoint_file")
    head_id, head_hash, count, first_id = _head_snapshot()
    if previous is None:
        result = verify(up_to=head_id, checkpoints=False)
        checked, problems, keyed_from = result.checked, result.problems, result.first_keyed
    else:
        checked, problems, keyed_from = _extend(previous, head_id, ring)
    if problems:
        raise ServiceError(_("审计链校验未通过，未写检查点：%(problem)s", problem=problems[0]), code="chain_broken")
    checkpoint = Checkpoint(head_id=head_id, head_hash=head_hash, count=count, first_id=first_id,
                            keyed_from=keyed_from, at=at or machine_now(), key_id=ring.current,
                            reset=reset)
    try:
        path = checkpoint_file.append(folder, checkpoint, ring)
    except OSError as exc:
        raise ServiceError(_("无法写入检查点文件：%(error)s", error=str(exc)), code="write_failed") from exc
    return CheckpointResult(checkpoint, path, checked)
