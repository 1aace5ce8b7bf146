"""`features.batch.order_values_many` equals `features.scalar.order_values`, order by order."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from features import batch, scalar
from features.online import MemoryStore, OnlineFeatures
from tests.factories import random_frames
from triage.contract import dataset_from_frames
from triage.stores.online_index import IndexedStore


def _equal(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _check(online: OnlineFeatures, orders: list[dict], lines: list[list[dict]], customers=None) -> None:
    got = batch.order_values_many(online, orders, lines, customers)
    assert len(got) == len(orders)
    for i, (o, ls) in enumerate(zip(orders, lines, strict=True)):
        want = scalar.order_values(online, o, ls, None if customers is None else customers[i])
        assert list(got[i]) == list(want)
        bad = {k: (got[i][k], want[k]) for k in want if not _equal(got[i][k], want[k])}
        assert not bad, (o["order_id"], bad)


def _odd(orders: list[dict], lines: dict) -> tuple[list[dict], list[list[dict]], list[dict | None]]:
    """The orders plus edge cases: null keys, an unknown node and customer, no lines, a shared time."""
    out = [dict(o) for o in orders]
    base = out[0]
    out.append({**base, "order_id": "x-null-keys", "device_id": None, "email_hash": None, "card_country": None,
                "shipping_postcode": None, "customer_id": None})
    out.append({**base, "order_id": "x-unknown", "fulfillment_node_id": "NOPE", "customer_id": "C-new",
                "carrier": None})
    out.append({**base, "order_id": "x-no-lines"})
    out.append({**base, "order_id": "x-same-time"})
    ls = [lines.get(o["order_id"], []) for o in out]
    ls[-2] = []
    customers: list[dict | None] = [None] * len(out)
    customers[-3] = {"customer_id": "C-new", "created_at": base["created_at"], "is_guest": True}
    return out, ls, customers


@pytest.mark.parametrize("seed", [2, 3, 7])
@pytest.mark.parametrize("store", ["memory", "indexed"])
def test_batch_equals_per_event_on_random_data(seed: int, store: str) -> None:
    """Check that every order of a random busy retailer gets the per-event values from the batch read."""
    ds = dataset_from_frames(random_frames(seed, n_orders=240, days=10))
    online = OnlineFeatures(MemoryStore() if store == "memory" else IndexedStore())
    online.bootstrap(ds)
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    orders = ds["orders"].to_dict("records")
    orders, ls, customers = _odd(orders, lines)
    _check(online, orders, ls, customers)
    _check(online, orders[:1], ls[:1])  # a batch of one
    assert batch.order_values_many(online, [], []) == []


def test_batch_equals_per_event_on_a_simulated_retailer(tmp_path) -> None:
    """Check the batch read on a simulated retailer's state, for its orders and new ones after its end."""
    from triage.contract import load_dataset
    from triage.simulator import simulate

    simulate(tmp_path / "sim", orders=1500, days=20, seed=4)
    ds = load_dataset(tmp_path / "sim")
    online = OnlineFeatures(IndexedStore())
    online.bootstrap(ds)
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    orders = ds["orders"].to_dict("records")
    end = ds["orders"]["created_at"].max()
    later = [{**o, "order_id": f"new-{i}", "created_at": end + pd.Timedelta(minutes=7 * i)}
             for i, o in enumerate(orders[::15])]
    for o in later:
        lines[o["order_id"]] = lines.get(str(o["order_id"]).split("-", 1)[0], [])
    picked = orders[::2] + later
    _check(online, picked, [lines.get(o["order_id"], []) for o in picked])
