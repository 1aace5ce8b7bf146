"""The statements both databases run (`SqlStore`); subclasses bring connections and a dialect.

Every decision and outcome is inserted with `online_pending` set: the online-state log
(a separate database) may not have it yet. Start-up recovery
(`triage.stores.log_recovery`) reads the pending rows in audit order (`pending_online`),
re-appends what the log lacks and clears the marks (`clear_online_pending`), so the hot
path never writes a second statement. The records are `triage.stores.records`, the
interface `triage.stores.store`, the tables and migrations `triage.stores.migrations`.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from triage.stores import audit_rows
from triage.stores.dialect import Dialect
from triage.stores.migrations import (
    DECISION_COLUMNS,
    DECISION_JSON,
    KEY_COLUMNS,
    MIGRATIONS,
    OUTCOME_COLUMNS,
    PACKED,
    SCHEMA_VERSION,
)
from triage.stores.records import DecisionRecord, KeyRecord, OutcomeRecord, PendingRow, utc
from triage.stores.store import Store

__all__ = ["SqlStore"]

_GROUP_LOCK = threading.Lock()


class SqlStore(Store):
    """The statements both databases run; subclasses provide connections and a dialect.

    Decision records are written by group commit (`triage.stores.group`): concurrent
    requests share one durable transaction, each still waiting for its commit before
    it answers. `group_commit = False` on an instance writes each call on its own.
    """

    dialect: Dialect
    group_commit: bool = True
    _committer: Any = None

    def _read_tx(self) -> AbstractContextManager[Any]:
        """A transaction for reads only (SQLite: a reader that never waits for the writer)."""
        return self._tx()

    def _close_group(self) -> None:
        committer, self._committer = self._committer, None
        if committer is not None:
            committer.close()

    # -- provided by subclasses ------------------------------------------------
    @abstractmethod
    def _tx(self) -> AbstractContextManager[Any]:
        """A transaction; yields an object with `execute(sql, params) -> cursor`.

        Connection-level failures must surface as `UnavailableError`.
        """

    @abstractmethod
    def _lock_for_migration(self, cur: Any) -> None: ...

    # -- helpers ---------------------------------------------------------------
    def _q(self, sql: str) -> str:
        return sql if self.dialect.placeholder == "?" else sql.replace("?", self.dialect.placeholder)

    def _marks(self, n: int) -> str:
        return ", ".join(["?"] * n)

    # -- schema ----------------------------------------------------------------
    def migrate(self) -> int:
        return self.run_migrations("schema_version", MIGRATIONS, SCHEMA_VERSION, "the audit database")

    def run_migrations(self, version_table: str, migrations, latest: int, what: str) -> int:
        """Apply the `(version, build)` steps above the version recorded in `version_table`, in one
        transaction under the migration lock; refuse a database newer than `latest` (`what` names it)."""
        with self._tx() as cur:
            self._lock_for_migration(cur)
            cur.execute(f"CREATE TABLE IF NOT EXISTS {version_table} (version INTEGER NOT NULL)")
            current = cur.execute(f"SELECT MAX(version) FROM {version_table}").fetchone()[0] or 0
            if current > latest:
                from triage.errors import ConfigError

                raise ConfigError(
                    f"{what} {self.url_for_humans()} has schema version {current}; "
                    f"this build knows up to {latest}: upgrade triage"
                )
            for version, build in migrations:
                if version <= current:
                    continue
                for stmt in build(self.dialect.types):
                    cur.execute(stmt)
                cur.execute(self._q(f"INSERT INTO {version_table} (version) VALUES (?)"), (version,))
        return latest

    def url_for_humans(self) -> str:
        """The URL without a password."""
        url = self.url
        if "@" in url and "://" in url:
            scheme, rest = url.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}" if ":" in creds else url
        return url

    def ping(self) -> None:
        with self._tx() as cur:
            cur.execute("SELECT 1").fetchone()

    # -- decisions -------------------------------------------------------------
    def _decision_params(self, r: DecisionRecord) -> tuple[tuple[Any, ...], str | None]:
        """The row's values, and the feature-set version its packed features use."""
        d = self.dialect
        out: list[Any] = []
        packed, fs = audit_rows.pack(r)
        for col in DECISION_COLUMNS:
            if col == "packed":
                out.append(packed)
                continue
            v = getattr(r, col)
            if col in PACKED:  # in `packed`: JSON null here (the v1 columns are NOT NULL)
                v = None if col == "features" else d.json_in(None)
            elif col in DECISION_JSON:
                v = d.json_in(v)
            elif col in ("event_time", "received_at"):
                v = d.ts_in(v)
            elif col == "degraded":
                v = d.bool_in(v)
            out.append(v)
        return tuple(out), fs

    def _decision_from_row(self, row: Sequence[Any]) -> DecisionRecord:
        """A row as a record (call it outside a transaction: it may read `feature_sets`)."""
        d = self.dialect
        values: dict[str, Any] = {}
        for col, v in zip(DECISION_COLUMNS, row, strict=True):
            if col in DECISION_JSON:
                v = None if v is None else d.json_out(v)
            elif col in ("event_time", "received_at"):
                v = d.ts_out(v)
            elif col == "degraded":
                v = d.bool_out(v)
            values[col] = v
        packed = values.pop("packed")
        if packed is not None:  # a v3 row
            values["request"], values["features"], values["response"] = audit_rows.unpack(
                bytes(packed), values, self._feature_names)
        return DecisionRecord(**values)

    def _feature_names(self, version: str) -> tuple[str, ...] | None:
        with self._read_tx() as cur:
            row = cur.execute(self._q("SELECT names FROM feature_sets WHERE version = ?"), (version,)).fetchone()
        if row is None:
            return None
        audit_rows.remember_names(version, self.dialect.json_out(row[0]))
        return audit_rows.known_names(version)

    def _save_feature_sets(self, cur: Any, versions: set[str]) -> None:
        """Describe, in the transaction of the first rows using them, the feature sets this store
        has not been told about by this process yet."""
        saved: set[str] = self.__dict__.setdefault("_saved_feature_sets", set())
        for v in versions - saved:
            names = audit_rows.known_names(v)
            cur.execute(self._q("INSERT INTO feature_sets (version, names) VALUES (?, ?) "
                                "ON CONFLICT (version) DO NOTHING"), (v, self.dialect.json_in(list(names or ()))))
        saved |= versions

    def find_decisions(self, idempotency_keys: Sequence[str]) -> dict[str, DecisionRecord]:
        keys = list(dict.fromkeys(idempotency_keys))
        found: dict[str, DecisionRecord] = {}
        if not keys:
            return found
        cols = ", ".join(DECISION_COLUMNS)
        rows: list[Any] = []
        with self._read_tx() as cur:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                sql = f"SELECT {cols} FROM decisions WHERE idempotency_key IN ({self._marks(len(chunk))})"
                rows += cur.execute(self._q(sql), tuple(chunk)).fetchall()
        for row in rows:
            rec = self._decision_from_row(row)
            found[rec.idempotency_key] = rec
        return found

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        cols = ", ".join(DECISION_COLUMNS)
        with self._read_tx() as cur:
            row = cur.execute(
                self._q(f"SELECT {cols} FROM decisions WHERE decision_id = ?"), (decision_id,)
            ).fetchone()
        return None if row is None else self._decision_from_row(row)

    def _group(self) -> Any:
        committer = self._committer
        if committer is None:
            from triage.stores.group import GroupCommitter

            with _GROUP_LOCK:
                if self._committer is None:
                    self._committer = GroupCommitter(self._insert_decisions_now)
                committer = self._committer
        return committer

    def insert_decisions(self, records: Sequence[DecisionRecord], *,
                         after: Callable[[list[DecisionRecord]], None] | None = None) -> list[DecisionRecord]:
        if not records:
            return []
        if not self.group_commit:
            stored = self._insert_decisions_now(records)
            if after is not None:
                after(stored)
            return stored
        return self._group().submit(records, after=after)

    async def insert_decisions_async(
        self, records: Sequence[DecisionRecord], *, after: Callable[[list[DecisionRecord]], None] | None = None
    ) -> list[DecisionRecord]:
        """`insert_decisions` for the event loop: awaits the group commit's future, so no
        thread is held while the commit (and its fsync) is in flight. `after(stored)` runs
        on the writer thread once the records are durable, before this returns."""
        if not records:
            return []
        if not self.group_commit:
            import asyncio

            return await asyncio.to_thread(self.insert_decisions, records, after=after)
        return await self._group().submit_async(records, after=after)

    def _insert_decisions_now(self, records: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        """All records in one transaction (one durable commit)."""
        cols = ", ".join(DECISION_COLUMNS)
        insert = self._q(
            f"INSERT INTO decisions ({cols}, online_pending) VALUES ({self._marks(len(DECISION_COLUMNS))}, "
            f"{self.dialect.true}) ON CONFLICT (idempotency_key) DO NOTHING"
        )
        select = self._q(f"SELECT {cols} FROM decisions WHERE idempotency_key = ?")
        stored: list[DecisionRecord | Any] = []
        params = [self._decision_params(rec) for rec in records]
        versions = {fs for _, fs in params if fs is not None}
        with self._tx() as cur:
            if versions:
                self._save_feature_sets(cur, versions)
            for rec, (values, _) in zip(records, params, strict=True):
                c = cur.execute(insert, values)
                if c.rowcount == 1:
                    stored.append(rec)
                else:  # the row already there, made a record once the transaction is over
                    stored.append(tuple(cur.execute(select, (rec.idempotency_key,)).fetchone()))
        return [r if isinstance(r, DecisionRecord) else self._decision_from_row(r) for r in stored]

    def iter_decisions(self, since: datetime | None = None) -> Iterator[DecisionRecord]:
        cols = ", ".join(DECISION_COLUMNS)
        sql = f"SELECT {cols} FROM decisions"
        params: tuple[Any, ...] = ()
        if since is not None:
            sql += " WHERE event_time >= ?"
            params = (self.dialect.ts_in(utc(since)),)
        sql += " ORDER BY event_time, received_at"
        with self._tx() as cur:
            rows = cur.execute(self._q(sql), params).fetchall()
        for row in rows:
            yield self._decision_from_row(row)

    def page_decisions(self, *, since: datetime, until: datetime, after: tuple[datetime, str] | None = None,
                       limit: int = 100, by: str = "received_at") -> list[DecisionRecord]:
        """At most `limit` decisions with `by` (`received_at` or `event_time`) in [since, until),
        in (`by`, decision_id) order, after the cursor `after` (the last row's (`by`, id)):
        a keyset page, so a page costs the same however deep it is."""
        if by not in ("received_at", "event_time"):
            raise ValueError(f"by must be received_at or event_time, got {by!r}")
        d = self.dialect
        cols = ", ".join(DECISION_COLUMNS)
        sql = f"SELECT {cols} FROM decisions WHERE {by} >= ? AND {by} < ?"
        params: list[Any] = [d.ts_in(utc(since)), d.ts_in(utc(until))]
        if after is not None:
            ts = d.ts_in(utc(after[0]))
            sql += f" AND ({by} > ? OR ({by} = ? AND decision_id > ?))"
            params += [ts, ts, after[1]]
        sql += f" ORDER BY {by}, decision_id LIMIT {int(limit)}"
        with self._read_tx() as cur:
            rows = cur.execute(self._q(sql), tuple(params)).fetchall()
        return [self._decision_from_row(r) for r in rows]

    # -- outcomes --------------------------------------------------------------
    def _outcome_from_row(self, row: Sequence[Any]) -> OutcomeRecord:
        d = self.dialect
        v = dict(zip(OUTCOME_COLUMNS, row, strict=True))
        v["known_at"] = d.ts_out(v["known_at"])
        v["received_at"] = d.ts_out(v["received_at"])
        v["body"] = d.json_out(v["body"])
        return OutcomeRecord(**v)

    def insert_outcome(self, record: OutcomeRecord) -> OutcomeRecord:
        d = self.dialect
        cols = ", ".join(OUTCOME_COLUMNS)
        params = (
            record.outcome_id,
            record.type,
            record.entity_id,
            d.ts_in(record.known_at),
            record.body_hash,
            d.json_in(record.body),
            d.ts_in(record.received_at),
            record.api_key,
        )
        with self._tx() as cur:
            c = cur.execute(
                self._q(
                    f"INSERT INTO outcomes ({cols}, online_pending) VALUES "
                    f"({self._marks(len(OUTCOME_COLUMNS))}, {d.true}) ON CONFLICT (body_hash) DO NOTHING"
                ),
                params,
            )
            if c.rowcount == 1:
                return record
            row = cur.execute(
                self._q(f"SELECT {cols} FROM outcomes WHERE body_hash = ?"), (record.body_hash,)
            ).fetchone()
        return self._outcome_from_row(row)

    def iter_outcomes(self, entity_ids: set[str] | None = None) -> Iterator[OutcomeRecord]:
        cols = ", ".join(OUTCOME_COLUMNS)
        with self._tx() as cur:
            rows = cur.execute(f"SELECT {cols} FROM outcomes ORDER BY known_at, received_at").fetchall()
        for row in rows:
            rec = self._outcome_from_row(row)
            if entity_ids is None or rec.entity_id in entity_ids:
                yield rec

    def outcome_entities(self, entity_ids: set[str]) -> set[str]:
        """Which of `entity_ids` have at least one outcome (an indexed lookup, 500 ids a query)."""
        ids = sorted(entity_ids)
        found: set[str] = set()
        with self._read_tx() as cur:
            for start in range(0, len(ids), 500):
                chunk = tuple(ids[start:start + 500])
                sql = f"SELECT DISTINCT entity_id FROM outcomes WHERE entity_id IN ({self._marks(len(chunk))})"
                found.update(r[0] for r in cur.execute(self._q(sql), chunk).fetchall())
        return found

    def purge(self, before: datetime) -> dict[str, int]:
        ts = self.dialect.ts_in(utc(before))
        with self._tx() as cur:
            n_dec = cur.execute(self._q("DELETE FROM decisions WHERE received_at < ?"), (ts,)).rowcount
            n_out = cur.execute(self._q("DELETE FROM outcomes WHERE received_at < ?"), (ts,)).rowcount
        return {"decisions": n_dec, "outcomes": n_out}

    # -- online log recovery -----------------------------------------------------
    def pending_online(self, table: str, after: tuple[datetime, int] | None = None,
                       limit: int = 1000) -> list[PendingRow]:
        """`table`'s rows still marked `online_pending`, in audit order, after `after`
        ((received_at, seq) of the last row of the previous page)."""
        cols = {"decisions": "decision_id, kind, event_id, request, packed",
                "outcomes": "outcome_id, type, entity_id, body, NULL"}[table]
        seq = self.dialect.seq_column
        sql = f"SELECT {seq}, {cols}, received_at FROM {table} WHERE online_pending IS NOT NULL"
        params: tuple[Any, ...] = ()
        if after is not None:
            sql += f" AND (received_at > ? OR (received_at = ? AND {seq} > ?))"
            ts = self.dialect.ts_in(after[0])
            params = (ts, ts, after[1])
        sql += f" ORDER BY received_at, {seq} LIMIT {int(limit)}"
        d = self.dialect
        with self._read_tx() as cur:
            rows = cur.execute(self._q(sql), params).fetchall()
        return [PendingRow(table=table, seq=int(s), row_id=i, kind=k, entity_id=e,
                           body=d.json_out(b) if p is None else audit_rows.request_of(bytes(p)),
                           received_at=d.ts_out(r))  # type: ignore[arg-type]
                for s, i, k, e, b, p, r in rows]

    def clear_online_pending(self, table: str, row_ids: Sequence[str]) -> None:
        """The online log has these rows (or they are superseded): no longer pending."""
        id_col = {"decisions": "decision_id", "outcomes": "outcome_id"}[table]
        for many in range(0, len(row_ids), 50_000):  # one commit per 50,000 rows
            with self._tx() as cur:
                for start in range(many, min(many + 50_000, len(row_ids)), 500):
                    chunk = tuple(row_ids[start:start + 500])
                    cur.execute(self._q(f"UPDATE {table} SET online_pending = NULL "
                                        f"WHERE {id_col} IN ({self._marks(len(chunk))})"), chunk)

    # -- keys ------------------------------------------------------------------
    def _key_from_row(self, row: Sequence[Any]) -> KeyRecord:
        v = dict(zip(KEY_COLUMNS, row, strict=True))
        v["scopes"] = frozenset(s for s in v["scopes"].split(",") if s)
        v["created_at"] = self.dialect.ts_out(v["created_at"])
        v["revoked_at"] = self.dialect.ts_out(v["revoked_at"])
        return KeyRecord(**v)

    def insert_key(self, record: KeyRecord) -> None:
        from triage.errors import ConflictError

        d = self.dialect
        with self._tx() as cur:
            taken = cur.execute(
                self._q("SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL"), (record.name,)
            ).fetchone()
            if taken:
                raise ConflictError(f"an active API key named {record.name!r} exists; revoke it first")
            cur.execute(
                self._q(f"INSERT INTO api_keys ({', '.join(KEY_COLUMNS)}) VALUES ({self._marks(6)})"),
                (
                    record.key_id,
                    record.name,
                    record.key_hash,
                    ",".join(sorted(record.scopes)),
                    d.ts_in(record.created_at),
                    d.ts_in(record.revoked_at),
                ),
            )

    def revoke_key(self, name: str, at: datetime) -> int:
        with self._tx() as cur:
            c = cur.execute(
                self._q("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"),
                (self.dialect.ts_in(utc(at)), name),
            )
            return c.rowcount

    def find_key(self, key_hash: str) -> KeyRecord | None:
        with self._tx() as cur:
            row = cur.execute(
                self._q(f"SELECT {', '.join(KEY_COLUMNS)} FROM api_keys WHERE key_hash = ?"), (key_hash,)
            ).fetchone()
        return None if row is None else self._key_from_row(row)

    def list_keys(self) -> list[KeyRecord]:
        with self._tx() as cur:
            rows = cur.execute(
                f"SELECT {', '.join(KEY_COLUMNS)} FROM api_keys ORDER BY created_at, name"
            ).fetchall()
        return [self._key_from_row(r) for r in rows]

    # -- metadata --------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        with self._tx() as cur:
            row = cur.execute(self._q("SELECT value FROM meta WHERE name = ?"), (name,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, name: str, value: str) -> None:
        with self._tx() as cur:
            cur.execute(
                self._q(
                    "INSERT INTO meta (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                ),
                (name, value),
            )
