"""The offline order features: one row per order, each as of its own `created_at` — the
row, basket and history features `ORDER_FEATURES` (`features.order_catalog`) declares, in columns.

The row and basket features are computed here from the frames; the aggregations by
`features.windows`; the derived features by the catalog's formulas, compiled to columns
(`features.derived.compiled`, the same code the online batch runs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.derived import compiled
from features.formulas import GLOBAL_PRIOR_LATE, GLOBAL_PRIOR_N, LATE_PRIOR_WEIGHT, VENDOR_RISKY_FACTOR
from features.frame import as_utc, haversine_km, safe_ratio, to_feature_frame
from features.order_catalog import (
    BASKET_CATEGORIES,
    HIGH_RESALE_CATEGORIES,
    ORDER_FEATURES,
    RECENT_LATE_RATES,
)
from features.streams import basket_keys, build_streams, order_events, per_line
from features.windows import Aggregate, compute_aggregations, to_ns
from triage.contract import Dataset
from triage.schema import TABLES

__all__ = [
    "ORDER_FEATURES",
    "HIGH_RESALE_CATEGORIES",
    "BASKET_CATEGORIES",
    "build_order_features",
    "order_row_features",
    "basket_features",
    "VENDOR_RISKY_FACTOR",
    "RECENT_LATE_RATES",
    "LATE_PRIOR_WEIGHT",
    "GLOBAL_PRIOR_LATE",
    "GLOBAL_PRIOR_N",
]

_CONTRACT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "channel": TABLES["orders"].column("channel").categories,
    "payment_method": TABLES["orders"].column("payment_method").categories,
    "service_level": TABLES["orders"].column("service_level").categories,
    "fulfillment_type": TABLES["orders"].column("fulfillment_type").categories,
    "loyalty_tier": TABLES["customers"].column("loyalty_tier").categories,
    "node_type": TABLES["nodes"].column("node_type").categories,
    "dominant_category": BASKET_CATEGORIES,
}


def _f64(s: pd.Series | np.ndarray) -> np.ndarray:
    return pd.to_numeric(pd.Series(np.asarray(s, dtype=object)), errors="coerce").to_numpy(np.float64) \
        if np.asarray(s).dtype == object else np.asarray(s, dtype=np.float64)


def _flag(mask: pd.Series | np.ndarray, unknown: pd.Series | np.ndarray | None = None) -> np.ndarray:
    out = np.asarray(mask, dtype=np.float64)
    if unknown is not None:
        out[np.asarray(unknown, dtype=bool)] = np.nan
    return out


def basket_features(ev: pd.DataFrame, lines: pd.DataFrame, products: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-order basket features from its lines and the product master (rows follow `ev`)."""
    n = len(ev)
    order_index = pd.Index(ev["order_id"])
    li = order_index.get_indexer(lines["order_id"])
    keep = li >= 0
    lines = lines[keep]
    li = li[keep]
    prods = products.drop_duplicates("sku").set_index("sku")
    pi = prods.index.get_indexer(lines["sku"])
    found = pi >= 0
    qty = lines["quantity"].to_numpy(np.float64)
    price = lines["unit_price"].to_numpy(np.float64)
    value = qty * price
    cat = np.where(found, prods["category"].to_numpy(object)[np.where(found, pi, 0)], None) if len(prods) \
        else np.full(len(lines), None, dtype=object)
    list_price = np.where(found, prods["list_price"].to_numpy(np.float64)[np.where(found, pi, 0)], np.nan) \
        if len(prods) else np.full(len(lines), np.nan)
    weight = np.where(found, prods["weight_kg"].to_numpy(np.float64)[np.where(found, pi, 0)], np.nan) \
        if len(prods) else np.full(len(lines), np.nan)

    total = np.bincount(li, weights=value, minlength=n)
    n_lines = np.bincount(li, minlength=n).astype(np.float64)
    max_price = np.full(n, -np.inf)
    np.maximum.at(max_price, li, price)
    max_price[n_lines == 0] = np.nan
    list_value = np.bincount(li, weights=np.nan_to_num(qty * list_price), minlength=n)
    out: dict[str, np.ndarray] = {
        "n_lines": n_lines,
        "max_unit_price": max_price,
        "basket_weight_kg": np.bincount(li, weights=np.nan_to_num(qty * weight), minlength=n),
        "discount_depth": 1.0 - safe_ratio(total, list_value),
    }
    shares = np.zeros((n, len(BASKET_CATEGORIES) + 1))
    cat_idx = pd.Index(BASKET_CATEGORIES).get_indexer(pd.Series(cat, dtype=object))
    cat_idx = np.where(cat_idx < 0, len(BASKET_CATEGORIES), cat_idx)
    np.add.at(shares, (li, cat_idx), value)
    for j, c in enumerate(BASKET_CATEGORIES):
        out[f"share_{c}"] = safe_ratio(shares[:, j], total)
    out["share_other"] = safe_ratio(shares[:, -1], total)
    names = np.array([*BASKET_CATEGORIES, "other"], dtype=object)
    dominant = names[np.argmax(shares, axis=1)]
    dominant[~(total > 0)] = None
    out["dominant_category"] = dominant
    resale = np.isin(np.asarray(BASKET_CATEGORIES), HIGH_RESALE_CATEGORIES)
    out["high_resale_share"] = safe_ratio(shares[:, :-1][:, resale].sum(axis=1), total)
    return out


def order_row_features(ev: pd.DataFrame) -> dict[str, np.ndarray]:
    """Features from the order's own row and its customer and node master data."""
    t = ev["created_at"]
    t_ns = to_ns(t)
    card, ip = ev["card_country"], ev["ip_country"]
    cust_created = pd.to_datetime(ev["customer_created_at"], utc=True)
    age_ns = (t_ns - to_ns(cust_created)).astype(np.float64)
    age_ns[age_ns < 0] = np.nan  # account made after the order (guest who signed up later): not known then
    age_ns[cust_created.isna().to_numpy()] = np.nan
    home = ev["home_region"]
    promised = pd.to_datetime(ev["promised_at"], utc=True)
    promise_hours = (to_ns(promised) - t_ns) / 3600e9
    promise_hours[promised.isna().to_numpy()] = np.nan
    distance = haversine_km(_f64(ev["node_lat"]), _f64(ev["node_lon"]), _f64(ev["ship_lat"]), _f64(ev["ship_lon"]))
    return {
        "order_total": _f64(ev["order_total"]),
        "item_count": _f64(ev["item_count"]),
        "promo_used": _flag(ev["promo_code"].notna()),
        "hour_utc": t.dt.hour.to_numpy(np.float64),
        "weekday": t.dt.dayofweek.to_numpy(np.float64),
        "channel": ev["channel"].to_numpy(object),
        "payment_method": ev["payment_method"].to_numpy(object),
        "service_level": ev["service_level"].to_numpy(object),
        "fulfillment_type": ev["fulfillment_type"].to_numpy(object),
        "card_ip_country_mismatch": _flag(card.ne(ip), card.isna() | ip.isna()),
        "card_country_missing": _flag(card.isna()),
        "billing_shipping_mismatch": _flag(ev["billing_postcode"].ne(ev["shipping_postcode"]),
                                           ev["billing_postcode"].isna() | ev["shipping_postcode"].isna()),
        "account_age_minutes": age_ns / 60e9,
        "account_age_days": age_ns / 86_400e9,
        "is_guest": _f64(ev["is_guest"].map({True: 1.0, False: 0.0})),
        "loyalty_tier": ev["loyalty_tier"].to_numpy(object),
        "node_outside_home_region": _flag(ev["node_region"].ne(home), ev["node_region"].isna() | home.isna()),
        "promise_window_hours": promise_hours,
        "distance_km": distance,
        "promise_weekday": promised.dt.dayofweek.to_numpy(np.float64, na_value=np.nan),
        "node_type": ev["node_type"].to_numpy(object),
        "carrier": ev["carrier"].to_numpy(object),
    }


def _lines_for(ds: Dataset, order_ids: pd.Series) -> pd.DataFrame:
    lines = ds["order_lines"]
    if len(order_ids) == len(ds["orders"]):
        return lines
    return lines[lines["order_id"].isin(order_ids)]


def build_order_features(
    ds: Dataset, *, since: pd.Timestamp | None = None, aggregate: Aggregate = compute_aggregations
) -> pd.DataFrame:
    """One row per order with `created_at ≥ since` (all orders if None), point-in-time correct.

    Columns: `order_id`, `created_at`, then `ORDER_FEATURES.names` in order. Each order
    sees other orders/returns strictly before its `created_at` and outcomes whose
    `known_at` is strictly before it; all history in `ds` is used, whatever `since`.
    `aggregate` evaluates the declared aggregations (`features.partitioned` passes one that
    reads what a cluster computed per key partition with `compute_aggregations`).
    """
    orders = ds["orders"]
    if since is not None:
        orders = orders[orders["created_at"] >= as_utc(since)]
    ev = order_events(ds, orders)
    needed = {a.stream for a in ORDER_FEATURES.aggregations}
    streams = build_streams(ds, needed)
    t_ns = to_ns(ev["created_at"])
    agg = aggregate(ORDER_FEATURES.event_aggregations(), ev, t_ns, streams)
    lines = _lines_for(ds, ev["order_id"])
    # per (order, vendor): the same aggregations over each stream filed once per vendor of its order
    all_pairs = basket_keys(ds["order_lines"], ds["products"])
    pairs = basket_keys(lines, ds["products"]) if len(lines) < len(ds["order_lines"]) else all_pairs
    pair_event = pd.Index(ev["order_id"]).get_indexer(pairs["order_id"])
    pairs, pair_event = pairs[pair_event >= 0], pair_event[pair_event >= 0]
    line_aggs = ORDER_FEATURES.line_aggregations()
    line_streams = {name: per_line(streams[name], all_pairs) for name in {a.stream for a in line_aggs}}
    line_agg = aggregate(line_aggs, pairs, t_ns[pair_event], line_streams)
    cols: dict[str, object] = {}
    cols |= order_row_features(ev)
    cols |= basket_features(ev, lines, ds["products"])
    cols |= agg
    cols["_t"] = t_ns.astype(np.float64)
    cols["_capacity"] = _f64(ev["node_capacity"])
    cols["n_vendors"] = np.bincount(pair_event, minlength=len(ev)).astype(np.float64)
    compiled(ORDER_FEATURES).columns(cols, len(ev), owner=pair_event, pairs=line_agg,
                                    weights=pairs["value"].to_numpy(np.float64), present=ds.present)
    return to_feature_frame(ORDER_FEATURES, ev["order_id"], ev["created_at"], cols, _CONTRACT_CATEGORIES)
