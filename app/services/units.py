"""Organisation units: create, edit, deactivate and reactivate, each checked and audited (flush only)."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.core.errors import Invalid, found
from app.extensions import db
from app.models import Unit, User
from app.models.org import UNIT_KINDS
from app.services import audit, uscc

# What an edit may change; the audit row names each changed field with its old and new value.
EDITABLE = ("name", "kind", "parent_id", "uscc", "region")


def active_units() -> list[Unit]:
    """The units forms offer (deactivated ones are not), by name."""
    return list(db.session.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.name)))


def all_units() -> list[Unit]:
    """Every unit, active first, then by name (the administration list)."""
    return list(db.session.scalars(select(Unit).order_by(Unit.active.desc(), Unit.name)))


def get_unit(unit_id: int) -> Unit:
    return found(db.session.get(Unit, unit_id))


def active_user_counts() -> dict[int, int]:
    """Active accounts per unit id."""
    rows = db.session.execute(select(User.unit_id, func.count()).where(User.active.is_(True)).group_by(User.unit_id))
    return dict(rows.all())


def _clean(name: str, kind: str, parent_id: int | None, code: str, region: str, *, unit: Unit | None) -> dict:
    """Check a unit's fields; raise Invalid naming every bad one, else return the cleaned values."""
    name, code, region = (name or "").strip(), (code or "").strip().upper(), (region or "").strip()
    problems: dict[str, str] = {}
    if not name:
        problems["name"] = _("请填写单位名称。")
    elif len(name) > 120:
        problems["name"] = _("单位名称不能超过 120 个字。")
    if kind not in UNIT_KINDS:
        problems["kind"] = _("单位类别应为：%(kinds)s。",
                             kinds="、".join(f"{key}（{label}）" for key, label in UNIT_KINDS.items()))
    problem = uscc.validate_uscc(code)
    if problem:
        problems["uscc"] = _("统一社会信用代码无效：%(problem)s", problem=problem)
    if len(region) > 40:
        problems["region"] = _("所属地区不能超过 40 个字。")
    if parent_id is not None:
        parent = db.session.get(Unit, parent_id)
        if parent is None:
            problems["parent_id"] = _("上级单位不存在。")
        elif unit is not None and _is_within(parent, unit):
            problems["parent_id"] = _("上级单位不能是本单位或其下级单位。")
        elif not parent.active and (unit is None or unit.parent_id != parent_id):
            problems["parent_id"] = _("上级单位已停用，不能选为上级。")
    others = select(Unit).where(Unit.id != unit.id) if unit is not None else select(Unit)
    if name and "name" not in problems and db.session.scalar(others.where(Unit.name == name).limit(1)):
        problems["name"] = _("同名单位已存在。")
    if "uscc" not in problems and db.session.scalar(others.where(Unit.uscc == code).limit(1)):
        problems["uscc"] = _("使用该统一社会信用代码的单位已存在。")
    if problems:
        raise Invalid(next(iter(problems.values())), code="bad_unit", fields=problems)
    return {"name": name, "kind": kind, "parent_id": parent_id, "uscc": code, "region": region}


def _is_within(candidate: Unit, unit: Unit) -> bool:
    """Whether candidate is unit itself or one of its descendants (a parent there would make a cycle)."""
    seen = set()
    node: Unit | None = candidate
    while node is not None and node.id not in seen:
        if node.id == unit.id:
            return True
        seen.add(node.id)
        node = node.parent
    return False


def create_unit(name: str, code: str, kind: str = "department", parent_id: int | None = None,
                region: str = "") -> Unit:
    """Create an organisation unit after checking its fields and credit code (flushes only)."""
    values = _clean(name, kind, parent_id, code, region, unit=None)
    unit = Unit(**values, is_credit_office=False, active=True)
    db.session.add(unit)
    db.session.flush()
    audit.record("unit.create", object_type="unit", object_id=unit.id,
                 details={"name": unit.name, "uscc": unit.uscc, "kind": unit.kind, "parent_id": unit.parent_id})
    return unit


def edit_unit(unit: Unit, *, name: str, code: str, kind: str, parent_id: int | None, region: str) -> dict:
    """Change a unit's fields; return {field: [old, new]} of what changed (audited; nothing changed: no row)."""
    values = _clean(name, kind, parent_id, code, region, unit=unit)
    changes = {key: [getattr(unit, key), values[key]] for key in EDITABLE if getattr(unit, key) != values[key]}
    for key, (_old, new) in changes.items():
        setattr(unit, key, new)
    if changes:
        db.session.flush()
        audit.record("unit.edit", object_type="unit", object_id=unit.id, details={"changes": changes})
    return changes


def deactivate_unit(unit: Unit, reason: str) -> None:
    """Stop offering a unit: refused for the credit office and while it has active accounts (audited)."""
    reason = _reason(reason)
    if not unit.active:
        raise Invalid(_("该单位已停用。"), code="unit_inactive")
    if unit.is_credit_office:
        raise Invalid(_("信用办单位不能停用。"), code="credit_office")
    users = active_user_counts().get(unit.id, 0)
    if users:
        raise Invalid(_("该单位还有 %(n)s 个启用的账户，请先停用或调走这些账户。", n=users), code="unit_has_users")
    children = db.session.scalar(select(func.count()).select_from(Unit)
                                 .where(Unit.parent_id == unit.id, Unit.active.is_(True)))
    if children:
        raise Invalid(_("该单位还有 %(n)s 个启用的下级单位，请先停用下级单位或调整其上级。", n=children),
                      code="unit_has_children")
    unit.active = False
    db.session.flush()
    audit.record("unit.deactivate", object_type="unit", object_id=unit.id, details={"reason": reason})


def reactivate_unit(unit: Unit, reason: str) -> None:
    """Offer a deactivated unit again (audited)."""
    reason = _reason(reason)
    if unit.active:
        raise Invalid(_("该单位已是启用状态。"), code="unit_active")
    unit.active = True
    db.session.flush()
    audit.record("unit.reactivate", object_type="unit", object_id=unit.id, details={"reason": reason})


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("请填写原因。"), code="reason_required", fields={"reason": _("请填写原因。")})
    return reason[:500]
