"""Time-ordered train / validation / test splits over events whose labels are mature.

Training stands at a cut-off: an event is usable when it happened before the cut-off
and its label was known before it, by the contract's timing rules
(`features.outcomes`). Near the cut-off, labels are known only for some events, and
not at random — an on-time delivery is known at delivery, a late one only at the
promise; a fraud report may come in before the label window closes, a legitimate
order is only known once it has. So each risk's labelled events end at a *label
end* before which (almost) every label is mature:

- delay: cut-off − the 99.5th percentile of the promise lead time (promised_at −
  created_at), so nearly every order before it has reached its promise;
- fraud: cut-off − the label window (default 60 days), exactly the contract's rule; an
  order reviewed before the cut-off (`review_outcomes`) is labelled by its review at once;
- returns: cut-off − the 99.5th percentile of the inspection lag (inspected_at −
  requested_at).

Within that, events are sorted by time and cut at timestamps — never shuffled, ties
kept on one side: the most recent `test_fraction` is the test window, the
`validation_fraction` before it is validation (early stopping and calibration), the
rest is training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.outcomes import (
    fraud_labels,
    late_labels,
    return_labels,
    return_review_verdicts,
    review_verdicts,
)
from triage.contract import Dataset

__all__ = [
    "TimeSplit",
    "LabelledEvents",
    "time_split",
    "delay_events",
    "promise_leads",
    "inspection_lags",
    "horizon",
    "too_few_events",
    "fraud_events",
    "return_events",
    "MATURITY_QUANTILE",
    "MIN_LABELLED_EVENTS",
]

MATURITY_QUANTILE = 0.995
MIN_LABELLED_EVENTS = 50  # mature labelled events a model needs before its label end


@dataclass(frozen=True)
class LabelledEvents:
    """Events with mature labels: ids, event times and labels (aligned), and why they stop where they do."""

    ids: np.ndarray
    times: pd.Series  # event time, tz-aware UTC, aligned with ids
    labels: pd.DataFrame  # one column per target, aligned with ids
    label_end: pd.Timestamp
    cutoff: pd.Timestamp
    rule: str  # the maturity rule in words, for the run's params
    from_review: int = 0  # events labelled by a manual review (review_outcomes)


@dataclass(frozen=True)
class TimeSplit:
    """Positions (into LabelledEvents.ids) of each part, and the time window of each."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    windows: dict[str, tuple[pd.Timestamp, pd.Timestamp]]

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for part in ("train", "validation", "test"):
            start, end = self.windows[part]
            out[f"{part}_rows"] = len(getattr(self, part))
            out[f"{part}_start"] = start.isoformat() if pd.notna(start) else ""
            out[f"{part}_end"] = end.isoformat() if pd.notna(end) else ""
        return out


def time_split(
    times: pd.Series, *, validation_fraction: float = 0.15, test_fraction: float = 0.15
) -> TimeSplit:
    """Cut events at two timestamps so that train < validation < test in time.

    The cuts sit at the event times found at the (1 − test − validation) and (1 − test)
    quantiles of the rows; events sharing a timestamp stay on one side.
    """
    if (
        not 0 < validation_fraction < 1
        or not 0 < test_fraction < 1
        or validation_fraction + test_fraction >= 1
    ):
        raise ValueError(
            "validation_fraction and test_fraction must be in (0, 1) and sum below 1; "
            f"got {validation_fraction} and {test_fraction}"
        )
    t = pd.to_datetime(times).reset_index(drop=True)
    order = np.argsort(t.to_numpy(), kind="stable")
    sorted_t = t.to_numpy()[order]
    n = len(t)
    if n < 3:
        raise ValueError(f"need at least 3 labelled events to split; got {n}")
    val_cut = sorted_t[min(n - 2, int(n * (1 - test_fraction - validation_fraction)))]
    test_cut = sorted_t[min(n - 1, int(n * (1 - test_fraction)))]
    tv = t.to_numpy()
    train = np.flatnonzero(tv < val_cut)
    validation = np.flatnonzero((tv >= val_cut) & (tv < test_cut))
    test = np.flatnonzero(tv >= test_cut)

    def window(idx: np.ndarray) -> tuple[pd.Timestamp, pd.Timestamp]:
        if not len(idx):
            return (pd.NaT, pd.NaT)
        return (t.iloc[idx].min(), t.iloc[idx].max())

    return TimeSplit(
        train=train,
        validation=validation,
        test=test,
        windows={"train": window(train), "validation": window(validation), "test": window(test)},
    )


def _horizon(lags: pd.Series) -> pd.Timedelta:
    lags = lags.dropna()
    if not len(lags):
        return pd.Timedelta(0)
    return max(pd.Timedelta(0), pd.to_timedelta(lags.quantile(MATURITY_QUANTILE)))


def promise_leads(ds: Dataset, cutoff: pd.Timestamp) -> pd.Series:
    """promised_at − created_at of the orders before the cut-off: the delay horizon's sample."""
    orders = ds["orders"]
    orders = orders[orders["created_at"] < cutoff]
    return orders["promised_at"] - orders["created_at"]


def inspection_lags(ds: Dataset, cutoff: pd.Timestamp) -> pd.Series:
    """inspected_at − requested_at of the returns inspected before the cut-off: the returns horizon's sample."""
    lag = ds["returns"].merge(ds["return_outcomes"], on="return_id")
    lag = lag.loc[lag["inspected_at"] < cutoff]
    return lag["inspected_at"] - lag["requested_at"]


def horizon(lags: pd.Series) -> pd.Timedelta:
    """How long labels take to mature: the MATURITY_QUANTILE of the lags (0 without any)."""
    return _horizon(lags)


def delay_events(ds: Dataset, cutoff: pd.Timestamp, *, lead: pd.Timedelta | None = None,
                 min_events: int = MIN_LABELLED_EVENTS) -> LabelledEvents | str:
    """Orders with a known late/on-time outcome, up to the promise horizon before the cut-off.

    Returns a reason (str) when the data cannot train the model. `lead` (default: from these
    orders) and `min_events` let a partition of the data use the whole data's horizon and
    leave the count to the caller (`training.engine_train`).
    """
    if not ds.has("fulfillment_outcomes"):
        return "no fulfillment_outcomes table"
    orders = ds["orders"]
    orders = orders[orders["created_at"] < cutoff]
    horizon = _horizon(promise_leads(ds, cutoff)) if lead is None else lead
    label_end = cutoff - horizon
    labels = late_labels(ds, cutoff)
    o = orders[orders["created_at"] < label_end]
    o = o[o["order_id"].isin(labels.index)]
    frame = pd.DataFrame({"late": labels.reindex(o["order_id"]).to_numpy(dtype=bool)})
    rule = f"orders created before cutoff − {horizon} (q{MATURITY_QUANTILE} promise lead) with outcome known before cutoff"
    return _events(o["order_id"], o["created_at"], frame, label_end, cutoff, rule, min_events)


def fraud_events(ds: Dataset, cutoff: pd.Timestamp, *, window_days: int = 60,
                 min_events: int = MIN_LABELLED_EVENTS, reported: int | None = None) -> LabelledEvents | str:
    """Orders whose fraud label is mature: created at least a label window before the cut-off.

    `reported`: the fraud_labels rows of the whole data, when `ds` is one partition of it.
    """
    if not ds.has("fraud_labels"):
        return "no fraud_labels table"
    if not (len(ds["fraud_labels"]) if reported is None else reported):
        return "fraud_labels has no rows (no fraud reported, nothing to learn from)"
    label_end = cutoff - pd.Timedelta(days=window_days)
    labels = fraud_labels(ds, cutoff, window_days=window_days)
    orders = ds["orders"]
    reviewed = orders["order_id"].isin(review_verdicts(ds, cutoff).index) & (orders["created_at"] < cutoff)
    o = orders[((orders["created_at"] <= label_end) | reviewed) & orders["order_id"].isin(labels.index)]
    frame = pd.DataFrame({"fraud": labels.reindex(o["order_id"]).to_numpy(dtype=bool)})
    rule = f"orders created at least {window_days} days (label window) before cutoff, or reviewed before it"
    found = _events(o["order_id"], o["created_at"], frame, label_end, cutoff, rule, min_events)
    if isinstance(found, LabelledEvents):
        found = dataclasses.replace(found, from_review=int(reviewed[o.index].sum()))
    return found


def return_events(ds: Dataset, cutoff: pd.Timestamp, *, lag: pd.Timedelta | None = None,
                  min_events: int = MIN_LABELLED_EVENTS, inspected: int | None = None) -> LabelledEvents | str:
    """Returns inspected before the cut-off, up to the inspection-lag horizon before it.

    `lag` and `inspected` (the whole data's horizon and return_outcomes rows) when `ds` is one
    partition of the data.
    """
    if not ds.has("return_outcomes") or not (len(ds["return_outcomes"]) if inspected is None else inspected):
        return "no return_outcomes (no inspected returns)"
    labels = return_labels(ds, cutoff)
    returns = ds["returns"]
    horizon = _horizon(inspection_lags(ds, cutoff)) if lag is None else lag
    label_end = cutoff - horizon
    r = returns[(returns["requested_at"] < label_end) & returns["return_id"].isin(labels.index)]
    lab = labels.reindex(r["return_id"])
    frame = pd.DataFrame(
        {
            "disposition": lab["disposition"].astype(str).to_numpy(),
            "abuse": lab["abuse_confirmed"].astype(bool).to_numpy(),
        }
    )
    rule = f"returns requested before cutoff − {horizon} (q{MATURITY_QUANTILE} inspection lag) and inspected before cutoff"
    found = _events(r["return_id"], r["requested_at"], frame, label_end, cutoff, rule, min_events)
    if isinstance(found, LabelledEvents):
        reviewed = r["return_id"].isin(return_review_verdicts(ds, cutoff).index)
        found = dataclasses.replace(found, from_review=int(reviewed.sum()))
    return found


def too_few_events(n: int, label_end: pd.Timestamp, min_events: int = MIN_LABELLED_EVENTS) -> str | None:
    """Why n labelled events cannot train a model, or None when they can."""
    if n < min_events:
        return (
            f"only {n} labelled events before {label_end:%Y-%m-%d %H:%M} UTC "
            f"(the cut-off less the time labels take to mature); need at least {min_events}"
        )
    return None


def _events(ids, times, labels, label_end, cutoff, rule, min_events=MIN_LABELLED_EVENTS) -> LabelledEvents | str:
    why = too_few_events(len(ids), label_end, min_events)
    if why is not None:
        return why
    return LabelledEvents(
        ids=ids.to_numpy(),
        times=times.reset_index(drop=True),
        labels=labels.reset_index(drop=True),
        label_end=label_end,
        cutoff=cutoff,
        rule=rule,
    )
