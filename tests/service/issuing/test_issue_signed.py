"""``issue_signed`` makes what it makes of its ``now`` once per ``now`` (a bulk slice shares
one): the same credentials, JCS bytes and errors as the version that made them for every
credential, kept here as the reference, over valid and invalid requests (hypothesis)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from service.issuing import issuance
from service.issuing.issuance import (
    SigningIdentity,
    _request_path,
    _validity_errors,
    first_licence_id,
    issue_signed,
    licence_id_of,
    status_entry,
)
from service.issuing.signer import LocalSigner
from tests.verifier.factories import residence_permit_subject
from verifier.credential import (
    CHINA_TIME,
    build_credential,
    nfc,
    validate_credential,
    validate_subject,
)
from verifier.errors import FieldError, InvalidCredential
from verifier.keys import Ed25519KeyPair
from verifier.proofs import sign_credential_with_jcs
from verifier.verify import Outcome, validity_period

IDENTITY = SigningIdentity(
    "did:web:lsj.gz.gov.cn",
    "广州市来穗人员服务管理局",
    440100,
    "key-1",
    LocalSigner("key-1", Ed25519KeyPair.from_private_bytes(bytes(range(32)))),
    uscc="11440100007502156G",
)
REGISTRY = "0x" + "12" * 20


def _reference(
    credential_type: str,
    subject: Mapping[str, Any],
    identity: SigningIdentity,
    *,
    valid_from: datetime | None,
    valid_until: datetime | None,
    now: datetime,
    credential_id: uuid.UUID,
    status_position: int | None,
) -> tuple[dict[str, Any], bytes]:
    """``issue_signed`` as it was: every time derived from ``now`` for each credential."""
    subject = nfc(dict(subject))
    today = now.astimezone(CHINA_TIME).date()
    errors = validate_subject(
        credential_type, subject, authority_region=identity.region, today=today
    )
    valid_from = valid_from or now.replace(microsecond=0)
    valid_until = valid_until or valid_from + timedelta(days=365)
    errors += _validity_errors(valid_from, valid_until, now)
    if errors:
        raise InvalidCredential(errors)
    cid = credential_id
    licence = licence_id_of(credential_type, identity.uscc, cid.urn, 1) if identity.uscc else None
    unsigned = build_credential(
        credential_type,
        subject,
        credential_id=cid,
        issuer_did=identity.did,
        authority_name=identity.name_zh,
        issue_date=today,
        valid_from=valid_from,
        valid_until=valid_until,
        status=status_entry(
            f"urn:uuid:{cid}", 31337, REGISTRY, issuer_did=identity.did, position=status_position
        ),
        licence_id=licence,
    )
    errors = validate_credential(unsigned, authority_region=identity.region, now=now)
    if errors:
        raise InvalidCredential([_request_path(e) for e in errors])
    lapsed = validity_period(unsigned, now)
    if lapsed.outcome is Outcome.FAIL and lapsed.reason.code != "not_yet_valid":
        raise InvalidCredential(
            [FieldError("validUntil", lapsed.reason.code, lapsed.reason.zh, lapsed.reason.en)]
        )
    created = now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return sign_credential_with_jcs(
        unsigned, identity.key, identity.verification_method, created, cryptosuite=None
    )


def _outcome(make: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        credential, jcs = make(**kwargs)
    except InvalidCredential as e:
        return "invalid", [e.as_dict() for e in e.errors]
    event("signed")  # a quarter of the examples (--hypothesis-show-statistics)
    return "signed", (credential, jcs)


NOWS = [
    datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
    datetime(2026, 3, 4, 15, 59, 59, 999999, tzinfo=UTC),  # 23:59:59 in China
    datetime(2026, 3, 4, 16, 0, 0, tzinfo=UTC),  # midnight in China
    datetime(2026, 3, 5, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=8))),
    datetime(2026, 12, 31, 20, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
]
FIELDS = ["citizenId", "birthDate", "name", "sex", "issueDate", "residenceSince", "address"]
ODD = ["", "x", "2026-03-04", "2099-01-01", "1800-01-01", "110101199003077777", " ", "\u202e"]


def _validity(now: datetime) -> st.SearchStrategy[datetime | None]:
    return st.one_of(
        st.none(),
        st.integers(-400, 800).map(lambda days: now + timedelta(days=days)),
        st.just(now.replace(tzinfo=None)),  # naive
        st.just(datetime(3100, 1, 1, tzinfo=UTC)),  # out of range
    )


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    seed=st.integers(0, 10**6),
    now_index=st.integers(0, len(NOWS) - 1),
    edits=st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from([None, *ODD])), max_size=2),
    position=st.one_of(st.none(), st.integers(0, 10**6)),
    copies=st.integers(1, 3),
)
def test_issue_signed_equals_the_version_that_derived_times_per_credential(
    data: st.DataObject,
    seed: int,
    now_index: int,
    edits: list[tuple[str, str | None]],
    position: int | None,
    copies: int,
) -> None:
    now = NOWS[now_index]
    subject = residence_permit_subject(random.Random(seed))
    for name, value in edits:
        if value is None:
            subject.pop(name, None)
        else:
            subject[name] = value
    valid_from = data.draw(_validity(now))
    valid_until = data.draw(_validity(now))
    for i in range(copies):  # a slice: the same now object, then an equal one, each in turn
        at = now if i < 2 else now.astimezone(timezone(timedelta(hours=3)))
        cid = uuid.UUID(int=seed * 7 + i)
        kwargs: dict[str, Any] = {
            "valid_from": valid_from,
            "valid_until": valid_until,
            "now": at,
            "credential_id": cid,
            "status_position": position,
        }
        ours = _outcome(
            issue_signed,
            credential_type="ResidencePermit",
            subject=subject,
            identity=IDENTITY,
            chain_id=31337,
            anchor_registry=REGISTRY,
            **kwargs,
        )
        theirs = _outcome(
            _reference,
            credential_type="ResidencePermit",
            subject=subject,
            identity=IDENTITY,
            **kwargs,
        )
        assert ours == theirs


def test_times_are_made_once_for_each_now_object() -> None:
    now = NOWS[0]
    first = issuance._times_at(now)
    assert issuance._times_at(now) is first
    equal = now.astimezone(timezone(timedelta(hours=8)))  # the same instant, another object
    other = issuance._times_at(equal)
    assert other is not first and other == issuance._times(equal)


USCCS = ["11440100007502156G", "91440101MA5CXXXX0X", "", "11440100007502156H", "not a uscc"]


@settings(max_examples=300, deadline=None)
@given(
    credential_id=st.uuids(),
    credential_type=st.sampled_from(["ResidencePermit", "BusinessLicense", "ResidenceYears"]),
    uscc=st.sampled_from(USCCS),
)
def test_the_first_licence_id_equals_licence_id_of(
    credential_id: uuid.UUID, credential_type: str, uscc: str
) -> None:
    def outcome(make: Any) -> tuple[str, Any]:
        try:
            return "made", make()
        except Exception as e:  # the same error, by type and what it says
            return type(e).__name__, str(e)

    ours = outcome(lambda: first_licence_id(credential_type, uscc, credential_id))
    theirs = outcome(lambda: licence_id_of(credential_type, uscc, credential_id.urn, 1))
    assert ours == theirs
