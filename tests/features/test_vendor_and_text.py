"""Supplier reliability of a basket, and signals from the customer's own words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_order_features, build_return_features
from features.orders import GLOBAL_PRIOR_LATE, GLOBAL_PRIOR_N, LATE_PRIOR_WEIGHT
from features.text import N_HASH_BUCKETS, bucket, text_values, tokens
from tests.factories import line_row, make_dataset, order_row, product_row, return_row, ts


def _fo(order_id: str, delivered_at: pd.Timestamp) -> dict:
    return {"order_id": order_id, "shipped_at": None, "delivered_at": delivered_at, "cancelled": False,
            "cancelled_at": None}


def test_vendor_late_rate_counts_lateness_of_earlier_baskets_from_when_it_is_known() -> None:
    """Check that a late delivery counts for every vendor in that order's basket only from the promise on,
    and that the basket takes the highest and the value-weighted mean of its vendors' rates."""
    late = order_row("LATE", "0s", promised_at=ts("1D"))
    before = order_row("BEFORE", ts("1D"), customer_id="C2")  # exactly at the promise: not known yet
    after = order_row("AFTER", ts("1D") + pd.Timedelta(1, "ns"), customer_id="C3")
    only_v3 = order_row("ONLY_V3", ts("2D"), customer_id="C4")
    ds = make_dataset(
        orders=[late, before, after, only_v3],
        products=[product_row("S1", vendor_id="V1"), product_row("S2", vendor_id="V2"),
                  product_row("S3", vendor_id="V3")],
        lines=[line_row("LATE", 1, sku="S1"), line_row("LATE", 2, sku="S2"),
               line_row("BEFORE", 1, sku="S1"),
               line_row("AFTER", 1, sku="S1", unit_price=30.0), line_row("AFTER", 2, sku="S3", unit_price=10.0),
               line_row("ONLY_V3", 1, sku="S3")],
        fulfillment_outcomes=[_fo("LATE", ts("2D"))],
    )
    f = build_order_features(ds).set_index("order_id")
    prior0 = GLOBAL_PRIOR_LATE / GLOBAL_PRIOR_N
    assert f.loc["BEFORE", "vendor_late_rate_max_28d"] == pytest.approx(prior0)
    prior1 = (1 + GLOBAL_PRIOR_LATE) / (1 + GLOBAL_PRIOR_N)
    v1 = (1 + LATE_PRIOR_WEIGHT * prior1) / (1 + LATE_PRIOR_WEIGHT)
    assert f.loc["AFTER", "n_vendors"] == 2
    assert f.loc["AFTER", "vendor_late_rate_max_28d"] == pytest.approx(v1)
    assert f.loc["AFTER", "vendor_late_rate_mean_all"] == pytest.approx((30 * v1 + 10 * prior1) / 40)
    assert f.loc["AFTER", "vendor_risky_share_28d"] == 0  # one late basket: not yet unreliable
    assert f.loc["ONLY_V3", "vendor_late_rate_max_all"] == pytest.approx(prior1)  # V3 was not in the late basket


def test_risky_share_is_the_basket_value_from_vendors_late_well_above_the_retailer() -> None:
    """Check that a vendor late far more often than the retailer overall marks its share of the basket."""
    orders, lines, outcomes = [], [], []
    for i in range(30):  # 10 late baskets from V1, 20 on-time ones from V3
        oid = f"P{i}"
        orders.append(order_row(oid, ts(f"{i}min"), customer_id=f"C{i}", promised_at=ts("1D")))
        lines.append(line_row(oid, 1, sku="S1" if i < 10 else "S3"))
        outcomes.append(_fo(oid, ts("2D") if i < 10 else ts("12h")))
    orders.append(order_row("NEW", ts("3D"), customer_id="CX"))
    lines += [line_row("NEW", 1, sku="S1", unit_price=30.0), line_row("NEW", 2, sku="S3", unit_price=10.0)]
    ds = make_dataset(orders=orders, lines=lines, fulfillment_outcomes=outcomes,
                      products=[product_row("S1", vendor_id="V1"), product_row("S3", vendor_id="V3")])
    f = build_order_features(ds).set_index("order_id")
    assert f.loc["NEW", "vendor_risky_share_28d"] == pytest.approx(30 / 40)
    assert f.loc["NEW", "vendor_late_rate_max_28d"] > f.loc["NEW", "vendor_late_rate_mean_28d"]


def test_vendor_features_are_null_without_fulfillment_outcomes() -> None:
    """Check that a retailer that sends no fulfillment outcomes gets null vendor rates, not the prior."""
    ds = make_dataset(orders=[order_row("A", "0s"), order_row("B", "2D")])
    f = build_order_features(ds).set_index("order_id")
    assert f.loc["B", "n_vendors"] == 1
    assert f[["vendor_late_rate_max_28d", "vendor_late_rate_mean_all", "vendor_risky_share_28d"]].isna().all().all()


@pytest.mark.parametrize(("text", "worn"), [
    ("wore it once to a party", 1.0),
    ("only worn for the wedding, tags removed", 1.0),
    ("arrived after the event", 0.0),
    ("came too late for the party", 0.0),
    ("never worn, tags still on", 0.0),
    ("I didn't wear it, not worn at all", 0.0),
    ("Needed it for the Gala", 1.0),
])
def test_wardrobing_flag_reads_negation_and_delivery_timing(text: str, worn: float) -> None:
    """Check that occasion words after delivery-timing words, and negated wear words, are not wardrobing."""
    assert text_values(text)["text_worn"] == worn


def test_negated_damage_and_faults_do_not_count() -> None:
    """Check that "no damage" / "not broken" are not damage or fault reports, while plain ones are."""
    assert text_values("no damage, just changed my mind")["text_damaged"] == 0.0
    assert text_values("box crushed and screen scratched")["text_damaged"] == 1.0
    assert text_values("it is not broken")["text_defective"] == 0.0
    assert text_values("stopped working after a day")["text_defective"] == 1.0


def test_hashed_words_count_unigrams_and_bigrams_stably() -> None:
    """Check that the hashed bag counts every unigram and bigram in fixed buckets, case-insensitively."""
    v = text_values("Arrived LATE, arrived late")
    counts = [v[f"text_hash_{i:02d}"] for i in range(N_HASH_BUCKETS)]
    assert sum(counts) == 4 + 3
    assert tokens("Didn't fit_well") == ["didn't", "fit", "well"]
    assert counts[bucket("arrived late")] >= 2
    assert bucket("wore") == 3036038535 % N_HASH_BUCKETS  # CRC-32 of b"wore": the same on every machine


def test_return_text_features_offline_equal_the_one_text_function() -> None:
    """Check that the offline columns are `text_values` of each return's text (null text: empty)."""
    texts = ["arrived after the event", None, "Wore it to the event!", "arrived after the event"]
    ds = make_dataset(orders=[order_row("O1", "0s")],
                      returns=[return_row(f"R{i}", reason_text=t) for i, t in enumerate(texts)])
    f = build_return_features(ds).set_index("return_id")
    for i, t in enumerate(texts):
        want = text_values(t)
        for name, value in want.items():
            assert f.loc[f"R{i}", name] == value, (t, name)


def test_account_created_after_the_order_is_not_known_at_the_order():
    """A guest who signs up after ordering: the account's age is unknown at the order, online as offline."""
    from features import build_order_features
    from features.online import MemoryStore, OnlineFeatures
    from tests.factories import customer_row, make_dataset, order_row, ts

    ds = make_dataset(orders=[order_row("O1", "1D")], customers=[customer_row("C1", created_at=ts("2D"))])
    offline = build_order_features(ds).set_index("order_id")
    assert np.isnan(offline.loc["O1", "account_age_days"]) and np.isnan(offline.loc["O1", "account_age_minutes"])
    online = OnlineFeatures(MemoryStore())
    online.bootstrap(ds)
    row = online.order_features_dict(ds["orders"].iloc[0].to_dict(), ds["order_lines"].to_dict("records"))
    assert np.isnan(row["account_age_days"])
