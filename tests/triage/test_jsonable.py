"""`triage.records.jsonable`: the one JSON form (hashed, audited, answered), the same by either path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from triage.records import _walk, jsonable


def _value() -> dict:
    return {
        "order_id": "O1", "n": 3, "flag": True, "none": None, "x": 0.1 + 0.2, "tiny": 1e-300, "nan": float("nan"),
        "created_at": datetime(2026, 3, 1, 14, 5, 0, 123456, tzinfo=UTC),
        "local": datetime(2026, 3, 1, 16, 5, tzinfo=timezone(timedelta(hours=2))),  # converted to UTC
        "ts": pd.Timestamp("2026-03-01T14:05:00Z"),
        "np": [np.float64(2.5), np.int64(7), np.bool_(True), np.float64("nan")],
        "lines": [{"sku": "S1", "quantity": 2, "unit_price": 9.99}, ("a", 1)],
        "text": "naïve café ✓",
        "nested": {"scores": {"p_fraud": 0.25}, "reasons": []},
    }


def test_the_round_trip_gives_what_the_walk_gives():
    value = _value()
    fast = jsonable(value)
    assert fast == {**_walk(value), "nan": None}  # NaN compares unequal to itself: both None
    assert fast["local"] == "2026-03-01T14:05:00Z" and fast["created_at"] == "2026-03-01T14:05:00.123456Z"
    assert fast["np"] == [2.5, 7, True, None] and type(fast["np"][1]) is int
    assert list(fast) == list(value)  # key order kept


def test_what_orjson_refuses_is_walked():
    big = {"n": 2**70, "at": datetime(2026, 1, 1, tzinfo=UTC), "odd": "\ud800"}
    assert jsonable(big) == {"n": 2**70, "at": "2026-01-01T00:00:00Z", "odd": "\ud800"}
    assert jsonable([{1: "a"}]) == [{"1": "a"}]
    assert jsonable(pd.NA) is pd.NA and jsonable({"a": (1, 2)}) == {"a": [1, 2]}
