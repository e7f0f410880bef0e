"""Labels on the case timeline depend on the field a choice was made in."""
from sqlalchemy import select

from app.extensions import db
from app.models import Case
from tests.support.flows import do_task, file_objection, open_order


def test_accept_means_different_things_in_different_steps(api, web, recorded_staff):
    objection = file_objection(api)
    do_task(api, "intake1", objection["id"], "intake_review", {"intake_choice": "accept"})
    page = "".join(web("applicant1").get(f"/cases/{objection['id']}").get_data(as_text=True).split())
    assert "受理审查（受理）" in page and "整改通过" not in page
    order = open_order(api)
    do_task(api, "applicant1", order["id"], "submit_rectification", {"explanation": "说明", "report": "报告"})
    do_task(api, "intake1", order["id"], "review_rectification", {"review": "accept", "opinion": "到位"})
    page = "".join(web("applicant1").get(f"/cases/{order['id']}").get_data(as_text=True).split())
    assert "审核整改情况（整改通过）" in page and "结果：整改通过" in page
    assert db.session.get(Case, order["id"]).outcome == "accepted"


def test_closing_history_says_the_outcome_in_words(api, recorded_staff):
    from app.models import CaseEvent

    order = open_order(api)
    do_task(api, "applicant1", order["id"], "submit_rectification", {"explanation": "说明", "report": "报告"})
    do_task(api, "intake1", order["id"], "review_rectification", {"review": "accept", "opinion": "到位"})
    objection = file_objection(api)
    do_task(api, "intake1", objection["id"], "intake_review", {"intake_choice": "reject", "reason": "不属受理范围"})
    comments = db.session.scalars(select(CaseEvent.comment).where(CaseEvent.to_status.in_(("closed", "rejected")))).all()
    assert "办结：不予受理" in comments and all("rejected" not in c for c in comments)


def test_public_search_treats_wildcards_literally(recorded_staff, app):
    from tests.support.clients import fresh_g

    fresh_g()
    page = app.test_client().get("/public/records", query_string={"q": "%"}).get_data(as_text=True)
    assert "共 0 条" in page


def test_a_record_notice_is_labelled_on_the_messages_page(web, recorded_staff):
    from app.services import notifications

    notifications.notify_user(recorded_staff["applicant1"], kind="record", title="失信记录告知：测试")
    db.session.commit()
    page = web("applicant1").get("/notifications").get_data(as_text=True)
    assert '<td data-label="类型">失信记录告知</td>' in page and '<td data-label="类型">record</td>' not in page
