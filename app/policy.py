"""Who may call which route: one reviewed table of endpoint × role, deny by default (QUALITY.md §3).

The table answers only "may this role use this route at all". Which *objects* a user reaches is decided
afterwards by `app.services.access` (unit filters, 404 outside reach) and, for decisions, by the process
layer's separation-of-duties check. A route missing from the table answers 404 for everybody, and
tests/test_policy.py fails for it, so a new route cannot ship unreviewed.
"""
from __future__ import annotations

ANONYMOUS = "anonymous"  # reachable without signing in (public pages, the login flow itself)
SIGNED_IN = "signed-in"  # any signed-in account, whatever its role

APPLICANT, INTAKE, VERIFIER, APPROVER, ADMIN, AUDITOR = "applicant", "intake", "verifier", "approver", "admin", "auditor"
PERSONNEL = "personnel"  # 组织人事部门查询员: the person-scoped award eligibility query only, no case content
OFFICE = frozenset({INTAKE, APPROVER})  # the credit office's own staff
CASEWORK = frozenset({APPLICANT, INTAKE, VERIFIER, APPROVER})  # everyone who works cases (object access decides more)

POLICY: dict[str, frozenset[str]] = {
    # --- public, no account: plan §(三) publicity of results; letter verification by QR; the login flow.
    "static": frozenset({ANONYMOUS}),
    "public.favicon": frozenset({ANONYMOUS}),  # /favicon.ico, which browsers fetch by themselves
    "public.index": frozenset({ANONYMOUS}),
    "public.records": frozenset({ANONYMOUS}),
    "public.progress": frozenset({ANONYMOUS}),  # progress lookup needs the case number and the filing unit's USCC
    "public.verify": frozenset({ANONYMOUS}),
    "public.notices": frozenset({ANONYMOUS}),  # issued 通报 (public criticisms) are public
    "public.notice": frozenset({ANONYMOUS}),
    "public.notice_pdf": frozenset({ANONYMOUS}),
    "public.measures": frozenset({ANONYMOUS}),  # the catalogue of measures with their legal basis
    "auth.home": frozenset({ANONYMOUS}),  # redirects by role, or to the public page
    "auth.login": frozenset({ANONYMOUS}),
    "auth.second_factor": frozenset({ANONYMOUS}),  # only after a correct password (pending state in the session)
    "auth.enrol_second_factor": frozenset({ANONYMOUS}),  # same: first sign-in of an admin or approver
    "auth.set_language": frozenset({ANONYMOUS}),
    "health.healthz": frozenset({ANONYMOUS}),  # load balancers; reveals no data
    "api.openapi": frozenset({ANONYMOUS}),
    "api.token": frozenset({ANONYMOUS}),  # exchanges credentials (and a TOTP code) for a bearer token
    # --- any account
    "auth.logout": frozenset({SIGNED_IN}),
    "auth.change_password": frozenset({ANONYMOUS}),  # also reached with an expired password (pending state)
    "inbox.notifications_page": frozenset({SIGNED_IN}),
    "api.logout": frozenset({SIGNED_IN}),  # revokes the bearer token it is called with
    "api.deadline": frozenset({SIGNED_IN}),
    "api.rule_sets": frozenset({SIGNED_IN}),
    # --- applicants (affected government units): their own unit's records and cases only
    "portal.records": frozenset({APPLICANT}),
    "portal.record": frozenset({APPLICANT}),  # files objections and repair applications
    "portal.cases": frozenset({APPLICANT}),
    "portal.apply_restoration": frozenset({APPLICANT}),
    "portal.commitment_template": frozenset({APPLICANT}),  # the blank 信用承诺书 beside the upload
    # --- case work: applicants answer 补正 and rectification tasks; staff review
    "staff.tasks_index": CASEWORK,
    "staff.tasks": CASEWORK,
    "staff.task": CASEWORK,
    "staff.claim": CASEWORK,
    "staff.release": CASEWORK,
    "staff.save_filter": CASEWORK,
    "staff.bulk": frozenset({INTAKE, VERIFIER, APPROVER}),  # bulk assign is further limited to supervisors
    "staff.reassign": frozenset({APPROVER}),  # supervisors reassign with a reason (issue 5)
    "staff.preview": frozenset({INTAKE, VERIFIER, APPROVER}),  # draft letters before approval
    "staff.request_extension": frozenset({VERIFIER}),  # the recording unit asks once to extend 核查 (issue 13 §6)
    "cases.show": CASEWORK,
    "cases.diagram_json": CASEWORK,
    "cases.upload": CASEWORK,
    "cases.download": CASEWORK,
    "cases.preview": CASEWORK,
    "cases.letter_pdf": CASEWORK,
    "cases.decide_extension": frozenset({INTAKE}),  # the office answers a request to extend 核查 (issue 13 §6)
    "cases.record_delivery": OFFICE,  # the office enters a delivery made outside the app (送达, issue 13 §7)
    "inbox.sanctions_page": CASEWORK,
    "inbox.honour_eligibility": frozenset({APPLICANT, INTAKE, APPROVER}),
    "records.index": frozenset({INTAKE, VERIFIER, APPROVER}),  # verifiers: records their unit made
    "records.show": frozenset({INTAKE, VERIFIER, APPROVER}),  # intake opens rectification here
    # The recording unit enters its records (失信记录认定登记); the office reviews them as tasks.
    "registration.new": frozenset({VERIFIER}),
    "registration.edit": frozenset({VERIFIER}),
    "registration.submit": frozenset({VERIFIER}),
    "registration.withdraw": frozenset({VERIFIER}),
    # 认定文书撤销或变更 (issue 12 §4): only the unit that made the record reports it (the service: 404 for others)
    "source_change.new": frozenset({VERIFIER}),
    "source_change.correct": frozenset({VERIFIER}),
    # bulk import of records (issue 12 §2, app/web/record_import.py): the recording unit's verifiers only
    "record_import.index": frozenset({VERIFIER}),
    "record_import.upload": frozenset({VERIFIER}),
    "record_import.preview": frozenset({VERIFIER}),
    "record_import.confirm": frozenset({VERIFIER}),
    "record_import.show": frozenset({VERIFIER}),
    "record_import.template": frozenset({VERIFIER}),
    "dashboard.index": OFFICE,
    "dashboard.cases_csv": OFFICE,
    "dashboard.cases_xlsx": OFFICE,
    "dashboard.figures_csv": OFFICE,
    "dashboard.figures_xlsx": OFFICE,
    # --- API (bearer token); the same roles as the pages that do the same thing
    "api.records": CASEWORK,
    "api.record": CASEWORK,
    "api.objection_eligibility": CASEWORK,
    "api.repair_eligibility": CASEWORK,
    "api.create_case": frozenset({APPLICANT, INTAKE}),  # intake opens rectification; applicants the rest
    "api.get_case": CASEWORK,
    "api.add_attachment": frozenset({APPLICANT}),
    "api.submit_case": frozenset({APPLICANT}),
    "api.list_tasks": CASEWORK,
    "api.get_task": CASEWORK,
    "api.claim": CASEWORK,
    "api.release": CASEWORK,
    "api.complete": CASEWORK,
    "api.letter_pdf": CASEWORK,
    "api.record_delivery": OFFICE,  # the office enters a delivery made outside the app (送达, issue 13 §7)
    "api.request_extension": frozenset({VERIFIER}),  # the verifier asks once to extend 核查 (issue 13 §6)
    "api.decide_extension": frozenset({INTAKE}),  # the office approves or refuses it
    "api.list_sanctions": CASEWORK,
    "api.honor_eligibility": frozenset({APPLICANT, INTAKE, APPROVER}),
    # the records API for other systems (issue 12 §3): the recording unit (认定单位, role verifier) enters its own
    # records; which records it reaches is decided by the registration service (its unit's only, 404 otherwise)
    "api.create_record": frozenset({VERIFIER}),
    "api.update_record": frozenset({VERIFIER}),
    "api.add_record_document": frozenset({VERIFIER}),
    "api.submit_record": frozenset({VERIFIER}),
    # --- people as subjects and integrity files (issue 12 §5, §6; app/web/persons.py). Which persons a user reaches
    # is services.persons.person_filter: the office all, a unit its people, a recording unit those on its records.
    "persons.index": frozenset({INTAKE, APPROVER, VERIFIER, APPLICANT}),
    "persons.show": frozenset({INTAKE, APPROVER, VERIFIER, APPLICANT}),
    "persons.move": frozenset({INTAKE}),  # the office records a move to another unit or post (audited)
    # 限制评优评先 on a date: the organisation and HR departments, and the office; every query audited (person.query)
    "persons.eligibility": frozenset({PERSONNEL, INTAKE, APPROVER}),
    # 诚信档案: the office, and a unit its own file and its people's (the auditor reads audit logs, not cases)
    "persons.person_file": frozenset({INTAKE, APPROVER, APPLICANT}),
    "persons.person_file_pdf": frozenset({INTAKE, APPROVER, APPLICANT}),
    "persons.unit_file": frozenset({INTAKE, APPROVER, APPLICANT}),
    "persons.unit_file_pdf": frozenset({INTAKE, APPROVER, APPLICANT}),
    "api.person_award_eligibility": frozenset({PERSONNEL, INTAKE, APPROVER}),
    "api.award_eligibility_by_number": frozenset({PERSONNEL, INTAKE, APPROVER}),
    # bulk import of records (issue 12 §2): the recording unit's verifiers import their own unit's records
    "api.import_records": frozenset({VERIFIER}),
    # --- system administration (MLPS: three separate administrator roles; no case data)
    "admin.outbox_page": frozenset({ADMIN}),
    "admin.retry": frozenset({ADMIN}),
    "admin.rule_sets": frozenset({ADMIN}),
    # letter texts (versions, preview, restore) and the challenge sentences per rule set (issue 13 §4, §8)
    "letters_admin.index": frozenset({ADMIN}),
    "letters_admin.edit": frozenset({ADMIN}),
    "letters_admin.preview": frozenset({ADMIN}),
    "letters_admin.restore": frozenset({ADMIN}),
    "letters_admin.challenge": frozenset({ADMIN}),
    # the office's own desk (app/web/admin_office.py): units, accounts, the holiday calendar, process versions.
    # Every change is audited; none of these pages shows a case (process versions: counts and the bare diagram).
    "office.units_page": frozenset({ADMIN}),
    "office.unit_new": frozenset({ADMIN}),
    "office.unit_edit": frozenset({ADMIN}),
    "office.unit_active": frozenset({ADMIN}),
    "office.users_page": frozenset({ADMIN}),
    "office.user_new": frozenset({ADMIN}),
    "office.user_edit": frozenset({ADMIN}),
    "office.user_active": frozenset({ADMIN}),
    "office.user_unlock": frozenset({ADMIN}),
    "office.user_reset_password": frozenset({ADMIN}),
    "office.user_reset_second_factor": frozenset({ADMIN}),
    "office.calendar_page": frozenset({ADMIN}),
    "office.calendar_import": frozenset({ADMIN}),
    "office.calendar_day": frozenset({ADMIN}),
    "office.processes_page": frozenset({ADMIN}),
    "office.process_diagram": frozenset({ADMIN}),
    "office.process_diagram_json": frozenset({ADMIN}),
    # --- security audit: only the auditor reads and exports the audit log
    "audit.search": frozenset({AUDITOR}),
    "audit.event": frozenset({AUDITOR}),
    "audit.export_csv": frozenset({AUDITOR}),
    "audit.export_xlsx": frozenset({AUDITOR}),
    "audit.verify": frozenset({AUDITOR}),
}


# Files a browser fetches by itself for any page (stylesheets, scripts, the icon): a missing one answers 404 but is
# no attempt to reach data, so it is never audited as an access denial.
ASSETS = frozenset({"static", "public.favicon"})


def is_public(endpoint: str | None) -> bool:
    """Say whether the route needs no account."""
    return ANONYMOUS in POLICY.get(endpoint or "", frozenset())


def permits(endpoint: str | None, roles: set[str] | frozenset[str]) -> bool:
    """Say whether a signed-in holder of `roles` may use the route (unknown routes: nobody)."""
    allowed = POLICY.get(endpoint or "")
    if not allowed:
        return False
    return ANONYMOUS in allowed or SIGNED_IN in allowed or bool(allowed.intersection(roles))
