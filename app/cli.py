"""Command line: processes deploy, demo seed, worker, calendar import, users create, audit verify."""
from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from app.extensions import db
from app.services import audit


def _processes_dir() -> Path:
    return Path(current_app.root_path).parent / "processes"


def _deploy() -> list[str]:
    from app.engine.definitions import deploy_directory

    lines = []
    for row, created in deploy_directory(_processes_dir()):
        lines.append(f"{row.process_key} v{row.version} {'已部署' if created else '未变化'} ({row.file_hash[:12]})")
        if created:
            audit.record("process.deploy", object_type="process_definition", object_id=row.id,
                         details={"key": row.process_key, "version": row.version, "hash": row.file_hash})
    return lines


def register_cli(app: Flask) -> None:
    processes = AppGroup("processes", help="BPMN 流程定义")
    demo = AppGroup("demo", help="演示数据")
    calendar_cli = AppGroup("calendar", help="工作日历")
    users = AppGroup("users", help="用户")
    audit_cli = AppGroup("audit", help="审计日志")

    @processes.command("deploy")
    def deploy_cmd():
        """Lint and deploy processes/*.bpmn (a new version only when the files changed)."""
        for line in _deploy():
            click.echo(line)
        db.session.commit()

    @demo.command("seed")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="演示数据的基准日期")
    @click.option("--cases", "cases", type=int, default=0, help="另外生成的办件数量（负载与基准测试用）")
    def seed_cmd(today, cases):
        """Migrate, deploy and load demo units, users and records; optionally N generated cases."""
        from app.models import Unit
        from app.services.demo import CREDIT_OFFICE, seed_demo
        from app.services.demo_bulk import seed_cases

        upgrade()
        for line in _deploy():
            click.echo(line)
        db.session.commit()
        if db.session.scalar(db.select(Unit.id).where(Unit.name == CREDIT_OFFICE)) is None:
            counts = seed_demo((today.date() if today else None) or _local_today())
            db.session.commit()
            click.echo(f"演示数据已创建：{counts}")
        if cases:
            started = time.perf_counter()
            seed_cases(cases)
            click.echo(f"已生成办件 {cases} 件，用时 {time.perf_counter() - started:.1f} 秒。")

    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="只执行一轮后退出")
    @click.option("--interval", default=10.0, help="轮询间隔（秒）")
    @click.option("--at", "at", default=None, help="培训/测试：把系统时钟调到该时刻（ISO 8601，含时区）再执行")
    def worker_cmd(once, interval, at):
        """Fire due BPMN timers exactly once and deliver the outbox; several workers may run at once."""
        from app.services import clock
        from app.services.worker import sweep

        if at:
            if not current_app.config["ALLOW_CLOCK_SHIFT"]:
                raise click.UsageError("--at 只能在启用了培训/测试时钟的配置下使用 (ALLOW_CLOCK_SHIFT=1)。")
            target = datetime.fromisoformat(at)
            if target.tzinfo is None:
                raise click.UsageError("--at 需要带时区的时刻，例如 2026-12-26T09:00:00+08:00。")
            # Shift the shared clock so the web app (banner) and every worker agree on the instant.
            clock.save_shared_offset(clock.offset_to(target))
            audit.record("clock.shift", details={"to": target.isoformat()})
            db.session.commit()
        while True:
            if current_app.config["ALLOW_CLOCK_SHIFT"]:
                clock.load_shared_offset()
            result = sweep()
            if result.fired or result.delivered or result.failed or result.timer_errors:
                click.echo(f"计时器触发 {result.fired}，出错 {result.timer_errors}；消息送达 {result.delivered}，"
                           f"待重试 {result.retried}，失败 {result.failed}")
            if once:
                break
            time.sleep(interval)

    @app.cli.command("clock-reset")
    def clock_reset():
        """Return the shared training clock to the wall clock."""
        from app.services import clock

        clock.save_shared_offset(None)
        audit.record("clock.reset")
        db.session.commit()
        click.echo("系统时钟已恢复为真实时间。")

    @calendar_cli.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--source", default="", help="国务院办公厅通知文号")
    def calendar_import(file, source):
        """Load a year's State Council holiday schedule (CSV: date,type,name)."""
        from app.services.calendar import import_schedule

        year, rows = import_schedule(Path(file).read_text(encoding="utf-8"), source)
        db.session.commit()
        click.echo(f"{year} 年放假安排已导入，共 {rows} 条。")

    @users.command("create")
    @click.argument("username")
    @click.option("--name", "display_name", required=True)
    @click.option("--unit-id", type=int, required=True)
    @click.option("--role", "roles", multiple=True, required=True)
    @click.password_option()
    def users_create(username, display_name, unit_id, roles, password):
        """Create a user (the password must meet the policy; there is no default password)."""
        from app.services.auth import create_user

        create_user(username, display_name, unit_id, list(roles), password)
        db.session.commit()
        click.echo(f"用户 {username} 已创建。")

    @audit_cli.command("verify")
    def audit_verify():
        """Recompute the audit hash chain; exit 1 when any row was edited or removed."""
        checked, problems = audit.verify_chain()
        for problem in problems:
            click.echo(problem, err=True)
        click.echo(f"已校验 {checked} 条审计事件，发现问题 {len(problems)} 处。")
        if problems:
            raise SystemExit(1)

    for group in (processes, demo, calendar_cli, users, audit_cli):
        app.cli.add_command(group)


def _local_today() -> date:
    from app.services.letters import local_today

    return local_today()
