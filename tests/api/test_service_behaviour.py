"""Degraded mode, outcomes, reload, metrics, errors and logs."""

from __future__ import annotations

import json
import logging
import threading

from fastapi.testclient import TestClient

from api.app import create_app
from api.logs import JsonFormatter
from tests.api.conftest import FakeBundle, FakeOnline, make_services, order_body, return_body


def _client(settings, store, keys, services, **kw):
    app = create_app(settings, services=services, store=store, **kw)
    c = TestClient(app, raise_server_exceptions=False)
    c.headers["X-API-Key"] = keys["all"]
    return c


def test_failing_model_gives_a_degraded_rules_only_decision(settings, store, keys):
    services = make_services(bundles=[FakeBundle(fail=True)])
    with _client(settings, store, keys, services) as c:
        body = c.post("/v1/orders/decisions", json=order_body()).json()
        assert body["degraded"] is True and body["scores"]["p_fraud"] is None
        assert body["actions"] == ["hold_for_review"]  # the fake policy's safe default
        assert 'triage_degraded_decisions_total{kind="order"} 1.0' in c.get("/metrics").text


def test_failing_online_store_gives_a_degraded_decision(settings, store, keys):
    with _client(settings, store, keys, make_services(online=FakeOnline(fail=True))) as c:
        assert c.post("/v1/orders/decisions", json=order_body()).json()["degraded"] is True


def test_model_not_configured_is_null_and_not_degraded(settings, store, keys):
    with _client(settings, store, keys, make_services(bundles=[])) as c:
        body = c.post("/v1/orders/decisions", json=order_body()).json()
        assert body["scores"] == {"p_late": None, "p_fraud": None} and body["degraded"] is False


def test_model_that_failed_to_load_degrades_and_readyz_says_why(settings, store, keys):
    services = make_services(bundles=[], problems=["order: model file triage-fraud.joblib cannot be loaded"])
    with _client(settings, store, keys, services) as c:
        assert c.post("/v1/orders/decisions", json=order_body()).json()["degraded"] is True
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert "triage-fraud.joblib" in ready.json()["problems"][0]


def test_outcomes_are_kept_and_reach_the_online_state(client, online, store):
    posts = [
        {
            "type": "delivery",
            "order_id": "o-1",
            "shipped_at": "2026-03-02T10:00:00Z",
            "delivered_at": "2026-03-03T10:00:00Z",
        },
        {"type": "cancellation", "order_id": "o-2", "cancelled_at": "2026-03-02T10:00:00Z"},
        {"type": "chargeback", "order_id": "o-3", "reported_at": "2026-04-02T10:00:00Z"},
        {"type": "review", "order_id": "o-4", "reported_at": "2026-03-02T12:00:00Z", "confirmed": False},
        {
            "type": "inspection",
            "return_id": "r-1",
            "inspected_at": "2026-03-12T10:00:00Z",
            "disposition": "restock",
            "abuse_confirmed": False,
        },
    ]
    for p in posts:
        r = client.post("/v1/outcomes", json=p)
        assert r.status_code == 200, r.text
        assert r.json()["duplicate"] is False
    again = client.post("/v1/outcomes", json=posts[0])
    assert again.json()["duplicate"] is True
    assert [t for t, _ in online.outcomes] == [
        "delivery",
        "cancellation",
        "chargeback",
        "review",
        "inspection",
    ]
    assert len(list(store.iter_outcomes())) == 5


def test_bad_outcomes_are_422(client):
    r = client.post("/v1/outcomes", json={"type": "teleport", "order_id": "o"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = client.post(
        "/v1/outcomes", json={"type": "inspection", "return_id": "r", "inspected_at": "2026-03-12T10:00:00"}
    )
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"inspected_at", "disposition", "abuse_confirmed"} <= fields


def test_reload_swaps_atomically_and_keeps_serving(settings, store, keys):
    versions = iter(f"v{i}" for i in range(2, 100))
    loader = lambda _s: make_services(version=next(versions))  # noqa: E731
    with _client(settings, store, keys, make_services(version="v1"), loader=loader) as c:
        statuses: list[int] = []
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                statuses.append(c.post("/v1/orders/decisions", json=order_body()).status_code)

        t = threading.Thread(target=hammer)
        t.start()
        for _ in range(3):
            assert c.post("/v1/admin/reload").status_code == 200
        stop.set()
        t.join()
        assert statuses and set(statuses) == {200}
        assert c.get("/v1/models").json()["policy_version"] == "v4"
        assert 'triage_model_info{name="policy",version="v4"} 1.0' in c.get("/metrics").text


def test_failed_reload_keeps_the_running_models(settings, store, keys):
    def broken(_s):
        raise RuntimeError("policy file is broken")

    with _client(settings, store, keys, make_services(version="v1"), loader=broken) as c:
        r = c.post("/v1/admin/reload")
        assert r.status_code == 500 and "policy file" not in r.text  # generic 500, no internals
        assert c.get("/v1/models").json()["policy_version"] == "v1"


def test_other_workers_follow_a_reload(settings, store, keys):
    """Two apps on one database stand for two workers: a reload on one reaches the other."""
    fast = settings.model_copy(update={"reload_poll_seconds": 0.05})
    a = _client(fast, store, keys, make_services(version="a1"), loader=lambda _s: make_services(version="a2"))
    b = _client(fast, store, keys, make_services(version="b1"), loader=lambda _s: make_services(version="b2"))
    with a, b:
        assert a.post("/v1/admin/reload").status_code == 200
        import time

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and b.get("/v1/models").json()["policy_version"] != "b2":
            time.sleep(0.05)
        assert b.get("/v1/models").json()["policy_version"] == "b2"


def test_metrics_count_requests_decisions_and_versions(client):
    client.post("/v1/orders/decisions", json=order_body())
    client.post("/v1/returns/decisions", json=return_body())
    client.get("/v1/decisions/missing")
    text = client.get("/metrics").text
    assert 'triage_http_requests_total{method="POST",route="/v1/orders/decisions",status="200"} 1.0' in text
    assert 'route="/v1/decisions/{decision_id}",status="404"' in text
    assert 'triage_decisions_total{action="hold_for_review",kind="order"} 1.0' in text
    assert 'triage_decisions_total{action="instant_refund",kind="return"} 1.0' in text
    assert 'triage_model_info{name="triage-fraud",version="7"} 1.0' in text
    assert "triage_http_request_duration_seconds_bucket" in text
    assert "triage_decision_group_size_count 2.0" in text  # two single decisions, each its own group
    assert "triage_audit_store_up 1.0" in text  # the scrape pinged the (local) audit store


def test_unknown_error_is_a_generic_500_with_correlation_id(settings, store, keys, caplog):
    services = make_services()

    def explode(*a, **k):
        raise ValueError("secret internals: card 4111 1111 1111 1111")

    services.decide_order = explode
    with caplog.at_level(logging.ERROR, logger="triage.api"), _client(settings, store, keys, services) as c:
        r = c.post("/v1/orders/decisions", json=order_body(), headers={"X-Correlation-ID": "abc-123"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["correlation_id"] == "abc-123" and "abc-123" in r.json()["detail"]
    assert "secret" not in r.text and "Traceback" not in r.text
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert logged, "the trace is logged"
    line = JsonFormatter().format(logged[0])
    assert "4111 1111" not in line and json.loads(line)["level"] == "error"


def test_unknown_route_and_method_are_problems(client):
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = client.get("/v1/orders/decisions")
    assert r.status_code == 405 and r.json()["status"] == 405


def test_logs_are_json_with_correlation_id_and_no_personal_data():
    from api.logs import correlation_id

    token = correlation_id.set("cid-9")
    try:
        rec = logging.LogRecord(
            "triage.api", logging.INFO, __file__, 1, "mail jane.doe@example.com", None, None
        )
        rec.shipping_address = "1 Main St"
        out = json.loads(JsonFormatter().format(rec))
    finally:
        correlation_id.reset(token)
    assert out["correlation_id"] == "cid-9"
    assert "jane.doe" not in out["msg"] and out["shipping_address"] == "[redacted]"


def test_openapi_lists_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/v1/orders/decisions",
        "/v1/returns/decisions",
        "/v1/orders/decisions:batch",
        "/v1/returns/decisions:batch",
        "/v1/outcomes",
        "/v1/decisions/{decision_id}",
        "/v1/models",
        "/v1/admin/reload",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert p in paths
