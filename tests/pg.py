"""The local PostgreSQL for integration tests: a fresh schema per use, dropped afterwards.

`TRIAGE_TEST_PG_URL` points elsewhere (default 127.0.0.1:5432, database `test`). An
unreachable server skips the test with the reason, except under CI (`CI=true`), where it
fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

PG_URL = os.environ.get("TRIAGE_TEST_PG_URL", "postgresql://127.0.0.1:5432/test")


def pg_problem() -> str | None:
    """Why the server cannot be used, or None."""
    try:
        with psycopg.connect(PG_URL, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}".strip()


@contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A URL whose search path is a new, empty schema (dropped on exit)."""
    problem = pg_problem()
    if problem is not None:
        message = f"PostgreSQL not reachable at {PG_URL} ({problem})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(f"{message}; start it or set TRIAGE_TEST_PG_URL to run these tests")
    schema = f"triage_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
