"""The OpenAPI 3.1 document served at /api/v1/openapi.json."""
from app.core.ids import MAX_ID
from app.models import CASE_TYPES, CATEGORIES, SEVERITIES

_ERR = {"description": "错误", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_OBJ = {"application/json": {"schema": {"type": "object"}}}


def _op(summary: str, *, body: dict | None = None, params: list | None = None, ok: int = 200,
        too_large: bool = False) -> dict:
    # 400: unreadable or unstorable input (NUL, lone surrogates); 403: a role or separation-of-duties refusal.
    op = {"summary": summary, "responses": {str(ok): {"description": "成功", "content": _OBJ}, "400": _ERR,
                                            "401": _ERR, "403": _ERR, "404": _ERR, "409": _ERR, "422": _ERR}}
    if too_large:
        op["responses"]["413"] = _ERR
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, kind: str = "string") -> dict:
    schema = {"type": kind, "minimum": 1, "maximum": MAX_ID} if kind == "integer" else {"type": kind}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema}


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "随州市政务诚信异议与信用修复系统 API", "version": "1.0.0"},
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}, "fields": {"type": "object"}}}}},
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/auth/token": {"post": {**_op("获取令牌", body={"application/json": {"schema": {
            "type": "object", "required": ["username", "password"],
            "properties": {"username": {"type": "string"}, "password": {"type": "string"},
                           "totp": {"type": "string", "description": "6 位动态口令（系统管理员、信用办负责人必填）"}}}}}),
            "security": []}},
        "/auth/logout": {"post": _op("注销令牌（立即失效）")},
        "/records": {"get": _op("可见的失信记录（按编号分页：after 为上一页的 next_after）", params=[
            _query("after", {"type": "integer", "minimum": 1, "maximum": MAX_ID}),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100})])},
        "/records/{record_id}": {"get": _op("失信记录详情", params=[_path_param("record_id", "integer")])},
        "/records/{record_id}/objection-eligibility": {"get": _op("能否提出异议",
                                                                  params=[_path_param("record_id", "integer")])},
        "/cases": {"post": _op("创建申请草稿（异议、修复）或直接启动（限期整改、资格恢复）", ok=201,
                               body={"application/json": {"schema": {
            "type": "object", "required": ["type"],
            "properties": {"type": {"enum": ["objection", "rectification", "repair", "restoration"]},
                           "record_id": {"type": "integer", "description": "objection、rectification、repair 必填"},
                           "sanction_id": {"type": "integer", "description": "restoration 必填"},
                           "reason": {"type": "string"}, "statement": {"type": "string"},
                           "deadline_days": {"type": "integer", "minimum": 1, "maximum": 120},
                           "requirements": {"type": "string"}}}}})},
        "/cases/{case_id}": {"get": _op("办件详情（状态、过程、待办、文书）", params=[_path_param("case_id", "integer")])},
        "/cases/{case_id}/attachments": {"post": _op("上传材料", ok=201, params=[_path_param("case_id", "integer")],
                                                     too_large=True,
                                                     body={"multipart/form-data": {"schema": {
                                                         "type": "object", "required": ["file"],
                                                         "properties": {"file": {"type": "string", "format": "binary"},
                                                                        "kind": {"enum": ["evidence", "commitment",
                                                                                          "supplement", "other"]}}}}})},
        "/cases/{case_id}/submit": {"post": _op("提交申请并启动流程", params=[_path_param("case_id", "integer")])},
        "/tasks": {"get": _op(
            "任务列表（按期限排序，每页 50 条；next_after 为下一页游标；counts 为各标签页的任务数，超过 count_cap 即显示为"
            "“count_cap+”；筛选条件与待办页相同，取值无效时返回 400）", params=[
                _query("scope", {"enum": ["mine", "group", "due_soon", "overdue", "done", "all"]}),
                _query("after", {"type": "string", "description": "上一页返回的 next_after"}),
                _query("process", {"enum": list(CASE_TYPES), "description": "流程"}),
                _query("unit", {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "申请单位"}),
                _query("category", {"enum": list(CATEGORIES), "description": "失信类别"}),
                _query("severity", {"enum": list(SEVERITIES), "description": "失信程度"}),
                _query("due", {"enum": ["overdue", "today", "soon", "later"],
                               "description": "期限：已超期、今日到期、2 个工作日内、更晚"})])},
        "/tasks/{task_id}": {"get": _op("任务详情及表单字段", params=[_path_param("task_id")])},
        "/tasks/{task_id}/claim": {"post": _op("领取任务", params=[_path_param("task_id")])},
        "/tasks/{task_id}/release": {"post": _op("退回任务", params=[_path_param("task_id")])},
        "/tasks/{task_id}/complete": {"post": _op("办理任务", params=[_path_param("task_id")], body=_OBJ)},
        "/letters/{letter_id}.pdf": {"get": {**_op("下载文书 PDF", params=[_path_param("letter_id", "integer")]),
                                             "responses": {"200": {"description": "PDF", "content": {
                                                 "application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                                                 "400": _ERR, "401": _ERR, "404": _ERR}}},
        "/letters/{letter_id}/delivery": {"post": _op("登记文书送达（邮寄、直接送达或其他；信用办受理员、审批人）",
                                                      params=[_path_param("letter_id", "integer")],
                                                      body={"application/json": {"schema": {
                                                          "type": "object", "required": ["delivered_on", "method"],
                                                          "properties": {
                                                              "delivered_on": {"type": "string", "format": "date"},
                                                              "method": {"enum": ["post", "direct", "other"]},
                                                              "note": {"type": "string"}}}}})},
        "/tasks/{task_id}/extension": {"post": _op("申请延长异议核查期限（认定单位核查人员，仅一次）",
                                                   params=[_path_param("task_id")],
                                                   body={"application/json": {"schema": {
                                                       "type": "object", "required": ["reason"],
                                                       "properties": {"reason": {"type": "string"}}}}})},
        "/cases/{case_id}/extension": {"post": _op("审批延长核查期限的申请（信用办受理员）",
                                                   params=[_path_param("case_id", "integer")],
                                                   body={"application/json": {"schema": {
                                                       "type": "object", "required": ["approve"],
                                                       "properties": {"approve": {"type": "boolean"},
                                                                      "comment": {"type": "string"}}}}})},
        "/calendar/deadline": {"get": _op("计算工作日期限", params=[
            {"name": "start", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
            {"name": "working_days", "in": "query", "required": True, "schema": {"type": "integer"}}])},
        "/records/{record_id}/repair-eligibility": {"get": _op("能否申请信用修复",
                                                               params=[_path_param("record_id", "integer")])},
        "/sanctions": {"get": _op("可见的惩戒措施（取消荣誉评选资格、通报批评等）",
                                  params=[_query("unit_id", {"type": "integer"})])},
        "/units/{unit_id}/honor-eligibility": {"get": _op("某单位在某日能否参加荣誉评选", params=[
            _path_param("unit_id", "integer"), _query("date", {"type": "string", "format": "date"})])},
        "/rule-sets": {"get": _op("规则集各版本（公示期、时限、修复限制）")},
    },
}


# --- the records API for other systems (issue 12 §3): enter, document, submit and correct a record ------------------

def _record_paths() -> dict:
    from app.models import CATEGORIES, SEVERITIES
    from processes.record_registration.service import MAX_DOC_NO, MAX_FACTS

    def text(limit: int, description: str) -> dict:
        return {"type": "string", "minLength": 1, "maxLength": limit, "description": description}

    person = {"description": "失信主体为个人（公职人员）时必填：新人员按身份证号登记，已登记的人员可只给 person_id", "oneOf": [
        {"type": "object", "additionalProperties": False, "required": ["name", "id_number", "post", "unit_id"],
         "properties": {"name": text(40, "姓名"), "id_number": {"type": "string", "description": "18 位居民身份证号"},
                        "post": text(80, "职务"),
                        "unit_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "所在单位"}}},
        {"type": "object", "additionalProperties": False, "required": ["person_id"],
         "properties": {"person_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}},
    ]}
    fields = {
        "subject_type": {"enum": ["unit", "person"], "description": "失信主体类型，缺省为 unit"},
        "subject_unit_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID,
                            "description": "失信主体单位（subject_type 为 unit 时必填）"},
        "person": person,
        "category": {"enum": list(CATEGORIES), "description": "失信类别"},
        "severity": {"enum": list(SEVERITIES), "description": "失信程度"},
        "basis_doc_no": text(MAX_DOC_NO, "认定文书号"),
        "basis_date": {"type": "string", "format": "date", "description": "认定日期 YYYY-MM-DD，2014-01-01 至今天"},
        "facts": text(MAX_FACTS, "失信事实"),
        "legal_basis": text(MAX_FACTS, "法律依据"),
    }
    record = {"type": "object", "additionalProperties": False, "properties": fields,
              "required": ["category", "severity", "basis_doc_no", "basis_date", "facts", "legal_basis"]}
    patch = {"type": "object", "additionalProperties": False, "properties": fields}
    key = {"name": "Idempotency-Key", "in": "header", "required": False,
           "description": "重试时携带同一值：同一内容返回首次创建的记录（不重复创建）；不同内容答 422 idempotency_key_reused",
           "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[\\x21-\\x7e]+$"}}
    record_id = [_path_param("record_id", "integer")]
    create = _op("认定单位报送失信记录（创建草稿）；同一记录已登记答 409 duplicate_record（error.record_id 为已有记录）", ok=201,
                 body={"application/json": {"schema": record}}, params=[key])
    correct = _op("认定单位修改待报送或退回修改的记录（只改所给字段）", params=record_id,
                  body={"application/json": {"schema": patch}})
    # An id beyond any object matches no route; Werkzeug then answers 405, as GET shares the path.
    correct["responses"]["405"] = {**_ERR, "description": "record_id 超出编号范围"}
    return {
        "/records": {"post": create},
        "/records/{record_id}": {"patch": correct},
        "/records/{record_id}/documents": {"post": _op("上传认定文书（PDF、OFD 或图片）", ok=201, params=record_id,
                                                       too_large=True, body={"multipart/form-data": {"schema": {
                                                           "type": "object", "required": ["file"],
                                                           "properties": {"file": {"type": "string",
                                                                                   "format": "binary"}}}}})},
        "/records/{record_id}/submit": {"post": _op("报送信用办审核（退回修改后再次调用即重新报送）", params=record_id)},
    }


for _path, _ops in _record_paths().items():
    OPENAPI["paths"].setdefault(_path, {}).update(_ops)

# --- People as subjects (issue 12 §5): the organisation and HR departments' award eligibility query. Kept as its own
# block; the ID number is posted, never put in a URL.
_DATE_BODY = {"type": "string", "format": "date", "description": "查询日期 YYYY-MM-DD（缺省为今天）"}
OPENAPI["paths"].update({
    "/persons/{person_id}/award-eligibility": {"get": _op("公职人员在某日是否受限制评优评先（按人员）", params=[
        _path_param("person_id", "integer"), _query("date", {"type": "string", "format": "date"})])},
    "/persons/award-eligibility": {"post": _op("公职人员在某日是否受限制评优评先（按身份证号）", body={"application/json": {
        "schema": {"type": "object", "required": ["id_number"],
                   "properties": {"id_number": {"type": "string", "description": "18 位居民身份证号码"},
                                  "date": _DATE_BODY}}}})},
})

# --- bulk import of records (issue 12 §2) ------------------------------------------------------------------------
_IMPORT_ROWS = {"type": "object", "properties": {
    "error": {"type": "object", "properties": {
        "code": {"const": "import_rejected"}, "message": {"type": "string"},
        "rows": {"type": "array", "items": {"type": "object", "required": ["row", "column", "message"], "properties": {
            "row": {"type": "integer", "description": "表格中的行号（表头为第 1 行；0 为整批的认定文书）"},
            "column": {"type": "string", "description": "列名，如 认定日期"},
            "message": {"type": "string"}}}}}}}}
OPENAPI["paths"]["/records/import"] = {"post": {
    **_op("批量导入失信记录（认定单位）：整份文件全部无误才导入，已存在的记录不重复登记", ok=201, too_large=True, body={
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "CSV（UTF-8 或 GB18030）或 XLSX；第 1 行依次为 主体类型、统一社会信用代码、姓名、身份证号、"
                                    "职务、失信类别、失信程度、认定文书号、认定日期、失信事实、法律依据"},
            "document": {"type": "string", "format": "binary",
                         "description": "本批记录的认定文书（PDF、OFD 或图片，一个文件）；新建记录时必填，附于每条记录"},
            "dry_run": {"enum": ["0", "1"], "description": "1：只检查（预览），不写入"}}}}}),
}}
OPENAPI["paths"]["/records/import"]["post"]["responses"].update({
    "200": {"description": "dry_run=1：检查通过", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"row_count": {"type": "integer"}, "create": {"type": "integer"},
                                         "existing": {"type": "integer"}, "existing_ids": {"type": "array"},
                                         "document_needed": {"type": "boolean"}}}}}},
    "201": {"description": "已导入", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"import_id": {"type": "integer"}, "sha256": {"type": "string"},
                                         "row_count": {"type": "integer"}, "created": {"type": "integer"},
                                         "existing": {"type": "integer"},
                                         "created_ids": {"type": "array", "items": {"type": "integer"}},
                                         "existing_ids": {"type": "array", "items": {"type": "integer"}}}}}}},
    "422": {"description": "有错误的行（未写入任何记录），或文件无法读取", "content": {"application/json": {
        "schema": {"anyOf": [_IMPORT_ROWS, {"$ref": "#/components/schemas/Error"}]}}}},
})
