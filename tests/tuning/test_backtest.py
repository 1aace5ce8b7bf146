"""Backtest: replay scored history, side by side with the rules-only and no-automation references."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from tests.policy.factories import make_policy, scored_orders, scored_returns
from triage.policy import default_policy
from triage.tuning.backtest import backtest, replay_orders
from triage.tuning.plots import backtest_page


def _orders() -> pd.DataFrame:
    # two days; one obvious fraud, one late order, two quiet ones
    return pd.DataFrame(
        {
            "created_at": pd.to_datetime(
                ["2026-03-01T10:00Z", "2026-03-01T11:00Z", "2026-03-02T10:00Z", "2026-03-02T12:00Z"]
            ),
            "channel": ["web", "web", "web", "app"],
            "order_total": [300.0, 50.0, 80.0, 40.0],
            "p_fraud": [0.9, 0.01, 0.01, None],
            "p_late": [0.05, 0.9, 0.05, 0.05],
            "is_fraud": [1, 0, 0, 0],
            "is_late": [0, 1, 0, 0],
        }
    )


def test_backtest_counts_fraud_stopped_and_late_orders_caught():
    report = backtest(default_policy(), _orders())
    t = report.table()
    assert list(t.columns) == ["policy", "rules only", "no automation"]
    assert report.n_days == 2
    policy = t["policy"]
    assert policy["hold_for_review / day"] == pytest.approx(0.5)
    assert policy["fraud value stopped"] == pytest.approx(300 * 0.95)
    assert policy["fraud value missed"] == pytest.approx(300 * 0.05)
    assert policy["late orders expedited"] == 1
    assert policy["good orders held"] == 0
    assert t.loc["fraud value missed", "rules only"] == pytest.approx(300.0)
    assert t.loc["order reviews / day", "no automation"] == pytest.approx(2.0)
    assert t.loc["good orders held", "no automation"] == 3


def test_rules_only_reference_ignores_scores_without_degrading():
    decisions = replay_orders(default_policy(), _orders(), use_scores=False)
    assert list(decisions.fraud_action) == ["release"] * 4
    assert all(a == () for a in decisions.delay_actions)


def test_total_cost_adds_up_its_parts():
    report = backtest(default_policy(), scored_orders(400, seed=3), scored_returns(100, seed=3))
    for run in report.runs:
        m = run.metrics
        assert m["total cost"] == pytest.approx(m["fraud cost"] + m["delay cost"] + m["returns cost"])


def test_against_policy_is_replayed_side_by_side_and_priced_alike():
    strict = make_policy(thresholds=default_policy().thresholds | {"fraud_hold": 0.02, "fraud_verify": 0.01})
    orders = scored_orders(500, seed=4)
    report = backtest(default_policy(), orders, against=strict)
    t = report.table()
    assert list(t.columns) == ["policy", "against", "rules only", "no automation"]
    assert t.loc["order reviews / day", "against"] > t.loc["order reviews / day", "policy"]
    assert t.loc["fraud value missed", "against"] <= t.loc["fraud value missed", "policy"]


def test_returns_report_abusive_refunds_and_recovery():
    returns = scored_returns(300, seed=5)
    report = backtest(default_policy(), scored_orders(50, seed=5), returns)
    t = report.table()
    assert (
        t.loc["refunds paid to abusive returns", "no automation"]
        < t.loc["refunds paid to abusive returns", "rules only"]
    )
    assert t.loc["return reviews / day", "no automation"] == pytest.approx(300 / report.n_days)
    assert t.loc["recovery value of routing", "policy"] > 0


def test_report_renders_text_and_a_self_contained_html_page_with_interactive_plots(tmp_path):
    report = backtest(default_policy(), scored_orders(300, seed=6), scored_returns(80, seed=6))
    text = report.to_text()
    assert "total cost" in text and "no automation" in text
    page = backtest_page(report, tmp_path / "report.html").read_text()
    assert "fraud value stopped" in page
    # plotly.js inline once (no CDN: the report opens offline), one div per figure
    assert page.count("* plotly.js v") == 1
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert page.count("plotly-graph-div") == 4


def test_reviews_per_day_plot_draws_each_day_against_the_capacity_line():
    from triage.tuning.plots import backtest_figures

    report = backtest(default_policy(), _orders())
    reviews = backtest_figures(report)[0]
    assert reviews.layout.title.text == "Order reviews per day vs capacity"
    assert [(s.y0, s.y1) for s in reviews.layout.shapes] == [(report.capacity.order_reviews_per_day,) * 2]
    policy = next(t for t in reviews.data if t.name == "policy")
    assert list(policy.y) == list(report.run("policy").order_reviews.to_numpy())


def test_missing_labels_are_named():
    with pytest.raises(ValueError, match="is_fraud"):
        backtest(default_policy(), _orders().drop(columns=["is_fraud"]))


def test_per_day_figures_use_each_kinds_own_span():
    # orders judged over 2 days (their fraud labels matured), returns over a longer window
    returns = scored_returns(40, seed=3)
    returns["requested_at"] = pd.Timestamp("2026-03-01T09:00Z") + pd.to_timedelta(
        [i % 10 for i in range(len(returns))], unit="D"
    )
    t = backtest(default_policy(), _orders(), returns).table()
    assert t.loc["order reviews / day", "no automation"] == pytest.approx(4 / 2)
    assert t.loc["return reviews / day", "no automation"] == pytest.approx(40 / 10)


def test_fraud_is_judged_on_mature_labels_only_and_delay_on_every_order():
    orders = _orders()
    orders.loc[1:, "is_fraud"] = None  # only the first order's label window has passed
    report = backtest(default_policy(), orders)
    policy = report.table()["policy"]
    assert policy["late orders expedited"] == 1  # the late order's fraud label is immature
    assert policy["fraud value stopped"] == pytest.approx(300 * 0.95)
    assert policy["good orders held"] == 0
    assert report.notes == ("fraud judged on the 1 of 4 orders whose fraud label has matured; "
                            "delay and returns on every event",)


def test_a_window_without_one_mature_fraud_label_leaves_fraud_out_and_says_so(tmp_path):
    orders = _orders().assign(is_fraud=None)
    report = backtest(default_policy(), orders, scored_returns(20))
    t = report.table()
    assert t.loc["fraud cost"].isna().all() and t.loc["fraud value stopped"].isna().all()
    assert t.loc["late orders expedited", "policy"] == 1
    assert t.loc["total cost", "policy"] == pytest.approx(
        t.loc["delay cost", "policy"] + t.loc["returns cost", "policy"]
    )
    text = report.to_text()
    assert "fraud left out" in text.splitlines()[1]
    assert "fraud left out" in backtest_page(report, tmp_path / "b.html").read_text()


def test_an_empty_window_is_one_clear_error_and_returns_alone_are_judged():
    from triage.errors import NotEnoughDataError

    with pytest.raises(NotEnoughDataError, match="nothing to replay"):
        backtest(default_policy(), _orders().iloc[0:0])
    report = backtest(default_policy(), _orders().iloc[0:0], scored_returns(30))
    assert report.n_orders == 0 and report.n_returns == 30
    assert math.isfinite(report.table().loc["returns cost", "policy"])
