"""Return decisions: refund mode from abuse risk and rules, destination by expected recovery."""

from __future__ import annotations

import json

import pytest

from tests.policy.factories import make_policy, restockable, return_event, rule
from triage.policy import decide_return, default_policy


@pytest.fixture(scope="module")
def policy():
    return default_policy()


def test_low_abuse_restockable_return_gets_instant_refund_to_store(policy):
    d = decide_return(return_event(), restockable(0.01), policy)
    assert d.actions == ("instant_refund", "store_restock")
    assert d.reasons[-1].code == "policy.route"


def test_refund_on_receipt_between_instant_and_inspect_thresholds(policy):
    assert decide_return(return_event(), restockable(0.05), policy).refund_mode == "refund_on_receipt"


def test_inspection_band_and_review_band_for_abuse(policy):
    assert decide_return(return_event(), restockable(0.2), policy).refund_mode == "refund_after_inspection"
    d = decide_return(return_event(), restockable(0.7), policy)
    assert d.refund_mode == "manual_review"
    assert d.needs_review


def test_destination_follows_the_likeliest_value_not_a_fixed_map(policy):
    scores = {
        "p_restock": 0.05,
        "p_refurbish": 0.85,
        "p_liquidate": 0.05,
        "p_return_to_vendor": 0.03,
        "p_recycle": 0.02,
        "p_abuse": 0.2,
    }
    d = decide_return(return_event(refund_amount=400.0, return_channel="mail"), scores, policy)
    assert d.destination == "refurbish_center"
    assert d.expected_recovery == pytest.approx(
        400 * (0.05 * 0.70 + 0.85 * 0.65 + 0.05 * 0.15 + 0.03 * 0.30 + 0.02 * 0.01) - 8.0
    )


def test_keep_it_when_shipping_back_costs_more_than_expected_recovery(policy):
    scores = {
        "p_restock": 0.05,
        "p_refurbish": 0.05,
        "p_liquidate": 0.1,
        "p_return_to_vendor": 0.0,
        "p_recycle": 0.8,
        "p_abuse": 0.01,
    }
    d = decide_return(return_event(refund_amount=12.0, return_channel="mail"), scores, policy)
    assert d.actions == ("keep_it",)
    assert d.destination is None
    assert "policy.keep_it" in [r.code for r in d.reasons]


def test_no_keep_it_when_abuse_risk_calls_for_inspection(policy):
    scores = {
        "p_restock": 0.05,
        "p_refurbish": 0.05,
        "p_liquidate": 0.1,
        "p_return_to_vendor": 0.0,
        "p_recycle": 0.8,
        "p_abuse": 0.3,
    }
    d = decide_return(return_event(refund_amount=12.0, return_channel="mail"), scores, policy)
    assert d.refund_mode == "refund_after_inspection"
    assert d.destination is not None


def test_forbidden_keep_it_brings_electronics_back(policy):
    scores = {
        "p_restock": 0.0,
        "p_refurbish": 0.0,
        "p_liquidate": 0.0,
        "p_return_to_vendor": 0.0,
        "p_recycle": 1.0,
        "p_abuse": 0.01,
    }
    d = decide_return(
        return_event(refund_amount=10.0, return_channel="mail", category="electronics"), scores, policy
    )
    assert d.refund_mode == "instant_refund"
    assert d.destination is not None


def test_rule_sets_keep_it_for_small_grocery_returns(policy):
    d = decide_return(return_event(category="grocery", refund_amount=9.0), restockable(0.05), policy)
    assert d.actions == ("keep_it",)
    assert d.reasons[0].code == "H13-small-grocery-keep-it"


def test_forbidden_destination_is_not_chosen(policy):
    d = decide_return(return_event(return_channel="mail"), restockable(0.01), policy)
    assert d.destination == "dc_restock"


def test_rule_can_set_a_destination():
    p = make_policy(
        [
            rule(
                "H-rtv",
                "hard",
                {"field": "reason_code", "eq": "defective"},
                {"set_action": "vendor_rtv"},
                event="return",
            )
        ]
    )
    d = decide_return(return_event(reason_code="defective"), restockable(0.01), p)
    assert d.destination == "vendor_rtv"
    assert [r.code for r in d.reasons][-1] == "H-rtv"


def test_non_returnable_item_forces_manual_review(policy):
    assert (
        decide_return(return_event(is_returnable=False), restockable(0.0), policy).refund_mode
        == "manual_review"
    )


def test_absent_return_scores_use_priors_and_default_mode(policy):
    d = decide_return(return_event(refund_amount=100.0, return_channel="mail"), {}, policy)
    assert d.degraded is False
    assert d.refund_mode == "refund_on_receipt"
    assert "priors" in d.reasons[-1].text


def test_degraded_return_waits_for_inspection(policy):
    d = decide_return(return_event(refund_amount=300.0), {}, policy, degraded=True)
    assert d.degraded is True
    assert d.refund_mode == "refund_after_inspection"


def test_degraded_guardrail_stops_instant_refund_for_large_refunds():
    p = make_policy(
        [
            rule("H-instant", "hard", None, {"set_action": "instant_refund"}, event="return"),
            rule(
                "G-degraded",
                "guardrail",
                {
                    "all": [
                        {"degraded": True},
                        {"score_absent": "p_abuse"},
                        {"field": "refund_amount", "min": 200},
                    ]
                },
                {"forbid": ["keep_it", "instant_refund", "refund_on_receipt"]},
                event="return",
            ),
        ]
    )
    assert (
        decide_return(return_event(refund_amount=300.0), {}, p, degraded=True).refund_mode
        == "refund_after_inspection"
    )
    assert decide_return(return_event(refund_amount=300.0), {}, p).refund_mode == "instant_refund"
    assert (
        decide_return(return_event(refund_amount=100.0), {}, p, degraded=True).refund_mode == "instant_refund"
    )


def test_return_decision_to_dict_is_json_serialisable(policy):
    d = decide_return(return_event(), restockable(0.2), policy, model_versions={"returns": "7"})
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert data["kind"] == "return"
    assert data["actions"] == [d.refund_mode, d.destination]
