"""Small contract datasets for tests: hand-made rows with defaults, and a seeded random retailer.

`order_row(...)`, `line_row(...)` etc. give one contract row with sensible defaults, so a
test spells out only what it is about; `make_dataset(...)` turns lists of rows into a
checked `Dataset`. `random_frames(seed, n_orders)` builds a small but busy dataset with
shared devices and e-mails, timestamp ties, and every outcome table, for property tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from triage.contract import Dataset, dataset_from_frames

__all__ = [
    "T0",
    "ts",
    "node_row",
    "product_row",
    "customer_row",
    "order_row",
    "line_row",
    "return_row",
    "make_frames",
    "make_dataset",
    "random_frames",
]

T0 = pd.Timestamp("2026-03-02T00:00:00Z")  # a Monday


def ts(offset: str | pd.Timedelta = "0s") -> pd.Timestamp:
    """T0 plus an offset such as '2h' or '3D'."""
    return T0 + pd.Timedelta(offset)


def node_row(node_id: str = "N1", **kw: object) -> dict:
    return {"node_id": node_id, "node_type": "dc", "region": "north", "lat": 52.0, "lon": 0.0,
            "daily_capacity": 100, **kw}


def product_row(sku: str = "S1", **kw: object) -> dict:
    return {"sku": sku, "category": "apparel", "list_price": 50.0, "unit_cost": 20.0, "weight_kg": 0.5,
            "vendor_id": "V1", "is_returnable": True, **kw}


def customer_row(customer_id: str = "C1", **kw: object) -> dict:
    return {"customer_id": customer_id, "created_at": ts("-30D"), "loyalty_tier": "none", "is_guest": False,
            "home_region": "north", **kw}


def order_row(order_id: str = "O1", created_at: pd.Timestamp | str = "0s", **kw: object) -> dict:
    t = ts(created_at) if isinstance(created_at, str) else created_at
    return {
        "order_id": order_id, "customer_id": "C1", "created_at": t, "channel": "web", "order_total": 50.0,
        "item_count": 1, "payment_method": "card", "card_country": "GB", "ip_country": "GB",
        "device_id": "D1", "email_hash": "E1", "billing_postcode": "AB1", "shipping_postcode": "AB1",
        "ship_lat": 52.0, "ship_lon": 1.0, "promo_code": None, "fulfillment_node_id": "N1",
        "fulfillment_type": "ship_from_dc", "carrier": "K1", "service_level": "standard",
        "promised_at": t + pd.Timedelta("3D"), **kw,
    }


def line_row(order_id: str = "O1", line_no: int = 1, **kw: object) -> dict:
    return {"order_id": order_id, "line_no": line_no, "sku": "S1", "quantity": 1, "unit_price": 50.0, **kw}


def return_row(return_id: str = "R1", order_id: str = "O1", requested_at: pd.Timestamp | str = "5D",
               **kw: object) -> dict:
    t = ts(requested_at) if isinstance(requested_at, str) else requested_at
    return {"return_id": return_id, "order_id": order_id, "sku": "S1", "customer_id": "C1", "requested_at": t,
            "quantity": 1, "return_channel": "mail", "reason_code": "wrong_size", "reason_text": None,
            "reported_condition": "opened", "refund_amount": 50.0, **kw}


def make_frames(
    *,
    orders: Iterable[dict],
    lines: Iterable[dict] | None = None,
    nodes: Iterable[dict] | None = None,
    products: Iterable[dict] | None = None,
    customers: Iterable[dict] | None = None,
    **optional: Iterable[dict] | pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """Contract frames; lines default to one line per order, master data to what orders need."""
    orders = list(orders)
    frames = {
        "orders": pd.DataFrame(orders),
        "order_lines": pd.DataFrame(list(lines) if lines is not None else [line_row(o["order_id"]) for o in orders]),
        "nodes": pd.DataFrame(list(nodes) if nodes is not None else [
            node_row(n) for n in sorted({o["fulfillment_node_id"] for o in orders})]),
        "products": pd.DataFrame(list(products) if products is not None else [product_row()]),
        "customers": pd.DataFrame(list(customers) if customers is not None else [
            customer_row(c) for c in sorted({o["customer_id"] for o in orders})]),
    }
    for name, rows in optional.items():
        frames[name] = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return frames


def make_dataset(**kw: object) -> Dataset:
    return dataset_from_frames(make_frames(**kw))  # type: ignore[arg-type]


def random_frames(seed: int, n_orders: int = 400, *, days: float = 20.0) -> dict[str, pd.DataFrame]:
    """A small, busy retailer: shared devices/e-mails/postcodes, timestamp ties, all outcome tables."""
    rng = np.random.default_rng(seed)
    n_cust = max(5, n_orders // 4)
    n_nodes = 4
    nodes = pd.DataFrame({
        "node_id": [f"N{i}" for i in range(n_nodes)],
        "node_type": rng.choice(["dc", "store", "marketplace_seller"], n_nodes),
        "region": rng.choice(["north", "south"], n_nodes),
        "lat": rng.uniform(50, 55, n_nodes), "lon": rng.uniform(-3, 1, n_nodes),
        "daily_capacity": rng.integers(5, 40, n_nodes),
    })
    cats = ["electronics", "apparel", "footwear", "home", "beauty", "toys", "grocery", "garden"]
    n_sku = 30
    products = pd.DataFrame({
        "sku": [f"S{i}" for i in range(n_sku)], "category": rng.choice(cats, n_sku),
        "list_price": rng.uniform(5, 500, n_sku).round(2), "unit_cost": 1.0, "weight_kg": rng.uniform(0.1, 5, n_sku),
        "vendor_id": rng.choice(["V1", "V2", "V3"], n_sku), "is_returnable": rng.random(n_sku) < 0.9,
    })
    start = T0
    # minute resolution: many timestamp ties, on purpose
    minutes = np.sort(rng.integers(0, int(days * 1440), n_orders))
    created = start + pd.to_timedelta(minutes, unit="min")
    customers = pd.DataFrame({
        "customer_id": [f"C{i}" for i in range(n_cust)],
        "created_at": start - pd.to_timedelta(rng.integers(-days * 1440, 400 * 1440, n_cust), unit="min"),
        "loyalty_tier": rng.choice(["none", "silver", "gold", "platinum"], n_cust),
        "is_guest": rng.random(n_cust) < 0.2, "home_region": rng.choice(["north", "south"], n_cust),
    })
    cust = rng.integers(0, n_cust, n_orders)
    node = rng.integers(0, n_nodes, n_orders)
    pickup = rng.random(n_orders) < 0.1
    n_dev = max(3, n_orders // 6)
    orders = pd.DataFrame({
        "order_id": [f"O{i}" for i in range(n_orders)],
        "customer_id": [f"C{c}" for c in cust],
        "created_at": created,
        "channel": rng.choice(["web", "app", "store", "marketplace", "call_center", "kiosk"], n_orders),
        "order_total": 0.0, "item_count": 0,
        "payment_method": rng.choice(["card", "paypal", "gift_card", "bnpl"], n_orders),
        "card_country": np.where(rng.random(n_orders) < 0.1, None, rng.choice(["GB", "FR", "US"], n_orders)),
        "ip_country": np.where(rng.random(n_orders) < 0.1, None, rng.choice(["GB", "FR", "US"], n_orders)),
        "device_id": np.where(rng.random(n_orders) < 0.15, None,
                              np.array([f"D{d}" for d in rng.integers(0, n_dev, n_orders)], dtype=object)),
        "email_hash": [f"E{e}" for e in np.where(rng.random(n_orders) < 0.8, cust, rng.integers(0, 10, n_orders))],
        "billing_postcode": [f"P{p}" for p in rng.integers(0, 20, n_orders)],
        "shipping_postcode": [f"P{p}" for p in rng.integers(0, 20, n_orders)],
        "ship_lat": np.where(pickup, np.nan, rng.uniform(50, 55, n_orders)),
        "ship_lon": np.where(pickup, np.nan, rng.uniform(-3, 1, n_orders)),
        "promo_code": np.where(rng.random(n_orders) < 0.2, "SAVE10", None),
        "fulfillment_node_id": [f"N{i}" for i in node],
        "fulfillment_type": np.where(pickup, "pickup_in_store", "ship_from_dc"),
        "carrier": np.where(pickup, None, rng.choice(["K1", "K2", "K3"], n_orders)),
        "service_level": np.where(pickup, "pickup", rng.choice(["standard", "express", "same_day"], n_orders)),
    })
    orders["promised_at"] = orders["created_at"] + pd.to_timedelta(rng.integers(6, 96, n_orders), unit="h")
    n_lines = rng.integers(1, 4, n_orders)
    oi = np.repeat(np.arange(n_orders), n_lines)
    line_no = np.concatenate([np.arange(1, k + 1) for k in n_lines])
    sku = rng.integers(0, n_sku, len(oi))
    qty = rng.integers(1, 3, len(oi))
    price = (products["list_price"].to_numpy()[sku] * rng.choice([1.0, 0.8], len(oi))).round(2)
    lines = pd.DataFrame({"order_id": orders["order_id"].to_numpy()[oi], "line_no": line_no,
                          "sku": products["sku"].to_numpy()[sku], "quantity": qty, "unit_price": price})
    orders["order_total"] = np.bincount(oi, weights=qty * price, minlength=n_orders).round(2)
    orders["item_count"] = np.bincount(oi, weights=qty, minlength=n_orders).astype(int)

    # fulfillment outcomes: most delivered, some late, some cancelled, some missing
    has = rng.random(n_orders) < 0.9
    delay_h = rng.normal(-8, 20, n_orders)
    delivered = np.maximum(orders["promised_at"] + pd.to_timedelta(delay_h.round(), unit="h"),
                           orders["created_at"] + pd.Timedelta("3h"))
    cancelled = rng.random(n_orders) < 0.05
    fo = pd.DataFrame({
        "order_id": orders["order_id"],
        "shipped_at": orders["created_at"] + pd.Timedelta("2h"),
        "delivered_at": delivered.where(~pd.Series(cancelled) & (rng.random(n_orders) < 0.95)),
        "cancelled": cancelled,
        "cancelled_at": (orders["created_at"] + pd.Timedelta("5h")).where(
            pd.Series(cancelled) & (rng.random(n_orders) < 0.7)),
    })[has].reset_index(drop=True)
    # some deliveries land exactly on another order's creation time
    fraud_idx = np.flatnonzero(rng.random(n_orders) < 0.08)
    fl = pd.DataFrame({
        "order_id": orders["order_id"].to_numpy()[fraud_idx],
        "fraud_type": rng.choice(["chargeback", "confirmed_fraud"], len(fraud_idx)),
        "reported_at": orders["created_at"].iloc[fraud_idx].reset_index(drop=True)
        + pd.to_timedelta(rng.integers(60, 10 * 1440, len(fraud_idx)), unit="min"),
    })
    # returns of some lines, after the order
    ret_li = np.flatnonzero(rng.random(len(lines)) < 0.25)
    r_orders = oi[ret_li]
    req = orders["created_at"].iloc[r_orders].reset_index(drop=True) + pd.to_timedelta(
        rng.integers(60, 12 * 1440, len(ret_li)), unit="min")
    texts = np.array([None, "wore it once to a party", "stopped working after a day", "box crushed, scratched",
                      "still sealed, never opened", "too small", "Not as described!", "changed my mind"],
                     dtype=object)
    returns = pd.DataFrame({
        "return_id": [f"R{i}" for i in range(len(ret_li))],
        "order_id": lines["order_id"].to_numpy()[ret_li],
        "sku": lines["sku"].to_numpy()[ret_li],
        "customer_id": orders["customer_id"].to_numpy()[r_orders],
        "requested_at": req,
        "quantity": 1,
        "return_channel": rng.choice(["mail", "store", "kiosk", "carrier_pickup"], len(ret_li)),
        "reason_code": rng.choice(["wrong_size", "defective", "changed_mind", "other"], len(ret_li)),
        "reason_text": rng.choice(texts, len(ret_li)),
        "reported_condition": rng.choice(["unopened", "opened", "used", "damaged"], len(ret_li)),
        "refund_amount": lines["unit_price"].to_numpy()[ret_li],
    })
    ro = pd.DataFrame({
        "return_id": returns["return_id"],
        "inspected_at": returns["requested_at"] + pd.to_timedelta(rng.integers(60, 5 * 1440, len(returns)), unit="min"),
        "disposition": rng.choice(["restock", "refurbish", "liquidate", "return_to_vendor", "recycle"], len(returns)),
        "abuse_confirmed": rng.random(len(returns)) < 0.1,
    })
    sync_node = rng.integers(0, n_nodes, int(days * 6))
    syncs = pd.DataFrame({
        "node_id": [f"N{i}" for i in sync_node],
        "synced_at": start + pd.to_timedelta(rng.integers(-1440, int(days * 1440), len(sync_node)), unit="min"),
    })
    return {
        "nodes": nodes, "products": products, "customers": customers, "orders": orders, "order_lines": lines,
        "fulfillment_outcomes": fo, "fraud_labels": fl, "returns": returns, "return_outcomes": ro,
        "inventory_syncs": syncs,
    }


def frames_to_dataset(frames: Mapping[str, pd.DataFrame]) -> Dataset:
    return dataset_from_frames(frames)
