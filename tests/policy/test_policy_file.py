"""Policy files: the default loads; malformed files fail with file, key path, expected and got."""

from __future__ import annotations

import pytest
import yaml

from tests.policy.factories import GUARDRAIL_NO_CANCEL, policy_data, rule
from triage.policy import PolicyError, default_policy, default_policy_path, load_policy, write_policy


def _write(tmp_path, data, name="policy.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _error(tmp_path, data) -> PolicyError:
    path = _write(tmp_path, data)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert str(path) in str(info.value)
    return info.value


def test_default_policy_loads_with_version_and_guardrails():
    p = load_policy(default_policy_path())
    assert p.policy_version
    assert [r.id for r in p.rules if r.tier == "guardrail"][:2] == [
        "G1-no-automatic-cancel",
        "G2-high-value-never-auto-released",
    ]
    assert default_policy() == p


def test_written_policy_loads_back_equal(tmp_path):
    p = default_policy()
    assert load_policy(write_policy(p, tmp_path / "out.yaml")) == p


def test_typo_key_names_the_key_path(tmp_path):
    data = policy_data()
    data["rules"][3]["when"]["fiel"] = data["rules"][3]["when"].pop("field")
    err = _error(tmp_path, data)
    assert err.path.startswith("rules[3].when")
    assert "condition" in err.problem


def test_typo_in_nested_key_names_it(tmp_path):
    data = policy_data()
    data["costs"]["fraud_actions"]["hold_for_review"]["catch_rte"] = 0.9
    err = _error(tmp_path, data)
    assert err.path == "costs.fraud_actions.hold_for_review.catch_rte"
    assert "unknown key" in err.problem


def test_wrong_type_in_score_band_says_expected_and_got(tmp_path):
    data = policy_data()
    idx = next(i for i, r in enumerate(data["rules"]) if r["id"] == "S1-fraud-hold")
    data["rules"][idx]["when"]["min"] = [0.3]
    err = _error(tmp_path, data)
    assert err.path == f"rules[{idx}].when.min"
    assert "got [0.3]" in err.problem


def test_unknown_threshold_name_is_reported(tmp_path):
    data = policy_data()
    idx = next(i for i, r in enumerate(data["rules"]) if r["id"] == "S1-fraud-hold")
    data["rules"][idx]["when"]["min"] = "fraud_hld"
    err = _error(tmp_path, data)
    assert err.path == f"rules[{idx}].when.min"
    assert "'fraud_hld'" in err.problem and "fraud_hold" in err.problem


def test_unknown_action_is_reported(tmp_path):
    data = policy_data(rules=[GUARDRAIL_NO_CANCEL, rule("H-x", "hard", None, {"set_action": "block_order"})])
    err = _error(tmp_path, data)
    assert err.path == "rules[1].then.set_action"
    assert "'block_order'" in err.problem and "release" in err.problem


def test_action_of_the_wrong_event_kind_is_reported(tmp_path):
    data = policy_data(
        rules=[GUARDRAIL_NO_CANCEL, rule("H-x", "hard", None, {"set_action": "instant_refund"})]
    )
    err = _error(tmp_path, data)
    assert err.path == "rules[1].then.set_action"
    assert "return action" in err.problem


def test_unknown_field_suggests_the_close_one(tmp_path):
    data = policy_data(
        rules=[
            GUARDRAIL_NO_CANCEL,
            rule("H-x", "hard", {"field": "chanel", "in": ["web"]}, {"forbid": ["release"]}),
        ]
    )
    err = _error(tmp_path, data)
    assert err.path == "rules[1].when.field"
    assert "did you mean 'channel'" in err.problem


def test_unknown_list_name_is_reported(tmp_path):
    data = policy_data(
        rules=[
            GUARDRAIL_NO_CANCEL,
            rule("H-x", "hard", {"field": "customer_id", "in_list": "vips"}, {"set_action": "release"}),
        ]
    )
    err = _error(tmp_path, data)
    assert err.path == "rules[1].when.in_list"


def test_policy_without_the_no_cancel_guardrail_is_refused(tmp_path):
    data = policy_data(rules=[rule("H-x", "hard", None, {"set_action": "release"})])
    err = _error(tmp_path, data)
    assert "never cancels" in err.problem


def test_duplicate_rule_ids_are_refused(tmp_path):
    data = policy_data(rules=[GUARDRAIL_NO_CANCEL, GUARDRAIL_NO_CANCEL])
    assert "unique id" in _error(tmp_path, data).problem


def test_missing_policy_version_is_reported(tmp_path):
    data = policy_data()
    del data["policy_version"]
    err = _error(tmp_path, data)
    assert err.path == "policy_version"
    assert "expected this key" in err.problem


def test_effect_without_any_effect_is_refused(tmp_path):
    data = policy_data(rules=[GUARDRAIL_NO_CANCEL, rule("H-x", "hard", None, {"force_review": False})])
    err = _error(tmp_path, data)
    assert err.path == "rules[1].then"
    assert "set_action" in err.problem


def test_threshold_outside_zero_one_is_refused(tmp_path):
    data = policy_data()
    data["thresholds"]["fraud_hold"] = 35
    err = _error(tmp_path, data)
    assert err.path == "thresholds.fraud_hold"


def test_invalid_yaml_and_missing_file_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(PolicyError, match="bad.yaml: expected valid YAML"):
        load_policy(path)
    with pytest.raises(PolicyError, match="nope.yaml"):
        load_policy(tmp_path / "nope.yaml")
