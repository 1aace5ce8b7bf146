"""Each feature family on a case small enough to check by hand, and absent optional data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import ORDER_FEATURES, RETURN_FEATURES, build_order_features, build_return_features
from tests.factories import (
    customer_row,
    line_row,
    make_dataset,
    make_frames,
    node_row,
    order_row,
    product_row,
    random_frames,
    return_row,
    ts,
)
from triage.contract import dataset_from_frames


def test_basket_features_from_lines_and_products() -> None:
    """Check value shares, max price, discount depth and the dominant category of one basket."""
    products = [product_row("TV", category="electronics", list_price=400.0, weight_kg=10.0),
                product_row("TEE", category="apparel", list_price=25.0, weight_kg=0.2),
                product_row("ODD", category="garden", list_price=50.0, weight_kg=1.0)]
    lines = [line_row("O1", 1, sku="TV", quantity=1, unit_price=300.0),
             line_row("O1", 2, sku="TEE", quantity=2, unit_price=25.0),
             line_row("O1", 3, sku="ODD", quantity=1, unit_price=50.0)]
    ds = make_dataset(orders=[order_row("O1", order_total=400.0, item_count=4, promo_code="X")],
                      lines=lines, products=products)
    f = build_order_features(ds).iloc[0]
    assert f["n_lines"] == 3 and f["item_count"] == 4 and f["max_unit_price"] == 300.0
    assert f["share_electronics"] == 0.75 and f["share_apparel"] == 0.125 and f["share_other"] == 0.125
    assert f["high_resale_share"] == 0.75 and f["dominant_category"] == "electronics"
    assert f["discount_depth"] == pytest.approx(1 - 400 / 500)
    assert f["basket_weight_kg"] == pytest.approx(10.4 + 1.0)
    assert f["promo_used"] == 1.0


def test_order_row_features() -> None:
    """Check mismatches, account age, promise window, distance and calendar fields."""
    t = ts("14h")  # Monday 14:00 UTC
    o = order_row("O1", t, card_country="US", ip_country="GB", billing_postcode="X1", shipping_postcode="Y2",
                  ship_lat=52.0, ship_lon=1.0, promised_at=t + pd.Timedelta("36h"))
    ds = make_dataset(orders=[o], customers=[customer_row("C1", created_at=t - pd.Timedelta("90min"),
                                                          home_region="south", is_guest=True)],
                      nodes=[node_row("N1", lat=52.0, lon=0.0, region="north")])
    f = build_order_features(ds).iloc[0]
    assert f["card_ip_country_mismatch"] == 1 and f["card_country_missing"] == 0
    assert f["billing_shipping_mismatch"] == 1 and f["is_guest"] == 1
    assert f["account_age_minutes"] == 90 and f["promise_window_hours"] == 36
    assert f["hour_utc"] == 14 and f["weekday"] == 0
    assert f["node_outside_home_region"] == 1
    assert f["distance_km"] == pytest.approx(68.5, abs=0.5)  # 1° of longitude at 52° N


def test_pickup_has_no_distance_and_unknown_ip_gives_null_mismatch() -> None:
    o = order_row("O1", ship_lat=None, ship_lon=None, carrier=None, service_level="pickup",
                  fulfillment_type="pickup_in_store", ip_country=None)
    f = build_order_features(make_dataset(orders=[o])).iloc[0]
    assert pd.isna(f["distance_km"]) and pd.isna(f["card_ip_country_mismatch"]) and pd.isna(f["carrier"])


def test_customer_history_velocity_and_linked_entities() -> None:
    """Check prior orders and spend, distinct customers per device, new address and fraud on a device."""
    orders = [
        order_row("A", "0s", customer_id="C1", order_total=10.0, shipping_postcode="P1"),
        order_row("B", "2h", customer_id="C2", order_total=20.0, email_hash="E2"),
        order_row("C", "1D", customer_id="C1", order_total=30.0, shipping_postcode="P1"),
        order_row("D", "3D", customer_id="C1", order_total=40.0, shipping_postcode="P9"),
    ]
    returns = [return_row("R1", "A", "12h", customer_id="C1")]
    fraud = [{"order_id": "B", "fraud_type": "chargeback", "reported_at": ts("2D")}]
    ds = make_dataset(orders=orders, returns=returns, fraud_labels=fraud)
    f = build_order_features(ds).set_index("order_id")
    assert f.loc["D", "cust_prior_orders"] == 2 and f.loc["D", "cust_prior_spend"] == 40.0
    assert f.loc["D", "days_since_prev_order"] == 2.0
    assert f.loc["D", "cust_prior_returns"] == 1 and f.loc["D", "cust_return_rate"] == 0.5
    assert f.loc["A", "device_distinct_customers"] == 0
    assert f.loc["B", "device_distinct_customers"] == 1
    assert f.loc["C", "device_distinct_customers"] == 2 and f.loc["D", "device_distinct_customers"] == 2
    assert f.loc["C", "new_shipping_address"] == 0 and f.loc["D", "new_shipping_address"] == 1
    assert f.loc["C", "device_orders_24h"] == 2  # A is exactly 24 h earlier: inside [t − 24 h, t)
    assert f.loc["D", "device_orders_24h"] == 0 and f.loc["D", "device_orders_7d"] == 3
    assert f.loc["C", "device_fraud_known_all"] == 0 and f.loc["D", "device_fraud_known_all"] == 1
    assert f.loc["D", "email_fraud_known_all"] == 0  # B used another e-mail
    assert f.loc["D", "cust_prior_chargebacks"] == 0  # the fraud was C2's


def test_inventory_sync_staleness() -> None:
    syncs = [{"node_id": "N1", "synced_at": ts("-2h")}, {"node_id": "N1", "synced_at": ts("0s")}]
    ds = make_dataset(orders=[order_row("O1", "0s"), order_row("O2", "3h")], inventory_syncs=syncs)
    f = build_order_features(ds).set_index("order_id")
    assert f.loc["O1", "inventory_sync_age_hours"] == 2.0
    assert f.loc["O2", "inventory_sync_age_hours"] == 3.0


def test_return_features_and_text_signals() -> None:
    """Check price ratio, vendor history, and keyword flags from the customer's words."""
    lines = [line_row("O1", 1, sku="S1", quantity=2, unit_price=40.0)]
    returns = [
        return_row("R1", "O1", "5D", quantity=1, refund_amount=40.0, reason_text="Wore it once to a wedding, tags on"),
        return_row("R2", "O1", "6D", quantity=1, refund_amount=60.0,
                   reason_text="It stopped working and the box was crushed"),
    ]
    ro = [{"return_id": "R1", "inspected_at": ts("5D12h"), "disposition": "return_to_vendor",
           "abuse_confirmed": True}]
    ds = make_dataset(orders=[order_row("O1")], lines=lines, returns=returns, return_outcomes=ro)
    f = build_return_features(ds).set_index("return_id")
    assert f.loc["R1", "unit_price_paid"] == 40.0 and f.loc["R1", "refund_to_paid_ratio"] == 1.0
    assert f.loc["R2", "refund_to_paid_ratio"] == 1.5
    assert f.loc["R1", "text_worn"] == 1 and f.loc["R1", "text_defective"] == 0
    assert f.loc["R2", "text_defective"] == 1 and f.loc["R2", "text_damaged"] == 1 and f.loc["R2", "text_worn"] == 0
    assert f.loc["R1", "vendor_prior_inspected"] == 0 and f.loc["R2", "vendor_prior_inspected"] == 1
    assert f.loc["R2", "vendor_rtv_share"] == pytest.approx((1 + 5 * 0.1) / 6)
    assert f.loc["R2", "cust_abuse_rate"] == 1.0 and pd.isna(f.loc["R1", "cust_abuse_rate"])
    assert f.loc["R2", "days_since_order"] == 6.0 and f.loc["R2", "cust_returns_30d"] == 1
    assert f["reason_code"].dtype == "category" and f["vendor_id"].dtype == "category"


def test_only_required_tables_still_give_every_feature() -> None:
    """Check that absent optional tables give null or zero features, never a crash."""
    frames = random_frames(3, n_orders=60)
    required = {k: frames[k] for k in ("nodes", "products", "customers", "orders", "order_lines")}
    ds = dataset_from_frames(required)
    f = build_order_features(ds)
    assert list(f.columns[2:]) == ORDER_FEATURES.names and len(f) == 60
    assert f["inventory_sync_age_hours"].isna().all() and f["node_late_rate_7d"].isna().all()
    assert (f["cust_prior_chargebacks"] == 0).all() and (f["cust_prior_returns"] == 0).all()
    r = build_return_features(ds)
    assert len(r) == 0 and list(r.columns[2:]) == RETURN_FEATURES.names


def test_empty_optional_tables_and_null_devices() -> None:
    """Check header-only tables and an all-null device column."""
    frames = random_frames(4, n_orders=60)
    frames["orders"]["device_id"] = None
    for name in ("fraud_labels", "return_outcomes", "inventory_syncs", "fulfillment_outcomes"):
        frames[name] = frames[name].iloc[:0]
    ds = dataset_from_frames(frames)
    f = build_order_features(ds)
    assert f["device_orders_24h"].isna().all() and f["device_distinct_customers"].isna().all()
    # a present but empty fulfillment_outcomes table means "nothing delivered": late at the promise
    assert f["node_late_rate_7d"].notna().all() and (f["cust_prior_late_known"] >= 0).all()
    r = build_return_features(ds)
    assert len(r) == len(frames["returns"]) and (r["cust_prior_abuse"] == 0).all()


def test_unseen_categories_flow_through() -> None:
    o = order_row("O1", channel="tiktok_shop", payment_method="crypto", carrier="NEWCO")
    f = build_order_features(make_dataset(orders=[o]))
    assert f["channel"].iloc[0] == "tiktok_shop" and "web" in f["channel"].cat.categories
    assert f["carrier"].iloc[0] == "NEWCO"


def test_schema_types_and_reason_templates() -> None:
    """Check every declared feature is present with its dtype and a reason that formats."""
    ds = dataset_from_frames(random_frames(5, n_orders=120))
    for fs, frame in ((ORDER_FEATURES, build_order_features(ds)), (RETURN_FEATURES, build_return_features(ds))):
        assert list(frame.columns) == [fs.entity, fs.time_column, *fs.names]
        for feat in fs.features:
            col = frame[feat.name]
            if feat.dtype == "category":
                assert isinstance(col.dtype, pd.CategoricalDtype), feat.name
            else:
                assert col.dtype == np.float64, feat.name
            value = col.dropna().iloc[0] if col.notna().any() else 1.0
            assert "{" not in feat.reason(value), feat.name


def test_frames_without_lines_for_some_orders() -> None:
    frames = make_frames(orders=[order_row("O1"), order_row("O2", "1h")], lines=[line_row("O1")])
    f = build_order_features(dataset_from_frames(frames)).set_index("order_id")
    assert f.loc["O2", "n_lines"] == 0 and pd.isna(f.loc["O2", "max_unit_price"])


def test_aggregations_are_features_or_declared_intermediates() -> None:
    """Check that every aggregation either is a declared feature or an '_'-prefixed intermediate."""
    for fs in (ORDER_FEATURES, RETURN_FEATURES):
        names = set(fs.names)
        for a in fs.aggregations:
            assert a.name in names or a.name.startswith(("_", "all_")), a.name
        assert len({a.name for a in fs.aggregations}) == len(fs.aggregations)


def test_since_accepts_strings_and_naive_times_as_utc() -> None:
    ds = make_dataset(orders=[order_row("A", "0s"), order_row("B", "2h")])
    assert build_order_features(ds, since="2026-03-02T01:00:00").order_id.tolist() == ["B"]
    assert build_order_features(ds, since=ts("2h")).order_id.tolist() == ["B"]
