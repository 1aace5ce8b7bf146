"""Time splits and label maturity: nothing from the future, nothing half-known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.factories import make_dataset, order_row, ts
from training.split import delay_events, fraud_events, return_events, time_split


def test_time_split_keeps_train_before_validation_before_test():
    rng = np.random.default_rng(0)
    times = pd.Series(
        pd.to_datetime("2026-01-01", utc=True) + pd.to_timedelta(rng.integers(0, 10**6, 1000), "s")
    )
    sp = time_split(times, validation_fraction=0.2, test_fraction=0.2)
    assert times.iloc[sp.train].max() < times.iloc[sp.validation].min()
    assert times.iloc[sp.validation].max() < times.iloc[sp.test].min()
    assert len(sp.train) + len(sp.validation) + len(sp.test) == 1000
    assert sp.windows["test"][1] == times.max()


def test_time_split_keeps_events_with_the_same_timestamp_on_one_side():
    times = pd.Series(pd.to_datetime(["2026-01-01"] * 5 + ["2026-01-02"] * 5 + ["2026-01-03"] * 5, utc=True))
    sp = time_split(times, validation_fraction=0.3, test_fraction=0.3)
    for part in (sp.train, sp.validation, sp.test):
        day = times.iloc[part].dt.day
        assert day.nunique() <= 1 or len(part) == 0
    assert len(sp.test) == 5


def test_time_split_refuses_fractions_that_leave_no_training_rows():
    with pytest.raises(ValueError, match="sum below 1"):
        time_split(
            pd.Series(pd.to_datetime(["2026-01-01"] * 10, utc=True)),
            validation_fraction=0.5,
            test_fraction=0.5,
        )


def _orders(n: int, days: int) -> list[dict]:
    return [order_row(f"O{i}", ts(pd.Timedelta(days=days * i / n))) for i in range(n)]


def test_fraud_labels_end_a_label_window_before_the_cutoff():
    orders = _orders(200, 100)
    fraud = [
        {"order_id": "O10", "fraud_type": "chargeback", "reported_at": ts("40D")},
        # a young order already reported: still outside the mature window
        {"order_id": "O190", "fraud_type": "chargeback", "reported_at": ts("96D")},
    ]
    ds = make_dataset(orders=orders, fraud_labels=fraud)
    cutoff = ts("100D")
    ev = fraud_events(ds, cutoff, window_days=60)
    assert ev.label_end == cutoff - pd.Timedelta(days=60)
    assert ev.times.max() <= ev.label_end
    assert "O190" not in set(ev.ids)
    assert ev.labels["fraud"][list(ev.ids).index("O10")]
    assert ev.labels["fraud"].sum() == 1


def test_fraud_is_skipped_without_a_fraud_labels_table_or_rows():
    ds = make_dataset(orders=_orders(100, 100))
    assert fraud_events(ds, ts("100D")) == "no fraud_labels table"
    empty = make_dataset(
        orders=_orders(100, 100), fraud_labels=pd.DataFrame(columns=["order_id", "fraud_type", "reported_at"])
    )
    assert "no rows" in fraud_events(empty, ts("100D"))


def test_delay_labels_only_for_orders_whose_outcome_is_known_before_the_cutoff():
    orders = _orders(300, 30)
    fo = [
        {
            "order_id": o["order_id"],
            "shipped_at": None,
            "delivered_at": o["created_at"] + pd.Timedelta("2D"),
            "cancelled": False,
        }
        for o in orders
    ]
    ds = make_dataset(orders=orders, fulfillment_outcomes=fo)
    cutoff = ts("30D")
    ev = delay_events(ds, cutoff)
    assert ev.label_end == cutoff - pd.Timedelta("3D")  # every promise here is 3 days after capture
    assert ev.times.max() < ev.label_end
    assert not ev.labels["late"].any()  # all delivered within the promise
    assert delay_events(make_dataset(orders=orders), cutoff) == "no fulfillment_outcomes table"


def test_returns_use_only_inspections_known_before_the_cutoff(sim_ds):
    cutoff = sim_ds.max_event_time
    ev = return_events(sim_ds, cutoff)
    inspected = sim_ds["return_outcomes"].set_index("return_id")["inspected_at"]
    assert (inspected.loc[ev.ids] < cutoff).all()
    assert ev.times.max() < ev.label_end
    assert set(ev.labels["disposition"]) <= {
        "restock",
        "refurbish",
        "liquidate",
        "return_to_vendor",
        "recycle",
    }


def test_an_earlier_cutoff_never_sees_later_events_or_outcomes(sim_ds):
    cutoff = sim_ds.max_event_time - pd.Timedelta(days=60)
    ev = delay_events(sim_ds, cutoff)
    known = sim_ds["fulfillment_outcomes"].set_index("order_id")
    assert ev.times.max() < cutoff
    delivered = known.loc[ev.ids, "delivered_at"]
    on_time = ~ev.labels["late"].to_numpy()
    assert (delivered[on_time] < cutoff).all()


def test_a_head_needs_both_classes_in_every_window_and_ten_of_each_in_training():
    from training.split import time_split
    from training.train import MIN_CLASS_EVENTS, class_problem

    times = pd.Series(pd.date_range("2026-01-01", periods=200, freq="h", tz="UTC"))
    split = time_split(times)
    y = np.zeros(200, dtype=bool)

    def parts(y):
        return {"training": y[split.train], "validation": y[split.validation], "test": y[split.test]}

    y[split.train[:MIN_CLASS_EVENTS - 1]] = True
    assert class_problem("late", parts(y), split) == (
        f"late: {MIN_CLASS_EVENTS - 1} positive and {len(split.train) - MIN_CLASS_EVENTS + 1} negative "
        f"labelled events in the training window; need at least {MIN_CLASS_EVENTS} of each"
    )
    y[split.train[:MIN_CLASS_EVENTS]] = True
    y[split.validation[:1]] = True
    why = class_problem("late", parts(y), split)  # no late order in the test window: nothing to judge
    assert why is not None and why.startswith("late: one class only in the test window")
    assert why.endswith("(False 30); need two to judge the model")
    y[split.test[:1]] = True
    assert class_problem("late", parts(y), split) is None
