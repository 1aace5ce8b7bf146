"""Where training and scoring get their feature frames: `features/` by default.

A `FeatureSource` names the two frame builders and the declared feature sets; tests
and other retailers' pipelines can pass their own. The model reads exactly the
declared features (in declaration order), never ids or timestamps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from triage.contract import Dataset

__all__ = ["FeatureSource", "default_feature_source"]

Builder = Callable[..., pd.DataFrame]


@dataclass
class FeatureSource:
    build_orders: Builder  # (ds, *, since=None) -> frame with order_id, created_at, features
    build_returns: Builder  # (ds, *, since=None) -> frame with return_id, requested_at, features
    order_features: list[str]
    return_features: list[str]
    reason_templates: dict[str, str | None] = field(default_factory=dict)
    version: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            text = "|".join(self.order_features) + "#" + "|".join(self.return_features)
            self.version = hashlib.sha1(text.encode()).hexdigest()[:12]

    def key(self, entity: str) -> tuple[str, str]:
        return ("order_id", "created_at") if entity == "order" else ("return_id", "requested_at")

    def names(self, entity: str) -> list[str]:
        return self.order_features if entity == "order" else self.return_features

    def build(self, ds: Dataset, entity: str, *, since: pd.Timestamp | None = None) -> pd.DataFrame:
        """The entity's feature frame indexed by event id, with its time column and declared features."""
        builder = self.build_orders if entity == "order" else self.build_returns
        frame = builder(ds, since=since)
        key, _ = self.key(entity)
        return frame.set_index(key, drop=True)


def default_feature_source() -> FeatureSource:
    import features

    templates: dict[str, str | None] = {
        f.name: f.reason_template
        for fs in (features.ORDER_FEATURES, features.RETURN_FEATURES)
        for f in fs.features
    }
    return FeatureSource(
        build_orders=features.build_order_features,
        build_returns=features.build_return_features,
        order_features=list(features.ORDER_FEATURES.names),
        return_features=list(features.RETURN_FEATURES.names),
        reason_templates=templates,
        version=getattr(features, "FEATURE_SET_VERSION", ""),
    )
