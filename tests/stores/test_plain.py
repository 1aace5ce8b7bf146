"""Plain data in the online state: records and log entries are JSON, datasets Arrow IPC; a
pickle written to the log is skipped, never run."""

from __future__ import annotations

import os
import pickle
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from tests.factories import random_frames
from triage.contract import dataset_from_frames
from triage.records import jsonable
from triage.stores import plain
from triage.stores.online import OnlineState
from triage.stores.online_index import IndexedStore
from triage.stores.online_sqlite import SqliteLog


def test_values_convert_explicitly_as_the_audit_writes_them() -> None:
    """Check that datetimes (Timestamp, naive, other zones) read back as the audit's `jsonable`
    text, numpy values as Python numbers, NaN/NaT as null, tuples as lists, and that bytes
    are refused with the type named."""
    value = {"at": datetime(2024, 3, 1, 12, 30, 0, 250_000, tzinfo=UTC),
             "ts": pd.Timestamp("2024-03-01T13:30:00+01:00"), "naive": datetime(2024, 3, 1, 12, 0),
             "i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "nan": float("nan"), "nat": pd.NaT,
             "arr": np.array([1.5, 2.0]), "t": ("order", [1, None]), "s": "é", "n": None}
    got = plain.loads(plain.dumps(value))
    assert got == {"at": "2024-03-01T12:30:00.250000Z", "ts": "2024-03-01T12:30:00Z", "naive": "2024-03-01T12:00:00Z",
                   "i": 3, "f": 0.5, "b": True, "nan": None, "nat": None, "arr": [1.5, 2.0], "t": ["order", [1, None]],
                   "s": "é", "n": None}
    audit_form = jsonable({k: v for k, v in value.items() if k not in ("naive", "arr", "nat")})
    assert {k: v for k, v in got.items() if k in audit_form} == audit_form
    with pytest.raises(TypeError, match="bytes"):
        plain.dumps({"x": b"raw"})
    with pytest.raises(ValueError, match="not a plain"):
        plain.loads(pickle.dumps({"x": 1}))


def test_dataset_round_trips_through_arrow() -> None:
    """Check that every table (values and dtypes) and the present set survive the snapshot codec."""
    ds = dataset_from_frames(random_frames(2, n_orders=60, days=4))
    back = plain.loads_dataset(plain.dumps_dataset(ds))
    assert back.present == ds.present and set(back.tables) == set(ds.tables)
    for name, frame in ds.tables.items():
        pd.testing.assert_frame_equal(back[name], frame.reset_index(drop=True), check_dtype=True)
    with pytest.raises(ValueError, match="old pickled snapshot"):
        plain.loads_dataset(pickle.dumps(ds))


def test_records_are_json_copies() -> None:
    """Check that a record is stored as JSON bytes and read back as a fresh copy."""
    s = IndexedStore()
    rec = {"order_id": "O1", "created_at": pd.Timestamp("2024-01-01", tz="UTC"), "lines": [{"sku": "A"}]}
    s.put_record("orders", "O1", rec)
    assert s._records["orders"]["O1"].startswith(b"{")
    got = s.get_record("orders", "O1")
    assert got == {"order_id": "O1", "created_at": "2024-01-01T00:00:00Z", "lines": [{"sku": "A"}]}
    got["lines"].append(1)
    assert s.get_record("orders", "O1")["lines"] == [{"sku": "A"}]


class _Boom:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # what an attacker's pickle does when loaded
        return (os.mkdir, (self.path,))


def test_a_pickle_in_the_log_is_skipped_not_run(tmp_path) -> None:
    """Check that a worker reading a pickled entry someone wrote to the log does not execute it,
    skips it, and still applies the plain entries after it."""
    log_ = SqliteLog(tmp_path / "online.db")
    target = tmp_path / "pwned"
    event = {"order_id": "O9", "customer_id": "C1", "created_at": "2024-01-01T00:00:00Z",
             "fulfillment_node_id": "N1", "channel": "web", "lines": []}
    log_.append([pickle.dumps(("order", _Boom(str(target)))), plain.dumps(("order", event))])
    state = OnlineState(log_)
    with state._lock:
        state.sync()
    assert not target.exists()
    assert state.store.get_record("orders", "O9") is not None
    log_.close()
