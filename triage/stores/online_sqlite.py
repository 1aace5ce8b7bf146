"""The embedded online feature store: one SQLite file in the service's home (WAL).

Implements `features.online.OnlineStore`: time-indexed entries per (index, key) and
small JSON records. Several worker processes on one machine share the file: WAL lets
readers run beside the one writer and `busy_timeout` queues writers. Each thread has
its own connection (FastAPI runs sync routes in a thread pool).

The online state can be rebuilt (bootstrap from a contract folder, or an export of the
audit), so commits use `synchronous=NORMAL`: crash-safe in WAL, without an fsync per
event. `transaction()` groups the dozens of small writes one observed event makes into
one commit.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from features.online import Window

__all__ = ["SqliteOnlineStore"]

_SEP = "\x1f"
_MIN = -(2**63)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries (idx TEXT NOT NULL, k TEXT NOT NULL, id TEXT NOT NULL, "
    "t INTEGER NOT NULL, v REAL NOT NULL, PRIMARY KEY (idx, k, id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS entries_time ON entries (idx, k, t, v)",
    "CREATE TABLE IF NOT EXISTS records (tbl TEXT NOT NULL, k TEXT NOT NULL, body TEXT NOT NULL, "
    "PRIMARY KEY (tbl, k)) WITHOUT ROWID",
)


def _key(key: Sequence[str]) -> str:
    return _SEP.join(key)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in the online state")


def dumps(record: Any) -> str:
    return json.dumps(record, separators=(",", ":"), default=_json_default)


class SqliteOnlineStore:
    """`OnlineStore` over SQLite; `path` is the database file (created if absent)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self.transaction() as conn:
            for stmt in _SCHEMA:
                conn.execute(stmt)

    def url_for_humans(self) -> str:
        return f"sqlite:///{self.path}"

    # -- connections -------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self._timeout_s, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout_s * 1000)}")
            self._local.conn = conn
            self._local.depth = 0
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One commit for everything inside (nests: only the outermost commits)."""
        conn = self._conn()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            with suppress(sqlite3.Error):
                c.close()
        self._local = threading.local()

    def clear(self) -> None:
        """Forget all online state (before a fresh bootstrap)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM entries")
            conn.execute("DELETE FROM records")

    # -- entries -----------------------------------------------------------------------
    def put_entry(self, index: str, key: tuple[str, ...], entry_id: str, time_ns: int, value: float) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO entries (idx, k, id, t, v) VALUES (?, ?, ?, ?, ?)",
                         (index, _key(key), entry_id, int(time_ns), float(value)))

    def put_entries(self, index: str, keys: list[tuple[str, ...]], entry_ids: list[str], times_ns: np.ndarray,
                    values: np.ndarray) -> None:
        rows = zip([index] * len(keys), map(_key, keys), entry_ids, np.asarray(times_ns, np.int64).tolist(),
                   np.asarray(values, np.float64).tolist(), strict=True)
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO entries (idx, k, id, t, v) VALUES (?, ?, ?, ?, ?)", rows)

    def drop_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM entries WHERE idx = ? AND k = ? AND id = ?", (index, _key(key), entry_id))

    def get_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> int | None:
        row = self._conn().execute("SELECT t FROM entries WHERE idx = ? AND k = ? AND id = ?",
                                   (index, _key(key), entry_id)).fetchone()
        return None if row is None else int(row[0])

    def window(self, index: str, key: tuple[str, ...], lower_ns: int | None, upper_ns: int) -> Window:
        return self.windows([(index, key, lower_ns, upper_ns)])[0]

    def windows(self, requests: Sequence[tuple[str, tuple[str, ...], int | None, int]]) -> list[Window]:
        """Many windows in one statement (one event's aggregations)."""
        if not requests:
            return []
        part = "SELECT ?, count(*), total(v), max(t) FROM entries WHERE idx = ? AND k = ? AND t >= ? AND t < ?"
        params: list[Any] = []
        for i, (index, key, lower, upper) in enumerate(requests):
            params += [i, index, _key(key), _MIN if lower is None else int(lower), int(upper)]
        out: list[Window] = [Window(0, 0.0, None)] * len(requests)
        conn = self._conn()
        for start in range(0, len(requests), 150):  # SQLite's compound SELECT limit is 500
            n = min(150, len(requests) - start)
            sql = " UNION ALL ".join([part] * n)
            for i, count, total, last in conn.execute(sql, params[start * 5:(start + n) * 5]):
                out[i] = Window(int(count), float(total), None if last is None else int(last))
        return out

    # -- records -----------------------------------------------------------------------
    def put_record(self, table: str, key: str, record: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO records (tbl, k, body) VALUES (?, ?, ?)",
                         (table, key, dumps(record)))

    def put_records(self, table: str, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO records (tbl, k, body) VALUES (?, ?, ?)",
                             [(table, k, dumps(r)) for k, r in records])

    def get_record(self, table: str, key: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT body FROM records WHERE tbl = ? AND k = ?", (table, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def get_records(self, table: str, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        return [self.get_record(table, k) for k in keys]
