"""A local Dask cluster (2 in-process workers) and a small simulated retailer in Parquet."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the dask engine is an optional extra: pip install -e '.[dask]'")

from triage.engine import connect  # noqa: E402
from triage.simulator import simulate  # noqa: E402


@pytest.fixture(scope="module")
def client():
    import dask

    # the in-process task shuffle: no disk, no extra threads; the bench uses the cluster default
    with dask.config.set({"dataframe.shuffle.method": "tasks"}), \
            connect(None, workers=2, processes=False) as (c, _info):
        yield c


@pytest.fixture(scope="module")
def sim_parquet(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("engine") / "retailer"
    simulate(out, orders=1500, days=60, seed=11, fmt="parquet")
    return out
