"""The compiled index core on long series: block splits, emptied blocks and the block tree
answer every window exactly as the entries say (counts, latest times) and sums to tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from triage.stores.online_index import IndexedStore


def _check(store: IndexedStore, live: dict[str, tuple[int, float]], rng: np.random.Generator, n: int) -> None:
    times = np.array([t for t, _ in live.values()], dtype=np.int64)
    values = np.array([v for _, v in live.values()])
    span = int(times.max()) + 10 if len(times) else 10
    for _ in range(n):
        hi = int(rng.integers(-5, span))
        lo = None if rng.random() < 0.2 else hi - int(rng.integers(0, span))
        w = store.window("ix", ("k",), lo, hi)
        inside = (times < hi) & (True if lo is None else times >= lo)
        assert w.count == int(inside.sum())
        assert w.total == pytest.approx(float(values[inside].sum()), rel=1e-12, abs=1e-9)
        before = times[times < hi]
        assert w.last_ns == (int(before.max()) if len(before) else None)


@pytest.mark.parametrize("seed", [0, 1])
def test_long_series_stay_exact_through_splits_moves_and_removals(seed: int) -> None:
    """Check windows over a 12,000-entry series built by appends, inserts deep before the end
    (full blocks split), moves of filed ids, and removals that empty whole blocks."""
    rng = np.random.default_rng(seed)
    store = IndexedStore()
    live: dict[str, tuple[int, float]] = {}
    for i in range(12_000):  # mostly appends, a third filed anywhere before the end, many ties
        t = i * 10 if rng.random() < 0.65 else int(rng.integers(0, i * 10 + 1)) // 7 * 7
        v = float(rng.choice([0.0, 1.0, 19.99, 0.1]))
        store.put_entry("ix", ("k",), f"e{i}", t, v)
        live[f"e{i}"] = (t, v)
    _check(store, live, rng, 300)
    for j in rng.choice(12_000, 3000, replace=False).tolist():  # moved in time
        t, v = int(rng.integers(0, 120_000)), float(rng.random())
        store.put_entry("ix", ("k",), f"e{j}", t, v)
        live[f"e{j}"] = (t, v)
    _check(store, live, rng, 300)
    ordered = sorted(live, key=lambda e: live[e][0])
    for e in ordered[2000:7000]:  # a contiguous stretch of time: whole blocks emptied
        store.drop_entry("ix", ("k",), e)
        del live[e]
    _check(store, live, rng, 300)
    assert store.stats()["entries"] == len(live)
    for e in list(live):
        store.drop_entry("ix", ("k",), e)
    assert store.window("ix", ("k",), None, 10**9).count == 0
    store.put_entry("ix", ("k",), "again", 5, 2.0)
    w = store.window("ix", ("k",), None, 10**9)
    assert (w.count, w.total, w.last_ns) == (1, 2.0, 5)


def test_bulk_load_then_filings_equal_one_by_one() -> None:
    """Check that a bulk-loaded series (blocks filled to 3/4) then filed into answers like the
    same entries filed one by one."""
    rng = np.random.default_rng(3)
    n = 5000
    times = rng.integers(0, 50_000, n)
    values = rng.choice([0.0, 2.5, 1.0], n)
    ids = [f"b{i}" for i in range(n)]
    bulk, single = IndexedStore(), IndexedStore()
    bulk.put_entries("ix", [np.array(["k"] * n, dtype=object)], np.array(ids, dtype=object), times, values)
    for e, t, v in zip(ids, times.tolist(), values.tolist(), strict=True):
        single.put_entry("ix", ("k",), e, t, v)
    for i in range(2000):
        t, v = int(rng.integers(0, 60_000)), float(rng.choice([0.0, 3.0]))
        eid = f"b{int(rng.integers(0, n))}" if i % 2 else f"n{i}"  # moved, or new
        for s in (bulk, single):
            s.put_entry("ix", ("k",), eid, t, v)
    for lo, hi in ((None, 10**9), (10_000, 20_000), (49_000, 60_001), (30_000, 30_000)):
        a, b = bulk.window("ix", ("k",), lo, hi), single.window("ix", ("k",), lo, hi)
        assert (a.count, a.last_ns) == (b.count, b.last_ns)
        assert a.total == pytest.approx(b.total, rel=1e-12)
