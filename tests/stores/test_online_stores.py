"""The online state behind the service: the in-memory indexes behave like the reference
`MemoryStore`, per-event features over them equal the offline pipeline, and workers that
share a log (SQLite, Redis) hold the same state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_order_features, build_return_features
from features.online import MemoryStore, OnlineFeatures
from tests.factories import random_frames
from tests.features.test_online_parity import timeline
from triage.contract import dataset_from_frames
from triage.stores.online import OnlineState, load_online
from triage.stores.online_index import IndexedStore


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
    s.put_entries("bulk", [np.array(["k", "k", "j"], dtype=object)], np.array(["x", "y", "z"], dtype=object),
                  np.array([5_000, 6_000, 7_000]), np.array([1.5, 0.0, 2.5]))
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
    many = getattr(s, "windows", None) or (lambda qs: [s.window(*q) for q in qs])
    for got, ask in zip(many(asks), asks, strict=True):
        one = s.window(*ask)
        assert (got.count, got.last_ns) == (one.count, one.last_ns)
        assert got.total == pytest.approx(one.total, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_features_replayed_in_time_order_equal_offline(online_store, seed):
    """Check that the per-event features, over each store, equal the offline ones when
    events and outcomes are replayed in time order."""
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
            got = online.order_features_dict(row, lines.get(row["order_id"], []))
            assert_values_equal(offline_orders.loc[row["order_id"]].drop("created_at"), got, row["order_id"])
            online.observe_order(row, lines.get(row["order_id"], []))
        elif kind == "return":
            got = online.return_features_dict(row)
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
        got = online.order_features_dict(row, lines[row["order_id"]])
        assert_values_equal(offline.loc[row["order_id"]].drop("created_at"), got, row["order_id"])
    offline_r = build_return_features(full).set_index("return_id")
    for row in full["returns"].to_dict("records"):
        got = online.return_features_dict(row)
        assert_values_equal(offline_r.loc[row["return_id"]].drop("requested_at"), got, row["return_id"])


def test_indexed_store_equals_memory_store_under_random_operations():
    """Check that puts, moves, drops, bulk loads and windows agree with the reference store,
    including out-of-order times, repeated ids, one id under several keys, and sums."""
    rng = np.random.default_rng(7)
    ref, fast = MemoryStore(), IndexedStore()
    for step in range(3000):
        ix = f"ix{rng.integers(3)}"
        key = (f"k{rng.integers(4)}",)
        eid = f"e{rng.integers(200)}"
        op = rng.random()
        if op < 0.6:
            t, v = int(rng.integers(0, 10_000)), float(rng.choice([0.0, 0.0, 1.0, 2.5]))
            ref.put_entry(ix, key, eid, t, v)
            fast.put_entry(ix, key, eid, t, v)
        elif op < 0.75:
            ref.drop_entry(ix, key, eid)
            fast.drop_entry(ix, key, eid)
        elif op < 0.78:
            n = int(rng.integers(1, 30))
            keys = [np.array([f"k{rng.integers(4)}" for _ in range(n)], dtype=object)]
            ids = np.array([f"b{rng.integers(400)}" for _ in range(n)], dtype=object)
            times, vals = rng.integers(0, 10_000, n), rng.choice([0.0, 1.0], n)
            ref.put_entries(ix, keys, ids, times, vals)
            fast.put_entries(ix, keys, ids, times, vals)
        else:
            assert fast.get_entry(ix, key, eid) == ref.get_entry(ix, key, eid), step
        lo = None if rng.random() < 0.3 else int(rng.integers(0, 10_000))
        hi = int(rng.integers(0, 11_000))
        a, b = ref.window(ix, key, lo, hi), fast.window(ix, key, lo, hi)
        assert (a.count, a.last_ns) == (b.count, b.last_ns), (step, a, b)
        assert b.total == pytest.approx(a.total, abs=1e-9), (step, a, b)


def _replay(workers, ds, lines, offline_orders, offline_returns):
    """Events and outcomes in time order, alternately through each worker; every event's
    features (asked of the worker deciding it) must equal the offline ones."""
    for i, (_, _, kind, row) in enumerate(timeline(ds)):
        w = workers[i % len(workers)]
        if kind == "order":
            event = {**row, "lines": lines.get(row["order_id"], [])}
            got = w.features("order", event)
            assert_values_equal(offline_orders.loc[row["order_id"]].drop("created_at"), got, row["order_id"])
            w.observe("order", event)
        elif kind == "return":
            got = w.features("return", row)
            assert_values_equal(offline_returns.loc[row["return_id"]].drop("requested_at"), got, row["return_id"])
            w.observe("return", row)
        else:
            w.observe_outcome(kind, row)


def _master_folder(ds, folder):
    """The dataset's master data as a contract folder (events stream in through the log)."""
    from triage.schema import TABLES

    folder.mkdir()
    for t in ("nodes", "products", "customers"):
        ds[t].to_csv(folder / f"{t}.csv", index=False)
    for t in ("orders", "order_lines"):
        (folder / f"{t}.csv").write_text(",".join(TABLES[t].column_names) + "\n")
    return folder


def test_workers_sharing_a_log_see_the_same_history(online_log, tmp_path):
    """Check that two workers (two OnlineStates over one log), deciding events alternately,
    each give every event its offline features: each applies what the other observed."""
    from triage.settings import Settings

    ds = dataset_from_frames(random_frames(4, n_orders=120, days=6))
    settings = Settings(home=tmp_path / "home")
    load_online(settings, _master_folder(ds, tmp_path / "master"), log_=online_log)
    workers = [OnlineState(online_log), OnlineState(online_log)]
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    _replay(workers, ds, lines, build_order_features(ds).set_index("order_id"),
            build_return_features(ds).set_index("return_id"))
    late = OnlineState(online_log)  # a worker started afterwards rebuilds the same state from the log
    for row in ds["orders"].to_dict("records")[::10]:
        event = {**row, "lines": lines.get(row["order_id"], [])}
        assert late.features("order", event) == pytest.approx(workers[0].features("order", event), nan_ok=True)


def test_a_new_snapshot_reaches_running_workers(online_log, tmp_path):
    """Check that `load_online` (replace) makes running workers rebuild from the new snapshot."""
    from triage.settings import Settings

    frames = random_frames(5, n_orders=60, days=4)
    ds = dataset_from_frames(frames)
    folder = tmp_path / "full"
    folder.mkdir()
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    settings = Settings(home=tmp_path / "home")
    w = OnlineState(online_log)
    row = ds["orders"].sort_values("created_at").to_dict("records")[-1]
    lines = ds["order_lines"][ds["order_lines"]["order_id"] == row["order_id"]].to_dict("records")
    event = {**row, "lines": lines}
    before = w.features("order", event)
    assert before["cust_prior_orders"] == 0.0
    load_online(settings, folder, log_=online_log)
    after = w.features("order", event)
    offline = build_order_features(ds).set_index("order_id").loc[row["order_id"]].drop("created_at")
    assert_values_equal(offline, after, row["order_id"])


def _batches(ds, lines, size):
    """The timeline's events in batches: runs of one kind between outcomes, at most `size`,
    each shuffled (a batch's items need not come in time order)."""
    rng = np.random.default_rng(size)
    run: list[tuple[str, dict]] = []
    out: list[tuple[str, list[dict]]] = []

    def flush():
        if run:
            items = [dict(r) for _, r in run]
            rng.shuffle(items)  # type: ignore[arg-type]
            out.append((run[0][0], items))
            run.clear()

    for _, _, kind, row in timeline(ds):
        if kind in ("order", "return"):
            if run and (run[0][0] != kind or len(run) >= size):
                flush()
            event = {**row, "lines": lines.get(row["order_id"], [])} if kind == "order" else row
            run.append((kind, event))
        else:
            flush()
            out.append((kind, [row]))
    flush()
    return out


@pytest.mark.parametrize("seed,size", [(4, 25), (6, 200)])
def test_batches_see_their_earlier_items_as_offline(tmp_path, seed, size):
    """Check that a batch's events each get the offline features: an item sees the batch's
    items strictly before it in event time (not the ones at its own time), whatever their
    order in the batch — as if decided one by one in time order — and that deciding a batch
    changes nothing in the worker's indexes until the events are observed (after their audit)."""
    from triage.settings import Settings
    from triage.stores.online_sqlite import SqliteLog

    ds = dataset_from_frames(random_frames(seed, n_orders=160, days=3))
    log_ = SqliteLog(tmp_path / "online.db")
    load_online(Settings(home=tmp_path / "home"), _master_folder(ds, tmp_path / "master"), log_=log_)
    w = OnlineState(log_)
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    offline = {"order": build_order_features(ds).set_index("order_id").drop(columns="created_at"),
               "return": build_return_features(ds).set_index("return_id").drop(columns="requested_at")}
    id_of = {"order": "order_id", "return": "return_id"}
    sizes = []
    for kind, items in _batches(ds, lines, size):
        if kind not in id_of:
            w.observe_outcome(kind, items[0])
            continue
        sizes.append(len(items))
        held = ("entries", "records", "record_bytes")  # (ids coded and empty series may stay)
        before = {k: w.store.stats()[k] for k in held}
        got = w.features_many(kind, items)
        assert {k: w.store.stats()[k] for k in held} == before  # the scratch changes are undone
        for event, feats in zip(items, got, strict=True):
            assert_values_equal(offline[kind].loc[event[id_of[kind]]], feats, event[id_of[kind]])
        w.observe_many(kind, items)
    assert max(sizes) > 5  # the batches really hold several events
    assert w.overlaid > 0  # new orders' batches are read through the overlay (features.overlay)


def test_scratch_changes_are_undone_exactly():
    """Check that puts, moves, drops and records inside `IndexedStore.scratch()` are undone:
    every window and record answers as before, also after an exception inside."""
    rng = np.random.default_rng(3)
    s = IndexedStore()
    for i in range(300):
        s.put_entry(f"ix{i % 2}", (f"k{i % 5}",), f"e{i % 150}", int(rng.integers(0, 10_000)),
                    float(rng.choice([0.0, 1.0, 2.5])))
        s.put_record("r", f"k{i % 7}", {"i": i})
    asks = [(f"ix{j}", (f"k{k}",), lo, hi) for j in range(2) for k in range(6)
            for lo, hi in ((None, 10_001), (2_000, 7_000), (5_000, 9_999))]
    want = [s.window(*a) for a in asks]
    records = [s.get_record("r", f"k{k}") for k in range(9)]
    with pytest.raises(ZeroDivisionError), s.scratch():
        for i in range(400):
            op, ix, key, eid = rng.random(), f"ix{i % 3}", (f"k{rng.integers(6)}",), f"e{rng.integers(250)}"
            if op < 0.7:
                s.put_entry(ix, key, eid, int(rng.integers(0, 10_000)), float(rng.choice([0.0, 1.0, 4.0])))
            elif op < 0.9:
                s.drop_entry(ix, key, eid)
            else:
                s.put_record("r", f"k{rng.integers(9)}", {"i": -i})
        assert [s.window(*a) for a in asks] != want
        1 / 0  # noqa: B018
    got = [s.window(*a) for a in asks]
    assert [(g.count, g.last_ns) for g in got] == [(w.count, w.last_ns) for w in want]
    assert [g.total for g in got] == pytest.approx([w.total for w in want], abs=1e-9)
    assert [s.get_record("r", f"k{k}") for k in range(9)] == records
