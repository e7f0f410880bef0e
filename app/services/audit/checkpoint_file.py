"""Keyed checkpoints of the audit chain's head, kept outside the database (AUDIT_CHECKPOINT_DIR).

One JSON line per checkpoint, appended to `checkpoints-YYYYMM.jsonl` (UTC month): the head event's id and hash,
how many events were at or below it, the first live id, the first keyed id, the time, the key id, and an
HMAC-SHA256 over all of it. Someone who can write to the database cannot write a valid line, so deleting the
newest events, rewriting the chain or converting it back to unkeyed hashes shows against the newest checkpoint
(app.services.audit.chain.verify). A `reset` line, written only by `flask audit checkpoint --after-restore`,
starts over after a restore from backup has legitimately lost the newest events.
"""
from __future__ import annotations

import hmac
import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from app.services.audit.keys import Keyring

FORMAT = 1
FILE_NAME = re.compile(r"^checkpoints-\d{6}\.jsonl$")
# Domain separation: a checkpoint MAC can never be mistaken for an audit row's MAC.
_DOMAIN = b"xinyong-audit-checkpoint-v1\n"
_FIELDS = ("v", "head_id", "head_hash", "count", "first_id", "keyed_from", "at", "key_id", "reset")


@dataclass(frozen=True)
class Checkpoint:
    """One verified checkpoint line."""

    head_id: int
    head_hash: str
    count: int
    first_id: int
    keyed_from: int | None
    at: datetime
    key_id: str
    reset: bool = False
    file: str = ""
    line: int = 0


def directory() -> Path | None:
    """The configured checkpoint directory (None: checkpoints are off — only TestConfig allows that)."""
    value = current_app.config.get("AUDIT_CHECKPOINT_DIR")
    return Path(value) if value else None


def _message(fields: dict) -> bytes:
    return _DOMAIN + json.dumps({k: fields.get(k) for k in _FIELDS}, sort_keys=True, separators=(",", ":"),
                                ensure_ascii=True).encode("ascii")


def append(folder: Path, checkpoint: Checkpoint, ring: Keyring) -> Path:
    """Sign the checkpoint with its key and append it as one line (one write, fsynced) to this month's file."""
    fields = {k: v for k, v in asdict(checkpoint).items() if k in _FIELDS}
    fields.update(v=FORMAT, at=checkpoint.at.astimezone(timezone.utc).isoformat())
    mac = ring.mac(checkpoint.key_id, _message(fields))
    if mac is None:
        raise KeyError(checkpoint.key_id)
    line = json.dumps({**fields, "mac": mac}, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"checkpoints-{checkpoint.at.astimezone(timezone.utc):%Y%m}.jsonl"
    # O_APPEND and a single short write: several workers may append to the same file at once.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _parse(raw: str, ring: Keyring, file: str, number: int) -> Checkpoint | str:
    """A verified checkpoint, or the reason (Chinese) why the line is not one."""
    try:
        fields = json.loads(raw)
    except ValueError:
        fields = None
    if not isinstance(fields, dict) or fields.get("v") != FORMAT:
        return _("检查点文件 %(file)s 第 %(line)s 行：格式无效", file=file, line=number)
    key_id = fields.get("key_id")
    if not isinstance(key_id, str) or key_id not in ring:
        return _("检查点文件 %(file)s 第 %(line)s 行：密钥编号 %(key)s 未配置，无法校验", file=file, line=number,
                 key=str(key_id)[:20])
    expected = ring.mac(key_id, _message(fields))
    if not hmac.compare_digest(expected, str(fields.get("mac", ""))):
        return _("检查点文件 %(file)s 第 %(line)s 行：校验码不符（检查点被改动或伪造）", file=file, line=number)
    try:
        return Checkpoint(head_id=int(fields["head_id"]), head_hash=str(fields["head_hash"]),
                          count=int(fields["count"]), first_id=int(fields["first_id"]),
                          keyed_from=None if fields.get("keyed_from") is None else int(fields["keyed_from"]),
                          at=datetime.fromisoformat(fields["at"]), key_id=key_id, reset=bool(fields.get("reset")),
                          file=file, line=number)
    except (KeyError, TypeError, ValueError):
        return _("检查点文件 %(file)s 第 %(line)s 行：格式无效", file=file, line=number)


def files(folder: Path) -> list[Path]:
    """The checkpoint files in the folder, newest month first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if FILE_NAME.match(p.name) and p.is_file()), reverse=True)


def newest(folder: Path | None, ring: Keyring, *,
           before: datetime | None = None) -> tuple[Checkpoint | None, list[str]]:
    """The newest valid checkpoint (highest head id since the last reset) and the problems of the lines read.

    Files are read newest month first until one holds a valid checkpoint; `before` ignores later checkpoints
    (the restore drill compares a backup with the last checkpoint taken before its snapshot).
    """
    problems: list[str] = []
    if folder is None:
        return None, problems
    for path in files(folder):
        candidates: list[Checkpoint] = []
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                parsed = _parse(raw, ring, path.name, number)
                if isinstance(parsed, str):
                    problems.append(parsed)
                    continue
                if before is not None and parsed.at > before:
                    continue
                if parsed.reset:
                    candidates = []  # a reset forgets what came before it
                candidates.append(parsed)
        if candidates:
            return max(candidates, key=lambda c: (c.head_id, c.at)), problems
    return None, problems
