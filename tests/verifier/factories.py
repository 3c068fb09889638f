"""Valid random test data (citizen IDs, credit codes, subjects) and Hypothesis strategies."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from verifier.credential import build_credential
from verifier.identifiers import (
    USCC_ALPHABET,
    USCC_DEPARTMENTS,
    citizen_id_check_digit,
    uscc_check_character,
)
from verifier.status import ANCHOR_STATUS_TYPE

GUANGZHOU_DISTRICTS = ("440103", "440104", "440105", "440106", "440111", "440112", "440113")
BIRTH_PLACES = ("430104", "440106", "360426", "110105", "510107", "450102")


def make_citizen_id(
    region_code: str = "430104", birth_date: date = date(1990, 3, 7), sequence: int = 123
) -> str:
    """Return a valid citizen ID; ``sequence`` (0-999) odd means male, even female."""
    body = f"{region_code}{birth_date:%Y%m%d}{sequence:03d}"
    return body + citizen_id_check_digit(body)


def make_uscc(
    region_code: str = "440106", organization_code: str = "MA59C2K45", department: str = "91"
) -> str:
    """Return a valid credit code built from its parts with the check character computed."""
    body = f"{department}{region_code}{organization_code}"
    return body + uscc_check_character(body)


def random_citizen_id(rng: random.Random, *, sex: str | None = None) -> tuple[str, date, str]:
    """Return (citizen ID, birth date, sex) drawn from ``rng``."""
    birth = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    sex = sex or rng.choice(("male", "female"))
    sequence = rng.randrange(0, 999, 2) + (1 if sex == "male" else 0)
    return make_citizen_id(rng.choice(BIRTH_PLACES), birth, sequence), birth, sex


def random_uscc(rng: random.Random) -> str:
    """Return a valid enterprise credit code (91…) registered in a Guangzhou district."""
    org = "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return make_uscc(rng.choice(GUANGZHOU_DISTRICTS), org)


def residence_permit_subject(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """Return a valid ResidencePermit issuance subject (as in DESIGN.md §3), fields overridable."""
    rng = rng or random.Random(0)
    citizen_id, birth, sex = random_citizen_id(rng)
    subject: dict[str, Any] = {
        "name": rng.choice(("张三", "李四", "王五", "陈晓明")),
        "sex": sex,
        "ethnicity": "汉",
        "birthDate": birth.isoformat(),
        "citizenId": citizen_id,
        "hukouAddress": "湖南省长沙市岳麓区麓山南路1号",
        "residenceAddress": "广州市天河区天河路100号",
        "residenceRegion": rng.choice(GUANGZHOU_DISTRICTS),
    }
    subject.update(overrides)
    return subject


def business_license_subject(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """Return a valid BusinessLicense issuance subject (as in DESIGN.md §3), fields overridable."""
    rng = rng or random.Random(0)
    subject: dict[str, Any] = {
        "uscc": random_uscc(rng),
        "name": "广州某某科技有限公司",
        "entityType": "有限责任公司（自然人投资或控股）",
        "legalRepresentative": "李四",
        "businessScope": "软件开发；信息技术咨询服务",
        "registeredCapital": "100万元人民币",
        "establishmentDate": "2020-05-01",
        "operatingTerm": {"from": "2020-05-01", "until": None},
        "domicile": "广州市天河区天河路200号",
        "registrationAuthority": "广州市天河区市场监督管理局",
    }
    subject.update(overrides)
    return subject


# ------------------------------------------------------------------ Hypothesis strategies


@st.composite
def citizen_id_bodies(draw: st.DrawFn) -> str:
    """17-digit citizen ID bodies with a real birth date and a known province."""
    region = draw(st.sampled_from(BIRTH_PLACES))
    birth = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    sequence = draw(st.integers(0, 999))
    return f"{region}{birth:%Y%m%d}{sequence:03d}"


@st.composite
def uscc_bodies(draw: st.DrawFn) -> str:
    """17-character credit code bodies with a valid department, type and region."""
    department = draw(st.sampled_from(sorted(USCC_DEPARTMENTS)))
    entity_type = draw(st.sampled_from(sorted(USCC_DEPARTMENTS[department][1])))
    region = draw(st.sampled_from(("440106", "440300", "441202", "110000", "100000", "650102")))
    org = draw(st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9))
    return f"{department}{entity_type}{region}{org}"


# ---------------------------------------------------------------------- whole credentials

ISSUE_DATE = date(2026, 11, 21)
VALID_FROM = datetime(2026, 11, 21, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
AUTHORITIES = {
    "ResidencePermit": ("did:web:lasui.gz.gov.cn", "广州市来穗人员服务管理局", 440100),
    "ResidenceYears": ("did:web:lasui.gz.gov.cn", "广州市来穗人员服务管理局", 440100),
    "BusinessLicense": ("did:web:amr.gz.gov.cn", "广州市市场监督管理局", 440100),
}


def credential(
    credential_type: str,
    subject: dict[str, Any],
    *,
    years: int = 3,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Return an unsigned credential of ``credential_type`` around ``subject`` (valid if it is)."""
    rng = rng or random.Random(0)
    did, authority, _ = AUTHORITIES[credential_type]
    return build_credential(
        credential_type,
        subject,
        credential_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        issuer_did=did,
        authority_name=authority,
        issue_date=ISSUE_DATE,
        valid_from=VALID_FROM,
        valid_until=VALID_FROM.replace(year=VALID_FROM.year + years),
        status={"id": f"{did}#status-1", "type": ANCHOR_STATUS_TYPE},
    )


def residence_permit(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """Return a valid unsigned ResidencePermit credential; ``overrides`` change the subject."""
    return credential("ResidencePermit", residence_permit_subject(rng, **overrides), rng=rng)


def business_license(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """Return a valid unsigned BusinessLicense credential; ``overrides`` change the subject."""
    return credential("BusinessLicense", business_license_subject(rng, **overrides), rng=rng)


def residence_years_subject(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """Return a valid ResidenceYears subject (6 full years on the issue date), overridable."""
    rng = rng or random.Random(0)
    subject: dict[str, Any] = {
        "name": rng.choice(("张*", "李*", "陈**")),
        "citizenIdDigest": "sha256:" + rng.randbytes(32).hex(),
        "residenceRegion": "440100",
        "residenceYears": 6,
        "residenceSince": ISSUE_DATE.replace(year=ISSUE_DATE.year - 6).isoformat(),
        "asOf": ISSUE_DATE.isoformat(),
        "sourceCredential": uuid.UUID(int=rng.getrandbits(128), version=4).urn,
    }
    subject.update(overrides)
    return subject


def residence_years(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """Return a valid unsigned ResidenceYears credential; ``overrides`` change the subject."""
    return credential("ResidenceYears", residence_years_subject(rng, **overrides), rng=rng)
