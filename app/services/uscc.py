"""Unified social credit code (统一社会信用代码, GB 32100-2015): validation and construction."""
from __future__ import annotations

import string

# GB 32100-2015 §4: digits and upper-case letters except I, O, Z, S, V; a character's value is its index.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# GB 32100-2015 §5: weight of position i (1-based) is 3^(i-1) mod 31.
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997: organisation-code body weights; letters count A=10 … Z=35.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUE = {c: i for i, c in enumerate(string.digits + string.ascii_uppercase)}
_ALLOWED = "数字 0–9 和除 I、O、Z、S、V 以外的大写字母"

# (registration authority, institution category) pairs used for demo units.
GOVERNMENT_ORGAN = ("1", "1")  # 机构编制 / 机关
PUBLIC_INSTITUTION = ("1", "2")  # 机构编制 / 事业单位
# 基层群众性自治组织特别法人 are coded by 民政 (5): category 4 村民委员会, 5 居民委员会.
# N (农业农村) 2 is the village collective economic organisation, a different legal person.
VILLAGE_COMMITTEE = ("5", "4")
RESIDENTS_COMMITTEE = ("5", "5")


def _first_illegal(text: str) -> int | None:
    """Return the index of the first character outside ALPHABET, or None."""
    return next((i for i, c in enumerate(text) if c not in _VALUE), None)


def uscc_check_char(first17: str) -> str:
    """Return the 18th (check) character for the first 17 characters of a code."""
    bad = _first_illegal(first17)
    if len(first17) != 17 or bad is not None:
        raise ValueError(f"需要 17 位合法字符（{_ALLOWED}），收到“{first17}”")
    remainder = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS)) % 31
    # GB 32100-2015 §5: C18 = 31 - (sum mod 31), and 31 is written as 0.
    return ALPHABET[(31 - remainder) % 31]


def org_code_check_char(body8: str) -> str:
    """Return the GB 11714 check character for an 8-character organisation-code body."""
    if len(body8) != 8 or any(c not in _ORG_VALUE for c in body8):
        raise ValueError(f"组织机构代码本体应为 8 位数字或大写字母，收到“{body8}”")
    # GB 11714-1997: C9 = 11 - (sum mod 11); 10 is written X and 11 is written 0.
    check = 11 - sum(_ORG_VALUE[c] * w for c, w in zip(body8, _ORG_WEIGHTS)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def validate_uscc(code: str) -> str | None:
    """Return None when code is a valid unified social credit code, else a Chinese error message."""
    if len(code) != 18:
        return f"统一社会信用代码应为 18 位，实际 {len(code)} 位"
    bad = _first_illegal(code)
    if bad is not None:
        return f"第 {bad + 1} 位“{code[bad]}”不是合法字符，只能是{_ALLOWED}"
    # GB 32100-2015 §4.3: positions 3–8 are the GB/T 2260 administrative division code.
    if not code[2:8].isdigit():
        return f"第 3–8 位应为 6 位数字的行政区划码，实际为“{code[2:8]}”"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"校验码错误：按前 17 位计算，第 18 位应为“{expected}”，实际为“{code[17]}”"
    return None


def make_uscc(authority: str, kind: str, division: str, org_body8: str) -> str:
    """Build a valid code from its parts, computing both check characters."""
    if len(authority) != 1 or len(kind) != 1:
        raise ValueError("登记管理部门代码和机构类别代码各为 1 位")
    if len(division) != 6 or not (division.isascii() and division.isdigit()):
        raise ValueError(f"行政区划码应为 6 位数字，收到“{division}”")
    org_code = org_body8 + org_code_check_char(org_body8)
    first17 = authority + kind + division + org_code
    return first17 + uscc_check_char(first17)
