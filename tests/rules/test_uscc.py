"""Unified social credit code checks (GB 32100-2015) and demo-code construction."""
import pytest

from app.services.uscc import (
    GOVERNMENT_ORGAN,
    PUBLIC_INSTITUTION,
    RESIDENTS_COMMITTEE,
    VILLAGE_COMMITTEE,
    make_uscc,
    org_code_check_char,
    uscc_check_char,
    validate_uscc,
)


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # the example commonly cited with GB 32100-2015
        "11140800558745220K",  # 晋中市文化和旅游局, as published in a procurement contract
        "11410182005291054B",  # 荥阳市司法局, as published in a court ruling
        "12100000470095016Q",  # 浙江大学, as published on a tender notice
        "12310000425022547M",  # 上海工程技术大学, as published on its invoice details
    ],
)
def test_valid_codes(code):
    assert validate_uscc(code) is None
    assert uscc_check_char(code[:17]) == code[17]
    assert org_code_check_char(code[8:16]) == code[16]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "应为 18 位，实际 0 位"),
        ("91350100M000100Y4", "应为 18 位，实际 17 位"),
        ("91350100M000100Y433", "应为 18 位，实际 19 位"),
        ("91350100M000100I43", "第 16 位“I”不是合法字符"),  # I is excluded from the alphabet
        ("91350100m000100Y43", "第 9 位“m”不是合法字符"),  # lower case is not accepted
        ("9135O100M000100Y43", "第 5 位“O”不是合法字符"),
        ("91350100M000100Y4 ", "第 18 位“ ”不是合法字符"),
        ("913501A0M000100Y43", "第 3–8 位应为 6 位数字的行政区划码，实际为“3501A0”"),
        ("91A50100M000100Y43", "第 3–8 位应为 6 位数字的行政区划码，实际为“A50100”"),  # position 3 is the first
        ("9135010AM000100Y43", "第 3–8 位应为 6 位数字的行政区划码，实际为“35010A”"),  # position 8 is the last
        ("9A350100M000100Y43", "校验码错误"),  # position 2 (category) may be any code character: only 3–8 are digits
        ("91350100M000100Y44", "校验码错误：按前 17 位计算，第 18 位应为“3”，实际为“4”"),
        ("11140800558745220X", "第 18 位应为“K”，实际为“X”"),
        ("91350100M000010Y43", "校验码错误"),  # transposed digits
    ],
)
def test_invalid_codes(code, message):
    error = validate_uscc(code)
    assert error is not None and message in error


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("M000100Y", "4"),
        ("55874522", "0"),  # 11 - 0 = 11 is written 0
        ("00000006", "X"),  # 11 - 1 = 10 is written X
        ("12345678", "8"),
    ],
)
def test_org_code_check_char(body, check):
    assert org_code_check_char(body) == check


@pytest.mark.parametrize("bad", ["1234567", "123456789", "1234567a"])
def test_org_code_check_char_rejects_bad_body(bad):
    with pytest.raises(ValueError):
        org_code_check_char(bad)


@pytest.mark.parametrize(("first17", "check"), [
    ("91350100M000100Y4", "3"),  # the GB 32100 example: weighted sum 1640 = 52 × 31 + 28, and 31 - 28 = 3
    ("91350100M000100Y3", "0"),  # weighted sum 1612 = 52 × 31: remainder 0, and 31 - 0 = 31 is written 0
    ("11421300MA00000Y1", "0"),  # weighted sum 1829 = 59 × 31: remainder 0 again, a Suizhou (421300) code
])
def test_uscc_check_char_table(first17, check):
    assert uscc_check_char(first17) == check


def test_weights_are_powers_of_three():
    """GB 32100-2015 §5: the weight of position i is 3^(i-1) mod 31."""
    from app.services.uscc import _WEIGHTS

    assert _WEIGHTS == tuple(pow(3, i, 31) for i in range(17))


@pytest.mark.parametrize("bad", ["91350100M000100Y", "91350100M000100Y43", "91350100M000100I4"])
def test_uscc_check_char_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        uscc_check_char(bad)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("9", "1", "350100", "M000100Y"), "91350100M000100Y43"),
        (("1", "1", "140800", "55874522"), "11140800558745220K"),
        (("1", "2", "100000", "47009501"), "12100000470095016Q"),
    ],
)
def test_make_uscc_reproduces_published_codes(parts, expected):
    assert make_uscc(*parts) == expected


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [(GOVERNMENT_ORGAN, "11"), (PUBLIC_INSTITUTION, "12"), (VILLAGE_COMMITTEE, "54"), (RESIDENTS_COMMITTEE, "55")],
)
@pytest.mark.parametrize("body", ["MA000001", "00249818", "0000000W", "MEB1234P"])
def test_make_uscc_round_trip(kind, prefix, body):
    code = make_uscc(*kind, "330106", body)
    assert code.startswith(prefix + "330106" + body)
    assert validate_uscc(code) is None
    assert org_code_check_char(code[8:16]) == code[16]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (("11", "1", "330106", "MA000001"), "各为 1 位"),  # authority must be one character
        (("1", "", "330106", "MA000001"), "各为 1 位"),  # and so must the category, even when the authority is right
        (("1", "11", "330106", "MA000001"), "各为 1 位"),
        (("1", "1", "33010A", "MA000001"), "行政区划码应为 6 位数字"),  # division must be six digits
        (("1", "1", "3301061", "MA000001"), "行政区划码应为 6 位数字"),
        (("1", "1", "３３０１０６", "MA000001"), "行政区划码应为 6 位数字"),  # full-width digits are not ASCII digits
        (("1", "1", "330106", "MA00001"), "组织机构代码本体应为 8 位"),  # body must be eight characters
        (("1", "1", "330106", "MI000001"), "需要 17 位合法字符"),  # I is not in the USCC alphabet
    ],
)
def test_make_uscc_rejects_bad_parts(parts, message):
    with pytest.raises(ValueError, match=message):
        make_uscc(*parts)
