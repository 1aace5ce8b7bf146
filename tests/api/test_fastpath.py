"""The single-decision routes' fast path (`api.fastpath`): ordinary requests skip FastAPI's
dependency solver; every other request gets exactly FastAPI's own handling."""

from __future__ import annotations

import fastapi.routing
import pytest

from tests.api.conftest import order_body, return_body


@pytest.fixture
def solves(monkeypatch) -> list[str]:
    """The paths FastAPI's dependency solver ran for."""
    seen: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def counting(*, request, **kw):  # type: ignore[no-untyped-def]
        seen.append(request.url.path)
        return await original(request=request, **kw)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return seen


def test_ordinary_decisions_skip_the_dependency_solver(client, solves):
    body = order_body()
    r = client.post("/v1/orders/decisions", json=body, headers={"Idempotency-Key": "k-1"})
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "order"
    again = client.post("/v1/orders/decisions", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["decision_id"] == r.json()["decision_id"]
    assert client.post("/v1/returns/decisions", json=return_body()).status_code == 200
    assert solves == []
    client.get("/v1/models")  # other routes keep FastAPI's handler
    assert solves == ["/v1/models"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"json": {**order_body(), "order_total": "lots"}}, "order_total"),
        ({"json": [1, 2]}, "body"),
        ({"content": b'{"order_id": ', "headers": {"Content-Type": "application/json"}}, None),
        ({"json": order_body(), "headers": {"Idempotency-Key": "x" * 201}}, "Idempotency-Key"),
    ],
)
def test_unusual_requests_get_fastapis_errors(client, solves, kwargs, field):
    r = client.post("/v1/orders/decisions", **kwargs)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "validation"
    if field is not None:
        assert any(e["field"].endswith(field) for e in body["errors"]), body
    assert solves in ([], ["/v1/orders/decisions"])  # a JSON error is FastAPI's before it solves anything


def test_a_bad_key_is_401_before_a_bad_body_either_way(client):
    for body in (order_body(), {"junk": 1}):
        r = client.post("/v1/orders/decisions", json=body, headers={"X-API-Key": "trg_nope"})
        assert r.status_code == 401, r.text


def test_a_body_that_is_not_json_typed_goes_to_fastapi(client, solves):
    import json

    r = client.post("/v1/orders/decisions", content=json.dumps(order_body()), headers={"Content-Type": "text/plain"})
    assert r.status_code == 422  # FastAPI does not read a text/plain body as JSON
    assert solves == ["/v1/orders/decisions"]
