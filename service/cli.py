"""The ``suixin`` command: deploy, serve, anchor, enrol authorities, API keys, bulk issue, demo."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from service.audit_cli import add_audit_commands
from service.config import Settings
from service.governance import register_cli as add_registry_commands
from service.lifecycle import add_commands as add_lifecycle_commands
from service.office import SCOPES, NotFound, Office
from service.runtime import DEPLOYMENT_FILE, ensure_deployment
from verifier.chain import connect
from verifier.credential import CREDENTIAL_TYPES, DERIVED_TYPES
from verifier.errors import InvalidInput, SuixinError

__all__ = ["main"]


def _version() -> str:
    try:
        return version("suixin")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    for name in ("data_dir", "chain", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="data directory (SUIXIN_DATA_DIR, ./data)")
    parser.add_argument("--chain", help="'embedded' or a JSON-RPC URL (SUIXIN_CHAIN)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (SUIXIN_DATABASE_URL)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="suixin", description="Suixin (穗信) issuing office: trusted credentials on chain."
    )
    parser.add_argument("--version", action="version", version=f"suixin {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    chain = commands.add_parser("chain", help="the chain and its registries")
    chain_commands = chain.add_subparsers(dest="chain_command", required=True)
    deploy = chain_commands.add_parser("deploy", help="deploy TrustRegistry and AnchorRegistry")
    _common(deploy)
    deploy.add_argument("--force", action="store_true", help="deploy again even if deployed")
    deploy.set_defaults(handler=_deploy)

    serve = commands.add_parser("serve", help="run the office API (and, embedded, its worker)")
    _common(serve)
    serve.add_argument("--host", help="listen address (SUIXIN_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (SUIXIN_PORT, 8000)")
    serve.add_argument("--demo", action="store_true", help="set up the demo authorities")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes (a JSON-RPC chain only; one `suixin worker` process then anchors)",
    )
    serve.set_defaults(handler=_serve)

    node = commands.add_parser(
        "node",
        help="the embedded chain as a JSON-RPC node on loopback, with the anchoring worker "
        "(`suixin serve` starts one on the embedded chain)",
    )
    _common(node)
    node.add_argument("--port", type=int, default=8545, help="loopback port (8545)")
    node.add_argument("--no-worker", action="store_true", help="serve the chain only")
    node.add_argument(
        "--watch-stdin", action="store_true", help="stop when stdin closes (a parent has gone)"
    )
    node.set_defaults(handler=_node)

    worker = commands.add_parser("worker", help="run the anchoring worker in this process")
    _common(worker)
    worker.add_argument("--once", action="store_true", help="anchor what is pending, then exit")
    worker.set_defaults(handler=_worker)

    _add_keys(commands)
    _add_apikeys(commands)
    _add_issue(commands)
    add_audit_commands(commands, _common)
    add_lifecycle_commands(commands, _common, _office)
    add_registry_commands(commands, _settings)

    demo = commands.add_parser("demo", help="the whole story on the embedded chain, as a table")
    demo.add_argument("--keep", type=Path, help="run in this data directory and keep it")
    demo.set_defaults(handler=_demo)

    return parser


def _add_keys(commands: Any) -> None:
    keys = commands.add_parser("keys", help="authorities, their chain accounts and issuer keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    init = keys_commands.add_parser(
        "init",
        help="enrol an authority: chain account and first issuer key (run again once accredited)",
    )
    _common(init)
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
    init.set_defaults(handler=_keys_init)
    listing = keys_commands.add_parser("list", help="authorities, key ids, public keys, accounts")
    _common(listing)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=_keys_list)
    _add_key_operations(keys_commands)


def _add_apikeys(commands: Any) -> None:
    apikeys = commands.add_parser("apikeys", help="office API keys (stored hashed, shown once)")
    apikeys_commands = apikeys.add_subparsers(dest="apikeys_command", required=True)
    create = apikeys_commands.add_parser("create", help="create a key; prints it once")
    _common(create)
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
    _common(listing)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=_apikeys_list)
    revoke = apikeys_commands.add_parser("revoke", help="revoke a key by id")
    _common(revoke)
    revoke.add_argument("key_id", metavar="ID")
    revoke.set_defaults(handler=_apikeys_revoke)


def _add_issue(commands: Any) -> None:
    issue = commands.add_parser(
        "issue",
        help="bulk issuance from a CSV or JSONL file",
        description="Issue one credential per row. Exit 0: all issued; 1: some rows rejected "
        "(see the report); 2: usage or file errors.",
    )
    _common(issue)
    issue.add_argument("--did", required=True, help="the issuing authority's DID")
    issue.add_argument(
        "--type",
        dest="credential_type",
        required=True,
        choices=[t for t in CREDENTIAL_TYPES if t not in DERIVED_TYPES],  # derived: never bulk
    )
    issue.add_argument(
        "--from", dest="source", required=True, type=Path, help="FILE.csv or FILE.jsonl"
    )
    issue.add_argument(
        "--report",
        type=Path,
        help="where rejected rows go, one JSON line each (default: FILE.errors.jsonl)",
    )
    issue.add_argument("--out", type=Path, help="write {line, id} of every issued credential")
    issue.add_argument("--chunk", type=int, default=1000, help="rows per transaction (1000)")
    issue.add_argument(
        "--processes",
        type=int,
        help="signing processes (default: one per core; 0 signs in this process)",
    )
    issue.set_defaults(handler=_issue)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SuixinError as e:
        print(f"suixin: {e.diagnostics()}", file=sys.stderr)
        return 1


def _deploy(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    chain = connect(settings.chain, settings.data_dir)
    try:
        record_path = settings.data_dir / DEPLOYMENT_FILE
        if args.force and record_path.exists():
            record_path.unlink()
        deployment = ensure_deployment(chain, settings.data_dir, allow_deploy=True)
        print(json.dumps(deployment.to_json(), indent=2))
        print(f"(deployment record: {record_path})", file=sys.stderr)
        return 0
    finally:
        chain.close()


def _serve(args: argparse.Namespace) -> int:
    from service.chainnode import EmbeddedNode

    settings = _settings(args)
    if args.workers < 1:
        raise InvalidInput("--workers must be at least 1")
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if settings.chain != "embedded":
        return _serve_office(args, settings, anchor_here=settings.in_process_worker)
    # The embedded chain and the anchoring worker run in a child process, a node the API
    # reaches over JSON-RPC like anvil: their CPU no longer shares the API's GIL.
    node = EmbeddedNode(settings.environment(), worker=settings.in_process_worker).start()
    try:
        settings.chain = node.url
        return _serve_office(args, settings, anchor_here=False)
    finally:
        node.stop()


def _serve_office(args: argparse.Namespace, settings: Settings, *, anchor_here: bool) -> int:
    import uvicorn

    from service.api.app import create_app
    from service.runtime import bootstrap_demo, open_office, settle_heap

    office = open_office(settings)
    if args.demo:
        keys = bootstrap_demo(office, settings.data_dir)
        print(f"Demo API keys (also in {settings.data_dir / 'demo-api-keys.json'}):")
        for did, key in keys.keys.items():
            print(f"  {did}: {key}")
    base = f"http://{settings.host}:{settings.port}"
    if args.workers > 1:
        return _serve_processes(args.workers, settings, office, base, anchor_here=anchor_here)
    print(f"Suixin office on {base}  — API docs {base}/docs  — health {base}/healthz", flush=True)
    app = create_app(office, settings, start_worker=anchor_here)
    settle_heap()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def _serve_processes(
    workers: int, settings: Settings, office: Office, base: str, *, anchor_here: bool
) -> int:
    """``workers`` uvicorn processes, each opening the office from the same settings, and
    (``anchor_here``) one anchoring worker process beside them (never one per API process:
    on SQLite they could not coordinate)."""
    import subprocess

    import uvicorn

    office.db.dispose()
    office.chain.close()
    env = os.environ | settings.environment()
    os.environ.update(settings.environment())  # uvicorn's processes read their settings here
    anchoring = None
    if anchor_here:
        code = "import sys; from service.cli import main; sys.exit(main(['worker']))"
        anchoring = subprocess.Popen([sys.executable, "-c", code], env=env)
    print(f"Suixin office on {base} ({workers} processes)  — API docs {base}/docs", flush=True)
    try:
        uvicorn.run(
            "service.api.app:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="warning",
        )
    finally:
        if anchoring is not None:
            anchoring.terminate()
            anchoring.wait(timeout=30)
    return 0


def _node(args: argparse.Namespace) -> int:
    from service.chainnode import run_node

    settings = _settings(args)
    return run_node(settings, args.port, worker=not args.no_worker, watch_stdin=args.watch_stdin)


def _worker(args: argparse.Namespace) -> int:
    from service.runtime import open_office, settle_heap
    from service.worker import AnchorWorker

    settings = _settings(args)
    office = open_office(settings, allow_deploy=False)
    settle_heap()
    worker = AnchorWorker.from_settings(office, settings)
    try:
        if args.once:
            worker.drain()
            print(json.dumps(office.counts()))
            return 0
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        size, age = settings.batch_size, settings.batch_age_seconds
        print(f"worker {os.getpid()} anchoring (batches of {size} or every {age} s)", flush=True)
        worker.run(stop)
        return 0
    finally:  # the embedded chain's journal file and the database connections
        office.db.dispose()
        office.chain.close()


# ---------------------------------------------------------------------- helpers


def _console(file: IO[str] | None = None) -> Console:
    """A console on stdout (or ``file``); wide when not a terminal, so ids never wrap."""
    target = file or sys.stdout
    return Console(file=target, width=None if target.isatty() else 200, highlight=False)


@contextmanager
def _office(args: argparse.Namespace) -> Iterator[tuple[Office, Settings]]:
    from service.runtime import open_office

    settings = _settings(args)
    office = open_office(settings)
    try:
        yield office, settings
    finally:
        office.db.dispose()
        office.chain.close()


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


# ---------------------------------------------------------------------- keys


def _keys_init(args: argparse.Namespace) -> int:
    from service.authorities import EnrolmentState, enrol
    from service.runtime import governance_root

    with _office(args) as (office, settings):
        root = None
        if settings.mode == "development":
            root = governance_root(settings.data_dir, create=False)
        result = enrol(
            office, args.did, args.name_zh, args.name_en, args.region, args.types, root=root
        )
    print(f"authority  {result.did}")
    print(f"account    {result.account_address}")
    print(f"issuer key {result.did}#{result.key_id}  {result.public_multikey}")
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
    from service.authorities import key_views
    from service.keyops import key_validities

    with _office(args) as (office, _):
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
                "account": v.account_address,
                "keyId": v.key_id,
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
            v.key_id,
            v.public_multikey,
            _key_state(v.active, validity.get((v.did, v.key_id))),
        )
    _console().print(
        table if views else "没有签发机关 / no authorities yet: run `suixin keys init`"
    )
    return 0


# ---------------------------------------------------------------------- key operations


_REVOCATION_REASON_NAMES = {1: "rotation", 2: "compromise"}


def _add_key_operations(keys_commands: Any) -> None:
    from service.keyops import KEY_REVOCATION_REASONS

    key_help = "key id (key-1) or DID URL (did:web:lsj.gz.gov.cn#key-1)"
    time_help = "ISO 8601 (2026-11-21T10:00:00+08:00; no offset = Beijing time), Unix s, or now"

    def authority_option(parser: argparse.ArgumentParser) -> None:
        _common(parser)
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
    from service.keyops import parse_time

    return parse_time(text)


def _keys_rotate(args: argparse.Namespace) -> int:
    from service.keyops import resolve_authority, rotate_key

    revoke_at = _key_time(args.revoke_old_at) if args.revoke_old_at else None
    with _office(args) as (office, _):
        authority = resolve_authority(office, args.authority)
        rotation = rotate_key(
            office,
            authority.id,
            revoke_old_at=revoke_at,
            keep_old=args.keep_old,
            settle_seconds=args.settle,
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
    from service.keyops import resolve_key, revoke_key

    since = _key_time(args.since)
    with _office(args) as (office, _):
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
    from service.keyops import affected, resolve_key

    with _office(args) as (office, _):
        authority, key_id = resolve_key(office, args.key, args.authority)
        found = affected(office, authority.id, key_id)
    if args.json:
        print(json.dumps(_affected_json(found), ensure_ascii=False, indent=2))
        return 0
    console = _console()
    if found.revoked_at is not None and not found.credentials:
        console.print(
            f"{key_id} 自 {_unix(found.revoked_at)} (UTC+8) 起吊销，没有受影响的凭证 / "
            f"{key_id} is revoked from {_unix_iso(found.revoked_at)}: no credential is affected"
        )
        return 0
    if found.revoked_at is None:
        console.print(
            f"{key_id} 未被吊销，没有受影响的凭证 / {key_id} is not revoked: none affected"
        )
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
    console.print(table)
    console.print(
        f"共 {len(found.credentials)} 个，待重新签发 {len(found.to_reissue)} 个 / "
        f"{len(found.credentials)} affected, {len(found.to_reissue)} to re-issue"
    )
    return 0


def _keys_reissue(args: argparse.Namespace) -> int:
    from service.keyops import affected, reissue, resolve_key

    with _office(args) as (office, _):
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
    from service.keyops import resolve_authority, rotate_account

    with _office(args) as (office, _):
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


# ---------------------------------------------------------------------- API keys


def _apikeys_create(args: argparse.Namespace) -> int:
    with _office(args) as (office, _):
        authority = office.authority_by_did(args.did)
        key_id, whole = office.create_api_key(
            authority.id, args.scopes, label=args.label, actor="cli"
        )
    print(f"API key {key_id} for {authority.did} ({', '.join(sorted(set(args.scopes)))})")
    print(whole)
    print("只显示这一次，请立即妥善保存 / shown only this once: store it now", file=sys.stderr)
    return 0


def _apikeys_list(args: argparse.Namespace) -> int:
    with _office(args) as (office, _):
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
            _when(k.created_at),
            _when(k.revoked_at),
        )
    _console().print(table if keys else "没有 API 密钥 / no API keys yet")
    return 0


def _apikeys_revoke(args: argparse.Namespace) -> int:
    with _office(args) as (office, _):
        office.revoke_api_key(args.key_id, actor="cli")
    print(f"已吊销 / revoked API key {args.key_id}")
    return 0


# ---------------------------------------------------------------------- bulk issuance


class _LazyReport:
    """A report file created only when the first rejected row arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def write(self, text: str) -> int:
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")
        return self._file.write(text)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _issue(args: argparse.Namespace) -> int:
    """Bulk issuance; usage and file errors exit 2 (before anything is issued)."""
    from service.bulk import count_rows, read_rows
    from service.signing_pool import SigningPool, default_processes

    source: Path = args.source
    report_path: Path = args.report or source.with_name(source.name + ".errors.jsonl")
    err = _console(sys.stderr)
    try:
        if args.chunk < 1:
            raise InvalidInput("--chunk must be at least 1")
        if args.processes is not None and args.processes < 0:
            raise InvalidInput("--processes must be 0 or more")
        total = count_rows(source)
        rows = read_rows(source)
        if report_path.exists():
            report_path.unlink()  # an old report must not be mistaken for this run's
    except (OSError, InvalidInput) as e:
        err.print(f"suixin issue: {e.diagnostics() if isinstance(e, SuixinError) else e}")
        return 2
    with _office(args) as (office, _):
        try:
            authority = office.authority_by_did(args.did)
        except NotFound as e:
            err.print(f"suixin issue: {e.diagnostics()}")
            return 2
        if args.credential_type not in authority.credential_types:
            err.print(
                f"suixin issue: {authority.name_zh} 未获授权签发 {args.credential_type} / "
                f"{authority.did} is not accredited for {args.credential_type}"
            )
            return 2
        processes = default_processes() if args.processes is None else args.processes
        if processes and total >= 500:  # below that, starting the processes costs more
            office.signing_pool = SigningPool(processes)
        try:
            return _issue_with_progress(office, authority.id, args, rows, total, report_path, err)
        finally:
            if office.signing_pool is not None:
                office.signing_pool.close()


def _issue_with_progress(
    office: Office,
    authority_id: int,
    args: argparse.Namespace,
    rows: Any,
    total: int,
    report_path: Path,
    err: Console,
) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from service.bulk import issue_rows

    report = _LazyReport(report_path)
    progress = Progress(
        TextColumn("签发 issuing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("拒绝 rejected {task.fields[rejected]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    rejected = 0

    def advance(issued: int, refused: int) -> None:
        nonlocal rejected
        rejected += refused
        progress.update(task, advance=issued + refused, rejected=rejected)

    try:
        with progress:
            task = progress.add_task("issue", total=total, rejected=0)
            summary = issue_rows(
                office,
                authority_id,
                args.credential_type,
                rows,
                chunk=args.chunk,
                report=report,
                progress=advance,
                keep_ids=args.out is not None,
            )
    finally:
        report.close()
    if args.out is not None:
        with args.out.open("w", encoding="utf-8") as out:
            for line, credential_id in summary.credential_ids:
                out.write(json.dumps({"line": line, "id": credential_id}) + "\n")
    print(
        f"签发 issued {summary.issued}, 拒绝 rejected {summary.rejected}, "
        f"{summary.seconds:.2f} s, {summary.rate:,.0f} credentials/s"
    )
    if summary.rejected:
        print(f"被拒绝的行及原因 / rejected rows and reasons: {report_path}")
        return 1
    return 0


# ---------------------------------------------------------------------- demo


def _demo(args: argparse.Namespace) -> int:
    from service.demo import DemoStep, run_demo

    console = _console()
    console.print(
        "穗信演示：广州签发，肇庆核验 / Suixin demo: issued in Guangzhou, verified in 肇庆"
    )
    console.print("(embedded chain, temporary data directory; this takes a few seconds)")

    def show(step: DemoStep) -> None:
        mark = "[green]✓[/green]" if step.ok else "[red]✗[/red]"
        console.print(f"  {mark} {step.step_zh} / {step.step_en}: {step.actual.value}")

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    steps = run_demo(args.keep, on_step=show)
    table = Table(title="穗信演示 Suixin demo", show_lines=True)
    for column in (
        "#",
        "步骤 Step",
        "凭证 Credential",
        "预期 Expected",
        "实际 Actual",
        "原因 Reason",
        "",
    ):
        table.add_column(column, overflow="fold")
    for number, step in enumerate(steps, start=1):
        zh, en = step.reason
        table.add_row(
            str(number),
            f"{step.step_zh}\n{step.step_en}",
            step.credential,
            step.expected.value,
            step.actual.value,
            f"{zh}\n{en}" if zh else "",
            "[green]✓[/green]" if step.ok else "[red]✗[/red]",
        )
    console.print(table)
    good = sum(step.ok for step in steps)
    if good == len(steps):
        console.print(f"全部符合预期 / every outcome as expected ({good}/{len(steps)})")
        return 0
    console.print(f"[red]{len(steps) - good} 项不符合预期 / not as expected[/red]")
    return 1
