"""Deploy a diagram of an earlier version beside today's (tests that old cases keep running on their version)."""
from __future__ import annotations

import shutil
from pathlib import Path

from app.engine.definitions import deploy_directory
from app.extensions import db
from tests.support.constants import PROCESSES


def deploy_version(folder: Path, process: str, bpmn: bytes) -> int:
    """Deploy `bpmn` as the slice's diagram, with the slice's other files (its DMN tables); the definition's id."""
    folder.mkdir()
    (folder / f"{process}.bpmn").write_bytes(bpmn)
    for other in (PROCESSES / process).glob("*.dmn"):
        shutil.copy(other, folder)
    [(row, _created)] = deploy_directory(folder)
    db.session.commit()
    return row.id
