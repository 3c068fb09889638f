"""The Suixin JSON-LD context: every credential Suixin makes expands with no term lost, offline.

"Safe mode" is JSON-LD expansion that fails instead of dropping a term (VCDM 2.0 §5.2; see
``tests/verifier/safe_jsonld.py`` for how it is done with PyLD). The contexts come only from the
package (``verifier.contexts``); nothing is fetched.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pyld.jsonld import JsonLdError

from tests.verifier import factories
from tests.verifier.safe_jsonld import UnsafeJsonLd, expand_safe
from verifier.bundle import AnchorReceipt
from verifier.contexts import (
    CONTEXT_FILES,
    SUIXIN_CONTEXT,
    SUIXIN_CONTEXT_V1,
    SUIXIN_VOCAB,
    UNDEFINED_TERMS_CONTEXT,
    VC_V2_CONTEXT,
    context_bytes,
    document_loader,
    load_context,
)
from verifier.credential import validate_credential
from verifier.errors import InvalidInput, UnknownContext
from verifier.keys import Ed25519KeyPair
from verifier.messages import Reason
from verifier.proofs import sign_credential, verify_proof
from verifier.receipts import make_receipt, verify_receipt
from verifier.schemas import CREDENTIAL_TYPES, load_schema
from verifier.status import ANCHOR_STATUS_TYPE
from verifier.verify import CheckResult, Outcome, Report, TrustSource, Verdict

SX = SUIXIN_VOCAB
CRED = "https://www.w3.org/2018/credentials#"
XSD = "http://www.w3.org/2001/XMLSchema#"
KEY = Ed25519KeyPair.from_private_bytes(bytes(range(32)))
METHOD = "did:web:lasui.gz.gov.cn#key-1"

# A published context never changes: a new term or meaning is a new URL. If this fails, the
# file was edited; publish the change as …/contexts/v3 instead.
PINNED = {
    SUIXIN_CONTEXT: "353cfcf04e70774b0ddaaf686b9c5f7dff5bc43cf876cdaca381919c4bb627d0",
    SUIXIN_CONTEXT_V1: "84df2858749fd3e4c2e481b0b14bfe3cbf7decda85efea41a3db123e8131edc2",
    VC_V2_CONTEXT: "8a9f494a89ecc51db093e90e84713e07e84d6d9204364a9b3c7868b21751236f",
    UNDEFINED_TERMS_CONTEXT: "82dab514ba44eb18f5d1b0f638c5e140c6a556fbfb5089601bdc0fa5eb8b2581",
}


def permit_with_everything() -> dict[str, Any]:
    """A permit using every optional field: holder DID, photo, two endorsements."""
    subject = factories.residence_permit_subject(
        id="did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        photoDigest="sha256:" + "ab" * 32,
        endorsements=[
            {"date": "2026-11-21", "validUntil": "2027-11-21"},
            {"date": "2027-11-01", "validUntil": "2028-11-21"},
        ],
    )
    return factories.credential("ResidencePermit", subject)


def signed(credential: dict[str, Any]) -> dict[str, Any]:
    return sign_credential(credential, KEY, METHOD, "2026-11-21T00:00:00Z")


def subject_of(expanded: list[Any]) -> dict[str, Any]:
    (node,) = expanded
    (subject,) = node[CRED + "credentialSubject"]
    return dict(subject)


# ------------------------------------------------------------------ every type expands


@pytest.mark.parametrize(
    "credential",
    [
        permit_with_everything(),
        factories.residence_permit(),
        factories.business_license(),
        factories.credential(
            "BusinessLicense",
            factories.business_license_subject(
                operatingTerm={"from": "2020-05-01", "until": "2040-04-30"}
            ),
        ),
        factories.residence_years(),
    ],
    ids=["permit-full", "permit", "licence-no-end", "licence-until", "residence-years"],
)
def test_every_credential_type_expands_in_safe_mode_signed_or_not(
    credential: dict[str, Any],
) -> None:
    assert credential["@context"] == [VC_V2_CONTEXT, SUIXIN_CONTEXT]
    for document in (credential, signed(credential)):
        (node,) = expand_safe(document)
        kind = next(t for t in credential["type"] if t != "VerifiableCredential")
        assert node["@type"] == [CRED + "VerifiableCredential", SX + kind]
        (status,) = node[CRED + "credentialStatus"]
        assert status["@type"] == [SX + ANCHOR_STATUS_TYPE]
        subject = subject_of([node])
        fields = set(credential["credentialSubject"]) - {"id", "name"}
        assert {k.removeprefix(SX) for k in subject if k.startswith(SX)} >= fields


def test_values_get_their_datatypes() -> None:
    subject = subject_of(expand_safe(permit_with_everything()))
    assert subject[SX + "birthDate"][0]["@type"] == XSD + "date"
    assert subject[SX + "issueDate"][0]["@type"] == XSD + "date"
    (endorsements,) = subject[SX + "endorsements"]
    first, second = endorsements["@list"]  # ordered, as on the card
    assert first[SX + "endorsementDate"] == [{"@type": XSD + "date", "@value": "2026-11-21"}]
    assert second[SX + "endorsementValidUntil"] == [{"@type": XSD + "date", "@value": "2028-11-21"}]
    assert subject["@id"].startswith("did:key:")
    assert subject["https://schema.org/name"][0]["@value"]  # name is the VC 2.0 term

    years = subject_of(expand_safe(factories.residence_years()))
    assert years[SX + "residenceYears"][0]["@type"] == XSD + "integer"
    assert years[SX + "sourceCredential"][0]["@id"].startswith("urn:uuid:")


def test_every_schema_field_has_a_term() -> None:
    """A field added to a schema without a term in the context fails here, not in the field."""
    context = load_context(SUIXIN_CONTEXT)["@context"]
    v2 = load_context(VC_V2_CONTEXT)["@context"]

    def terms(properties: dict[str, Any], scope: dict[str, Any], where: str) -> None:
        for name, rule in properties.items():
            assert name in scope or name in v2, f"{where}.{name} has no JSON-LD term"
            nested = rule.get("properties") or rule.get("items", {}).get("properties")
            if nested:
                inner = scope[name]["@context"]
                terms(nested, inner, f"{where}.{name}")

    for credential_type in CREDENTIAL_TYPES:
        assert credential_type in context
        schema = load_schema(credential_type)
        terms(schema["$defs"]["subject"]["properties"], context, credential_type)


# ------------------------------------------------------------ what must fail, fails


def test_an_undefined_field_fails() -> None:
    credential = factories.residence_permit()
    credential["credentialSubject"]["favouriteColour"] = "blue"
    with pytest.raises(UnsafeJsonLd, match="favouriteColour"):
        expand_safe(credential)


def test_an_undefined_type_fails() -> None:
    credential = factories.business_license()
    credential["type"].append("Alumni")
    with pytest.raises(UnsafeJsonLd, match="Alumni"):
        expand_safe(credential)


def test_without_the_suixin_context_the_terms_are_undefined() -> None:
    """What the context fixes: a credential made before it loses its type and fields."""
    credential = factories.residence_permit()
    credential["@context"] = [VC_V2_CONTEXT]
    with pytest.raises(UnsafeJsonLd):
        expand_safe(credential)


def test_a_credential_made_before_the_context_still_verifies() -> None:
    old = factories.residence_permit()
    old["@context"] = [VC_V2_CONTEXT]
    secured = signed(old)
    assert verify_proof(secured, KEY.public_bytes).ok
    assert validate_credential(secured, now=factories.NOW) == []


@pytest.mark.parametrize(
    "redefinition",
    [
        {"citizenId": "https://evil.example/id"},
        {"ResidencePermit": "https://evil.example/Permit"},
        {"endorsements": {"@id": "https://evil.example/e"}},
    ],
)
def test_a_later_context_cannot_redefine_a_suixin_term(redefinition: dict[str, Any]) -> None:
    credential = factories.residence_permit()
    credential["@context"] = [VC_V2_CONTEXT, SUIXIN_CONTEXT, redefinition]
    with pytest.raises(JsonLdError, match="protected term redefinition"):
        expand_safe(credential)


def test_the_suixin_context_redefines_nothing_of_vc_2() -> None:
    """Its top-level terms are new: none is a VC 2.0 term, top-level or type-scoped (``name``,
    ``validUntil`` and ``issuer`` stay VC 2.0's; ours are scoped to endorsements and receipts)."""
    v2 = load_context(VC_V2_CONTEXT)["@context"]
    v2_terms = set(v2) | {
        t for d in v2.values() if isinstance(d, dict) for t in d.get("@context", {})
    }
    ours = set(load_context(SUIXIN_CONTEXT)["@context"])
    assert ours & v2_terms == {"@protected"}
    # the schema still insists that VC 2.0's context comes first
    credential = factories.residence_permit()
    credential["@context"] = [SUIXIN_CONTEXT, VC_V2_CONTEXT]
    codes = {e.code for e in validate_credential(credential, now=factories.NOW)}
    assert "context_invalid" in codes


# ---------------------------------------------------------------- receipts and anchors


def test_an_anchor_receipt_expands_with_its_terms() -> None:
    receipt = AnchorReceipt(
        chain_id=1337,
        registry="0x" + "12" * 20,
        root=b"\x01" * 32,
        leaf_index=3,
        tree_size=5,
        path=(b"\x02" * 32, b"\x03" * 32),
        block_number=42,
        block_time=1_800_000_000,
        transaction_hash="0x" + "04" * 32,
    )
    document = {"@context": [VC_V2_CONTEXT, SUIXIN_CONTEXT], "anchor": receipt.to_json()}
    (node,) = expand_safe(document)
    (anchor,) = node[SX + "anchor"]
    assert anchor[SX + "leafIndex"] == [{"@type": XSD + "integer", "@value": 3}]
    assert [p["@value"] for p in anchor[SX + "inclusionPath"][0]["@list"]] == [
        "0x" + "02" * 32,
        "0x" + "03" * 32,
    ]


def test_a_verification_receipt_expands_in_safe_mode() -> None:
    now = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
    report = Report(
        verdict=Verdict.VALID,
        checks=(CheckResult("format", Outcome.PASS, Reason("format_valid", "格式正确", "OK.")),),
        checked_at=now,
        trust=TrustSource("chain", 1337, "0x" + "12" * 20, 42, "0x" + "05" * 32, 1_800_000_000, 3),
        credential_id="urn:uuid:0b6f5a8e-3f7c-4a8e-9b1a-2c3d4e5f6a7b",
        credential_type="ResidencePermit",
        issuer="did:web:lasui.gz.gov.cn",
        issuer_name=("广州市来穗人员服务管理局", "Guangzhou Migrant Services Bureau"),
        warnings=(Reason("snapshot_stale", "快照过旧", "The snapshot is old."),),
    )
    bundle = {"credential": signed(factories.residence_permit()), "anchor": None}
    receipt = make_receipt(bundle, report, KEY, "did:key:z6Mk" + "x" * 10 + "#k")
    assert receipt["@context"] == [VC_V2_CONTEXT, SUIXIN_CONTEXT]
    assert verify_receipt(receipt, KEY.public_bytes).ok
    (node,) = expand_safe(receipt)
    subject = subject_of([node])
    (facts,) = subject[SX + "credential"]
    assert facts["@type"] == [SX + "ResidencePermit"]
    assert {(v["@language"], v["@value"]) for v in facts[SX + "issuerName"]} == {
        ("zh", "广州市来穗人员服务管理局"),
        ("en", "Guangzhou Migrant Services Bureau"),
    }
    (check,) = subject[SX + "checks"][0]["@list"]
    assert {"@language": "zh", "@value": "格式正确"} in check[SX + "reason"]


# -------------------------------------------------------------------- loader and files


def test_the_loader_serves_only_the_shipped_contexts() -> None:
    for url in CONTEXT_FILES:
        remote = document_loader(url, {})
        assert remote["documentUrl"] == url
        assert remote["document"] == json.loads(context_bytes(url))
    with pytest.raises(UnknownContext) as caught:
        document_loader("https://www.w3.org/ns/credentials/examples/v2")
    assert isinstance(caught.value, InvalidInput)
    assert "never fetches" in caught.value.diagnostics()


def test_a_document_naming_an_unknown_context_fails_without_fetching() -> None:
    credential = factories.residence_permit()
    credential["@context"].append("https://contexts.example/unknown")
    with pytest.raises(JsonLdError) as caught:
        expand_safe(credential)
    assert caught.value.code == "loading remote context failed"
    assert isinstance(caught.value.__cause__, UnknownContext)  # our loader refused it


def test_load_context_hands_out_copies() -> None:
    first = load_context(SUIXIN_CONTEXT)
    first["@context"]["citizenId"] = "changed"
    assert load_context(SUIXIN_CONTEXT)["@context"]["citizenId"] == "sx:citizenId"


@pytest.mark.parametrize("url", sorted(PINNED))
def test_shipped_contexts_are_pinned(url: str) -> None:
    assert hashlib.sha256(context_bytes(url)).hexdigest() == PINNED[url]


def test_the_suixin_context_is_protected_json_ld_1_1() -> None:
    context = load_context(SUIXIN_CONTEXT)["@context"]
    assert context["@protected"] is True and context["@version"] == 1.1
    assert "@vocab" not in context  # VCDM 2.0: no catch-all vocabulary in production
    scoped = [d["@context"] for d in context.values() if isinstance(d, dict) and "@context" in d]
    assert scoped and all(s.get("@protected") is True for s in scoped)


# ------------------------------------------------------------------------ v2 beside v1


def test_v2_is_v1_with_the_licence_id_and_two_receipt_terms_added() -> None:
    old = load_context(SUIXIN_CONTEXT_V1)["@context"]
    new = load_context(SUIXIN_CONTEXT)["@context"]
    assert set(new) - set(old) == {"licenceId"}
    assert {k: new[k] for k in old if k != "anchor"} == {k: old[k] for k in old if k != "anchor"}
    anchor_old, anchor_new = old["anchor"]["@context"], new["anchor"]["@context"]
    assert set(anchor_new) - set(anchor_old) == {"blockHash", "hash"}
    assert all(anchor_new[k] == anchor_old[k] for k in anchor_old)


def test_credentials_made_with_v1_still_expand_and_verify() -> None:
    credential = factories.residence_permit()
    credential["@context"] = [VC_V2_CONTEXT, SUIXIN_CONTEXT_V1]
    secured = signed(credential)
    assert verify_proof(secured, KEY.public_bytes).ok
    assert validate_credential(secured, now=factories.NOW) == []
    (node,) = expand_safe(secured)
    assert node["@type"] == [CRED + "VerifiableCredential", SX + "ResidencePermit"]
    credential["licenceId"] = "1.2.156.3005.2.x"  # v1 has no such term
    with pytest.raises(UnsafeJsonLd, match="licenceId"):
        expand_safe(credential)


def test_a_licence_id_and_an_sm3_receipt_expand_with_their_terms() -> None:
    credential = factories.residence_permit()
    licence = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
    credential["licenceId"] = licence
    (node,) = expand_safe(signed(credential))
    assert node[SX + "licenceId"] == [{"@value": licence}]
    receipt = AnchorReceipt(
        chain_id=1337,
        registry="0x" + "12" * 20,
        root=b"\x01" * 32,
        leaf_index=0,
        tree_size=1,
        path=(),
        block_number=42,
        block_time=1_800_000_000,
        transaction_hash="0x" + "04" * 32,
        block_hash="0x" + "05" * 32,
        hash="sm3",
    )
    document = {"@context": [VC_V2_CONTEXT, SUIXIN_CONTEXT], "anchor": receipt.to_json()}
    (anchored,) = expand_safe(document)
    (anchor,) = anchored[SX + "anchor"]
    assert anchor[SX + "merkleHash"] == [{"@value": "sm3"}]
    assert anchor[SX + "blockHash"] == [{"@value": "0x" + "05" * 32}]


def test_a_credential_with_its_status_list_entries_expands_in_safe_mode() -> None:
    credential = factories.residence_permit()
    base = "https://lsj.gz.gov.cn/status-lists"
    credential["credentialStatus"] = [
        credential["credentialStatus"],
        *(
            {
                "id": f"{base}/{purpose}/0#7",
                "type": "BitstringStatusListEntry",
                "statusPurpose": purpose,
                "statusListIndex": "7",
                "statusListCredential": f"{base}/{purpose}/0",
            }
            for purpose in ("revocation", "suspension")
        ),
    ]
    assert validate_credential(credential, authority_region=440100, now=factories.NOW) == []
    (node,) = expand_safe(credential)
    status = "https://www.w3.org/ns/credentials/status#"
    types = sorted(s["@type"][0] for s in node[CRED + "credentialStatus"])
    assert types == sorted([status + "BitstringStatusListEntry"] * 2 + [SX + ANCHOR_STATUS_TYPE])
    purposes = sorted(
        s[status + "statusPurpose"][0]["@value"]
        for s in node[CRED + "credentialStatus"]
        if status + "statusPurpose" in s
    )
    assert purposes == ["revocation", "suspension"]
