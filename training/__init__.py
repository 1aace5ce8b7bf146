"""training: time splits over mature labels, fit, evaluate, register in MLflow, batch scoring.

Public entry points for the CLI:
- `train_all(ds, *, cutoff=None, experiment="triage", fraud_label_window_days=60, settings, truth_dir=None, progress=print)`
- `score_dataset(ds, *, since=None, bundles)` and `write_scores(orders, returns, out_dir)`
- `promote(name, version, *, settings)`, `mlflow_ui_command(settings, host=, port=)`

The registry's read side (`load_champions`, `export_bundles`) is `models.registry`: serving
reads the champions without importing training.

Imports are lazy so `import training` stays cheap (MLflow costs seconds to import).
"""

from __future__ import annotations

__all__ = [
    "train_all",
    "TrainResult",
    "score_dataset",
    "write_scores",
    "promote",
    "mlflow_ui_command",
]

_WHERE = {
    "train_all": "training.train",
    "TrainResult": "training.train",
    "score_dataset": "training.score",
    "write_scores": "training.score",
    "promote": "training.registry",
    "mlflow_ui_command": "training.registry",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")
