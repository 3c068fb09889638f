"""Credential status on chain: the status codes and the table of reasons, named in 中文 and English.

The AnchorRegistry stores a status change as two numbers, a status (1 revoked, 2 suspended,
3 reinstated, 4 superseded) and a uint16 reason code. This table gives every reason code its
stable name and the label a person reads, so a report says "已吊销，原因：遗失补领" rather than
"reason code 1". The codes are shared by every office and verifier; never renumber them, only
append. An unknown code (from a newer office) still gets a label that names the number.
"""

from __future__ import annotations

from dataclasses import dataclass

from verifier.messages import Language

__all__ = [
    "ANCHOR_STATUS_TYPE",
    "STATUS_CODES",
    "STATUS_REASONS",
    "StatusReason",
    "reason_by_name",
    "status_code",
    "status_label",
    "status_reason",
]

# The ``credentialStatus`` type of an entry naming the credential's status slot in the
# AnchorRegistry (``urn:suixin:status:eip155:<chain>:<registry>:<slot>``); the Suixin context
# defines it.
ANCHOR_STATUS_TYPE = "SuixinAnchorRegistryStatus"

# on-chain status codes (the AnchorRegistry's CredentialStatus enum) by name
STATUS_CODES: dict[str, int] = {"revoked": 1, "suspended": 2, "reinstated": 3, "superseded": 4}

_STATUS_LABELS: dict[int, tuple[str, str]] = {
    0: ("有效", "in force"),
    1: ("已吊销", "revoked"),
    2: ("已暂停使用", "suspended"),
    3: ("已恢复", "reinstated"),
    4: ("已被新版本取代", "superseded"),
}


@dataclass(frozen=True, slots=True)
class StatusReason:
    """One reason of a status change: its uint16 code on chain, stable name and labels."""

    code: int
    name: str
    zh: str
    en: str

    def text(self, language: Language = "zh") -> str:
        """The label in the chosen language."""
        return self.zh if language == "zh" else self.en


STATUS_REASONS: tuple[StatusReason, ...] = (
    StatusReason(0, "unspecified", "未说明", "unspecified"),
    StatusReason(1, "lost", "遗失补领", "lost, replacement issued"),
    StatusReason(2, "damaged", "损坏换领", "damaged, renewed"),
    StatusReason(3, "endorsed", "签注", "endorsed, new term issued"),
    StatusReason(4, "address_changed", "变更居住地址", "residence address changed"),
    StatusReason(5, "amended", "变更登记", "registration amended"),
    StatusReason(6, "endorsement_lapsed", "逾期未签注", "endorsement lapsed"),
    StatusReason(7, "hukou_registered", "落户注销", "cancelled: local hukou registered"),
    StatusReason(8, "deceased", "死亡注销", "cancelled: holder deceased"),
    StatusReason(9, "licence_revoked", "吊销", "licence revoked"),
    StatusReason(10, "licence_cancelled", "注销登记", "registration cancelled"),
    StatusReason(11, "key_compromised", "签名密钥泄露", "signing key compromised"),
    StatusReason(12, "reissued", "重新签发", "reissued"),
    StatusReason(13, "moved_city", "迁出本市", "moved to another city"),
    StatusReason(14, "issuer_error", "签发错误", "issued in error"),
)

_BY_CODE = {r.code: r for r in STATUS_REASONS}
_BY_NAME = {r.name: r for r in STATUS_REASONS}


def status_reason(code: int) -> StatusReason:
    """The reason with this on-chain code; an unknown code gets a label naming the number."""
    found = _BY_CODE.get(code)
    if found is not None:
        return found
    return StatusReason(code, f"reason_{code}", f"原因代码 {code}", f"reason code {code}")


def reason_by_name(name: str) -> StatusReason:
    """The reason called ``name`` (``lost``); raises ValueError for a name not in the table."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(r.name for r in STATUS_REASONS)
        raise ValueError(f"unknown status reason {name!r}; known: {known}") from None


def status_code(name: str) -> int:
    """The on-chain code of a status name (``revoked`` → 1); raises ValueError if unknown."""
    try:
        return STATUS_CODES[name]
    except KeyError:
        raise ValueError(f"unknown status {name!r}; known: {', '.join(STATUS_CODES)}") from None


def status_label(status: int) -> tuple[str, str]:
    """(中文, English) of an on-chain status code; unknown codes name the number."""
    return _STATUS_LABELS.get(status, (f"状态代码 {status}", f"status code {status}"))
