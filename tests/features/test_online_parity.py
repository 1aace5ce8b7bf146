"""Parity: the online path gives each event the same features as the offline frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_order_features, build_return_features
from features.online import MemoryStore, OnlineFeatures
from tests.factories import make_dataset, order_row, random_frames, ts
from triage.contract import Dataset, dataset_from_frames


def assert_rows_equal(offline: pd.Series, online: pd.Series, what: str) -> None:
    for col in offline.index:
        a, b = offline[col], online[col]
        if pd.isna(a) and pd.isna(b):
            continue
        if isinstance(a, float | np.floating) and not isinstance(a, bool):
            assert b == pytest.approx(a, rel=1e-9, abs=1e-9), f"{what}.{col}: offline {a!r}, online {b!r}"
        elif isinstance(a, pd.Timestamp):
            assert pd.Timestamp(b) == a, f"{what}.{col}"
        else:
            assert a == b, f"{what}.{col}: offline {a!r}, online {b!r}"


def timeline(ds: Dataset) -> list[tuple[pd.Timestamp, int, str, dict]]:
    """Every event and outcome with the time it happened; events before outcomes at a tie."""
    items: list[tuple[pd.Timestamp, int, str, dict]] = []
    for r in ds["orders"].to_dict("records"):
        items.append((r["created_at"], 0, "order", r))
    for r in ds["returns"].to_dict("records"):
        items.append((r["requested_at"], 0, "return", r))
    for r in ds["fulfillment_outcomes"].to_dict("records"):
        t = next((r[c] for c in ("delivered_at", "cancelled_at", "shipped_at") if pd.notna(r[c])), None)
        items.append((t if t is not None else ts("0s"), 1, "fulfillment", r))
    for r in ds["fraud_labels"].to_dict("records"):
        items.append((r["reported_at"], 1, "fraud", r))
    for r in ds["return_outcomes"].to_dict("records"):
        items.append((r["inspected_at"], 1, "return_outcome", r))
    for r in ds["inventory_syncs"].to_dict("records"):
        items.append((r["synced_at"], 1, "inventory_sync", r))
    return sorted(items, key=lambda x: (x[0], x[1]))


def new_online(ds: Dataset) -> OnlineFeatures:
    online = OnlineFeatures(MemoryStore(), present=ds.present)
    for table in ("nodes", "products", "customers"):
        for row in ds[table].to_dict("records"):
            online.observe_master(table, row)
    return online


@pytest.mark.parametrize("seed", [0, 1])
def test_replay_in_time_order_matches_offline(seed: int) -> None:
    """Check that replaying events and outcomes in time order gives every event its offline features."""
    ds = dataset_from_frames(random_frames(seed, n_orders=150, days=8))
    offline_orders = build_order_features(ds).set_index("order_id")
    offline_returns = build_return_features(ds).set_index("return_id")
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    online = new_online(ds)
    for _, _, kind, row in timeline(ds):
        if kind == "order":
            got = online.order_features(row, lines.get(row["order_id"], [])).set_index("order_id").iloc[0]
            assert_rows_equal(offline_orders.loc[row["order_id"]], got, row["order_id"])
            online.observe_order(row, lines.get(row["order_id"], []))
        elif kind == "return":
            got = online.return_features(row).set_index("return_id").iloc[0]
            assert_rows_equal(offline_returns.loc[row["return_id"]], got, row["return_id"])
            online.observe_return(row)
        else:
            online.observe_outcome(kind, row)


def test_out_of_order_arrivals_give_the_same_features() -> None:
    """Check that observing everything in a shuffled order (outcomes before their events included)
    and then asking for each event's features as of its own time still matches offline."""
    ds = dataset_from_frames(random_frames(2, n_orders=120, days=6))
    offline = build_order_features(ds).set_index("order_id")
    offline_returns = build_return_features(ds).set_index("return_id")
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    items = timeline(ds)
    rng = np.random.default_rng(2)
    online = new_online(ds)
    for i in rng.permutation(len(items)):
        _, _, kind, row = items[i]
        if kind == "order":
            online.observe_order(row, lines.get(row["order_id"], []))
            online.observe_order(row, lines.get(row["order_id"], []))  # a retry: counted once
        elif kind == "return":
            online.observe_return(row)
        else:
            online.observe_outcome(kind, row)
    for row in ds["orders"].to_dict("records"):
        got = online.order_features(row, lines.get(row["order_id"], [])).set_index("order_id").iloc[0]
        assert_rows_equal(offline.loc[row["order_id"]], got, row["order_id"])
    for row in ds["returns"].to_dict("records"):
        got = online.return_features(row).set_index("return_id").iloc[0]
        assert_rows_equal(offline_returns.loc[row["return_id"]], got, row["return_id"])


def test_bootstrap_from_a_dataset_then_score_a_new_order() -> None:
    """Check that a bootstrapped state answers for an unseen order like the offline pipeline would."""
    orders = [order_row("A", "0s"), order_row("B", "2h"), order_row("NEW", "3h")]
    full = make_dataset(orders=orders)
    online = OnlineFeatures()
    online.bootstrap(make_dataset(orders=orders[:2]))
    new = full["orders"].iloc[2].to_dict()
    line = full["order_lines"].iloc[2:3].to_dict("records")
    got = online.order_features(new, line).set_index("order_id").iloc[0]
    want = build_order_features(full).set_index("order_id").loc["NEW"]
    assert got["device_orders_24h"] == 2
    assert_rows_equal(want, got, "NEW")


def test_bulk_bootstrap_matches_offline_and_keeps_learning() -> None:
    """Check that a bulk-bootstrapped state gives offline features, and that outcomes and orders
    observed afterwards (for bootstrapped orders too) update it exactly as offline would."""
    frames = random_frames(3, n_orders=160, days=8)
    full = dataset_from_frames(frames)
    cut = frames["orders"]["created_at"].iloc[100]
    known = {k: v for k, v in frames.items()}
    known["orders"] = frames["orders"][frames["orders"]["created_at"] < cut]
    ids = set(known["orders"]["order_id"])
    known["order_lines"] = frames["order_lines"][frames["order_lines"]["order_id"].isin(ids)]
    known["fulfillment_outcomes"] = frames["fulfillment_outcomes"][frames["fulfillment_outcomes"]["order_id"].isin(ids)]
    known["fraud_labels"] = frames["fraud_labels"][frames["fraud_labels"]["order_id"].isin(ids)].iloc[::2]
    known["returns"] = frames["returns"][frames["returns"]["order_id"].isin(ids)]
    known["return_outcomes"] = frames["return_outcomes"][
        frames["return_outcomes"]["return_id"].isin(known["returns"]["return_id"])]
    part = dataset_from_frames(known)

    online = OnlineFeatures()
    online.bootstrap(part)
    lines = {k: g.to_dict("records") for k, g in full["order_lines"].groupby("order_id")}
    offline_part = build_order_features(part).set_index("order_id")
    for row in part["orders"].to_dict("records")[::7]:
        got = online.order_features(row, lines[row["order_id"]]).set_index("order_id").iloc[0]
        assert_rows_equal(offline_part.loc[row["order_id"]], got, row["order_id"])

    # the rest of the history arrives afterwards, in no particular order
    for row in full["fraud_labels"].to_dict("records"):
        online.observe_outcome("fraud", row)
    for row in full["orders"].to_dict("records")[100:]:
        online.observe_order(row, lines.get(row["order_id"], []))
    for row in full["fulfillment_outcomes"].to_dict("records"):
        online.observe_outcome("fulfillment", row)
    for row in full["returns"].to_dict("records"):
        online.observe_return(row)
    for row in full["return_outcomes"].to_dict("records"):
        online.observe_outcome("return_outcome", row)
    offline_full = build_order_features(full).set_index("order_id")
    for row in full["orders"].to_dict("records")[::5]:
        got = online.order_features(row, lines[row["order_id"]]).set_index("order_id").iloc[0]
        assert_rows_equal(offline_full.loc[row["order_id"]], got, row["order_id"])
    offline_returns = build_return_features(full).set_index("return_id")
    for row in full["returns"].to_dict("records")[::3]:
        got = online.return_features(row).set_index("return_id").iloc[0]
        assert_rows_equal(offline_returns.loc[row["return_id"]], got, row["return_id"])
