"""Tests for verifier._rdfc and the eddsa-rdfc-2022 cryptosuite in verifier.proofs.

The vectors are the W3C Recommendation's own ("Data Integrity EdDSA Cryptosuites v1.0", 15 May
2025, § "Representation: eddsa-rdfc-2022"; files and source in
``data/w3c-eddsa-rdfc-2022/README.md``): the credential, its RDFC-1.0 canonical form, the
canonical proof configuration, both hashes, the signature and the signed credential must come
out byte for byte. The rest is what a verifier must refuse: a tampered document, a context it
does not ship (without touching the network) and a term no context defines (JSON-LD safe mode).
"""

from __future__ import annotations

import copy
import hashlib
import json
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld

from verifier._rdfc import canonicalize_rdfc
from verifier.contexts import VC_V2_CONTEXT, document_loader
from verifier.errors import InvalidInput, JsonLdFailure, UnknownContext, UnsafeJsonLd
from verifier.jcs import canonicalize
from verifier.keys import Ed25519KeyPair, PublicMultikey, multibase_encode, resolve_did_key
from verifier.proofs import (
    CRYPTOSUITES,
    RDFC_CRYPTOSUITE,
    ProofCheck,
    hash_data,
    proof_config,
    sign_credential,
    sign_credential_with_digest,
    verify_proof,
)

HERE = Path(__file__).parent / "data"
VECTORS = HERE / "w3c-eddsa-rdfc-2022"
# the spec's rdfc vectors use the same key pair and unsigned credential as its jcs ones
W3C_PAIR = Ed25519KeyPair.from_private_multikey(
    json.loads((HERE / "w3c-eddsa-jcs-2022" / "keyPair.json").read_text())["privateKeyMultibase"]
)
W3C_UNSIGNED: dict[str, Any] = json.loads(
    (HERE / "w3c-eddsa-jcs-2022" / "unsigned.json").read_text()
)
W3C_OPTIONS: dict[str, Any] = json.loads((VECTORS / "proofConfigDataInt.json").read_text())
W3C_SIGNED_TEXT = (VECTORS / "signedDataInt.json").read_text()

EXAMPLES_CONTEXT = "https://www.w3.org/ns/credentials/examples/v2"


def examples_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The shipped contexts plus the VC examples context, as W3C publishes it at its URL (the
    spec's credential names it; the verifier does not ship it)."""
    if url == EXAMPLES_CONTEXT:
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": {"@context": {"@vocab": "https://www.w3.org/ns/credentials/examples#"}},
        }
    return document_loader(url, options)


def _text(name: str) -> str:
    return (VECTORS / name).read_text()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Any attempt to open a connection, or to use PyLD's own (fetching) loader, is recorded
    and fails."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> Any:
        attempts.append(args)
        raise AssertionError(f"network used: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(jsonld, "_default_document_loader", refuse)
    yield attempts


# --- the W3C test vectors ----------------------------------------------------------------------


def test_w3c_vector_every_intermediate_value() -> None:
    canonical_document = canonicalize_rdfc(W3C_UNSIGNED, document_loader=examples_loader)
    assert canonical_document.decode() == _text("canonDocDataInt.txt")
    assert hashlib.sha256(canonical_document).hexdigest() == _text("docHashDataInt.txt")
    canonical_config = proof_config(W3C_OPTIONS, document_loader=examples_loader)
    assert canonical_config.decode() == _text("proofCanonDataInt.txt")
    assert hashlib.sha256(canonical_config).hexdigest() == _text("proofHashDataInt.txt")
    data = hash_data(canonical_config, canonical_document, RDFC_CRYPTOSUITE)
    assert data.hex() == _text("combinedHashDataInt.txt")
    signature = W3C_PAIR.sign(data)
    assert signature.hex() == _text("sigHexDataInt.txt")
    assert multibase_encode(signature) == _text("sigBTC58DataInt.txt")


def test_w3c_vector_signed_document_reproduced_byte_for_byte() -> None:
    signed = sign_credential(
        W3C_UNSIGNED,
        W3C_PAIR,
        W3C_OPTIONS["verificationMethod"],
        W3C_OPTIONS["created"],
        W3C_OPTIONS["proofPurpose"],
        cryptosuite=RDFC_CRYPTOSUITE,
        document_loader=examples_loader,
    )
    # the proof carries no @context (its configuration takes the document's), as the spec prints
    assert json.dumps(signed, indent=2, ensure_ascii=False) == W3C_SIGNED_TEXT
    assert json.loads((HERE / "w3c-eddsa-jcs-2022" / "unsigned.json").read_text()) == W3C_UNSIGNED


def test_w3c_signed_document_verifies_with_the_key_its_did_key_names() -> None:
    signed = json.loads(W3C_SIGNED_TEXT)
    key = resolve_did_key(signed["proof"]["verificationMethod"])
    check = verify_proof(signed, key, document_loader=examples_loader)
    assert check == ProofCheck(
        ok=True,
        reason=check.reason,
        verification_method=W3C_OPTIONS["verificationMethod"],
        created="2023-02-24T23:36:38Z",
        proof_purpose="assertionMethod",
    )
    assert check.reason.code == "signature_valid"
    # RDFC signs the graph, not the JSON text: member order and an equal @context in the proof
    # do not matter
    reordered = {k: signed[k] for k in reversed(list(signed))}
    assert verify_proof(reordered, key, document_loader=examples_loader).ok
    with_context = {**signed, "proof": {**signed["proof"], "@context": signed["@context"]}}
    assert verify_proof(with_context, key, document_loader=examples_loader).ok


# --- what must be refused ----------------------------------------------------------------------


def _code(
    document: Mapping[str, Any], key: bytes | PublicMultikey | None = None, **kwargs: Any
) -> str:
    public = key if key is not None else resolve_did_key(W3C_OPTIONS["verificationMethod"])
    return verify_proof(document, public, **kwargs).reason.code


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("credentialSubject", "alumniOf"), "The School of Forgeries"),
        (("credentialSubject", "id"), "did:example:mallory"),
        (("validFrom",), "2020-01-01T00:00:00Z"),
        (("type",), ["VerifiableCredential"]),
        (("proof", "created"), "2023-02-24T23:36:39Z"),
        (("proof", "proofPurpose"), "authentication"),
    ],
)
def test_a_tampered_document_or_proof_is_refused(path: tuple[str, ...], value: Any) -> None:
    tampered = json.loads(W3C_SIGNED_TEXT)
    target = tampered
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    assert _code(tampered, document_loader=examples_loader, proof_purpose=None) == (
        "signature_invalid"
    )


def test_another_key_does_not_verify() -> None:
    signed = json.loads(W3C_SIGNED_TEXT)
    other = Ed25519KeyPair.generate().public_bytes
    assert _code(signed, other, document_loader=examples_loader) == "signature_invalid"


def test_a_context_not_shipped_is_refused_without_the_network(no_network: list[object]) -> None:
    # the spec's own credential: its examples context is not shipped, so it cannot be checked
    check = verify_proof(
        json.loads(W3C_SIGNED_TEXT), resolve_did_key(W3C_OPTIONS["verificationMethod"])
    )
    assert not check.ok and check.reason.code == "context_unknown"
    assert EXAMPLES_CONTEXT in check.reason.en and EXAMPLES_CONTEXT in check.reason.zh
    assert check.verification_method == W3C_OPTIONS["verificationMethod"]
    # nor does a loader that knew it leave it behind for the shipped loader (no shared cache)
    with pytest.raises(UnknownContext) as raised:
        canonicalize_rdfc(W3C_UNSIGNED)
    assert raised.value.url == EXAMPLES_CONTEXT
    # a context URL anywhere else: an inline scoped context importing one
    nested = {
        "@context": [
            VC_V2_CONTEXT,
            {"Thing": {"@id": "https://x.example/T", "@context": "https://x.example/c"}},
        ],
        "type": ["VerifiableCredential", "Thing"],
    }
    with pytest.raises(UnknownContext):
        canonicalize_rdfc(nested)
    assert no_network == []


def _partner_credential(key: Ed25519KeyPair, **subject: Any) -> dict[str, Any]:
    """A credential with the VC 2.0 context only, as the W3C test suite signs them."""
    return {
        "@context": [VC_V2_CONTEXT],
        "id": "urn:uuid:7d1a4d1e-5a8e-4b5c-9a3e-2f6f7c1b9e01",
        "type": ["VerifiableCredential"],
        "issuer": key.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:subject", **subject},
    }


def test_a_term_no_context_defines_is_refused_not_silently_dropped() -> None:
    key = Ed25519KeyPair.generate()
    signed = sign_credential(
        _partner_credential(key),
        key,
        key.verification_method,
        "2026-11-30T08:00:00Z",
        cryptosuite=RDFC_CRYPTOSUITE,
    )
    assert verify_proof(signed, key.public_bytes).ok
    # the VC 2.0 context has no @vocab: "degree" expands to nothing, so without safe mode the
    # canonical form — and the signature — would be the same with or without it
    added = copy.deepcopy(signed)
    added["credentialSubject"]["degree"] = "Doctor of Forgery"
    unsafe = {k: v for k, v in added.items() if k != "proof"}
    plain = {k: v for k, v in signed.items() if k != "proof"}
    options = {"algorithm": "URDNA2015", "format": "application/n-quads"}
    assert jsonld.normalize(unsafe, {**options, "documentLoader": document_loader}) == (
        jsonld.normalize(plain, {**options, "documentLoader": document_loader})
    )
    check = verify_proof(added, key.public_bytes)
    assert not check.ok and check.reason.code == "jsonld_term_undefined"
    assert "degree" in check.reason.en and "degree" in check.reason.zh
    # an undefined type stays a relative IRI: refused too
    typed = {**signed, "type": ["VerifiableCredential", "AlumniCredential"]}
    assert _code(typed, key.public_bytes) == "jsonld_term_undefined"
    # an undefined member of the proof is no better
    proof_extra = {**signed, "proof": {**signed["proof"], "note": "x"}}
    assert _code(proof_extra, key.public_bytes) == "jsonld_term_undefined"
    # and such a document cannot be signed either
    with pytest.raises(UnsafeJsonLd):
        sign_credential(
            unsafe,
            key,
            key.verification_method,
            "2026-11-30T08:00:00Z",
            cryptosuite=RDFC_CRYPTOSUITE,
        )


def test_a_relative_identifier_is_refused() -> None:
    with pytest.raises(UnsafeJsonLd, match="relative IRI"):
        canonicalize_rdfc({**_partner_credential(Ed25519KeyPair.generate()), "id": "cred-1"})


def test_a_protected_term_redefined_is_a_json_ld_failure() -> None:
    redefined = {
        **_partner_credential(Ed25519KeyPair.generate()),
        "@context": [VC_V2_CONTEXT, {"VerifiableCredential": "https://x.example/Credential"}],
    }
    with pytest.raises(JsonLdFailure, match="protected term redefinition"):
        canonicalize_rdfc(redefined)
    assert issubclass(JsonLdFailure, InvalidInput)


def test_rdfc_proofs_take_ed25519_keys_only_and_ignore_a_jcs_canonical_form() -> None:
    key = Ed25519KeyPair.generate()
    credential = _partner_credential(key, name="Alumni")
    signed, digest = sign_credential_with_digest(
        credential,
        key,
        key.verification_method,
        "2026-11-30T08:00:00Z",
        cryptosuite=RDFC_CRYPTOSUITE,
    )
    assert signed["proof"]["cryptosuite"] == "eddsa-rdfc-2022" and "@context" not in signed["proof"]
    # the Merkle digest is still of the JCS bytes of the whole signed credential
    assert digest == hashlib.sha256(canonicalize(signed)).digest()
    # a caller's (JCS) canonical form is not the RDFC one: it must not be used
    assert verify_proof(signed, key.public_bytes, canonical_document=b"{}").ok
    assert RDFC_CRYPTOSUITE in CRYPTOSUITES


def _clique(size: int) -> dict[str, Any]:
    """Blank nodes all linked to each other: none distinguishable from the others, the shape
    RDFC-1.0 §4.4 warns about (its N-degree hashing tries every permutation)."""
    return {
        "@graph": [
            {
                "@id": f"_:b{i}",
                "https://x.example/p": [{"@id": f"_:b{j}"} for j in range(size) if j != i],
            }
            for i in range(size)
        ]
    }


def test_a_poison_graph_is_refused_instead_of_canonicalized_for_ever() -> None:
    assert canonicalize_rdfc(_clique(4)).count(b"\n") == 12  # small symmetric graphs still work
    with pytest.raises(JsonLdFailure, match="N-degree"):
        canonicalize_rdfc(_clique(9))
    key = Ed25519KeyPair.generate()
    signed = sign_credential(
        _partner_credential(key),
        key,
        key.verification_method,
        "2026-11-30T08:00:00Z",
        cryptosuite=RDFC_CRYPTOSUITE,
    )
    poisoned = {**signed, "evidence": _clique(9)["@graph"]}
    assert _code(poisoned, key.public_bytes) == "document_malformed"
