"""Verification receipts: a verifying office's signed record of one verification, for its case file.

A receipt is a W3C Verifiable Credential 2.0 of type ``SuixinVerificationReceipt`` whose issuer
is the *verifying* office (its DID and key; never the credential's issuer), secured with an
``eddsa-jcs-2022`` Data Integrity proof (``suixin-sm2-jcs-2025`` when the office's key is an SM2
one), so any Data Integrity verifier can check it. Its
subject records what was checked and how it came out:

- ``credential``: SHA-256 of the credential id (the key of its status on chain) and of the
  signed credential's JCS bytes (its Merkle leaf content), its type, issuer and issuer's names.
  Whoever holds the credential can match it to the receipt; the receipt itself carries none of
  the credential's personal data;
- ``verdict``, ``checkedAt``, and every check with its outcome, code and reason (中文, English);
- ``trust``: the chain, registry and block (number, hash, time) the verdict rests on, whether it
  came from the chain or from an offline snapshot, and how old it was; ``warnings``.

``make_receipt`` signs one with the verifying office's key; ``verify_receipt`` checks one with a
given public key, by resolving a ``did:key`` verification method, or against a ``RegistryIndex``
when the verifying office is an accredited authority (its key must have been valid when the
receipt was signed). Any change to any member of a signed receipt breaks its proof. A receipt's
time is its signer's statement: revoking a key from a moment fails every receipt dated from
then on, but a thief holding the key could date one earlier, so an office whose key leaks
should revoke it from before the leak.

The issuer learns nothing of a verification that does not go through it: verification reads
the chain's registry events (all of them, by block range, so the node does not learn which
credential is being checked either) or a snapshot, and the receipt is made and signed where the
verification runs, with the verifier's own key. Nothing is sent anywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from verifier._time import parse_timestamp
from verifier.bundle import credential_digest, credential_id_hash
from verifier.contexts import SUIXIN_CONTEXT, VC_V2_CONTEXT
from verifier.credential import VERIFIABLE_CREDENTIAL
from verifier.errors import InvalidInput
from verifier.keys import PublicMultikey, resolve_did_key
from verifier.messages import Reason
from verifier.proofs import (
    Ed25519Signer,
    Sm2Signer,
    sign_credential,
    split_verification_method,
    verify_proof,
)
from verifier.registry import RegistryIndex
from verifier.verify import Report

__all__ = ["RECEIPT_TYPE", "ReceiptCheck", "make_receipt", "verify_receipt"]

RECEIPT_TYPE = "SuixinVerificationReceipt"
_SUBJECT_TYPE = "CredentialVerification"


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    """The outcome of checking a receipt: ``ok``, why, and who signed it when (if readable)."""

    ok: bool
    reason: Reason
    signer: str | None = None
    verification_method: str | None = None
    created: datetime | None = None
    verdict: str | None = None


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _credential_facts(bundle: object, report: Report) -> dict[str, Any]:
    credential = bundle.get("credential") if isinstance(bundle, Mapping) else None
    digest: str | None = None
    if isinstance(credential, Mapping):
        with suppress(InvalidInput):  # not JSON-canonicalizable: the format check said so
            digest = credential_digest(credential).hex()
    id_hash = credential_id_hash(report.credential_id).hex() if report.credential_id else None
    names = report.issuer_name
    return {
        "idSha256": id_hash,
        "digestSha256": digest,
        "type": report.credential_type,
        "issuer": report.issuer,
        "issuerName": {"zh": names[0], "en": names[1]} if names else None,
    }


def make_receipt(
    bundle: object,
    report: Report,
    signer: Ed25519Signer | Sm2Signer,
    verification_method: str,
    *,
    receipt_id: str | None = None,
    cryptosuite: str | None = None,
) -> dict[str, Any]:
    """The signed receipt of ``report`` (the verification of ``bundle``).

    ``signer`` is the verifying office's key and ``verification_method`` its DID URL
    (``did:key:z6Mk…#z6Mk…`` or ``did:web:…#key-1``); the receipt's issuer is that DID.
    ``cryptosuite`` as ``sign_credential`` takes it: left out, an ``Sm2KeyPair`` signs
    ``suixin-sm2-jcs-2025`` and anything else ``eddsa-jcs-2022``. Raises ``InvalidInput`` when
    ``verification_method`` is not a DID URL with a fragment, or the key does not suit the
    suite.
    """
    did, _ = split_verification_method(verification_method)
    checked_at = _timestamp(report.checked_at)
    trust = report.trust.to_json()
    unsigned = {
        "@context": [VC_V2_CONTEXT, SUIXIN_CONTEXT],
        "id": receipt_id or uuid.uuid4().urn,
        "type": [VERIFIABLE_CREDENTIAL, RECEIPT_TYPE],
        "issuer": did,
        "validFrom": checked_at,
        "credentialSubject": {
            "type": _SUBJECT_TYPE,
            "credential": _credential_facts(bundle, report),
            "verdict": report.verdict.value,
            "checkedAt": checked_at,
            "checks": [c.to_json() for c in report.checks],
            "trust": trust,
            "warnings": [w.as_dict() for w in report.warnings],
        },
    }
    return sign_credential(
        unsigned, signer, verification_method, checked_at, cryptosuite=cryptosuite
    )


def _r(code: str, zh: str, en: str) -> Reason:
    return Reason(code, zh, en)


_MALFORMED = _r(
    "receipt_malformed",
    "不是格式正确的核验回执",
    "This is not a well-formed verification receipt.",
)


def verify_receipt(
    receipt: object,
    public_key: bytes | PublicMultikey | None = None,
    *,
    registry: RegistryIndex | None = None,
    clock_skew: timedelta = timedelta(minutes=5),
) -> ReceiptCheck:
    """Check a receipt's shape and proof; ``ok`` only if it is exactly what its signer signed.

    The key is, in this order: ``public_key`` (32 raw Ed25519 bytes, or a ``PublicMultikey`` of
    either algorithm) when given; the Ed25519 or SM2 key of a ``did:key`` verification method;
    else the signer's key in ``registry`` (an accredited authority's, Ed25519 or SM2), which
    must have been valid at the proof's ``created`` time (a signer's clock
    may be up to ``clock_skew`` behind the chain's block times, as ``Policy.clock_skew`` allows
    for credentials; a revocation applies from its exact time). The caller decides
    whether it trusts the signer (``ReceiptCheck.signer``). Failures are results with a reason,
    not exceptions; raises ``InvalidInput`` only when ``public_key`` is raw bytes not 32 long.
    """
    if public_key is not None and not isinstance(public_key, PublicMultikey):
        if not isinstance(public_key, bytes) or len(public_key) != 32:
            raise InvalidInput("the Ed25519 public key to check a receipt with must be 32 bytes")
        public_key = PublicMultikey("Ed25519", public_key)
    if not isinstance(receipt, Mapping):
        return ReceiptCheck(False, _MALFORMED)
    proof = receipt.get("proof")
    subject = receipt.get("credentialSubject")
    types = receipt.get("type")
    issuer = receipt.get("issuer")
    if (
        not isinstance(proof, Mapping)
        or not isinstance(subject, Mapping)
        or not isinstance(types, list)
        or RECEIPT_TYPE not in types
        or not isinstance(issuer, str)
    ):
        return ReceiptCheck(False, _MALFORMED)
    method = proof.get("verificationMethod")
    created = parse_timestamp(proof.get("created"))
    verdict = subject.get("verdict") if isinstance(subject.get("verdict"), str) else None
    try:
        did, fragment = split_verification_method(method)  # type: ignore[arg-type]
    except InvalidInput:
        return ReceiptCheck(False, _MALFORMED, issuer, None, created, verdict)
    assert isinstance(method, str)

    def result(ok: bool, reason: Reason) -> ReceiptCheck:
        return ReceiptCheck(ok, reason, issuer, method, created, verdict)

    if did != issuer:
        return result(
            False,
            _r(
                "receipt_signer_mismatch",
                f"回执的签名密钥属于 {did}，而不是回执出具方 {issuer}",
                f"The receipt is signed by a key of {did}, not of its issuer {issuer}.",
            ),
        )
    if created is None:
        return result(False, _MALFORMED)
    key = public_key
    if key is None and did.startswith("did:key:"):
        try:
            resolved = resolve_did_key(method)
        except InvalidInput:
            return result(False, _MALFORMED)
        if resolved.algorithm not in ("Ed25519", "SM2"):
            return result(
                False,
                _r(
                    "receipt_key_unsupported",
                    "回执签名密钥不是 Ed25519 或 SM2 密钥",
                    "The receipt's key is neither an Ed25519 nor an SM2 key.",
                ),
            )
        key = resolved
    if key is None and registry is not None:
        authority = registry.authority(did)
        record = registry.key(authority.id, fragment) if authority is not None else None
        if record is None:
            return result(
                False,
                _r(
                    "receipt_key_unknown",
                    f"回执签名密钥 {method} 未在链上信任注册表中登记",
                    f"The receipt's key {method} is not registered on chain.",
                ),
            )
        when = int(created.timestamp())
        too_early = when + int(clock_skew.total_seconds()) < record.valid_from
        effective = max(when, record.valid_from)  # inside the skew: as if at valid_from
        if too_early or (record.revoked_at and effective >= record.revoked_at):
            return result(
                False,
                _r(
                    "receipt_key_not_valid",
                    f"回执签名时（{_timestamp(created)}）密钥 {method} 无效",
                    f"The key {method} was not valid when the receipt was signed "
                    f"({_timestamp(created)}).",
                ),
            )
        key = record.multikey
    if key is None:
        return result(
            False,
            _r(
                "receipt_key_unresolved",
                f"无法确定 {method} 的公钥：请提供公钥或链上信任注册表",
                f"Cannot resolve the key {method}: give its public key or the registry.",
            ),
        )
    try:
        check = verify_proof(receipt, key, "assertionMethod")
    except InvalidInput:  # a registered key that is no key of its algorithm
        return result(False, _MALFORMED)
    if not check.ok:
        return result(False, check.reason)
    return result(
        True,
        _r(
            "receipt_valid",
            f"回执由 {issuer} 签署，内容未被改动",
            f"The receipt was signed by {issuer} and has not been changed.",
        ),
    )
