"""Group commit: the issues of concurrent requests stored in one transaction.

Each ``POST /v1/credentials`` used to store its credential and audit row in a transaction of
its own: a session, the SQLite writer's locks (or a PostgreSQL commit) and a commit per
request. Here one thread stores what the requests have prepared (``Office.prepare_issue``)
meanwhile, all in one transaction (``Office.store_issued``), and answers each request only
once that transaction has committed: nothing is reported stored before it is, and a crash
before the commit reports nothing (the requests get no answer and store nothing).

When a group's transaction fails (one request's holder is in force already, one idempotency
key was taken meanwhile), nothing of it is stored, and each of its issues is stored again
alone, in a transaction of its own: one request's refusal never fails or loses the others.
Each request gets its own outcome: None (stored) or the exception its own store raised.

``prepare_and_store_async`` hands the thread the preparing too (checks and signing, CPU
under the one GIL either way): the request's coroutine waits for one answer from one thread
instead of a thread of the pool preparing, then this one storing. Each hop between threads
costs the wake-ups of both and their turns at the GIL: 15 context switches and 0.22 ms of
system CPU per issue, measured (scripts/bench_issue.py, ``make run``'s topology). What a
preparation raises, or returns that is not to be stored (``storable``), is its request's
answer; the others' are stored without it. The answers of a group go to each event loop at
once (one wake-up of the loop per group, not one per request).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["GroupCommit"]

log = logging.getLogger("suixin.issuing")

T = TypeVar("T")
R = TypeVar("R")
Done = Callable[[BaseException | None], None]
# an item to store, or (on the storing thread) the preparation whose result may be one; who
# is told the outcome (error, what the preparation returned); and the event loop to tell it
# on (None: on the storing thread)
_Told = Callable[[BaseException | None, Any], None]
_Entry = tuple[Any, Callable[[], Any] | None, _Told, asyncio.AbstractEventLoop | None]

#: The most issues stored in one transaction.
MOST = 256


class GroupCommit(Generic[T]):
    """Stores items through ``store`` (all of a sequence in one transaction, or none of it,
    raising) on a thread of its own, grouping the items submitted while a transaction runs.
    ``start`` it; ``close`` stores what was submitted, then stops the thread."""

    def __init__(
        self,
        store: Callable[[Sequence[T]], None],
        *,
        most: int = MOST,
        name: str = "group",
        storable: Callable[[Any], bool] | None = None,
    ) -> None:
        self._store = store
        self._most = most
        self._name = name
        self._storable = storable or (lambda _: True)
        self._waiting: list[_Entry] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> GroupCommit[T]:
        """Start the storing thread (once)."""
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"suixin-{self._name}-commit", daemon=True
                )
                self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Store what was submitted, then stop the thread; later submissions are refused."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def submit(self, item: T, done: Done) -> None:
        """Queue ``item``; ``done`` is called on the storing thread with None once it is
        committed, or with the exception that kept it from being stored. Raises RuntimeError
        when closed or not started."""
        self._enqueue((item, None, lambda error, _: done(error), None))

    def _enqueue(self, entry: _Entry) -> None:
        with self._wake:
            if self._closed or self._thread is None:
                raise RuntimeError("the group commit is not running")
            self._waiting.append(entry)
            self._wake.notify()

    def store(self, item: T) -> None:
        """Store ``item`` with the others waiting, and return once it is committed; raises
        what its store raised (the calling thread waits)."""
        finished = threading.Event()
        outcome: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            outcome.append(error)
            finished.set()

        self.submit(item, done)
        finished.wait()
        if outcome[0] is not None:
            raise outcome[0]

    async def store_async(self, item: T) -> None:
        """``store`` for a coroutine: the event loop waits, no thread does."""
        await self._answered(item, None)

    async def prepare_and_store_async(
        self, prepare: Callable[[], R]
    ) -> tuple[R, BaseException | None]:
        """Run ``prepare`` on the storing thread; what it returns is stored with the group
        when ``storable`` says so. Returns (what ``prepare`` returned, None) once stored or
        when not to be stored, or (it, the exception its store raised); raises what
        ``prepare`` raised (then nothing is stored)."""
        answer: tuple[R, BaseException | None] = await self._answered(None, prepare)
        return answer

    async def _answered(self, item: Any, prepare: Callable[[], Any] | None) -> Any:
        """Queue an entry and wait, on this event loop, for what the storing thread tells it:
        the value, or the error raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(error: BaseException | None, value: Any) -> None:
            if future.done():  # the awaiting request went away; its item was stored anyway
                return
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)

        self._enqueue((item, prepare, settle, loop))
        return await future

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closed:
                    self._wake.wait()
                if not self._waiting:  # closed, and everything submitted is stored
                    return
                group = self._waiting[: self._most]
                del self._waiting[: self._most]
            # the answers to one event loop's requests, handed to it at once: one wake-up of
            # the loop per group, not one per request
            told: dict[asyncio.AbstractEventLoop | None, list[tuple[_Told, Any, Any]]] = {}
            stored: list[tuple[T, _Entry]] = []
            for entry in group:
                item, prepare, tell, loop = entry
                if prepare is not None:
                    try:
                        item = prepare()
                    except Exception as e:
                        told.setdefault(loop, []).append((tell, e, None))  # nothing to store
                        continue
                    if not self._storable(item):
                        told.setdefault(loop, []).append((tell, None, (item, None)))
                        continue
                stored.append((item, entry))
            self._tell(told)  # before the store: these wait for nothing
            told = {}
            outcomes = self._outcomes([item for item, _ in stored]) if stored else []
            for (item, (_, prepare, tell, loop)), outcome in zip(stored, outcomes, strict=True):
                prepared = prepare is not None
                answer = (tell, None, (item, outcome)) if prepared else (tell, outcome, None)
                told.setdefault(loop, []).append(answer)
            self._tell(told)

    @staticmethod
    def _tell(told: dict[asyncio.AbstractEventLoop | None, list[tuple[_Told, Any, Any]]]) -> None:
        for loop, answers in told.items():
            try:
                if loop is None:
                    _settle_all(answers)
                else:
                    loop.call_soon_threadsafe(_settle_all, answers)
            except Exception:  # a loop closed meanwhile: its requests are gone
                log.exception("answering stored items failed")

    def _outcomes(self, group: Sequence[T]) -> list[BaseException | None]:
        """Store ``group`` in one transaction; if that fails, each item alone."""
        try:
            self._store(group)
            return [None] * len(group)
        except Exception as e:
            if len(group) == 1:
                return [e]
        outcomes: list[BaseException | None] = []
        for item in group:
            try:
                self._store([item])
                outcomes.append(None)
            except Exception as e:
                outcomes.append(e)
        return outcomes


def _settle_all(answers: Sequence[tuple[_Told, Any, Any]]) -> None:
    for tell, error, value in answers:
        try:
            tell(error, value)
        except Exception:  # a caller's callback: its failure is not the others'
            log.exception("answering a stored item failed")
