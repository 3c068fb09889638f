"""Governance of the TrustRegistry by the province root (``suixin registry …`` drives it).

The governance root (e.g. 广东省政务服务和数据管理局) accredits authorities — DID, names (中文 and
English), GB/T 2260 region, credential types, chain account and 统一社会信用代码 (the issuing-unit
part of the national licence identifiers their credentials carry) — changes their scope, suspends,
reinstates and removes them, and lists them with their keys, all read from the chain itself.
Its key comes from ``--root-key FILE`` (a hex secp256k1 key, as ``governance-root.key``) or, in
development, from the data directory (``service.trust.deployment.governance_root``); a province
keeps it offline and runs these commands where it is. Nothing here touches an office's database.

Every input is checked before anything is sent (DID shape, names, a region code in force,
known credential types, an account address), and every refusal of the contract (decoded
``ContractReverted``) becomes a ``GovernanceError`` with a stable code and a reason in 中文 and
English; nothing changes on chain when either happens.

**What suspension means.** A suspended authority can neither anchor nor change a credential's
status (the AnchorRegistry refuses both): its office's queues hold new credentials and status
changes, and send them if the authority is reinstated. Credentials it anchored *before* the
suspension stay VALID by default (``Policy.accept_suspended_authority_history``, which a
verifying office may set to False to refuse them all while the suspension lasts); a credential
anchored afterwards cannot exist. Suspension is the root's brake, not a judgement on past
documents; to invalidate past documents precisely, the root revokes the authority's key from the
moment it was compromised (``revokeKey``; the ``key_validity`` check then fails every credential
anchored later). **Removal** is final: the record and keys stay readable (history is never
deleted), but every credential of a removed authority verifies INVALID (``authority_removed``),
under any policy. Reinstatement restores everything a suspension held back.

The verifier reads the authority's *current* scope: narrowing an authority's types or region
makes its earlier credentials outside the new scope fail the ``issuer`` check too.

Verifier-only partners (a bank, a 肇庆 counter that only checks documents) need no registration:
verification reads the chain (or a trust snapshot) and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

from service.trust.deployment import fund_if_dev
from verifier import regions
from verifier.chain import Chain, Receipt
from verifier.contracts import load_artifact
from verifier.credential import CREDENTIAL_TYPES
from verifier.deployment import Deployment
from verifier.errors import ContractReverted, InvalidInput
from verifier.identifiers import InvalidIdentifier, parse_uscc
from verifier.keys import KeyAlgorithm, PublicMultikey
from verifier.registry import KeyAlgorithmCode

__all__ = [
    "STATUS_NAMES",
    "STATUS_ZH",
    "Governance",
    "GovernanceError",
    "RegistryAuthority",
    "RegistryKey",
    "chain_time_iso",
]

STATUS_NAMES = {1: "active", 2: "suspended", 3: "removed"}
STATUS_ZH = {"active": "有效", "suspended": "暂停", "removed": "已撤销"}
_DID = re.compile(r"did:[a-z0-9]+:([A-Za-z0-9._%-]*:)*[A-Za-z0-9._%-]+")
_MAX_BYTES = 256
_ZERO_ADDRESS = "0x" + "0" * 40


class GovernanceError(InvalidInput):
    """A governance request the registry refuses (or would): a code, reasons in 中文 and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code, self.zh, self.en = code, zh, en

    def diagnostics(self) -> str:
        return f"{self.zh}\n{self.en} [{self.code}]"


@dataclass(frozen=True)
class RegistryAuthority:
    """An authority as the TrustRegistry holds it."""

    id: int
    did: str
    name_zh: str
    name_en: str
    region: int
    credential_types: tuple[str, ...]
    account: str
    status: str  # active | suspended | removed
    accredited_at: int
    uscc: str = ""  # 统一社会信用代码; empty when accredited without one

    def to_json(self) -> dict[str, Any]:
        """The authority as JSON."""
        return {
            "id": self.id,
            "did": self.did,
            "nameZh": self.name_zh,
            "nameEn": self.name_en,
            "region": self.region,
            "types": list(self.credential_types),
            "uscc": self.uscc or None,
            "account": self.account,
            "status": self.status,
            "accreditedAt": chain_time_iso(self.accredited_at),
        }


@dataclass(frozen=True)
class RegistryKey:
    """An issuer key as the TrustRegistry holds it (``revoked_at`` 0: not revoked)."""

    did: str
    key_id: str
    public_multikey: str
    valid_from: int
    revoked_at: int
    revocation_reason: int
    algorithm: KeyAlgorithm = "Ed25519"

    def to_json(self) -> dict[str, Any]:
        """The key as JSON."""
        return {
            "did": self.did,
            "keyId": self.key_id,
            "algorithm": self.algorithm,
            "publicKeyMultibase": self.public_multikey,
            "validFrom": chain_time_iso(self.valid_from),
            "revokedAt": chain_time_iso(self.revoked_at) if self.revoked_at else None,
            "revocationReason": self.revocation_reason or None,
        }


def chain_time_iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------- checks before sending


def _check_did(did: str) -> None:
    if len(did.encode()) > _MAX_BYTES or not _DID.fullmatch(did):
        raise GovernanceError(
            "did_invalid",
            f"DID 格式不正确：{did!r}（应如 did:web:lsj.gz.gov.cn）",
            f"Not a DID: {did!r} (expected something like did:web:lsj.gz.gov.cn).",
        )


def _check_name(name: str, which: str) -> None:
    if not name.strip() or len(name.encode()) > _MAX_BYTES:
        raise GovernanceError(
            "name_invalid",
            f"{which}名称不能为空，且不超过 256 字节",
            f"The {'Chinese' if which == '中文' else 'English'} name must be non-empty and at "
            "most 256 bytes.",
        )


def _check_region(region: int) -> None:
    if not regions.is_known(region):
        raise GovernanceError(
            "region_invalid",
            f"区划代码 {region} 不是现行的 GB/T 2260 行政区划代码",
            f"Region {region} is not a GB/T 2260 code in force.",
        )


def _check_types(types: Sequence[str]) -> list[str]:
    unknown = [t for t in types if t not in CREDENTIAL_TYPES]
    if not types or unknown or len(set(types)) != len(types):
        known = ", ".join(CREDENTIAL_TYPES)
        what = f"未知的凭证类型 {', '.join(unknown)}" if unknown else "凭证类型为空或重复"
        what_en = (
            f"unknown credential type {', '.join(unknown)}" if unknown else "no or repeated types"
        )
        raise GovernanceError(
            "credential_type_invalid",
            f"{what}；可选：{known}",
            f"{what_en[0].upper()}{what_en[1:]}; choose from {known}.",
        )
    return list(types)


def _check_uscc(uscc: str) -> str:
    """A USCC as the registry records it (upper case), or "" for none; GovernanceError."""
    if not uscc:
        return ""
    try:
        return parse_uscc(uscc.strip().upper()).code
    except InvalidIdentifier as e:
        raise GovernanceError(
            "uscc_invalid",
            f"统一社会信用代码不正确：{e.reason.zh}",
            f"Not a unified social credit code: {e.reason.en}",
        ) from e


def _check_account(account: str) -> str:
    if not is_address(account) or account.lower() == _ZERO_ADDRESS:
        raise GovernanceError(
            "account_invalid",
            f"链上账户地址不正确：{account!r}（应为 0x 开头的 40 位十六进制地址）",
            f"Not a chain account address: {account!r} (0x followed by 40 hex digits).",
        )
    return to_checksum_address(account)


# ---------------------------------------------------------------------- contract refusals


def _address(value: object) -> str:
    return to_checksum_address(value) if isinstance(value, str) and is_address(value) else "?"


def _refusal(e: ContractReverted, did: str) -> GovernanceError:
    """The bilingual reason of a TrustRegistry refusal."""
    args = e.arguments
    match e.name:
        case "NotGovernanceRoot":
            return GovernanceError(
                "not_governance_root",
                f"账户 {_address(args.get('caller'))} 不是信任注册表的治理根账户，无权执行此操作",
                f"Account {_address(args.get('caller'))} is not the registry's governance root.",
            )
        case "UnknownAuthority":
            return GovernanceError(
                "authority_unknown",
                f"链上没有以 {did} 认证的签发机关",
                f"No authority with the DID {did} is accredited on chain.",
            )
        case "AuthorityExists":
            return GovernanceError(
                "authority_exists",
                f"{did} 已获认证，不能重复认证（可用 set-scope 修改其范围）",
                f"{did} is already accredited (use set-scope to change its scope).",
            )
        case "AccountInUse":
            return GovernanceError(
                "account_in_use",
                f"账户 {_address(args.get('account'))} 已属于（或曾属于）某签发机关，账户不可复用",
                f"Account {_address(args.get('account'))} belongs, or once belonged, to an "
                "authority; accounts are never reused.",
            )
        case "AuthorityIsRemoved":
            return GovernanceError(
                "authority_removed",
                f"{did} 已被撤销认证，其记录不可再更改",
                f"{did} was removed; nothing about it can change any more.",
            )
        case "InvalidAuthorityTransition":
            current = STATUS_NAMES.get(int(args.get("from", 0)), "?")
            if current == "suspended":
                return GovernanceError(
                    "authority_already_suspended",
                    f"{did} 已处于暂停状态",
                    f"{did} is already suspended.",
                )
            return GovernanceError(
                "authority_not_suspended",
                f"{did} 未被暂停（当前状态：{STATUS_ZH.get(current, current)}），无需恢复",
                f"{did} is not suspended (it is {current}); there is nothing to reinstate.",
            )
        case "InvalidRegion":
            return GovernanceError(
                "region_invalid",
                f"区划代码 {args.get('region')} 不是六位 GB/T 2260 代码",
                f"Region {args.get('region')} is not a six-digit GB/T 2260 code.",
            )
        case "InvalidDid":
            return GovernanceError("did_invalid", f"DID 格式不正确：{did}", f"Not a DID: {did}.")
        case "InvalidName":
            return GovernanceError("name_invalid", "名称为空或过长", "A name is empty or too long.")
        case "InvalidCredentialTypes":
            return GovernanceError(
                "credential_type_invalid",
                "凭证类型为空或过长",
                "The credential types are empty or too long.",
            )
        case "ZeroAddress":
            return GovernanceError(
                "account_invalid", "账户地址不能为零地址", "The account address must not be zero."
            )
        case "InvalidUscc":
            return GovernanceError(
                "uscc_invalid",
                "统一社会信用代码应为空或 18 位（GB 32100 字符集）",
                "The unified social credit code must be empty or 18 GB 32100 characters.",
            )
    return GovernanceError(
        "contract_refused",
        f"信任注册表合约拒绝了该操作：{e}",
        f"The TrustRegistry refused the call: {e}",
    )


# ---------------------------------------------------------------------- governance


class Governance:
    """The province root's view of the TrustRegistry: changes (with ``root``) and reads."""

    def __init__(self, chain: Chain, deployment: Deployment, root: LocalAccount | None) -> None:
        self.chain = chain
        self.deployment = deployment
        self.root = root
        self._abi = load_artifact("TrustRegistry").abi

    def _call(self, fn: str, *args: Any) -> Any:
        return self.chain.call(self.deployment.trust_registry, self._abi, fn, list(args))

    def _send(self, fn: str, args: list[Any], did: str) -> Receipt:
        if self.root is None:
            raise GovernanceError(
                "root_key_missing",
                "需要治理根账户密钥：请用 --root-key 指定密钥文件",
                "The governance root's key is needed: give it with --root-key FILE.",
            )
        fund_if_dev(self.chain, self.root.address)
        try:
            return self.chain.transact(
                self.deployment.trust_registry, self._abi, fn, args, self.root
            )
        except ContractReverted as e:
            raise _refusal(e, did) from e

    # ------------------------------------------------------------------ changes

    def accredit(
        self,
        did: str,
        name_zh: str,
        name_en: str,
        region: int,
        credential_types: Sequence[str],
        account: str,
        uscc: str = "",
    ) -> RegistryAuthority:
        """Accredit a new authority acting through ``account``, with its 统一社会信用代码
        ``uscc`` (checked, check character included; "" for none); raises GovernanceError."""
        _check_did(did)
        _check_name(name_zh, "中文")
        _check_name(name_en, "英文")
        _check_region(region)
        types = _check_types(credential_types)
        address = _check_account(account)
        code = _check_uscc(uscc)
        self._send("accredit", [did, name_zh, name_en, region, types, address, code], did)
        return self.authority(did)

    def set_scope(
        self, did: str, region: int | None = None, credential_types: Sequence[str] | None = None
    ) -> RegistryAuthority:
        """Change an authority's region and/or types (the other is kept); GovernanceError."""
        _check_did(did)
        if region is None and credential_types is None:
            raise GovernanceError(
                "scope_unchanged",
                "请指定新的区划（--region）或凭证类型（--type）",
                "Give a new region (--region) or credential types (--type).",
            )
        current = self.authority(did)
        new_region = current.region if region is None else region
        types = (
            list(current.credential_types)
            if credential_types is None
            else _check_types(credential_types)
        )
        _check_region(new_region)
        self._send("setScope", [did, new_region, types], did)
        return self.authority(did)

    def suspend(self, did: str) -> RegistryAuthority:
        """Suspend an active authority: no more anchors or status changes; GovernanceError."""
        _check_did(did)
        self._send("suspend", [did], did)
        return self.authority(did)

    def reinstate(self, did: str) -> RegistryAuthority:
        """Reinstate a suspended authority; GovernanceError."""
        _check_did(did)
        self._send("reinstate", [did], did)
        return self.authority(did)

    def remove(self, did: str) -> RegistryAuthority:
        """Remove an authority for good (its record and keys stay readable); GovernanceError."""
        _check_did(did)
        self._send("remove", [did], did)
        return self.authority(did)

    # ------------------------------------------------------------------ reads

    def authority(self, did: str) -> RegistryAuthority:
        """One authority by DID; raises GovernanceError ``authority_unknown``."""
        try:
            record = self._call("authorityByDid", did)
        except ContractReverted as e:
            raise _refusal(e, did) from e
        return _authority(record)

    def authorities(self) -> list[RegistryAuthority]:
        """Every authority ever accredited, by id (removed ones too)."""
        count = int(self._call("authorityCount"))
        return [_authority(self._call("authorityById", i)) for i in range(1, count + 1)]

    def keys(self, did: str | None = None) -> list[RegistryKey]:
        """The keys of one authority (or of all), in the order they were registered."""
        dids = [did] if did is not None else [a.did for a in self.authorities()]
        out = []
        for one in dids:
            try:
                key_ids = self._call("keyIdsOf", one)
            except ContractReverted as e:
                raise _refusal(e, one) from e
            for key_id in key_ids:
                public, valid_from, revoked_at, reason, code = self._call("keyOf", one, key_id)
                algorithm: KeyAlgorithm = "SM2" if code == KeyAlgorithmCode.SM2 else "Ed25519"
                out.append(
                    RegistryKey(
                        one,
                        key_id,
                        PublicMultikey(algorithm, bytes(public)).multikey,
                        int(valid_from),
                        int(revoked_at),
                        int(reason),
                        algorithm,
                    )
                )
        return out


def _authority(record: Any) -> RegistryAuthority:
    id_, status, account, region, accredited_at, did, name_zh, name_en, types, uscc = record
    return RegistryAuthority(
        id=int(id_),
        did=did,
        name_zh=name_zh,
        name_en=name_en,
        region=int(region),
        credential_types=tuple(types),
        account=to_checksum_address(account),
        status=STATUS_NAMES.get(int(status), str(status)),
        accredited_at=int(accredited_at),
        uscc=str(uscc),
    )
