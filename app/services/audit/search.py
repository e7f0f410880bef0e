"""The auditor's view of the audit log: filtered search with keyset paging, and CSV/XLSX exports."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import AuditEvent, Case, Unit, User
from app.services import access, prefix
from app.core.clock import local_instant, local_text
from app.services.reports.exports import Table, to_csv, to_xlsx

PAGE_SIZE = 50
# The page says "more than N" instead of counting a large match to the end.
COUNT_CAP = 10_000
EXPORT_CAP = 100_000

ACTION_LABELS = {
    "auth.login": _l("登录"),
    "auth.logout": _l("退出登录"),
    "auth.lockout": _l("账户锁定"),
    "auth.second_factor": _l("动态口令验证"),
    "auth.second_factor_enrol": _l("绑定动态口令"),
    "auth.second_factor_reset": _l("重置动态口令"),
    "auth.password_change": _l("修改密码"),
    "access.denied": _l("越权访问被拒绝"),
    "case.create": _l("创建办件"),
    "case.status": _l("办件状态变更"),
    "process.start": _l("启动流程"),
    "process.deploy": _l("部署流程定义"),
    "task.claim": _l("领取任务"),
    "task.release": _l("退回任务"),
    "task.complete": _l("办理任务"),
    "task.reassign": _l("改派任务"),
    "timer.fire": _l("期限计时器触发"),
    "record.status": _l("失信记录状态变更"),
    "sanction.status": _l("惩戒措施状态变更"),
    "letter.issue": _l("出具文书"),
    "letter.download": _l("下载文书"),
    "attachment.upload": _l("上传材料"),
    "attachment.download": _l("下载材料"),
    "attachment.preview": _l("预览材料"),
    "upload.refused": _l("上传材料被拒绝"),
    "state.refused": _l("操作被拒绝"),
    "security.csrf_failed": _l("表单安全令牌校验失败"),
    "filter.save": _l("保存筛选条件"),
    "notification.read": _l("消息标为已读"),
    "draft.purged": _l("清理逾期未提交的草稿"),
    "ruleset.add": _l("新增规则集"),
    "calendar.import": _l("导入工作日历"),
    "outbox.retry": _l("重新发送消息"),
    "user.create": _l("创建用户"),
    "unit.create": _l("创建单位"),
    "backup.create": _l("数据备份"),
    "backup.drill": _l("备份恢复演练"),
    "dashboard.export": _l("导出统计数据"),
    "clock.shift": _l("调整培训时钟"),
    "clock.reset": _l("恢复系统时钟"),
    "demo.seed": _l("生成演示数据"),
    "audit.export": _l("导出审计日志"),
    "audit.verify": _l("校验审计链"),
    "audit.archive": _l("归档审计日志被拒绝"),
    "audit.archived": _l("归档审计日志"),
    "audit.checkpoint": _l("审计检查点"),
    "db.grant": _l("授予数据库账号权限"),
}
# Families of actions for the prefix filter (new actions of a family are found without a code change).
ACTION_PREFIXES = {
    "auth.": _l("登录与身份验证"),
    "access.": _l("访问控制"),
    "case.": _l("办件"),
    "task.": _l("任务"),
    "record.": _l("失信记录"),
    "letter.": _l("文书"),
    "attachment.": _l("材料"),
    "upload.": _l("上传"),
    "state.": _l("被拒绝的操作"),
    "security.": _l("安全事件"),
    "user.": _l("用户管理"),
    "audit.": _l("审计管理"),
}
OBJECT_TYPES = {
    "case": _l("办件"),
    "task": _l("任务"),
    "credit_record": _l("失信记录"),
    "sanction": _l("惩戒措施"),
    "letter": _l("文书"),
    "attachment": _l("材料"),
    "user": _l("用户"),
    "unit": _l("单位"),
    "route": _l("页面"),
    "rule_set": _l("规则集"),
    "calendar_year": _l("工作日历"),
    "process_definition": _l("流程定义"),
    "timer": _l("计时器"),
    "outbox": _l("消息"),
    "audit_archive": _l("审计归档"),
    "saved_filter": _l("筛选条件"),
}
OUTCOMES = {"success": _l("成功"), "denied": _l("拒绝"), "failure": _l("失败")}
EXPORT_HEADER = [_l("事件编号"), _l("时间（北京时间）"), _l("用户名"), _l("用户编号"), _l("单位"), _l("IP 地址"),
                 _l("动作"), _l("动作代码"), _l("对象类型"), _l("对象编号"), _l("结果"), _l("详情"), _l("前序哈希"),
                 _l("哈希")]


@dataclass(frozen=True)
class AuditFilters:
    """What the search is narrowed to; empty values mean "any"."""

    date_from: date | None = None
    date_to: date | None = None
    username: str = ""
    unit_id: int | None = None
    action: str = ""
    action_prefix: str = ""
    object_type: str = ""
    object_id: str = ""
    outcome: str = ""
    ip: str = ""

    def as_dict(self) -> dict[str, str]:
        """The filters that are set, as text: the query string of links and the audit record of an export."""
        return {key: str(value) for key, value in asdict(self).items() if value not in (None, "")}

    def conditions(self) -> list:
        """SQL conditions on audit_event for these filters."""
        found = []
        if self.date_from:
            found.append(AuditEvent.at >= local_instant(self.date_from))
        if self.date_to:
            found.append(AuditEvent.at < local_instant(self.date_to + timedelta(days=1)))
        if self.username:
            found.append(AuditEvent.username == self.username)
        if self.unit_id is not None:
            found.append(AuditEvent.unit_id == self.unit_id)
        if self.action:
            found.append(AuditEvent.action == self.action)
        if self.action_prefix:
            found.append(AuditEvent.action.startswith(self.action_prefix, autoescape=True))
        if self.object_type:
            found.append(AuditEvent.object_type == self.object_type)
        if self.object_id:
            found.append(AuditEvent.object_id == self.object_id)
        if self.outcome:
            found.append(AuditEvent.outcome == self.outcome)
        if self.ip:
            found.append(ip_condition(self.ip))
        return found


def ip_condition(typed: str):
    """Addresses in the typed network, by whole groups: "10.1.2" finds 10.1.2 and 10.1.2.*, never 10.1.20.*;
    "10.1." or "2001:db8:" (ending in a separator) is a plain prefix. Ranges on ix_audit_event_ip, so a rare
    network is found without reading the log (services/prefix.py)."""
    column = AuditEvent.ip
    if typed.endswith((".", ":")):
        return prefix.starts_with(column, typed)
    return or_(column == typed, prefix.starts_with(column, typed + "."), prefix.starts_with(column, typed + ":"))


@dataclass(frozen=True)
class Row:
    """One event as the search page shows it."""

    event: AuditEvent
    unit_name: str
    case_id: int | None  # the case the event concerns, when the viewer may open it


@dataclass(frozen=True)
class Page:
    """A page of events, newest first, with the cursors of the neighbouring pages (None at either end)."""

    rows: list[Row]
    newer: int | None
    older: int | None


def search(filters: AuditFilters, viewer: User, *, before: int | None = None, after: int | None = None,
           size: int = PAGE_SIZE) -> Page:
    """One page of matching events: the newest, those older than `before`, or those newer than `after`."""
    conditions = filters.conditions()
    query = select(AuditEvent, Unit.name).outerjoin(Unit, Unit.id == AuditEvent.unit_id).where(*conditions)
    if after is not None:
        found = db.session.execute(query.where(AuditEvent.id > after).order_by(AuditEvent.id).limit(size)).all()
        found.reverse()
    else:
        if before is not None:
            query = query.where(AuditEvent.id < before)
        found = db.session.execute(query.order_by(AuditEvent.id.desc()).limit(size)).all()
    if not found:
        return Page([], None, None)
    newest, oldest = found[0][0].id, found[-1][0].id
    has_newer = _exists(conditions + [AuditEvent.id > newest])
    has_older = _exists(conditions + [AuditEvent.id < oldest])
    case_ids = {ev.id: _case_of(ev) for ev, _name in found}
    visible = _visible_cases(viewer, {case_id for case_id in case_ids.values() if case_id})
    rows = [Row(ev, name or "", case_ids[ev.id] if case_ids[ev.id] in visible else None) for ev, name in found]
    return Page(rows, newest if has_newer else None, oldest if has_older else None)


def count(filters: AuditFilters, cap: int | None = None) -> int:
    """The number of matching events, counted no further than cap + 1."""
    cap = cap or COUNT_CAP
    matching = select(AuditEvent.id).where(*filters.conditions()).limit(cap + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(matching))


def get_event(event_id: int) -> tuple[AuditEvent, str] | None:
    """One event with its unit's name, or None."""
    found = db.session.execute(select(AuditEvent, Unit.name).outerjoin(Unit, Unit.id == AuditEvent.unit_id)
                               .where(AuditEvent.id == event_id)).first()
    return (found[0], found[1] or "") if found else None


def case_link(event: AuditEvent, viewer: User) -> int | None:
    """The id of the case an event concerns, when the viewer may open it."""
    case_id = _case_of(event)
    return case_id if case_id and case_id in _visible_cases(viewer, {case_id}) else None


def find_unit(typed: str) -> tuple[int | None, int]:
    """The unit the unit filter names: its full name or credit code, else the one unit whose name contains the
    text. Returns (its id, 1), or (None, 0) when none matches, (None, 2) when several do."""
    typed = typed.strip()
    exact = db.session.scalar(select(Unit.id).where(or_(Unit.name == typed, Unit.uscc == typed.upper())).limit(1))
    if exact is not None:
        return exact, 1
    found = list(db.session.scalars(select(Unit.id).where(Unit.name.contains(typed, autoescape=True)).limit(2)))
    return (found[0], 1) if len(found) == 1 else (None, len(found))


def unit_name(unit_id: int) -> str | None:
    """A unit's name (the unit filter of a link that carries the unit's id), or None."""
    return db.session.scalar(select(Unit.name).where(Unit.id == unit_id))


def export_size(filters: AuditFilters, cap: int | None = None) -> tuple[int, bool]:
    """How many rows an export of these filters holds, and whether the cap cut it short."""
    cap = cap or EXPORT_CAP
    found = count(filters, cap)
    return min(found, cap), found > cap


def export_table(filters: AuditFilters, *, capped: bool, cap: int | None = None) -> Table:
    """The matching events (newest first, at most cap) as a table for the CSV and XLSX writers."""
    return Table(_("审计日志"), [str(h) for h in EXPORT_HEADER], _export_rows(filters, capped, cap or EXPORT_CAP))


def export_csv(filters: AuditFilters, *, capped: bool, cap: int | None = None) -> Iterator[bytes]:
    """The export as UTF-8 CSV with a BOM, in chunks; formula-like cells are quoted."""
    return to_csv([export_table(filters, capped=capped, cap=cap)], titled=False)


def export_xlsx(filters: AuditFilters, *, capped: bool, cap: int | None = None) -> bytes:
    """The export as an XLSX workbook; every text cell is stored as text, never as a formula."""
    return to_xlsx([export_table(filters, capped=capped, cap=cap)])


def capped_note(cap: int) -> str:
    """The line that ends a capped export."""
    return _("已达导出上限：仅导出了最新的 %(cap)s 条，请缩小筛选范围后分批导出。", cap=cap)


def pretty_details(details) -> str:
    """An event's details as indented JSON text (the template escapes it like any other text)."""
    return json.dumps(details or {}, ensure_ascii=False, sort_keys=True, indent=2)


def _export_rows(filters: AuditFilters, capped: bool, cap: int) -> Iterator[tuple]:
    query = (select(AuditEvent, Unit.name).outerjoin(Unit, Unit.id == AuditEvent.unit_id)
             .where(*filters.conditions()).order_by(AuditEvent.id.desc()).limit(cap)
             .execution_options(yield_per=1000))
    # A streamed export may stop early (the client goes away): the server-side cursor is closed then too.
    result = db.session.execute(query)
    try:
        for ev, unit_name in result:
            yield (ev.id, local_text(ev.at, seconds=True), ev.username,
                   "" if ev.user_id is None else ev.user_id, unit_name or "", ev.ip, str(ACTION_LABELS.get(ev.action, "")),
                   ev.action, str(OBJECT_TYPES.get(ev.object_type, ev.object_type)), ev.object_id,
                   str(OUTCOMES.get(ev.outcome, ev.outcome)),
                   json.dumps(ev.details, ensure_ascii=False, sort_keys=True), ev.prev_hash, ev.hash)
        if capped:
            yield (capped_note(cap),)
    finally:
        result.close()


def _case_of(event: AuditEvent) -> int | None:
    if event.object_type == "case" and event.object_id.isdigit():
        return int(event.object_id)
    case_id = (event.details or {}).get("case_id") if isinstance(event.details, dict) else None
    return case_id if isinstance(case_id, int) else None


def _visible_cases(viewer: User, case_ids: set[int]) -> set[int]:
    if not case_ids:
        return set()
    return set(db.session.scalars(select(Case.id).where(Case.id.in_(case_ids), access.case_filter(viewer))))


def _exists(conditions: list) -> bool:
    return db.session.scalar(select(AuditEvent.id).where(*conditions).limit(1)) is not None


