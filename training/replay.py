"""Replay scored history through a policy: decision columns, back-tests and threshold tuning.

One assembly step (`scored_history`) builds, per event at or after `since`, its contract
fields, the policy's derived fields (`triage.policy.fields`, the same function the API
uses), the champion scores, and the outcomes that matured by the data's end. Batch
scoring, `triage backtest` and `triage policy tune` all read that frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.outcomes import FRAUD_LABEL_WINDOW_DAYS, fraud_labels, late_labels, return_labels
from models.bundle import Bundle
from training.featureset import FeatureSource, default_feature_source
from triage.contract import Dataset
from triage.policy import Policy, decide_order, decide_return
from triage.policy.fields import policy_fields

__all__ = ["ScoredHistory", "scored_history", "decision_columns", "champion_cutoff"]

ORDER_SCORES = ("p_late", "p_fraud")
RETURN_SCORES = ("p_restock", "p_refurbish", "p_liquidate", "p_return_to_vendor", "p_recycle", "p_abuse")


@dataclass
class ScoredHistory:
    orders: pd.DataFrame  # contract fields + policy fields + scores + is_fraud/is_late (NaN: not mature)
    returns: pd.DataFrame  # contract fields + policy fields + scores + disposition/abuse_confirmed
    as_of: pd.Timestamp  # labels are those known strictly before this time


def champion_cutoff(bundles: Mapping[str, Bundle | None]) -> pd.Timestamp | None:
    """The latest training cut-off among the loaded champions: where out-of-time begins."""
    cutoffs = [
        pd.Timestamp(b.versions["training_window"]["cutoff"])
        for b in bundles.values()
        if b is not None and "training_window" in b.versions
    ]
    return max(cutoffs) if cutoffs else None


def _score(frame: pd.DataFrame, bundles: list[Bundle], columns: tuple[str, ...]) -> pd.DataFrame:
    scores = pd.DataFrame(np.nan, index=frame.index, columns=list(columns))
    for bundle in bundles:
        pred = bundle.predict_frame(frame)
        for c in pred.columns:
            scores[c] = pred[c].to_numpy()
    return scores


def _with_fields(kind: str, events: pd.DataFrame, feats: pd.DataFrame) -> pd.DataFrame:
    """Add the policy's derived fields, row by row through the one shared function."""
    rows = feats.reindex(events.index)
    names = [c for c in rows.columns]
    values = rows.to_numpy(dtype=object)
    ev = events.to_dict("records")
    derived = [
        policy_fields(kind, e, dict(zip(names, v, strict=True))) for e, v in zip(ev, values, strict=True)
    ]
    return events.join(pd.DataFrame(derived, index=events.index))


def scored_history(
    ds: Dataset,
    bundles: Mapping[str, Bundle | None],
    *,
    since: pd.Timestamp | None = None,
    fraud_label_window_days: int = FRAUD_LABEL_WINDOW_DAYS,
    feature_source: FeatureSource | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScoredHistory:
    """Events at or after `since` with fields, policy fields, scores and matured outcomes."""
    say = progress or (lambda _m: None)
    source = feature_source or default_feature_source()
    as_of = ds.max_event_time + pd.Timedelta(microseconds=1)
    out = {}
    for kind, key, time_col, table, score_cols in (
        ("order", "order_id", "created_at", "orders", ORDER_SCORES),
        ("return", "return_id", "requested_at", "returns", RETURN_SCORES),
    ):
        events = ds[table]
        if since is not None:
            events = events[events[time_col] >= since]
        events = events.set_index(key, drop=False)
        t0 = time.perf_counter()
        feats = source.build(ds, kind, since=since) if len(events) else pd.DataFrame(index=events.index)
        present = [b for b in bundles.values() if b is not None and b.entity == kind]
        scores = _score(feats, present, score_cols) if len(events) else pd.DataFrame(columns=list(score_cols))
        frame = _with_fields(kind, events, feats).join(scores.reindex(events.index))
        say(f"{kind}s: {len(frame)} events scored with fields in {time.perf_counter() - t0:.1f}s")
        out[kind] = frame

    orders = out["order"]
    fraud = fraud_labels(ds, as_of, window_days=fraud_label_window_days) if ds.has("fraud_labels") else None
    late = late_labels(ds, as_of) if ds.has("fulfillment_outcomes") else None
    orders["is_fraud"] = orders.index.map(fraud).astype(float) if fraud is not None else np.nan
    # an early report is a label, but judging a policy on reported frauds among orders whose
    # window is still open (their legitimate neighbours are not labelled yet) overstates fraud
    window_open = (orders["created_at"] + pd.Timedelta(days=fraud_label_window_days) > as_of).to_numpy()
    orders.loc[window_open, "is_fraud"] = np.nan
    orders["is_late"] = orders.index.map(late).astype(float) if late is not None else np.nan
    returns = out["return"]
    if len(returns):
        labels = return_labels(ds, as_of)
        returns = returns.join(labels, how="left")
    return ScoredHistory(
        orders=orders.reset_index(drop=True), returns=returns.reset_index(drop=True), as_of=as_of
    )


def decision_columns(frame: pd.DataFrame, kind: str, policy: Policy) -> pd.DataFrame:
    """actions, reason codes, priority and policy version per event, from the policy."""
    decide = decide_order if kind == "order" else decide_return
    scores = list(ORDER_SCORES if kind == "order" else RETURN_SCORES)
    records = frame.to_dict("records")
    rows = []
    for rec in records:
        s = {c: (None if pd.isna(rec.get(c)) else float(rec[c])) for c in scores}
        d = decide(rec, s, policy)
        rows.append(
            {
                "actions": "|".join(d.actions),
                "priority": round(float(d.priority), 4),
                "reason_codes": "|".join(r.code for r in d.reasons),
                "policy_version": d.policy_version,
            }
        )
    return pd.DataFrame(rows, index=frame.index)
