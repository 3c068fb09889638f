"""The credential model: build unsigned VC 2.0 credentials and check them against schema and rules.

``validate_subject`` and ``validate_credential`` return a list of ``FieldError`` (empty when all
is well), at most one per field path: a domain rule's error (e.g. ``citizen_id_checksum``) wins
over the schema's generic one for the same field. ``check_subject`` and ``check_credential``
raise ``InvalidCredential`` instead. Every code is stable; every reason is in 中文 and English.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeGuard

import orjson
from jsonschema import ValidationError as SchemaError

from verifier import regions
from verifier._time import parse_timestamp
from verifier.contexts import SUIXIN_CONTEXT, VC_V2_CONTEXT
from verifier.errors import FieldError, InvalidCredential
from verifier.identifiers import InvalidIdentifier, parse_citizen_id, parse_uscc
from verifier.licence_id import InvalidLicenceId, parse_licence_id
from verifier.messages import Reason
from verifier.schemas import CREDENTIAL_TYPES, fast_validator, schema_id, schema_validator

__all__ = [
    "BUSINESS_LICENSE",
    "CHINA_TIME",
    "CREDENTIAL_TYPES",
    "DERIVED_TYPES",
    "RESIDENCE_PERMIT",
    "RESIDENCE_YEARS",
    "VC_V2_CONTEXT",
    "VERIFIABLE_CREDENTIAL",
    "build_credential",
    "check_credential",
    "check_subject",
    "citizen_id_digest",
    "credential_type_of",
    "has_forbidden_character",
    "mask_name",
    "may_issue",
    "nfc",
    "residence_years",
    "text_errors",
    "validate_credential",
    "validate_subject",
]

VERIFIABLE_CREDENTIAL = "VerifiableCredential"
RESIDENCE_PERMIT = "ResidencePermit"
BUSINESS_LICENSE = "BusinessLicense"
RESIDENCE_YEARS = "ResidenceYears"

# A derived type and the type it is derived from. An authority accredited for the source type
# may issue the derived one (it only restates, with less personal data, what that authority
# already attests); an explicit accreditation for the derived type alone also suffices.
DERIVED_TYPES: dict[str, str] = {RESIDENCE_YEARS: RESIDENCE_PERMIT}

# Dates on Chinese documents are calendar dates in China Standard Time (UTC+8, no DST).
CHINA_TIME = timezone(timedelta(hours=8), "CST")

# Oldest birth year accepted; GB 11643 numbers were assigned from 1999 to living people.
_OLDEST_BIRTH_YEAR = 1900

# (中文, English) names of the fields, keyed by the path without list indices.
_LABELS: dict[str, tuple[str, str]] = {
    "@context": ("上下文 @context", "@context"),
    "type": ("凭证类型", "credential type"),
    "id": ("凭证编号", "credential id"),
    "licenceId": ("电子证照标识", "electronic licence identifier"),
    "issuer": ("签发方标识（DID）", "issuer DID"),
    "validFrom": ("生效时间", "valid-from time"),
    "validUntil": ("失效时间", "valid-until time"),
    "credentialSchema": ("凭证模式", "credential schema"),
    "credentialSchema.id": ("凭证模式地址", "credential schema id"),
    "credentialSchema.type": ("凭证模式类型", "credential schema type"),
    "credentialStatus": ("凭证状态项", "credential status entry"),
    "credentialStatus.id": ("凭证状态项地址", "credential status id"),
    "credentialStatus.type": ("凭证状态项类型", "credential status type"),
    "credentialSubject": ("凭证内容", "credential subject"),
    "proof": ("签名", "proof"),
    "credentialSubject.id": ("持证人标识（DID）", "holder DID"),
    "credentialSubject.sex": ("性别", "sex"),
    "credentialSubject.ethnicity": ("民族", "ethnicity"),
    "credentialSubject.birthDate": ("出生日期", "birth date"),
    "credentialSubject.citizenId": ("公民身份号码", "citizen ID number"),
    "credentialSubject.hukouAddress": ("户籍地址", "hukou address"),
    "credentialSubject.residenceAddress": ("居住地址", "residence address"),
    "credentialSubject.residenceRegion": ("居住地区划代码", "residence region code"),
    "credentialSubject.issuingAuthority": ("签发机关", "issuing authority"),
    "credentialSubject.endorsements": ("签注", "endorsements"),
    "credentialSubject.endorsements.date": ("签注日期", "endorsement date"),
    "credentialSubject.endorsements.validUntil": ("签注有效期至", "endorsement valid-until"),
    "credentialSubject.photoDigest": ("照片摘要", "photo digest"),
    "credentialSubject.residenceSince": ("连续居住起算日期", "start of continuous residence"),
    "credentialSubject.uscc": ("统一社会信用代码", "unified social credit code"),
    "credentialSubject.entityType": ("类型", "entity type"),
    "credentialSubject.legalRepresentative": ("法定代表人", "legal representative"),
    "credentialSubject.businessScope": ("经营范围", "business scope"),
    "credentialSubject.registeredCapital": ("注册资本", "registered capital"),
    "credentialSubject.establishmentDate": ("成立日期", "establishment date"),
    "credentialSubject.operatingTerm": ("营业期限", "operating term"),
    "credentialSubject.operatingTerm.from": ("营业期限自", "operating term start"),
    "credentialSubject.operatingTerm.until": ("营业期限至", "operating term end"),
    "credentialSubject.domicile": ("住所", "domicile"),
    "credentialSubject.registrationAuthority": ("登记机关", "registration authority"),
    "credentialSubject.citizenIdDigest": (
        "公民身份号码加盐摘要",
        "salted digest of the citizen ID number",
    ),
    "credentialSubject.residenceYears": ("连续居住年限", "years of continuous residence"),
    "credentialSubject.asOf": ("核定日期", "as-of date"),
    "credentialSubject.sourceCredential": ("源居住证编号", "source residence permit id"),
}

_TYPE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "ResidencePermit": {
        "credentialSubject.name": ("姓名", "name"),
        "credentialSubject.issueDate": ("签发日期", "issue date"),
    },
    "BusinessLicense": {
        "credentialSubject.name": ("名称", "entity name"),
        "credentialSubject.issueDate": ("发照日期", "issue date"),
    },
    "ResidenceYears": {
        "credentialSubject.name": ("姓名（脱敏）", "masked name"),
        "credentialSubject.issueDate": ("出具日期", "issue date"),
        "credentialSubject.issuingAuthority": ("出具机关", "issuing authority"),
    },
}

_SCHEMA_PRIORITY = {"required": 0, "type": 1, "unevaluatedProperties": 2}

_TYPE_UNKNOWN = Reason(
    "credential_type_unknown",
    "无法识别凭证类型：type 中应含 VerifiableCredential 和 ResidencePermit、BusinessLicense 或 "
    "ResidenceYears 之一",
    "Unknown credential type: type must hold VerifiableCredential and one of "
    "ResidencePermit, BusinessLicense or ResidenceYears",
)
_NOT_OBJECT = Reason(
    "credential_not_object",
    "凭证应为 JSON 对象",
    "A credential must be a JSON object",
)
_LICENCE_ID_TEXT = Reason(
    "licence_id_format",
    "电子证照标识应为不含首尾空白的字符串",
    "An electronic licence identifier is a string without surrounding spaces",
)


# ------------------------------------------------------------------------------ paths


def _join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def _path(prefix: str, parts: Iterable[str | int]) -> str:
    path = prefix
    for part in parts:
        path = _join(path, part)
    return path


def _label(parts: Iterable[str | int], *, in_subject: bool, kind: str) -> tuple[str, str]:
    keys = [p for p in parts if isinstance(p, str)]
    if in_subject:
        keys.insert(0, "credentialSubject")
    key = ".".join(keys)
    if key in _TYPE_LABELS[kind]:
        return _TYPE_LABELS[kind][key]
    if key in _LABELS:
        return _LABELS[key]
    fallback = keys[-1] if keys else "credential"
    return (fallback, fallback)


# ------------------------------------------------------------------- schema errors


def _schema_errors(
    error: SchemaError, prefix: str, *, in_subject: bool, kind: str
) -> Iterator[tuple[int, FieldError]]:
    """Turn one jsonschema error into FieldErrors with a priority (lower wins on a path)."""
    parts: list[str | int] = list(error.absolute_path)
    keyword = str(error.validator)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    priority = _SCHEMA_PRIORITY.get(keyword, 5)

    if keyword == "required" and isinstance(error.instance, Mapping):
        for name in error.validator_value:
            if name not in error.instance:
                zh, en = _label([*parts, name], in_subject=in_subject, kind=kind)
                yield (
                    priority,
                    FieldError(
                        _path(prefix, [*parts, name]),
                        "field_required",
                        f"缺少必填项：{zh}",
                        f"The {en} is required",
                    ),
                )
        return
    if keyword in ("unevaluatedProperties", "additionalProperties") and isinstance(
        error.instance, Mapping
    ):
        known = schema.get("properties", {})
        for name in error.instance:
            if name not in known:
                yield (
                    priority,
                    FieldError(
                        _path(prefix, [*parts, name]),
                        "field_unexpected",
                        f"不允许的字段“{name}”，请删除",
                        f"The field {name!r} is not allowed here; remove it",
                    ),
                )
        return

    path = _path(prefix, parts)
    zh, en = _label(parts, in_subject=in_subject, kind=kind)
    fmt = schema.get("format")
    if keyword in ("format", "pattern") and fmt == "date":
        yield (
            3,
            FieldError(
                path,
                "field_date_invalid",
                f"{zh}不是有效日期，应写作“年-月-日”（如 2026-03-07）",
                f"The {en} is not a valid date; write it as YYYY-MM-DD (e.g. 2026-03-07)",
            ),
        )
    elif keyword in ("format", "pattern") and fmt == "date-time":
        yield (
            3,
            FieldError(
                path,
                "field_datetime_invalid",
                f"{zh}不是有效时间，应含时区，如 2026-11-21T00:00:00Z",
                f"The {en} is not a valid time with time zone, e.g. 2026-11-21T00:00:00Z",
            ),
        )
    elif keyword == "type":
        yield (
            priority,
            FieldError(
                path,
                "field_type",
                f"{zh}的数据类型不正确",
                f"The {en} has the wrong kind of value (expected {error.validator_value})",
            ),
        )
    elif keyword in ("minLength",) or (keyword == "pattern" and error.validator_value == r"\S"):
        yield 3, FieldError(path, "field_empty", f"{zh}不能为空", f"The {en} must not be empty")
    elif keyword == "maxLength":
        yield (
            3,
            FieldError(
                path,
                "field_too_long",
                f"{zh}过长，最多 {error.validator_value} 个字",
                f"The {en} is too long (at most {error.validator_value} characters)",
            ),
        )
    elif keyword == "contains" and parts == ["type"]:
        yield 3, FieldError(path, _TYPE_UNKNOWN.code, _TYPE_UNKNOWN.zh, _TYPE_UNKNOWN.en)
    elif keyword == "const" and parts == ["@context", 0]:
        yield (
            3,
            FieldError(
                path,
                "context_invalid",
                f"@context 第一项应为 {VC_V2_CONTEXT}（W3C 可验证凭证 2.0）",
                f"The first @context entry must be {VC_V2_CONTEXT} (W3C VC Data Model 2.0)",
            ),
        )
    elif keyword == "const" and parts == ["credentialSchema", "id"]:
        yield (
            3,
            FieldError(
                path,
                "schema_id_mismatch",
                f"凭证模式地址应为 {error.validator_value}",
                f"The credential schema id must be {error.validator_value}",
            ),
        )
    elif keyword in ("enum", "const"):
        allowed = error.validator_value if keyword == "enum" else [error.validator_value]
        shown = "、".join(str(v) for v in allowed)
        yield (
            3,
            FieldError(
                path,
                "field_value_not_allowed",
                f"{zh}的取值不正确，可选：{shown}",
                f"The {en} must be one of: {', '.join(str(v) for v in allowed)}",
            ),
        )
    elif keyword == "pattern":
        yield (
            3,
            FieldError(
                path,
                "field_pattern",
                f"{zh}的格式不正确",
                f"The {en} is not in the expected format ({error.validator_value})",
            ),
        )
    else:
        yield (
            priority,
            FieldError(
                path,
                "field_invalid",
                f"{zh}不符合要求",
                f"The {en} is not valid: {error.message}",
            ),
        )


def _run_schema(
    credential_type: str, part: str, instance: object, prefix: str, *, in_subject: bool
) -> list[tuple[int, FieldError]]:
    try:
        if fast_validator(credential_type, part).is_valid(instance):
            return []
    except UnicodeEncodeError:
        # a lone surrogate somewhere: the compiled validator cannot take it as text
        return [(0, e) for e in text_errors(instance, prefix)] or [
            (0, _err(prefix, _TEXT_FORBIDDEN))
        ]
    out: list[tuple[int, FieldError]] = []
    for error in schema_validator(credential_type, part).iter_errors(instance):
        out.extend(_schema_errors(error, prefix, in_subject=in_subject, kind=credential_type))
    return out


def _merge(domain: list[FieldError], schema: list[tuple[int, FieldError]]) -> list[FieldError]:
    """One error per path: domain errors first, then the highest-priority schema error."""
    if not schema:
        return _dedupe_paths(domain) if domain else domain
    domain = _dedupe_paths(domain)
    taken = {e.path for e in domain}
    best: dict[str, tuple[int, FieldError]] = {}
    for priority, error in schema:
        if error.path in taken:
            continue
        if error.path not in best or priority < best[error.path][0]:
            best[error.path] = (priority, error)
    merged = list(domain)
    seen = set(taken)
    for _, error in sorted(best.values(), key=lambda pe: pe[0]):
        if error.path not in seen:
            merged.append(error)
            seen.add(error.path)
    return merged


# --------------------------------------------------------------------- domain rules


_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_REGION_TEXT = re.compile(r"\d{6}", re.ASCII)


def _date(value: object) -> date | None:
    if not isinstance(value, str) or not _DATE_TEXT.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _datetime(value: object) -> datetime | None:
    return parse_timestamp(value)


_DATETIME_OUT_OF_RANGE = Reason(
    "field_datetime_out_of_range",
    "时间超出可接受的范围（1900–2999 年）",
    "The time lies outside the years 1900-2999",
)


def _out_of_range(value: object) -> bool:
    """Whether ``value`` is a well-formed date-time with an offset that lies outside the
    years a credential may name (see ``verifier._time``)."""
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _err(path: str, reason: Reason) -> FieldError:
    return FieldError(path, reason.code, reason.zh, reason.en)


def _in_future(path: str, zh: str, en: str, value: date, today: date) -> FieldError:
    return FieldError(
        path,
        "date_in_future",
        f"{zh}（{value.isoformat()}）晚于今天（{today.isoformat()}），请核对",
        f"The {en} ({value.isoformat()}) is after today ({today.isoformat()}); please check it",
    )


def _inconsistent(path: str, zh: str, en: str) -> FieldError:
    return FieldError(path, "dates_inconsistent", zh, en)


def _region_rule(
    subject: Mapping[str, Any], at: str, authority_region: str | None
) -> list[FieldError]:
    """``residenceRegion`` is a code in force, inside the authority's region when given."""
    region = subject.get("residenceRegion")
    if not isinstance(region, str) or not _REGION_TEXT.fullmatch(region):
        return []  # the schema says what is wrong with it
    if not regions.is_known(region):
        return [
            FieldError(
                _join(at, "residenceRegion"),
                "region_unknown",
                f"居住地区划代码 {region} 不是现行有效的行政区划代码（GB/T 2260）",
                f"The residence region {region} is not a GB/T 2260 code in force",
            )
        ]
    if authority_region is not None and not regions.contains(authority_region, region):
        return [
            FieldError(
                _join(at, "residenceRegion"),
                "region_outside_authority",
                f"居住地“{regions.region_name(region)}”（{region}）不在签发机关辖区"
                f"“{_region_label(authority_region)}”（{authority_region}）内",
                f"The residence region {region} lies outside the issuing authority's "
                f"region {authority_region}",
            )
        ]
    return []


def _permit_rules(
    subject: Mapping[str, Any], at: str, authority_region: str | None, today: date
) -> list[FieldError]:
    errors: list[FieldError] = []
    birth = _date(subject.get("birthDate"))
    issue = _date(subject.get("issueDate"))

    raw_id = subject.get("citizenId")
    if isinstance(raw_id, str):
        try:
            citizen = parse_citizen_id(raw_id)
        except InvalidIdentifier as e:
            errors.append(_err(_join(at, "citizenId"), e.reason))
        else:
            if citizen.number != raw_id:
                errors.append(
                    FieldError(
                        _join(at, "citizenId"),
                        "citizen_id_format",
                        "公民身份号码不应含空格，末位字母应为大写 X",
                        "The citizen ID number must have no spaces and a capital X",
                    )
                )
            if birth is not None and birth != citizen.birth_date:
                errors.append(
                    FieldError(
                        _join(at, "birthDate"),
                        "citizen_id_birth_date_mismatch",
                        f"出生日期与公民身份号码中的出生日期（{citizen.birth_date.isoformat()}）"
                        "不一致，请核对",
                        "The birth date differs from the one in the citizen ID number "
                        f"({citizen.birth_date.isoformat()}); please check both",
                    )
                )
            sex = subject.get("sex")
            if sex in ("male", "female") and sex != citizen.sex:
                id_zh = "男" if citizen.sex == "male" else "女"
                errors.append(
                    FieldError(
                        _join(at, "sex"),
                        "citizen_id_sex_mismatch",
                        f"性别与公民身份号码不符（号码第17位表示“{id_zh}”），请核对",
                        f"The sex differs from the citizen ID number (its 17th digit means "
                        f"{citizen.sex}); please check both",
                    )
                )

    errors += _region_rule(subject, at, authority_region)

    if birth is not None:
        if birth > today:
            errors.append(
                _in_future(_join(at, "birthDate"), "出生日期", "birth date", birth, today)
            )
        elif birth.year < _OLDEST_BIRTH_YEAR:
            errors.append(
                FieldError(
                    _join(at, "birthDate"),
                    "birth_date_implausible",
                    f"出生日期 {birth.isoformat()} 不合理（早于 {_OLDEST_BIRTH_YEAR} 年），请核对",
                    f"The birth date {birth.isoformat()} is implausible (before "
                    f"{_OLDEST_BIRTH_YEAR}); please check it",
                )
            )
        elif issue is not None and birth > issue:
            errors.append(
                _inconsistent(
                    _join(at, "birthDate"),
                    "出生日期晚于签发日期",
                    "The birth date is after the issue date",
                )
            )
    if issue is not None and issue > today:
        errors.append(_in_future(_join(at, "issueDate"), "签发日期", "issue date", issue, today))

    endorsements = subject.get("endorsements")
    if isinstance(endorsements, list):
        for i, item in enumerate(endorsements):
            if not isinstance(item, Mapping):
                continue
            here = _join(_join(at, "endorsements"), i)
            when, until = _date(item.get("date")), _date(item.get("validUntil"))
            if when is not None and issue is not None and when < issue:
                errors.append(
                    _inconsistent(
                        _join(here, "date"),
                        "签注日期早于居住证签发日期",
                        "The endorsement date is before the permit's issue date",
                    )
                )
            elif when is not None and when > today:
                errors.append(
                    _in_future(_join(here, "date"), "签注日期", "endorsement date", when, today)
                )
            if when is not None and until is not None and until <= when:
                errors.append(
                    _inconsistent(
                        _join(here, "validUntil"),
                        "签注有效期至应晚于签注日期",
                        "An endorsement must be valid until a date after it was made",
                    )
                )

    # A late endorsement or a move to another city restarts the count after the issue date,
    # so the start may follow issueDate; it may not precede birth nor lie in the future (and
    # validate_credential keeps it no later than the start of the current term).
    since = _date(subject.get("residenceSince"))
    if since is not None:
        if since > today:
            errors.append(
                _in_future(
                    _join(at, "residenceSince"), "连续居住起算日期", "start of continuous "
                    "residence", since, today,
                )
            )  # fmt: skip
        elif birth is not None and birth <= today and since < birth:
            errors.append(
                _inconsistent(
                    _join(at, "residenceSince"),
                    "连续居住起算日期早于出生日期",
                    "The start of continuous residence is before the birth date",
                )
            )
    return errors


def _license_rules(subject: Mapping[str, Any], at: str, today: date) -> list[FieldError]:
    errors: list[FieldError] = []
    raw = subject.get("uscc")
    if isinstance(raw, str):
        try:
            code = parse_uscc(raw)
        except InvalidIdentifier as e:
            errors.append(_err(_join(at, "uscc"), e.reason))
        else:
            if code.code != raw:
                errors.append(
                    FieldError(
                        _join(at, "uscc"),
                        "uscc_alphabet",
                        "统一社会信用代码应使用大写字母且不含空格",
                        "The unified social credit code must be in capitals with no spaces",
                    )
                )

    established = _date(subject.get("establishmentDate"))
    issue = _date(subject.get("issueDate"))
    term = subject.get("operatingTerm")
    term_from = _date(term.get("from")) if isinstance(term, Mapping) else None
    term_until = _date(term.get("until")) if isinstance(term, Mapping) else None

    if established is not None:
        if established > today:
            errors.append(
                _in_future(
                    _join(at, "establishmentDate"), "成立日期", "establishment date",
                    established, today,
                )
            )  # fmt: skip
        elif issue is not None and established > issue:
            errors.append(
                _inconsistent(
                    _join(at, "establishmentDate"),
                    "成立日期晚于发照日期",
                    "The establishment date is after the licence's issue date",
                )
            )
    if issue is not None and issue > today:
        errors.append(_in_future(_join(at, "issueDate"), "发照日期", "issue date", issue, today))
    term_at = _join(at, "operatingTerm")
    if term_from is not None and established is not None and term_from < established:
        errors.append(
            _inconsistent(
                _join(term_at, "from"),
                "营业期限起始日早于成立日期",
                "The operating term starts before the establishment date",
            )
        )
    if term_from is not None and term_until is not None and term_until < term_from:
        errors.append(
            _inconsistent(
                _join(term_at, "until"),
                "营业期限截止日早于起始日（长期请留空）",
                "The operating term ends before it starts (leave it empty for no end, 长期)",
            )
        )
    return errors


def _years_rules(
    subject: Mapping[str, Any], at: str, authority_region: str | None, today: date
) -> list[FieldError]:
    """居住年限证明: the region, and a count of years that follows from its own dates."""
    errors = _region_rule(subject, at, authority_region)
    since = _date(subject.get("residenceSince"))
    as_of = _date(subject.get("asOf"))
    issue = _date(subject.get("issueDate"))
    if as_of is not None and as_of > today:
        errors.append(_in_future(_join(at, "asOf"), "核定日期", "as-of date", as_of, today))
    elif as_of is not None and issue is not None and as_of > issue:
        errors.append(
            _inconsistent(
                _join(at, "asOf"),
                "核定日期晚于出具日期",
                "The as-of date is after the issue date",
            )
        )
    if issue is not None and issue > today:
        errors.append(_in_future(_join(at, "issueDate"), "出具日期", "issue date", issue, today))
    if since is not None and as_of is not None:
        if since > as_of:
            errors.append(
                _inconsistent(
                    _join(at, "residenceSince"),
                    "连续居住起算日期晚于核定日期",
                    "The start of continuous residence is after the as-of date",
                )
            )
        else:
            stated = subject.get("residenceYears")
            counted = residence_years(subject, as_of)
            if isinstance(stated, int) and not isinstance(stated, bool) and stated != counted:
                errors.append(
                    FieldError(
                        _join(at, "residenceYears"),
                        "residence_years_mismatch",
                        f"连续居住年限 {stated} 年与起算日期 {since.isoformat()} 至核定日期 "
                        f"{as_of.isoformat()} 不符（应为 {counted} 年）",
                        f"{stated} years of residence do not follow from {since.isoformat()} "
                        f"to {as_of.isoformat()} ({counted} full years)",
                    )
                )
    return errors


def _region_label(code: str) -> str:
    try:
        return regions.region_name(code)
    except KeyError:
        return code


def _authority(authority_region: int | str | None) -> str | None:
    return None if authority_region is None else regions.normalize_region_code(authority_region)


def _domain_rules(
    credential_type: str,
    subject: Mapping[str, Any],
    at: str,
    authority_region: str | None,
    today: date,
) -> list[FieldError]:
    text = text_errors(subject, at)
    if credential_type == RESIDENCE_PERMIT:
        return text + _permit_rules(subject, at, authority_region, today)
    if credential_type == RESIDENCE_YEARS:
        return text + _years_rules(subject, at, authority_region, today)
    return text + _license_rules(subject, at, today)


# Characters no field of a credential may hold: C0 and C1 controls (NUL …), the Unicode
# bidirectional controls that make text display otherwise than it reads (U+202E right-to-left
# override …), zero-width characters that make two equal-looking names differ, and lone
# UTF-16 surrogates (no text at all). One rule for the office, which refuses them before
# signing, and for every verifier.
_FORBIDDEN_TEXT = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\ud800-\udfff]"
)
_TEXT_FORBIDDEN = Reason(
    "text_forbidden_character",
    "含有不允许的字符（控制字符、双向文字控制符、零宽字符或不成对的代理码位），请删除",
    "Holds a character no field may hold (a control, bidirectional-text control, zero-width "
    "character or lone surrogate); remove it",
)
_TEXT_NOT_NFC = Reason(
    "text_not_nfc",
    "文字未按 Unicode NFC 规范化（签发机关应在签名前规范化）",
    "The text is not in Unicode NFC (the issuer normalises it before signing)",
)


def has_forbidden_character(text: str) -> bool:
    """Whether ``text`` holds a character no field may hold (``text_forbidden_character``):
    a control, a bidirectional-text control, a zero-width character or a lone surrogate."""
    return _FORBIDDEN_TEXT.search(text) is not None


# What orjson writes for a control character below U+0020 (every other character as itself).
# An escaped backslash followed by a letter matches too: a false alarm the full walk then clears.
_ESCAPED_CONTROL = re.compile(r"\\(?:[bfnrt]|u00[01][0-9a-fA-F])")


def _text_clean(value: object) -> bool:
    """Whether every string and key in ``value`` is free of forbidden characters and in NFC:
    the common case, answered from one JSON rendering by orjson (compiled) and no path built.
    Each string sits between quotation marks, a starter nothing composes with, so the rendering
    is NFC exactly when every string is."""
    try:
        text = orjson.dumps(value).decode("utf-8")
    except TypeError:
        # not plain JSON data, or a lone surrogate (orjson refuses it): the full walk decides
        return False
    if _FORBIDDEN_TEXT.search(text) or _ESCAPED_CONTROL.search(text):
        return False
    return text.isascii() or unicodedata.is_normalized("NFC", text)


def text_errors(value: object, at: str) -> list[FieldError]:
    """Every string in ``value`` (a subject, recursively) that holds a forbidden character
    (``_FORBIDDEN_TEXT``) or is not in Unicode NFC, as field errors under ``at``."""
    if _text_clean(value):
        return []
    return _text_errors(value, at)


def _text_errors(value: object, at: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if isinstance(value, str):
        if _FORBIDDEN_TEXT.search(value):
            errors.append(_err(at, _TEXT_FORBIDDEN))
        elif not value.isascii() and not unicodedata.is_normalized("NFC", value):
            errors.append(_err(at, _TEXT_NOT_NFC))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = _FORBIDDEN_TEXT.sub("\ufffd", str(key))
            child = f"{at}.{name}" if at else name
            if name != str(key):
                errors.append(_err(child, _TEXT_FORBIDDEN))
            errors += _text_errors(item, child)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            errors += _text_errors(item, f"{at}[{i}]")
    return errors


def nfc(value: Any) -> Any:
    """``value`` (a subject from a request) with every string in Unicode NFC."""
    if isinstance(value, str):
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        return {nfc(k): nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nfc(v) for v in value]
    return value


# ------------------------------------------------------------------------ public API


def validate_subject(
    credential_type: str,
    subject: object,
    *,
    authority_region: int | str | None = None,
    today: date | None = None,
    prefix: str = "",
) -> list[FieldError]:
    """Check a subject as an issuance request gives it; return its errors (empty if valid).

    The fields the issuer adds (issuingAuthority, issueDate, endorsements) may be absent, and
    are checked when present. Paths are relative to the subject, after ``prefix`` (give
    ``"subject"`` to get ``subject.citizenId``). ``today`` defaults to today in China time.
    Raises ``ValueError`` for an unknown type or a malformed ``authority_region``.
    """
    schema_id(credential_type)
    authority = _authority(authority_region)
    today = today or datetime.now(CHINA_TIME).date()
    schema = _run_schema(credential_type, "subject", subject, prefix, in_subject=True)
    domain = (
        _domain_rules(credential_type, subject, prefix, authority, today)
        if isinstance(subject, Mapping)
        else []
    )
    return _merge(domain, schema)


def credential_type_of(credential: Mapping[str, Any]) -> str | None:
    """Return the Suixin type named in the credential's ``type`` (exactly one), else None."""
    types = credential.get("type")
    if not isinstance(types, list):
        return None
    found = [t for t in CREDENTIAL_TYPES if t in types]
    return found[0] if len(found) == 1 else None


def validate_credential(
    credential: object,
    *,
    authority_region: int | str | None = None,
    now: datetime | None = None,
) -> list[FieldError]:
    """Check a whole credential (signed or not) against its type's schema and the domain rules.

    Returns the errors, empty if valid. ``now`` (timezone-aware, default the current time)
    decides which dates lie in the future. It does not check the proof, the issuer or whether
    the credential is currently within its validity period: those are verification checks.
    Raises ``ValueError`` for a malformed ``authority_region`` or a naive ``now``.
    """
    authority = _authority(authority_region)
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = (now or datetime.now(UTC)).astimezone(CHINA_TIME).date()
    if not _is_mapping(credential):
        return [_err("", _NOT_OBJECT)]
    credential_type = credential_type_of(credential)
    if credential_type is None:
        return [_err("type", _TYPE_UNKNOWN)]

    schema = _run_schema(credential_type, "", credential, "", in_subject=False)
    domain: list[FieldError] = []
    subject = credential.get("credentialSubject")
    subject_map = subject if _is_mapping(subject) else None
    if subject_map is not None:
        domain += _domain_rules(credential_type, subject_map, "credentialSubject", authority, today)

    valid_from = _datetime(credential.get("validFrom"))
    valid_until = _datetime(credential.get("validUntil"))
    for name, parsed in (("validFrom", valid_from), ("validUntil", valid_until)):
        if parsed is None and _out_of_range(credential.get(name)):
            domain.append(_err(name, _DATETIME_OUT_OF_RANGE))
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        domain.append(
            _inconsistent(
                "validUntil",
                "失效时间应晚于生效时间",
                "The credential must become invalid after it becomes valid",
            )
        )
    issue = _date(subject_map.get("issueDate")) if subject_map is not None else None
    start = valid_from.astimezone(CHINA_TIME).date() if valid_from is not None else None
    if issue is not None and start is not None and issue > start:
        domain.append(
            _inconsistent(
                "credentialSubject.issueDate",
                "签发日期晚于凭证生效时间",
                "The issue date is after the time the credential becomes valid",
            )
        )
    licence = credential.get("licenceId")
    if licence is not None:
        try:
            if not isinstance(licence, str) or licence != licence.strip():
                raise InvalidLicenceId(_LICENCE_ID_TEXT, "identifier")
            parse_licence_id(licence)
        except InvalidLicenceId as e:
            domain.append(_err("licenceId", e.reason))
    # (a start no later than the issue date is covered by the issue date's own rule above)
    since = _date(subject_map.get("residenceSince")) if subject_map is not None else None
    if (
        since is not None
        and start is not None
        and (issue is None or since > issue)
        and since > start
    ):
        domain.append(
            _inconsistent(
                "credentialSubject.residenceSince",
                "连续居住起算日期晚于凭证生效时间",
                "The start of continuous residence is after the time the credential becomes valid",
            )
        )
    return _merge(domain, schema)


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, a plain dict answered without the ABC's check."""
    return type(value) is dict or isinstance(value, Mapping)


def _dedupe_paths(errors: list[FieldError]) -> list[FieldError]:
    seen: set[str] = set()
    out = []
    for error in errors:
        if error.path not in seen:
            seen.add(error.path)
            out.append(error)
    return out


def check_subject(
    credential_type: str,
    subject: object,
    *,
    authority_region: int | str | None = None,
    today: date | None = None,
    prefix: str = "",
) -> None:
    """Like ``validate_subject``, but raise ``InvalidCredential`` carrying the errors."""
    errors = validate_subject(
        credential_type, subject, authority_region=authority_region, today=today, prefix=prefix
    )
    if errors:
        raise InvalidCredential(errors)


def check_credential(
    credential: object,
    *,
    authority_region: int | str | None = None,
    now: datetime | None = None,
) -> None:
    """Like ``validate_credential``, but raise ``InvalidCredential`` carrying the errors."""
    errors = validate_credential(credential, authority_region=authority_region, now=now)
    if errors:
        raise InvalidCredential(errors)


def _timestamp(value: datetime, name: str) -> str:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    text = value.replace(microsecond=0).isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _urn_uuid(credential_id: str | uuid.UUID) -> str:
    if isinstance(credential_id, uuid.UUID):
        return credential_id.urn
    text = credential_id.removeprefix("urn:uuid:")
    return uuid.UUID(text).urn  # raises ValueError when it is not a UUID


def build_credential(
    credential_type: str,
    subject: Mapping[str, Any],
    *,
    credential_id: str | uuid.UUID,
    issuer_did: str,
    authority_name: str,
    issue_date: date,
    valid_from: datetime,
    valid_until: datetime,
    status: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    licence_id: str | None = None,
) -> dict[str, Any]:
    """Return the unsigned VC 2.0 credential for ``subject`` as DESIGN.md §3 lays it out.

    Its ``@context`` is the VC 2.0 context, then the Suixin context that defines every Suixin
    type and field (``verifier.contexts``), so JSON-LD processors read all of it. Credentials
    signed before the Suixin context existed carry only the first and stay verifiable.

    Adds the issuer's fields to a copy of the subject: ``issueDate``, and for a residence
    permit ``issuingAuthority`` (= ``authority_name``), ``endorsements`` (kept if given, else
    empty) and ``residenceSince`` (kept if given, else the issue date: the start of the count
    of continuous residence years); a residence-years credential gets ``issuingAuthority``
    too; a licence keeps its ``registrationAuthority``. ``licence_id``, the national electronic
    licence identifier (``verifier.licence_id.licence_id_for``), becomes ``licenceId`` beside
    ``id``. ``status`` is one entry (the chain status slot) or several (that slot, then the
    issuer's Bitstring status list entries). It does not
    validate the result (use ``check_credential``); it raises ``ValueError`` for an unknown
    type, a credential id that is not a UUID, or a naive datetime.
    """
    schema = schema_id(credential_type)
    body = dict(subject)
    if credential_type in (RESIDENCE_PERMIT, RESIDENCE_YEARS):
        body["issuingAuthority"] = authority_name
    body["issueDate"] = issue_date.isoformat()
    if credential_type == RESIDENCE_PERMIT:
        body["endorsements"] = [dict(e) for e in body.get("endorsements") or []]
        body.setdefault("residenceSince", issue_date.isoformat())
    return {
        "@context": [VC_V2_CONTEXT, SUIXIN_CONTEXT],
        "id": _urn_uuid(credential_id),
        **({"licenceId": licence_id} if licence_id is not None else {}),
        "type": [VERIFIABLE_CREDENTIAL, credential_type],
        "issuer": issuer_did,
        "validFrom": _timestamp(valid_from, "valid_from"),
        "validUntil": _timestamp(valid_until, "valid_until"),
        "credentialSubject": body,
        "credentialSchema": {"id": schema, "type": "JsonSchema"},
        "credentialStatus": (
            dict(status) if isinstance(status, Mapping) else [dict(e) for e in status]
        ),
    }


def residence_years(subject: Mapping[str, Any], on: date) -> int:
    """Whole years of continuous residence a permit's subject shows on the day ``on``.

    Counted from ``residenceSince`` (连续居住起算日期): a year is complete on its anniversary
    (29 February counts as 28 February in other years). 0 when the subject has no valid
    ``residenceSince`` or ``on`` precedes it. Whether the permit is in force on that day (not
    suspended, endorsed in time) is the verifier's ``status`` and ``validity_period`` checks'
    business, not this count's.
    """
    since = _date(subject.get("residenceSince"))
    if since is None or on < since:
        return 0
    years = on.year - since.year
    try:
        anniversary = since.replace(year=on.year)
    except ValueError:  # 29 February in a common year: the month's last day
        anniversary = date(on.year, 2, 28)
    return years - 1 if on < anniversary else years


def may_issue(credential_type: str, accredited_types: Iterable[str]) -> bool:
    """True if an authority accredited for ``accredited_types`` may issue ``credential_type``:
    it is one of them, or is derived (``DERIVED_TYPES``) from one of them."""
    accredited = set(accredited_types)
    source = DERIVED_TYPES.get(credential_type)
    return credential_type in accredited or (source is not None and source in accredited)


def mask_name(name: str) -> str:
    """A name as a residence-years credential shows it: the first character, then one ``*``
    for each other character (张三 → 张*, 欧阳娜娜 → 欧***); ``ValueError`` for an empty name."""
    text = name.strip()
    if not text:
        raise ValueError("a name to mask must not be empty")
    return text[0] + "*" * max(len(text) - 1, 1)


def citizen_id_digest(citizen_id: str, salt: bytes) -> str:
    """``sha256:`` + hex SHA-256 of ``salt`` ‖ the citizen ID number (ASCII), as a
    residence-years credential's ``citizenIdDigest``.

    A counter that is shown the holder's ID card and salt recomputes it to tie the credential
    to the person; without the salt the digest reveals nothing (an 18-character number is
    guessable, so the salt, at least 16 random bytes, never travels with the credential).
    Raises ``ValueError`` for a salt shorter than 16 bytes.
    """
    if len(salt) < 16:
        raise ValueError("the salt must be at least 16 bytes")
    return "sha256:" + hashlib.sha256(salt + citizen_id.encode("ascii")).hexdigest()
