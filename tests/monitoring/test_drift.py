"""Drift, quality and exception analytics on small frames made here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.monitoring.drift import compute_drift
from triage.monitoring.exceptions import exception_summary
from triage.monitoring.quality import live_quality


def _frame(rng: np.random.Generator, n: int, *, carrier_shift: float = 0.0) -> pd.DataFrame:
    carriers = rng.choice(["fastco", "slowpost", "regional"], n, p=[0.5, 0.3, 0.2])
    late_rate = np.where(carriers == "regional", 0.05 + carrier_shift, 0.05)
    return pd.DataFrame(
        {
            "order_total": rng.gamma(2.0, 40.0, n),
            "carrier": carriers,
            "carrier_late_rate_7d": late_rate + rng.normal(0, 0.01, n),
            "is_guest": rng.random(n) < 0.2,
        }
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_drift_flags_the_shifted_feature_and_only_it(seed):
    rng = np.random.default_rng(seed)
    result = compute_drift(_frame(rng, 3000), _frame(rng, 2000, carrier_shift=0.6))
    assert [c.column for c in result.drifted] == ["carrier_late_rate_7d"]
    assert result.share_drifted == pytest.approx(0.25)


@pytest.mark.parametrize("seed", [0, 1])
def test_drift_stays_quiet_without_a_shift(seed):
    rng = np.random.default_rng(seed)
    result = compute_drift(_frame(rng, 3000), _frame(rng, 2000))
    assert result.drifted == []


def test_data_quality_reports_unseen_categories_and_missing_values(tmp_path):
    rng = np.random.default_rng(3)
    current = _frame(rng, 500)
    current.loc[:49, "carrier"] = "newcarrier"
    current.loc[:99, "order_total"] = np.nan
    result = compute_drift(_frame(rng, 1000), current, html=tmp_path / "r.html")
    assert result.quality["carrier"]["unseen_values"] == ["newcarrier"]
    assert result.quality["order_total"]["missing_share"] == pytest.approx(0.2)
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_live_quality_reports_drop_against_training_figures():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.2, 0.6, 0.4, 0.9, 0.1, 0.7])
    q = live_quality(y, p, {"roc_auc": 0.95, "pr_auc": 0.9})
    assert q.metrics["roc_auc"] == pytest.approx(8 / 9)
    assert q.drops["roc_auc"] == pytest.approx(0.95 - 8 / 9)


def test_live_quality_leaves_out_auc_when_only_one_class_has_matured():
    q = live_quality(np.zeros(5), np.full(5, 0.1))
    assert "roc_auc" not in q.metrics and q.metrics["brier"] == pytest.approx(0.01)


def test_exception_queue_counts_only_actions_that_need_people_and_ages_them_by_promise():
    decisions = pd.DataFrame(
        {
            "decision_id": ["a", "b", "c"],
            "kind": ["order", "order", "return"],
            "actions": [["release"], ["hold_for_review", "notify_customer"], ["manual_review", "liquidator"]],
            "value_at_stake": [10.0, 200.0, 30.0],
            "priority": [1.0, 5.0, 2.0],
            "promised_at": ["2026-01-02T00:00:00Z", "2026-01-01T10:00:00Z", None],
            "channel": ["web", "app", None],
            "fulfillment_node_id": ["N1", "N2", None],
            "carrier": ["ups", None, None],
        }
    )
    summary = exception_summary(decisions, now=pd.Timestamp("2026-01-01T12:00:00Z"))
    assert summary["exceptions"] == 2 and summary["value_at_stake"] == 230.0
    assert {r["action"] for r in summary["by"]["action"]} == {"hold_for_review", "notify_customer", "manual_review"}
    assert summary["age"]["past promise"]["count"] == 1 and summary["age"]["no promise"]["count"] == 1


def test_exception_queue_drops_resolved_events_and_counts_an_event_once():
    decisions = pd.DataFrame(
        {
            "decision_id": ["d1", "d2", "d3"],
            "event_id": ["o1", "o1", "o2"],  # o1 decided twice (a retry under a new key)
            "received_at": pd.to_datetime(["2026-01-01T10:00Z", "2026-01-01T10:01Z", "2026-01-01T10:02Z"]),
            "kind": ["order", "order", "order"],
            "actions": [["hold_for_review"], ["hold_for_review"], ["verify_customer"]],
            "value_at_stake": [500.0, 500.0, 80.0],
            "priority": [3.0, 3.0, 1.0],
            "promised_at": ["2026-01-03T00:00:00Z"] * 3,
            "channel": ["web"] * 3,
            "fulfillment_node_id": ["N1"] * 3,
            "carrier": ["ups"] * 3,
        }
    )
    now = pd.Timestamp("2026-01-01T12:00:00Z")
    assert exception_summary(decisions, now=now)["exceptions"] == 2
    assert exception_summary(decisions, now=now)["value_at_stake"] == 580.0
    # a review outcome posted for o1 closes it
    after = exception_summary(decisions, now=now, resolved={"o1"})
    assert after["exceptions"] == 1 and after["by"]["action"][0]["action"] == "verify_customer"
