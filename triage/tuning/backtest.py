"""Backtest: replay scored history through a policy and price what it would have done.

Inputs (built by the loaders; columns not listed are passed to the rules as event fields):

``orders_scored`` — one row per order:
    created_at   timestamp (UTC)          order_total  float
    p_fraud      float, NaN = absent      p_late       float, NaN = absent
    is_fraud     0/1 (NaN: no label yet — left out of the fraud figures, which are judged on
                 labelled orders only; with none, fraud is left out and the report says so)
    is_late      0/1 (NaN: unknown, counted as on time)
    + any contract order columns and derived fields the rules read (customer_id, channel,
      payment_method, device_id, email_hash, shipping_postcode, fulfillment_type,
      categories: list[str], customer_is_new, hours_to_promise, ...).
``returns_scored`` — one row per return (optional):
    requested_at  timestamp (UTC)         refund_amount  float     return_channel  str
    p_restock, p_refurbish, p_liquidate, p_return_to_vendor, p_recycle, p_abuse (NaN = absent)
    disposition      realised, one of the contract's dispositions (NaN: not inspected)
    abuse_confirmed  0/1/bool (NaN counted as not abusive)
    + return columns and derived fields the rules read (category, is_returnable, item_value, ...).

Each policy is replayed row by row through `decide_order`/`decide_return` (tens of µs
per row), then priced with labels by `triage.policy.costs` — every run with the costs of
``policy``, so that differences come from decisions, not from prices. References: **rules only**
(the same policy with every score absent) and **no automation** (every order held for
review, every return manually reviewed and routed by the inspector to the best
destination for its real disposition; no proactive delay actions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from triage.errors import NotEnoughDataError
from triage.policy.costs import delay_cost, fraud_cost_by_action, refund_cost
from triage.policy.decide import decide_order, decide_return
from triage.policy.model import Policy
from triage.policy.routing import routing_table
from triage.policy.vocab import (
    DELAY_ACTIONS,
    DESTINATION_DISPOSITION,
    FRAUD_ACTIONS,
    ORDER_SCORES,
    REFUND_MODES,
    RETURN_SCORES,
)
from triage.schema import DISPOSITIONS
from triage.tuning.report import BacktestReport, PolicyRun

__all__ = ["backtest", "replay_orders", "replay_returns", "BacktestReport", "PolicyRun"]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts; pd.NA/NaT in object and extension columns become None (NaN floats stay)."""
    clean = df.copy(deep=False)
    for col in df.columns:
        dtype = df[col].dtype
        if dtype.kind in "OM" or pd.api.types.is_extension_array_dtype(dtype):
            clean[col] = df[col].astype(object).where(df[col].notna(), None)
    return clean.to_dict("records")


def _scores(rec: dict[str, Any], names: tuple[str, ...], use: bool) -> dict[str, float | None]:
    if not use:
        return {}
    return {k: rec.get(k) for k in names}


def replay_orders(policy: Policy, orders: pd.DataFrame, *, use_scores: bool = True) -> pd.DataFrame:
    """The decision for every order: ``fraud_action``, ``delay_actions`` (tuple), ``expected_cost``."""
    fraud, delay, cost = [], [], []
    for rec in _records(orders):
        d = decide_order(
            rec, _scores(rec, ORDER_SCORES, use_scores), policy, degraded=bool(rec.get("degraded"))
        )
        fraud.append(d.fraud_action)
        delay.append(d.delay_actions)
        cost.append(d.expected_cost)
    return pd.DataFrame(
        {"fraud_action": fraud, "delay_actions": delay, "expected_cost": cost}, index=orders.index
    )


def replay_returns(policy: Policy, returns: pd.DataFrame, *, use_scores: bool = True) -> pd.DataFrame:
    """The decision for every return: ``refund_mode``, ``destination`` (None for keep_it)."""
    modes, dests = [], []
    for rec in _records(returns):
        d = decide_return(
            rec, _scores(rec, RETURN_SCORES, use_scores), policy, degraded=bool(rec.get("degraded"))
        )
        modes.append(d.refund_mode)
        dests.append(d.destination)
    return pd.DataFrame({"refund_mode": modes, "destination": dests}, index=returns.index)


def _day(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.floor("D")


# order metrics that need the fraud label: judged only on orders whose label has matured
FRAUD_METRICS = (
    "fraud value stopped",
    "fraud value missed",
    "good orders held",
    "good orders verified",
    "friction cost",
    "fraud cost",
)


def _order_metrics(
    policy: Policy, orders: pd.DataFrame, dec: pd.DataFrame, n_days: int
) -> tuple[dict, pd.Series]:
    c = policy.costs
    labelled = orders["is_fraud"].notna().to_numpy()  # fraud is judged on mature labels only
    fraud = orders["is_fraud"].astype(float).fillna(0).to_numpy()
    late = (
        orders["is_late"].astype(float).fillna(0).to_numpy() if "is_late" in orders else np.zeros(len(orders))
    )
    total = orders["order_total"].astype(float).to_numpy()
    acts = dec["fraud_action"].to_numpy(object)
    catch = np.array([c.fraud_actions[a].catch_rate for a in acts])
    friction = np.array([c.fraud_actions[a].friction_if_good for a in acts])
    handling = np.array([c.fraud_actions[a].cost for a in acts])
    by = fraud_cost_by_action(c, fraud, total)
    fraud_total = np.zeros(len(acts))
    for a, v in by.items():
        fraud_total[acts == a] = v[acts == a]
    dcost = delay_cost(c, dec["delay_actions"], late)
    held = acts == "hold_for_review"
    flagged = np.fromiter((bool(x) for x in dec["delay_actions"]), bool, len(acts))
    expedited = np.fromiter(("expedite" in x for x in dec["delay_actions"]), bool, len(acts))
    fraud_value = fraud * total * c.fraud_loss_rate
    good = labelled & (fraud == 0)
    m = {}
    for a in FRAUD_ACTIONS[:-1]:  # never cancel_order: the guardrail every policy carries
        m[f"{a} / day"] = float((acts == a).sum() / n_days)
    for a in DELAY_ACTIONS:
        m[f"{a} / day"] = float(
            np.fromiter((a in x for x in dec["delay_actions"]), bool, len(acts)).sum() / n_days
        )
    reviews = pd.Series(held.astype(int), index=orders.index).groupby(_day(orders["created_at"])).sum()
    m["order reviews / day"] = float(held.sum() / n_days)
    m["fraud value stopped"] = float((fraud_value * catch)[labelled].sum())
    m["fraud value missed"] = float((fraud_value * (1 - catch))[labelled].sum())
    m["good orders held"] = float((held & good).sum())
    m["good orders verified"] = float(((acts == "verify_customer") & good).sum())
    m["friction cost"] = float(((1 - fraud) * friction)[labelled].sum())
    m["late orders flagged early"] = float((flagged & (late == 1)).sum())
    m["late orders expedited"] = float((expedited & (late == 1)).sum())
    m["on-time orders expedited"] = float((expedited & (late == 0)).sum())
    m["order handling cost"] = float(handling.sum())
    m["fraud cost"] = float(fraud_total[labelled].sum())
    m["delay cost"] = float(dcost.sum())
    if not labelled.any():
        for k in FRAUD_METRICS:
            m[k] = float("nan")
    return m, reviews


def _realised_recovery(policy: Policy, returns: pd.DataFrame, dest: pd.Series) -> np.ndarray:
    table = routing_table(policy)
    idx = {d: i for i, d in enumerate(table.destinations)}
    value = returns["item_value"] if "item_value" in returns else returns["refund_amount"]
    value = value.astype(float).fillna(returns["refund_amount"].astype(float)).to_numpy()
    disp = (
        returns["disposition"].to_numpy(object) if "disposition" in returns else np.full(len(returns), None)
    )
    channel = (
        returns["return_channel"].to_numpy(object)
        if "return_channel" in returns
        else np.full(len(returns), None)
    )
    out = np.zeros(len(returns))
    for i, (d, k, v, ch) in enumerate(zip(dest.to_numpy(object), disp, value, channel, strict=True)):
        if d is None:
            continue
        j = idx[d]
        rate = table.recovery[j][DISPOSITIONS.index(k)] if k in DISPOSITIONS else 0.0
        out[i] = v * rate - table.handling[j] - table.ship_back_cost(ch)
    return out


def _return_metrics(
    policy: Policy, returns: pd.DataFrame, dec: pd.DataFrame, n_days: int
) -> tuple[dict, pd.Series]:
    c = policy.costs
    ab = (
        returns["abuse_confirmed"].astype(float).fillna(0).to_numpy()
        if "abuse_confirmed" in returns
        else np.zeros(len(returns))
    )
    refund = returns["refund_amount"].astype(float).to_numpy()
    modes = dec["refund_mode"].to_numpy(object)
    catch = np.array([c.refund_modes[m].abuse_catch_rate for m in modes])
    recovery = _realised_recovery(policy, returns, dec["destination"])
    rcost = refund_cost(c, dec["refund_mode"], ab, refund)
    review = modes == "manual_review"
    m = {}
    for a in REFUND_MODES:
        m[f"{a} / day"] = float((modes == a).sum() / n_days)
    m["return reviews / day"] = float(review.sum() / n_days)
    m["refunds paid to abusive returns"] = float((ab * refund * c.abuse_loss_rate * (1 - catch)).sum())
    m["recovery value of routing"] = float(recovery.sum())
    m["returns cost"] = float(rcost.sum() - recovery.sum())
    reviews = pd.Series(review.astype(int), index=returns.index).groupby(_day(returns["requested_at"])).sum()
    return m, reviews


def _span(days: pd.Series) -> int:
    """Calendar days covered, first to last (at least 1)."""
    return int((days.max() - days.min()).days) + 1 if len(days) else 1


def _run(
    name: str,
    policy: Policy,
    version: str,
    orders: pd.DataFrame,
    returns: pd.DataFrame | None,
    n_days: tuple[int, int],  # (order days, return days): each kind per day of its own span
    order_dec: pd.DataFrame,
    return_dec: pd.DataFrame | None,
) -> PolicyRun:
    m, order_reviews = _order_metrics(policy, orders, order_dec, n_days[0])
    return_reviews = None
    if returns is not None and return_dec is not None:
        rm, return_reviews = _return_metrics(policy, returns, return_dec, n_days[1])
        m |= rm
    # what could not be judged (NaN: fraud without one mature label) is left out, and said so
    m["total cost"] = float(np.nansum([m["fraud cost"], m["delay cost"], m.get("returns cost", 0.0)]))
    return PolicyRun(
        name=name,
        policy_version=version,
        metrics=m,
        order_reviews=order_reviews,
        return_reviews=return_reviews,
    )


def _no_automation(policy: Policy, orders: pd.DataFrame, returns: pd.DataFrame | None):
    """Everything to people: orders held for review; returns reviewed and routed by inspection."""
    od = pd.DataFrame(
        {"fraud_action": "hold_for_review", "delay_actions": [()] * len(orders), "expected_cost": np.nan},
        index=orders.index,
    )
    if returns is None:
        return od, None
    table = routing_table(policy)
    fallback = next(
        (d for d in table.destinations if DESTINATION_DISPOSITION[d] == "restock"), table.destinations[0]
    )
    value = returns["refund_amount"].astype(float).fillna(0).to_numpy()
    disp = (
        returns["disposition"].to_numpy(object) if "disposition" in returns else np.full(len(returns), None)
    )
    dests = []
    for v, k in zip(value, disp, strict=True):
        if k not in DISPOSITIONS:
            dests.append(fallback)
            continue
        j = DISPOSITIONS.index(k)
        net = [v * rates[j] - h for rates, h in zip(table.recovery, table.handling, strict=True)]
        dests.append(table.destinations[int(np.argmax(net))])
    rd = pd.DataFrame({"refund_mode": "manual_review", "destination": dests}, index=returns.index)
    return od, rd


def _fraud_note(orders: pd.DataFrame) -> tuple[str, ...]:
    labelled = int(orders["is_fraud"].notna().sum())
    if labelled == len(orders):
        return ()
    if not labelled:
        return (
            "fraud left out: no order in the window has a mature fraud label (no fraud_labels, or every "
            "order's label window is still open); delay and returns are judged on every event",
        )
    return (
        f"fraud judged on the {labelled} of {len(orders)} orders whose fraud label has matured; "
        "delay and returns on every event",
    )


def backtest(
    policy: Policy,
    orders_scored: pd.DataFrame,
    returns_scored: pd.DataFrame | None = None,
    *,
    against: Policy | None = None,
    progress: Callable[[str], None] | None = None,
) -> BacktestReport:
    """Replay history through ``policy`` (and ``against``) and the two references, side by side."""
    if not {"created_at", "order_total", "is_fraud"} <= set(orders_scored.columns):
        raise ValueError(
            f"orders_scored needs created_at, order_total, is_fraud; got {sorted(orders_scored.columns)}"
        )
    orders = orders_scored.reset_index(drop=True)
    returns = (
        None if returns_scored is None or returns_scored.empty else returns_scored.reset_index(drop=True)
    )
    if orders.empty and returns is None:
        raise NotEnoughDataError("nothing to replay: no order or return in the backtest window")
    days = _day(orders["created_at"])
    spans = (_span(days), _span(_day(returns["requested_at"])) if returns is not None else 1)
    if returns is not None:
        days = pd.concat([days, _day(returns["requested_at"])])
    n_days = int((days.max() - days.min()).days) + 1
    say = progress or (lambda _msg: None)

    runs = []
    candidates = [("policy", policy, True)]
    if against is not None:
        candidates.append(("against", against, True))
    candidates.append(("rules only", policy, False))
    for name, pol, use in candidates:
        say(f"replaying {len(orders)} orders through {name} ({pol.policy_version})")
        od = replay_orders(pol, orders, use_scores=use)
        rd = replay_returns(pol, returns, use_scores=use) if returns is not None else None
        runs.append(_run(name, policy, pol.policy_version, orders, returns, spans, od, rd))
    od, rd = _no_automation(policy, orders, returns)
    runs.append(_run("no automation", policy, "-", orders, returns, spans, od, rd))
    return BacktestReport(
        notes=_fraud_note(orders),
        runs=tuple(runs),
        capacity=policy.capacity,
        n_orders=len(orders),
        n_returns=0 if returns is None else len(returns),
        n_days=n_days,
        start=days.min(),
        end=days.max(),
    )
