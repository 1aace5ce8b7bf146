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
