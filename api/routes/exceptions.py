"""The exception queue for operations: by channel, node, carrier, action and value at stake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import ReadKey, StoreDep
from api.problems import PROBLEM_JSON
from triage.errors import ContractError
from triage.monitoring.exceptions import exception_summary
from triage.monitoring.monitor import decisions_frame

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["exceptions"])
_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "problem+json"}


@router.get("/exceptions/summary", responses={s: _PROBLEM for s in (401, 403, 422, 503)})
async def exceptions_summary(
    key: ReadKey,
    store: StoreDep,
    since: Annotated[datetime | None, Query(description="event time from (default: 7 days ago)")] = None,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """Open exceptions (reviews, verifications, expedites, reallocations, notifications) with value
    at stake and age against the promise time, grouped for the ops teams."""
    now = datetime.now(UTC)
    start = since if since is not None else now - timedelta(days=7)
    if start.tzinfo is None:
        raise ContractError("since: timestamp without time zone; expected ISO 8601 with 'Z' or an offset")

    def build() -> dict[str, Any]:
        frame = decisions_frame(store.iter_decisions(start))
        ids = set(frame["event_id"]) if len(frame) else set()
        resolved = {o.entity_id for o in store.iter_outcomes(ids)} if ids else set()
        return exception_summary(frame, now=pd.Timestamp(now), top=top, resolved=resolved)

    return await run_in_threadpool(build)
