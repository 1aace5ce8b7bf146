"""Training end to end on a small simulated retailer: skipped models, MLflow store, promotion gate, scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.registry import configure, load_champions
from tests.training.conftest import only_tables
from training import promote, score_dataset, train_all, write_scores

QUIET = {"progress": lambda _m: None}
WEAK = {"num_leaves": 2, "max_rounds": 2, "early_stopping_rounds": 1, "calibration": "none"}


def test_a_retailer_without_fraud_labels_or_returns_gets_only_the_delay_model(sim_ds):
    ds = only_tables(sim_ds, {"fulfillment_outcomes"})
    result = train_all(ds, register=False, **QUIET)
    assert set(result.models) == {"triage-delay"}
    assert result.skipped == {
        "triage-fraud": "no fraud_labels table",
        "triage-returns": "no return_outcomes (no inspected returns)",
    }
    assert "triage-fraud: skipped — no fraud_labels table" in result.summary()


def test_all_three_models_train_and_are_measured_against_baselines_and_oracle(sim_ds):
    result = train_all(sim_ds, register=False, **QUIET)
    assert set(result.models) == {"triage-delay", "triage-fraud", "triage-returns"}
    late = result.models["triage-delay"].heads["late"].metrics
    assert {"model", "prior", "logistic", "oracle", "vs_oracle"} <= set(late)
    assert late["model"]["roc_auc"] > late["prior"]["roc_auc"]
    disp = result.models["triage-returns"].heads["disposition"].metrics
    assert disp["model"]["log_loss"] < disp["prior"]["log_loss"]
    fraud = result.models["triage-fraud"]
    assert fraud.split.windows["test"][1] <= result.cutoff - np.timedelta64(60, "D")


def test_mlflow_store_and_artifacts_land_in_the_configured_folder(sim_ds, tmp_settings):
    ds = only_tables(sim_ds, {"fulfillment_outcomes"})
    result = train_all(ds, settings=tmp_settings, experiment="t-store", **QUIET)
    store = Path(tmp_settings.mlruns_dir)
    assert (store / "mlflow.db").exists()
    client = configure(tmp_settings)
    run = client.get_run(result.models["triage-delay"].run_id)
    assert Path(run.info.artifact_uri.removeprefix("file://")).resolve().is_relative_to(store.resolve())
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model_card.md", "gate.json", "plots", "reports"} <= names
    plots = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {
        "late_roc_pr.png",
        "late_reliability.png",
        "late_shap_summary.png",
        "late_importance.png",
    } <= plots
    assert not Path("mlflow.db").exists() or Path("mlflow.db").resolve().parent == store.resolve()


def test_promotion_gate_first_becomes_champion_worse_stays_challenger_equal_or_better_promoted(
    sim_ds, tmp_settings
):
    ds = only_tables(sim_ds, {"fulfillment_outcomes"})
    first = train_all(ds, settings=tmp_settings, estimator_params=WEAK, **QUIET).models["triage-delay"]
    assert first.promoted and first.gate["outcome"] == "first version: champion"

    good = train_all(ds, settings=tmp_settings, **QUIET).models["triage-delay"]
    assert good.promoted, good.gate["outcome"]
    assert good.gate["comparisons"]["late"]["challenger"] >= good.gate["comparisons"]["late"]["champion"]

    worse = train_all(ds, settings=tmp_settings, estimator_params=WEAK, **QUIET).models["triage-delay"]
    assert not worse.promoted, worse.gate["outcome"]
    assert "roc_auc" in worse.gate["rule"]

    client = configure(tmp_settings)
    assert str(client.get_model_version_by_alias("triage-delay", "champion").version) == good.version
    assert str(client.get_model_version_by_alias("triage-delay", "challenger").version) == worse.version

    promote("triage-delay", worse.version, settings=tmp_settings)
    assert str(client.get_model_version_by_alias("triage-delay", "champion").version) == worse.version


def test_scores_from_registered_champions_have_one_row_per_event_and_valid_probabilities(
    sim_ds, tmp_settings, tmp_path
):
    train_all(sim_ds, settings=tmp_settings, **QUIET)
    bundles = load_champions(tmp_settings)
    assert all(b is not None for b in bundles.values())
    assert bundles["triage-fraud"].versions["registry_version"] == "1"
    since = sim_ds.max_event_time - np.timedelta64(30, "D")
    orders, returns = score_dataset(sim_ds, since=since, bundles=bundles)
    expected = sim_ds["orders"].loc[sim_ds["orders"]["created_at"] >= since, "order_id"]
    assert list(orders.columns) == ["order_id", "p_late", "p_fraud"]
    assert sorted(orders["order_id"]) == sorted(expected)
    assert orders[["p_late", "p_fraud"]].apply(lambda s: s.between(0, 1).all()).all()
    disp = returns[["p_restock", "p_refurbish", "p_liquidate", "p_return_to_vendor", "p_recycle"]]
    np.testing.assert_allclose(disp.sum(axis=1), 1.0, atol=1e-9)
    assert returns["p_abuse"].between(0, 1).all()
    paths = write_scores(orders, returns, tmp_path / "out")
    assert paths["orders"].read_text().splitlines()[0] == "order_id,p_late,p_fraud"


def test_a_model_that_was_not_trained_leaves_its_score_columns_empty(sim_ds):
    result = train_all(only_tables(sim_ds, {"fulfillment_outcomes"}), register=False, **QUIET)
    bundles = {
        "triage-delay": result.models["triage-delay"].bundle,
        "triage-fraud": None,
        "triage-returns": None,
    }
    orders, returns = score_dataset(sim_ds, bundles=bundles)
    assert len(orders) == len(sim_ds["orders"])
    assert orders["p_late"].notna().all() and orders["p_fraud"].isna().all()
    assert returns[["p_restock", "p_abuse"]].isna().all().all()


def test_champions_load_from_a_bundle_folder_without_the_registry(sim_ds, tmp_path):
    from models import save_bundle
    from triage.settings import Settings

    result = train_all(only_tables(sim_ds, {"fulfillment_outcomes"}), register=False, **QUIET)
    save_bundle(result.models["triage-delay"].bundle, tmp_path / "bundles" / "triage-delay.joblib")
    bundles = load_champions(Settings(bundle_dir=tmp_path / "bundles"))
    assert bundles["triage-fraud"] is None and bundles["triage-returns"] is None
    assert bundles["triage-delay"].name == "triage-delay"


@pytest.mark.parametrize("cutoff", ["2025-05-01T00:00:00"])
def test_a_cutoff_without_time_zone_is_refused(sim_ds, cutoff):
    with pytest.raises(ValueError, match="time zone"):
        train_all(sim_ds, cutoff=cutoff, register=False, **QUIET)
