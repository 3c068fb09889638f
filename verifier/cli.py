"""``suixin-verify``: check credential bundles against the chain or an offline trust snapshot.

Exit codes: 0 every bundle VALID; 1 at least one INVALID; 3 none INVALID but at least one
PENDING; 2 usage or I/O errors (unreadable file, bad snapshot); 4 the chain cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from verifier.chain import RpcChain
from verifier.errors import ChainUnavailable, SuixinError
from verifier.messages import Language
from verifier.policy import Policy
from verifier.registry import RegistryIndex
from verifier.verify import Outcome, Report, Verdict, Verifier

__all__ = ["main"]

EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_PENDING, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
_MARKS = {Outcome.PASS: "✓", Outcome.FAIL: "✗", Outcome.PENDING: "…", Outcome.SKIPPED: "-"}
_STYLES = {
    Outcome.PASS: "green",
    Outcome.FAIL: "red",
    Outcome.PENDING: "yellow",
    Outcome.SKIPPED: "dim",
}
_VERDICT_STYLES = {
    Verdict.VALID: "bold green",
    Verdict.INVALID: "bold red",
    Verdict.PENDING: "bold yellow",
}
_LABELS = {
    "zh": {"check": "检查项", "result": "结果", "reason": "说明", "verdict": "结论"},
    "en": {"check": "check", "result": "result", "reason": "reason", "verdict": "verdict"},
}


class _UsageError(Exception):
    pass


def _verify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="suixin-verify",
        description="Verify Suixin credential bundles (居住证, 营业执照) against the chain alone. "
        "`suixin-verify snapshot --help` writes an offline trust snapshot.",
    )
    p.add_argument("bundles", nargs="+", type=Path, help="bundle JSON files")
    source = p.add_argument_group("trust source (one of)")
    source.add_argument("--rpc", help="JSON-RPC URL of a chain node")
    source.add_argument("--registry", help="AnchorRegistry address (with --rpc)")
    source.add_argument("--snapshot", type=Path, help="offline trust snapshot file")
    p.add_argument("--from-block", type=int, default=0, help="first block to index (with --rpc)")
    p.add_argument("--cache", type=Path, help="SQLite file caching the indexed registry")
    p.add_argument("--max-snapshot-age", type=float, default=24.0, metavar="HOURS")
    p.add_argument(
        "--grace",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="how long an unanchored credential is PENDING (default 60)",
    )
    p.add_argument("--json", action="store_true", help="print the JSON reports")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the table")
    return p


def _snapshot_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="suixin-verify snapshot",
        description="Export the trust registry at the current block for offline verification.",
    )
    p.add_argument("--rpc", required=True, help="JSON-RPC URL of a chain node")
    p.add_argument("--registry", required=True, help="AnchorRegistry address")
    p.add_argument("--from-block", type=int, default=0, help="first block to index")
    p.add_argument("-o", "--output", type=Path, required=True, help="snapshot file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    console = Console(highlight=False, soft_wrap=True)
    try:
        if args and args[0] == "snapshot":
            return _snapshot(_snapshot_parser().parse_args(args[1:]), console)
        return _verify(_verify_parser().parse_args(args), console)
    except SystemExit as e:  # argparse: --help or a usage error
        return EXIT_VALID if e.code == 0 else EXIT_USAGE
    except _UsageError as e:
        print(f"suixin-verify: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ChainUnavailable as e:
        print(f"suixin-verify: {e.diagnostics()}\n链节点无法连接，未作出结论。", file=sys.stderr)
        return EXIT_UNREACHABLE
    except SuixinError as e:
        print(f"suixin-verify: {e.diagnostics()}", file=sys.stderr)
        return EXIT_USAGE


def _snapshot(args: argparse.Namespace, console: Console) -> int:
    chain = RpcChain(args.rpc)
    index = RegistryIndex.for_anchor_registry(chain, args.registry, start_block=args.from_block)
    index.sync(chain)
    header = index.export_snapshot(args.output)
    console.print(
        f"snapshot of chain {header['chainId']} at block {header['block']['number']} "
        f"({header['block']['hash']}) written to {args.output}"
    )
    return EXIT_VALID


def _verifier(args: argparse.Namespace) -> Verifier:
    policy = Policy(
        pending_grace=timedelta(minutes=args.grace),
        max_snapshot_age=timedelta(hours=args.max_snapshot_age),
    )
    if args.snapshot and (args.rpc or args.registry):
        raise _UsageError("use either --snapshot or --rpc/--registry, not both")
    if args.snapshot:
        return Verifier.from_snapshot(args.snapshot, policy)
    if not (args.rpc and args.registry):
        raise _UsageError(
            "a trust source is needed: --rpc URL --registry ADDRESS, or --snapshot FILE"
        )
    return Verifier.from_rpc(
        args.rpc, args.registry, policy, start_block=args.from_block, cache_path=args.cache
    )


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise _UsageError(f"cannot read bundle {path}: {e}") from e


def _verify(args: argparse.Namespace, console: Console) -> int:
    bundles = [(path, _read(path)) for path in args.bundles]
    verifier = _verifier(args)
    reports = [(path, verifier.verify(bundle)) for path, bundle in bundles]
    if args.json:
        out: Any = [{"file": str(p), **r.to_json()} for p, r in reports]
        console.print_json(json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False))
    else:
        for path, report in reports:
            _print_table(console, path, report, args.lang)
    counts = {v: sum(r.verdict is v for _, r in reports) for v in Verdict}
    if len(reports) > 1:
        console.print(
            f"{len(reports)} bundles: {counts[Verdict.VALID]} VALID, "
            f"{counts[Verdict.INVALID]} INVALID, {counts[Verdict.PENDING]} PENDING"
        )
    if counts[Verdict.INVALID]:
        return EXIT_INVALID
    if counts[Verdict.PENDING]:
        return EXIT_PENDING
    return EXIT_VALID


def _print_table(console: Console, path: Path, report: Report, lang: Language) -> None:
    labels = _LABELS[lang]
    title = f"{path.name} — {report.credential_type or '?'} {report.credential_id or ''}"
    table = Table(title=title, title_justify="left")
    table.add_column(labels["check"])
    table.add_column(labels["result"], justify="center")
    table.add_column(labels["reason"])
    for check in report.checks:
        style = _STYLES[check.outcome]
        table.add_row(check.name, f"[{style}]{_MARKS[check.outcome]}[/]", check.reason.text(lang))
    console.print(table)
    trust = report.trust
    source = (
        f"{trust.kind}: chain {trust.chain_id}, block {trust.block_number}, "
        f"age {trust.age_seconds // 3600}h{trust.age_seconds % 3600 // 60:02d}m"
    )
    console.print(f"  {source}")
    for warning in report.warnings:
        console.print(f"  [yellow]! {warning.text(lang)}[/]")
    colour = _VERDICT_STYLES[report.verdict]
    console.print(f"  {labels['verdict']}: [{colour}]{report.verdict.value}[/]\n")


if __name__ == "__main__":
    sys.exit(main())
