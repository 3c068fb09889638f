"""``suixin audit``: verify the audit trail against its anchors, show its rows, anchor its head.

``suixin audit verify`` exits 0 when the trail is intact, 1 when it was tampered with (the
first bad row is named), 2 for usage or set-up errors (no deployment, bad settings), 4 when the
chain cannot be reached (never reported as tampering; ``--no-chain`` checks the database alone).

Each command first chains the audit rows committed since the worker's last pass (they wait
in ``audit_inbox`` until then, see ``service.audit.trail``), so it verifies, shows or anchors
everything committed so far.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from service.audit.anchor import HeadAnchorer
from service.audit.trail import AuditChainBroken, audit_rows, sequence, summarise_details
from service.audit.verify import AuditReport, verify_audit
from service.cli._common import add_common, console, settings_of
from service.config import Settings
from service.issuing.office import Office
from service.runtime import key_ring
from service.storage.db import Database
from service.storage.models import Authority
from verifier.errors import ChainUnavailable, InvalidInput

__all__ = ["EXIT_CHAIN_UNAVAILABLE", "EXIT_TAMPERED", "EXIT_USAGE", "register"]

EXIT_TAMPERED = 1
EXIT_USAGE = 2
EXIT_CHAIN_UNAVAILABLE = 4


def register(commands: Any) -> None:
    """``suixin audit verify|show|anchor``."""
    audit = commands.add_parser("audit", help="the tamper-evident audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify",
        help="check every row, link and anchored head; name the first bad row",
        description="Exit 0: intact; 1: tampered (the first bad row is named); 2: usage or "
        "set-up error; 4: the chain cannot be reached.",
    )
    add_common(verify)
    verify.add_argument(
        "--no-chain", action="store_true", help="check the database only (anchors unconfirmed)"
    )
    verify.add_argument("--json", action="store_true", help="JSON instead of text")
    verify.set_defaults(handler=_verify)
    show = audit_commands.add_parser("show", help="rows of the audit trail, newest last")
    add_common(show)
    show.add_argument("--credential", metavar="ID", help="only rows about this credential")
    show.add_argument("--limit", type=int, default=50, help="at most this many rows (50)")
    show.add_argument("--json", action="store_true", help="JSON instead of a table")
    show.set_defaults(handler=_show)
    anchor = audit_commands.add_parser(
        "anchor", help="anchor the head on chain now (if rows were added since the last anchor)"
    )
    add_common(anchor)
    anchor.set_defaults(handler=_anchor)


@contextmanager
def _database(settings: Settings) -> Iterator[Database]:
    settings.check()
    db = Database(settings.effective_database_url())
    try:
        db.migrate(key_ring(settings))
        yield db
    finally:
        db.dispose()


@contextmanager
def _office(settings: Settings) -> Iterator[Office]:
    from service.runtime import open_office

    office = open_office(settings, allow_deploy=False)  # checking never deploys anything
    try:
        yield office
    finally:
        office.db.dispose()
        office.chain.close()


def _credential_urn(value: str) -> str:
    return value if value.startswith("urn:") else f"urn:uuid:{value}"


# ---------------------------------------------------------------------- verify


def _verify(args: argparse.Namespace) -> int:
    err = console(sys.stderr)
    try:
        settings = settings_of(args)
        if args.no_chain:
            with _database(settings) as db:
                report = verify_audit(db)
        else:
            with _office(settings) as office:
                report = verify_audit(office.db, office.chain, office.deployment)
    except ChainUnavailable as e:
        err.print(
            "suixin audit verify: 无法连接区块链节点，未能核对链上锚定（这不表示日志被篡改）/ "
            f"the chain cannot be reached, anchors not checked (this is not a finding): "
            f"{escape(str(e))}\n"
            "  仅核对数据库 / to check the database alone: suixin audit verify --no-chain"
        )
        return EXIT_CHAIN_UNAVAILABLE
    except InvalidInput as e:
        err.print(f"suixin audit verify: {escape(e.diagnostics())}")
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_report(report, console())
    return 0 if report.intact else EXIT_TAMPERED


def _print_report(report: AuditReport, console: Console) -> None:
    first = report.first
    if first is not None:
        console.print("[red bold]审计日志被篡改 / AUDIT TRAIL TAMPERED[/red bold]")
        console.print(
            f"首个问题行 first bad row: [bold]{first.seq}[/bold]  {escape(f'[{first.code}]')}"
        )
        console.print(f"  {escape(first.zh)}")
        console.print(f"  {escape(first.en)}")
        for other in report.findings[1:]:
            console.print(escape(f"  另见 also: [{other.code}] {other.zh} / {other.en}"))
        console.print(
            f"行 rows {report.rows} · 日志头 head {report.head_seq} · "
            f"首个问题前核验通过 verified before it {report.verified_rows}"
        )
        return
    console.print("[green bold]审计日志完好 / audit trail intact[/green bold]")
    console.print(f"  行 rows: {report.rows} (日志头 head: seq {report.head_seq})")
    last = report.last_anchored
    if last is None:
        console.print("  最近锚定 last anchored head: 无 / none yet")
    else:
        console.print(
            f"  最近锚定 last anchored head: seq {last.seq} · block {last.block_number} · "
            f"{last.when()} · tx {last.tx_hash}"
        )
    where = (
        "链上核对 checked on chain" if report.chain_checked else "未核对链上 NOT checked on chain"
    )
    console.print(f"  锚定 anchors: {len(report.anchored)} ({where})")
    if report.prepared:
        console.print(f"  待上链锚定 anchors prepared, not yet on chain: {report.prepared}")
    console.print(f"  未锚定的行 rows not yet anchored: {report.unanchored_rows}")
    if report.inbox_rows:
        console.print(
            f"  收件箱中待入链的行 rows committed meanwhile, waiting in the inbox: "
            f"{report.inbox_rows}"
        )
    console.print("无法证明 / what this cannot prove:")
    for zh, en in report.limits:
        console.print(escape(f"  - {zh}\n    {en}"))


# ---------------------------------------------------------------------- show


def _show(args: argparse.Namespace) -> int:
    err = console(sys.stderr)
    if args.limit < 1:
        err.print("suixin audit show: --limit 至少为 1 / --limit must be at least 1")
        return EXIT_USAGE
    credential = _credential_urn(args.credential) if args.credential else None
    try:
        with _database(settings_of(args)) as db:
            try:
                sequence(db)  # the rows committed since the worker's last pass, chained
            except AuditChainBroken as e:  # show what is there; verify names the bad row
                err.print(f"suixin audit show: {escape(e.diagnostics())}")
            with db.session() as s:
                rows = audit_rows(s, credential_id=credential, limit=args.limit)
                dids = {a.id: a.did for a in s.scalars(select(Authority))}
    except InvalidInput as e:
        err.print(f"suixin audit show: {escape(e.diagnostics())}")
        return EXIT_USAGE
    rows.reverse()  # oldest of the page first, as a log reads
    if args.json:
        items = [
            {
                "seq": r.seq,
                "at": r.at.isoformat(),
                "actor": r.actor,
                "action": r.action,
                "authority": dids.get(r.authority_id) if r.authority_id else None,
                "credentialId": r.credential_id,
                "details": r.details,
                "prevHash": bytes(r.prev_hash).hex(),
                "hash": bytes(r.row_hash).hex(),
            }
            for r in rows
        ]
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return 0
    table = Table(title="审计日志 Audit trail")
    for column in (
        "序号 Seq",
        "时间 Time (UTC)",
        "操作者 Actor",
        "操作 Action",
        "签发机关 Authority",
        "凭证 Credential",
        "详情 Details",
        "哈希 Hash",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        cells = (
            str(r.seq),
            r.at.strftime("%Y-%m-%d %H:%M:%S"),
            r.actor,
            r.action,
            dids.get(r.authority_id, str(r.authority_id)) if r.authority_id else "",
            r.credential_id or "",
            json.dumps(summarise_details(r.details, 3), ensure_ascii=False, sort_keys=True),
            bytes(r.row_hash).hex()[:16],
        )
        table.add_row(*(escape(c) for c in cells))  # stored text is never markup
    console().print(table if rows else "没有审计记录 / no audit rows")
    return 0


# ---------------------------------------------------------------------- anchor


def _anchor(args: argparse.Namespace) -> int:
    with _office(settings_of(args)) as office:
        try:
            head = HeadAnchorer(office, actor="cli").anchor()  # progress on stderr
        except AuditChainBroken as e:
            console(sys.stderr).print(f"suixin audit anchor: {escape(e.diagnostics())}")
            return EXIT_TAMPERED
    if head is None:
        print(
            "无需锚定 / nothing to anchor (no rows since the last anchor, or no active authority)"
        )
        return 0
    print(
        f"已锚定 / anchored audit head seq {head.seq} in block {head.block_number} "
        f"({head.when()}), tx {head.tx_hash}"
    )
    return 0
