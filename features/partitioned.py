"""Point-in-time features on a Dask cluster: the single-process code, run per key partition.

Three steps; every formula is the single-process one, this module only moves rows:

1. **home** — the tables that join on an order (orders, lines, fulfillment outcomes, fraud
   labels, returns; return outcomes through their return's order) go to the partition of
   hash(order_id). Per home partition the single-process builders (`order_events`,
   `return_events`, `build_streams`, `basket_keys`, `per_line`) make the events and the rows
   of every history stream. Master tables (nodes, products, customers) are broadcast.
2. **families** — the declared aggregations are grouped by the first column of their key
   (customer, device, e-mail, postcode, card country, node, carrier, vendor, sku, order). For
   each family the events and the stream rows are shuffled by hash(that column), so a key's
   whole history is in one partition, and `compute_aggregations` — the single-process
   engine — evaluates the family's aggregations there. Results go back to each event's home.
   Aggregations without a key (`_all`: the retailer-wide late rate) cannot be partitioned:
   their stream is gathered once and broadcast to every home partition.
3. **assemble** — per home partition `build_order_features` / `build_return_features` run on
   the partition's tables with an `aggregate` that reads step 2's results (the rest: row,
   basket, derived and vendor features, the typed frame — is their own code). Categories are
   unified over partitions (contract values first, then unseen values sorted, as in one
   process) and rows are put back in table order.

Exactness: within a key, stream rows keep their single-process order (`_seq`), so counts,
sums (their float rounding included), latest times and distinct counts equal the
single-process values bit for bit; the tests compare the two outputs row for row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.declarations import LINE_KEYS, Aggregation, FeatureSet
from features.frame import as_utc
from features.orders import ORDER_FEATURES, build_order_features
from features.returns import RETURN_FEATURES, build_return_features
from features.streams import ALL, basket_keys, build_streams, order_events, per_line, return_events
from features.windows import compute_aggregations, to_ns
from triage.contract import Dataset, empty_table
from triage.engine import EngineError

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

__all__ = ["FEATURE_SETS", "FeatureParts", "HomeFeatures", "PartitionedTables", "partition_tables",
           "build_features", "feature_homes", "home_dataset"]

GLOBAL = "_all"
# how each table reaches its home partition: by its order (return outcomes: their return's order)
_HOME_KEY = {
    "orders": "order_id",
    "order_lines": "order_id",
    "fulfillment_outcomes": "order_id",
    "fraud_labels": "order_id",
    "returns": "order_id",
    "return_outcomes": "order_id",  # joined from returns first
    "inventory_syncs": "node_id",  # read alone (the syncs stream): any routing is right
    "review_outcomes": "order_id",  # labels only (return reviews, without an order id, by row)
}
_MASTER = ("nodes", "products")  # small: broadcast
# a stream row's single-process position: the row of the table it comes from, by id
_STREAM_SEQ = {
    "orders": ("order_id", "orders"),
    "delivery": ("order_id", "orders"),
    "fraud": ("order_id", "orders"),
    "returns": ("return_id", "returns"),
    "inspections": ("return_id", "return_outcomes"),
}


@dataclass(frozen=True)
class _Spec:
    fs: FeatureSet
    events_key: str  # "order_events" / "return_events" in a home partition's dict
    table: str
    id_col: str


FEATURE_SETS = {
    "order_features": _Spec(ORDER_FEATURES, "order_events", "orders", "order_id"),
    "return_features": _Spec(RETURN_FEATURES, "return_events", "returns", "return_id"),
}
_BUILDERS = {"order_features": build_order_features, "return_features": build_return_features}


# ------------------------------------------------------------------ routing helpers
def _hash_partition(values: pd.Series | np.ndarray, n: int) -> np.ndarray:
    """Partition numbers from a stable hash of the values' text (the same in every process)."""
    raw = pd.Series(np.asarray(values, dtype=object))
    text = raw.astype(str).where(raw.notna().to_numpy(), None)
    h = pd.util.hash_pandas_object(text, index=False).to_numpy()
    return (h % np.uint64(n)).astype(np.int64)


def _split(frame: pd.DataFrame, n: int, column: str, fallback: str | None = None) -> list[pd.DataFrame]:
    """`frame` in n pieces by hash(column) (the `fallback` column's where it is missing), row order kept."""
    p = _hash_partition(frame[column], n)
    if fallback is not None:
        null = frame[column].isna().to_numpy()
        if null.any():
            p[null] = _hash_partition(frame.loc[null, fallback], n)
    return _pieces(frame, p, n)


def _pieces(frame: pd.DataFrame, p: np.ndarray, n: int) -> list[pd.DataFrame]:
    """Piece j: the rows whose partition number `p` is j, in their order."""
    order = np.argsort(p, kind="stable")
    bounds = np.searchsorted(p[order], np.arange(n + 1))
    ordered = frame.take(order)  # one copy; the pieces are slices of it
    ordered.index = pd.RangeIndex(len(ordered))
    return [ordered.iloc[bounds[j]:bounds[j + 1]] for j in range(n)]


def _call(func: Any, *args: Any, nout: int | None = None) -> Any:
    """`delayed(func)(*args)` with the lists of delayed pieces in `args` passed as arguments of their own.

    dask (2026.8) re-optimises and culls the whole graph behind every list or dict of delayed
    objects given as one argument, so a task taking one piece from each of n sources cost
    O(graph) to *build*: graph building was quadratic in the partitions (48 s of 65 at 100 k
    orders and 32 homes; a 5 M-order run with 75 row groups a table never got past it). A
    delayed object given directly as an argument is only referenced. Lists may nest.
    """
    from dask import delayed

    flat: list[Any] = []
    shape = tuple(_flatten(a, flat) for a in args)
    return delayed(_unflatten_call, nout=nout)(func, shape, *flat)


def _flatten(value: Any, flat: list[Any]) -> Any:
    """The nesting of `value`'s lists (None for a leaf), its leaves appended to `flat`."""
    if isinstance(value, list):
        return tuple(_flatten(v, flat) for v in value)
    flat.append(value)
    return None


def _unflatten_call(func: Any, shape: tuple, *flat: Any) -> Any:
    leaves = iter(flat)

    def build(s: Any) -> Any:
        return next(leaves) if s is None else [build(x) for x in s]

    return func(*[build(s) for s in shape])


def _exchange(sources: Sequence[Any], n: int, column: str, fallback: str | None = None) -> list[list[Any]]:
    """An all-to-all exchange: target j gets piece j (`_split` by column) of every source (delayed frames).

    A hand-made task shuffle: one split task per source, no sort, no Arrow round trip (the
    frames keep their pandas dtypes); n is small (a few partitions per worker thread).
    """
    from dask import delayed

    pieces = [delayed(_split, nout=n)(src, n, column, fallback) for src in sources]
    return [[piece[j] for piece in pieces] for j in range(n)]


def _concat(pieces: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(list(pieces), ignore_index=True) if len(pieces) > 1 else pieces[0].reset_index(drop=True)


# ------------------------------------------------------------------ step 1: home
@dataclass
class PartitionedTables:
    """The contract tables on the cluster, partitioned by home, with the broadcast master tables."""

    home: list[Any]  # per home partition: a future of {table: frame}
    masters: Any  # a future of {table: frame}
    present: frozenset[str]
    n: int


def partition_tables(
    client: Client, tables: Mapping[str, dd.DataFrame], present: frozenset[str], *, partitions: int
) -> PartitionedTables:
    """Route every table to its home partitions and keep them on the workers.

    Rows without an order of their own reach the home of the order they belong to through a
    lookup exchange: return outcomes and return reviews by their return's order; customers
    go to every home holding one of their orders or returns (a customer's row may be in several).
    """
    import dask
    from dask import delayed

    n = partitions
    computed = dask.compute(*[tables[name] for name in _MASTER])
    masters = {name: f.drop(columns="_row").reset_index(drop=True) for name, f in zip(_MASTER, computed, strict=True)}
    unknown = set(tables) - set(_HOME_KEY) - set(_MASTER) - {"customers"}
    if unknown:
        raise EngineError(f"the dask engine does not know how to partition tables {sorted(unknown)} "
                          "(features.partitioned._HOME_KEY)")
    sources = {name: tables[name].to_delayed() for name in tables}  # (each piece is referenced, see `_call`)
    # return id → its order, partitioned by return id: how rows keyed by a return find their home
    by_return = _exchange([delayed(_return_orders)(s) for s in sources["returns"]], n, "return_id")
    routed: dict[str, list[list[Any]]] = {}
    for name, key in _HOME_KEY.items():
        if name in _VIA_RETURN and _VIA_RETURN[name] in tables[name].columns:
            keyed = _exchange(sources[name], n, "return_id", "_row")
            attached = [_call(_attach_order, by_return[j], keyed[j], name) for j in range(n)]
            routed[name] = _exchange(attached, n, _HOME_ORDER, "_row")
        else:
            routed[name] = _exchange(sources[name], n, key, "_row")
    names = list(routed)
    base = [_call(_home_tables, names, [routed[name][i] for name in names]) for i in range(n)]
    wanted = _exchange([delayed(_customer_requests)(b, i) for i, b in enumerate(base)], n, "customer_id")
    customers = _exchange(sources["customers"], n, "customer_id", "_row")
    served = [_call(_serve_customers, customers[j], wanted[j], n, nout=n) for j in range(n)]
    home = [_call(_with_customers, base[i], [served[j][i] for j in range(n)]) for i in range(n)]
    futures = client.persist(home)
    return PartitionedTables(home=futures, masters=client.scatter([masters], broadcast=True)[0], present=present,
                             n=partitions)


_HOME_ORDER = "_home_order"  # the order whose home a row keyed by a return goes to
_VIA_RETURN = {"return_outcomes": "return_id", "review_outcomes": "return_id"}


def _return_orders(returns: pd.DataFrame) -> pd.DataFrame:
    return returns[["return_id", "order_id"]]


def _attach_order(lookups: Sequence[pd.DataFrame], pieces: Sequence[pd.DataFrame], name: str) -> pd.DataFrame:
    """The rows of a return-keyed table with `_home_order`: their own order id, else their return's."""
    lookup = _concat(lookups).drop_duplicates("return_id")
    orders = pd.Series(lookup["order_id"].to_numpy(), index=lookup["return_id"].to_numpy())
    rows = _concat(pieces)
    via = orders.reindex(rows["return_id"].to_numpy()).to_numpy()
    own = rows["order_id"].to_numpy() if "order_id" in rows.columns else np.full(len(rows), None, dtype=object)
    home = np.where(pd.isna(own), via, own)
    return rows.assign(**{_HOME_ORDER: pd.Series(home, dtype=object).where(pd.notna(home), None).to_numpy()})


def _home_tables(names: Sequence[str], tables: Sequence[Sequence[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, pieces in zip(names, tables, strict=True):
        frame = _concat(pieces).sort_values("_row", kind="stable").reset_index(drop=True)
        out[name] = frame.drop(columns=[_HOME_ORDER], errors="ignore")
    return out


def _customer_requests(tables: Mapping[str, pd.DataFrame], home: int) -> pd.DataFrame:
    ids = pd.concat([tables["orders"]["customer_id"], tables["returns"]["customer_id"]], ignore_index=True)
    ids = ids[ids.notna()].drop_duplicates()
    return pd.DataFrame({"customer_id": ids.to_numpy(dtype=object), "_home": np.int64(home)})


def _serve_customers(pieces: Sequence[pd.DataFrame], requests: Sequence[pd.DataFrame], n: int) -> list[pd.DataFrame]:
    """For every home: the customer rows (of this customer partition) its events ask for."""
    customers, wanted = _concat(pieces), _concat(requests)
    out = []
    for h in range(n):
        ids = wanted.loc[wanted["_home"].to_numpy() == h, "customer_id"]
        out.append(customers[customers["customer_id"].isin(ids)])
    return out


def _with_customers(tables: Mapping[str, pd.DataFrame], pieces: Sequence[pd.DataFrame]) -> dict[str, pd.DataFrame]:
    customers = _concat(pieces).sort_values("_row", kind="stable").reset_index(drop=True)
    return {**tables, "customers": customers}


def _dataset(tables: Mapping[str, pd.DataFrame], masters: Mapping[str, pd.DataFrame], present: frozenset[str]) -> Dataset:
    return Dataset(tables={**masters, **tables}, present=present)


def home_dataset(tables: Mapping[str, pd.DataFrame], masters: Mapping[str, pd.DataFrame],
                 present: frozenset[str]) -> Dataset:
    """One home partition as a `Dataset`: its events' tables with the broadcast master tables."""
    return _dataset(tables, masters, present)


def _events(spec: _Spec, ds: Dataset, since: pd.Timestamp | None) -> pd.DataFrame:
    """The feature set's events in a home partition: what `build_*_features` computes on."""
    table = ds[spec.table]
    if since is not None:
        table = table[table[spec.fs.time_column] >= as_utc(since)]
    ev = (order_events if spec.table == "orders" else return_events)(ds, table)
    return ev


def _with_seq(name: str, stream: pd.DataFrame, ds: Dataset) -> pd.DataFrame:
    how = _STREAM_SEQ.get(name)
    if how is None:  # a stream read straight from one table keeps that table's index
        base = ds.tables.get({"syncs": "inventory_syncs"}.get(name, name))
        seq = base["_row"].to_numpy()[stream.index.to_numpy()] if base is not None and "_row" in base else \
            np.arange(len(stream))
    else:
        col, table = how
        rows = pd.Series(ds[table]["_row"].to_numpy(), index=ds[table][col].to_numpy())
        rows = rows[~rows.index.duplicated()]
        seq = rows.reindex(stream[col].to_numpy()).to_numpy()
    return stream.assign(_seq=np.asarray(seq, dtype=np.float64))


# ------------------------------------------------------------------ step 2: families
def _family(agg: Aggregation) -> str | None:
    """The column an aggregation is partitioned by (None: no key, computed globally)."""
    return None if agg.key == (GLOBAL,) else agg.key[0]


def _families(spec: _Spec) -> dict[tuple[str, str], list[Aggregation]]:
    """(grain, family column) → its aggregations (without the global ones)."""
    out: dict[tuple[str, str], list[Aggregation]] = {}
    for a in spec.fs.aggregations:
        fam = _family(a)
        if fam is not None:
            out.setdefault((a.grain, fam), []).append(a)
    return out


def _id_cols(spec: _Spec, grain: str) -> list[str]:
    return [spec.id_col] if grain == "event" else [spec.id_col, *LINE_KEYS]


def _prepare(
    tables: Mapping[str, pd.DataFrame], masters: Mapping[str, pd.DataFrame], present: frozenset[str], name: str,
    since: pd.Timestamp | None,
) -> dict[str, Any]:
    """One home partition's events (with `_t`), basket pairs and stream rows (with `_seq`), built once."""
    spec = FEATURE_SETS[name]
    ds = _dataset(tables, masters, present)
    ev = _events(spec, ds, since)
    t_ns = to_ns(ev[spec.fs.time_column])
    aggs = spec.fs.aggregations
    keys = sorted({k for a in aggs if a.grain == "event" for k in a.key} - {GLOBAL})
    out: dict[str, Any] = {"events": ev[[spec.id_col, *[k for k in keys if k != spec.id_col]]].assign(_t=t_ns)}
    streams = {n: _with_seq(n, s, ds) for n, s in build_streams(ds, {a.stream for a in aggs}).items()}
    out["streams"] = streams
    line = [a for a in aggs if a.grain == "line"]
    if line:
        lines = ds["order_lines"]
        pairs = basket_keys(lines[lines["order_id"].isin(ev["order_id"])], ds["products"])
        pos = pd.Index(ev["order_id"]).get_indexer(pairs["order_id"])
        out["pairs"] = pairs[pos >= 0].assign(_t=t_ns[pos[pos >= 0]])
        all_pairs = basket_keys(lines, ds["products"])
        out["line_streams"] = {n: per_line(streams[n], all_pairs) for n in {a.stream for a in line}}
    return out


def _family_rows(prepared: Mapping[str, Any], home: int, name: str, grain: str, column: str) -> pd.DataFrame:
    """One home partition's rows for one family: its events (`_kind` "events") and stream rows."""
    spec = FEATURE_SETS[name]
    aggs = _families(spec)[(grain, column)]
    ids = _id_cols(spec, grain)
    keys = sorted({k for a in aggs for k in a.key})
    source = prepared["pairs"] if grain == "line" else prepared["events"]
    events = source[[*ids, *[k for k in keys if k not in ids], "_t"]]
    parts = [events.assign(_kind="events", _home=home, _seq=np.nan)]
    streams = prepared["line_streams"] if grain == "line" else prepared["streams"]
    for stream_name in sorted({a.stream for a in aggs}):
        stream = streams[stream_name]
        used = [a for a in aggs if a.stream == stream_name]
        cols = sorted({k for a in used for k in a.key} | {a.value for a in used if a.value})
        rows = stream[stream[column].notna()][["_t", "_seq", *cols]]
        parts.append(rows.assign(_kind=stream_name, _home=-1))
    out = pd.concat(parts, ignore_index=True)
    out["_t"] = out["_t"].astype(np.int64)
    # the same dtypes in every partition (a shuffle needs one schema): keys as text, values as floats
    summed = {a.value for a in aggs if a.agg == "sum"}
    for c in out.columns:
        if c in ("_t", "_home", "_kind"):
            continue
        if c in summed or c == "_seq":
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(np.float64)
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def _family_compute(rows: pd.DataFrame, name: str, grain: str, column: str) -> pd.DataFrame:
    """Evaluate one family's aggregations on one key partition with the single-process engine."""
    spec = FEATURE_SETS[name]
    aggs = _families(spec)[(grain, column)]
    ids = _id_cols(spec, grain)
    names = [a.name for a in aggs]
    rows = rows.reset_index(drop=True)
    events = rows[rows["_kind"] == "events"].reset_index(drop=True)
    if not len(events):
        return _result_meta(ids, names)
    streams = {}
    for name in {a.stream for a in aggs}:
        s = rows[rows["_kind"] == name]
        order = ["_seq", *[k for k in LINE_KEYS if k in s.columns]] if grain == "line" else ["_seq"]
        streams[name] = s.sort_values(order, kind="stable").reset_index(drop=True)
    values = _compute(aggs, events, events["_t"].to_numpy(np.int64), streams)
    out = events[ids].astype(object).assign(_home=events["_home"].to_numpy(np.int64))
    for n in names:
        out[n] = values[n]
    return out


def _compute(aggs: Sequence[Aggregation], events: pd.DataFrame, event_ns: np.ndarray,
             streams: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """`compute_aggregations`, or nothing to compute (a partition may hold no events)."""
    if not len(events):
        return {a.name: np.zeros(0) for a in aggs}
    return compute_aggregations(aggs, events, event_ns, streams)


def _result_meta(ids: Sequence[str], names: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({**{c: pd.Series(dtype=object) for c in ids}, "_home": pd.Series(dtype=np.int64),
                         **{n: pd.Series(dtype=np.float64) for n in names}})


def _global_rows(prepared: Mapping[str, Any], name: str) -> dict[str, pd.DataFrame]:
    aggs = [a for a in FEATURE_SETS[name].fs.aggregations if _family(a) is None]
    out = {}
    for stream_name in sorted({a.stream for a in aggs}):
        used = [a for a in aggs if a.stream == stream_name]
        cols = sorted({k for a in used for k in a.key} | {a.value for a in used if a.value})
        out[stream_name] = prepared["streams"][stream_name][["_t", "_seq", *cols]]
    return out


def _concat_global(parts: Sequence[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The whole stream of the global aggregations, in single-process order: computed once, broadcast."""
    out = {}
    for name in parts[0] if parts else ():
        frame = pd.concat([p[name] for p in parts], ignore_index=True)
        out[name] = frame.sort_values("_seq", kind="stable").reset_index(drop=True).assign(_all=ALL)
    return out


# ------------------------------------------------------------------ step 3: assemble
def _assemble(
    tables: Mapping[str, pd.DataFrame], masters: Mapping[str, pd.DataFrame], present: frozenset[str],
    name: str, since: pd.Timestamp | None, results: Sequence[Sequence[pd.DataFrame]],
    keys: Sequence[tuple[str, str]],
    global_streams: Mapping[str, pd.DataFrame],
) -> pd.DataFrame:
    """The feature frame of one home partition: the single-process builder, aggregations looked up."""
    spec = FEATURE_SETS[name]
    ds = _dataset(tables, masters, present)
    by_grain: dict[str, list[pd.DataFrame]] = {}
    for (grain, _column), pieces in zip(keys, results, strict=True):
        by_grain.setdefault(grain, []).append(_concat(pieces))

    def aggregate(aggregations, events, event_ns, streams):  # the `Aggregate` of features.windows
        out: dict[str, np.ndarray] = {}
        glob = [a for a in aggregations if _family(a) is None]
        computed = _compute(glob, events, event_ns, global_streams) if glob else {}
        found: dict[str, np.ndarray] = {}
        grain = aggregations[0].grain if aggregations else "event"
        ids = _id_cols(spec, grain)
        wanted = pd.MultiIndex.from_arrays([events[c].astype(object).to_numpy() for c in ids])
        for frame in by_grain.get(grain, []):
            have = pd.MultiIndex.from_arrays([frame[c].astype(object).to_numpy() for c in ids])
            pos = have.get_indexer(wanted)
            if (pos < 0).any():
                raise RuntimeError(f"{name}: {int((pos < 0).sum())} events lost between partitions")
            for col in frame.columns:
                if col not in ids and col != "_home":
                    found[col] = frame[col].to_numpy(np.float64)[pos]
        for a in aggregations:
            out[a.name] = computed[a.name] if a.name in computed else found[a.name]
        return out

    frame = _BUILDERS[name](ds, since=since, aggregate=aggregate)
    ev_rows = pd.Series(ds[spec.table]["_row"].to_numpy(), index=ds[spec.table][spec.id_col].to_numpy())
    return frame.assign(_row=ev_rows.reindex(frame[spec.id_col].to_numpy()).to_numpy(np.int64))


# ------------------------------------------------------------------ the job
@dataclass(frozen=True)
class HomeFeatures:
    """A feature set per home partition: persisted frames with `_row` (their table row), categories unified."""

    homes: list[Any]  # persisted delayed frames, one per home partition, in `PartitionedTables.home` order
    categories: dict[str, list]  # the categorical columns' one-process categories
    meta: pd.DataFrame  # the typed zero-row frame (with `_row`)
    spans: list[tuple[int, int, int]]  # per home: (first _row, last _row, rows)
    held: tuple[Any, ...] = ()

    def part(self, i: int) -> Any:
        """Home i's frame with the unified categories (delayed)."""
        from dask import delayed

        return delayed(_cast)(self.homes[i], self.categories)


@dataclass(frozen=True)
class FeatureParts:
    """A feature frame on the cluster: delayed partitions, indexed by table row, in table order.

    (Delayed parts rather than a `dask.dataframe`: dask-expr's optimiser drops the persisted
    pieces these depend on — "lost dependencies" — when it rewrites such a frame.)
    """

    parts: list[Any]
    meta: pd.DataFrame  # the typed zero-row frame, index `_row`
    held: tuple[Any, ...] = ()  # the persisted inputs of `parts`: released with this object, not before

    def compute(self) -> pd.DataFrame:
        import dask

        return pd.concat(dask.compute(*self.parts), ignore_index=False) if self.parts else self.meta


def feature_homes(
    client: Client, parts: PartitionedTables, name: str, *, since: pd.Timestamp | None = None,
) -> HomeFeatures:
    """The feature set `name` per home partition, persisted on the workers (rows in no global order).

    Home i holds the features of the events of `parts.home[i]`, so per-event work that needs the
    event's own tables (labels, for training) runs next to its features without moving them.
    """
    import dask
    from dask import delayed

    spec = FEATURE_SETS[name]
    n = parts.n
    families = _families(spec)
    glob = [a for a in spec.fs.aggregations if _family(a) is None]
    global_streams = None
    prepared = client.persist([delayed(_prepare)(h, parts.masters, parts.present, name, since)
                               for h in parts.home])
    if glob:
        global_streams = _call(_concat_global, [delayed(_global_rows)(p, name) for p in prepared])
    keys = list(families)
    results = []  # per family: per home partition, its pieces of the family's results
    for (grain, column) in keys:
        pieces = [delayed(_family_pieces, nout=n)(p, i, name, grain, column, n) for i, p in enumerate(prepared)]
        back = [_call(_family_compute_back, [piece[j] for piece in pieces], name, grain, column, n, nout=n)
                for j in range(n)]
        results.append([[b[i] for b in back] for i in range(n)])
    assembled = [
        _call(_assemble, h, parts.masters, parts.present, name, since, [r[i] for r in results], keys,
              global_streams if global_streams is not None else {})
        for i, h in enumerate(parts.home)
    ]
    assembled = client.persist(assembled)
    meta = empty_frame(name)
    meta = meta.assign(_row=pd.Series(dtype=np.int64))
    cat_cols = [c for c, t in meta.dtypes.items() if isinstance(t, pd.CategoricalDtype)]
    found = dask.compute(*[delayed(_categories_and_rows)(a, cat_cols) for a in assembled])
    merged = {c: _merged_categories([cats[c] for cats, _ in found]) for c in cat_cols}
    return HomeFeatures(homes=assembled, categories=merged, meta=_cast(meta, merged),
                        spans=[r for _, r in found], held=(prepared,))


def build_features(
    client: Client, parts: PartitionedTables, name: str, *, since: pd.Timestamp | None = None,
    out_partitions: int | None = None,
) -> FeatureParts:
    """The feature set `name` ("order_features" / "return_features") in table order, in parts.

    Row for row the frame `build_order_features` / `build_return_features` gives in one process.
    """
    from dask import delayed

    homes = feature_homes(client, parts, name, since=since)
    assembled, merged = homes.homes, homes.categories
    n = parts.n
    rows = [r for r in homes.spans if r[2]]
    out_meta = homes.meta.set_index("_row")
    if not rows:
        return FeatureParts(parts=[delayed(out_meta.copy)()], meta=out_meta, held=(homes,))
    lo, hi = min(r[0] for r in rows), max(r[1] for r in rows)
    k = max(1, out_partitions or n)
    divisions = sorted({int(v) for v in np.linspace(lo, hi, k + 1).round()})
    if len(divisions) == 1:
        divisions = [divisions[0], divisions[0]]
    k = len(divisions) - 1
    pieces = [delayed(_by_row_range, nout=k)(a, divisions) for a in assembled]
    ordered = [_call(_in_table_order, [piece[j] for piece in pieces], merged) for j in range(k)]
    return FeatureParts(parts=ordered, meta=out_meta, held=(homes,))


def _family_pieces(prepared: Mapping[str, Any], home: int, name: str, grain: str, column: str,
                   n: int) -> list[pd.DataFrame]:
    """One home partition's rows for one family, split by the family's key."""
    return _split(_family_rows(prepared, home, name, grain, column), n, column, FEATURE_SETS[name].id_col)


def _family_compute_back(pieces: Sequence[pd.DataFrame], name: str, grain: str, column: str,
                         n: int) -> list[pd.DataFrame]:
    """One key partition's family results, split by the home partition each event came from."""
    out = _family_compute(_concat(pieces), name, grain, column)
    return _pieces(out, out["_home"].to_numpy(np.int64), n)


def _categories_and_rows(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[dict[str, list], tuple[int, int, int]]:
    rows = frame["_row"].to_numpy(np.int64)
    span = (int(rows.min()), int(rows.max()), len(rows)) if len(rows) else (0, 0, 0)
    return {c: list(frame[c].cat.categories) for c in columns}, span


def _by_row_range(frame: pd.DataFrame, divisions: Sequence[int]) -> list[pd.DataFrame]:
    """Piece j: the rows with divisions[j] <= _row < divisions[j + 1] (the last range includes its end)."""
    k = len(divisions) - 1
    p = np.searchsorted(np.asarray(divisions[1:-1], dtype=np.int64), frame["_row"].to_numpy(np.int64), side="right")
    return _pieces(frame, p.astype(np.int64), k)


def _in_table_order(pieces: Sequence[pd.DataFrame], categories: Mapping[str, list]) -> pd.DataFrame:
    frame = _cast(_concat(pieces), categories)
    return frame.sort_values("_row", kind="stable").set_index("_row")


def _cast(frame: pd.DataFrame, categories: Mapping[str, list]) -> pd.DataFrame:
    """Every partition's categories made the one-process list (see `_merged_categories`)."""
    return frame.assign(**{c: pd.Categorical(frame[c].astype(object), categories=cats)
                           for c, cats in categories.items()})


def _merged_categories(lists: Sequence[Sequence[object]]) -> list[object]:
    """[shared prefix] + sorted(everything else): a partition's unseen values are sorted after the
    contract's, and a value every partition holds at the same place before any unseen value of any
    partition is either a contract value or the smallest unseen value overall, in order."""
    if not lists:
        return []
    prefix: list[object] = []
    for values in zip(*lists, strict=False):
        if all(v == values[0] for v in values):
            prefix.append(values[0])
        else:
            break
    rest = sorted({v for cats in lists for v in cats} - set(prefix), key=str)
    return [*prefix, *rest]


def empty_frame(name: str) -> pd.DataFrame:
    """The typed, zero-row frame of a feature set (what one process gives for no events)."""
    from triage.schema import TABLES

    ds = Dataset(tables={t: empty_table(t) for t in TABLES}, present=frozenset(TABLES))
    return _BUILDERS[name](ds, aggregate=_compute)
