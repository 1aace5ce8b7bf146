"""A model trained on the engine scores like the single-process one; batch scoring is complete and ordered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.engine_jobs import score_partitioned
from training.engine_train import early_stopping_point, train_on_engine
from training.score import score_dataset
from training.train import REFERENCE_ROWS, train_all
from triage.contract import Dataset, load_dataset

# one candidate a fit (no small-data candidates): both sides must fit the same configuration to compare
PARAMS = {"max_rounds": 300, "num_leaves": 15, "regularisation": "none"}


@pytest.fixture(scope="module")
def delay_only(sim_parquet) -> Dataset:
    ds = load_dataset(sim_parquet)  # the delay model alone: what batch scoring is checked with
    keep = {"nodes", "products", "customers", "orders", "order_lines", "fulfillment_outcomes"}
    return Dataset(tables=ds.tables, present=frozenset(keep), source=ds.source, report=ds.report)


@pytest.fixture(scope="module")
def trained(process_client, sim_parquet):
    # LightGBM's network is one per process: distributed fits need worker processes
    single = train_all(load_dataset(sim_parquet), register=False, estimator_params=PARAMS, progress=lambda _m: None)
    with process_client.as_current():
        engine = train_on_engine(process_client, process_client.info, str(sim_parquet), partitions=2,
                                 register=False, estimator_params=PARAMS, progress=lambda _m: None)
    return single, engine


def test_engine_model_scores_within_tolerance_of_single_process(trained):
    single_run, engine_run = trained
    assert set(engine_run.models) == set(single_run.models) and engine_run.skipped == single_run.skipped
    assert engine_run.cutoff == single_run.cutoff
    single, engine = single_run.models["triage-delay"], engine_run.models["triage-delay"]
    # the same labelled events, cut into the same windows
    assert engine.split.describe() == single.split.describe()
    assert engine.events.label_end == single.events.label_end
    s, e = single.heads["late"].metrics, engine.heads["late"].metrics
    assert e["model"]["n"] == s["model"]["n"] and e["model"]["positive_rate"] == s["model"]["positive_rate"]
    # the test window is ~200 orders with ~16 late: Brier is the stable comparison (a log loss there
    # swings by 0.1 with one confident miss, whichever side boosted the trees)
    assert abs(e["model"]["brier"] - s["model"]["brier"]) < 0.01
    assert e["model"]["brier"] < e["prior"]["brier"], "the engine's model must beat the base rate"
    assert abs(e["logistic"]["brier"] - s["logistic"]["brier"]) < 0.01  # the same baseline on the same rows
    assert engine.run_params["engine"] == "dask" and engine.run_params["cluster_workers"] == 2
    # the bundle is a plain RiskClassifier: served without Dask or the cluster
    assert type(engine.bundle.heads["late"].estimator).__name__ == "RiskClassifier"
    # the client kept samples, not the test window: the gate re-scores the champion on the workers
    assert len(engine.X_test) <= REFERENCE_ROWS and engine.score_test is not None
    rescored = engine.score_test(engine.bundle)
    assert len(rescored) == e["model"]["n"]
    np.testing.assert_allclose(rescored["p_late"].to_numpy(), engine.heads["late"].predictions["model"], atol=1e-12)


def test_early_stopping_point_is_the_callbacks_rule():
    # best at the 3rd tree; the 2 trees after it bring no lower loss: stop, keep 3
    assert early_stopping_point(np.array([0.9, 0.8, 0.7, 0.75, 0.71, 0.6]), patience=2) == 3
    assert early_stopping_point(np.array([0.9, 0.8, 0.7]), patience=5) == 3


def test_batch_scoring_output_complete_and_ordered(client, sim_parquet, delay_only, trained, tmp_path):
    engine = trained[1].models["triage-delay"]
    bundles = {"triage-delay": engine.bundle, "triage-fraud": None, "triage-returns": None}
    with client.as_current():
        run = score_partitioned(client, str(sim_parquet), str(tmp_path / "out"), bundles, partitions=2)
    orders = pd.read_parquet(tmp_path / "out" / "order_scores")
    assert len(sorted((tmp_path / "out" / "order_scores").glob("part.*.parquet"))) > 1
    assert orders["order_id"].tolist() == delay_only["orders"]["order_id"].tolist()  # every order, table order
    expected, _ = score_dataset(delay_only, bundles=bundles)
    np.testing.assert_allclose(orders["p_late"].to_numpy(), expected["p_late"].to_numpy(), rtol=0, atol=1e-12)
    assert orders["p_late"].notna().all() and orders["p_fraud"].isna().all()
    returns = pd.read_parquet(tmp_path / "out" / "return_scores")
    assert returns["return_id"].tolist() == delay_only["returns"]["return_id"].tolist()
    assert sum(run.outputs.values()) == len(orders) + len(returns)
