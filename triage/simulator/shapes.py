"""Dataset shapes: the simulator's output transformed into the shapes real exports have.

Each shape is a function from a dataset's tables (typed frames, as `load_dataset` gives
them; an absent table is a missing key) to new tables, every result still a valid
contract dataset. They stand for what a retailer's export looks like when it is not
our simulator's: tables or columns missing, constant or entirely empty columns, one
node / carrier / channel / category, categories first seen after the training cut-off,
few orders, extreme late rates, one label class only, timestamps in other zones, many
events on one timestamp, another currency scale, labels that arrive months late.

`SHAPES` names them; `write_dataset` writes the tables as a contract folder (CSV), so
the real commands read them the way they read a retailer's files. The shape suite
(`tests/test_shapes.py`, `bench/bench_shapes.py`) runs every shape through the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from triage.contract import Dataset
from triage.schema import TABLES

__all__ = [
    "Shape",
    "ShapeContext",
    "SHAPES",
    "OPTIONAL_TABLES",
    "apply_shape",
    "first_orders",
    "tables_of",
    "write_dataset",
]

Tables = dict[str, pd.DataFrame]

OPTIONAL_TABLES = tuple(n for n, t in TABLES.items() if not t.required)


@dataclass(frozen=True)
class ShapeContext:
    """What a shape may need besides the tables: the training cut-off the chain will use."""

    cutoff: pd.Timestamp
    seed: int = 0

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)


@dataclass(frozen=True)
class Shape:
    name: str
    transform: Callable[[Tables, ShapeContext], Tables]
    description: str


def tables_of(ds: Dataset) -> Tables:
    """The tables the source held (absent optional tables left out), as copies."""
    return {name: ds[name].copy() for name in TABLES if ds.has(name)}


def apply_shape(shape: Shape, tables: Tables, ctx: ShapeContext) -> Tables:
    return shape.transform({k: v.copy() for k, v in tables.items()}, ctx)


# --------------------------------------------------------------------------- writing


def _text(s: pd.Series, kind: str) -> pd.Series:
    if kind == "timestamp":
        out = s.dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        return out.where(s.notna(), None)
    if kind == "bool":
        return s.map({True: "true", False: "false"}).where(s.notna(), None)
    return s


def write_dataset(tables: Tables, folder: str | Path) -> Path:
    """Write tables as a contract folder of CSV files (timestamps keep their own offset)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        cols = [c for c in TABLES[name].column_names if c in frame.columns]
        out = pd.DataFrame({c: _text(frame[c], TABLES[name].column(c).kind) for c in cols})
        out.to_csv(folder / f"{name}.csv", index=False)
    return folder


# --------------------------------------------------------------------------- helpers


def _keep_orders(t: Tables, keep: pd.Series) -> Tables:
    """Only the orders where `keep` holds, and every row that depends on them."""
    ids = set(t["orders"].loc[keep, "order_id"])
    t["orders"] = t["orders"][keep].reset_index(drop=True)
    for name in ("order_lines", "fulfillment_outcomes", "fraud_labels", "returns"):
        if name in t:
            t[name] = t[name][t[name]["order_id"].isin(ids)].reset_index(drop=True)
    if "return_outcomes" in t:
        rids = set(t["returns"]["return_id"]) if "returns" in t else set()
        t["return_outcomes"] = t["return_outcomes"][t["return_outcomes"]["return_id"].isin(rids)]
    return t


def _drop(*names: str) -> Callable[[Tables, ShapeContext], Tables]:
    def f(t: Tables, _ctx: ShapeContext) -> Tables:
        gone = set(names)
        if "returns" in gone:  # return_outcomes references returns, and so may a review
            gone.add("return_outcomes")
            ro = t.get("review_outcomes")
            if ro is not None and "return_id" in ro:
                t["review_outcomes"] = ro[ro["return_id"].isna()].reset_index(drop=True)
        return {k: v for k, v in t.items() if k not in gone}

    return f


def _no_optional_columns(t: Tables, _ctx: ShapeContext) -> Tables:
    for name, frame in t.items():
        t[name] = frame.drop(columns=[c.name for c in TABLES[name].columns if c.optional and c.name in frame])
    return t


# nullable columns that are inputs (delivered_at is the delay label: `one_class_late` nulls it)
_NULLABLE_INPUTS = [
    (name, c.name)
    for name, tbl in TABLES.items()
    for c in tbl.columns
    if c.nullable and c.name != "delivered_at"
]


def _null_optional_columns(t: Tables, _ctx: ShapeContext) -> Tables:
    for name, col in _NULLABLE_INPUTS:
        if name in t and col in t[name]:
            t[name][col] = pd.Series(pd.NaT if TABLES[name].column(col).kind == "timestamp" else np.nan,
                                     index=t[name].index, dtype=t[name][col].dtype)
    return t


_CONSTANT = {
    "orders": ("channel", "payment_method", "card_country", "ip_country", "promo_code",
               "fulfillment_type", "service_level", "billing_postcode", "shipping_postcode", "item_count"),
    "customers": ("loyalty_tier", "is_guest", "home_region"),
    "products": ("category", "vendor_id", "is_returnable", "weight_kg", "list_price", "unit_cost"),
    "nodes": ("node_type", "region", "daily_capacity"),
    "returns": ("return_channel", "reason_code", "reported_condition", "reason_text", "quantity"),
}


def _constant_columns(t: Tables, _ctx: ShapeContext) -> Tables:
    """Every descriptive column holds one value (the first non-null one)."""
    for name, cols in _CONSTANT.items():
        if name not in t or not len(t[name]):
            continue
        for col in cols:
            s = t[name][col]
            first = s.dropna().iloc[0] if s.notna().any() else None
            t[name][col] = pd.Series([first] * len(s), index=s.index, dtype=s.dtype)
    return t


def _one_node(t: Tables, _ctx: ShapeContext) -> Tables:
    node = t["orders"]["fulfillment_node_id"].mode().iloc[0]
    t["orders"]["fulfillment_node_id"] = node
    t["nodes"] = t["nodes"][t["nodes"]["node_id"] == node].reset_index(drop=True)
    if "inventory_syncs" in t:
        t["inventory_syncs"] = t["inventory_syncs"][t["inventory_syncs"]["node_id"] == node]
    return t


def _one_value(table: str, col: str) -> Callable[[Tables, ShapeContext], Tables]:
    def f(t: Tables, _ctx: ShapeContext) -> Tables:
        s = t[table][col]
        value = s.mode().iloc[0]
        t[table][col] = s.where(s.isna(), value) if col == "carrier" else value
        return t

    return f


def _new_categories_after_cutoff(t: Tables, ctx: ShapeContext) -> Tables:
    """After the cut-off: a new channel, a new carrier, and every product sold is a new SKU
    of a new category (`garden`)."""
    o = t["orders"]
    after = o["created_at"] >= ctx.cutoff
    o.loc[after, "channel"] = "social_commerce"
    o.loc[after & o["carrier"].notna(), "carrier"] = "brand_new_courier"
    after_ids = set(o.loc[after, "order_id"])
    lines, products = t["order_lines"], t["products"]
    hit = lines["order_id"].isin(after_ids)
    new = products[products["sku"].isin(set(lines.loc[hit, "sku"]))].copy()
    new["sku"] = "NEW-" + new["sku"]
    new["category"] = "garden"
    t["products"] = pd.concat([products, new], ignore_index=True)
    lines.loc[hit, "sku"] = "NEW-" + lines.loc[hit, "sku"]
    if "returns" in t:
        r = t["returns"]
        moved = r["order_id"].isin(after_ids)
        r.loc[moved, "sku"] = "NEW-" + r.loc[moved, "sku"]
    return t


def first_orders(t: Tables, n: int) -> Tables:
    """The first `n` orders (by time) and every row that depends on them."""
    return _keep_orders(t, t["orders"]["created_at"].rank(method="first") <= n)


def _first_orders(n: int) -> Callable[[Tables, ShapeContext], Tables]:
    return lambda t, _ctx: first_orders(t, n)


def _set_on_time(fo: pd.DataFrame, orders: pd.DataFrame, mask: pd.Series) -> None:
    promised = fo["order_id"].map(orders.set_index("order_id")["promised_at"])
    created = fo["order_id"].map(orders.set_index("order_id")["created_at"])
    delivered = (promised - pd.Timedelta(hours=1)).where(promised - pd.Timedelta(hours=1) > created, created)
    fo.loc[mask, "delivered_at"] = delivered[mask]
    fo.loc[mask, "shipped_at"] = fo.loc[mask, "shipped_at"].where(
        fo.loc[mask, "shipped_at"] <= delivered[mask], created[mask]
    )
    fo.loc[mask, "cancelled"] = False
    if "cancelled_at" in fo:
        fo.loc[mask, "cancelled_at"] = pd.NaT


def _late_rate(rate: float) -> Callable[[Tables, ShapeContext], Tables]:
    """Move orders between late and on time (at random) until `rate` of them are late."""

    def f(t: Tables, ctx: ShapeContext) -> Tables:
        from features.outcomes import late_labels

        o, fo = t["orders"], t["fulfillment_outcomes"].copy()
        fo = fo.set_index("order_id").reindex(o["order_id"]).reset_index()
        fo["cancelled"] = fo["cancelled"].fillna(False).astype(bool)
        ds = Dataset(tables={**{n: t.get(n, pd.DataFrame()) for n in TABLES}, "fulfillment_outcomes": fo},
                     present=frozenset(t) | {"fulfillment_outcomes"})
        late = late_labels(ds, o["promised_at"].max() + pd.Timedelta(days=1)).reindex(fo["order_id"])
        late = pd.Series(late.to_numpy(dtype=bool), index=fo.index)
        rng, want = ctx.rng, int(round(rate * len(fo)))
        if late.sum() > want:  # too many late: make some on time
            flip = rng.choice(np.flatnonzero(late), int(late.sum()) - want, replace=False)
            _set_on_time(fo, o, fo.index.isin(flip))
        else:  # too few: deliver some a day after the promise
            flip = rng.choice(np.flatnonzero(~late), want - int(late.sum()), replace=False)
            promised = fo["order_id"].map(o.set_index("order_id")["promised_at"])
            m = fo.index.isin(flip)
            fo.loc[m, "delivered_at"] = promised[m] + pd.Timedelta(days=1)
        t["fulfillment_outcomes"] = fo
        return t

    return f


def _one_label_class(t: Tables, _ctx: ShapeContext) -> Tables:
    """Nothing ever went wrong: every order on time, no fraud reported, no abuse found."""
    fo = t["fulfillment_outcomes"]
    _set_on_time(fo, t["orders"], pd.Series(True, index=fo.index))
    t["fraud_labels"] = t["fraud_labels"].iloc[0:0]
    t["return_outcomes"]["abuse_confirmed"] = False
    t["return_outcomes"]["disposition"] = "restock"
    return t


def _all_late(t: Tables, _ctx: ShapeContext) -> Tables:
    """No delivery is ever recorded (every order counts as late), every order is fraud."""
    t["fulfillment_outcomes"]["delivered_at"] = pd.NaT
    o = t["orders"]
    t["fraud_labels"] = pd.DataFrame(
        {"order_id": o["order_id"], "fraud_type": "chargeback", "reported_at": o["created_at"] + pd.Timedelta(days=20)}
    )
    t["return_outcomes"]["abuse_confirmed"] = True
    return t


_ZONES = ("America/New_York", "Asia/Kolkata", "Europe/Berlin", "Australia/Sydney", "America/Sao_Paulo",
          "Asia/Tokyo", "Europe/London")


def _other_zones(t: Tables, _ctx: ShapeContext) -> Tables:
    """Every timestamp written with a local offset: each table in its own zone (summer time
    included), as exports from several systems would be."""
    stamped = [n for n, tbl in TABLES.items() if any(c.kind == "timestamp" for c in tbl.columns)]
    for name, zone in zip(stamped, _ZONES * len(stamped), strict=False):
        if name not in t:
            continue
        for c in TABLES[name].columns:
            if c.kind == "timestamp" and c.name in t[name]:
                t[name][c.name] = t[name][c.name].dt.tz_convert(zone)
    return t


def _same_timestamps(t: Tables, _ctx: ShapeContext) -> Tables:
    """Exports with hour resolution: orders, returns and outcomes stamped on the hour."""
    for name, cols in (("orders", ("created_at",)), ("returns", ("requested_at",)),
                       ("fulfillment_outcomes", ("shipped_at", "delivered_at", "cancelled_at")),
                       ("fraud_labels", ("reported_at",)), ("return_outcomes", ("inspected_at",)),
                       ("review_outcomes", ("reviewed_at",))):
        for c in cols:
            if name in t and c in t[name]:
                t[name][c] = t[name][c].dt.floor("h")
    return t


def _currency_x100(t: Tables, _ctx: ShapeContext) -> Tables:
    for name, cols in (("orders", ("order_total",)), ("order_lines", ("unit_price",)),
                       ("products", ("list_price", "unit_cost")), ("returns", ("refund_amount",))):
        if name in t:
            for c in cols:
                t[name][c] = t[name][c] * 100
    return t


def _labels_months_late(t: Tables, _ctx: ShapeContext) -> Tables:
    """Chargebacks reported 4 months later, inspections 3 months later than in the simulator."""
    if "fraud_labels" in t:
        t["fraud_labels"]["reported_at"] += pd.Timedelta(days=120)
    if "return_outcomes" in t:
        t["return_outcomes"]["inspected_at"] += pd.Timedelta(days=90)
    return t


def _identity(t: Tables, _ctx: ShapeContext) -> Tables:
    return t


SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape("as_simulated", _identity, "the simulator's output unchanged"),
        *(Shape(f"no_{n}", _drop(n), f"no {n} table" + (" (nor return_outcomes)" if n == "returns" else ""))
          for n in OPTIONAL_TABLES),
        Shape("no_optional_tables", _drop(*OPTIONAL_TABLES), "only the required tables"),
        Shape("no_optional_columns", _no_optional_columns, "optional columns absent (cancelled_at)"),
        Shape("null_optional_columns", _null_optional_columns, "every nullable input column entirely null"),
        Shape("constant_columns", _constant_columns, "descriptive columns hold one value"),
        Shape("one_node", _one_node, "one fulfilment node"),
        Shape("one_carrier", _one_value("orders", "carrier"), "one carrier"),
        Shape("one_channel", _one_value("orders", "channel"), "one channel"),
        Shape("one_category", _one_value("products", "category"), "one product category"),
        Shape("new_categories_after_cutoff", _new_categories_after_cutoff,
              "a channel, carrier and product category first seen after the cut-off"),
        Shape("orders_1500", _first_orders(1500), "the first 1,500 orders only"),
        Shape("late_30pct", _late_rate(0.30), "30 % of orders late"),
        Shape("late_1pct", _late_rate(0.01), "1 % of orders late"),
        Shape("one_label_class", _one_label_class, "no order late, no fraud, no abuse"),
        Shape("all_late_all_fraud", _all_late, "no delivery recorded, every order fraud, every return abuse"),
        Shape("other_time_zones", _other_zones, "timestamps with local offsets"),
        Shape("same_timestamps", _same_timestamps, "events and outcomes stamped on the hour"),
        Shape("currency_x100", _currency_x100, "amounts ×100 (another currency scale)"),
        Shape("labels_months_late", _labels_months_late, "chargebacks +120 days, inspections +90 days"),
    )
}
