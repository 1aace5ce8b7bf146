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
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GroupCommitter"]


@dataclass
class _Pending:
    records: Sequence[Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Any] | None = None
    error: BaseException | None = None


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

    def submit(self, records: Sequence[Any]) -> list[Any]:
        """Write `records` durably (with whoever else is waiting) and return their results."""
        if not records:
            return []
        p = _Pending(records)
        with self._cond:
            if self._closed:
                raise RuntimeError("group committer is closed")
            self._queue.append(p)
            self._cond.notify()
        p.done.wait()
        if p.error is not None:
            raise p.error
        assert p.result is not None
        return p.result

    def _take(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            group, n = [], 0
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
                    p.done.set()
                continue
            self.commits += 1
            self.records += len(flat)
            i = 0
            for p in group:
                p.result = results[i:i + len(p.records)]
                i += len(p.records)
                p.done.set()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
