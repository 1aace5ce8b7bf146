"""The model registry as serving reads it: the champion bundles, from MLflow or a folder.

Training registers versions and moves the aliases (`training.registry`, which imports
this module); the service only reads — `configure`, `load_registered_bundle`,
`load_champions`, `export_bundles` (a folder of bundles for serving without MLflow).
Kept with the models so that serving never imports `training`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from models import SPECS, Bundle, load_bundle, save_bundle
from triage.settings import Settings

__all__ = [
    "CHAMPION",
    "CHALLENGER",
    "BUNDLE_PATH",
    "configure",
    "champion_version",
    "load_registered_bundle",
    "load_champions",
    "export_bundles",
]

CHAMPION, CHALLENGER = "champion", "challenger"
BUNDLE_PATH = "artifacts/bundle.joblib"  # inside the logged pyfunc model (see models.mlflow_model)


def configure(settings: Settings):
    """Point MLflow at the configured store; returns a client for it."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def champion_version(client, name: str) -> str | None:
    """The version `champion` points at, or None when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def load_registered_bundle(client, name: str, version: str) -> Bundle:
    """The bundle inside a registered model version, fetched alone from the artifact store."""
    import mlflow

    mv = client.get_model_version(name, str(version))
    with tempfile.TemporaryDirectory() as d:
        model_id = getattr(mv, "model_id", None)
        if model_id:
            location = client.get_logged_model(model_id).artifact_location.rstrip("/")
            local = mlflow.artifacts.download_artifacts(artifact_uri=f"{location}/{BUNDLE_PATH}", dst_path=d)
            path = Path(local)
        else:  # a version registered from a run: fetch the whole model folder
            local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=d)
            path = next(Path(local).rglob("bundle.joblib"))
        bundle = load_bundle(path)
    bundle.versions["registry_version"] = str(version)
    return bundle


def load_champions(settings: Settings, *, alias: str = CHAMPION) -> dict[str, Bundle | None]:
    """name → Bundle for each risk model: from `settings.bundle_dir` when set, else the registry alias.

    A model with no champion (never trained, its labels were absent) maps to None.
    """
    out: dict[str, Bundle | None] = {}
    if settings.bundle_dir is not None:
        for spec in SPECS.values():
            path = Path(settings.bundle_dir) / f"{spec.name}.joblib"
            out[spec.name] = load_bundle(path) if path.exists() else None
        return out
    from mlflow.exceptions import MlflowException

    client = configure(settings)
    for spec in SPECS.values():
        try:
            mv = client.get_model_version_by_alias(spec.name, alias)
        except MlflowException:
            out[spec.name] = None
            continue
        out[spec.name] = load_registered_bundle(client, spec.name, str(mv.version))
    return out


def export_bundles(settings: Settings, out_dir: str | Path, *, alias: str = CHAMPION) -> dict[str, Path]:
    """Write each champion bundle to `<out_dir>/<name>.joblib` for serving without MLflow."""
    paths = {}
    for name, bundle in load_champions(settings.model_copy(update={"bundle_dir": None}), alias=alias).items():
        if bundle is not None:
            paths[name] = save_bundle(bundle, Path(out_dir) / f"{name}.joblib")
    (Path(out_dir)).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "versions.json").write_text(
        json.dumps({n: str(p.name) for n, p in paths.items()}, indent=2) + "\n", encoding="utf-8"
    )
    return paths
