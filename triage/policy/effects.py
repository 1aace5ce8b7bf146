"""What a rule does when it fires, and the rule itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from triage.policy.conditions import Condition
from triage.policy.vocab import ActionName, EventKind, Tier

__all__ = ["Effect", "Rule"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Effect(_Strict):
    """One or more of: set an action, force review, forbid actions, cap automation.

    - ``set_action``: choose this action on its dimension (fraud action, refund mode,
      destination) or add it (delay actions).
    - ``force_review``: at least ``hold_for_review`` (orders) / ``manual_review`` (returns).
    - ``forbid``: these actions may not be chosen; a forbidden ladder action moves to the
      next stronger allowed one.
    - ``cap_automation``: nothing stronger than this action on its dimension.
    """

    set_action: ActionName | None = None
    force_review: bool = False
    forbid: tuple[ActionName, ...] = ()
    cap_automation: ActionName | None = None

    @model_validator(mode="after")
    def _does_something(self) -> Effect:
        if (
            self.set_action is None
            and not self.force_review
            and not self.forbid
            and self.cap_automation is None
        ):
            raise ValueError("expected at least one of set_action, force_review, forbid, cap_automation")
        return self


class Rule(_Strict):
    """An ordered rule: stable id, tier, event kind, condition, effect and the reason shown."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    tier: Tier
    event: EventKind
    reason: str = Field(min_length=1)
    when: Condition | None = None  # absent: always
    then: Effect
