"""Bulk issuance from CSV or JSON Lines: chunks signed and stored by the office, per-row report.

Rows are read lazily and issued in chunks, each ``Office.start_signing`` then
``Office.store_chunk`` (``issue_many``'s two halves; the second gives ids, not bundles). A few
chunks are in hand at once: one is stored in a thread of its own, the next is being signed on
the signing pool, and ``SIGNING_AHEAD`` more are read, checked and queued on the pool behind
it, so the pool does not wait for this thread, nor for a slow commit.
A chunk is all-or-nothing, so one
with invalid rows is first refused as a whole (nothing stored); the invalid rows, named by the
per-item error paths, go to the report and the remaining rows are signed again as one chunk.
Every row thus ends either stored (and queued for anchoring) or in the report, never both.
A chunk of ``OWN_BATCH_MIN`` credentials or more is stored as its own anchoring batch, claimed
in its transaction; on PostgreSQL its rows go in through COPY (``Database.insert_rows``).

**Exactly once, resumable.** Given a ``run`` (``file_run_key``: the file's SHA-256 and the
credential type), every credential is stored with the idempotency key ``bulk:<run>:<line>`` in
the transaction that stores it. Running the same file again, after a crash or a stop at any
moment, finds the lines already stored (one indexed query per chunk), counts them as
``resumed`` and writes their ids to ``out``, and issues only the rest: each line is issued once.

CSV columns are the subject's camelCase field names; a dotted column nests
(``operatingTerm.from``). An empty cell means the field is absent, except
``operatingTerm.until`` where empty means 长期 (no end, JSON null). A JSONL line is one subject
object. Line numbers are the file's own (the CSV header is line 1).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.exc import IntegrityError

from service.issuing.office import IssueRequest, Office, SignedChunk, Signing
from verifier.errors import FieldError, InvalidCredential, InvalidInput

__all__ = [
    "NULL_WHEN_EMPTY",
    "OWN_BATCH_MIN",
    "SIGNING_AHEAD",
    "BulkSummary",
    "ReportSink",
    "Row",
    "count_rows",
    "file_run_key",
    "issue_rows",
    "read_rows",
]


class ReportSink(Protocol):
    """Where rejected rows are written (a text file, or anything that writes like one)."""

    def write(self, text: str, /) -> Any: ...

    def flush(self) -> None: ...


# A chunk of at least this many credentials is its own anchoring batch, claimed as it is
# stored (``Office.issue_many(own_batch=True)``: no second write of each row when the worker
# claims it); a smaller one waits in the queue to share a batch, and its gas, with others.
OWN_BATCH_MIN = 500

# Dotted CSV columns whose empty cell means JSON null rather than "absent".
NULL_WHEN_EMPTY = frozenset({"operatingTerm.until"})

_ITEM_PATH = re.compile(r"^items\[(\d+)\]\.?(.*)$")


@dataclass(frozen=True, slots=True)
class Row:
    """One input row: its line number and either its subject or why it could not be read."""

    line: int
    subject: dict[str, Any] | None
    errors: tuple[FieldError, ...] = ()


@dataclass
class BulkSummary:
    """What a bulk run did."""

    issued: int = 0
    rejected: int = 0
    resumed: int = 0  # stored by an earlier run of the same file (``run``), not issued again
    seconds: float = 0.0
    credential_ids: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows seen."""
        return self.issued + self.rejected + self.resumed

    @property
    def rate(self) -> float:
        """Credentials issued per second."""
        return self.issued / self.seconds if self.seconds > 0 else 0.0


# ---------------------------------------------------------------------- reading


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise InvalidInput(f"{path}: unknown input format; use a .csv or .jsonl file")


def read_rows(path: Path) -> Iterator[Row]:
    """The rows of a .csv or .jsonl file, lazily; raises InvalidInput for an unknown format or
    a CSV without a header, OSError when the file cannot be read."""
    if _format_of(path) == "csv":
        return _csv_rows(path)
    return _jsonl_rows(path)


def file_run_key(path: Path, credential_type: str) -> str:
    """What names one bulk run over ``path``: the file's SHA-256 (read in 1 MiB pieces) and
    the type. The same bytes are the same run, wherever the file lies; an edited file is
    another run (its line numbers may name other people)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return f"{credential_type}:{digest.hexdigest()[:32]}"


def count_rows(path: Path) -> int:
    """How many data rows the file holds (for the progress bar)."""
    if _format_of(path) == "csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return max(sum(1 for record in csv.reader(f) if any(record)) - 1, 0)
    with path.open(encoding="utf-8-sig") as f:
        return sum(1 for line in f if line.strip())


def _csv_rows(path: Path) -> Iterator[Row]:
    f = path.open(encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise InvalidInput(f"{path}: the CSV file needs a header row of field names")
        columns = [h.strip() for h in header]
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise InvalidInput(f"{path}: duplicate CSV columns {', '.join(duplicates)}")
    except BaseException:
        f.close()
        raise
    return _csv_records(f, reader, columns)


def _csv_records(f: IO[str], reader: Any, columns: list[str]) -> Iterator[Row]:
    with f:
        line = reader.line_num + 1
        for record in reader:
            start, line = line, reader.line_num + 1
            if not any(record):
                continue
            if len(record) != len(columns):
                error = _row_error(
                    "csv_columns",
                    f"此行有 {len(record)} 列，表头有 {len(columns)} 列",
                    f"this row has {len(record)} cells, the header {len(columns)}",
                )
                yield Row(start, None, (error,))
                continue
            yield Row(start, _nest(zip(columns, record, strict=True)))


def _nest(cells: Iterable[tuple[str, str]]) -> dict[str, Any]:
    subject: dict[str, Any] = {}
    for column, raw in cells:
        value: str | None = raw.strip()
        if value == "":
            if column not in NULL_WHEN_EMPTY:
                continue
            value = None
        *parents, leaf = column.split(".")
        node = subject
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # "a" and "a.b" both given: let validation say so
                break
            node = child
        else:
            node[leaf] = value
    return subject


def _jsonl_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                yield Row(
                    number,
                    None,
                    (
                        _row_error(
                            "json_invalid",
                            f"此行不是合法的 JSON：{e.msg}",
                            f"not valid JSON: {e.msg}",
                        ),
                    ),
                )
                continue
            if not isinstance(value, dict):
                yield Row(
                    number,
                    None,
                    (
                        _row_error(
                            "json_not_object",
                            "此行应为一个 JSON 对象（证照主体字段）",
                            "the line must be one JSON object (the subject's fields)",
                        ),
                    ),
                )
                continue
            yield Row(number, value)


def _row_error(code: str, zh: str, en: str) -> FieldError:
    return FieldError("", code, zh, en)


# ---------------------------------------------------------------------- issuing


#: chunks read, checked and queued on the signing pool beyond the one being awaited (2 measured
#: the same as 1 in alternating 300k-permit runs, for a chunk more in memory)
SIGNING_AHEAD = 1


def issue_rows(
    office: Office,
    authority_id: int,
    credential_type: str,
    rows: Iterable[Row],
    *,
    chunk: int = 1000,
    report: ReportSink | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep_ids: bool = False,
    out: ReportSink | None = None,
    actor: str = "cli",
    run: str | None = None,
) -> BulkSummary:
    """Issue every valid row in chunks of ``chunk``; write each rejected row to ``report`` as
    one JSON line ``{"line", "errors": [{"path", "code", "zh", "en"}]}``.

    ``out`` gets ``{"line", "id"}`` of every credential issued, written and flushed as each
    chunk commits, so a run that stops midway leaves an exact record of what was stored.
    ``progress(issued, rejected)`` is called after every chunk (lines an earlier run of the
    same ``run`` stored count as issued there, and in ``summary.resumed``). Raises what
    ``issue_many`` raises other than per-row InvalidCredential (chain, database and key
    errors): the chunks before it are stored, the failing chunk is not.

    A few chunks are in hand at once: while one is stored (sealed, written, committed: a
    thread of its own), the next is signed on the signing pool, and ``SIGNING_AHEAD`` more are
    checked and queued there behind it. A holder a chunk shares with one checked but not yet stored
    is refused by the database when its turn comes (IntegrityError); that chunk is then
    checked and signed again alone, after the commit, and the holder is reported
    ``credential_in_force`` as without the overlap. An error reading or checking a chunk
    stores the chunks before it first.
    """
    if chunk < 1:
        raise InvalidInput("--chunk must be at least 1")
    summary = BulkSummary()
    started = time.perf_counter()
    iterator = iter(rows)
    analyze_at = [1]  # the table's statistics are refreshed when this run's count reaches it

    def account(done: _Chunk) -> None:
        issued = sorted(done.earlier + done.issued)
        summary.issued += len(done.issued)
        if done.issued and summary.issued >= analyze_at[0]:
            # after the first chunk stored, then each time this run has doubled the rows it
            # stored: a few ANALYZEs a run (log2 of its chunks), and the planner never works
            # from statistics of a table a half of this run's size or less (Database.analyze)
            office.refresh_statistics()
            analyze_at[0] = 2 * summary.issued
        summary.rejected += len(done.rejected)
        if keep_ids:
            summary.credential_ids += issued
        if out is not None and issued:
            for line, credential_id in issued:
                out.write(json.dumps({"line": line, "id": credential_id}) + "\n")
            out.flush()
        if report is not None and done.rejected:
            for line, errors in sorted(done.rejected.items()):
                record = {"line": line, "errors": [e.as_dict() for e in errors]}
                report.write(json.dumps(record, ensure_ascii=False) + "\n")
            report.flush()
        if progress is not None:
            progress(len(issued), len(done.rejected))

    def finish(storing: Future[_Chunk]) -> None:
        done = storing.result()
        if done.retry:  # a holder stored meanwhile: check and sign this chunk again, alone
            issued, rejected = _issue_chunk(
                office, authority_id, credential_type, done.rows, actor, run
            )
            done = _Chunk(done.rows, done.earlier, issued, {**done.rejected, **rejected})
        account(done)

    with ThreadPoolExecutor(1, thread_name_prefix="bulk-store") as store:
        storing: Future[_Chunk] | None = None

        def hand_over(signing: _Signing) -> None:  # to the storing thread, once it is signed
            nonlocal storing
            signed, candidates, rejected = signing.result()
            if storing is not None:  # the chunk before, stored while this one was signed
                before, storing = storing, None
                finish(before)
            storing = store.submit(
                _store_chunk, office, signed, candidates, signing.earlier, rejected, actor, run
            )

        def queue_next() -> _Signing | None:  # read, check and queue the next chunk
            batch = list(islice(iterator, chunk))
            if not batch:
                return None
            earlier: list[tuple[int, str]] = []
            if run is not None:
                batch, earlier = _stored_before(office, authority_id, run, batch)
                summary.resumed += len(earlier)
            return _Signing(office, authority_id, credential_type, batch, earlier).start()

        try:
            # chunks queued on the signing pool, oldest first: a chunk is awaited once
            # ``SIGNING_AHEAD`` more are queued behind it, so the pool has work while this
            # thread reads, checks, waits for a slow commit and hands over
            signing: deque[_Signing] = deque()
            while True:
                try:
                    queued = queue_next()
                except Exception:  # the chunks before are stored first, as the contract says
                    while signing:
                        hand_over(signing.popleft())
                    raise
                if queued is None:
                    break
                signing.append(queued)
                if len(signing) > SIGNING_AHEAD:
                    hand_over(signing.popleft())
            while signing:
                hand_over(signing.popleft())
            if storing is not None:
                last, storing = storing, None
                finish(last)
        finally:
            # stopped by an error while a chunk was being stored: once its commit is done, the
            # out file says so (then the error goes on)
            if storing is not None and storing.exception() is None and not storing.result().retry:
                account(storing.result())
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class _Chunk:
    """One chunk's outcome: rows to issue, lines an earlier run stored, lines issued now,
    lines rejected; ``retry`` when the database refused it (a holder stored meanwhile)."""

    rows: list[Row]
    earlier: list[tuple[int, str]]
    issued: list[tuple[int, str]]
    rejected: dict[int, tuple[FieldError, ...]]
    retry: bool = False


class _Signing:
    """One chunk's valid rows being checked and signed (``Office.start_signing``): a row the
    office refuses is dropped with its errors and the rest are signed again, until what is
    left signs (``result``: what was signed, its rows, {line: errors})."""

    def __init__(
        self,
        office: Office,
        authority_id: int,
        credential_type: str,
        batch: Sequence[Row],
        earlier: list[tuple[int, str]],
    ) -> None:
        self.office, self.authority_id, self.credential_type = office, authority_id, credential_type
        self.earlier = earlier
        self.rejected = {row.line: row.errors for row in batch if row.subject is None}
        self.candidates = [row for row in batch if row.subject is not None]
        self.pending: Signing | None = None

    def start(self) -> _Signing:
        """Check the holders and queue the signing; refused rows are dropped here."""
        self.pending = None
        while self.candidates:
            requests = [
                IssueRequest(self.credential_type, row.subject or {}) for row in self.candidates
            ]
            try:
                self.pending = self.office.start_signing(self.authority_id, requests)
                return self
            except InvalidCredential as e:
                self._drop(e)
        return self

    def result(self) -> tuple[SignedChunk | None, list[Row], dict[int, tuple[FieldError, ...]]]:
        """Wait for the signing; rows that could not be built are dropped and the rest signed
        again."""
        while self.pending is not None:
            try:
                return self.pending.result(), self.candidates, self.rejected
            except InvalidCredential as e:
                self._drop(e)
                self.start()
        return None, [], self.rejected

    def _drop(self, refused: InvalidCredential) -> None:
        by_index = _errors_by_item(refused.errors, len(self.candidates))
        for index, errors in by_index.items():
            self.rejected[self.candidates[index].line] = tuple(errors)
        self.candidates = [row for i, row in enumerate(self.candidates) if i not in by_index]


def _store_chunk(
    office: Office,
    signed: SignedChunk | None,
    candidates: list[Row],
    earlier: list[tuple[int, str]],
    rejected: dict[int, tuple[FieldError, ...]],
    actor: str,
    run: str | None,
) -> _Chunk:
    """Store a signed chunk (in the storing thread)."""
    if signed is None:
        return _Chunk(candidates, earlier, [], rejected)
    keys = None if run is None else [_line_key(run, row.line) for row in candidates]
    try:
        ids = office.store_chunk(
            signed,
            actor=actor,
            idempotency_keys=keys,
            own_batch=len(candidates) >= OWN_BATCH_MIN,
        )
    except IntegrityError:
        return _Chunk(candidates, earlier, [], rejected, retry=True)
    issued = [(row.line, cid) for row, cid in zip(candidates, ids, strict=True)]
    return _Chunk(candidates, earlier, issued, rejected)


def _line_key(run: str, line: int) -> str:
    return f"bulk:{run}:{line}"


def _stored_before(
    office: Office, authority_id: int, run: str, batch: list[Row]
) -> tuple[list[Row], list[tuple[int, str]]]:
    """The rows of ``batch`` no earlier run of ``run`` stored, and (line, id) of those it did."""
    found = office.issued_by_keys(authority_id, [_line_key(run, row.line) for row in batch])
    if not found:
        return batch, []
    earlier = [
        (row.line, found[_line_key(run, row.line)])
        for row in batch
        if _line_key(run, row.line) in found
    ]
    rest = [row for row in batch if _line_key(run, row.line) not in found]
    return rest, earlier


def _issue_chunk(
    office: Office,
    authority_id: int,
    credential_type: str,
    batch: Sequence[Row],
    actor: str,
    run: str | None = None,
) -> tuple[list[tuple[int, str]], dict[int, tuple[FieldError, ...]]]:
    """Issue one chunk; returns ([(line, credential id)], {line: errors})."""
    rejected = {row.line: row.errors for row in batch if row.subject is None}
    candidates = [row for row in batch if row.subject is not None]
    while candidates:
        requests = [IssueRequest(credential_type, row.subject or {}) for row in candidates]
        try:
            keys = None if run is None else [_line_key(run, row.line) for row in candidates]
            bundles = office.issue_many(
                authority_id,
                requests,
                actor=actor,
                idempotency_keys=keys,
                own_batch=len(candidates) >= OWN_BATCH_MIN,
            )
        except InvalidCredential as e:
            by_index = _errors_by_item(e.errors, len(candidates))
            for index, errors in by_index.items():
                rejected[candidates[index].line] = tuple(errors)
            candidates = [row for i, row in enumerate(candidates) if i not in by_index]
            continue
        issued = [
            (row.line, str(b["credential"]["id"]))
            for row, b in zip(candidates, bundles, strict=True)
        ]
        return issued, rejected
    return [], rejected


def _errors_by_item(errors: Sequence[FieldError], count: int) -> dict[int, list[FieldError]]:
    """Group ``items[i].path`` errors by i, paths made relative to the subject. An error that
    names no item is not a row's fault: it is raised again."""
    grouped: dict[int, list[FieldError]] = {}
    for error in errors:
        match = _ITEM_PATH.match(error.path)
        if match is None or int(match[1]) >= count:
            raise InvalidCredential([error])
        path = match[2].removeprefix("subject.")
        grouped.setdefault(int(match[1]), []).append(
            FieldError(path, error.code, error.zh, error.en)
        )
    if not grouped:  # an InvalidCredential without errors would loop forever
        raise InvalidCredential(errors)
    return grouped
