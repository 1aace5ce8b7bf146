"""GET /v1/exceptions/summary: the exception queue the ops teams work from."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import order_body
from triage.keys import create_key
from triage.settings import Settings


def test_exception_summary_groups_open_exceptions_by_value_for_read_keys(tmp_path):
    settings = Settings(home=tmp_path / "home", bundle_dir=tmp_path / "no-bundles")
    (tmp_path / "no-bundles").mkdir()
    decide = create_key(settings, "oms", "decide")
    read = create_key(settings, "ops", "read")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        small = c.post("/v1/orders/decisions", json=order_body(), headers={"X-API-Key": decide})
        # no fraud model and a high value: the guardrail keeps it from being released
        big = c.post("/v1/orders/decisions", json=order_body(order_total=2500.0), headers={"X-API-Key": decide})
        assert small.status_code == big.status_code == 200
        assert "release" not in big.json()["actions"]

        url = "/v1/exceptions/summary?since=2026-03-01T00:00:00Z"
        assert c.get(url, headers={"X-API-Key": decide}).status_code == 403
        summary = c.get(url, headers={"X-API-Key": read})
        assert summary.status_code == 200, summary.text
        body = summary.json()
        assert body["exceptions"] >= 1 and body["value_at_stake"] >= 2500.0
        assert body["by"]["carrier"][0] == {"carrier": "dhl", "count": body["exceptions"],
                                            "value_at_stake": body["value_at_stake"]}
        assert body["age"]["past promise"]["count"] == body["exceptions"]  # promised 2026-03-04, long gone

        naive = c.get("/v1/exceptions/summary?since=2026-03-01T00:00:00", headers={"X-API-Key": read})
        assert naive.status_code == 422
        assert naive.headers["content-type"].startswith("application/problem+json")
