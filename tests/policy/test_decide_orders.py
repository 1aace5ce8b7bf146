"""`decide_orders` (a batch) against `decide_order` (one order at a time) on varied orders."""

from __future__ import annotations

import random

import pytest

from tests.policy.factories import make_policy, order_event
from triage.policy import Explanation, decide_order, decide_orders, default_policy
from triage.policy.evaluate import compiled


def _orders(seed: int, n: int) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    events, scores = [], []
    for i in range(n):
        ev = order_event(
            order_id=f"o-{i}",
            customer_id=rng.choice(["c-1", "c-trusted", "c-blocked", None]),
            channel=rng.choice(["web", "app", "marketplace", None]),
            order_total=rng.choice([5.0, 120.0, 450.0, 650.0, 1500.0, 4000.0, None, float("nan")]),
            payment_method=rng.choice(["card", "gift_card", None]),
            shipping_postcode=rng.choice(["01234", "99999", 12345]),
            fulfillment_type=rng.choice(["ship_from_dc", "ship_from_store", "pickup_in_store", None]),
            categories=rng.choice([["apparel"], ["electronics"], ["electronics", "home"], [], None]),
            customer_is_new=rng.choice([True, False, None]),
            hours_to_promise=rng.choice([2.0, 23.9, 24.0, 72.0, None]),
        )
        sc: dict = {}
        for k in ("p_fraud", "p_late"):
            r = rng.random()
            if r < 0.15:
                continue  # absent
            sc[k] = None if r < 0.2 else float("nan") if r < 0.25 else rng.choice(
                [0.0, 0.019, 0.02, 0.08, 0.3, 0.35, 0.5, 0.65, 0.99, rng.random()])
        events.append(ev)
        scores.append(sc)
    return events, scores


def _policies():
    yield default_policy()
    yield make_policy(lists={"trusted_customers": ["c-trusted"], "blocked_customers": ["c-blocked"],
                             "watched_postcodes": ["12345"], "blocked_devices": [], "blocked_emails": []})


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("degraded", [False, True])
def test_batch_decisions_equal_one_by_one(seed, degraded):
    """Check that a batch gives every order the decision it gets alone: actions, reasons
    (texts filled with its own scores), priority and costs — whatever was resolved before."""
    for policy in _policies():
        events, scores = _orders(seed, 400)
        alone = [decide_order(e, s, policy, degraded=degraded, model_versions={"m": "1"})
                 for e, s in zip(events, scores, strict=True)]
        compiled(policy).resolved.clear()
        batch = decide_orders(events, scores, policy, degraded=degraded, model_versions={"m": "1"})
        assert batch == alone
        assert len({d.actions for d in batch}) > 3  # the inputs do reach several outcomes


def test_batch_with_explanations_adds_model_reasons_per_order():
    policy = default_policy()
    events, scores = _orders(7, 50)
    expl = [[Explanation(code=f"m.f{i}", text=f"t{i}", weight=float(i))] if i % 2 else [] for i in range(50)]
    batch = decide_orders(events, scores, policy, explanations=expl)
    for e, s, x, d in zip(events, scores, expl, batch, strict=True):
        assert d == decide_order(e, s, policy, explanations=x)
