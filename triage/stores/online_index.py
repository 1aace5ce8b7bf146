"""The worker's in-process online state: compact time indexes behind `features.online.OnlineStore`.

Per (index, key) a `_Series`: entry times in a sorted `array('q')`, the entries' ids as
interned int codes beside them, and — only once a non-zero value is stored — the values
and their prefix sums. A window [lower, upper) is two bisects; its count is the
difference of the positions, its sum a difference of prefix sums, its latest time the
entry just before `upper`. So an event's ~60 windows cost tens of microseconds, however
wide (the 28-day global late rate reads two positions, it does not scan).

Memory: ~8 B per entry (time) + 4 B (id code) [+ 16 B for summed indexes], plus where
each id is filed: one int64/int32 pair per (index, id code) in numpy arrays, with a small
overflow dict for the ids filed under several keys of one index (the `distinct` indexes).
Records (orders, master data) are kept pickled (one bytes object each) and unpickled on
read, so a caller always gets its own copy, as from a server store; the online features'
own bookkeeping (where each event is filed) is kept as given, as notes (`put_note`).

A new event usually lands at the end of its series (an append); out-of-order arrivals
are inserted at their time (`bisect`), and the prefix sums after the insertion point move
by the value (vectorised). Not thread-safe on its own:
`triage.stores.online.OnlineState` serialises access.
"""

from __future__ import annotations

import bisect
import pickle
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from features.online import Window

__all__ = ["IndexedStore"]

_ABSENT = int(np.iinfo(np.int64).min)
_NONE = Window(0, 0.0, None)


def _shift(cum: array, start: int, value: float) -> None:
    """Add `value` to the prefix sums from `start` on: a short tail in a loop, a long one with
    numpy (the same float additions either way)."""
    n = len(cum)
    if n - start <= 64:
        for j in range(start, n):
            cum[j] += value
    else:
        tail = np.frombuffer(cum, dtype=np.float64)[start:]
        tail += value


class _Series:
    """One (index, key): entries sorted by time."""

    __slots__ = ("times", "codes", "values", "cum")

    def __init__(self) -> None:
        self.times = array("q")
        self.codes = array("i")
        self.values: array | None = None  # float64, only once a non-zero value is stored
        self.cum: array | None = None  # prefix sums, len(times) + 1

    def _ensure_values(self) -> None:
        if self.values is None:
            self.values = array("d", bytes(8 * len(self.times)))
            self.cum = array("d", bytes(8 * (len(self.times) + 1)))

    def insert(self, t: int, code: int, value: float) -> None:
        times = self.times
        n = len(times)
        if value != 0.0 and self.values is None:
            self._ensure_values()
        if n == 0 or times[n - 1] <= t:  # the usual case, a new event: append
            times.append(t)
            self.codes.append(code)
            if self.values is not None:
                cum = self.cum
                assert cum is not None
                self.values.append(value)
                cum.append(cum[n] + value)
            return
        i = bisect.bisect_right(times, t)
        times.insert(i, t)
        self.codes.insert(i, code)
        if self.values is not None:
            cum = self.cum
            assert cum is not None
            self.values.insert(i, value)
            cum.insert(i + 1, cum[i] + value)
            if value != 0.0:
                _shift(cum, i + 2, value)

    def remove(self, t: int, code: int) -> None:
        n = len(self.times)
        if n and self.times[n - 1] == t and self.codes[n - 1] == code:  # the last one (undoing an append)
            i = n - 1
        else:
            i = bisect.bisect_left(self.times, t)
            while i < n and self.codes[i] != code:
                i += 1
        if i >= n or self.times[i] != t:  # pragma: no cover - the location map says it is here
            raise KeyError(code)
        del self.times[i]
        del self.codes[i]
        if self.values is not None:
            cum = self.cum
            assert cum is not None
            value = self.values[i]
            del self.values[i]
            del cum[i + 1]
            if value != 0.0 and i + 1 < len(cum):
                _shift(cum, i + 1, -value)

    def bulk(self, times: np.ndarray, codes: np.ndarray, values: np.ndarray) -> None:
        """Add many entries at once (merged with what is there, re-sorted by time)."""
        if len(self.times):
            times = np.concatenate([np.frombuffer(self.times, dtype=np.int64), times])
            codes = np.concatenate([np.frombuffer(self.codes, dtype=np.int32), codes])
            old = (np.frombuffer(self.values, dtype=np.float64) if self.values is not None
                   else np.zeros(len(self.times)))
            values = np.concatenate([old, values])
        order = np.argsort(times, kind="stable")
        times, codes, values = times[order], codes[order], values[order]
        self.times = array("q", times.astype(np.int64).tobytes())
        self.codes = array("i", codes.astype(np.int32).tobytes())
        if np.any(values != 0.0):
            self.values = array("d", values.astype(np.float64).tobytes())
            self.cum = array("d", np.concatenate([[0.0], np.cumsum(values)]).tobytes())
        else:
            self.values = self.cum = None

    def value_of(self, t: int, code: int) -> float:
        """The value of the entry (t, code) (0.0 for a count-only series)."""
        if self.values is None:
            return 0.0
        i = bisect.bisect_left(self.times, t)
        while self.codes[i] != code:
            i += 1
        return self.values[i]

    def window(self, lower: int | None, upper: int) -> Window:
        times = self.times
        hi = bisect.bisect_left(times, upper)
        if hi == 0:
            return _NONE
        lo = 0 if lower is None else min(bisect.bisect_left(times, lower, 0, hi), hi)
        cum = self.cum
        total = 0.0 if cum is None else cum[hi] - cum[lo]
        return Window(hi - lo, total, times[hi - 1])


class _Index:
    """One declared index: its series by key, and where each entry id is filed.

    Ids are coded per stream (the indexes of one stream share one code space: an order id
    is one code for all the order indexes), so the location arrays span only that stream's
    ids. They are `array`s (fast scalar access), viewed with numpy for bulk loads."""

    __slots__ = ("series", "keys", "codes", "at_t", "at_s", "overflow")

    def __init__(self, codes: dict[str, int]) -> None:
        self.series: list[_Series] = []
        self.keys: dict[tuple[str, ...], int] = {}
        self.codes = codes  # entry id → code, shared by the indexes of one stream
        self.at_t = array("q")  # by id code: time of its entry (_ABSENT: none)
        self.at_s = array("i")  # by id code: series number
        self.overflow: dict[tuple[int, int], int] = {}  # (series, code) → time, for a 2nd key

    def code(self, entry_id: str) -> int:
        codes = self.codes
        c = codes.get(entry_id)
        if c is None:
            c = codes[entry_id] = len(codes)
        if c >= len(self.at_t):
            self.grow(len(codes))
        return c

    def sno(self, key: tuple[str, ...], create: bool) -> int | None:
        s = self.keys.get(key)
        if s is None and create:
            s = self.keys[key] = len(self.series)
            self.series.append(_Series())
        return s

    def grow(self, n_codes: int) -> None:
        n = len(self.at_t)
        if n_codes > n:
            more = max(n_codes, 2 * n, 1024) - n
            self.at_t.extend(array("q", [int(_ABSENT)]) * more)
            self.at_s.extend(array("i", [-1]) * more)

    def where(self, s: int, code: int) -> int | None:
        if code < len(self.at_t) and self.at_s[code] == s:
            t = self.at_t[code]
            if t != _ABSENT:
                return t
        return self.overflow.get((s, code)) if self.overflow else None

    def file(self, s: int, code: int, t: int) -> None:
        if self.at_t[code] == _ABSENT:
            self.at_t[code] = t
            self.at_s[code] = s
        else:
            self.overflow[(s, code)] = t

    def unfile(self, s: int, code: int) -> None:
        if self.at_s[code] == s and self.at_t[code] != _ABSENT:
            self.at_t[code] = _ABSENT
            self.at_s[code] = -1
        else:
            self.overflow.pop((s, code), None)


def _restore_entry(ix: _Index, s: int, code: int, old: int | None, value: float) -> None:
    """Put the entry (s, code) of `ix` back as the journal noted it (old None: it was not there)."""
    series = ix.series[s]
    now = ix.where(s, code)
    if now is not None:
        series.remove(now, code)
        ix.unfile(s, code)
    if old is not None:
        series.insert(old, code, value)
        ix.file(s, code, old)


class IndexedStore:
    """`features.online.OnlineStore` in process, compact and fast (see the module doc)."""

    def __init__(self) -> None:
        self._codes: dict[str, dict[str, int]] = {}  # stream (index name up to "|") → id → code
        self._ix: dict[str, _Index] = {}
        self._records: dict[str, dict[str, bytes]] = {}
        self._notes: dict[str, dict[str, Any]] = {}  # bookkeeping kept as given (`put_note`)
        # while `scratch()` is open, how to undo each change: (index, series, code, old time,
        # old value) for an entry, (tables, table, key, old) for a record or note
        self._journal: list[tuple] | None = None

    def url_for_humans(self) -> str:
        return "memory"

    # -- ids ---------------------------------------------------------------------------
    def _index(self, name: str) -> _Index:
        ix = self._ix.get(name)
        if ix is None:
            ix = self._ix[name] = _Index(self._codes.setdefault(name.split("|", 1)[0], {}))
        return ix

    # -- scratch changes -----------------------------------------------------------------
    @contextmanager
    def scratch(self) -> Iterator[None]:
        """Changes made inside are undone on exit, whatever happens (a batch's what-if state).

        Every `put_entry` / `drop_entry` / `put_record` / `put_note` inside is journalled
        with what it replaced (an entry's time and value, None when there was none) and
        reverted in reverse order on exit, so the entries, their values and prefix sums, and
        the records are exactly as before (ids coded and empty series created meanwhile
        stay: they hold nothing). The caller must keep every other writer out meanwhile
        (`OnlineState` holds its lock). Bulk `put_entries` is not journalled: it is refused
        inside."""
        if self._journal is not None:
            raise RuntimeError("scratch() is not reentrant")
        self._journal = []
        try:
            yield
        finally:
            journal, self._journal = self._journal, None
            for item in reversed(journal):
                if len(item) == 5:
                    _restore_entry(*item)
                else:
                    tables, table, key, old = item
                    t = tables.setdefault(table, {})
                    if old is None:
                        t.pop(key, None)
                    else:
                        t[key] = old

    # -- entries -----------------------------------------------------------------------
    def put_entry(self, index: str, key: tuple[str, ...], entry_id: str, time_ns: int, value: float) -> None:
        ix = self._ix.get(index)
        if ix is None:
            ix = self._index(index)
        code = ix.code(entry_id)
        s = ix.keys.get(key)
        if s is None:
            s = ix.sno(key, True)
            assert s is not None
        series = ix.series[s]
        at_t = ix.at_t
        if ix.at_s[code] == s and at_t[code] != _ABSENT:
            old: int | None = at_t[code]
        else:
            old = ix.overflow.get((s, code)) if ix.overflow else None
        if old is not None:
            if self._journal is not None:
                self._journal.append((ix, s, code, old, series.value_of(old, code)))
            series.remove(old, code)
            ix.unfile(s, code)
        elif self._journal is not None:
            self._journal.append((ix, s, code, None, 0.0))
        t = int(time_ns)
        series.insert(t, code, float(value))
        if at_t[code] == _ABSENT:  # as `ix.file`
            at_t[code] = t
            ix.at_s[code] = s
        else:
            ix.overflow[(s, code)] = t

    def put_entries(self, index: str, keys: list[tuple[str, ...]], entry_ids: list[str], times_ns: np.ndarray,
                    values: np.ndarray) -> None:
        if not keys:
            return
        if self._journal is not None:
            raise RuntimeError("put_entries is not journalled: not inside scratch()")
        ix = self._index(index)
        code_of = ix.codes.get
        table = ix.codes
        codes = np.empty(len(entry_ids), dtype=np.int64)
        for i, e in enumerate(entry_ids):
            e = e if type(e) is str else str(e)
            c = code_of(e)
            if c is None:
                c = table[e] = len(table)
            codes[i] = c
        ix.grow(len(table))
        at_t = np.frombuffer(ix.at_t, dtype=np.int64)
        at_s = np.frombuffer(ix.at_s, dtype=np.int32)
        times = np.asarray(times_ns, dtype=np.int64)
        vals = np.asarray(values, dtype=np.float64)
        kcodes, uniques = pd.factorize(pd.Series(keys, dtype=object))
        snos = np.array([ix.sno(tuple(k), True) for k in uniques], dtype=np.int64)[kcodes]
        fresh = (at_t[codes] == _ABSENT) & ~pd.Series(codes).duplicated(keep=False).to_numpy()
        if ix.overflow:  # an id filed under a second key of this index
            fresh &= np.array([(int(s), int(c)) not in ix.overflow for s, c in zip(snos, codes, strict=True)])
        ok = np.flatnonzero(fresh)
        if len(ok):
            at_t[codes[ok]] = times[ok]
            at_s[codes[ok]] = snos[ok]
        del at_t, at_s  # no views may outlive this: the arrays grow
        slow = np.flatnonzero(~fresh)
        slow = slow[np.lexsort((times[slow], kcodes[slow]))]  # as MemoryStore: by key, then time
        for j in slow:  # already filed in this index, or repeated in the batch: one by one
            self.put_entry(index, tuple(uniques[kcodes[j]]), str(entry_ids[j]), int(times[j]), float(vals[j]))
        if not len(ok):
            return
        order = ok[np.argsort(snos[ok], kind="stable")]
        s_sorted = snos[order]
        bounds = np.flatnonzero(np.diff(s_sorted)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)], strict=True):
            part = order[lo:hi]
            s = int(s_sorted[lo])
            ix.series[s].bulk(times[part], codes[part], vals[part])

    def drop_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> None:
        ix = self._ix.get(index)
        code = None if ix is None else ix.codes.get(entry_id)
        if ix is None or code is None:
            return
        s = ix.sno(key, False)
        if s is None:
            return
        t = ix.where(s, code)
        if t is not None:
            series = ix.series[s]
            if self._journal is not None:
                self._journal.append((ix, s, code, t, series.value_of(t, code)))
            series.remove(t, code)
            ix.unfile(s, code)

    def get_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> int | None:
        ix = self._ix.get(index)
        code = None if ix is None else ix.codes.get(entry_id)
        if ix is None or code is None:
            return None
        s = ix.sno(key, False)
        return None if s is None else ix.where(s, code)

    def window(self, index: str, key: tuple[str, ...], lower_ns: int | None, upper_ns: int) -> Window:
        ix = self._ix.get(index)
        if ix is None:
            return _NONE
        s = ix.keys.get(key)
        return _NONE if s is None else ix.series[s].window(lower_ns, upper_ns)

    def windows(self, requests: Sequence[tuple[str, tuple[str, ...], int | None, int]]) -> list[Window]:
        return [self.window(*r) for r in requests]

    def window_columns(self, index: str, keys: Sequence[tuple[str, ...] | None],
                       lowers: Sequence[Sequence[int | None]], uppers: Sequence[int],
                       ) -> tuple[list[list[int]], list[list[float]], list[int | None]]:
        """Many events' windows on one index at once (`features.batch`): for event i with key
        `keys[i]` (None: skipped, zeros) and for each of the m lower-bound rows, the count and
        sum in [lowers[r][i], uppers[i]); and the latest entry time before uppers[i] (None: none).
        Exactly `window(...)` for every (r, i), read with one bisect of the upper bound per event
        and one per lower bound; events sharing a key share the series lookup, and a key many
        events share (a node, a carrier, the global series) is searched with numpy at once."""
        n, m = len(keys), len(lowers)
        counts = [[0] * n for _ in range(m)]
        totals = [[0.0] * n for _ in range(m)]
        last: list[int | None] = [None] * n
        ix = self._ix.get(index)
        if ix is None:
            return counts, totals, last
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, k in enumerate(keys):
            if k is not None:
                g = groups.get(k)
                if g is None:
                    groups[k] = [i]
                else:
                    g.append(i)
        sno, series_of = ix.keys.get, ix.series
        bl = bisect.bisect_left
        for k, pos in groups.items():
            s = sno(k)
            if s is None:
                continue
            ser = series_of[s]
            times, cum = ser.times, ser.cum
            if not times:
                continue
            if len(pos) >= 16:
                t = np.frombuffer(times, dtype=np.int64)
                p = np.asarray(pos)
                up = np.asarray(uppers, dtype=np.int64)[p]
                hi = t.searchsorted(up, "left")
                c = None if cum is None else np.frombuffer(cum, dtype=np.float64)
                for r in range(m):
                    low = [lowers[r][i] for i in pos]
                    if any(x is None for x in low):
                        lo = np.where(np.array([x is None for x in low]), 0,
                                      t.searchsorted(np.array([_ABSENT if x is None else x for x in low],
                                                              dtype=np.int64), "left"))
                    else:
                        lo = t.searchsorted(np.asarray(low, dtype=np.int64), "left")
                    lo = np.minimum(lo, hi)
                    cr, tr = counts[r], totals[r]
                    for i, v in zip(pos, (hi - lo).tolist(), strict=True):
                        cr[i] = v
                    if c is not None:
                        for i, v in zip(pos, (c[hi] - c[lo]).tolist(), strict=True):
                            tr[i] = v
                has = hi > 0
                for i, v in zip(p[has].tolist(), t[hi[has] - 1].tolist(), strict=True):
                    last[i] = v
                continue
            for i in pos:
                h = bl(times, uppers[i])
                if h == 0:
                    continue
                last[i] = times[h - 1]
                for r in range(m):
                    lower = lowers[r][i]
                    from_ = 0 if lower is None else min(bl(times, lower, 0, h), h)
                    counts[r][i] = h - from_
                    if cum is not None:
                        totals[r][i] = cum[h] - cum[from_]
        return counts, totals, last

    # -- records -----------------------------------------------------------------------
    def put_record(self, table: str, key: str, record: dict[str, Any]) -> None:
        t = self._records.get(table)
        if t is None:
            t = self._records[table] = {}
        if self._journal is not None:
            self._journal.append((self._records, table, key, t.get(key)))
        t[key] = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)

    def put_records(self, table: str, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for key, rec in records:
            self.put_record(table, key, rec)

    def get_record(self, table: str, key: str) -> dict[str, Any] | None:
        t = self._records.get(table)
        if t is None:
            return None
        b = t.get(key)
        return None if b is None else pickle.loads(b)

    def get_records(self, table: str, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        return [self.get_record(table, k) for k in keys]

    def put_note(self, table: str, key: str, note: Any) -> None:
        """Keep the caller's own bookkeeping (`features.online` `_filed`) as given, not copied:
        the caller never changes a note after putting it, nor one it got."""
        t = self._notes.get(table)
        if t is None:
            t = self._notes[table] = {}
        if self._journal is not None:
            self._journal.append((self._notes, table, key, t.get(key)))
        t[key] = note

    def get_note(self, table: str, key: str) -> Any:
        """The note as put (the same object; None: none)."""
        t = self._notes.get(table)
        return None if t is None else t.get(key)

    def clear(self) -> None:
        if self._journal is not None:
            raise RuntimeError("clear() inside scratch()")
        self._codes.clear()
        self._ix.clear()
        self._records.clear()
        self._notes.clear()

    def stats(self) -> dict[str, int]:
        """Entries, series and record counts, and an estimate of the index bytes."""
        entries = sum(len(s.times) for ix in self._ix.values() for s in ix.series)
        series = sum(len(ix.series) for ix in self._ix.values())
        nbytes = sum(
            len(s.times) * 12 + (len(s.values) * 16 if s.values is not None else 0)
            for ix in self._ix.values() for s in ix.series
        ) + sum(len(ix.at_t) * 12 for ix in self._ix.values())
        records = sum(len(t) for t in self._records.values()) + sum(len(t) for t in self._notes.values())
        record_bytes = sum(len(b) for t in self._records.values() for b in t.values())
        return {"entries": entries, "series": series, "index_bytes": nbytes, "records": records,
                "record_bytes": record_bytes, "ids": sum(len(c) for c in self._codes.values())}
