"""Decision routes: the answer's shape, validation as problem+json, idempotency, the audit record."""

from __future__ import annotations

import hashlib
import json

from api.schemas import OrderEvent, ReturnEvent
from tests.api.conftest import order_body, return_body
from triage.records import jsonable

PROBLEM = "application/problem+json"


def test_order_decision_has_the_documented_fields(client):
    r = client.post("/v1/orders/decisions", json=order_body("o-shape"))
    assert r.status_code == 200, r.text
    body = r.json()
    for key in (
        "decision_id",
        "scores",
        "actions",
        "reasons",
        "priority",
        "policy_version",
        "models",
        "degraded",
        "timing_ms",
    ):
        assert key in body
    assert body["scores"] == {"p_late": None, "p_fraud": 0.9}  # delay model not configured → null
    assert body["actions"] == ["hold_for_review"]
    assert body["degraded"] is False
    assert body["models"] == {"triage-fraud": "7"}
    assert {r["source"] for r in body["reasons"]} == {"rule", "model"}
    assert all({"source", "code", "text"} <= set(r) for r in body["reasons"])
    assert r.headers["x-correlation-id"]


def test_return_decision_scores_every_disposition(client):
    r = client.post("/v1/returns/decisions", json=return_body("r-1"))
    assert r.status_code == 200, r.text
    assert set(r.json()["scores"]) == {
        "p_restock",
        "p_refurbish",
        "p_liquidate",
        "p_return_to_vendor",
        "p_recycle",
        "p_abuse",
    }


def test_nullable_fields_may_be_left_out_and_unseen_categories_are_accepted(client):
    body = order_body("o-lean", channel="tiktok_shop", payment_method="crypto")
    for f in ("card_country", "ip_country", "device_id", "ship_lat", "ship_lon", "carrier"):
        body.pop(f)
    r = client.post("/v1/orders/decisions", json=body)
    assert r.status_code == 200, r.text


def _problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["type"].startswith("urn:triage:problem:")
    assert body["title"] and body["detail"] and body["correlation_id"] == r.headers["x-correlation-id"]
    return body


def _fields(body):
    return {e["field"]: e for e in body["errors"]}


def test_negative_quantity_is_422_naming_the_line(client):
    body = order_body(lines=[{"line_no": 1, "sku": "s", "quantity": -2, "unit_price": 3.0}])
    errs = _fields(_problem(client.post("/v1/orders/decisions", json=body), 422))
    assert "lines[0].quantity" in errs
    assert "greater than or equal to 1" in errs["lines[0].quantity"]["expected"]
    assert errs["lines[0].quantity"]["got"] == "-2"


def test_wrong_types_are_422(client):
    body = order_body(
        order_total="a lot",
        item_count=1.5,
        lines=[{"line_no": "x", "sku": "s", "quantity": 1, "unit_price": 1}],
    )
    errs = _fields(_problem(client.post("/v1/orders/decisions", json=body), 422))
    assert {"order_total", "item_count", "lines[0].line_no"} <= set(errs)


def test_missing_required_field_is_422(client):
    body = order_body()
    del body["promised_at"]
    errs = _fields(_problem(client.post("/v1/orders/decisions", json=body), 422))
    assert errs["promised_at"]["got"].startswith("nothing")


def test_null_in_a_required_field_is_422(client):
    errs = _fields(_problem(client.post("/v1/orders/decisions", json=order_body(email_hash=None)), 422))
    assert "email_hash" in errs


def test_timestamp_without_zone_is_422(client):
    r = client.post("/v1/returns/decisions", json=return_body(requested_at="2026-03-10T09:00:00"))
    errs = _fields(_problem(r, 422))
    assert "timezone" in errs["requested_at"]["expected"]


def test_customer_must_match_the_order(client):
    customer = {
        "customer_id": "someone-else",
        "created_at": "2025-01-01T00:00:00Z",
        "loyalty_tier": "gold",
        "is_guest": False,
        "home_region": "north",
    }
    body = _problem(client.post("/v1/orders/decisions", json=order_body(customer=customer)), 422)
    assert "customer_id" in body["detail"]


def test_malformed_json_is_422(client):
    r = client.post(
        "/v1/orders/decisions", content=b"{not json", headers={"content-type": "application/json"}
    )
    _problem(r, 422)


def test_same_event_and_body_returns_the_stored_decision(client, online):
    body = order_body("o-idem")
    first = client.post("/v1/orders/decisions", json=body)
    again = client.post("/v1/orders/decisions", json=body)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert [e["order_id"] for _, e in online.observed] == ["o-idem"]  # state updated once


def test_the_same_instant_spelled_differently_is_the_same_body(client):
    first = client.post("/v1/orders/decisions", json=order_body("o-tz", created_at="2026-03-01T14:05:00Z"))
    again = client.post(
        "/v1/orders/decisions", json=order_body("o-tz", created_at="2026-03-01T15:05:00+01:00")
    )
    assert again.json()["decision_id"] == first.json()["decision_id"]


def test_same_event_id_with_a_different_body_is_409(client):
    client.post("/v1/orders/decisions", json=order_body("o-amend"))
    body = _problem(client.post("/v1/orders/decisions", json=order_body("o-amend", order_total=999.0)), 409)
    assert "order_id 'o-amend'" in body["detail"] and "new order_id" in body["detail"]


def test_idempotency_key_header_scopes_retries(client):
    h = {"Idempotency-Key": "retry-123"}
    first = client.post("/v1/orders/decisions", json=order_body("o-h1"), headers=h)
    again = client.post("/v1/orders/decisions", json=order_body("o-h1"), headers=h)
    assert again.json()["decision_id"] == first.json()["decision_id"]
    other = client.post("/v1/orders/decisions", json=order_body("o-h2"), headers=h)
    assert "Idempotency-Key 'retry-123'" in _problem(other, 409)["detail"]


def test_stored_decision_is_readable_as_audited(client):
    decided = client.post("/v1/orders/decisions", json=order_body("o-read")).json()
    r = client.get(f"/v1/decisions/{decided['decision_id']}")
    assert r.status_code == 200
    rec = r.json()
    assert rec["decision"] == decided
    assert rec["request"]["order_id"] == "o-read"
    assert rec["request"]["created_at"] == "2026-03-01T14:05:00Z"
    assert rec["features"] == {"velocity": 3.0, "kind": "order"}
    assert rec["api_key"] == "all"


def test_unknown_decision_is_404(client):
    _problem(client.get("/v1/decisions/nope"), 404)


def test_audit_row_holds_everything_the_issue_lists(client, store):
    decided = client.post("/v1/orders/decisions", json=order_body("o-row")).json()
    rec = store.get_decision(decided["decision_id"])
    assert rec.kind == "order" and rec.event_id == "o-row" and rec.idempotency_key == "order:id:o-row"
    assert len(rec.body_hash) == 64 and rec.request["lines"][0]["sku"] == "sku-1"
    assert (
        rec.scores == decided["scores"]
        and rec.actions == decided["actions"]
        and rec.reasons == decided["reasons"]
    )
    assert (
        rec.priority == decided["priority"]
        and rec.policy_version == "fake-1"
        and rec.models == {"triage-fraud": "7"}
    )
    assert rec.degraded is False and rec.latency_ms > 0 and rec.received_at.tzinfo is not None
    assert rec.event_time.isoformat() == "2026-03-01T14:05:00+00:00"


def test_out_of_range_numbers_and_times_are_422_naming_the_field(client):
    """Check that an int beyond int64 (or the business maximum) and a timestamp outside pandas'
    range are 422 problem+json naming the field, not a 500 or a silently lost event."""
    cases = [
        ("/v1/orders/decisions",
         order_body(lines=[{"line_no": 1, "sku": "sku-1", "quantity": 10**30, "unit_price": 1.0}]),
         "lines[0].quantity", "less than or equal to 1000000"),
        ("/v1/orders/decisions",
         order_body(lines=[{"line_no": 1, "sku": "sku-1", "quantity": 1_000_001, "unit_price": 1.0}]),
         "lines[0].quantity", "less than or equal to 1000000"),
        ("/v1/orders/decisions", order_body(item_count=2**63), "item_count", "less than or equal to 1000000000"),
        ("/v1/orders/decisions", order_body(created_at="9999-01-01T00:00:00Z"), "created_at", "2262-04-11"),
        ("/v1/orders/decisions", order_body(created_at="1600-01-01T00:00:00Z"), "created_at", "1677-09-22"),
        ("/v1/returns/decisions", return_body(quantity=10**30), "quantity", "less than or equal to 1000000"),
        ("/v1/returns/decisions", return_body(requested_at="2262-04-12T00:00:00Z"), "requested_at", "2262-04-11"),
    ]
    for url, body, field, expected in cases:
        r = client.post(url, json=body)
        assert r.status_code == 422, (field, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        err = r.json()["errors"][0]
        assert err["field"] == field and expected in str(err), (field, err)
    ok = client.post("/v1/orders/decisions", json=order_body(
        created_at="2262-04-11T00:00:00Z",
        lines=[{"line_no": 1, "sku": "sku-1", "quantity": 1_000_000, "unit_price": 1.0}]))
    assert ok.status_code == 200, ok.text


def test_the_body_hash_is_the_standard_librarys_canonical_json(client, store):
    """Check that a decision's idempotency hash is SHA-256 of `json.dumps` (sorted keys, compact,
    ASCII) of {kind, event} whatever the body holds — non-ASCII text, DEL, floats below 1e-4
    or large ones, strings that look like those — so that a retry of a body decided by an earlier
    version (which hashed that form) is still a replay, not a 409."""
    cases = [
        ("order", order_body()),
        ("order", order_body(customer_id="c-ü-東京", email_hash="a\x7fb", ship_lat=1e-05, ship_lon=4.5e-09)),
        ("order", order_body(ship_lat=0.00001234, ship_lon=7.2e-7, order_total=1e16)),
        ("order", order_body(order_total=1.5e17)),  # a large float alone: the fast path's exponent
        ("order", order_body(carrier="dhl-2e-5", device_id="0.0000", order_total=123456789.125)),
        ("return", return_body(reason_text="Größe passt nicht", refund_amount=3.0000001e-05)),
    ]
    for kind, body in cases:
        first = client.post(f"/v1/{kind}s/decisions", json=body)
        assert first.status_code == 200, first.text
        rec = store.get_decision(first.json()["decision_id"])
        event = jsonable((OrderEvent if kind == "order" else ReturnEvent).model_validate(body).model_dump())
        canon = json.dumps({"kind": kind, "event": event}, sort_keys=True, separators=(",", ":"))
        assert rec.body_hash == hashlib.sha256(canon.encode()).hexdigest(), body
        again = client.post(f"/v1/{kind}s/decisions", json=body)
        assert again.headers.get("idempotent-replayed") == "true" and again.json() == first.json()
