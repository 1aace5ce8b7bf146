"""Threshold tuning on tiny cases whose optimum is checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.policy.factories import make_policy, policy_data, scored_orders
from triage.policy import default_policy, load_policy, write_policy
from triage.tuning.plots import tune_page
from triage.tuning.tune import tune_policy

# Hand-priced costs: fraud loss = order value; verify stops half (cost 1, friction 1),
# a review stops all (cost 5, friction 5); no delay costs in play.
COSTS = policy_data()["costs"] | {
    "fraud_loss_rate": 1.0,
    "fraud_actions": {
        "release": {"cost": 0, "catch_rate": 0, "friction_if_good": 0},
        "verify_customer": {"cost": 1, "catch_rate": 0.5, "friction_if_good": 1},
        "hold_for_review": {"cost": 5, "catch_rate": 1.0, "friction_if_good": 5},
    },
}


def _orders() -> pd.DataFrame:
    # Per-action cost (release, verify, hold):  A 100/51/5  B 20/11/5  C 0/2/10  D 0/2/10
    return pd.DataFrame(
        {
            "created_at": pd.to_datetime(["2026-03-01T10:00Z"] * 4),
            "order_total": [100.0, 20.0, 50.0, 80.0],
            "p_fraud": [0.9, 0.6, 0.3, 0.1],
            "is_fraud": [1, 1, 0, 0],
        }
    )


def _policy(capacity: float):
    return make_policy(
        costs=COSTS, capacity={"order_reviews_per_day": capacity, "return_reviews_per_day": 10}
    )


def test_unconstrained_optimum_holds_both_frauds_and_releases_the_rest():
    result = tune_policy(_policy(10), _orders())
    # hold A and B (5 + 5), release C and D: 10; no verify band (verify == hold)
    assert result.thresholds == {"fraud_verify": 0.6, "fraud_hold": 0.6}
    assert result.before["fraud_cost_tuned"] == pytest.approx(10.0)
    assert result.before["reviews_per_day_tuned"] == pytest.approx(2.0)


def test_capacity_of_one_review_a_day_verifies_the_second_fraud():
    result = tune_policy(_policy(1), _orders())
    # hold A (5), verify B (11), release C and D: 16
    assert result.thresholds == {"fraud_verify": 0.6, "fraud_hold": 0.9}
    assert result.before["fraud_cost_tuned"] == pytest.approx(16.0)


def test_no_review_capacity_verifies_the_frauds_only():
    result = tune_policy(_policy(0.5), _orders())
    # nothing held: verify A (51) and B (11), release C and D: 62
    assert result.thresholds["fraud_verify"] == 0.6
    assert result.thresholds["fraud_hold"] == 1.0
    assert result.before["fraud_cost_tuned"] == pytest.approx(62.0)


def test_cost_curve_matches_a_hand_priced_point():
    curve = tune_policy(_policy(10), _orders()).fraud_curve
    row = curve[(curve.verify_threshold == 0.3) & (curve.hold_threshold == 0.9)].iloc[0]
    # hold A 5, verify B 11 and C 2, release D 0
    assert row.cost == pytest.approx(18.0)
    assert row.reviews_per_day == pytest.approx(1.0)
    assert row.verifications_per_day == pytest.approx(2.0)


def test_delay_thresholds_pay_for_expedite_only_where_it_saves_more():
    df = pd.DataFrame(
        {
            "created_at": pd.to_datetime(["2026-03-01T10:00Z", "2026-03-02T10:00Z", "2026-03-02T11:00Z"]),
            "order_total": [10.0, 10.0, 10.0],
            "p_late": [0.9, 0.5, 0.1],
            "is_late": [1, 1, 0],
        }
    )
    # default costs: late 15; notify 0.05 avoids 25%; notify+expedite costs 9.05, leaves 15*0.75*0.3
    # late order: none 15, notify 11.3, both 9.05 + 3.375 = 12.425 → notify is best
    # on-time order: none 0 → notify at 0.5, never expedite
    result = tune_policy(make_policy(), df)
    assert result.thresholds["delay_notify"] == 0.5
    assert result.thresholds["delay_expedite"] == 1.0
    assert result.before["delay_cost_tuned"] == pytest.approx(2 * (15 * 0.75 + 0.05))


def test_tuned_policy_gets_a_new_version_and_round_trips(tmp_path):
    policy = _policy(1)
    result = tune_policy(policy, _orders())
    assert result.policy.policy_version == f"{policy.policy_version}+tuned.20260301"
    assert result.policy.thresholds["fraud_hold"] == 0.9
    assert result.policy.rules == policy.rules
    again = tune_policy(result.policy, _orders())
    assert again.policy.policy_version == result.policy.policy_version
    assert load_policy(write_policy(result.policy, tmp_path / "tuned.yaml")) == result.policy
    assert "hold threshold" in result.to_text()


def test_since_keeps_only_out_of_time_orders():
    df = _orders()
    df.loc[0, "created_at"] = pd.Timestamp("2026-01-01T00:00Z")
    result = tune_policy(_policy(10), df, since="2026-02-01")
    assert result.n_orders == 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_without_labels_are_left_out(seed):
    rng = np.random.default_rng(seed)
    n = 500
    df = pd.DataFrame(
        {
            "created_at": pd.Timestamp("2026-03-01T00:00Z")
            + pd.to_timedelta(rng.integers(0, 10 * 24, n), unit="h"),
            "order_total": rng.lognormal(4, 1, n),
            "p_fraud": rng.beta(0.5, 10, n),
            "p_late": rng.beta(1, 5, n),
        }
    )
    df["is_fraud"] = (rng.random(n) < df.p_fraud).astype(float)
    df["is_late"] = (rng.random(n) < df.p_late).astype(float)
    df.loc[:50, "is_fraud"] = np.nan
    result = tune_policy(make_policy(), df, grid=50)
    assert result.before["reviews_per_day_tuned"] <= result.policy.capacity.order_reviews_per_day
    t = result.thresholds
    assert t["fraud_verify"] <= t["fraud_hold"] and t["delay_notify"] <= t["delay_expedite"]


def test_cost_curve_plot_marks_the_chosen_hold_threshold_and_the_review_capacity(tmp_path):
    from triage.tuning.plots import tune_figures

    result = tune_policy(_policy(1), _orders())
    fig = tune_figures(result)[0]
    vertical = [s.x0 for s in fig.layout.shapes if s.x0 == s.x1 and s.x0 is not None]
    horizontal = [s.y0 for s in fig.layout.shapes if s.y0 == s.y1 and s.y0 is not None]
    assert vertical == [0.9] and horizontal == [1.0]
    curve = result.hold_curve()
    cost = next(t for t in fig.data if t.name == "best cost")
    assert list(cost.x) == list(curve["hold_threshold"]) and list(cost.y) == list(curve["cost"])
    over = next(t for t in fig.data if t.name == "over capacity")
    assert set(over.x) == set(curve.loc[~curve["feasible"].astype(bool), "hold_threshold"])
    page = tune_page(result, tmp_path / "tune.html").read_text()
    assert page.count("* plotly.js v") == 1 and "fraud_hold" in page


def test_fraud_thresholds_are_kept_with_the_reason_when_no_fraud_label_has_matured():
    df = scored_orders(400, seed=3).assign(is_fraud=np.nan)
    policy = default_policy()
    result = tune_policy(policy, df)
    assert set(result.thresholds) == {"delay_notify", "delay_expedite"}
    assert result.policy.thresholds["fraud_hold"] == policy.thresholds["fraud_hold"]
    assert result.kept == {"fraud": "no scored order in the window has a mature fraud label"}
    assert "fraud thresholds kept as they were: no scored order" in result.to_text()


def test_nothing_to_tune_is_one_clear_error():
    from triage.errors import NotEnoughDataError

    df = scored_orders(50).assign(p_fraud=np.nan, is_late=np.nan)
    with pytest.raises(NotEnoughDataError, match="nothing to tune: fraud: no p_fraud scores.*delay: no scored"):
        tune_policy(default_policy(), df)


def test_plots_show_only_the_delay_curve_when_the_fraud_thresholds_were_kept():
    from triage.tuning.plots import tune_figures

    result = tune_policy(default_policy(), scored_orders(400, seed=3).assign(is_fraud=np.nan))
    assert [f.layout.title.text.split(":")[0] for f in tune_figures(result)] == ["Delay"]
