"""居住年限证明 (ResidenceYears) in the verifier: schema and domain rules, the helpers a counter
uses (masked name, salted ID digest), and who may issue it (verifier.credential, verify)."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.trust.deployment import deploy_registries
from tests.conftest import Registries, funded
from tests.verifier.factories import ISSUE_DATE, residence_years, residence_years_subject
from tests.verifier.office import GZ_LICENCES, GZ_PERMITS, SZ_PERMITS, Office
from verifier.chain import EmbeddedChain
from verifier.credential import (
    CHINA_TIME,
    DERIVED_TYPES,
    RESIDENCE_YEARS,
    citizen_id_digest,
    mask_name,
    may_issue,
    validate_credential,
    validate_subject,
)
from verifier.policy import Policy
from verifier.schemas import fast_validator, schema_validator
from verifier.sdjwt import claims_from_credential
from verifier.verify import Outcome, Report, Verdict, Verifier

AFTER_ISSUE = datetime(2026, 12, 1, tzinfo=UTC)


def _codes(credential: Any, **kwargs: Any) -> dict[str, str]:
    return {e.path: e.code for e in validate_credential(credential, now=AFTER_ISSUE, **kwargs)}


# ------------------------------------------------------------------------------ rules


def test_a_well_formed_credential_has_no_errors() -> None:
    assert _codes(residence_years()) == {}
    assert _codes(residence_years(), authority_region=440100) == {}


def test_the_stated_years_must_follow_from_the_dates() -> None:
    errors = validate_credential(residence_years(residenceYears=7), now=AFTER_ISSUE)
    assert [(e.path, e.code) for e in errors] == [
        ("credentialSubject.residenceYears", "residence_years_mismatch")
    ]
    assert "应为 6 年" in errors[0].zh and "(6 full years)" in errors[0].en
    # the day before the sixth anniversary makes five full years
    since = ISSUE_DATE.replace(year=ISSUE_DATE.year - 6) + timedelta(days=1)
    assert _codes(residence_years(residenceSince=since.isoformat())) == {
        "credentialSubject.residenceYears": "residence_years_mismatch"
    }
    assert _codes(residence_years(residenceSince=since.isoformat(), residenceYears=5)) == {}


@pytest.mark.parametrize(
    ("overrides", "path", "code"),
    [
        ({"residenceSince": "2026-11-22"}, "residenceSince", "dates_inconsistent"),
        ({"asOf": "2026-11-22"}, "asOf", "dates_inconsistent"),  # after the issue date
        ({"residenceRegion": "440300"}, "residenceRegion", "region_outside_authority"),
        ({"residenceRegion": "449999"}, "residenceRegion", "region_unknown"),
        # less than a full year is no residence-years credential at all
        ({"residenceYears": 0, "residenceSince": "2026-01-01"}, "residenceYears", "field_invalid"),
        ({"residenceYears": "6"}, "residenceYears", "field_type"),
        ({"name": "张三"}, "name", "field_pattern"),  # unmasked
        ({"citizenIdDigest": "440106199003071231"}, "citizenIdDigest", "field_pattern"),
        ({"sourceCredential": "permit-1"}, "sourceCredential", "field_pattern"),
    ],
)
def test_bad_fields_are_named(overrides: dict[str, Any], path: str, code: str) -> None:
    codes = _codes(residence_years(**overrides), authority_region=440100)
    assert codes.get(f"credentialSubject.{path}") == code, codes


def test_no_personal_data_beyond_the_subject_fields() -> None:
    credential = residence_years()
    credential["credentialSubject"]["citizenId"] = "440106199003071231"
    assert _codes(credential) == {"credentialSubject.citizenId": "field_unexpected"}


def test_as_of_in_the_future() -> None:
    credential = residence_years()
    errors = validate_credential(credential, now=datetime(2026, 11, 20, tzinfo=UTC))
    assert {e.path: e.code for e in errors}["credentialSubject.asOf"] == "date_in_future"


def test_labels_are_the_types_own() -> None:
    errors = validate_subject(RESIDENCE_YEARS, residence_years_subject(name="张三"))
    assert errors[0].zh.startswith("姓名（脱敏）") and "masked name" in errors[0].en


def test_compiled_gate_agrees_with_the_reference_validator() -> None:
    base = residence_years(random.Random(3))
    mutations: list[object] = [None, 0, 1, -1, 200, "", "x", "2026-02-30", [], {}, True]
    checked = 0
    for key in [*base, *(f"credentialSubject.{k}" for k in base["credentialSubject"])]:
        for value in [*mutations, "DELETE"]:
            forged = copy.deepcopy(base)
            node = forged["credentialSubject"] if key.startswith("credentialSubject.") else forged
            name = key.removeprefix("credentialSubject.")
            if value == "DELETE":
                del node[name]
            else:
                node[name] = value
            reference = not any(True for _ in schema_validator(RESIDENCE_YEARS).iter_errors(forged))
            assert fast_validator(RESIDENCE_YEARS).is_valid(forged) == reference, (key, value)
            checked += 1
    assert checked > 150


# ------------------------------------------------------------------------------ helpers


def test_mask_name() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name(" 买买提·艾力 ") == "买*****"
    assert mask_name("王") == "王*"
    with pytest.raises(ValueError, match="empty"):
        mask_name("  ")


def test_citizen_id_digest_needs_the_salt() -> None:
    salt = bytes(range(16))
    digest = citizen_id_digest("440106199003071231", salt)
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    assert digest == citizen_id_digest("440106199003071231", salt)
    assert digest != citizen_id_digest("440106199003071231", bytes(16))
    assert digest != citizen_id_digest("440106199003071223", salt)
    with pytest.raises(ValueError, match="16 bytes"):
        citizen_id_digest("440106199003071231", b"short")


def test_may_issue() -> None:
    assert DERIVED_TYPES == {"ResidenceYears": "ResidencePermit"}
    assert may_issue("ResidenceYears", ["ResidencePermit"])
    assert may_issue("ResidenceYears", ["ResidenceYears"])
    assert not may_issue("ResidenceYears", ["BusinessLicense"])
    assert not may_issue("ResidencePermit", ["ResidenceYears"])  # never the other way round
    assert may_issue("BusinessLicense", ["BusinessLicense"])


# ------------------------------------------------------------------------------ on chain


@pytest.fixture(scope="module")
def registries() -> Iterator[Registries]:
    chain = EmbeddedChain(None)
    root = funded(chain)
    yield Registries(chain=chain, root=root, deployment=deploy_registries(chain, root))
    chain.close()


def _verify(registries: Registries, bundle: dict[str, Any]) -> Report:
    verifier = Verifier.from_chain(
        registries.chain,
        registries.anchor,
        Policy(sync_interval=timedelta(0)),
        start_block=registries.deployment.block_number,
    )
    return verifier.verify(bundle)


def _years_subject(office: Office, region: str = "440100") -> dict[str, Any]:
    today = datetime.now(CHINA_TIME).date()
    return residence_years_subject(
        office.rng,
        residenceRegion=region,
        residenceSince=today.replace(year=today.year - 3).isoformat(),
        residenceYears=3,
        asOf=today.isoformat(),
    )


def test_a_permit_authority_may_issue_it_in_its_region_only(registries: Registries) -> None:
    guangzhou = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    [good] = guangzhou.anchor(guangzhou.rogue(RESIDENCE_YEARS, _years_subject(guangzhou)))
    report = _verify(registries, good)
    assert report.verdict is Verdict.VALID, [c.to_json() for c in report.failed]
    assert report.credential_type == "ResidenceYears"

    [elsewhere] = guangzhou.anchor(
        guangzhou.rogue(RESIDENCE_YEARS, _years_subject(guangzhou, region="440300"))
    )
    report = _verify(registries, elsewhere)
    assert report.verdict is Verdict.INVALID
    assert report.check("issuer").reason.code == "issuer_region_outside"
    assert [c.name for c in report.failed] == ["issuer"]  # everything else holds


def test_an_authority_of_another_type_may_not(registries: Registries) -> None:
    licences = Office.accredit(registries, GZ_LICENCES, ("BusinessLicense",))
    [bundle] = licences.anchor(licences.rogue(RESIDENCE_YEARS, _years_subject(licences)))
    report = _verify(registries, bundle)
    assert report.verdict is Verdict.INVALID
    assert report.check("issuer").outcome is Outcome.FAIL
    assert report.check("issuer").reason.code == "issuer_type_not_accredited"


def test_an_explicit_accreditation_suffices(registries: Registries) -> None:
    shenzhen = Office.accredit(registries, SZ_PERMITS, ("ResidenceYears",))
    [bundle] = shenzhen.anchor(
        shenzhen.rogue(RESIDENCE_YEARS, _years_subject(shenzhen, region="440300"))
    )
    assert _verify(registries, bundle).verdict is Verdict.VALID
    # but a ResidenceYears accreditation does not let it issue permits
    [permit] = shenzhen.anchor(shenzhen.permit(residenceRegion="440305"))
    report = _verify(registries, permit)
    assert report.check("issuer").reason.code == "issuer_type_not_accredited"


def test_an_sd_jwt_of_it_keeps_the_region_visible_for_the_issuer_check() -> None:
    plain, disclosable = claims_from_credential(residence_years(), AFTER_ISSUE)
    assert plain["vct"].endswith("ResidenceYears") and plain["residenceCity"] == "440100"
    assert "residenceRegion" not in plain and "age_over_18" not in disclosable
    assert {"residenceYears", "name", "citizenIdDigest"} <= set(disclosable)
