"""models: one module per risk over a shared calibrated LightGBM core, and the bundle."""

import os

# LightGBM's OpenMP threads spin while waiting by default; on a busy 2-core machine (the
# API, a feature job and training side by side) that made 2-thread training ~20x slower
# than 1 thread in our measurements. Passive waiting removes the collapse. Must be set
# before the OpenMP runtime loads, i.e. before lightgbm is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
