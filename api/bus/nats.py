"""NATS JetStream adapter (nats-py): one stream, one durable pull consumer per input.

The stream (`BusConfig.stream`, default `TRIAGE`) is created over `<prefix>.>` when
absent, so decisions and dead letters are kept by it too. Each input has a durable pull
consumer `<durable>-<input>` with explicit ack, `max_ack_pending = max_in_flight` (the
server hands out no more than that unacknowledged) and `ack_wait` (a message not acked by
then — its consumer died — is delivered again). A fetch returns what the server has at
once, up to the batch size, or waits for the first message up to the fetch timeout.
Publishing awaits the stream's PubAck; a decision carries `Nats-Msg-Id: decision:<event
id>`, so the stream keeps one copy of a decision re-published after a redelivery (within
the stream's duplicate window).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import NotFoundError

from api.bus.broker import safe_url
from api.bus.config import SOURCES, BusConfig
from api.bus.envelope import Inbound
from triage.errors import ConfigError, UnavailableError

__all__ = ["NatsBroker"]

log = logging.getLogger("triage.bus")


async def _quiet(exc: Exception) -> None:  # the probe's failure is raised, not logged as well
    return None


class _Delivery:
    __slots__ = ("inbound", "_msg")

    def __init__(self, inbound: Inbound, msg: Msg) -> None:
        self.inbound = inbound
        self._msg = msg

    async def ack(self) -> None:
        await self._msg.ack()

    async def retry(self, delay: float) -> None:
        await self._msg.nak(delay=delay or None)


class NatsBroker:
    scheme = "nats"

    def __init__(self, url: str, config: BusConfig) -> None:
        self.url = url
        self.config = config
        self._nc: nats.NATS | None = None
        self._js: Any = None
        self._subs: dict[str, object] = {}

    async def start(self) -> None:
        c = self.config
        try:  # once without reconnecting: nats-py set to reconnect for ever also retries the first connect for ever
            probe = await nats.connect(self.url, connect_timeout=3, allow_reconnect=False, max_reconnect_attempts=1,
                                       reconnect_time_wait=0.1, name="triage-consume", error_cb=_quiet)
            await probe.close()
            self._nc = await nats.connect(self.url, connect_timeout=3, max_reconnect_attempts=-1,
                                          allow_reconnect=True, name="triage-consume")
        except Exception as exc:  # noqa: BLE001 - any failure to connect is one line for the operator
            raise UnavailableError(f"NATS at {safe_url(self.url)} cannot be reached: {type(exc).__name__}: {exc}") from exc
        js = self._nc.jetstream()
        self._js = js
        try:
            await js.stream_info(c.stream)
        except NotFoundError:
            await js.add_stream(name=c.stream, subjects=c.stream_subjects, storage=api.StorageType.FILE,
                                max_age=c.stream_max_age_hours * 3600)
            log.info("created JetStream stream", extra={"stream": c.stream, "subjects": c.stream_subjects})
        except Exception as exc:  # noqa: BLE001 - JetStream off, or no permission
            raise UnavailableError(f"JetStream at {safe_url(self.url)} is not available: {type(exc).__name__}: {exc}") from exc
        for what in (*SOURCES, "decisions", "deadletter"):
            subject = c.name(what)
            try:
                owner = await js.find_stream_name_by_subject(subject)
            except NotFoundError:
                owner = None
            if owner != c.stream:
                raise ConfigError(
                    f"subject {subject!r} is not in stream {c.stream!r} (it is in {owner or 'no stream'}); "
                    f"add it to the stream or choose another --prefix"
                )
        for source in SOURCES:
            config = api.ConsumerConfig(
                durable_name=f"{c.durable}-{source}",
                ack_policy=api.AckPolicy.EXPLICIT,
                deliver_policy=api.DeliverPolicy.ALL,
                ack_wait=c.ack_wait_seconds,
                max_ack_pending=c.max_in_flight,
                filter_subject=c.name(source),
            )
            self._subs[source] = await js.pull_subscribe(
                c.name(source), durable=f"{c.durable}-{source}", stream=c.stream, config=config,
            )

    async def fetch(self, source: str, max_n: int, timeout: float) -> list[_Delivery]:
        sub = self._subs.get(source)
        if sub is None:
            await asyncio.sleep(timeout)
            return []
        try:
            msgs = await sub.fetch(batch=max_n, timeout=timeout)  # type: ignore[attr-defined]
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except Exception as exc:  # noqa: BLE001 - nats-py reconnects by itself; only a closed connection is final
            if self._nc is None or self._nc.is_closed:
                raise UnavailableError(f"the connection to NATS at {safe_url(self.url)} is closed: {exc}") from exc
            log.warning("fetch failed; retrying", extra={"source": source, "reason": f"{type(exc).__name__}: {exc}"})
            await asyncio.sleep(timeout)
            return []
        return [self._delivery(source, m) for m in msgs]

    def _delivery(self, source: str, m: Msg) -> _Delivery:
        headers = m.headers or {}
        try:
            redelivered = m.metadata.num_delivered > 1
        except Exception:  # noqa: BLE001 - not a JetStream message
            redelivered = False
        return _Delivery(Inbound(source=source, subject=m.subject, body=m.data,
                                 message_id=headers.get("Event-Id") or headers.get("Nats-Msg-Id") or None,
                                 correlation_id=headers.get("Correlation-Id") or None,
                                 redelivered=redelivered), m)

    async def publish(self, what: str, body: bytes, *, message_id: str | None, correlation_id: str | None,
                      type_: str) -> None:
        assert self._js is not None
        headers = {"Content-Type": "application/json", "Triage-Type": type_}
        if message_id:
            headers["Nats-Msg-Id"] = f"{type_}:{message_id}"
        if correlation_id:
            headers["Correlation-Id"] = correlation_id
        try:
            await self._js.publish(self.config.name(what), body, stream=self.config.stream, headers=headers)
        except Exception as exc:  # noqa: BLE001 - the caller does not ack: the input comes back
            raise UnavailableError(f"NATS did not confirm a message on {self.config.name(what)}: {exc}") from exc

    async def lag(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for source, sub in self._subs.items():
            info = await sub.consumer_info()  # type: ignore[attr-defined]
            out[source] = int(info.num_pending or 0)
        return out

    async def stop_consuming(self) -> None:
        # a pull consumer receives nothing it did not ask for: stopping is not fetching again
        return None

    def buffered(self, source: str) -> int:
        """Nothing is delivered to a pull consumer that it did not fetch."""
        return 0

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.flush(timeout=5)  # the acks still buffered reach the server
            finally:
                await self._nc.close()
