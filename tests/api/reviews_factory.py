"""Audited decisions made for the review-queue tests, written through the audit store's API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.conftest import order_body, return_body
from triage.stores import DecisionRecord

__all__ = ["NOW", "put_decision"]

NOW = datetime.now(UTC).replace(microsecond=0)


def put_decision(store, *, kind: str = "order", actions=("hold_for_review",), priority: float = 1.0,
                 age_h: float = 1.0, reasons=None, features=None, **request: Any) -> DecisionRecord:
    """One audited decision, `age_h` hours old, written through the audit store's API."""
    event_time = NOW - timedelta(hours=age_h)
    if kind == "order":
        body = order_body(created_at=event_time.isoformat().replace("+00:00", "Z"),
                          promised_at=(event_time + timedelta(days=3)).isoformat().replace("+00:00", "Z"), **request)
        event_id = body["order_id"]
    else:
        body = return_body(requested_at=event_time.isoformat().replace("+00:00", "Z"), **request)
        event_id = body["return_id"]
    did = str(uuid.uuid4())
    scores = {"p_fraud": 0.8, "p_late": 0.1} if kind == "order" else {"p_abuse": 0.7, "p_restock": 0.6}
    reasons = reasons if reasons is not None else [{"source": "rule", "code": "fraud.velocity",
                                                    "text": "many orders from this device today"}]
    response = {"decision_id": did, "kind": kind, "event_id": event_id, "actions": list(actions),
                "scores": scores, "reasons": reasons, "priority": priority}
    rec = DecisionRecord(
        decision_id=did, kind=kind, event_id=event_id, event_time=event_time,
        idempotency_key=f"{kind}:id:{event_id}", body_hash=uuid.uuid4().hex, request=body,
        features=features if features is not None else {"cust_prior_orders": 4.0, "velocity": 1.0},
        scores=scores, actions=list(actions), reasons=reasons, priority=priority,
        policy_version="p-1", models={}, degraded=False, latency_ms=1.0, received_at=event_time,
        api_key="oms", response=response)
    store.insert_decisions([rec])
    return rec
