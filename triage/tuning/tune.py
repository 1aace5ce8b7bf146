"""Threshold tuning: the score thresholds that minimise realised cost within review capacity.

Input: out-of-time scored orders with labels (scores from a model that did not train on
these events; in-sample scores flatter). A `pandas.DataFrame` with columns

    created_at   timestamp (UTC)         day count for reviews/day
    order_total  float
    p_fraud      float, NaN if unscored   is_fraud  0/1/bool, NaN if unlabelled yet
    p_late       float, NaN if unscored   is_late   0/1/bool, NaN if unknown

Rows missing a score or a label are left out of that score's tuning. The fraud bands of
the policy are ``release < fraud_verify <= verify_customer < fraud_hold <= hold_for_review``
and every held order is one review; the delay bands ``delay_notify <= notify_customer`` and
``delay_expedite <= notify_customer + expedite``. For each pair of thresholds on a grid
(the scores' own values, or quantiles when there are more than ``grid``, plus 1.0 for
"never") the realised cost is priced by `triage.policy.costs`; the cheapest pair whose
reviews per day stay within ``capacity.order_reviews_per_day`` wins (ties: fewer reviews,
then fewer verifications). Hard rules and guardrails are not replayed here — run the
backtest on the tuned policy to see the whole picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from triage.errors import NotEnoughDataError
from triage.policy.costs import delay_cost, fraud_cost_by_action
from triage.policy.errors import PolicyError
from triage.policy.model import Policy

__all__ = ["TuneResult", "tune_policy", "tuned_version", "TUNED_THRESHOLDS"]

TUNED_THRESHOLDS = ("fraud_verify", "fraud_hold", "delay_notify", "delay_expedite")


@dataclass(frozen=True)
class TuneResult:
    """The tuned policy, the chosen thresholds, and the cost curves they were chosen from.

    ``fraud_curve``: one row per (verify, hold) pair — ``verify_threshold``,
    ``hold_threshold``, ``cost``, ``reviews_per_day``, ``verifications_per_day``, ``feasible``.
    ``delay_curve``: ``notify_threshold``, ``expedite_threshold``, ``cost``,
    ``expedites_per_day``. Costs are totals over the data, in the dataset's currency.
    """

    policy: Policy
    thresholds: dict[str, float]
    before: dict[str, float]
    fraud_curve: pd.DataFrame
    delay_curve: pd.DataFrame
    n_orders: int
    n_days: int
    kept: dict[str, str] = field(default_factory=dict)  # risk → why its thresholds were not tuned

    def hold_curve(self) -> pd.DataFrame:
        """Best cost per hold threshold (over verify thresholds): the curve to plot or print."""
        c = self.fraud_curve.sort_values("cost")
        return c.groupby("hold_threshold", as_index=False).first().sort_values("hold_threshold")

    def to_text(self) -> str:
        lines = [
            f"tuned {self.policy.policy_version} on {self.n_orders} orders over {self.n_days} days",
            f"{'threshold':<16}{'before':>10}{'after':>10}",
        ]
        for k, v in self.thresholds.items():
            lines.append(f"{k:<16}{self.before.get(k, float('nan')):>10.4f}{v:>10.4f}")
        for name in ("fraud_cost", "delay_cost", "reviews_per_day"):
            if name in self.before:
                lines.append(f"{name:<16}{self.before[name]:>10.1f}{self.before[name + '_tuned']:>10.1f}")
        lines.append(f"capacity        {self.policy.capacity.order_reviews_per_day:>10.1f} reviews/day")
        lines += [f"{risk} thresholds kept as they were: {why}" for risk, why in self.kept.items()]
        if self.fraud_curve.empty:
            return "\n".join(lines)
        lines.append("hold threshold → best cost, reviews/day (sampled):")
        curve = self.hold_curve()
        step = max(1, len(curve) // 15)
        for row in (
            curve.iloc[list(range(0, len(curve), step)) + [len(curve) - 1]].drop_duplicates().itertuples()
        ):
            mark = "" if row.feasible else "  over capacity"
            lines.append(f"  {row.hold_threshold:8.4f}  {row.cost:12.1f}  {row.reviews_per_day:8.1f}{mark}")
        return "\n".join(lines)


def _utc(ts: pd.Timestamp | str) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _days(created_at: pd.Series) -> int:
    ts = pd.to_datetime(created_at, utc=True)
    return int((ts.max().normalize() - ts.min().normalize()).days) + 1


def _grid(p: np.ndarray, grid: int) -> np.ndarray:
    values = np.unique(p)
    if len(values) > grid:
        values = np.unique(np.quantile(p, np.linspace(0, 1, grid)))
    return np.unique(np.append(values, 1.0))


def _band_costs(
    p: np.ndarray, low: np.ndarray, mid: np.ndarray, high: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total cost for every (a, b) pair, a <= b: p < a → low, a <= p < b → mid, p >= b → high.

    Returns (cost[a, b], count_mid[a, b], count_high[b]); pairs with a > b are +inf.
    """
    order = np.argsort(p, kind="stable")
    ps = p[order]
    cum = [np.concatenate([[0.0], np.cumsum(x[order])]) for x in (low, mid, high)]
    k = np.searchsorted(ps, grid, side="left")  # orders below each threshold
    n = len(p)
    lo, mi, hi = cum
    cost = lo[k][:, None] + (mi[k][None, :] - mi[k][:, None]) + (hi[n] - hi[k])[None, :]
    count_mid = (k[None, :] - k[:, None]).astype(float)
    count_high = (n - k).astype(float)
    bad = grid[:, None] > grid[None, :]
    cost = np.where(bad, np.inf, cost)
    return cost, count_mid, count_high


def tuned_version(old: str, last_day: pd.Timestamp) -> str:
    """``<old>+tuned.<YYYYMMDD>`` (the date of the last scored event; no clock is read)."""
    base = old.split("+tuned.")[0]
    return f"{base}+tuned.{last_day:%Y%m%d}"


def _tune_fraud(policy: Policy, df: pd.DataFrame, n_days: int, grid: int):
    costs = policy.costs
    p = df["p_fraud"].to_numpy(float).clip(0, 1)
    by = fraud_cost_by_action(costs, df["is_fraud"].astype(float), df["order_total"].astype(float))
    g = _grid(p, grid)
    cost, n_verify, n_hold = _band_costs(p, by["release"], by["verify_customer"], by["hold_for_review"], g)
    reviews = np.broadcast_to(n_hold[None, :] / n_days, cost.shape)
    feasible = (reviews <= policy.capacity.order_reviews_per_day + 1e-9) & np.isfinite(cost)
    vi, hi = np.nonzero(np.isfinite(cost))
    curve = pd.DataFrame(
        {
            "verify_threshold": g[vi],
            "hold_threshold": g[hi],
            "cost": cost[vi, hi],
            "reviews_per_day": reviews[vi, hi],
            "verifications_per_day": n_verify[vi, hi] / n_days,
            "feasible": feasible[vi, hi],
        }
    )
    ok = curve[curve["feasible"]]
    if ok.empty:  # cannot happen: hold at 1.0 holds only p == 1.0
        raise PolicyError(
            "no fraud thresholds keep reviews within capacity", path="capacity.order_reviews_per_day"
        )
    best = ok.sort_values(["cost", "reviews_per_day", "verifications_per_day"], kind="stable").iloc[0]
    t = policy.thresholds
    before = _cost_at(p, by, t["fraud_verify"], t["fraud_hold"])
    return (
        {"fraud_verify": float(best.verify_threshold), "fraud_hold": float(best.hold_threshold)},
        curve,
        {
            "fraud_cost": before,
            "fraud_cost_tuned": float(best.cost),
            "reviews_per_day": float((p >= t["fraud_hold"]).sum() / n_days),
            "reviews_per_day_tuned": float(best.reviews_per_day),
        },
    )


def _cost_at(p: np.ndarray, by: dict[str, np.ndarray], v: float, h: float) -> float:
    act = np.where(p >= h, by["hold_for_review"], np.where(p >= v, by["verify_customer"], by["release"]))
    return float(act.sum())


def _tune_delay(policy: Policy, df: pd.DataFrame, n_days: int, grid: int):
    costs = policy.costs
    p = df["p_late"].to_numpy(float).clip(0, 1)
    late = df["is_late"].astype(float).to_numpy()
    n = len(p)
    options = {
        "none": delay_cost(costs, [()] * n, late),
        "notify": delay_cost(costs, [("notify_customer",)] * n, late),
        "both": delay_cost(costs, [("notify_customer", "expedite")] * n, late),
    }
    g = _grid(p, grid)
    cost, _, n_exp = _band_costs(p, options["none"], options["notify"], options["both"], g)
    ni, ei = np.nonzero(np.isfinite(cost))
    curve = pd.DataFrame(
        {
            "notify_threshold": g[ni],
            "expedite_threshold": g[ei],
            "cost": cost[ni, ei],
            "expedites_per_day": n_exp[ei] / n_days,
        }
    )
    best = curve.sort_values(["cost", "expedites_per_day"], kind="stable").iloc[0]
    t = policy.thresholds
    nt, et = t["delay_notify"], t["delay_expedite"]
    before = np.where(p >= et, options["both"], np.where(p >= nt, options["notify"], options["none"])).sum()
    return (
        {"delay_notify": float(best.notify_threshold), "delay_expedite": float(best.expedite_threshold)},
        curve,
        {"delay_cost": float(before), "delay_cost_tuned": float(best.cost)},
    )


def tune_policy(
    policy: Policy,
    scored: pd.DataFrame,
    *,
    since: pd.Timestamp | str | None = None,
    version: str | None = None,
    grid: int = 200,
) -> TuneResult:
    """Choose fraud and delay thresholds on out-of-time scored orders; return a new policy.

    ``since`` keeps orders created at or after it (the end of the champion's training
    window). ``version`` defaults to ``tuned_version(old, last order day)``.
    """
    missing = [t for t in TUNED_THRESHOLDS if t not in policy.thresholds]
    if missing:
        raise PolicyError(
            f"expected thresholds {', '.join(TUNED_THRESHOLDS)} to tune, got none for {', '.join(missing)}",
            path="thresholds",
        )
    need = {"created_at", "order_total"}
    if not need <= set(scored.columns):
        raise ValueError(f"scored orders need columns {sorted(need)}; got {sorted(scored.columns)}")
    df = scored
    if since is not None:
        df = df[pd.to_datetime(df["created_at"], utc=True) >= _utc(since)]
    if df.empty:
        raise NotEnoughDataError("no scored orders to tune on (after `since`)")
    n_days = _days(df["created_at"])
    thresholds: dict[str, float] = {}
    before: dict[str, float] = {}
    fraud_curve = delay_curve = pd.DataFrame()
    kept: dict[str, str] = {}
    for risk, score, label, tune in (
        ("fraud", "p_fraud", "is_fraud", _tune_fraud),
        ("delay", "p_late", "is_late", _tune_delay),
    ):
        if score not in df.columns or df[score].isna().all():
            kept[risk] = f"no {score} scores (no {risk} champion)"
            continue
        part = df.dropna(subset=[score, label, "order_total"]) if label in df.columns else df.iloc[0:0]
        if part.empty:
            kept[risk] = f"no scored order in the window has a mature {risk} label"
            continue
        t, curve, b = tune(policy, part, n_days, grid)
        if risk == "fraud":
            fraud_curve = curve
        else:
            delay_curve = curve
        thresholds |= t
        before |= b
    if not thresholds:
        raise NotEnoughDataError(
            "nothing to tune: " + "; ".join(f"{risk}: {why}" for risk, why in kept.items())
        )
    last_day = pd.to_datetime(df["created_at"], utc=True).max()
    new = policy.with_thresholds(
        thresholds, version=version or tuned_version(policy.policy_version, last_day)
    )
    before |= {k: policy.thresholds[k] for k in thresholds}
    return TuneResult(
        policy=new,
        thresholds=thresholds,
        before=before,
        fraud_curve=fraud_curve,
        delay_curve=delay_curve,
        n_orders=len(df),
        n_days=n_days,
        kept=kept,
    )
