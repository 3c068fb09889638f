"""Citizen ID numbers (GB 11643) and unified social credit codes (GB 32100): parse and check.

What the check characters guarantee, and what the property tests hold us to:

* 公民身份号码 uses ISO 7064 MOD 11-2: weights 2^k mod 11 (7 9 10 5 8 4 2 1 6 3 …, the check
  character has weight 1) and the weighted sum of all 18 characters is 1 mod 11. 11 is prime
  and every weight is non-zero, so changing any one character to another of 0-9/X changes the
  sum: **every single substitution is detected**. Neighbouring weights differ by a factor of 2,
  so swapping two different neighbours changes the sum by (a-b)·w ≠ 0: **every adjacent
  transposition of two different characters is detected**, including with the check character.
* 统一社会信用代码 uses a MOD 31 check over the 31-character alphabet (weights 3^k mod 31, the
  check character has weight 1, all 18 values sum to 0 mod 31). 31 is prime, each character has
  a distinct value below 31 and every weight is non-zero, so again **every single substitution
  within the alphabet and every adjacent transposition of two different characters is
  detected**. Characters outside the alphabet (I O S V Z, lower case, …) are rejected by format.

Neither check detects everything: e.g. two substitutions can cancel out. A malformed value
raises ``InvalidIdentifier``, which carries a stable ``code`` and the reason in 中文 and English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from stdnum.cn import ric

from verifier import regions
from verifier.errors import InvalidInput
from verifier.messages import Reason

__all__ = [
    "USCC_ALPHABET",
    "USCC_DEPARTMENTS",
    "CitizenId",
    "InvalidIdentifier",
    "Sex",
    "Uscc",
    "citizen_id_check_digit",
    "is_valid_citizen_id",
    "is_valid_uscc",
    "parse_citizen_id",
    "parse_uscc",
    "uscc_check_character",
]

Sex = Literal["male", "female"]

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, k, 31) for k in range(17))

# GB 32100-2015 table 1 with the departments added since: registration department code ->
# (department name, {entity type code: type name}).
USCC_DEPARTMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "1": (
        "机构编制",
        {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"},
    ),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": (
        "司法行政",
        {
            "1": "律师执业机构",
            "2": "公证处",
            "3": "基层法律服务所",
            "4": "司法鉴定机构",
            "5": "仲裁委员会",
            "9": "其他",
        },
    ),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": (
        "旅游",
        {
            "1": "外国旅游部门常驻代表机构",
            "2": "港澳台地区旅游部门常驻内地（大陆）代表机构",
            "9": "其他",
        },
    ),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": (
        "农业",
        {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
    ),
    "Y": ("其他", {"1": "其他"}),
}


class InvalidIdentifier(InvalidInput):
    """A citizen ID or USCC is malformed; ``reason`` holds the stable code and both texts."""

    def __init__(self, reason: Reason) -> None:
        self.reason = reason
        super().__init__(f"{reason.en} [{reason.code}]")

    @property
    def code(self) -> str:
        """The stable code of the broken rule, e.g. ``citizen_id_checksum``."""
        return self.reason.code

    def diagnostics(self) -> str:
        return f"{self.reason.zh} / {self.reason.en} [{self.reason.code}]"


# ---------------------------------------------------------------- citizen ID (公民身份号码)

CITIZEN_ID_LENGTH = Reason(
    "citizen_id_length",
    "公民身份号码应为18位（15位旧号码请换用18位号码）",
    "A citizen ID number has 18 characters (old 15-digit numbers must be converted)",
)
CITIZEN_ID_FORMAT = Reason(
    "citizen_id_format",
    "公民身份号码前17位应为数字，最后一位为数字或大写字母X",
    "The first 17 characters of a citizen ID number are digits; the last is a digit or X",
)
CITIZEN_ID_CHECKSUM = Reason(
    "citizen_id_checksum",
    "公民身份号码校验码不正确，请逐位核对号码是否录入有误",
    "The check digit of the citizen ID number is wrong; please check the number for typos",
)
CITIZEN_ID_BIRTH_DATE = Reason(
    "citizen_id_birth_date_invalid",
    "公民身份号码中的出生日期（第7至14位）不是有效日期",
    "The birth date in the citizen ID number (characters 7 to 14) is not a real date",
)
CITIZEN_ID_REGION = Reason(
    "citizen_id_region_unknown",
    "公民身份号码前两位不是有效的省级行政区划代码",
    "The first two digits of the citizen ID number are not a known province code",
)


@dataclass(frozen=True, slots=True)
class CitizenId:
    """A checked 公民身份号码 and what it says: region, birth date, sequence and sex."""

    number: str
    region_code: str
    birth_date: date
    sequence: str
    sex: Sex


def citizen_id_check_digit(body: str) -> str:
    """Return the MOD 11-2 check character (0-9 or X) for the first 17 digits ``body``."""
    if len(body) != 17 or not body.isascii() or not body.isdigit():
        raise ValueError("the body of a citizen ID number is 17 digits")
    return str(ric.calc_check_digit(body + "0"))


def parse_citizen_id(value: str) -> CitizenId:
    """Check ``value`` (spaces trimmed, a lower-case x accepted) and return its parts.

    Raises ``InvalidIdentifier`` with code ``citizen_id_length``, ``citizen_id_format``,
    ``citizen_id_checksum``, ``citizen_id_birth_date_invalid`` or ``citizen_id_region_unknown``.
    """
    number = value.strip().upper()
    if len(number) != 18:
        raise InvalidIdentifier(CITIZEN_ID_LENGTH)
    body, check = number[:17], number[17]
    if not (body.isascii() and body.isdigit()) or check not in "0123456789X":
        raise InvalidIdentifier(CITIZEN_ID_FORMAT)
    if citizen_id_check_digit(body) != check:
        raise InvalidIdentifier(CITIZEN_ID_CHECKSUM)
    try:  # GB 11643-1999 §5.2: digits 7-14 are the birth date, YYYYMMDD
        birth = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError as e:
        raise InvalidIdentifier(CITIZEN_ID_BIRTH_DATE) from e
    if not regions.is_known(body[:2] + "0000", historical=True):
        raise InvalidIdentifier(CITIZEN_ID_REGION)
    return CitizenId(
        number=number,
        region_code=body[:6],
        birth_date=birth,
        sequence=body[14:17],
        sex="male" if int(body[16]) % 2 == 1 else "female",
    )


def is_valid_citizen_id(value: str) -> bool:
    """True if ``parse_citizen_id`` accepts ``value``."""
    try:
        parse_citizen_id(value)
    except InvalidIdentifier:
        return False
    return True


# ------------------------------------------------------------- USCC (统一社会信用代码)

USCC_LENGTH = Reason(
    "uscc_length",
    "统一社会信用代码应为18位",
    "A unified social credit code has 18 characters",
)
USCC_ALPHABET_REASON = Reason(
    "uscc_alphabet",
    "统一社会信用代码只能包含数字和大写字母（不使用 I、O、S、V、Z）",
    "A unified social credit code uses only digits and capital letters other than I, O, S, V, Z",
)
USCC_DEPARTMENT = Reason(
    "uscc_department",
    "统一社会信用代码第1位（登记管理部门代码）无效",
    "The first character of the credit code (registration department) is not a valid code",
)
USCC_ENTITY_TYPE = Reason(
    "uscc_entity_type",
    "统一社会信用代码第2位（机构类别代码）与登记管理部门不符",
    "The second character of the credit code (entity type) is not valid for its department",
)
USCC_REGION = Reason(
    "uscc_region",
    "统一社会信用代码第3至8位应为登记管理机关的行政区划代码",
    "Characters 3 to 8 of the credit code must be the registering office's region code",
)
USCC_CHECKSUM = Reason(
    "uscc_checksum",
    "统一社会信用代码校验码（第18位）不正确，请逐位核对是否录入有误",
    "The check character (the 18th) of the credit code is wrong; please check for typos",
)


@dataclass(frozen=True, slots=True)
class Uscc:
    """A checked 统一社会信用代码 and its parts (GB 32100-2015)."""

    code: str
    department: str
    entity_type: str
    region_code: str
    organization_code: str

    @property
    def department_name(self) -> str:
        """The registration department in Chinese, e.g. 工商."""
        return USCC_DEPARTMENTS[self.department][0]

    @property
    def entity_type_name(self) -> str:
        """The entity type in Chinese, e.g. 企业."""
        return USCC_DEPARTMENTS[self.department][1][self.entity_type]


def uscc_check_character(body: str) -> str:
    """Return the GB 32100 check character for the first 17 characters ``body``."""
    if len(body) != 17 or any(ch not in _USCC_VALUE for ch in body):
        raise ValueError("the body of a credit code is 17 characters of the USCC alphabet")
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(body, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[-total % 31]


def parse_uscc(value: str) -> Uscc:
    """Check ``value`` (spaces trimmed, letters upper-cased) and return its parts.

    Unlike ``stdnum.cn.uscc`` this accepts letter department codes (A, N, Y). Raises
    ``InvalidIdentifier`` with code ``uscc_length``, ``uscc_alphabet``, ``uscc_department``,
    ``uscc_entity_type``, ``uscc_region`` or ``uscc_checksum``.
    """
    code = value.strip().upper()
    if len(code) != 18:
        raise InvalidIdentifier(USCC_LENGTH)
    if any(ch not in _USCC_VALUE for ch in code):
        raise InvalidIdentifier(USCC_ALPHABET_REASON)
    department = USCC_DEPARTMENTS.get(code[0])
    if department is None:
        raise InvalidIdentifier(USCC_DEPARTMENT)
    if code[1] not in department[1]:
        raise InvalidIdentifier(USCC_ENTITY_TYPE)
    region_code = code[2:8]
    # Central-level registrations use 100000; otherwise the province must exist.
    if not region_code.isdigit() or not (
        region_code == "100000" or regions.is_known(region_code[:2] + "0000", historical=True)
    ):
        raise InvalidIdentifier(USCC_REGION)
    if uscc_check_character(code[:17]) != code[17]:
        raise InvalidIdentifier(USCC_CHECKSUM)
    return Uscc(
        code=code,
        department=code[0],
        entity_type=code[1],
        region_code=region_code,
        organization_code=code[8:17],
    )


def is_valid_uscc(value: str) -> bool:
    """True if ``parse_uscc`` accepts ``value``."""
    try:
        parse_uscc(value)
    except InvalidIdentifier:
        return False
    return True
