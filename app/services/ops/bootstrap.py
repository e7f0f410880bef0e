"""First set-up of an empty database: rule sets, holiday calendar, the credit office (flush only; units: services/units)."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select

from app.extensions import db
from app.models import Unit
from app.services import audit


def bootstrap(office_name: str, office_uscc: str, years: Iterable[int]) -> list[str]:
    """Load rule sets and the holiday calendar and create the credit office unit where missing (flushes only)."""
    from app.services import calendar, rules, uscc

    lines = []
    rules.seed_rule_sets()
    loaded = calendar.seed_from_package(years)
    lines.append(f"法定依据规则集已就绪；已载入放假安排年份：{', '.join(map(str, loaded)) or '无（已存在）'}。")
    office = db.session.scalar(select(Unit).where(Unit.is_credit_office.is_(True)))
    if office is None:
        problem = uscc.validate_uscc(office_uscc)
        if problem:
            raise ValueError(f"统一社会信用代码无效：{problem}")
        office = Unit(name=office_name, kind="department", uscc=office_uscc, region="", is_credit_office=True)
        db.session.add(office)
        db.session.flush()
        audit.record("unit.create", object_type="unit", object_id=office.id,
                     details={"name": office_name, "uscc": office_uscc, "credit_office": True})
        lines.append(f"已创建信用办单位「{office_name}」，单位编号 {office.id}。")
    else:
        lines.append(f"信用办单位已存在：「{office.name}」，单位编号 {office.id}。")
    return lines

