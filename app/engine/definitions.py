"""Parse, lint and deploy BPMN/DMN files as immutable, versioned process definitions."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import func, select

from app.extensions import db
from app.models.workflow import ProcessDefinition
from app.core.clock import now

ROLE_LANES = {"applicant", "intake", "verifier", "approver"}
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
# A timer may read only a quoted ISO 8601 literal or a deadline variable the app computes (…_due).
TIMER_LITERAL = re.compile(r"""^(["'])P[0-9TYMWDHS.]+\1$|^(["'])\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})\2$""")
TIMER_VARIABLE = re.compile(r"^[a-z][a-z0-9_]*_due$")
# Scripts may only call the vetted helper emit("effect", key=value...) — BPMN files are code.
SCRIPT_LINE = re.compile(r"""^emit\("[a-z_]+"(, [a-z_]+=("[a-z_]+"|[a-z_]+))*\)$""")

SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


class DeployError(Exception):
    """A process file failed to parse or failed the lint."""


@dataclass(frozen=True)
class ParsedProcess:
    key: str
    file_hash: str
    sources: dict[str, str]
    spec_json: str


def lint_bpmn(name: str, xml: bytes) -> list[str]:
    """Return the lint findings for one BPMN file (empty when it may be deployed)."""
    problems: list[str] = []
    root = etree.fromstring(xml)
    lane_of: dict[str, str] = {}
    for lane in root.iterfind(".//bpmn:lane", NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lane_of[ref.text.strip()] = lane.get("name") or ""
    for task in root.iterfind(".//bpmn:userTask", NS):
        tid = task.get("id")
        if lane_of.get(tid) not in ROLE_LANES:
            problems.append(f"{name}: user task {tid} is not in a lane named after a role {sorted(ROLE_LANES)}")
        props = {p.get("name"): p.get("value") for p in task.iterfind(".//spiffworkflow:property", NS)}
        if not props.get("formKey"):
            problems.append(f"{name}: user task {tid} has no formKey property")
        if not props.get("timeLimit") and not TIMER_VARIABLE.match(props.get("dueVariable") or ""):
            problems.append(f"{name}: user task {tid} has neither a timeLimit nor a *_due dueVariable property "
                            "(every task has a due date)")
    for tag in ("timeDate", "timeDuration", "timeCycle"):
        for expr in root.iterfind(f".//bpmn:{tag}", NS):
            text = (expr.text or "").strip()
            if not (TIMER_LITERAL.match(text) or TIMER_VARIABLE.match(text)):
                problems.append(f"{name}: timer expression {text!r} is neither a quoted ISO 8601 string nor a *_due variable")
    for gateway in root.iterfind(".//bpmn:eventBasedGateway", NS):
        targets = {f.get("targetRef") for f in root.iterfind(".//bpmn:sequenceFlow", NS) if f.get("sourceRef") == gateway.get("id")}
        timers = [t for t in targets if root.find(f".//*[@id='{t}']/bpmn:timerEventDefinition", NS) is not None]
        if len(timers) > 1:
            problems.append(f"{name}: event-based gateway {gateway.get('id')} has {len(timers)} timers (SpiffWorkflow 3.2.0 bug)")
    for script in root.iterfind(".//bpmn:script", NS):
        for line in (script.text or "").strip().splitlines():
            if not SCRIPT_LINE.match(line.strip()):
                problems.append(f"{name}: script line {line.strip()!r} is not a plain emit(...) call")
    return problems


def parse_process(key: str, files: dict[str, bytes]) -> ParsedProcess:
    """Lint and parse the files of one process; serialize its spec without running anything."""
    problems = [p for fname, xml in files.items() if fname.endswith(".bpmn") for p in lint_bpmn(fname, xml)]
    if problems:
        raise DeployError("\n".join(problems))
    parser = SpiffBpmnParser(validator=VALIDATOR)  # one parser per version: duplicate ids raise
    for fname, xml in sorted(files.items()):
        if fname.endswith(".dmn"):
            parser.add_dmn_xml(etree.fromstring(xml), filename=fname)
        else:
            parser.add_bpmn_xml(etree.fromstring(xml), filename=fname)
    spec = parser.get_spec(key)
    subprocesses = parser.get_subprocess_specs(key)
    spec_json = json.dumps(
        {
            "spec": SERIALIZER.to_dict(spec),
            "subprocess_specs": {k: SERIALIZER.to_dict(v) for k, v in subprocesses.items()},
        }
    )
    digest = hashlib.sha256()
    for fname, xml in sorted(files.items()):
        digest.update(fname.encode() + b"\0" + xml + b"\0")
    return ParsedProcess(key, digest.hexdigest(), {f: x.decode("utf-8") for f, x in files.items()}, spec_json)


def process_files(*folders: Path) -> dict[str, dict[str, bytes]]:
    """Group the BPMN files found in the folders (and below) by process key (file stem), each with the DMN files
    it calls. Only file names and contents count, so moving a file to another folder changes no version."""
    decisions = {}
    for path in _files(folders, "*.dmn"):
        xml = path.read_bytes()
        for decision in etree.fromstring(xml).iter("{*}decision"):
            decisions[decision.get("id")] = (path.name, xml)
    grouped = {}
    for path in _files(folders, "*.bpmn"):
        xml = path.read_bytes()
        called = {node.text.strip() for node in etree.fromstring(xml).iter("{%s}calledDecisionId" % NS["spiffworkflow"])}
        missing = called - set(decisions)
        if missing:
            raise DeployError(f"{path.name}: calls unknown decision(s) {sorted(missing)}")
        grouped[path.stem] = {path.name: xml, **dict(decisions[d] for d in sorted(called))}
    return grouped


def _files(folders, pattern: str) -> list[Path]:
    return sorted({path for folder in folders for path in Path(folder).rglob(pattern)}, key=lambda p: (p.name, str(p)))


def deploy_directory(*folders: Path) -> list[tuple[ProcessDefinition, bool]]:
    """Deploy every process in the folders; reuse the row when the files are unchanged (flushes only)."""
    results = []
    for key, files in process_files(*folders).items():
        parsed = parse_process(key, files)
        existing = db.session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.process_key == key, ProcessDefinition.file_hash == parsed.file_hash
            )
        )
        if existing:
            results.append((existing, False))
            continue
        latest = db.session.scalar(select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_key == key))
        row = ProcessDefinition(
            process_key=key,
            version=(latest or 0) + 1,
            file_hash=parsed.file_hash,
            sources=parsed.sources,
            spec_json=parsed.spec_json,
            deployed_at=now(),
        )
        db.session.add(row)
        db.session.flush()
        results.append((row, True))
    return results


def latest_definition(key: str) -> ProcessDefinition | None:
    """Return the newest deployed version of a process (new cases use it)."""
    return db.session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_key == key).order_by(ProcessDefinition.version.desc()).limit(1)
    )
