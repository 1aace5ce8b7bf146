"""Derived features: ONE formula over named inputs, compiled to every path.

A `Derived` declares a value computed from named inputs — aggregations, row features, event
values (`EVENT_INPUTS`) and earlier derived values. Its `formula` is a plain function of those
inputs (positional, in `inputs` order) written with arithmetic and the helpers here (`ratio`,
`nz`, `where`), which take Python floats and numpy arrays (or pandas Series) alike: the same
IEEE operations in the same order either way, so every path gives the same bits.

It is compiled to:
- columns (`Compiled.columns`): numpy over all events at once — the offline pipeline and the
  online batch path;
- one event (`Compiled.one`): a plain-Python program generated from the declarations (one
  statement per declaration, no loop or lookup between them). A batch of one in numpy would cost
  about a microsecond per operation, ten times the plain-Python cost of these formulas.

A `grain="line"` value is computed per (order, basket key) pair — its inputs are the line-grain
aggregations, earlier line values, and the order's own values — and a declaration with `reduce`
turns it into one value per order: `max` (the basket's highest; null without pairs) or
`value_mean` (weighted by the basket value behind each pair; null when that value is not > 0).
`requires` names a table without which the value is null (e.g. late rates need delivery outcomes).
Names starting with "_" are intermediates, not features.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.declarations import Derived, FeatureSet

__all__ = ["Derived", "Compiled", "compiled", "ratio", "nz", "where", "value", "first_max", "group_sum", "EVENT_INPUTS", "NAN"]

NAN = float("nan")

# Event values every path supplies beside the aggregations and row features.
EVENT_INPUTS: dict[str, str] = {
    "_t": "the event's own time, as float nanoseconds since the epoch (UTC)",
    "_capacity": "the fulfilling node's daily capacity (null if unknown)",
}


# ------------------------------------------------------------------- the formula helpers


def ratio(num: Any, den: Any) -> Any:
    """num / den where den > 0, else null (den 0, negative or null)."""
    if isinstance(den, float):
        return num / den if den > 0 else NAN
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, NAN)


def nz(x: Any) -> Any:
    """Null as 0."""
    if isinstance(x, float):
        return 0.0 if x != x else x
    return np.where(x != x, 0.0, x)


def where(cond: Any, yes: Any, no: Any) -> Any:
    """`yes` where `cond` holds, else `no` (both are evaluated)."""
    if isinstance(cond, bool | np.bool_):
        return yes if cond else no
    return np.where(cond, yes, no)


def value(x: Any) -> Any:
    """The input itself (a reduced line value that needs no formula of its own)."""
    return x


# ------------------------------------------------------------------------------ reductions


def group_sum(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per group, `acc = 0.0; acc += v` in the values' order (bincount adds exactly so)."""
    return np.bincount(owner, weights=values, minlength=n) if len(owner) else np.zeros(n)


def first_max(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per group, Python's `top = -inf; top = max(top, v)`: NaN never wins, and of equal
    values (0.0 and -0.0) the first stays; `np.maximum.at` takes the last of a tie."""
    top = np.full(n, -np.inf)
    if not len(owner):
        return top
    np.maximum.at(top, owner, np.where(values != values, -np.inf, values))
    zero = (values == 0) & (top[owner] == 0)
    if zero.any():
        groups, first = np.unique(owner[zero], return_index=True)
        top[groups] = values[zero][first]
    return top


# ------------------------------------------------------------------------------- compiler


def _program(decls: Sequence[Derived], line_inputs: frozenset[str] | None = None) -> Callable[..., None]:
    """A generated function filling each declaration's value from its inputs: `run(v)` for
    event values, `run(v, p)` for one pair's line values (`p`, holding the pair's line-grain
    aggregations `line_inputs`) beside the order's (`v`)."""
    env: dict[str, Any] = {}
    body: list[str] = []
    line = line_inputs is not None
    here = set(line_inputs or ())
    for i, d in enumerate(decls):
        env[f"f{i}"] = d.formula
        args = ", ".join(f"{'p' if line and n in here else 'v'}[{n!r}]" for n in d.inputs)
        body.append(f"    {'p' if line else 'v'}[{d.name!r}] = f{i}({args})")
        if d.reduce is None:
            here.add(d.name)
    return _exec("def run(v, p=None):\n" + ("\n".join(body) or "    pass"), env)


def _exec(source: str, env: dict[str, Any]) -> Callable[..., None]:
    exec(compile(source, "<features.derived program>", "exec"), env)  # our own declarations only
    run: Callable[..., None] = env["run"]
    return run


@dataclass(frozen=True)
class Compiled:
    """A feature set's derived declarations, checked and compiled (see the module docstring).

    `line_inputs`: the line-grain aggregation names (per pair); `known`: every other name an
    event's values hold before the derived ones (aggregations, row features, `EVENT_INPUTS`).
    """

    decls: tuple[Derived, ...]
    line_inputs: frozenset[str]
    known: frozenset[str]
    event: tuple[Derived, ...] = field(init=False)
    line: tuple[Derived, ...] = field(init=False)
    gated: dict[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        seen_event, seen_line = set(self.known) | set(EVENT_INPUTS), set(self.line_inputs)
        for d in self.decls:
            for n in d.inputs:
                ok = n in seen_event or (d.grain == "line" and n in seen_line)
                if not ok:
                    raise ValueError(f"derived {d.name!r}: input {n!r} is not an aggregation, row feature, event "
                                     f"value or earlier derived value of its grain ({d.grain})")
            if d.name in seen_event or d.name in seen_line:
                raise ValueError(f"derived {d.name!r}: the name is declared twice")
            if d.reduce is None:  # a reduced value is filled after every formula: nothing reads it
                (seen_line if d.grain == "line" else seen_event).add(d.name)
            elif d.name in self.known:
                raise ValueError(f"derived {d.name!r}: the name is declared twice")
        object.__setattr__(self, "event", tuple(d for d in self.decls if d.grain == "event"))
        object.__setattr__(self, "line", tuple(d for d in self.decls if d.grain == "line"))
        gated: dict[str, list[str]] = {}
        for d in self.decls:
            if d.requires is not None:
                gated.setdefault(d.requires, []).append(d.name)
        object.__setattr__(self, "gated", {t: tuple(ns) for t, ns in gated.items()})
        object.__setattr__(self, "_run_event", _program(self.event))
        object.__setattr__(self, "_run_line", _program(self.line, self.line_inputs))
        object.__setattr__(self, "_reduced", tuple((d.name, d.reduce) for d in self.line if d.reduce))

    # ------------------------------------------------------------------ one event (Python)

    def one(self, v: dict[str, Any], pairs: Sequence[dict[str, float]] = (), weights: Sequence[float] = (),
            present: frozenset[str] | set[str] = frozenset()) -> None:
        """Fill `v` (one event's values, floats) with every derived value, in place.

        `pairs`: the line-grain aggregations of each of its basket's pairs (filled with the pairs'
        line values too), `weights` the basket value behind each (in the same order)."""
        self._run_event(v)  # type: ignore[attr-defined]
        if self.line:
            run = self._run_line  # type: ignore[attr-defined]
            ps = pairs
            for p in ps:
                run(v, p)
            total = sum(weights)
            for name, how in self._reduced:  # type: ignore[attr-defined]
                if how == "max":
                    top = -math.inf
                    for p in ps:
                        top = max(top, p[name])
                    v[name] = top if ps else NAN
                else:
                    acc = 0.0
                    for p, w in zip(ps, weights, strict=True):
                        acc += w * p[name]
                    v[name] = acc / total if total > 0 else NAN
        for table, names in self.gated.items():
            if table not in present:
                for name in names:
                    v[name] = NAN

    # ------------------------------------------------------------------- columns (numpy)

    def columns(self, v: dict[str, Any], n: int, owner: np.ndarray | None = None,
                pairs: Mapping[str, np.ndarray] | None = None, weights: np.ndarray | None = None,
                present: frozenset[str] | set[str] = frozenset()) -> None:
        """Fill `v` (name → float64 column of n events) with every derived column, in place.

        `owner[j]`: the event of pair j; `pairs`: the line-grain aggregations per pair;
        `weights`: the basket value behind each pair."""
        self._run_event(v)  # type: ignore[attr-defined]
        if self.line:
            assert owner is not None and pairs is not None and weights is not None
            p: dict[str, Any] = dict(pairs)
            order = _Broadcast(v, owner)
            self._run_line(order, p)  # type: ignore[attr-defined]
            n_pairs = np.bincount(owner, minlength=n)
            total = group_sum(owner, weights, n)
            for name, how in self._reduced:  # type: ignore[attr-defined]
                if how == "max":
                    v[name] = np.where(n_pairs > 0, first_max(owner, p[name], n), NAN)
                else:
                    v[name] = ratio(group_sum(owner, weights * p[name], n), total)
        for table, names in self.gated.items():
            if table not in present:
                for name in names:
                    v[name] = np.full(n, NAN)


class _Broadcast(dict):  # type: ignore[type-arg]
    """An event-column mapping read per pair: `b[name]` is `v[name][owner]` (computed once)."""

    def __init__(self, v: Mapping[str, Any], owner: np.ndarray) -> None:
        super().__init__()
        self._v, self._owner = v, owner

    def __missing__(self, name: str) -> Any:
        col = self[name] = np.asarray(self._v[name])[self._owner]
        return col


_COMPILED: dict[int, tuple[FeatureSet, Compiled]] = {}


def compiled(fs: FeatureSet) -> Compiled:
    """The feature set's derived values compiled for columns and for one event (once per set)."""
    hit = _COMPILED.get(id(fs))
    if hit is not None and hit[0] is fs:
        return hit[1]
    produced = {d.name for d in fs.derived} | {a.name for a in fs.aggregations}
    row = {f.name for f in fs.features if f.name not in produced}
    result = Compiled(fs.derived, line_inputs=frozenset(a.name for a in fs.line_aggregations()),
                      known=frozenset(a.name for a in fs.event_aggregations()) | row)
    _COMPILED[id(fs)] = (fs, result)
    return result
