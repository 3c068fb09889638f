"""W3C Data Integrity proofs with the ``eddsa-jcs-2022`` cryptosuite: sign and verify."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from verifier.errors import InvalidInput
from verifier.jcs import canonicalize, with_member
from verifier.keys import Ed25519KeyPair, ed25519_verify, multibase_decode, multibase_encode
from verifier.messages import Reason

__all__ = [
    "CRYPTOSUITE",
    "PROOF_TYPE",
    "Ed25519Signer",
    "ProofCheck",
    "hash_data",
    "proof_config",
    "sign_credential",
    "sign_credential_with_digest",
    "split_verification_method",
    "verify_proof",
]

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"

# XML Schema 1.1 dateTime, as the Data Integrity spec requires for ``created``.
_DATETIME = re.compile(
    r"-?[0-9]{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
    r"(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
)

_SIGNATURE_VALID = Reason("signature_valid", "签名有效", "The signature is valid.")
_PROOF_MISSING = Reason("proof_missing", "凭证没有签名（proof）", "The credential has no proof.")
_PROOF_MALFORMED = Reason(
    "proof_malformed",
    "签名（proof）格式不正确",
    "The proof is not a single well-formed Data Integrity proof.",
)
_PROOF_TYPE_UNSUPPORTED = Reason(
    "proof_type_unsupported",
    "不支持的签名类型，应为 DataIntegrityProof",
    "The proof type is not supported; expected DataIntegrityProof.",
)
_CRYPTOSUITE_UNSUPPORTED = Reason(
    "cryptosuite_unsupported",
    "不支持的签名算法套件，应为 eddsa-jcs-2022",
    "The cryptosuite is not supported; expected eddsa-jcs-2022.",
)
_PURPOSE_MISMATCH = Reason(
    "proof_purpose_mismatch",
    "签名用途不符",
    "The proof purpose is not the one this check expects.",
)
_CONTEXT_MISMATCH = Reason(
    "proof_context_mismatch",
    "签名中的 @context 与凭证不一致",
    "The proof's @context is not a prefix of the credential's @context.",
)
_PROOF_VALUE_MALFORMED = Reason(
    "proof_value_malformed",
    "签名值（proofValue）格式不正确",
    "The proofValue is not a base58btc multibase Ed25519 signature.",
)
_DOCUMENT_MALFORMED = Reason(
    "document_malformed",
    "凭证内容无法规范化（JCS）",
    "The credential cannot be canonicalized (JCS).",
)
_SIGNATURE_INVALID = Reason(
    "signature_invalid",
    "签名无效：凭证已被篡改或不是该密钥所签",
    "The signature is invalid: the credential was altered or not signed by this key.",
)


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """The outcome of checking one proof: ``ok``, a bilingual reason, and what the proof named.

    ``verification_method``, ``created`` and ``proof_purpose`` are copied from the proof when it
    carries them as strings, so later checks (issuer, key validity) need not parse it again.
    """

    ok: bool
    reason: Reason
    verification_method: str | None = None
    created: str | None = None
    proof_purpose: str | None = None


def split_verification_method(verification_method: str) -> tuple[str, str]:
    """Split ``did:…#fragment`` into the DID and the key fragment (without ``#``).

    Raises ``InvalidInput`` when the value is not a DID URL with a non-empty fragment.
    """
    if not isinstance(verification_method, str):
        raise InvalidInput("verificationMethod must be a string")
    did, hash_sign, fragment = verification_method.partition("#")
    if not did.startswith("did:") or did.count(":") < 2 or not hash_sign or not fragment:
        raise InvalidInput(
            f"verificationMethod must be a DID URL like did:method:id#key-1, "
            f"got {verification_method!r}"
        )
    return did, fragment


def proof_config(options: Mapping[str, Any]) -> bytes:
    """Return the JCS bytes of a proof configuration (proof options without ``proofValue``).

    Raises ``InvalidInput`` when the type or cryptosuite is not ``DataIntegrityProof`` /
    ``eddsa-jcs-2022``, when ``created`` is not an XML Schema dateTime, or when the options
    cannot be canonicalized.
    """
    if options.get("type") != PROOF_TYPE or options.get("cryptosuite") != CRYPTOSUITE:
        raise InvalidInput(f"proof options must have type {PROOF_TYPE} and {CRYPTOSUITE}")
    created = options.get("created")
    if created is not None and not (
        isinstance(created, str) and _DATETIME.fullmatch(created) is not None
    ):
        raise InvalidInput(f"proof created must be an XML Schema dateTime, got {created!r}")
    if "proofValue" in options:
        options = {k: v for k, v in options.items() if k != "proofValue"}
    return canonicalize(options)


def hash_data(canonical_proof_config: bytes, canonical_document: bytes) -> bytes:
    """Return SHA-256(proof config) || SHA-256(document), the 64 bytes that get signed."""
    return (
        hashlib.sha256(canonical_proof_config).digest()
        + hashlib.sha256(canonical_document).digest()
    )


class Ed25519Signer(Protocol):
    """Anything that signs bytes with an Ed25519 key: a key pair, a ``cryptography`` private key,
    or an HSM-backed signer with the same ``sign`` method."""

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        ...


def _signer(private_key: Ed25519Signer | bytes) -> Ed25519Signer:
    if isinstance(private_key, bytes):
        return Ed25519KeyPair.from_private_bytes(private_key)
    return private_key


def sign_credential(
    unsecured: Mapping[str, Any],
    private_key: Ed25519Signer | bytes,
    verification_method: str,
    created: str,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """Return a new credential: ``unsecured`` plus an ``eddsa-jcs-2022`` ``proof``.

    The input is not modified; the result is a shallow copy sharing its values. The proof
    carries a copy of the document's ``@context`` as the spec advises. ``private_key`` is a key
    pair, a ``cryptography`` key or the 32-byte seed. Raises ``InvalidInput`` when the document
    already has a proof, when ``created`` is not an XML Schema dateTime, or when the document
    cannot be canonicalized.
    """
    return _sign(unsecured, private_key, verification_method, created, proof_purpose)[0]


def sign_credential_with_digest(
    unsecured: Mapping[str, Any],
    private_key: Ed25519Signer | bytes,
    verification_method: str,
    created: str,
    proof_purpose: str = "assertionMethod",
) -> tuple[dict[str, Any], bytes]:
    """Like ``sign_credential``, and also the SHA-256 of the signed credential's JCS bytes (its
    Merkle leaf content), spliced from the canonical document already made for signing."""
    secured, canonical_document = _sign(
        unsecured, private_key, verification_method, created, proof_purpose
    )
    whole = with_member(canonical_document, unsecured, "proof", secured["proof"])
    return secured, hashlib.sha256(whole).digest()


def _sign(
    unsecured: Mapping[str, Any],
    private_key: Ed25519Signer | bytes,
    verification_method: str,
    created: str,
    proof_purpose: str,
) -> tuple[dict[str, Any], bytes]:
    """The signed credential and the canonical bytes of the unsigned document."""
    if "proof" in unsecured:
        raise InvalidInput("the document already has a proof; proof sets are not supported")
    signer = _signer(private_key)
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    context = unsecured.get("@context")
    if context is not None:
        proof["@context"] = list(context) if isinstance(context, list) else context
    canonical_document = canonicalize(unsecured)
    data = hash_data(proof_config(proof), canonical_document)
    proof["proofValue"] = multibase_encode(signer.sign(data))
    secured = dict(unsecured)
    secured["proof"] = proof
    return secured, canonical_document


def verify_proof(
    secured: Mapping[str, Any],
    public_key_bytes: bytes,
    proof_purpose: str | None = "assertionMethod",
    *,
    canonical_document: bytes | None = None,
) -> ProofCheck:
    """Check the ``eddsa-jcs-2022`` proof of ``secured`` against a raw Ed25519 public key.

    ``canonical_document``, when the caller already holds it, is the JCS form of ``secured``
    without its proof (e.g. from ``CanonicalSplit``); it is used only when the proof does not
    carry its own, different ``@context``.

    A missing, malformed or unsupported proof, or a bad signature, is a ``ProofCheck`` with
    ``ok=False`` and a reason; nothing is raised for those. ``proof_purpose`` is the purpose the
    caller expects (``None`` accepts any). Resolving ``verificationMethod`` to the key is the
    caller's job. Raises ``InvalidInput`` only when ``public_key_bytes`` is not 32 bytes.
    """
    if not isinstance(public_key_bytes, bytes) or len(public_key_bytes) != 32:
        raise InvalidInput("the Ed25519 public key to verify with must be 32 bytes")
    proof = secured.get("proof")
    if proof is None:
        return ProofCheck(False, _PROOF_MISSING)
    if not isinstance(proof, Mapping):
        return ProofCheck(False, _PROOF_MALFORMED)

    method = proof.get("verificationMethod")
    created = proof.get("created")
    purpose = proof.get("proofPurpose")

    def fail(reason: Reason) -> ProofCheck:
        return ProofCheck(
            False,
            reason,
            method if isinstance(method, str) else None,
            created if isinstance(created, str) else None,
            purpose if isinstance(purpose, str) else None,
        )

    if proof.get("type") != PROOF_TYPE:
        return fail(_PROOF_TYPE_UNSUPPORTED)
    if proof.get("cryptosuite") != CRYPTOSUITE:
        return fail(_CRYPTOSUITE_UNSUPPORTED)
    if not isinstance(method, str) or not isinstance(purpose, str):
        return fail(_PROOF_MALFORMED)
    if proof_purpose is not None and purpose != proof_purpose:
        return fail(_PURPOSE_MISMATCH)

    proof_value = proof.get("proofValue")
    if not isinstance(proof_value, str):
        return fail(_PROOF_VALUE_MALFORMED)
    try:
        signature = multibase_decode(proof_value)
    except InvalidInput:
        return fail(_PROOF_VALUE_MALFORMED)
    if len(signature) != 64:
        return fail(_PROOF_VALUE_MALFORMED)

    options = {k: v for k, v in proof.items() if k != "proofValue"}
    replace_context = False
    if "@context" in options:
        proof_context = options["@context"]
        if not _context_starts_with(secured.get("@context"), proof_context):
            return fail(_CONTEXT_MISMATCH)
        if proof_context != secured.get("@context"):
            canonical_document, replace_context = None, True

    try:
        canonical_config = proof_config(options)
    except InvalidInput:
        return fail(_PROOF_MALFORMED)
    if canonical_document is None:
        document = {k: v for k, v in secured.items() if k != "proof"}
        if replace_context:
            document["@context"] = options["@context"]
        try:
            canonical_document = canonicalize(document)
        except InvalidInput:
            return fail(_DOCUMENT_MALFORMED)

    if not ed25519_verify(
        public_key_bytes, signature, hash_data(canonical_config, canonical_document)
    ):
        return fail(_SIGNATURE_INVALID)
    return ProofCheck(True, _SIGNATURE_VALID, method, created, purpose)


def _context_starts_with(document_context: object, proof_context: object) -> bool:
    """Whether the document's @context begins with every value of the proof's, in order."""
    doc = document_context if isinstance(document_context, list) else [document_context]
    prefix = proof_context if isinstance(proof_context, list) else [proof_context]
    return document_context is not None and doc[: len(prefix)] == prefix
