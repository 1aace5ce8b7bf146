"""The MLflow pyfunc face of a bundle: `predict` returns probabilities, never labels.

Only the registry imports this module (it imports MLflow); serving reads the bundle
file inside the logged model directly with `models.load_bundle`.
"""

from __future__ import annotations

import pandas as pd
from mlflow.pyfunc import PythonModel

from models.bundle import Bundle, load_bundle

__all__ = ["BundleModel", "BUNDLE_ARTIFACT"]

BUNDLE_ARTIFACT = "bundle"  # key in the logged model's artifacts; file artifacts/bundle.joblib


class BundleModel(PythonModel):
    """Scores a feature frame (the declared features; categories as text) into probability columns."""

    def load_context(self, context) -> None:
        self.bundle: Bundle = load_bundle(context.artifacts[BUNDLE_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.bundle.predict_frame(model_input).reset_index(drop=True)
