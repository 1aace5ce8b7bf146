"""The one rule evaluator: conditions compiled to closures, rules fired per event.

A policy is compiled once (cached on the frozen `Policy`); evaluating an event is then
a loop over small Python closures, no `eval`, no pydantic on the hot path. Conditions
use three-valued logic (see `triage.policy.conditions`): True, False or None (unknown).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from triage.policy.conditions import AllOf, AnyOf, DegradedFlag, FieldTest, Not, ScoreAbsent, ScoreBand
from triage.policy.effects import Rule
from triage.policy.model import Policy
from triage.policy.vocab import DIMENSION_OF, TIER_RANK

__all__ = ["CompiledRule", "CompiledPolicy", "compiled", "fire"]

# (event, present scores, degraded) -> True | False | None
Test = Callable[[Mapping[str, Any], Mapping[str, float], bool], bool | None]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    index: int
    tier_rank: int
    test: Test | None  # None: always
    set_action: str | None
    set_dimension: str | None
    force_review: bool
    forbid: frozenset[str]
    cap: str | None


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    order_rules: tuple[CompiledRule, ...]
    return_rules: tuple[CompiledRule, ...]
    # what the precedence made of a set of fired rules (`triage.policy.decide`): a pure
    # function of that set, so it is worked out once per distinct set, not once per event
    resolved: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _widen(values: tuple[Any, ...]) -> frozenset[Any]:
    """A literal set that also matches the text form of numbers (postcodes read as ints)."""
    out: set[Any] = set()
    for v in values:
        out.add(v)
        if isinstance(v, int | float) and not isinstance(v, bool):
            out.add(str(v))
    return frozenset(out)


_MANY = (list, tuple, set, frozenset)


def _field_test(c: FieldTest, lists: Mapping[str, tuple[str, ...]]) -> Test:
    name = c.field
    checks: list[Callable[[Any], bool]] = []

    def member(s: frozenset[Any], negate: bool) -> Callable[[Any], bool]:
        def t(v: Any) -> bool:
            if isinstance(v, _MANY):
                hit = not s.isdisjoint(v)
            else:
                try:
                    hit = v in s
                except TypeError:
                    hit = False
            return hit != negate

        return t

    if c.in_ is not None:
        checks.append(member(_widen(c.in_), False))
    if c.not_in is not None:
        checks.append(member(_widen(c.not_in), True))
    if c.in_list is not None:
        checks.append(member(frozenset(lists[c.in_list]), False))
    if c.not_in_list is not None:
        checks.append(member(frozenset(lists[c.not_in_list]), True))
    if c.eq is not None:
        checks.append(member(_widen((c.eq,)), False))
    if c.ne is not None:
        checks.append(member(_widen((c.ne,)), True))
    lo, hi = c.min, c.max
    numeric = lo is not None or hi is not None
    present = c.present
    has_value_tests = bool(checks) or numeric

    def test(ev: Mapping[str, Any], sc: Mapping[str, float], dg: bool) -> bool | None:
        v = ev.get(name)
        if _missing(v):
            if present is True:
                return False
            if present is False:
                return None if has_value_tests else True
            return None
        if present is False:
            return False
        if numeric:
            if isinstance(v, bool) or not isinstance(v, int | float):
                return None
            if lo is not None and v < lo:
                return False
            if hi is not None and v >= hi:
                return False
        for t in checks:  # noqa: SIM110 - a plain loop is faster on this hot path
            if not t(v):
                return False
        return True

    return test


def _compile(c: Any, policy: Policy) -> Test:
    if isinstance(c, AllOf | AnyOf):
        parts = tuple(_compile(x, policy) for x in (c.all if isinstance(c, AllOf) else c.any))
        if isinstance(c, AllOf):

            def all_(ev: Mapping[str, Any], sc: Mapping[str, float], dg: bool) -> bool | None:
                unknown = False
                for p in parts:
                    r = p(ev, sc, dg)
                    if r is False:
                        return False
                    if r is None:
                        unknown = True
                return None if unknown else True

            return all_

        def any_(ev: Mapping[str, Any], sc: Mapping[str, float], dg: bool) -> bool | None:
            unknown = False
            for p in parts:
                r = p(ev, sc, dg)
                if r is True:
                    return True
                if r is None:
                    unknown = True
            return None if unknown else False

        return any_
    if isinstance(c, Not):
        inner = _compile(c.not_, policy)

        def not_(ev: Mapping[str, Any], sc: Mapping[str, float], dg: bool) -> bool | None:
            r = inner(ev, sc, dg)
            return None if r is None else not r

        return not_
    if isinstance(c, FieldTest):
        return _field_test(c, policy.lists)
    if isinstance(c, ScoreBand):
        name = c.score
        lo = policy.threshold(c.min) if c.min is not None else float("-inf")
        hi = policy.threshold(c.max) if c.max is not None else float("inf")

        def band(ev: Mapping[str, Any], sc: Mapping[str, float], dg: bool) -> bool | None:
            v = sc.get(name)
            if v is None:
                return None
            return lo <= v < hi

        return band
    if isinstance(c, ScoreAbsent):
        sname = c.score_absent
        return lambda ev, sc, dg: sname not in sc
    if isinstance(c, DegradedFlag):
        want = c.degraded
        return lambda ev, sc, dg: dg == want
    raise TypeError(f"not a condition: {c!r}")  # pragma: no cover - the model admits no other kind


def _compile_rule(rule: Rule, index: int, policy: Policy) -> CompiledRule:
    eff = rule.then
    return CompiledRule(
        rule=rule,
        index=index,
        tier_rank=TIER_RANK[rule.tier],
        test=_compile(rule.when, policy) if rule.when is not None else None,
        set_action=eff.set_action,
        set_dimension=DIMENSION_OF[eff.set_action] if eff.set_action else None,
        force_review=eff.force_review,
        forbid=frozenset(eff.forbid),
        cap=eff.cap_automation,
    )


def compiled(policy: Policy) -> CompiledPolicy:
    """The policy's rules compiled to closures (built once, kept on the policy)."""
    cp = policy._compiled
    if cp is None:
        rules = [_compile_rule(r, i, policy) for i, r in enumerate(policy.rules)]
        cp = CompiledPolicy(
            order_rules=tuple(r for r in rules if r.rule.event == "order"),
            return_rules=tuple(r for r in rules if r.rule.event == "return"),
        )
        policy._compiled = cp
    return cp


def fire(
    rules: tuple[CompiledRule, ...], event: Mapping[str, Any], scores: Mapping[str, float], degraded: bool
) -> list[CompiledRule]:
    """The rules whose condition is true for this event, in file order."""
    out = []
    for r in rules:
        if r.test is None or r.test(event, scores, degraded) is True:
            out.append(r)
    return out
