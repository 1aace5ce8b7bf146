"""The cardinal invariant: later events and later-known outcomes never change earlier features."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features import build_order_features, build_return_features
from tests.factories import random_frames
from triage.contract import dataset_from_frames


def as_known_at(frames: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The export a retailer would have produced at `cut`: nothing that happened at or after it."""
    out = {k: v.copy() for k, v in frames.items()}
    orders = out["orders"][out["orders"]["created_at"] < cut]
    out["orders"] = orders
    out["order_lines"] = out["order_lines"][out["order_lines"]["order_id"].isin(orders["order_id"])]
    fo = out["fulfillment_outcomes"]
    fo = fo[fo["order_id"].isin(orders["order_id"])].copy()
    fo.loc[fo["shipped_at"] >= cut, "shipped_at"] = pd.NaT
    fo.loc[fo["delivered_at"] >= cut, "delivered_at"] = pd.NaT
    later_cancel = fo["cancelled_at"] >= cut
    fo.loc[later_cancel, "cancelled"] = False
    fo.loc[later_cancel, "cancelled_at"] = pd.NaT
    out["fulfillment_outcomes"] = fo
    fl = out["fraud_labels"]
    out["fraud_labels"] = fl[(fl["reported_at"] < cut) & fl["order_id"].isin(orders["order_id"])]
    r = out["returns"]
    out["returns"] = r[(r["requested_at"] < cut) & r["order_id"].isin(orders["order_id"])]
    ro = out["return_outcomes"]
    out["return_outcomes"] = ro[(ro["inspected_at"] < cut) & ro["return_id"].isin(out["returns"]["return_id"])]
    s = out["inventory_syncs"]
    out["inventory_syncs"] = s[s["synced_at"] < cut]
    return out


def assert_same_features(full: pd.DataFrame, cut: pd.DataFrame, key: str) -> None:
    full = full.set_index(key).loc[cut[key]]
    cut = cut.set_index(key)
    assert list(full.columns) == list(cut.columns)
    for col in cut.columns:
        a, b = full[col], cut[col]
        if isinstance(a.dtype, pd.CategoricalDtype) or a.dtype == object:
            a, b = a.astype(object).where(a.notna(), None), b.astype(object).where(b.notna(), None)
            assert a.tolist() == b.tolist(), f"{col} differs"
        elif col in ("created_at", "requested_at"):
            assert (a == b).all()
        else:
            np.testing.assert_array_equal(a.to_numpy(), b.to_numpy(), err_msg=f"{col} differs")


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), frac=st.floats(0.05, 0.95))
def test_features_before_a_cut_ignore_everything_known_after_it(seed: int, frac: float) -> None:
    """Check that features of events before any cut point equal those computed from the export at the cut."""
    frames = random_frames(seed, n_orders=250, days=12)
    t = frames["orders"]["created_at"]
    cut = t.min() + (t.max() - t.min()) * frac
    full = dataset_from_frames(frames)
    known = dataset_from_frames(as_known_at(frames, cut))

    orders_full = build_order_features(full)
    orders_cut = build_order_features(known)
    assert len(orders_cut) == (t < cut).sum()
    assert_same_features(orders_full, orders_cut, "order_id")

    returns_full = build_return_features(full)
    returns_cut = build_return_features(known)
    assert_same_features(returns_full, returns_cut, "return_id")


def test_since_returns_the_same_rows_as_the_full_build() -> None:
    """Check that `since` only filters the events: history before it is still used."""
    ds = dataset_from_frames(random_frames(7, n_orders=300))
    full = build_order_features(ds)
    since = full["created_at"].iloc[150]
    part = build_order_features(ds, since=since)
    assert (part["created_at"] >= since).all()
    assert_same_features(full, part, "order_id")
    r_full = build_return_features(ds)
    r_part = build_return_features(ds, since=since)
    assert_same_features(r_full, r_part, "return_id")
