"""Where MLflow keeps runs and artifacts for this project: one rule for training and monitoring.

A local SQLite store keeps its artifacts beside it (`<store folder>/artifacts/<experiment>`),
so `MLFLOW_TRACKING_URI=sqlite:////elsewhere/mlflow.db` keeps everything elsewhere and the
default keeps everything under the project's `mlruns/`. A tracking server decides itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from triage.settings import Settings

__all__ = ["artifact_root", "experiment_id"]


def artifact_root(settings: Settings) -> Path | None:
    """The artifact folder of a local store, or None when a tracking server chooses."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts"
    return None


def experiment_id(client: Any, name: str, settings: Settings) -> str:
    """The id of experiment `name`, created with its artifacts under `artifact_root`."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    root = artifact_root(settings)
    if root is None:
        return str(client.create_experiment(name))
    location = root / name
    location.mkdir(parents=True, exist_ok=True)
    return str(client.create_experiment(name, artifact_location=str(location)))
