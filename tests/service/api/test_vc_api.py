"""The W3C VC API answers (service/api/vc_api.py, routes/vc.py, routes/presentations.py):
``options`` (checks, challenge, domain) on /credentials/verify, foreign credentials never VALID,
/presentations/verify with challenge and domain, and the opt-in conformance issuer.

Written from the VC API's verification request and result shapes (w3c-ccg/vc-api:
VerifyCredentialRequest, VerifyPresentationOptions — ``challenge``, ``domain``; results with
``verified``, ``checks``, ``warnings``, ``errors``) and from VC Data Model 2.0 §4.
"""

from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.config import Settings
from service.issuing.conformance import KEY_FILE
from tests.service.conftest import Api, OfficeWorld, TestClient, assert_problem, auth, settings
from tests.verifier.test_foreign import presentation, signed, status_entry, status_list
from tests.verifier.test_rdfc import examples_loader
from verifier._rdfc import DocumentLoader, canonicalize_rdfc
from verifier.contexts import VC_V2_CONTEXT, document_loader
from verifier.errors import InvalidInput
from verifier.jcs import canonicalize
from verifier.keys import Ed25519KeyPair, multibase_encode
from verifier.proofs import RDFC_CRYPTOSUITE, hash_data, proof_config, sign_credential


def verify(api: Api, credential: dict[str, Any], **options: Any) -> Any:
    return api.client.post(
        "/credentials/verify", json={"verifiableCredential": credential, "options": options}
    )


def test_a_foreign_credential_is_verified_but_not_accredited(api: Api) -> None:
    issuer = Ed25519KeyPair.generate()
    credential = signed(issuer)
    answer = verify(api, credential)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["verified"] is True and result["verdict"] == "NOT_ACCREDITED"
    assert result["foreign"] is True and result["errors"] == []
    assert result["checks"] == ["format", "signature", "validity_period"]
    warned = {w["check"]: w["code"] for w in result["warnings"]}
    assert warned["issuer"] == "issuer_not_accredited"
    assert warned["status"] == "status_none"

    # asked to check the issuer's accreditation: not verified
    asked = assert_problem(verify(api, credential, checks=["proof", "issuer"]), 422)
    assert asked["verified"] is False and asked["verdict"] == "NOT_ACCREDITED"
    assert [(e["path"], e["code"]) for e in asked["errors"]] == [
        ("issuer", "issuer_not_accredited")
    ]
    assert asked["checks"] == ["proof"]

    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["alumniOf"] = "伪造大学"
    refused = assert_problem(verify(api, tampered), 422)
    assert refused["verdict"] == "INVALID"
    assert ("signature", "signature_invalid") in {(e["path"], e["code"]) for e in refused["errors"]}


def test_a_foreign_credential_revoked_in_a_supplied_status_list(api: Api) -> None:
    issuer = Ed25519KeyPair.generate()
    credential = signed(issuer, credentialStatus=status_entry(31))
    unchecked = verify(api, credential).json()
    assert unchecked["verified"] is True
    assert {w["check"]: w["code"] for w in unchecked["warnings"]}["status"] == "status_not_checked"
    lists = [status_list(issuer, revoked=(31,))]
    revoked = assert_problem(verify(api, credential, statusListCredentials=lists), 422)
    assert [(e["path"], e["code"]) for e in revoked["errors"]] == [("status", "credential_revoked")]


def test_options_checks_challenge_and_domain(api: Api) -> None:
    issued = api.issue({"type": "ResidencePermit", "subject": api.permit()}).json()["credential"]
    only_proof = verify(api, issued, checks=["proof"]).json()
    assert only_proof["verified"] is True and only_proof["checks"] == ["proof"]
    assert only_proof["verdict"] == "PENDING"
    assert [(w["check"], w["code"]) for w in only_proof["warnings"]] == [
        ("anchor", "anchor_pending")
    ]

    unknown = assert_problem(verify(api, issued, checks=["proof", "telepathy"]), 422)
    assert [(e["path"], e["code"]) for e in unknown["errors"]] == [
        ("options.checks[1]", "check_unknown")
    ]
    # an issuer's proof carries no challenge: asking for one is a mismatch (a replay guard)
    challenged = assert_problem(verify(api, issued, challenge="n-0S6_WzA2Mj"), 422)
    assert [e["code"] for e in challenged["errors"]] == ["challenge_mismatch"]
    key = Ed25519KeyPair.generate()
    bound = credential_with_proof_options(key, domain="zq.gov.cn")
    assert verify(api, bound, domain="zq.gov.cn").json()["checks"][-1] == "domain"
    wrong = assert_problem(verify(api, bound, domain="sz.gov.cn"), 422)
    assert [e["code"] for e in wrong["errors"]] == ["domain_mismatch"]


def credential_with_proof_options(key: Ed25519KeyPair, **proof: str) -> dict[str, Any]:
    """A foreign credential whose proof options carry ``proof`` (e.g. a domain)."""
    document = {k: v for k, v in signed(key).items() if k != "proof"}
    options = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": "2026-11-30T08:00:00Z",
        "verificationMethod": key.verification_method,
        "proofPurpose": "assertionMethod",
        **proof,
    }
    data = hash_data(proof_config(options), canonicalize(document))
    return {**document, "proof": {**options, "proofValue": multibase_encode(key.sign(data))}}


def test_presentations_with_the_right_challenge_and_domain_only(api: Api) -> None:
    holder = Ed25519KeyPair.generate()
    vp = presentation(
        holder, signed(Ed25519KeyPair.generate()), challenge="c-7", domain="zq.gov.cn"
    )

    def send(body: dict[str, Any], **options: Any) -> Any:
        return api.client.post(
            "/presentations/verify", json={"verifiablePresentation": body, "options": options}
        )

    accepted = send(vp, challenge="c-7", domain="zq.gov.cn")
    assert accepted.status_code == 200, accepted.text
    result = accepted.json()
    assert result["verified"] is True and result["verdict"] == "NOT_ACCREDITED"
    assert result["checks"] == ["format", "signature", "challenge", "domain"]
    assert result["credentialResults"][0]["verdict"] == "NOT_ACCREDITED"

    wrong_challenge = assert_problem(send(vp, challenge="c-8", domain="zq.gov.cn"), 422)
    assert [e["code"] for e in wrong_challenge["errors"]] == ["challenge_mismatch"]
    wrong_domain = assert_problem(send(vp, challenge="c-7", domain="sz.gov.cn"), 422)
    assert [e["code"] for e in wrong_domain["errors"]] == ["domain_mismatch"]
    no_challenge = assert_problem(send(vp), 422)
    assert [e["code"] for e in no_challenge["errors"]] == ["challenge_not_given"]

    forged = copy.deepcopy(signed(Ed25519KeyPair.generate()))
    forged["credentialSubject"]["alumniOf"] = "伪造大学"
    carrying = presentation(holder, forged, challenge="c-7")
    refused = assert_problem(send(carrying, challenge="c-7"), 422)
    assert ("verifiableCredential[0].signature", "signature_invalid") in {
        (e["path"], e["code"]) for e in refused["errors"]
    }
    assert refused["verdict"] == "INVALID"


def rdfc_presentation(
    holder: Ed25519KeyPair,
    credential: dict[str, Any],
    document_loader: DocumentLoader = document_loader,
    **proof: Any,
) -> dict[str, Any]:
    """A presentation with an eddsa-rdfc-2022 ``authentication`` proof, as the W3C VC 2.0 test
    suite makes them (no @context in the proof); ``proof`` (challenge, domain) is signed."""
    document = {
        "@context": [VC_V2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": holder.did,
        "verifiableCredential": [credential],
    }
    options = {
        "type": "DataIntegrityProof",
        "cryptosuite": RDFC_CRYPTOSUITE,
        "created": "2026-11-30T08:00:00Z",
        "verificationMethod": holder.verification_method,
        "proofPurpose": "authentication",
        **proof,
    }
    config = proof_config(
        {**options, "@context": document["@context"]}, document_loader=document_loader
    )
    canonical = canonicalize_rdfc(document, document_loader=document_loader)
    data = hash_data(config, canonical, RDFC_CRYPTOSUITE)
    return {**document, "proof": {**options, "proofValue": multibase_encode(holder.sign(data))}}


def rdfc_credential(issuer: Ed25519KeyPair) -> dict[str, Any]:
    """A credential with the VC 2.0 context only and an eddsa-rdfc-2022 proof."""
    unsigned = {
        "@context": [VC_V2_CONTEXT],
        "type": ["VerifiableCredential"],
        "issuer": issuer.did,
        "credentialSubject": {"id": "did:example:subject"},
    }
    return sign_credential(
        unsigned,
        issuer,
        issuer.verification_method,
        "2026-11-30T08:00:00Z",
        cryptosuite=RDFC_CRYPTOSUITE,
    )


def test_presentations_signed_with_eddsa_rdfc_2022(api: Api) -> None:
    holder = Ed25519KeyPair.generate()
    credential = rdfc_credential(Ed25519KeyPair.generate())
    vp = rdfc_presentation(holder, credential, challenge="c-9", domain="zq.gov.cn")

    def send(body: dict[str, Any], **options: Any) -> Any:
        return api.client.post(
            "/presentations/verify", json={"verifiablePresentation": body, "options": options}
        )

    def errors(answer: Any) -> set[tuple[str, str]]:
        return {(e["path"], e["code"]) for e in assert_problem(answer, 422)["errors"]}

    accepted = send(vp, challenge="c-9", domain="zq.gov.cn")
    assert accepted.status_code == 200, accepted.text
    result = accepted.json()
    assert result["verified"] is True and result["verdict"] == "NOT_ACCREDITED"
    assert result["checks"] == ["format", "signature", "challenge", "domain"]
    assert result["credentialResults"][0]["verdict"] == "NOT_ACCREDITED"

    assert {c for _, c in errors(send(vp, challenge="c-10", domain="zq.gov.cn"))} == {
        "challenge_mismatch"
    }
    assert {c for _, c in errors(send(vp, challenge="c-9", domain="sz.gov.cn"))} == {
        "domain_mismatch"
    }
    # the challenge and domain are signed: rewriting them to the verifier's breaks the proof
    replayed = copy.deepcopy(vp)
    replayed["proof"]["challenge"] = "c-10"
    assert ("signature", "signature_invalid") in errors(
        send(replayed, challenge="c-10", domain="zq.gov.cn")
    )
    # a credential altered inside the presentation breaks both proofs
    forged = copy.deepcopy(vp)
    forged["verifiableCredential"][0]["credentialSubject"]["id"] = "did:example:mallory"
    assert {
        ("signature", "signature_invalid"),
        ("verifiableCredential[0].signature", "signature_invalid"),
    } <= errors(send(forged, challenge="c-9", domain="zq.gov.cn"))
    # a term no context defines would not be signed: refused (JSON-LD safe mode)
    unsafe = copy.deepcopy(vp)
    unsafe["verifiableCredential"][0]["credentialSubject"]["degree"] = "Doctor of Forgery"
    assert ("signature", "jsonld_term_undefined") in errors(
        send(unsafe, challenge="c-9", domain="zq.gov.cn")
    )
    # a credential naming a context the office does not ship: not checkable, never fetched
    examples = rdfc_presentation(
        holder, signed(Ed25519KeyPair.generate()), examples_loader, challenge="c-9"
    )
    assert ("signature", "context_unknown") in errors(send(examples, challenge="c-9"))


GENERIC = {
    # the examples context defines the example type (the base context alone defines no such term)
    "@context": [
        "https://www.w3.org/ns/credentials/v2",
        "https://www.w3.org/ns/credentials/examples/v2",
    ],
    "type": ["VerifiableCredential", "ExampleDegreeCredential"],
    "validFrom": "2026-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:ebfeb1f712ebc6f1c276e12ec21", "degree": "学士"},
}


def test_the_conformance_issuer_is_off_by_default(api: Api) -> None:
    refused = api.client.post(
        "/credentials/issue", json={"credential": GENERIC}, headers=auth(api.permit_key)
    )
    problem = assert_problem(refused, 422)
    assert [(e["path"], e["code"]) for e in problem["errors"]] == [
        ("credential.type", "type_unknown")
    ]


def test_the_conformance_issuer_signs_with_an_unaccredited_did_key(
    world: OfficeWorld, tmp_path: Path
) -> None:
    key = world.key(world.permits, "issue:ResidencePermit")
    app = create_app(world.office, settings(tmp_path, conformance_issuer=True), start_worker=False)
    with TestClient(app) as client:
        issued = client.post("/credentials/issue", json={"credential": GENERIC}, headers=auth(key))
        assert issued.status_code == 201, issued.text
        vc = issued.json()["verifiableCredential"]
        assert vc["issuer"].startswith("did:key:z6Mk")
        assert vc["proof"]["cryptosuite"] == "eddsa-jcs-2022"
        assert vc["credentialSubject"] == GENERIC["credentialSubject"]
        key_file = tmp_path / KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        checked = client.post("/credentials/verify", json={"verifiableCredential": vc}).json()
        assert checked["verified"] is True and checked["verdict"] == "NOT_ACCREDITED"
        assert "signature" in checked["checks"]

        # the accredited authorities keep their strict schemas and type accreditation
        permit = {"type": ["VerifiableCredential", "ResidencePermit"], "id": "urn:uuid:1"}
        strict = assert_problem(
            client.post("/credentials/issue", json={"credential": permit}, headers=auth(key)), 422
        )
        assert ("credential.id", "field_unknown") in {
            (e["path"], e["code"]) for e in strict["errors"]
        }
        other = {**GENERIC, "issuer": "did:web:lsj.gz.gov.cn"}
        impostor = assert_problem(
            client.post("/credentials/issue", json={"credential": other}, headers=auth(key)), 422
        )
        assert [e["code"] for e in impostor["errors"]] == ["issuer_unknown"]
        no_subject = {k: v for k, v in GENERIC.items() if k != "credentialSubject"}
        malformed = client.post(
            "/credentials/issue", json={"credential": no_subject}, headers=auth(key)
        )
        assert [e["code"] for e in assert_problem(malformed, 422)["errors"]] == ["subject_invalid"]
    assert world.office.counts() == {}  # nothing stored, nothing queued for the chain

    again = create_app(
        world.office, settings(tmp_path, conformance_issuer=True), start_worker=False
    )
    with TestClient(again) as client:
        second = client.post("/credentials/issue", json={"credential": GENERIC}, headers=auth(key))
        assert second.json()["verifiableCredential"]["issuer"] == vc["issuer"]  # the same key


def test_the_conformance_issuer_refuses_what_the_data_model_forbids(
    world: OfficeWorld, tmp_path: Path
) -> None:
    """VCDM 2.0: an issuer is a URL or an object with one (a null issuer is none, §4.7); typed
    objects have a type (§4.10); a protected term of the base context keeps its meaning (§5.2).
    Each is a 422 naming the rule, and nothing is signed."""
    key = world.key(world.permits, "issue:ResidencePermit")
    app = create_app(world.office, settings(tmp_path, conformance_issuer=True), start_worker=False)
    redefined = copy.deepcopy(GENERIC)
    redefined["@context"].append({"VerifiableCredential": "https://vocab.example.org/#Other"})
    cases = [
        ({**GENERIC, "issuer": None}, ("credential.issuer", "issuer_invalid")),
        (
            {**GENERIC, "credentialStatus": {"id": "https://s.example/1"}},
            ("credential", "type_missing"),
        ),
        (redefined, ("credential.@context", "context_term_redefined")),
    ]
    with TestClient(app) as client:
        for credential, expected in cases:
            refused = client.post(
                "/credentials/issue", json={"credential": credential}, headers=auth(key)
            )
            problem = assert_problem(refused, 422)
            assert [(e["path"], e["code"]) for e in problem["errors"]] == [expected]


def test_the_conformance_issuer_is_refused_in_production() -> None:
    production = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mode="production",
        master_key="x" * 40,
        conformance_issuer=True,
    )
    with pytest.raises(InvalidInput, match="refused in production"):
        production.check()
