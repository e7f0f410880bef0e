"""The deployed process versions, for the administrator: hash, deploy time and how many cases run on each."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from app.core.errors import found
from app.extensions import db
from app.models import ProcessDefinition, ProcessInstance


@dataclass(frozen=True)
class Version:
    id: int
    process_key: str
    version: int
    file_hash: str
    deployed_at: datetime
    files: list[str]
    running: int  # instances still running on this version (counts only: the administrator sees no case)
    completed: int
    failed: int  # stopped on an engine error

    @property
    def has_diagram(self) -> bool:
        return any(name.endswith(".bpmn") for name in self.files)


def deployed_versions() -> list[Version]:
    """Every deployed version, by process and newest version first, with its instance counts."""
    counts: dict[tuple[int, str], int] = {
        (definition_id, status): n for definition_id, status, n in db.session.execute(
            select(ProcessInstance.definition_id, ProcessInstance.status, func.count())
            .group_by(ProcessInstance.definition_id, ProcessInstance.status))}
    rows = db.session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.process_key,
                                                                 ProcessDefinition.version.desc()))
    return [Version(id=row.id, process_key=row.process_key, version=row.version, file_hash=row.file_hash,
                    deployed_at=row.deployed_at, files=sorted(row.sources), running=counts.get((row.id, "running"), 0),
                    completed=counts.get((row.id, "completed"), 0), failed=counts.get((row.id, "error"), 0))
            for row in rows]


def get_definition(definition_id: int) -> ProcessDefinition:
    return found(db.session.get(ProcessDefinition, definition_id))
