"""``Verifier._fast_valid``, the one-pass answer for the common VALID bundle, is the general path.

``Verifier.verify`` asks ``_fast_valid`` first and takes the checks one by one
(``_verify_checks``) whenever it answers None. Held here: whatever it answers is the general
path's report, equal as objects and byte for byte as JSON, for valid bundles and for every kind
of broken one (tampered fields and proofs, other keys, revoked or reinstated statuses, expired,
unknown issuers, unanchored, SM2, other credential types); the flat field rules of a residence
permit (``verifier._fast_rules``) answer exactly what the bundle schema and
``validate_credential`` answer, over a wide space of field values; and a plain valid bundle
does take the fast path (so the speed-up cannot quietly rot).
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from tests.conftest import Registries, funded
from tests.verifier.factories import BIRTH_PLACES, GUANGZHOU_DISTRICTS, make_citizen_id
from tests.verifier.office import GZ_LICENCES, GZ_PERMITS, SZ_PERMITS, Office
from tests.verifier.test_tamper import leaves, mutate
from verifier import _fast_rules
from verifier.bundle import _sound_by_schema
from verifier.chain import EmbeddedChain
from verifier.credential import CHINA_TIME, _text_clean, validate_credential
from verifier.errors import InvalidInput
from verifier.jcs import _compiled_split, canonicalize
from verifier.keys import Ed25519KeyPair, multibase_encode
from verifier.licence_id import (
    _check_character,
    build_licence_id,
    is_valid_licence_id,
)
from verifier.merkle import MerkleTree, leaf_hash, root_from_inclusion
from verifier.policy import Policy
from verifier.proofs import sign_credential
from verifier.registry import CredentialStatus
from verifier.verify import Report, Verdict, Verifier

# ------------------------------------------------------------------ the scene


@dataclass
class Scene:
    chain: EmbeddedChain
    registries: Registries
    permits: Office  # Ed25519, ResidencePermit, with a USCC
    licences: Office  # Ed25519, BusinessLicense
    sm2: Office  # SM2, ResidencePermit
    verifier: Verifier
    clock: list[datetime]  # the verifier's now: clock[0]

    def anchored(self, office: Office, *credentials: dict[str, Any]) -> list[dict[str, Any]]:
        """Anchor ``credentials`` in one batch and let the verifier read it."""
        bundles = office.anchor(*credentials)
        self.verifier.refresh(force=True)
        return bundles


@pytest.fixture(scope="module")
def scene() -> Iterator[Scene]:
    from service.trust.deployment import deploy_registries

    chain = EmbeddedChain(None)
    root = funded(chain)
    registries = Registries(chain=chain, root=root, deployment=deploy_registries(chain, root))
    permits = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    licences = Office.accredit(registries, GZ_LICENCES, ("BusinessLicense",))
    sm2 = Office.accredit(registries, SZ_PERMITS, ("ResidencePermit",), algorithm="SM2")
    clock = [datetime.now(UTC) + timedelta(minutes=10)]
    verifier = Verifier.from_chain(
        chain,
        registries.anchor,
        Policy(sync_interval=timedelta(days=1), clock=lambda: clock[0]),
        deployment=registries.deployment,
    )
    yield Scene(chain, registries, permits, licences, sm2, verifier, clock)
    chain.close()


def both_ways(verifier: Verifier, bundle: object) -> tuple[Report | None, Report]:
    """``_fast_valid``'s answer and the general path's report, at the same instant; the fast
    answer, when there is one, must be the general report, and ``verify`` must give it."""
    verifier.refresh()  # the sync ``verify`` would make first, when due (the clock moves)
    now = verifier.policy.now()
    general = verifier._verify_checks(bundle, None, now)
    fast = verifier._fast_valid(bundle, now) if type(bundle) is dict else None
    if fast is not None:
        assert fast == general
        assert orjson.dumps(fast.to_json()) == orjson.dumps(general.to_json())
        assert fast.verdict is Verdict.VALID
    public = verifier.verify(bundle)
    assert public == general
    assert orjson.dumps(public.to_json()) == orjson.dumps(general.to_json())
    return fast, general


def _unsigned(credential: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({k: v for k, v in credential.items() if k != "proof"})


def _resign(office: Office, unsigned: dict[str, Any], key: Any = None) -> dict[str, Any]:
    """``unsigned`` signed with the office's key (or ``key``) under its verification method."""
    created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return sign_credential(
        unsigned, key or office.keys[office.key_id], f"{office.did}#{office.key_id}", created
    )


def _sign_without_context(
    office: Office, unsigned: dict[str, Any], **options: object
) -> dict[str, Any]:
    """An eddsa-jcs-2022 proof whose options carry no ``@context`` (the suite allows it), or
    the ``options`` given, signed over them and the document as it is."""
    proof = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": "2026-12-01T00:00:00Z",
        "verificationMethod": f"{office.did}#{office.key_id}",
        "proofPurpose": "assertionMethod",
        **options,
    }
    data = (
        hashlib.sha256(canonicalize(proof)).digest()
        + hashlib.sha256(canonicalize(unsigned)).digest()
    )
    proof["proofValue"] = multibase_encode(office.keys[office.key_id].sign(data))
    return {**unsigned, "proof": proof}


# ------------------------------------------------------------------ taken, and only when right


def test_a_plain_valid_bundle_takes_the_fast_path(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    permit, licence = scene.permits.permit(), scene.licences.licence()
    bundles = scene.anchored(scene.permits, permit) + scene.anchored(scene.licences, licence)
    for bundle in bundles:
        fast, general = both_ways(scene.verifier, bundle)
        assert fast is not None and general.verdict is Verdict.VALID
    # the residence permit's flat field rules were taken, not only the general ones
    now = scene.verifier.policy.now()
    assert _fast_rules.permit_fields(bundles[0], bundles[0]["credential"], now) is not None

    def general_path(*_: object) -> Report:
        raise AssertionError("the general path ran for a plain valid bundle")

    monkeypatch.setattr(Verifier, "_verify_checks", general_path)
    for bundle in bundles:
        assert scene.verifier.verify(bundle).verdict is Verdict.VALID


def test_the_flat_rules_are_written_for_the_schemas_as_they_are() -> None:
    # A changed schema switches the flat rules off (the general path answers, slower) and fails
    # here: review ``verifier._fast_rules`` against the new schema, then update its digests.
    for name, digest in _fast_rules.SCHEMA_DIGESTS.items():
        assert _fast_rules.schema_digest(name) == digest, name
    assert _fast_rules.permit_bundle_validator() is not None


def test_every_one_field_forgery_gets_the_general_report(scene: Scene) -> None:
    (bundle,) = scene.anchored(scene.permits, scene.permits.permit())
    verdicts = []
    for path in leaves(bundle):
        fast, general = both_ways(scene.verifier, mutate(bundle, path))
        verdicts.append(general.verdict)
        # a changed receipt block fact is still VALID (anchor_receipt_stale): the general path's
        if fast is not None:
            assert path[0] == "anchor", path
    assert Verdict.INVALID in verdicts


def test_the_unusual_cases_get_the_general_report(scene: Scene) -> None:
    permits, verifier = scene.permits, scene.verifier
    plain, revoked, reinstated, stale = (permits.permit() for _ in range(4))
    rogue_unit = _unsigned(permits.permit())
    rogue_unit["licenceId"] = build_licence_id(
        "000000000000000000001", "11440300MB2E66230L", "A1", 1
    )
    other_key = _resign(permits, _unsigned(permits.permit()), Ed25519KeyPair.generate())
    signed_no_context = _sign_without_context(permits, _unsigned(permits.permit()))
    other_context = _resign(permits, _unsigned(permits.permit()))
    other_context["proof"]["@context"] = [other_context["@context"][0]]
    undated = _resign(permits, _unsigned(permits.permit()))
    undated["proof"]["created"] = "yesterday"
    bundles = scene.anchored(
        permits,
        plain,
        revoked,
        reinstated,
        stale,
        _resign(permits, rogue_unit),
        other_key,
        signed_no_context,
        other_context,
        undated,
    )
    permits.set_status(revoked, CredentialStatus.REVOKED)
    permits.set_status(reinstated, CredentialStatus.SUSPENDED)
    permits.set_status(reinstated, CredentialStatus.REINSTATED)
    verifier.refresh(force=True)
    stale_bundle = copy.deepcopy(bundles[3])
    stale_bundle["anchor"]["blockNumber"] += 1
    unanchored = {**bundles[0], "anchor": None}
    sm2_bundle = scene.anchored(scene.sm2, scene.sm2.permit(residenceRegion="440304"))[0]
    stranger = Office(
        scene.registries, "did:web:nobody.example", "无名", 440100, funded(scene.chain)
    )
    stranger.keys["key-1"] = Ed25519KeyPair.generate()
    unknown_issuer = {**bundles[0], "credential": _resign(stranger, _unsigned(plain))}
    tampered = copy.deepcopy(bundles[0])
    value = tampered["credential"]["proof"]["proofValue"]
    tampered["credential"]["proof"]["proofValue"] = value[:-1] + ("2" if value[-1] != "2" else "3")
    cases = {
        "plain": (bundles[0], Verdict.VALID, True),
        "revoked": (bundles[1], Verdict.INVALID, False),
        "reinstated": (bundles[2], Verdict.VALID, True),
        "stale receipt": (stale_bundle, Verdict.VALID, False),
        "licence of another unit": (bundles[4], Verdict.INVALID, False),
        "another key": (bundles[5], Verdict.INVALID, False),
        "proof without @context": (bundles[6], Verdict.VALID, True),
        "proof with another @context": (bundles[7], Verdict.INVALID, False),
        "undated proof": (bundles[8], Verdict.INVALID, False),
        "unanchored": (unanchored, Verdict.PENDING, False),
        "SM2": (sm2_bundle, Verdict.VALID, False),
        "unknown issuer": (unknown_issuer, Verdict.INVALID, False),
        "tampered proofValue": (tampered, Verdict.INVALID, False),
        "not a dict": ("{}", Verdict.INVALID, False),
    }
    for name, (bundle, verdict, fast_expected) in cases.items():
        fast, general = both_ways(verifier, bundle)
        assert general.verdict is verdict, (name, general.to_json())
        assert (fast is not None) is fast_expected, name
    # expired, and not yet valid: the clock moves, the answers stay the general path's
    start = scene.clock[0]
    try:
        for moved, verdict in (
            (start + timedelta(days=2 * 365), Verdict.INVALID),
            (start - timedelta(days=2), Verdict.INVALID),
        ):
            scene.clock[0] = moved
            fast, general = both_ways(verifier, bundles[0])
            assert fast is None and general.verdict is verdict
    finally:
        scene.clock[0] = start


def test_a_revoked_key_and_a_removed_authority_get_the_general_report(scene: Scene) -> None:
    office = Office.accredit(
        scene.registries,
        ("did:web:revoked.example", "某局", "Some Bureau", 440100),
        ("ResidencePermit",),
    )
    (bundle,) = scene.anchored(office, office.permit())
    fast, general = both_ways(scene.verifier, bundle)
    assert fast is not None and general.verdict is Verdict.VALID
    index = scene.verifier.index
    key = index.key(index.authority(office.did).id, "key-1")  # type: ignore[union-attr]
    assert key is not None
    office.revoke_key("key-1", key.valid_from)  # revoked from its start: before the anchor
    scene.verifier.refresh(force=True)
    fast, general = both_ways(scene.verifier, bundle)
    assert fast is None and general.check("key_validity").reason.code == "key_revoked"
    scene.registries.trust_tx("remove", [office.did])
    scene.verifier.refresh(force=True)
    fast, general = both_ways(scene.verifier, bundle)
    assert fast is None and general.verdict is Verdict.INVALID


# ------------------------------------------------------------------ the field rules, flat

_BIRTHS = st.dates(date(1880, 1, 1), date(2030, 12, 31))
_TODAY = datetime.now(CHINA_TIME).date()  # about the sample's issue date: edits land near it


def _date_texts() -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(-900, 900).map(lambda days: (_TODAY + timedelta(days=days)).isoformat()),
        _BIRTHS.map(date.isoformat),
        st.sampled_from(["2026-02-30", "2026-13-01", "2026-1-05", "20261206", "", "2026-12-06 "]),
        st.sampled_from([None, 20261206]),
    )


def _instant_texts() -> st.SearchStrategy[object]:
    base = datetime.combine(_TODAY, datetime.min.time())
    near = st.integers(-900 * 86400, 900 * 86400).map(lambda s: base + timedelta(seconds=s))
    instants = near | st.datetimes(datetime(1890, 1, 1), datetime(2040, 1, 1))
    offsets = st.sampled_from(["Z", "+08:00", "-12:00", "+14:00", "", "+24:00", "+08:60"])
    fraction = st.sampled_from(["", ".5", ".123456"])
    return st.one_of(
        st.builds(
            lambda t, f, o: t.strftime("%Y-%m-%dT%H:%M:%S") + f + o, instants, fraction, offsets
        ),
        st.sampled_from(
            ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", "2026-02-30T00:00:00Z"]
        ),
        st.sampled_from(["2026-12-06", None, 1796515530]),
    )


@st.composite
def _citizen_ids(draw: st.DrawFn, birth: date | None = None) -> str:
    birth = birth or draw(_BIRTHS)
    region = draw(st.sampled_from([*BIRTH_PLACES, "990101", "000000"]))
    number = make_citizen_id(region, birth, draw(st.integers(0, 999)))
    return draw(
        st.sampled_from(
            [
                number,
                number,
                number[:-1] + ("0" if number[-1] != "0" else "1"),  # a wrong check digit
                number.lower(),
                " " + number,
                number[:15],
            ]
        )
    )


@st.composite
def _people(draw: st.DrawFn) -> dict[str, object]:
    """A holder whose birth date, citizen ID and sex agree (or, sometimes, the sex does not)."""
    birth = draw(st.integers(-900, 900).map(lambda days: _TODAY + timedelta(days=days)) | _BIRTHS)
    number = draw(_citizen_ids(birth))
    sex = "male" if len(number) == 18 and number[16].isdigit() and int(number[16]) % 2 else "female"
    if draw(st.integers(0, 4)) == 0:
        sex = "female" if sex == "male" else "male"
    return {"birthDate": birth.isoformat(), "citizenId": number, "sex": sex}


_TEXTS = st.one_of(
    st.sampled_from(
        ["张三", "  ", "", "e\u0301", "\u202e甲", "a\x00b", "乙" * 65, "\\n", "\u00e9"]
    ),
    st.text(max_size=5),
)


def _endorsements() -> st.SearchStrategy[object]:
    one = st.fixed_dictionaries({"date": _date_texts(), "validUntil": _date_texts()})
    return st.one_of(
        st.lists(one, max_size=3),
        st.lists(
            st.fixed_dictionaries(
                {"date": _date_texts(), "validUntil": _date_texts(), "extra": st.just(1)}
            ),
            max_size=1,
        ),
        st.sampled_from([None, "none", [1]]),
    )


_DROP = object()  # a field removed
_SUBJECT_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "person": _people(),  # birthDate, citizenId and sex together
    "birthDate": _date_texts(),
    "issueDate": _date_texts(),
    "residenceSince": _date_texts(),
    "citizenId": _citizen_ids(),
    "sex": st.sampled_from(["male", "female", "other", None]),
    "residenceRegion": st.sampled_from(
        [*GUANGZHOU_DISTRICTS, "440100", "999999", "44011", "110105"]
    ),
    "name": _TEXTS,
    "hukouAddress": _TEXTS,
    "endorsements": _endorsements(),
    "photoDigest": st.sampled_from(["sha256:" + "ab" * 32, "sha256:AB", "md5:00"]),
    "nickname": _TEXTS,
}
_CREDENTIAL_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "validFrom": _instant_texts(),
    "validUntil": _instant_texts(),
    "id": st.sampled_from([f"urn:uuid:{uuid.UUID(int=5, version=4)}", "urn:uuid:X", 7]),
    "type": st.sampled_from(
        [["VerifiableCredential", "ResidencePermit"], ["ResidencePermit"], ["VerifiableCredential"]]
    ),
    "issuer": st.sampled_from(["did:web:lsj.gz.gov.cn", "did:web:other.example", "not a did"]),
    "credentialSchema": st.sampled_from([{"id": "x", "type": "JsonSchema"}, []]),
    "extra": _TEXTS,
}


def _licences(credential: dict[str, Any]) -> st.SearchStrategy[object]:
    licence = credential["licenceId"]
    return st.sampled_from(
        [
            licence,
            licence + " ",
            licence[:-1] + ("0" if licence[-1] != "0" else "1"),
            build_licence_id("000000000000000000001", "11440300MB2E66230L", "A1", 1),
            "1.2.156",
            None,
            5,
        ]
    )


@st.composite
def _edits(draw: st.DrawFn, credential: dict[str, Any]) -> list[tuple[str, str, object]]:
    """A few edits of a residence permit: (where, field, value or _DROP)."""
    fields = [("subject", name) for name in _SUBJECT_FIELDS] + [
        ("credential", name) for name in [*_CREDENTIAL_FIELDS, "licenceId", "credentialStatus"]
    ]
    edits = []
    for where, name in draw(st.lists(st.sampled_from(fields), max_size=3, unique=True)):
        if draw(st.integers(0, 5)) == 0:
            edits.append((where, name, _DROP))
            continue
        if where == "subject":
            value = draw(_SUBJECT_FIELDS[name])
        elif name == "licenceId":
            value = draw(_licences(credential))
        elif name == "credentialStatus":
            value = draw(st.sampled_from([[], {"type": ""}, [{"type": "X"}]]))
        else:
            value = draw(_CREDENTIAL_FIELDS[name])
        edits.append((where, name, value))
    return edits


def _edited(credential: dict[str, Any], edits: list[tuple[str, str, object]]) -> dict[str, Any]:
    out = copy.deepcopy(credential)
    for where, name, value in edits:
        target = out["credentialSubject"] if where == "subject" else out
        if name == "person" and isinstance(value, dict):
            target.update(value)
        elif name == "person":
            continue
        elif value is _DROP:
            target.pop(name, None)
        else:
            target[name] = copy.deepcopy(value)
    return out


@pytest.fixture(scope="module")
def sample(scene: Scene) -> dict[str, Any]:
    """An anchored residence permit bundle, with an endorsement, to edit."""
    unsigned = _unsigned(scene.permits.permit())
    issued = date.fromisoformat(unsigned["credentialSubject"]["issueDate"])
    unsigned["credentialSubject"]["endorsements"] = [
        {"date": issued.isoformat(), "validUntil": (issued + timedelta(days=365)).isoformat()}
    ]
    (bundle,) = scene.anchored(scene.permits, _resign(scene.permits, unsigned))
    return bundle


_ANCHOR_EDITS = st.sampled_from(
    [
        ("chainId", 2**60),
        ("leafIndex", -1),
        ("hash", "sm3"),
        ("hash", "md5"),
        ("extra", 1),
        ("root", "0x00"),
        ("path", _DROP),
        ("blockHash", "0x" + "ab" * 32),
    ]
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), days=st.integers(-400, 800))
def test_the_flat_permit_rules_answer_as_the_schema_and_validate_credential(
    sample: dict[str, Any], data: st.DataObject, days: int
) -> None:
    credential = _edited(sample["credential"], data.draw(_edits(sample["credential"])))
    bundle = {**sample, "credential": credential}
    anchor_edit = data.draw(st.none() | _ANCHOR_EDITS)
    if anchor_edit is not None:
        anchor = dict(sample["anchor"])
        if anchor_edit[1] is _DROP:
            anchor.pop(anchor_edit[0])
        else:
            anchor[anchor_edit[0]] = anchor_edit[1]
        bundle["anchor"] = anchor
    # the flat rules' callers: a residence permit on the compiled JCS path
    assume(_compiled_split(credential, "proof") is not None)
    assume(credential.get("type") == sample["credential"]["type"])
    now = datetime.fromisoformat(sample["credential"]["validFrom"]) + timedelta(days=days)
    flat = _fast_rules.permit_fields(bundle, credential, now)
    errors = validate_credential(credential, now=now)
    sound = _sound_by_schema(bundle)
    event("clean" if sound and errors == [] else "not clean")
    if flat is not None:
        assert sound and errors == []
        assert flat == (
            datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00")),
            datetime.fromisoformat(credential["validUntil"].replace("Z", "+00:00")),
        )
    elif _text_clean(credential.get("credentialSubject")):
        # exact, except where ``_text_clean``'s quick look cannot tell (the walk then decides)
        assert not (sound and errors == []), (errors, credential)


def _person(birth: date, *, region: str = "430104", sequence: int = 123) -> dict[str, object]:
    return {
        "birthDate": birth.isoformat(),
        "citizenId": make_citizen_id(region, birth, sequence),
        "sex": "male" if sequence % 2 else "female",
    }


def _rule_breakers(credential: dict[str, Any]) -> dict[str, tuple[list[Any], int]]:
    """Edits that each break one field rule (or format) of ``credential``, and the day (after
    its ``validFrom``) to check on."""
    subject = credential["credentialSubject"]
    issue = date.fromisoformat(subject["issueDate"])
    birth = date.fromisoformat(subject["birthDate"])
    valid_from = credential["validFrom"]
    licence = credential["licenceId"]

    def day(n: int) -> str:
        return (issue + timedelta(days=n)).isoformat()

    def on(**fields: object) -> list[Any]:
        return [("subject", k, v) for k, v in fields.items()]

    wrong_check = subject["citizenId"][:-1] + ("0" if subject["citizenId"][-1] != "0" else "1")
    return {
        "born after the issue date": (
            on(issueDate=day(-10), residenceSince=day(-3), person=_person(issue - timedelta(5))),
            1,
        ),
        "born in the future": (on(person=_person(issue + timedelta(10))), 1),
        "born before 1900": (on(person=_person(date(1899, 12, 31))), 1),
        "issued in the future": (on(issueDate=day(10)), 1),
        "residence since after validFrom and the issue date": (on(residenceSince=day(1)), 3),
        "residence since in the future": (on(residenceSince=day(30)), 3),
        "residence since before birth": (
            on(residenceSince=(birth - timedelta(1)).isoformat()),
            1,
        ),
        "endorsed in the future": (on(endorsements=[{"date": day(5), "validUntil": day(400)}]), 1),
        "endorsed before the issue date": (
            on(endorsements=[{"date": day(-1), "validUntil": day(400)}]),
            1,
        ),
        "endorsement ending before it starts": (
            on(endorsements=[{"date": day(0), "validUntil": day(0)}]),
            1,
        ),
        "sex not the citizen ID's": (
            on(sex="female" if subject["sex"] == "male" else "male"),
            1,
        ),
        "citizen ID of another birth date": (
            on(citizenId=_person(birth - timedelta(1))["citizenId"]),
            1,
        ),
        "citizen ID check digit": (on(citizenId=wrong_check), 1),
        "citizen ID province unknown": (
            on(citizenId=_person(birth, region="990101")["citizenId"]),
            1,
        ),
        "residence region unknown": (on(residenceRegion="999999"), 1),
        "text not NFC": (on(name="e\u0301"), 1),
        "text with a bidi control": (on(name="\u202e甲"), 1),
        "not a real date": (on(issueDate="2026-02-30"), 1),
        "validUntil not after validFrom": ([("credential", "validUntil", valid_from)], 1),
        "validUntil offset minutes past 59": (
            [("credential", "validUntil", credential["validUntil"].replace("Z", "+08:60"))],
            1,
        ),
        "validUntil past 2999": ([("credential", "validUntil", "3000-01-01T00:00:00Z")], 1),
        "licence check character": (
            [("credential", "licenceId", licence[:-1] + ("0" if licence[-1] != "0" else "1"))],
            1,
        ),
        "licence with a space": ([("credential", "licenceId", licence + " ")], 1),
        "licence not text": ([("credential", "licenceId", 5)], 1),
    }


def test_each_field_rule_broken_alone_turns_the_flat_rules_down(sample: dict[str, Any]) -> None:
    # one deterministic case per rule, beside the property test's wide space
    credential = sample["credential"]
    start = datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00"))
    assert _fast_rules.permit_fields(sample, credential, start + timedelta(days=1)) is not None
    for name, (edits, days) in _rule_breakers(credential).items():
        edited = _edited(credential, edits)
        now = start + timedelta(days=days)
        assert validate_credential(edited, now=now) or not _sound_by_schema(
            {**sample, "credential": edited}
        ), name
        assert _fast_rules.permit_fields({**sample, "credential": edited}, edited, now) is None, (
            name
        )


# ------------------------------------------------------------------ signed and anchored, both ways


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_edited_permits_signed_and_anchored_get_the_general_report(
    scene: Scene, sample: dict[str, Any], data: st.DataObject
) -> None:
    # what a misbehaving (or merely unusual) authority signs and anchors: every edit carries a
    # valid signature and receipt, so the field rules, validity and the rest decide
    edits = data.draw(st.lists(_edits(sample["credential"]), min_size=1, max_size=6))
    credentials = []
    for change in edits:
        unsigned = _edited(_unsigned(sample["credential"]), change)
        unsigned["id"] = f"urn:uuid:{uuid.uuid4()}"  # a new leaf every run
        credentials.append(_resign(scene.permits, unsigned))
    bundles = scene.anchored(scene.permits, *credentials)
    days = data.draw(st.integers(-3, 800))
    start = scene.clock[0]
    scene.clock[0] = start + timedelta(days=days)
    try:
        for bundle in bundles:
            fast, general = both_ways(scene.verifier, bundle)
            event(f"{general.verdict.value}, fast path {'taken' if fast else 'declined'}")
    finally:
        scene.clock[0] = start


def test_each_rule_breaker_signed_and_anchored_gets_the_general_report(
    scene: Scene, sample: dict[str, Any]
) -> None:
    breakers = _rule_breakers(sample["credential"])
    credentials = []
    for edits, _ in breakers.values():
        unsigned = _edited(_unsigned(sample["credential"]), edits)
        unsigned["id"] = f"urn:uuid:{uuid.uuid4()}"
        credentials.append(_resign(scene.permits, unsigned))
    bundles = scene.anchored(scene.permits, *credentials)
    start = scene.clock[0]
    try:
        for name, bundle, (_, days) in zip(breakers, bundles, breakers.values(), strict=True):
            scene.clock[0] = start + timedelta(days=days)
            fast, general = both_ways(scene.verifier, bundle)
            assert fast is None and general.verdict is Verdict.INVALID, name
            assert general.check("format").outcome.value == "fail", name
    finally:
        scene.clock[0] = start


def test_what_only_a_later_check_refuses_gets_the_general_report(scene: Scene) -> None:
    permits, licences = scene.permits, scene.licences
    # a validly signed proof the general path still refuses: a context that is no prefix of
    # the credential's, a created that is no date-time
    foreign_context = _sign_without_context(
        permits, _unsigned(permits.permit()), **{"@context": ["https://other.example/ctx"]}
    )
    undated = _sign_without_context(permits, _unsigned(permits.permit()), created="yesterday")
    # the subject's region outside the issuer's (a code in force: the field rules hold)
    outside = _unsigned(permits.permit())
    outside["credentialSubject"]["residenceRegion"] = "440304"
    # an authority not accredited for the type (no licence identifier: its unit would differ)
    wrong_type = _unsigned(permits.permit())
    wrong_type["issuer"] = licences.did
    del wrong_type["licenceId"]
    bundles = scene.anchored(
        permits, foreign_context, undated, _resign(permits, outside)
    ) + scene.anchored(licences, _resign(licences, wrong_type))
    # a permit's root anchored by another authority
    (other_anchorer,) = scene.anchored(licences, permits.permit())
    # signed with the issuer's key under another authority's verification method
    other_method = _sign_without_context(
        permits, _unsigned(permits.permit()), verificationMethod=f"{licences.did}#key-1"
    )
    (other_method_bundle,) = scene.anchored(permits, other_method)
    # a SHA-256 receipt that says SM3 (this deployment anchors with SHA-256)
    (base,) = scene.anchored(permits, permits.permit())
    relabelled = copy.deepcopy(base)
    relabelled["anchor"]["hash"] = "sm3"
    expected = {
        "proof_context_mismatch": bundles[0],
        "proof_malformed": bundles[1],
        "issuer_region_outside": bundles[2],
        "issuer_type_not_accredited": bundles[3],
        "anchor_other_authority": other_anchorer,
        "verification_method_not_issuer": other_method_bundle,
        "anchor_hash_mismatch": relabelled,
    }
    for code, bundle in expected.items():
        fast, general = both_ways(scene.verifier, bundle)
        assert fast is None and general.verdict is Verdict.INVALID, code
        assert code in {c.reason.code for c in general.failed}, (code, general.to_json())


def test_a_suspended_authority_and_a_pinned_chain_get_the_general_report(scene: Scene) -> None:
    office = Office.accredit(
        scene.registries,
        ("did:web:suspended.example", "某所", "Some Office", 440100),
        ("ResidencePermit",),
    )
    (bundle,) = scene.anchored(office, office.permit())
    # a verifier that accepts only another chain, or another registry
    for pinned in ({"chain_id": 1}, {"anchor_registry": "0x" + "11" * 20}):
        verifier = Verifier.from_chain(
            scene.chain,
            scene.registries.anchor,
            Policy(sync_interval=timedelta(days=1), clock=lambda: scene.clock[0], **pinned),  # type: ignore[arg-type]
            deployment=scene.registries.deployment,
        )
        fast, general = both_ways(verifier, bundle)
        assert fast is None and general.check("anchor").outcome.value == "fail", pinned
    fast, general = both_ways(scene.verifier, bundle)
    assert fast is not None and general.verdict is Verdict.VALID
    scene.registries.trust_tx("suspend", [office.did])
    scene.verifier.refresh(force=True)
    # anchored before the suspension: the policy's history decides, on the general path
    fast, general = both_ways(scene.verifier, bundle)
    assert fast is None and general.verdict is Verdict.VALID
    strict = Verifier.from_chain(
        scene.chain,
        scene.registries.anchor,
        Policy(
            sync_interval=timedelta(days=1),
            clock=lambda: scene.clock[0],
            accept_suspended_authority_history=False,
        ),
        deployment=scene.registries.deployment,
    )
    fast, general = both_ways(strict, bundle)
    assert fast is None and general.check("issuer").reason.code == "authority_suspended"


# ------------------------------------------------------------------ the flat helpers


@st.composite
def _licence_texts(draw: st.DrawFn) -> str:
    """Licence identifiers, valid and broken in each part (mostly one part at a time, with the
    check character computed over the parts), and none at all."""
    good = "11440100007502156G"
    uscc = draw(
        st.sampled_from([good] * 4 + ["11440300MB2E66230L", "11440100007502156H", good.lower()])
    )
    serial = draw(
        st.text("0123456789ABCDEF", min_size=1, max_size=40)
        | st.sampled_from(["", "7" * 64, "7" * 65])
    )
    version = draw(st.sampled_from(["001"] * 4 + ["000", "01", "999", "1A2"]))
    type_code = draw(st.sampled_from(["000000000000000000001"] * 4 + ["0" * 20, "0" * 22]))
    check = draw(st.sampled_from(["0", "A", "9", "Z", "", "AB", "a"]))
    # the check character over the parts as they are, whether or not each part holds
    right = _check_character(type_code, uscc.upper(), serial, version)
    parts = ("1.2.156.3005.2", type_code, uscc, serial, version)
    return draw(
        st.sampled_from(
            [
                ".".join((*parts, right)),
                ".".join((*parts, right)),
                ".".join((*parts, check)),
                ".".join((*parts, right, "1")),
                ".".join((*parts, right)).replace(".", "", 1),
            ]
        )
        | st.text(max_size=12)
    )


@settings(max_examples=500)
@given(_licence_texts())
def test_the_flat_licence_check_answers_as_parse_licence_id(licence: str) -> None:
    assume(licence == licence.strip())
    assert _fast_rules.licence_id_holds(licence) is is_valid_licence_id(licence)


@settings(max_examples=500)
@given(
    size=st.integers(1, 300),
    data=st.data(),
)
def test_the_flat_inclusion_root_is_root_from_inclusion(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(-2, size + 2))
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(size)]
    tree = MerkleTree(leaves)
    path = tree.inclusion_proof(index) if 0 <= index < size else []
    path = data.draw(
        st.sampled_from([path, path[:-1], [*path, leaves[0]], path[1:], list(reversed(path)), []])
    )
    hex_path = ["0x" + p.hex() for p in path]
    leaf = leaf_hash(leaves[index % size])
    try:
        expected: bytes | None = root_from_inclusion(leaf, index, size, path)
    except InvalidInput:
        expected = None
    assert _fast_rules.inclusion_root(leaf, index, size, hex_path) == expected
    if path and 0 <= index < size and expected is not None and path == tree.inclusion_proof(index):
        assert expected == tree.root
