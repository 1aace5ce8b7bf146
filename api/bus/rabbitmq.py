"""RabbitMQ adapter (aio-pika): durable queues, manual ack, publisher confirms.

The five names are durable queues on the default exchange (declared if absent; a queue
declared elsewhere with other arguments is an error named at start). The inputs are
consumed on one channel with `prefetch_count = max_in_flight` (the broker pushes no more
than that unacknowledged to each input's consumer: back-pressure); deliveries wait in a
local queue per input, from which `fetch` takes up to the batch size at once. Publishing
is on a second channel with publisher confirms, persistent, so `publish` returns once the
broker has the message. A consumer that dies leaves its unacknowledged messages to the
broker, which delivers them again (`redelivered`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from api.bus.broker import safe_url
from api.bus.config import SOURCES, BusConfig
from api.bus.envelope import Inbound
from triage.errors import ConfigError, UnavailableError

__all__ = ["RabbitBroker"]

log = logging.getLogger("triage.bus")


class _Delivery:
    __slots__ = ("inbound", "_msg")

    def __init__(self, inbound: Inbound, msg: AbstractIncomingMessage) -> None:
        self.inbound = inbound
        self._msg = msg

    async def ack(self) -> None:
        await self._msg.ack()

    async def retry(self, delay: float) -> None:  # RabbitMQ has no delayed requeue: the consumer backs off
        await self._msg.nack(requeue=True)


class RabbitBroker:
    scheme = "amqp"

    def __init__(self, url: str, config: BusConfig) -> None:
        self.url = url
        self.config = config
        self._conn: Any = None
        self._consume_ch: Any = None
        self._publish_ch: Any = None
        self._queues: dict[str, Any] = {}
        self._tags: dict[str, str] = {}
        self._local: dict[str, asyncio.Queue[AbstractIncomingMessage]] = {s: asyncio.Queue() for s in SOURCES}

    async def start(self) -> None:
        c = self.config
        try:
            self._conn = await aio_pika.connect(self.url, timeout=5, client_properties={"connection_name": "triage-consume"})
        except Exception as exc:  # noqa: BLE001 - one line for the operator
            raise UnavailableError(f"RabbitMQ at {safe_url(self.url)} cannot be reached: {type(exc).__name__}: {exc}") from exc
        self._consume_ch = await self._conn.channel()
        self._publish_ch = await self._conn.channel(publisher_confirms=True)
        await self._consume_ch.set_qos(prefetch_count=c.max_in_flight)
        for what in (*SOURCES, "decisions", "deadletter"):
            try:
                self._queues[what] = await self._consume_ch.declare_queue(c.name(what), durable=True)
            except Exception as exc:  # noqa: BLE001 - e.g. PRECONDITION_FAILED: declared with other arguments
                raise ConfigError(f"queue {c.name(what)!r} cannot be declared durable: {exc}") from exc
        for source in SOURCES:
            local = self._local[source]
            self._tags[source] = await self._queues[source].consume(local.put, no_ack=False)

    async def fetch(self, source: str, max_n: int, timeout: float) -> list[_Delivery]:
        local = self._local[source]
        if local.empty() and (self._conn is None or self._conn.is_closed):
            raise UnavailableError(f"the connection to RabbitMQ at {safe_url(self.url)} is closed")
        try:
            first = await asyncio.wait_for(local.get(), timeout)
        except TimeoutError:
            return []
        got = [first]
        while len(got) < max_n and not local.empty():
            got.append(local.get_nowait())
        return [self._delivery(source, m) for m in got]

    def _delivery(self, source: str, m: AbstractIncomingMessage) -> _Delivery:
        # the event id is the `Event-Id` header, not the `message_id` property: AMQP clients
        # (aiormq, under aio-pika) fill that with a random id on every publish, which would
        # make a producer's retry a new event
        event_id = (m.headers or {}).get("Event-Id")
        if isinstance(event_id, bytes):
            event_id = event_id.decode("utf-8", "replace")
        return _Delivery(Inbound(source=source, subject=m.routing_key or self.config.name(source), body=m.body,
                                 message_id=str(event_id) if event_id else None,
                                 correlation_id=m.correlation_id or None, redelivered=bool(m.redelivered)), m)

    async def publish(self, what: str, body: bytes, *, message_id: str | None, correlation_id: str | None,
                      type_: str) -> None:
        message = aio_pika.Message(
            body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=f"{type_}:{message_id}" if message_id else None, correlation_id=correlation_id, type=type_,
        )
        try:
            await self._publish_ch.default_exchange.publish(message, routing_key=self.config.name(what))
        except Exception as exc:  # noqa: BLE001 - the caller does not ack: the input comes back
            raise UnavailableError(f"RabbitMQ did not confirm a message on {self.config.name(what)}: {exc}") from exc

    async def lag(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for source in SOURCES:
            q = await self._publish_ch.declare_queue(self.config.name(source), passive=True)
            out[source] = int(q.declaration_result.message_count or 0)
        return out

    async def stop_consuming(self) -> None:
        for source, tag in list(self._tags.items()):
            try:
                await self._queues[source].cancel(tag)
            except Exception:  # noqa: BLE001 - the channel may be gone already
                log.warning("could not cancel the consumer", extra={"queue": self.config.name(source)})
        self._tags.clear()

    def buffered(self, source: str) -> int:
        """Delivered to this process, not yet fetched (drained after `stop_consuming`)."""
        return self._local[source].qsize()

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed:
            await self._conn.close()  # what was delivered and not acked goes back to its queue
