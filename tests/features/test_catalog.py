"""The feature catalog and its compiler: each feature declared once, by its literal name, and
each derived formula giving the same bits on every path (columns offline and in the batch, the
generated program for one event)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import ORDER_FEATURES, RETURN_FEATURES
from features.catalog_doc import DOC_PATH, render
from features.declarations import Aggregation, Feature, FeatureSet
from features.derived import EVENT_INPUTS, Compiled, Derived, compiled, ratio, value
from features.formulas import VENDOR_RISKY_FACTOR, late_rate
from features.order_catalog import BASKET_CATEGORIES, HIGH_RESALE_CATEGORIES
from features.text import KEYWORD_FAMILIES, hash_feature_names

ROOT = Path(__file__).resolve().parents[2]
_ODD = np.array([np.nan, 0.0, -0.0, 1.0, 2.0, 3.0, 7.5, 0.25, -1.0, 40.0, 1e-3, 1e6])


def _same(a: float, b: float) -> bool:
    """The same value bit for bit: NaN as NaN, and the sign of a zero too."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def test_feature_list_in_the_docs_is_generated_from_the_declarations() -> None:
    """Check that docs/FEATURES.md is what `python -m features.catalog_doc` writes now."""
    assert DOC_PATH.read_text(encoding="utf-8") == render(), "run `python -m features.catalog_doc`"
    for name in ORDER_FEATURES.names + RETURN_FEATURES.names:
        assert f"| `{name}` |" in render()


def test_every_feature_name_is_written_out_in_its_declaration() -> None:
    """Check that grepping a feature's name finds its declaration (no names built with f-strings),
    but for the text features, which take their names from `features.text`'s families and buckets."""
    text_names = {f"text_{k}" for k in KEYWORD_FAMILIES} | set(hash_feature_names())
    for fs, path in ((ORDER_FEATURES, "features/order_catalog.py"), (RETURN_FEATURES, "features/returns.py")):
        source = (ROOT / path).read_text(encoding="utf-8")
        missing = [n for n in fs.names if f'"{n}"' not in source and n not in text_names]
        assert not missing, (path, missing)


def test_declared_basket_shares_are_the_contract_categories() -> None:
    """Check that the share features written out are one per contract category (and the phrases
    that name a constant name its value)."""
    shares = [n for n in ORDER_FEATURES.names if n.startswith("share_") and n != "share_other"]
    assert shares == [f"share_{c}" for c in BASKET_CATEGORIES]
    assert str(HIGH_RESALE_CATEGORIES) in ORDER_FEATURES.feature("high_resale_share").description
    assert f"{VENDOR_RISKY_FACTOR}×" in ORDER_FEATURES.feature("vendor_risky_share_28d").description


def _random_inputs(c: Compiled, n: int, n_pairs: int, seed: int) -> tuple[dict, np.ndarray, dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = sorted(c.known | set(EVENT_INPUTS))
    cols = {k: rng.choice(_ODD, n) for k in names}
    owner = np.sort(rng.integers(0, n, n_pairs)).astype(np.intp)
    pairs = {k: rng.choice(_ODD, n_pairs) for k in sorted(c.line_inputs)}
    weights = rng.choice(np.array([0.0, 1.0, 2.5, 10.0, 0.1]), n_pairs)
    return cols, owner, pairs, weights


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("present", [frozenset({"fulfillment_outcomes"}), frozenset()])
@pytest.mark.parametrize("fs", [ORDER_FEATURES, RETURN_FEATURES], ids=lambda fs: fs.name)
def test_one_event_program_equals_the_columns_bit_for_bit(fs: FeatureSet, present: frozenset, seed: int) -> None:
    """Check that for any inputs (nulls, signed zeros, negatives), with and without delivery
    outcomes, every derived value of the one-event program equals the column's, bit for bit."""
    c = compiled(fs)
    n = 60
    cols, owner, pairs, weights = _random_inputs(c, n, 150, seed)
    v = dict(cols)
    c.columns(v, n, owner=owner, pairs=dict(pairs), weights=weights, present=present)
    for i in range(n):
        one = {k: float(col[i]) for k, col in cols.items()}
        js = np.flatnonzero(owner == i)
        ps = [{k: float(pairs[k][j]) for k in pairs} for j in js]
        c.one(one, ps, [float(weights[j]) for j in js], present)
        bad = {d.name: (one[d.name], float(v[d.name][i])) for d in c.decls
               if d.grain == "event" or d.reduce
               if not _same(one[d.name], float(v[d.name][i]))}
        assert not bad, (i, bad)


def test_late_rates_and_vendor_reductions_by_hand() -> None:
    """Check a late rate and the basket's vendor max and value-weighted mean on numbers worked by
    hand, and that a table the feature requires being absent makes it null."""
    fs = FeatureSet.declare(name="t", entity="order_id", time_column="created_at", declarations=[
        Aggregation(name="_late", stream="delivery", key=("carrier",), window=None, agg="sum", value="is_late"),
        Aggregation(name="_known", stream="delivery", key=("carrier",), window=None),
        Aggregation(name="_v_late", stream="delivery", key=("vendor_id",), window=None, agg="sum", value="is_late",
                    grain="line"),
        Aggregation(name="_v_known", stream="delivery", key=("vendor_id",), window=None, grain="line"),
        Derived(name="rate", inputs=("_late", "_known", "_prior"), formula=late_rate, requires="fulfillment_outcomes",
                description="d", reason="r"),
        Derived(name="_v_rate", grain="line", inputs=("_v_late", "_v_known", "_prior"), formula=late_rate),
        Derived(name="v_max", grain="line", reduce="max", inputs=("_v_rate",), formula=value, description="d",
                reason="r", requires="fulfillment_outcomes"),
        Derived(name="v_mean", grain="line", reduce="value_mean", inputs=("_v_rate",), formula=value,
                description="d", reason="r"),
        Feature(name="_prior", dtype="float", description="a prior given as a row value", reason_template="p"),
    ])
    c = compiled(fs)
    v = {"_late": 3.0, "_known": 5.0, "_prior": 0.1, "_t": 0.0, "_capacity": 1.0}
    pairs = [{"_v_late": 0.0, "_v_known": 0.0}, {"_v_late": 20.0, "_v_known": 20.0}]
    c.one(v, pairs, [1.0, 3.0], {"fulfillment_outcomes"})
    assert v["rate"] == pytest.approx((3 + 20 * 0.1) / (5 + 20))
    assert v["v_max"] == pytest.approx((20 + 2) / 40)
    assert v["v_mean"] == pytest.approx((1 * 0.1 + 3 * (22 / 40)) / 4)
    empty = {"_late": math.nan, "_known": math.nan, "_prior": 0.1, "_t": 0.0, "_capacity": 1.0}
    c.one(empty, [], [], {"fulfillment_outcomes"})
    assert math.isnan(empty["rate"]) and math.isnan(empty["v_max"]) and math.isnan(empty["v_mean"])
    absent = dict(v)
    c.one(absent, [dict(p) for p in pairs], [1.0, 3.0], frozenset())
    assert math.isnan(absent["rate"]) and math.isnan(absent["v_max"])


def test_a_new_feature_is_one_declaration_on_every_path() -> None:
    """Check that a feature declared once is in the schema, the columns and the one-event values."""
    fs = FeatureSet.declare(name="t", entity="order_id", time_column="created_at", declarations=[
        Aggregation(name="n_before", stream="orders", key=("customer_id",), window=pd.Timedelta(days=7),
                    description="orders before", reason="{value:.0f} before"),
        Feature(name="order_total", dtype="float", description="value", reason_template="{value}"),
        Derived(name="value_per_order", inputs=("order_total", "n_before"), formula=ratio,
                description="value / earlier orders", reason="{value:.1f} per order"),
    ])
    assert fs.names == ["n_before", "order_total", "value_per_order"]
    cols = {"n_before": np.array([0.0, 2.0, np.nan]), "order_total": np.array([5.0, 5.0, 5.0]),
            "_t": np.zeros(3), "_capacity": np.zeros(3)}
    compiled(fs).columns(cols, 3)
    assert np.array_equal(cols["value_per_order"], [np.nan, 2.5, np.nan], equal_nan=True)
    one = {"n_before": 2.0, "order_total": 5.0, "_t": 0.0, "_capacity": 0.0}
    compiled(fs).one(one)
    assert one["value_per_order"] == 2.5


@pytest.mark.parametrize(("decls", "error"), [
    ([Derived(name="x", inputs=("nowhere",), formula=value, description="d", reason="r")], "input 'nowhere'"),
    ([Derived(name="_a", inputs=("_t",), formula=value), Derived(name="_a", inputs=("_t",), formula=value)],
     "declared twice"),
    ([Aggregation(name="_l", stream="delivery", key=("vendor_id",), window=None, grain="line"),
      Derived(name="_x", inputs=("_l",), formula=value)], "input '_l'"),
])
def test_the_compiler_refuses_inputs_it_cannot_resolve(decls: list, error: str) -> None:
    """Check that a derived value reading an undeclared name, a name declared twice, or a line
    value read per event fails when the feature set is compiled, naming the value."""
    fs = FeatureSet.declare(name="t", entity="order_id", time_column="created_at", declarations=decls)
    with pytest.raises(ValueError, match=re.escape(error)):
        _ = compiled(fs)


def test_declarations_refuse_half_declared_features() -> None:
    """Check that a line feature without a reduction, a reduction on an event value, and a feature
    without a description fail at declaration, naming it."""
    with pytest.raises(ValueError, match="'v'.*reduce"):
        Derived(name="v", grain="line", inputs=(), formula=value, description="d", reason="r")
    with pytest.raises(ValueError, match="'w'.*reduce"):
        Derived(name="w", reduce="max", inputs=(), formula=value, description="d", reason="r")
    with pytest.raises(ValueError, match="'z'.*description"):
        Derived(name="z", inputs=(), formula=value)
    with pytest.raises(ValueError, match="'_hidden'.*public name"):
        Aggregation(name="_hidden", stream="orders", key=("customer_id",), window=None, description="d", reason="r")
