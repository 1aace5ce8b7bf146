"""The policy as typed data: actions, rules, thresholds, costs, capacity, priority.

Every model forbids unknown keys, so a typo fails at load with its key path
(`load_policy`). Cross-references (fields, list and threshold names, actions per event
kind, the mandatory guardrail) are checked by `triage.policy.checks` when a `Policy`
is built, whether from a file or in code.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from triage.policy.effects import Rule
from triage.policy.vocab import ActionName, Disposition

__all__ = [
    "Policy",
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
        from triage.policy.checks import check_policy

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
