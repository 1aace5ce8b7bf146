"""Latency of the decision functions, excluding model inference.

    /work/venv/bin/python bench/bench_decision.py [--n 20000] [--seed 0] [--policy FILE]

Builds N random order and return events with random scores (and a few explanations),
calls decide_order / decide_return once each per event, and prints p50/p99/mean in µs.
Target: p50 < 300 µs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from triage.policy import Explanation, decide_order, decide_return, default_policy, load_policy

CHANNELS = ("web", "app", "store", "marketplace", "call_center")
PAYMENTS = ("card", "paypal", "gift_card", "bnpl", "store_credit")
FULFILMENT = ("ship_from_dc", "ship_from_store", "pickup_in_store", "marketplace_seller")
CATEGORIES = ("electronics", "apparel", "footwear", "home", "beauty", "toys", "grocery")
RETURN_CHANNELS = ("mail", "store", "kiosk", "carrier_pickup")


def _order(rng: random.Random, i: int) -> tuple[dict, dict]:
    event = {
        "order_id": f"o{i}",
        "customer_id": f"c{rng.randrange(5000)}",
        "channel": rng.choice(CHANNELS),
        "order_total": round(rng.lognormvariate(4.5, 1.0), 2),
        "payment_method": rng.choice(PAYMENTS),
        "device_id": f"d{rng.randrange(8000)}",
        "email_hash": f"e{rng.randrange(5000)}",
        "shipping_postcode": f"{rng.randrange(100000):05d}",
        "fulfillment_type": rng.choice(FULFILMENT),
        "categories": rng.sample(CATEGORIES, rng.randint(1, 3)),
        "customer_is_new": rng.random() < 0.2,
        "hours_to_promise": rng.uniform(2, 120),
    }
    scores = {"p_fraud": rng.betavariate(0.5, 20), "p_late": rng.betavariate(1, 6)}
    if rng.random() < 0.05:
        scores["p_fraud"] = None
    return event, scores


def _return(rng: random.Random, i: int) -> tuple[dict, dict]:
    event = {
        "return_id": f"r{i}",
        "customer_id": f"c{rng.randrange(5000)}",
        "return_channel": rng.choice(RETURN_CHANNELS),
        "reason_code": "wrong_size",
        "refund_amount": round(rng.lognormvariate(3.5, 1.0), 2),
        "category": rng.choice(CATEGORIES),
        "is_returnable": rng.random() > 0.02,
    }
    raw = [rng.random() for _ in range(5)]
    total = sum(raw)
    names = ("p_restock", "p_refurbish", "p_liquidate", "p_return_to_vendor", "p_recycle")
    scores = {k: v / total for k, v in zip(names, raw, strict=True)}
    scores["p_abuse"] = rng.betavariate(0.6, 12)
    return event, scores


def _time(fn, items, policy, explanations) -> list[float]:
    out = []
    for event, scores in items:
        t0 = time.perf_counter_ns()
        fn(event, scores, policy, explanations=explanations)
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def _report(name: str, us: list[float]) -> None:
    us = sorted(us)
    p50 = us[len(us) // 2]
    p99 = us[int(len(us) * 0.99)]
    print(
        f"{name:<14} n={len(us):>6}  p50={p50:7.1f} µs  p99={p99:7.1f} µs  mean={statistics.fmean(us):7.1f} µs"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policy", default=None)
    args = ap.parse_args()
    policy = load_policy(args.policy) if args.policy else default_policy()
    rng = random.Random(args.seed)
    orders = [_order(rng, i) for i in range(args.n)]
    returns = [_return(rng, i) for i in range(args.n)]
    explanations = [Explanation(f"f{i}", f"feature {i}", rng.uniform(-1, 1)) for i in range(5)]
    for fn, items in ((decide_order, orders[:500]), (decide_return, returns[:500])):  # warm up
        _time(fn, items, policy, explanations)
    print(f"policy {policy.policy_version}, {len(policy.rules)} rules")
    _report("decide_order", _time(decide_order, orders, policy, explanations))
    _report("decide_return", _time(decide_return, returns, policy, explanations))


if __name__ == "__main__":
    main()
