"""MANY orders' features at once, from the online state: the batch path.

`order_values_many(online, orders, lines, customers)` gives, for each order, exactly
`features.scalar.order_values` — every order as of its own `created_at`, all against the
same state — computed as numpy columns of the whole batch, not order by order.

Reads: the per-event path asks the store ~60 windows per order, one `window` call each;
here the windows of the whole batch are read per *index* (one `store.window_columns` call
per declared index for all the orders: the orders' keys and times gathered, one bisect of
the upper bound per order and one per lower bound, a key many orders share searched with
numpy at once), and the records (products, nodes, customers) with one `get_records` per
table. A store without `window_columns` is read through `windows`, per order.

Formulas: the row and basket features are `scalar.order_row` / `scalar.basket` themselves,
per order (one definition of each online; ~1,000 short Python calls a batch, cheaper than
numpy's fixed cost per column at coalesced group sizes); the derived features (rates,
ratios, the vendors' reductions) are the catalog's own formulas, compiled to columns
(`features.derived.compiled`, as offline), every value the same IEEE operations in the same
order as the per-event path, so the batch is bit-for-bit equal to it.

Parity: tests/features/test_batch.py holds this bit-equal to `scalar.order_values` on
random data, a simulated retailer and edge cases, and tests/api/test_parity.py to the
offline frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from features import scalar
from features.declarations import _DAY_NS, UTC_DAY, Aggregation
from features.derived import compiled
from features.derived import group_sum as _sum
from features.order_catalog import BASKET_CATEGORIES, ORDER_FEATURES
from features.scalar import (
    _EPOCH,
    _ORDER_EVENT_AGGS,
    _ORDER_LINE_AGGS,
    _US,
    NAN,
    _f,
    _s,
    is_null,
    ns,
)
from features.streams import ALL, ship_area

__all__ = ["order_values_many"]

_F64 = np.float64
_K = len(BASKET_CATEGORIES)  # the "other" category's column
_CATEGORY_NAMES = [*BASKET_CATEGORIES, "other"]


def _by_index(aggs: Sequence[Aggregation]) -> list[tuple[str, tuple[str, ...], list[Aggregation]]]:
    out: dict[str, tuple[str, tuple[str, ...], list[Aggregation]]] = {}
    for a in aggs:
        out.setdefault(a.index_name, (a.index_name, a.key, []))[2].append(a)
    return list(out.values())


_EVENT_INDEXES = _by_index(_ORDER_EVENT_AGGS)
_ORDER_DERIVED = compiled(ORDER_FEATURES)
_ORDER_NAMES = ORDER_FEATURES.names
_LINE_INDEXES = _by_index(_ORDER_LINE_AGGS)


# --------------------------------------------------------------------------- state reads


def _get(store: Any, table: str, keys: list[str]) -> list[dict[str, Any] | None]:
    many = getattr(store, "get_records", None)
    return many(table, keys) if many is not None else [store.get_record(table, k) for k in keys]


def _fetch(store: Any, table: str, keys: Sequence[object]) -> dict[str, dict[str, Any]]:
    wanted = [str(k) for k in dict.fromkeys(keys) if not is_null(k)]
    return {k: r for k, r in zip(wanted, _get(store, table, wanted), strict=True) if r}


def _read(store: Any, index: str, aggs: list[Aggregation], keys: list[tuple[str, ...] | None],
          times: list[int], lowers_of: dict[object, list[int | None]]) -> list[np.ndarray]:
    """Each aggregation's value for each (key, time) as a float column — NaN where the key is None.
    `lowers_of`: the lower bounds at `times` per window, filled as needed (windows recur)."""
    lowers = []
    for a in aggs:
        low = lowers_of.get(a.window)
        if low is None:
            low = lowers_of[a.window] = _lowers(a, times)
        lowers.append(low)
    cols = getattr(store, "window_columns", None)
    out: list[np.ndarray]
    if cols is not None:
        counts, totals, last = cols(index, keys, lowers, times)
        # float(x) per value, as `scalar._value`: ints and None (→ NaN) convert exactly the same
        out = [np.array(last if a.agg == "last_time" else totals[r] if a.agg == "sum" else counts[r], dtype=_F64)
               for r, a in enumerate(aggs)]
    else:  # any other store: its windows, one ask per (aggregation, key)
        live_keys = [(i, k) for i, k in enumerate(keys) if k is not None]
        live = [i for i, _ in live_keys]
        asks = [(index, k, lowers[r][i], times[i]) for r in range(len(aggs)) for i, k in live_keys]
        got = scalar._ask(store, asks)
        out = [np.zeros(len(keys)) for _ in aggs]
        for j, w in enumerate(got):
            r, i = divmod(j, len(live))
            out[r][live[i]] = scalar._value(aggs[r], w)
    null = np.array([k is None for k in keys])
    if null.any():
        for col in out:
            col[null] = NAN
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


def _event_keys(values: Mapping[str, list[str | None]], cols: tuple[str, ...]) -> list[tuple[str, ...] | None]:
    """Each order's key on `cols` (its values as str), None where any is null."""
    if len(cols) == 1:
        return [None if v is None else (v,) for v in values[cols[0]]]
    return [None if None in k else k for k in zip(*(values[c] for c in cols), strict=True)]  # type: ignore[misc]


# ------------------------------------------------------------------------ column helpers


# The per-value helpers take the common type (float, str) straight, `scalar`'s own otherwise.


def _floats(values: Sequence[object]) -> np.ndarray:
    """`scalar._f` of each value, as a column."""
    return np.array([v if type(v) is float else float(v) if type(v) is int else _f(v) for v in values], dtype=_F64)


def _ns(values: Iterable[object]) -> list[int | None]:
    """`scalar.ns` of each value (an aware `datetime` converted here, by `ns`' own arithmetic)."""
    return [((v - _EPOCH) // _US) * 1000 if type(v) is datetime and v.tzinfo is not None else ns(v) for v in values]


def _strs(values: Iterable[object]) -> list[str | None]:
    """`scalar._s` of each value."""
    return [v if type(v) is str else _s(v) for v in values]


# -------------------------------------------------------------------------------- orders


def _columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-order feature dicts as columns: numbers as float arrays (what the compiled formulas
    read), text as lists."""
    out: dict[str, Any] = {}
    for name in rows[0]:
        col = [r[name] for r in rows]
        out[name] = np.array(col, dtype=_F64) if all(isinstance(x, float) for x in col) else col
    return out


class _Lines:
    """The batch's order lines flattened: each line's order, basket value and product's vendor."""

    def __init__(self, lines: Sequence[Sequence[Mapping[str, Any]]], products: Mapping[str, Mapping[str, Any]]) -> None:
        owner: list[int] = []
        value: list[float] = []
        vendor: list[str | None] = []
        for i, ls in enumerate(lines):
            for line in ls:
                owner.append(i)
                value.append(float(line["quantity"]) * float(line["unit_price"]))
                v = (products.get(str(line["sku"])) or {}).get("vendor_id")
                vendor.append(None if is_null(v) else str(v))
        self.owner = np.array(owner, dtype=np.intp)
        self.value = np.array(value, dtype=_F64)
        self.vendor = vendor


class _Vendors:
    """Each order's distinct vendors as `scalar.vendor_weights` lists them (sorted by vendor),
    flattened: pair j is (order `owner[j]`, vendor `vendor[j]`) with basket value `weight[j]`."""

    def __init__(self, ln: _Lines, n: int) -> None:
        has = np.array([v is not None for v in ln.vendor], dtype=bool)
        names = sorted({v for v in ln.vendor if v is not None})
        rank = {v: r for r, v in enumerate(names)}
        code = np.array([rank[v] for v in ln.vendor if v is not None], dtype=np.intp)
        pair = ln.owner[has] * max(len(names), 1) + code
        uniq, inverse = np.unique(pair, return_inverse=True)
        self.owner = uniq // max(len(names), 1)
        self.vendor = [names[r] for r in (uniq % max(len(names), 1)).tolist()]
        self.weight = _sum(inverse, ln.value[has], len(uniq))  # per vendor, in line order


def order_values_many(online: Any, orders: Sequence[Mapping[str, Any]],
                      lines: Sequence[Sequence[Mapping[str, Any]]],
                      customers: Sequence[Mapping[str, Any] | None] | None = None) -> list[dict[str, Any]]:
    """`scalar.order_values(online, orders[i], lines[i], customers[i])` for every i, read in bulk."""
    n = len(orders)
    if n == 0:
        return []
    if len(lines) != n or (customers is not None and len(customers) != n):
        raise ValueError(f"expected {n} line lists and customers, one per order; got {len(lines)} and "
                         f"{'None' if customers is None else len(customers)}")
    store = online.store
    products = _fetch(store, "products", [ln.get("sku") for ls in lines for ln in ls])
    node_ids = [o.get("fulfillment_node_id") for o in orders]
    found = _fetch(store, "nodes", node_ids)
    nodes = [{} if is_null(k) else found.get(str(k), {}) for k in node_ids]
    own: Sequence[Mapping[str, Any] | None] = customers if customers is not None else [None] * n
    cids = [o.get("customer_id") if c is None else None for o, c in zip(orders, own, strict=True)]
    stored = _fetch(store, "customers", cids) if any(c is None for c in own) else {}
    custs = [c if c is not None else {} if is_null(k) else stored.get(str(k), {}) for c, k in zip(own, cids, strict=True)]
    times = [t for t in _ns([o["created_at"] for o in orders]) if t is not None]
    if len(times) != n:
        raise ValueError("every order needs a created_at; got a null one")
    t_arr = np.array(times, dtype=np.int64)

    ln = _Lines(lines, products)
    # the row and basket features: the one-event definitions, per order (one definition online)
    v = _columns([scalar.order_row(o, c, d) | scalar.basket(ls, products)
                  for o, c, d, ls in zip(orders, custs, nodes, lines, strict=True)])

    values: dict[str, list[str | None]] = {"_all": [ALL] * n, "node_region": _strs([d.get("region") for d in nodes]),
                                           "ship_area": [ship_area(o.get("shipping_postcode")) for o in orders]}
    keys_on: dict[tuple[str, ...], list[tuple[str, ...] | None]] = {}
    lowers_of: dict[object, list[int | None]] = {}
    agg: dict[str, np.ndarray] = {}
    for index, cols, group in _EVENT_INDEXES:
        for c in cols:
            if c not in values:
                values[c] = _strs(o.get(c) for o in orders)
        keys = keys_on.get(cols)
        if keys is None:
            keys = keys_on[cols] = _event_keys(values, cols)
        agg.update(zip((a.name for a in group), _read(store, index, group, keys, times, lowers_of), strict=True))
    vd = _Vendors(ln, n)
    got: dict[str, np.ndarray] = {a.name: np.zeros(0) for a in _ORDER_LINE_AGGS}
    if vd.vendor:
        vkeys: list[tuple[str, ...] | None] = [(x,) for x in vd.vendor]
        vtimes = t_arr[vd.owner].tolist()
        vlowers: dict[object, list[int | None]] = {}
        for index, _cols, group in _LINE_INDEXES:
            got.update(zip((a.name for a in group), _read(store, index, group, vkeys, vtimes, vlowers), strict=True))

    v |= agg
    v["_t"] = t_arr.astype(_F64)
    v["_capacity"] = _floats([d.get("daily_capacity") for d in nodes])
    v["n_vendors"] = np.bincount(vd.owner, minlength=n).astype(_F64)
    _ORDER_DERIVED.columns(v, n, owner=vd.owner, pairs=got, weights=vd.weight, present=online.present)
    names = _ORDER_NAMES
    columns = [x.tolist() if isinstance(x := v[name], np.ndarray) else x for name in names]
    assert all(len(c) == n for c in columns)  # so the zips below need no per-row check
    return [dict(zip(names, row, strict=False)) for row in zip(*columns, strict=False)]
