"""Return routing economics: expected recovery per destination, and when to let the customer keep it.

Expected recovery of sending an item to destination d:

    value * sum_k P(disposition k) * recovery[d][k] - handling[d]

where ``value`` is the event's ``item_value`` if the caller passes it, else its
``refund_amount``, and the disposition probabilities are the model's five ``p_<disposition>``
scores (renormalised) or, when any is absent, the policy's priors. Shipping back
(``ship_back_cost`` by ``return_channel``) is paid for every item that comes back;
``keep_it`` is chosen when it costs more than the best expected recovery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from triage.policy.model import Policy
from triage.policy.vocab import DISPOSITION_SCORES
from triage.schema import DISPOSITIONS

__all__ = ["RoutingTable", "routing_table", "disposition_probs", "item_value"]


@dataclass(frozen=True, slots=True)
class RoutingTable:
    destinations: tuple[str, ...]
    handling: tuple[float, ...]
    recovery: tuple[tuple[float, ...], ...]  # per destination, per disposition (DISPOSITIONS order)
    priors: tuple[float, ...]
    ship_back: Mapping[str, float]
    ship_back_default: float

    def expected(self, value: float, probs: tuple[float, ...]) -> dict[str, float]:
        """Expected recovery (net of handling) for every enabled destination."""
        out = {}
        for d, h, rates in zip(self.destinations, self.handling, self.recovery, strict=True):
            out[d] = value * sum(p * r for p, r in zip(probs, rates, strict=True)) - h
        return out

    def ship_back_cost(self, channel: Any) -> float:
        return (
            self.ship_back.get(channel, self.ship_back_default)
            if isinstance(channel, str)
            else self.ship_back_default
        )


def routing_table(policy: Policy) -> RoutingTable:
    """The routing numbers of a policy (built once, kept on the policy)."""
    rt = policy._routing
    if rt is None:
        dests = policy.actions.return_destination
        costs = policy.costs.destinations
        ship = dict(policy.costs.ship_back_cost)
        rt = RoutingTable(
            destinations=dests,
            handling=tuple(costs[d].handling for d in dests),
            recovery=tuple(tuple(costs[d].recovery.get(k, 0.0) for k in DISPOSITIONS) for d in dests),  # type: ignore[call-overload]
            priors=tuple(policy.priors.dispositions.get(k, 0.0) for k in DISPOSITIONS),  # type: ignore[call-overload]
            ship_back=ship,
            ship_back_default=ship.get("default", max(ship.values(), default=0.0)),
        )
        policy._routing = rt
    return rt


def disposition_probs(scores: Mapping[str, float], table: RoutingTable) -> tuple[tuple[float, ...], bool]:
    """The five disposition probabilities (normalised) and whether they came from the model."""
    vals = [scores.get(k) for k in DISPOSITION_SCORES]
    if any(v is None for v in vals):
        return table.priors, False
    total = sum(vals)  # type: ignore[arg-type]
    if total <= 0:
        return table.priors, False
    return tuple(v / total for v in vals), True  # type: ignore[operator]


def item_value(event: Mapping[str, Any]) -> float:
    for key in ("item_value", "refund_amount"):
        v = event.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v:
            return float(v)
    return 0.0
