"""The policy as typed data: actions, rules, thresholds, costs, capacity, priority.

Every model forbids unknown keys, so a typo fails at load with its key path
(`load_policy`). Cross-references are checked by `check_policy` (below) when a `Policy`
is built, whether from a file or in code: each failure raises `PolicyError` with the key
path, what was expected and what arrived — unknown fields, list and threshold names,
actions the event kind or the retailer does not have, ladders out of order, missing cost
entries, and the guardrail every policy must carry (the model never cancels an order on
its own). One module, as the checks read every section and the model runs them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from triage.policy.conditions import AllOf, AnyOf, FieldTest, Not, ScoreBand
from triage.policy.effects import Rule
from triage.policy.errors import PolicyError
from triage.policy.vocab import (
    CONTRACT_FIELDS,
    DIMENSION_OF,
    DIMENSIONS,
    EVENT_OF_DIMENSION,
    FRAUD_ACTIONS,
    ActionName,
    Disposition,
)

__all__ = [
    "Policy",
    "check_policy",
    "enabled_actions",
    "Actions",
    "Defaults",
    "DegradedDefaults",
    "Priors",
    "Costs",
    "FraudActionCost",
    "DelayActionCost",
    "RefundModeCost",
    "DestinationCost",
    "Capacity",
    "PrioritySettings",
    "DerivedFields",
]

Share = float  # documented as 0..1, checked by Field bounds where used


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Actions(_Strict):
    """The actions this retailer can carry out; rules may only name these."""

    order_fraud: tuple[ActionName, ...] = Field(min_length=1)
    order_delay: tuple[ActionName, ...] = ()
    return_refund: tuple[ActionName, ...] = Field(min_length=1)
    return_destination: tuple[ActionName, ...] = Field(min_length=1)


class Defaults(_Strict):
    """What happens when no rule sets an action."""

    order_fraud_action: ActionName = "release"
    return_refund_mode: ActionName = "refund_on_receipt"


class DegradedDefaults(_Strict):
    """Safe defaults when a model failed (degraded) and its score is missing."""

    order_fraud_action: ActionName = "verify_customer"
    return_refund_mode: ActionName = "refund_after_inspection"


class Priors(_Strict):
    """Base rates used for priority and routing when a score is absent."""

    p_fraud: float = Field(ge=0, le=1)
    p_late: float = Field(ge=0, le=1)
    p_abuse: float = Field(ge=0, le=1)
    dispositions: dict[Disposition, float]

    @model_validator(mode="after")
    def _sums_to_one(self) -> Priors:
        total = sum(self.dispositions.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"expected disposition priors summing to 1, got {total:g}")
        return self


class FraudActionCost(_Strict):
    cost: float = Field(ge=0, description="handling cost per order (a review, a step-up check)")
    catch_rate: float = Field(ge=0, le=1, description="share of fraud this action stops")
    friction_if_good: float = Field(ge=0, description="cost to a good order (delay, abandonment)")


class DelayActionCost(_Strict):
    cost: float = Field(ge=0)
    late_cost_avoided: float = Field(ge=0, le=1, description="share of the late-delivery cost avoided")


class RefundModeCost(_Strict):
    cost: float = Field(ge=0, description="handling: inspection, review")
    abuse_catch_rate: float = Field(ge=0, le=1, description="share of abusive refunds withheld")
    friction_if_good: float = Field(ge=0, description="cost of making an honest customer wait")


class DestinationCost(_Strict):
    handling: float = Field(ge=0, description="transfer and processing cost per item")
    recovery: dict[Disposition, float] = Field(
        description="share of the item value recovered, by the item's real disposition (missing: 0)"
    )


class Costs(_Strict):
    """Money per order or return, in the dataset's currency."""

    fraud_loss_rate: float = Field(ge=0, le=2, description="share of order value lost to undetected fraud")
    fraud_actions: dict[ActionName, FraudActionCost]
    late_delivery_cost: float = Field(ge=0)
    delay_actions: dict[ActionName, DelayActionCost] = {}
    abuse_loss_rate: float = Field(ge=0, le=2, description="share of a refund lost to an abusive return")
    refund_modes: dict[ActionName, RefundModeCost]
    ship_back_cost: dict[str, float] = Field(description="by return_channel; key 'default' for others")
    destinations: dict[ActionName, DestinationCost]


class Capacity(_Strict):
    order_reviews_per_day: float = Field(gt=0)
    return_reviews_per_day: float = Field(gt=0)


class PrioritySettings(_Strict):
    """Priority = expected cost at stake x urgency; urgency rises from 1 to 2 as the promise nears."""

    urgent_within_hours: float = Field(gt=0)
    high: float = Field(ge=0)
    medium: float = Field(ge=0)
    max_model_reasons: int = Field(default=3, ge=0)


class DerivedFields(_Strict):
    """Fields the caller derives and passes with the event, beyond the contract's columns."""

    order: tuple[str, ...] = ()
    return_: tuple[str, ...] = Field(default=(), alias="return")


class Policy(_Strict):
    policy_version: str = Field(min_length=1)
    description: str = ""
    actions: Actions
    derived_fields: DerivedFields = DerivedFields()
    lists: dict[str, tuple[str, ...]] = {}
    thresholds: dict[str, float] = {}
    defaults: Defaults = Defaults()
    degraded: DegradedDefaults = DegradedDefaults()
    priors: Priors
    costs: Costs
    capacity: Capacity
    priority: PrioritySettings
    rules: tuple[Rule, ...] = ()

    _compiled: Any = PrivateAttr(default=None)
    _routing: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _cross_references(self) -> Policy:
        check_policy(self)
        return self

    def __eq__(self, other: object) -> bool:  # the compiled caches are not part of a policy
        if not isinstance(other, Policy):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def threshold(self, name_or_value: float | str) -> float:
        """A bound as a number: a literal, or the named threshold."""
        if isinstance(name_or_value, str):
            return self.thresholds[name_or_value]
        return float(name_or_value)

    def with_thresholds(self, thresholds: dict[str, float], *, version: str) -> Policy:
        """A copy with some thresholds replaced and a new version (validated again)."""
        data = self.model_dump(by_alias=True, exclude_none=True)
        data["thresholds"] = {**self.thresholds, **thresholds}
        data["policy_version"] = version
        return Policy.model_validate(data)


# ------------------------------------------------------------------ cross-references

_ACTION_SECTIONS = {
    "order_fraud": "fraud",
    "order_delay": "delay",
    "return_refund": "refund",
    "return_destination": "destination",
}
_MAX_AUTOMATIC_FRAUD = FRAUD_ACTIONS.index("hold_for_review")


def _suggest(got: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(got, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def enabled_actions(policy: Policy) -> dict[str, tuple[str, ...]]:
    """The enabled actions per dimension (fraud, delay, refund, destination)."""
    return {dim: getattr(policy.actions, section) for section, dim in _ACTION_SECTIONS.items()}


def _check_actions(policy: Policy) -> dict[str, tuple[str, ...]]:
    enabled = enabled_actions(policy)
    for section, dim in _ACTION_SECTIONS.items():
        acts = enabled[dim]
        for i, a in enumerate(acts):
            if DIMENSION_OF[a] != dim:
                raise PolicyError(
                    f"expected one of {', '.join(DIMENSIONS[dim])}, got {a!r}", path=f"actions.{section}[{i}]"
                )
        ladder = DIMENSIONS[dim]
        if list(acts) != sorted(acts, key=ladder.index) or len(set(acts)) != len(acts):
            raise PolicyError(
                f"expected distinct actions from weakest to strongest ({', '.join(ladder)}), got {list(acts)}",
                path=f"actions.{section}",
            )
    return enabled


def _check_action(action: str, event: str, enabled: dict[str, tuple[str, ...]], path: str) -> None:
    dim = DIMENSION_OF[action]
    if EVENT_OF_DIMENSION[dim] != event:
        raise PolicyError(
            f"expected an action for {event}s, got {action!r} (a {EVENT_OF_DIMENSION[dim]} action)", path=path
        )
    if action not in enabled[dim]:
        raise PolicyError(
            f"expected an action enabled in actions ({', '.join(enabled[dim])}), got {action!r}", path=path
        )


def _check_condition(cond: object, event: str, policy: Policy, known: frozenset[str], path: str) -> None:
    if isinstance(cond, AllOf | AnyOf):
        parts = cond.all if isinstance(cond, AllOf) else cond.any
        key = "all" if isinstance(cond, AllOf) else "any"
        for i, c in enumerate(parts):
            _check_condition(c, event, policy, known, f"{path}.{key}[{i}]")
    elif isinstance(cond, Not):
        _check_condition(cond.not_, event, policy, known, f"{path}.not")
    elif isinstance(cond, FieldTest):
        if cond.field not in known:
            raise PolicyError(
                f"expected a {event} field (a contract column or one in derived_fields.{event}), "
                f"got {cond.field!r}{_suggest(cond.field, known)}",
                path=f"{path}.field",
            )
        for key in ("in_list", "not_in_list"):
            name = getattr(cond, key)
            if name is not None and name not in policy.lists:
                raise PolicyError(
                    f"expected the name of a list in lists ({', '.join(policy.lists) or 'none defined'}), "
                    f"got {name!r}{_suggest(name, policy.lists)}",
                    path=f"{path}.{key}",
                )
    elif isinstance(cond, ScoreBand):
        for key in ("min", "max"):
            bound = getattr(cond, key)
            if isinstance(bound, str) and bound not in policy.thresholds:
                raise PolicyError(
                    f"expected a number or a threshold name ({', '.join(policy.thresholds) or 'none defined'}), "
                    f"got {bound!r}{_suggest(bound, policy.thresholds)}",
                    path=f"{path}.{key}",
                )


def _check_rules(policy: Policy, enabled: dict[str, tuple[str, ...]]) -> None:
    seen: dict[str, int] = {}
    derived = {"order": policy.derived_fields.order, "return": policy.derived_fields.return_}
    for i, rule in enumerate(policy.rules):
        path = f"rules[{i}]"
        if rule.id in seen:
            raise PolicyError(
                f"expected a unique id, got {rule.id!r} again (first at rules[{seen[rule.id]}])",
                path=f"{path}.id",
            )
        seen[rule.id] = i
        known = CONTRACT_FIELDS[rule.event] | frozenset(derived[rule.event])
        if rule.when is not None:
            _check_condition(rule.when, rule.event, policy, known, f"{path}.when")
        eff = rule.then
        if eff.set_action is not None:
            _check_action(eff.set_action, rule.event, enabled, f"{path}.then.set_action")
        for j, a in enumerate(eff.forbid):
            _check_action(a, rule.event, enabled, f"{path}.then.forbid[{j}]")
        if eff.cap_automation is not None:
            _check_action(eff.cap_automation, rule.event, enabled, f"{path}.then.cap_automation")
        try:
            rule.reason.format_map(_AnyKey())
        except (ValueError, IndexError, KeyError) as exc:
            raise PolicyError(
                f"expected a reason text with {{name}} placeholders, got {rule.reason!r} ({exc})",
                path=f"{path}.reason",
            ) from None


class _AnyKey(dict):
    def __missing__(self, key: str) -> float:
        return 0.5


def _check_guardrail(policy: Policy) -> None:
    for rule in policy.rules:
        cap = rule.then.cap_automation
        if (
            rule.tier == "guardrail"
            and rule.event == "order"
            and rule.when is None
            and cap is not None
            and cap in FRAUD_ACTIONS
            and FRAUD_ACTIONS.index(cap) <= _MAX_AUTOMATIC_FRAUD
        ):
            return
    raise PolicyError(
        "expected an unconditional guardrail (tier: guardrail, event: order, no `when`) with "
        "cap_automation at or below hold_for_review: the model never cancels an order on its own; got none",
        path="rules",
    )


def _check_costs_and_defaults(policy: Policy, enabled: dict[str, tuple[str, ...]]) -> None:
    c = policy.costs
    for key, dim in (
        ("fraud_actions", "fraud"),
        ("delay_actions", "delay"),
        ("refund_modes", "refund"),
        ("destinations", "destination"),
    ):
        table = getattr(c, key)
        for a in table:
            if DIMENSION_OF[a] != dim:
                raise PolicyError(
                    f"expected one of {', '.join(DIMENSIONS[dim])}, got {a!r}", path=f"costs.{key}.{a}"
                )
        missing = [a for a in enabled[dim] if a not in table and a != "cancel_order"]
        if missing:
            raise PolicyError(
                f"expected a cost entry for every enabled action, got none for {', '.join(missing)}",
                path=f"costs.{key}",
            )
    for section in ("defaults", "degraded"):
        d = getattr(policy, section)
        _check_action(d.order_fraud_action, "order", enabled, f"{section}.order_fraud_action")
        _check_action(d.return_refund_mode, "return", enabled, f"{section}.return_refund_mode")
    for name, value in policy.thresholds.items():
        if not 0.0 <= value <= 1.0:
            raise PolicyError(
                f"expected a probability between 0 and 1, got {value!r}", path=f"thresholds.{name}"
            )


def check_policy(policy: Policy) -> None:
    """Raise `PolicyError` at the first broken cross-reference."""
    enabled = _check_actions(policy)
    _check_costs_and_defaults(policy, enabled)
    _check_rules(policy, enabled)
    _check_guardrail(policy)
