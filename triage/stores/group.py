"""Group commit: concurrent requests' audit records share one durable transaction.

A decision may only be answered once its record is durable, and each durable commit
costs an fsync (milliseconds). Committing every request on its own caps a worker at a
few hundred decisions a second and makes requests queue behind each other's fsyncs.
`GroupCommitter` keeps the guarantee and shares the cost: callers hand their records
to one writer thread and block; the writer takes everything that queued while the
previous commit was in flight, writes it in ONE transaction (one fsync), and only then
releases each caller with its own results — or with the error, so a failed commit
still means "no decision without a record" for every request in the group.

Records in one group keep their arrival order, so two requests with the same
idempotency key still resolve as first-come wins (the store's ON CONFLICT does it).

Callers on an event loop use `submit_async`: no thread blocks while the commit is in
flight; the writer resolves the caller's `asyncio.Future` with `loop.call_soon_threadsafe`.
A caller may pass `after(results)`, run on the writer thread right after the commit and
before the caller is released (the service appends the decided events to the shared
online log there: after the audit commit, before the answer, off the event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GroupCommitter"]

log = logging.getLogger("triage.audit")


@dataclass
class _Pending:
    records: Sequence[Any]
    done: threading.Event | None = field(default_factory=threading.Event)
    result: list[Any] | None = None
    error: BaseException | None = None
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future | None = None
    after: Callable[[list[Any]], None] | None = None

    def release(self) -> None:
        if self.future is not None and self.loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                self.loop.call_soon_threadsafe(_resolve, self.future, self.result, self.error)
        if self.done is not None:
            self.done.set()


def _resolve(future: asyncio.Future, result: list[Any] | None, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled (client went away); the record is durable anyway
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class GroupCommitter:
    """Runs `write(all_records) -> results` (one transaction) for groups of callers."""

    def __init__(self, write: Callable[[Sequence[Any]], list[Any]], *, max_group: int = 2000,
                 name: str = "audit-group-commit") -> None:
        self._write = write
        self._max_group = max_group
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.commits = 0  # how many transactions; `records / commits` is the mean group size
        self.records = 0

    def _enqueue(self, p: _Pending) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("group committer is closed")
            self._queue.append(p)
            self._cond.notify()

    def submit(self, records: Sequence[Any], *, after: Callable[[list[Any]], None] | None = None) -> list[Any]:
        """Write `records` durably (with whoever else is waiting) and return their results."""
        if not records:
            return []
        p = _Pending(records, after=after)
        self._enqueue(p)
        assert p.done is not None
        p.done.wait()
        if p.error is not None:
            raise p.error
        assert p.result is not None
        return p.result

    def submit_async(self, records: Sequence[Any], *,
                     after: Callable[[list[Any]], None] | None = None) -> asyncio.Future:
        """`submit` for a caller on an event loop: a future resolved once the records are durable
        (the event loop thread never blocks on the commit)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not records:
            future.set_result([])
            return future
        self._enqueue(_Pending(records, done=None, loop=loop, future=future, after=after))
        return future

    def _take(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            group: list[_Pending] = []
            n = 0
            while self._queue and (not group or n + len(self._queue[0].records) <= self._max_group):
                p = self._queue.pop(0)
                group.append(p)
                n += len(p.records)
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            flat = [r for p in group for r in p.records]
            try:
                results = self._write(flat)
            except BaseException as exc:  # every caller of the group learns it: no record, no decision
                for p in group:
                    p.error = exc
                    p.release()
                continue
            self.commits += 1
            self.records += len(flat)
            i = 0
            for p in group:
                p.result = results[i:i + len(p.records)]
                i += len(p.records)
                if p.after is not None:
                    try:
                        p.after(p.result)
                    except Exception:  # the records are durable: the caller still gets them
                        log.exception("post-commit step failed")
                p.release()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
