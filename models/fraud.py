"""Fraud risk: P(fraud label — chargeback or confirmed fraud) for an order at capture.

A rare class: no class weights (the calibrator restores probabilities), more patience
in early stopping because the validation loss of a rare class is noisy.
"""

from __future__ import annotations

from models.risk import HeadSpec, RiskSpec

__all__ = ["SPEC"]

SPEC = RiskSpec(
    risk="fraud",
    name="triage-fraud",
    entity="order",
    description="P(fraud): a chargeback or confirmed fraud reported for the order.",
    heads=(
        HeadSpec("fraud", ("p_fraud",), (True,), gate_metric="pr_auc", params={"early_stopping_rounds": 100}),
    ),
)
