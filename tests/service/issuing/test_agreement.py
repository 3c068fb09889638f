"""One validation, two callers: what the office signs, its verifier accepts; what it refuses,
it refuses with the verifier's own codes (issue 19).

Hypothesis starts from valid permits and licences and breaks them the ways requests break:
any field replaced by arbitrary text (controls, bidi and zero-width characters, decomposed
letters), dates and numbers where text belongs, fields dropped or added, validity bounds
anywhere between the years 1800 and 3100. For each request:

- accepted: once anchored, a verifier at a time within the credential's validity finds it
  VALID (every check: format, signature, issuer, key, anchor, status, validity);
- refused: the credential the office would have signed (built without its checks) fails the
  verifier's ``format`` or ``validity_period`` check, and every code the office gave is among
  the codes the verifier gives that credential.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.anchoring.worker import AnchorWorker
from service.issuing.issuance import status_entry
from service.issuing.office import IssueRequest
from tests.service.conftest import OfficeWorld
from tests.verifier.factories import (
    business_license_subject,
    random_uscc,
    residence_permit_subject,
)
from verifier.credential import CHINA_TIME, build_credential, nfc, validate_credential
from verifier.errors import InvalidCredential
from verifier.identifiers import citizen_id_check_digit, is_valid_citizen_id, is_valid_uscc
from verifier.policy import Policy
from verifier.verify import Outcome, Verdict, Verifier, validity_period

EXAMPLES = 300

HOSTILE = ["\x00", "\x1f", "\x85", "\u202e", "\u200f", "\u200b", "\u2066", "\ufeff", "e\u0301"]
TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda a, h, b: a + h + b,
        st.text(alphabet="张李王广州市天河区路号", max_size=6),
        st.sampled_from(HOSTILE),
        st.text(alphabet="张李王广州市天河区路号", max_size=6),
    ),
)
VALUES = st.one_of(
    TEXT,
    st.dates().map(lambda d: d.isoformat()),
    st.integers(-(2**60), 2**60),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
TIMES = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1800, 1, 1),
        max_value=datetime(3100, 1, 1),
        timezones=st.sampled_from([UTC, CHINA_TIME]),
    ),
    # near now, where most honest requests are
    st.integers(-3 * 86400, 800 * 86400).map(
        lambda s: datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=s)
    ),
)


@st.composite
def requests(draw: st.DrawFn) -> IssueRequest:
    kind = draw(st.sampled_from(["ResidencePermit", "BusinessLicense"]))
    rng = random.Random(draw(st.integers(0, 2**32)))
    subject: dict[str, Any] = (
        residence_permit_subject(rng)
        if kind == "ResidencePermit"
        else business_license_subject(rng)
    )
    for _ in range(draw(st.integers(0, 2))):
        field = draw(st.sampled_from([*subject, "extra"]))
        action = draw(st.sampled_from(["replace", "drop", "append"]))
        if action == "drop":
            subject.pop(field, None)
        elif action == "append" and isinstance(subject.get(field), str):
            subject[field] = subject[field] + draw(st.sampled_from(HOSTILE))
        else:
            subject[field] = draw(VALUES)
    return IssueRequest(kind, subject, draw(TIMES), draw(TIMES))


_PEOPLE = itertools.count(1)


def _someone_new(request: IssueRequest) -> IssueRequest:
    """``request`` for a person or company no earlier example named (Hypothesis draws the same
    seeds again; one credential in force per subject is the register's rule, not the
    credential's): a valid citizen ID keeps its birth date and sex, a valid USCC is replaced."""
    subject = dict(request.subject)
    n = next(_PEOPLE)
    citizen_id = subject.get("citizenId")
    if isinstance(citizen_id, str) and is_valid_citizen_id(citizen_id):
        parity = int(citizen_id[16]) % 2
        body = f"{citizen_id[:14]}{(n * 2 + parity) % 1000:03d}"
        subject["citizenId"] = body + citizen_id_check_digit(body)
    uscc = subject.get("uscc")
    if isinstance(uscc, str) and is_valid_uscc(uscc):
        subject["uscc"] = random_uscc(random.Random(n))
    return IssueRequest(request.credential_type, subject, request.valid_from, request.valid_until)


def _would_sign(world: OfficeWorld, request: IssueRequest, now: datetime) -> dict[str, Any]:
    """The credential the office would sign for ``request``, built without its checks."""
    authority = world.permits if request.credential_type == "ResidencePermit" else world.licences
    cid = uuid.uuid4()
    valid_from = request.valid_from or now.replace(microsecond=0)
    return build_credential(
        request.credential_type,
        nfc(dict(request.subject)),
        credential_id=cid,
        issuer_did=authority.did,
        authority_name=authority.name_zh,
        issue_date=now.astimezone(CHINA_TIME).date(),
        valid_from=valid_from,
        valid_until=request.valid_until or valid_from + timedelta(days=365),
        status=status_entry(cid.urn, 1, "0x" + "00" * 20),
    )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_what_the_office_signs_verifies_and_what_it_refuses_the_verifier_refuses(
    world: OfficeWorld, figures: list[str]
) -> None:
    accepted: list[tuple[str, datetime, datetime]] = []
    refused: dict[str, int] = {}
    seen = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests())
    def issue(request: IssueRequest) -> None:
        nonlocal seen
        seen += 1
        authority = (
            world.permits if request.credential_type == "ResidencePermit" else world.licences
        )
        now = datetime.now(UTC)
        request = _someone_new(request)
        try:
            bundle, _ = world.office.issue(authority.id, request)
        except InvalidCredential as e:
            office_codes = {err.code for err in e.errors}
            credential = _would_sign(world, request, now)
            verifier_codes = {err.code for err in validate_credential(credential, now=now)}
            lapsed = validity_period(credential, now)
            if lapsed.outcome is Outcome.FAIL:
                verifier_codes.add(lapsed.reason.code)
            assert verifier_codes, ("the verifier accepts what the office refused", e.errors)
            assert office_codes <= verifier_codes, (office_codes, verifier_codes)
            for code in office_codes:
                refused[code] = refused.get(code, 0) + 1
            return
        credential = bundle["credential"]
        accepted.append(
            (credential["id"], _time(credential["validFrom"]), _time(credential["validUntil"]))
        )

    issue()
    AnchorWorker(world.office).drain()
    lapsed = 0
    for credential_id, start, until in accepted:
        at = max(datetime.now(UTC), start + timedelta(seconds=1))
        verifier = Verifier.from_chain(
            world.office.chain,
            world.office.deployment.anchor_registry,
            Policy(clock=_fixed(at)),
        )
        report = verifier.verify(world.office.bundle(credential_id))
        failed = {(c.name, c.reason.code) for c in report.checks if c.outcome is not Outcome.PASS}
        if until <= at:
            # issued for a few seconds, ended before this check (and suspended by the sweep as
            # lapsed): expiry is all that may be wrong with it
            lapsed += 1
            assert failed <= {
                ("validity_period", "expired"),
                ("status", "credential_suspended"),
            }, failed
            continue
        assert report.verdict is Verdict.VALID, failed
    line = (
        f"office/verifier agreement (Hypothesis): {seen} requests, {len(accepted)} signed and "
        f"VALID ({lapsed} of them only until their short term ended), {seen - len(accepted)} "
        "refused with verifier codes "
        f"({', '.join(f'{c} {n}' for c, n in sorted(refused.items(), key=lambda x: -x[1])[:8])})"
    )
    figures.append(line)
    print(line)
    assert seen >= EXAMPLES // 2 and accepted and refused
