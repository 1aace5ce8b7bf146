"""Batches: one result per item, per-item errors, the batch limit."""

from __future__ import annotations

from tests.api.conftest import order_body, return_body


def test_invalid_item_gets_its_own_error(client):
    bad = order_body(lines=[{"line_no": 1, "sku": "s", "quantity": 0, "unit_price": 1.0}])
    r = client.post(
        "/v1/orders/decisions:batch",
        json={"items": [order_body("b-1"), bad, "not an object", order_body("b-2")]},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [200, 422, 422, 200]
    assert [x["index"] for x in results] == [0, 1, 2, 3]
    err = results[1]["error"]
    assert err["status"] == 422 and err["errors"][0]["field"] == "items[1].lines[0].quantity"
    assert results[0]["decision"]["event_id"] == "b-1"


def test_batch_replays_and_conflicts_per_item(client):
    client.post("/v1/orders/decisions", json=order_body("b-seen"))
    items = [
        order_body("b-seen"),
        order_body("b-seen", order_total=1.0),
        order_body("b-new"),
        order_body("b-new"),
    ]
    results = client.post("/v1/orders/decisions:batch", json={"items": items}).json()["results"]
    assert [x["status"] for x in results] == [200, 409, 200, 200]
    assert results[2]["decision"]["decision_id"] == results[3]["decision"]["decision_id"]


def test_batch_above_the_limit_is_413(client, settings):
    items = [order_body() for _ in range(settings.max_batch_items + 1)]
    r = client.post("/v1/orders/decisions:batch", json={"items": items})
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert "max_batch_items" in r.json()["detail"]


def test_oversized_body_is_413(client, settings):
    body = order_body(promo_code="x" * settings.max_body_bytes)
    r = client.post("/v1/orders/decisions", json=body)
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")


def test_oversized_streamed_body_is_413(client, settings):
    def chunks():
        for _ in range(10):
            yield b"x" * (settings.max_body_bytes // 5)

    r = client.post("/v1/orders/decisions", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "too_large"


def test_return_batch(client):
    r = client.post("/v1/returns/decisions:batch", json={"items": [return_body(), return_body(quantity=-1)]})
    assert [x["status"] for x in r.json()["results"]] == [200, 422]
