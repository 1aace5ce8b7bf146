"""The review store: claims, resolutions and their history, beside the audit.

The review queue's own state lives in the audit database (SQLite or PostgreSQL, the same
`SqlStore` connection and dialect) but in tables of its own, with a migration track of its
own (`review_schema_version`), so the audit schema's versions and this module's evolve
independently. The audited decisions themselves are read through the audit store's API.

- `review_claims`: who holds an item (one row per decision), and when the holder last
  touched it; a claim whose `touched_at` is older than the idle time has lapsed and may
  be taken by anyone.
- `review_resolutions`: the item's current resolution (one row per decision):
  `escalate` may later be replaced by `approve` or `decline`; those two are final.
  `outcome_id` is the review outcome written for it (`POST /v1/outcomes`'s path).
- `review_history`: every claim, release and resolution, with the key name and the time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from triage.stores.records import utc
from triage.stores.sql import SqlStore
from triage.stores.store import Store

__all__ = ["Claim", "Resolution", "HistoryEntry", "ReviewStore", "REVIEW_SCHEMA_VERSION", "FINAL"]

FINAL = frozenset({"approve", "decline"})


@dataclass(frozen=True, kw_only=True)
class Claim:
    decision_id: str
    key_name: str
    claimed_at: datetime
    touched_at: datetime

    def expires_at(self, idle: timedelta) -> datetime:
        return self.touched_at + idle

    def active(self, now: datetime, idle: timedelta) -> bool:
        return self.expires_at(idle) > now


@dataclass(frozen=True, kw_only=True)
class Resolution:
    decision_id: str
    event_id: str
    kind: str
    resolution: str  # approve | decline | escalate
    reason: str
    note: str | None
    key_name: str
    resolved_at: datetime
    outcome_id: str | None = None

    @property
    def final(self) -> bool:
        return self.resolution in FINAL


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    decision_id: str
    action: str  # claim | release | approve | decline | escalate
    key_name: str
    at: datetime
    reason: str | None = None
    note: str | None = None


def _v1(t: dict[str, str]) -> list[str]:
    return [
        f"""CREATE TABLE review_claims (
            decision_id TEXT PRIMARY KEY,
            key_name TEXT NOT NULL,
            claimed_at {t["ts"]} NOT NULL,
            touched_at {t["ts"]} NOT NULL
        )""",
        f"""CREATE TABLE review_resolutions (
            decision_id TEXT PRIMARY KEY,
            event_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            resolution TEXT NOT NULL,
            reason TEXT NOT NULL,
            note TEXT,
            key_name TEXT NOT NULL,
            resolved_at {t["ts"]} NOT NULL,
            outcome_id TEXT
        )""",
        "CREATE INDEX review_resolutions_event ON review_resolutions (event_id)",
        f"""CREATE TABLE review_history (
            entry_id TEXT PRIMARY KEY,
            decision_id TEXT NOT NULL,
            action TEXT NOT NULL,
            key_name TEXT NOT NULL,
            at {t["ts"]} NOT NULL,
            reason TEXT,
            note TEXT
        )""",
        "CREATE INDEX review_history_decision ON review_history (decision_id, at)",
    ]


# (version, statements builder); append new versions, never edit old ones.
MIGRATIONS = [(1, _v1)]
REVIEW_SCHEMA_VERSION = MIGRATIONS[-1][0]

_RES_COLS = ("decision_id", "event_id", "kind", "resolution", "reason", "note", "key_name", "resolved_at",
             "outcome_id")


class ReviewStore:
    """Claims and resolutions over an open audit store (`SqliteStore` or `PostgresStore`)."""

    def __init__(self, store: Store) -> None:
        if not isinstance(store, SqlStore):
            raise TypeError(f"the review store needs an SQL audit store; got {type(store).__name__}")
        self._db = store
        self._d = store.dialect

    # -- schema ------------------------------------------------------------------
    def migrate(self) -> int:
        """Create or upgrade the review tables (under the audit store's migration lock)."""
        return self._db.run_migrations("review_schema_version", MIGRATIONS, REVIEW_SCHEMA_VERSION,
                                       "the review tables in")

    # -- helpers -----------------------------------------------------------------
    def _ts(self, ts: datetime) -> Any:
        return self._d.ts_in(utc(ts))

    def _history(self, cur: Any, e: HistoryEntry) -> None:
        cur.execute(
            self._db._q("INSERT INTO review_history (entry_id, decision_id, action, key_name, at, reason, note) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)"),
            (str(uuid.uuid4()), e.decision_id, e.action, e.key_name, self._ts(e.at), e.reason, e.note),
        )

    def _claim_from(self, row: Sequence[Any]) -> Claim:
        return Claim(decision_id=row[0], key_name=row[1], claimed_at=self._d.ts_out(row[2]),  # type: ignore[arg-type]
                     touched_at=self._d.ts_out(row[3]))  # type: ignore[arg-type]

    def _resolution_from(self, row: Sequence[Any]) -> Resolution:
        v = dict(zip(_RES_COLS, row, strict=True))
        v["resolved_at"] = self._d.ts_out(v["resolved_at"])
        return Resolution(**v)

    # -- claims ------------------------------------------------------------------
    def claim(self, decision_id: str, key_name: str, *, now: datetime, idle: timedelta) -> Claim:
        """Hold `decision_id` for `key_name`, unless another key holds it and its claim has not
        lapsed. Returns the claim now stored: the caller's, or the other holder's (the caller
        compares `key_name`). Claiming again refreshes the caller's own claim."""
        db = self._db
        now_s, lapsed_before = self._ts(now), self._ts(now - idle)
        with db._tx() as cur:
            row = cur.execute(
                db._q("SELECT decision_id, key_name, claimed_at, touched_at FROM review_claims "
                      "WHERE decision_id = ?"), (decision_id,)).fetchone()
            if row is None:
                cur.execute(
                    db._q("INSERT INTO review_claims (decision_id, key_name, claimed_at, touched_at) "
                          "VALUES (?, ?, ?, ?) ON CONFLICT (decision_id) DO NOTHING"),
                    (decision_id, key_name, now_s, now_s))
            else:
                # conditional: a concurrent claimer that got there first keeps it
                cur.execute(
                    db._q("UPDATE review_claims SET key_name = ?, claimed_at = CASE WHEN key_name = ? "
                          "THEN claimed_at ELSE ? END, touched_at = ? "
                          "WHERE decision_id = ? AND (key_name = ? OR touched_at <= ?)"),
                    (key_name, key_name, now_s, now_s, decision_id, key_name, lapsed_before))
            stored = self._claim_from(cur.execute(
                db._q("SELECT decision_id, key_name, claimed_at, touched_at FROM review_claims "
                      "WHERE decision_id = ?"), (decision_id,)).fetchone())
            fresh = row is None or row[1] != key_name
            if stored.key_name == key_name and fresh:
                self._history(cur, HistoryEntry(decision_id=decision_id, action="claim", key_name=key_name, at=now))
        return stored

    def release(self, decision_id: str, key_name: str, *, now: datetime) -> bool:
        """Drop `key_name`'s claim on `decision_id` (after a resolution); False if it held none."""
        db = self._db
        with db._tx() as cur:
            n = cur.execute(db._q("DELETE FROM review_claims WHERE decision_id = ? AND key_name = ?"),
                            (decision_id, key_name)).rowcount
            if n:
                self._history(cur, HistoryEntry(decision_id=decision_id, action="release", key_name=key_name,
                                                at=now))
        return bool(n)

    def claims(self, decision_ids: Sequence[str] | None = None) -> dict[str, Claim]:
        """Claims (lapsed ones included: the caller judges them against its clock)."""
        db = self._db
        sql = "SELECT decision_id, key_name, claimed_at, touched_at FROM review_claims"
        out: dict[str, Claim] = {}
        with db._read_tx() as cur:
            if decision_ids is None:
                rows = cur.execute(sql).fetchall()
            else:
                ids = list(dict.fromkeys(decision_ids))
                rows = []
                for start in range(0, len(ids), 500):
                    chunk = tuple(ids[start:start + 500])
                    rows += cur.execute(db._q(f"{sql} WHERE decision_id IN ({db._marks(len(chunk))})"),
                                        chunk).fetchall()
        for row in rows:
            c = self._claim_from(row)
            out[c.decision_id] = c
        return out

    # -- resolutions -------------------------------------------------------------
    def resolve(self, res: Resolution, *, idle: timedelta) -> tuple[Resolution, Claim | None]:
        """Store `res` as the item's resolution, in one transaction, unless:
        another key's active claim holds the item (returns that claim, nothing stored), or
        the item already has a final resolution, or the same one (returns what is stored,
        nothing stored). An `escalate` is replaced by a later resolution; a final one never.
        Returns (the resolution now stored, the blocking claim or None)."""
        db = self._db
        cols = ", ".join(_RES_COLS)
        with db._tx() as cur:
            prior_row = cur.execute(db._q(f"SELECT {cols} FROM review_resolutions WHERE decision_id = ?"),
                                    (res.decision_id,)).fetchone()
            prior = None if prior_row is None else self._resolution_from(prior_row)
            if prior is not None and (prior.final or prior.resolution == res.resolution):
                return prior, None
            claim_row = cur.execute(
                db._q("SELECT decision_id, key_name, claimed_at, touched_at FROM review_claims "
                      "WHERE decision_id = ?"), (res.decision_id,)).fetchone()
            if claim_row is not None:
                claim = self._claim_from(claim_row)
                if claim.key_name != res.key_name and claim.active(res.resolved_at, idle):
                    return prior if prior is not None else res, claim
            params = (res.decision_id, res.event_id, res.kind, res.resolution, res.reason, res.note,
                      res.key_name, self._ts(res.resolved_at), res.outcome_id)
            if prior is None:
                c = cur.execute(db._q(f"INSERT INTO review_resolutions ({cols}) VALUES ({db._marks(len(_RES_COLS))}) "
                                      "ON CONFLICT (decision_id) DO NOTHING"), params)
            else:  # replacing an escalation, only if it is still the one read
                c = cur.execute(
                    db._q("UPDATE review_resolutions SET resolution = ?, reason = ?, note = ?, key_name = ?, "
                          "resolved_at = ?, outcome_id = ? WHERE decision_id = ? AND resolution = 'escalate'"),
                    (res.resolution, res.reason, res.note, res.key_name, self._ts(res.resolved_at), res.outcome_id,
                     res.decision_id))
            if c.rowcount == 1:
                self._history(cur, HistoryEntry(decision_id=res.decision_id, action=res.resolution,
                                                key_name=res.key_name, at=res.resolved_at, reason=res.reason,
                                                note=res.note))
            stored = self._resolution_from(cur.execute(
                db._q(f"SELECT {cols} FROM review_resolutions WHERE decision_id = ?"),
                (res.decision_id,)).fetchone())
        return stored, None

    def set_outcome(self, decision_id: str, outcome_id: str) -> None:
        """The review outcome written for the item's final resolution."""
        db = self._db
        with db._tx() as cur:
            cur.execute(db._q("UPDATE review_resolutions SET outcome_id = ? WHERE decision_id = ?"),
                        (outcome_id, decision_id))

    def resolutions(self, decision_ids: Sequence[str] | None = None) -> dict[str, Resolution]:
        db = self._db
        cols = ", ".join(_RES_COLS)
        sql = f"SELECT {cols} FROM review_resolutions"
        rows: list[Any] = []
        with db._read_tx() as cur:
            if decision_ids is None:
                rows = cur.execute(sql).fetchall()
            else:
                ids = list(dict.fromkeys(decision_ids))
                for start in range(0, len(ids), 500):
                    chunk = tuple(ids[start:start + 500])
                    rows += cur.execute(db._q(f"{sql} WHERE decision_id IN ({db._marks(len(chunk))})"),
                                        chunk).fetchall()
        out: dict[str, Resolution] = {}
        for row in rows:
            r = self._resolution_from(row)
            out[r.decision_id] = r
        return out

    def history(self, decision_id: str) -> list[HistoryEntry]:
        db = self._db
        with db._read_tx() as cur:
            rows = cur.execute(
                db._q("SELECT decision_id, action, key_name, at, reason, note FROM review_history "
                      "WHERE decision_id = ? ORDER BY at, entry_id"), (decision_id,)).fetchall()
        return [HistoryEntry(decision_id=r[0], action=r[1], key_name=r[2], at=self._d.ts_out(r[3]),  # type: ignore[arg-type]
                             reason=r[4], note=r[5]) for r in rows]
