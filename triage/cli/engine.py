"""The `--engine dask [--cluster ADDRESS]` options of features, train and score, and how they run.

The jobs themselves live in `training.engine_jobs` and `training.engine_train`; this module
only parses the options, connects and prints.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from triage.cli._output import output

__all__ = ["Engine", "EngineOpt", "ClusterOpt", "WorkersOpt", "PartitionsOpt", "run_job", "source"]


class Engine(StrEnum):
    local = "local"
    dask = "dask"


EngineOpt = Annotated[Engine, typer.Option(
    help="local: one process (default); dask: a Dask cluster (needs the extra: pip install -e '.\\[dask]')")]
ClusterOpt = Annotated[str | None, typer.Option(
    metavar="ADDRESS", help="Dask scheduler to join (tcp://host:8786); default: a local cluster started here")]
WorkersOpt = Annotated[int, typer.Option(help="workers of the local cluster (without --cluster)")]
PartitionsOpt = Annotated[int | None, typer.Option(help="partitions per table (default: 2 per worker thread)")]


def source(path: Path | str) -> str:
    """The folder or fsspec URL as given (a Path folds `s3://b/x` into `s3:/b/x`: unfold it)."""
    return re.sub(r"^([a-zA-Z][\w+.-]*):/(?!/)", r"\1://", str(path))


def run_job(job: str, cluster: str | None, workers: int, **kwargs: Any) -> Any:
    """Run `job` (a function of training.engine_jobs / engine_train) on the cluster and return its result."""
    from triage.engine import connect

    o = output()
    with connect(cluster, workers=workers) as (client, info):
        o.progress(f"engine {info.engine} at {info.cluster}: {info.workers} workers, {info.threads} threads")
        if job == "train_on_engine":
            from training.engine_train import train_on_engine

            return train_on_engine(client, info, progress=o.progress, **kwargs)
        from training import engine_jobs

        return getattr(engine_jobs, job)(client, progress=o.progress, **kwargs)
