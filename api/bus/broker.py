"""What the consumer needs from a broker, whatever the broker: the two adapters' common surface.

An adapter connects, declares what is missing (a NATS stream and durable pull consumers;
RabbitMQ durable queues), hands out batches of `Delivery` (at most `max_n`, waiting at
most `timeout` for the first), publishes durably (returns once the broker has the
message: a JetStream PubAck, an AMQP publisher confirm) and reports the lag. Nothing of
nats-py or aio-pika is seen past an adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from api.bus.envelope import Inbound
from triage.errors import ConfigError

__all__ = ["Delivery", "Broker", "scheme_of", "safe_url"]


class Delivery(Protocol):
    inbound: Inbound

    async def ack(self) -> None:
        """Done with: the broker forgets it."""

    async def retry(self, delay: float) -> None:
        """Not done: the broker delivers it again (after `delay` seconds where it can)."""


class Broker(Protocol):
    scheme: str  # "nats" or "amqp"

    async def start(self) -> None: ...

    async def fetch(self, source: str, max_n: int, timeout: float) -> Sequence[Delivery]:
        """Up to `max_n` messages of one input ("orders", "returns", "outcomes"); [] after `timeout`."""

    async def publish(self, what: str, body: bytes, *, message_id: str | None, correlation_id: str | None,
                      type_: str) -> None:
        """`body` on "decisions" or "deadletter", durably (awaits the broker's confirmation)."""

    async def lag(self) -> dict[str, int]:
        """Messages waiting on the broker per input, not yet handed to this consumer."""

    async def stop_consuming(self) -> None:
        """No new deliveries from now on (what was handed out may still be acked)."""

    def buffered(self, source: str) -> int:
        """Delivered to this process and not fetched yet (drained after `stop_consuming`;
        0 for a broker that hands out only what was fetched)."""

    async def close(self) -> None: ...


def scheme_of(url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("nats", "tls"):
        return "nats"
    if scheme in ("amqp", "amqps"):
        return "amqp"
    raise ConfigError(f"--broker must be a nats://… or amqp://… URL; got {url!r}")


def safe_url(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
