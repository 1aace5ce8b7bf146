"""Timing rules: same-timestamp events, outcomes known exactly at t, and window edges."""

from __future__ import annotations

import pandas as pd

from features import build_order_features, build_return_features
from tests.factories import customer_row, make_dataset, order_row, return_row, ts

NS = pd.Timedelta(1, "ns")


def by_id(frame: pd.DataFrame, key: str = "order_id") -> pd.DataFrame:
    return frame.set_index(key)


def test_events_with_the_same_timestamp_do_not_see_each_other() -> None:
    """Check that two orders at the same instant count zero of each other; one a nanosecond later sees both."""
    t = ts("10h")
    ds = make_dataset(orders=[order_row("A", t), order_row("B", t), order_row("C", t + NS)])
    f = by_id(build_order_features(ds))
    for col in ("device_orders_1h", "email_orders_1h", "cust_orders_1h", "cust_prior_orders"):
        assert f.loc["A", col] == 0 and f.loc["B", col] == 0, col
        assert f.loc["C", col] == 2, col
    assert pd.isna(f.loc["A", "days_since_prev_order"])


def test_trailing_window_includes_its_lower_edge_and_excludes_t() -> None:
    """Check the window [t − 1 h, t): an order exactly 1 h before counts, 1 h + 1 ns before does not."""
    t = ts("10h")
    ds = make_dataset(orders=[
        order_row("EDGE", t - pd.Timedelta("1h")),
        order_row("OUT", t - pd.Timedelta("1h") - NS),
        order_row("NOW", t),
    ])
    f = by_id(build_order_features(ds))
    assert f.loc["NOW", "device_orders_1h"] == 1
    assert f.loc["NOW", "device_orders_24h"] == 2


def test_node_load_today_starts_at_utc_midnight() -> None:
    """Check that node orders 'today' count from 00:00 UTC of the order's day, strictly before t."""
    midnight = ts("1D")
    ds = make_dataset(orders=[
        order_row("LATE_YESTERDAY", midnight - NS, customer_id="C1"),
        order_row("MIDNIGHT", midnight, customer_id="C2"),
        order_row("NOON", midnight + pd.Timedelta("12h"), customer_id="C3"),
    ])
    f = by_id(build_order_features(ds))
    assert f.loc["MIDNIGHT", "node_load_today"] == 0
    assert f.loc["NOON", "node_load_today"] == 1 / 100
    assert f.loc["NOON", "node_orders_24h"] == 2


def test_fraud_known_exactly_at_t_is_not_visible() -> None:
    """Check that a chargeback reported at exactly the order's time is not seen; 1 ns before, it is."""
    t = ts("5D")
    orders = [order_row("BAD", "0s"), order_row("AT", t), order_row("AFTER", t + NS)]
    ds = make_dataset(orders=orders, fraud_labels=[
        {"order_id": "BAD", "fraud_type": "chargeback", "reported_at": t},
        {"order_id": "BAD", "fraud_type": "confirmed_fraud", "reported_at": t + pd.Timedelta("1D")},
    ])
    f = by_id(build_order_features(ds))
    for col in ("device_fraud_known_all", "email_fraud_known_30d", "cust_prior_chargebacks"):
        assert f.loc["AT", col] == 0, col
        assert f.loc["AFTER", col] == 1, col


def test_lateness_is_known_at_the_promise_and_on_time_at_delivery() -> None:
    """Check the contract's known-at rule: late at promised_at, on time at delivered_at."""
    p = ts("3D")
    orders = [
        order_row("LATE", "0s", promised_at=p),  # no outcome row: not delivered → late at promise
        order_row("OK", "0s", promised_at=p + pd.Timedelta("1D"), customer_id="C2"),
        order_row("AT_P", p, customer_id="C3"),
        order_row("AFTER_P", p + NS, customer_id="C4"),
        order_row("AFTER_DELIVERY", p + pd.Timedelta("12h"), customer_id="C5"),
    ]
    fo = [{"order_id": "OK", "shipped_at": ts("1h"), "delivered_at": p + pd.Timedelta("6h"), "cancelled": False}]
    ds = make_dataset(orders=orders, fulfillment_outcomes=fo)
    f = by_id(build_order_features(ds))
    assert f.loc["AT_P", "node_known_7d"] == 0
    assert f.loc["AFTER_P", "node_known_7d"] == 1
    assert f.loc["AFTER_DELIVERY", "node_known_7d"] == 2
    assert f.loc["AFTER_DELIVERY", "carrier_known_28d"] == 2
    # smoothed: (1 late + 20 × global) / (2 + 20), global = (1 + 1) / (2 + 10)
    assert abs(f.loc["AFTER_DELIVERY", "node_late_rate_7d"] - (1 + 20 * 2 / 12) / 22) < 1e-12


def test_return_sees_delivery_and_inspections_only_strictly_before_its_request() -> None:
    """Check days since delivery and prior abuse against a delivery and inspection at exactly t."""
    t = ts("6D")
    orders = [order_row("O1", "0s"), order_row("O2", "1D")]
    fo = [
        {"order_id": "O1", "shipped_at": ts("1h"), "delivered_at": ts("2D"), "cancelled": False},
        {"order_id": "O2", "shipped_at": ts("1D"), "delivered_at": t, "cancelled": False},
    ]
    returns = [return_row("R1", "O1", "3D"), return_row("R2", "O2", t), return_row("R3", "O1", t + NS)]
    ro = [{"return_id": "R1", "inspected_at": t, "disposition": "restock", "abuse_confirmed": True}]
    ds = make_dataset(orders=orders, fulfillment_outcomes=fo, returns=returns, return_outcomes=ro,
                      customers=[customer_row("C1")])
    f = by_id(build_return_features(ds), "return_id")
    assert f.loc["R1", "days_since_delivery"] == 1.0
    assert pd.isna(f.loc["R2", "days_since_delivery"])  # delivered exactly at the request: not known
    assert f.loc["R2", "cust_prior_abuse"] == 0 and f.loc["R3", "cust_prior_abuse"] == 1
    assert f.loc["R2", "cust_prior_returns"] == 1 and f.loc["R3", "cust_prior_returns"] == 2
