"""The service over its real online state: SQLite by default, Redis by URL, degraded when down.

Redis tests need 127.0.0.1:6379 (or TRIAGE_TEST_REDIS_URL): skipped with the reason
when it is not reachable, a failure under CI=true.
"""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import order_body, return_body
from tests.stores.conftest import REDIS_URL, require_redis
from triage.keys import create_key
from triage.settings import Settings
from triage.stores.online import OnlineState, load_online


def _master(tmp_path):
    """A contract folder with one node, two products and one customer, no events."""
    d = tmp_path / "master"
    d.mkdir()
    (d / "nodes.csv").write_text("node_id,node_type,region,lat,lon,daily_capacity\ndc-1,dc,north,52.0,13.0,100\n")
    (d / "products.csv").write_text(
        "sku,category,list_price,unit_cost,weight_kg,vendor_id,is_returnable\n"
        "sku-1,electronics,120.0,60.0,1.0,v1,true\nsku-2,apparel,25.0,10.0,0.3,v2,true\n")
    (d / "customers.csv").write_text(
        "customer_id,created_at,loyalty_tier,is_guest,home_region\nc-1,2026-02-25T00:00:00Z,gold,false,north\n")
    (d / "orders.csv").write_text(
        "order_id,customer_id,created_at,channel,order_total,item_count,payment_method,card_country,ip_country,"
        "device_id,email_hash,billing_postcode,shipping_postcode,ship_lat,ship_lon,promo_code,"
        "fulfillment_node_id,fulfillment_type,carrier,service_level,promised_at\n")
    (d / "order_lines.csv").write_text("order_id,line_no,sku,quantity,unit_price\n")
    return d


def _client(settings: Settings) -> TestClient:
    key = create_key(settings, f"k{uuid.uuid4().hex[:6]}", "decide,outcomes,read,admin")
    c = TestClient(create_app(settings), raise_server_exceptions=False)
    c.headers["X-API-Key"] = key
    return c


def _history_features(c: TestClient) -> list[dict]:
    """Three orders of one customer, an hour apart: the third sees the first two."""
    feats = []
    for i in range(3):
        body = order_body(created_at=f"2026-03-01T1{i}:00:00Z", device_id="d-1")
        d = c.post("/v1/orders/decisions", json=body).json()
        assert d["degraded"] is False, d
        feats.append(c.get(f"/v1/decisions/{d['decision_id']}").json()["features"])
    return feats


def test_default_sqlite_state_is_bootstrapped_and_learns(tmp_path):
    """Check that `bootstrap_dir` seeds the SQLite state and decided orders become history."""
    settings = Settings(home=tmp_path / "home", bootstrap_dir=_master(tmp_path), bundle_dir=tmp_path)
    with _client(settings) as c:
        feats = _history_features(c)
        assert c.get("/v1/models").json()["online_store"].startswith("sqlite:///")
    assert [f["cust_prior_orders"] for f in feats] == [0.0, 1.0, 2.0]
    assert feats[2]["device_orders_24h"] == 2.0
    assert feats[0]["loyalty_tier"] == "gold" and feats[0]["node_type"] == "dc"  # from the bootstrap
    assert (tmp_path / "home" / "online.db").exists()


def test_a_failed_bootstrap_is_named_by_readyz(tmp_path):
    """Check that a bootstrap folder the service cannot load leaves /readyz degraded with the
    reason, instead of "ready" over an online state without the retailer's history."""
    broken = _master(tmp_path)
    (broken / "nodes.csv").write_text("node_id,node_type\n")  # required columns missing
    settings = Settings(home=tmp_path / "home", bootstrap_dir=broken, bundle_dir=tmp_path)
    with _client(settings) as c:
        ready = c.get("/readyz").json()
    assert ready["status"] == "degraded", ready
    assert any("online bootstrap from" in p and "failed" in p for p in ready["problems"]), ready


def test_unreachable_online_store_gives_rules_only_degraded_decisions(tmp_path):
    """Check that with the online store down decisions continue, degraded, and /readyz says why."""
    from tests.api.conftest import FakeBundle

    settings = Settings(home=tmp_path / "home", redis_url="redis://127.0.0.1:1/0", bundle_dir=tmp_path)  # nothing listens
    from triage.decision.model_loading import load_services

    with _client(settings) as c:
        app_state = c.app.state.triage  # type: ignore[attr-defined]
        services = load_services(settings, online=app_state.online)
        services.bundles["order"].append(FakeBundle())  # a configured model needs features
        app_state.services = services
        d = c.post("/v1/orders/decisions", json=order_body()).json()
        assert d["degraded"] is True and d["scores"]["p_fraud"] is None
        ready = c.get("/readyz").json()
        assert ready["status"] == "degraded"
        assert any("online store" in p for p in ready["problems"]), ready


def test_outcomes_post_into_the_online_state(tmp_path):
    """Check that a posted chargeback is seen by a later order of the same device, not an earlier one."""
    settings = Settings(home=tmp_path / "home", bootstrap_dir=_master(tmp_path), bundle_dir=tmp_path)
    with _client(settings) as c:
        first = order_body(created_at="2026-03-01T10:00:00Z", device_id="d-9")
        c.post("/v1/orders/decisions", json=first)
        r = c.post("/v1/outcomes", json={"type": "chargeback", "order_id": first["order_id"],
                                         "reported_at": "2026-03-02T10:00:00Z"})
        assert r.status_code == 200, r.text
        sync = {"type": "inventory_sync", "node_id": "dc-1", "synced_at": "2026-03-03T09:00:00Z"}
        assert c.post("/v1/outcomes", json=sync).status_code == 200
        before = c.post("/v1/orders/decisions", json=order_body(created_at="2026-03-02T09:00:00Z", device_id="d-9"))
        after = c.post("/v1/orders/decisions", json=order_body(created_at="2026-03-03T10:00:00Z", device_id="d-9"))
        fb = c.get(f"/v1/decisions/{before.json()['decision_id']}").json()["features"]
        fa = c.get(f"/v1/decisions/{after.json()['decision_id']}").json()["features"]
    assert fb["device_fraud_known_all"] == 0.0 and fa["device_fraud_known_all"] == 1.0
    assert fa["inventory_sync_age_hours"] == pytest.approx(1.0)


@pytest.mark.integration
def test_redis_state_serves_decisions_and_is_shared_between_workers(tmp_path):
    """Check that with TRIAGE_REDIS_URL two apps (two workers) share one state, and a reload
    on one reaches the other."""
    require_redis()
    prefix = f"triage-test-{uuid.uuid4().hex[:8]}:"
    settings = Settings(home=tmp_path / "home", redis_url=REDIS_URL, bundle_dir=tmp_path,
                        reload_poll_seconds=0.05)
    from triage.stores.online_redis import RedisLog

    stores = [RedisLog(REDIS_URL, prefix=prefix) for _ in range(2)]
    try:
        load_online(settings, _master(tmp_path), log_=stores[0])
        apps = [create_app(settings, online=OnlineState(s)) for s in stores]
        key = create_key(settings, "w", "decide,read,admin")
        with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
            a.headers["X-API-Key"] = b.headers["X-API-Key"] = key
            d1 = a.post("/v1/orders/decisions", json=order_body(created_at="2026-03-01T10:00:00Z")).json()
            d2 = b.post("/v1/orders/decisions", json=order_body(created_at="2026-03-01T11:00:00Z")).json()
            assert not d1["degraded"] and not d2["degraded"]
            f2 = b.get(f"/v1/decisions/{d2['decision_id']}").json()["features"]
            assert f2["cust_prior_orders"] == 1.0 and f2["loyalty_tier"] == "gold"
            assert b.post("/v1/returns/decisions", json=return_body(order_id=d1["event_id"])).status_code == 200
            gen_b = b.app.state.triage.services.generation  # type: ignore[attr-defined]
            assert a.post("/v1/admin/reload").status_code == 200
            deadline = time.monotonic() + 5
            while b.app.state.triage.services.generation == gen_b and time.monotonic() < deadline:  # type: ignore[attr-defined]
                time.sleep(0.05)
            assert b.app.state.triage.services.generation != gen_b  # type: ignore[attr-defined]
            assert b.app.state.triage.services.online is not None  # type: ignore[attr-defined]
    finally:
        stores[0].clear()
        for s in stores:
            s.close()


def test_batch_items_see_the_earlier_items_of_their_batch(tmp_path):
    """Check that a later item of a batch sees an earlier (strictly older) item with the same
    device and e-mail, as two single calls would, and a same-time item does not."""
    settings = Settings(home=tmp_path / "home", bootstrap_dir=_master(tmp_path), bundle_dir=tmp_path)
    shared = {"device_id": "d-pb", "email_hash": "e-pb"}
    items = [order_body("pb-2", created_at="2026-03-01T11:00:00Z", **shared),
             order_body("pb-1", created_at="2026-03-01T10:00:00Z", **shared),
             order_body("pb-3", created_at="2026-03-01T11:00:00Z", **shared)]
    with _client(settings) as c:
        results = c.post("/v1/orders/decisions:batch", json={"items": items}).json()["results"]
        assert [r["status"] for r in results] == [200, 200, 200]
        feats = {r["decision"]["event_id"]: c.get(f"/v1/decisions/{r['decision']['decision_id']}").json()["features"]
                 for r in results}
    assert (feats["pb-1"]["device_orders_1h"], feats["pb-1"]["email_orders_24h"]) == (0.0, 0.0)
    for later in ("pb-2", "pb-3"):  # each sees pb-1 (10:00), not the other one at 11:00
        assert (feats[later]["device_orders_1h"], feats[later]["email_orders_24h"]) == (1.0, 1.0)
