"""The worker's in-process online state: compact time indexes behind `features.online.OnlineStore`.

Per declared index an `Index` and per (index, key) a `Series` of the compiled core
(`triage.stores._index_core`, Cython): entries in time-sorted blocks with a segment tree of
block counts and sums, so filing an entry and reading a window [lower, upper) — count, sum,
latest time before `upper` — cost O(log n) in the series' length, wherever in time the entry
falls (a delivery filed at its promise, days ahead of the last entry, included). An event's
~60 windows cost a few microseconds, however wide and however long the history.

A count-only index whose entries are exactly a summed index's (`features.filing.shared_indexes`:
same stream, key and grain) is kept as that index (`alias`): filed once, read with a total of 0.0.

Filing a stream row is one call (`file`): the stream's compiled `Plan` (`features.filing`'s
rules, `plan`) drops the row's earlier entries where the locations say they are and files the
new ones, reading keys and values from the row in C.

Memory: ~12 B per entry (time, id code) [+ 8 B for summed indexes] in blocks filled to 3/4
when bootstrapped; where each id is filed: an int64/int32 pair per (index, id code), a chain
for the ids filed under several keys of one index (per-line and `distinct` indexes); ids
coded per stream and keys per key columns in C hash tables (`StrTable`: no Python object per
id or key); inventory syncs keep no ids at all (`filing.BY_TIME`). Records (orders, master
data) are kept as JSON (`triage.stores.plain`, datetimes as ISO text) in one byte arena per
table (`Records`: an offset and length per key code, no Python object per record or key)
— an array of the values, the field names kept once per shape (set of fields) — and parsed
on read, so a caller always gets its own copy, as from a server store.
Not thread-safe on its own: `triage.stores.online.OnlineState` serialises access.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from features.filing import BY_TIME
from features.online import Window
from triage.stores import plain
from triage.stores._index_core import NONE, Index, Plan, Records, StrTable, windows

__all__ = ["IndexedStore"]


class IndexedStore:
    """`features.online.OnlineStore` in process, compact and fast (see the module doc)."""

    def __init__(self) -> None:
        self._codes: dict[str, StrTable] = {}  # stream (index name up to "|") → its ids' codes
        self._keys: dict[str, StrTable] = {}  # key columns (the index name's 2nd part) → key codes
        self._ix: dict[str, Index] = {}
        self._records: dict[str, Records] = {}  # table → its records' bytes by key, in one arena
        # a record is kept as the JSON array [shape, value, …]: its field names once per shape
        self._shapes: list[tuple[str, ...]] = []
        self._shape_of: dict[tuple[str, ...], int] = {}
        self._aliases: dict[str, str] = {}  # index → the index it is kept as (`alias`)
        self._steps: dict[str, list[tuple]] = {}  # stream → its plan's steps (`plan`)
        self._plans: dict[str, Plan] = {}
        # while `scratch()` is open, how to undo each change: (index, change) for an entry
        # (`Index.undo`), (tables, table, key, old) for a record
        self._journal: list[tuple] | None = None

    def url_for_humans(self) -> str:
        return "memory"

    def alias(self, name: str, target: str) -> None:
        """Keep count-only index `name` as summed index `target`, which holds the same entries
        (`features.filing.shared_indexes`): a read of `name` is `target`'s with a total of 0.0,
        as a count-only index answers; `name` itself is never filed (refused)."""
        self._index(target)
        self._aliases[name] = target

    # -- ids ---------------------------------------------------------------------------
    def _index(self, name: str) -> Index:
        ix = self._ix.get(name)
        if ix is None:
            if name in self._aliases:
                raise ValueError(f"index {name} is kept as {self._aliases[name]}: file the entry there")
            parts = name.split("|")
            stream, cols = parts[0], parts[1] if len(parts) > 1 else name
            codes = self._codes.get(stream)
            if codes is None:
                codes = self._codes[stream] = StrTable()
            keys = self._keys.get(cols)
            if keys is None:
                keys = self._keys[cols] = StrTable()
            ix = self._ix[name] = Index(codes, keys, stream in BY_TIME)
        return ix

    # -- filing plans --------------------------------------------------------------------
    def plan(self, stream: str, steps: Sequence[tuple[str, tuple[str, ...], str | None, int, str | None]]) -> None:
        """Compile how a row of `stream` is filed (`features.filing.plan_steps`: per index its
        key columns, value column, rule and distinct column)."""
        self._steps[stream] = list(steps)
        self._plans[stream] = Plan([(self._index(n), k, v, r, d) for n, k, v, r, d in steps])

    def file(self, stream: str, entry_id: str, row: dict[str, Any], t_ns: int | None) -> None:
        """File (or re-file) one row of `stream` by its plan: its earlier entries dropped, then
        filed at `t_ns` (None: only dropped)."""
        self._plans[stream].file(entry_id if type(entry_id) is str else str(entry_id), row, t_ns, self._journal)

    # -- scratch changes -----------------------------------------------------------------
    @contextmanager
    def scratch(self) -> Iterator[None]:
        """Changes made inside are undone on exit, whatever happens (a batch's what-if state).

        Every `file` / `put_entry` / `drop_entry` / `put_record` inside is journalled
        with what it replaced (an entry's time and value, None when there was none) and
        reverted in reverse order on exit, so the entries, their values and sums, and the
        records are exactly as before (ids and keys coded and empty series created meanwhile
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
                if len(item) == 2:
                    item[0].undo(item[1])
                else:
                    tables, table, key, old = item
                    t = tables.get(table)
                    if t is None:
                        t = tables[table] = Records()
                    if old is None:
                        t.pop(key)
                    else:
                        t.put(key, old)

    # -- entries -----------------------------------------------------------------------
    def put_entry(self, index: str, key: tuple[str, ...], entry_id: str, time_ns: int, value: float) -> None:
        ix = self._ix.get(index)
        if ix is None:
            ix = self._index(index)
        ix.put(key, entry_id if type(entry_id) is str else str(entry_id), time_ns, value, self._journal)

    def put_entries(self, index: str, key_columns: Sequence[np.ndarray], entry_ids: np.ndarray | None,
                    times_ns: np.ndarray, values: np.ndarray) -> None:
        if not len(times_ns):
            return
        if self._journal is not None:
            raise RuntimeError("put_entries is not journalled: not inside scratch()")
        self._index(index).put_columns(list(key_columns), entry_ids, times_ns, values)

    def drop_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> None:
        ix = self._ix.get(index)
        if ix is None:
            return
        ix.drop(key, entry_id if type(entry_id) is str else str(entry_id), self._journal)

    def get_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> int | None:
        ix = self._ix.get(index)
        if ix is None:
            ix = self._ix.get(self._aliases.get(index, ""))
            if ix is None:
                return None
        return ix.get(key, entry_id if type(entry_id) is str else str(entry_id))

    def window(self, index: str, key: tuple[str, ...], lower_ns: int | None, upper_ns: int) -> Window:
        ix = self._ix.get(index)
        if ix is None and index in self._aliases:
            return self.windows([(index, key, lower_ns, upper_ns)])[0]
        return NONE if ix is None else ix.window(key, lower_ns, upper_ns)

    def windows(self, requests: Sequence[tuple[str, tuple[str, ...], int | None, int]]) -> list[Window]:
        return windows(self._ix, list(requests), self._aliases)

    def window_columns(self, index: str, keys: Sequence[tuple[str, ...] | None],
                       lowers: Sequence[Sequence[int | None]], uppers: Sequence[int],
                       ) -> tuple[list[list[int]], list[list[float]], list[int | None]]:
        """Many events' windows on one index at once (`features.batch`): for event i with key
        `keys[i]` (None: skipped, zeros) and for each of the m lower-bound rows, the count and
        sum in [lowers[r][i], uppers[i]); and the latest entry time before uppers[i] (None: none).
        Exactly `window(...)` for every (r, i) (the same compiled read)."""
        ix = self._ix.get(index)
        if ix is None and index in self._aliases:  # the summed twin's counts and times, no totals
            counts, _, last = self._ix[self._aliases[index]].window_columns(list(keys), lowers, uppers)
            return counts, [[0.0] * len(keys) for _ in lowers], last
        if ix is None:
            n, m = len(keys), len(lowers)
            return [[0] * n for _ in range(m)], [[0.0] * n for _ in range(m)], [None] * n
        return ix.window_columns(list(keys), lowers, uppers)

    # -- records -----------------------------------------------------------------------
    def put_record(self, table: str, key: str, record: dict[str, Any]) -> None:
        key = key if type(key) is str else str(key)
        t = self._records.get(table)
        if t is None:
            t = self._records[table] = Records()
        if self._journal is not None:
            self._journal.append((self._records, table, key, t.get(key)))
        fields = tuple(record)
        shape = self._shape_of.get(fields)
        if shape is None:
            shape = self._shape_of[fields] = len(self._shapes)
            self._shapes.append(fields)
        t.put(key, plain.dumps([shape, *record.values()]))

    def get_record(self, table: str, key: str) -> dict[str, Any] | None:
        t = self._records.get(table)
        if t is None:
            return None
        b = t.get(key if type(key) is str else str(key))
        if b is None:
            return None
        values = plain.loads(b)
        return dict(zip(self._shapes[values[0]], values[1:], strict=True))

    def get_records(self, table: str, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        return [self.get_record(table, k) for k in keys]

    def compact(self) -> None:
        """Give back the records' garbage and spare arena room (once a bootstrap is done)."""
        for t in self._records.values():
            t.compact()

    def clear(self) -> None:
        if self._journal is not None:
            raise RuntimeError("clear() inside scratch()")
        self._codes.clear()
        self._ix.clear()
        self._keys.clear()
        self._records.clear()
        for target in self._aliases.values():
            self._index(target)
        for stream, steps in list(self._steps.items()):
            self.plan(stream, steps)

    def stats(self) -> dict[str, int]:
        """Entries, series and record counts, and the index bytes (entries, locations, id and
        key tables)."""
        entries = sum(ix.entries() for ix in self._ix.values())
        series = sum(len(ix.series) for ix in self._ix.values())
        nbytes = (sum(ix.nbytes() for ix in self._ix.values()) + sum(c.nbytes() for c in self._codes.values())
                  + sum(k.nbytes() for k in self._keys.values()))
        records = sum(len(t) for t in self._records.values())
        record_bytes = sum(t.data_bytes() for t in self._records.values())
        return {"entries": entries, "series": series, "index_bytes": nbytes, "records": records,
                "record_bytes": record_bytes, "ids": sum(len(c) for c in self._codes.values())}
