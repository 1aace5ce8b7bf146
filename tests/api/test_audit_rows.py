"""Slim audit rows (schema v3): request, feature vector and the response's rest packed; read
back exactly as written, on SQLite and PostgreSQL, also by a process that never saw the
feature set (its names come from the store)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from triage.stores import DecisionRecord, audit_rows, open_store


def _record(features: dict | None, i: int) -> DecisionRecord:
    now = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    scores = {"p_late": 0.25, "p_fraud": 1e-05}
    reasons = [{"code": "FRAUD_HIGH", "source": "model", "weight": 0.5}]
    response = {"decision_id": f"d{i}", "kind": "order", "event_id": f"o{i}", "actions": ["verify"],
                "priority": 0.75, "reasons": reasons, "scores": {"p_late": 0.3},  # differs from its column
                "policy_version": "p1", "models": {"triage-fraud": "3"}, "degraded": False,
                "timing_ms": 0.412, "received_at": "2030-01-02T03:04:05.678000Z", "extra": [1, None]}
    return DecisionRecord(
        decision_id=f"d{i}", kind="order", event_id=f"o{i}", event_time=now, idempotency_key=f"order:id:o{i}",
        body_hash=uuid.uuid4().hex, request={"order_id": f"o{i}", "lines": [{"sku": "S1", "unit_price": 19.99}],
                                             "created_at": "2030-01-02T03:04:05Z", "note": "é"},
        features=features, scores=scores, actions=["verify"], reasons=reasons, priority=0.75,
        policy_version="p1", models={"triage-fraud": "3"}, degraded=False, latency_ms=0.41, received_at=now,
        api_key="k1", response=response)


def test_packed_rows_read_back_exactly(store_url):
    """Check that records with and without features round-trip field by field (response key
    order included), through `get_decision`, `find_decisions` and `iter_decisions`, also once
    this process has forgotten the feature set's names (they are read from the store)."""
    features = {"basket_value": 59.97, "n_lines": 3.0, "channel": "web", "device_orders_7d": None,
                "tiny": 1.2345678901234567e-300, f"new_{uuid.uuid4().hex[:6]}": 0.1}
    records = [_record(features, 1), _record(None, 2), _record({**features, "tiny": 0.0}, 3)]
    store = open_store(store_url)
    try:
        store.insert_decisions(records)
        version = audit_rows.feature_set_version(tuple(features))
        audit_rows._NAMES.pop(version)  # another process: knows nothing of this feature set
        audit_rows._VERSION.pop(tuple(features))
        for rec in records:
            got = store.get_decision(rec.decision_id)
            assert got == rec
            assert got is not None and list(got.response) == list(rec.response)
        assert store.find_decisions([r.idempotency_key for r in records]) == {r.idempotency_key: r for r in records}
        assert sorted((r for r in store.iter_decisions()), key=lambda r: r.decision_id) == records
        with store._tx() as cur:  # type: ignore[attr-defined]
            row = cur.execute("SELECT request, features, packed FROM decisions WHERE decision_id = 'd1'").fetchone()
        assert row[1] is None and len(bytes(row[2])) < 400  # the features are a vector in `packed`
    finally:
        store.close()
