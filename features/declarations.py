"""Feature-set declarations: what each feature is, and what each history aggregation counts.

A `FeatureSet` names its entity key, its time column and a typed schema of `Feature`s; it is
made by `FeatureSet.declare` from one list of declarations, each feature declared once:
- a `Feature`: a value of the event's own row or basket;
- an `Aggregation` (stream, entity key, window, aggregation) over earlier rows — a feature
  itself when it has a description, else an input of derived features;
- a `Derived` (`features.derived`): a formula over aggregations and row values, compiled to
  the offline columns, the online batch and the single event.
The offline pipeline (`features.windows`) and the online state (`features.online`) are both
driven by the same declarations, so they cannot drift apart.

Timing rule, everywhere: an event at time t sees stream rows whose time is in
[lower, t) — strictly before t; rows at exactly t are not seen. For outcome streams
the row time is the moment the outcome became known (`known_at`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

__all__ = [
    "Feature",
    "FeatureSet",
    "Aggregation",
    "Dtype",
    "AggKind",
    "UTC_DAY",
    "STREAMS",
    "LINE_KEYS",
    "Grain",
    "Derived",
    "Reduce",
]

Dtype = Literal["float", "int", "category", "bool"]
AggKind = Literal["count", "sum", "last_time", "distinct"]
Grain = Literal["event", "line"]
Reduce = Literal["max", "value_mean"]

# A calendar window: from the start of the event's UTC day up to (not including) t.
UTC_DAY = "utc_day"
_DAY_NS = 86_400 * 10**9

# The streams aggregations read, with the column that orders them in time. Stream frames
# carry their keys under the event's column names (see features.streams).
STREAMS: dict[str, str] = {
    "orders": "created_at (order captured)",
    "returns": "requested_at (return requested)",
    "delivery": "known_at of the delivery outcome (on time at delivered_at; late at promise/cancel)",
    "fraud": "known_at of the fraud report (earliest reported_at)",
    "inspections": "known_at of the return inspection (inspected_at)",
    "syncs": "synced_at of a node's inventory push",
}

# Keys an order carries once per distinct value among its lines (from each line's product).
# A `grain="line"` aggregation is keyed by them: an order's stream row is filed under each
# distinct key of its basket, and an order gets one value per distinct key of its basket.
LINE_KEYS: dict[str, str] = {
    "vendor_id": "vendor_id of the product of each order line",
}


@dataclass(frozen=True, kw_only=True)
class Feature:
    """One output column: its name, dtype, meaning, and a phrase to explain it to a person.

    `reason_template` is formatted with `value=` (the feature's value for the event),
    e.g. "device used by {value:.0f} customers".
    """

    name: str
    dtype: Dtype
    description: str
    reason_template: str

    def reason(self, value: object) -> str:
        """The readable reason for this feature at a value (falls back to the raw value)."""
        try:
            return self.reason_template.format(value=value)
        except (ValueError, TypeError):
            return f"{self.name} = {value}"


@dataclass(frozen=True, kw_only=True)
class Aggregation:
    """A windowed aggregation over an earlier-events stream, for one entity key.

    - `stream`: which stream (a key of `STREAMS`);
    - `key`: the columns (event-side names) that must be equal; a null key gives null;
    - `window`: a trailing `pd.Timedelta` ([t − window, t)), None for all history before t,
      or `UTC_DAY` ([start of t's UTC day, t));
    - `agg`: `count` rows; `sum` the stream column `value`; `last_time` the time of the
      latest row before t (as nanoseconds since the epoch, null if none); `distinct` the
      number of distinct values of stream column `value` first seen before t (all-time only);
    - `grain`: `event` (one key per event) or `line` (keys from `LINE_KEYS`, one per distinct
      value in the order's basket: the aggregation gives one value per (order, key) pair, which
      the feature set reduces, e.g. to the basket's highest vendor late rate);
    - `dtype`, `description`, `reason`: given, the aggregation is a feature under its own name.
    """

    name: str
    stream: str
    key: tuple[str, ...]
    window: pd.Timedelta | str | None
    agg: AggKind = "count"
    value: str | None = None
    grain: Grain = "event"
    dtype: Dtype = "int"
    description: str = ""
    reason: str = ""

    @property
    def is_feature(self) -> bool:
        return bool(self.description)

    def feature(self) -> Feature:
        return Feature(name=self.name, dtype=self.dtype, description=self.description, reason_template=self.reason)

    @property
    def index_name(self) -> str:
        """The online state's index this aggregation reads (shared by aggregations that can)."""
        distinct = self.value if self.agg == "distinct" else None
        summed = self.value if self.agg == "sum" else None
        name = f"{self.stream}|{','.join(self.key)}" + (f"|distinct:{distinct}" if distinct else "")
        name += f"|sum:{summed}" if summed else ""
        return name + ("|per-line" if self.grain == "line" else "")

    def lower_ns(self, t_ns: int) -> int | None:
        """The window's lower bound for an event at `t_ns` (None: all history before t)."""
        if self.window is None:
            return None
        if self.window == UTC_DAY:
            return (t_ns // _DAY_NS) * _DAY_NS
        assert isinstance(self.window, pd.Timedelta)
        return t_ns - int(self.window.value)

    def __post_init__(self) -> None:
        if self.stream not in STREAMS:
            raise ValueError(f"aggregation {self.name!r}: stream must be one of {list(STREAMS)}, got {self.stream!r}")
        if self.agg in ("sum", "distinct") and not self.value:
            raise ValueError(f"aggregation {self.name!r}: agg={self.agg!r} needs a value column")
        if self.agg == "distinct" and self.window is not None:
            raise ValueError(f"aggregation {self.name!r}: distinct is declared all-time (window=None)")
        if isinstance(self.window, str) and self.window != UTC_DAY:
            raise ValueError(f"aggregation {self.name!r}: window must be a Timedelta, None or {UTC_DAY!r}")
        if self.is_feature and (self.name.startswith("_") or not self.reason or self.grain == "line"):
            raise ValueError(f"aggregation {self.name!r}: a feature needs a public name, a reason and grain 'event'")
        if self.grain == "line" and (not set(self.key) <= set(LINE_KEYS) or self.agg not in ("count", "sum")):
            raise ValueError(f"aggregation {self.name!r}: grain='line' needs keys from {list(LINE_KEYS)} and "
                             f"agg count or sum, got key={self.key!r}, agg={self.agg!r}")


@dataclass(frozen=True, kw_only=True)
class Derived:
    """A value computed by `formula(*inputs)`; a feature unless its name starts with "_"."""

    name: str
    inputs: tuple[str, ...]
    formula: Callable[..., Any]
    dtype: Dtype = "float"
    description: str = ""
    reason: str = ""
    grain: Literal["event", "line"] = "event"
    reduce: Reduce | None = None
    requires: str | None = None

    @property
    def is_feature(self) -> bool:
        return not self.name.startswith("_")

    def feature(self) -> Feature:
        return Feature(name=self.name, dtype=self.dtype, description=self.description, reason_template=self.reason)

    def __post_init__(self) -> None:
        if self.is_feature and not (self.description and self.reason):
            raise ValueError(f"derived feature {self.name!r}: needs a description and a reason")
        if (self.reduce is not None) != (self.grain == "line" and self.is_feature):
            raise ValueError(f"derived {self.name!r}: a line-grain feature needs `reduce`, and only it")


@dataclass(frozen=True, kw_only=True)
class FeatureSet:
    """A declared feature set: entity key, time column, typed schema, its aggregations and the
    derived values computed from them (see `declare`)."""

    name: str
    entity: str
    time_column: str
    features: tuple[Feature, ...]
    aggregations: tuple[Aggregation, ...] = ()
    derived: tuple[Derived, ...] = ()

    @classmethod
    def declare(cls, *, name: str, entity: str, time_column: str,
                declarations: Sequence[Feature | Aggregation | Derived]) -> FeatureSet:
        """The set from one list: the features in the order they are declared (a plain `Feature`,
        an aggregation with a description, a public derived value), every aggregation, every
        derived value (computed in declared order)."""
        features: list[Feature] = []
        for d in declarations:
            if isinstance(d, Feature):
                features.append(d)
            elif d.is_feature:
                features.append(d.feature())
        return cls(name=name, entity=entity, time_column=time_column, features=tuple(features),
                   aggregations=tuple(d for d in declarations if isinstance(d, Aggregation)),
                   derived=tuple(d for d in declarations if isinstance(d, Derived)))

    @property
    def row_features(self) -> tuple[Feature, ...]:
        """The features of the event's own row and basket (neither aggregated nor derived)."""
        produced = {d.name for d in self.derived} | {a.name for a in self.aggregations}
        return tuple(f for f in self.features if f.name not in produced)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def event_aggregations(self) -> tuple[Aggregation, ...]:
        return tuple(a for a in self.aggregations if a.grain == "event")

    def line_aggregations(self) -> tuple[Aggregation, ...]:
        return tuple(a for a in self.aggregations if a.grain == "line")

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.dtype == "category"]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"feature set {self.name!r} has no feature {name!r}")

    def fingerprint(self) -> str:
        """A short hash of the declaration: changes whenever a feature or aggregation changes."""
        derived = [(d.name, d.inputs, d.grain, d.reduce, d.requires, d.formula.__qualname__,
                    d.formula.__code__.co_code.hex(), d.formula.__code__.co_names,
                    [c for c in d.formula.__code__.co_consts if not hasattr(c, "co_code")]) for d in self.derived]
        text = repr((self.name, self.entity, self.time_column,
                     [(f.name, f.dtype) for f in self.features], self.aggregations, derived))
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"feature set {self.name!r}: duplicate feature names {sorted(dup)}")
