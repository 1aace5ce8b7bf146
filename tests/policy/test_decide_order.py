"""Order decisions under the default policy and small purpose-built ones."""

from __future__ import annotations

import json

import pytest

from tests.policy.factories import make_policy, order_event, rule
from triage.policy import Explanation, decide_order, default_policy


@pytest.fixture(scope="module")
def policy():
    return default_policy()


def test_release_when_fraud_score_below_verify_threshold(policy):
    d = decide_order(order_event(), {"p_fraud": 0.01, "p_late": 0.05}, policy)
    assert d.actions == ("release",)
    assert d.reasons == ()


def test_verify_when_fraud_score_in_verify_band(policy):
    d = decide_order(order_event(), {"p_fraud": 0.1, "p_late": 0.05}, policy)
    assert d.fraud_action == "verify_customer"
    assert [r.code for r in d.reasons] == ["S2-fraud-verify"]
    assert "10%" in d.reasons[0].text


def test_hold_when_fraud_score_exceeds_policy_threshold(policy):
    d = decide_order(order_event(), {"p_fraud": 0.6}, policy)
    assert d.fraud_action == "hold_for_review"
    assert d.reasons[0].code == "S1-fraud-hold"
    assert d.needs_review


def test_score_band_is_half_open_at_its_threshold(policy):
    at = policy.thresholds["fraud_hold"]
    assert decide_order(order_event(), {"p_fraud": at}, policy).fraud_action == "hold_for_review"
    assert decide_order(order_event(), {"p_fraud": at - 1e-9}, policy).fraud_action == "verify_customer"


def test_delay_actions_add_up_with_one_fraud_action(policy):
    d = decide_order(order_event(), {"p_fraud": 0.0, "p_late": 0.9}, policy)
    assert d.actions == ("release", "notify_customer", "expedite")
    assert d.delay_actions == ("notify_customer", "expedite")


def test_reallocate_store_order_with_time_left(policy):
    ev = order_event(fulfillment_type="ship_from_store", hours_to_promise=30)
    d = decide_order(ev, {"p_fraud": 0.0, "p_late": 0.55}, policy)
    assert d.delay_actions == ("notify_customer", "reallocate_node")


def test_channel_condition_forbids_expedite_on_marketplace(policy):
    d = decide_order(order_event(channel="marketplace"), {"p_fraud": 0.0, "p_late": 0.9}, policy)
    assert d.delay_actions == ("notify_customer",)
    assert "H8-marketplace-cannot-expedite" in [r.code for r in d.reasons]


def test_category_list_field_matches_any_element(policy):
    ev = order_event(customer_is_new=True, categories=["toys", "electronics"], order_total=450.0)
    d = decide_order(ev, {"p_fraud": 0.0}, policy)
    assert d.fraud_action == "verify_customer"
    assert d.reasons[0].code == "H6-new-account-electronics"
    assert (
        decide_order(
            order_event(customer_is_new=True, order_total=450.0), {"p_fraud": 0.0}, policy
        ).fraud_action
        == "release"
    )


def test_amount_limit_applies_at_and_above_the_limit(policy):
    ev = order_event(payment_method="gift_card")
    assert decide_order(ev | {"order_total": 499.99}, {"p_fraud": 0.0}, policy).fraud_action == "release"
    assert (
        decide_order(ev | {"order_total": 500.0}, {"p_fraud": 0.0}, policy).fraud_action == "verify_customer"
    )


def test_deny_list_forces_review_over_low_score():
    p = make_policy(lists={"blocked_customers": ["c-bad"], "trusted_customers": ["c-bad"]}, rules=None)
    d = decide_order(order_event(customer_id="c-bad"), {"p_fraud": 0.0}, p)
    assert d.fraud_action == "hold_for_review"
    assert [r.code for r in d.reasons] == ["H1-deny-listed-customer"]


@pytest.mark.parametrize(
    ("field", "list_name"), [("device_id", "blocked_devices"), ("email_hash", "blocked_emails")]
)
def test_deny_lists_on_device_and_email_force_review(field, list_name):
    p = make_policy(lists={list_name: ["x-9"]}, rules=None)
    assert decide_order(order_event(**{field: "x-9"}), {"p_fraud": 0.0}, p).fraud_action == "hold_for_review"
    assert decide_order(order_event(), {"p_fraud": 0.0}, p).fraud_action == "release"


def test_watched_postcode_forbids_release_and_keeps_leading_zeros():
    p = make_policy(lists={"watched_postcodes": ["01234"]}, rules=None)
    assert (
        decide_order(order_event(shipping_postcode="01234"), {"p_fraud": 0.0}, p).fraud_action
        == "verify_customer"
    )
    assert decide_order(order_event(shipping_postcode="1234"), {"p_fraud": 0.0}, p).fraud_action == "release"


def test_hard_allow_list_wins_over_score_band_hold():
    p = make_policy(lists={"trusted_customers": ["c-vip"]}, rules=None)
    d = decide_order(order_event(customer_id="c-vip"), {"p_fraud": 0.9}, p)
    assert d.fraud_action == "release"
    assert [r.code for r in d.reasons] == ["H4-allow-listed-customer"]


def test_guardrail_wins_over_hard_rule_allow_list():
    p = make_policy(lists={"trusted_customers": ["c-vip"]}, rules=None)
    d = decide_order(order_event(customer_id="c-vip", order_total=5000.0), {"p_fraud": 0.05}, p)
    assert d.fraud_action == "verify_customer"
    assert [r.code for r in d.reasons] == ["G2-high-value-never-auto-released", "H4-allow-listed-customer"]


def test_high_value_order_not_auto_released_when_fraud_score_absent(policy):
    d = decide_order(order_event(order_total=2000.0), {"p_fraud": None}, policy)
    assert d.fraud_action == "verify_customer"
    small = decide_order(order_event(order_total=200.0), {"p_fraud": None}, policy)
    assert small.fraud_action == "release"


def test_guardrail_caps_a_hard_rule_cancel_to_hold_for_review():
    p = make_policy(
        [rule("H-cancel", "hard", {"field": "channel", "eq": "web"}, {"set_action": "cancel_order"})]
    )
    d = decide_order(order_event(), {"p_fraud": 0.99}, p)
    assert d.fraud_action == "hold_for_review"
    assert [r.code for r in d.reasons] == ["G1-no-automatic-cancel", "H-cancel"]


def test_cap_automation_limits_the_strongest_action():
    p = make_policy(
        [
            rule("S-hold", "score", {"score": "p_fraud", "min": 0.5}, {"set_action": "hold_for_review"}),
            rule("H-cap", "hard", {"field": "channel", "eq": "store"}, {"cap_automation": "verify_customer"}),
        ]
    )
    assert decide_order(order_event(channel="store"), {"p_fraud": 0.9}, p).fraud_action == "verify_customer"
    assert decide_order(order_event(channel="web"), {"p_fraud": 0.9}, p).fraud_action == "hold_for_review"


def test_first_matching_rule_in_a_tier_sets_the_action():
    p = make_policy(
        [
            rule("S-a", "score", {"score": "p_fraud", "min": 0.1}, {"set_action": "verify_customer"}),
            rule("S-b", "score", {"score": "p_fraud", "min": 0.1}, {"set_action": "hold_for_review"}),
        ]
    )
    d = decide_order(order_event(), {"p_fraud": 0.5}, p)
    assert d.fraud_action == "verify_customer"
    assert [r.code for r in d.reasons] == ["S-a"]


def test_score_tier_forbid_does_not_bind_a_hard_rule():
    p = make_policy(
        [
            rule("S-no-release", "score", {"score": "p_fraud", "min": 0.1}, {"forbid": ["release"]}),
            rule("H-release", "hard", None, {"set_action": "release"}),
        ]
    )
    assert decide_order(order_event(), {"p_fraud": 0.5}, p).fraud_action == "release"


def test_not_and_any_combinators():
    when = {"any": [{"field": "channel", "in": ["app"]}, {"not": {"field": "order_total", "max": 1000}}]}
    p = make_policy([rule("H-x", "hard", when, {"set_action": "verify_customer"})])
    assert decide_order(order_event(channel="app"), {}, p).fraud_action == "verify_customer"
    assert decide_order(order_event(order_total=1000.0), {}, p).fraud_action == "verify_customer"
    assert decide_order(order_event(), {}, p).fraud_action == "release"


def test_missing_field_makes_a_condition_unknown_not_true():
    when = {"not": {"field": "device_id", "in": ["d-bad"]}}
    p = make_policy([rule("H-x", "hard", when, {"set_action": "verify_customer"})])
    assert decide_order(order_event(device_id=None), {}, p).fraud_action == "release"
    assert decide_order(order_event(device_id="d-ok"), {}, p).fraud_action == "verify_customer"


def test_present_test_matches_missing_fields():
    p = make_policy([rule("H-x", "hard", {"field": "device_id", "present": False}, {"forbid": ["release"]})])
    assert decide_order(order_event(device_id=None), {}, p).fraud_action == "verify_customer"
    assert decide_order(order_event(device_id=float("nan")), {}, p).fraud_action == "verify_customer"
    assert decide_order(order_event(), {}, p).fraud_action == "release"


def test_absent_model_score_is_not_degraded(policy):
    d = decide_order(order_event(), {"p_fraud": None, "p_late": None}, policy)
    assert d.degraded is False
    assert d.actions == ("release",)


def test_degraded_without_fraud_score_uses_safe_default(policy):
    d = decide_order(order_event(), {}, policy, degraded=True)
    assert d.degraded is True
    assert d.fraud_action == "verify_customer"
    assert d.reasons[-1].code == "policy.degraded_default"


def test_degraded_keeps_a_fraud_score_that_is_there(policy):
    d = decide_order(order_event(), {"p_fraud": 0.01}, policy, degraded=True)
    assert d.degraded is True
    assert d.fraud_action == "release"


def test_degraded_still_obeys_hard_rules():
    p = make_policy(lists={"trusted_customers": ["c-vip"]}, rules=None)
    assert decide_order(order_event(customer_id="c-vip"), {}, p, degraded=True).fraud_action == "release"


def test_model_reasons_are_the_top_contributions_by_weight(policy):
    ex = [
        Explanation("account_age", "account created 3 minutes before the order", 1.2),
        Explanation("device_customers", "device used by 5 customers in 24 h", -2.0),
        Explanation("a", "a", 0.1),
        Explanation("b", "b", 0.2),
    ]
    d = decide_order(order_event(), {"p_fraud": 0.5}, policy, explanations=ex)
    model = [r for r in d.reasons if r.source == "model"]
    assert [r.code for r in model] == ["device_customers", "account_age", "b"]


def test_priority_grows_with_stake_and_urgency(policy):
    low = decide_order(
        order_event(order_total=100.0, hours_to_promise=100), {"p_fraud": 0.5, "p_late": 0.0}, policy
    )
    big = decide_order(
        order_event(order_total=1000.0, hours_to_promise=100), {"p_fraud": 0.5, "p_late": 0.0}, policy
    )
    urgent = decide_order(
        order_event(order_total=1000.0, hours_to_promise=0), {"p_fraud": 0.5, "p_late": 0.0}, policy
    )
    assert low.priority == pytest.approx(50.0)
    assert big.priority == pytest.approx(500.0)
    assert urgent.priority == pytest.approx(1000.0)
    assert urgent.priority_band == "high"


def test_decision_to_dict_is_json_serialisable(policy):
    d = decide_order(
        order_event(),
        {"p_fraud": 0.5, "p_late": float("nan")},
        policy,
        explanations=[Explanation("x", "y", 1.0)],
        model_versions={"fraud": "3"},
    )
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert data["policy_version"] == policy.policy_version
    assert data["scores"] == {"p_fraud": 0.5, "p_late": None}
    assert data["model_versions"] == {"fraud": "3"}
    assert data["reasons"][0]["source"] == "rule"


def test_decision_is_pure_and_repeatable(policy):
    ev = order_event(customer_is_new=True, categories=["electronics"], order_total=900.0)
    a = decide_order(ev, {"p_fraud": 0.2, "p_late": 0.4}, policy)
    b = decide_order(ev, {"p_fraud": 0.2, "p_late": 0.4}, policy)
    assert a == b
