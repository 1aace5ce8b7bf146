"""`features.batch.order_values_many` equals `features.scalar.order_values`, order by order."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features import batch, scalar
from features.derived import first_max
from features.online import MemoryStore, OnlineFeatures
from tests.factories import random_frames
from triage.contract import dataset_from_frames
from triage.stores.online_index import IndexedStore


def _equal(a: object, b: object) -> bool:
    """The same value bit for bit: NaN as NaN, and the sign of a zero too."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return type(a) is type(b) and a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return type(a) is type(b) and a == b


def _check(online: OnlineFeatures, orders: list[dict], lines: list[list[dict]], customers=None) -> None:
    got = batch.order_values_many(online, orders, lines, customers)
    assert len(got) == len(orders)
    for i, (o, ls) in enumerate(zip(orders, lines, strict=True)):
        want = scalar.order_values(online, o, ls, None if customers is None else customers[i])
        assert list(got[i]) == list(want)
        bad = {k: (got[i][k], want[k]) for k in want if not _equal(got[i][k], want[k])}
        assert not bad, (o["order_id"], bad)


def _odd(orders: list[dict], lines: dict) -> tuple[list[dict], list[list[dict]], list[dict | None]]:
    """The orders plus edge cases: null keys, an unknown node and customer, no lines, a shared time."""
    out = [dict(o) for o in orders]
    base = out[0]
    out.append({**base, "order_id": "x-null-keys", "device_id": None, "email_hash": None, "card_country": None,
                "shipping_postcode": None, "customer_id": None})
    out.append({**base, "order_id": "x-unknown", "fulfillment_node_id": "NOPE", "customer_id": "C-new",
                "carrier": None})
    out.append({**base, "order_id": "x-no-lines"})
    out.append({**base, "order_id": "x-same-time"})
    ls = [lines.get(o["order_id"], []) for o in out]
    ls[-2] = []
    customers: list[dict | None] = [None] * len(out)
    customers[-3] = {"customer_id": "C-new", "created_at": base["created_at"], "is_guest": True}
    return out, ls, customers


@pytest.mark.parametrize("seed", [2, 3, 7])
@pytest.mark.parametrize("store", ["memory", "indexed"])
def test_batch_equals_per_event_on_random_data(seed: int, store: str) -> None:
    """Check that every order of a random busy retailer gets the per-event values from the batch read."""
    ds = dataset_from_frames(random_frames(seed, n_orders=240, days=10))
    online = OnlineFeatures(MemoryStore() if store == "memory" else IndexedStore())
    online.bootstrap(ds)
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    orders = ds["orders"].to_dict("records")
    orders, ls, customers = _odd(orders, lines)
    _check(online, orders, ls, customers)
    _check(online, orders[:1], ls[:1])  # a batch of one
    assert batch.order_values_many(online, [], []) == []


def test_batch_equals_per_event_on_a_simulated_retailer(tmp_path) -> None:
    """Check the batch read on a simulated retailer's state, for its orders and new ones after its end."""
    from triage.contract import load_dataset
    from triage.simulator import simulate

    simulate(tmp_path / "sim", orders=1500, days=20, seed=4)
    ds = load_dataset(tmp_path / "sim")
    online = OnlineFeatures(IndexedStore())
    online.bootstrap(ds)
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    orders = ds["orders"].to_dict("records")
    end = ds["orders"]["created_at"].max()
    later = [{**o, "order_id": f"new-{i}", "created_at": end + pd.Timedelta(minutes=7 * i)}
             for i, o in enumerate(orders[::15])]
    for o in later:
        lines[o["order_id"]] = lines.get(str(o["order_id"]).split("-", 1)[0], [])
    picked = orders[::2] + later
    _check(online, picked, [lines.get(o["order_id"], []) for o in picked])


def _odd_records(online: OnlineFeatures) -> None:
    """Records the contract would refuse but a store may hold: nulls, a zero capacity, a future account."""
    put = online.store.put_record
    put("products", "S-nulls", {"sku": "S-nulls", "category": None, "list_price": None, "weight_kg": float("nan"),
                                "vendor_id": None})
    put("products", "S-odd", {"sku": "S-odd", "category": "garden", "list_price": "12.5", "weight_kg": 2,
                              "vendor_id": 7})
    put("products", "S-elec", {"sku": "S-elec", "category": "electronics", "list_price": 0.0, "weight_kg": 1.0,
                               "vendor_id": "V0"})
    put("nodes", "N-odd", {"node_id": "N-odd", "node_type": None, "region": None, "lat": None, "lon": 1.0,
                           "daily_capacity": 0})
    put("customers", "C-future", {"customer_id": "C-future", "created_at": "2100-01-01T00:00:00Z",
                                  "is_guest": None, "loyalty_tier": None, "home_region": "north"})


def _odd_baskets(base: dict) -> tuple[list[dict], list[list[dict]]]:
    """Orders whose baskets test the column formulas' corners, each against per-event `basket`."""
    def line(sku: str, q: float, price: float) -> dict:
        return {"order_id": "x", "sku": sku, "quantity": q, "unit_price": price}

    baskets = {
        "zeros-neg-first": [line("S-elec", 1, -0.0), line("S1", 2, 0.0), line("S-nulls", 1, -0.0)],
        "zeros-pos-first": [line("S1", 1, 0.0), line("S-elec", 3, -0.0)],
        "negative-zero-only": [line("S-elec", 1, -0.0)],
        "nan-price": [line("S1", 1, float("nan")), line("S2", 1, 20.0)],
        "all-nan-prices": [line("S1", 1, float("nan"))],
        "unknown-products": [line("S-none", 2, 5.0), line("S-nulls", 1, 3.0), line("S-none", 1, 1.0)],
        "odd-values": [line("S-odd", 2, 7.25), line("S-elec", 1, 100.0), line("S-odd", 1, 1.0)],
        "one-vendor-many-lines": [line("S1", 1, 10.0), line("S1", 2, 0.1), line("S1", 3, 0.2)],
        "tie-between-categories": [line("S-elec", 1, 10.0), line("S-odd", 1, 10.0)],
        "negative-basket": [line("S1", -1, 10.0), line("S2", 1, 3.0)],
        "zero-quantity": [line("S1", 0, 10.0)],
    }
    orders = [{**base, "order_id": f"x-{name}"} for name in baskets]
    orders.append({**base, "order_id": "x-odd-node", "fulfillment_node_id": "N-odd", "customer_id": "C-future",
                   "promised_at": None, "ship_lat": None})
    return orders, [*baskets.values(), [line("S1", 1, 10.0)]]


@pytest.mark.parametrize("store", ["memory", "indexed"])
@pytest.mark.parametrize("delivery", [True, False])
def test_batch_equals_per_event_on_odd_baskets_and_records(store: str, delivery: bool) -> None:
    """Check the column formulas at their corners: signed zeros, NaN prices, unknown products and
    vendors, odd record values, a category tie, a node without coordinates, a deployment without
    delivery outcomes — every value bit for bit as per event."""
    ds = dataset_from_frames(random_frames(11, n_orders=160, days=8))
    online = OnlineFeatures(MemoryStore() if store == "memory" else IndexedStore())
    online.bootstrap(ds)
    if not delivery:
        online.present = online.present - {"fulfillment_outcomes"}
    _odd_records(online)
    base = ds["orders"].iloc[-1].to_dict()
    orders, lines = _odd_baskets(base)
    lines_of = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    plain = ds["orders"].to_dict("records")[::9]
    _check(online, plain + orders, [lines_of.get(o["order_id"], []) for o in plain] + lines)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_max_is_pythons_max(seed: int) -> None:
    """Check that the grouped max keeps Python's `max(top, v)` choices: NaN never wins, the first
    of equal values (0.0, -0.0) stays, an empty or all-NaN group is -inf."""
    rng = np.random.default_rng(seed)
    n = 40
    owner = np.sort(rng.integers(0, n, 300))
    values = rng.choice(np.array([0.0, -0.0, np.nan, 1.5, -2.0, np.inf, -np.inf]), 300)
    want = [-math.inf] * n
    for i, v in zip(owner.tolist(), values.tolist(), strict=True):
        want[i] = max(want[i], v)
    got = first_max(owner, values, n).tolist()
    assert all(_equal(g, w) for g, w in zip(got, want, strict=True)), (got, want)


def test_batch_equals_per_event_for_plain_python_timestamps() -> None:
    """Check orders as the API passes them — aware `datetime`s, ISO strings (with nanoseconds,
    with an offset) — and event customers carrying their own `created_at`."""
    from datetime import timedelta, timezone

    ds = dataset_from_frames(random_frames(5, n_orders=120, days=6))
    online = OnlineFeatures(IndexedStore())
    online.bootstrap(ds)
    lines_of = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    orders, customers = [], []
    plus2 = timezone(timedelta(hours=2))
    for i, o in enumerate(ds["orders"].to_dict("records")):
        t, p = o["created_at"], o["promised_at"]
        kind = i % 4
        o = {**o, "created_at": t.to_pydatetime() if kind < 2 else t.isoformat() if kind == 2
             else (t + pd.Timedelta(1, "ns")).isoformat(),
             "promised_at": p.to_pydatetime().astimezone(plus2) if kind == 0 else None if kind == 1 else p}
        orders.append(o)
        customers.append({"customer_id": o["customer_id"], "created_at": t.to_pydatetime() - timedelta(days=i % 9),
                          "is_guest": bool(i % 2), "loyalty_tier": None} if i % 3 == 0 else None)
    _check(online, orders, [lines_of.get(o["order_id"], []) for o in orders], customers)
