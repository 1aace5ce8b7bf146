"""ONE order's or return's features in plain Python, from the online state: the fast path.

`order_values(online, order, lines)` and `return_values(online, ret)` give exactly the
values of `build_order_features` / `build_return_features` for one event, as of its own
time, without building frames (a one-row DataFrame costs milliseconds; this costs well
under one). They read the state `features.online.OnlineFeatures` keeps (`online.store`,
`online.present`), through the indexes the declarations name (`Aggregation.index_name`,
`Aggregation.lower_ns`), asking a store that offers `windows` / `get_records` (batched
reads) for everything in one round trip. The row and basket features are computed here
(per record, as `features.orders` does per column); the derived features are the catalog's
own formulas, run by the program `features.derived.compiled` generates for one event; text
features are `features.text.text_values` itself. The parity tests
(tests/features/test_online_parity.py, tests/features/test_scalar.py and the API replay in
tests/api/test_parity.py) hold them equal to the offline frames.

Inputs are plain records (`dict`s with ISO timestamps, datetimes or `pd.Timestamp`s, None
for null). Values: floats (NaN where unknown) for numeric features, str or None for
categories.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from features.declarations import Aggregation
from features.derived import compiled
from features.frame import haversine_km
from features.order_catalog import BASKET_CATEGORIES, HIGH_RESALE_CATEGORIES, ORDER_FEATURES
from features.returns import CONDITION_RANK, FAULT_REASONS, RETURN_FEATURES, WEARABLE_CATEGORIES
from features.streams import ALL, ship_area
from features.text import text_values

__all__ = ["ns", "is_null", "windows", "order_values", "return_values", "order_row", "basket", "return_row",
           "vendor_weights"]

NAN = float("nan")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SUB_MICRO = re.compile(r"\.\d{7}")
_CATS = {c: i for i, c in enumerate(BASKET_CATEGORIES)}
_RESALE = [i for i, c in enumerate(BASKET_CATEGORIES) if c in HIGH_RESALE_CATEGORIES]
_ORDER_EVENT_AGGS = ORDER_FEATURES.event_aggregations()
_ORDER_LINE_AGGS = ORDER_FEATURES.line_aggregations()
_ORDER_DERIVED = compiled(ORDER_FEATURES)
_RETURN_DERIVED = compiled(RETURN_FEATURES)
_ORDER_NAMES = ORDER_FEATURES.names
_RETURN_NAMES = RETURN_FEATURES.names


class _Online(Protocol):
    """What the fast path reads: `features.online.OnlineFeatures` (its store and present tables)."""

    store: Any
    present: frozenset[str]


def is_null(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, str | bool | int):
        return False
    return bool(pd.isna(v))  # type: ignore[call-overload]


def ns(value: object) -> int | None:
    """Nanoseconds since the epoch (UTC) of a timestamp, datetime or ISO string; None for null."""
    if is_null(value):
        return None
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            raise ValueError(f"timestamp without time zone: {value!r}; expected UTC ('…Z') or an offset")
        return int(value.value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"timestamp without time zone: {value!r}; expected UTC ('…Z') or an offset")
        return ((value - _EPOCH) // _US) * 1000
    if isinstance(value, str) and not _SUB_MICRO.search(value):  # datetime would drop nanosecond digits
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None:
            return ns(parsed)
    t = pd.Timestamp(value)  # type: ignore[arg-type]
    if t.tzinfo is None:
        raise ValueError(f"timestamp without time zone: {value!r}; expected UTC ('…Z') or an offset")
    return int(t.value)


def _f(v: object) -> float:
    if is_null(v):
        return NAN
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return NAN


def _s(v: object) -> str | None:
    return None if is_null(v) else str(v)


def _bool01(v: object) -> float:
    return NAN if is_null(v) else (1.0 if bool(v) else 0.0)


def _differs(a: object, b: object) -> float:
    return NAN if is_null(a) or is_null(b) else float(str(a) != str(b))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else NAN  # den NaN compares False → NaN, as safe_ratio


def _nz(v: float) -> float:
    return 0.0 if v != v else v


# --------------------------------------------------------------------------- state reads


def _ask(store: Any, asks: Sequence[tuple[str, tuple[str, ...], int | None, int]]) -> list[Any]:
    many = getattr(store, "windows", None)
    return many(asks) if many is not None else [store.window(*q) for q in asks]


def _value(a: Aggregation, w: Any) -> float:
    if a.agg == "last_time":
        return NAN if w.last_ns is None else float(w.last_ns)
    if a.agg == "sum":
        return float(w.total)
    return float(w.count)


def windows(online: _Online, aggs: Sequence[Aggregation], ev: Mapping[str, Any], t_ns: int) -> dict[str, float]:
    """The raw event-grain aggregations for one event at `t_ns` (a null key gives NaN)."""
    out: dict[str, float] = {}
    asks: list[tuple[str, tuple[str, ...], int | None, int]] = []
    asked: list[Aggregation] = []
    for a in aggs:
        key = []
        for c in a.key:
            v = ev.get(c)
            if is_null(v):
                break
            key.append(str(v))
        else:
            asks.append((a.index_name, tuple(key), a.lower_ns(t_ns), t_ns))
            asked.append(a)
            continue
        out[a.name] = NAN
    for a, w in zip(asked, _ask(online.store, asks), strict=True):
        out[a.name] = _value(a, w)
    return out


def _records(online: _Online, table: str, keys: Iterable[object]) -> dict[str, dict[str, Any]]:
    wanted = [str(k) for k in dict.fromkeys(keys) if not is_null(k)]
    store = online.store
    many = getattr(store, "get_records", None)
    found = many(table, wanted) if many is not None else [store.get_record(table, k) for k in wanted]
    return {k: r for k, r in zip(wanted, found, strict=True) if r}


# -------------------------------------------------------------------------------- orders


def order_row(o: Mapping[str, Any], customer: Mapping[str, Any] | None,
              node: Mapping[str, Any] | None) -> dict[str, Any]:
    """As `features.orders.order_row_features` for one order and its customer and node records."""
    t_ns = ns(o["created_at"])
    assert t_ns is not None
    customer = customer or {}
    node = node or {}
    created = ns(customer.get("created_at"))
    age = NAN if created is None or created > t_ns else float(t_ns - created)  # as offline: no future accounts
    promised = ns(o.get("promised_at"))
    hours = t_ns // 3_600_000_000_000
    promise = NAN if promised is None else (promised - t_ns) / 3600e9
    distance = float(haversine_km(_f(node.get("lat")), _f(node.get("lon")), _f(o.get("ship_lat")), _f(o.get("ship_lon"))))
    return {
        "order_total": _f(o.get("order_total")),
        "item_count": _f(o.get("item_count")),
        "promo_used": 0.0 if is_null(o.get("promo_code")) else 1.0,
        "hour_utc": float(hours % 24),
        "weekday": float((hours // 24 + 3) % 7),  # 1970-01-01 was a Thursday
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
        "promise_window_hours": promise,
        "distance_km": distance,
        "promise_weekday": NAN if promised is None else float((promised // 3_600_000_000_000 // 24 + 3) % 7),
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
        list_value += _nz(q * _f(p.get("list_price")))
        weight += _nz(q * _f(p.get("weight_kg")))
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


def vendor_weights(lines: Sequence[Mapping[str, Any]], products: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The basket value behind each distinct vendor of an order, sorted by vendor (`streams.basket_keys`)."""
    weights: dict[str, float] = {}
    for line in lines:
        v = (products.get(str(line["sku"])) or {}).get("vendor_id")
        if not is_null(v):
            weights[str(v)] = weights.get(str(v), 0.0) + float(line["quantity"]) * float(line["unit_price"])
    return {v: weights[v] for v in sorted(weights)}


def order_values(online: _Online, order: Mapping[str, Any], lines: Sequence[Mapping[str, Any]],
                 customer: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`ORDER_FEATURES` for one order as of its `created_at` (name → value, in declared order).

    `customer`: the event's own customer record, used when given (else the stored one).
    The reference for the batch path too: `features.batch` computes the same values as
    columns, held bit-equal to this function by tests/features/test_batch.py.
    """
    t_ns = ns(order["created_at"])
    assert t_ns is not None
    node_id = order.get("fulfillment_node_id")
    products = _records(online, "products", [line.get("sku") for line in lines])
    node = _records(online, "nodes", [node_id]).get(str(node_id), {}) if not is_null(node_id) else {}
    if customer is None:
        cid = order.get("customer_id")
        customer = _records(online, "customers", [cid]).get(str(cid), {}) if not is_null(cid) else {}
    v = order_row(order, customer, node) | basket(lines, products)

    ev = {**order, "node_region": node.get("region"), "ship_area": ship_area(order.get("shipping_postcode")),
          "_all": ALL}
    weights = vendor_weights(lines, products)
    asks = [(a.index_name, (vendor,), a.lower_ns(t_ns), t_ns) for a in _ORDER_LINE_AGGS for vendor in weights]
    agg = windows(online, _ORDER_EVENT_AGGS, ev, t_ns)
    pairs: list[dict[str, float]] = [{} for _ in weights]
    got = iter(_ask(online.store, asks))
    for a in _ORDER_LINE_AGGS:
        for p in pairs:
            p[a.name] = _value(a, next(got))

    v |= agg
    v["_t"] = float(t_ns)
    v["_capacity"] = _f(node.get("daily_capacity"))
    v["n_vendors"] = float(len(weights))
    _ORDER_DERIVED.one(v, pairs, list(weights.values()), online.present)
    return {name: v[name] for name in _ORDER_NAMES}


# ------------------------------------------------------------------------------- returns


def _not_negative(days: float) -> float:
    """An account created after the event was not known at it."""
    return NAN if days < 0 else days


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
    paid = NAN
    sku = r.get("sku")
    for line in sorted(order.get("_lines") or [], key=lambda x: x.get("line_no", 0)):
        if str(line.get("sku")) == str(sku):
            paid = _f(line.get("unit_price"))
            break
    qty = _f(r.get("quantity"))
    refund = _f(r.get("refund_amount"))
    text = text_values(None if is_null(r.get("reason_text")) else str(r.get("reason_text")))
    cond = _s(r.get("reported_condition"))
    rank = CONDITION_RANK.get(cond, NAN) if cond is not None else NAN
    category = _s(product.get("category"))
    fault = (_s(r.get("reason_code")) in FAULT_REASONS or rank == CONDITION_RANK["damaged"]
             or text["text_defective"] > 0 or text["text_damaged"] > 0)
    return {
        "days_since_delivery": delivery if delivery > 0 else NAN,
        "days_since_order": since(order.get("created_at")),
        "reason_code": _s(r.get("reason_code")),
        "reported_condition": cond,
        "condition_rank": rank,
        "is_wearable": NAN if category is None else (1.0 if category in WEARABLE_CATEGORIES else 0.0),
        "fault_claimed": 1.0 if fault else 0.0,
        "return_channel": _s(r.get("return_channel")),
        "refund_amount": refund,
        "quantity": qty,
        "unit_price_paid": paid,
        "list_price": _f(product.get("list_price")),
        "category": _s(product.get("category")),
        "vendor_id": _s(product.get("vendor_id")),
        "is_returnable": _bool01(product.get("is_returnable")),
        "account_age_days": _not_negative(since(customer.get("created_at"))),
        "loyalty_tier": _s(customer.get("loyalty_tier")),
        "is_guest": _bool01(customer.get("is_guest")),
        **text,
    }


def return_values(online: _Online, ret: Mapping[str, Any]) -> dict[str, Any]:
    """`RETURN_FEATURES` for one return request as of its `requested_at` (name → value)."""
    t_ns = ns(ret["requested_at"])
    assert t_ns is not None
    sku, oid, cid = ret.get("sku"), ret.get("order_id"), ret.get("customer_id")
    product = _records(online, "products", [sku]).get(str(sku), {}) if not is_null(sku) else {}
    order = _records(online, "orders", [oid]).get(str(oid)) if not is_null(oid) else None
    fo = _records(online, "fulfillment", [oid]).get(str(oid)) if not is_null(oid) else None
    cust = _records(online, "customers", [cid]).get(str(cid), {}) if not is_null(cid) else {}
    v = return_row(ret, product, order, cust, (fo or {}).get("delivered_at"))
    ev = {**ret, "vendor_id": product.get("vendor_id"), "_all": ALL}
    agg = windows(online, RETURN_FEATURES.aggregations, ev, t_ns)
    v |= agg
    _RETURN_DERIVED.one(v, present=online.present)
    return {name: v[name] for name in _RETURN_NAMES}


