"""Single decisions that arrive together are decided together: the coalescer.

Under load a worker's event loop holds many single-event requests at once, each parsed,
validated and waiting for its turn. Deciding them one by one pays, per event, what is paid
per *call*: a LightGBM predict per model head, a reason-code attribution call, a look at the
online state. Deciding them as one group pays those once, and one audit group commit
records them all. The group is what the loop has at hand — no timer, so nobody waits for a
group to fill: the first request schedules a drain with `loop.call_soon`, and every request
that reaches the coalescer before the drain runs (in practice: those the loop parsed in the
same turn) joins its group. At low load a group is one event, decided exactly as before.

The semantics are those of concurrent single requests (`audit_flow.decide_requests_async`):
the members of a group do not see each other's events — none is audited yet, just as two
requests in flight on one worker never saw each other — each keeps its own idempotency key,
received time and API key, and each gets its own result or error. A failing audit store
fails every request of the group alike (503), and then nothing of it was decided.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from triage.decision.audit_flow import ItemResult, _Request, decide_requests_async
from triage.events import EventKind

if TYPE_CHECKING:
    from triage.decision.service import DecisionService
    from triage.stores import Store

__all__ = ["Coalescer"]

log = logging.getLogger("triage.service")


@dataclass
class _Group:
    services: DecisionService
    store: Store
    kind: EventKind
    items: list[tuple[Mapping[str, Any], _Request, asyncio.Future[ItemResult]]] = field(default_factory=list)


class Coalescer:
    """Groups the single-event decisions one event loop has at hand (see the module doc).

    `max_group`: the most events decided in one call; a larger backlog is split, so one
    group's CPU time (~0.1–0.3 ms an event) never holds the loop for long.
    """

    def __init__(self, max_group: int = 32, *, on_group: Callable[[int], object] | None = None) -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be at least 1. Got {max_group} instead.")
        self.max_group = max_group
        self.on_group = on_group  # told each group's size (the API's /metrics histogram)
        self._open: dict[tuple[int, int, str], _Group] = {}
        self._scheduled = False
        self._running: set[asyncio.Future[None]] = set()
        self.groups = 0  # groups decided, and events in them (for the benchmark and /metrics)
        self.events = 0

    async def decide(
        self,
        services: DecisionService,
        store: Store,
        kind: EventKind,
        event: Mapping[str, Any],
        *,
        received_at: datetime,
        idempotency_header: str | None,
        api_key: str | None,
    ) -> ItemResult:
        """One validated event's result, decided with whatever else is waiting."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ItemResult] = loop.create_future()
        # a reload swaps `services`: requests that started with different ones never share a group
        slot = (id(services), id(store), kind)
        group = self._open.get(slot)
        if group is None:
            group = self._open[slot] = _Group(services, store, kind)
        group.items.append((event, _Request(received_at, idempotency_header, api_key), future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._drain)
        return await future

    def _drain(self) -> None:
        self._scheduled = False
        groups, self._open = list(self._open.values()), {}
        for group in groups:
            for lo in range(0, len(group.items), self.max_group):
                part = group.items[lo:lo + self.max_group]
                task = asyncio.ensure_future(self._run(group, part))
                self._running.add(task)  # the loop keeps only a weak reference to a task
                task.add_done_callback(self._running.discard)

    async def _run(self, group: _Group,
                   part: list[tuple[Mapping[str, Any], _Request, asyncio.Future[ItemResult]]]) -> None:
        live = [(e, r, f) for e, r, f in part if not f.done()]  # a disconnected client's is cancelled
        if not live:
            return
        self.groups += 1
        self.events += len(live)
        if self.on_group is not None:
            self.on_group(len(live))
        try:
            results = await decide_requests_async(group.services, group.store, group.kind,
                                                  [(e, r) for e, r, _ in live])
        except asyncio.CancelledError:
            for _, _, f in live:
                f.cancel()
            raise
        except Exception as exc:  # every request of the group gets the same failure
            for _, _, f in live:
                if not f.done():
                    f.set_exception(exc)
            return
        for (_, _, f), result in zip(live, results, strict=True):
            if not f.done():
                f.set_result(result)
