"""A batch of new orders read through the overlay (`features.overlay`) gets the features the
scratch path gives — the batch applied to the indexes one by one and undone — and every
batch the overlay cannot answer exactly takes the scratch path."""

from __future__ import annotations

import math

import pytest

from features.overlay import BatchOverlay
from tests.factories import random_frames
from tests.stores.test_online_stores import _master_folder
from triage.contract import dataset_from_frames
from triage.settings import Settings
from triage.stores.online import OnlineState, load_online
from triage.stores.online_sqlite import SqliteLog


def _state(tmp_path, seed: int):
    """A worker that has seen the first half of a busy retailer's orders; the rest as events."""
    ds = dataset_from_frames(random_frames(seed, n_orders=240, days=3))
    log_ = SqliteLog(tmp_path / "online.db")
    load_online(Settings(home=tmp_path / "home"), _master_folder(ds, tmp_path / "master"), log_=log_)
    w = OnlineState(log_)
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    orders = ds["orders"].sort_values("created_at", kind="stable").to_dict("records")
    events = [{**o, "lines": lines.get(o["order_id"], [])} for o in orders]
    w.observe_many("order", events[:120])
    return w, events[120:]


def _scratch(w, monkeypatch, events):
    with monkeypatch.context() as m:
        m.setattr(BatchOverlay, "build", classmethod(lambda cls, *a, **k: None))
        return w.features_many("order", events)


def _both_paths(w, monkeypatch, batch, *, overlaid: bool) -> list[dict]:
    """The batch's features by the scratch path and by `features_many` (which must or must not
    take the overlay), checked equal; returns the latter."""
    want = _scratch(w, monkeypatch, batch)
    before = w.overlaid
    got = w.features_many("order", batch)
    assert w.overlaid == before + overlaid
    for e, a, b in zip(batch, want, got, strict=True):
        _same(a, b, e["order_id"])
    return got


def _same(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys()
    for k, x in a.items():
        y = b[k]
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), f"{what}.{k}: {x!r} vs {y!r}"
        elif isinstance(x, float):
            assert y == pytest.approx(x, rel=1e-12, abs=1e-9), f"{what}.{k}: {x!r} vs {y!r}"
        else:
            assert x == y, f"{what}.{k}: {x!r} vs {y!r}"


@pytest.mark.parametrize("seed", [4, 9])
def test_a_batch_of_new_orders_read_through_the_overlay_equals_the_scratch_path(tmp_path, monkeypatch, seed):
    w, later = _state(tmp_path, seed)
    batch = later[:80][::-1]  # not in time order: items must still see exactly the earlier ones
    got = _both_paths(w, monkeypatch, batch, overlaid=True)
    # the batch saw its own items: the later ones count the earlier ones of the same node
    assert max(f["node_orders_24h"] for f in got) > max(f["node_orders_24h"] for f in w.features_many(
        "order", batch, concurrent=True))


def test_an_order_the_state_already_holds_takes_the_scratch_path(tmp_path, monkeypatch):
    w, later = _state(tmp_path, 4)
    batch = later[:30]
    w.observe("order", batch[5])  # re-deciding a known order re-files it: only one by one is exact
    _both_paths(w, monkeypatch, batch, overlaid=False)


def test_a_repeated_order_id_in_a_batch_takes_the_scratch_path(tmp_path):
    w, later = _state(tmp_path, 4)
    before = w.overlaid
    w.features_many("order", [*later[:10], dict(later[3])])
    assert w.overlaid == before


def test_a_device_first_seen_later_than_a_batch_order_takes_the_scratch_path(tmp_path, monkeypatch):
    w, later = _state(tmp_path, 9)
    early, late = later[0], dict(later[-1])
    late["device_id"] = "dev-moved"
    w.observe("order", late)  # the state first saw this (device, customer) at `late`'s time
    batch = [{**early, "device_id": "dev-moved", "customer_id": late["customer_id"]}, *later[1:20]]
    _both_paths(w, monkeypatch, batch, overlaid=False)


def test_a_device_shared_inside_a_batch_counts_its_customers_once_each(tmp_path, monkeypatch):
    w, later = _state(tmp_path, 4)
    batch = [{**e, "device_id": "dev-shared", "customer_id": f"C{i % 3}"} for i, e in enumerate(later[:12])]
    want = _scratch(w, monkeypatch, batch)
    got = w.features_many("order", batch)
    assert [f["device_distinct_customers"] for f in got] == [f["device_distinct_customers"] for f in want]
    assert max(f["device_distinct_customers"] for f in got) == 3.0
