"""The two event kinds and their vocabulary, shared by the decision core and the audit flow.

A leaf module (it imports nothing from triage) so that the decision core, the audit flow
and the stores (the online state, its log recovery) share it without importing one another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["EventKind", "SCORE_KEYS", "EVENT_ID", "EVENT_TIME", "logs_outcome"]

EventKind = Literal["order", "return"]
SCORE_KEYS: dict[str, tuple[str, ...]] = {
    "order": ("p_late", "p_fraud"),
    "return": ("p_restock", "p_refurbish", "p_liquidate", "p_return_to_vendor", "p_recycle", "p_abuse"),
}
EVENT_ID = {"order": "order_id", "return": "return_id"}
EVENT_TIME = {"order": "created_at", "return": "requested_at"}


def logs_outcome(type_: str, row: Mapping[str, Any]) -> bool:
    """Whether a posted outcome goes to the online history: all but a cleared review and a
    review of a return (the offline features read neither)."""
    if type_ == "review":
        return bool(row.get("confirmed", True)) and row.get("order_id") is not None
    return True
