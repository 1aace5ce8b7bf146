"""The records the audit and key store keeps: decisions, outcomes, API keys, pending rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["DecisionRecord", "OutcomeRecord", "KeyRecord", "PendingRow", "utc"]


def utc(ts: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are refused (time is always explicit)."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no time zone")
    return ts.astimezone(UTC)


@dataclass(frozen=True, kw_only=True)
class DecisionRecord:
    """One audited decision: what was asked, what was used, what was answered."""

    decision_id: str
    kind: str  # "order" or "return"
    event_id: str
    event_time: datetime
    idempotency_key: str
    body_hash: str
    request: dict[str, Any]
    features: dict[str, Any] | None
    scores: dict[str, Any]
    actions: list[Any]
    reasons: list[Any]
    priority: Any
    policy_version: str | None
    models: dict[str, Any]
    degraded: bool
    latency_ms: float
    received_at: datetime
    api_key: str | None
    response: dict[str, Any]

    def to_public(self) -> dict[str, Any]:
        """The record as `GET /v1/decisions/{id}` shows it."""
        return {
            "decision_id": self.decision_id,
            "kind": self.kind,
            "event_id": self.event_id,
            "event_time": self.event_time.isoformat().replace("+00:00", "Z"),
            "received_at": self.received_at.isoformat().replace("+00:00", "Z"),
            "api_key": self.api_key,
            "latency_ms": self.latency_ms,
            "request": self.request,
            "features": self.features,
            "decision": self.response,
        }


@dataclass(frozen=True, kw_only=True)
class OutcomeRecord:
    """An outcome posted to `/v1/outcomes`, kept as a label for the next training."""

    outcome_id: str
    type: str
    entity_id: str  # order_id or return_id
    known_at: datetime
    body_hash: str
    body: dict[str, Any]
    received_at: datetime
    api_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class PendingRow:
    """An audited decision or outcome the online log may not have received yet."""

    table: str  # "decisions" or "outcomes"
    row_id: str  # decision_id or outcome_id
    kind: str  # "order"/"return", or the outcome type
    entity_id: str  # the event id, or the outcome's entity id
    body: dict[str, Any]  # the request (decisions) or the outcome body, as audited
    received_at: datetime
    seq: int  # commit order within its table

    @property
    def order_key(self) -> tuple[datetime, int, int]:
        """Audit order across both tables: by time received, then each table's commit order."""
        return (self.received_at, 0 if self.table == "decisions" else 1, self.seq)


@dataclass(frozen=True, kw_only=True)
class KeyRecord:
    key_id: str
    name: str
    key_hash: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None
