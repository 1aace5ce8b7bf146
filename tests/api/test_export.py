"""`triage.audit.export`: what the service saw, as a contract folder that loads."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from tests.api.conftest import order_body, return_body
from triage.audit import export, purge
from triage.contract import load_dataset


def _rows(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _master_data(folder):
    (folder / "nodes.csv").write_text(
        "node_id,node_type,region,lat,lon,daily_capacity\ndc-1,dc,north,52.5,13.4,500\n"
    )
    (folder / "products.csv").write_text(
        "sku,category,list_price,unit_cost,weight_kg,vendor_id,is_returnable\n"
        "sku-1,apparel,100,40,0.5,v1,true\nsku-2,home,20.5,8,1.0,v2,true\n"
    )


def test_export_writes_a_contract_folder(client, settings, store, tmp_path):
    customer = {
        "customer_id": "c-1",
        "created_at": "2025-01-01T00:00:00Z",
        "loyalty_tier": "gold",
        "is_guest": False,
        "home_region": "north",
    }
    client.post("/v1/orders/decisions", json=order_body("o-1", customer=customer))
    client.post("/v1/orders/decisions", json=order_body("o-2", created_at="2026-03-02T10:00:00Z"))
    client.post("/v1/returns/decisions", json=return_body("r-1", order_id="o-1"))
    for outcome in (
        {
            "type": "delivery",
            "order_id": "o-1",
            "shipped_at": "2026-03-02T10:00:00Z",
            "delivered_at": "2026-03-03T10:00:00Z",
        },
        {"type": "cancellation", "order_id": "o-2", "cancelled_at": "2026-03-02T12:00:00Z"},
        {"type": "chargeback", "order_id": "o-1", "reported_at": "2026-04-10T00:00:00Z"},
        {"type": "review", "order_id": "o-2", "reported_at": "2026-03-02T11:00:00Z", "confirmed": False},
        {
            "type": "inspection",
            "return_id": "r-1",
            "inspected_at": "2026-03-12T10:00:00Z",
            "disposition": "restock",
            "abuse_confirmed": False,
        },
        {"type": "delivery", "order_id": "o-unknown", "delivered_at": "2026-03-03T10:00:00Z"},
    ):
        assert client.post("/v1/outcomes", json=outcome).status_code == 200

    out = tmp_path / "export"
    counts = export(settings, out, store=store)
    assert counts == {
        "customers": 1,
        "orders": 2,
        "order_lines": 4,
        "returns": 1,
        "fulfillment_outcomes": 2,
        "fraud_labels": 1,
        "review_outcomes": 1,  # the cleared review: no fraud row, but a review verdict
        "return_outcomes": 1,
    }
    fo = {r["order_id"]: r for r in _rows(out / "fulfillment_outcomes.csv")}
    assert fo["o-2"]["cancelled"] == "true" and fo["o-1"]["delivered_at"] == "2026-03-03T10:00:00Z"
    assert _rows(out / "orders.csv")[0]["billing_postcode"] == "01234"  # leading zero kept

    _master_data(out)
    ds = load_dataset(out)
    assert len(ds["orders"]) == 2 and ds.has("fraud_labels") and ds.report.ok

    since = export(settings, tmp_path / "later", datetime(2026, 3, 2, tzinfo=UTC), store=store)
    assert since["orders"] == 1 and since["returns"] == 1 and since["fraud_labels"] == 0


def test_purge_through_settings(client, settings, store):
    client.post("/v1/orders/decisions", json=order_body())
    assert purge(settings, datetime(2100, 1, 1, tzinfo=UTC), store=store)["decisions"] == 1
