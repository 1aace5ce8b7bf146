"""Cross-reference checks a policy must pass beyond its types.

Each failure raises `PolicyError` with the key path, what was expected and what arrived:
unknown fields, list and threshold names, actions the event kind or the retailer does
not have, ladders out of order, missing cost entries, and the guardrail every policy
must carry (the model never cancels an order on its own).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from triage.policy.conditions import AllOf, AnyOf, FieldTest, Not, ScoreBand
from triage.policy.errors import PolicyError
from triage.policy.vocab import (
    CONTRACT_FIELDS,
    DIMENSION_OF,
    DIMENSIONS,
    EVENT_OF_DIMENSION,
    FRAUD_ACTIONS,
)

if TYPE_CHECKING:
    from triage.policy.model import Policy

__all__ = ["check_policy", "enabled_actions"]

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
