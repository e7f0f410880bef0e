"""Pages that grow with data (issue 15 point 6): /public/records at 1,000,000 records, the dashboard at 100,000
cases, the audit search at 1,000,000 events.

The data is plain rows shaped like the real ones (the demo city seeded first, then generated units, records, cases
with their instances and tasks, and audit events), written by bulk inserts: the pages only read them, and building
them through the services would take hours. Audit events carry placeholder hashes (the chain is not verified here;
this database is the benchmark's own). Each page is timed through the Flask test client (the server's time, no
network), p50 and p95 of the wall time and the median CPU time, with its statement count; its floor is the very
statements the page sent, replayed alone on the database connection.
"""
from __future__ import annotations

import random
import time
import uuid
from datetime import date, datetime, timedelta, timezone

from scripts.benchmarks.common import Bench, Figure, analyze, make_app, migrate_and_seed, timed

REGIONS = ("曾都区", "随县", "广水市", "随州高新区", "大洪山风景区")
PLACES = ("东城", "西城", "南郊", "北郊", "城南", "城北", "淅河", "何店", "府河", "万店", "洛阳", "厉山", "高城",
          "殷店", "草店", "小林", "淮河", "万和", "尚市", "均川", "三里岗", "安居", "唐县镇", "新街", "环潭", "柳林",
          "长岗", "吴山", "陈巷", "杨寨", "蔡河", "郝店", "马坪", "关庙", "余店", "骆店", "太平", "城郊", "十里铺",
          "应山")
ORGS = ("财政局", "教育局", "卫生健康委员会", "住房和城乡建设局", "交通运输局", "自然资源和规划局", "市场监督管理局",
        "应急管理局", "农业农村局", "水利和湖泊局", "人力资源和社会保障局", "城市管理执法局", "民政局", "文化和旅游局",
        "生态环境分局", "审计局", "统计局", "医疗保障局", "退役军人事务局", "林业局", "商务局", "司法所",
        "镇人民政府", "街道办事处", "中心学校")
ISSUERS = ("随财罚", "随教处", "随卫罚", "随建罚", "随交罚", "随自然资罚", "随市监罚", "随应急罚", "随农罚",
           "随水罚", "随人社监", "随城管罚", "随民处", "随文旅罚", "随环罚", "随审罚")
FACTS = ("未按合同约定支付中小企业账款，拖欠金额{n}万元。", "违规使用财政专项资金{n}万元。",
         "未履行生效判决确定的给付义务，涉及金额{n}万元。", "招标活动中设置不合理条件限制潜在投标人，涉案{n}万元。",
         "未按承诺期限完成整改事项，逾期{n}日。")
CATEGORY_WEIGHTS = {"judgment": 20, "admin_penalty": 40, "discipline": 10, "accountability": 10, "breach": 20}
SEVERITY_WEIGHTS = {"minor": 30, "general": 50, "serious": 20}
STATUS_WEIGHTS = {"published": 86, "disputed": 3, "corrected": 2, "expired": 3, "repaired": 2, "revoked": 1,
                  "draft": 1, "reviewing": 1, "returned": 1}
RARE_UNIT = "随县尚市水利和湖泊局"  # one of the generated units: about 1 / 5,000 of the records
COMMON_Q = "教育局"  # a name part of 1 unit in 25
RARE_IP = "172.16.9"  # a network with ~100 events in a million
RARE_USER = "jiancha_rare"  # an account with 30 events in a million
BATCH = 5000


def run(bench: Bench) -> list[Figure]:
    url = bench.database("pages")
    build = bench.fresh(url)
    app = make_app(url)
    sizes = {"units": bench.size(5000, 500), "records": bench.size(1_000_000, 20_000),
             "cases": bench.size(100_000, 5_000), "events": bench.size(1_000_000, 20_000)}
    with app.app_context():
        from flask_migrate import upgrade

        if build:
            started = time.perf_counter()
            migrate_and_seed()
            generate(sizes)
            analyze()
            print(f"(pages: data generated in {time.perf_counter() - started:.0f} s: {sizes})", flush=True)
        else:
            upgrade()
            if complete(sizes):  # an earlier build stopped half-way: its missing parts
                analyze()
        return measure(app, bench)


# --------------------------------------------------------------------------- data

def generate(sizes: dict[str, int], seed: int = 20261202) -> None:
    """Units, records, cases (instances, tasks) and audit events as plain rows, in batches."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Person, RuleSet, Unit

    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    taken = {name for name, in db.session.execute(select(Unit.name))}
    _insert(Unit, [u for u in _units(sizes["units"]) if u["name"] not in taken])  # the demo city's units stay
    unit_ids = list(db.session.scalars(select(Unit.id).where(Unit.is_credit_office.is_(False))))
    people = [(p.id, p.unit_id, p.name, p.post) for p in db.session.scalars(select(Person))]
    rule_sets = list(db.session.scalars(select(RuleSet.id)))
    record_ids = _records(rng, sizes["records"], unit_ids, people, rule_sets, now)
    _cases(rng, sizes["cases"], unit_ids, record_ids, rule_sets[0], now)
    _events(rng, sizes["events"], unit_ids, now)
    _advance_sequences()


def complete(sizes: dict[str, int], seed: int = 20261203) -> bool:
    """Generate what a reused database lacks (a build stopped half-way); True if anything was added."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import AuditEvent, Case, CreditRecord, Person, RuleSet, Unit

    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    units = db.session.scalar(select(func.count()).select_from(Unit))
    if units < sizes["units"] // 2:
        return False  # not a database this script built
    unit_ids = list(db.session.scalars(select(Unit.id).where(Unit.is_credit_office.is_(False))))
    added = False
    missing = sizes["records"] - db.session.scalar(select(func.count()).select_from(CreditRecord))
    if missing > 0:
        people = [(p.id, p.unit_id, p.name, p.post) for p in db.session.scalars(select(Person))]
        _records(rng, missing, unit_ids, people, list(db.session.scalars(select(RuleSet.id))), now)
        added = True
    generated = select(func.count()).select_from(Case).where(Case.number.like("%-5_____"))
    missing = sizes["cases"] - db.session.scalar(generated)
    if missing > 0:
        free = select(CreditRecord.id).where(CreditRecord.id.not_in(select(Case.record_id)))
        _cases(rng, missing, unit_ids, list(db.session.scalars(free)), db.session.scalar(select(RuleSet.id)), now,
               first_number=sizes["cases"] - missing)
        added = True
    missing = sizes["events"] - db.session.scalar(select(func.count()).select_from(AuditEvent))
    if missing > 0:
        _events(rng, missing, unit_ids, now)
        added = True
    _advance_sequences()
    return added


def _insert(model, rows: list[dict]) -> None:
    """Plain rows into the model's table: COPY on PostgreSQL (an executemany of a million rows takes an hour on a
    loaded machine), batched executemany on SQLite."""
    import json

    from sqlalchemy import insert

    from app.extensions import db

    if not rows:
        return
    if db.engine.dialect.name == "postgresql":
        columns = list(rows[0])
        table = model.__table__.name
        raw = db.session.connection().connection.driver_connection
        with raw.cursor() as cursor:
            with cursor.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in (row[c] for c in columns)])
        db.session.commit()
        return
    for start in range(0, len(rows), BATCH):
        db.session.execute(insert(model.__table__), rows[start:start + BATCH])
    db.session.commit()


def _units(n: int) -> list[dict]:
    kinds = {"镇人民政府": "grassroots", "街道办事处": "grassroots", "中心学校": "institution"}
    rows = []
    for i in range(n):
        region, rest = REGIONS[i % len(REGIONS)], i // len(REGIONS)
        place, org = PLACES[rest % len(PLACES)], ORGS[(rest // len(PLACES)) % len(ORGS)]
        lap = rest // (len(PLACES) * len(ORGS))
        name = f"{region}{place}{org}" + (f"（{lap + 1}）" if lap else "")
        rows.append({"name": name, "kind": kinds.get(org, "department"), "uscc": f"11429{i:013d}",
                     "region": region, "is_credit_office": False, "active": True})
    return rows


def _records(rng, n, unit_ids, people, rule_sets, now) -> list[int]:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import CreditRecord

    first = (db.session.scalar(select(func.max(CreditRecord.id))) or 0) + 1
    categories, category_w = zip(*CATEGORY_WEIGHTS.items())
    severities, severity_w = zip(*SEVERITY_WEIGHTS.items())
    statuses, status_w = zip(*STATUS_WEIGHTS.items())
    today = now.date()
    rows, ids = [], []
    for i in range(n):
        record_id = first + i
        basis = today - timedelta(days=rng.randint(0, 5 * 365))
        status = rng.choices(statuses, status_w)[0]
        person = rng.choice(people) if people and rng.random() < 0.05 else None
        subject_unit = person[1] if person else rng.choice(unit_ids)
        recorder = rng.randrange(len(ISSUERS))
        published = None
        if status not in ("draft", "reviewing", "returned") and not (status == "published" and rng.random() < 0.01):
            published = datetime.combine(basis + timedelta(days=rng.randint(1, 10)), datetime.min.time(), timezone.utc)
        rows.append({
            "id": record_id, "subject_type": "person" if person else "unit", "subject_unit_id": subject_unit,
            "person_id": person[0] if person else None, "person_name": person[2] if person else None,
            "person_post": person[3] if person else None,
            "subject_key": f"person:{person[0]}" if person else f"unit:{subject_unit}",
            "category": "discipline" if person else rng.choices(categories, category_w)[0],
            "severity": rng.choices(severities, severity_w)[0], "recording_unit_id": unit_ids[recorder],
            "basis_doc_no": f"{ISSUERS[recorder]}〔{basis.year}〕{record_id}号", "basis_date": basis,
            "facts": rng.choice(FACTS).format(n=rng.randint(2, 900)), "legal_basis": "《保障中小企业款项支付条例》第八条",
            "status": status, "annotation": None, "publication_start": basis,
            "earliest_repair_date": basis + timedelta(days=90), "auto_end_date": basis + timedelta(days=3 * 365),
            "rule_set_id": rng.choice(rule_sets), "rectified_at": None, "published_at": published,
            "judicial": False, "source": "seed", "import_id": None, "created_by_id": None,
            "created_at": now - timedelta(days=(today - basis).days), "updated_at": now,
        })
        ids.append(record_id)
        if len(rows) == BATCH * 4:
            _insert(CreditRecord, rows)
            rows = []
    _insert(CreditRecord, rows)
    return ids


def _cases(rng, n, unit_ids, record_ids, rule_set_id, now, first_number: int = 0) -> None:
    """Cases over the last 18 months: a third still open with an open task (some overdue), the rest ended; each
    with its instance and two to four tasks with due instants, some completed late, some cancelled."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import CASE_OPEN, Case, HumanTask, ProcessDefinition, ProcessInstance

    first = (db.session.scalar(select(func.max(Case.id))) or 0) + 1
    first_instance = (db.session.scalar(select(func.max(ProcessInstance.id))) or 0) + 1
    definitions = dict(db.session.execute(select(ProcessDefinition.process_key, func.max(ProcessDefinition.id))
                                          .group_by(ProcessDefinition.process_key)).all())
    types = {"objection": ("YY", "objection_review"), "rectification": ("ZG", "rectification"),
             "repair": ("XF", "credit_repair"), "registration": ("DJ", "record_registration")}
    steps = {"objection": ("intake_review", "verify", "draft_decision", "approve"),
             "rectification": ("submit_report", "review_report", "state_case"),
             "repair": ("intake_review", "verify_repair", "approve_repair"),
             "registration": ("intake_review", "register")}
    fallback = next(iter(definitions.values()))
    counters = dict.fromkeys(types, first_number)
    cases, instances, tasks = [], [], []
    records = rng.sample(record_ids, n)  # a record has at most one case of its own (case.record_id is unique)
    for i in range(n):
        kind = rng.choices(list(types), (30, 20, 20, 30))[0]
        counters[kind] += 1
        submitted = now - timedelta(minutes=rng.randint(60, 540 * 24 * 60))
        roll = rng.random()
        status = "in_progress" if roll < 0.28 else "supplement" if roll < 0.32 else "closed" if roll < 0.9 \
            else "rejected" if roll < 0.95 else "withdrawn"
        case_id, instance_id = first + i, first_instance + i
        closed = min(now, submitted + timedelta(days=rng.randint(3, 45))) if status not in CASE_OPEN else None
        cases.append({"id": case_id, "number": f"{types[kind][0]}-{submitted.year}-{500_000 + counters[kind]:06d}",
                      "query_code": f"{rng.getrandbits(32):08X}", "type": kind, "status": status,
                      "outcome": "maintain" if status == "closed" else None, "record_id": records[i],
                      "applicant_unit_id": rng.choice(unit_ids), "created_by_id": None, "rule_set_id": rule_set_id,
                      "form": {}, "current_step": "" if closed else steps[kind][0], "created_at": submitted,
                      "submitted_at": submitted, "closed_at": closed})
        instances.append({"id": instance_id, "definition_id": definitions.get(types[kind][1], fallback),
                          "case_id": case_id, "status": "running" if closed is None else "completed", "state": "{}",
                          "serializer_version": "1.0", "lock_version": 0, "updated_at": closed or submitted})
        at = submitted
        names = steps[kind][: rng.randint(2, len(steps[kind]))]
        for j, step in enumerate(names):
            due = at + timedelta(days=rng.choice((3, 5, 10, 15)))
            last = j == len(names) - 1
            if closed is None and last:
                # The open step: due anywhere from two weeks ago to a month ahead.
                due = now + timedelta(hours=rng.randint(-24 * 15, 24 * 30))
                task_status, done = "open", None
            elif closed is not None and last and status == "withdrawn":
                task_status, done = "cancelled", closed
            else:
                done = at + timedelta(hours=rng.randint(2, 24 * 14))  # about one in four past its due instant
                done = min(done, closed or now)
                task_status = "completed"
            tasks.append({"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "instance_id": instance_id,
                          "case_id": case_id, "bpmn_id": step, "case_type": kind, "title": step, "form_key": step,
                          "lane": "applicant" if step in ("submit_report", "state_case") else "intake",
                          "candidate_unit_id": None, "assignee_id": None, "status": task_status, "due_at": due,
                          "due_provisional": False, "due_days": 5, "created_at": at, "completed_at": done,
                          "completed_by_id": None})
            at = done or at
        if len(cases) >= BATCH:
            _insert(Case, cases), _insert(ProcessInstance, instances), _insert(HumanTask, tasks)
            cases, instances, tasks = [], [], []
    _insert(Case, cases), _insert(ProcessInstance, instances), _insert(HumanTask, tasks)





def _events(rng, n, unit_ids, now) -> None:
    """Audit events: 2,000 accounts, addresses all over 10/8 (with 10.1.2.* next to 10.1.20.*), 1 % failures,
    2 % refusals; a rare account and a rare network spread thinly through the log."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import AuditEvent

    first = (db.session.scalar(select(func.max(AuditEvent.id))) or 0) + 1
    return _events_in_sql(n, first, unit_ids, now)


def _events_in_sql(n: int, first: int, unit_ids: list[int], now: datetime) -> None:
    """Audit events made by the database itself (a million Python rows take half an hour on a loaded machine):
    2,000 accounts, addresses all over 10/8, 1 % failures, 2 % refusals; a rare account (30 events) and a rare
    network (~100) spread thinly through the year; instants in the text format SQLAlchemy stores on SQLite."""
    from sqlalchemy import text

    from app.extensions import db

    actions = ("auth.login", "task.complete", "case.status", "attachment.download", "letter.download",
               "task.claim", "record.status", "auth.logout")
    pg = db.engine.dialect.name == "postgresql"

    def pick(k: int) -> str:
        return f"floor(random() * {k})::int" if pg else f"(abs(random()) % {k})"

    def padded(expr: str) -> str:  # four digits (SQLite has no lpad)
        return f"lpad(CAST({expr} AS TEXT), 4, '0')" if pg else f"printf('%04d', {expr})"

    def hexed(expr: str) -> str:
        return f"lpad(to_hex({expr}), 64, '0')" if pg else f"printf('%064x', {expr})"

    start = (now - timedelta(days=365)).strftime("%Y-%m-%d %H:%M:%S")
    series = ("SELECT generate_series(0, :n - 1) AS i" if pg else
              "WITH RECURSIVE series(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM series WHERE i < :n - 1) "
              "SELECT i FROM series")
    at = ("CAST(:start AS timestamptz) + make_interval(secs => i * :seconds)" if pg else
          "strftime('%Y-%m-%d %H:%M:%S', :start, '+' || CAST(i * :seconds AS INTEGER) || ' seconds') || '.000000'")
    action_case = " ".join(f"WHEN {i} THEN '{a}'" for i, a in enumerate(actions))
    db.session.execute(text(f"""
        INSERT INTO audit_event (id, at, user_id, username, unit_id, ip, action, object_type, object_id, outcome,
                                 details, prev_hash, hash, key_id)
        SELECT :first + i, {at}, 1000 + {pick(2000)},
               CASE WHEN i % :rare_user = 3 THEN :rare_username ELSE 'user' || {padded(pick(2000))} END,
               :unit_lo + {pick(len(unit_ids))},
               CASE WHEN i % :rare_ip = 7 THEN :rare_network || '.' || CAST(1 + {pick(254)} AS TEXT)
                    ELSE '10.' || CAST({pick(256)} AS TEXT) || '.' || CAST({pick(256)} AS TEXT) || '.'
                         || CAST(1 + {pick(254)} AS TEXT) END,
               CASE {pick(len(actions))} {action_case} END,
               'case', CAST(1 + {pick(100000)} AS TEXT),
               CASE {pick(100)} WHEN 0 THEN 'failure' WHEN 1 THEN 'denied' WHEN 2 THEN 'denied' ELSE 'success' END,
               '{{}}', {hexed(':first + i - 1')}, {hexed(':first + i')}, NULL
        FROM ({series}) AS series
    """), {"n": n, "first": first, "start": start, "seconds": 365 * 86400 / max(n, 1),
           "rare_user": max(n // 30, 1), "rare_username": RARE_USER, "rare_ip": max(n // 100, 1),
           "rare_network": RARE_IP, "unit_lo": min(unit_ids)})
    db.session.commit()


def _advance_sequences() -> None:
    from sqlalchemy import text

    from app.extensions import db

    if db.engine.dialect.name != "postgresql":
        return
    for table in ("unit", "credit_record", "case", "process_instance", "audit_event"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                f"(SELECT max(id) FROM \"{table}\"))"))
    db.session.commit()


# --------------------------------------------------------------------------- timing

class Statements:
    """The statements a request sends (text and parameters), to count them and to replay them as the floor."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.engine, self.seen, self.on = engine, [], False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            self.seen.append((statement, parameters))

    def capture(self, action) -> list:
        self.seen, self.on = [], True
        try:
            action()
        finally:
            self.on = False
        return list(self.seen)


def _replay(engine, statements: list):
    """The floor: the same statements on one raw DBAPI connection, nothing else."""
    raw = engine.raw_connection()

    def action():
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
            if cursor.description is not None:  # a page's session touch is an UPDATE
                cursor.fetchall()
        cursor.close()
        raw.rollback()

    return raw, action


def measure(app, bench: Bench) -> list[Figure]:
    from sqlalchemy import delete

    from app.extensions import db
    from app.demo.seed import DEMO_PASSWORD

    repeat = 10 if bench.quick else 20
    statements = Statements(db.engine)
    public = app.test_client()
    office, auditor = app.test_client(), app.test_client()
    for client, username in ((office, "intake1"), (auditor, "auditor1")):
        _fresh_g()
        response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 302, (username, response.status_code)
    doc = _a_doc_number()
    middle = _middle_cursor()
    pages = [
        ("public records: first page", public, "/public/records", "≤ 30 ms"),
        ("public records: page 10", public, "/public/records?page=10", "≤ 30 ms"),
        ("public records: the middle of the list (next-page cursor)", public, f"/public/records?after={middle}",
         "≤ 30 ms"),
        ("public records: category filter", public, "/public/records?category=discipline", "≤ 30 ms"),
        ("public records: category + severity, page 5", public,
         "/public/records?category=breach&severity=serious&page=5", "≤ 30 ms"),
        (f"public records: common q ({COMMON_Q})", public, f"/public/records?q={COMMON_Q}", "≤ 30 ms"),
        (f"public records: common q, page 10", public, f"/public/records?q={COMMON_Q}&page=10", "≤ 30 ms"),
        (f"public records: rare q (one unit's name)", public, f"/public/records?q={RARE_UNIT}", "≤ 30 ms"),
        ("public records: rare q (a document number)", public, f"/public/records?q={doc}", "≤ 30 ms"),
        ("public records: q matching nothing", public, "/public/records?q=不存在的单位", "≤ 30 ms"),
        (f"public records: common document prefix ({ISSUERS[0]})", public, f"/public/records?q={ISSUERS[0]}",
         "≤ 30 ms"),
        # The staff's list of every record (/records, the credit office): the same searches over all statuses.
        ("staff records list: first page", office, "/records/", "≤ 30 ms"),
        ("staff records list: the middle (next-page cursor)", office, f"/records/?after={middle}", "≤ 30 ms"),
        (f"staff records list: common q ({COMMON_Q})", office, f"/records/?q={COMMON_Q}", "≤ 30 ms"),
        (f"staff records list: common document prefix ({ISSUERS[0]})", office, f"/records/?q={ISSUERS[0]}",
         "≤ 30 ms"),
        ("staff records list: a document number", office, f"/records/?q={doc}", "≤ 30 ms"),
        # As served: the page reads the figures the worker computes every 60 s (reports.dashboard.refresh_snapshot);
        # without a worker, its own, reused for 60 s per process. The computation itself (the worker's, once a
        # minute; DASHBOARD_FIGURES_MAX_AGE=0, the tests' setting, makes every page compute) is informative.
        ("dashboard: as served (the worker's snapshot of the figures)", office, "/dashboard/", "≤ 50 ms", 60,
         "snapshot"),
        ("dashboard: without a worker (the page's own figures, reused 60 s)", office, "/dashboard/", "≤ 50 ms", 60),
        ("dashboard: the figures computed (the worker's, every 60 s)", office, "/dashboard/", "", 0),
        (f"audit search: IP prefix {RARE_IP}", auditor, f"/audit/?ip={RARE_IP}", "≤ 50 ms"),
        ("audit search: failures only", auditor, "/audit/?outcome=failure", "≤ 50 ms"),
        ("audit search: failures, IP 10.1.", auditor, "/audit/?outcome=failure&ip=10.1.", "≤ 50 ms"),
        (f"audit search: rare user", auditor, f"/audit/?username={RARE_USER}", "≤ 50 ms"),
        ("audit search: no filter", auditor, "/audit/", "≤ 50 ms"),
    ]
    figures = []
    from app.core import clock
    from app.models import AppSetting
    from app.services.reports import dashboard

    for name, client, path, target, *dashboard_setting in pages:
        max_age, *source = dashboard_setting or (0,)
        app.config["DASHBOARD_FIGURES_MAX_AGE"] = max_age
        dashboard.forget_recent()
        db.session.execute(delete(AppSetting).where(AppSetting.key == dashboard.SNAPSHOT_KEY))
        db.session.commit()
        if source == ["snapshot"]:
            dashboard.refresh_snapshot(clock.local_today(), max_age)  # as the worker does every max_age seconds

        def get(client=client, path=path):
            _fresh_g()
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response

        if max_age:
            get()  # the figures held: the statements and floor of a page that reuses them
        sent = statements.capture(get)
        timing = timed(get, repeat)
        raw, replay = _replay(db.engine, sent)
        try:
            floor = timed(replay, repeat)
        finally:
            raw.close()
        limit = float(target.split()[1]) if target else None
        figures.append(Figure(
            name=name, value=timing.median, target=f"p50 {target}" if target else "", floor=floor.median,
            floor_note="its SQL alone", met=timing.median <= limit if limit is not None else None,
            note=f"p95 {timing.p95:.1f} ms, CPU {timing.cpu_median:.1f} ms, {len(sent)} statements"))
    return figures


def _fresh_g() -> None:
    """Empty flask.g before a request: the app context held open for db.session is reused by test requests, and
    g would carry the previous request's user into the next (tests/support/clients.fresh_g does the same)."""
    from flask import g

    for name in list(g):
        g.pop(name)


def _middle_cursor() -> str:
    """The next-page cursor half-way down the whole public list (what following 下一页 10,000 times reaches)."""
    from sqlalchemy import func, select, text

    from app.extensions import db
    from app.models import RECORD_SHOWN_SQL, CreditRecord

    shown = db.session.scalar(select(func.count()).select_from(CreditRecord).where(text(RECORD_SHOWN_SQL)))
    day, record_id = db.session.execute(
        select(CreditRecord.basis_date, CreditRecord.id).where(text(RECORD_SHOWN_SQL))
        .order_by(CreditRecord.basis_date.desc(), CreditRecord.id.desc()).offset(shown // 2).limit(1)).one()
    return f"{day.isoformat() if hasattr(day, 'isoformat') else day}.{record_id}"


def _a_doc_number() -> str:
    """A published record's full document number (a rare query: one record)."""
    from sqlalchemy import select, text

    from app.extensions import db
    from app.models import RECORD_SHOWN_SQL, CreditRecord

    return db.session.scalar(select(CreditRecord.basis_doc_no).where(text(RECORD_SHOWN_SQL), CreditRecord.subject_type == "unit")
                             .order_by(CreditRecord.id.desc()).limit(1))
