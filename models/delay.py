"""Fulfillment delay risk: P(late) for an order at capture."""

from __future__ import annotations

from models.risk import HeadSpec, RiskSpec

__all__ = ["SPEC"]

SPEC = RiskSpec(
    risk="delay",
    name="triage-delay",
    entity="order",
    description="P(late): delivered after the promise, cancelled, or not delivered by the promise.",
    heads=(HeadSpec("late", ("p_late",), (True,), gate_metric="roc_auc"),),
)
