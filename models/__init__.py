"""models: one module per risk over a shared calibrated LightGBM core, and the bundle."""

from models.bundle import Bundle, Head, load_bundle, save_bundle
from models.delay import SPEC as DELAY
from models.estimator import RiskClassifier
from models.explain import Reason
from models.fraud import SPEC as FRAUD
from models.returns import SPEC as RETURNS
from models.risk import HeadSpec, RiskSpec

__all__ = [
    "Bundle",
    "Head",
    "HeadSpec",
    "Reason",
    "RiskClassifier",
    "RiskSpec",
    "SPECS",
    "DELAY",
    "FRAUD",
    "RETURNS",
    "load_bundle",
    "save_bundle",
]

SPECS: dict[str, RiskSpec] = {s.risk: s for s in (DELAY, FRAUD, RETURNS)}
