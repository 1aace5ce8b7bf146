"""Manual reviews as fraud labels: a reviewed order is labelled at once by its verdict."""

from __future__ import annotations

import pandas as pd

from features.outcomes import fraud_labels
from tests.factories import make_dataset, order_row, ts
from training.split import fraud_events


def _orders(n: int, days: int) -> list[dict]:
    return [order_row(f"O{i}", ts(pd.Timedelta(days=days * i / n))) for i in range(n)]


def _dataset(reviews: list[dict]):
    fraud = [{"order_id": "O10", "fraud_type": "chargeback", "reported_at": ts("40D")},
             # approved by a reviewer, then charged back: the chargeback wins
             {"order_id": "O185", "fraud_type": "chargeback", "reported_at": ts("99D")}]
    return make_dataset(orders=_orders(200, 100), fraud_labels=fraud, review_outcomes=reviews)


def test_reviewed_young_orders_are_labelled_by_their_review_before_the_label_window_closes():
    reviews = [
        {"order_id": "O190", "reviewed_at": ts("96D"), "confirmed": False},  # approved: legitimate
        {"order_id": "O192", "reviewed_at": ts("97D"), "confirmed": True},  # declined: fraud
        {"order_id": "O185", "reviewed_at": ts("93D"), "confirmed": False},
        {"order_id": "O194", "reviewed_at": ts("101D"), "confirmed": True},  # after the cut-off: unknown
        {"order_id": "O20", "reviewed_at": ts("11D"), "confirmed": False},  # old order, also reviewed
    ]
    ds = _dataset(reviews)
    cutoff = ts("100D")
    ev = fraud_events(ds, cutoff, window_days=60)
    ids = list(ev.ids)
    label = dict(zip(ids, ev.labels["fraud"], strict=True))
    assert not label["O190"]
    assert label["O192"] and label["O185"] and label["O10"]
    assert "O194" not in label and "O191" not in label  # young, not reviewed before the cut-off: no label
    assert ev.from_review == 4  # O20, O185, O190, O192
    assert "reviewed" in ev.rule


def test_latest_review_of_an_order_is_its_verdict():
    ds = _dataset([{"order_id": "O190", "reviewed_at": ts("95D"), "confirmed": True},
                   {"order_id": "O190", "reviewed_at": ts("96D"), "confirmed": False}])
    assert not fraud_labels(ds, ts("100D"))["O190"]
    assert fraud_labels(ds, ts("95.5D"))["O190"]


def test_without_reviews_nothing_changes():
    ds = _dataset([])
    ev = fraud_events(ds, ts("100D"), window_days=60)
    assert ev.from_review == 0 and ev.times.max() <= ev.label_end


def test_a_return_declined_by_a_reviewer_is_abuse_when_inspected():
    from tests.factories import return_row
    from training.split import return_events

    orders = _orders(200, 100)
    returns = [return_row(f"R{i}", f"O{i}", ts(pd.Timedelta(days=100 * i / 200 + 1))) for i in range(0, 120)]
    inspected = [{"return_id": f"R{i}", "inspected_at": ts(pd.Timedelta(days=100 * i / 200 + 3)),
                  "disposition": "restock", "abuse_confirmed": i % 10 == 0} for i in range(0, 120)]
    reviews = [{"order_id": None, "return_id": "R1", "reviewed_at": ts("2D"), "confirmed": True},
               {"order_id": None, "return_id": "R3", "reviewed_at": ts("3D"), "confirmed": False},
               {"order_id": None, "return_id": "R5", "reviewed_at": ts("99D"), "confirmed": True}]
    ds = make_dataset(orders=orders, returns=returns, return_outcomes=inspected, review_outcomes=reviews)
    ev = return_events(ds, ts("70D"))
    abuse = dict(zip(ev.ids, ev.labels["abuse"], strict=True))
    assert abuse["R1"] and not abuse["R3"] and abuse["R0"]  # declined: abuse; approved: as inspected
    assert not abuse["R5"]  # its review comes after the cut-off
    assert ev.from_review == 2
