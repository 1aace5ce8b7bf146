"""What a decision says: actions, scores, reasons, priority, versions, degraded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Explanation", "Reason", "Decision"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """One of the model's top contributions for this event, already put in words by the caller.

    ``weight`` is the signed contribution (e.g. a SHAP value on the log-odds scale);
    reasons are shown by decreasing ``abs(weight)``. ``score`` names the score it explains.
    """

    code: str
    text: str
    weight: float
    score: str | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    source: Literal["rule", "model"]
    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "code": self.code, "text": self.text}


@dataclass(frozen=True, slots=True)
class Decision:
    """The routing decision for one order or return.

    ``actions``: orders — the fraud action first (``release``, ``verify_customer`` or
    ``hold_for_review``), then any delay actions; returns — the refund mode, then the
    destination (no destination with ``keep_it``). ``priority`` is the expected cost at
    stake times urgency (1 to 2 as the promise nears); ``priority_band`` is low/medium/high.
    ``expected_cost`` is the policy's expected cost of the chosen actions; for returns,
    ``expected_recovery`` is the expected value recovered at the destination.
    """

    kind: Literal["order", "return"]
    actions: tuple[str, ...]
    scores: Mapping[str, float | None]
    reasons: tuple[Reason, ...]
    priority: float
    priority_band: Literal["low", "medium", "high"]
    policy_version: str
    model_versions: Mapping[str, str] = field(default_factory=dict)
    degraded: bool = False
    fraud_action: str | None = None
    delay_actions: tuple[str, ...] = ()
    refund_mode: str | None = None
    destination: str | None = None
    expected_cost: float = 0.0
    expected_recovery: float | None = None

    @property
    def needs_review(self) -> bool:
        return self.fraud_action == "hold_for_review" or self.refund_mode == "manual_review"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (NaN scores become null)."""
        return {
            "kind": self.kind,
            "actions": list(self.actions),
            "fraud_action": self.fraud_action,
            "delay_actions": list(self.delay_actions),
            "refund_mode": self.refund_mode,
            "destination": self.destination,
            "scores": {k: (None if v is None or v != v else float(v)) for k, v in self.scores.items()},
            "reasons": [r.to_dict() for r in self.reasons],
            "priority": self.priority,
            "priority_band": self.priority_band,
            "expected_cost": self.expected_cost,
            "expected_recovery": self.expected_recovery,
            "policy_version": self.policy_version,
            "model_versions": dict(self.model_versions),
            "degraded": self.degraded,
        }
