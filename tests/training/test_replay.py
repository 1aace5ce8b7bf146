"""Replaying history for backtests and tuning: only mature fraud labels are judged."""

from __future__ import annotations

import numpy as np

from tests.factories import make_dataset, order_row, ts
from training.replay import scored_history


def test_fraud_is_judged_only_where_the_label_window_has_passed():
    # O1 old and legitimate, O2 old and reported, O3 young and already reported, O4 young and clean;
    # the data ends 70 days after O1: O3/O4 are 5 days old, their window is still open
    ds = make_dataset(
        orders=[order_row("O1", "0s"), order_row("O2", "1h"), order_row("O3", "65D"), order_row("O4", "65D1h"),
                order_row("O5", "70D")],
        fraud_labels=[
            {"order_id": "O2", "fraud_type": "chargeback", "reported_at": ts("30D")},
            {"order_id": "O3", "fraud_type": "confirmed_fraud", "reported_at": ts("66D")},
        ],
    )
    history = scored_history(ds, {}, fraud_label_window_days=60)
    labels = dict(zip(history.orders["order_id"], history.orders["is_fraud"], strict=True))
    assert labels["O1"] == 0.0 and labels["O2"] == 1.0
    # an early report on a young order is not judged yet: its clean neighbours are unlabelled too
    assert np.isnan(labels["O3"]) and np.isnan(labels["O4"]) and np.isnan(labels["O5"])
    assert history.orders["p_fraud"].isna().all()  # no champion: no scores, still replayable
