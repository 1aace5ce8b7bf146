"""`IndexedStore.window_columns` (many events' windows at once) equals `window`, cell by cell."""

from __future__ import annotations

import numpy as np
import pytest

from triage.stores.online_index import IndexedStore


@pytest.mark.parametrize("seed", range(6))
def test_window_columns_equals_window(seed: int) -> None:
    """Check counts, sums and latest times on random series (ties, out-of-order, replaced ids, zeros)."""
    rng = np.random.default_rng(seed)
    store = IndexedStore()
    keys = [("a",), ("b",), ("c",), ("busy",)]
    for index in ("plain", "summed"):
        for j in range(int(rng.integers(50, 400))):
            key = keys[min(int(rng.integers(0, 5)), 3)]
            t = int(rng.integers(0, 1000)) * 1000
            value = 0.0 if index == "plain" else float(rng.choice([0.0, 1.0, 2.5]))
            store.put_entry(index, key, f"e{int(rng.integers(0, 300))}", t, value)
            if j % 37 == 0:
                store.drop_entry(index, key, f"e{int(rng.integers(0, 300))}")
    n = 200
    ev_keys = [None if rng.random() < 0.05 else keys[min(int(rng.integers(0, 6)), 3)] for _ in range(n)]
    ev_keys[:3] = [("never",), ("never",), None]
    uppers = [int(x) * 1000 for x in rng.integers(-5, 1100, n)]
    lowers = [
        [None] * n,
        [u - 50_000 for u in uppers],
        [u - int(rng.integers(0, 2_000_000)) for u in uppers],
        [u + 1000 for u in uppers],  # an empty window
    ]
    for index in ("plain", "summed", "absent"):
        counts, totals, last = store.window_columns(index, ev_keys, lowers, uppers)
        for i, k in enumerate(ev_keys):
            if k is None:
                assert last[i] is None and all(counts[r][i] == 0 for r in range(len(lowers)))
                continue
            for r in range(len(lowers)):
                w = store.window(index, k, lowers[r][i], uppers[i])
                assert (counts[r][i], totals[r][i], last[i]) == (w.count, w.total, w.last_ns), (index, k, r, i)
