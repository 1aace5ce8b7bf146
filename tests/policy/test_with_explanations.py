"""Explaining a decision after it was made equals deciding with the explanations: the
service explains only the decisions that are not a plain release, and does not decide twice."""

from __future__ import annotations

import pytest

from tests.policy.factories import order_event, restockable, return_event
from triage.policy import Explanation, decide_order, decide_return, default_policy, with_explanations

EXPLAINED = [Explanation("triage-fraud.velocity", "many orders lately", 0.9, "triage-fraud"),
             Explanation("triage-delay.node_load", "busy node", -1.4, "triage-delay"),
             Explanation("triage-fraud.new_device", "new device", 0.2, "triage-fraud"),
             Explanation("triage-fraud.age", "new account", 0.5, "triage-fraud")]


@pytest.mark.parametrize("scores", [{"p_fraud": 0.6, "p_late": 0.7}, {"p_fraud": 0.1}, {}])
def test_order_explained_afterwards_equals_order_decided_with_explanations(scores):
    policy = default_policy()
    event = order_event()
    direct = decide_order(event, scores, policy, explanations=EXPLAINED, model_versions={"m": "1"})
    later = with_explanations(decide_order(event, scores, policy, model_versions={"m": "1"}), EXPLAINED, policy)
    assert later == direct
    assert [r.source for r in later.reasons][-1] == "model"


@pytest.mark.parametrize("p_abuse", [0.01, 0.5])
def test_return_explained_afterwards_equals_return_decided_with_explanations(p_abuse):
    policy = default_policy()
    event, scores = return_event(), restockable(p_abuse)
    direct = decide_return(event, scores, policy, explanations=EXPLAINED, degraded=True)
    later = with_explanations(decide_return(event, scores, policy, degraded=True), EXPLAINED, policy)
    assert later == direct
