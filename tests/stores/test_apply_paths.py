"""Applying events to the online indexes: the `IndexedStore` fast paths (the compiled filing
plans, appends, the scratch journal) answer exactly as the reference `MemoryStore` path does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.online import MemoryStore, OnlineFeatures, _plain
from tests.factories import random_frames
from tests.features.test_online_parity import timeline
from triage.contract import dataset_from_frames
from triage.stores.online_index import IndexedStore


def _replayed(store: object, seed: int) -> tuple[OnlineFeatures, list[tuple[str, dict]]]:
    """A random dataset's events and outcomes, shuffled, some observed twice (changed)."""
    ds = dataset_from_frames(random_frames(seed, n_orders=120, days=6))
    online = OnlineFeatures(store, present=ds.present)  # type: ignore[arg-type]
    for table in ("nodes", "products", "customers"):
        for row in ds[table].to_dict("records"):
            online.observe_master(table, row)
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    items = [(kind, row) for _, _, kind, row in timeline(ds)]
    rng = np.random.default_rng(seed)
    items = [items[i] for i in rng.permutation(len(items))]
    orders = [r for k, r in items if k == "order"]
    for r in orders[:15]:  # re-observed later, moved in time and to another customer
        items.append(("order", {**r, "created_at": r["created_at"] + pd.Timedelta("3h"),
                                "customer_id": orders[0]["customer_id"]}))
    return online, [(kind, {**row, "_lines": lines.get(row.get("order_id"), [])} if kind == "order" else row)
                    for kind, row in items]


def _apply(online: OnlineFeatures, items: list[tuple[str, dict]]) -> None:
    for kind, row in items:
        if kind == "order":
            online.observe_order({k: v for k, v in row.items() if k != "_lines"}, row["_lines"])
        elif kind == "return":
            online.observe_return(row)
        else:
            online.observe_outcome(kind, row)


def _windows(online: OnlineFeatures, keys: dict[str, set]) -> list[tuple[int, float, int | None]]:
    out = []
    for name in sorted(keys):
        for key in sorted(keys[name]):
            for lo, hi in ((None, 2**62), (int(pd.Timestamp("2024-01-03", tz="UTC").value), 2**62)):
                w = online.store.window(name, key, lo, hi)
                out.append((w.count, round(w.total, 9), w.last_ns))
    return out


def _all_keys(store: MemoryStore) -> dict[str, set]:
    keys: dict[str, set] = {}
    for name, key in store._entries:
        keys.setdefault(name, set()).add(key)
    return keys


@pytest.mark.parametrize("seed", [0, 1])
def test_indexed_store_files_events_as_the_memory_store(seed: int) -> None:
    """Check that events, outcomes and re-observations in any order leave the same windows in
    `IndexedStore` (compiled plans, no per-event note) as in `MemoryStore` (the entry-by-entry
    reference, where each event was filed kept as a record)."""
    ref, items = _replayed(MemoryStore(), seed)
    fast, _ = _replayed(IndexedStore(), seed)
    _apply(ref, items)
    _apply(fast, items)
    keys = _all_keys(ref.store)  # type: ignore[arg-type]
    assert sum(len(v) for v in keys.values()) > 100
    assert _windows(fast, keys) == _windows(ref, keys)
    assert isinstance(fast.store, IndexedStore)
    assert "_filed" not in fast.store._records and ref.store._records  # type: ignore[attr-defined]
    assert any(t == "_filed" for t, _ in ref.store._records)  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", [0, 1])
def test_scratch_undoes_applied_events_exactly(seed: int) -> None:
    """Check that events applied inside `scratch()` (appends, inserts before later entries,
    re-filings and records) leave every window and record as before."""
    ref, items = _replayed(MemoryStore(), seed)
    _apply(ref, items)
    keys = _all_keys(ref.store)  # type: ignore[arg-type]
    fast, _ = _replayed(IndexedStore(), seed)
    half = len(items) // 2
    _apply(fast, items[:half])
    store = fast.store
    assert isinstance(store, IndexedStore)
    before = _windows(fast, keys)
    records = {t: dict(v) for t, v in store._records.items()}
    with store.scratch():
        _apply(fast, items[half:])
        assert _windows(fast, keys) == _windows(ref, keys)  # inside: as if applied for good
    assert _windows(fast, keys) == before
    assert {t: dict(v) for t, v in store._records.items() if v} == {t: v for t, v in records.items() if v}


def test_series_prefix_sums_follow_appends_inserts_and_removals() -> None:
    """Check that a series' counts and sums stay those of its entries through appends,
    inserts before short and long tails, and removals (the loop and numpy tail updates)."""
    rng = np.random.default_rng(7)
    s = IndexedStore()
    live: dict[str, tuple[int, float]] = {}
    for i in range(3000):
        eid = f"e{rng.integers(400)}"
        if rng.random() < 0.2 and live:
            gone = list(live)[int(rng.integers(len(live)))]
            s.drop_entry("ix", ("k",), gone)
            del live[gone]
            continue
        t = i * 10 if rng.random() < 0.6 else int(rng.integers(0, i * 10 + 1))  # mostly appends
        v = float(rng.choice([0.0, 1.0, 0.5]))
        s.put_entry("ix", ("k",), eid, t, v)
        live[eid] = (t, v)
    for lo, hi in ((None, 10**9), (5_000, 20_000), (29_000, 29_990)):
        w = s.window("ix", ("k",), lo, hi)
        inside = [(t, v) for t, v in live.values() if (lo is None or t >= lo) and t < hi]
        assert w.count == len(inside)
        assert w.total == pytest.approx(sum(v for _, v in inside), abs=1e-9)
        assert w.last_ns == max((t for t, _ in inside), default=None)


def test_plain_keeps_values_and_nulls_as_before() -> None:
    """Check that `_plain` maps NaN/NaT/None to None, numpy scalars and timestamps to Python,
    and keeps str, int, bool, float and lists as they are."""
    ts = pd.Timestamp("2024-01-01T00:00:00Z")
    row = {"s": "x", "i": 3, "b": True, "f": 1.5, "nan": float("nan"), "none": None, "nat": pd.NaT,
           "np_f": np.float64(2.0), "np_nan": np.float64("nan"), "np_i": np.int64(4), "np_b": np.bool_(False),
           "ts": ts, "l": [1, None], "d": {"a": 1}}
    out = _plain(row)
    assert out == {"s": "x", "i": 3, "b": True, "f": 1.5, "nan": None, "none": None, "nat": None, "np_f": 2.0,
                   "np_nan": None, "np_i": 4, "np_b": False, "ts": ts.isoformat(), "l": [1, None], "d": {"a": 1}}
    assert type(out["np_i"]) is int and type(out["np_f"]) is float and type(out["np_b"]) is bool
