"""Province scale: N synthetic residence permits issued, anchored and verified, and what it costs.

``--count N`` permits with valid identifiers (the factories' GB 11643 citizen IDs and GB/T 2260
regions) go through ``service.issuing.bulk.issue_rows`` — what ``suixin issue`` does with a CSV,
streamed, in chunks, signed by the office's signing pool, each row stored with its line's
idempotency key under a run key shaped as that command's — with an ``AnchorWorker`` thread
anchoring batches as they fill, on the embedded chain, over SQLite or PostgreSQL (a fresh schema,
dropped afterwards); it polls at the deployment's default interval and is woken as each chunk is
stored (``AnchorWorker.wake``). The clock stops when the last credential is anchored. Then a
random sample is verified with the verifier library against the chain.

Printed:

- per segment (a tenth of N): the issue rate and the anchor rate in it — does either fall as the
  database grows? — and the end-to-end rate (last credential anchored);
- peak RSS of every process of the run (this one and each signing process; PostgreSQL's own
  server processes are not ours and are not counted);
- database bytes per credential (SQLite: the file and its WAL; PostgreSQL: the
  ``pg_total_relation_size`` of every table of the schema, indexes and TOAST included), the
  growth over the run divided by N, against 1.5 × the median canonical (JCS) size of a
  credential, the issue's target;
- CPU time per credential in this process and in the signing processes: other work on a
  shared machine changes the rates, much less these; and the office process's by thread (the
issuing thread, the storing thread, the anchoring worker, the rest);
- on PostgreSQL, the bytes of each table, its TOAST and each index, per credential, with dead
  row versions and HOT updates, and the average stored size of each column of ``credentials``;
- chain bytes (RLP size of the blocks the run added) and gas per credential;
- the projection to 10 M at the end-to-end rate and at the slowest segment's, against the
  target of 10 M in 30 minutes (>= 5,600/s end to end).

Exit status 1 when the end-to-end rate or the storage target is missed, or a sampled bundle
does not verify.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import func, select, text  # noqa: E402

from scripts.bench_issue import new_office, postgres_schema  # noqa: E402
from service.anchoring.worker import AnchorWorker  # noqa: E402
from service.config import Settings  # noqa: E402
from service.issuing.bulk import Row, issue_rows  # noqa: E402
from service.issuing.office import Office  # noqa: E402
from service.issuing.signing_pool import SigningPool, default_processes  # noqa: E402
from service.storage.models import Credential  # noqa: E402
from tests.verifier.factories import (  # noqa: E402
    BIRTH_PLACES,
    make_citizen_id,
    residence_permit_subject,
)
from verifier.jcs import canonicalize  # noqa: E402
from verifier.policy import Policy  # noqa: E402
from verifier.verify import Verdict, Verifier  # noqa: E402

E2E_TARGET = 5_600.0  # credentials/s end to end: 10 M in under 30 minutes
STORAGE_TARGET = 1.5  # database bytes per credential / canonical JSON bytes
PROVINCE = 10_000_000
console = Console(soft_wrap=True)  # long figure lines stay whole in a log


def permit_subject(i: int, rng: random.Random) -> dict[str, Any]:
    """The ``i``-th synthetic permit subject: its citizen ID (GB 11643, check digit computed)
    is unique for i below 120 M, from its birthplace, birth date and sequence number; random
    IDs would repeat (an office refuses a second permit in force for one person) about 3 times
    in 20,000 and thousands of times in 10 M."""
    places, days = len(BIRTH_PLACES), 365 * 55
    place, day, sequence = i % places, (i // places) % days, (i // (places * days)) % 1000
    birth = date(1950, 1, 1) + timedelta(days=day)
    return residence_permit_subject(
        rng,
        citizenId=make_citizen_id(BIRTH_PLACES[place], birth, sequence),
        birthDate=birth.isoformat(),
        sex="male" if sequence % 2 else "female",
    )


def rows(count: int, seed: int) -> Iterator[Row]:
    """``count`` synthetic permit subjects, made as they are read (memory stays flat)."""
    rng = random.Random(seed)
    for i in range(count):
        yield Row(i + 2, permit_subject(i, rng))  # as a CSV's lines after its header


def run_key(args: argparse.Namespace) -> str:
    """A run key shaped as ``suixin issue`` makes one for a file (``file_run_key``: the type
    and 32 hex digits of a SHA-256), here of the synthetic rows' parameters."""
    made = hashlib.sha256(f"bench_scale {args.count} {args.seed}".encode()).hexdigest()
    return f"ResidencePermit:{made[:32]}"


def cpu_seconds(who: int) -> float:
    """User and system CPU seconds of this process (RUSAGE_SELF) or of its ended children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_rss_kib(pid: int) -> int:
    """A live process's peak resident set (VmHWM), KiB; 0 if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_name(pid: int) -> str:
    """A short name for a process: the tail of its command line."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(w.decode(errors="replace") for w in words if w)
    return text if len(text) <= 40 else "…" + text[-39:]


def children_cpu_seconds() -> float:
    """User and system CPU seconds of this process's live children so far (/proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in child_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def child_pids() -> list[int]:
    """This process's live children."""
    found: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(found))


def database_bytes(office: Office, sqlite_path: Path | None, schema: str | None) -> int:
    """What the database holds on disk now (see the module docstring)."""
    if sqlite_path is not None:
        with office.db.session() as s:  # the WAL's pages into the file, then measure both
            s.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return sum(
            p.stat().st_size for p in (sqlite_path, Path(f"{sqlite_path}-wal")) if p.exists()
        )
    with office.db.session() as s:
        return int(
            s.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'm', 'p')"
                ),
                {"schema": schema},
            ).scalar_one()
        )


def postgres_breakdown(office: Office, schema: str, n: int) -> list[str]:
    """Where PostgreSQL's bytes are, per credential: each table's heap, TOAST and every index
    (``pg_relation_size``), with its live and dead row versions and HOT updates; then the
    average stored size of each column of ``credentials`` (``pg_column_size``)."""
    lines = [f"  PostgreSQL bytes per credential, by relation (schema {schema}):"]
    with office.db.session() as s:
        s.execute(text("SELECT pg_stat_force_next_flush()"))
        tables = s.execute(
            text(
                "SELECT c.relname, pg_relation_size(c.oid), "
                "coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0), "
                "coalesce(t.n_live_tup, 0), coalesce(t.n_dead_tup, 0), "
                "coalesce(t.n_tup_upd, 0), coalesce(t.n_tup_hot_upd, 0), "
                "pg_total_relation_size(c.oid) "
                "FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace "
                "LEFT JOIN pg_stat_user_tables t ON t.relid = c.oid "
                "WHERE ns.nspname = :schema AND c.relkind = 'r' "
                "ORDER BY pg_total_relation_size(c.oid) DESC"
            ),
            {"schema": schema},
        ).all()
        for name, heap, toast, live, dead, upd, hot, total in tables:
            if total < 64 * 1024:
                continue
            lines.append(
                f"    {name:<28} {total / n:8.1f} total: heap {heap / n:7.1f}, TOAST "
                f"{toast / n:6.1f}; rows live {live:,} dead {dead:,}, updates {upd:,} "
                f"(HOT {hot:,})"
            )
            for index, size in s.execute(
                text(
                    "SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid "
                    "JOIN pg_class c ON c.oid = x.indrelid "
                    "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
                    "WHERE ns.nspname = :schema AND c.relname = :table ORDER BY 2 DESC"
                ),
                {"schema": schema, "table": name},
            ):
                lines.append(f"      index {index:<32} {size / n:7.1f}")
        columns = [
            c.name
            for c in Credential.__table__.columns  # type: ignore[attr-defined]
        ]
        averages = s.execute(
            text(
                "SELECT "
                + ", ".join(f"avg(pg_column_size({c}))" for c in columns)
                + ", avg(pg_column_size(credentials.*)) FROM credentials"
            )
        ).one()
    lines.append(
        "    credentials, average stored bytes per column: "
        + ", ".join(f"{c} {float(a or 0):.1f}" for c, a in zip(columns, averages, strict=False))
        + f"; whole row {float(averages[-1] or 0):.1f}"
    )
    return lines


def chain_figures(office: Office, first: int, last: int) -> tuple[int, int]:
    """(RLP bytes, gas) of blocks ``first``..``last``."""
    size = gas = 0
    for number in range(first, last + 1):
        block = office.chain.w3.eth.get_block(number)
        size += int(block.get("size", 0))
        gas += int(block["gasUsed"])
    return size, gas


class ThreadCpu:
    """CPU seconds of each thread of this process, read from /proc while the threads live (the
    storing thread ends with ``issue_rows``), grouped by thread name: the issuing thread
    (``MainThread``), the storing thread (``bulk-store``), the anchoring worker and the rest."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        self._seconds: dict[int, float] = {}
        self._tick = os.sysconf("SC_CLK_TCK")
        self._before: dict[int, float] = {}

    def start(self) -> None:
        """From now on: what the threads alive now spent before (set-up) is not counted."""
        self.read()
        self._before = dict(self._seconds)

    def read(self) -> None:
        for t in threading.enumerate():
            if t.native_id is None:
                continue
            self._names[t.native_id] = re.sub(r"_\d+$", "", t.name)
            try:
                fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text()
            except OSError:
                continue
            utime, stime = fields.rpartition(")")[2].split()[11:13]
            self._seconds[t.native_id] = (int(utime) + int(stime)) / self._tick

    def by_name(self) -> dict[str, float]:
        grouped: dict[str, float] = {}
        for tid, seconds in self._seconds.items():
            name = self._names[tid]
            name = name if name in ("MainThread", "bulk-store", "anchor-worker") else "other"
            seconds -= self._before.get(tid, 0.0)
            grouped[name] = grouped.get(name, 0.0) + seconds
        return grouped


class Clock:
    """Times at which issued and anchored counts crossed each segment boundary, and the CPU
    seconds spent by then (``cpu``: by thread of this process, and by the signing processes)."""

    def __init__(self, count: int, segments: int, threads: ThreadCpu) -> None:
        self.bounds = [count * (i + 1) // segments for i in range(segments)]
        self.issued_at: list[float] = []
        self.anchored_at: list[float] = []
        self.cpu_at: list[dict[str, float]] = []  # as each issued boundary was crossed
        self.start = time.perf_counter()
        self._threads = threads
        self._children_before = children_cpu_seconds()

    def see(self, marks: list[float], done: int) -> None:
        while len(marks) < len(self.bounds) and done >= self.bounds[len(marks)]:
            marks.append(time.perf_counter() - self.start)
            if marks is self.issued_at:
                self._threads.read()
                cpu = self._threads.by_name()
                cpu["signing"] = children_cpu_seconds() - self._children_before
                self.cpu_at.append(cpu)

    def cpu_per_credential(self) -> list[dict[str, float]]:
        """Each segment's CPU µs per credential issued in it, by thread and signing."""
        out, before_n, before = [], 0, dict.fromkeys(self.cpu_at[0] if self.cpu_at else (), 0.0)
        for n, cpu in zip(self.bounds, self.cpu_at, strict=False):
            out.append({k: (v - before.get(k, 0.0)) / (n - before_n) * 1e6 for k, v in cpu.items()})
            before_n, before = n, cpu
        return out

    def rates(self, marks: list[float]) -> list[float]:
        rates, before_n, before_t = [], 0, 0.0
        for n, t in zip(self.bounds, marks, strict=False):
            rates.append((n - before_n) / max(t - before_t, 1e-9))
            before_n, before_t = n, t
        return rates


def run(args: argparse.Namespace, label: str, db_url: str, sqlite_path: Path | None) -> bool:
    schema = None
    if sqlite_path is None:
        found = re.search(r"search_path%3D(\w+)", db_url)
        schema = found.group(1) if found else None
    office, authority_id = new_office(db_url)
    pool = SigningPool(args.processes) if args.processes else None
    if pool is not None:
        pool.warm()
        office.signing_pool = pool
    worker = AnchorWorker(
        office,
        batch_size=args.batch_size,
        batch_age_seconds=1.0,
        poll_seconds=args.poll,
        log=lambda m: None,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True, name="anchor-worker")
    threads = ThreadCpu()
    bytes_before = database_bytes(office, sqlite_path, schema)
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    threads.start()
    first_block = office.chain.block_number() + 1
    clock = Clock(args.count, args.segments, threads)
    issued_now = [0]
    rejected = StringIO()  # rows refused, one JSON line each (none expected)
    try:
        with Progress(
            TextColumn("[bold]{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9,.0f}/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            issued_task = bar.add_task(f"{label} issued", total=args.count, rate=0.0)
            anchored_task = bar.add_task(f"{label} anchored", total=args.count, rate=0.0)

            def progress(issued: int, rejected: int) -> None:  # this chunk's counts
                if worker.stats.failures:
                    raise RuntimeError(f"anchoring stalled: {worker.stats.last_error}")
                issued_now[0] += issued
                if args.wake:
                    worker.wake()  # a chunk is stored: anchor it now, not at the next poll
                clock.see(clock.issued_at, issued_now[0])

            def watch() -> None:
                while not stop.is_set():
                    elapsed = time.perf_counter() - clock.start
                    anchored = worker.stats.anchored
                    clock.see(clock.anchored_at, anchored)
                    bar.update(issued_task, completed=issued_now[0], rate=issued_now[0] / elapsed)
                    bar.update(anchored_task, completed=anchored, rate=anchored / elapsed)
                    threads.read()
                    stop.wait(0.1)

            watcher = threading.Thread(target=watch, daemon=True)
            clock.start = time.perf_counter()
            thread.start()
            watcher.start()
            summary = issue_rows(
                office,
                authority_id,
                "ResidencePermit",
                rows(args.count, args.seed),
                chunk=args.chunk,
                progress=progress,
                report=rejected,
                run=run_key(args),  # each row stored with its line's key, as by `suixin issue`
            )
            stored = time.perf_counter() - clock.start
            issued_now[0] = summary.issued
            clock.see(clock.issued_at, summary.issued)
            deadline = time.monotonic() + 120 + args.count / 200
            while office.queue_depth():
                if time.monotonic() > deadline or worker.stats.failures:
                    raise RuntimeError(
                        f"anchoring stalled: {worker.stats.last_error or 'no error'}"
                    )
                time.sleep(0.2)
            total = time.perf_counter() - clock.start
            clock.see(clock.anchored_at, args.count)  # the last one, however the stats count
            threads.read()
            stop.set()
            watcher.join()
            thread.join()
        rss = {"office (issue, worker, chain)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        for pid in child_pids():  # the signing pool's processes, and its helpers
            rss[f"child {pid} ({process_name(pid)})"] = peak_rss_kib(pid)

        # figures after the run
        assert summary.issued == args.count, rejected.getvalue()[:2000]
        db_growth = database_bytes(office, sqlite_path, schema) - bytes_before
        breakdown = [] if schema is None else postgres_breakdown(office, schema, args.count)
        last_block = office.chain.block_number()
        chain_bytes, gas = chain_figures(office, first_block, last_block)
        with office.db.session() as s:
            sample_ids = list(
                s.scalars(select(Credential.id).order_by(func.random()).limit(args.sample))
            )
        bundles = [office.bundle(i) for i in sample_ids]
        canonical = statistics.median(len(canonicalize(b["credential"])) for b in bundles)
        verifier = Verifier.from_chain(
            office.chain,
            office.deployment.anchor_registry,
            Policy(sync_interval=timedelta(days=1)),
            deployment=office.deployment,
        )
        verdicts = [verifier.verify(b).verdict for b in bundles]
    finally:
        stop.set()
        office.db.dispose()
        office.chain.close()
        if pool is not None:
            pool.close()  # its processes end: their CPU time is counted in RUSAGE_CHILDREN
    cpu_office = cpu_seconds(resource.RUSAGE_SELF) - cpu_before[0]
    cpu_signing = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before[1]

    n = args.count
    e2e = n / total
    console.print(
        f"\n  load average (1 min) at the start {load_before:.1f}, at the end "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: other work shares the machine"
    )
    issue_rates, anchor_rates = clock.rates(clock.issued_at), clock.rates(clock.anchored_at)
    console.print(
        f"\n[bold]{label}[/bold]: {n:,} permits; issued in {stored:.1f} s "
        f"({n / stored:,.0f}/s), last anchored at {total:.1f} s: [bold]{e2e:,.0f}/s end to end"
        f"[/bold] ({worker.stats.batches} batches of up to {args.batch_size})"
    )
    console.print(
        f"  CPU per credential: {cpu_office / args.count * 1e6:,.0f} µs in this process "
        "(issue, store, worker, embedded chain, the sample's verification), "
        f"{cpu_signing / args.count * 1e6:,.0f} µs in the signing processes (their whole "
        "life, start-up included; PostgreSQL's own not counted): other work on the machine "
        "changes these much less than the rates"
    )
    console.print(
        "  CPU per credential in this process by thread: "
        + ", ".join(f"{name} {sec / n * 1e6:,.0f} µs" for name, sec in threads.by_name().items())
    )
    # CPU µs per credential in each segment: where a falling rate goes (issuing thread,
    # storing thread, worker, the rest of this process, the signing processes)
    per_segment = clock.cpu_per_credential()
    columns = ("MainThread", "bulk-store", "anchor-worker", "other", "signing")
    console.print(
        "  segment        issue/s   anchor/s   CPU µs per credential: "
        "main  store worker other signing"
    )
    for i, (bound, ir, ar) in enumerate(zip(clock.bounds, issue_rates, anchor_rates, strict=False)):
        cpu = per_segment[i] if i < len(per_segment) else {}
        spent = " ".join(f"{cpu.get(c, 0.0):>6,.0f}" for c in columns)
        console.print(f"  {i + 1:>2} ..{bound:>10,} {ir:>9,.0f} {ar:>10,.0f}  {' ' * 20}{spent}")
    if anchor_rates:
        console.print(
            f"  last segment / first: issue {issue_rates[-1] / issue_rates[0]:.2f}, "
            f"anchor {anchor_rates[-1] / anchor_rates[0]:.2f}"
        )
    for name, kib in rss.items():
        console.print(f"  peak RSS {kib / 1024:7.1f} MiB  {name}")
    per_credential = db_growth / n
    ratio = per_credential / canonical
    console.print(
        f"  database {per_credential:,.0f} bytes per credential; canonical JSON {canonical:,.0f} "
        f"bytes (median of {len(bundles)}); ratio {ratio:.2f} (target <= {STORAGE_TARGET})"
    )
    for line in breakdown:
        console.print(line)
    console.print(
        f"  chain {chain_bytes / n:,.1f} bytes and {gas / n:,.1f} gas per credential "
        f"({last_block - first_block + 1:,} blocks)"
    )
    valid = sum(v is Verdict.VALID for v in verdicts)
    console.print(f"  verified a random sample: {valid} of {len(verdicts)} VALID")
    slowest = min(min(anchor_rates, default=e2e), e2e)
    console.print(
        f"  10 M projected: {PROVINCE / e2e / 60:,.1f} min at the end-to-end rate, "
        f"{PROVINCE / slowest / 60:,.1f} min at the slowest segment's; end to end "
        f"{e2e:,.0f}/s against the target {E2E_TARGET:,.0f}/s: ratio {e2e / E2E_TARGET:.2f}"
    )
    return e2e >= E2E_TARGET and ratio <= STORAGE_TARGET and valid == len(verdicts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--sample", type=int, default=200, help="bundles verified at the end")
    parser.add_argument("--chunk", type=int, default=1000, help="rows per issue_many call")
    parser.add_argument("--batch-size", type=int, default=1000, help="credentials per anchor")
    parser.add_argument("--processes", type=int, default=default_processes())
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument(
        "--poll",
        type=float,
        default=Settings.model_fields["worker_poll_seconds"].default,
        help="the worker's poll interval, seconds (default: the deployment's default)",
    )
    parser.add_argument(
        "--no-wake",
        dest="wake",
        action="store_false",
        help="do not wake the worker as each chunk is stored (it finds it at its next poll)",
    )
    args = parser.parse_args()
    # a segment spans several chunks and batches, or its rate measures their granularity
    args.segments = max(1, min(args.segments, args.count // (4 * max(args.chunk, args.batch_size))))
    met = True
    if args.database in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="suixin-scale-") as tmp:
            path = Path(tmp) / "office.sqlite"
            met &= run(args, "SQLite", f"sqlite:///{path}", path)
    if args.database in ("postgres", "both"):
        with postgres_schema() as url:
            met &= run(args, "PostgreSQL", url, None)
    console.print("MET" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
