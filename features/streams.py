"""The history streams aggregations read, built from a dataset, and the enriched event frames.

Each stream frame has its time as int64 ns in `_t` and its key and value columns under
the names the events use (e.g. inventory syncs carry `fulfillment_node_id`). Outcome
streams are timed by when the outcome became known, from `features.outcomes` — the one
place that applies the contract's timing rules.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.outcomes import delivery_outcomes, fraud_outcomes, return_outcomes
from features.windows import to_ns
from triage.contract import Dataset

__all__ = ["build_streams", "order_events", "return_events", "basket_keys", "per_line", "ALL", "ship_area",
           "ship_areas", "SHIP_AREA_CHARS"]

ALL = "all"  # constant key: aggregations over every row of a stream (e.g. a global late rate)

# The delivery area of an order: the leading characters of its shipping postcode (spaces and
# hyphens dropped, upper-cased) — a US ZIP's first two digits, a UK postcode's area letters, a
# Brazilian CEP's region — coarse enough to gather many orders, fine enough that a regional
# disruption (a strike, a storm, a carrier's depot) shows in its late rate.
SHIP_AREA_CHARS = 2
_POSTCODE_NOISE = re.compile(r"[\s\-]")


def ship_area(postcode: object) -> str | None:
    """The delivery area of one shipping postcode (None when null or shorter than the prefix)."""
    if postcode is None or (not isinstance(postcode, str) and pd.isna(postcode)):  # type: ignore[arg-type]
        return None
    code = _POSTCODE_NOISE.sub("", str(postcode)).upper()
    return code[:SHIP_AREA_CHARS] if len(code) >= SHIP_AREA_CHARS else None


def ship_areas(postcodes: pd.Series) -> np.ndarray:
    """`ship_area` of each postcode (computed once per distinct value), as an object array."""
    codes, uniques = pd.factorize(postcodes.astype(object), use_na_sentinel=True)
    table = np.array([ship_area(u) for u in uniques] + [None], dtype=object)
    return table[np.where(codes < 0, len(uniques), codes)]


def _with_time(frame: pd.DataFrame, time_col: str) -> pd.DataFrame:
    out = frame.copy()
    out["_t"] = to_ns(out[time_col]) if len(out) else np.zeros(0, dtype=np.int64)
    out["_all"] = ALL
    return out


def _not_before(known_at: pd.Series, event_time: pd.Series) -> pd.Series:
    """An outcome cannot be known before its own event existed (guards against clock skew in exports)."""
    known = pd.to_datetime(known_at, utc=True)
    event = pd.to_datetime(event_time, utc=True)
    return known.where(~(known < event), event)


def _node_region(ds: Dataset) -> pd.Series:
    nodes = ds["nodes"]
    return pd.Series(nodes["region"].to_numpy(), index=nodes["node_id"].to_numpy())


def _vendor(ds: Dataset) -> pd.Series:
    p = ds["products"]
    return pd.Series(p["vendor_id"].to_numpy(), index=p["sku"].to_numpy())


def build_streams(ds: Dataset, needed: set[str]) -> dict[str, pd.DataFrame]:
    """Stream frames for the named streams (only those asked for are built)."""
    streams: dict[str, pd.DataFrame] = {}
    region = _node_region(ds)
    if "orders" in needed:
        o = ds["orders"][
            [
                "order_id",
                "customer_id",
                "created_at",
                "device_id",
                "email_hash",
                "shipping_postcode",
                "card_country",
                "fulfillment_node_id",
                "order_total",
            ]
        ]
        streams["orders"] = _with_time(o, "created_at")
    if "returns" in needed:
        r = ds["returns"][["return_id", "customer_id", "requested_at", "sku"]].copy()
        r["vendor_id"] = r["sku"].map(_vendor(ds))
        streams["returns"] = _with_time(r, "requested_at")
    if "delivery" in needed:
        d = delivery_outcomes(ds)
        d = d.assign(
            is_late=d["is_late"].astype(np.float64),
            node_region=d["fulfillment_node_id"].map(region),
            ship_area=ship_areas(d["shipping_postcode"]),
            known_at=_not_before(d["known_at"], d["created_at"]),
        )
        streams["delivery"] = _with_time(d, "known_at")
    if "fraud" in needed:
        f = fraud_outcomes(ds)
        f["known_at"] = _not_before(f["known_at"], f["created_at"])
        f = f[["order_id", "known_at", "customer_id", "device_id", "email_hash", "shipping_postcode",
               "fulfillment_node_id"]]
        streams["fraud"] = _with_time(f, "known_at")
    if "inspections" in needed:
        i = return_outcomes(ds)
        i = i[["return_id", "known_at", "requested_at", "customer_id", "sku", "disposition", "abuse_confirmed"]].copy()
        i["known_at"] = _not_before(i["known_at"], i["requested_at"])
        i["abuse"] = i["abuse_confirmed"].astype(np.float64)
        i["is_rtv"] = (i["disposition"] == "return_to_vendor").astype(np.float64)
        i["vendor_id"] = i["sku"].map(_vendor(ds))
        streams["inspections"] = _with_time(i, "known_at")
    if "syncs" in needed:
        s = ds["inventory_syncs"].rename(columns={"node_id": "fulfillment_node_id"})
        streams["syncs"] = _with_time(s, "synced_at")
    return streams


def basket_keys(lines: pd.DataFrame, products: pd.DataFrame, key: str = "vendor_id") -> pd.DataFrame:
    """One row per (order, distinct line key) with the basket value behind it.

    Columns `order_id`, `key`, `value` (Σ quantity × unit price of the order's lines with that
    key), sorted by order then key; lines whose product (or its key) is unknown are left out.
    """
    by_sku = products.drop_duplicates("sku").set_index("sku")[key]
    k = lines["sku"].map(by_sku)
    frame = pd.DataFrame({
        "order_id": lines["order_id"].to_numpy(),
        key: k.to_numpy(),
        "value": lines["quantity"].to_numpy(np.float64) * lines["unit_price"].to_numpy(np.float64),
    })
    frame = frame[k.notna().to_numpy()]
    frame[key] = frame[key].astype(str)
    return frame.groupby(["order_id", key], sort=True)["value"].sum().reset_index()


def per_line(stream: pd.DataFrame, pairs: pd.DataFrame, key: str = "vendor_id") -> pd.DataFrame:
    """A per-order stream filed once per distinct line key of its order (grain="line" aggregations)."""
    return stream.drop(columns=[key], errors="ignore").merge(pairs[["order_id", key]], on="order_id", how="inner")


def _lookup(table: pd.DataFrame, key: str, values: pd.Series, cols: dict[str, str]) -> dict[str, pd.Series]:
    """Columns of a keyed master table for each value (null where the key is unknown)."""
    t = table.drop_duplicates(key).set_index(key)
    idx = t.index.get_indexer(values)
    found = idx >= 0
    out: dict[str, pd.Series] = {}
    for src, dst in cols.items():
        s = t[src].iloc[np.where(found, idx, 0)] if len(t) else pd.Series(np.nan, index=range(len(values)))
        s = s.reset_index(drop=True)
        out[dst] = s.where(pd.Series(found), None if s.dtype == object else np.nan) if not found.all() else s
    return out


def order_events(ds: Dataset, orders: pd.DataFrame) -> pd.DataFrame:
    """Orders enriched with their customer and node master data (one row per order, same order)."""
    ev = orders.reset_index(drop=True).copy()
    cust = _lookup(ds["customers"], "customer_id", ev["customer_id"], {
        "created_at": "customer_created_at", "loyalty_tier": "loyalty_tier", "is_guest": "is_guest",
        "home_region": "home_region"})
    node = _lookup(ds["nodes"], "node_id", ev["fulfillment_node_id"], {
        "node_type": "node_type", "region": "node_region", "lat": "node_lat", "lon": "node_lon",
        "daily_capacity": "node_capacity"})
    for name, col in {**cust, **node}.items():
        ev[name] = col.to_numpy() if not isinstance(col.dtype, pd.DatetimeTZDtype) else col.array
    ev["ship_area"] = ship_areas(ev["shipping_postcode"])
    ev["_all"] = ALL
    return ev


def return_events(ds: Dataset, returns: pd.DataFrame) -> pd.DataFrame:
    """Returns enriched with their product, order line, order, customer and delivery time."""
    ev = returns.reset_index(drop=True).copy()
    cols = _lookup(ds["products"], "sku", ev["sku"], {
        "category": "category", "list_price": "list_price", "vendor_id": "vendor_id",
        "is_returnable": "is_returnable"})
    cols |= _lookup(ds["orders"], "order_id", ev["order_id"], {"created_at": "order_created_at"})
    cols |= _lookup(ds["customers"], "customer_id", ev["customer_id"], {
        "created_at": "customer_created_at", "loyalty_tier": "loyalty_tier", "is_guest": "is_guest"})
    fo = ds["fulfillment_outcomes"]
    cols |= _lookup(fo, "order_id", ev["order_id"], {"delivered_at": "delivered_at"})
    lines = ds["order_lines"].sort_values(["order_id", "line_no"]).drop_duplicates(["order_id", "sku"])
    lines = lines.assign(_k=lines["order_id"] + "\x1f" + lines["sku"])
    cols |= _lookup(lines, "_k", ev["order_id"] + "\x1f" + ev["sku"], {"unit_price": "unit_price"})
    for name, col in cols.items():
        ev[name] = col.to_numpy() if not isinstance(col.dtype, pd.DatetimeTZDtype) else col.array
    for name in ("order_created_at", "customer_created_at", "delivered_at"):
        ev[name] = pd.to_datetime(ev[name], utc=True)
    ev["_all"] = ALL
    return ev
