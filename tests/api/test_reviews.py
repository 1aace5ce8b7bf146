"""The review queue routes, against SQLite and PostgreSQL: every route and status.

Decisions are put in the audit store as records (the store's own API), so each test says
exactly which actions, priorities and times the queue sees.
"""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import make_services, order_body
from tests.api.reviews_factory import NOW, put_decision
from triage.audit import export
from triage.keys import create_key
from triage.settings import Settings
from triage.stores import DecisionRecord


@pytest.fixture
def reviewer_keys(settings, store) -> dict[str, str]:
    return {
        "ana": create_key(settings, "ana", "review", store=store),
        "ben": create_key(settings, "ben", "review", store=store),
    }


@pytest.fixture
def rclient(client, reviewer_keys) -> TestClient:
    client.headers["X-API-Key"] = reviewer_keys["ana"]
    return client


def _problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code
    return r.json()


def _ids(page) -> list[str]:
    return [it["decision_id"] for it in page["items"]]


def test_queue_lists_items_that_ask_a_person_by_priority_then_deadline(rclient, store):
    low_old = put_decision(store, priority=1.0, age_h=3)
    low_new = put_decision(store, priority=1.0, age_h=1)
    high = put_decision(store, priority=5.0, age_h=0.5)
    verify = put_decision(store, actions=("verify_customer",), priority=2.0)
    ret = put_decision(store, kind="return", actions=("manual_review", "dc_restock"), priority=0.5)
    inspect = put_decision(store, kind="return", actions=("refund_after_inspection", "dc_restock"), priority=0.4)
    put_decision(store, actions=("release",), priority=9.0)  # asks nobody
    put_decision(store, actions=("release", "expedite"), priority=9.0)  # operations, not a review

    page = rclient.get("/v1/reviews").json()
    assert _ids(page) == [high.decision_id, verify.decision_id, low_old.decision_id, low_new.decision_id,
                          ret.decision_id, inspect.decision_id]
    assert page["counts"] == {"order_review": 3, "verification": 1, "return_abuse": 1, "return_inspection": 1,
                              "escalated": 0}
    assert page["reviewer"] == "ana"
    first = page["items"][0]
    assert first["event_id"] == high.event_id and first["reasons"][0]["text"].startswith("many orders")
    assert first["value_at_stake"] == 120.5 and first["claimed_by"] is None
    # deadline: 4 h after the order for a hold; half an hour old → about 3.5 h left
    assert 3.4 * 3600 < first["time_left_seconds"] <= 3.5 * 3600
    assert 0.5 * 3600 <= first["age_seconds"] < 0.6 * 3600


def test_latest_decision_of_an_event_is_the_item(rclient, store):
    old = put_decision(store, age_h=2)
    again = DecisionRecord(**{**old.__dict__, "decision_id": str(uuid.uuid4()), "idempotency_key": "order:key:retry",
                              "actions": ["release"], "received_at": NOW})
    store.insert_decisions([again])
    assert rclient.get("/v1/reviews").json()["items"] == []  # re-decided as a release: nothing to review


def test_filters_and_counts_per_queue(rclient, store):
    web = put_decision(store, channel="web", carrier="dhl", fulfillment_node_id="dc-1", order_total=500.0)
    put_decision(store, channel="app", carrier="ups", fulfillment_node_id="dc-2", order_total=50.0)
    put_decision(store, actions=("verify_customer",), channel="web", carrier="ups", order_total=80.0)

    def ids(**q):
        return rclient.get("/v1/reviews", params=q).json()

    assert _ids(ids(channel="web", carrier="dhl")) == [web.decision_id]
    assert _ids(ids(fulfillment_node_id="dc-1", min_value=100)) == [web.decision_id]
    assert len(ids(min_value=60)["items"]) == 2
    by_queue = ids(queue="verification", channel="web")
    assert len(by_queue["items"]) == 1
    assert by_queue["counts"]["order_review"] == 1 and by_queue["counts"]["verification"] == 1
    assert len(ids(action="hold_for_review")["items"]) == 2


def test_cursor_pages_through_the_queue(rclient, store):
    recs = [put_decision(store, priority=float(p)) for p in (3, 2, 1)]
    first = rclient.get("/v1/reviews", params={"limit": 2}).json()
    assert _ids(first) == [recs[0].decision_id, recs[1].decision_id] and first["next_cursor"]
    second = rclient.get("/v1/reviews", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert _ids(second) == [recs[2].decision_id] and second["next_cursor"] is None


@pytest.mark.parametrize("params", [{"cursor": "not-a-cursor"}, {"queue": "nope"}, {"status": "later"},
                                    {"limit": 0}, {"min_value": -1}])
def test_bad_query_is_422(rclient, store, params):
    _problem(rclient.get("/v1/reviews", params=params), 422, "contract" if "cursor" in params or
             "queue" in params else "validation")


def test_claim_is_held_by_one_key(rclient, store, reviewer_keys):
    rec = put_decision(store)
    r = rclient.post(f"/v1/reviews/{rec.decision_id}/claim")
    assert r.status_code == 200, r.text
    assert r.json()["claimed_by"] == "ana"
    assert rclient.post(f"/v1/reviews/{rec.decision_id}/claim").status_code == 200  # again: refreshed
    other = rclient.post(f"/v1/reviews/{rec.decision_id}/claim", headers={"X-API-Key": reviewer_keys["ben"]})
    assert "claimed by ana" in _problem(other, 409, "conflict")["detail"]
    assert rclient.get("/v1/reviews").json()["items"][0]["claimed_by"] == "ana"
    # another key cannot resolve what ana holds
    r = rclient.post(f"/v1/reviews/{rec.decision_id}/resolution", json={"resolution": "approve", "reason": "ok"},
                     headers={"X-API-Key": reviewer_keys["ben"]})
    _problem(r, 409, "conflict")


def test_claim_lapses_after_the_idle_time(tmp_path, store_url, store, services, reviewer_keys):
    settings = Settings(home=tmp_path / "h2", database_url=store_url, review_claim_idle_minutes=0.01)  # 0.6 s
    rec = put_decision(store)
    with TestClient(create_app(settings, services=services, store=store), raise_server_exceptions=False) as c:
        ana, ben = ({"X-API-Key": reviewer_keys[k]} for k in ("ana", "ben"))
        assert c.post(f"/v1/reviews/{rec.decision_id}/claim", headers=ana).status_code == 200
        assert c.post(f"/v1/reviews/{rec.decision_id}/claim", headers=ben).status_code == 409
        time.sleep(0.7)
        assert c.get("/v1/reviews", headers=ana).json()["items"][0]["claimed_by"] is None
        r = c.post(f"/v1/reviews/{rec.decision_id}/claim", headers=ben)
        assert r.status_code == 200 and r.json()["claimed_by"] == "ben"


def test_approve_writes_the_review_outcome_and_the_item_leaves_the_queue(rclient, store, settings, tmp_path):
    rec = put_decision(store)
    rclient.post(f"/v1/reviews/{rec.decision_id}/claim")
    r = rclient.post(f"/v1/reviews/{rec.decision_id}/resolution",
                     json={"resolution": "approve", "reason": "known customer", "note": "called them"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "resolved" and body["replayed"] is False and body["claimed_by"] is None
    assert body["resolution"]["by"] == "ana" and body["resolution"]["outcome_id"]
    assert rclient.get("/v1/reviews").json()["items"] == []
    assert _ids(rclient.get("/v1/reviews", params={"status": "resolved"}).json()) == [rec.decision_id]

    outcomes = [o for o in store.iter_outcomes({rec.event_id})]
    assert [(o.type, o.body["confirmed"], o.api_key) for o in outcomes] == [("review", False, "ana")]
    assert outcomes[0].outcome_id == body["resolution"]["outcome_id"]

    # the same call again: a replay, no second outcome
    again = rclient.post(f"/v1/reviews/{rec.decision_id}/resolution",
                         json={"resolution": "approve", "reason": "known customer"})
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert len(list(store.iter_outcomes({rec.event_id}))) == 1
    # resolved differently: 409
    other = rclient.post(f"/v1/reviews/{rec.decision_id}/resolution", json={"resolution": "decline", "reason": "x"})
    assert "already resolved (approve) by ana" in _problem(other, 409, "conflict")["detail"]
    _problem(rclient.post(f"/v1/reviews/{rec.decision_id}/claim"), 409, "conflict")

    # exported as a label: a cleared review is not a fraud row, but a review_outcomes row
    counts = export(settings, tmp_path / "exp", store=store)
    assert counts["review_outcomes"] == 1 and counts["fraud_labels"] == 0


def test_escalate_then_decline_is_a_fraud_label(rclient, store, reviewer_keys, settings, tmp_path):
    rec = put_decision(store)
    r = rclient.post(f"/v1/reviews/{rec.decision_id}/resolution", json={"resolution": "escalate", "reason": "unsure"})
    assert r.status_code == 200 and r.json()["queue"] == "escalated" and r.json()["status"] == "open"
    page = rclient.get("/v1/reviews", params={"queue": "escalated"}).json()
    assert _ids(page) == [rec.decision_id] and page["counts"]["order_review"] == 0
    assert list(store.iter_outcomes({rec.event_id})) == []  # an escalation is no label
    ben = {"X-API-Key": reviewer_keys["ben"]}
    r = rclient.post(f"/v1/reviews/{rec.decision_id}/resolution", json={"resolution": "decline", "reason": "ring"},
                     headers=ben)
    assert r.status_code == 200, r.text
    assert [o.body["confirmed"] for o in store.iter_outcomes({rec.event_id})] == [True]
    item = rclient.get(f"/v1/reviews/{rec.decision_id}").json()
    assert [(h["action"], h["by"]) for h in item["history"]] == [("escalate", "ana"), ("decline", "ben")]
    assert export(settings, tmp_path / "exp", store=store)["fraud_labels"] == 1


def test_item_shows_audit_record_history_and_customer_history(rclient, store, online):
    rec = put_decision(store, features={"cust_prior_orders": 7.0, "velocity": 2.0})
    online.features = lambda kind, event: {  # type: ignore[method-assign]
        "cust_prior_orders": 9.0, "cust_return_rate": float("nan"), "velocity": 3.0}
    rclient.post(f"/v1/reviews/{rec.decision_id}/claim")
    item = rclient.get(f"/v1/reviews/{rec.decision_id}").json()
    assert item["audit"]["request"]["order_id"] == rec.event_id
    assert item["audit"]["decision"]["actions"] == ["hold_for_review"]
    assert item["history"][0]["action"] == "claim" and item["history"][0]["by"] == "ana"
    assert item["customer_history"] == {"at_decision": {"cust_prior_orders": 7.0},
                                        "now": {"cust_prior_orders": 9.0, "cust_return_rate": None}, "problem": None}


def test_unknown_or_unreviewable_item_is_404(rclient, store):
    released = put_decision(store, actions=("release",))
    for path in ("/v1/reviews/nope", f"/v1/reviews/{released.decision_id}"):
        _problem(rclient.get(path), 404, "not_found")
        _problem(rclient.post(f"{path}/claim"), 404, "not_found")
        _problem(rclient.post(f"{path}/resolution", json={"resolution": "approve", "reason": "x"}), 404, "not_found")


@pytest.mark.parametrize("body", [{"resolution": "maybe", "reason": "x"}, {"resolution": "approve"},
                                  {"resolution": "approve", "reason": ""},
                                  {"resolution": "approve", "reason": "x", "extra": 1}])
def test_bad_resolution_body_is_422(rclient, store, body):
    rec = put_decision(store)
    _problem(rclient.post(f"/v1/reviews/{rec.decision_id}/resolution", json=body), 422, "validation")


def test_reviewers_cannot_decide_or_administer_and_others_cannot_review(client, store, keys, reviewer_keys):
    rec = put_decision(store)
    ana = {"X-API-Key": reviewer_keys["ana"]}
    _problem(client.post("/v1/orders/decisions", json=order_body(), headers=ana), 403, "forbidden")
    _problem(client.post("/v1/admin/reload", headers=ana), 403, "forbidden")
    _problem(client.post("/v1/outcomes", json={"type": "review", "order_id": "o-1",
                                               "reported_at": "2026-03-01T00:00:00Z"}, headers=ana), 403, "forbidden")
    for key in ("read", "decide"):
        h = {"X-API-Key": keys[key]}
        _problem(client.get("/v1/reviews", headers=h), 403, "forbidden")
        _problem(client.post(f"/v1/reviews/{rec.decision_id}/claim", headers=h), 403, "forbidden")
    _problem(client.get("/v1/reviews", headers={"X-API-Key": "trg_unknown"}), 401, "unauthorized")
    _problem(client.get(f"/v1/reviews/{rec.decision_id}", headers={"X-API-Key": ""}), 401, "unauthorized")


def test_reviews_answer_503_without_an_audit_store(tmp_path):
    settings = Settings(home=tmp_path / "h", database_url="postgresql://127.0.0.1:1/none?connect_timeout=1")
    with TestClient(create_app(settings, services=make_services()), raise_server_exceptions=False) as c:
        _problem(c.get("/v1/reviews", headers={"X-API-Key": "trg_x"}), 503, "unavailable")


def test_console_page_is_served_without_a_key(client):
    r = client.get("/console", headers={"X-API-Key": ""})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="signin"' in r.text and "/v1/reviews" in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_an_outcome_posted_elsewhere_closes_the_item(rclient, store, keys):
    rec = put_decision(store)
    r = rclient.post("/v1/outcomes", headers={"X-API-Key": keys["all"]},
                     json={"type": "cancellation", "order_id": rec.event_id, "cancelled_at": "2026-12-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert rclient.get("/v1/reviews").json()["items"] == []
    closed = rclient.get("/v1/reviews", params={"status": "resolved"}).json()["items"]
    assert [(i["decision_id"], i["status"], i["closed_by_outcome"]) for i in closed] == [
        (rec.decision_id, "closed", "cancellation")]


def test_a_failed_outcome_write_is_made_good_by_the_retry(rclient, store, monkeypatch):
    from triage.errors import UnavailableError

    rec = put_decision(store)
    real = store.insert_outcome

    def down(record):
        raise UnavailableError("audit store down (test)")

    monkeypatch.setattr(store, "insert_outcome", down)
    body = {"resolution": "decline", "reason": "ring"}
    _problem(rclient.post(f"/v1/reviews/{rec.decision_id}/resolution", json=body), 503, "unavailable")
    assert list(store.iter_outcomes({rec.event_id})) == []
    monkeypatch.setattr(store, "insert_outcome", real)
    r = rclient.post(f"/v1/reviews/{rec.decision_id}/resolution", json=body)
    assert r.status_code == 200 and r.json()["replayed"] is True
    outcomes = list(store.iter_outcomes({rec.event_id}))
    assert [o.outcome_id for o in outcomes] == [r.json()["resolution"]["outcome_id"]]
    assert outcomes[0].body["confirmed"] is True


def test_a_returns_decline_is_an_abuse_review_outcome(rclient, store, settings, tmp_path, online):
    ret = put_decision(store, kind="return", actions=("manual_review", "dc_restock"))
    r = rclient.post(f"/v1/reviews/{ret.decision_id}/resolution", json={"resolution": "decline", "reason": "empty box"})
    assert r.status_code == 200, r.text
    [o] = store.iter_outcomes({ret.event_id})
    assert (o.type, o.entity_id, o.body["return_id"], o.body["order_id"], o.body["confirmed"]) == (
        "review", ret.event_id, ret.event_id, None, True)
    assert online.outcomes and online.outcomes[-1][1]["return_id"] == ret.event_id
    counts = export(settings, tmp_path / "exp", store=store)
    assert counts["review_outcomes"] == 1 and counts["fraud_labels"] == 0  # abuse, not fraud


@pytest.mark.parametrize(("ids", "status"), [({"return_id": "r-1"}, 200), ({"order_id": "o-1"}, 200),
                                             ({"order_id": "o-1", "return_id": "r-1"}, 422), ({}, 422)])
def test_a_posted_review_outcome_names_an_order_or_a_return(client, ids, status):
    r = client.post("/v1/outcomes", json={"type": "review", "reported_at": "2026-03-01T00:00:00Z", **ids})
    assert r.status_code == status, r.text
