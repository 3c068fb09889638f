"""Tests for verifier/credential.py: building credentials and their field-level rules."""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.verifier.factories import (
    NOW,
    business_license,
    business_license_subject,
    make_citizen_id,
    make_uscc,
    residence_permit,
    residence_permit_subject,
)
from verifier.contexts import SUIXIN_CONTEXT
from verifier.credential import (
    BUSINESS_LICENSE,
    CHINA_TIME,
    RESIDENCE_PERMIT,
    VC_V2_CONTEXT,
    build_credential,
    check_credential,
    check_subject,
    credential_type_of,
    validate_credential,
    validate_subject,
)
from verifier.errors import FieldError, InvalidCredential
from verifier.identifiers import citizen_id_check_digit

Mutation = Callable[[dict[str, Any]], None]


def _citizen_id_ending_in_x(sequence_parity: int) -> str:
    for sequence in range(sequence_parity, 1000, 2):
        body = f"430104{date(1990, 3, 7):%Y%m%d}{sequence:03d}"
        if citizen_id_check_digit(body) == "X":
            return body + "X"
    raise AssertionError("no X check digit found")  # pragma: no cover


def _subject(**changes: Any) -> Mutation:
    def mutate(credential: dict[str, Any]) -> None:
        credential["credentialSubject"].update(changes)

    return mutate


def _envelope(**changes: Any) -> Mutation:
    def mutate(credential: dict[str, Any]) -> None:
        credential.update(changes)

    return mutate


def _delete(field: str) -> Mutation:
    def mutate(credential: dict[str, Any]) -> None:
        del credential["credentialSubject"][field]

    return mutate


def _person(birth: date, sequence: int = 123) -> Mutation:
    return _subject(
        citizenId=make_citizen_id("430104", birth, sequence),
        birthDate=birth.isoformat(),
        sex="male" if sequence % 2 else "female",
    )


def _only(errors: list[FieldError]) -> FieldError:
    assert len(errors) == 1, errors
    error = errors[0]
    assert error.zh.strip() and error.en.strip()
    assert error.zh != error.en
    return error


def _one_error(credential: dict[str, Any], **kwargs: Any) -> FieldError:
    return _only(validate_credential(credential, now=NOW, **kwargs))


# ---------------------------------------------------------------------------- valid ones


@pytest.mark.parametrize("seed", range(5))
def test_valid_permit_and_licence_pass(seed: int) -> None:
    assert validate_credential(residence_permit(random.Random(seed)), now=NOW) == []
    assert validate_credential(business_license(random.Random(seed)), now=NOW) == []
    assert (
        validate_credential(
            residence_permit(random.Random(seed)), authority_region="440100", now=NOW
        )
        == []
    )


def test_design_sample_subjects_pass() -> None:
    permit = residence_permit(
        name="张三", sex="male", birthDate="1990-03-07", citizenId="440106199003071231",
        residenceRegion="440106",
    )  # fmt: skip
    assert validate_credential(permit, authority_region=440100, now=NOW) == []
    licence = business_license(uscc="91440106MA59C2K45Y")
    assert validate_credential(licence, now=NOW) == []


@settings(max_examples=50, deadline=None)
@given(st.randoms(use_true_random=False))
def test_every_factory_subject_is_valid(rng: random.Random) -> None:
    assert validate_subject(RESIDENCE_PERMIT, residence_permit_subject(rng)) == []
    assert validate_subject(BUSINESS_LICENSE, business_license_subject(rng)) == []


# ---------------------------------------------------------------- residence permits


PERMIT_CASES: list[tuple[str, Mutation, str, str]] = [
    ("checksum", _subject(citizenId="440106199003071232"),
     "credentialSubject.citizenId", "citizen_id_checksum"),
    ("length", _subject(citizenId="4401061990030712"),
     "credentialSubject.citizenId", "citizen_id_length"),
    ("lower-case x", _subject(citizenId=_citizen_id_ending_in_x(1).lower(),
                              birthDate="1990-03-07", sex="male"),
     "credentialSubject.citizenId", "citizen_id_format"),
    ("birth date differs", _subject(citizenId="440106199003071231", birthDate="1990-03-08",
                                    sex="male"),
     "credentialSubject.birthDate", "citizen_id_birth_date_mismatch"),
    ("sex differs", _subject(citizenId="440106199003071231", birthDate="1990-03-07",
                             sex="female"),
     "credentialSubject.sex", "citizen_id_sex_mismatch"),
    ("unknown region", _subject(residenceRegion="449999"),
     "credentialSubject.residenceRegion", "region_unknown"),
    ("abolished region", _subject(residenceRegion="440102"),
     "credentialSubject.residenceRegion", "region_unknown"),
    ("born in the future", _person(date(2027, 1, 1)),
     "credentialSubject.birthDate", "date_in_future"),
    ("born in 1890", _person(date(1890, 1, 1)),
     "credentialSubject.birthDate", "birth_date_implausible"),
    ("ends before it starts", _envelope(validUntil="2026-11-20T23:59:59Z"),
     "validUntil", "dates_inconsistent"),
    ("ends when it starts", _envelope(validUntil="2026-11-21T08:00:00+08:00"),
     "validUntil", "dates_inconsistent"),
    ("issued after valid from", _envelope(validFrom="2026-11-19T16:00:00Z"),
     "credentialSubject.issueDate", "dates_inconsistent"),
    ("endorsement ends before it was made",
     _subject(endorsements=[{"date": "2026-11-22", "validUntil": "2026-11-01"}]),
     "credentialSubject.endorsements[0].validUntil", "dates_inconsistent"),
    ("endorsement before issue",
     _subject(endorsements=[{"date": "2026-11-01", "validUntil": "2027-11-01"}]),
     "credentialSubject.endorsements[0].date", "dates_inconsistent"),
    ("name missing", _delete("name"), "credentialSubject.name", "field_required"),
    ("issuer field missing", _delete("issuingAuthority"),
     "credentialSubject.issuingAuthority", "field_required"),
    ("sex not in enum", _subject(sex="男"), "credentialSubject.sex", "field_value_not_allowed"),
    ("impossible birth date", _subject(birthDate="1990-02-30"),
     "credentialSubject.birthDate", "field_date_invalid"),
    ("blank address", _subject(hukouAddress="   "),
     "credentialSubject.hukouAddress", "field_empty"),
    ("address too long", _subject(residenceAddress="广" * 201),
     "credentialSubject.residenceAddress", "field_too_long"),
    ("region not six digits", _subject(residenceRegion=440106),
     "credentialSubject.residenceRegion", "field_type"),
    ("extra field", _subject(nickname="小张"), "credentialSubject.nickname", "field_unexpected"),
    ("valid from without zone", _envelope(validFrom="2026-11-21T00:00:00"),
     "validFrom", "field_datetime_invalid"),
    ("old context", _envelope(**{"@context": ["https://www.w3.org/2018/credentials/v1"]}),
     "@context[0]", "context_invalid"),
    ("foreign schema", _envelope(credentialSchema={"id": "https://example.com/s.json",
                                                   "type": "JsonSchema"}),
     "credentialSchema.id", "schema_id_mismatch"),
    ("id not a urn", _envelope(id="12345"), "id", "field_pattern"),
    ("issuer not a DID", _envelope(issuer="广州市来穗局"), "issuer", "field_pattern"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "path", "code"),
    [pytest.param(m, p, c, id=name) for name, m, p, c in PERMIT_CASES],
)
def test_broken_permit_rule(mutate: Mutation, path: str, code: str) -> None:
    credential = residence_permit()
    mutate(credential)
    error = _one_error(credential)
    assert (error.path, error.code) == (path, code)


def test_residence_outside_the_authority() -> None:
    credential = residence_permit(residenceRegion="440303")  # 罗湖区, Shenzhen
    error = _one_error(credential, authority_region=440100)
    assert (error.path, error.code) == ("credentialSubject.residenceRegion",
                                        "region_outside_authority")  # fmt: skip
    assert "罗湖区" in error.zh and "广州市" in error.zh
    # The same permit is fine for a province-wide authority, and without an authority.
    assert validate_credential(credential, authority_region="440000", now=NOW) == []
    assert validate_credential(credential, now=NOW) == []


def test_mismatch_reasons_name_what_the_id_says() -> None:
    credential = residence_permit(
        citizenId="440106199003071231", birthDate="1990-03-08", sex="female"
    )
    errors = {e.code: e for e in validate_credential(credential, now=NOW)}
    assert set(errors) == {"citizen_id_birth_date_mismatch", "citizen_id_sex_mismatch"}
    assert "1990-03-07" in errors["citizen_id_birth_date_mismatch"].zh
    assert "男" in errors["citizen_id_sex_mismatch"].zh


def test_all_broken_fields_reported_at_once() -> None:
    credential = residence_permit(citizenId="440106199003071232", residenceRegion="449999")
    del credential["credentialSubject"]["name"]
    codes = {(e.path, e.code) for e in validate_credential(credential, now=NOW)}
    assert codes == {
        ("credentialSubject.citizenId", "citizen_id_checksum"),
        ("credentialSubject.residenceRegion", "region_unknown"),
        ("credentialSubject.name", "field_required"),
    }


def test_issue_date_after_today() -> None:
    credential = residence_permit()
    credential["credentialSubject"]["issueDate"] = "2026-12-01"
    credential["validFrom"] = "2026-12-01T00:00:00+08:00"
    error = _one_error(credential)
    assert (error.path, error.code) == ("credentialSubject.issueDate", "date_in_future")


def test_today_is_china_time() -> None:
    # 2026-11-21T17:00Z is already 22 November in Guangzhou.
    credential = residence_permit()
    credential["credentialSubject"]["issueDate"] = "2026-11-22"
    credential["validFrom"] = "2026-11-22T00:00:00+08:00"
    late_evening_utc = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
    assert validate_credential(credential, now=late_evening_utc) == []
    error = _only(validate_credential(credential, now=late_evening_utc - timedelta(hours=2)))
    assert error.code == "date_in_future"


# ---------------------------------------------------------------- business licences


LICENSE_CASES: list[tuple[str, Mutation, str, str]] = [
    ("checksum", _subject(uscc="91440106MA59C2K45X"), "credentialSubject.uscc", "uscc_checksum"),
    ("letter I", _subject(uscc="91440106MA59C2KI5Y"), "credentialSubject.uscc", "uscc_alphabet"),
    ("lower case", _subject(uscc="91440106ma59c2k45y"), "credentialSubject.uscc", "uscc_alphabet"),
    ("too short", _subject(uscc="91440106MA59C2K45"), "credentialSubject.uscc", "uscc_length"),
    ("department", _subject(uscc="B1440106MA59C2K45Y"), "credentialSubject.uscc",
     "uscc_department"),
    ("established after issue", _subject(establishmentDate="2026-11-22",
                                         operatingTerm={"from": "2026-11-22", "until": None}),
     "credentialSubject.establishmentDate", "dates_inconsistent"),
    ("established in the future", _subject(establishmentDate="2027-01-01",
                                           operatingTerm={"from": "2027-01-01", "until": None}),
     "credentialSubject.establishmentDate", "date_in_future"),
    ("term ends before it starts", _subject(operatingTerm={"from": "2020-05-01",
                                                           "until": "2020-04-30"}),
     "credentialSubject.operatingTerm.until", "dates_inconsistent"),
    ("term starts before establishment", _subject(operatingTerm={"from": "2020-04-01",
                                                                 "until": None}),
     "credentialSubject.operatingTerm.from", "dates_inconsistent"),
    ("term end missing", _subject(operatingTerm={"from": "2020-05-01"}),
     "credentialSubject.operatingTerm.until", "field_required"),
    ("term end as text", _subject(operatingTerm={"from": "2020-05-01", "until": "长期"}),
     "credentialSubject.operatingTerm.until", "field_date_invalid"),
    ("scope missing", _delete("businessScope"), "credentialSubject.businessScope",
     "field_required"),
    ("not a licence type", _envelope(type=["VerifiableCredential"]), "type",
     "credential_type_unknown"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "path", "code"),
    [pytest.param(m, p, c, id=name) for name, m, p, c in LICENSE_CASES],
)
def test_broken_licence_rule(mutate: Mutation, path: str, code: str) -> None:
    credential = business_license()
    mutate(credential)
    error = _one_error(credential)
    assert (error.path, error.code) == (path, code)


def test_licence_term_may_be_open_or_closed() -> None:
    open_ended = business_license(operatingTerm={"from": "2020-05-01", "until": None})
    closed = business_license(operatingTerm={"from": "2020-05-01", "until": "2040-04-30"})
    same_day = business_license(operatingTerm={"from": "2020-05-01", "until": "2020-05-01"})
    for credential in (open_ended, closed, same_day):
        assert validate_credential(credential, now=NOW) == []


def test_letter_department_code_accepted() -> None:
    credential = business_license(uscc=make_uscc(department="N2"))
    assert validate_credential(credential, now=NOW) == []


# ---------------------------------------------------------------------- odd inputs


@pytest.mark.parametrize("value", [None, [], "credential", 42])
def test_non_object_credential(value: object) -> None:
    error = _only(validate_credential(value, now=NOW))
    assert (error.path, error.code) == ("", "credential_not_object")


def test_both_types_at_once_is_unknown() -> None:
    credential = residence_permit()
    credential["type"].append(BUSINESS_LICENSE)
    assert credential_type_of(credential) is None
    assert _one_error(credential).code == "credential_type_unknown"


def test_programmer_errors_raise() -> None:
    with pytest.raises(ValueError, match="six-digit"):
        validate_credential(residence_permit(), authority_region="GZ", now=NOW)
    with pytest.raises(ValueError, match="timezone"):
        validate_credential(residence_permit(), now=datetime(2026, 11, 22))
    with pytest.raises(ValueError, match="Passport"):
        validate_subject("Passport", {})


# ------------------------------------------------------------------- validate_subject


def test_request_subject_without_issuer_fields_passes() -> None:
    subject = residence_permit_subject()
    assert "issueDate" not in subject
    assert validate_subject(RESIDENCE_PERMIT, subject, authority_region="440100") == []


def test_subject_paths_use_the_prefix() -> None:
    subject = residence_permit_subject(citizenId="440106199003071232", residenceRegion="440303")
    errors = validate_subject(RESIDENCE_PERMIT, subject, authority_region=440100, prefix="subject")
    assert {(e.path, e.code) for e in errors} == {
        ("subject.citizenId", "citizen_id_checksum"),
        ("subject.residenceRegion", "region_outside_authority"),
    }
    errors = validate_subject(BUSINESS_LICENSE, business_license_subject(uscc="x"))
    assert [(e.path, e.code) for e in errors] == [("uscc", "uscc_length")]


def test_subject_today_parameter() -> None:
    subject = residence_permit_subject(**{
        "citizenId": make_citizen_id("430104", date(2026, 11, 21), 123),
        "birthDate": "2026-11-21", "sex": "male",
    })  # fmt: skip
    assert validate_subject(RESIDENCE_PERMIT, subject, today=date(2026, 11, 21)) == []
    error = _only(validate_subject(RESIDENCE_PERMIT, subject, today=date(2026, 11, 20)))
    assert (error.path, error.code) == ("birthDate", "date_in_future")


def test_check_variants_raise_with_all_errors() -> None:
    credential = residence_permit(citizenId="440106199003071232")
    with pytest.raises(InvalidCredential) as info:
        check_credential(credential, now=NOW)
    assert [e.code for e in info.value.errors] == ["citizen_id_checksum"]
    assert "citizen_id_checksum" in info.value.diagnostics()
    assert "公民身份号码校验码不正确" in info.value.diagnostics()
    check_credential(residence_permit(), now=NOW)  # no exception for a valid one
    with pytest.raises(InvalidCredential):
        check_subject(BUSINESS_LICENSE, business_license_subject(registeredCapital=""))
    check_subject(BUSINESS_LICENSE, business_license_subject())


# ------------------------------------------------------------------- build_credential


def _build(credential_type: str, subject: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "credential_id": "urn:uuid:0b6f5a8e-3f7c-4a8e-9b1a-2c3d4e5f6a7b",
        "issuer_did": "did:web:lasui.gz.gov.cn",
        "authority_name": "广州市来穗人员服务管理局",
        "issue_date": date(2026, 11, 21),
        "valid_from": datetime(2026, 11, 21, tzinfo=UTC),
        "valid_until": datetime(2029, 11, 21, tzinfo=UTC),
        "status": {"id": "did:web:lasui.gz.gov.cn#status-7", "type": "SuixinAnchorRegistryStatus"},
    }
    arguments.update(overrides)
    return build_credential(credential_type, subject, **arguments)


def test_build_permit_layout() -> None:
    subject = residence_permit_subject()
    original = copy.deepcopy(subject)
    credential = _build(RESIDENCE_PERMIT, subject)
    assert subject == original  # the request is not modified
    assert credential == {
        "@context": [VC_V2_CONTEXT, SUIXIN_CONTEXT],
        "id": "urn:uuid:0b6f5a8e-3f7c-4a8e-9b1a-2c3d4e5f6a7b",
        "type": ["VerifiableCredential", "ResidencePermit"],
        "issuer": "did:web:lasui.gz.gov.cn",
        "validFrom": "2026-11-21T00:00:00Z",
        "validUntil": "2029-11-21T00:00:00Z",
        "credentialSubject": {
            **original,
            "issuingAuthority": "广州市来穗人员服务管理局",
            "issueDate": "2026-11-21",
            "endorsements": [],
            "residenceSince": "2026-11-21",
        },
        "credentialSchema": {
            "id": "https://schemas.suixin.gov.cn/credentials/ResidencePermit/v1.json",
            "type": "JsonSchema",
        },
        "credentialStatus": {
            "id": "did:web:lasui.gz.gov.cn#status-7",
            "type": "SuixinAnchorRegistryStatus",
        },
    }
    assert validate_credential(credential, authority_region=440100, now=NOW) == []


def test_build_licence_keeps_registration_authority() -> None:
    subject = business_license_subject()
    credential = _build(BUSINESS_LICENSE, subject, authority_name="广州市市场监督管理局")
    assert credential["credentialSubject"] == {**subject, "issueDate": "2026-11-21"}
    assert credential["credentialSubject"]["registrationAuthority"] == "广州市天河区市场监督管理局"
    assert credential["type"] == ["VerifiableCredential", "BusinessLicense"]
    assert credential["credentialSchema"]["id"].endswith("/BusinessLicense/v1.json")
    assert validate_credential(credential, now=NOW) == []


def test_build_keeps_existing_endorsements_and_formats_times() -> None:
    endorsements = [{"date": "2027-11-01", "validUntil": "2028-11-20"}]
    credential = _build(
        RESIDENCE_PERMIT,
        residence_permit_subject(endorsements=endorsements),
        credential_id=uuid.UUID("0b6f5a8e-3f7c-4a8e-9b1a-2c3d4e5f6a7b"),
        valid_from=datetime(2026, 11, 21, 8, 0, 0, 123456, tzinfo=UTC),
        valid_until=datetime(2029, 11, 21, 8, 0, tzinfo=CHINA_TIME),
    )
    assert credential["credentialSubject"]["endorsements"] == endorsements
    assert credential["id"] == "urn:uuid:0b6f5a8e-3f7c-4a8e-9b1a-2c3d4e5f6a7b"
    assert credential["validFrom"] == "2026-11-21T08:00:00Z"
    assert credential["validUntil"] == "2029-11-21T08:00:00+08:00"


@pytest.mark.parametrize(
    "overrides",
    [
        {"credential_id": "not-a-uuid"},
        {"valid_from": datetime(2026, 11, 21)},
        {"valid_until": datetime(2029, 11, 21)},
    ],
)
def test_build_refuses_bad_arguments(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _build(RESIDENCE_PERMIT, residence_permit_subject(), **overrides)


def test_build_refuses_unknown_type() -> None:
    with pytest.raises(ValueError, match="Passport"):
        _build("Passport", {})


@pytest.mark.parametrize(
    ("since", "code"),
    [
        ("2026-11-23", "date_in_future"),  # NOW is 2026-11-22
        ("1900-01-01", "dates_inconsistent"),  # before the holder was born
        ("2026-11-22", "dates_inconsistent"),  # after the term began (2026-11-21)
        ("2026-13-01", "field_date_invalid"),
    ],
)
def test_residence_since_rules(since: str, code: str) -> None:
    permit = residence_permit(random.Random(3))
    permit["credentialSubject"]["residenceSince"] = since
    error = _one_error(permit)
    assert (error.path, error.code) == ("credentialSubject.residenceSince", code)


def test_residence_since_may_follow_the_issue_date_after_a_late_endorsement() -> None:
    permit = residence_permit(random.Random(3))
    permit["credentialSubject"]["issueDate"] = "2020-05-01"
    permit["credentialSubject"]["residenceSince"] = "2026-11-21"  # restarted, = the term's start
    assert validate_credential(permit, now=NOW) == []
    assert validate_subject(RESIDENCE_PERMIT, permit["credentialSubject"], today=NOW.date()) == []
