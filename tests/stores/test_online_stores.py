"""The online stores behind the service: the same behaviour from memory, SQLite and Redis,
and the service's fast feature path equal to the offline pipeline on each of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_order_features, build_return_features
from features.online import OnlineFeatures
from tests.factories import random_frames
from tests.features.test_online_parity import timeline
from triage.contract import dataset_from_frames
from triage.stores.online_rows import order_values, return_values


def assert_values_equal(offline: pd.Series, online: dict, what: str) -> None:
    for col, a in offline.items():
        b = online[col]
        if pd.isna(a) and (b is None or (isinstance(b, float) and np.isnan(b))):
            continue
        if isinstance(a, float | np.floating):
            assert b == pytest.approx(a, rel=1e-9, abs=1e-9), f"{what}.{col}: offline {a!r}, online {b!r}"
        else:
            assert a == b, f"{what}.{col}: offline {a!r}, online {b!r}"


def test_entries_windows_and_records(online_store):
    """Check that entries are replaced by id, windows are [lower, upper), and records round-trip."""
    s = online_store
    s.put_entry("ix", ("a",), "e1", 1_000_000, 2.0)
    s.put_entry("ix", ("a",), "e2", 2_000_000, 3.0)
    s.put_entry("ix", ("a",), "e1", 3_000_000, 5.0)  # same id: moved, not counted twice
    s.put_entry("ix", ("b",), "e3", 1_000_000, 7.0)
    w = s.window("ix", ("a",), None, 3_000_000)
    assert (w.count, w.total, w.last_ns) == (1, 3.0, 2_000_000)
    w = s.window("ix", ("a",), 2_000_000, 3_000_001)
    assert (w.count, w.total, w.last_ns) == (2, 8.0, 3_000_000)
    assert s.window("ix", ("zz",), None, 10**18).count == 0
    assert s.get_entry("ix", ("a",), "e1") == 3_000_000
    s.drop_entry("ix", ("a",), "e1")
    assert s.get_entry("ix", ("a",), "e1") is None
    assert s.window("ix", ("a",), None, 10**18).count == 1
    s.put_entries("bulk", [("k",), ("k",), ("j",)], ["x", "y", "z"], np.array([5_000, 6_000, 7_000]),
                  np.array([1.5, 0.0, 2.5]))
    w = s.window("bulk", ("k",), None, 10_000)
    assert (w.count, w.total, w.last_ns) == (2, 1.5, 6_000)
    s.put_record("customers", "C1", {"customer_id": "C1", "is_guest": False, "n": [1, 2]})
    assert s.get_record("customers", "C1") == {"customer_id": "C1", "is_guest": False, "n": [1, 2]}
    assert s.get_record("customers", "nope") is None


def test_batched_windows_equal_single_windows(online_store):
    """Check that `windows` (one round trip) answers like `window` one by one."""
    s = online_store
    rng = np.random.default_rng(0)
    for i in range(60):
        s.put_entry("ix", (f"k{i % 3}",), f"e{i}", int(rng.integers(1, 100)) * 1000, float(rng.random()))
    asks = [("ix", (f"k{j}",), lo, hi) for j in range(4) for lo, hi in ((None, 50_000), (20_000, 80_001))]
    many = getattr(s, "windows", None)
    if many is None:
        pytest.skip("this store has no batched windows")
    for got, ask in zip(many(asks), asks, strict=True):
        one = s.window(*ask)
        assert (got.count, got.last_ns) == (one.count, one.last_ns)
        assert got.total == pytest.approx(one.total, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_features_replayed_in_time_order_equal_offline(online_store, seed):
    """Check that the service's fast path, over each store, gives every event its offline
    features when events and outcomes are replayed in time order."""
    ds = dataset_from_frames(random_frames(seed, n_orders=120, days=6))
    offline_orders = build_order_features(ds).set_index("order_id")
    offline_returns = build_return_features(ds).set_index("return_id")
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    online = OnlineFeatures(online_store, present=ds.present)
    for table in ("nodes", "products", "customers"):
        for row in ds[table].to_dict("records"):
            online.observe_master(table, row)
    for _, _, kind, row in timeline(ds):
        if kind == "order":
            got = order_values(online, row, lines.get(row["order_id"], []))
            assert_values_equal(offline_orders.loc[row["order_id"]].drop("created_at"), got, row["order_id"])
            online.observe_order(row, lines.get(row["order_id"], []))
        elif kind == "return":
            got = return_values(online, row)
            assert_values_equal(offline_returns.loc[row["return_id"]].drop("requested_at"), got, row["return_id"])
            online.observe_return(row)
        else:
            online.observe_outcome(kind, row)


def test_bootstrapped_store_answers_like_offline(online_store):
    """Check that a bulk bootstrap into each store, then shuffled late arrivals, match offline."""
    frames = random_frames(3, n_orders=120, days=6)
    full = dataset_from_frames(frames)
    online = OnlineFeatures(online_store)
    online.bootstrap(full)
    lines = {k: g.to_dict("records") for k, g in full["order_lines"].groupby("order_id")}
    offline = build_order_features(full).set_index("order_id")
    for row in full["orders"].to_dict("records")[::4]:
        got = order_values(online, row, lines[row["order_id"]])
        assert_values_equal(offline.loc[row["order_id"]].drop("created_at"), got, row["order_id"])
    offline_r = build_return_features(full).set_index("return_id")
    for row in full["returns"].to_dict("records"):
        got = return_values(online, row)
        assert_values_equal(offline_r.loc[row["return_id"]].drop("requested_at"), got, row["return_id"])
