"""The inbox's filters: cleaning them from a query string, and saved filters (own and shared with colleagues)."""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import and_, or_, select

from app.core.ids import MAX_ID, is_object_id
from app.extensions import db
from app.models import SavedFilter, User, UserRole
from app.services import audit

FILTER_KEYS = ("process", "unit", "category", "severity", "due")
FILTER_LABELS = {"process": _l("流程"), "unit": _l("单位"), "category": _l("失信类别"), "severity": _l("失信程度"),
                 "due": _l("期限")}
DUE_BANDS = {"overdue": _l("已超期"), "today": _l("今日到期"), "soon": _l("2 个工作日内"), "later": _l("更晚")}


def clean_filters(raw: dict) -> dict:
    """Keep only known filter keys with acceptable values (anything else is ignored, never an error)."""
    from app.models import CASE_TYPES, CATEGORIES, SEVERITIES

    allowed = {"process": CASE_TYPES, "category": CATEGORIES, "severity": SEVERITIES, "due": DUE_BANDS}
    clean = {}
    for key in FILTER_KEYS:
        value = str(raw.get(key) or "").strip()
        if not value:
            continue
        if key == "unit":
            if is_object_id(value):
                clean[key] = value
        elif value in allowed[key]:
            clean[key] = value
    return clean


def strict_filters(raw) -> dict:
    """The filters of an API query, every given value checked: an unknown value is a 400 naming the field (the API
    answers what it was asked, where the page quietly drops junk from a hand-edited address)."""
    from app.core.errors import ServiceError
    from app.models import CASE_TYPES, CATEGORIES, SEVERITIES

    allowed = {"process": CASE_TYPES, "category": CATEGORIES, "severity": SEVERITIES, "due": DUE_BANDS}
    clean, bad = {}, {}
    for key in FILTER_KEYS:
        if key not in raw:
            continue
        value = str(raw.get(key) or "").strip()
        if key == "unit" and is_object_id(value):
            clean[key] = value
        elif key != "unit" and value in allowed[key]:
            clean[key] = value
        else:
            bad[key] = "1–%d" % MAX_ID if key == "unit" else "|".join(allowed[key])
    if bad:
        names = "、".join(f"{key}（{FILTER_LABELS[key]}）" for key in bad)
        raise ServiceError(_("筛选条件的取值无效：%(names)s。", names=names), code="bad_filter", fields=bad)
    return clean


def save_filter(user: User, name: str, params: dict, shared: bool) -> SavedFilter:
    """Save the current inbox filters under a name (optionally shared with colleagues)."""
    from app.core.errors import Invalid

    name = (name or "").strip()
    clean = clean_filters(params)
    if not name or len(name) > 60:
        raise Invalid(_("请填写 1–60 字的筛选名称。"), fields={"name": _("必填")})
    if not clean:
        raise Invalid(_("当前没有可保存的筛选条件。"), fields={"filters": _("至少选择一个条件")})
    row = SavedFilter(owner_id=user.id, name=name, params=clean, shared=bool(shared))
    db.session.add(row)
    db.session.flush()
    audit.record("filter.save", object_type="saved_filter", object_id=row.id,
                 details={"name": name, "params": clean, "shared": row.shared})
    return row


def saved_filters(user: User) -> list:
    """The user's own saved filters and those shared by colleagues of the same unit with a role in common."""
    colleagues = (select(UserRole.user_id).join(User, User.id == UserRole.user_id)
                  .where(UserRole.role.in_(user.roles), User.unit_id == user.unit_id))
    return list(db.session.scalars(select(SavedFilter).where(
        or_(SavedFilter.owner_id == user.id, and_(SavedFilter.shared.is_(True), SavedFilter.owner_id.in_(colleagues)))
    ).order_by(SavedFilter.name)))
