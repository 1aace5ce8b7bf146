"""When each outcome became known: the one place that applies the contract's timing rules.

Labels for training and outcome-based history features both read these frames, so
"late", "fraud" and "inspected" mean the same thing, known from the same moment,
everywhere. Every frame carries a `known_at` column: an outcome may be used for an
event at time t (or a training cut-off t) only when `known_at < t`.
"""

from __future__ import annotations

import pandas as pd

from triage.contract import Dataset

__all__ = [
    "FRAUD_LABEL_WINDOW_DAYS",
    "is_late_known",
    "delivery_outcomes",
    "fraud_outcomes",
    "return_outcomes",
    "late_labels",
    "fraud_labels",
    "review_verdicts",
    "return_review_verdicts",
    "return_labels",
]

FRAUD_LABEL_WINDOW_DAYS = 60


def is_late_known(
    delivered_at: int | None, cancelled: bool, cancelled_at: int | None, promised_at: int | None
) -> tuple[bool, int | None]:
    """The contract's lateness rule for ONE order (times as ns since the epoch, None if unknown).

    Returns (is_late, known_at). On time only when delivered, not cancelled, and delivered
    at or before the promise; an on-time delivery is known at `delivered_at`. Lateness is
    known at the promise, or at the earlier of the promise and the cancellation time for a
    cancelled order (`cancelled_at`, the promise where unknown). No promise: late, known never
    (None). `delivery_outcomes` applies the same rule to whole columns.
    """
    if (not cancelled and delivered_at is not None and promised_at is not None
            and delivered_at <= promised_at):
        return False, delivered_at
    if promised_at is None:
        return True, None
    if cancelled and cancelled_at is not None and cancelled_at < promised_at:
        return True, cancelled_at
    return True, promised_at


def delivery_outcomes(ds: Dataset) -> pd.DataFrame:
    """One row per order once fulfillment outcomes are present: is it late, known from when.

    Late: delivered after the promise, cancelled, or not delivered by the promise
    (an order with no outcome row counts as not delivered). An on-time delivery is
    known at `delivered_at`; lateness at the earlier of `promised_at` and the
    cancellation time. Empty when the source has no fulfillment_outcomes table.
    """
    cols = ["order_id", "is_late", "known_at", "fulfillment_node_id", "carrier", "customer_id", "created_at",
            "shipping_postcode"]
    if not ds.has("fulfillment_outcomes"):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    # (reindex: a partial orders frame, e.g. the monitor's from audited requests, may lack the postcode)
    orders = ds["orders"].reindex(columns=["order_id", "customer_id", "created_at", "promised_at",
                                           "fulfillment_node_id", "carrier", "shipping_postcode"])
    fo = ds["fulfillment_outcomes"][["order_id", "delivered_at", "cancelled", "cancelled_at"]]
    df = orders.merge(fo, on="order_id", how="left")
    cancelled = df["cancelled"].eq(True).to_numpy()
    delivered = df["delivered_at"]
    promised = df["promised_at"]
    on_time = (~cancelled) & delivered.notna().to_numpy() & (delivered <= promised).to_numpy()
    # late: known at the promise, or at the cancellation when that came first (is_late_known, vectorised)
    cancel_first = pd.Series(cancelled, index=df.index) & (df["cancelled_at"] < promised)
    late_known = promised.where(~cancel_first, df["cancelled_at"])
    out = pd.DataFrame(
        {
            "order_id": df["order_id"],
            "is_late": ~on_time,
            "known_at": delivered.where(pd.Series(on_time, index=df.index), late_known),
            "fulfillment_node_id": df["fulfillment_node_id"],
            "carrier": df["carrier"],
            "customer_id": df["customer_id"],
            "created_at": df["created_at"],
            "shipping_postcode": df["shipping_postcode"],
        }
    )
    return out[cols]


def fraud_outcomes(ds: Dataset) -> pd.DataFrame:
    """One row per order reported as fraud, known from its earliest report."""
    fl = ds["fraud_labels"]
    first = fl.groupby("order_id", sort=False)["reported_at"].min().rename("known_at").reset_index()
    return first.merge(ds["orders"], on="order_id", how="inner")


def return_outcomes(ds: Dataset) -> pd.DataFrame:
    """One row per inspected return with its disposition and abuse flag, known at inspection."""
    ro = ds["return_outcomes"].rename(columns={"inspected_at": "known_at"})
    return ro.merge(ds["returns"], on="return_id", how="inner")


def late_labels(ds: Dataset, cutoff: pd.Timestamp) -> pd.Series:
    """is_late per order_id for orders whose outcome was known strictly before the cut-off."""
    d = delivery_outcomes(ds)
    known = d[d["known_at"] < cutoff]
    return known.set_index("order_id")["is_late"].astype(bool)


def fraud_labels(
    ds: Dataset, cutoff: pd.Timestamp, *, window_days: int = FRAUD_LABEL_WINDOW_DAYS
) -> pd.Series:
    """is_fraud per order_id for orders whose label is mature at the cut-off.

    Fraud when reported (or a review declined it) before the cut-off; legitimate when no
    report arrived before the cut-off and either the label window has fully passed or a
    review approved it before the cut-off (`review_outcomes`); otherwise no label yet.
    """
    orders = ds["orders"][["order_id", "created_at"]]
    reported = fraud_outcomes(ds)
    reported = set(reported.loc[reported["known_at"] < cutoff, "order_id"])
    reviewed = review_verdicts(ds, cutoff)
    is_fraud = (orders["order_id"].isin(reported) | orders["order_id"].map(reviewed).eq(True)).to_numpy()
    mature = (orders["created_at"] + pd.Timedelta(days=window_days) <= cutoff).to_numpy()
    # a review's verdict is a label at once: both verdicts are known at the same moment (the
    # review), so a reviewed order needs no label window; a fraud report still wins over an approval
    keep = is_fraud | mature | orders["order_id"].isin(reviewed.index).to_numpy()
    return pd.Series(is_fraud[keep], index=orders["order_id"].to_numpy()[keep], name="is_fraud")


def review_verdicts(ds: Dataset, cutoff: pd.Timestamp) -> pd.Series:
    """is_fraud per order_id as its latest manual review before the cut-off said (the
    optional `review_outcomes` table: confirmed = fraud); empty without reviews."""
    return _verdicts(ds, cutoff, "order_id", "is_fraud")


def _verdicts(ds: Dataset, cutoff: pd.Timestamp, key: str, name: str) -> pd.Series:
    if not ds.has("review_outcomes") or not len(ds["review_outcomes"]) or key not in ds["review_outcomes"]:
        return pd.Series(dtype=bool, name=name)
    ro = ds["review_outcomes"]
    ro = ro[ro[key].notna() & (ro["reviewed_at"] < cutoff)].sort_values("reviewed_at", kind="stable")
    last = ro.drop_duplicates(key, keep="last")
    return pd.Series(last["confirmed"].astype(bool).to_numpy(), index=last[key].to_numpy(), name=name)


def return_review_verdicts(ds: Dataset, cutoff: pd.Timestamp) -> pd.Series:
    """abuse per return_id as its latest manual review before the cut-off said (declined =
    abuse); empty without return reviews."""
    return _verdicts(ds, cutoff, "return_id", "abuse")


def return_labels(ds: Dataset, cutoff: pd.Timestamp) -> pd.DataFrame:
    """disposition and abuse per return_id, for returns inspected before the cut-off; abuse
    also when a manual review before the cut-off declined the return as abuse."""
    ro = return_outcomes(ds)
    ro = ro[ro["known_at"] < cutoff]
    out = ro.set_index("return_id")[["disposition", "abuse_confirmed"]]
    declined = return_review_verdicts(ds, cutoff)
    if len(declined):  # a reviewer's abuse verdict counts as confirmed abuse of an inspected return
        out["abuse_confirmed"] = out["abuse_confirmed"].astype(bool) | out.index.map(declined).isin([True])
    return out
