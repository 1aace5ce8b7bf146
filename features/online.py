"""Online features: the same features for ONE event, as of its own time, from a state store.

The state is a time-indexed log per (stream, key): every observed order, return, outcome
and inventory sync is filed under the keys the declared `Aggregation`s use, with the
time it happened or became known. A query for an event at t reads only entries with
time in [lower, t) — so the order in which things arrive does not matter (late or
out-of-order arrivals cannot corrupt the state), a replay in any order gives the same
answers, and re-observing the same event id replaces it instead of counting it twice.

Row-level features (basket, mismatches, text) and the derived features (rates, ratios)
come from the very functions the offline pipeline uses, on one-row frames; the outcome
timing rule for deliveries is `features.outcomes.is_late_known`, the rule `delivery_outcomes`
applies to whole columns. The parity
test (`tests/features/test_online_parity.py`) replays a dataset and compares with the
offline frames.

`OnlineStore` is the storage interface; `MemoryStore` keeps everything in process.
Server-backed stores (SQLite, Redis) implement the same six methods.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features import scalar
from features.declarations import FeatureSet
from features.filing import BY_TIME, IndexSpec, index_specs, plan_steps, row_entries, shared_indexes, sync_id
from features.frame import to_feature_frame
from features.orders import (
    _CONTRACT_CATEGORIES as _ORDER_CATEGORIES,
)
from features.orders import ORDER_FEATURES
from features.outcomes import is_late_known
from features.returns import _CONTRACT_CATEGORIES as _RETURN_CATEGORIES
from features.returns import RETURN_FEATURES
from features.streams import ALL, basket_keys, build_streams, per_line, ship_area, ship_areas
from features.windows import first_appearances
from triage.contract import Dataset
from triage.schema import TABLES

__all__ = ["OnlineStore", "MemoryStore", "OnlineFeatures", "Window"]

_OPTIONAL_OUTCOMES = ("fulfillment_outcomes", "fraud_labels", "return_outcomes", "inventory_syncs", "returns")
# What the state keeps of an event for later reads (not the whole row): an order's (a return's)
# times and the columns re-filing it reads — the keys of the streams it is filed into later
# (`_REFILED_FROM`; `OnlineFeatures.kept`) —, an order's vendors and of its lines what a
# return's features read; of a fulfillment outcome, what the lateness rule and a return's
# features read.
_LINE_KEPT = ("line_no", "sku", "unit_price")
_FULFILLMENT_KEPT = ("delivered_at", "cancelled", "cancelled_at")
_REFILED_FROM = {"orders": ("delivery", "fraud"), "returns": ("inspections",)}


@dataclass(frozen=True)
class Window:
    """What a store returns for one (index, key) over [lower, upper)."""

    count: int
    total: float  # sum of the entries' values
    last_ns: int | None  # time of the latest entry before upper (None if none)


class OnlineStore(Protocol):
    """Time-indexed entries per (index, key), plus small records (master data, seen events).

    An entry is (entry_id, time_ns, value); `put_entry` with an existing entry_id replaces
    it. Keys are tuples of strings. Implementations must be safe to call in any order.
    """

    def put_entry(self, index: str, key: tuple[str, ...], entry_id: str, time_ns: int, value: float) -> None: ...

    def put_entries(self, index: str, key_columns: Sequence[np.ndarray], entry_ids: np.ndarray | None,
                    times_ns: np.ndarray, values: np.ndarray) -> None:
        """Many `put_entry` calls at once (bootstrap): entry i's key is (key_columns[0][i], …)
        (strings); `entry_ids` None: a `filing.BY_TIME` index (the id is `filing.sync_id`)."""
        ...

    def drop_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> None: ...

    def get_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> int | None: ...

    def window(self, index: str, key: tuple[str, ...], lower_ns: int | None, upper_ns: int) -> Window: ...

    def put_record(self, table: str, key: str, record: dict[str, Any]) -> None: ...

    def get_record(self, table: str, key: str) -> dict[str, Any] | None: ...


@dataclass
class _Entries:
    times: list[int] = field(default_factory=list)  # sorted
    ids: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    time_of: dict[str, int] = field(default_factory=dict)
    summed: bool = False  # any non-zero value ever stored: count-only indexes skip summing

    def remove(self, entry_id: str) -> None:
        t = self.time_of.pop(entry_id, None)
        if t is None:
            return
        i = bisect.bisect_left(self.times, t)
        while self.ids[i] != entry_id:
            i += 1
        del self.times[i], self.ids[i], self.values[i]

    def put(self, entry_id: str, t: int, value: float) -> None:
        self.remove(entry_id)
        i = bisect.bisect_right(self.times, t)
        self.times.insert(i, t)
        self.ids.insert(i, entry_id)
        self.values.insert(i, value)
        self.time_of[entry_id] = t
        self.summed = self.summed or value != 0.0


class MemoryStore:
    """In-process `OnlineStore`: sorted lists per (index, key); fine for tests and one worker."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, tuple[str, ...]], _Entries] = {}
        self._records: dict[tuple[str, str], dict[str, Any]] = {}

    def put_entry(self, index: str, key: tuple[str, ...], entry_id: str, time_ns: int, value: float) -> None:
        self._entries.setdefault((index, key), _Entries()).put(entry_id, int(time_ns), float(value))

    def put_entries(self, index: str, key_columns: Sequence[np.ndarray], entry_ids: np.ndarray | None,
                    times_ns: np.ndarray, values: np.ndarray) -> None:
        keys = list(zip(*key_columns, strict=True))
        if entry_ids is None:
            entry_ids = np.array([sync_id(k[0], int(t)) for k, t in zip(keys, times_ns, strict=True)], dtype=object)
        codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
        order = np.lexsort((times_ns, codes))
        codes, times, vals = codes[order], np.asarray(times_ns)[order], np.asarray(values, np.float64)[order]
        ids = np.asarray(entry_ids, dtype=object)[order]
        bounds = np.flatnonzero(np.diff(codes)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(codes)], strict=True):
            if hi <= lo:
                continue
            key = uniques[codes[lo]]
            existing = self._entries.get((index, key))
            if existing is not None and existing.times:
                for i in range(lo, hi):
                    existing.put(ids[i], int(times[i]), float(vals[i]))
                continue
            e = _Entries(times[lo:hi].tolist(), ids[lo:hi].tolist(), vals[lo:hi].tolist())
            e.time_of = dict(zip(e.ids, e.times, strict=True))
            e.summed = bool(np.any(vals[lo:hi] != 0.0))
            if len(e.time_of) < len(e.ids):  # repeated ids: keep the last, as put_entry would
                e = _Entries()
                for i in range(lo, hi):
                    e.put(ids[i], int(times[i]), float(vals[i]))
            self._entries[(index, key)] = e

    def drop_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> None:
        e = self._entries.get((index, key))
        if e is not None:
            e.remove(entry_id)

    def get_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> int | None:
        e = self._entries.get((index, key))
        return None if e is None else e.time_of.get(entry_id)

    def window(self, index: str, key: tuple[str, ...], lower_ns: int | None, upper_ns: int) -> Window:
        e = self._entries.get((index, key))
        if e is None:
            return Window(0, 0.0, None)
        hi = bisect.bisect_left(e.times, upper_ns)
        lo = 0 if lower_ns is None else bisect.bisect_left(e.times, lower_ns)
        lo = min(lo, hi)
        total = float(sum(e.values[lo:hi])) if e.summed else 0.0
        return Window(hi - lo, total, e.times[hi - 1] if hi > 0 else None)

    def put_record(self, table: str, key: str, record: dict[str, Any]) -> None:
        self._records[(table, key)] = dict(record)

    def get_record(self, table: str, key: str) -> dict[str, Any] | None:
        r = self._records.get((table, key))
        return None if r is None else dict(r)


# --- which indexes the declarations need: `features.filing` ------------------------------


_ns = scalar.ns  # an event time as ns since the epoch (UTC), the one parser the reads use too


def _null(v: object) -> bool:
    return v is None or (not isinstance(v, str | list | dict) and bool(pd.isna(v)))  # type: ignore[arg-type]


def _frame(table: str, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a frame with the contract columns and dtypes (as `load_dataset` produces)."""
    cols: dict[str, Any] = {}
    for col in TABLES[table].columns:
        values = [r.get(col.name) for r in rows]
        if col.kind == "timestamp":
            cols[col.name] = pd.DatetimeIndex(
                [pd.NaT if _null(v) else pd.Timestamp(v) for v in values], dtype="datetime64[ns, UTC]"
            ) if values else pd.DatetimeIndex([], dtype="datetime64[ns, UTC]")
        elif col.kind == "float":
            cols[col.name] = np.array([np.nan if _null(v) else float(v) for v in values],  # type: ignore[arg-type]
                                      dtype=np.float64)
        elif col.kind == "int":
            cols[col.name] = np.array([0 if _null(v) else int(v) for v in values],  # type: ignore[arg-type]
                                      dtype=np.int64)
        elif col.kind == "bool":
            cols[col.name] = np.array([False if _null(v) else bool(v) for v in values], dtype=bool)
        else:
            cols[col.name] = np.array([np.nan if _null(v) else str(v) for v in values], dtype=object)
    return pd.DataFrame(cols, index=pd.RangeIndex(len(rows)))


class OnlineFeatures:
    """Incremental, point-in-time features for one order or return, from an `OnlineStore`.

    `present` names the optional contract tables this deployment receives (as in
    `Dataset.present`): with `fulfillment_outcomes` present, an order counts as late from
    its promise until a timely delivery is observed — the contract's rule offline.
    """

    def __init__(self, store: OnlineStore | None = None, *, present: Iterable[str] = _OPTIONAL_OUTCOMES) -> None:
        self.store: OnlineStore = store if store is not None else MemoryStore()
        self.present = frozenset(present) | {"nodes", "products", "customers", "orders", "order_lines"}
        self.specs = index_specs((ORDER_FEATURES, RETURN_FEATURES))
        # count indexes the store keeps as their summed twin (`shared_indexes`): not filed apart
        alias = getattr(self.store, "alias", None)
        self.aliases: dict[str, str] = {}
        if alias is not None:
            self.aliases = shared_indexes(self.specs)
            for name, target in self.aliases.items():
                alias(name, target)
        self._by_stream: dict[str, list[IndexSpec]] = {}
        for s in self.specs.values():
            if s.name not in self.aliases:
                self._by_stream.setdefault(s.stream, []).append(s)
        self._master: dict[tuple[str, str], Any] = {}  # `_master_field`
        self.kept = {table: tuple(dict.fromkeys(
            list(first) + [c for sp in self.specs.values() if sp.stream in _REFILED_FROM[table] for c in sp.key]))
            for table, first in (("orders", ("order_id", "created_at", "promised_at", "_vendors", "_lines")),
                                 ("returns", ("return_id", "requested_at")))}
        # a store that compiles the filing rules (`IndexedStore.plan`) files a whole row in one call
        plan = getattr(self.store, "plan", None)
        self._compiled = plan is not None
        if plan is not None:
            for stream, specs in self._by_stream.items():
                plan(stream, plan_steps(specs))

    # --- master data ----------------------------------------------------------------------

    def observe_master(self, table: str, row: Mapping[str, Any]) -> None:
        """A node, product or customer record (latest wins)."""
        key = {"nodes": "node_id", "products": "sku", "customers": "customer_id"}[table]
        self.store.put_record(table, str(row[key]), _plain(row))
        self._master.pop((table, str(row[key])), None)

    def _master_field(self, table: str, key: object, field: str) -> Any:
        """One field of a node or product record (None: no record, or null), remembered until
        the record changes: filing an order reads its node's region and its products' vendors."""
        if scalar.is_null(key):
            return None
        k = (table, str(key))
        if k not in self._master:
            self._master[k] = (self.store.get_record(table, k[1]) or {}).get(field)
        return self._master[k]

    def bootstrap(self, ds: Dataset) -> None:
        """Load a contract dataset in bulk: master data, event records, and every index.

        Indexes are filled from the offline streams (`features.streams.build_streams`), so
        the bootstrapped state is by construction what the offline pipeline reads.
        """
        self.present = frozenset(ds.present) | {"nodes", "products", "customers", "orders", "order_lines"}
        self._master.clear()
        for table in ("nodes", "products", "customers"):
            key = {"nodes": "node_id", "products": "sku", "customers": "customer_id"}[table]
            for row in _records(ds[table]):
                self.store.put_record(table, str(row[key]), row)
        region = ds["nodes"].drop_duplicates("node_id").set_index("node_id")["region"]
        orders = ds["orders"].assign(node_region=ds["orders"]["fulfillment_node_id"].map(region),
                                     ship_area=ship_areas(ds["orders"]["shipping_postcode"]), _all=ALL)
        lines: dict[str, list[dict[str, Any]]] = {}
        sorted_lines = ds["order_lines"].sort_values(["order_id", "line_no"], kind="stable")
        for oid, line in zip(sorted_lines["order_id"].tolist(), _records(sorted_lines[list(_LINE_KEPT)]),
                             strict=True):
            lines.setdefault(oid, []).append(line)
        del sorted_lines
        pairs = basket_keys(ds["order_lines"], ds["products"])
        vendors = pairs.groupby("order_id", sort=False)["vendor_id"].agg(list).to_dict()
        for row in _records(orders[[c for c in self.kept["orders"] if c in orders.columns]]):
            row["_lines"] = lines.pop(row["order_id"], [])
            row["_vendors"] = vendors.pop(row["order_id"], [])
            self.store.put_record("orders", row["order_id"], row)
        del lines, vendors, orders
        vendor = ds["products"].drop_duplicates("sku").set_index("sku")["vendor_id"]
        rets = ds["returns"].assign(vendor_id=ds["returns"]["sku"].map(vendor))
        for row in _records(rets[[c for c in self.kept["returns"] if c in rets.columns]]):
            self.store.put_record("returns", row["return_id"], row)
        del rets
        fo = ds["fulfillment_outcomes"]
        for oid, row in zip(fo["order_id"].astype(str).tolist(), _records(fo[list(_FULFILLMENT_KEPT)]), strict=True):
            self.store.put_record("fulfillment", oid, row)
        del fo
        first = ds["fraud_labels"].groupby("order_id", sort=False)["reported_at"].min()
        for oid, t in first.items():
            self.store.put_record("fraud", str(oid), {"known_ns": int(t.value)})

        ids = {"orders": "order_id", "returns": "return_id", "delivery": "order_id", "fraud": "order_id",
               "inspections": "return_id"}  # BY_TIME streams: none (a row is its key and time)
        for name in sorted({s.stream for s in self.specs.values()}):  # one stream frame at a time
            frame = build_streams(ds, {name})[name]
            for spec in self._by_stream.get(name, []):
                self._bulk_file(spec, frame, pairs, ids)
            del frame

    def _bulk_file(self, spec: IndexSpec, stream: pd.DataFrame, pairs: pd.DataFrame, ids: Mapping[str, str]) -> None:
        """File a whole stream frame under one index (`bootstrap`)."""
        if spec.per_line:
            stream = per_line(stream, pairs)
        if spec.distinct:
            stream = first_appearances(stream, spec.key, spec.distinct)
            entry_ids = stream[spec.distinct]
        else:
            entry_ids = stream[ids[spec.stream]] if spec.stream not in BY_TIME else None
        keep = stream[list(spec.key)].notna().all(axis=1).to_numpy()
        if spec.stream == "delivery" and "fulfillment_outcomes" not in self.present:
            keep[:] = False
        if not keep.any():
            return
        stream = stream[keep]
        values = (stream[spec.value].to_numpy(np.float64) if spec.value
                  else np.zeros(len(stream)))
        self.store.put_entries(spec.name, [stream[k].astype(str).to_numpy(object) for k in spec.key],
                               None if entry_ids is None else entry_ids[keep].astype(str).to_numpy(object),
                               stream["_t"].to_numpy(np.int64), np.nan_to_num(values))

    # --- indexing ---------------------------------------------------------------------------

    def _file(self, stream: str, entry_id: str, row: dict[str, Any], t_ns: int | None) -> None:
        """File (or re-file) one stream row under every index of its stream (`features.filing`):
        its earlier entries are dropped, then it is filed at `t_ns` (None: only dropped).

        A store with compiled plans (`IndexedStore.plan`) does it in one call, its locations
        being where the row was filed; any other store is told entry by entry, and where the
        row was filed is kept as a record (`_filed`) for the next re-filing."""
        if self._compiled:
            self.store.file(stream, entry_id, row, t_ns)  # type: ignore[attr-defined]
            return
        store = self.store
        specs = self._by_stream.get(stream, [])
        note = f"{stream}|{entry_id}"
        previous = store.get_record("_filed", note)
        if previous:
            for spec in specs:
                for key in previous.get(spec.name) or []:
                    store.drop_entry(spec.name, tuple(key), entry_id)
        filed: dict[str, list] = {}
        if t_ns is not None:
            for spec in specs:
                for key, dv, v in row_entries(spec, row):
                    if dv is not None:  # distinct: filed where it is the value's first appearance
                        first = store.get_entry(spec.name, key, dv)
                        if first is None or t_ns < first:
                            store.put_entry(spec.name, key, dv, t_ns, 0.0)
                        continue
                    store.put_entry(spec.name, key, entry_id, t_ns, v)
                    filed.setdefault(spec.name, []).append(list(key))
        if filed or previous is not None:
            store.put_record("_filed", note, filed)

    # --- observations -----------------------------------------------------------------------

    def observe_order(self, order: Mapping[str, Any], lines: Iterable[Mapping[str, Any]] = ()) -> None:
        """An order as captured (re-observing the same order_id replaces it)."""
        o = _plain(order)
        o["_lines"] = [_plain(x) for x in lines]
        products = {str(x.get("sku")): {"vendor_id": self._master_field("products", x.get("sku"), "vendor_id")}
                    for x in o["_lines"]}
        o["_vendors"] = list(scalar.vendor_weights(o["_lines"], products))
        o["node_region"] = self._master_field("nodes", o.get("fulfillment_node_id"), "region")
        o["ship_area"] = ship_area(o.get("shipping_postcode"))
        o["_all"] = ALL
        oid = str(o["order_id"])
        self.store.put_record("orders", oid, {k: o.get(k) for k in self.kept["orders"]} | {
            "_lines": [{k: x.get(k) for k in _LINE_KEPT} for x in o["_lines"]]})
        t = _ns(o["created_at"])
        self._file("orders", oid, o, t)
        if "fulfillment_outcomes" in self.present:
            self._refile_delivery(oid, o, t)
        for kind, row in (self.store.get_record("_pending", oid) or {}).get("rows", []):
            self.observe_outcome(kind, row)

    def observe_return(self, ret: Mapping[str, Any]) -> None:
        """A return request (re-observing the same return_id replaces it)."""
        r = _plain(ret)
        product = self.store.get_record("products", str(r.get("sku"))) or {}
        r["vendor_id"] = product.get("vendor_id")
        rid = str(r["return_id"])
        self.store.put_record("returns", rid, {k: r.get(k) for k in self.kept["returns"]})
        self._file("returns", rid, r, _ns(r["requested_at"]))
        for kind, row in (self.store.get_record("_pending", rid) or {}).get("rows", []):
            self.observe_outcome(kind, row)

    def observe_outcome(self, kind: str, row: Mapping[str, Any]) -> None:
        """An outcome as it becomes known.

        kind: `fulfillment` (a `fulfillment_outcomes` row), `fraud` (a `fraud_labels` row),
        `return_outcome` (a `return_outcomes` row) or `inventory_sync` (an `inventory_syncs`
        row). An outcome for an order or return not seen yet is kept and applied when it arrives.
        """
        r = _plain(row)
        if kind == "inventory_sync":
            r["fulfillment_node_id"] = r.get("node_id")
            t = _ns(r["synced_at"])
            self._file("syncs", sync_id(r["node_id"], t), r, t)
            return
        event_key = "return_id" if kind == "return_outcome" else "order_id"
        event_table = "returns" if kind == "return_outcome" else "orders"
        eid = str(r[event_key])
        if self.store.get_record(event_table, eid) is None:
            pending = self.store.get_record("_pending", eid) or {"rows": []}
            if [kind, r] not in pending["rows"]:
                pending["rows"].append([kind, r])
            self.store.put_record("_pending", eid, pending)
            return
        if kind == "fulfillment":
            self.store.put_record("fulfillment", eid, {k: r.get(k) for k in _FULFILLMENT_KEPT})
            self._refile_delivery(eid)
        elif kind == "fraud":
            order = self.store.get_record("orders", eid) or {}
            reported = _ns(r["reported_at"])
            prev = self.store.get_record("fraud", eid)
            if reported is None or (prev is not None and prev["known_ns"] <= reported):
                return
            self.store.put_record("fraud", eid, {"known_ns": reported})
            created = _ns(order.get("created_at"))
            known_fraud = max(reported, created) if created is not None else reported  # as streams._not_before
            self._file("fraud", eid, order, known_fraud)
        elif kind == "return_outcome":
            ret = self.store.get_record("returns", eid) or {}
            rec = {**ret, "abuse": 1.0 if bool(r.get("abuse_confirmed")) else 0.0,
                   "is_rtv": 1.0 if r.get("disposition") == "return_to_vendor" else 0.0}
            known = _ns(r["inspected_at"])
            requested = _ns(ret.get("requested_at"))
            if known is not None and requested is not None:
                known = max(known, requested)
            self._file("inspections", eid, rec, known)
        else:
            raise ValueError(
                f"outcome kind must be one of fulfillment, fraud, return_outcome, inventory_sync. Got {kind!r} instead."
            )

    def _refile_delivery(self, order_id: str, order: Mapping[str, Any] | None = None,
                         created: int | None = None) -> None:
        """(Re)compute an order's lateness and when it became known, with the contract's rule.

        `order` (and its `created_at` in ns): the order's record when the caller has just
        stored it (else it is read)."""
        if order is None:
            order = self.store.get_record("orders", order_id)
            if order is None:
                return
            created = scalar.ns(order.get("created_at"))
        fo = self.store.get_record("fulfillment", order_id) or {}
        # no outcome row while the table is present: not delivered, so late from the promise
        is_late, known = is_late_known(scalar.ns(fo.get("delivered_at")), fo.get("cancelled") in (True, 1),
                                       scalar.ns(fo.get("cancelled_at")), scalar.ns(order.get("promised_at")))
        if known is not None and created is not None:
            known = max(known, created)  # as streams._not_before
        self._file("delivery", order_id, {**order, "is_late": 1.0 if is_late else 0.0}, known)

    # --- features ---------------------------------------------------------------------------

    def _record(self, table: str, key: object) -> dict[str, Any] | None:
        return None if scalar.is_null(key) else self.store.get_record(table, str(key))

    def order_features_dict(self, order: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """The order's features as of its `created_at`: name → float, or str/None for categories.

        Equal (to float tolerance) to `build_order_features`' row for the same order
        (computed by the plain-Python fast path, `features.scalar.order_values`).
        """
        return scalar.order_values(self, _plain(order), [_plain(x) for x in lines])

    def return_features_dict(self, ret: Mapping[str, Any]) -> dict[str, Any]:
        """The return's features as of its `requested_at` (see `order_features_dict`)."""
        return scalar.return_values(self, _plain(ret))

    def order_features(self, order: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        """A one-row frame shaped like `build_order_features`' output (dtypes included)."""
        row = self.order_features_dict(order, lines)
        return _one_row(ORDER_FEATURES, order, row, _ORDER_CATEGORIES)

    def return_features(self, ret: Mapping[str, Any]) -> pd.DataFrame:
        """A one-row frame shaped like `build_return_features`' output (dtypes included)."""
        row = self.return_features_dict(ret)
        return _one_row(RETURN_FEATURES, ret, row, _RETURN_CATEGORIES)


def _one_row(fs: FeatureSet, event: Mapping[str, Any], row: dict[str, Any],
             categories: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    key = pd.Series([event[fs.entity]])
    time = pd.Series(pd.DatetimeIndex([pd.Timestamp(event[fs.time_column])]).tz_convert("UTC"))
    return to_feature_frame(fs, key, time, {k: [v] for k, v in row.items()}, categories)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as plain records (see `_plain`), column-wise for speed."""
    cols: dict[str, list] = {}
    for c in frame.columns:
        s = frame[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            cols[c] = [None if pd.isna(v) else v.isoformat() for v in s]
        else:
            cols[c] = s.astype(object).where(s.notna(), None).tolist()
    names = list(cols)
    return [dict(zip(names, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-friendly copy: timestamps as ISO strings, NaN/NaT as None, numpy scalars as Python."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        t = type(v)
        if t is str or t is int or t is bool:  # the usual values, as they are
            out[k] = v
        elif t is float:
            out[k] = None if v != v else v
        elif isinstance(v, list):
            out[k] = v
        elif v is None or (not isinstance(v, str | dict) and pd.isna(v)):
            out[k] = None
        elif isinstance(v, pd.Timestamp):
            out[k] = v.isoformat()
        elif isinstance(v, np.generic):
            out[k] = v.item()
        else:
            out[k] = v
    return out
