"""A small simulated retailer (a few thousand orders), shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.contract import Dataset, load_dataset
from triage.settings import Settings
from triage.simulator import simulate


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "retailer"
    simulate(out, orders=6000, days=200, seed=5, fmt="parquet")
    return out


@pytest.fixture(scope="session")
def sim_ds(sim_dir) -> Dataset:
    return load_dataset(sim_dir)


def only_tables(ds: Dataset, keep: set[str]) -> Dataset:
    """The same dataset as if the retailer had sent only the required tables plus `keep`."""
    required = {"nodes", "products", "customers", "orders", "order_lines"}
    return Dataset(tables=ds.tables, present=frozenset(required | keep), source=ds.source, report=ds.report)


@pytest.fixture
def tmp_settings(tmp_path) -> Settings:
    store = tmp_path / "store"
    store.mkdir()
    return Settings(mlflow_tracking_uri=f"sqlite:///{store / 'mlflow.db'}", mlruns_dir=store)
