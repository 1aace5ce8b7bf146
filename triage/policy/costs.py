"""The policy's cost model, vectorised: what each action costs given what really happened.

Shared by threshold tuning and the backtest so both price actions the same way as the
decision's own ``expected_cost`` (which uses probabilities where these use labels).

Orders, fraud action a:  loss*(1 - catch[a]) + cost[a] + (not fraud)*friction[a],
    loss = is_fraud * order_total * fraud_loss_rate.
Orders, delay actions A: is_late * late_delivery_cost * prod(1 - avoided[a]) + sum cost[a].
Returns, refund mode m:  abuse*(1 - catch[m]) + cost[m] + (not abusive)*friction[m]
    + ship_back - recovery (both 0 for keep_it), abuse = abusive * refund * abuse_loss_rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from triage.policy.model import Costs

__all__ = ["fraud_cost_by_action", "fraud_cost", "delay_cost", "refund_cost"]


def _arr(x: object) -> np.ndarray:
    return np.asarray(x, dtype=float)


def fraud_cost_by_action(costs: Costs, is_fraud: object, order_total: object) -> dict[str, np.ndarray]:
    """Realised cost of each fraud action for every order (labels 0/1)."""
    fraud = _arr(is_fraud)
    loss = fraud * _arr(order_total) * costs.fraud_loss_rate
    return {
        a: loss * (1 - fa.catch_rate) + fa.cost + (1 - fraud) * fa.friction_if_good
        for a, fa in costs.fraud_actions.items()
    }


def fraud_cost(costs: Costs, actions: pd.Series, is_fraud: object, order_total: object) -> np.ndarray:
    """Realised cost of the chosen fraud action per order."""
    by_action = fraud_cost_by_action(costs, is_fraud, order_total)
    acts = np.asarray(actions, dtype=object)
    out = np.zeros(len(acts))
    for a, c in by_action.items():
        mask = acts == a
        out[mask] = c[mask]
    return out


def delay_cost(costs: Costs, delay_actions: pd.Series, is_late: object) -> np.ndarray:
    """Realised cost of the delay actions per order; ``delay_actions`` holds tuples of names."""
    late = _arr(is_late) * costs.late_delivery_cost
    kept = np.ones(len(late))
    spent = np.zeros(len(late))
    for a, da in costs.delay_actions.items():
        has = np.fromiter((a in acts for acts in delay_actions), dtype=bool, count=len(late))
        kept[has] *= 1 - da.late_cost_avoided
        spent[has] += da.cost
    return late * kept + spent


def refund_cost(costs: Costs, modes: pd.Series, abusive: object, refund_amount: object) -> np.ndarray:
    """Realised refund-mode cost per return (abuse losses, handling, friction; no routing)."""
    ab = _arr(abusive)
    loss = ab * _arr(refund_amount) * costs.abuse_loss_rate
    acts = np.asarray(modes, dtype=object)
    out = np.zeros(len(acts))
    for m, rm in costs.refund_modes.items():
        mask = acts == m
        out[mask] = (loss * (1 - rm.abuse_catch_rate) + rm.cost + (1 - ab) * rm.friction_if_good)[mask]
    return out
