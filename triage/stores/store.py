"""What the service needs from its database (`Store`), whichever database it is.

One database holds the audit of every decision, the outcomes posted later, the API
keys (hashes only) and a little service metadata (the reload generation). The
embedded default is SQLite in the service's home folder; PostgreSQL is chosen by URL
(`triage.stores.open_store`); both share the statements of `triage.stores.sql`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import ClassVar

from triage.stores.records import DecisionRecord, KeyRecord, OutcomeRecord, PendingRow

__all__ = ["Store"]


class Store(ABC):
    """What the service needs from its database. Every method may raise `UnavailableError`."""

    url: str
    # reads (idempotency and key lookups) are cheap enough for the event loop (a local
    # SQLite file); False: the API makes them in the thread pool
    reads_inline: ClassVar[bool] = False

    @abstractmethod
    def migrate(self) -> int:
        """Create or upgrade the schema; returns the schema version."""

    @abstractmethod
    def url_for_humans(self) -> str:
        """The URL without a password (for messages and logs)."""

    @abstractmethod
    def ping(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    # decisions
    @abstractmethod
    def find_decisions(self, idempotency_keys: Sequence[str]) -> dict[str, DecisionRecord]: ...

    @abstractmethod
    def get_decision(self, decision_id: str) -> DecisionRecord | None: ...

    @abstractmethod
    def insert_decisions(self, records: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        """Write all records in one transaction, durably.

        Returns, per record, the record now stored under its idempotency key: the one
        given, or the one a concurrent request stored first (the caller compares hashes).
        """

    async def insert_decisions_async(
        self, records: Sequence[DecisionRecord], *, after: Callable[[list[DecisionRecord]], None] | None = None
    ) -> list[DecisionRecord]:
        """`insert_decisions` for the event loop; `after(stored)` runs once the records are
        durable, before this returns. Here: in the thread pool (`SqlStore` awaits its group
        commit instead)."""
        import asyncio

        stored = await asyncio.to_thread(self.insert_decisions, records)
        if after is not None:
            after(stored)
        return stored

    @abstractmethod
    def iter_decisions(self, since: datetime | None = None) -> Iterator[DecisionRecord]: ...

    def page_decisions(self, *, since: datetime, until: datetime, after: tuple[datetime, str] | None = None,
                       limit: int = 100, by: str = "received_at") -> list[DecisionRecord]:
        """A keyset page of decisions in [since, until) (`SqlStore` implements it)."""
        raise NotImplementedError

    # outcomes
    @abstractmethod
    def insert_outcome(self, record: OutcomeRecord) -> OutcomeRecord:
        """Store an outcome; an identical one posted before is returned instead."""

    @abstractmethod
    def iter_outcomes(self, entity_ids: set[str] | None = None) -> Iterator[OutcomeRecord]: ...

    def outcome_entities(self, entity_ids: set[str]) -> set[str]:
        """Which of `entity_ids` have an outcome (`SqlStore` looks them up by index)."""
        return {o.entity_id for o in self.iter_outcomes(entity_ids)}

    @abstractmethod
    def purge(self, before: datetime) -> dict[str, int]:
        """Delete decisions and outcomes received before `before`; counts per table."""

    # online log recovery (`triage.stores.log_recovery`)
    @abstractmethod
    def pending_online(self, table: str, after: tuple[datetime, int] | None = None,
                       limit: int = 1000) -> list[PendingRow]:
        """`table`'s ("decisions", "outcomes") rows the online log may lack, in audit order."""

    @abstractmethod
    def clear_online_pending(self, table: str, row_ids: Sequence[str]) -> None:
        """The online log has these rows (or they are superseded): no longer pending."""

    # keys
    @abstractmethod
    def insert_key(self, record: KeyRecord) -> None: ...

    @abstractmethod
    def revoke_key(self, name: str, at: datetime) -> int: ...

    @abstractmethod
    def find_key(self, key_hash: str) -> KeyRecord | None: ...

    @abstractmethod
    def list_keys(self) -> list[KeyRecord]: ...

    # metadata
    @abstractmethod
    def get_meta(self, name: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, name: str, value: str) -> None: ...
