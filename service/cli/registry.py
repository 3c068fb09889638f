"""``suixin registry …``: the province root's commands on the TrustRegistry (accredit, list …)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.cli._common import settings_of
from service.config import Settings
from service.trust.deployment import ensure_deployment, governance_root
from service.trust.governance import (
    STATUS_ZH,
    Governance,
    GovernanceError,
    RegistryAuthority,
    chain_time_iso,
)
from verifier import regions
from verifier.chain import connect

__all__ = ["register"]


def register(commands: Any) -> None:
    """``suixin registry …`` (``--data-dir`` and ``--chain`` only: no database is needed)."""
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
    accredit.add_argument(
        "--uscc",
        default="",
        help="its 统一社会信用代码 (18 characters): the issuing-unit part of the national licence "
        "identifiers its 居住证 and 营业执照 carry; an authority without one issues neither",
    )
    accredit.set_defaults(handler=lambda a: _run(a, _accredit))

    scope = parser("set-scope", "change an authority's region or types (setScope)", changes=True)
    scope.add_argument("--did", required=True)
    scope.add_argument("--region", type=int, help="new GB/T 2260 code (default: unchanged)")
    scope.add_argument(
        "--type", dest="types", action="append", help="new credential types (default: unchanged)"
    )
    scope.set_defaults(handler=lambda a: _run(a, _set_scope))

    for name, help_text in (
        ("suspend", "suspend an authority: no new anchors or status changes (暂停)"),
        ("reinstate", "reinstate a suspended authority (恢复)"),
        ("remove", "remove an authority for good: its credentials verify INVALID (撤销认证)"),
    ):
        p = parser(name, help_text, changes=True)
        p.add_argument("--did", required=True)
        if name == "remove":
            p.add_argument("--yes", action="store_true", help="confirm: removal is final")
        p.set_defaults(handler=lambda a, n=name: _run(a, _transition, n))

    listing = parser("list", "authorities on chain: status, region, types, account", changes=False)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=lambda a: _run(a, _list))

    keys = parser("keys", "issuer keys on chain: valid from, revoked at", changes=False)
    keys.add_argument("--did", help="one authority (default: all)")
    keys.add_argument("--json", action="store_true", help="JSON instead of a table")
    keys.set_defaults(handler=lambda a: _run(a, _keys))


@contextmanager
def _governance(args: argparse.Namespace) -> Iterator[Governance]:
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


def _run(args: argparse.Namespace, action: Callable[..., int], *extra: Any) -> int:
    with _governance(args) as governance:
        return action(governance, args, *extra)


def _show(verb_zh: str, verb_en: str, authority: RegistryAuthority) -> int:
    print(f"{verb_zh} / {verb_en}: {authority.name_zh} ({authority.did})")
    print(
        f"  status {authority.status} · region {authority.region} · types "
        f"{', '.join(authority.credential_types)} · USCC {authority.uscc or '—'} · account "
        f"{authority.account}"
    )
    return 0


def _accredit(governance: Governance, args: argparse.Namespace) -> int:
    authority = governance.accredit(
        args.did, args.name_zh, args.name_en, args.region, args.types, args.account, args.uscc
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
        "统一社会信用代码 USCC",
        "账户 Account",
    ):
        table.add_column(column, overflow="fold")
    for a in authorities:
        table.add_row(
            str(a.id),
            f"{a.name_zh}\n{a.name_en}\n{a.did}",
            f"{STATUS_ZH.get(a.status, a.status)} {a.status}",
            f"{a.region} {_region_name(a.region)}",
            ", ".join(a.credential_types),
            a.uscc or "—",
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
        "算法 Algorithm",
        "公钥 Public key",
        "生效 Valid from",
        "吊销 Revoked at",
    ):
        table.add_column(column, overflow="fold")
    for k in keys:
        revoked = (
            f"{chain_time_iso(k.revoked_at)} (reason {k.revocation_reason})" if k.revoked_at else ""
        )
        table.add_row(
            k.did,
            k.key_id,
            k.algorithm,
            k.public_multikey,
            chain_time_iso(k.valid_from),
            revoked,
        )
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    console.print(table if keys else "没有密钥 / no keys")
    return 0
