"""The consumer loop: messages in, decisions out, at least once and idempotent.

One loop per input (orders, returns, outcomes), each taking what the broker hands out at
once (up to `batch_max`) and, per batch:

1. decodes every message as the HTTP route decodes its body; what cannot be decoded (bad
   JSON, schema errors) goes to the dead letter with its problem+json, then is acked;
2. decides the rest through the API's write path, `triage.decision.audit_flow.decide_events_async`
   (a batch of orders or returns in one call: the batch decision path; the event id is
   each item's idempotency key), which audits every decision durably before returning;
3. publishes each decision (awaiting the broker's confirmation), and only then
4. acks.

A crash anywhere before 4 leaves the message to the broker, which delivers it again; the
audit then holds a decision under its key, so the redelivered event gets that stored
decision (published again, `replayed: true`), never a second one. A store or broker that
cannot take a write hands the messages back (retried after `retry_delay_seconds`).
In-flight messages are bounded per input by the broker (`max_in_flight`) and by the
batch: a loop asks for more only when its batch is done. `stop` (SIGTERM) ends each loop
after its batch; on RabbitMQ the deliveries already pushed to this process are decided
too before it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from api.bus.broker import Broker, Delivery
from api.bus.config import SOURCES, BusConfig
from api.bus.envelope import KIND_OF, Decoded, Rejected, deadletter_body, decision_body, decode
from api.bus.metrics import BusMetrics
from api.problems import error_problem, problem
from triage.decision.audit_flow import decide_events_async, record_outcome
from triage.decision.service import DecisionService
from triage.errors import TriageError, UnavailableError
from triage.records import iso
from triage.stores import Store

__all__ = ["Consumer", "FAULTS"]

log = logging.getLogger("triage.bus")

# Fault injection, for tests of at-least-once delivery: "stop-before-ack" makes the process
# stop itself (SIGSTOP) after it has published its first batch's decisions and before it
# acks them, so that a test (or an operator's drill) can kill it exactly there.
FAULTS = ("stop-before-ack",)
_OFFLOAD_AT = 8  # batches this large decide on a worker thread: the other inputs' loops go on


class Consumer:
    def __init__(self, broker: Broker, services: DecisionService, store: Store, config: BusConfig,
                 metrics: BusMetrics, *, fault: str | None = None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}; got {fault!r}")
        self.broker = broker
        self.services = services
        self.store = store
        self.config = config
        self.metrics = metrics
        self.fault = fault
        self.api_key = f"bus:{broker.scheme}"  # who asked, in the audit's api_key column
        self._consuming_stopped = asyncio.Event()

    # ------------------------------------------------------------------ loops
    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then finish what is in hand and return."""
        loops = [asyncio.create_task(self._loop(source, stop), name=f"consume-{source}") for source in SOURCES]
        lag = asyncio.create_task(self._lag_loop(stop), name="lag")
        waiter: asyncio.Task[Any] = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*loops, waiter], return_when=asyncio.FIRST_COMPLETED)
            failed = [t for t in loops if t in done and t.exception() is not None]
            if failed:
                stop.set()
            await self.broker.stop_consuming()
            self._consuming_stopped.set()
            await asyncio.gather(*loops, return_exceptions=True)
            for t in failed:
                raise t.exception()  # type: ignore[misc]
        finally:
            for t in [lag, waiter, *loops]:
                t.cancel()
            await asyncio.gather(lag, waiter, *loops, return_exceptions=True)

    async def _loop(self, source: str, stop: asyncio.Event) -> None:
        c = self.config
        while not stop.is_set():
            batch = await self.broker.fetch(source, c.batch_max, c.fetch_timeout_seconds)
            if batch:
                await self.handle(source, batch)
        await self._consuming_stopped.wait()
        while self.broker.buffered(source):  # pushed to us before the cancel
            batch = await self.broker.fetch(source, c.batch_max, 0.01)
            if batch:
                await self.handle(source, batch)

    async def _lag_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                for source, n in (await self.broker.lag()).items():
                    self.metrics.lag.labels(source).set(n)
            except Exception as exc:  # noqa: BLE001 - a gauge that could not be read keeps its value
                log.debug("lag not read", extra={"reason": str(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.lag_poll_seconds)

    # ------------------------------------------------------------------ one batch
    async def handle(self, source: str, batch: Sequence[Delivery]) -> None:
        """Decide (or record, or dead-letter) one batch of one input, then ack it."""
        started = time.perf_counter()
        received_at = datetime.now(UTC)
        n = len(batch)
        self.metrics.consumed.labels(source).inc(n)
        self.metrics.in_flight.inc(n)
        self.metrics.batch_size.observe(n)
        try:
            decoded = [decode(d.inbound) for d in batch]
            rejected = [(d, x) for d, x in zip(batch, decoded, strict=True) if isinstance(x, Rejected)]
            good = [(d, x) for d, x in zip(batch, decoded, strict=True) if isinstance(x, Decoded)]
            await self._dead_letter(rejected, received_at)
            if good:
                if source == "outcomes":
                    await self._outcomes(good, received_at, started)
                else:
                    await self._decide(source, good, received_at, started)
        finally:
            self.metrics.in_flight.dec(n)

    async def _decide(self, source: str, good: list[tuple[Delivery, Decoded]], received_at: datetime,
                      started: float) -> None:
        kind: Any = KIND_OF[source]
        try:
            results = await decide_events_async(
                self.services, self.store, kind, [x.event for _, x in good], received_at=received_at,
                idempotency_keys=[x.key for _, x in good], api_key=self.api_key, offload=len(good) >= _OFFLOAD_AT,
            )
        except UnavailableError as exc:
            await self._retry(source, [d for d, _ in good], exc)
            return
        except Exception:  # a defect in the core: never block the stream, never lose the message
            log.exception("deciding a batch failed; its messages go to the dead letter", extra={"source": source})
            await self._dead_letter([(d, _internal(d, x)) for d, x in good], received_at)
            return
        self.metrics.observe_decide(time.perf_counter() - started, len(good))
        publish: list[tuple[Delivery, Decoded, dict[str, Any], bool]] = []
        refused: list[tuple[Delivery, Rejected]] = []
        for (d, x), r in zip(good, results, strict=True):
            if r.error is not None:
                refused.append((d, _refusal(d, x, r.error)))
            else:
                assert r.decision is not None
                publish.append((d, x, r.decision, r.replayed))
        await self._dead_letter(refused, received_at)
        sent = await asyncio.gather(*(
            self.broker.publish("decisions", decision_body(kind, d.inbound.subject, x.event_id, x.correlation_id,
                                                           body, replayed),
                                message_id=x.event_id, correlation_id=x.correlation_id, type_="decision")
            for d, x, body, replayed in publish
        ), return_exceptions=True)
        if self.fault == "stop-before-ack" and publish:
            log.warning("fault injection: stopping before the ack")
            os.kill(os.getpid(), signal.SIGSTOP)
        back = []
        for (d, _x, _body, replayed), err in zip(publish, sent, strict=True):
            if isinstance(err, BaseException):
                back.append(d)
                continue
            await d.ack()
            counter = self.metrics.replayed if replayed else self.metrics.decided
            counter.labels(kind).inc()
        if back:
            await self._retry(source, back, next(e for e in sent if isinstance(e, BaseException)))

    async def _outcomes(self, good: list[tuple[Delivery, Decoded]], received_at: datetime, started: float) -> None:
        from starlette.concurrency import run_in_threadpool

        def record(event: dict[str, Any]) -> dict[str, Any]:
            return record_outcome(self.services, self.store, event, received_at=received_at, api_key=self.api_key)

        for i, (d, x) in enumerate(good):
            try:
                kept = await run_in_threadpool(record, x.event)
            except UnavailableError as exc:
                await self._retry("outcomes", [d for d, _ in good[i:]], exc)
                return
            except ValueError as exc:  # an outcome without the time it became known
                body = problem(422, "validation", f"{d.inbound.subject}: {exc}", instance=d.inbound.subject,
                               correlation_id=x.correlation_id)
                await self._dead_letter([(d, Rejected(body, x.event_id, x.correlation_id, "validation"))],
                                        received_at)
                continue
            await d.ack()
            self.metrics.outcomes.labels(str(kept.get("type"))).inc()
        self.metrics.observe_decide(time.perf_counter() - started, len(good))

    async def _dead_letter(self, items: Sequence[tuple[Delivery, Rejected]], received_at: datetime) -> None:
        """Each to the dead letter (confirmed), then acked; one the broker does not confirm comes back."""
        if not items:
            return
        when = iso(received_at)
        sent = await asyncio.gather(*(
            self.broker.publish("deadletter", deadletter_body(d.inbound, x, when), message_id=None,
                                correlation_id=x.correlation_id, type_="deadletter")
            for d, x in items
        ), return_exceptions=True)
        back = []
        for (d, x), err in zip(items, sent, strict=True):
            if isinstance(err, BaseException):
                back.append(d)
                continue
            log.info("dead-lettered", extra={"source": d.inbound.subject, "reason": x.reason,
                                             "detail": x.problem.get("detail")})
            await d.ack()
            self.metrics.dead_lettered.labels(x.reason).inc()
        if back:
            await self._retry(back[0].inbound.source, back, next(e for e in sent if isinstance(e, BaseException)))

    async def _retry(self, source: str, deliveries: Sequence[Delivery], exc: BaseException) -> None:
        reason = exc.message if isinstance(exc, TriageError) else f"{type(exc).__name__}: {exc}"
        log.warning("messages handed back to the broker", extra={"source": source, "count": len(deliveries),
                                                                 "reason": reason})
        delay = self.config.retry_delay_seconds
        for d in deliveries:
            with contextlib.suppress(Exception):  # the broker redelivers after ack_wait / on disconnect anyway
                await d.retry(delay)
        self.metrics.retried.labels(source).inc(len(deliveries))
        await asyncio.sleep(delay)  # back off: what refused this is probably still refusing


def _refusal(d: Delivery, x: Decoded, err: TriageError) -> Rejected:
    body = error_problem(err, instance=d.inbound.subject, correlation_id=x.correlation_id)
    body["detail"] = f"{d.inbound.subject}: {body['detail']}"
    reason = "conflict" if err.status == 409 else err.code
    return Rejected(body, x.event_id, x.correlation_id, reason)


def _internal(d: Delivery, x: Decoded) -> Rejected:
    body = problem(500, "internal", f"{d.inbound.subject}: the event could not be decided (an internal error; "
                   "the consumer's log has the details under this correlation id)",
                   instance=d.inbound.subject, correlation_id=x.correlation_id)
    return Rejected(body, x.event_id, x.correlation_id, "internal")
