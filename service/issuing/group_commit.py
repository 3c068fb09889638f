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
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

log = logging.getLogger("suixin.issuing")

T = TypeVar("T")
Done = Callable[[BaseException | None], None]

#: The most issues stored in one transaction.
MOST = 256


class GroupCommit(Generic[T]):
    """Stores items through ``store`` (all of a sequence in one transaction, or none of it,
    raising) on a thread of its own, grouping the items submitted while a transaction runs.
    ``start`` it; ``close`` stores what was submitted, then stops the thread."""

    def __init__(
        self, store: Callable[[Sequence[T]], None], *, most: int = MOST, name: str = "group"
    ) -> None:
        self._store = store
        self._most = most
        self._name = name
        self._waiting: list[tuple[T, Done]] = []
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
        with self._wake:
            if self._closed or self._thread is None:
                raise RuntimeError("the group commit is not running")
            self._waiting.append((item, done))
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
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if future.done():  # the awaiting request went away; its item was stored anyway
                return
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

        def done(error: BaseException | None) -> None:
            loop.call_soon_threadsafe(settle, error)

        self.submit(item, done)
        await future

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closed:
                    self._wake.wait()
                if not self._waiting:  # closed, and everything submitted is stored
                    return
                group = self._waiting[: self._most]
                del self._waiting[: self._most]
            for (_, done), outcome in zip(group, self._outcomes(group), strict=True):
                try:
                    done(outcome)
                except Exception:  # a caller's callback: its failure is not the others'
                    log.exception("answering a stored item failed")

    def _outcomes(self, group: Sequence[tuple[T, Done]]) -> list[BaseException | None]:
        """Store ``group`` in one transaction; if that fails, each item alone."""
        try:
            self._store([item for item, _ in group])
            return [None] * len(group)
        except Exception as e:
            if len(group) == 1:
                return [e]
        outcomes: list[BaseException | None] = []
        for item, _ in group:
            try:
                self._store([item])
                outcomes.append(None)
            except Exception as e:
                outcomes.append(e)
        return outcomes
