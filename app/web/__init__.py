"""Web UI: blueprints, request context for audit, security headers, error pages."""
from __future__ import annotations

import re

from flask import Flask, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from app.extensions import db, login_manager
from app.models import Case
from app.services import attachments, audit
from app.core import clock, errors
from app.services import training_clock
from app.services import auth as auth_service
from app.core.errors import ServiceError
from app import transaction
from app.policy import ASSETS, POLICY, is_public, permits
from app.web.navigation import same_site_referrer

def register_web(app: Flask) -> None:
    from app.web.auth import bp as auth_bp
    from app.web.cases import bp as cases_bp
    from app.web.portal import bp as portal_bp
    from app.web.public import bp as public_bp
    from app.web.admin import bp as admin_bp
    from app.web.admin_office import bp as office_bp
    from app.web.admin_letters import bp as letters_admin_bp
    from app.web.inbox import bp as inbox_bp
    from app.web.records import bp as records_bp
    from app.web.registration import bp as registration_bp
    from app.web.source_change import bp as source_change_bp
    from app.web.record_import import bp as record_import_bp
    from app.web.staff import bp as staff_bp
    from app.web.dashboard import bp as dashboard_bp
    from app.web.audit_log import bp as audit_bp  # not app.web.audit: that would shadow services.audit here
    from app.web.health import bp as health_bp
    from app.web.persons import bp as persons_bp

    from app.web.filters import register_filters

    for bp in (auth_bp, portal_bp, staff_bp, cases_bp, public_bp, records_bp, registration_bp, inbox_bp, admin_bp,
               office_bp, dashboard_bp, health_bp, audit_bp, source_change_bp, persons_bp, record_import_bp,
               letters_admin_bp):
        app.register_blueprint(bp)
    register_filters(app)
    # First of all request hooks, ahead of CSRFProtect's check, which fails on a form field without a name.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_nameless_fields)

    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录。")
    login_manager.localize_callback = str  # flash a plain string in the request's language
    login_manager.session_protection = None  # the server-side session row is the protection

    @login_manager.user_loader
    def load_user(token: str):
        user = auth_service.resolve_session(token, "web")
        if auth_service.session_written():
            transaction.commit_now("session_touch")
        return user

    @app.before_request
    def watch_refusals():
        """Collect the ServiceErrors of this request; audit_refusals records them once it is answered."""
        g.refusals = errors.watch()

    @app.before_request
    def shared_clock():
        if app.config["ALLOW_CLOCK_SHIFT"]:
            training_clock.load_shared_offset()

    @app.before_request
    def refuse_unstorable_text():
        """Answer 400 to text no database column can hold (NUL, lone surrogates) before any view stores it."""
        if _UNSTORABLE.search(request.path) or _has_unstorable(request.args) or _has_unstorable(request.form) \
                or _has_unstorable(request.get_json(silent=True) if request.is_json else None):
            abort(400)

    app.before_request(bind_actor)

    app.before_request(enforce_policy)

    @app.after_request
    def audit_refusals(response):
        """One audit event per refusal of this request, in its own transaction after the refused work is undone."""
        entries = _refusals(response)
        if entries:
            # Anything still pending belongs to the refusal; the refusal gets its page even if auditing it fails.
            transaction.commit_apart("refusal_audit", lambda: _record_refusals(entries), best_effort=True)
        return response

    @app.teardown_request
    def end_request_context(exc):
        errors.stop_watching()
        audit.unbind_actor()

    @app.after_request
    def security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("X-Frame-Options", "DENY")  # only the PDF preview allows same-origin framing
        response.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint and not request.endpoint.startswith(("static", "public.")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def globals_for_templates():
        from app.services.notifications import unread_badge

        signed_in = current_user and current_user.is_authenticated
        locale = get_locale()
        return {"clock_shifted": clock.is_shifted(), "clock_now": clock.now(),
                "current_locale": locale.language if locale else "zh",
                "unread": unread_badge(current_user) if signed_in else "", "nav_links": _nav_links}

    @app.errorhandler(404)
    def not_found(exc):
        if request.endpoint not in ASSETS:  # a missing stylesheet or icon is no attempt to reach data
            audit_denial(404)
        return _error_page(404, _("未找到该页面或对象，或您无权查看。"))

    @app.errorhandler(413)
    def too_large(exc):
        """The body was never read, so what was typed is gone: a page's form is shown again, empty, with the reason."""
        g.request_too_large = True
        message = attachments.too_large_message()
        back = _form_page()
        if back is None:
            return _error_page(413, message)
        flash(message, "error")
        return redirect(back, 303)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError):
        g.security_refusal = ("security.csrf_failed", {"reason": str(exc.description)[:200]})
        view = current_app.view_functions.get(request.endpoint)
        if request.method == "POST" and getattr(view, "refills_stale_form", False):
            return _refill_stale_form(view)
        return _error_page(400, _("表单已过期或缺少安全令牌，本次提交未生效。请刷新页面后重新提交。"))

    @app.errorhandler(400)
    def bad_request(exc):
        return _error_page(400, _("请求无效或表单已过期，请刷新页面后重试。"))

    @app.errorhandler(405)
    def method_not_allowed(exc):
        return _error_page(405, _("不支持该请求方法。"))

    @app.errorhandler(500)
    def server_error(exc):
        transaction.rollback()  # nothing of the failed request is kept
        return _error_page(500, _("系统内部错误，本次操作未生效，请稍后重试。"))


# The main navigation by role: (roles that see it, endpoint, label); a link for any of its roles.
_STAFF = ("intake", "approver", "verifier")
_NAV: tuple[tuple[tuple[str, ...], str, object], ...] = (
    (("applicant",), "portal.records", _l("本单位失信记录")),
    (("applicant",), "portal.cases", _l("我的办件")),
    (("applicant",), "persons.unit_file", _l("本单位诚信档案")),
    (_STAFF, "records.index", _l("失信记录")),
    (("intake", "approver"), "dashboard.index", _l("统计看板")),
    (_STAFF + ("applicant",), "staff.tasks", _l("待办任务")),
    (_STAFF + ("applicant",), "inbox.sanctions_page", _l("惩戒措施")),
    (("intake", "approver", "applicant"), "inbox.honour_eligibility", _l("荣誉资格查询")),
    (_STAFF + ("applicant",), "persons.index", _l("公职人员")),
    (("personnel", "intake", "approver"), "persons.eligibility", _l("评优评先查询")),
    (("admin",), "office.units_page", _l("单位")),
    (("admin",), "office.users_page", _l("账户")),
    (("admin",), "office.calendar_page", _l("工作日历")),
    (("admin",), "office.processes_page", _l("流程版本")),
    (("admin",), "admin.rule_sets", _l("规则集")),
    (("admin",), "letters_admin.index", _l("文书模板")),
    (("admin",), "admin.outbox_page", _l("消息发送队列")),
    (("auditor",), "audit.search", _l("审计日志")),
)
_nav_cache: dict[tuple, Markup] = {}


def _nav_links() -> Markup:
    """The signed-in user's role links of the main navigation, built once per roles, unit, language and script root
    (about forty url_for, gettext and escape calls that every page repeated)."""
    roles = frozenset(current_user.roles)
    locale = get_locale()
    key = (roles, current_user.unit_id, str(locale), request.script_root)
    html = _nav_cache.get(key)
    if html is None:
        links = []
        for allowed, endpoint, label in _NAV:
            if roles.intersection(allowed):
                values = {"unit_id": current_user.unit_id} if endpoint == "persons.unit_file" else {}
                links.append(Markup('<a href="{}">{}</a>').format(url_for(endpoint, **values), str(label)))
        html = _nav_cache[key] = Markup("\n").join(links)
    return html


# PostgreSQL text cannot hold NUL, and no UTF-8 column can hold a lone surrogate (JSON "\\ud800").
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_nameless_fields():
    """Answer 400 to a form with a part that has no field name (a hostile or broken client), before anything reads it."""
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded") and (
            None in request.form or None in request.files):
        abort(400)


def _has_unstorable(value) -> bool:
    """Whether a request value (form or query MultiDict, or parsed JSON) holds text that cannot be stored."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, MultiDict):
        return any(_has_unstorable(k) or _has_unstorable(v) for k, v in value.items(multi=True))
    if isinstance(value, dict):
        return any(_has_unstorable(k) or _has_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable(v) for v in value)
    return False


def enforce_policy():
    """Deny by default: a route must be in the policy table, and the user's roles must allow it."""
    endpoint = request.endpoint
    if endpoint is None:  # no route matched: the 404/405 handlers answer
        return None
    if endpoint not in POLICY:
        abort(404)
    if is_public(endpoint) or endpoint.startswith("api."):
        return None  # the API authenticates bearer tokens and applies the same table (app.api)
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not permits(endpoint, current_user.roles):
        abort(404)
    return None


def refills_stale_form(view):
    """Mark a view that acts only on a valid form (`validate_on_submit`): a submission refused for its expired CSRF
    token is answered by the view itself, whose form then fails its own token check and is shown again as typed."""
    view.refills_stale_form = True
    return view


def _refill_stale_form(view):
    """Answer a stale submission of a marked form page: its page again with what was typed and why, after the
    checks the CSRF failure skipped; a browser signed out meanwhile signs in first and comes back to the page."""
    bind_actor()
    files = any(storage.filename for storage in request.files.values())
    message = _("页面已过期，请重新提交。") + (_("已选择的文件需重新选择。") if files else "")
    try:  # an error handler's own exception is not handled again: answer it here as the request would have been
        if _has_unstorable(request.form):
            abort(400)
        denied = enforce_policy()  # signed out: the sign-in page, which comes back here (?next=)
        flash(message, "error")
        return denied if denied is not None else view(**(request.view_args or {}))
    except (HTTPException, ServiceError) as exc:  # a 404 for the roles, a refusal of the view: their usual pages
        return current_app.handle_user_exception(exc)


def _form_page() -> str | None:
    """The page that holds the form of a refused browser POST: its own URL when it answers GET, else the referring
    page on this site; None for the API."""
    if request.path.startswith("/api/") or request.method != "POST":
        return None
    if request.url_rule is not None and "GET" in request.url_rule.methods:
        return request.full_path.rstrip("?")
    return same_site_referrer()


def bind_actor() -> None:
    """Bind the signed-in user (or nobody) and the client address as the actor of this request's audit events."""
    user = current_user if current_user and current_user.is_authenticated else None
    audit.set_actor(audit.Actor(
        user_id=user.id if user else None, username=user.username if user else "",
        unit_id=user.unit_id if user else None, ip=request.remote_addr or "",
    ))


def audit_denial(status: int, code: str = "") -> bool:
    """Record a refused access by a signed-in user (objects outside reach answer 404, QUALITY.md §3)."""
    if not (current_user and current_user.is_authenticated):
        return False
    transaction.record_denial(status, code)
    return True


def _record_refusals(entries: list[tuple[str, str, str, dict]]) -> None:
    if audit.current_actor() is audit.SYSTEM:  # refused (CSRF, size) before the request bound its actor
        bind_actor()
    for action, object_type, object_id, details in entries:
        if object_type == "case" and db.session.get(Case, object_id) is None:
            # The refusal undid the case itself (an application filed with a bad file): its id may be
            # given to the next case, so the event must not point at it.
            object_type, object_id, details = "route", request.path[:64], {**details, "case_id": None}
        audit.record(action, outcome="denied", object_type=object_type, object_id=object_id, details=details)


def show_field_errors(form, exc: ServiceError) -> None:
    """Put the service's messages under the fields of a WTForms form they name; a message for no field is flashed."""
    for name, message in exc.fields.items():
        field = form._fields.get(name)
        if field is not None:
            field.errors = [*field.errors, message]
    if not any(name in form._fields for name in exc.fields):
        flash(exc.message, "error")


def flash_refusal(exc: ServiceError, *, fields: bool = False) -> None:
    """Flash a refusal's message (and, with `fields`, each field's message) as an error."""
    flash(exc.message, "error")
    if fields:
        for message in exc.fields.values():
            flash(message, "error")


# Methods that change state: a ServiceError while answering one is a refused change.
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _refusals(response) -> list[tuple[str, str, str, dict]]:
    """The refusals of this request not yet in the audit log: (action, object type, object id, details).

    Each is recorded exactly once: ServiceErrors of a state-changing request (`upload.refused` names the file,
    `state.refused` the status and error code) unless an error handler already logged them as access.denied;
    a CSRF failure; a body over the request limit (413, answered before it is read).
    """
    entries = []
    route = request.path[:64]
    for exc in g.pop("refusals", []):
        if exc.audited or request.method in _SAFE_METHODS:
            continue
        exc.audited = True
        details = {"status": exc.status, "code": exc.code, "method": request.method, "message": str(exc.message)[:300],
                   **({"fields": sorted(exc.fields)} if exc.fields else {}), **exc.audit_details}
        case_id = exc.audit_details.get("case_id")
        entries.append((exc.audit_action, "case" if case_id else "route", case_id or route, details))
    security = g.pop("security_refusal", None)
    if security:
        action, details = security
        entries.append((action, "route", route, {"method": request.method, "status": response.status_code, **details}))
    if g.pop("request_too_large", False):
        entries.append(("upload.refused", "route", route, {
            "status": 413, "code": "request_too_large", "method": request.method, "size": request.content_length,
            "limit": current_app.config["MAX_CONTENT_LENGTH"]}))
    return entries


def _error_page(status: int, message: str):
    if request.path.startswith("/api/"):
        from flask import jsonify

        return jsonify({"error": {"code": str(status), "message": str(message)}}), status
    return render_template("errors/error.html", status=status, message=message), status

