"""Small factories for policy tests: events, and policies built from the default's data."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import yaml

from triage.policy import Policy, default_policy_path, parse_policy

GUARDRAIL_NO_CANCEL = {
    "id": "G1-no-automatic-cancel",
    "tier": "guardrail",
    "event": "order",
    "reason": "never cancels on its own",
    "then": {"cap_automation": "hold_for_review"},
}


@lru_cache(maxsize=1)
def _default_data() -> dict[str, Any]:
    return yaml.safe_load(default_policy_path().read_text())


def policy_data(**overrides: Any) -> dict[str, Any]:
    """The default policy's data (a fresh copy) with top-level keys replaced (lists merged)."""
    data = copy.deepcopy(_default_data())
    overrides = copy.deepcopy(overrides)
    data["lists"] = {**data["lists"], **overrides.pop("lists", {})}
    data.update(overrides)
    return data


def make_policy(
    rules: list[dict[str, Any]] | None = None, *, keep_guardrail: bool = True, **overrides: Any
) -> Policy:
    """A policy with the default's costs and thresholds and only the given rules (plus G1)."""
    if rules is not None:
        overrides["rules"] = ([GUARDRAIL_NO_CANCEL] if keep_guardrail else []) + rules
    return parse_policy(policy_data(**overrides))


def rule(id: str, tier: str, when: dict | None, then: dict, event: str = "order", reason: str = "r") -> dict:
    r = {"id": id, "tier": tier, "event": event, "reason": reason, "then": then}
    if when is not None:
        r["when"] = when
    return r


def order_event(**kw: Any) -> dict[str, Any]:
    ev = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "channel": "web",
        "order_total": 120.0,
        "payment_method": "card",
        "device_id": "d-1",
        "email_hash": "e-1",
        "shipping_postcode": "01234",
        "fulfillment_type": "ship_from_dc",
        "service_level": "standard",
        "categories": ["apparel"],
        "customer_is_new": False,
        "hours_to_promise": 72.0,
    }
    ev.update(kw)
    return ev


def return_event(**kw: Any) -> dict[str, Any]:
    ev = {
        "return_id": "r-1",
        "order_id": "o-1",
        "customer_id": "c-1",
        "return_channel": "store",
        "reason_code": "wrong_size",
        "reported_condition": "unopened",
        "refund_amount": 80.0,
        "category": "apparel",
        "is_returnable": True,
    }
    ev.update(kw)
    return ev


def restockable(p_abuse: float = 0.01) -> dict[str, float]:
    return {
        "p_restock": 0.9,
        "p_refurbish": 0.04,
        "p_liquidate": 0.03,
        "p_return_to_vendor": 0.02,
        "p_recycle": 0.01,
        "p_abuse": p_abuse,
    }


def scored_orders(n: int, seed: int = 0, days: int = 14) -> Any:
    """Random scored orders with labels drawn from their scores (calibrated by construction)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cats = np.array(["electronics", "apparel", "home", "toys", "grocery"], dtype=object)
    df = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n)],
            "customer_id": [f"c{i}" for i in rng.integers(0, max(1, n // 3), n)],
            "created_at": pd.Timestamp("2026-03-01T00:00Z")
            + pd.to_timedelta(rng.integers(0, days * 1440, n), unit="min"),
            "channel": rng.choice(["web", "app", "store", "marketplace"], n),
            "order_total": rng.lognormal(4.3, 1.0, n).round(2),
            "payment_method": rng.choice(["card", "paypal", "gift_card"], n, p=[0.7, 0.25, 0.05]),
            "fulfillment_type": rng.choice(["ship_from_dc", "ship_from_store", "pickup_in_store"], n),
            "categories": [list(rng.choice(cats, rng.integers(1, 3), replace=False)) for _ in range(n)],
            "customer_is_new": rng.random(n) < 0.2,
            "hours_to_promise": rng.uniform(4, 120, n),
            "p_fraud": rng.beta(0.4, 25, n),
            "p_late": rng.beta(1.0, 7, n),
        }
    )
    df["is_fraud"] = (rng.random(n) < df.p_fraud).astype(int)
    df["is_late"] = (rng.random(n) < df.p_late).astype(int)
    return df


def scored_returns(n: int, seed: int = 0, days: int = 14) -> Any:
    import numpy as np
    import pandas as pd

    from triage.schema import DISPOSITIONS

    rng = np.random.default_rng(seed)
    probs = rng.dirichlet([6, 1.5, 1.2, 0.8, 0.5], n)
    df = pd.DataFrame(
        {
            "return_id": [f"r{i}" for i in range(n)],
            "customer_id": [f"c{i}" for i in rng.integers(0, max(1, n // 3), n)],
            "requested_at": pd.Timestamp("2026-03-01T00:00Z")
            + pd.to_timedelta(rng.integers(0, days * 1440, n), unit="min"),
            "return_channel": rng.choice(["mail", "store", "kiosk", "carrier_pickup"], n),
            "refund_amount": rng.lognormal(3.6, 0.9, n).round(2),
            "category": rng.choice(["electronics", "apparel", "home", "grocery"], n),
            "is_returnable": rng.random(n) > 0.02,
            "p_abuse": rng.beta(0.6, 12, n),
        }
    )
    for j, k in enumerate(DISPOSITIONS):
        df[f"p_{k}"] = probs[:, j]
    df["disposition"] = [DISPOSITIONS[rng.choice(5, p=p)] for p in probs]
    df["abuse_confirmed"] = rng.random(n) < df.p_abuse
    return df
