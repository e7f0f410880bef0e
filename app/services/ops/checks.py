"""Check the configuration and environment for `flask --app wsgi check` (docs/deployment.md).

Every check is a function returning findings; the CLI only prints them. Read-only throughout.
"""
from __future__ import annotations

import ctypes.util
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.security import check_password_hash

from app.core import clock
from app.extensions import db
from app.models import AuditEvent, ProcessDefinition, User
from app.services.audit import checkpoint_file
from app.services.audit.keys import MIN_KEY_LENGTH as MIN_AUDIT_KEY, KeyringError, is_dev_key, keyring, load_keyring
from app.services.ops.health import probe_writable

OK, WARN, ERROR = "ok", "warn", "error"
# Values that appeared in this repository, its docs or common examples: never a production key.
KNOWN_DEV_SECRETS = ("test-secret-key-0123456789", "changeme", "change-me", "secret", "dev", "development",
                     "please-change-me", "请替换为随机字符串")
DEV_SECRET_PREFIXES = ("dev-only-not-secret",)
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Finding:
    """One result of `flask check`: level ok / warn / error, a short topic and a Chinese explanation."""

    level: str
    topic: str
    message: str


def is_production(config: Mapping) -> bool:
    """Tell whether the configuration is the production one (APP_ENV=production)."""
    return config.get("APP_ENV") == "production"


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
    found += check_seal(config)
    return found


def check_seal(config: Mapping) -> list[Finding]:
    """The seal on issued letters (issue 13 §9): the configured image, or none; never the drawn circle in production."""
    prod = is_production(config)
    seal = config.get("LETTER_SEAL_IMAGE")
    found = []
    if seal and not Path(seal).is_file():
        found.append(Finding(ERROR, "LETTER_SEAL_IMAGE", f"印章图片 {seal} 不存在。"))
    elif seal:
        found.append(Finding(OK, "LETTER_SEAL_IMAGE", f"文书印章图片 {seal}。"))
    elif prod:
        found.append(Finding(WARN, "LETTER_SEAL_IMAGE", "未配置印章图片（LETTER_SEAL_IMAGE）：出具的文书只有发文机关署名和"
                                                        "成文日期，没有印章；请配置经授权的电子印章图片，或线下加盖印章后送达。"))
    if config.get("LETTER_DEMO_SEAL"):
        found.append(Finding(ERROR if prod else WARN, "LETTER_DEMO_SEAL",
                             "LETTER_DEMO_SEAL 已开启：出具的文书带有绘制的演示印章，它不是印章，生产环境必须关闭。"))
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


def check_processes() -> list[Finding]:
    """Check that every registered process slice is deployed in the version of its files."""
    from app.engine.definitions import parse_process, process_files
    from app.services.workflow import registry

    found = []
    for key, files in process_files(*(piece.folder for piece in registry.slices())).items():
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
    elif _weak(secret):
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


def _weak(secret: str) -> bool:
    """Too short, or too few distinct characters to be random (the audit and person-data keys alike)."""
    return len(secret) < MIN_AUDIT_KEY or len(set(secret)) < 10


def check_person_key(config: Mapping, *, production: bool) -> list[Finding]:
    """Check PERSON_DATA_KEY, which encrypts civil servants' ID numbers and keys their digests (issue 12 §5):
    configured, random, not a published default, not another key. Changing it later makes the stored numbers
    unreadable and unfindable, so it is set once and kept as the audit keys are."""
    severe = ERROR if production else WARN
    secret = str(config.get("PERSON_DATA_KEY") or "")
    if not secret:
        return [Finding(severe, "PERSON_DATA_KEY", "未配置个人信息密钥 PERSON_DATA_KEY：无法登记以公职人员为主体的失信记录"
                                                   "（身份证号须加密存储，见 docs/deployment.md）。")]
    found = []
    if is_dev_key(secret) or secret.strip().lower() in KNOWN_DEV_SECRETS:
        found.append(Finding(severe, "PERSON_DATA_KEY", "个人信息密钥 PERSON_DATA_KEY 是公开的开发/测试值：任何拿到数据库的人"
                                                        "都能解密身份证号。请在登记任何人员前生成新密钥（docs/deployment.md）。"))
    elif _weak(secret):
        found.append(Finding(severe, "PERSON_DATA_KEY",
                             f"个人信息密钥 PERSON_DATA_KEY 过短或不像随机值（至少 {MIN_AUDIT_KEY} 个随机字符，"
                             "如 python3 -c 'import secrets; print(secrets.token_hex(32))'）。"))
    if secret == str(config.get("SECRET_KEY") or ""):
        found.append(Finding(severe, "PERSON_DATA_KEY", "个人信息密钥与 SECRET_KEY 相同：请使用单独的密钥。"))
    if not found:
        found.append(Finding(OK, "PERSON_DATA_KEY", "身份证号以单独配置的个人信息密钥加密存储。"))
    return found


def check_audit_checkpoints(config: Mapping, *, production: bool, now: datetime | None = None) -> list[Finding]:
    """Check the checkpoint directory and that the worker keeps writing valid checkpoints."""
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
    newest, problems = checkpoint_file.newest(folder, ring)
    found = [Finding(ERROR, "审计检查点", problem) for problem in problems[:5]]
    head = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    instant = now or clock.machine_now()
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


def run_checks(app: Flask, *, demo_password: str | None) -> list[Finding]:
    """Run every check against the app's configuration and environment (read-only).

    `demo_password` is the published demo password no active user may still hold (None skips that slow check).
    """
    config = app.config
    prod = is_production(config)
    found = check_settings(config)
    found += check_file_store(Path(config["FILE_STORE"]), Path(app.static_folder), Path(app.root_path).parent,
                              production=prod)
    found += check_fonts(config)
    found += check_audit_keys(config, production=prod)
    found += check_person_key(config, production=prod)
    current, database = check_database()
    found += database
    if current:  # the models match the schema only at the newest migration
        found += check_database_roles(production=prod)
        found += check_audit_checkpoints(config, production=prod)
        found += check_processes()
        if demo_password is not None:
            found += check_demo_passwords(demo_password, production=prod)
    db.session.rollback()
    return found
