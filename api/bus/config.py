"""What the bus consumer reads and writes, and how much it holds at once.

One typed object (`BusConfig`, environment prefix `TRIAGE_BUS_`, overridden by the
`triage consume` options). Every name derives from `prefix` (default `triage`:
`triage.orders`, `triage.returns`, `triage.outcomes` in, `triage.decisions` out,
`triage.deadletter`) unless set one by one, so a test run or a second tenant takes a
prefix of its own and collides with nobody. On NATS the names are JetStream subjects in
one stream (`stream`, created over `<prefix>.>` if absent); on RabbitMQ they are
durable queues of the same names.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from triage.errors import ConfigError

__all__ = ["BusConfig", "bus_config", "SOURCES"]

SOURCES = ("orders", "returns", "outcomes")  # the input names, in the order the consumer reads them
_NAME = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
_STREAM = re.compile(r"^[A-Za-z0-9_\-]+$")


class BusConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_BUS_", extra="ignore")

    prefix: str = Field(default="triage", description="the default names are <prefix>.orders, … ")
    orders: str | None = Field(default=None, description="order events in (default <prefix>.orders)")
    returns: str | None = Field(default=None, description="return events in (default <prefix>.returns)")
    outcomes: str | None = Field(default=None, description="outcomes in (default <prefix>.outcomes)")
    decisions: str | None = Field(default=None, description="decisions out (default <prefix>.decisions)")
    deadletter: str | None = Field(default=None, description="what cannot be decided (default <prefix>.deadletter)")
    stream: str = Field(default="TRIAGE", description="NATS: the JetStream stream, created over <prefix>.> if absent")
    stream_max_age_hours: float = Field(
        default=168.0, gt=0, le=24 * 3650,
        description="NATS: how long a stream the consumer creates keeps messages (an existing stream keeps its own)",
    )
    durable: str = Field(default="triage", description="NATS: durable consumer names are <durable>-orders, …")
    max_in_flight: int = Field(
        default=256, ge=1, le=10_000,
        description="unacknowledged messages held per input at most (NATS max_ack_pending, AMQP prefetch)",
    )
    batch_max: int = Field(default=64, ge=1, le=1000, description="messages decided together at most")
    ack_wait_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="NATS: redelivery of a message not acknowledged within this"
    )
    fetch_timeout_seconds: float = Field(
        default=1.0, gt=0, le=60, description="longest wait for messages; bounds how long a drain waits"
    )
    retry_delay_seconds: float = Field(
        default=2.0, ge=0, le=300, description="back-off before a message refused by an unavailable store returns"
    )
    lag_poll_seconds: float = Field(default=5.0, gt=0, le=300, description="how often the lag gauge is read")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=0, le=65535, description="/metrics port (0: no metrics server)")

    @field_validator("prefix", "orders", "returns", "outcomes", "decisions", "deadletter")
    @classmethod
    def _subject(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(f"a subject/queue name is dot-separated letters, digits, '_' or '-'; got {v!r}")
        return v

    @field_validator("stream", "durable")
    @classmethod
    def _token(cls, v: str) -> str:
        if not _STREAM.match(v):
            raise ValueError(f"letters, digits, '_' or '-' only; got {v!r}")
        return v

    @model_validator(mode="after")
    def _distinct(self) -> BusConfig:
        names = [self.name(n) for n in (*SOURCES, "decisions", "deadletter")]
        if len(set(names)) != len(names):
            raise ValueError(f"the five subjects/queues must differ; got {names}")
        if self.batch_max > self.max_in_flight:
            raise ValueError(f"batch_max ({self.batch_max}) cannot exceed max_in_flight ({self.max_in_flight})")
        return self

    def name(self, what: str) -> str:
        """The subject/queue for `orders`, `returns`, `outcomes`, `decisions` or `deadletter`."""
        own = getattr(self, what)
        return own if own else f"{self.prefix}.{what}"

    @property
    def stream_subjects(self) -> list[str]:
        """The subjects a stream created by the consumer covers: `<prefix>.>` and any name outside it."""
        out = [f"{self.prefix}.>"]
        for what in (*SOURCES, "decisions", "deadletter"):
            n = self.name(what)
            if not n.startswith(f"{self.prefix}.") and n not in out:
                out.append(n)
        return out


def bus_config(**given: Any) -> BusConfig:
    """`BusConfig` from the environment and the given options; a bad value is a `ConfigError`
    naming the option and what it must be."""
    try:
        return BusConfig(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "options"
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"bus setting {where}: {msg}; got {first.get('input')!r}") from None
