"""The exception queue for operations: by channel, node, carrier, action and value at stake."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import ReadKey, StateDep, StoreDep
from api.paging import read_window
from api.problems import PROBLEM_JSON
from triage.errors import ContractError
from triage.records import iso

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["exceptions"])
_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "problem+json"}


@router.get("/exceptions/summary", responses={s: _PROBLEM for s in (401, 403, 422, 429, 503)})
async def exceptions_summary(
    key: ReadKey,
    store: StoreDep,
    state: StateDep,
    since: Annotated[datetime | None, Query(description="event time from (default: 7 days before until)")] = None,
    until: Annotated[datetime | None, Query(
        description="event time to, excluded (default: now, or since + read_max_days when since is given)")] = None,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """Open exceptions (reviews, verifications, expedites, reallocations, notifications) with value
    at stake and age against the promise time, grouped for the ops teams. The window is at
    most `read_max_days` wide and holds at most `read_max_rows` decisions (422 otherwise:
    narrow it)."""
    now = datetime.now(UTC)
    settings = state.settings
    start, end = read_window(since, until, now=now, max_days=settings.read_max_days)
    cap = settings.read_max_rows

    def build() -> dict[str, Any]:
        # imported here: the monitoring package pulls in pandas and scikit-learn (~1.5 s), which a
        # worker should not pay at start for an ops read
        import pandas as pd

        from triage.monitoring.exceptions import exception_summary
        from triage.monitoring.monitor import decisions_frame

        rows = store.page_decisions(since=start, until=end, limit=cap + 1, by="event_time")
        if len(rows) > cap:
            raise ContractError(
                f"since/until: the window holds more than {cap} decisions (read_max_rows); narrow it")
        frame = decisions_frame(rows)
        ids = set(frame["event_id"]) if len(frame) else set()
        resolved = store.outcome_entities(ids) if ids else set()
        out = exception_summary(frame, now=pd.Timestamp(now), top=top, resolved=resolved)
        return {**out, "window": {"since": iso(start), "until": iso(end)}}

    return await run_in_threadpool(build)
