"""The status reason table, and the verifier's ``status`` check naming the reason, not a number."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.conftest import Registries
from tests.verifier.office import GZ_PERMITS, Office
from verifier.credential import residence_years
from verifier.policy import Policy
from verifier.registry import CredentialStatus
from verifier.status import (
    STATUS_CODES,
    STATUS_REASONS,
    reason_by_name,
    status_code,
    status_label,
    status_reason,
)
from verifier.verify import Outcome, Verdict, Verifier

# the table agreed across the team (notes/common.md): code, name, 中文
AGREED = [
    (0, "unspecified", None),
    (1, "lost", "遗失补领"),
    (2, "damaged", "损坏换领"),
    (3, "endorsed", "签注"),
    (4, "address_changed", "变更居住地址"),
    (5, "amended", "变更登记"),
    (6, "endorsement_lapsed", "逾期未签注"),
    (7, "hukou_registered", "落户注销"),
    (8, "deceased", "死亡注销"),
    (9, "licence_revoked", "吊销"),
    (10, "licence_cancelled", "注销登记"),
    (11, "key_compromised", "签名密钥泄露"),
    (12, "reissued", "重新签发"),
    (13, "moved_city", "迁出本市"),
    (14, "issuer_error", "签发错误"),
]


def test_the_table_is_the_agreed_one() -> None:
    assert [(r.code, r.name) for r in STATUS_REASONS] == [(c, n) for c, n, _ in AGREED]
    for code, name, zh in AGREED:
        reason = status_reason(code)
        assert reason is reason_by_name(name)
        assert reason.en and reason.zh and reason.en != reason.zh
        if zh is not None:
            assert reason.zh == zh
            assert reason.text("zh") == zh and reason.text("en") == reason.en
    assert STATUS_CODES == {"revoked": 1, "suspended": 2, "reinstated": 3, "superseded": 4}
    assert status_code("superseded") == CredentialStatus.SUPERSEDED


def test_unknown_codes_still_read_and_unknown_names_are_refused() -> None:
    later = status_reason(99)  # a reason added by a newer office
    assert (later.code, later.name) == (99, "reason_99")
    assert "99" in later.zh and "99" in later.en
    with pytest.raises(ValueError, match="known: unspecified, lost"):
        reason_by_name("bored")
    with pytest.raises(ValueError, match="unknown status"):
        status_code("deleted")
    assert status_label(1) == ("已吊销", "revoked")
    assert "7" in status_label(7)[1]


@pytest.fixture
def gz(registries: Registries) -> Office:
    return Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))


@pytest.mark.parametrize(
    ("status", "reason", "code", "zh", "en"),
    [
        (CredentialStatus.REVOKED, 1, "credential_revoked", "遗失补领", "lost"),
        (CredentialStatus.SUSPENDED, 6, "credential_suspended", "逾期未签注", "endorsement lapsed"),
        (CredentialStatus.SUPERSEDED, 13, "credential_superseded", "迁出本市", "another city"),
        (CredentialStatus.REVOKED, 99, "credential_revoked", "原因代码 99", "reason code 99"),
    ],
)
def test_the_status_check_names_the_reason(
    registries: Registries, gz: Office, status: int, reason: int, code: str, zh: str, en: str
) -> None:
    (bundle,) = gz.anchor(gz.permit())
    gz.set_status(bundle["credential"], status, reason=reason)
    verifier = Verifier.from_chain(
        registries.chain, registries.anchor, Policy(sync_interval=timedelta(0))
    )
    report = verifier.verify(bundle)
    assert report.verdict is Verdict.INVALID
    check = report.check("status")
    assert check.outcome is Outcome.FAIL and check.reason.code == code
    assert zh in check.reason.zh and en in check.reason.en
    assert f"（原因代码 {reason}）" in check.reason.zh  # the number is still there for machines


@pytest.mark.parametrize(
    ("since", "on", "years"),
    [
        ("2026-11-21", date(2026, 11, 21), 0),
        ("2026-11-21", date(2027, 11, 20), 0),
        ("2026-11-21", date(2027, 11, 21), 1),
        ("2026-11-21", date(2031, 12, 1), 5),
        ("2026-11-21", date(2026, 1, 1), 0),  # before the start
        ("2024-02-29", date(2025, 2, 27), 0),
        ("2024-02-29", date(2025, 2, 28), 1),  # the month's last day in a common year
        ("2024-02-29", date(2028, 2, 29), 4),
    ],
)
def test_residence_years(since: str, on: date, years: int) -> None:
    assert residence_years({"residenceSince": since}, on) == years


def test_residence_years_without_a_start_is_zero() -> None:
    assert residence_years({}, date(2030, 1, 1)) == 0
    assert residence_years({"residenceSince": "not a date"}, date(2030, 1, 1)) == 0
