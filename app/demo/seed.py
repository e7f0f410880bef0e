"""Demo data for 随州市 (SPEC §7): units, demo accounts and published dishonesty records.

`seed_demo(today)` fills the current session (flushes, never commits: the CLI commits). Everything is
deterministic: the same units get the same 统一社会信用代码 on every run, and record dates are counted back
from `today`, so that some records are past their minimum publication period and some are not. The day counts
are chosen for a demo seeded in late 2026, so that records fall under both rule sets (国家发展改革委令第58号
up to 2026-03-31, 第36号 from 2026-04-01) and none has reached its automatic end date. Minor records all lie
before 2026-04-01: under order No. 36 a minor record is in principle not published at all.

Each record is registered through its process (record_registration): the recording unit's officer enters it
with a stand-in 认定文书 and reports it, and intake1 registers it, so the letter pair is issued and it is published.
"""
from __future__ import annotations

import io
from datetime import date, timedelta

from sqlalchemy import select, update

from app.core import clock
from app.core.clock import now
from app.extensions import db
from app.models import CreditRecord, HumanTask, Notification, Unit, User
from app.services import attachments, audit, auth, calendar, rules, uscc, workflow

DEMO_PASSWORD = "Xinyong@2026"
CREDIT_OFFICE = "随州市社会信用体系建设领导小组办公室"

# Administrative division codes (GB/T 2260); the high-tech zone is coded under the city.
CITY, ZENGDU, SUIXIAN, GUANGSHUI = "421300", "421303", "421321", "421381"

# Short names for the unit tables below.
COURT = "随州市中级人民法院"
HRSS = "随州市人力资源和社会保障局"
DISCIPLINE = "随州市纪委监委"
FINANCE = "随州市财政局"
NDRC = "随州市发展和改革委员会"

# (name, kind, parent name, region, division code, (registration authority, institution category), credit office?)
# Parents come before their children.
UNITS = [
    ("随州市人民政府", "government", None, "随州市", CITY, uscc.GOVERNMENT_ORGAN, False),
    (CREDIT_OFFICE, "department", "随州市人民政府", "随州市", CITY, uscc.GOVERNMENT_ORGAN, True),
    # Recording units (认定单位). The court and the discipline commission are not government departments.
    (COURT, "department", None, "随州市", CITY, uscc.GOVERNMENT_ORGAN, False),
    (DISCIPLINE, "department", None, "随州市", CITY, uscc.GOVERNMENT_ORGAN, False),
    (HRSS, "department", "随州市人民政府", "随州市", CITY, uscc.GOVERNMENT_ORGAN, False),
    (FINANCE, "department", "随州市人民政府", "随州市", CITY, uscc.GOVERNMENT_ORGAN, False),
    (NDRC, "department", "随州市人民政府", "随州市", CITY, uscc.GOVERNMENT_ORGAN, False),
    ("随州市中心医院", "institution", "随州市人民政府", "随州市", CITY, uscc.PUBLIC_INSTITUTION, False),
    # 曾都区
    ("曾都区人民政府", "government", "随州市人民政府", "曾都区", ZENGDU, uscc.GOVERNMENT_ORGAN, False),
    ("曾都区住房和城乡建设局", "department", "曾都区人民政府", "曾都区", ZENGDU, uscc.GOVERNMENT_ORGAN, False),
    ("曾都区西城街道办事处", "government", "曾都区人民政府", "曾都区", ZENGDU, uscc.GOVERNMENT_ORGAN, False),
    ("曾都区西城街道沿河社区居民委员会", "grassroots", "曾都区西城街道办事处", "曾都区", ZENGDU,
     uscc.RESIDENTS_COMMITTEE, False),
    # 随县
    ("随县人民政府", "government", "随州市人民政府", "随县", SUIXIAN, uscc.GOVERNMENT_ORGAN, False),
    ("随县教育局", "department", "随县人民政府", "随县", SUIXIAN, uscc.GOVERNMENT_ORGAN, False),
    ("随县交通运输局", "department", "随县人民政府", "随县", SUIXIAN, uscc.GOVERNMENT_ORGAN, False),
    ("随县厉山镇人民政府", "government", "随县人民政府", "随县", SUIXIAN, uscc.GOVERNMENT_ORGAN, False),
    ("随县厉山镇神农村村民委员会", "grassroots", "随县厉山镇人民政府", "随县", SUIXIAN, uscc.VILLAGE_COMMITTEE,
     False),
    # 广水市 (county-level city)
    ("广水市人民政府", "government", "随州市人民政府", "广水市", GUANGSHUI, uscc.GOVERNMENT_ORGAN, False),
    ("广水市自然资源和规划局", "department", "广水市人民政府", "广水市", GUANGSHUI, uscc.GOVERNMENT_ORGAN, False),
    ("广水市第一中学", "institution", "广水市人民政府", "广水市", GUANGSHUI, uscc.PUBLIC_INSTITUTION, False),
    ("广水市人民医院", "institution", "广水市人民政府", "广水市", GUANGSHUI, uscc.PUBLIC_INSTITUTION, False),
    # 随州高新区
    ("随州高新技术产业开发区管理委员会", "government", "随州市人民政府", "随州高新区", CITY, uscc.GOVERNMENT_ORGAN,
     False),
]

APPLICANT1_UNIT = "曾都区住房和城乡建设局"
APPLICANT2_UNIT = "随县教育局"

# (username, display name, unit, roles); all share DEMO_PASSWORD.
USERS = [
    ("applicant1", "刘建华", APPLICANT1_UNIT, ["applicant"]),
    ("applicant2", "陈晓梅", APPLICANT2_UNIT, ["applicant"]),
    ("intake1", "王静", CREDIT_OFFICE, ["intake"]),
    ("verifier1", "李志强", FINANCE, ["verifier"]),
    ("approver1", "周国平", CREDIT_OFFICE, ["approver"]),
    ("admin1", "孙磊", CREDIT_OFFICE, ["admin"]),
    ("auditor1", "吴丽娟", CREDIT_OFFICE, ["auditor"]),
    ("verifier2", "何文斌", COURT, ["verifier"]),
    # The other recording units' officers, who register their units' records (失信记录认定登记).
    ("verifier3", "赵明远", DISCIPLINE, ["verifier"]),
    ("verifier4", "孙海燕", HRSS, ["verifier"]),
    ("verifier5", "郑宏伟", NDRC, ["verifier"]),
    ("personnel1", "冯雅琴", HRSS, ["personnel"]),
]
RECORDERS = {FINANCE: "verifier1", COURT: "verifier2", DISCIPLINE: "verifier3", HRSS: "verifier4", NDRC: "verifier5"}
# Demo ID numbers of the civil servants on records (valid check characters, not real people).
PERSON_ID_BODIES = {"黄志明": "42130319780512123", "赵卫东": "42132119800923345", "钱立新": "42138119850217567"}

# Legal bases quoted by several records.
GPL_REG_67 = "《中华人民共和国政府采购法实施条例》第六十七条"
SME_PAYMENT = "《保障中小企业款项支付条例》；政府采购合同付款条款"
ENFORCEMENT = "生效民事判决书；《最高人民法院关于公布失信被执行人名单信息的若干规定》第一条"
OPTIMISE_BE = "《优化营商环境条例》第三十一条"
PUNISHMENT_ACT = "《中华人民共和国公职人员政务处分法》"
ACCOUNTABILITY_RULES = "《中国共产党问责条例》第七条"
UNPAID_JUDGMENT = "生效民事判决书；《中华人民共和国民法典》第五百七十九条"

# Records: (subject unit, (person name, post) or None, category, severity, recording unit,
#           basis document number pattern ({y} = year of the basis date), days before `today`, facts, legal basis).
# With `today` in late 2026: general records are past their 3-month minimum after ~92 days, serious ones after a
# year; minor records (≥ 245 days back) fall under order No. 58 and are all past their minimum.
RECORDS = [
    # --- 曾都区住房和城乡建设局 (applicant1): three records by 随州市财政局 and two by others ---
    (APPLICANT1_UNIT, None, "breach", "general", FINANCE, "随财函〔{y}〕37号", 150,
     "老旧小区改造工程政府采购合同约定竣工验收合格后30日内付款，该局逾期9个月仍未向湖北楚晟建设工程有限公司"
     "支付工程款386.4万元，经市清理拖欠企业账款工作专班督办后仍未清偿。",
     SME_PAYMENT),
    (APPLICANT1_UNIT, None, "admin_penalty", "general", FINANCE, "随财罚〔{y}〕12号", 40,
     "将城区雨污分流改造项目拆分为4个标段分别采用询价方式采购，化整为零规避公开招标，涉及金额1,280万元。",
     f"《中华人民共和国政府采购法》第二十八条、第七十一条第（一）项；{GPL_REG_67}第（二）项"),
    (APPLICANT1_UNIT, None, "breach", "serious", FINANCE, "随财金〔{y}〕5号", 420,
     "城区棚户区改造PPP项目中，作为政府方实施机构未按PPP项目合同约定将可行性缺口补助纳入预算并按期支付，"
     "累计拖欠社会资本方2,150万元，经书面催告逾期6个月仍未支付。",
     "PPP项目合同；《政府和社会资本合作项目财政管理暂行办法》"),
    (APPLICANT1_UNIT, None, "judgment", "serious", COURT, "（{y}）鄂13执186号", 230,
     "拖欠PPP项目工程款经法院判决后仍未履行：（2025）鄂13民初123号民事判决书判令该局支付工程款及利息共计"
     "1,032.6万元，判决生效后该局有履行能力而拒不履行，已被纳入失信被执行人名单。",
     ENFORCEMENT),
    (APPLICANT1_UNIT, ("黄志明", "副局长"), "discipline", "general", DISCIPLINE, "随纪政处〔{y}〕21号", 100,
     "在分管城区道路维修工程招标过程中违规打招呼、干预评标，给予政务记过处分。",
     f"{PUNISHMENT_ACT}第三十九条第（一）项"),
    # --- 随县教育局 (applicant2): three records by 随州市财政局 and one by the discipline commission ---
    (APPLICANT2_UNIT, None, "admin_penalty", "minor", FINANCE, "随财罚〔{y}〕3号", 280,
     "农村义务教育学校课桌椅采购项目签订合同后未按规定在中国湖北政府采购网公告政府采购合同，给予警告。",
     f"{GPL_REG_67}第（七）项"),
    (APPLICANT2_UNIT, None, "breach", "general", FINANCE, "随财函〔{y}〕52号", 60,
     "农村学校学生营养餐食材采购合同约定按月结算，该局逾期4个月未向随县鑫源农产品配送有限公司支付货款172.8万元。",
     SME_PAYMENT),
    (APPLICANT2_UNIT, None, "breach", "serious", FINANCE, "随财函〔{y}〕41号", 200,
     "县城中小学校舍维修改造工程验收合格后逾期14个月未支付工程款563万元，经省、市两级清欠督办仍未偿还，"
     "且未制定还款计划。",
     SME_PAYMENT),
    (APPLICANT2_UNIT, None, "accountability", "general", DISCIPLINE, "随纪问〔{y}〕9号", 300,
     "家庭经济困难学生资助资金滞留未发放达5个月，群众反映强烈，对该局党组予以通报问责。",
     ACCOUNTABILITY_RULES),
    # --- other units across the city and its districts ---
    ("随县人民政府", None, "judgment", "serious", COURT, "（{y}）鄂13民初88号", 700,
     "招商引资协议承诺的设备购置奖补资金800万元未兑现，湖北神农新材料科技有限公司诉至法院，"
     "判决生效后仍未支付。",
     f"《中华人民共和国民法典》第五百七十七条；{OPTIMISE_BE}"),
    ("随县交通运输局", None, "judgment", "serious", COURT, "（{y}）鄂13执301号", 500,
     "农村公路提档升级工程款纠纷判决生效后未履行给付义务，被纳入失信被执行人名单。",
     ENFORCEMENT),
    ("随县厉山镇人民政府", None, "accountability", "serious", DISCIPLINE, "随纪问〔{y}〕27号", 30,
     "镇政府拖欠集镇污水管网工程款1,460万元长期不还，清欠督办中虚报还款进度，对镇党委、镇政府领导班子予以通报问责。",
     ACCOUNTABILITY_RULES),
    ("随县厉山镇人民政府", ("赵卫东", "副镇长"), "discipline", "serious", DISCIPLINE, "随纪政处〔{y}〕40号", 400,
     "违反决策程序擅自对外承诺招商引资奖补政策，造成政府违约和重大经济损失，给予政务撤职处分。",
     f"{PUNISHMENT_ACT}第三十九条第（二）项"),
    ("随县厉山镇神农村村民委员会", None, "admin_penalty", "minor", HRSS, "随人社监罚〔{y}〕6号", 270,
     "作为村道硬化工程建设单位，未按约定及时足额向农民工工资专用账户拨付人工费用，经责令限期改正后逾期改正。",
     "《保障农民工工资支付条例》第五十七条第（二）项"),
    ("广水市人民政府", None, "breach", "general", NDRC, "随发改函〔{y}〕15号", 130,
     "招商引资协议承诺的固定资产投资奖补资金600万元逾期10个月未兑现，企业多次投诉。",
     f"招商引资协议；{OPTIMISE_BE}"),
    ("广水市自然资源和规划局", None, "judgment", "general", COURT, "（{y}）鄂13行终57号", 45,
     "行政诉讼败诉：二审判决撤销其作出的集体土地征收补偿决定并责令60日内重新作出，该局逾期未重新作出。",
     "《中华人民共和国行政诉讼法》第九十四条、第九十六条"),
    ("广水市自然资源和规划局", ("钱立新", "不动产登记股股长"), "discipline", "minor", DISCIPLINE,
     "随纪政处〔{y}〕8号", 245,
     "办理不动产登记业务不作为、慢作为，造成群众多次往返，给予政务警告处分。",
     f"{PUNISHMENT_ACT}第三十九条第（三）项"),
    ("广水市第一中学", None, "admin_penalty", "general", FINANCE, "随财罚〔{y}〕29号", 20,
     "教学设备采购项目在招标文件中设置特定地区业绩要求，以不合理条件对供应商实行差别待遇，责令限期改正并给予警告。",
     "《中华人民共和国政府采购法》第七十一条第（三）项"),
    ("广水市人民医院", None, "admin_penalty", "general", HRSS, "随人社监罚〔{y}〕14号", 75,
     "拖欠编外聘用人员工资共计47.3万元，经责令限期支付后逾期仍未支付。",
     "《劳动保障监察条例》第二十六条"),
    ("曾都区人民政府", None, "accountability", "general", DISCIPLINE, "随纪问〔{y}〕2号", 330,
     "落实拖欠企业账款清偿工作不力，清欠台账底数不清、进度滞后，对区政府党组予以通报问责。",
     ACCOUNTABILITY_RULES),
    ("曾都区西城街道办事处", None, "judgment", "minor", COURT, "（{y}）鄂13民终214号", 250,
     "拖欠辖区环卫保洁服务费38.6万元，经二审判决后仍未在判决确定的期限内支付。",
     UNPAID_JUDGMENT),
    ("曾都区西城街道沿河社区居民委员会", None, "judgment", "minor", COURT, "（{y}）鄂13民终236号", 265,
     "拖欠社区党群服务中心装修工程尾款12.5万元，经二审判决后逾期未支付。",
     UNPAID_JUDGMENT),
    ("随州市中心医院", None, "breach", "general", FINANCE, "随财函〔{y}〕44号", 110,
     "医用设备政府采购合同逾期付款：设备验收合格后逾期7个月未支付货款295万元。",
     SME_PAYMENT),
    ("随州高新技术产业开发区管理委员会", None, "breach", "serious", NDRC, "随发改函〔{y}〕23号", 90,
     "高新区污水处理PPP项目未按合同约定支付可用性付费及运维绩效付费，累计拖欠3,870万元，经协商仍未支付。",
     "PPP项目合同；《中华人民共和国民法典》第五百零九条、第五百七十七条"),
]


def _org_body(n: int) -> str:
    """Return the n-th demo organisation-code body (8 characters from the GB 32100 alphabet)."""
    return f"DM{n:06d}"


def _seed_units() -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    for n, (name, kind, parent, region, division, (authority, category), is_office) in enumerate(UNITS, start=1):
        code = uscc.make_uscc(authority, category, division, _org_body(n))
        assert uscc.validate_uscc(code) is None, code
        units[name] = Unit(name=name, kind=kind, parent=units[parent] if parent else None, uscc=code,
                           region=region, is_credit_office=is_office)
        db.session.add(units[name])
    db.session.flush()
    return units


def _seed_users(units: dict[str, Unit]) -> None:
    for username, display_name, unit, roles in USERS:
        auth.create_user(username, display_name, units[unit].id, roles, DEMO_PASSWORD,
                         email=f"{username}@example.com")


def demo_id_number(body17: str) -> str:
    """A body of 17 digits with its GB 11643 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body17 + "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights)) % 11]


def basis_document(doc_no: str) -> bytes:
    """A one-page PDF standing in for a record's 认定文书 (demo data only)."""
    text = f"Demo basis document {doc_no.encode('unicode_escape').decode('ascii')}"
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _entry(units: dict[str, Unit], row: tuple, today: date) -> dict:
    subject, person, category, severity, recorder, doc_no, days_back, facts, legal_basis = row
    basis_date = today - timedelta(days=days_back)
    data = {"category": category, "severity": severity, "basis_doc_no": doc_no.format(y=basis_date.year),
            "basis_date": basis_date.isoformat(), "facts": facts, "legal_basis": legal_basis}
    if person:
        name, post = person
        data.update(subject_type="person", person={"name": name, "post": post, "unit_id": units[subject].id,
                                                   "id_number": demo_id_number(PERSON_ID_BODIES[name])})
    else:
        data.update(subject_type="unit", subject_unit_id=units[subject].id)
    return data


REVIEW_PASSED = {"check_complete": "pass", "check_subject": "pass", "check_duplicate": "pass",
                 "check_legal_basis": "pass", "check_severity": "pass", "review": "accept",
                 "opinion": "要素齐全，依据明确，予以登记。"}


def _seed_records(units: dict[str, Unit], today: date) -> None:
    """Every demo record enters as the recording unit's officer registers it, and the office registers it
    (record_registration): so each has its registration case, its letter pair and its publication."""
    from processes.record_registration import service as registration

    users = {name: db.session.scalar(select(User).where(User.username == name)) for name in
             (*RECORDERS.values(), "intake1")}
    for row in RECORDS:
        register_record(users[RECORDERS[row[4]]], units[row[4]], _entry(units, row, today), users["intake1"])
    # The demo starts after these registrations: their messages (new task, registered, letters) have been read.
    db.session.execute(update(Notification).where(Notification.read_at.is_(None)).values(read_at=now()))
    db.session.flush()


def register_record(officer: User, recorder: Unit, entry: dict, reviewer: User):
    """One record as its recording unit's officer enters and reports it and the office registers it."""
    from processes.record_registration import service as registration

    record = registration.create_draft(officer, registration.prepare(entry, recorder), source="seed")
    attachments.store_attachment(officer, registration.registration_case(record), registration.DOCUMENT_KIND,
                                 "认定文书.pdf", basis_document(record.basis_doc_no))
    case = registration.submit(officer, record.id)
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))
    workflow.complete_task(reviewer, task.id, dict(REVIEW_PASSED))
    return record


def seed_demo(today: date) -> dict:
    """Create the demo city, accounts and records in the current session; return how many of each."""
    if db.session.scalar(select(Unit.id).where(Unit.name == CREDIT_OFFICE)):
        raise RuntimeError("演示数据已存在")
    rules.seed_rule_sets()
    calendar.seed_from_package(range(2024, 2027))
    units = _seed_units()
    _seed_users(units)
    _seed_records(units, today)
    counts = {"units": len(UNITS), "users": len(USERS), "records": len(RECORDS)}
    audit.record("demo.seed", details=counts)
    return counts


def seed_demo_cases() -> dict:
    """Cases of every process at a typical waiting point, for the demo (the command line; tests build their own).

    Objections at each step, a rectification order, a repair application (app.demo.bulk.sample_cases), two records
    the recording units reported (one awaiting the office's review, one returned for correction) and a changed
    认定文书 awaiting the office. (A restoration needs a disqualification whose records are cleared: none yet here.)
    Commits (the sample cases commit as they go)."""
    from app.demo.bulk import sample_cases
    from processes.record_registration import service as registration

    made = [case.type for case, _weight in sample_cases()]
    units = {u.name: u for u in db.session.scalars(select(Unit))}
    officer = db.session.scalar(select(User).where(User.username == "verifier1"))
    intake = db.session.scalar(select(User).where(User.username == "intake1"))
    waiting = [
        ("随财函〔{y}〕112号", "拖欠随县殷店镇供水管网改造工程款74.5万元，合同约定的付款期限届满后经两次书面催告仍未支付。", None),
        ("随财罚〔{y}〕47号", "以明显低于成本的报价确定政府采购中标人，未按规定要求说明并提供证明材料。",
         "请补充失信事实所依据的条款项（第几条第几款），并上传加盖公章的处罚决定书全文。"),
    ]
    for doc_no, facts, return_reason in waiting:
        today = clock.local_today()
        entry = registration.prepare({
            "subject_type": "unit", "subject_unit_id": units[APPLICANT2_UNIT].id, "category": "breach",
            "severity": "general", "basis_doc_no": doc_no.format(y=today.year),
            "basis_date": (today - timedelta(days=12)).isoformat(), "facts": facts,
            "legal_basis": SME_PAYMENT}, units[FINANCE])
        record = registration.create_draft(officer, entry, source="seed")
        attachments.store_attachment(officer, registration.registration_case(record), registration.DOCUMENT_KIND,
                                     "认定文书.pdf", basis_document(record.basis_doc_no))
        case = registration.submit(officer, record.id)
        made.append(case.type)
        if return_reason:
            task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))
            workflow.complete_task(intake, task.id, {**REVIEW_PASSED, "check_legal_basis": "fail", "review": "return",
                                                     "return_reasons": return_reason, "opinion": ""})
    # 认定变更: the finance bureau reports that one of its decisions was changed on review (复议变更).
    from processes.source_change import service as source_change

    changeable = next(r for r in db.session.scalars(select(CreditRecord).where(
        CreditRecord.recording_unit_id == officer.unit_id, CreditRecord.subject_type == "unit",
        CreditRecord.status == "published").order_by(CreditRecord.id.desc())) if source_change.change_block(r) is None)
    change = source_change.file_change(officer, changeable.id, {
        "kind": "correct", "change_doc_no": f"随财复决〔{clock.local_today().year}〕3号",
        "change_doc_date": (clock.local_today() - timedelta(days=2)).isoformat(),
        "reason": "行政复议决定变更原处罚决定，认定事实中的涉及金额更正。",
        "facts": changeable.facts.rstrip("。") + "（经复议更正）。"}, "复议决定书.pdf",
        io.BytesIO(basis_document(changeable.basis_doc_no)))
    made.append(change.type)
    db.session.commit()
    return {kind: made.count(kind) for kind in sorted(set(made))}
