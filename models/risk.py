"""What a risk model is: its registered name, the event it scores, its heads.

Each risk module (`models.delay`, `models.fraud`, `models.returns`) declares one
`RiskSpec`; training, the registry and scoring read these declarations instead of
repeating names, columns and estimator settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.bundle import Bundle, Head
from models.estimator import RiskClassifier

__all__ = ["HeadSpec", "RiskSpec"]


@dataclass(frozen=True)
class HeadSpec:
    target: str  # label name: late, fraud, disposition, abuse
    columns: tuple[str, ...]  # score columns it fills
    classes: tuple  # class value behind each column ((True,) for a binary head)
    gate_metric: str  # compared by the promotion gate
    higher_is_better: bool = True
    params: dict = field(default_factory=dict)  # RiskClassifier overrides

    @property
    def is_binary(self) -> bool:
        return self.classes == (True,)


@dataclass(frozen=True)
class RiskSpec:
    risk: str  # delay, fraud, returns
    name: str  # registered model name
    entity: str  # "order" or "return"
    heads: tuple[HeadSpec, ...]
    description: str = ""

    @property
    def output_columns(self) -> list[str]:
        return [c for h in self.heads for c in h.columns]

    def head(self, target: str) -> HeadSpec:
        return next(h for h in self.heads if h.target == target)

    def new_estimator(self, target: str, **overrides) -> RiskClassifier:
        return RiskClassifier(**{**self.head(target).params, **overrides})

    def make_bundle(self, estimators: dict[str, RiskClassifier], **meta) -> Bundle:
        """A bundle of the fitted heads (a head missing from `estimators` is left out)."""
        heads = {
            h.target: Head(h.target, estimators[h.target], list(h.columns), list(h.classes))
            for h in self.heads
            if h.target in estimators
        }
        return Bundle(name=self.name, entity=self.entity, heads=heads, **meta)
