"""``suixin issue``: bulk issuance from a CSV or JSON Lines file, with a progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from service.cli._common import add_common, console, office_from
from service.issuing.office import NotFound, Office
from verifier.credential import CREDENTIAL_TYPES, DERIVED_TYPES
from verifier.errors import InvalidInput, SuixinError

__all__ = ["register"]


def register(commands: Any) -> None:
    """``suixin issue``: bulk issuance."""
    issue = commands.add_parser(
        "issue",
        help="bulk issuance from a CSV or JSONL file",
        description="Issue one credential per row. Exit 0: all issued; 1: some rows rejected "
        "(see the report); 2: usage or file errors. Each line is issued once: after a crash "
        "or a stop, run the same command again and it goes on where the last run stopped "
        "(the lines already stored are recognised by the file's SHA-256 and line number).",
    )
    add_common(issue)
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
    from service.issuing.bulk import count_rows, file_run_key, read_rows
    from service.issuing.signing_pool import SigningPool, default_processes

    source: Path = args.source
    report_path: Path = args.report or source.with_name(source.name + ".errors.jsonl")
    err = console(sys.stderr)
    try:
        if args.chunk < 1:
            raise InvalidInput("--chunk must be at least 1")
        if args.processes is not None and args.processes < 0:
            raise InvalidInput("--processes must be 0 or more")
        total = count_rows(source)
        args.run = file_run_key(source, args.credential_type)
        rows = read_rows(source)
    except (OSError, InvalidInput) as e:
        err.print(f"suixin issue: {e.diagnostics() if isinstance(e, SuixinError) else e}")
        return 2
    with office_from(args) as (office, _):
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
        # issuing starts: an old report must not be mistaken for this run's (a run refused
        # above, exit 2, leaves the last report as it was)
        report_path.unlink(missing_ok=True)
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

    from service.issuing.bulk import issue_rows

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

    out = args.out.open("w", encoding="utf-8") if args.out is not None else None
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
                out=out,  # written as each chunk commits: a stopped run leaves an exact record
                run=args.run,  # lines an earlier run of this file stored are not issued again
            )
    finally:
        report.close()
        if out is not None:
            out.close()
    print(
        f"签发 issued {summary.issued}, 拒绝 rejected {summary.rejected}, "
        f"{summary.seconds:.2f} s, {summary.rate:,.0f} credentials/s"
    )
    if summary.resumed:
        print(
            f"此前运行已签发 {summary.resumed} 行，未重复签发 / {summary.resumed} lines were "
            "issued by an earlier run of this file and not issued again"
        )
    if summary.rejected:
        print(f"被拒绝的行及原因 / rejected rows and reasons: {report_path}")
        return 1
    return 0
