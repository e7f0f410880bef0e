"""Units in the browser: create, edit (parent, type, USCC checked), deactivate; bad input changes nothing, says why."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Unit
from app.services import uscc
from tests.support.snapshots import fingerprint, office_state

GOOD = uscc.make_uscc(*uscc.GOVERNMENT_ORGAN, "421300", "AD000001")
OTHER = uscc.make_uscc(*uscc.GOVERNMENT_ORGAN, "421300", "AD000002")
BAD_CHECK = GOOD[:17] + ("0" if GOOD[17] != "0" else "1")


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _form(**over) -> dict:
    return {"name": "随州市审计局", "uscc": GOOD, "kind": "department", "parent_id": "", "region": "随州市", **over}


def test_create_a_unit_under_a_parent_and_it_is_audited(admin, staff):
    parent = staff["verifier1"].unit
    response = admin.post("/admin/units/new", _form(parent_id=str(parent.id)))
    assert response.status_code == 302
    unit = db.session.scalar(select(Unit).where(Unit.name == "随州市审计局"))
    assert (unit.uscc, unit.kind, unit.parent_id, unit.active) == (GOOD, "department", parent.id, True)
    [event] = _audit("unit.create")
    assert event.object_id == str(unit.id) and event.username == "admin1" and event.details["uscc"] == GOOD
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "单位「随州市审计局」已创建" in page


def test_lower_case_code_is_stored_upper_case(admin):
    assert admin.post("/admin/units/new", _form(uscc=GOOD.lower())).status_code == 302
    assert db.session.scalar(select(Unit.uscc).where(Unit.name == "随州市审计局")) == GOOD


@pytest.mark.parametrize("field,value,says", [
    ("name", "", "请填写单位名称"),
    ("uscc", "", "请填写统一社会信用代码"),
    ("uscc", BAD_CHECK, "校验码错误"),  # the 18th character does not follow from the first 17
    ("uscc", GOOD[:17], "应为 18 位"),
    ("uscc", GOOD[:5] + "I" + GOOD[6:], "不是合法字符"),
    ("kind", "ministry", "单位类别应为"),
    ("parent_id", "999999", "上级单位不存在"),
    ("parent_id", "abc", "上级单位不存在"),
    ("region", "区" * 41, "所属地区不能超过 40 个字"),
])
def test_bad_input_changes_nothing_keeps_what_was_typed_and_says_why(admin, app, field, value, says):
    before = fingerprint(app), office_state()
    response = admin.post("/admin/units/new", _form(**{field: value}))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and says in page
    assert 'class="field-error"' in page  # under the field, not only at the top
    assert "随州市审计局" in page or field == "name"  # what was typed is still there
    assert (fingerprint(app), office_state()) == before and not _audit("unit.create")


@pytest.mark.parametrize("field", ["name", "uscc"])
def test_a_duplicate_name_or_code_is_refused(admin, app, staff, field):
    existing = staff["applicant1"].unit
    before = fingerprint(app), office_state()
    response = admin.post("/admin/units/new", _form(**{field: getattr(existing, field)}))
    assert response.status_code == 200 and "已存在" in response.get_data(as_text=True)
    assert (fingerprint(app), office_state()) == before


def test_edit_changes_the_fields_and_audits_old_and_new(admin, staff):
    unit = staff["applicant1"].unit
    parent = staff["verifier1"].unit
    path = f"/admin/units/{unit.id}"
    response = admin.post(path, _form(name="随州市新名称局", uscc=OTHER, kind="institution", parent_id=str(parent.id)))
    assert response.status_code == 302
    db.session.expire_all()
    assert (unit.name, unit.uscc, unit.kind, unit.parent_id) == ("随州市新名称局", OTHER, "institution", parent.id)
    [event] = _audit("unit.edit")
    changes = event.details["changes"]
    assert changes["uscc"][1] == OTHER and changes["kind"] == ["department", "institution"]
    # Saving the same values again changes nothing and writes no audit row.
    admin.post(path, _form(name="随州市新名称局", uscc=OTHER, kind="institution", parent_id=str(parent.id)))
    assert len(_audit("unit.edit")) == 1


def test_a_unit_cannot_sit_below_itself_or_its_own_child(admin, app, staff):
    top, child = staff["verifier1"].unit, staff["verifier2"].unit
    child.parent_id = top.id
    db.session.commit()
    before = fingerprint(app), office_state()
    for parent in (top, child):
        response = admin.post(f"/admin/units/{top.id}", _form(name=top.name, uscc=top.uscc, parent_id=str(parent.id)))
        assert response.status_code == 200 and "不能是本单位或其下级单位" in response.get_data(as_text=True)
    assert (fingerprint(app), office_state()) == before


def test_deactivate_needs_a_reason_and_no_active_accounts(admin, app, staff):
    unit = staff["applicant2"].unit
    path = f"/admin/units/{unit.id}/active"
    before = fingerprint(app), office_state()
    response = admin.post(path, {"reason": ""}, form_page=f"/admin/units/{unit.id}")
    assert response.status_code == 200 and "请填写原因" in response.get_data(as_text=True)
    response = admin.post(path, {"reason": "机构改革撤并"}, form_page=f"/admin/units/{unit.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "还有 1 个启用的账户" in page and "机构改革撤并" in page
    assert (fingerprint(app), office_state()) == before
    staff["applicant2"].active = False
    db.session.commit()
    assert admin.post(path, {"reason": "机构改革撤并"}, form_page=f"/admin/units/{unit.id}").status_code == 302
    db.session.expire_all()
    assert unit.active is False
    [event] = _audit("unit.deactivate")
    assert event.details == {"reason": "机构改革撤并"} and event.object_id == str(unit.id)
    # Reactivating is the same button, audited too.
    assert admin.post(path, {"reason": "恢复"}, form_page=f"/admin/units/{unit.id}").status_code == 302
    db.session.expire_all()
    assert unit.active is True and len(_audit("unit.reactivate")) == 1


def test_the_credit_office_and_a_unit_with_active_children_stay_active(admin, app, staff):
    office = staff["intake1"].unit  # its accounts stay active: the office is refused before they are counted
    top, child = staff["verifier1"].unit, staff["verifier2"].unit
    staff["verifier1"].active = False
    child.parent_id = top.id
    db.session.commit()
    before = fingerprint(app), office_state()
    said = {office.id: "信用办单位不能停用", top.id: "1 个启用的下级单位"}
    for unit_id, says in said.items():
        response = admin.post(f"/admin/units/{unit_id}/active", {"reason": "试"}, form_page="/admin/units/new")
        assert response.status_code == 200 and says in response.get_data(as_text=True)
    assert (fingerprint(app), office_state()) == before


def test_a_deactivated_unit_is_not_offered_and_gets_no_new_accounts(admin, app, staff):
    unit = staff["applicant2"].unit
    staff["applicant2"].active = False
    unit.active = False
    db.session.commit()
    for page in ("/admin/users/new", "/admin/units/new"):
        assert f'value="{unit.id}"' not in admin.get(page).get_data(as_text=True), page
    before = fingerprint(app), office_state()
    response = admin.post("/admin/users/new", {"username": "newbie", "display_name": "新人", "unit_id": str(unit.id),
                                               "roles": "applicant"})
    assert response.status_code == 200 and "所属单位已停用" in response.get_data(as_text=True)
    assert (fingerprint(app), office_state()) == before
    assert "已停用" in admin.get("/admin/units").get_data(as_text=True)
    # Its existing account still shows its unit (records stay as they are).
    assert unit.name in admin.get(f"/admin/users/{staff['applicant2'].id}").get_data(as_text=True)


def test_a_refused_form_without_a_csrf_token_changes_nothing(admin, app):
    before = fingerprint(app), office_state()
    admin.get("/admin/units/new")
    response = admin.client.post("/admin/units/new", data=_form())
    assert response.status_code == 400 and (fingerprint(app), office_state()) == before
    assert db.session.scalar(select(func.count()).select_from(Unit).where(Unit.name == "随州市审计局")) == 0
