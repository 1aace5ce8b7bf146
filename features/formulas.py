"""The formulas of the derived order and return features, each written once.

Each takes Python floats or numpy arrays alike (`features.derived`'s helpers): the offline
pipeline, the online batch and the single event all run these very functions.
"""

from __future__ import annotations

from typing import Any

from features.derived import NAN, nz, ratio, where

__all__ = [
    "LATE_PRIOR_WEIGHT", "GLOBAL_PRIOR_LATE", "GLOBAL_PRIOR_N", "VENDOR_RISKY_FACTOR", "RTV_PRIOR_WEIGHT",
    "RTV_PRIOR_SHARE", "days_since", "hours_since", "load", "load_7d", "volume_vs_28d", "vs_mean", "is_zero",
    "is_positive", "prior_late_rate", "late_rate", "riskier_than", "share_of_paid", "rtv_share",
]

# Smoothing of late rates towards the retailer-wide late rate known so far (pseudo-counts).
LATE_PRIOR_WEIGHT = 20.0
GLOBAL_PRIOR_LATE, GLOBAL_PRIOR_N = 1.0, 10.0
# A vendor is "risky" for an order when its smoothed late rate is above this multiple of the
# retailer-wide late rate known over the same window.
VENDOR_RISKY_FACTOR = 1.5
# Smoothing of the vendor's return-to-vendor share (pseudo-counts at the prior share).
RTV_PRIOR_WEIGHT, RTV_PRIOR_SHARE = 5.0, 0.1


def days_since(t: Any, earlier: Any) -> Any:
    """Days from `earlier` to `t` (both ns; null if `earlier` is)."""
    return (t - earlier) / 86_400e9


def hours_since(t: Any, earlier: Any) -> Any:
    return (t - earlier) / 3600e9


def load(orders: Any, capacity: Any) -> Any:
    """Orders per unit of daily capacity (null without a positive capacity)."""
    return ratio(orders, capacity)


def load_7d(orders: Any, capacity: Any) -> Any:
    return ratio(orders, capacity * 7.0)


def volume_vs_28d(orders_24h: Any, orders_28d: Any) -> Any:
    """The last 24 h against the mean day of the last 28 days."""
    return ratio(orders_24h * 28.0, orders_28d)


def vs_mean(amount: Any, total: Any, count: Any) -> Any:
    """`amount` against the mean `total / count` (null without a positive mean)."""
    return ratio(amount, ratio(total, count))


def is_zero(count: Any) -> Any:
    """1 where the count is 0, else 0; null where the count is (a null key)."""
    return where(count != count, NAN, where(count == 0, 1.0, 0.0))


def is_positive(count: Any) -> Any:
    return where(count != count, NAN, where(count > 0, 1.0, 0.0))


def prior_late_rate(late: Any, known: Any) -> Any:
    """The retailer-wide late rate a smoothed rate shrinks towards (itself smoothed)."""
    return (late + GLOBAL_PRIOR_LATE) / (known + GLOBAL_PRIOR_N)


def late_rate(late: Any, known: Any, prior: Any) -> Any:
    """Late share of `known` outcomes, with `LATE_PRIOR_WEIGHT` pseudo-outcomes at `prior`;
    null where `known` is (a null key)."""
    return where(known != known, NAN,
                 (nz(late) + LATE_PRIOR_WEIGHT * prior) / (nz(known) + LATE_PRIOR_WEIGHT))


def riskier_than(rate: Any, prior: Any) -> Any:
    """1 where `rate` is above `VENDOR_RISKY_FACTOR` × `prior`, else 0."""
    return where(rate > VENDOR_RISKY_FACTOR * prior, 1.0, 0.0)


def share_of_paid(amount: Any, unit_price: Any, quantity: Any) -> Any:
    """`amount` against what was paid for `quantity` units at `unit_price` (null unless that is > 0)."""
    return ratio(amount, unit_price * quantity)


def rtv_share(rtv: Any, inspected: Any) -> Any:
    """Share of inspected returns sent back to the vendor, with `RTV_PRIOR_WEIGHT` pseudo-returns
    at `RTV_PRIOR_SHARE`; null where `inspected` is (a null key)."""
    return where(inspected != inspected, NAN,
                 (nz(rtv) + RTV_PRIOR_WEIGHT * RTV_PRIOR_SHARE) / (nz(inspected) + RTV_PRIOR_WEIGHT))
