"""Return features for routing (disposition) and abuse: the request, its item and order,
the customer's and vendor's history, and signals from the customer's own words — each as
of the return's own `requested_at`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.declarations import Aggregation, Feature, FeatureSet
from features.derived import Derived, compiled, ratio
from features.formulas import RTV_PRIOR_SHARE, RTV_PRIOR_WEIGHT, is_positive, rtv_share, share_of_paid
from features.frame import as_utc, ns_to_days, to_feature_frame
from features.streams import build_streams, return_events
from features.text import HASH_EXAMPLES, KEYWORD_FAMILIES, hash_feature_names, text_features
from features.windows import Aggregate, compute_aggregations, to_ns
from triage.contract import Dataset
from triage.schema import TABLES

__all__ = ["RETURN_FEATURES", "build_return_features", "return_row_features", "CONDITION_RANK",
           "WEARABLE_CATEGORIES", "FAULT_REASONS", "RTV_PRIOR_WEIGHT", "RTV_PRIOR_SHARE"]

D30 = pd.Timedelta(days=30)

# How far from new the customer says the item is (an order trees can split on with few rows).
CONDITION_RANK: dict[str, float] = {"unopened": 0.0, "opened": 1.0, "used": 2.0, "damaged": 3.0}
# Goods that can be worn once and sent back (wardrobing), from the contract's category list.
WEARABLE_CATEGORIES: tuple[str, ...] = ("apparel", "footwear")
# Reason codes that claim a fault of the goods or of the transport, not of the customer.
FAULT_REASONS: tuple[str, ...] = ("defective", "damaged_in_transit")



def _f(name: str, dtype: str, description: str, reason: str) -> Feature:
    return Feature(name=name, dtype=dtype, description=description, reason_template=reason)  # type: ignore[arg-type]


_TEXT_REASONS = {
    "worn": "customer's words suggest it was worn or used for an occasion",
    "defective": "customer describes a fault",
    "damaged": "customer describes physical damage",
    "unopened": "customer says it is unopened or unused",
    "fit": "customer describes a fit or size problem",
    "not_as_described": "customer says it differs from the description",
    "changed_mind": "customer changed their mind",
}


def _hash_reason(i: int) -> str:
    words = HASH_EXAMPLES.get(i)
    if not words:
        return f"return text term group {i} ({{value:.0f}}×)"
    return "return text mentions words like " + ", ".join(f"'{w}'" for w in words) + " ({value:.0f}×)"


CUSTOMER, VENDOR = ("customer_id",), ("vendor_id",)

# Every return feature, declared once, in column order (see `features.order_catalog` for the kinds).
_DECLARATIONS: list[Feature | Aggregation | Derived] = [
    _f("days_since_delivery", "float", "days from delivery (known before the request) to the request",
       "returned {value:.0f} days after delivery"),
    _f("days_since_order", "float", "days from the order to the request", "returned {value:.0f} days after ordering"),
    _f("reason_code", "category", "the customer's reason code", "reason: {value}"),
    _f("reported_condition", "category", "condition as stated by the customer", "reported as {value}"),
    _f("condition_rank", "int", "stated condition as a rank: unopened 0, opened 1, used 2, damaged 3 (null if "
       "unknown)", "stated condition rank {value:.0f} of 3"),
    _f("is_wearable", "bool", "the item is wearable (apparel, footwear): can be worn once and returned",
       "a wearable item"),
    _f("fault_claimed", "bool", "the reason code, the stated condition or the customer's words claim a fault or "
       "damage", "the customer reports a fault or damage"),
    _f("return_channel", "category", "how the item comes back", "returned via {value}"),
    _f("refund_amount", "float", "requested refund", "refund of {value:.2f} requested"),
    _f("quantity", "int", "units returned", "{value:.0f} units returned"),
    _f("unit_price_paid", "float", "unit price paid on the order line (null if no matching line)",
       "paid {value:.2f} per unit"),
    _f("list_price", "float", "product list price", "list price {value:.2f}"),
    Derived(name="refund_to_paid_ratio", inputs=("refund_amount", "unit_price_paid", "quantity"),
            formula=share_of_paid, description="refund / (unit price paid × quantity)",
            reason="refund is {value:.0%} of what was paid"),
    _f("category", "category", "product category", "a {value} item"),
    _f("vendor_id", "category", "the product's vendor", "vendor {value}"),
    _f("is_returnable", "bool", "product is returnable", "item is returnable"),
    Aggregation(name="vendor_prior_inspected", stream="inspections", key=VENDOR, window=None,
                description="inspected returns of this vendor's products known before",
                reason="{value:.0f} earlier inspected returns for this vendor"),
    Aggregation(name="_vendor_prior_rtv", stream="inspections", key=VENDOR, window=None, agg="sum", value="is_rtv"),
    Derived(name="vendor_rtv_share", inputs=("_vendor_prior_rtv", "vendor_prior_inspected"), formula=rtv_share,
            description="smoothed share of the vendor's inspected returns sent back to the vendor",
            reason="vendor takes back {value:.0%} of returns"),
    Aggregation(name="sku_prior_returns", stream="returns", key=("sku",), window=None,
                description="earlier return requests for this SKU", reason="{value:.0f} earlier returns of this item"),
    _f("account_age_days", "float", "customer tenure in days at the request", "customer for {value:.0f} days"),
    _f("loyalty_tier", "category", "loyalty tier", "loyalty tier {value}"),
    _f("is_guest", "bool", "guest checkout identity", "guest checkout"),
    Aggregation(name="cust_prior_returns", stream="returns", key=CUSTOMER, window=None,
                description="customer's return requests before this one", reason="{value:.0f} earlier returns"),
    Aggregation(name="cust_returns_30d", stream="returns", key=CUSTOMER, window=D30,
                description="customer's return requests in the trailing 30 days", reason="{value:.0f} returns in 30 days"),
    Aggregation(name="cust_prior_orders", stream="orders", key=CUSTOMER, window=None,
                description="customer's orders before the request", reason="{value:.0f} orders before"),
    Derived(name="cust_return_rate", inputs=("cust_prior_returns", "cust_prior_orders"), formula=ratio,
            description="prior returns / prior orders (null with no prior orders)", reason="returns {value:.0%} of orders"),
    Aggregation(name="cust_prior_inspected", stream="inspections", key=CUSTOMER, window=None,
                description="customer's returns inspected before the request",
                reason="{value:.0f} earlier inspected returns"),
    Aggregation(name="cust_prior_abuse", stream="inspections", key=CUSTOMER, window=None, agg="sum", value="abuse",
                description="customer's returns confirmed as abuse before the request",
                reason="{value:.0f} confirmed return abuses"),
    Derived(name="cust_abuse_rate", inputs=("cust_prior_abuse", "cust_prior_inspected"), formula=ratio,
            description="confirmed abuse / inspected returns before the request (null if none)",
            reason="{value:.0%} of inspected returns were abuse"),
    Aggregation(name="cust_prior_chargebacks", stream="fraud", key=CUSTOMER, window=None,
                description="customer's orders reported as fraud before the request",
                reason="{value:.0f} earlier chargebacks"),
    Aggregation(name="_order_fraud_known", stream="fraud", key=("order_id",), window=None),
    Derived(name="order_fraud_known", inputs=("_order_fraud_known",), formula=is_positive, dtype="bool",
            description="the returned order was already reported as fraud", reason="the order was reported as fraud"),
    _f("reason_text_len", "int", "characters in the free-text reason", "{value:.0f}-character explanation"),
    _f("reason_text_words", "int", "words in the free-text reason", "{value:.0f}-word explanation"),
    # the text features: one per keyword family and hash bucket of `features.text`, whose names they take
    *[_f(f"text_{k}", "bool", f"free text matches the '{k}' keyword family", _TEXT_REASONS[k])
      for k in KEYWORD_FAMILIES],
    *[_f(name, "int", f"unigrams and bigrams of the free-text reason hashed to bucket {i} (count)",
         _hash_reason(i)) for i, name in enumerate(hash_feature_names())],
]

RETURN_FEATURES = FeatureSet.declare(name="return_features", entity="return_id", time_column="requested_at",
                                     declarations=_DECLARATIONS)

_CONTRACT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "reason_code": TABLES["returns"].column("reason_code").categories,
    "reported_condition": TABLES["returns"].column("reported_condition").categories,
    "return_channel": TABLES["returns"].column("return_channel").categories,
    "category": TABLES["products"].column("category").categories,
    "loyalty_tier": TABLES["customers"].column("loyalty_tier").categories,
}


def _f64(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(np.float64)


def _bool01(s: pd.Series) -> np.ndarray:
    return s.map({True: 1.0, False: 0.0}).to_numpy(np.float64)


def return_row_features(ev: pd.DataFrame) -> dict[str, np.ndarray]:
    """Features from the return's own row, its product, order line, order and customer."""
    t_ns = to_ns(ev["requested_at"]).astype(np.float64)

    def _not_negative(days: np.ndarray) -> np.ndarray:  # an account made after the request was not known
        return np.where(days < 0, np.nan, days)

    def since(col: str) -> np.ndarray:
        s = pd.to_datetime(ev[col], utc=True)
        d = t_ns - to_ns(s).astype(np.float64)
        d[s.isna().to_numpy()] = np.nan
        return ns_to_days(d)

    delivery = since("delivered_at")
    delivery[~(delivery > 0)] = np.nan  # a delivery not known strictly before the request is unknown
    paid = _f64(ev["unit_price"])
    qty = _f64(ev["quantity"])
    text = text_features(ev["reason_text"])
    cond = ev["reported_condition"]
    rank = cond.map(CONDITION_RANK).to_numpy(np.float64, na_value=np.nan)
    fault = (ev["reason_code"].isin(FAULT_REASONS).to_numpy() | (rank == CONDITION_RANK["damaged"])
             | (text["text_defective"] > 0) | (text["text_damaged"] > 0))
    category = ev["category"]
    return {
        "days_since_delivery": delivery,
        "days_since_order": since("order_created_at"),
        "reason_code": ev["reason_code"].to_numpy(object),
        "reported_condition": cond.to_numpy(object),
        "condition_rank": rank,
        "is_wearable": np.where(category.isna().to_numpy(), np.nan, category.isin(WEARABLE_CATEGORIES).to_numpy(
            np.float64)),
        "fault_claimed": fault.astype(np.float64),
        "return_channel": ev["return_channel"].to_numpy(object),
        "refund_amount": _f64(ev["refund_amount"]),
        "quantity": qty,
        "unit_price_paid": paid,
        "list_price": _f64(ev["list_price"]),
        "category": ev["category"].to_numpy(object),
        "vendor_id": ev["vendor_id"].to_numpy(object),
        "is_returnable": _bool01(ev["is_returnable"]),
        "account_age_days": _not_negative(since("customer_created_at")),
        "loyalty_tier": ev["loyalty_tier"].to_numpy(object),
        "is_guest": _bool01(ev["is_guest"]),
        **text,
    }


def build_return_features(
    ds: Dataset, *, since: pd.Timestamp | None = None, aggregate: Aggregate = compute_aggregations
) -> pd.DataFrame:
    """One row per return with `requested_at ≥ since` (all if None), point-in-time correct.

    Columns: `return_id`, `requested_at`, then `RETURN_FEATURES.names` in order. Empty
    (with those columns) when the dataset has no returns. `aggregate`: as in
    `build_order_features`.
    """
    returns = ds["returns"]
    if since is not None:
        returns = returns[returns["requested_at"] >= as_utc(since)]
    ev = return_events(ds, returns)
    streams = build_streams(ds, {a.stream for a in RETURN_FEATURES.aggregations})
    agg = aggregate(RETURN_FEATURES.aggregations, ev, to_ns(ev["requested_at"]), streams)
    cols: dict[str, object] = {}
    cols |= return_row_features(ev)
    cols |= agg
    compiled(RETURN_FEATURES).columns(cols, len(ev), present=ds.present)
    return to_feature_frame(RETURN_FEATURES, ev["return_id"], ev["requested_at"], cols, _CONTRACT_CATEGORIES)
