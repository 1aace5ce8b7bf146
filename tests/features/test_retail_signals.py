"""Features from how retail works (issue 10): promise, delivery area and route, disruptions,
card-style velocity — each checked by hand on a tiny case, point in time, and null when its
source column is null or its table absent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_order_features
from features.orders import GLOBAL_PRIOR_LATE, GLOBAL_PRIOR_N, LATE_PRIOR_WEIGHT
from features.streams import ship_area
from tests.factories import make_dataset, node_row, order_row, ts


def _fo(order_id: str, delivered: pd.Timestamp | None, cancelled: bool = False) -> dict:
    return {"order_id": order_id, "shipped_at": None, "delivered_at": delivered, "cancelled": cancelled}


def _smoothed(late: float, known: float, late_prior: float, known_prior: float) -> float:
    prior = (late_prior + GLOBAL_PRIOR_LATE) / (known_prior + GLOBAL_PRIOR_N)
    return (late + LATE_PRIOR_WEIGHT * prior) / (known + LATE_PRIOR_WEIGHT)


@pytest.mark.parametrize(("postcode", "area"), [("SW1A 1AA", "SW"), ("01310-100", "01"), ("60648", "60"),
                                                ("x", None), (None, None), (float("nan"), None)])
def test_ship_area_is_the_postcode_prefix(postcode: object, area: str | None) -> None:
    assert ship_area(postcode) == area


def test_area_route_and_retailer_late_rates_see_only_outcomes_known_before_the_order() -> None:
    """Check the delivery area's, the route's and the retailer's recent late rates, point in time.

    A: late, known at its promise (day 1) — seen by Z (day 2);
    B: same area from another node, on time, delivered day 2 at exactly Z's time — not seen (t is exclusive);
    C: another area, late at day 1.5 — counts for the retailer only;
    D: same area and node, late but known only at its promise on day 5 — not seen by Z.
    """
    z_t = ts("2D")
    orders = [
        order_row("A", "0s", shipping_postcode="AB1 2CD", promised_at=ts("1D")),
        order_row("B", "1h", shipping_postcode="AB9", fulfillment_node_id="N2", customer_id="C2",
                  promised_at=ts("3D")),
        order_row("C", "2h", shipping_postcode="ZZ1", customer_id="C3", promised_at=ts("1D12h")),
        order_row("D", "3h", shipping_postcode="AB3", customer_id="C4", promised_at=ts("5D")),
        order_row("Z", z_t, shipping_postcode="ab7", customer_id="C5", promised_at=ts("4D")),
    ]
    fo = [_fo("A", ts("1D6h")), _fo("B", z_t), _fo("C", None, cancelled=True), _fo("D", ts("6D"))]
    ds = make_dataset(orders=orders, fulfillment_outcomes=fo, nodes=[node_row("N1"), node_row("N2")])
    f = build_order_features(ds).set_index("order_id").loc["Z"]
    assert f["ship_area_known_3d"] == 1 and f["ship_area_known_28d"] == 1  # A only
    assert f["route_known_all"] == 1 and f["route_known_28d"] == 1
    assert f["ship_area_late_rate_3d"] == pytest.approx(_smoothed(1, 1, 2, 2))  # prior: A and C, both late
    assert f["route_late_rate_all"] == pytest.approx(_smoothed(1, 1, 2, 2))
    assert f["all_late_rate_3d"] == pytest.approx(_smoothed(2, 2, 2, 2))
    assert f["node_known_3d"] == 2 and f["node_late_rate_3d"] == pytest.approx(_smoothed(2, 2, 2, 2))


def test_area_features_are_null_without_an_area_and_rates_null_without_outcomes() -> None:
    """Check a postcode too short to give an area (the contract requires one) and an absent outcome table."""
    orders = [order_row("A", "0s", promised_at=ts("1D")), order_row("Z", "2D", shipping_postcode="x")]
    with_fo = build_order_features(make_dataset(orders=orders, fulfillment_outcomes=[_fo("A", None)]))
    z = with_fo.set_index("order_id").loc["Z"]
    assert np.isnan(z["ship_area_known_3d"]) and np.isnan(z["ship_area_late_rate_28d"])
    assert np.isnan(z["route_late_rate_all"]) and z["all_late_rate_3d"] > 0
    no_fo = build_order_features(make_dataset(orders=orders)).set_index("order_id")
    for name in ("ship_area_late_rate_3d", "route_late_rate_28d", "all_late_rate_3d", "node_late_rate_3d"):
        assert no_fo[name].isna().all(), name


def test_promise_speed_and_weekday() -> None:
    """Check km per hour of promise (68.5 km in 36 h), the promised weekday, and null for pickup."""
    t = ts("14h")  # Monday
    orders = [order_row("O1", t, ship_lat=52.0, ship_lon=1.0, promised_at=t + pd.Timedelta("36h")),
              order_row("O2", t + pd.Timedelta("1min"), ship_lat=None, ship_lon=None, service_level="pickup",
                        promised_at=t + pd.Timedelta("5D"))]
    f = build_order_features(make_dataset(orders=orders, nodes=[node_row("N1", lat=52.0, lon=0.0)]))
    f = f.set_index("order_id")
    assert f.loc["O1", "promise_km_per_hour"] == pytest.approx(68.5 / 36, rel=0.01)
    assert f.loc["O1", "promise_weekday"] == 2 and f.loc["O2", "promise_weekday"] == 5
    assert np.isnan(f.loc["O2", "promise_km_per_hour"])


def test_customer_and_device_spend_windows_and_amount_against_the_usual() -> None:
    """Check 24 h / 7 d / 30 d amounts (bounds: [t − w, t)), the 30-day count, and the ratio to the mean."""
    orders = [
        order_row("A", "0s", order_total=100.0),
        order_row("B", "20D", order_total=50.0),
        order_row("C", "29D", order_total=30.0, device_id="D2"),
        order_row("Z", "30D", order_total=180.0),
        order_row("N", "31D", order_total=10.0, device_id=None, customer_id="C9"),
    ]
    f = build_order_features(make_dataset(orders=orders)).set_index("order_id")
    z = f.loc["Z"]
    assert z["cust_spend_24h"] == 30.0 and z["cust_spend_7d"] == 30.0 and z["cust_spend_30d"] == 180.0
    assert z["cust_orders_30d"] == 3  # A is exactly 30 d earlier: inside [t − 30 d, t)
    assert z["device_spend_30d"] == 150.0 and z["device_orders_30d"] == 2 and z["device_spend_24h"] == 0.0
    assert z["amount_vs_cust_mean_30d"] == pytest.approx(180.0 / 60.0)
    assert z["amount_vs_cust_mean_all"] == pytest.approx(180.0 / 60.0)
    n = f.loc["N"]
    assert np.isnan(n["device_spend_7d"]) and np.isnan(n["device_orders_30d"]) and np.isnan(n["device_fraud_rate_all"])
    assert np.isnan(n["amount_vs_cust_mean_all"])  # a first order has no usual amount
    assert np.isnan(f.loc["A", "amount_vs_cust_mean_30d"])


def test_device_fraud_rate_counts_a_report_only_once_known() -> None:
    """Check the device's fraud rate: the report on A arrives on day 10, so B (day 5) sees 0 / 1, Z 1 / 2."""
    orders = [order_row("A", "0s"), order_row("B", "5D", customer_id="C2"),
              order_row("Z", "10D", customer_id="C3"), order_row("Y", "10D1s", customer_id="C4")]
    fraud = [{"order_id": "A", "fraud_type": "chargeback", "reported_at": ts("10D")}]
    f = build_order_features(make_dataset(orders=orders, fraud_labels=fraud)).set_index("order_id")
    assert f.loc["B", "device_fraud_rate_all"] == 0.0
    assert f.loc["Z", "device_fraud_rate_all"] == 0.0  # reported at exactly Z's time: not yet known
    assert f.loc["Y", "device_fraud_rate_all"] == pytest.approx(1 / 3)
    assert np.isnan(f.loc["A", "device_fraud_rate_all"])


def test_node_week_load_and_retailer_volume_against_its_four_week_norm() -> None:
    """Check 7-day node load against 7 days of capacity, and the 24 h volume against the 28-day daily mean."""
    orders = [order_row(f"O{i}", f"{i}D") for i in range(10)] + [order_row("P1", "9D1h"), order_row("P2", "9D2h")]
    orders.append(order_row("Z", "9D3h"))
    f = build_order_features(make_dataset(orders=orders, nodes=[node_row("N1", daily_capacity=2)]))
    z = f.set_index("order_id").loc["Z"]
    assert z["node_orders_7d"] == 9  # O3..O9 (O2 is 7 d 3 h earlier), P1, P2
    assert z["node_load_7d"] == pytest.approx(9 / 14)
    assert z["order_volume_vs_28d"] == pytest.approx(3 * 28 / 12)  # O9, P1, P2 of the 12 before Z


def test_return_condition_rank_wearable_and_fault_claims() -> None:
    """Check the stated condition as a rank, wearable goods, and a fault claimed by code, condition or words."""
    from features import build_return_features
    from tests.factories import line_row, product_row, return_row

    products = [product_row("TEE", category="apparel"), product_row("TV", category="electronics")]
    lines = [line_row("O1", 1, sku="TEE"), line_row("O1", 2, sku="TV")]
    returns = [
        return_row("R1", "O1", "5D", sku="TEE", reported_condition="used"),
        return_row("R2", "O1", "5D1h", sku="TV", reported_condition="unopened", reason_code="defective"),
        return_row("R3", "O1", "5D2h", sku="TV", reported_condition="damaged", reason_code="changed_mind"),
        return_row("R4", "O1", "5D3h", sku="TV", reported_condition="like_new", reason_text="it stopped working"),
        return_row("R5", "O1", "5D4h", sku="TEE", reason_text="never damaged, just not needed"),
    ]
    ds = make_dataset(orders=[order_row("O1")], lines=lines, products=products, returns=returns)
    f = build_return_features(ds).set_index("return_id")
    assert f["condition_rank"].tolist()[:3] == [2.0, 0.0, 3.0] and np.isnan(f.loc["R4", "condition_rank"])
    assert f["is_wearable"].tolist() == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert f["fault_claimed"].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # R5's damage is negated
