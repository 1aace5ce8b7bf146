"""Point-in-time correct feature pipelines for orders and returns, and their declarations.

`build_order_features(ds)` and `build_return_features(ds)` return one row per event with
only what was known strictly before the event's own time. `ORDER_FEATURES`
(`features.order_catalog`) and `RETURN_FEATURES` (`features.returns`) declare each set, each
feature once: entity, time column, typed schema with a readable reason per feature, the
windowed aggregations both the offline and online paths use, and the derived formulas
compiled to every path (`features.derived`). The list is in docs/FEATURES.md.

Output dtypes: declared `category` features are pandas `category` (the contract's listed
values first, then unseen values sorted — map by value, not by code); every other
feature is float64 (counts and 0/1 flags included; null where unknown).
"""

from features.declarations import UTC_DAY, Aggregation, Feature, FeatureSet
from features.orders import ORDER_FEATURES, build_order_features
from features.returns import RETURN_FEATURES, build_return_features

# Names the feature definitions a model was trained on (stored in the model bundle).
FEATURE_SET_VERSION = f"{ORDER_FEATURES.fingerprint()}-{RETURN_FEATURES.fingerprint()}"

__all__ = [
    "Aggregation",
    "FEATURE_SET_VERSION",
    "Feature",
    "FeatureSet",
    "ORDER_FEATURES",
    "RETURN_FEATURES",
    "UTC_DAY",
    "build_order_features",
    "build_return_features",
]
