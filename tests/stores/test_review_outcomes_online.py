"""Review outcomes and the online history: only a confirmed review of an order is logged."""

from __future__ import annotations

from triage.stores.online import OnlineState
from triage.stores.online_sqlite import SqliteLog


def test_only_a_confirmed_order_review_reaches_the_online_log(tmp_path):
    log = SqliteLog(tmp_path / "online.db")
    state = OnlineState(log)
    try:
        at = "2026-03-01T00:00:00Z"
        state.observe_outcome("review", {"type": "review", "order_id": None, "return_id": "r-1", "confirmed": True,
                                         "reported_at": at})
        state.observe_outcome("review", {"type": "review", "order_id": "o-1", "return_id": None, "confirmed": False,
                                         "reported_at": at})
        assert log.read(0) == []
        state.observe_outcome("review", {"type": "review", "order_id": "o-1", "return_id": None, "confirmed": True,
                                         "reported_at": at})
        assert len(log.read(0)) == 1
    finally:
        state.close()
