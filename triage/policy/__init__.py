"""Rule-bounded decisions: the policy as data, one evaluator, the decision, tuning, backtest.

    policy = load_policy(path)                # or default_policy()
    decision = decide_order(event, scores, policy, degraded=False)
    decision.to_dict()

See `decide` for the inputs, `conditions` for the rule language, `resolve` for precedence.
"""

from triage.policy.decide import decide_order, decide_orders, decide_return, with_explanations
from triage.policy.decision import Decision, Explanation, Reason
from triage.policy.errors import PolicyError
from triage.policy.loader import (
    default_policy,
    default_policy_path,
    dump_policy,
    load_policy,
    parse_policy,
    write_policy,
)
from triage.policy.model import Policy

__all__ = [
    "Policy",
    "PolicyError",
    "Decision",
    "Explanation",
    "Reason",
    "decide_order",
    "decide_orders",
    "decide_return",
    "with_explanations",
    "load_policy",
    "parse_policy",
    "write_policy",
    "dump_policy",
    "default_policy",
    "default_policy_path",
]
