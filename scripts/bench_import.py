"""Benchmark the bulk import of records (issue 12 §2): preview and import of a 10,000-row file.

Run from the repository root:
    .venv/bin/python scripts/bench_import.py [--db URL] [--rows N] [--runs K] [--xlsx] [--web]
Builds the demo city on a fresh database (default: a SQLite file under var/bench/), then K times: builds a file of N
new rows (9 in 10 about units, 1 in 10 about civil servants; fixed seed), previews it (read + every row check,
rolled back) and imports it (records, cases, history, the shared 认定文书, every review started, commit). With --web
the same goes through the pages as verifier1 (upload → preview page → confirm; in-process test client). Prints the
seconds of each run (wall, and this process's CPU time: on SQLite all the work, and less sensitive to other load on a
shared machine) and the min/median. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import g  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import HumanTask, Unit, User  # noqa: E402
from config import DevelopmentConfig  # noqa: E402

PDF = b"%PDF-1.4\n%%EOF\n"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(n: int) -> str:
    body = f"421302{1960 + n % 40}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


def build_rows(run: int, rows: int, units: list[Unit], rng: random.Random) -> list[list[str]]:
    from app.services.record_import import HEADERS

    out = []
    categories = ("行政处罚", "纪律处分", "问责处理", "政务违约")
    for i in range(rows):
        unit = rng.choice(units)
        person = i % 10 == 0
        number = id_number(run * rows + i)  # the same number always comes with the same name
        cells = {"主体类型": "个人" if person else "单位", "统一社会信用代码": unit.uscc,
                 "姓名": "测试" + number[-6:] if person else "", "身份证号": number if person else "",
                 "职务": "科员" if person else "", "失信类别": rng.choice(categories),
                 "失信程度": rng.choice(("轻微", "一般", "严重")), "认定文书号": f"随测罚〔2026〕{run}-{i}号",
                 "认定日期": f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}",
                 "失信事实": "未按规定用途使用专项资金，金额较大，情节严重，经调查核实。",
                 "法律依据": "《财政违法行为处罚处分条例》第十四条"}
        out.append([cells[h] for h in HEADERS])
    return out


def to_bytes(rows: list[list[str]], xlsx: bool) -> bytes:
    from app.services.record_import import HEADERS

    if xlsx:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("失信记录")
        sheet.append(list(HEADERS))
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _fresh() -> None:
    db.session.remove()
    for name in list(g):
        g.pop(name)


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


def through_pages(app, data: bytes, xlsx: bool, previews: list, imports: list) -> None:
    """Upload, open the preview page and confirm as verifier1; add the seconds to the last entries."""
    web = app.test_client()
    _fresh()
    web.post("/login", data={"csrf_token": _csrf(web.get("/login").get_data(as_text=True)), "username": "verifier1",
                             "password": "Xinyong@2026"})
    _fresh()
    token = _csrf(web.get("/records/import/").get_data(as_text=True))
    _fresh()
    started = time.perf_counter()
    sent = web.post("/records/import/upload", data={
        "csrf_token": token, "file": (io.BytesIO(data), "bench.xlsx" if xlsx else "bench.csv"),
        "document": (io.BytesIO(PDF), "认定文书.pdf")}, content_type="multipart/form-data")
    assert sent.status_code == 303, sent.status_code
    _fresh()
    page = web.get(sent.headers["Location"]).get_data(as_text=True)
    previews[-1] += time.perf_counter() - started
    assert "条可导入" in page, page[:2000]
    _fresh()
    started = time.perf_counter()
    done = web.post(sent.headers["Location"], data={"csrf_token": _csrf(page)})
    imports[-1] += time.perf_counter() - started
    assert done.status_code == 303, done.status_code
    _fresh()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=f"sqlite:///{ROOT / 'var' / 'bench' / 'import.db'}")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--xlsx", action="store_true", help="XLSX files instead of CSV")
    parser.add_argument("--web", action="store_true", help="through the pages: upload, preview page, confirm")
    args = parser.parse_args()

    class Cfg(DevelopmentConfig):
        SQLALCHEMY_DATABASE_URI = args.db
        FILE_STORE = ROOT / "var" / "bench" / "files"
        ALLOW_CLOCK_SHIFT = False
        PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"

    if args.db.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(args.db.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        Path(args.db.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    app = create_app(Cfg)
    with app.app_context():
        from app.demo.seed import seed_demo
        from app.engine.definitions import deploy_directory
        from app.services.letters import local_today
        from processes.record_registration import record_import

        if args.db.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        deploy_directory(ROOT / "processes")
        seed_demo(local_today())
        db.session.commit()
        verifier = db.session.scalar(select(User).where(User.username == "verifier1"))
        units = list(db.session.scalars(select(Unit).where(Unit.is_credit_office.is_(False), Unit.active.is_(True),
                                                           Unit.id != verifier.unit_id).order_by(Unit.id)))
        rng = random.Random(20261201)
        previews, imports = [], []
        for run in range(1, args.runs + 1):
            data = to_bytes(build_rows(run, args.rows, units, rng), args.xlsx)
            if args.web:
                previews.append(0.0)
                imports.append(0.0)
                through_pages(app, data, args.xlsx, previews, imports)
                print(f"run {run}: {len(data) / 1024:.0f} KB through the pages: upload + preview page "
                      f"{previews[-1]:.1f} s, confirm {imports[-1]:.1f} s")
                continue
            started, cpu = time.perf_counter(), time.process_time()
            plan = record_import.preview(verifier, data, "认定文书.pdf", PDF)
            db.session.commit()
            previews.append(time.perf_counter() - started)
            preview_cpu = time.process_time() - cpu
            assert not plan.errors, plan.errors[:5]
            started, cpu = time.perf_counter(), time.process_time()
            outcome = record_import.import_file(verifier, "bench.csv", data, "认定文书.pdf", PDF)
            db.session.commit()
            imports.append(time.perf_counter() - started)
            import_cpu = time.process_time() - cpu
            print(f"run {run}: {len(data) / 1024:.0f} KB {'XLSX' if args.xlsx else 'CSV'}, {len(plan.create):,} rows: "
                  f"preview {previews[-1]:.1f} s (CPU {preview_cpu:.1f} s), import {imports[-1]:.1f} s "
                  f"(CPU {import_cpu:.1f} s; {len(outcome.created_ids):,} created)")
        open_reviews = db.session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.status == "open", HumanTask.bpmn_id == "office_review"))
        print(f"open office_review tasks: {open_reviews:,}")
        print(f"preview: min {min(previews):.1f} s, median {statistics.median(previews):.1f} s")
        print(f"import:  min {min(imports):.1f} s, median {statistics.median(imports):.1f} s")


if __name__ == "__main__":
    main()
