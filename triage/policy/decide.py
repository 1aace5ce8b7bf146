"""The decision: one pure function per event kind, from event + scores + policy to `Decision`.

Inputs
------
``event``: a flat mapping of the contract's order (or return) columns plus the derived
fields the caller computes and the policy declares in ``derived_fields`` (e.g.
``categories: list[str]``, ``customer_is_new``, ``hours_to_promise``). Missing or null
fields make the conditions on them unknown (a rule fires only when its condition is true).

``scores``: ``p_fraud``/``p_late`` (orders), ``p_<disposition>``/``p_abuse`` (returns).
A score that is None, NaN or not in the mapping is *absent*: its score bands do not fire.
Absent is not degraded — a model that is simply not configured leaves the decision to
the rules. ``degraded=True`` says a model *failed*: for a dimension whose score is
absent the baseline becomes the policy's safe default (``degraded:``), and the decision
is marked degraded.

No I/O, no clock, no randomness: the same inputs give the same decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from triage.policy.decision import Decision, Explanation, Reason
from triage.policy.evaluate import CompiledRule, compiled, fire
from triage.policy.model import Policy
from triage.policy.resolve import resolve_choice, resolve_ladder, resolve_set
from triage.policy.routing import disposition_probs, item_value, routing_table
from triage.policy.vocab import DESTINATION_DISPOSITION
from triage.schema import DISPOSITIONS

__all__ = ["decide_order", "decide_orders", "decide_return", "present_scores", "with_explanations"]

_EMPTY: Mapping[str, str] = {}
_ORDER_SCORES = ("p_fraud", "p_late")
_RETURN_SCORES = ("p_restock", "p_refurbish", "p_liquidate", "p_return_to_vendor", "p_recycle", "p_abuse")


class _NA:
    def __format__(self, spec: str) -> str:
        return "n/a"


class _Fmt(dict):
    """Placeholders in reason texts: scores, then thresholds, then event fields."""

    def __init__(self, scores: Mapping[str, float], policy: Policy, event: Mapping[str, Any]) -> None:
        super().__init__()
        self.s, self.t, self.e = scores, policy.thresholds, event

    def __missing__(self, key: str) -> Any:
        for m in (self.s, self.t, self.e):
            v = m.get(key)
            if v is not None:
                return v
        return _NA()


def present_scores(scores: Mapping[str, float | None]) -> dict[str, float]:
    """The scores that are there: drop None and NaN."""
    return {k: float(v) for k, v in scores.items() if v is not None and v == v}


def _rule_reasons(used: Sequence[CompiledRule], fmt: _Fmt) -> list[Reason]:
    seen: set[int] = set()
    out = []
    for r in sorted(used, key=lambda r: (-r.tier_rank, r.index)):
        if r.index in seen:
            continue
        seen.add(r.index)
        text = r.rule.reason
        if "{" in text:
            text = text.format_map(fmt)
        out.append(Reason("rule", r.rule.id, text))
    return out


def _model_reasons(explanations: Sequence[Explanation], limit: int) -> list[Reason]:
    if not explanations or limit <= 0:
        return []
    top = sorted(explanations, key=lambda e: -abs(e.weight))[:limit]
    return [Reason("model", e.code, e.text) for e in top]


def with_explanations(decision: Decision, explanations: Sequence[Explanation], policy: Policy) -> Decision:
    """`decision` (made without explanations) as `decide_*(..., explanations=...)` would have
    made it: explanations only add the model's reasons after the rules' — actions, priority
    and costs do not depend on them. Lets the caller explain only the decisions that need
    it (reason codes are costly) without deciding those twice."""
    return replace(decision, reasons=decision.reasons + tuple(
        _model_reasons(explanations, policy.priority.max_model_reasons)))


def _band(policy: Policy, priority: float) -> str:
    p = policy.priority
    return "high" if priority >= p.high else "medium" if priority >= p.medium else "low"


def _urgency(policy: Policy, hours: Any) -> float:
    if not isinstance(hours, int | float) or isinstance(hours, bool) or hours != hours:
        return 1.0
    h = policy.priority.urgent_within_hours
    return 1.0 + min(1.0, max(0.0, (h - hours) / h))


def _number(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and v == v else 0.0


_MEMO_MAX = 4096  # distinct fired-rule sets kept per policy (a policy has few; a bound all the same)


def _order_resolution(policy: Policy, fired: Sequence[CompiledRule], safe: bool) -> tuple[Any, ...]:
    """What the precedence makes of the fired rules: the fraud action, the delay actions,
    the rules that gave them (the reasons, in reason order), whether the degraded default
    is a reason, and the chosen actions' cost terms. A pure function of (fired, safe):
    kept on the compiled policy, so a batch of orders resolves each distinct set once."""
    memo = compiled(policy).resolved
    key = ("order", safe, *(r.index for r in fired))
    got = memo.get(key)
    if got is not None:
        return got  # type: ignore[no-any-return]
    acts = policy.actions
    baseline = policy.degraded.order_fraud_action if safe else policy.defaults.order_fraud_action
    review = "hold_for_review" if "hold_for_review" in acts.order_fraud else acts.order_fraud[-1]
    fraud, used_f = resolve_ladder(acts.order_fraud, "fraud", baseline, review, fired)
    delay, used_d = resolve_set(acts.order_delay, "delay", fired)
    seen: set[int] = set()
    used: list[CompiledRule] = []
    for r in sorted([*used_f, *used_d], key=lambda r: (-r.tier_rank, r.index)):
        if r.index not in seen:
            seen.add(r.index)
            used.append(r)
    degraded_reason = (
        Reason("rule", "policy.degraded_default", f"Fraud model unavailable: safe default {baseline}")
        if safe and not any(r.set_dimension == "fraud" for r in used_f) else None
    )
    c = policy.costs
    kept = 1.0
    delay_cost = 0.0
    for a in delay:
        da = c.delay_actions[a]  # type: ignore[index]
        kept *= 1.0 - da.late_cost_avoided
        delay_cost += da.cost
    got = (fraud, delay, tuple(used), degraded_reason, c.fraud_actions[fraud], kept, delay_cost)  # type: ignore[index]
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = got
    return got


def _reasons_of(used: Sequence[CompiledRule], fmt: _Fmt) -> list[Reason]:
    """The rules' reasons, in the order `_order_resolution` keeps them, texts filled in."""
    out = []
    for r in used:
        text = r.rule.reason
        if "{" in text:
            text = text.format_map(fmt)
        out.append(Reason("rule", r.rule.id, text))
    return out


def decide_order(
    event: Mapping[str, Any],
    scores: Mapping[str, float | None],
    policy: Policy,
    *,
    explanations: Sequence[Explanation] = (),
    model_versions: Mapping[str, str] = _EMPTY,
    degraded: bool = False,
) -> Decision:
    """Route one order: exactly one fraud action plus any delay actions, with reasons."""
    return decide_orders([event], [scores], policy, explanations=[explanations],
                         model_versions=model_versions, degraded=degraded)[0]


def decide_orders(
    events: Sequence[Mapping[str, Any]],
    scores: Sequence[Mapping[str, float | None]],
    policy: Policy,
    *,
    explanations: Sequence[Sequence[Explanation]] | None = None,
    model_versions: Mapping[str, str] = _EMPTY,
    degraded: bool = False,
) -> list[Decision]:
    """`decide_order` for each (event, scores) of a batch (the same decisions): the rules'
    precedence is resolved once per distinct set of fired rules, not once per order."""
    rules = compiled(policy).order_rules
    c = policy.costs
    prior_fraud, prior_late = policy.priors.p_fraud, policy.priors.p_late
    versions = dict(model_versions)
    max_model = policy.priority.max_model_reasons
    out = []
    for i, (event, raw) in enumerate(zip(events, scores, strict=True)):
        sc = present_scores(raw)
        fired = fire(rules, event, sc, degraded)
        safe = degraded and "p_fraud" not in sc
        fraud, delay, used, degraded_reason, fa, kept, delay_cost = _order_resolution(policy, fired, safe)
        reasons = _reasons_of(used, _Fmt(sc, policy, event)) if used else []
        if degraded_reason is not None:
            reasons.append(degraded_reason)
        if explanations is not None and explanations[i]:
            reasons += _model_reasons(explanations[i], max_model)

        total = _number(event.get("order_total"))
        p_fraud = sc.get("p_fraud", prior_fraud)
        p_late = sc.get("p_late", prior_late)
        fraud_loss = p_fraud * total * c.fraud_loss_rate
        late_loss = p_late * c.late_delivery_cost
        expected = fraud_loss * (1 - fa.catch_rate) + fa.cost + (1 - p_fraud) * fa.friction_if_good
        expected += late_loss * kept + delay_cost
        priority = round((fraud_loss + late_loss) * _urgency(policy, event.get("hours_to_promise")), 4)
        out.append(Decision(
            kind="order",
            actions=(fraud, *delay),
            scores={k: raw.get(k) for k in _ORDER_SCORES if k in raw},
            reasons=tuple(reasons),
            priority=priority,
            priority_band=_band(policy, priority),  # type: ignore[arg-type]
            policy_version=policy.policy_version,
            model_versions=dict(versions),
            degraded=degraded,
            fraud_action=fraud,
            delay_actions=delay,
            expected_cost=round(expected, 4),
        ))
    return out


def decide_return(
    event: Mapping[str, Any],
    scores: Mapping[str, float | None],
    policy: Policy,
    *,
    explanations: Sequence[Explanation] = (),
    model_versions: Mapping[str, str] = _EMPTY,
    degraded: bool = False,
) -> Decision:
    """Route one return: a refund mode and (unless ``keep_it``) a destination, with reasons."""
    sc = present_scores(scores)
    fired = fire(compiled(policy).return_rules, event, sc, degraded)
    acts = policy.actions
    safe = degraded and "p_abuse" not in sc
    baseline = policy.degraded.return_refund_mode if safe else policy.defaults.return_refund_mode
    review = "manual_review" if "manual_review" in acts.return_refund else acts.return_refund[-1]
    mode, used_r = resolve_ladder(acts.return_refund, "refund", baseline, review, fired)
    picked, banned, used_dest = resolve_choice(acts.return_destination, "destination", fired)

    table = routing_table(policy)
    probs, from_model = disposition_probs(sc, table)
    value = item_value(event)
    evs = table.expected(value, probs)
    if picked is not None:
        dest = picked
    else:
        allowed = {d: v for d, v in evs.items() if d not in banned} or evs
        dest = max(allowed, key=allowed.__getitem__)
    ship = table.ship_back_cost(event.get("return_channel"))
    fmt = _Fmt(sc, policy, event)
    reasons = _rule_reasons([*used_r, *used_dest], fmt)

    keep_ok = (
        mode in ("instant_refund", "refund_on_receipt")
        and "keep_it" in acts.return_refund
        and picked is None
        and not any("keep_it" in r.forbid for r in fired)
    )
    if keep_ok and evs[dest] < ship:
        mode = "keep_it"
        reasons.append(
            Reason(
                "rule",
                "policy.keep_it",
                f"Shipping back costs {ship:.2f}, more than the best expected recovery {evs[dest]:.2f}",
            )
        )
    if safe and not any(r.set_dimension == "refund" for r in used_r) and mode == baseline:
        reasons.append(
            Reason("rule", "policy.degraded_default", f"Abuse model unavailable: safe default {baseline}")
        )
    if mode == "keep_it":
        destination, recovery, ship_cost = None, None, 0.0
    else:
        destination, recovery, ship_cost = dest, evs[dest], ship
        if picked is None:
            k = DISPOSITIONS.index(DESTINATION_DISPOSITION[dest])
            source = "model" if from_model else "priors"
            reasons.append(
                Reason(
                    "rule",
                    "policy.route",
                    f"Routed to {dest}: highest expected recovery {recovery:.2f} "
                    f"({probs[k]:.0%} likely {DISPOSITIONS[k]}, {source})",
                )
            )
    reasons += _model_reasons(explanations, policy.priority.max_model_reasons)

    c = policy.costs
    refund = _number(event.get("refund_amount"))
    p_abuse = sc.get("p_abuse", policy.priors.p_abuse)
    rm = c.refund_modes[mode]  # type: ignore[index]
    abuse_loss = p_abuse * refund * c.abuse_loss_rate
    expected = abuse_loss * (1 - rm.abuse_catch_rate) + rm.cost + (1 - p_abuse) * rm.friction_if_good
    expected += ship_cost - (recovery or 0.0)
    priority = round(abuse_loss, 4)
    return Decision(
        kind="return",
        actions=(mode,) if destination is None else (mode, destination),
        scores={k: scores.get(k) for k in _RETURN_SCORES if k in scores},
        reasons=tuple(reasons),
        priority=priority,
        priority_band=_band(policy, priority),  # type: ignore[arg-type]
        policy_version=policy.policy_version,
        model_versions=dict(model_versions),
        degraded=degraded,
        refund_mode=mode,
        destination=destination,
        expected_cost=round(expected, 4),
        expected_recovery=None if recovery is None else round(recovery, 4),
    )
