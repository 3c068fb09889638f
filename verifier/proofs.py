"""W3C Data Integrity proofs with ``eddsa-jcs-2022``, ``eddsa-rdfc-2022`` or
``suixin-sm2-jcs-2025``: sign and verify.

The suites are built the same way: the canonical bytes of the proof configuration and of the
document are hashed separately, the two hashes concatenated and signed. ``eddsa-jcs-2022``
canonicalizes with JCS (RFC 8785), hashes with SHA-256 and signs with Ed25519;
``eddsa-rdfc-2022`` is the same with RDF Dataset Canonicalization (RDFC-1.0) of the JSON-LD
instead of JCS, with the shipped contexts only and in JSON-LD safe mode (``verifier._rdfc``);
``suixin-sm2-jcs-2025`` (Suixin's own, specified in
``docs/cryptosuites/suixin-sm2-jcs-2025.md``) hashes JCS with SM3 and signs with SM2 under the
default user ID. Every way ``proofValue`` is the 64-byte signature in multibase base58btc.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verifier._rdfc import DocumentLoader, canonicalize_rdfc
from verifier.contexts import document_loader as shipped_loader
from verifier.errors import InvalidInput, JsonLdFailure, UnknownContext, UnsafeJsonLd
from verifier.jcs import canonicalize, with_member
from verifier.keys import (
    Ed25519KeyPair,
    KeyAlgorithm,
    PublicMultikey,
    ed25519_verify,
    multibase_decode,
    multibase_encode,
)
from verifier.merkle import MerkleHash, merkle_digest
from verifier.messages import Reason
from verifier.sm2 import Sm2KeyPair, sm2_verify, sm3_hash

__all__ = [
    "CRYPTOSUITE",
    "CRYPTOSUITES",
    "PROOF_TYPE",
    "RDFC_CRYPTOSUITE",
    "SM2_CRYPTOSUITE",
    "Ed25519Signer",
    "ProofCheck",
    "Sm2Signer",
    "hash_data",
    "proof_config",
    "sign_credential",
    "sign_credential_with_digest",
    "sign_credential_with_jcs",
    "split_verification_method",
    "verify_proof",
]

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
SM2_CRYPTOSUITE = "suixin-sm2-jcs-2025"
RDFC_CRYPTOSUITE = "eddsa-rdfc-2022"
#: Every cryptosuite this module signs and verifies.
CRYPTOSUITES = (CRYPTOSUITE, SM2_CRYPTOSUITE, RDFC_CRYPTOSUITE)
# the key algorithm each suite signs with
_SUITE_KEYS: dict[str, KeyAlgorithm] = {
    CRYPTOSUITE: "Ed25519",
    SM2_CRYPTOSUITE: "SM2",
    RDFC_CRYPTOSUITE: "Ed25519",
}
_SIGNATURE_SIZE = 64  # Ed25519, and SM2's r ‖ s
_KEY_SIZES = {"Ed25519": 32, "SM2": 33}  # the public keys' sizes, as ``verify_proof`` takes them

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
    "不支持的签名算法套件，应为 eddsa-jcs-2022、eddsa-rdfc-2022 或 suixin-sm2-jcs-2025",
    "The cryptosuite is not supported; expected eddsa-jcs-2022, eddsa-rdfc-2022 or "
    "suixin-sm2-jcs-2025.",
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
_SM2_PROOF_VALUE_MALFORMED = Reason(
    "proof_value_malformed",
    "签名值（proofValue）格式不正确，应为 base58btc 编码的 64 字节 SM2 签名（r‖s）",
    "The proofValue is not a base58btc multibase SM2 signature (64 bytes, r ‖ s).",
)
_DOCUMENT_MALFORMED = Reason(
    "document_malformed",
    "凭证内容无法规范化（JCS）",
    "The credential cannot be canonicalized (JCS).",
)
_RDFC_MALFORMED = Reason(
    "document_malformed",
    "凭证内容无法按 JSON-LD 规范化（RDFC-1.0）",
    "The credential cannot be canonicalized as JSON-LD (RDFC-1.0).",
)
_SIGNATURE_INVALID = Reason(
    "signature_invalid",
    "签名无效：凭证已被篡改或不是该密钥所签",
    "The signature is invalid: the credential was altered or not signed by this key.",
)


def _context_unknown(url: object) -> Reason:
    return Reason(
        "context_unknown",
        f"JSON-LD 上下文 {url} 不是核验程序内置的上下文（核验方不联网获取），无法按 "
        "eddsa-rdfc-2022 核验",
        f"The JSON-LD context {url} is not one the verifier ships (contexts are never "
        "fetched): the eddsa-rdfc-2022 proof cannot be checked.",
    )


def _term_undefined(error: UnsafeJsonLd) -> Reason:
    kinds = {"property": "属性", "type": "类型", "identifier": "标识（id）"}
    problem = (
        ("是相对 IRI", "is a relative IRI")
        if error.what == "identifier"
        else (
            "未由任何 JSON-LD 上下文定义",
            "is not defined by any of its JSON-LD contexts",
        )
    )
    return Reason(
        "jsonld_term_undefined",
        f"{kinds.get(error.what, error.what)} {error.term} {problem[0]}：签名不会覆盖它，"
        "按 JSON-LD 安全模式拒绝",
        f"The {error.what} {error.term} {problem[1]}: a signature would not cover it, so it is "
        "refused (JSON-LD safe mode).",
    )


def _key_mismatch(cryptosuite: str, algorithm: str) -> Reason:
    expected = _SUITE_KEYS[cryptosuite]
    return Reason(
        "cryptosuite_key_mismatch",
        f"签名算法套件 {cryptosuite} 需要 {expected} 密钥，而验证方法的密钥是 {algorithm} 密钥",
        f"The cryptosuite {cryptosuite} needs an {expected} key, but the verification "
        f"method's key is an {algorithm} key.",
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


def proof_config(
    options: Mapping[str, Any], *, document_loader: DocumentLoader | None = None
) -> bytes:
    """Return the canonical bytes of a proof configuration (proof options without
    ``proofValue``): JCS, or for ``eddsa-rdfc-2022`` the RDFC-1.0 N-Quads, for which the options
    must carry the document's ``@context`` (the spec's proof configuration does).

    ``document_loader`` serves JSON-LD contexts for ``eddsa-rdfc-2022`` (default: the shipped
    contexts only, ``verifier.contexts.document_loader``). Raises ``InvalidInput`` when the type
    is not ``DataIntegrityProof`` or the cryptosuite not one of ``CRYPTOSUITES``, when
    ``created`` is not an XML Schema dateTime, or when the options cannot be canonicalized
    (for RDFC-1.0: ``UnknownContext`` for a context not shipped, ``UnsafeJsonLd`` for a term no
    context defines).
    """
    if options.get("type") != PROOF_TYPE or options.get("cryptosuite") not in CRYPTOSUITES:
        raise InvalidInput(
            f"proof options must have type {PROOF_TYPE} and a cryptosuite of "
            f"{' or '.join(CRYPTOSUITES)}"
        )
    created = options.get("created")
    if created is not None and not (
        isinstance(created, str) and _DATETIME.fullmatch(created) is not None
    ):
        raise InvalidInput(f"proof created must be an XML Schema dateTime, got {created!r}")
    if "proofValue" in options:
        options = {k: v for k, v in options.items() if k != "proofValue"}
    if options.get("cryptosuite") == RDFC_CRYPTOSUITE:
        return canonicalize_rdfc(options, document_loader=document_loader or shipped_loader)
    return canonicalize(options)


def hash_data(
    canonical_proof_config: bytes, canonical_document: bytes, cryptosuite: str = CRYPTOSUITE
) -> bytes:
    """Return H(proof config) || H(document), the 64 bytes that get signed.

    H is SHA-256 for ``eddsa-jcs-2022`` and ``eddsa-rdfc-2022``, SM3 for
    ``suixin-sm2-jcs-2025``. Raises ``InvalidInput`` for any other cryptosuite.
    """
    if cryptosuite in (CRYPTOSUITE, RDFC_CRYPTOSUITE):
        return (
            hashlib.sha256(canonical_proof_config).digest()
            + hashlib.sha256(canonical_document).digest()
        )
    if cryptosuite == SM2_CRYPTOSUITE:
        return sm3_hash(canonical_proof_config) + sm3_hash(canonical_document)
    raise InvalidInput(f"unsupported cryptosuite {cryptosuite!r}")


class Ed25519Signer(Protocol):
    """Anything that signs bytes with an Ed25519 key: a key pair, a ``cryptography`` private key,
    or an HSM-backed signer with the same ``sign`` method."""

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        ...


class Sm2Signer(Protocol):
    """Anything that signs bytes with an SM2 key: an ``Sm2KeyPair``, or a signer backed by a
    cryptographic module (密码机) with the same ``sign`` method.

    The signature must be GB/T 32918.2's over ``data`` as the message M, with Z computed from
    the default user ID ``1234567812345678``, returned as 64 bytes ``r ‖ s`` (not DER).
    """

    def sign(self, data: bytes) -> bytes:
        """The 64-byte ``r ‖ s`` SM2 signature of ``data``."""
        ...


def _signer(
    private_key: Ed25519Signer | Sm2Signer | bytes, cryptosuite: str | None
) -> tuple[Ed25519Signer | Sm2Signer, str]:
    """The signer and the suite it signs for; the suite follows an ``Sm2KeyPair`` when unset."""
    if cryptosuite is None:
        cryptosuite = SM2_CRYPTOSUITE if isinstance(private_key, Sm2KeyPair) else CRYPTOSUITE
    if cryptosuite in (CRYPTOSUITE, RDFC_CRYPTOSUITE):
        if isinstance(private_key, Sm2KeyPair):
            raise InvalidInput(f"an SM2 key cannot sign {cryptosuite} proofs")
        if isinstance(private_key, bytes):
            return Ed25519KeyPair.from_private_bytes(private_key), cryptosuite
        return private_key, cryptosuite
    if cryptosuite == SM2_CRYPTOSUITE:
        if isinstance(private_key, Ed25519KeyPair | Ed25519PrivateKey):
            raise InvalidInput(f"an Ed25519 key cannot sign {SM2_CRYPTOSUITE} proofs")
        if isinstance(private_key, bytes):
            return Sm2KeyPair.from_private_bytes(private_key), cryptosuite
        return private_key, cryptosuite
    raise InvalidInput(
        f"unsupported cryptosuite {cryptosuite!r}; expected {' or '.join(CRYPTOSUITES)}"
    )


def sign_credential(
    unsecured: Mapping[str, Any],
    private_key: Ed25519Signer | Sm2Signer | bytes,
    verification_method: str,
    created: str,
    proof_purpose: str = "assertionMethod",
    *,
    cryptosuite: str | None = None,
    document_loader: DocumentLoader | None = None,
) -> dict[str, Any]:
    """Return a new credential: ``unsecured`` plus an ``eddsa-jcs-2022``, ``eddsa-rdfc-2022`` or
    ``suixin-sm2-jcs-2025`` ``proof``.

    The input is not modified; the result is a shallow copy sharing its values. A JCS proof
    carries a copy of the document's ``@context`` as that spec advises; an ``eddsa-rdfc-2022``
    proof does not (its configuration takes the document's, as the spec's test vectors show).
    ``cryptosuite`` chooses the suite; left out, it is ``suixin-sm2-jcs-2025`` for an
    ``Sm2KeyPair`` and ``eddsa-jcs-2022`` otherwise. ``document_loader`` serves the JSON-LD
    contexts of an ``eddsa-rdfc-2022`` document (default: the shipped ones only).
    ``private_key`` is a key pair, a signer, a ``cryptography`` Ed25519 key, or the 32 private
    key bytes (the Ed25519 seed, or SM2's d). Raises
    ``InvalidInput`` when the document already has a proof, when ``created`` is not an XML
    Schema dateTime, when the document cannot be canonicalized (for RDFC-1.0 also
    ``UnknownContext`` or ``UnsafeJsonLd``), when the key is of the other suite's algorithm, or
    when an SM2 signer returns anything but 64 bytes.
    """
    return _sign(
        unsecured,
        private_key,
        verification_method,
        created,
        proof_purpose,
        cryptosuite,
        document_loader,
    )[0]


def sign_credential_with_digest(
    unsecured: Mapping[str, Any],
    private_key: Ed25519Signer | Sm2Signer | bytes,
    verification_method: str,
    created: str,
    proof_purpose: str = "assertionMethod",
    *,
    cryptosuite: str | None = None,
    anchor_hash: MerkleHash = "sha-256",
    document_loader: DocumentLoader | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Like ``sign_credential``, and also the digest of the signed credential's JCS bytes (its
    Merkle leaf content), spliced from the canonical document already made for signing.

    The digest is SHA-256, or SM3 when ``anchor_hash`` is ``"sm3"`` (a deployment that anchors
    with SM3); it is independent of the cryptosuite.
    """
    secured, whole = sign_credential_with_jcs(
        unsecured,
        private_key,
        verification_method,
        created,
        proof_purpose,
        cryptosuite=cryptosuite,
        document_loader=document_loader,
    )
    if anchor_hash == "sha-256":
        return secured, hashlib.sha256(whole).digest()
    return secured, merkle_digest(whole, anchor_hash)


def sign_credential_with_jcs(
    unsecured: Mapping[str, Any],
    private_key: Ed25519Signer | Sm2Signer | bytes,
    verification_method: str,
    created: str,
    proof_purpose: str = "assertionMethod",
    *,
    cryptosuite: str | None = None,
    document_loader: DocumentLoader | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Like ``sign_credential``, and also the JCS bytes of the signed credential (equal to
    ``canonicalize`` of it), spliced from the canonical document already made for signing:
    what a Merkle leaf commits to and what an office stores, without a second
    canonicalization."""
    secured, canonical_document = _sign(
        unsecured,
        private_key,
        verification_method,
        created,
        proof_purpose,
        cryptosuite,
        document_loader,
    )
    if secured["proof"]["cryptosuite"] == RDFC_CRYPTOSUITE:  # no JCS bytes to splice into
        return secured, canonicalize(secured)
    return secured, with_member(canonical_document, unsecured, "proof", secured["proof"])


def _sign(
    unsecured: Mapping[str, Any],
    private_key: Ed25519Signer | Sm2Signer | bytes,
    verification_method: str,
    created: str,
    proof_purpose: str,
    cryptosuite: str | None,
    document_loader: DocumentLoader | None = None,
) -> tuple[dict[str, Any], bytes]:
    """The signed credential and the canonical bytes of the unsigned document."""
    if "proof" in unsecured:
        raise InvalidInput("the document already has a proof; proof sets are not supported")
    signer, suite = _signer(private_key, cryptosuite)
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": suite,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    context = unsecured.get("@context")
    if suite == RDFC_CRYPTOSUITE:
        loader = document_loader or shipped_loader
        config = dict(proof)
        if context is not None:
            config["@context"] = context
        canonical_config = proof_config(config, document_loader=loader)
        canonical_document = canonicalize_rdfc(unsecured, document_loader=loader)
    else:
        if context is not None:
            proof["@context"] = list(context) if isinstance(context, list) else context
        canonical_config = proof_config(proof)
        canonical_document = canonicalize(unsecured)
    data = hash_data(canonical_config, canonical_document, suite)
    signature = signer.sign(data)
    if suite == SM2_CRYPTOSUITE and (
        not isinstance(signature, bytes) or len(signature) != _SIGNATURE_SIZE
    ):
        raise InvalidInput(
            "an SM2 signer must return the 64-byte r ‖ s signature (not DER); got "
            + (f"{len(signature)} bytes" if isinstance(signature, bytes) else "no bytes")
        )
    proof["proofValue"] = multibase_encode(signature)
    secured = dict(unsecured)
    secured["proof"] = proof
    return secured, canonical_document


def verify_proof(
    secured: Mapping[str, Any],
    public_key: bytes | PublicMultikey,
    proof_purpose: str | None = "assertionMethod",
    *,
    canonical_document: bytes | None = None,
    document_loader: DocumentLoader | None = None,
) -> ProofCheck:
    """Check the ``eddsa-jcs-2022``, ``eddsa-rdfc-2022`` or ``suixin-sm2-jcs-2025`` proof of
    ``secured``.

    ``public_key`` is the verification method's key: raw 32 bytes mean an Ed25519 key (as
    before SM2 existed); a ``PublicMultikey`` says its algorithm. The proof's ``cryptosuite``
    chooses the suite, and a key of another algorithm than the suite's is a failure
    (``cryptosuite_key_mismatch``), never a signature check with the wrong algorithm.

    ``canonical_document``, when the caller already holds it, is the JCS form of ``secured``
    without its proof (e.g. from ``CanonicalSplit``); it is used only for a JCS suite, and only
    when the proof does not carry its own, different ``@context``.

    An ``eddsa-rdfc-2022`` proof is checked over the RDFC-1.0 canonical form of the JSON-LD,
    with contexts from ``document_loader`` only (default: the shipped ones; nothing is fetched)
    and in safe mode: a context not shipped (``context_unknown``), or a property or type no
    context defines, which the canonical form would silently drop (``jsonld_term_undefined``),
    fails the check instead of being left out of what the signature covers.

    A missing, malformed or unsupported proof, or a bad signature, is a ``ProofCheck`` with
    ``ok=False`` and a reason; nothing is raised for those. ``proof_purpose`` is the purpose the
    caller expects (``None`` accepts any). Resolving ``verificationMethod`` to the key is the
    caller's job. Raises ``InvalidInput`` only for a malformed key: raw bytes that are not 32
    long, an Ed25519 Multikey not 32 bytes or an SM2 one not 33, or (found when the signature
    is checked) an SM2 key that is not a point on the curve; ``VerificationError`` if the SM2
    library fails on well-formed input.
    """
    if isinstance(public_key, PublicMultikey):
        algorithm: str = public_key.algorithm
        key_bytes = public_key.public_bytes
        size = _KEY_SIZES.get(algorithm)
        if size is not None and (not isinstance(key_bytes, bytes) or len(key_bytes) != size):
            raise InvalidInput(f"the {algorithm} public key to verify with must be {size} bytes")
    elif isinstance(public_key, bytes) and len(public_key) == 32:
        algorithm, key_bytes = "Ed25519", public_key
    else:
        raise InvalidInput("the Ed25519 public key to verify with must be 32 bytes")
    proof = secured.get("proof")
    if proof is None:
        return ProofCheck(False, _PROOF_MISSING)
    if not (type(proof) is dict or isinstance(proof, Mapping)):
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
    suite = proof.get("cryptosuite")
    if not isinstance(suite, str) or suite not in _SUITE_KEYS:
        return fail(_CRYPTOSUITE_UNSUPPORTED)
    if algorithm != _SUITE_KEYS[suite]:
        return fail(_key_mismatch(suite, algorithm))
    if not isinstance(method, str) or not isinstance(purpose, str):
        return fail(_PROOF_MALFORMED)
    if proof_purpose is not None and purpose != proof_purpose:
        return fail(_PURPOSE_MISMATCH)

    value_malformed = (
        _SM2_PROOF_VALUE_MALFORMED if suite == SM2_CRYPTOSUITE else _PROOF_VALUE_MALFORMED
    )
    proof_value = proof.get("proofValue")
    if not isinstance(proof_value, str):
        return fail(value_malformed)
    try:
        signature = multibase_decode(proof_value)
    except InvalidInput:
        return fail(value_malformed)
    if len(signature) != _SIGNATURE_SIZE:
        return fail(value_malformed)

    options = {k: v for k, v in proof.items() if k != "proofValue"}
    replace_context = False
    if "@context" in options:
        proof_context = options["@context"]
        if not _context_starts_with(secured.get("@context"), proof_context):
            return fail(_CONTEXT_MISMATCH)
        if proof_context != secured.get("@context"):
            canonical_document, replace_context = None, True

    if suite == RDFC_CRYPTOSUITE:
        document = {k: v for k, v in secured.items() if k != "proof"}
        if replace_context:
            document["@context"] = options["@context"]
        config = dict(options)
        if "@context" in document:
            config["@context"] = document["@context"]
        loader = document_loader or shipped_loader
        try:
            canonical_config = proof_config(config, document_loader=loader)
            canonical_document = canonicalize_rdfc(document, document_loader=loader)
        except UnknownContext as e:
            return fail(_context_unknown(e.url))
        except UnsafeJsonLd as e:
            return fail(_term_undefined(e))
        except JsonLdFailure:
            return fail(_RDFC_MALFORMED)
        except InvalidInput:  # the options' type or created
            return fail(_PROOF_MALFORMED)
    else:
        # ``proof_config(options)`` without its checks of type and cryptosuite, made above
        if created is not None and not (
            isinstance(created, str) and _DATETIME.fullmatch(created) is not None
        ):
            return fail(_PROOF_MALFORMED)
        try:
            canonical_config = canonicalize(options)
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

    if suite == SM2_CRYPTOSUITE:
        data = sm3_hash(canonical_config) + sm3_hash(canonical_document)
        valid = sm2_verify(key_bytes, signature, data)
    else:  # ``hash_data`` of the two Ed25519 suites
        data = sha256(canonical_config).digest() + sha256(canonical_document).digest()
        valid = ed25519_verify(key_bytes, signature, data)
    if not valid:
        return fail(_SIGNATURE_INVALID)
    return ProofCheck(True, _SIGNATURE_VALID, method, created, purpose)


def _context_starts_with(document_context: object, proof_context: object) -> bool:
    """Whether the document's @context begins with every value of the proof's, in order."""
    doc = document_context if isinstance(document_context, list) else [document_context]
    prefix = proof_context if isinstance(proof_context, list) else [proof_context]
    return document_context is not None and doc[: len(prefix)] == prefix
