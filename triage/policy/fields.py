"""The derived fields the policy reads, from an event and its feature row: one function.

The policy file declares them (`derived_fields` in `triage/policy/default.yaml`):
orders — `categories`, `customer_is_new`, `account_age_hours`, `hours_to_promise`,
`loyalty_tier`, `is_guest`; returns — `category`, `is_returnable`, `loyalty_tier`,
`item_value`, `days_since_order`. The service calls `policy_fields` with the online
features it just computed; batch replay and back-tests call it row by row with the
offline feature rows (`build_order_features` / `build_return_features`), so a rule sees
the same value online and offline.

`features` may be None (online store down: rules-only). Then only what the event itself
says is used (its own `customer` object, its times); the rest is None, which makes a
condition on it unknown (the rule does not fire). NaN, pandas NA and categoricals from
an offline frame are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from features.orders import BASKET_CATEGORIES

__all__ = ["policy_fields", "NEW_CUSTOMER_DAYS", "ORDER_FIELDS", "RETURN_FIELDS"]

# A customer whose account is younger than this at the order is "new" (rule H6 and the like).
NEW_CUSTOMER_DAYS = 30.0

ORDER_FIELDS = ("categories", "customer_is_new", "account_age_hours", "hours_to_promise", "loyalty_tier", "is_guest")
RETURN_FIELDS = ("category", "is_returnable", "loyalty_tier", "item_value", "days_since_order")


def _num(v: object) -> float | None:
    if v is None or isinstance(v, bool | str):
        return None
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if x != x else x


def _text(v: object) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) and pd.isna(v):  # type: ignore[call-overload]
        return None
    return str(v)


def _bool(v: object) -> bool | None:
    if isinstance(v, bool):
        return v
    x = _num(v)
    return None if x is None else x != 0.0


def _hours(later: object, earlier: object) -> float | None:
    if later is None or earlier is None:
        return None
    try:
        a, b = pd.Timestamp(later), pd.Timestamp(earlier)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if pd.isna(a) or pd.isna(b):
        return None
    return (a - b).total_seconds() / 3600


def policy_fields(kind: str, event: Mapping[str, Any], features: Mapping[str, Any] | None) -> dict[str, Any]:
    """The policy's derived fields for one order or return (`kind`), from its feature row."""
    f: Mapping[str, Any] = features if features is not None else {}
    if kind == "order":
        return _order(event, f, features is not None)
    if kind == "return":
        return _return(event, f)
    raise ValueError(f"kind must be 'order' or 'return'. Got {kind!r} instead.")


def _order(event: Mapping[str, Any], f: Mapping[str, Any], have_features: bool) -> dict[str, Any]:
    customer = event.get("customer") if isinstance(event.get("customer"), Mapping) else None
    created = event.get("created_at")

    categories: list[str] | None = None
    if have_features:  # the basket's categories: those holding part of the line value
        categories = [c for c in BASKET_CATEGORIES if (_num(f.get(f"share_{c}")) or 0.0) > 0]
        if (_num(f.get("share_other")) or 0.0) > 0:
            categories.append("other")

    age_days = _num(f.get("account_age_days"))
    if age_days is None and customer is not None:
        h = _hours(created, customer.get("created_at"))
        age_days = None if h is None else h / 24
    age_hours = None if age_days is None else age_days * 24
    if age_days is not None:
        is_new: bool | None = age_days < NEW_CUSTOMER_DAYS
    elif have_features:
        is_new = True  # no account on record: a customer we have never seen
    else:
        is_new = None

    hours_to_promise = _num(f.get("promise_window_hours"))
    if hours_to_promise is None:
        hours_to_promise = _hours(event.get("promised_at"), created)
    tier = _text(f.get("loyalty_tier"))
    guest = _bool(f.get("is_guest"))
    if customer is not None:
        tier = tier if tier is not None else _text(customer.get("loyalty_tier"))
        guest = guest if guest is not None else _bool(customer.get("is_guest"))
    return {
        "categories": categories,
        "customer_is_new": is_new,
        "account_age_hours": age_hours,
        "hours_to_promise": hours_to_promise,
        "loyalty_tier": tier,
        "is_guest": guest,
    }


def _return(event: Mapping[str, Any], f: Mapping[str, Any]) -> dict[str, Any]:
    qty = _num(f.get("quantity"))
    if qty is None:
        qty = _num(event.get("quantity"))
    paid = _num(f.get("unit_price_paid"))
    if paid is None:
        paid = _num(f.get("list_price"))
    item_value = None if paid is None or qty is None else paid * qty
    return {
        "category": _text(f.get("category")),
        "is_returnable": _bool(f.get("is_returnable")),
        "loyalty_tier": _text(f.get("loyalty_tier")),
        "item_value": item_value,  # what the goods are worth (paid, else list); routing falls back to the refund
        "days_since_order": _num(f.get("days_since_order")),
    }
