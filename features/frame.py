"""Shared helpers that turn computed columns into a typed feature frame."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from features.declarations import FeatureSet

__all__ = ["as_utc", "to_feature_frame", "haversine_km", "ns_to_days", "safe_ratio"]


def as_utc(ts: object) -> pd.Timestamp:
    """A timestamp in UTC; one without a zone is taken as UTC (day boundaries are UTC anyway)."""
    t = pd.Timestamp(ts)  # type: ignore[arg-type]
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Great-circle distance in km; null where any coordinate is null."""
    la1, lo1, la2, lo2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (lat1, lon1, lat2, lon2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def ns_to_days(delta_ns: np.ndarray) -> np.ndarray:
    return np.asarray(delta_ns, dtype=np.float64) / 86_400e9


def safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, null where den is 0 or null."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[~(den > 0)] = np.nan
    return out


def _category(values: object, known: tuple[str, ...]) -> pd.Categorical:
    s = pd.Series(np.asarray(values, dtype=object))
    s = s.where(s.notna(), None)
    seen = sorted({v for v in s.dropna().astype(str).unique() if v not in known})
    cats = [*known, *seen]
    return pd.Categorical(s.astype(object).where(s.notna(), None), categories=cats)


def to_feature_frame(
    fs: FeatureSet,
    key: pd.Series,
    time: pd.Series,
    columns: Mapping[str, object],
    known_categories: Mapping[str, tuple[str, ...]],
) -> pd.DataFrame:
    """The feature frame: key and time columns, then every declared feature in declared order.

    Categorical features become pandas `category` (the contract's listed values first,
    then unseen values sorted); every other feature is float64 (counts and 0/1 flags too).
    """
    out: dict[str, object] = {fs.entity: key.to_numpy(), fs.time_column: time.array}
    for f in fs.features:
        if f.name not in columns:
            raise KeyError(f"feature {f.name!r} of {fs.name!r} was not computed")
        v = columns[f.name]
        if f.dtype == "category":
            out[f.name] = _category(v, known_categories.get(f.name, ()))
        else:
            out[f.name] = pd.to_numeric(pd.Series(np.asarray(v, dtype=object)), errors="coerce").to_numpy(
                np.float64
            ) if np.asarray(v).dtype == object else np.asarray(v, dtype=np.float64)
    return pd.DataFrame(out)
