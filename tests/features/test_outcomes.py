"""The lateness rule: one rule for one order (`is_late_known`) and for whole columns
(`delivery_outcomes`), equal on every combination of delivered / cancelled / missing times."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.outcomes import delivery_outcomes, is_late_known
from tests.factories import make_dataset, order_row, ts


def _ns(t: object) -> int | None:
    return None if pd.isna(t) else int(pd.Timestamp(t).value)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scalar_rule_equals_the_vectorised_rule(seed: int) -> None:
    """Check that `is_late_known` gives every order the lateness and known time `delivery_outcomes` gives."""
    rng = np.random.default_rng(seed)
    n = 300
    orders = [order_row(f"O{i}", ts(f"{int(rng.integers(0, 1000))}min"), customer_id=f"C{i % 7}")
              for i in range(n)]
    promised = [o["promised_at"] for o in orders]
    pick = rng.integers(0, 4, n)  # how the delivery time relates to the promise
    delivered = [None if k == 0 else p + pd.Timedelta(hours=[0, -5, 0, 7][k]) for k, p in zip(pick, promised,
                                                                                              strict=True)]
    cancelled = rng.random(n) < 0.3
    cancel_at = [None if rng.random() < 0.4 else p + pd.Timedelta(hours=int(rng.integers(-60, 30)))
                 for p in promised]
    fo = [{"order_id": o["order_id"], "shipped_at": None, "delivered_at": d, "cancelled": bool(c),
           "cancelled_at": ca if c or rng.random() < 0.2 else None}
          for o, d, c, ca in zip(orders, delivered, cancelled, cancel_at, strict=True) if rng.random() < 0.9]
    ds = make_dataset(orders=orders, fulfillment_outcomes=pd.DataFrame(fo).astype(
        {"delivered_at": "datetime64[ns, UTC]", "cancelled_at": "datetime64[ns, UTC]", "shipped_at": "datetime64[ns, UTC]"}))
    got = delivery_outcomes(ds).set_index("order_id")
    rows = {r["order_id"]: r for r in fo}
    for o in orders:
        r = rows.get(o["order_id"], {})
        late, known = is_late_known(_ns(r.get("delivered_at")), r.get("cancelled") is True,
                                    _ns(r.get("cancelled_at")), _ns(o["promised_at"]))
        want = got.loc[o["order_id"]]
        assert late == bool(want["is_late"]), o["order_id"]
        assert known == _ns(want["known_at"]), o["order_id"]


def test_cancellation_before_the_promise_is_known_at_the_cancellation() -> None:
    """Check the rule's corners: on time at delivery; late at the promise, or at an earlier cancellation."""
    p, d = _ns(ts("3D")), _ns(ts("2D"))
    assert p is not None and d is not None
    assert is_late_known(d, False, None, p) == (False, d)
    assert is_late_known(p + 1, False, None, p) == (True, p)
    assert is_late_known(None, False, None, p) == (True, p)
    assert is_late_known(d, True, d - 5, p) == (True, d - 5)
    assert is_late_known(d, True, p + 5, p) == (True, p)
    assert is_late_known(d, True, None, p) == (True, p)
    assert is_late_known(None, False, None, None) == (True, None)
