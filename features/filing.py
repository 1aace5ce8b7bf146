"""The filing rules: which indexes the declared aggregations need, and what one stream row
files under each of them — the one definition the online state (`features.online`), the
compiled filing plan (`triage.stores._index_core.Plan`, built from `plan_steps`) and a
batch's overlay (`features.overlay`) all follow.

An index is one (stream, key columns, value column, rule) of the declarations
(`Aggregation.index_name`). A row of its stream is filed there under the row's key (its key
columns' values as strings; a null part: not filed) with the row's value (0.0 when the
column is null or the index only counts), by one of three rules:

- plain: one entry per row, identified by the row's id (re-filing a row replaces it);
- per line (`grain="line"`): one entry per distinct vendor of the order's basket (`_vendors`);
- distinct: the first appearance of a value of the `distinct` column under the key (its
  entry's id is the value; a later row with the value files nothing, an earlier one moves it).

Inventory syncs (`BY_TIME`) are identified by their node and time: their only index is keyed
by the node, so a sync is its (key, time) — the compiled plan keeps no id for them; a store
that needs an id uses `sync_id`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.declarations import FeatureSet

__all__ = ["IndexSpec", "index_specs", "shared_indexes", "key_of", "row_entries", "plan_steps", "BY_TIME",
           "sync_id", "PLAIN", "PER_LINE", "DISTINCT"]

PLAIN, PER_LINE, DISTINCT = 0, 1, 2  # the rules (as `_index_core.Plan` numbers them)
BY_TIME = frozenset({"syncs"})  # streams whose rows are identified by (key, time), not an id


@dataclass(frozen=True)
class IndexSpec:
    name: str
    stream: str
    key: tuple[str, ...]
    value: str | None  # column summed (None: entries carry 0)
    distinct: str | None
    per_line: bool = False  # filed once per distinct line key of the order (grain="line")

    @property
    def rule(self) -> int:
        return DISTINCT if self.distinct else PER_LINE if self.per_line else PLAIN


def index_specs(feature_sets: Iterable[FeatureSet]) -> dict[str, IndexSpec]:
    specs: dict[str, IndexSpec] = {}
    for fs in feature_sets:
        for a in fs.aggregations:
            specs[a.index_name] = IndexSpec(a.index_name, a.stream, a.key, a.value if a.agg == "sum" else None,
                                            a.value if a.agg == "distinct" else None, a.grain == "line")
    for s in specs.values():
        if s.stream in BY_TIME and (s.key != ("fulfillment_node_id",) or s.rule != PLAIN):
            raise ValueError(f"index {s.name}: a {s.stream} row is identified by its node and time, so its "
                             "indexes must be keyed by fulfillment_node_id alone")
    return specs


def shared_indexes(specs: Mapping[str, IndexSpec]) -> dict[str, str]:
    """Count-only indexes whose entries are exactly a summed index's (same stream, key and
    grain: the same rows, ids and times; only the values differ): count index → summed index.
    A store that can (`alias`) keeps one index for both; a count read of the summed index is
    the count index's read (counts and latest times are the same entries')."""
    summed = {(s.stream, s.key, s.per_line): s.name for s in specs.values() if s.value and not s.distinct}
    return {s.name: summed[(s.stream, s.key, s.per_line)] for s in specs.values()
            if s.value is None and not s.distinct and (s.stream, s.key, s.per_line) in summed}


def sync_id(node: object, t_ns: int | None) -> str:
    """An inventory sync's id for a store that files by id: its node and time."""
    return f"{node}|{t_ns}"


def key_of(row: Mapping[str, Any], cols: tuple[str, ...]) -> tuple[str, ...] | None:
    """The row's key under `cols` (its values as strings); None when a part is null."""
    out = []
    for c in cols:
        v = row.get(c)
        if type(v) is not str:
            if v is None or pd.isna(v):
                return None
            v = str(v)
        out.append(v)
    return tuple(out)


def row_entries(spec: IndexSpec, row: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], str | None, float]]:
    """What one row files under `spec`: (key, distinct value or None, value) per entry (the
    entry's id is the row's, or the distinct value; a distinct entry is filed only where it
    would be the value's first appearance under the key)."""
    v = 0.0 if spec.value is None else float(row.get(spec.value) or 0.0)
    if spec.per_line:
        for x in row.get("_vendors") or []:
            yield (str(x),), None, v
        return
    key = key_of(row, spec.key)
    if key is None:
        return
    if spec.distinct:
        value = row.get(spec.distinct)
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return
        yield key, str(value), 0.0
        return
    yield key, None, v


def plan_steps(specs: Iterable[IndexSpec]) -> list[tuple[str, tuple[str, ...], str | None, int, str | None]]:
    """One stream's indexes as the compiled plan's steps: (index, key columns, value column, rule,
    distinct column)."""
    return [(s.name, s.key, s.value, s.rule, s.distinct) for s in specs]
