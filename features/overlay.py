"""A batch's own orders as window contributions: how batch items see the items before them.

An order in a batch must see the batch's orders strictly before it in event time, exactly
as if the batch had been decided one by one. The general way applies the batch to the
indexes inside `IndexedStore.scratch()` and undoes it afterwards — two index updates per
event on top of the one the log catch-up makes after the audit commit. For the common
batch — new orders — that is not needed: what `OnlineFeatures.observe_order` would file for
each of them (its entries in the `orders` and `delivery` indexes: keys, time, value) is
computed here as small sorted arrays per index, and every window read of the batch adds the
count and sum of the batch's entries in [lower, t) and their latest time (`LayeredStore`).
The state itself is never touched.

`BatchOverlay.build` returns None — and the caller takes the scratch path — whenever the
shortcut would not be exactly the one-by-one result: an order id the state already holds
(re-filing would drop its old entries) or repeated in the batch, an outcome waiting for one
of the orders (`_pending`), a distinct value the state first saw *after* a batch order that
carries it (the batch would move its first appearance), or event times too far apart for the
int64 search keys. Sums are added as (state sum) + (batch sum), the same values in another
order than the one-by-one prefix sums: equal to float tolerance (a few ulps), counts and
times exactly. Held by tests/features/test_overlay.py against the scratch path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from features import scalar
from features.filing import IndexSpec, row_entries
from features.outcomes import is_late_known
from features.streams import ALL, ship_area

__all__ = ["BatchOverlay", "LayeredStore"]

_MAX_KEY = 1 << 62  # code * span + offset must stay an exact int64


class _Entries:
    """One index's batch entries, searchable by (key, time) with one composite int64 key."""

    __slots__ = ("code_of", "span", "t0", "comp", "times", "cum")

    def __init__(self, keys: list[tuple[str, ...]], times: list[int], values: list[float], t0: int, span: int):
        self.code_of: dict[tuple[str, ...], int] = {}
        codes = [self.code_of.setdefault(k, len(self.code_of)) for k in keys]
        t = np.asarray(times, dtype=np.int64)
        comp = np.asarray(codes, dtype=np.int64) * span + (t - t0)
        order = np.argsort(comp, kind="stable")
        self.t0, self.span = t0, span
        self.comp, self.times = comp[order], t[order]
        self.cum = np.concatenate([[0.0], np.cumsum(np.asarray(values, dtype=np.float64)[order])])

    def add(self, keys: Sequence[tuple[str, ...] | None], lowers: Sequence[Sequence[int | None]],
            uppers: Sequence[int], counts: list[list[int]], totals: list[list[float]],
            last: list[int | None]) -> None:
        """Add the batch's part of each (key, [lower, upper)) window to the state's figures."""
        code_of = self.code_of
        pos, codes = [], []
        for i, k in enumerate(keys):
            if k is not None:
                c = code_of.get(k)
                if c is not None:
                    pos.append(i)
                    codes.append(c)
        if not pos:
            return
        p = np.asarray(pos)
        base = np.asarray(codes, dtype=np.int64) * self.span
        hi_span = self.span - 1
        up = np.clip(np.asarray(uppers, dtype=np.int64)[p] - self.t0, 0, hi_span)
        hi = self.comp.searchsorted(base + up, "left")
        start = self.comp.searchsorted(base, "left")
        has = np.flatnonzero(hi > start)
        if not len(has):
            return  # no batch entry of these keys before their times
        for i, t in zip(p[has].tolist(), self.times[hi[has] - 1].tolist(), strict=True):
            last[i] = t if last[i] is None or t > last[i] else last[i]  # type: ignore[operator]
        for r, row in enumerate(lowers):
            low = np.array([row[i] if row[i] is not None else self.t0 for i in pos], dtype=np.int64)
            lo = self.comp.searchsorted(base + np.clip(low - self.t0, 0, hi_span), "left")
            lo = np.minimum(lo, hi)
            n = hi - lo
            nz = np.flatnonzero(n)
            if not len(nz):
                continue
            cr, tr = counts[r], totals[r]
            sums = (self.cum[hi[nz]] - self.cum[lo[nz]]).tolist()
            for i, c, s in zip(p[nz].tolist(), n[nz].tolist(), sums, strict=True):
                cr[i] += c
                tr[i] += s


class BatchOverlay:
    """The entries a batch of new orders would file, per index (see the module doc)."""

    def __init__(self, entries: dict[str, _Entries]) -> None:
        self.entries = entries

    @classmethod
    def build(cls, online: Any, orders: Sequence[Mapping[str, Any]],
              lines: Sequence[Sequence[Mapping[str, Any]]]) -> BatchOverlay | None:
        """The overlay of plain order rows (as `OnlineState` passes them to `observe_order`),
        or None when only applying them one by one gives the exact answer."""
        store = online.store
        ids = [str(o.get("order_id")) for o in orders]
        if len(set(ids)) < len(ids):
            return None
        for oid in ids:
            if store.get_record("orders", oid) is not None or store.get_record("_pending", oid) is not None:
                return None
        skus = {str(x.get("sku")) for ls in lines for x in ls if not scalar.is_null(x.get("sku"))}
        products = {k: r for k in skus if (r := store.get_record("products", k))}
        node_ids = {str(o.get("fulfillment_node_id")) for o in orders}
        regions = {k: (store.get_record("nodes", k) or {}).get("region") for k in node_ids}
        rows: list[dict[str, Any]] = []
        for o, ls in zip(orders, lines, strict=True):
            row = dict(o)
            row["_vendors"] = list(scalar.vendor_weights(ls, products))
            row["node_region"] = regions.get(str(o.get("fulfillment_node_id")))
            row["ship_area"] = ship_area(o.get("shipping_postcode"))
            row["_all"] = ALL
            rows.append(row)
        created = [scalar.ns(r["created_at"]) for r in rows]
        order = sorted(range(len(rows)), key=lambda i: created[i])  # type: ignore[arg-type, return-value]
        filed: dict[str, tuple[list[tuple[str, ...]], list[int], list[float]]] = {}
        stream_rows: dict[str, tuple[list[dict[str, Any]], list[int]]] = {
            "orders": ([rows[i] for i in order], [created[i] for i in order])}  # type: ignore[misc]
        if "fulfillment_outcomes" in online.present:  # no outcome yet: late from the promise
            drows, dts = [], []
            for row, t in zip(*stream_rows["orders"], strict=True):
                is_late, known = is_late_known(None, False, None, scalar.ns(row.get("promised_at")))
                if known is not None:  # as `_refile_delivery`
                    drows.append({**row, "is_late": 1.0 if is_late else 0.0})
                    dts.append(max(known, t))
            stream_rows["delivery"] = (drows, dts)
        for stream, (srows, sts) in stream_rows.items():
            for spec in online._by_stream.get(stream, []):
                got = _file(store, spec, srows, sts)
                if got is None:
                    return None  # the batch would move a first appearance the state holds
                filed[spec.name] = got
        every = [t for _, ts, _ in filed.values() for t in ts]
        if not every:
            return cls({})
        t0 = min(min(every), min(c for c in created if c is not None)) - 1
        span = max(every) - t0 + 2
        entries: dict[str, _Entries] = {}
        for name, (keys_, times, values) in filed.items():
            if not keys_:
                continue
            if (len(set(keys_)) + 1) * span >= _MAX_KEY:
                return None
            entries[name] = _Entries(keys_, times, values, t0, span)
        for name, target in getattr(online, "aliases", {}).items():  # kept as its summed twin: the same entries
            if target in entries:
                entries[name] = entries[target]
        return cls(entries)


class LayeredStore:
    """The state's store with a batch's overlay on its window reads (records pass through)."""

    def __init__(self, base: Any, overlay: BatchOverlay) -> None:
        self._base, self._overlay = base, overlay

    def window_columns(self, index: str, keys: Sequence[tuple[str, ...] | None],
                       lowers: Sequence[Sequence[int | None]], uppers: Sequence[int],
                       ) -> tuple[list[list[int]], list[list[float]], list[int | None]]:
        counts, totals, last = self._base.window_columns(index, keys, lowers, uppers)
        extra = self._overlay.entries.get(index)
        if extra is not None:
            extra.add(keys, lowers, uppers, counts, totals, last)
        return counts, totals, last

    def __getattr__(self, name: str) -> Any:  # get_record(s), get_entry, ...: the state's own
        if name == "windows" or name == "window":
            raise AttributeError(name)  # only column reads see the overlay: never read around it
        return getattr(self._base, name)


def _file(store: Any, spec: IndexSpec, rows: Sequence[Mapping[str, Any]], times: Sequence[int],
          ) -> tuple[list[tuple[str, ...]], list[int], list[float]] | None:
    """What filing each row (in time order) under one index would add (`features.filing`):
    (keys, times, values); None when a distinct value would move the state's first appearance."""
    out_k: list[tuple[str, ...]] = []
    out_t: list[int] = []
    out_v: list[float] = []
    seen: set[tuple[tuple[str, ...], str]] = set()
    for r, t in zip(rows, times, strict=True):
        for k, dv, v in row_entries(spec, r):
            if dv is not None:  # distinct: only a first appearance files an entry
                if (k, dv) in seen:
                    continue  # an earlier item of the batch appeared first
                first = store.get_entry(spec.name, k, dv)
                if first is not None and first > t:
                    return None
                seen.add((k, dv))
                if first is not None:
                    continue
            out_k.append(k)
            out_t.append(t)
            out_v.append(v)
    return out_k, out_t, out_v
