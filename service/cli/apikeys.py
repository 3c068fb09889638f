"""``suixin apikeys``: office API keys, stored hashed and shown once."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.table import Table

from service.cli._common import add_common, console, office_from, when
from service.issuing.office import SCOPES

__all__ = ["register"]


def register(commands: Any) -> None:
    """``suixin apikeys create|list|revoke``."""
    apikeys = commands.add_parser("apikeys", help="office API keys (stored hashed, shown once)")
    apikeys_commands = apikeys.add_subparsers(dest="apikeys_command", required=True)
    create = apikeys_commands.add_parser("create", help="create a key; prints it once")
    add_common(create)
    create.add_argument("--did", required=True, help="the authority the key acts for")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        choices=SCOPES,
        help="a scope (repeat for several)",
    )
    create.add_argument("--label", default="", help="who or what the key is for")
    create.set_defaults(handler=_apikeys_create)
    listing = apikeys_commands.add_parser("list", help="keys: id, authority, scopes, dates")
    add_common(listing)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=_apikeys_list)
    revoke = apikeys_commands.add_parser("revoke", help="revoke a key by id")
    add_common(revoke)
    revoke.add_argument("key_id", metavar="ID")
    revoke.set_defaults(handler=_apikeys_revoke)


def _apikeys_create(args: argparse.Namespace) -> int:
    with office_from(args) as (office, _):
        authority = office.authority_by_did(args.did)
        key_id, whole = office.create_api_key(
            authority.id, args.scopes, label=args.label, actor="cli"
        )
    print(f"API key {key_id} for {authority.did} ({', '.join(sorted(set(args.scopes)))})")
    print(whole)
    print("只显示这一次，请立即妥善保存 / shown only this once: store it now", file=sys.stderr)
    return 0


def _apikeys_list(args: argparse.Namespace) -> int:
    with office_from(args) as (office, _):
        dids = {a.id: a.did for a in office.authorities()}
        keys = office.api_keys()
    if args.json:
        rows = [
            {
                "id": k.id,
                "authority": dids.get(k.authority_id),
                "scopes": list(k.scopes),
                "label": k.label,
                "created": k.created_at.isoformat(),
                "revoked": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in keys
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    table = Table(title="API 密钥 API keys (secrets are never shown again)")
    for column in (
        "ID",
        "签发机关 Authority",
        "权限 Scopes",
        "标签 Label",
        "创建 Created",
        "吊销 Revoked",
    ):
        table.add_column(column, overflow="fold")
    for k in keys:
        table.add_row(
            k.id,
            dids.get(k.authority_id, str(k.authority_id)),
            " ".join(k.scopes),
            k.label,
            when(k.created_at),
            when(k.revoked_at),
        )
    console().print(table if keys else "没有 API 密钥 / no API keys yet")
    return 0


def _apikeys_revoke(args: argparse.Namespace) -> int:
    with office_from(args) as (office, _):
        office.revoke_api_key(args.key_id, actor="cli")
    print(f"已吊销 / revoked API key {args.key_id}")
    return 0
