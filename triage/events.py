"""The two event kinds and their vocabulary, shared by the decision core and the audit flow.

A leaf module (it imports nothing from triage) so that `triage.service`, `triage.audit_flow`
and `triage.model_loading` can all use it without importing one another at load time.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["EventKind", "SCORE_KEYS", "EVENT_ID", "EVENT_TIME"]

EventKind = Literal["order", "return"]
SCORE_KEYS: dict[str, tuple[str, ...]] = {
    "order": ("p_late", "p_fraud"),
    "return": ("p_restock", "p_refurbish", "p_liquidate", "p_return_to_vendor", "p_recycle", "p_abuse"),
}
EVENT_ID = {"order": "order_id", "return": "return_id"}
EVENT_TIME = {"order": "created_at", "return": "requested_at"}
