"""The machine's brokers for the bus tests, and a peer that plays the retailer's side.

NATS (JetStream on) at `TRIAGE_TEST_NATS_URL` (default nats://127.0.0.1:4222) and RabbitMQ
at `TRIAGE_TEST_AMQP_URL` (default amqp://guest:guest@127.0.0.1:5672/). An unreachable
broker skips with the reason, except under CI (`CI=true`), where it fails the run. Every
test takes its own names (`unique_config`): a prefix, a stream and durable names of its
own, removed afterwards, so parallel runs never meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aio_pika
import nats
import orjson
import pytest

from api.bus.config import SOURCES, BusConfig
from api.bus.consumer import Consumer
from api.bus.metrics import BusMetrics
from api.bus.run import open_broker
from triage.decision.model_loading import load_services
from triage.settings import Settings
from triage.stores import open_store
from triage.stores.online import open_online

NATS_URL = os.environ.get("TRIAGE_TEST_NATS_URL", "nats://127.0.0.1:4222")
AMQP_URL = os.environ.get("TRIAGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
URLS = {"nats": NATS_URL, "amqp": AMQP_URL}


async def _probe(scheme: str) -> None:
    if scheme == "nats":
        nc = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()
    else:
        conn = await aio_pika.connect(AMQP_URL, timeout=2)
        await conn.close()


def require_broker(scheme: str) -> str:
    """The broker's URL; skip (fail under CI=true) when it does not answer."""
    try:
        asyncio.run(asyncio.wait_for(_probe(scheme), 5))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        message = f"{scheme} broker not reachable at {URLS[scheme]} ({type(exc).__name__}: {exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(f"{message}; start it or set TRIAGE_TEST_{scheme.upper()}_URL")
    return URLS[scheme]


def unique_config(**overrides: Any) -> BusConfig:
    tag = uuid.uuid4().hex[:10]
    base: dict[str, Any] = dict(prefix=f"t{tag}", stream=f"T{tag}", durable=f"d{tag}", metrics_port=0,
                                fetch_timeout_seconds=0.2, ack_wait_seconds=1.0, retry_delay_seconds=0.1,
                                lag_poll_seconds=0.2)
    base.update(overrides)
    return BusConfig(**base)


class Peer:
    """The retailer's side of the bus: publishes events, collects decisions and dead letters."""

    def __init__(self, scheme: str, config: BusConfig, *, create_stream: bool = True) -> None:
        self.scheme = scheme
        self.config = config
        self.create_stream = create_stream  # NATS: False when the consumer is to create it
        self.got: dict[str, list[dict[str, Any]]] = {"decisions": [], "deadletter": []}
        self._nc: Any = None
        self._conn: Any = None
        self._ch: Any = None

    async def __aenter__(self) -> Peer:
        c = self.config
        if self.scheme == "nats":
            self._nc = await nats.connect(NATS_URL)
            js = self._nc.jetstream()
            if self.create_stream:
                await js.add_stream(name=c.stream, subjects=c.stream_subjects)
            for what in ("decisions", "deadletter"):
                await self._nc.subscribe(c.name(what), cb=self._collector(what))
        else:
            self._conn = await aio_pika.connect(AMQP_URL)
            self._ch = await self._conn.channel()
            for what in (*SOURCES, "decisions", "deadletter"):
                q = await self._ch.declare_queue(c.name(what), durable=True)
                if what in ("decisions", "deadletter"):
                    await q.consume(self._collector(what), no_ack=True)
        return self

    def _collector(self, what: str):
        async def collect(msg: Any) -> None:
            body = msg.data if self.scheme == "nats" else msg.body
            self.got[what].append(orjson.loads(body))

        return collect

    async def publish(self, source: str, body: bytes | Mapping[str, Any], *, message_id: str | None = None,
                      correlation_id: str | None = None, nats_msg_id: bool = False) -> None:
        """`message_id` as the `Event-Id` header (on NATS with `nats_msg_id`: as `Nats-Msg-Id`,
        which JetStream also de-duplicates on)."""
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        subject = self.config.name(source)
        if self.scheme == "nats":
            headers = {}
            if message_id:
                headers["Nats-Msg-Id" if nats_msg_id else "Event-Id"] = message_id
            if correlation_id:
                headers["Correlation-Id"] = correlation_id
            await self._nc.jetstream().publish(subject, data, headers=headers or None)
        else:
            await self._ch.default_exchange.publish(
                aio_pika.Message(data, headers={"Event-Id": message_id} if message_id else None,
                                 correlation_id=correlation_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=subject)

    async def wait_for(self, what: str, n: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The first `n` messages on "decisions" or "deadletter" (fails after `timeout`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.got[what]) < n:
            if loop.time() > deadline:
                raise AssertionError(f"{len(self.got[what])} of {n} messages on {what} after {timeout} s: "
                                     f"{self.got}")
            await asyncio.sleep(0.02)
        return self.got[what]

    async def __aexit__(self, *exc: object) -> None:
        c = self.config
        if self.scheme == "nats":
            try:
                await self._nc.jetstream().delete_stream(c.stream)
            finally:
                await self._nc.close()
        else:
            try:
                for what in (*SOURCES, "decisions", "deadletter"):
                    await self._ch.queue_delete(c.name(what))
            finally:
                await self._conn.close()


@contextlib.asynccontextmanager
async def consumer(settings: Settings, url: str, config: BusConfig) -> AsyncIterator[Consumer]:
    """A consumer in this event loop over the stores of `settings`, stopped (drained) on exit."""
    store = open_store(settings.audit_url)
    online = open_online(settings)
    broker = open_broker(url, config)
    try:
        await broker.start()
        c = Consumer(broker, load_services(settings, online=online), store, config, BusMetrics())
        stop = asyncio.Event()
        task = asyncio.create_task(c.run(stop))
        try:
            yield c
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    finally:
        await broker.close()
        online.close()
        store.close()


def audited(settings: Settings) -> list:
    store = open_store(settings.audit_url)
    try:
        return list(store.iter_decisions())
    finally:
        store.close()


def total(counter, **labels: str) -> float:
    return sum(s.value for m in counter.collect() for s in m.samples
               if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items()))
