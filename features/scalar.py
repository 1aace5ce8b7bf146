"""Row-level features of ONE order or return in plain Python: the online fast path.

These mirror `order_row_features` / `basket_features` (features.orders) and
`return_row_features` (features.returns) value for value, without building frames
(a one-row DataFrame costs milliseconds; this costs tens of microseconds). The parity
tests compare them with the offline frames on random datasets, so the two cannot drift.

Inputs are plain records (`dict`s with ISO timestamps or `pd.Timestamp`s, None for null).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.frame import haversine_km
from features.orders import BASKET_CATEGORIES, HIGH_RESALE_CATEGORIES
from features.text import KEYWORD_FAMILIES

__all__ = ["ns", "is_null", "order_row", "basket", "return_row"]

NAN = float("nan")
_TEXT = {k: re.compile(p) for k, p in KEYWORD_FAMILIES.items()}
_CATS = {c: i for i, c in enumerate(BASKET_CATEGORIES)}
_RESALE = [i for i, c in enumerate(BASKET_CATEGORIES) if c in HIGH_RESALE_CATEGORIES]


def is_null(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, str | bool | int):
        return False
    return bool(pd.isna(v))  # type: ignore[call-overload]


def ns(value: object) -> int | None:
    """Nanoseconds since the epoch (UTC) of a timestamp or ISO string; None for null."""
    if is_null(value):
        return None
    t = pd.Timestamp(value)  # type: ignore[arg-type]
    if t.tzinfo is None:
        raise ValueError(f"timestamp without time zone: {value!r}; expected UTC ('…Z') or an offset")
    return int(t.value)


def _f(v: object) -> float:
    return NAN if is_null(v) else float(v)  # type: ignore[arg-type]


def _s(v: object) -> str | None:
    return None if is_null(v) else str(v)


def _bool01(v: object) -> float:
    return NAN if is_null(v) else (1.0 if bool(v) else 0.0)


def _differs(a: object, b: object) -> float:
    return NAN if is_null(a) or is_null(b) else float(a != b)


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else NAN  # den NaN compares False → NaN, as safe_ratio


def order_row(o: Mapping[str, Any], customer: Mapping[str, Any] | None,
              node: Mapping[str, Any] | None) -> dict[str, Any]:
    """As `features.orders.order_row_features` for one order and its customer and node records."""
    t_ns = ns(o["created_at"])
    assert t_ns is not None
    t = pd.Timestamp(t_ns, tz="UTC")
    customer = customer or {}
    node = node or {}
    created = ns(customer.get("created_at"))
    age = NAN if created is None else float(t_ns - created)
    promised = ns(o.get("promised_at"))
    return {
        "order_total": _f(o.get("order_total")),
        "item_count": _f(o.get("item_count")),
        "promo_used": 0.0 if is_null(o.get("promo_code")) else 1.0,
        "hour_utc": float(t.hour),
        "weekday": float(t.dayofweek),
        "channel": _s(o.get("channel")),
        "payment_method": _s(o.get("payment_method")),
        "service_level": _s(o.get("service_level")),
        "fulfillment_type": _s(o.get("fulfillment_type")),
        "card_ip_country_mismatch": _differs(o.get("card_country"), o.get("ip_country")),
        "card_country_missing": 1.0 if is_null(o.get("card_country")) else 0.0,
        "billing_shipping_mismatch": _differs(o.get("billing_postcode"), o.get("shipping_postcode")),
        "account_age_minutes": age / 60e9,
        "account_age_days": age / 86_400e9,
        "is_guest": _bool01(customer.get("is_guest")),
        "loyalty_tier": _s(customer.get("loyalty_tier")),
        "node_outside_home_region": _differs(node.get("region"), customer.get("home_region")),
        "promise_window_hours": NAN if promised is None else (promised - t_ns) / 3600e9,
        "distance_km": float(haversine_km(np.float64(_f(node.get("lat"))), np.float64(_f(node.get("lon"))),
                                          np.float64(_f(o.get("ship_lat"))), np.float64(_f(o.get("ship_lon"))))),
        "node_type": _s(node.get("node_type")),
        "carrier": _s(o.get("carrier")),
    }


def basket(lines: Sequence[Mapping[str, Any]], products: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """As `features.orders.basket_features` for one order's lines (`products`: sku → record)."""
    k = len(BASKET_CATEGORIES)
    by_cat = [0.0] * (k + 1)
    total = list_value = weight = 0.0
    max_price = -math.inf
    for line in lines:
        q, price = float(line["quantity"]), float(line["unit_price"])
        value = q * price
        p = products.get(str(line["sku"])) or {}
        total += value
        max_price = max(max_price, price)
        lv, w = q * _f(p.get("list_price")), q * _f(p.get("weight_kg"))
        list_value += 0.0 if math.isnan(lv) else lv
        weight += 0.0 if math.isnan(w) else w
        by_cat[_CATS.get(_s(p.get("category")) or "", k)] += value
    out: dict[str, Any] = {
        "n_lines": float(len(lines)),
        "max_unit_price": max_price if lines else NAN,
        "basket_weight_kg": weight,
        "discount_depth": 1.0 - _ratio(total, list_value),
    }
    for c, i in _CATS.items():
        out[f"share_{c}"] = _ratio(by_cat[i], total)
    out["share_other"] = _ratio(by_cat[k], total)
    best = max(range(k + 1), key=lambda i: (by_cat[i], -i))
    out["dominant_category"] = ([*BASKET_CATEGORIES, "other"][best]) if total > 0 else None
    out["high_resale_share"] = _ratio(sum(by_cat[i] for i in _RESALE), total)
    return out


def return_row(r: Mapping[str, Any], product: Mapping[str, Any] | None, order: Mapping[str, Any] | None,
               customer: Mapping[str, Any] | None, delivered_at: object) -> dict[str, Any]:
    """As `features.returns.return_row_features` for one return and its related records."""
    t_ns = ns(r["requested_at"])
    assert t_ns is not None
    t = float(t_ns)
    product, order, customer = product or {}, order or {}, customer or {}

    def since(value: object) -> float:
        v = ns(value)
        return NAN if v is None else (t - float(v)) / 86_400e9

    delivery = since(delivered_at)
    if not delivery > 0:
        delivery = NAN
    paid = NAN
    sku = r.get("sku")
    for line in sorted(order.get("_lines") or [], key=lambda x: x["line_no"]):
        if line["sku"] == sku:
            paid = float(line["unit_price"])
            break
    qty = _f(r.get("quantity"))
    refund = _f(r.get("refund_amount"))
    text = "" if is_null(r.get("reason_text")) else str(r.get("reason_text")).lower()
    out: dict[str, Any] = {
        "days_since_delivery": delivery,
        "days_since_order": since(order.get("created_at")),
        "reason_code": _s(r.get("reason_code")),
        "reported_condition": _s(r.get("reported_condition")),
        "return_channel": _s(r.get("return_channel")),
        "refund_amount": refund,
        "quantity": qty,
        "unit_price_paid": paid,
        "list_price": _f(product.get("list_price")),
        "refund_to_paid_ratio": _ratio(refund, paid * qty),
        "category": _s(product.get("category")),
        "vendor_id": _s(product.get("vendor_id")),
        "is_returnable": _bool01(product.get("is_returnable")),
        "account_age_days": since(customer.get("created_at")),
        "loyalty_tier": _s(customer.get("loyalty_tier")),
        "is_guest": _bool01(customer.get("is_guest")),
        "reason_text_len": float(len(text)),
        "reason_text_words": float(len(text.split())),
    }
    for family, pattern in _TEXT.items():
        out[f"text_{family}"] = 1.0 if pattern.search(text) else 0.0
    return out
