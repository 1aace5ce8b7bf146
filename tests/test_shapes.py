"""The dataset-shape suite, fast subset: shapes a real retailer's export has, each run through
train → score → backtest → tune → serve one order and one return decision.

Every shape is a transformation of one small simulated retailer (`triage.simulator.shapes`),
written as a contract folder and read back like a user's files. A stage may be skipped with
the product's own one-line reason; it may never fail. `bench/bench_shapes.py` runs every shape
(and the monitor) on a bigger dataset with the real learner settings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.shape_chain import FAST, chain_cutoff, run_chain
from triage.contract import load_dataset
from triage.simulator import simulate
from triage.simulator.shapes import (
    OPTIONAL_TABLES,
    SHAPES,
    ShapeContext,
    apply_shape,
    first_orders,
    tables_of,
    write_dataset,
)

pytestmark = pytest.mark.slow

ALL = {"triage-delay", "triage-fraud", "triage-returns"}

# shape → the models it must train (the rest must be skipped, with a reason)
EXPECTED = {
    "no_optional_tables": set(),
    "null_optional_columns": ALL,  # all-missing categorical columns (the IndexError of issue 10)
    "new_categories_after_cutoff": ALL,
    "other_time_zones": ALL,
    "one_label_class": set(),
    "labels_months_late": {"triage-delay"},
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small simulated retailer's tables: stock syncs thinned to one per node per 6 h, and
    (2,000 orders have too few for every model to train) 3 % of orders charged back 25 days
    later and 15 % of inspected returns found abusive, at random — the chain, not the models'
    quality, is under test here."""
    out = tmp_path_factory.mktemp("shapes") / "sim"
    simulate(out, orders=2000, days=120, seed=3, fmt="parquet")
    ds = load_dataset(out)
    tables = tables_of(ds)
    syncs = tables["inventory_syncs"]
    tables["inventory_syncs"] = syncs.groupby([syncs["node_id"], syncs["synced_at"].dt.floor("6h")]).tail(1)
    rng = np.random.default_rng(0)
    o = tables["orders"].sample(frac=0.03, random_state=1)
    extra = pd.DataFrame({"order_id": o["order_id"], "fraud_type": "chargeback",
                          "reported_at": o["created_at"] + pd.Timedelta(days=25)})
    tables["fraud_labels"] = pd.concat([tables["fraud_labels"], extra], ignore_index=True)
    ro = tables["return_outcomes"]
    ro["abuse_confirmed"] = ro["abuse_confirmed"] | (rng.random(len(ro)) < 0.15)
    return tables, chain_cutoff(ds["orders"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shape_runs_through_the_chain(name, base, tmp_path):
    tables, cutoff = base
    folder = write_dataset(apply_shape(SHAPES[name], tables, ShapeContext(cutoff=cutoff)), tmp_path / "data")
    result = run_chain(name, folder, tmp_path / "work", cutoff=cutoff, estimator_params=FAST,
                       fraud_label_window_days=30)
    assert not result.failed, result.explain()
    assert result.trained == EXPECTED[name], result.explain()
    assert set(result.skipped) >= ALL - EXPECTED[name], result.explain()  # a reason for each left out
    assert all(len(why) > 20 for why in result.skipped.values()), result.skipped
    assert result.stage("serve").status == "ok", result.explain()


def test_every_shape_is_a_valid_dataset_and_changes_it(base, tmp_path):
    """The shapes are what they say: each validates, and each (but the identity) changes the data."""
    from triage.contract import validate_dataset

    tables, _ = base
    small = first_orders({k: v.copy() for k, v in tables.items()}, 400)
    small["inventory_syncs"] = small["inventory_syncs"].head(300)
    ctx = ShapeContext(cutoff=chain_cutoff(small["orders"]))
    for name, shape in SHAPES.items():
        out = apply_shape(shape, small, ctx)
        report = validate_dataset(write_dataset(out, tmp_path / name))
        assert report.ok, (name, [str(p) for p in report.errors])
        same = out.keys() == small.keys() and all(out[k].equals(small[k]) for k in out)
        # 400 orders: the first 1,500 are all of them; a table the simulator does not write stays absent
        identity = {"as_simulated", "orders_1500"} | {f"no_{n}" for n in OPTIONAL_TABLES if n not in small}
        assert same == (name in identity), name
