"""Operations: configuration check, health report, first set-up, backup and the restore drill (docs/deployment.md).

Every check is a function returning findings (or a report); the CLI (`flask --app wsgi check`,
`backup create`, `backup drill`) and the `/healthz` view only print or serialise them.
"""
from __future__ import annotations

import ctypes.util
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.security import check_password_hash

from app.extensions import db
from app.models import (MESSAGE_IS_PENDING, TIMER_IS_PENDING, AuditEvent, OutboxMessage, ProcessDefinition, TimerJob,
                        Unit, User)
from app.services import audit
from app.core import clock

OK, WARN, ERROR = "ok", "warn", "error"
# Values that appeared in this repository, its docs or common examples: never a production key.
KNOWN_DEV_SECRETS = ("test-secret-key-0123456789", "changeme", "change-me", "secret", "dev", "development",
                     "please-change-me", "请替换为随机字符串")
DEV_SECRET_PREFIXES = ("dev-only-not-secret",)
MIN_SECRET_LENGTH = 32
# The health endpoint flags (but does not fail on) a timer this late: the worker is probably down.
TIMER_LAG_WARN_SECONDS = 15 * 60
HEALTH_PROBE_PREFIX = ".healthz-"
BACKUP_PREFIX = "xinyong-"
BACKUP_NAME = re.compile(r"^xinyong-\d{8}T\d{6}Z$")


@dataclass(frozen=True)
class Finding:
    """One result of `flask check`: level ok / warn / error, a short topic and a Chinese explanation."""

    level: str
    topic: str
    message: str


def is_production(config: Mapping) -> bool:
    """Tell whether the configuration is the production one (APP_ENV=production)."""
    return config.get("APP_ENV") == "production"


# ------------------------------------------------------------------------------------------ flask check

def check_settings(config: Mapping) -> list[Finding]:
    """Judge the settings themselves (no I/O): secret, database kind, cookies, clock, demo, mail, push."""
    prod = is_production(config)
    severe = ERROR if prod else WARN  # what is wrong in production is only worth a warning elsewhere
    found = [Finding(OK if prod else WARN, "APP_ENV",
                     "生产配置（APP_ENV=production）。" if prod else
                     f"当前为非生产配置（{config.get('APP_ENV') or 'development'}）；正式部署请设置 APP_ENV=production。")]
    found.append(_check_secret(config.get("SECRET_KEY") or "", severe))

    uri = str(config.get("SQLALCHEMY_DATABASE_URI") or "")
    if uri.startswith("postgresql"):
        found.append(Finding(OK, "DATABASE_URL", "使用 PostgreSQL。"))
    elif uri.startswith("sqlite"):
        found.append(Finding(ERROR, "DATABASE_URL", "使用 SQLite：只适合演示和单机试用，生产环境请使用 PostgreSQL 15"
                                                    "（DATABASE_URL=postgresql://…）。") if prod else
                     Finding(OK, "DATABASE_URL", "使用 SQLite（演示/开发）。"))
    else:
        found.append(Finding(ERROR, "DATABASE_URL", "不支持的数据库类型，请使用 postgresql:// 地址。"))

    found.extend(_check_public_url(config, prod))
    if config.get("ALLOW_CLOCK_SHIFT"):
        found.append(Finding(severe, "ALLOW_CLOCK_SHIFT",
                             "培训/测试时钟已开启：任何人运行 worker --at 都能改动全系统时间，生产环境必须关闭。"))
    else:
        found.append(Finding(OK, "ALLOW_CLOCK_SHIFT", "培训/测试时钟已关闭。"))
    retention = int(config.get("AUDIT_RETENTION_DAYS", 365))
    found.append(Finding(ERROR, "AUDIT_RETENTION_DAYS", f"审计日志保存期限 {retention} 天，少于法定的 183 天（6 个月）。")
                 if retention < 183 else
                 Finding(OK, "AUDIT_RETENTION_DAYS", f"审计日志至少保存 {retention} 天。"))
    if config.get("DEMO_MODE"):
        found.append(Finding(severe, "DEMO_MODE", "演示模式已开启，生产环境必须关闭（APP_ENV=production）。"))
    else:
        found.append(Finding(OK, "DEMO_MODE", "演示模式已关闭。"))
    if config.get("TESTING"):
        found.append(Finding(severe, "TESTING", "测试配置已开启（TESTING），不得用于生产。"))
    if config.get("FAULT_INJECTION"):
        found.append(Finding(severe, "FAULT_INJECTION", "故障注入已开启（仅供崩溃测试）：生产环境必须关闭。"))
    found.extend(_check_mail_and_push(config, prod))
    return found


def _check_secret(secret: str, severe: str) -> Finding:
    if not secret:
        return Finding(ERROR, "SECRET_KEY", "未设置 SECRET_KEY。")
    lowered = secret.strip().lower()
    if lowered in KNOWN_DEV_SECRETS or lowered.startswith(DEV_SECRET_PREFIXES):
        return Finding(severe, "SECRET_KEY", "SECRET_KEY 是已公开的开发/示例值，请用 `python3 -c 'import secrets; "
                                             "print(secrets.token_hex(32))'` 生成新值。")
    if len(secret) < MIN_SECRET_LENGTH:
        return Finding(severe, "SECRET_KEY", f"SECRET_KEY 只有 {len(secret)} 个字符，至少需要 {MIN_SECRET_LENGTH} 个随机字符。")
    if len(set(secret)) < 10:
        return Finding(severe, "SECRET_KEY", "SECRET_KEY 字符种类过少，不像随机生成的值。")
    return Finding(OK, "SECRET_KEY", f"已设置（{len(secret)} 个字符）。")


def _check_public_url(config: Mapping, prod: bool) -> list[Finding]:
    base = str(config.get("PUBLIC_BASE_URL") or "")
    parts = urlsplit(base)
    secure_cookie = bool(config.get("SESSION_COOKIE_SECURE"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Finding(ERROR, "PUBLIC_BASE_URL", f"PUBLIC_BASE_URL 不是有效的网址：{base!r}。")]
    found = []
    if parts.hostname in ("127.0.0.1", "localhost", "::1"):
        found.append(Finding(ERROR if prod else OK, "PUBLIC_BASE_URL",
                             f"{base} 指向本机：文书二维码下方的核验地址将无法从外部访问。" if prod else f"{base}（本机）。"))
    elif parts.scheme != "https":
        found.append(Finding(WARN, "PUBLIC_BASE_URL", f"{base} 未使用 HTTPS：登录口令和会话将以明文传输。"))
    else:
        found.append(Finding(OK, "PUBLIC_BASE_URL", f"{base}。"))
    if parts.scheme == "https" and not secure_cookie:
        found.append(Finding(ERROR, "SESSION_COOKIE_SECURE",
                             "站点通过 HTTPS 提供，但会话 Cookie 未设置 Secure：请设置 SESSION_COOKIE_SECURE=1。"))
    elif parts.scheme == "http" and secure_cookie and parts.hostname not in ("127.0.0.1", "localhost"):
        found.append(Finding(WARN, "SESSION_COOKIE_SECURE",
                             "会话 Cookie 设为 Secure，但站点地址是 http://：浏览器不会回传 Cookie，用户将无法保持登录。"))
    else:
        found.append(Finding(OK, "SESSION_COOKIE_SECURE", "会话 Cookie 的 Secure 设置与站点协议一致。"))
    return found


def _check_mail_and_push(config: Mapping, prod: bool) -> list[Finding]:
    found = []
    server = str(config.get("MAIL_SERVER") or "")
    if not server:
        found.append(Finding(WARN if prod else OK, "MAIL_SERVER", "未配置 MAIL_SERVER：通知只在系统内显示，不发送邮件抄送。"))
    else:
        port = config.get("MAIL_PORT")
        sender = str(config.get("MAIL_SENDER") or "")
        if not isinstance(port, int) or not 0 < port < 65536:
            found.append(Finding(ERROR, "MAIL_PORT", f"MAIL_PORT 无效：{port!r}。"))
        elif not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", sender):
            found.append(Finding(WARN, "MAIL_SENDER", f"MAIL_SENDER 不是可投递的邮箱地址：{sender!r}。"))
        else:
            found.append(Finding(OK, "MAIL_SERVER", f"邮件经 {server}:{port} 发出，发件人 {sender}。"))
    push = str(config.get("PUSH_URL") or "")
    if not push:
        found.append(Finding(WARN if prod else OK, "PUSH_URL", "未配置 PUSH_URL：修复、撤销结果不会推送到省级平台。"))
    else:
        parts = urlsplit(push)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            found.append(Finding(ERROR, "PUSH_URL", "PUSH_URL 不是有效的网址。"))
        elif parts.scheme != "https":
            found.append(Finding(WARN, "PUSH_URL", "PUSH_URL 未使用 HTTPS。"))
        else:
            found.append(Finding(OK, "PUSH_URL", f"推送到 {parts.hostname}。"))
    attempts = config.get("OUTBOX_MAX_ATTEMPTS")
    if not isinstance(attempts, int) or attempts < 1:
        found.append(Finding(ERROR, "OUTBOX_MAX_ATTEMPTS", f"OUTBOX_MAX_ATTEMPTS 必须是正整数：{attempts!r}。"))
    return found


def check_file_store(store: Path, static_dir: Path, code_dir: Path, *, production: bool) -> list[Finding]:
    """Check that the file store exists, is writable and lies outside the web root (and, in production, the code)."""
    store = Path(store)
    if not store.is_dir():
        return [Finding(ERROR, "FILE_STORE", f"目录 {store} 不存在：请创建并交给运行应用的系统用户。")]
    found = []
    resolved = store.resolve()
    if resolved.is_relative_to(Path(static_dir).resolve()):
        found.append(Finding(ERROR, "FILE_STORE", f"{store} 位于网站静态目录内：证据材料可能被直接下载。"))
    elif production and resolved.is_relative_to(Path(code_dir).resolve()):
        found.append(Finding(WARN, "FILE_STORE", f"{store} 位于程序目录内：升级或重新部署时容易被覆盖，建议如 /srv/xinyong/files。"))
    if not probe_writable(store):
        found.append(Finding(ERROR, "FILE_STORE", f"{store} 不可写。"))
    free = shutil.disk_usage(store).free
    if free < 1024 ** 3:
        found.append(Finding(WARN, "FILE_STORE", f"{store} 所在磁盘只剩 {free // 1024 ** 2} MB。"))
    if not found:
        found.append(Finding(OK, "FILE_STORE", f"{store} 存在且可写，剩余空间 {free // 1024 ** 3} GB。"))
    return found


def probe_writable(directory: Path) -> bool:
    """Write and remove a small file in the directory; tell whether that worked."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=HEALTH_PROBE_PREFIX) as probe:
            probe.write(b"ok")
            probe.flush()
            return True
    except OSError:
        return False


def check_fonts(config: Mapping) -> list[Finding]:
    """Check the letter fonts: the CJK system serif, HarfBuzz subsetter, optional licensed fonts and seal."""
    from app.letters.render import find_font_files, find_system_serif, font_cache_dir, source_digest

    found = []
    serif = find_system_serif("regular")
    if serif is None:
        found.append(Finding(ERROR, "字体", "未找到 Noto Serif CJK SC：文书中文无法排版，请安装 Debian 软件包 fonts-noto-cjk。"))
    else:
        found.append(Finding(OK, "字体", f"文书正文字体 {serif[0].name}。"))
        cache = font_cache_dir()
        target = cache / f"letter-serif-regular-{source_digest(*serif)}.otf"
        existing = next(p for p in (cache, *cache.parents) if p.exists())
        if not target.exists() and not os.access(existing, os.W_OK):
            # Every letter would then rebuild the subset in the request and fail to save it (about 15 s each).
            found.append(Finding(ERROR, "LETTER_FONT_CACHE", f"字体子集缓存目录 {cache} 不可写且子集尚未生成："
                                                             "请设置 LETTER_FONT_CACHE 到可写目录，或预先生成子集。"))
        elif not target.exists():
            found.append(Finding(WARN, "LETTER_FONT_CACHE", f"字体子集尚未生成（{cache}）：首次出具文书时生成，约需 15 秒；"
                                                            "可预先生成（见 docs/deployment.md）。"))
    if ctypes.util.find_library("harfbuzz-subset") is None:
        found.append(Finding(WARN, "字体", "缺少 libharfbuzz-subset0：生成字体子集会慢很多，请安装该软件包。"))
    font_dir = config.get("LETTER_FONT_DIR")
    if font_dir:
        try:
            count = len(find_font_files(font_dir))
        except OSError:
            count = -1
        if count <= 0:
            found.append(Finding(ERROR, "LETTER_FONT_DIR", f"{font_dir} 不存在或不含字体文件。"))
        else:
            found.append(Finding(OK, "LETTER_FONT_DIR", f"{font_dir}：{count} 个字体文件。"))
    seal = config.get("LETTER_SEAL_IMAGE")
    if seal and not Path(seal).is_file():
        found.append(Finding(ERROR, "LETTER_SEAL_IMAGE", f"印章图片 {seal} 不存在。"))
    return found


def check_database() -> tuple[bool, list[Finding]]:
    """Check that the database answers and its schema is at the newest migration; also say if both hold."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return False, [Finding(ERROR, "数据库", f"无法连接数据库：{detail}")]
    current, heads = migration_state()
    if set(current) == set(heads):
        return True, [Finding(OK, "数据库", f"可连接，迁移已到最新（{', '.join(heads)}）。")]
    return False, [Finding(ERROR, "数据库", f"迁移版本 {', '.join(current) or '（空库）'}，最新为 {', '.join(heads)}："
                                   "请运行 flask --app wsgi db upgrade。")]


def migration_state() -> tuple[list[str], list[str]]:
    """Return (revisions the database is at, head revisions of the migration scripts)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    migrate_ext = current_app.extensions["migrate"]
    script = ScriptDirectory.from_config(migrate_ext.migrate.get_config(migrate_ext.directory))
    current = MigrationContext.configure(db.session.connection()).get_current_heads()
    return sorted(current), sorted(script.get_heads())


def check_processes(directory: Path) -> list[Finding]:
    """Check that every BPMN file in the repository is deployed in its current version."""
    from app.engine.definitions import parse_process, process_files

    found = []
    for key, files in process_files(directory).items():
        latest = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_key == key)
                                   .order_by(ProcessDefinition.version.desc()).limit(1))
        if latest is None:
            found.append(Finding(ERROR, "流程", f"{key} 尚未部署：请运行 flask --app wsgi processes deploy。"))
        elif latest.file_hash != parse_process(key, files).file_hash:
            found.append(Finding(WARN, "流程", f"{key} 的 BPMN 文件已改动但未部署（当前 v{latest.version}）。"))
        else:
            found.append(Finding(OK, "流程", f"{key} v{latest.version} 已部署。"))
    return found


def check_demo_passwords(password: str, *, production: bool) -> list[Finding]:
    """Find active users who still hold the published demo password (an error in production)."""
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()
    holders = [u.username for u in users if check_password_hash(u.password_hash, password)]
    if not holders:
        return [Finding(OK, "口令", f"已检查 {len(users)} 个启用的账号，无人使用演示口令。")]
    names = "、".join(holders[:20]) + ("等" if len(holders) > 20 else "")
    return [Finding(ERROR if production else WARN, "口令",
                    f"{len(holders)} 个启用的账号仍使用公开的演示口令：{names}。请修改口令或停用这些账号。")]


def check_audit_keys(config: Mapping, *, production: bool) -> list[Finding]:
    """Check the audit chain's HMAC keys: configured, the current one random and not a published default."""
    from app.services.audit_keys import MIN_KEY_LENGTH as MIN_AUDIT_KEY, KeyringError, is_dev_key, load_keyring

    severe = ERROR if production else WARN
    try:
        ring = load_keyring(config)
    except KeyringError as exc:
        return [Finding(ERROR, "AUDIT_HMAC_KEYS", str(exc))]
    if ring is None:
        return [Finding(ERROR, "AUDIT_HMAC_KEYS", "未配置审计链密钥：请设置 AUDIT_HMAC_KEYS 或 AUDIT_HMAC_KEY_FILE"
                                                  "（见 docs/deployment.md §13）。")]
    secret = ring.secrets[ring.current]
    found = []
    if is_dev_key(secret):
        found.append(Finding(severe, "AUDIT_HMAC_KEYS", f"审计链密钥 {ring.current} 是公开的开发/测试值：任何能写数据库的人"
                                                       "都能重算审计链。请生成新密钥（docs/deployment.md §13）。"))
    elif len(secret) < MIN_AUDIT_KEY or len(set(secret)) < 10:
        found.append(Finding(severe, "AUDIT_HMAC_KEYS",
                             f"审计链密钥 {ring.current} 过短或不像随机值（至少 {MIN_AUDIT_KEY} 个随机字符，"
                             "如 python3 -c 'import secrets; print(secrets.token_hex(32))'）。"))
    if secret == str(config.get("SECRET_KEY") or ""):
        found.append(Finding(severe, "AUDIT_HMAC_KEYS", "审计链密钥与 SECRET_KEY 相同：请使用单独的密钥。"))
    key_file = config.get("AUDIT_HMAC_KEY_FILE")
    if key_file and Path(key_file).exists() and Path(key_file).stat().st_mode & 0o007:
        found.append(Finding(severe, "AUDIT_HMAC_KEY_FILE", f"密钥文件 {key_file} 对其他用户可读：请 chmod 0640（属 root:xinyong）。"))
    if not found:
        found.append(Finding(OK, "AUDIT_HMAC_KEYS", f"审计链以密钥 {ring.current} 签名（共配置 {len(ring.secrets)} 个密钥）。"))
    return found


def check_audit_checkpoints(config: Mapping, *, production: bool, now: datetime | None = None) -> list[Finding]:
    """Check the checkpoint directory and that the worker keeps writing valid checkpoints."""
    from app.services import audit_checkpoint
    from app.services.audit_keys import KeyringError, keyring

    severe = ERROR if production else WARN
    folder = config.get("AUDIT_CHECKPOINT_DIR")
    if not folder:
        return [Finding(severe, "AUDIT_CHECKPOINT_DIR", "未配置审计检查点目录：删除最新审计事件将无从发现。")]
    folder = Path(folder)
    if not folder.is_dir():
        if not production:  # the demo's var/audit-checkpoints appears with the first checkpoint
            return [Finding(OK, "AUDIT_CHECKPOINT_DIR", f"审计检查点目录 {folder} 将在写第一个检查点时创建。")]
        return [Finding(ERROR, "AUDIT_CHECKPOINT_DIR", f"审计检查点目录 {folder} 不存在：请创建并交给运行应用的系统用户。")]
    if not probe_writable(folder):
        return [Finding(ERROR, "AUDIT_CHECKPOINT_DIR", f"审计检查点目录 {folder} 不可写：worker 无法写检查点。")]
    try:
        ring = keyring()
    except KeyringError as exc:
        return [Finding(ERROR, "AUDIT_CHECKPOINT_DIR", str(exc))]
    newest, problems = audit_checkpoint.newest(folder, ring)
    found = [Finding(ERROR, "审计检查点", problem) for problem in problems[:5]]
    head = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    instant = now or datetime.now(timezone.utc)
    if newest is None:
        if head:
            found.append(Finding(WARN, "审计检查点", f"{folder} 中还没有审计检查点：请确认 worker 在运行，或运行 "
                                                    "flask --app wsgi audit checkpoint。"))
    elif (head > newest.head_id
          and (instant - newest.at).total_seconds() > 3 * int(config.get("AUDIT_CHECKPOINT_INTERVAL", 300))):
        found.append(Finding(WARN, "审计检查点", f"最近的审计检查点写于 {newest.at:%Y-%m-%d %H:%M} UTC，之后已有新事件："
                                                "worker 可能没在运行，或检查点被拒绝（见审计日志 audit.checkpoint）。"))
    if not found:
        where = f"最近一个到事件 {newest.head_id}，{newest.at:%Y-%m-%d %H:%M} UTC" if newest else "尚无事件"
        found.append(Finding(OK, "审计检查点", f"{folder}：{where}。"))
    return found


def check_database_roles(*, production: bool) -> list[Finding]:
    """PostgreSQL: the app's login must not own audit_event nor be able to change it; triggers and function exist."""
    if db.session.get_bind().dialect.name != "postgresql":
        return []
    severe = ERROR if production else WARN
    row = db.session.execute(text(
        "SELECT current_user, r.rolsuper, pg_get_userbyid(c.relowner), "
        "has_table_privilege(current_user, c.oid, 'UPDATE'), has_table_privilege(current_user, c.oid, 'DELETE'), "
        "has_table_privilege(current_user, c.oid, 'TRUNCATE'), "
        "(SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgenabled IN ('O', 'A') "
        "  AND t.tgname IN ('audit_event_append_only', 'audit_event_no_truncate')), "
        "(SELECT p.prosecdef FROM pg_proc p WHERE p.oid = to_regprocedure('audit_event_archive(bigint,bigint)')), "
        "CASE WHEN to_regprocedure('audit_event_archive(bigint,bigint)') IS NULL THEN false ELSE "
        "  has_function_privilege(current_user, to_regprocedure('audit_event_archive(bigint,bigint)'), 'EXECUTE') END "
        "FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = to_regclass('audit_event')"
    )).first()
    if row is None:
        return [Finding(ERROR, "数据库账号", "找不到 audit_event 表。")]
    login, superuser, owner, can_update, can_delete, can_truncate, triggers, secdef, can_archive = row
    found = []
    guide = "请按 docs/deployment.md §4 让应用使用只有读写权限的账号（所有者账号只用于迁移）。"
    if superuser:
        found.append(Finding(severe, "数据库账号", f"应用以超级用户 {login} 连接数据库：能绕过审计日志的一切保护。{guide}"))
    if login == owner:
        found.append(Finding(severe, "数据库账号", f"应用的数据库账号 {login} 是 audit_event 表的所有者：能关闭触发器、"
                                                 f"改写或清空审计日志。{guide}"))
    elif can_update or can_delete or can_truncate:
        rights = "/".join(name for name, held in (("UPDATE", can_update), ("DELETE", can_delete),
                                                  ("TRUNCATE", can_truncate)) if held)
        found.append(Finding(severe, "数据库账号", f"应用的数据库账号 {login} 对 audit_event 有 {rights} 权限：请以所有者账号运行 "
                                                 f"flask --app wsgi grant-app {login} 收回。"))
    if triggers != 2:
        found.append(Finding(ERROR, "数据库账号", "audit_event 的只追加触发器缺失或被停用（迁移 0009/0010）。"))
    if not secdef:
        found.append(Finding(ERROR, "数据库账号", "归档函数 audit_event_archive 缺失或不是 SECURITY DEFINER（迁移 0010）。"))
    elif not can_archive and login != owner:
        found.append(Finding(WARN, "数据库账号", f"数据库账号 {login} 不能执行 audit_event_archive：flask audit archive 将失败，"
                                               f"请以所有者账号运行 flask --app wsgi grant-app {login}。"))
    if not found:
        found.append(Finding(OK, "数据库账号", f"应用账号 {login} 不是 audit_event 的所有者（{owner}），只能追加审计事件。"))
    return found


APP_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_app_privileges(role: str) -> list[str]:
    """PostgreSQL, run as the tables' owner: give the app's login what it needs and no more (idempotent).

    Every table read/write, except audit_event (SELECT and INSERT only) and alembic_version (SELECT); sequences;
    the archive function; the same for tables later migrations create. Returns the statements run.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        raise ValueError("grant-app 只适用于 PostgreSQL。")
    facts = db.session.execute(text(
        "SELECT current_user, pg_get_userbyid(c.relowner), (SELECT rolsuper FROM pg_roles WHERE rolname = :role), "
        "current_database(), to_regprocedure('audit_event_archive(bigint,bigint)') IS NOT NULL "
        "FROM pg_class c WHERE c.oid = to_regclass('audit_event')"), {"role": role}).first()
    if facts is None or not facts[4]:
        raise ValueError("数据库不是最新迁移（缺少 audit_event 或归档函数）：请先以所有者账号运行 flask --app wsgi db upgrade。")
    login, owner, role_superuser, database, _function = facts
    if role_superuser is None:
        raise ValueError(f"数据库角色 {role} 不存在：请先由数据库管理员创建（docs/deployment.md §4）。")
    if role in (owner, login):
        raise ValueError(f"{role} 是表的所有者或当前账号：应用必须使用另一个账号。")
    if role_superuser:
        raise ValueError(f"{role} 是超级用户：应用不得以超级用户连接。")
    who = _quote_ident(role)
    statements = [
        f"GRANT CONNECT ON DATABASE {_quote_ident(database)} TO {who}",
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"GRANT {APP_TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO {who}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON audit_event FROM {who}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}",
        f"GRANT EXECUTE ON FUNCTION audit_event_archive(bigint, bigint) TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {APP_TABLE_PRIVILEGES} ON TABLES TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {who}",
    ]
    for statement in statements:
        db.session.execute(text(statement))
    return statements


def run_checks(app: Flask, *, passwords: bool = True) -> list[Finding]:
    """Run every check against the app's configuration and environment (read-only)."""
    from app.services.demo import DEMO_PASSWORD

    config = app.config
    prod = is_production(config)
    found = check_settings(config)
    found += check_file_store(Path(config["FILE_STORE"]), Path(app.static_folder), Path(app.root_path).parent,
                              production=prod)
    found += check_fonts(config)
    found += check_audit_keys(config, production=prod)
    current, database = check_database()
    found += database
    if current:  # the models match the schema only at the newest migration
        found += check_database_roles(production=prod)
        found += check_audit_checkpoints(config, production=prod)
        found += check_processes(Path(app.root_path).parent / "processes")
        if passwords:
            found += check_demo_passwords(DEMO_PASSWORD, production=prod)
    db.session.rollback()
    return found


# ------------------------------------------------------------------------------------------ health

def health_report() -> tuple[bool, dict]:
    """Return (healthy, report) for /healthz: no secrets, no paths, read-only apart from a probe file."""
    checks: dict[str, dict] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    checks["file_store"] = {"ok": probe_writable(Path(current_app.config["FILE_STORE"]))}
    if checks["database"]["ok"]:
        try:
            checks.update(_health_from_database())
        except SQLAlchemyError as exc:
            db.session.rollback()
            checks["database"] = {"ok": False, "error": type(exc).__name__}
    db.session.rollback()
    healthy = all(check["ok"] for check in checks.values())
    return healthy, {"status": "ok" if healthy else "fail", "checks": checks}


def _health_from_database() -> dict:
    keys = db.session.scalars(select(ProcessDefinition.process_key).distinct()).all()
    instant = clock.now()
    due = db.session.execute(
        select(func.count(), func.min(TimerJob.fire_at)).where(TIMER_IS_PENDING, TimerJob.fire_at <= instant)
    ).one()
    oldest = due[1]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=timezone.utc)
    lag = int((instant - oldest).total_seconds()) if oldest else 0
    failed = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed"))
    pending = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                .where(MESSAGE_IS_PENDING, OutboxMessage.next_attempt_at <= instant))
    # Timers and the outbox are the worker's business: reported for operators, never a reason to take
    # an app server out of the load balancer.
    return {
        "processes": {"ok": len(keys) > 0, "deployed": sorted(keys)},
        "timers": {"ok": True, "due": due[0], "oldest_due_seconds": lag, "late": lag > TIMER_LAG_WARN_SECONDS},
        "outbox": {"ok": True, "failed": failed, "due": pending},
    }


# ------------------------------------------------------------------------------------------ first set-up

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


def create_unit(name: str, unit_uscc: str, kind: str, parent_id: int | None, region: str) -> Unit:
    """Create an organisation unit after validating its credit code (flushes only)."""
    from app.models.org import UNIT_KINDS
    from app.services import uscc

    problem = uscc.validate_uscc(unit_uscc)
    if problem:
        raise ValueError(f"统一社会信用代码无效：{problem}")
    if kind not in UNIT_KINDS:
        raise ValueError(f"单位类别应为：{', '.join(UNIT_KINDS)}")
    if db.session.scalar(select(Unit.id).where((Unit.name == name) | (Unit.uscc == unit_uscc))):
        raise ValueError("同名或同代码的单位已存在。")
    unit = Unit(name=name, kind=kind, uscc=unit_uscc, parent_id=parent_id, region=region, is_credit_office=False)
    db.session.add(unit)
    db.session.flush()
    audit.record("unit.create", object_type="unit", object_id=unit.id, details={"name": name, "uscc": unit_uscc})
    return unit


# ------------------------------------------------------------------------------------------ backup

def sha256_file(path: Path) -> str:
    """Hash a file in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_env(url) -> dict:
    """Build the libpq environment for a SQLAlchemy URL: the password never appears on a command line."""
    env = dict(os.environ)
    pairs = {"PGHOST": url.host, "PGPORT": url.port, "PGUSER": url.username, "PGPASSWORD": url.password,
             "PGDATABASE": url.database}
    for name, value in pairs.items():
        if value is not None:
            env[name] = str(value)
    for key, name in (("host", "PGHOST"), ("sslmode", "PGSSLMODE"), ("port", "PGPORT")):
        if key in url.query:
            env[name] = str(url.query[key])
    return env


def _run(args: list[str], env: dict | None = None) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} 失败（退出码 {done.returncode}）：{done.stderr.strip()[:2000]}")


def inventory(conn: Connection) -> dict:
    """Describe a database for the manifest: revision, rows per table, registered hashes of attachments and letters."""
    counts = {}
    for table in db.metadata.sorted_tables:
        counts[table.name] = conn.execute(select(func.count()).select_from(table)).scalar()
    revision = sorted(r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version")))
    attachments = {row[0]: row[1] for row in conn.execute(text("SELECT id, sha256 FROM attachment"))}
    letters: dict[str, str] = {}
    letters_bad: list[str] = []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text("SELECT id, sha256, encode(sha256(pdf), 'hex') FROM letter"))
    else:
        rows = ((i, s, hashlib.sha256(p).hexdigest()) for i, s, p in conn.execute(text("SELECT id, sha256, pdf FROM letter")))
    for letter_id, stored, actual in rows:
        letters[str(letter_id)] = stored
        if stored != actual:
            letters_bad.append(str(letter_id))
    return {"revision": revision, "counts": counts, "attachments": attachments, "letters": letters,
            "letters_bad": sorted(letters_bad)}


def attachment_path(store: Path, attachment_id: str) -> Path:
    """Return an attachment's path below a file store (the layout of app.services.attachments)."""
    return store / "attachments" / attachment_id[:2] / attachment_id


def _store_files(store: Path) -> dict[str, dict]:
    files = {}
    for path in sorted(store.rglob("*")):
        if path.is_file() and not path.name.startswith(HEALTH_PROBE_PREFIX):
            files[path.relative_to(store).as_posix()] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return files


@dataclass
class BackupResult:
    path: Path
    problems: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    files: int = 0


def create_backup(root: Path, *, keep: int | None = None, label: datetime | None = None) -> BackupResult:
    """Write a dated backup folder: database dump, tar of the file store, manifest with every hash."""
    # The database is dumped before the files are copied: attachments are written before their row
    # commits, so every row in the dump already has its file on disk when the tar is made.
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = (label or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    final = root / f"{BACKUP_PREFIX}{stamp}"
    if final.exists():
        raise FileExistsError(f"{final} 已存在")
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))  # renamed when complete: never a half backup
    try:
        result = BackupResult(path=final)
        engine = db.engine
        # Before the snapshot: every audit checkpoint written by then describes a head the dump contains.
        snapshot_at = datetime.now(timezone.utc)
        if engine.dialect.name == "postgresql":
            dump_name = "database.dump"
            info = _dump_postgresql(engine, work / dump_name)
        else:
            dump_name = "database.sqlite3"
            info = _dump_sqlite(engine, work / dump_name)
        store = Path(current_app.config["FILE_STORE"])
        files = _store_files(store) if store.is_dir() else {}
        with tarfile.open(work / "files.tar", "w") as tar:
            for rel in files:
                tar.add(store / rel, arcname=rel, recursive=False)
        for attachment_id, stored in info["attachments"].items():
            entry = files.get(attachment_path(Path(), attachment_id).as_posix())
            if entry is None:
                result.problems.append(f"附件 {attachment_id} 的文件缺失")
            elif entry["sha256"] != stored:
                result.problems.append(f"附件 {attachment_id} 的文件与数据库登记的哈希不符")
        result.problems += [f"文书 {i} 的 PDF 与数据库登记的哈希不符" for i in info["letters_bad"]]
        manifest = {
            "format": 1, "created_at": datetime.now(timezone.utc).isoformat(), "snapshot_at": snapshot_at.isoformat(),
            "database_kind": engine.dialect.name,
            "database_file": dump_name, "files_tar": "files.tar", "database": info, "files": files,
            "problems_at_backup": result.problems,
        }
        (work / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        sums = "".join(f"{sha256_file(work / name)}  {name}\n" for name in (dump_name, "files.tar", "manifest.json"))
        (work / "MANIFEST.sha256").write_text(sums, encoding="utf-8")
        for path in work.iterdir():
            path.chmod(0o600)  # a backup holds every case and password hash
        work.chmod(0o700)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    result.counts = info["counts"]
    result.files = len(files)
    if keep:
        prune_backups(root, keep)
    return result


def _dump_postgresql(engine, target: Path) -> dict:
    # pg_dump reads the snapshot this transaction exported, so the manifest describes exactly the dump.
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            _run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={target}"], env=_pg_env(engine.url))
            return inventory(conn)


def _dump_sqlite(engine, target: Path) -> dict:
    import sqlite3

    raw = engine.raw_connection()
    try:
        if raw.driver_connection.in_transaction:
            # Only possible when the pool hands out the caller's own connection (in-memory database): the
            # backup API would wait forever for that open write transaction to end.
            raise RuntimeError("备份前请先结束当前事务（commit 或 rollback）。")
        destination = sqlite3.connect(target)
        try:
            raw.driver_connection.backup(destination)  # the online backup API: a consistent copy while in use
        finally:
            destination.close()
    finally:
        raw.close()
    copy = create_engine(f"sqlite:///{target}")
    try:
        with copy.connect() as conn:
            return inventory(conn)
    finally:
        copy.dispose()


def list_backups(root: Path) -> list[Path]:
    """List the complete backup folders below root, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and BACKUP_NAME.match(p.name) and (p / "manifest.json").is_file())


def prune_backups(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; return the removed folders."""
    removed = list_backups(root)[:-keep] if keep > 0 else []
    for path in removed:
        shutil.rmtree(path)
    return removed


# ------------------------------------------------------------------------------------------ restore drill

@dataclass
class DrillReport:
    backup: Path
    lines: list[tuple[bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.lines) and all(ok for ok, _ in self.lines)

    def check(self, ok: bool, message: str) -> bool:
        self.lines.append((ok, message))
        return ok


def restore_drill(source: Path, *, work_dir: Path | None = None, scratch_url: str | None = None,
                  keep: bool = False, app_factory: Callable[[type], Flask] | None = None) -> DrillReport:
    """Restore a backup (or the newest one below a folder) into a scratch database and directory and verify it."""
    source = Path(source)
    backup = source if (source / "manifest.json").is_file() else (list_backups(source) or [None])[-1]
    if backup is None:
        raise FileNotFoundError(f"{source} 下没有完整的备份")
    report = DrillReport(backup=backup)
    if work_dir:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    # Always a fresh folder of our own (inside work_dir if given): cleaning up never touches anything else.
    work = Path(tempfile.mkdtemp(prefix="xinyong-drill-", dir=work_dir))
    created_db: tuple | None = None
    try:
        if not _verify_sums(backup, report):
            return report
        manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
        files_dir = work / "files"
        with tarfile.open(backup / manifest["files_tar"]) as tar:
            tar.extractall(files_dir, filter="data")  # refuses absolute paths, links out and device files
        bad = [rel for rel, entry in manifest["files"].items()
               if not (files_dir / rel).is_file() or sha256_file(files_dir / rel) != entry["sha256"]]
        report.check(not bad, f"文件库：{len(manifest['files'])} 个文件与清单核对，不符 {len(bad)} 个"
                              + (f"（{'、'.join(bad[:5])}）" if bad else ""))
        if manifest["database_kind"] == "postgresql":
            url, created_db = _restore_postgresql(backup / manifest["database_file"], scratch_url)
        else:
            target = work / "restored.sqlite3"
            shutil.copyfile(backup / manifest["database_file"], target)
            url = f"sqlite:///{target}"
        report.check(True, f"数据库已还原到临时库（{make_url(url).render_as_string(hide_password=True)}）")
        _verify_restored(url, files_dir, manifest, report, app_factory)
    finally:
        if created_db and not keep:
            _drop_database(*created_db)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return report


def _verify_sums(backup: Path, report: DrillReport) -> bool:
    sums = backup / "MANIFEST.sha256"
    if not sums.is_file():
        return report.check(False, "缺少 MANIFEST.sha256")
    ok = True
    for line in sums.read_text(encoding="utf-8").splitlines():
        expected, name = line.split(None, 1)
        name = name.lstrip("*")
        path = backup / name
        matches = path.is_file() and sha256_file(path) == expected
        ok &= report.check(matches, f"{name}：SHA-256 {'一致' if matches else '不符或文件缺失'}")
    return ok


def _restore_postgresql(dump: Path, scratch_url: str | None) -> tuple[str, tuple | None]:
    source = db.engine.url
    created = None
    if scratch_url:
        url = make_url(scratch_url)
    else:
        name = f"{source.database}_drill_{datetime.now(timezone.utc):%Y%m%d%H%M%S}"[:63]
        url = source.set(database=name)
        _admin_execute(source, f'CREATE DATABASE "{name}"')
        created = (source, name)
    try:
        _run(["pg_restore", "--no-owner", "--no-acl", "--exit-on-error", f"--dbname={url.database}", str(dump)],
             env=_pg_env(url))
    except BaseException:
        if created:
            _drop_database(*created)
        raise
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False), created


def _admin_execute(url, statement: str) -> None:
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _drop_database(url, name: str) -> None:
    _admin_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _verify_restored(url: str, files_dir: Path, manifest: dict, report: DrillReport,
                     app_factory: Callable[[type], Flask] | None) -> None:
    from app import create_app

    settings = {k: v for k, v in current_app.config.items() if k.isupper()}
    settings.update(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={}, FILE_STORE=files_dir)
    drill_app = (app_factory or create_app)(type("DrillConfig", (), settings))
    with drill_app.app_context():
        try:
            expected = manifest["database"]
            with db.engine.connect() as conn:
                found = inventory(conn)
            report.check(found["revision"] == expected["revision"],
                         f"迁移版本：{', '.join(found['revision'])}（备份时 {', '.join(expected['revision'])}）")
            differing = {t: (n, found["counts"].get(t)) for t, n in expected["counts"].items()
                         if found["counts"].get(t) != n}
            total = sum(expected["counts"].values())
            report.check(not differing, f"数据行数：{len(expected['counts'])} 张表共 {total} 行"
                                        + (f"，不符：{differing}" if differing else "，全部一致"))
            missing, mismatched = [], []
            for attachment_id, stored in found["attachments"].items():
                path = attachment_path(files_dir, attachment_id)
                if not path.is_file():
                    missing.append(attachment_id)
                elif sha256_file(path) != stored or expected["attachments"].get(attachment_id) != stored:
                    mismatched.append(attachment_id)
            report.check(not missing and not mismatched and len(found["attachments"]) == len(expected["attachments"]),
                         f"附件：{len(found['attachments'])} 个与还原库登记的哈希核对，缺失 {len(missing)}，不符 {len(mismatched)}")
            letters_changed = [i for i, s in found["letters"].items() if expected["letters"].get(i) != s]
            report.check(not found["letters_bad"] and not letters_changed
                         and len(found["letters"]) == len(expected["letters"]),
                         f"文书：{len(found['letters'])} 份 PDF 与登记的哈希核对，不符 {len(found['letters_bad'])}，"
                         f"与清单不同 {len(letters_changed)}")
            # Compared with the newest checkpoint taken before the dump's snapshot (older backups: the chain alone).
            snapshot_at = manifest.get("snapshot_at")
            checked, problems = audit.verify_chain(
                checkpoints=snapshot_at is not None,
                checkpoint_before=datetime.fromisoformat(snapshot_at) if snapshot_at else None)
            report.check(not problems, f"审计哈希链：已校验 {checked} 条，问题 {len(problems)} 处"
                                       + (f"（{problems[0]}）" if problems else ""))
        finally:
            db.session.remove()
            db.engine.dispose()
