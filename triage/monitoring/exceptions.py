"""Exception analytics: the open exception queue by channel, node, carrier and action.

An exception is a decision that asks people or operations to act: a review, a
step-up check, an expedite or reallocation, a proactive delay message. Automatic
outcomes (release, refund modes, return destinations) are not exceptions. Its age is measured against the promise time: how
long until (or since) the customer was promised delivery.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["EXCEPTION_ACTIONS", "exception_summary"]

EXCEPTION_ACTIONS = frozenset(
    {"verify_customer", "hold_for_review", "expedite", "reallocate_node", "notify_customer", "manual_review"}
)
_DIMENSIONS = ("kind", "channel", "fulfillment_node_id", "carrier", "action")


def _age_band(hours: float) -> str:
    if pd.isna(hours):
        return "no promise"
    if hours < 0:
        return "past promise"
    if hours < 24:
        return "due < 24 h"
    if hours < 72:
        return "due 1-3 d"
    return "due > 3 d"


def exception_summary(
    decisions: pd.DataFrame, *, now: pd.Timestamp, top: int = 10, resolved: set[str] | None = None
) -> dict:
    """Summarise decisions into the open exception queue.

    `decisions` columns: decision_id, kind, event_id, received_at, actions (list of str),
    value_at_stake, priority, promised_at (may be null), channel, fulfillment_node_id,
    carrier. Only the latest decision of an event counts, and an event with an outcome
    posted (`resolved` ids: review, delivery, inspection, …) has left the queue.
    Returns counts and value at stake per dimension and per promise-age band.
    """
    if len(decisions) and "event_id" in decisions.columns:
        latest = decisions.sort_values("received_at").drop_duplicates("event_id", keep="last")
        decisions = latest[~latest["event_id"].isin(resolved or set())]
    if decisions.empty:
        return {"as_of": now.isoformat(), "exceptions": 0, "value_at_stake": 0.0, "by": {}, "age": {}}
    rows = decisions.explode("actions").rename(columns={"actions": "action"})
    rows = rows[rows["action"].isin(EXCEPTION_ACTIONS)]
    exceptions = decisions[decisions["decision_id"].isin(rows["decision_id"])].copy()
    hours = (pd.to_datetime(exceptions["promised_at"], utc=True) - now).dt.total_seconds() / 3600
    exceptions["age_band"] = hours.map(_age_band)
    by: dict[str, list[dict]] = {}
    for dim in _DIMENSIONS:
        source = rows if dim == "action" else exceptions
        if dim not in source.columns:
            continue
        grouped = (
            source.assign(**{dim: source[dim].fillna("(none)")})
            .groupby(dim)
            .agg(count=("decision_id", "nunique"), value_at_stake=("value_at_stake", "sum"))
            .sort_values(["value_at_stake", "count"], ascending=False)
            .head(top)
        )
        by[dim] = [
            {dim: k, "count": int(r["count"]), "value_at_stake": round(float(r["value_at_stake"]), 2)}
            for k, r in grouped.iterrows()
        ]
    age = exceptions.groupby("age_band").agg(count=("decision_id", "size"), value=("value_at_stake", "sum"))
    return {
        "as_of": now.isoformat(),
        "exceptions": int(len(exceptions)),
        "value_at_stake": round(float(exceptions["value_at_stake"].sum()), 2),
        "by": by,
        "age": {k: {"count": int(r["count"]), "value_at_stake": round(float(r["value"]), 2)} for k, r in age.iterrows()},
    }
