"""``suixin keys …``: enrol authorities, list their keys, rotate, revoke, re-issue."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

from service.cli._common import add_common, console, office_from, settings_of
from verifier.credential import CREDENTIAL_TYPES

__all__ = ["register"]


def register(commands: Any) -> None:
    """``suixin keys …``: enrolment, listing and key operations."""
    keys = commands.add_parser("keys", help="authorities, their chain accounts and issuer keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    init = keys_commands.add_parser(
        "init",
        help="enrol an authority: chain account and first issuer key (run again once accredited)",
    )
    add_common(init)
    init.add_argument("--did", required=True, help="the authority's DID (did:web:lsj.gz.gov.cn)")
    init.add_argument("--name-zh", required=True, help="名称 (广州市来穗人员服务管理局)")
    init.add_argument("--name-en", required=True, help="English name")
    init.add_argument("--region", required=True, type=int, help="GB/T 2260 code (440100)")
    init.add_argument(
        "--type",
        dest="types",
        action="append",
        required=True,
        choices=sorted(CREDENTIAL_TYPES),
        help="a credential type it may issue (repeat for several)",
    )
    init.add_argument(
        "--uscc",
        default="",
        help="its 统一社会信用代码 (18 characters), as the province accredits it: the issuing "
        "unit of the national licence identifiers (电子证照标识) its 居住证 and 营业执照 carry",
    )
    _algorithm_option(init, "the first issuer key's algorithm (default ed25519)")
    init.set_defaults(handler=_keys_init)
    listing = keys_commands.add_parser("list", help="authorities, key ids, public keys, accounts")
    add_common(listing)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=_keys_list)
    _add_key_operations(keys_commands)


_ALGORITHMS = {"ed25519": "Ed25519", "sm2": "SM2"}


def _algorithm_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument(
        "--algorithm",
        choices=sorted(_ALGORITHMS),
        help=f"{text}: ed25519 (eddsa-jcs-2022) or sm2 (国密 SM2/SM3, suixin-sm2-jcs-2025)",
    )


def _keys_init(args: argparse.Namespace) -> int:
    from service.trust.authorities import EnrolmentState, enrol
    from service.trust.deployment import governance_root

    with office_from(args) as (office, settings):
        root = None
        if settings.mode == "development":
            root = governance_root(settings.data_dir, create=False)
        result = enrol(
            office,
            args.did,
            args.name_zh,
            args.name_en,
            args.region,
            args.types,
            root=root,
            algorithm=_ALGORITHMS[args.algorithm or "ed25519"],
            uscc=args.uscc,
        )
    print(f"authority  {result.did}")
    print(f"account    {result.account_address}")
    print(f"issuer key {result.did}#{result.key_id}  {result.algorithm}  {result.public_multikey}")
    if result.state is EnrolmentState.AWAITING_ACCREDITATION:
        print(
            "待省级主管部门授权：请将上面的账户地址提交授权（accredit），授权后再次运行本命令登记签发密钥。\n"
            "Awaiting accreditation: the governance root must accredit the account address "
            "above for this DID; then run this command again to register the issuer key."
        )
        return 0
    if result.state is EnrolmentState.ALREADY_ACTIVE:
        print("已启用 / already enrolled and active")
    else:
        print("已授权并登记签发密钥 / accredited, issuer key registered on chain: ready to issue")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from service.trust.authorities import key_views
    from service.trust.keys import key_validities

    with office_from(args) as (office, _):
        views = key_views(office)
        validity = key_validities(office)  # as the chain records it: what verifiers go by
    if args.json:
        rows = [
            {
                "did": v.did,
                "nameZh": v.name_zh,
                "nameEn": v.name_en,
                "region": v.region,
                "types": list(v.credential_types),
                "uscc": v.uscc,
                "account": v.account_address,
                "keyId": v.key_id,
                "algorithm": v.algorithm,
                "publicKeyMultibase": v.public_multikey,
                "active": v.active,
                "created": v.created_at.isoformat(),
                **_key_validity_json(validity.get((v.did, v.key_id))),
            }
            for v in views
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    table = Table(title="签发机关与密钥 Authorities and issuer keys")
    for column in (
        "签发机关 Authority",
        "区划 Region / 类型 Types",
        "账户 Account",
        "密钥 Key",
        "公钥 Public key (multibase)",
        "状态 State (UTC+8)",
    ):
        table.add_column(column, overflow="fold")
    for v in views:
        table.add_row(
            f"{v.name_zh}\n{v.did}",
            f"{v.region}\n{', '.join(v.credential_types)}",
            v.account_address,
            f"{v.key_id}\n{v.algorithm}",
            v.public_multikey,
            _key_state(v.active, validity.get((v.did, v.key_id))),
        )
    console().print(table if views else "没有签发机关 / no authorities yet: run `suixin keys init`")
    return 0


# ---------------------------------------------------------------------- key operations


_REVOCATION_REASON_NAMES = {1: "rotation", 2: "compromise"}


def _add_key_operations(keys_commands: Any) -> None:
    from service.trust.keys import KEY_REVOCATION_REASONS

    key_help = "key id (key-1) or DID URL (did:web:lsj.gz.gov.cn#key-1)"
    time_help = "ISO 8601 (2026-11-21T10:00:00+08:00; no offset = Beijing time), Unix s, or now"

    def authority_option(parser: argparse.ArgumentParser) -> None:
        add_common(parser)
        parser.add_argument(
            "--authority", metavar="DID", help="the authority (needed if the office has several)"
        )

    rotate = keys_commands.add_parser(
        "rotate",
        help="new issuer key; the old one is revoked once what it signed is anchored",
        description="Register a new issuer key and sign with it from now on. The old key's "
        "queued credentials are anchored first, then the old key is revoked from --revoke-old-at "
        "(default now), moved later if needed so that no credential it signed becomes invalid. "
        "Running it again after an interruption finishes the rotation.",
    )
    authority_option(rotate)
    when = rotate.add_mutually_exclusive_group()
    when.add_argument("--revoke-old-at", metavar="TIME", help=f"earliest revocation ({time_help})")
    when.add_argument(
        "--keep-old",
        action="store_true",
        help="keep the old key valid on chain (it only stops signing)",
    )
    rotate.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help="wait this long for other office processes to switch keys before anchoring what "
        "the old key signed (default: their refresh interval, 5 s)",
    )
    _algorithm_option(rotate, "the new key's algorithm (default: the current key's)")
    rotate.set_defaults(handler=_keys_rotate)

    revoke = keys_commands.add_parser(
        "revoke",
        help="revoke a key from an earlier moment (compromise); lists how many credentials fail",
    )
    authority_option(revoke)
    revoke.add_argument("key", metavar="KEY", help=key_help)
    revoke.add_argument("--since", required=True, metavar="TIME", help=time_help)
    revoke.add_argument(
        "--reason",
        choices=sorted(KEY_REVOCATION_REASONS),
        default="compromise",
        help="(compromise)",
    )
    revoke.set_defaults(handler=_keys_revoke)

    listing = keys_commands.add_parser(
        "affected", help="credentials that fail because KEY is revoked (no personal data)"
    )
    authority_option(listing)
    listing.add_argument("key", metavar="KEY", help=key_help)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=_keys_affected)

    reissue = keys_commands.add_parser(
        "reissue",
        help="re-issue every affected credential with the current key (new version, same lineage)",
        description="Without --yes, show what would be re-issued and change nothing.",
    )
    authority_option(reissue)
    reissue.add_argument("key", metavar="KEY", help=key_help)
    reissue.add_argument("--yes", action="store_true", help="do it (otherwise: a dry run)")
    reissue.add_argument("--chunk", type=int, default=500, help="credentials per transaction (500)")
    reissue.add_argument("--out", type=Path, help="write {previousId, id} of each new version")
    reissue.set_defaults(handler=_keys_reissue)

    account = keys_commands.add_parser(
        "rotate-account", help="move the authority to a new chain account (history stays)"
    )
    authority_option(account)
    account.add_argument(
        "--allow-unfunded",
        action="store_true",
        help="proceed although the new account holds no funds (a chain without gas fees)",
    )
    account.set_defaults(handler=_keys_rotate_account)

    master = keys_commands.add_parser(
        "rotate-master",
        help="seal every stored key and document under SUIXIN_MASTER_KEY and SUIXIN_SEALING",
        description="Re-seals the authorities' account keys, the issuer keys and every "
        "credential document under SUIXIN_MASTER_KEY with the SUIXIN_SEALING algorithm "
        "(aes-256-gcm or sm4-gcm), opening them with the keys in SUIXIN_PREVIOUS_MASTER_KEYS "
        "(comma-separated) and either algorithm. Set the new key and the old one there (or only "
        "change SUIXIN_SEALING), restart the office's processes, run this, then drop the old "
        "key. Running it again after a stop finishes it; values already sealed that way are "
        "left alone.",
    )
    add_common(master)
    master.add_argument("--json", action="store_true", help="the counts as JSON")
    master.set_defaults(handler=_keys_rotate_master)


def _unix(seconds: int | None) -> str:
    """A chain time as people in Guangzhou read it."""
    from datetime import datetime

    from verifier.credential import CHINA_TIME

    if not seconds:
        return ""
    return datetime.fromtimestamp(seconds, CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")


def _unix_iso(seconds: int | None) -> str | None:
    from datetime import UTC, datetime

    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _key_validity_json(validity: Any) -> dict[str, Any]:
    if validity is None:
        return {"validFrom": None, "revokedAt": None, "revocationReason": None}
    return {
        "validFrom": _unix_iso(validity.valid_from),
        "revokedAt": _unix_iso(validity.revoked_at),
        "revocationReason": _REVOCATION_REASON_NAMES.get(validity.revocation_reason)
        if validity.revoked_at
        else None,
    }


def _key_state(active: bool, validity: Any) -> str:
    """A key's state and, once registered on chain, its validity there."""
    if validity is None:
        return "签发中 active" if active else "待授权 awaiting accreditation"
    if validity.revoked_at:
        reason = _REVOCATION_REASON_NAMES.get(validity.revocation_reason, "")
        state = "已吊销 revoked" + (f" ({reason})" if reason else "")
    elif active:
        state = "签发中 active"
    else:
        state = "停用 retired (valid on chain)"
    state += f"\n自 from {_unix(validity.valid_from)}"
    if validity.revoked_at:
        state += f"\n至 until {_unix(validity.revoked_at)}"
    return state


def _key_time(text: str) -> int | None:
    from service.trust.keys import parse_time

    return parse_time(text)


def _keys_rotate(args: argparse.Namespace) -> int:
    from service.trust.keys import resolve_authority
    from service.trust.rotation import rotate_key

    revoke_at = _key_time(args.revoke_old_at) if args.revoke_old_at else None
    with office_from(args) as (office, _):
        authority = resolve_authority(office, args.authority)
        rotation = rotate_key(
            office,
            authority.id,
            revoke_old_at=revoke_at,
            keep_old=args.keep_old,
            settle_seconds=args.settle,
            algorithm=_ALGORITHMS[args.algorithm] if args.algorithm else None,
            log=lambda message: print(message, file=sys.stderr, flush=True),
        )
    if rotation.resumed:
        print("已完成上次中断的密钥更换 / finished the rotation an earlier run left unfinished")
    print(f"签发密钥 signing key  {rotation.did}#{rotation.new_key_id}")
    if rotation.revoked_at is None:
        print(
            f"旧密钥 old key {rotation.old_key_id}: 停用，链上仍有效 / "
            "retired, still valid on chain"
        )
    else:
        print(
            f"旧密钥 old key {rotation.old_key_id}: "
            f"自 {_unix(rotation.revoked_at)} (UTC+8) 起吊销 / "
            f"revoked from {_unix_iso(rotation.revoked_at)}; 先行上链 anchored first: "
            f"{rotation.anchored_first}"
        )
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from service.trust.compromise import revoke_key
    from service.trust.keys import resolve_key

    since = _key_time(args.since)
    with office_from(args) as (office, _):
        authority, key_id = resolve_key(office, args.key, args.authority)
        revocation = revoke_key(
            office,
            authority.id,
            key_id,
            since,
            reason=args.reason,
            log=lambda message: print(message, file=sys.stderr, flush=True),
        )
    if revocation.rotated_to:
        print(f"新签发密钥 new signing key  {revocation.did}#{revocation.rotated_to}")
    print(
        f"{revocation.did}#{revocation.key_id} 自 {_unix(revocation.revoked_at)} (UTC+8) 起吊销 / "
        f"revoked from {_unix_iso(revocation.revoked_at)} ({revocation.reason})"
    )
    print(
        f"受影响的凭证 affected credentials: {revocation.affected}  — "
        f"suixin keys affected {revocation.key_id} / suixin keys reissue {revocation.key_id}"
    )
    return 0


def _affected_json(found: Any) -> dict[str, Any]:
    return {
        "did": found.did,
        "keyId": found.key_id,
        "revokedAt": _unix_iso(found.revoked_at),
        "credentials": [
            {
                "id": c.credential_id,
                "type": c.credential_type,
                "lineageId": c.lineage_id,
                "version": c.version,
                "anchoredAt": _unix_iso(c.anchored_at),
                "status": c.status,
                "successorId": c.successor_id,
                "needsReissue": c.needs_reissue,
            }
            for c in found.credentials
        ],
    }


def _keys_affected(args: argparse.Namespace) -> int:
    from service.trust.compromise import affected
    from service.trust.keys import resolve_key

    with office_from(args) as (office, _):
        authority, key_id = resolve_key(office, args.key, args.authority)
        found = affected(office, authority.id, key_id)
    if args.json:
        print(json.dumps(_affected_json(found), ensure_ascii=False, indent=2))
        return 0
    out = console()
    if found.revoked_at is not None and not found.credentials:
        out.print(
            f"{key_id} 自 {_unix(found.revoked_at)} (UTC+8) 起吊销，没有受影响的凭证 / "
            f"{key_id} is revoked from {_unix_iso(found.revoked_at)}: no credential is affected"
        )
        return 0
    if found.revoked_at is None:
        out.print(f"{key_id} 未被吊销，没有受影响的凭证 / {key_id} is not revoked: none affected")
        return 0
    table = Table(
        title=f"{found.did}#{key_id} 自 {_unix(found.revoked_at)} (UTC+8) 起吊销后失效的凭证 "
        f"Credentials invalid since the key's revocation"
    )
    for column in (
        "凭证 Credential",
        "类型 Type",
        "版本 Version",
        "上链 Anchored (UTC+8)",
        "状态 Status",
        "新版本 Successor",
    ):
        table.add_column(column, overflow="fold")
    for c in found.credentials:
        table.add_row(
            c.credential_id,
            c.credential_type,
            str(c.version),
            _unix(c.anchored_at) or "待上链 pending",
            c.status,
            c.successor_id or ("待重新签发 to re-issue" if c.needs_reissue else ""),
        )
    out.print(table)
    out.print(
        f"共 {len(found.credentials)} 个，待重新签发 {len(found.to_reissue)} 个 / "
        f"{len(found.credentials)} affected, {len(found.to_reissue)} to re-issue"
    )
    return 0


def _keys_reissue(args: argparse.Namespace) -> int:
    from service.trust.compromise import affected, reissue
    from service.trust.keys import resolve_key

    with office_from(args) as (office, _):
        authority, key_id = resolve_key(office, args.key, args.authority)
        if not args.yes:
            todo = affected(office, authority.id, key_id).to_reissue
            print(
                f"将重新签发 {len(todo)} 个凭证（未做任何更改；加 --yes 执行）/ would re-issue "
                f"{len(todo)} credential(s); nothing changed: add --yes to do it"
            )
            return 0
        done = 0

        def progress(count: int) -> None:
            nonlocal done
            done += count
            print(f"重新签发 re-issued {done}", file=sys.stderr, flush=True)

        summary = reissue(office, authority.id, key_id, chunk=args.chunk, progress=progress)
    if args.out is not None:
        with args.out.open("w", encoding="utf-8") as out:
            for previous, new in summary.pairs:
                out.write(json.dumps({"previousId": previous, "id": new}) + "\n")
    print(
        f"重新签发 re-issued {summary.reissued} (签发密钥 signing key {summary.signing_key_id}; "
        f"旧版本 old versions superseded: {summary.reason}); 新版本待上链 / new versions queued "
        "for anchoring"
    )
    return 0


def _keys_rotate_account(args: argparse.Namespace) -> int:
    from service.trust.keys import resolve_authority
    from service.trust.rotation import rotate_account

    with office_from(args) as (office, _):
        authority = resolve_authority(office, args.authority)
        rotation = rotate_account(office, authority.id, allow_unfunded=args.allow_unfunded)
    if rotation.resumed:
        print(
            "已完成上次中断的账户更换 / "
            "finished the account rotation an earlier run left unfinished"
        )
    print(f"authority  {rotation.did}")
    print(f"旧账户 previous account  {rotation.previous_account}")
    print(f"新账户 new account       {rotation.new_account}")
    return 0


def _keys_rotate_master(args: argparse.Namespace) -> int:
    from service.runtime import key_ring
    from service.storage.db import Database
    from service.storage.rekey import needs_rekey, rekey

    settings = settings_of(args)
    settings.check()
    ring = key_ring(settings)
    db = Database(settings.effective_database_url())
    try:
        db.migrate(ring)
        done = rekey(db, ring) if needs_rekey(db, ring) else None
    finally:
        db.dispose()
    counts = {
        "accountKeys": done.account_keys if done else 0,
        "issuerKeys": done.issuer_keys if done else 0,
        "documents": done.documents if done else 0,
        "fingerprint": ring.fingerprint.hex(),
    }
    if args.json:
        print(json.dumps(counts))
    elif done is None:
        fingerprint = counts["fingerprint"]
        print(f"全部已在当前主密钥下 / everything is sealed under the current key ({fingerprint})")
    else:
        print(
            f"已重新加密 re-sealed: 账户密钥 account keys {done.account_keys}, 签发密钥 issuer "
            f"keys {done.issuer_keys}, 凭证 documents {done.documents} "
            f"(master key {counts['fingerprint']}); SUIXIN_PREVIOUS_MASTER_KEYS may now be removed"
        )
    return 0
