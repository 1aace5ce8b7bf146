"""Order features for the delay and fraud models: basket, customer history, velocity,
linked-entity risk and fulfillment load — each as of the order's own `created_at`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.declarations import UTC_DAY, Aggregation, Feature, FeatureSet
from features.frame import as_utc, haversine_km, ns_to_days, safe_ratio, to_feature_frame
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
    "derive_order_features",
    "vendor_features",
    "VENDOR_RISKY_FACTOR",
    "RECENT_LATE_RATES",
]

H1, H24, D3, D7, D28, D30 = (pd.Timedelta(hours=1), pd.Timedelta(hours=24), pd.Timedelta(days=3),
                            pd.Timedelta(days=7), pd.Timedelta(days=28), pd.Timedelta(days=30))

# Goods that resell quickly for cash: the classic targets of card fraud and resellers
# (phones, laptops, consoles, headphones). Gift cards and luxury goods would belong
# here too if a retailer's catalogue carried them as categories.
HIGH_RESALE_CATEGORIES: tuple[str, ...] = ("electronics",)
BASKET_CATEGORIES: tuple[str, ...] = TABLES["products"].column("category").categories

# Smoothing of late rates towards the global rate known so far (pseudo-counts).
LATE_PRIOR_WEIGHT = 20.0
GLOBAL_PRIOR_LATE, GLOBAL_PRIOR_N = 1.0, 10.0
# A vendor is "risky" for an order when its smoothed late rate is above this multiple of the
# retailer-wide late rate known over the same window.
VENDOR_RISKY_FACTOR = 1.5
_VENDOR_WINDOWS = {"7d": D7, "28d": D28, "all": None}
# Late rates of where the order goes and of what hits many orders at once, as (label, window,
# window of the retailer-wide prior it is smoothed towards): the node's last 3 days (a seller
# or store in trouble), the delivery area's last 3 and 28 days (a strike, a storm, a depot),
# the route node → area (28 days and all history), and the retailer's own last 3 days.
RECENT_LATE_RATES: tuple[tuple[str, str, str], ...] = (
    ("node", "3d", "3d"), ("ship_area", "3d", "3d"), ("ship_area", "28d", "28d"),
    ("route", "28d", "28d"), ("route", "all", "all"), ("all", "3d", "all"),
)
_RECENT_KEYS: dict[str, tuple[str, ...]] = {"node": ("fulfillment_node_id",), "ship_area": ("ship_area",),
                                            "route": ("fulfillment_node_id", "ship_area"), "all": ("_all",)}
_WINDOW_OF: dict[str, pd.Timedelta | None] = {"3d": D3, "7d": D7, "28d": D28, "all": None}
# Amounts a customer or device spent before the order (card-data velocity: 1, 7 and 30 days).
_SPEND_WINDOWS = {"24h": H24, "7d": D7, "30d": D30}

_VELOCITY_KEYS = {
    "device": "device_id",
    "email": "email_hash",
    "cust": "customer_id",
    "postcode": "shipping_postcode",
    "card_country": "card_country",
}
_WINDOWS = {"1h": H1, "24h": H24, "7d": D7}


def _aggregations() -> tuple[Aggregation, ...]:
    a: list[Aggregation] = []
    for label, key in _VELOCITY_KEYS.items():
        for wl, w in _WINDOWS.items():
            a.append(Aggregation(name=f"{label}_orders_{wl}", stream="orders", key=(key,), window=w))
    a += [
        Aggregation(name="cust_prior_orders", stream="orders", key=("customer_id",), window=None),
        Aggregation(name="cust_prior_spend", stream="orders", key=("customer_id",), window=None, agg="sum",
                    value="order_total"),
        Aggregation(name="_cust_last_order", stream="orders", key=("customer_id",), window=None,
                    agg="last_time"),
        Aggregation(name="cust_prior_returns", stream="returns", key=("customer_id",), window=None),
        Aggregation(name="cust_prior_chargebacks", stream="fraud", key=("customer_id",), window=None),
        Aggregation(name="cust_prior_abuse", stream="inspections", key=("customer_id",), window=None,
                    agg="sum", value="abuse"),
        Aggregation(name="cust_prior_late_known", stream="delivery", key=("customer_id",), window=None,
                    agg="sum", value="is_late"),
        Aggregation(name="device_distinct_customers", stream="orders", key=("device_id",), window=None,
                    agg="distinct", value="customer_id"),
        Aggregation(name="email_distinct_customers", stream="orders", key=("email_hash",), window=None,
                    agg="distinct", value="customer_id"),
        Aggregation(name="_cust_postcode_prior_orders", stream="orders",
                    key=("customer_id", "shipping_postcode"), window=None),
    ]
    for label, key in {"device": "device_id", "email": "email_hash", "postcode": "shipping_postcode",
                       "node": "fulfillment_node_id"}.items():
        a.append(Aggregation(name=f"{label}_fraud_known_30d", stream="fraud", key=(key,), window=D30))
        a.append(Aggregation(name=f"{label}_fraud_known_all", stream="fraud", key=(key,), window=None))
    for label, key in {"cust": "customer_id", "device": "device_id"}.items():
        a.append(Aggregation(name=f"{label}_orders_30d", stream="orders", key=(key,), window=D30))
        for wl, w in _SPEND_WINDOWS.items():
            a.append(Aggregation(name=f"{label}_spend_{wl}", stream="orders", key=(key,), window=w, agg="sum",
                                 value="order_total"))
    a += [
        Aggregation(name="_device_prior_orders", stream="orders", key=("device_id",), window=None),
        Aggregation(name="_all_orders_24h", stream="orders", key=("_all",), window=H24),
        Aggregation(name="_all_orders_28d", stream="orders", key=("_all",), window=D28),
        Aggregation(name="node_orders_7d", stream="orders", key=("fulfillment_node_id",), window=D7),
    ]
    a += [
        Aggregation(name="_node_orders_today", stream="orders", key=("fulfillment_node_id",), window=UTC_DAY),
        Aggregation(name="node_orders_24h", stream="orders", key=("fulfillment_node_id",), window=H24),
        Aggregation(name="_node_last_sync", stream="syncs", key=("fulfillment_node_id",), window=None,
                    agg="last_time"),
    ]
    late_keys: dict[str, tuple[str, ...]] = {"node": ("fulfillment_node_id",), "carrier": ("carrier",),
                                              "carrier_region": ("carrier", "node_region"), "all": ("_all",)}
    for label, keys in late_keys.items():
        windows = {"7d": D7} if label == "carrier_region" else {"7d": D7, "28d": D28}
        if label in ("node", "carrier"):  # long-run reliability: steadier where volume is thin
            windows["all"] = None
        for wl, w in windows.items():
            a.append(Aggregation(name=f"_{label}_late_{wl}", stream="delivery", key=keys, window=w, agg="sum",
                                 value="is_late"))
            # (all_known_* is an intermediate too; its name is kept for the service's fast path)
            a.append(Aggregation(name=f"{label}_known_{wl}", stream="delivery", key=keys, window=w))
    for label, wl, _ in RECENT_LATE_RATES:
        keys, w = _RECENT_KEYS[label], _WINDOW_OF[wl]
        a.append(Aggregation(name=f"_{label}_late_{wl}", stream="delivery", key=keys, window=w, agg="sum",
                             value="is_late"))
        a.append(Aggregation(name=f"{label}_known_{wl}", stream="delivery", key=keys, window=w))
    # supplier reliability: delivery outcomes of earlier orders holding each vendor's goods
    a += [
        Aggregation(name="_all_late_all", stream="delivery", key=("_all",), window=None, agg="sum", value="is_late"),
        Aggregation(name="all_known_all", stream="delivery", key=("_all",), window=None),
    ]
    for wl, w in _VENDOR_WINDOWS.items():
        a.append(Aggregation(name=f"_vendor_late_{wl}", stream="delivery", key=("vendor_id",), window=w,
                             agg="sum", value="is_late", grain="line"))
        a.append(Aggregation(name=f"_vendor_known_{wl}", stream="delivery", key=("vendor_id",), window=w,
                             grain="line"))
    return tuple(a)


def _f(name: str, dtype: str, description: str, reason: str) -> Feature:
    return Feature(name=name, dtype=dtype, description=description, reason_template=reason)  # type: ignore[arg-type]


def _features() -> tuple[Feature, ...]:
    f = [
        # order and basket
        _f("order_total", "float", "order value after discounts", "order value {value:.2f}"),
        _f("item_count", "int", "units in the order", "{value:.0f} items in the basket"),
        _f("n_lines", "int", "order lines", "{value:.0f} order lines"),
        _f("max_unit_price", "float", "highest unit price paid in the basket", "most expensive item {value:.2f}"),
        _f("basket_weight_kg", "float", "total weight of the basket", "basket weighs {value:.1f} kg"),
        _f("discount_depth", "float", "1 − paid / list value of the lines",
           "discount of {value:.0%} off list price"),
        *[
            _f(f"share_{c}", "float", f"share of line value in {c}", f"{{value:.0%}} of the basket is {c}")
            for c in BASKET_CATEGORIES
        ],
        _f("share_other", "float", "share of line value in categories outside the contract list",
           "{value:.0%} of the basket in other categories"),
        _f("dominant_category", "category", "category holding the most line value", "mostly {value}"),
        _f("high_resale_share", "float", f"share of line value in high-resale goods {HIGH_RESALE_CATEGORIES}",
           "{value:.0%} of the basket is easy-to-resell goods"),
        _f("promo_used", "bool", "a promo code was used", "promo code used"),
        _f("hour_utc", "int", "hour of day (UTC) the order was captured", "ordered at {value:.0f}:00 UTC"),
        _f("weekday", "int", "day of week (UTC), Monday = 0", "ordered on weekday {value:.0f}"),
        _f("channel", "category", "sales channel", "ordered via {value}"),
        _f("payment_method", "category", "payment method", "paid by {value}"),
        _f("service_level", "category", "delivery service level", "{value} delivery"),
        _f("fulfillment_type", "category", "how the order is fulfilled", "fulfilled as {value}"),
        _f("card_ip_country_mismatch", "bool", "card country differs from IP country (null if either unknown)",
           "card country differs from IP country"),
        _f("card_country_missing", "bool", "no card country", "card country unknown"),
        _f("billing_shipping_mismatch", "bool", "billing postcode differs from shipping postcode",
           "billing and shipping postcodes differ"),
        _f("account_age_minutes", "float", "minutes from account creation to the order",
           "account created {value:.0f} minutes before the order"),
        _f("account_age_days", "float", "customer tenure in days at the order",
           "customer for {value:.0f} days"),
        _f("is_guest", "bool", "guest checkout identity", "guest checkout"),
        _f("loyalty_tier", "category", "loyalty tier", "loyalty tier {value}"),
        _f("node_outside_home_region", "bool", "fulfilling node is outside the customer's home region",
           "shipped from outside the customer's home region"),
        _f("promise_window_hours", "float", "hours from order to promised delivery",
           "promised within {value:.0f} hours"),
        _f("distance_km", "float", "great-circle km from node to delivery location (null for pickup)",
           "ships {value:.0f} km"),
        _f("promise_km_per_hour", "float", "distance_km / promise_window_hours: how fast the parcel must travel "
           "to keep the promise (null for pickup or without locations)",
           "must cover {value:.1f} km per hour of the promise"),
        _f("promise_weekday", "int", "day of week (UTC) of the promised delivery, Monday = 0",
           "promised for weekday {value:.0f}"),
        _f("node_type", "category", "type of the fulfilling node", "fulfilled by a {value}"),
        _f("carrier", "category", "carrier (null for pickup)", "carrier {value}"),
        # customer history
        _f("cust_prior_orders", "int", "customer's orders before this one", "{value:.0f} earlier orders"),
        _f("cust_prior_spend", "float", "customer's spend before this order", "spent {value:.2f} before"),
        _f("days_since_prev_order", "float", "days since the customer's previous order (null if first)",
           "previous order {value:.1f} days ago"),
        _f("cust_prior_returns", "int", "customer's return requests before this order",
           "{value:.0f} earlier returns"),
        _f("cust_return_rate", "float", "prior returns / prior orders (null with no prior orders)",
           "returns {value:.0%} of orders"),
        _f("cust_prior_chargebacks", "int", "customer's orders reported as fraud before this order",
           "{value:.0f} earlier chargebacks"),
        _f("cust_prior_abuse", "int", "customer's returns confirmed as abuse before this order",
           "{value:.0f} confirmed return abuses"),
        _f("cust_prior_late_known", "int", "customer's orders known late before this order",
           "{value:.0f} earlier late deliveries"),
        # velocity
        *[
            _f(f"{label}_orders_{wl}", "int", f"orders with the same {key} in the trailing {wl}",
               f"{{value:.0f}} orders from the same {key.replace('_', ' ')} in {wl}")
            for label, key in _VELOCITY_KEYS.items()
            for wl in _WINDOWS
        ],
        _f("device_distinct_customers", "int", "distinct customers seen on this device before",
           "device used by {value:.0f} customers"),
        _f("email_distinct_customers", "int", "distinct customers seen with this e-mail before",
           "e-mail used by {value:.0f} customers"),
        _f("new_shipping_address", "bool", "first order of this customer to this postcode",
           "first delivery to this address"),
        *[
            _f(f"{label}_orders_30d", "int", f"orders with the same {key} in the trailing 30d",
               f"{{value:.0f}} orders from the same {key.replace('_', ' ')} in 30d")
            for label, key in {"cust": "customer_id", "device": "device_id"}.items()
        ],
        *[
            _f(f"{label}_spend_{wl}", "float", f"order value with the same {key} in the trailing {wl}",
               f"{{value:.2f}} spent from the same {key.replace('_', ' ')} in {wl}")
            for label, key in {"cust": "customer_id", "device": "device_id"}.items()
            for wl in _SPEND_WINDOWS
        ],
        _f("amount_vs_cust_mean_30d", "float",
           "order value / the customer's mean order value over the trailing 30 d (null without orders then)",
           "{value:.1f}× the customer's usual order value (30 days)"),
        _f("amount_vs_cust_mean_all", "float",
           "order value / the customer's mean order value before (null without prior orders)",
           "{value:.1f}× the customer's usual order value"),
        # linked-entity risk
        *[
            _f(f"{label}_fraud_known_{wl}", "int",
               f"fraud reports known on the same {what} ({'trailing 30 d of reports' if wl == '30d' else 'all time'})",
               f"{{value:.0f}} known fraud cases on this {what}" + (" in 30 days" if wl == "30d" else ""))
            for label, what in {"device": "device", "email": "e-mail", "postcode": "shipping postcode",
                                "node": "fulfilment node"}.items()
            for wl in ("30d", "all")
        ],
        _f("device_fraud_rate_all", "float",
           "fraud reports known on the device / its earlier orders (labels count once reported: their delay "
           "is built in; null without earlier orders)",
           "{value:.0%} of the device's earlier orders reported as fraud"),
        # fulfillment
        _f("node_load_today", "float", "node's orders so far today (UTC) / daily capacity",
           "node at {value:.0%} of daily capacity so far today"),
        _f("node_orders_24h", "int", "node's orders in the trailing 24 h", "{value:.0f} node orders in 24 h"),
        _f("node_load_24h", "float", "node's orders in the trailing 24 h / daily capacity",
           "node at {value:.0%} of capacity over 24 h"),
        _f("inventory_sync_age_hours", "float", "hours since the node last synced its stock (null if unknown)",
           "stock last synced {value:.1f} h ago"),
        _f("node_orders_7d", "int", "node's orders in the trailing 7 d", "{value:.0f} node orders in 7 days"),
        _f("node_load_7d", "float", "node's orders in the trailing 7 d / 7 days of capacity (its backlog pressure)",
           "node at {value:.0%} of capacity over 7 days"),
        _f("order_volume_vs_28d", "float",
           "the retailer's orders in the trailing 24 h / its daily mean over the trailing 28 d (peaks: "
           "season, holidays, campaigns)",
           "order volume at {value:.1f}× the 4-week norm"),
    ]
    for label, what in {"node": "node", "carrier": "carrier", "carrier_region": "carrier in the node's region"}.items():
        for wl in ("7d",) if label == "carrier_region" else ("7d", "28d", "all"):
            span = "over all history" if wl == "all" else f"in the trailing {wl}"
            f.append(_f(f"{label}_late_rate_{wl}", "float",
                        f"late share of the {what}'s outcomes known {span}, smoothed",
                        f"{what} late on {{value:.0%}} of orders ({'all time' if wl == 'all' else wl})"))
            f.append(_f(f"{label}_known_{wl}", "int", f"{what}'s delivery outcomes known {span}",
                        f"{{value:.0f}} known outcomes for the {what} ({'all time' if wl == 'all' else wl})"))
    what_of = {"node": "node", "ship_area": "delivery area (postcode prefix)",
               "route": "route from this node to the delivery area", "all": "retailer"}
    for label, wl, _ in RECENT_LATE_RATES:
        span = "over all history" if wl == "all" else f"in the trailing {wl}"
        what = what_of[label]
        f.append(_f(f"{label}_late_rate_{wl}", "float", f"late share of the {what}'s outcomes known {span}, smoothed",
                    f"{what} late on {{value:.0%}} of orders ({'all time' if wl == 'all' else wl})"))
        if label != "all":
            f.append(_f(f"{label}_known_{wl}", "int", f"{what}'s delivery outcomes known {span}",
                        f"{{value:.0f}} known outcomes for the {what} ({'all time' if wl == 'all' else wl})"))
    f.append(_f("n_vendors", "int", "distinct vendors of the basket's products", "{value:.0f} vendors in the basket"))
    for wl, span in {"7d": "trailing 7 d", "28d": "trailing 28 d", "all": "all time"}.items():
        f.append(_f(f"vendor_late_rate_max_{wl}", "float",
                    f"highest smoothed late rate ({span}) among the basket's vendors: outcomes of earlier orders "
                    "holding the vendor's goods",
                    f"a supplier in the basket was late on {{value:.0%}} of orders ({wl})"))
        f.append(_f(f"vendor_late_rate_mean_{wl}", "float",
                    f"basket-value-weighted mean of the vendors' smoothed late rates ({span})",
                    f"the basket's suppliers were late on {{value:.0%}} of orders ({wl})"))
    f.append(_f("vendor_risky_share_28d", "float",
                f"share of basket value from vendors late more than {VENDOR_RISKY_FACTOR}× as often as the "
                "retailer overall (trailing 28 d)",
                "{value:.0%} of the basket from unreliable suppliers"))
    return tuple(f)


ORDER_FEATURES = FeatureSet(
    name="order_features",
    entity="order_id",
    time_column="created_at",
    features=_features(),
    aggregations=_aggregations(),
)

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
        "promise_km_per_hour": safe_ratio(distance, promise_hours),
        "promise_weekday": promised.dt.dayofweek.to_numpy(np.float64, na_value=np.nan),
        "node_type": ev["node_type"].to_numpy(object),
        "carrier": ev["carrier"].to_numpy(object),
    }


def _smoothed_rate(late: np.ndarray, known: np.ndarray, prior: np.ndarray) -> np.ndarray:
    return (np.nan_to_num(late) + LATE_PRIOR_WEIGHT * prior) / (np.nan_to_num(known) + LATE_PRIOR_WEIGHT)


def derive_order_features(
    t_ns: np.ndarray, capacity: np.ndarray, agg: dict[str, np.ndarray], present: frozenset[str] | set[str],
    order_total: np.ndarray,
) -> dict[str, np.ndarray]:
    """History features from the raw aggregations (`features.scalar.order_values` and
    `features.batch` compute the same for one event and for a batch).

    `t_ns`: order times (int64 ns); `capacity`: the fulfilling node's daily capacity (float);
    `order_total`: each order's own value.
    """
    t_ns = np.asarray(t_ns).astype(np.float64)
    out = {k: v for k, v in agg.items() if not k.startswith("_") and not k.startswith("all_")}
    out["days_since_prev_order"] = ns_to_days(t_ns - agg["_cust_last_order"])
    out["cust_return_rate"] = safe_ratio(agg["cust_prior_returns"], agg["cust_prior_orders"])
    out["new_shipping_address"] = _flag(agg["_cust_postcode_prior_orders"] == 0,
                                        np.isnan(agg["_cust_postcode_prior_orders"]))
    out["node_load_today"] = safe_ratio(agg["_node_orders_today"], capacity)
    out["node_load_24h"] = safe_ratio(agg["node_orders_24h"], capacity)
    out["inventory_sync_age_hours"] = (t_ns - agg["_node_last_sync"]) / 3600e9
    out["node_load_7d"] = safe_ratio(agg["node_orders_7d"], capacity * 7.0)
    out["order_volume_vs_28d"] = safe_ratio(agg["_all_orders_24h"] * 28.0, agg["_all_orders_28d"])
    out["amount_vs_cust_mean_30d"] = safe_ratio(order_total, safe_ratio(agg["cust_spend_30d"], agg["cust_orders_30d"]))
    out["amount_vs_cust_mean_all"] = safe_ratio(order_total, safe_ratio(agg["cust_prior_spend"],
                                                                         agg["cust_prior_orders"]))
    out["device_fraud_rate_all"] = safe_ratio(agg["device_fraud_known_all"], agg["_device_prior_orders"])
    has_delivery = "fulfillment_outcomes" in present

    def late_rate(label: str, wl: str, pw: str) -> np.ndarray:
        """`label`'s late rate over window `wl`, smoothed towards the retailer's rate over `pw`."""
        prior = (agg[f"_all_late_{pw}"] + GLOBAL_PRIOR_LATE) / (agg[f"all_known_{pw}"] + GLOBAL_PRIOR_N)
        known = agg[f"{label}_known_{wl}"]
        rate = _smoothed_rate(agg[f"_{label}_late_{wl}"], known, prior)
        rate[np.isnan(known)] = np.nan
        if not has_delivery:
            rate[:] = np.nan
        return rate

    for wl in ("7d", "28d", "all"):
        for label in ("node", "carrier", "carrier_region"):
            if label != "carrier_region" or wl == "7d":
                out[f"{label}_late_rate_{wl}"] = late_rate(label, wl, wl)
    for label, wl, pw in RECENT_LATE_RATES:
        out[f"{label}_late_rate_{wl}"] = late_rate(label, wl, pw)
    return out


def vendor_features(
    pair_event: np.ndarray, pair_value: np.ndarray, line_agg: dict[str, np.ndarray], agg: dict[str, np.ndarray],
    n: int, present: frozenset[str] | set[str],
) -> dict[str, np.ndarray]:
    """Basket vendor reliability from per-(order, vendor) aggregations (rows: `pair_event`, sorted).

    `pair_value`: the basket value behind each pair; `agg`: the order-grain aggregations (for
    the retailer-wide prior). A vendor's rate is smoothed towards that prior, as node rates are.
    `features.scalar.vendor_values` is the same computation for one order.
    """
    ev = np.asarray(pair_event, dtype=np.int64)
    w = np.asarray(pair_value, dtype=np.float64)
    out: dict[str, np.ndarray] = {"n_vendors": np.bincount(ev, minlength=n).astype(np.float64)}
    has_delivery = "fulfillment_outcomes" in present
    for wl in _VENDOR_WINDOWS:
        prior = (agg[f"_all_late_{wl}"] + GLOBAL_PRIOR_LATE) / (agg[f"all_known_{wl}"] + GLOBAL_PRIOR_N)
        rate = _smoothed_rate(line_agg[f"_vendor_late_{wl}"], line_agg[f"_vendor_known_{wl}"], prior[ev])
        top = np.full(n, -np.inf)
        np.maximum.at(top, ev, rate)
        top[np.isinf(top)] = np.nan
        mean = safe_ratio(np.bincount(ev, weights=w * rate, minlength=n), np.bincount(ev, weights=w, minlength=n))
        if not has_delivery:
            top[:], mean[:] = np.nan, np.nan
        out[f"vendor_late_rate_max_{wl}"] = top
        out[f"vendor_late_rate_mean_{wl}"] = mean
        if wl == "28d":
            risky = (rate > VENDOR_RISKY_FACTOR * prior[ev]).astype(np.float64)
            share = safe_ratio(np.bincount(ev, weights=w * risky, minlength=n),
                               np.bincount(ev, weights=w, minlength=n))
            if not has_delivery:
                share[:] = np.nan
            out["vendor_risky_share_28d"] = share
    return out


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
    cols |= derive_order_features(t_ns, _f64(ev["node_capacity"]), agg, ds.present, _f64(ev["order_total"]))
    cols |= vendor_features(pair_event, pairs["value"].to_numpy(np.float64), line_agg, agg, len(ev), ds.present)
    return to_feature_frame(ORDER_FEATURES, ev["order_id"], ev["created_at"], cols, _CONTRACT_CATEGORIES)
