"""Exact, vectorised point-in-time aggregation: the offline engine behind `Aggregation`s.

For one (stream, key) the stream rows are sorted once by (key, time). Each event then
finds, by binary search, the stream rows with an equal key and a time in [lower, t):
ties at t go to "not before", so same-timestamp rows never see each other. Exact to
the nanosecond and O((n + m) log n); several windows over one key share the sort.

Times are int64 nanoseconds since the epoch (UTC). Keys are one or more columns; a
null in any key column means "no entity": the event gets a null result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from features.declarations import UTC_DAY, Aggregation

__all__ = ["Aggregate", "KeyedTimeIndex", "TimeRanks", "sorted_unique", "first_appearances", "joint_codes", "compute_aggregations", "to_ns", "DAY_NS"]

DAY_NS = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min


def to_ns(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) as int64; NaT becomes int64 min."""
    values = pd.DatetimeIndex(times)
    if values.tz is not None:
        values = values.tz_convert("UTC").tz_localize(None)
    return values.as_unit("ns").asi8.copy()


def joint_codes(
    stream_cols: Sequence[pd.Series | np.ndarray], event_cols: Sequence[pd.Series | np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for (multi-column) keys, shared between stream and events; -1 for null."""
    n_s = len(stream_cols[0])
    combined: np.ndarray | None = None
    for s_col, e_col in zip(stream_cols, event_cols, strict=True):
        both = np.concatenate([np.asarray(s_col, dtype=object), np.asarray(e_col, dtype=object)])
        codes, _ = pd.factorize(both, use_na_sentinel=True)
        codes = codes.astype(np.int64)
        if combined is None:
            combined = codes
        else:
            null = (combined < 0) | (codes < 0)
            pair = combined * (int(codes.max()) + 2) + codes
            combined, _ = pd.factorize(np.where(null, -1, pair))
            combined = np.where(null, -1, combined).astype(np.int64)
    assert combined is not None
    return combined[:n_s], combined[n_s:]


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: faster than numpy's hash unique for int64 times)."""
    v = np.sort(values)
    if len(v) == 0:
        return v
    keep = np.empty(len(v), dtype=bool)
    keep[0] = True
    np.not_equal(v[1:], v[:-1], out=keep[1:])
    return v[keep]


class TimeRanks:
    """A stream's distinct times; ranks preserve "<", so (key, rank) pairs fit one int64."""

    def __init__(self, stream_ns: np.ndarray) -> None:
        self.times = sorted_unique(stream_ns[stream_ns != _NAT])
        self.width = np.int64(len(self.times) + 1)
        self.stream_rank = np.searchsorted(self.times, stream_ns, "left")

    def rank(self, bound_ns: np.ndarray) -> np.ndarray:
        """Number of distinct stream times strictly below each bound."""
        return np.searchsorted(self.times, bound_ns, "left")


class KeyedTimeIndex:
    """Stream rows sorted by (key code, time rank), searchable for [lower, t) per event."""

    def __init__(self, stream_codes: np.ndarray, stream_ns: np.ndarray, event_codes: np.ndarray,
                 ranks: TimeRanks | None = None, event_rank: np.ndarray | None = None) -> None:
        self.ranks = ranks if ranks is not None else TimeRanks(stream_ns)
        valid = (stream_codes >= 0) & (stream_ns != _NAT)
        rows = np.flatnonzero(valid)
        self.width = self.ranks.width
        comb = stream_codes[rows] * self.width + self.ranks.stream_rank[rows]
        order = np.argsort(comb, kind="stable")
        self.sorted = comb[order]
        self.sorted_codes = stream_codes[rows][order]
        self.rows = rows[order]  # stream row numbers in (key, time) order
        self.sorted_ns = stream_ns[rows][order]
        self.event_null = event_codes < 0
        self._base = np.where(self.event_null, 0, event_codes) * self.width
        # searching needles in sorted order is much faster (numpy reuses the previous hit);
        # every bound used here is monotone in t, so one permutation sorts them all
        self._perm = np.argsort(self._base + (event_rank if event_rank is not None else 0), kind="stable")
        self._start: np.ndarray | None = None

    def _search(self, needles: np.ndarray) -> np.ndarray:
        out = np.empty(len(needles), dtype=np.int64)
        out[self._perm] = np.searchsorted(self.sorted, needles[self._perm], "left")
        return out

    def position_rank(self, bound_rank: np.ndarray | None) -> np.ndarray:
        """Per event: the first sorted row with an equal key and time rank ≥ bound (None: key start)."""
        if bound_rank is None:
            if self._start is None:
                self._start = self._search(self._base)
            return self._start
        return self._search(self._base + bound_rank)

    def position(self, bound_ns: np.ndarray | None) -> np.ndarray:
        return self.position_rank(None if bound_ns is None else self.ranks.rank(bound_ns))

    def window_sum_rank(
        self, lower_rank: np.ndarray | None, upper_rank: np.ndarray, values: np.ndarray | None = None
    ) -> np.ndarray:
        """Per event: count (or sum of `values`) of rows with equal key and time in [lower, upper)."""
        hi = self.position_rank(upper_rank)
        lo = self.position_rank(lower_rank)
        if values is None:
            out = (hi - lo).astype(np.float64)
        else:
            # cumulative sums restarted at each key, so a result depends only on its own
            # key's earlier rows (not on float rounding of other keys' values)
            v = np.nan_to_num(np.asarray(values, dtype=np.float64)[self.rows])
            seg = pd.Series(v).groupby(self.sorted_codes, sort=False).cumsum().to_numpy()
            cum = np.concatenate([[0.0], seg])
            start = self.position_rank(None)
            base = cum[lo]
            base[lo == start] = 0.0
            out = cum[hi] - base
            out[hi == start] = 0.0
        out[self.event_null] = np.nan
        return out

    def window_sum(
        self, lower_ns: np.ndarray | None, upper_ns: np.ndarray, values: np.ndarray | None = None
    ) -> np.ndarray:
        return self.window_sum_rank(
            None if lower_ns is None else self.ranks.rank(lower_ns), self.ranks.rank(upper_ns), values
        )

    def last_before_rank(self, upper_rank: np.ndarray) -> np.ndarray:
        """Per event: the time (ns, as float) of the latest row with equal key before upper; NaN if none."""
        hi = self.position_rank(upper_rank)
        start = self.position_rank(None)
        has = (hi > start) & ~self.event_null
        out = np.full(len(hi), np.nan)
        out[has] = self.sorted_ns[hi[has] - 1].astype(np.float64)
        return out

    def last_before(self, upper_ns: np.ndarray) -> np.ndarray:
        return self.last_before_rank(self.ranks.rank(upper_ns))


def _lower_bound(window: pd.Timedelta | str | None, t_ns: np.ndarray) -> np.ndarray | None:
    if window is None:
        return None
    if window == UTC_DAY:
        return (t_ns // DAY_NS) * DAY_NS
    assert isinstance(window, pd.Timedelta)
    return t_ns - np.int64(window.value)


def first_appearances(stream: pd.DataFrame, key: Sequence[str], value: str) -> pd.DataFrame:
    """One row per (key, value) pair at the time it first appeared: distinct-count as a count."""
    cols = [*key, value]
    s = stream.dropna(subset=cols)
    return s.groupby(cols, sort=False, observed=True)["_t"].min().reset_index()


# (aggregations, events, event_ns, streams) -> name → float64 array: `compute_aggregations`, or an
# engine that computed the same call elsewhere (features.partitioned, per key partition)
Aggregate = Callable[[Sequence[Aggregation], pd.DataFrame, np.ndarray, Mapping[str, pd.DataFrame]], dict[str, np.ndarray]]


def compute_aggregations(
    aggregations: Sequence[Aggregation],
    events: pd.DataFrame,
    event_ns: np.ndarray,
    streams: Mapping[str, pd.DataFrame],
) -> dict[str, np.ndarray]:
    """Evaluate declared aggregations for every event, exactly and point-in-time.

    `streams[name]` holds the stream's rows with their time as int64 ns in column `_t` and
    key/value columns under the event's column names. Returns name → float64 array.
    """
    out: dict[str, np.ndarray] = {}
    indexes: dict[tuple, KeyedTimeIndex] = {}
    ranks: dict[tuple, TimeRanks] = {}
    bounds: dict[tuple, np.ndarray | None] = {}
    codes: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for agg in aggregations:
        stream = streams[agg.stream]
        kind = ("distinct", agg.value) if agg.agg == "distinct" else ("rows",)
        if agg.agg == "distinct":
            assert agg.value is not None
            stream = first_appearances(stream, agg.key, agg.value)
        rk = (agg.stream, *kind, agg.key if kind[0] == "distinct" else ())
        if rk not in ranks:
            ranks[rk] = TimeRanks(stream["_t"].to_numpy(np.int64))
        tr = ranks[rk]
        if (rk, "t") not in bounds:
            bounds[(rk, "t")] = tr.rank(event_ns)
        upper = bounds[(rk, "t")]
        assert upper is not None
        bk = (rk, str(agg.window))
        if bk not in bounds:
            lower_ns = _lower_bound(agg.window, event_ns)
            bounds[bk] = None if lower_ns is None else tr.rank(lower_ns)
        lower = bounds[bk]
        ik = (agg.stream, agg.key, *kind)
        index = indexes.get(ik)
        if index is None:
            ck = (agg.stream, agg.key, *kind)
            if ck not in codes:
                codes[ck] = joint_codes([stream[k] for k in agg.key], [events[k] for k in agg.key])
            s_codes, e_codes = codes[ck]
            index = KeyedTimeIndex(s_codes, stream["_t"].to_numpy(np.int64), e_codes, tr, upper)
            indexes[ik] = index
        if agg.agg == "last_time":
            out[agg.name] = index.last_before_rank(upper)
        elif agg.agg == "sum":
            assert agg.value is not None
            out[agg.name] = index.window_sum_rank(lower, upper, stream[agg.value].to_numpy(np.float64))
        else:
            out[agg.name] = index.window_sum_rank(lower, upper)
    return out
