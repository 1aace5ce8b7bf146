"""Precedence: how fired rules combine into one action per dimension.

Tiers are applied from the weakest to the strongest — score bands, then hard rules,
then guardrails — so a stronger tier always has the last word. Within one tier:

1. ``set_action``: the first firing rule in file order sets the action (replacing
   whatever a weaker tier chose);
2. ``force_review``: at least the review action of the ladder;
3. ``forbid``: a forbidden action moves to the next stronger allowed one (the next
   weaker if none is stronger);
4. ``cap_automation``: nothing stronger than the cap.

Each function returns the outcome and the rules that determined it (the reasons):
the setter that survived and every constraint that changed the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

from triage.policy.evaluate import CompiledRule

__all__ = ["resolve_ladder", "resolve_set", "resolve_choice"]

_TIERS = (0, 1, 2)


def _by_tier(fired: Sequence[CompiledRule]) -> list[list[CompiledRule]]:
    tiers: list[list[CompiledRule]] = [[], [], []]
    for r in fired:
        tiers[r.tier_rank].append(r)
    return tiers


def resolve_ladder(
    ladder: tuple[str, ...],
    dimension: str,
    baseline: str,
    review_action: str,
    fired: Sequence[CompiledRule],
) -> tuple[str, list[CompiledRule]]:
    """One action from an ordered ladder (weakest first)."""
    rank = {a: i for i, a in enumerate(ladder)}
    chosen = baseline
    used: list[CompiledRule] = []
    for rules in _by_tier(fired):
        if not rules:
            continue
        for r in rules:
            if r.set_dimension == dimension:
                chosen = r.set_action  # type: ignore[assignment]
                used = [r]
                break
        for r in rules:
            if r.force_review and rank[chosen] < rank[review_action]:
                chosen = review_action
                used.append(r)
        forbidders = [r for r in rules if chosen in r.forbid]
        if forbidders:
            banned = set().union(*(r.forbid for r in rules))
            stronger = [a for a in ladder[rank[chosen] + 1 :] if a not in banned]
            weaker = [a for a in reversed(ladder[: rank[chosen]]) if a not in banned]
            if stronger or weaker:
                chosen = stronger[0] if stronger else weaker[0]
                used.append(forbidders[0])
        for r in rules:
            if r.cap is not None and r.cap in rank and rank[chosen] > rank[r.cap]:
                chosen = r.cap
                used.append(r)
    return chosen, used


def resolve_set(
    ladder: tuple[str, ...], dimension: str, fired: Sequence[CompiledRule]
) -> tuple[tuple[str, ...], list[CompiledRule]]:
    """Any number of actions (delay actions): set adds, forbid removes, cap removes stronger ones."""
    rank = {a: i for i, a in enumerate(ladder)}
    active: dict[str, CompiledRule] = {}
    removers: list[CompiledRule] = []
    for rules in _by_tier(fired):
        for r in rules:
            if r.set_dimension == dimension and r.set_action not in active:
                active[r.set_action] = r  # type: ignore[index]
        for r in rules:
            hit = [a for a in active if a in r.forbid or (r.cap in rank and rank[a] > rank[r.cap])]
            for a in hit:
                del active[a]
            if hit:
                removers.append(r)
    actions = tuple(a for a in ladder if a in active)
    setters = sorted({id(r): r for r in active.values()}.values(), key=lambda r: r.index)
    return actions, [*setters, *removers]


def resolve_choice(
    options: tuple[str, ...], dimension: str, fired: Sequence[CompiledRule]
) -> tuple[str | None, frozenset[str], list[CompiledRule]]:
    """An unordered choice (destination): a rule's pick, else None; plus what is forbidden.

    A stronger tier's pick overrides a weaker tier's forbid, and a stronger tier's forbid
    cancels a weaker tier's pick.
    """
    pick: CompiledRule | None = None
    banned: set[str] = set()
    removers: list[CompiledRule] = []
    for rules in _by_tier(fired):
        for r in rules:
            if r.set_dimension == dimension:
                pick = r
                banned.discard(r.set_action)  # type: ignore[arg-type]
                break
        for r in rules:
            hits = r.forbid & set(options)
            if hits:
                banned |= hits
                if pick is not None and pick.set_action in hits:
                    pick = None
                removers.append(r)
    if pick is not None:
        return pick.set_action, frozenset(banned), [pick]
    return None, frozenset(banned), removers
