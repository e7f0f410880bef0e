"""Command line: processes deploy, demo seed, worker, rules daily, calendar import, users create, audit
verify/archive, ops."""
from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from app.extensions import db
from app.services import audit
from app.services.audit import archive as audit_archives, chain as audit_chain, checkpoint as audit_checkpoints


def _deploy() -> list[str]:
    """Deploy the registered process slices (processes/__init__.py lists them)."""
    from app.engine.definitions import deploy_directory
    from app.services.workflow import registry

    lines = []
    for row, created in deploy_directory(*(piece.folder for piece in registry.slices())):
        lines.append(f"{row.process_key} v{row.version} {'已部署' if created else '未变化'} ({row.file_hash[:12]})")
        if created:
            audit.record("process.deploy", object_type="process_definition", object_id=row.id,
                         details={"key": row.process_key, "version": row.version, "hash": row.file_hash})
    return lines


def register_cli(app: Flask, app_factory: Callable[[type], Flask]) -> None:
    """Add the commands to the app; `app_factory` (create_app, handed in by it) builds the restore drill's app."""
    for add in (_processes_commands, _demo_commands, _worker_commands, _calendar_commands, _users_commands,
                _audit_commands):
        add(app)
    _ops_commands(app, app_factory)


def _processes_commands(app: Flask) -> None:
    """flask processes deploy."""
    processes = AppGroup("processes", help="BPMN 流程定义")

    @processes.command("deploy")
    def deploy_cmd():
        """Lint and deploy the registered process slices (a new version only when the files changed)."""
        for line in _deploy():
            click.echo(line)
        db.session.commit()

    app.cli.add_command(processes)


def _demo_commands(app: Flask) -> None:
    """flask demo seed."""
    demo = AppGroup("demo", help="演示数据")

    @demo.command("seed")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="演示数据的基准日期")
    @click.option("--cases", "cases", type=int, default=0, help="另外生成的办件数量（负载与基准测试用）")
    @click.option("--records-only", is_flag=True, help="只登记演示记录，不另建各环节等待中的演示办件（浏览器测试用）")
    def seed_cmd(today, cases, records_only):
        """Migrate, deploy and load demo units, users and records; optionally N generated cases."""
        if not (current_app.config["DEMO_MODE"] or current_app.config["TESTING"]):
            # Demo accounts share one published password: never in production (QUALITY.md §3).
            raise click.UsageError("演示数据只能在开发/演示配置下生成（APP_ENV=development）。")
        from app.models import Unit
        from app.demo.seed import CREDIT_OFFICE, seed_demo, seed_demo_cases
        from app.demo.bulk import seed_cases

        upgrade()
        for line in _deploy():
            click.echo(line)
        db.session.commit()
        if db.session.scalar(db.select(Unit.id).where(Unit.name == CREDIT_OFFICE)) is None:
            counts = seed_demo((today.date() if today else None) or _local_today())
            db.session.commit()
            click.echo(f"演示数据已创建：{counts}")
            if not records_only:
                click.echo(f"演示办件已创建：{seed_demo_cases()}")
        if cases:
            started = time.perf_counter()
            seed_cases(cases)
            click.echo(f"已生成办件 {cases} 件，用时 {time.perf_counter() - started:.1f} 秒。")

    app.cli.add_command(demo)


def _worker_commands(app: Flask) -> None:
    """flask worker, flask rules daily and flask clock-reset (the timer worker, its daily rules on demand, and its
    training clock)."""
    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="只执行一轮后退出")
    @click.option("--interval", default=10.0, help="轮询间隔（秒）")
    @click.option("--at", "at", default=None, help="培训/测试：把系统时钟调到该时刻（ISO 8601，含时区）再执行")
    def worker_cmd(once, interval, at):
        """Fire due BPMN timers exactly once and deliver the outbox; several workers may run at once."""
        from app.core import clock
        from app.services import training_clock
        from app.services.worker import Schedule, dashboard_snapshot_once, sweep

        if at:
            if not current_app.config["ALLOW_CLOCK_SHIFT"]:
                raise click.UsageError("--at 只能在启用了培训/测试时钟的配置下使用 (ALLOW_CLOCK_SHIFT=1)。")
            target = datetime.fromisoformat(at)
            if target.tzinfo is None:
                raise click.UsageError("--at 需要带时区的时刻，例如 2026-12-26T09:00:00+08:00。")
            # Shift the shared clock so the web app (banner) and every worker agree on the instant.
            training_clock.save_shared_offset(clock.offset_to(target))
            audit.record("clock.shift", details={"to": target.isoformat()})
            db.session.commit()
        checkpoints = Schedule(current_app.config["AUDIT_CHECKPOINT_INTERVAL"])
        # The dashboard's figures, computed here for the page to read (the page computes its own without a worker).
        snapshots = Schedule(max(current_app.config["DASHBOARD_FIGURES_MAX_AGE"], 1), action=dashboard_snapshot_once)
        while True:
            if current_app.config["ALLOW_CLOCK_SHIFT"]:
                training_clock.load_shared_offset()
            result = sweep()
            checkpoints.run_if_due()  # a keyed checkpoint of the audit chain's head, outside the database
            snapshots.run_if_due()
            if result.fired or result.delivered or result.failed or result.timer_errors:
                click.echo(f"计时器触发 {result.fired}，出错 {result.timer_errors}；消息送达 {result.delivered}，"
                           f"待重试 {result.retried}，失败 {result.failed}")
            if result.purged_drafts or result.purge_errors:
                click.echo(f"清理逾期未提交的草稿 {result.purged_drafts} 件，出错 {result.purge_errors}")
            if once:
                break
            time.sleep(interval)

    rules_cli = AppGroup("rules", help="日常规则")

    @rules_cli.command("daily")
    def rules_daily():
        """Run the daily date rules now (the worker runs them at its first sweep of each local day)."""
        from app.services.worker import run_daily_rules

        if current_app.config["ALLOW_CLOCK_SHIFT"]:
            from app.services import training_clock

            training_clock.load_shared_offset()  # the day the workers see
        result = run_daily_rules()
        click.echo(f"日常规则已执行：公示期满终止 {result.expired} 条，启动荣誉恢复 {result.restorations} 件。")

    app.cli.add_command(rules_cli)

    @app.cli.command("clock-reset")
    def clock_reset():
        """Return the shared training clock to the wall clock."""
        from app.core import clock
        from app.services import training_clock

        training_clock.save_shared_offset(None)
        audit.record("clock.reset")
        db.session.commit()
        click.echo("系统时钟已恢复为真实时间。")


def _calendar_commands(app: Flask) -> None:
    """flask calendar import."""
    calendar_cli = AppGroup("calendar", help="工作日历")

    @calendar_cli.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--source", default="", help="国务院办公厅通知文号")
    def calendar_import(file, source):
        """Load a year's State Council holiday schedule (CSV: date,type,name)."""
        from app.core.errors import ServiceError
        from app.services.calendar import decode_schedule, import_schedule

        try:
            year, rows = import_schedule(decode_schedule(Path(file).read_bytes()), source)
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None
        db.session.commit()
        click.echo(f"{year} 年放假安排已导入，共 {rows} 条。")

    app.cli.add_command(calendar_cli)


def _users_commands(app: Flask) -> None:
    """flask users create / reset-second-factor."""
    users = AppGroup("users", help="用户")

    @users.command("create")
    @click.argument("username")
    @click.option("--name", "display_name", required=True)
    @click.option("--unit-id", type=int, required=True)
    @click.option("--role", "roles", multiple=True, required=True)
    @click.password_option()
    def users_create(username, display_name, unit_id, roles, password):
        """Create a user (the password must meet the policy; there is no default password)."""
        from app.core.errors import ServiceError
        from app.services.user_admin import create_account

        try:
            create_account(username, display_name, unit_id, list(roles), password=password)
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None
        db.session.commit()
        click.echo(f"用户 {username} 已创建。")

    @users.command("reset-second-factor")
    @click.argument("username")
    def users_reset_second_factor(username):
        """Forget a lost authenticator: the user enrols a new one at the next sign-in; their sessions end."""
        from app.core.errors import ServiceError
        from app.models import User
        from app.services.user_admin import reset_second_factor

        user = db.session.scalar(db.select(User).where(User.username == username))
        if user is None:
            raise click.UsageError(f"用户 {username} 不存在。")
        try:
            reset_second_factor(user)
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None
        db.session.commit()
        click.echo(f"用户 {username} 的动态口令已重置，下次登录时须重新绑定。")

    app.cli.add_command(users)


def _audit_commands(app: Flask) -> None:
    """flask audit verify / checkpoint / archive / verify-archive."""
    audit_cli = AppGroup("audit", help="审计日志")

    @audit_cli.command("verify")
    def audit_verify():
        """Recompute the keyed audit chain and compare it with the newest checkpoint; exit 1 on any problem."""
        result = audit_chain.verify()
        for problem in result.problems:
            click.echo(problem, err=True)
        cp = result.checkpoint
        if cp is None:
            click.echo("未找到审计检查点：只校验了链本身，删除最新事件无从发现（worker 每 5 分钟写一个，"
                       "或运行 flask audit checkpoint）。")
        else:
            click.echo(f"对照检查点：事件 {cp.head_id}，{cp.at.isoformat()}，密钥 {cp.key_id}（{cp.file} 第 {cp.line} 行）。")
        click.echo(f"已校验 {result.checked} 条审计事件，发现问题 {len(result.problems)} 处。")
        if result.problems:
            raise SystemExit(1)

    @audit_cli.command("checkpoint")
    @click.option("--after-restore", is_flag=True,
                  help="从备份恢复后：承认恢复丢失的最新事件，以当前链重新开始检查点（须先人工核实）")
    def audit_checkpoint_cmd(after_restore):
        """Write a keyed checkpoint (head id and hash) to AUDIT_CHECKPOINT_DIR; exit 1 when the chain is broken."""
        from app.core.errors import ServiceError

        try:
            if after_restore:
                _before, problems = audit.verify_chain(checkpoints=False)
                if problems:
                    raise ServiceError(f"审计链校验未通过，未写检查点：{problems[0]}", code="chain_broken")
                previous = audit_checkpoints.newest_checkpoint()
                audit.record(audit_chain.CHECKPOINT, details={
                    "reset": True, "previous_head_id": previous.head_id if previous else None,
                    "previous_at": previous.at.isoformat() if previous else None})
                db.session.commit()
            result = audit_checkpoints.write_checkpoint(reset=after_restore)
            db.session.rollback()
        except ServiceError as exc:
            db.session.rollback()
            audit.record(audit_chain.CHECKPOINT, outcome="failure",
                         details={"code": exc.code, "problem": exc.message[:500]})
            db.session.commit()
            raise click.ClickException(exc.message) from None
        cp = result.checkpoint
        click.echo(f"已写入审计检查点：事件 {cp.head_id}（至此共 {cp.count} 条），哈希 {cp.head_hash}，"
                   f"密钥 {cp.key_id}，文件 {result.path}。")

    @audit_cli.command("archive")
    @click.option("--before", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="归档该日期（北京时间）之前的事件；须早于保存期限")
    @click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSON Lines 归档文件")
    def audit_archive(before, out):
        """Move events older than the retention period to a verified JSON-lines file, then delete them."""
        from app.core.errors import ServiceError

        try:
            result = audit_archives.archive_before(before.date(), out)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            audit.record("audit.archive", outcome="denied", details={"before": before.date().isoformat(),
                                                                     "out": str(out), "code": exc.code})
            db.session.commit()
            raise click.ClickException(exc.message) from None
        click.echo(f"已归档 {result.count} 条审计事件（编号 {result.first_id}–{result.through_id}）到 {out}，"
                   f"SHA-256 {result.sha256}；锚点事件 {result.anchor_id}。")

    @audit_cli.command("verify-archive")
    @click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def audit_verify_archive(files):
        """Check archive files (oldest first) against their anchors and the live chain; exit 1 on any problem."""
        checked, problems = audit_archives.verify_archives(files)
        for problem in problems:
            click.echo(problem, err=True)
        click.echo(f"已校验归档事件 {checked} 条，发现问题 {len(problems)} 处。")
        if problems:
            raise SystemExit(1)

    app.cli.add_command(audit_cli)


def _local_today() -> date:
    from app.core.clock import local_today

    return local_today()


def _ops_commands(app: Flask, app_factory: Callable[[type], Flask]) -> None:
    """Operations: check, bootstrap, units create, backup create / drill (docs/deployment.md)."""
    from app.demo.seed import DEMO_PASSWORD
    from app.services.ops import backup as backups, bootstrap, checks, drill, grants

    backup = AppGroup("backup", help="备份与恢复演练")
    units = AppGroup("units", help="单位")

    @app.cli.command("check")
    @click.option("--skip-passwords", is_flag=True, help="不检查演示口令（账号很多时较慢，每个账号约 0.1–0.2 秒）")
    def check_cmd(skip_passwords):
        """Validate configuration and environment; exit 1 when any finding is an error."""
        findings = checks.run_checks(current_app, demo_password=None if skip_passwords else DEMO_PASSWORD)
        labels = {checks.OK: "[ok]   ", checks.WARN: "[warn] ", checks.ERROR: "[error]"}
        for finding in findings:
            click.echo(f"{labels[finding.level]} {finding.topic}：{finding.message}")
        errors = sum(f.level == checks.ERROR for f in findings)
        warnings = sum(f.level == checks.WARN for f in findings)
        click.echo(f"检查完毕：错误 {errors} 项，警告 {warnings} 项。")
        if errors:
            raise SystemExit(1)

    @app.cli.command("grant-app")
    @click.argument("role")
    def grant_app_cmd(role):
        """PostgreSQL, as the tables' owner: give the app's login its privileges (audit_event: SELECT, INSERT only)."""
        try:
            statements = grants.grant_app_privileges(role)
        except ValueError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        audit.record("db.grant", object_type="db_role", object_id=role, details={"statements": len(statements)})
        db.session.commit()
        for statement in statements:
            click.echo(statement)
        click.echo(f"已为数据库账号 {role} 授权：审计日志只能读取和追加；数据库升级后请再运行一次。")

    @app.cli.command("bootstrap")
    @click.option("--office-name", required=True, help="信用办的单位全称")
    @click.option("--office-uscc", required=True, help="信用办的统一社会信用代码")
    def bootstrap_cmd(office_name, office_uscc):
        """First set-up of an empty database: migrate, deploy processes, rule sets, calendar, the credit office."""
        upgrade()
        for line in _deploy():
            click.echo(line)
        year = _local_today().year
        try:
            lines = bootstrap.bootstrap(office_name, office_uscc, range(year - 2, year + 1))
        except ValueError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()
        for line in lines:
            click.echo(line)
        click.echo("下一步：flask --app wsgi users create … 创建管理员（系统没有默认口令）。")

    @units.command("create")
    @click.argument("name")
    @click.option("--uscc", "unit_uscc", required=True, help="统一社会信用代码")
    @click.option("--kind", default="department", help="government / department / institution / grassroots")
    @click.option("--parent-id", type=int, default=None)
    @click.option("--region", default="")
    def units_create(name, unit_uscc, kind, parent_id, region):
        """Create an organisation unit (the credit office comes from bootstrap)."""
        from app.core.errors import ServiceError
        from app.services.units import create_unit

        try:
            unit = create_unit(name, unit_uscc, kind, parent_id, region)
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None
        db.session.commit()
        click.echo(f"单位「{name}」已创建，单位编号 {unit.id}。")

    @backup.command("create")
    @click.argument("root", envvar="BACKUP_DIR", type=click.Path(file_okay=False, path_type=Path))
    @click.option("--keep", type=int, default=None, help="只保留最新的 N 份备份")
    def backup_create(root, keep):
        """Write a dated backup (database dump, file store tar, SHA-256 manifest); exit 1 on a hash problem."""
        result = backups.create_backup(root, keep=keep)
        audit.record("backup.create", outcome="failure" if result.problems else "success",
                     details={"folder": result.path.name, "files": result.files, "problems": len(result.problems)})
        db.session.commit()
        for problem in result.problems:
            click.echo(f"[error] {problem}", err=True)
        click.echo(f"备份已写入 {result.path}：{sum(result.counts.values())} 行数据，{result.files} 个文件，"
                   f"问题 {len(result.problems)} 处。")
        if result.problems:
            raise SystemExit(1)

    @backup.command("drill")
    @click.argument("source", envvar="BACKUP_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--scratch-url", default=None, help="PostgreSQL：还原到这个空库（默认在同一服务器上临时建库，用后删除）")
    @click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="临时文件目录")
    @click.option("--keep", is_flag=True, help="保留临时库和临时目录以便查看")
    def backup_drill(source, scratch_url, work_dir, keep):
        """Restore the newest backup into a scratch database and folder, verify every hash; exit 1 on a mismatch."""
        report = drill.restore_drill(source, work_dir=work_dir, scratch_url=scratch_url, keep=keep,
                                     app_factory=app_factory)
        click.echo(f"恢复演练：{report.backup}")
        for ok, line in report.lines:
            click.echo(f"{'[OK]  ' if ok else '[FAIL]'} {line}")
        click.echo("结论：" + ("全部通过。" if report.ok else "发现问题，备份不可信！"))
        audit.record("backup.drill", outcome="success" if report.ok else "failure",
                     details={"folder": report.backup.name, "failed": sum(not ok for ok, _ in report.lines)})
        db.session.commit()
        if not report.ok:
            raise SystemExit(1)

    for group in (backup, units):
        app.cli.add_command(group)
