"""MANY orders' features at once, from the online state: the batch path.

`order_values_many(online, orders, lines, customers)` gives, for each order, exactly
`features.scalar.order_values` — every order as of its own `created_at`, all against the
same state. The per-event path asks the store ~60 windows per order, one `window` call
each; here the windows of the whole batch are read per *index* (one
`store.window_columns` call per declared index for all the orders: the orders' keys and
times gathered, one bisect of the upper bound per order and one per lower bound, a key
many orders share searched with numpy at once), and the records (products, nodes) with one
`get_records` per table for the batch. The formulas after the reads are
`scalar.order_values`' own (its `prefetched` hook), so the batch cannot drift from the
per-event path; a store without `window_columns` is read through `windows`, per order.

Parity: tests/features/test_batch.py holds this equal to `scalar.order_values` on random
data and on a simulated retailer, and tests/api/test_parity.py to the offline frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from features import scalar
from features.declarations import _DAY_NS, UTC_DAY, Aggregation
from features.scalar import _ORDER_EVENT_AGGS, _ORDER_LINE_AGGS, NAN, is_null, ns, vendor_weights
from features.streams import ALL

__all__ = ["order_values_many"]


def _by_index(aggs: Sequence[Aggregation]) -> list[tuple[str, tuple[str, ...], list[Aggregation]]]:
    out: dict[str, tuple[str, tuple[str, ...], list[Aggregation]]] = {}
    for a in aggs:
        out.setdefault(a.index_name, (a.index_name, a.key, []))[2].append(a)
    return list(out.values())


_EVENT_INDEXES = _by_index(_ORDER_EVENT_AGGS)
_LINE_INDEXES = _by_index(_ORDER_LINE_AGGS)


class _Records:
    """The store's record reads answered from what the batch fetched (one call per table)."""

    def __init__(self, store: Any, cache: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._store, self._cache = store, cache

    def get_records(self, table: str, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        got = self._cache.get(table, {})
        return [got[k] if k in got else _get(self._store, table, [k])[0] for k in keys]


class _Online:
    def __init__(self, online: Any, store: Any) -> None:
        self.store, self.present = store, online.present


def _get(store: Any, table: str, keys: list[str]) -> list[dict[str, Any] | None]:
    many = getattr(store, "get_records", None)
    return many(table, keys) if many is not None else [store.get_record(table, k) for k in keys]


def _fetch(store: Any, table: str, keys: Sequence[object]) -> dict[str, dict[str, Any]]:
    wanted = [str(k) for k in dict.fromkeys(keys) if not is_null(k)]
    return {k: r for k, r in zip(wanted, _get(store, table, wanted), strict=True) if r}


def _values(a: Aggregation, counts: list[int], totals: list[float], last: list[int | None]) -> list[float]:
    if a.agg == "last_time":
        return [NAN if x is None else float(x) for x in last]
    if a.agg == "sum":
        return [float(x) for x in totals]
    return [float(x) for x in counts]


def _read(store: Any, index: str, aggs: list[Aggregation], keys: list[tuple[str, ...] | None],
          times: list[int]) -> list[list[float]]:
    """Each aggregation's value for each (key, time) — NaN where the key is None."""
    lowers = [_lowers(a, times) for a in aggs]
    cols = getattr(store, "window_columns", None)
    if cols is not None:
        counts, totals, last = cols(index, keys, lowers, times)
        out = [_values(a, counts[r], totals[r], last) for r, a in enumerate(aggs)]
    else:  # any other store: its windows, one ask per (aggregation, key)
        live_keys = [(i, k) for i, k in enumerate(keys) if k is not None]
        live = [i for i, _ in live_keys]
        asks = [(index, k, lowers[r][i], times[i]) for r in range(len(aggs)) for i, k in live_keys]
        got = scalar._ask(store, asks)
        out = [[0.0] * len(keys) for _ in aggs]
        for j, w in enumerate(got):
            r, i = divmod(j, len(live))
            out[r][live[i]] = scalar._value(aggs[r], w)
    for i, k in enumerate(keys):
        if k is None:
            for col in out:
                col[i] = NAN
    return out


def _lowers(a: Aggregation, times: list[int]) -> list[int | None]:
    """`[a.lower_ns(t) for t in times]`, without a call per time."""
    w = a.window
    if w is None:
        return [None] * len(times)
    if w == UTC_DAY:
        return [(t // _DAY_NS) * _DAY_NS for t in times]
    if isinstance(w, pd.Timedelta):
        width = int(w.value)
        return [t - width for t in times]
    return [a.lower_ns(t) for t in times]  # pragma: no cover - declarations allow no other kind


def _key(ev: Mapping[str, Any], cols: tuple[str, ...]) -> tuple[str, ...] | None:
    key = []
    for c in cols:
        v = ev.get(c)
        if is_null(v):
            return None
        key.append(str(v))
    return tuple(key)


def order_values_many(online: Any, orders: Sequence[Mapping[str, Any]],
                      lines: Sequence[Sequence[Mapping[str, Any]]],
                      customers: Sequence[Mapping[str, Any] | None] | None = None) -> list[dict[str, Any]]:
    """`scalar.order_values(online, orders[i], lines[i], customers[i])` for every i, read in bulk."""
    n = len(orders)
    if n == 0:
        return []
    customers = list(customers) if customers is not None else [None] * n
    store = online.store
    cache = {
        "products": _fetch(store, "products", [ln.get("sku") for ls in lines for ln in ls]),
        "nodes": _fetch(store, "nodes", [o.get("fulfillment_node_id") for o in orders]),
    }
    missing = [o.get("customer_id") for o, c in zip(orders, customers, strict=True) if c is None]
    if missing:
        cache["customers"] = _fetch(store, "customers", missing)
    products, nodes = cache["products"], cache["nodes"]
    times: list[int] = []
    evs: list[dict[str, Any]] = []
    weights: list[dict[str, float]] = []
    for o, ls in zip(orders, lines, strict=True):
        t = ns(o["created_at"])
        assert t is not None
        times.append(t)
        node_id = o.get("fulfillment_node_id")
        node = nodes.get(str(node_id), {}) if not is_null(node_id) else {}
        evs.append({**o, "node_region": node.get("region"), "_all": ALL})
        weights.append(vendor_weights(ls, products))

    aggs: list[dict[str, float]] = [{} for _ in range(n)]
    by_cols: dict[tuple[str, ...], list[tuple[str, ...] | None]] = {}
    for index, cols, group in _EVENT_INDEXES:
        keys = by_cols.get(cols)
        if keys is None:
            keys = by_cols[cols] = [_key(ev, cols) for ev in evs]
        for a, col in zip(group, _read(store, index, group, keys, times), strict=True):
            name = a.name
            for d, x in zip(aggs, col, strict=True):
                d[name] = x
    got: list[dict[tuple[str, str], float]] = [{} for _ in range(n)]
    owner = [i for i, w in enumerate(weights) for _ in w]
    vkeys: list[tuple[str, ...] | None] = [(v,) for w in weights for v in w]
    vtimes = [times[i] for i in owner]
    for index, _cols, group in _LINE_INDEXES:
        if not vkeys:
            break
        for a, col in zip(group, _read(store, index, group, vkeys, vtimes), strict=True):
            for i, k, x in zip(owner, vkeys, col, strict=True):
                assert k is not None
                got[i][(a.name, k[0])] = x

    view = _Online(online, _Records(store, cache))
    return [scalar.order_values(view, o, ls, c, prefetched=(aggs[i], got[i]))
            for i, (o, ls, c) in enumerate(zip(orders, lines, customers, strict=True))]
