"""A home folder of its own for each bus test: SQLite audit and online state, no model bundles
(decisions are the real policy's, rules-only)."""

from __future__ import annotations

import pytest

from triage.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    (tmp_path / "bundles").mkdir()
    return Settings(home=tmp_path / "home", bundle_dir=tmp_path / "bundles")
