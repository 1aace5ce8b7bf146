"""The audit database's tables: their columns, and the versioned migrations that build them.

The schema is versioned in a `schema_version` table and migrated at open, under a lock,
so several worker processes starting together agree (`SqlStore.migrate`). Append new
versions to `MIGRATIONS`; never edit old ones.
"""

from __future__ import annotations

__all__ = ["DECISION_COLUMNS", "DECISION_JSON", "PACKED", "OUTCOME_COLUMNS", "KEY_COLUMNS", "MIGRATIONS",
           "SCHEMA_VERSION"]

DECISION_COLUMNS = (
    "decision_id",
    "kind",
    "event_id",
    "event_time",
    "idempotency_key",
    "body_hash",
    "request",
    "features",
    "scores",
    "actions",
    "reasons",
    "priority",
    "policy_version",
    "models",
    "degraded",
    "latency_ms",
    "received_at",
    "api_key",
    "response",
    "packed",  # v3: request, features (a vector) and the response's rest (`triage.stores.audit_rows`)
)
DECISION_JSON = {"request", "features", "scores", "actions", "reasons", "priority", "models", "response"}
PACKED = {"request", "features", "response"}  # written in `packed` since v3
OUTCOME_COLUMNS = (
    "outcome_id",
    "type",
    "entity_id",
    "known_at",
    "body_hash",
    "body",
    "received_at",
    "api_key",
)
KEY_COLUMNS = ("key_id", "name", "key_hash", "scopes", "created_at", "revoked_at")


def schema_v1(t: dict[str, str]) -> list[str]:
    """Version 1 of the schema, with the dialect's column types filled in."""
    return [
        f"""CREATE TABLE decisions (
            decision_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event_time {t["ts"]} NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            body_hash TEXT NOT NULL,
            request {t["json"]} NOT NULL,
            features {t["json"]},
            scores {t["json"]} NOT NULL,
            actions {t["json"]} NOT NULL,
            reasons {t["json"]} NOT NULL,
            priority {t["json"]},
            policy_version TEXT,
            models {t["json"]} NOT NULL,
            degraded {t["bool"]} NOT NULL,
            latency_ms {t["float"]} NOT NULL,
            received_at {t["ts"]} NOT NULL,
            api_key TEXT,
            response {t["json"]} NOT NULL
        )""",
        "CREATE INDEX decisions_received_at ON decisions (received_at)",
        "CREATE INDEX decisions_event ON decisions (kind, event_id)",
        f"""CREATE TABLE outcomes (
            outcome_id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            known_at {t["ts"]} NOT NULL,
            body_hash TEXT NOT NULL UNIQUE,
            body {t["json"]} NOT NULL,
            received_at {t["ts"]} NOT NULL,
            api_key TEXT
        )""",
        "CREATE INDEX outcomes_received_at ON outcomes (received_at)",
        "CREATE INDEX outcomes_entity ON outcomes (entity_id)",
        f"""CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            scopes TEXT NOT NULL,
            created_at {t["ts"]} NOT NULL,
            revoked_at {t["ts"]}
        )""",
        "CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL",
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]


def schema_v2(t: dict[str, str]) -> list[str]:
    """Version 2: the `online_pending` mark (start-up log recovery) and, where the database has
    no rowid, a commit-order column. Rows from before are taken as logged (NULL)."""
    stmts: list[str] = []
    for table in ("decisions", "outcomes"):
        order = "received_at"
        if "identity" in t:
            stmts.append(f"ALTER TABLE {table} ADD COLUMN audit_seq {t['identity']}")
            order = "received_at, audit_seq"
        stmts.append(f"ALTER TABLE {table} ADD COLUMN online_pending {t['bool']}")
        stmts.append(f"CREATE INDEX {table}_online_pending ON {table} ({order}) WHERE online_pending IS NOT NULL")
    return stmts


def schema_v3(t: dict[str, str]) -> list[str]:
    """Version 3: slim decision rows (`triage.stores.audit_rows`): the `packed` column, and the
    names of each feature-set version the packed feature vectors use."""
    return [
        f"ALTER TABLE decisions ADD COLUMN packed {t['blob']}",
        f"CREATE TABLE feature_sets (version TEXT PRIMARY KEY, names {t['json']} NOT NULL)",
    ]


# (version, statements builder); append new versions, never edit old ones.
MIGRATIONS = [(1, schema_v1), (2, schema_v2), (3, schema_v3)]
SCHEMA_VERSION = MIGRATIONS[-1][0]
