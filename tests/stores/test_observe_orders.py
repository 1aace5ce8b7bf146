"""`OnlineFeatures.observe_orders` (one `put_entries` per index for a run of orders) leaves every
store exactly as `observe_order` one by one: the same entries (times, ids, values, positions),
the same prefix sums float for float, the same records — with repeated orders (same id
replaces), out-of-order arrivals, outcomes that arrived first, and inside `scratch()`."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from features.online import MemoryStore, OnlineFeatures
from tests.factories import random_frames
from triage.contract import dataset_from_frames
from triage.stores.online_index import IndexedStore


def dump(store) -> tuple[dict, dict]:
    """Everything a store holds, comparable: per (index, key) its entries in position order
    (id codes mapped back to ids) with the prefix sums; the records unpickled."""
    entries: dict = {}
    if isinstance(store, MemoryStore):
        for (name, key), e in store._entries.items():
            if e.times:
                entries[(name, key)] = (list(e.times), list(e.ids), list(e.values), e.summed)
        records = {k: v for k, v in store._records.items()}
        return entries, records
    for name, ix in store._ix.items():
        ids = {c: i for i, c in ix.codes.items()}
        for key, s in ix.keys.items():
            ser = ix.series[s]
            if not len(ser.times):
                continue
            entries[(name, key)] = (list(ser.times), [ids[c] for c in ser.codes],
                                    None if ser.values is None else list(ser.values),
                                    None if ser.cum is None else list(ser.cum))
            for c in ser.codes:  # each entry is where the location map says
                assert ix.where(s, c) is not None
    records = {(t, k): pickle.loads(v) for t, rows in store._records.items() for k, v in rows.items()}
    return entries, records


def _shift(row: dict, hours: float) -> dict:
    return {**row, "created_at": pd.Timestamp(row["created_at"]) + pd.Timedelta(hours=hours)}


def _workload(seed: int):
    ds = dataset_from_frames(random_frames(seed, n_orders=160, days=8))
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    orders = ds["orders"].to_dict("records")
    rng = np.random.default_rng(seed)
    rng.shuffle(orders)  # out of time order
    first, rest = orders[:40], orders[40:]
    runs = []
    for _ in range(6):
        n = int(rng.integers(1, 40))
        run = [rest.pop() for _ in range(min(n, len(rest)))]
        for _ in range(int(rng.integers(0, 4))):  # the same order again, moved (replaces)
            dup = run[int(rng.integers(len(run)))] if run else first[0]
            run.insert(int(rng.integers(len(run) + 1)), _shift(dup, float(rng.normal(0, 30))))
        if rng.random() < 0.5:  # an order observed before, again
            run.insert(int(rng.integers(len(run) + 1)), _shift(first[int(rng.integers(len(first)))], 2.0))
        runs.append(run)
    runs.append(rest)
    outcomes = []  # some for orders already observed, some (pending) for orders still to come
    for r in ds["fulfillment_outcomes"].to_dict("records")[::3]:
        outcomes.append(("fulfillment", r))
    for r in ds["fraud_labels"].to_dict("records")[::2]:
        outcomes.append(("fraud", r))
    return ds, lines, first, runs, outcomes


def _prime(online: OnlineFeatures, ds, lines, first, outcomes, bootstrap: bool) -> None:
    if bootstrap:
        online.bootstrap(dataset_from_frames({**random_frames(99, n_orders=60, days=8)}))
    for table in ("nodes", "products", "customers"):
        for row in ds[table].to_dict("records"):
            online.observe_master(table, row)
    for row in first:
        online.observe_order(row, lines.get(row["order_id"], []))
    for kind, row in outcomes:
        online.observe_outcome(kind, row)


@pytest.mark.parametrize("store", [MemoryStore, IndexedStore])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("bootstrap", [False, True])
def test_bulk_observe_equals_one_by_one(store, seed, bootstrap):
    ds, lines, first, runs, outcomes = _workload(seed)
    one, bulk = OnlineFeatures(store(), present=ds.present), OnlineFeatures(store(), present=ds.present)
    for online in (one, bulk):
        _prime(online, ds, lines, first, outcomes, bootstrap)
    assert dump(one.store) == dump(bulk.store)
    for run in runs:
        for row in run:
            one.observe_order(row, lines.get(row["order_id"], []))
        bulk.observe_orders((row, lines.get(row["order_id"], [])) for row in run)
        assert dump(one.store) == dump(bulk.store)


@pytest.mark.parametrize("seed", [0, 3])
def test_bulk_observe_in_scratch_equals_one_by_one_and_is_undone(seed):
    ds, lines, first, runs, outcomes = _workload(seed)
    one, bulk = OnlineFeatures(IndexedStore(), present=ds.present), OnlineFeatures(IndexedStore(), present=ds.present)
    for online in (one, bulk):
        _prime(online, ds, lines, first, outcomes, True)
    before = dump(bulk.store)
    everything = [row for run in runs for row in run]
    everything.sort(key=lambda r: pd.Timestamp(r["created_at"]))  # as features_many applies a batch
    with one.store.scratch(), bulk.store.scratch():  # type: ignore[attr-defined]
        for row in everything:
            one.observe_order(row, lines.get(row["order_id"], []))
        bulk.observe_orders((row, lines.get(row["order_id"], [])) for row in everything)
        assert dump(one.store) == dump(bulk.store)
    after = dump(bulk.store)
    assert after == dump(one.store)
    # undone: the same entries and records; entries at one time in any order, prefix sums as
    # before up to rounding (scratch's undo re-inserts and subtracts — as one by one, above)
    assert after[1] == before[1] and after[0].keys() == before[0].keys()

    def entries(times, ids, values):
        return sorted(zip(times, ids, values or [0.0] * len(times), strict=True))

    for k, (times, ids, values, cum) in after[0].items():
        assert entries(times, ids, values) == entries(*before[0][k][:3]), k
        assert (cum is None) == (before[0][k][3] is None), k
        if cum is not None:
            assert cum == pytest.approx(before[0][k][3], rel=1e-12, abs=1e-9), k


def test_a_store_without_bulk_puts_gets_one_by_one():
    class Plain(MemoryStore):
        put_entries = None  # type: ignore[assignment]

    ds, lines, first, runs, outcomes = _workload(4)
    one, plain = OnlineFeatures(MemoryStore(), present=ds.present), OnlineFeatures(Plain(), present=ds.present)
    for online in (one, plain):
        _prime(online, ds, lines, first, outcomes, False)
    for run in runs:
        for row in run:
            one.observe_order(row, lines.get(row["order_id"], []))
        plain.observe_orders((row, lines.get(row["order_id"], [])) for row in run)
    assert dump(one.store) == dump(plain.store)
