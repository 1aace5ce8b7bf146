"""The embedded store: one SQLite file in the service's home, in WAL mode.

WAL lets readers run while one writer commits, and `busy_timeout` makes writers from
several worker processes on one machine queue instead of failing. `synchronous=FULL`
makes a commit durable (fsynced) before the decision is answered. Within a process,
one connection is shared under a lock: SQLite serialises writers anyway.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage.errors import UnavailableError
from triage.stores.dialect import Dialect
from triage.stores.sql import SqlStore

__all__ = ["SqliteStore"]

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so text order is time order


class _SqliteDialect(Dialect):
    def ts_in(self, ts: datetime | None) -> Any:
        return None if ts is None else ts.astimezone(UTC).strftime(_TS_FORMAT)

    def ts_out(self, value: Any) -> datetime | None:
        # fromisoformat reads the fixed format (…SS.ffffffZ) ~20x faster than strptime
        return None if value is None else datetime.fromisoformat(value)

    def bool_in(self, value: bool) -> Any:
        return 1 if value else 0


class SqliteStore(SqlStore):
    dialect = _SqliteDialect(
        name="sqlite",
        placeholder="?",
        types={"ts": "TEXT", "json": "TEXT", "bool": "INTEGER", "float": "REAL", "blob": "BLOB"},
    )

    # reads (idempotency lookups, key lookups) take tens of microseconds on a local file and a
    # WAL reader never waits for the writer: the API makes them on its event loop
    reads_inline = True

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        if not url.startswith("sqlite:///"):
            raise ValueError(f"expected a sqlite:/// URL, got {url!r}")
        self.url = url
        self.path = Path(url.removeprefix("sqlite:///"))
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._readers = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={int(self._timeout_s * 1000)}")
                conn.execute("PRAGMA foreign_keys=ON")
            except (sqlite3.Error, OSError) as exc:
                raise UnavailableError(f"audit store {self.path} cannot be opened: {exc}") from exc
            self._conn = conn
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise UnavailableError(f"audit store {self.path} is not writable: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                _rollback(conn)
                raise UnavailableError(f"audit store {self.path} failed: {exc}") from exc
            except BaseException:
                _rollback(conn)
                raise

    @contextmanager
    def _read_tx(self) -> Iterator[Any]:
        """A per-thread reader: in WAL it sees the last commit and never waits for the writer."""
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self._timeout_s, isolation_level=None,
                                       check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout={int(self._timeout_s * 1000)}")
            except (sqlite3.Error, OSError) as exc:
                raise UnavailableError(f"audit store {self.path} cannot be opened: {exc}") from exc
            self._readers.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _rollback(conn)
            raise UnavailableError(f"audit store {self.path} failed: {exc}") from exc

    def _lock_for_migration(self, cur: Any) -> None:
        pass  # BEGIN IMMEDIATE already holds the write lock

    def close(self) -> None:
        self._close_group()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            readers, self._reader_conns = self._reader_conns, []
            self._readers = threading.local()
        for conn in readers:
            with suppress(sqlite3.Error):
                conn.close()


def _rollback(conn: sqlite3.Connection) -> None:
    with suppress(sqlite3.Error):
        conn.execute("ROLLBACK")
