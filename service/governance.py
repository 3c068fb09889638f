"""Governance of the TrustRegistry by the province root: ``suixin registry …``.

The governance root (e.g. 广东省政务服务和数据管理局) accredits authorities — DID, names (中文 and
English), GB/T 2260 region, credential types, chain account — changes their scope, suspends,
reinstates and removes them, and lists them with their keys, all read from the chain itself.
Its key comes from ``--root-key FILE`` (a hex secp256k1 key, as ``governance-root.key``) or, in
development, from the data directory (``service.runtime.governance_root``); a province keeps it
offline and runs these commands where it is. Nothing here touches an office's database.

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

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

from service.config import Settings
from service.deploy import fund_if_dev
from service.runtime import ensure_deployment, governance_root
from verifier import regions
from verifier.chain import Chain, Receipt, connect
from verifier.contracts import load_artifact
from verifier.credential import CREDENTIAL_TYPES
from verifier.deployment import Deployment
from verifier.errors import ContractReverted, InvalidInput
from verifier.keys import encode_multikey_ed25519

__all__ = [
    "STATUS_NAMES",
    "Governance",
    "GovernanceError",
    "RegistryAuthority",
    "RegistryKey",
    "register_cli",
]

STATUS_NAMES = {1: "active", 2: "suspended", 3: "removed"}
_STATUS_ZH = {"active": "有效", "suspended": "暂停", "removed": "已撤销"}
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

    def to_json(self) -> dict[str, Any]:
        """The authority as JSON."""
        return {
            "id": self.id,
            "did": self.did,
            "nameZh": self.name_zh,
            "nameEn": self.name_en,
            "region": self.region,
            "types": list(self.credential_types),
            "account": self.account,
            "status": self.status,
            "accreditedAt": _iso(self.accredited_at),
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

    def to_json(self) -> dict[str, Any]:
        """The key as JSON."""
        return {
            "did": self.did,
            "keyId": self.key_id,
            "publicKeyMultibase": self.public_multikey,
            "validFrom": _iso(self.valid_from),
            "revokedAt": _iso(self.revoked_at) if self.revoked_at else None,
            "revocationReason": self.revocation_reason or None,
        }


def _iso(timestamp: int) -> str:
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
                f"{did} 未被暂停（当前状态：{_STATUS_ZH.get(current, current)}），无需恢复",
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
    ) -> RegistryAuthority:
        """Accredit a new authority acting through ``account``; raises GovernanceError."""
        _check_did(did)
        _check_name(name_zh, "中文")
        _check_name(name_en, "英文")
        _check_region(region)
        types = _check_types(credential_types)
        address = _check_account(account)
        self._send("accredit", [did, name_zh, name_en, region, types, address], did)
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
                public, valid_from, revoked_at, reason = self._call("keyOf", one, key_id)
                out.append(
                    RegistryKey(
                        one,
                        key_id,
                        encode_multikey_ed25519(bytes(public)),
                        int(valid_from),
                        int(revoked_at),
                        int(reason),
                    )
                )
        return out


def _authority(record: Any) -> RegistryAuthority:
    id_, status, account, region, accredited_at, did, name_zh, name_en, types = record
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
    )


# ---------------------------------------------------------------------- CLI


SettingsOf = Callable[[argparse.Namespace], Settings]


def register_cli(commands: Any, settings_of: SettingsOf) -> None:
    """Add ``suixin registry …`` to the ``suixin`` command's sub-parsers; ``settings_of`` turns
    parsed arguments into Settings (``--data-dir`` and ``--chain``: no database is needed)."""
    registry = commands.add_parser(
        "registry",
        help="governance of the trust registry (province root): accredit, suspend, list …",
        description="The province root's commands on the TrustRegistry. Changes need the root "
        "key (--root-key FILE; in development the data directory's governance-root.key).",
    )
    sub = registry.add_subparsers(dest="registry_command", required=True)

    def parser(name: str, help_text: str, *, changes: bool) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--data-dir", type=Path, help="data directory (SUIXIN_DATA_DIR, ./data)")
        p.add_argument("--chain", help="'embedded' or a JSON-RPC URL (SUIXIN_CHAIN)")
        if changes:
            p.add_argument(
                "--root-key", type=Path, metavar="FILE", help="the governance root's key file"
            )
        return p

    accredit = parser("accredit", "accredit an authority (认证签发机关)", changes=True)
    accredit.add_argument("--did", required=True, help="did:web:ga.sz.gov.cn")
    accredit.add_argument("--name-zh", required=True, help="中文名称 (深圳市公安局)")
    accredit.add_argument("--name-en", required=True, help="English name")
    accredit.add_argument("--region", required=True, type=int, help="GB/T 2260 code (440300)")
    accredit.add_argument(
        "--type", dest="types", action="append", required=True, help="credential type (repeat)"
    )
    accredit.add_argument("--account", required=True, help="the authority's chain account 0x…")
    accredit.set_defaults(handler=lambda a: _run(a, settings_of, _accredit))

    scope = parser("set-scope", "change an authority's region or types (setScope)", changes=True)
    scope.add_argument("--did", required=True)
    scope.add_argument("--region", type=int, help="new GB/T 2260 code (default: unchanged)")
    scope.add_argument(
        "--type", dest="types", action="append", help="new credential types (default: unchanged)"
    )
    scope.set_defaults(handler=lambda a: _run(a, settings_of, _set_scope))

    for name, help_text in (
        ("suspend", "suspend an authority: no new anchors or status changes (暂停)"),
        ("reinstate", "reinstate a suspended authority (恢复)"),
        ("remove", "remove an authority for good: its credentials verify INVALID (撤销认证)"),
    ):
        p = parser(name, help_text, changes=True)
        p.add_argument("--did", required=True)
        if name == "remove":
            p.add_argument("--yes", action="store_true", help="confirm: removal is final")
        p.set_defaults(handler=lambda a, n=name: _run(a, settings_of, _transition, n))

    listing = parser("list", "authorities on chain: status, region, types, account", changes=False)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=lambda a: _run(a, settings_of, _list))

    keys = parser("keys", "issuer keys on chain: valid from, revoked at", changes=False)
    keys.add_argument("--did", help="one authority (default: all)")
    keys.add_argument("--json", action="store_true", help="JSON instead of a table")
    keys.set_defaults(handler=lambda a: _run(a, settings_of, _keys))


@contextmanager
def _governance(args: argparse.Namespace, settings_of: SettingsOf) -> Iterator[Governance]:
    settings = settings_of(args)
    chain = connect(settings.chain, settings.data_dir)
    try:
        deployment = ensure_deployment(chain, settings.data_dir, allow_deploy=False)
        yield Governance(chain, deployment, _root(args, settings))
    finally:
        chain.close()


def _root(args: argparse.Namespace, settings: Settings) -> LocalAccount | None:
    path: Path | None = getattr(args, "root_key", None)
    if path is None:
        if settings.mode == "development":
            return governance_root(settings.data_dir, create=False)
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise GovernanceError(
            "root_key_unreadable",
            f"无法读取治理根密钥文件 {path}",
            f"Cannot read the governance root key file {path}: {e.strerror}",
        ) from e
    try:
        account: LocalAccount = Account.from_key(text)
    except (ValueError, TypeError) as e:  # never echo the file's content
        raise GovernanceError(
            "root_key_invalid",
            f"{path} 不是十六进制的账户私钥",
            f"{path} does not hold a hex account key.",
        ) from e
    return account


def _run(
    args: argparse.Namespace,
    settings_of: SettingsOf,
    action: Callable[..., int],
    *extra: Any,
) -> int:
    with _governance(args, settings_of) as governance:
        return action(governance, args, *extra)


def _show(verb_zh: str, verb_en: str, authority: RegistryAuthority) -> int:
    print(f"{verb_zh} / {verb_en}: {authority.name_zh} ({authority.did})")
    print(
        f"  status {authority.status} · region {authority.region} · types "
        f"{', '.join(authority.credential_types)} · account {authority.account}"
    )
    return 0


def _accredit(governance: Governance, args: argparse.Namespace) -> int:
    authority = governance.accredit(
        args.did, args.name_zh, args.name_en, args.region, args.types, args.account
    )
    return _show("已认证", "accredited", authority)


def _set_scope(governance: Governance, args: argparse.Namespace) -> int:
    authority = governance.set_scope(args.did, args.region, args.types)
    return _show("已修改范围", "scope changed", authority)


def _transition(governance: Governance, args: argparse.Namespace, name: str) -> int:
    if name == "remove" and not args.yes:
        raise GovernanceError(
            "confirmation_required",
            "撤销认证不可恢复：确认无误请加 --yes",
            "Removal is final: add --yes to confirm.",
        )
    action = {"suspend": governance.suspend, "reinstate": governance.reinstate}
    authority = action.get(name, governance.remove)(args.did)
    verbs = {"suspend": ("已暂停", "suspended"), "reinstate": ("已恢复", "reinstated")}
    return _show(*verbs.get(name, ("已撤销认证", "removed")), authority)


def _list(governance: Governance, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    authorities = governance.authorities()
    if args.json:
        print(json.dumps([a.to_json() for a in authorities], ensure_ascii=False, indent=2))
        return 0
    table = Table(title="信任注册表中的签发机关 Authorities in the trust registry")
    for column in (
        "#",
        "签发机关 Authority",
        "状态 Status",
        "区划 Region",
        "类型 Types",
        "账户 Account",
    ):
        table.add_column(column, overflow="fold")
    for a in authorities:
        table.add_row(
            str(a.id),
            f"{a.name_zh}\n{a.name_en}\n{a.did}",
            f"{_STATUS_ZH.get(a.status, a.status)} {a.status}",
            f"{a.region} {_region_name(a.region)}",
            ", ".join(a.credential_types),
            a.account,
        )
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    console.print(table if authorities else "信任注册表中还没有签发机关 / no authorities yet")
    return 0


def _region_name(code: int) -> str:
    try:
        return regions.region_name(code)
    except (KeyError, ValueError):
        return ""


def _keys(governance: Governance, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    keys = governance.keys(args.did)
    if args.json:
        print(json.dumps([k.to_json() for k in keys], ensure_ascii=False, indent=2))
        return 0
    table = Table(title="链上签发密钥 Issuer keys on chain")
    for column in (
        "签发机关 Authority",
        "密钥 Key",
        "公钥 Public key",
        "生效 Valid from",
        "吊销 Revoked at",
    ):
        table.add_column(column, overflow="fold")
    for k in keys:
        revoked = f"{_iso(k.revoked_at)} (reason {k.revocation_reason})" if k.revoked_at else ""
        table.add_row(k.did, k.key_id, k.public_multikey, _iso(k.valid_from), revoked)
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    console.print(table if keys else "没有密钥 / no keys")
    return 0
