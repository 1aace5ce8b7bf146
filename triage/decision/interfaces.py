"""The typed seams of the decision core: what it needs from the online state, a model
bundle. Every method is required — call sites call them directly, never
probe with `getattr` — and every implementation provides them all:

- `OnlineStateProtocol`: `triage.stores.online.OnlineState` (the per-worker indexes over the
  shared log). `features.online.OnlineFeatures` is something else: the feature computer
  over one `features.online.OnlineStore`, which `OnlineState` holds.
- `ModelBundle`: `models.bundle.Bundle`.

(The policy is `triage.policy.Policy` itself: one implementation, parsed from its file.)

`tests/decision/test_interfaces.py` checks that each implementation (and each test fake)
satisfies its protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["OnlineStateProtocol", "ModelBundle"]


@runtime_checkable
class OnlineStateProtocol(Protocol):
    """The online state as the decision core and the API use it."""

    lagging: bool  # an append failed: the audit has events the log lacks (api.recovery catches up)
    lag_marks: int  # how many appends failed so far
    bootstrap_problem: str | None  # why the start-up bootstrap failed (for /readyz)
    log: Any  # the shared log (`triage.stores.online_log.OnlineLog`), None when there is none

    def features(self, kind: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event's features as of its own time (created_at / requested_at)."""
        ...

    def features_many(self, kind: str, events: Sequence[Mapping[str, Any]], *,
                      concurrent: bool = False) -> list[dict[str, Any]]:
        """Each event's features, as if the batch's events were decided one by one in time
        order (`concurrent=True`: independent requests, each sees only the state)."""
        ...

    def observe(self, kind: str, event: Mapping[str, Any]) -> None:
        """Add a decided event to the history."""
        ...

    def observe_many(self, kind: str, events: Sequence[Mapping[str, Any]]) -> None:
        """Add decided events to the history (and to this worker's view of it)."""
        ...

    def append_many(self, kind: str, events: Sequence[Mapping[str, Any]]) -> None:
        """Add decided events to the shared log only (applied at the next feature read)."""
        ...

    def observe_outcome(self, type_: str, row: Mapping[str, Any]) -> None:
        """Add an outcome to the history."""
        ...

    def describe(self) -> str:
        """The store for humans (no secrets): for /v1/models and log lines."""
        ...

    def ping(self) -> None:
        """Raise `UnavailableError` when the state cannot be read (for /readyz)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ModelBundle(Protocol):
    """What scoring needs from a model bundle (`models.bundle.Bundle`)."""

    name: str
    entity: str
    versions: dict

    @property
    def output_columns(self) -> list[str]: ...

    def encode_row(self, values: Mapping[str, object]) -> Any: ...

    def predict_row(self, values: Mapping[str, object], encoded: Any = None) -> dict[str, float]: ...

    def encode_rows(self, rows: Sequence[Mapping[str, object]]) -> Any:
        """Many rows encoded at once ({head: (n, k) matrix})."""
        ...

    def predict_rows(self, encoded: Any) -> list[dict[str, float]]:
        """Scores for many encoded rows: one predict per head."""
        ...

    def explain_row(self, values: Mapping[str, object], *, k: int = 3, encoded: Any = None,
                    method: str = "path") -> list: ...

    def explain_rows(self, values: Sequence[Mapping[str, object]], *, k: int = 3, method: str = "path",
                     encoded: Any = None) -> list[list]:
        """`explain_row` for many rows: one attribution call for them all."""
        ...
