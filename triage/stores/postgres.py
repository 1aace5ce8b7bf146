"""The server store: PostgreSQL through psycopg 3, for replicas on several machines.

A small pool of connections per process (psycopg_pool is not a dependency). A
connection that fails is discarded, so the next request reconnects; a failure to
connect surfaces as `UnavailableError` (503: no decision without a record). The schema
is migrated at open under an advisory lock, so workers starting together agree.
Put `options=-csearch_path%3Dmyschema` in the URL to use another schema.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from triage.errors import UnavailableError
from triage.stores.base import Dialect, SqlStore

__all__ = ["PostgresStore"]

_MIGRATION_LOCK = 0x7472_6961_6765  # "triage"


class _PgDialect(Dialect):
    def ts_out(self, value: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def json_in(self, obj: Any) -> Any:
        return Jsonb(obj)


class PostgresStore(SqlStore):
    dialect = _PgDialect(
        name="postgresql",
        placeholder="%s",
        types={"ts": "TIMESTAMPTZ", "json": "JSONB", "bool": "BOOLEAN", "float": "DOUBLE PRECISION"},
    )

    def __init__(self, url: str, *, pool_size: int = 8, connect_timeout_s: int = 3) -> None:
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        self.url = url
        self._pool_size = pool_size
        self._connect_timeout_s = connect_timeout_s
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _acquire(self) -> psycopg.Connection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
        try:
            return psycopg.connect(self.url, connect_timeout=self._connect_timeout_s, autocommit=False)
        except psycopg.Error as exc:
            raise UnavailableError(f"audit store {self.url_for_humans()} is unreachable: {exc}") from exc

    def _release(self, conn: psycopg.Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._pool_size and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        conn = self._acquire()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            conn.close()
            raise UnavailableError(f"audit store {self.url_for_humans()} failed: {exc}") from exc
        except BaseException:
            if conn.broken:
                conn.close()
            else:
                self._release(conn)
            raise
        else:
            self._release(conn)

    def _lock_for_migration(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))

    def close(self) -> None:
        self._close_group()
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
