"""A local Dask cluster (2 in-process workers) and a small simulated retailer in Parquet."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the dask engine is an optional extra: pip install -e '.[dask]'")

from triage.engine import connect  # noqa: E402
from triage.simulator import simulate  # noqa: E402


def _cluster(processes: bool):
    import dask

    # the task shuffle (no disk) suits the small partitions; the bench uses the cluster's default
    with dask.config.set({"dataframe.shuffle.method": "tasks"}), \
            connect(None, workers=2, processes=processes, memory_limit="2GiB") as (c, info):
        c.info = info  # type: ignore[attr-defined]
        yield c


@pytest.fixture(scope="module")
def client():
    """2 in-process workers: no serialisation between processes, the cheapest cluster for features."""
    yield from _cluster(processes=False)


@pytest.fixture(scope="module")
def process_client():
    """2 worker processes: LightGBM's network is one per process, so distributed fits need processes."""
    yield from _cluster(processes=True)


@pytest.fixture(scope="session")
def sim_parquet(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("engine") / "retailer"
    simulate(out, orders=1500, days=60, seed=11, fmt="parquet")
    return out
