"""The plain-Python fast path (`features.scalar`) on a store with batched reads (as server-backed
stores offer): bootstrapped state, one round trip per event, equal to the offline frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_order_features, build_return_features, scalar
from features.online import MemoryStore, OnlineFeatures, Window
from tests.factories import random_frames
from triage.contract import dataset_from_frames


class BatchedStore(MemoryStore):
    """A memory store that also answers many windows / records in one call, and counts the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.window_calls = 0

    def windows(self, asks: list[tuple[str, tuple[str, ...], int | None, int]]) -> list[Window]:
        self.window_calls += 1
        return [self.window(*a) for a in asks]

    def get_records(self, table: str, keys: list[str]) -> list[dict | None]:
        return [self.get_record(table, k) for k in keys]


def _same(a: object, b: object) -> bool:
    if pd.isna(a):  # type: ignore[call-overload]
        return b is None or (isinstance(b, float) and np.isnan(b))
    if isinstance(a, float | np.floating):
        return b == pytest.approx(float(a), rel=1e-9, abs=1e-9)
    return a == b


@pytest.mark.parametrize("seed", [4, 5])
def test_fast_path_with_batched_reads_equals_offline(seed: int) -> None:
    """Check that order_values / return_values over a bootstrapped state, read in batches, equal the offline rows."""
    ds = dataset_from_frames(random_frames(seed, n_orders=200, days=10))
    store = BatchedStore()
    online = OnlineFeatures(store)
    online.bootstrap(ds)
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    offline = build_order_features(ds).set_index("order_id")
    for row in ds["orders"].to_dict("records")[::3]:
        got = scalar.order_values(online, row, lines.get(row["order_id"], []))
        want = offline.loc[row["order_id"]].drop("created_at")
        bad = [c for c, a in want.items() if not _same(a, got[c])]
        assert not bad, (row["order_id"], {c: (want[c], got[c]) for c in bad})
    offline_r = build_return_features(ds).set_index("return_id")
    for row in ds["returns"].to_dict("records")[::2]:
        got = scalar.return_values(online, row)
        want = offline_r.loc[row["return_id"]].drop("requested_at")
        bad = [c for c, a in want.items() if not _same(a, got[c])]
        assert not bad, (row["return_id"], {c: (want[c], got[c]) for c in bad})
    calls = store.window_calls
    scalar.order_values(online, ds["orders"].iloc[0].to_dict(), lines[ds["orders"]["order_id"].iloc[0]])
    assert store.window_calls - calls <= 2  # the order's windows, then its vendors' windows


def test_timestamps_in_any_form_give_the_same_nanoseconds() -> None:
    """Check that ISO text (Z or offset, nanosecond digits), datetimes and Timestamps agree, and naive times fail."""
    t = pd.Timestamp("2026-03-02T10:00:00.123456Z")
    assert scalar.ns("2026-03-02T10:00:00.123456Z") == t.value
    assert scalar.ns("2026-03-02T12:00:00.123456+02:00") == t.value
    assert scalar.ns(t.to_pydatetime()) == t.value
    assert scalar.ns("2026-03-02T10:00:00.123456789Z") == t.value + 789
    assert scalar.ns(None) is None
    with pytest.raises(ValueError, match="without time zone"):
        scalar.ns("2026-03-02T10:00:00")
