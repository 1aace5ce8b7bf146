"""The service's database: audit of decisions and outcomes, API keys, metadata.

`open_store(url)` picks the implementation by URL (`sqlite:///…` embedded,
`postgresql://…` server) and migrates the schema.
"""

from __future__ import annotations

from triage.stores.records import DecisionRecord, KeyRecord, OutcomeRecord
from triage.stores.store import Store

__all__ = ["DecisionRecord", "OutcomeRecord", "KeyRecord", "Store", "open_store"]


def open_store(url: str, *, migrate: bool = True, pool_size: int = 8, pool_timeout_s: float = 2.0) -> Store:
    """The store for `url`, its schema created or migrated unless `migrate=False`
    (`pool_size`, `pool_timeout_s`: PostgreSQL's connection pool per process)."""
    store: Store
    if url.startswith("sqlite:///"):
        from triage.stores.sqlite import SqliteStore

        store = SqliteStore(url)
    elif url.startswith(("postgresql://", "postgres://")):
        from triage.stores.postgres import PostgresStore

        store = PostgresStore(url, pool_size=pool_size, pool_timeout_s=pool_timeout_s)
    else:
        raise ValueError(f"unknown store URL {url!r}: expected sqlite:/// or postgresql://")
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store
