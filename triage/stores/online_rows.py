"""One event's features in plain Python, from the online state: the service's fast path.

`features.online.OnlineFeatures.order_features` / `return_features` build one-row pandas
frames and call the offline pipeline's own functions: exact, but ~15 ms an event. The
API needs well under a millisecond, so this module computes the same values with
scalar arithmetic over the same state (the same indexes, windows and records that
`OnlineFeatures.observe_*` and `bootstrap` write, read through `_agg_index`/`_lower`).
The formulas mirror `features.orders` / `features.returns` line by line (the same float
operations in the same order); the parity tests (`tests/stores/test_online_stores.py`
and the API replay in `tests/api/test_parity.py`) hold them equal to
`build_order_features` / `build_return_features`. A change of a feature there must be
mirrored here — those tests fail until it is.

Values: floats (NaN where unknown) for numeric features, str or None for categories.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from features.declarations import Aggregation
from features.frame import haversine_km
from features.online import OnlineFeatures, Window, _agg_index, _lower
from features.orders import (
    BASKET_CATEGORIES,
    GLOBAL_PRIOR_LATE,
    GLOBAL_PRIOR_N,
    HIGH_RESALE_CATEGORIES,
    LATE_PRIOR_WEIGHT,
    ORDER_FEATURES,
)
from features.returns import RETURN_FEATURES, RTV_PRIOR_SHARE, RTV_PRIOR_WEIGHT
from features.streams import ALL
from features.text import KEYWORD_FAMILIES

__all__ = ["order_values", "return_values", "to_ns", "windows"]

NAN = float("nan")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_TEXT = {k: re.compile(p) for k, p in KEYWORD_FAMILIES.items()}
_CAT_INDEX = {c: i for i, c in enumerate(BASKET_CATEGORIES)}
_RESALE = [i for i, c in enumerate(BASKET_CATEGORIES) if c in HIGH_RESALE_CATEGORIES]


def null(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return v != v
    return v is pd.NaT or (isinstance(v, np.floating) and bool(np.isnan(v)))


def to_ns(v: object) -> int | None:
    """Nanoseconds since the epoch (UTC) of a datetime, pandas Timestamp or ISO text."""
    if null(v):
        return None
    if isinstance(v, pd.Timestamp):
        if v.tzinfo is None:
            raise ValueError(f"timestamp without time zone: {v!r}; expected UTC")
        return int(v.value)
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError(f"timestamp without time zone: {v!r}; expected UTC")
        return ((v - _EPOCH) // _US) * 1000
    if isinstance(v, str):
        try:
            return to_ns(datetime.fromisoformat(v))
        except ValueError:
            return to_ns(pd.Timestamp(v))
    raise TypeError(f"expected a timestamp, got {type(v).__name__}")


def _f(v: object) -> float:
    if null(v):
        return NAN
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return NAN


def _ratio(num: float, den: float) -> float:
    """features.frame.safe_ratio for scalars: null where den is 0 or null."""
    if not den > 0:
        return NAN
    return num / den


def _flag(cond: bool, unknown: bool = False) -> float:
    return NAN if unknown else (1.0 if cond else 0.0)


def _bool01(v: object) -> float:
    if v is True or (isinstance(v, np.bool_) and bool(v)):
        return 1.0
    if v is False or (isinstance(v, np.bool_) and not bool(v)):
        return 0.0
    return NAN


def _str(v: object) -> str | None:
    return None if null(v) else str(v)


def _nz(v: float) -> float:
    return 0.0 if v != v else v


def windows(online: OnlineFeatures, aggs: Sequence[Aggregation], ev: Mapping[str, Any], t_ns: int) -> dict[str, float]:
    """The raw aggregations for one event, as `OnlineFeatures._aggregate` computes them,
    asked of the store in one call when it can (`windows`)."""
    out: dict[str, float] = {}
    asks: list[tuple[str, tuple[str, ...], int | None, int]] = []
    names: list[Aggregation] = []
    for a in aggs:
        key: list[str] = []
        for c in a.key:
            v = ev.get(c)
            if null(v):
                break
            key.append(str(v))
        else:
            asks.append((_agg_index(a), tuple(key), _lower(a, t_ns), t_ns))
            names.append(a)
            continue
        out[a.name] = NAN
    store = online.store
    many = getattr(store, "windows", None)
    got: list[Window] = many(asks) if many is not None else [store.window(*q) for q in asks]
    for a, w in zip(names, got, strict=True):
        if a.agg == "last_time":
            out[a.name] = NAN if w.last_ns is None else float(w.last_ns)
        elif a.agg == "sum":
            out[a.name] = w.total
        else:
            out[a.name] = float(w.count)
    return out


def _records(online: OnlineFeatures, table: str, keys: Iterable[object]) -> dict[str, dict[str, Any]]:
    wanted = [str(k) for k in dict.fromkeys(keys) if not null(k)]
    store = online.store
    many = getattr(store, "get_records", None)
    found = many(table, wanted) if many is not None else [store.get_record(table, k) for k in wanted]
    return {k: r for k, r in zip(wanted, found, strict=True) if r}


# ---------------------------------------------------------------------------------- orders


def _basket(lines: Sequence[Mapping[str, Any]], products: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    n_cat = len(BASKET_CATEGORIES)
    shares = [0.0] * (n_cat + 1)
    total = list_value = weight = 0.0
    max_price = -math.inf
    for line in lines:
        qty, price = float(line["quantity"]), float(line["unit_price"])
        value = qty * price
        p = products.get(str(line.get("sku")))
        cat = p.get("category") if p else None
        lp = _f(p.get("list_price")) if p else NAN
        wt = _f(p.get("weight_kg")) if p else NAN
        total += value
        list_value += _nz(qty * lp)
        weight += _nz(qty * wt)
        max_price = max(max_price, price)
        shares[_CAT_INDEX.get(cat, n_cat) if isinstance(cat, str) else n_cat] += value
    out: dict[str, Any] = {
        "n_lines": float(len(lines)),
        "max_unit_price": max_price if lines else NAN,
        "basket_weight_kg": weight,
        "discount_depth": 1.0 - _ratio(total, list_value),
    }
    for j, c in enumerate(BASKET_CATEGORIES):
        out[f"share_{c}"] = _ratio(shares[j], total)
    out["share_other"] = _ratio(shares[-1], total)
    best = 0
    for j in range(1, n_cat + 1):
        if shares[j] > shares[best]:
            best = j
    out["dominant_category"] = ([*BASKET_CATEGORIES, "other"][best]) if total > 0 else None
    out["high_resale_share"] = _ratio(sum(shares[j] for j in _RESALE), total)
    return out


def order_values(
    online: OnlineFeatures,
    order: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    customer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`ORDER_FEATURES` for one order as of its `created_at` (name → value).

    `customer`: the event's own customer record, used when given (else the stored one).
    """
    t_ns = to_ns(order["created_at"])
    assert t_ns is not None
    skus = [line.get("sku") for line in lines]
    node_id = order.get("fulfillment_node_id")
    products = _records(online, "products", skus)
    node = _records(online, "nodes", [node_id]).get(str(node_id), {}) if not null(node_id) else {}
    if customer is None:
        cid = order.get("customer_id")
        customer = _records(online, "customers", [cid]).get(str(cid), {}) if not null(cid) else {}
    cust = customer or {}

    card, ip = _str(order.get("card_country")), _str(order.get("ip_country"))
    bill, ship = _str(order.get("billing_postcode")), _str(order.get("shipping_postcode"))
    c_ns = to_ns(cust.get("created_at"))
    age = NAN if c_ns is None else float(t_ns - c_ns)
    region, home = _str(node.get("region")), _str(cust.get("home_region"))
    promised = to_ns(order.get("promised_at"))
    distance = float(haversine_km(_f(node.get("lat")), _f(node.get("lon")), _f(order.get("ship_lat")),
                                  _f(order.get("ship_lon"))))
    hours_ns = t_ns // 3_600_000_000_000
    v: dict[str, Any] = {
        "order_total": _f(order.get("order_total")),
        "item_count": _f(order.get("item_count")),
        "promo_used": _flag(not null(order.get("promo_code"))),
        "hour_utc": float(hours_ns % 24),
        "weekday": float((hours_ns // 24 + 3) % 7),  # 1970-01-01 was a Thursday
        "channel": _str(order.get("channel")),
        "payment_method": _str(order.get("payment_method")),
        "service_level": _str(order.get("service_level")),
        "fulfillment_type": _str(order.get("fulfillment_type")),
        "card_ip_country_mismatch": _flag(card != ip, card is None or ip is None),
        "card_country_missing": _flag(card is None),
        "billing_shipping_mismatch": _flag(bill != ship, bill is None or ship is None),
        "account_age_minutes": age / 60e9,
        "account_age_days": age / 86_400e9,
        "is_guest": _bool01(cust.get("is_guest")),
        "loyalty_tier": _str(cust.get("loyalty_tier")),
        "node_outside_home_region": _flag(region != home, region is None or home is None),
        "promise_window_hours": NAN if promised is None else (promised - t_ns) / 3600e9,
        "distance_km": distance,
        "node_type": _str(node.get("node_type")),
        "carrier": _str(order.get("carrier")),
    }
    v |= _basket(lines, products)

    ev = {**order, "node_region": region, "_all": ALL}
    agg = windows(online, ORDER_FEATURES.aggregations, ev, t_ns)
    v |= {k: x for k, x in agg.items() if not k.startswith("_")}
    t = float(t_ns)
    v["days_since_prev_order"] = (t - agg["_cust_last_order"]) / 86_400e9
    v["cust_return_rate"] = _ratio(agg["cust_prior_returns"], agg["cust_prior_orders"])
    pc = agg["_cust_postcode_prior_orders"]
    v["new_shipping_address"] = _flag(pc == 0, pc != pc)
    capacity = _f(node.get("daily_capacity"))
    v["node_load_today"] = _ratio(agg["_node_orders_today"], capacity)
    v["node_load_24h"] = _ratio(agg["node_orders_24h"], capacity)
    v["inventory_sync_age_hours"] = (t - agg["_node_last_sync"]) / 3600e9
    has_delivery = "fulfillment_outcomes" in online.present
    for wl in ("7d", "28d"):
        prior = (agg[f"_all_late_{wl}"] + GLOBAL_PRIOR_LATE) / (agg[f"all_known_{wl}"] + GLOBAL_PRIOR_N)
        for label in ("node", "carrier", "carrier_region"):
            if label == "carrier_region" and wl == "28d":
                continue
            known = agg[f"{label}_known_{wl}"]
            rate = (_nz(agg[f"_{label}_late_{wl}"]) + LATE_PRIOR_WEIGHT * prior) / (_nz(known) + LATE_PRIOR_WEIGHT)
            v[f"{label}_late_rate_{wl}"] = NAN if (known != known or not has_delivery) else rate
    return {name: v[name] for name in ORDER_FEATURES.names}


# --------------------------------------------------------------------------------- returns


def _text(text: object) -> dict[str, float]:
    t = "" if null(text) else str(text).lower()
    out = {"reason_text_len": float(len(t)), "reason_text_words": float(len(t.split()))}
    for family, pattern in _TEXT.items():
        out[f"text_{family}"] = 1.0 if pattern.search(t) else 0.0
    return out


def _unit_price(order: Mapping[str, Any] | None, sku: object) -> float:
    if not order:
        return NAN
    for line in sorted(order.get("_lines", []), key=lambda x: x.get("line_no", 0)):
        if str(line.get("sku")) == str(sku):
            return _f(line.get("unit_price"))
    return NAN


def return_values(online: OnlineFeatures, ret: Mapping[str, Any]) -> dict[str, Any]:
    """`RETURN_FEATURES` for one return request as of its `requested_at` (name → value)."""
    t_ns = to_ns(ret["requested_at"])
    assert t_ns is not None
    t = float(t_ns)
    sku, oid, cid = ret.get("sku"), ret.get("order_id"), ret.get("customer_id")
    product = _records(online, "products", [sku]).get(str(sku), {}) if not null(sku) else {}
    order = _records(online, "orders", [oid]).get(str(oid)) if not null(oid) else None
    fo = _records(online, "fulfillment", [oid]).get(str(oid)) if not null(oid) else None
    cust = _records(online, "customers", [cid]).get(str(cid), {}) if not null(cid) else {}

    def since(value: object) -> float:
        ns = to_ns(value)
        return NAN if ns is None else (t - float(ns)) / 86_400e9

    delivery = since(fo.get("delivered_at")) if fo else NAN
    paid = _unit_price(order, sku)
    qty = _f(ret.get("quantity"))
    refund = _f(ret.get("refund_amount"))
    v: dict[str, Any] = {
        "days_since_delivery": delivery if delivery > 0 else NAN,
        "days_since_order": since(order.get("created_at")) if order else NAN,
        "reason_code": _str(ret.get("reason_code")),
        "reported_condition": _str(ret.get("reported_condition")),
        "return_channel": _str(ret.get("return_channel")),
        "refund_amount": refund,
        "quantity": qty,
        "unit_price_paid": paid,
        "list_price": _f(product.get("list_price")),
        "refund_to_paid_ratio": _ratio(refund, paid * qty),
        "category": _str(product.get("category")),
        "vendor_id": _str(product.get("vendor_id")),
        "is_returnable": _bool01(product.get("is_returnable")),
        "account_age_days": since(cust.get("created_at")),
        "loyalty_tier": _str(cust.get("loyalty_tier")),
        "is_guest": _bool01(cust.get("is_guest")),
        **_text(ret.get("reason_text")),
    }
    ev = {**ret, "vendor_id": product.get("vendor_id"), "_all": ALL}
    agg = windows(online, RETURN_FEATURES.aggregations, ev, t_ns)
    v |= {k: x for k, x in agg.items() if not k.startswith("_")}
    v["cust_return_rate"] = _ratio(agg["cust_prior_returns"], agg["cust_prior_orders"])
    v["cust_abuse_rate"] = _ratio(agg["cust_prior_abuse"], agg["cust_prior_inspected"])
    f = agg["_order_fraud_known"]
    v["order_fraud_known"] = NAN if f != f else (1.0 if f > 0 else 0.0)
    inspected = agg["vendor_prior_inspected"]
    share = (_nz(agg["_vendor_prior_rtv"]) + RTV_PRIOR_WEIGHT * RTV_PRIOR_SHARE) / (_nz(inspected) + RTV_PRIOR_WEIGHT)
    v["vendor_rtv_share"] = NAN if inspected != inspected else share
    return {name: v[name] for name in RETURN_FEATURES.names}
