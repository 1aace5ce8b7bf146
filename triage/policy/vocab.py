"""The fixed vocabulary the policy speaks: actions (weakest to strongest), scores, tiers.

The code knows what each action means; a policy file chooses among them, orders
rules over them and prices them, but cannot invent new ones.
"""

from __future__ import annotations

from typing import Literal

from triage.schema import DISPOSITIONS, TABLES

__all__ = [
    "FRAUD_ACTIONS",
    "DELAY_ACTIONS",
    "REFUND_MODES",
    "DESTINATIONS",
    "DIMENSIONS",
    "DIMENSION_OF",
    "EVENT_OF_DIMENSION",
    "ORDER_SCORES",
    "RETURN_SCORES",
    "SCORES",
    "DISPOSITION_SCORES",
    "DESTINATION_DISPOSITION",
    "TIERS",
    "TIER_RANK",
    "CONTRACT_FIELDS",
    "ActionName",
    "ScoreName",
    "Tier",
    "EventKind",
    "Disposition",
]

# Ladders run from the least to the most intervention; "at most" and "at least" use this order.
FRAUD_ACTIONS = ("release", "verify_customer", "hold_for_review", "cancel_order")
DELAY_ACTIONS = ("notify_customer", "reallocate_node", "expedite")
REFUND_MODES = ("keep_it", "instant_refund", "refund_on_receipt", "refund_after_inspection", "manual_review")
DESTINATIONS = ("store_restock", "dc_restock", "refurbish_center", "liquidator", "vendor_rtv", "recycler")

DIMENSIONS: dict[str, tuple[str, ...]] = {
    "fraud": FRAUD_ACTIONS,
    "delay": DELAY_ACTIONS,
    "refund": REFUND_MODES,
    "destination": DESTINATIONS,
}
DIMENSION_OF: dict[str, str] = {a: dim for dim, acts in DIMENSIONS.items() for a in acts}
EVENT_OF_DIMENSION = {"fraud": "order", "delay": "order", "refund": "return", "destination": "return"}

ORDER_SCORES = ("p_late", "p_fraud")
DISPOSITION_SCORES = tuple(f"p_{d}" for d in DISPOSITIONS)
RETURN_SCORES = (*DISPOSITION_SCORES, "p_abuse")
SCORES = (*ORDER_SCORES, *RETURN_SCORES)

# Where an item of each realised disposition belongs (the destinations' "home" disposition).
DESTINATION_DISPOSITION = {
    "store_restock": "restock",
    "dc_restock": "restock",
    "refurbish_center": "refurbish",
    "liquidator": "liquidate",
    "vendor_rtv": "return_to_vendor",
    "recycler": "recycle",
}

TIERS = ("guardrail", "hard", "score")
# Higher wins: guardrails > hard rules > score bands.
TIER_RANK = {"score": 0, "hard": 1, "guardrail": 2}

CONTRACT_FIELDS: dict[str, frozenset[str]] = {
    "order": frozenset(TABLES["orders"].column_names),
    "return": frozenset(TABLES["returns"].column_names),
}

ActionName = Literal[
    "release",
    "verify_customer",
    "hold_for_review",
    "cancel_order",
    "notify_customer",
    "reallocate_node",
    "expedite",
    "keep_it",
    "instant_refund",
    "refund_on_receipt",
    "refund_after_inspection",
    "manual_review",
    "store_restock",
    "dc_restock",
    "refurbish_center",
    "liquidator",
    "vendor_rtv",
    "recycler",
]
ScoreName = Literal[
    "p_late",
    "p_fraud",
    "p_restock",
    "p_refurbish",
    "p_liquidate",
    "p_return_to_vendor",
    "p_recycle",
    "p_abuse",
]
Tier = Literal["guardrail", "hard", "score"]
EventKind = Literal["order", "return"]
Disposition = Literal["restock", "refurbish", "liquidate", "return_to_vendor", "recycle"]
