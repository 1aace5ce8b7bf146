"""The embedded online-state log: one SQLite file in the service's home (WAL).

The online state's source of truth is a log of what the service observed (decided
orders and returns, posted outcomes), plus a snapshot (the bootstrap contract dataset).
Every worker process keeps its own in-memory indexes (`triage.stores.online_index`) and
applies the log in sequence order (`triage.stores.online.OnlineState`), so all workers
of a machine see the same history. `seq` is an AUTOINCREMENT rowid: SQLite serialises
writers, so sequence order is commit order and a reader never skips a row.

Commits use `synchronous=NORMAL` (crash-safe in WAL, no fsync per event): every decision
and outcome is durable in the audit store before it is answered, and what the log lost
(a crash after the audit commit, before or just after the append) is re-appended from the
audit at the next service start (`triage.stores.log_recovery`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

__all__ = ["SqliteLog"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS online_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS online_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), meta TEXT NOT NULL, "
    "body BLOB NOT NULL)",
)


class SqliteLog:
    """The online-state log and snapshot in SQLite at `path` (created if absent)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._tx() as conn:
            for stmt in _SCHEMA:
                conn.execute(stmt)

    def url_for_humans(self) -> str:
        return f"sqlite:///{self.path}"

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
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            with suppress(sqlite3.Error):
                c.close()
        self._local = threading.local()

    # -- the log -----------------------------------------------------------------------
    def start(self) -> int:
        """The position before the first entry."""
        return 0

    def append(self, bodies: list[bytes]) -> list[int]:
        """Append entries in one commit; their sequence numbers."""
        with self._tx() as conn:
            return [int(conn.execute("INSERT INTO online_log (body) VALUES (?)", (b,)).lastrowid or 0)
                    for b in bodies]

    def read(self, after: int, limit: int = 5000) -> list[tuple[int, bytes]]:
        """Entries after position `after`, in order (at most `limit`)."""
        rows = self._conn().execute("SELECT seq, body FROM online_log WHERE seq > ? ORDER BY seq LIMIT ?",
                                    (after, limit)).fetchall()
        return [(int(s), bytes(b)) for s, b in rows]

    def end(self) -> int:
        """The position of the last entry (`start()` when empty)."""
        return int(self._conn().execute("SELECT COALESCE(MAX(seq), 0) FROM online_log").fetchone()[0])

    def follows(self, seq: int, after: int) -> bool:
        """Whether `seq` is the entry right after position `after` (nothing in between)."""
        return seq == after + 1

    # -- the snapshot ------------------------------------------------------------------
    def put_snapshot(self, meta: dict[str, Any], body: bytes, reset: bytes) -> None:
        """Replace the snapshot and forget the log; `reset` becomes the log's first entry."""
        with self._tx() as conn:
            conn.execute("DELETE FROM online_log")
            conn.execute("INSERT OR REPLACE INTO online_snapshot (id, meta, body) VALUES (1, ?, ?)",
                         (json.dumps(meta), body))
            conn.execute("INSERT INTO online_log (body) VALUES (?)", (reset,))

    def get_meta(self) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT meta FROM online_snapshot WHERE id = 1").fetchone()
        return None if row is None else json.loads(row[0])

    def get_snapshot(self) -> tuple[dict[str, Any], bytes] | None:
        row = self._conn().execute("SELECT meta, body FROM online_snapshot WHERE id = 1").fetchone()
        return None if row is None else (json.loads(row[0]), bytes(row[1]))

    def clear(self) -> None:
        """Forget the log and the snapshot (tests)."""
        with self._tx() as conn:
            conn.execute("DELETE FROM online_log")
            conn.execute("DELETE FROM online_snapshot")
