"""Foreign credentials and presentations: W3C VC 2.0 with an eddsa-jcs-2022 or eddsa-rdfc-2022
proof by a did:key or did:web issuer that the TrustRegistry does not accredit.

A credential that names none of Suixin's types (``ResidencePermit``, ``BusinessLicense``,
``ResidenceYears``) is *foreign*. The verifier runs the same named checks on it, with these
meanings:

- ``format``: VC 2.0 shape (the v2 context first, ``VerifiableCredential`` among the types, an
  issuer URL, a subject, RFC 3339 validity times, a proof) and the data model's finer rules a
  JSON reading can hold (``verifier._data_model``: URLs, identifiers, typed objects, names,
  related resources, inline ``@context`` terms);
- ``signature``: the Data Integrity proof, with the key of the proof's verification method,
  which must belong to the issuer: a ``did:key`` resolves itself; a ``did:web`` only from a DID
  document the caller supplies (nothing is fetched). An ``eddsa-rdfc-2022`` proof is checked
  over the RDFC-1.0 form with the shipped JSON-LD contexts only, in safe mode
  (``verifier.proofs.verify_proof``);
- ``issuer``: never passes. The issuer is not an authority accredited on chain for this
  credential, so the credential is not a government credential, however sound its proof;
- ``key_validity`` and ``anchor``: skipped (no key history, no anchor on this chain);
- ``status``: each ``BitstringStatusListEntry`` against the list credential the caller
  supplied (``verifier.status_list.check_status``), else skipped as not checked;
- ``validity_period``: ``validFrom`` / ``validUntil``.

The verdict is INVALID when any check but ``issuer`` failed, else NOT_ACCREDITED (never VALID).

``check_presentation_proof`` checks a verifiable presentation's own proof: purpose
``authentication``, the holder's key, and the verifier's ``challenge`` and ``domain``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from verifier._data_model import data_model_errors, is_url
from verifier._time import parse_timestamp
from verifier.contexts import VC_V2_CONTEXT
from verifier.errors import InvalidInput
from verifier.interop import interop_errors
from verifier.keys import DID_KEY_PREFIX, PublicMultikey, decode_multikey, resolve_did_key
from verifier.messages import Reason
from verifier.proofs import split_verification_method, verify_proof
from verifier.schemas import CREDENTIAL_TYPES
from verifier.status_list import (
    BITSTRING_STATUS_LIST_ENTRY,
    StatusListError,
    check_status,
    status_list_entries,
)

__all__ = [
    "DID_WEB_PREFIX",
    "VERIFIABLE_PRESENTATION",
    "DidResolutionError",
    "ForeignMaterial",
    "ForeignOutcome",
    "check_foreign",
    "check_presentation_proof",
    "foreign_format_errors",
    "is_foreign",
    "presentation_credentials",
    "proof_binding",
    "resolve_verification_method",
]

DID_WEB_PREFIX = "did:web:"
VERIFIABLE_PRESENTATION = "VerifiablePresentation"
_VERIFIABLE_CREDENTIAL = "VerifiableCredential"


@dataclass(frozen=True, slots=True)
class ForeignMaterial:
    """What the caller hands the verifier besides the credential: DID documents for did:web
    issuers and holders, and status list credentials (never fetched by the verifier)."""

    did_documents: tuple[Mapping[str, Any], ...] = ()
    status_lists: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_json(
        cls, did_documents: object = None, status_lists: object = None
    ) -> ForeignMaterial:
        """The material from two JSON values (each a list of objects, or one object; anything
        else is ignored)."""

        def objects(value: object) -> tuple[Mapping[str, Any], ...]:
            items = value if isinstance(value, list) else [value] if value is not None else []
            return tuple(item for item in items if isinstance(item, Mapping))

        return cls(objects(did_documents), objects(status_lists))

    def merged(self, other: ForeignMaterial) -> ForeignMaterial:
        """Both materials together."""
        return ForeignMaterial(
            self.did_documents + other.did_documents, self.status_lists + other.status_lists
        )


@dataclass(frozen=True, slots=True)
class ForeignOutcome:
    """One foreign check: its name, whether it held (``True``), failed (``False``) or was not
    checked (``None``), and why."""

    name: str
    held: bool | None
    reason: Reason


def is_foreign(credential: object) -> bool:
    """Whether ``credential`` is a JSON object that names ``VerifiableCredential`` and none of
    Suixin's credential types."""
    if not isinstance(credential, Mapping):
        return False
    types = credential.get("type")
    if not isinstance(types, list) or _VERIFIABLE_CREDENTIAL not in types:
        return False
    return not any(t in CREDENTIAL_TYPES for t in types)


def _issuer_id(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _is_url(value: object) -> bool:
    return is_url(value)


def foreign_format_errors(
    document: object, *, kind: str = _VERIFIABLE_CREDENTIAL, signed: bool = True
) -> list[Reason]:
    """What keeps ``document`` from being a well-formed VC 2.0 credential (``kind``
    ``VerifiableCredential``) or presentation (``VerifiablePresentation``), empty when it is
    one. ``signed=False`` does not ask for a proof (an issuance request)."""
    if not isinstance(document, Mapping):
        return [Reason("not_an_object", "应为 JSON 对象", "Must be a JSON object.")]
    unreadable = interop_errors(document)
    if unreadable:
        first = unreadable[0]
        return [Reason(first.code, f"{first.path}：{first.zh}", f"{first.path}: {first.en}")]
    errors: list[Reason] = []
    context = document.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_V2_CONTEXT:
        errors.append(
            Reason(
                "context_invalid",
                f"@context 应为数组，且第一项为 {VC_V2_CONTEXT}",
                f"@context must be an array starting with {VC_V2_CONTEXT}.",
            )
        )
    elif not all(isinstance(c, str | Mapping) for c in context):
        errors.append(
            Reason(
                "context_invalid",
                "@context 的各项应为 URL 或对象",
                "Each @context entry must be a URL or an object.",
            )
        )
    types = document.get("type")
    if (
        not isinstance(types, list)
        or kind not in types
        or not all(isinstance(t, str) for t in types)
    ):
        errors.append(
            Reason(
                "type_invalid",
                f"type 应为包含 {kind} 的数组",
                f"type must be an array with {kind}.",
            )
        )
    if "id" in document and not _is_url(document["id"]):
        errors.append(Reason("id_invalid", "id 应为 URL", "id must be a URL."))
    holder = document.get("holder")
    if kind == VERIFIABLE_PRESENTATION and "holder" in document and not _is_url(_issuer_id(holder)):
        errors.append(
            Reason(
                "holder_invalid",
                "holder 应为 URL（如 DID），或带 id 的对象",
                "holder must be a URL (such as a DID) or an object with an id.",
            )
        )
    if kind == _VERIFIABLE_CREDENTIAL:
        if not _is_url(_issuer_id(document.get("issuer"))):
            errors.append(
                Reason(
                    "issuer_invalid",
                    "issuer 应为 URL（如 DID），或带 id 的对象",
                    "issuer must be a URL (such as a DID) or an object with an id.",
                )
            )
        subject = document.get("credentialSubject")
        subjects = subject if isinstance(subject, list) else [subject]
        if not subjects or not all(isinstance(s, Mapping) and s for s in subjects):
            errors.append(
                Reason(
                    "subject_invalid",
                    "credentialSubject 应为非空对象（或其数组）",
                    "credentialSubject must be a non-empty object (or an array of them).",
                )
            )
        for name in ("validFrom", "validUntil"):
            if name in document and parse_timestamp(document[name]) is None:
                errors.append(
                    Reason(
                        "datetime_invalid",
                        f"{name} 应为带时区的 RFC 3339 时间",
                        f"{name} must be an RFC 3339 date-time with an offset.",
                    )
                )
        start = parse_timestamp(document.get("validFrom"))
        end = parse_timestamp(document.get("validUntil"))
        if start is not None and end is not None and end <= start:
            errors.append(
                Reason(
                    "dates_inconsistent",
                    "validUntil 应晚于 validFrom",
                    "validUntil must be later than validFrom.",
                )
            )
    if not errors:  # the shape holds: the data model's finer rules
        errors += data_model_errors(document)
    if signed and not isinstance(document.get("proof"), Mapping):
        errors.append(
            Reason(
                "proof_missing",
                "缺少证明（proof），或证明不是单个对象",
                "There is no proof, or it is not a single object.",
            )
        )
    return errors


# ------------------------------------------------------------------ DID resolution


def _did_document(did: str, documents: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((d for d in documents if d.get("id") == did), None)


def _absolute(did: str, ref: object) -> str | None:
    if isinstance(ref, str):
        return did + ref if ref.startswith("#") else ref
    if isinstance(ref, Mapping) and isinstance(ref.get("id"), str):
        return _absolute(did, ref["id"])
    return None


def resolve_verification_method(
    method: str,
    did_documents: Iterable[Mapping[str, Any]] = (),
    relationship: str = "assertionMethod",
) -> PublicMultikey:
    """The public key of ``method`` (``did:…#fragment``), authorised for ``relationship``.

    A ``did:key`` resolves itself; a ``did:web`` resolves only from one of ``did_documents``
    whose ``id`` is the DID (the verifier never fetches one), where the method must be listed
    (a ``Multikey`` with ``publicKeyMultibase`` controlled by the DID) and referenced from
    ``relationship``. Raises ``DidResolutionError`` (an ``InvalidInput`` with a bilingual
    ``reason``) for any other DID method, a missing document or method, or a bad key, and
    ``InvalidInput`` when ``method`` is no DID URL with a fragment."""
    did, _ = split_verification_method(method)
    if did.startswith(DID_KEY_PREFIX):
        try:
            return resolve_did_key(method)
        except InvalidInput as e:
            raise _unresolvable(
                "did_key_invalid",
                f"did:key 验证方法无效：{e}",
                f"The did:key verification method is not valid: {e}",
            ) from e
    if not did.startswith(DID_WEB_PREFIX):
        raise _unresolvable(
            "did_method_unsupported",
            f"不支持该 DID 方法（{did.split(':')[1]}）：只核验 did:key 与 did:web",
            f"DID method {did.split(':')[1]!r} is not supported: only did:key and did:web.",
        )
    document = _did_document(did, did_documents)
    if document is None:
        raise _unresolvable(
            "did_document_missing",
            f"未提供 {did} 的 DID 文档（核验方不联网获取 did:web 文档）",
            f"No DID document for {did} was supplied (did:web documents are never fetched).",
        )
    methods = document.get("verificationMethod")
    listed = [m for m in methods if isinstance(m, Mapping)] if isinstance(methods, list) else []
    related = document.get(relationship)
    refs = related if isinstance(related, list) else []
    listed += [r for r in refs if isinstance(r, Mapping)]  # embedded methods
    entry = next((m for m in listed if _absolute(did, m.get("id")) == method), None)
    if entry is None:
        raise _unresolvable(
            "verification_method_unknown",
            f"{did} 的 DID 文档中没有验证方法 {method}",
            f"{did}'s DID document has no verification method {method}.",
        )
    if method not in {_absolute(did, r) for r in refs}:
        raise _unresolvable(
            "verification_method_not_authorized",
            f"验证方法 {method} 未列入 {did} 的 {relationship}",
            f"The verification method {method} is not listed under {did}'s {relationship}.",
        )
    if entry.get("controller") not in (None, did):
        raise _unresolvable(
            "verification_method_controller",
            f"验证方法 {method} 的控制者不是 {did}",
            f"The verification method {method} is not controlled by {did}.",
        )
    multibase = entry.get("publicKeyMultibase")
    try:
        if not isinstance(multibase, str):
            raise InvalidInput("no publicKeyMultibase")
        return decode_multikey(multibase)
    except InvalidInput as e:
        raise _unresolvable(
            "verification_method_key_invalid",
            f"验证方法 {method} 的公钥无法读取（需 publicKeyMultibase 形式的 Multikey）",
            f"The key of {method} cannot be read (a Multikey in publicKeyMultibase): {e}",
        ) from e


class DidResolutionError(InvalidInput):
    """A verification method that cannot be resolved to a key; ``reason`` says why."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.en)
        self.reason = reason

    def diagnostics(self) -> str:
        return f"{self.reason.zh} / {self.reason.en} [{self.reason.code}]"


def _unresolvable(code: str, zh: str, en: str) -> DidResolutionError:
    return DidResolutionError(Reason(code, zh, en))


def _reason_of(error: InvalidInput) -> Reason:
    if isinstance(error, DidResolutionError):
        return error.reason
    return Reason(
        "verification_method_invalid",
        f"验证方法无效：{error}",
        f"The verification method is not valid: {error}",
    )


# ------------------------------------------------------------------ the checks


def _proof_signature(
    document: Mapping[str, Any],
    controller: str | None,
    material: ForeignMaterial,
    relationship: str,
    purpose: str,
) -> ForeignOutcome:
    proof = document.get("proof")
    method = proof.get("verificationMethod") if isinstance(proof, Mapping) else None
    if not isinstance(method, str):
        return ForeignOutcome(
            "signature",
            False,
            Reason(
                "proof_malformed",
                "证明缺少验证方法（verificationMethod）",
                "The proof names no verificationMethod.",
            ),
        )
    try:
        did, _ = split_verification_method(method)
        if controller is not None and did != controller:
            return ForeignOutcome(
                "signature",
                False,
                Reason(
                    "verification_method_not_issuer",
                    f"证明的验证方法属于 {did}，而不是 {controller}",
                    f"The proof's verification method belongs to {did}, not to {controller}.",
                ),
            )
        key = resolve_verification_method(method, material.did_documents, relationship)
    except InvalidInput as e:
        return ForeignOutcome("signature", False, _reason_of(e))
    check = verify_proof(document, key, purpose)
    return ForeignOutcome("signature", check.ok, check.reason)


def _binding(proof: object, challenge: str | None, domain: str | None) -> list[ForeignOutcome]:
    """The proof's ``challenge`` and ``domain`` against what the verifier asked for."""
    out: list[ForeignOutcome] = []
    if not isinstance(proof, Mapping):
        return out
    if challenge is not None:
        if proof.get("challenge") != challenge:
            out.append(
                ForeignOutcome(
                    "challenge",
                    False,
                    Reason(
                        "challenge_mismatch",
                        "证明中的挑战值（challenge）与核验方给出的不符：可能是重放",
                        "The proof's challenge is not the verifier's: possibly a replay.",
                    ),
                )
            )
        else:
            out.append(
                ForeignOutcome(
                    "challenge",
                    True,
                    Reason("challenge_match", "挑战值相符", "The challenge matches."),
                )
            )
    if domain is not None:
        value = proof.get("domain")
        domains = value if isinstance(value, list) else [value]
        if domain not in domains:
            out.append(
                ForeignOutcome(
                    "domain",
                    False,
                    Reason(
                        "domain_mismatch",
                        f"证明不是为 {domain} 出示的（domain 不符）",
                        f"The proof was not made for the domain {domain}.",
                    ),
                )
            )
        else:
            out.append(
                ForeignOutcome(
                    "domain",
                    True,
                    Reason("domain_match", f"证明为 {domain} 出示", f"Made for {domain}."),
                )
            )
    return out


def proof_binding(
    document: Mapping[str, Any], challenge: str | None, domain: str | None
) -> list[ForeignOutcome]:
    """The ``challenge`` and ``domain`` checks of ``document``'s proof (only those asked)."""
    return _binding(document.get("proof"), challenge, domain)


_NO_KEY_HISTORY = Reason(
    "key_history_not_applicable",
    "该签发方的密钥没有链上有效期记录，未检查",
    "Not checked: the issuer's key has no validity history on chain.",
)
_NOT_ANCHORED = Reason(
    "anchor_not_applicable",
    "外来凭证不在本链上存证，未检查",
    "Not checked: a foreign credential is not anchored on this chain.",
)
_SKIPPED = Reason(
    "not_checked", "因前面的检查未通过，未检查此项", "Not checked: an earlier check failed."
)


def _issuer(
    credential: Mapping[str, Any], authority_name: tuple[str, str] | None
) -> ForeignOutcome:
    issuer = _issuer_id(credential.get("issuer")) or "?"
    if authority_name is not None:
        return ForeignOutcome(
            "issuer",
            False,
            Reason(
                "issuer_not_accredited_for_type",
                f"签发方 {authority_name[0]} 在信任注册表上，但未被认证签发此类凭证："
                "这不是经认证的政府凭证",
                f"The issuer {authority_name[1]} is on the TrustRegistry but not accredited for "
                "this type of credential: not a government credential.",
            ),
        )
    return ForeignOutcome(
        "issuer",
        False,
        Reason(
            "issuer_not_accredited",
            f"签发方 {issuer} 不在信任注册表上：签名可以真实，但这不是经认证的政府凭证",
            f"The issuer {issuer} is not on the TrustRegistry: the proof may be sound, but "
            "this is not an accredited government credential.",
        ),
    )


def _status(
    credential: Mapping[str, Any], material: ForeignMaterial, now: datetime
) -> ForeignOutcome:
    raw = credential.get("credentialStatus")
    if raw is None:
        return ForeignOutcome(
            "status",
            None,
            Reason(
                "status_none",
                "凭证未声明状态（credentialStatus），签发方未提供吊销手段",
                "The credential declares no credentialStatus: its issuer offers no revocation.",
            ),
        )
    try:
        entries = status_list_entries(credential)
    except StatusListError as e:
        return ForeignOutcome("status", False, e.reason)
    items = raw if isinstance(raw, list) else [raw]
    if len(entries) != len(items):
        others = sorted(
            {str(i.get("type")) for i in items if isinstance(i, Mapping)}
            - {BITSTRING_STATUS_LIST_ENTRY}
        )
        return ForeignOutcome(
            "status",
            None,
            Reason(
                "status_type_unsupported",
                f"不支持的状态类型 {', '.join(others) or '?'}，凭证状态未检查",
                f"Status type {', '.join(others) or '?'} is not supported: status not checked.",
            ),
        )
    issuer = _issuer_id(credential.get("issuer"))
    held: list[str] = []
    for entry in entries:
        listed = next(
            (s for s in material.status_lists if s.get("id") == entry.status_list_credential),
            None,
        )
        if listed is None:
            return ForeignOutcome(
                "status",
                None,
                Reason(
                    "status_not_checked",
                    f"未提供状态列表 {entry.status_list_credential}，凭证状态未检查"
                    "（核验方不联网获取）",
                    f"The status list {entry.status_list_credential} was not supplied: status "
                    "not checked (lists are never fetched).",
                ),
            )
        proof = listed.get("proof")
        method = proof.get("verificationMethod") if isinstance(proof, Mapping) else None
        try:
            key = resolve_verification_method(str(method), material.did_documents)
            if key.algorithm != "Ed25519":
                raise InvalidInput("the status list's key is not an Ed25519 key")
            result = check_status(
                entry,
                listed,
                key.public_bytes,
                issuers=[issuer] if issuer else None,
                now=now,
            )
        except StatusListError as e:
            return ForeignOutcome("status", False, e.reason)
        except InvalidInput as e:
            reason = _reason_of(e)
            return ForeignOutcome(
                "status",
                False,
                Reason(
                    "status_list_key_unresolved",
                    f"状态列表的签名密钥无法确定：{reason.zh}",
                    f"The status list's signing key cannot be resolved: {reason.en}",
                ),
            )
        if not result.valid and entry.status_purpose in ("revocation", "suspension"):
            zh = "已吊销" if entry.status_purpose == "revocation" else "已暂停"
            en = "revoked" if entry.status_purpose == "revocation" else "suspended"
            return ForeignOutcome(
                "status",
                False,
                Reason(
                    f"credential_{en}",
                    f"凭证{zh}（状态列表 {entry.status_list_credential} 第 "
                    f"{entry.status_list_index} 项）",
                    f"The credential is {en} (status list {entry.status_list_credential}, "
                    f"index {entry.status_list_index}).",
                ),
            )
        held.append(entry.status_purpose)
    return ForeignOutcome(
        "status",
        True,
        Reason(
            "status_list_clear",
            f"状态列表显示凭证未被标记（{', '.join(held)}）",
            f"The status lists show the credential unflagged ({', '.join(held)}).",
        ),
    )


def _validity(credential: Mapping[str, Any], now: datetime) -> ForeignOutcome:
    start = parse_timestamp(credential.get("validFrom"))
    end = parse_timestamp(credential.get("validUntil"))
    if start is not None and now < start:
        return ForeignOutcome(
            "validity_period",
            False,
            Reason(
                "not_yet_valid",
                f"凭证自 {start.isoformat()} 起才生效",
                f"The credential is valid only from {start.isoformat()}.",
            ),
        )
    if end is not None and now >= end:
        return ForeignOutcome(
            "validity_period",
            False,
            Reason(
                "expired",
                f"凭证已于 {end.isoformat()} 过期",
                f"The credential expired at {end.isoformat()}.",
            ),
        )
    return ForeignOutcome(
        "validity_period",
        True,
        Reason("within_validity", "在有效期内", "Within its validity period."),
    )


def check_foreign(
    credential: object,
    *,
    now: datetime,
    material: ForeignMaterial = ForeignMaterial(),
    authority_name: tuple[str, str] | None = None,
    challenge: str | None = None,
    domain: str | None = None,
) -> list[ForeignOutcome]:
    """The checks of a foreign credential, in the order of ``verifier.verify.CHECKS``, then
    ``challenge`` and ``domain`` when asked for. ``authority_name`` is the (中文, English) name
    of the on-chain authority whose DID is the issuer, if there is one: it is still not
    accredited for a type that is not Suixin's."""
    errors = foreign_format_errors(credential)
    if errors:
        first = errors[0]
        more = len(errors) - 1
        reason = Reason(
            first.code,
            first.zh + (f"（另有 {more} 处）" if more else ""),
            first.en + (f" ({more} more)" if more else ""),
        )
        out = [ForeignOutcome("format", False, reason)]
        out += [
            ForeignOutcome(n, None, _SKIPPED)
            for n in ("signature", "issuer", "key_validity", "anchor", "status", "validity_period")
        ]
        return out
    assert isinstance(credential, Mapping)
    issuer = _issuer_id(credential.get("issuer"))
    return [
        ForeignOutcome(
            "format",
            True,
            Reason("format_valid_vc2", "符合 VC 2.0 格式", "A well-formed VC 2.0 credential."),
        ),
        _proof_signature(credential, issuer, material, "assertionMethod", "assertionMethod"),
        _issuer(credential, authority_name),
        ForeignOutcome("key_validity", None, _NO_KEY_HISTORY),
        ForeignOutcome("anchor", None, _NOT_ANCHORED),
        _status(credential, material, now),
        _validity(credential, now),
        *proof_binding(credential, challenge, domain),
    ]


def check_presentation_proof(
    presentation: object,
    *,
    challenge: str | None,
    domain: str | None,
    material: ForeignMaterial = ForeignMaterial(),
) -> list[ForeignOutcome]:
    """The checks of a verifiable presentation's own proof: ``format`` (VC 2.0 presentation),
    ``signature`` (purpose ``authentication``, by the ``holder`` when one is named, its key
    from did:key or a supplied did:web document), then ``challenge`` and ``domain`` when the
    verifier gave them. A proof that carries a challenge when the verifier gave none fails:
    the verifier cannot know it is fresh."""
    errors = foreign_format_errors(presentation, kind=VERIFIABLE_PRESENTATION)
    if errors:
        return [ForeignOutcome("format", False, errors[0])]
    assert isinstance(presentation, Mapping)
    holder = _issuer_id(presentation.get("holder"))
    out = [
        ForeignOutcome(
            "format",
            True,
            Reason(
                "format_valid_vp2", "符合 VC 2.0 出示格式", "A well-formed VC 2.0 presentation."
            ),
        ),
        _proof_signature(presentation, holder, material, "authentication", "authentication"),
    ]
    proof = presentation["proof"]
    if challenge is None and proof.get("challenge") is not None:
        out.append(
            ForeignOutcome(
                "challenge",
                False,
                Reason(
                    "challenge_not_given",
                    "出示带有挑战值，但核验方未给出挑战值，无法确认其新鲜",
                    "The presentation carries a challenge but none was given to check it against.",
                ),
            )
        )
    out += _binding(proof, challenge, domain)
    return out


def presentation_credentials(presentation: Mapping[str, Any]) -> Sequence[object]:
    """The credentials a presentation embeds (``verifiableCredential``: one or an array)."""
    value = presentation.get("verifiableCredential")
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
