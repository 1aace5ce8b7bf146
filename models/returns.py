"""Return routing: P(each disposition) and P(abuse) for a return request at request time."""

from __future__ import annotations

from models.risk import HeadSpec, RiskSpec
from triage.schema import DISPOSITIONS

__all__ = ["SPEC", "DISPOSITION_COLUMNS"]

DISPOSITION_COLUMNS = tuple(f"p_{d}" for d in DISPOSITIONS)

SPEC = RiskSpec(
    risk="returns",
    name="triage-returns",
    entity="return",
    description="P(disposition) over restock/refurbish/liquidate/return_to_vendor/recycle, and P(abuse confirmed).",
    heads=(
        HeadSpec(
            "disposition", DISPOSITION_COLUMNS, DISPOSITIONS, gate_metric="log_loss", higher_is_better=False
        ),
        HeadSpec("abuse", ("p_abuse",), (True,), gate_metric="pr_auc", params={"early_stopping_rounds": 100}),
    ),
)
