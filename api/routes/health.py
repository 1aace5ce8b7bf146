"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response, Security
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import StateDep, _api_key_header
from api.metrics import CONTENT_TYPE_LATEST, scrape_gauges
from triage.errors import TriageError

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    """Ready to decide: the audit store answers and a policy is loaded (503 otherwise).

    A model that failed to load or a down online store leaves the service ready but
    `degraded` (rules-only decisions), with the reasons listed.
    """
    problems: list[str] = list(state.startup_problems)
    ready = True
    if state.store is None:
        ready = False
    else:
        try:
            await run_in_threadpool(state.store.ping)
        except TriageError as exc:
            ready = False
            problems.append(f"audit store: {exc.message}")
    services = state.services
    if services is None:
        ready = False
    else:
        problems += services.problems
        online = services.online
        if online is None:
            if any(services.bundles.values()):
                problems.append("online store: none configured; models cannot score (rules-only)")
        elif hasattr(online, "ping"):
            try:
                await run_in_threadpool(online.ping)
            except TriageError as exc:
                problems.append(f"online store: {exc.message} (decisions are rules-only, degraded)")
    status = "ready" if ready and not problems else "degraded" if ready else "unavailable"
    body = {
        "status": status,
        "problems": problems,
        "policy_version": services.policy_version if services else None,
        "models": services.model_versions() if services else {},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics(
    request: Request, state: StateDep, presented: Annotated[str | None, Security(_api_key_header)] = None
) -> Response:
    """Prometheus metrics; open unless `metrics_open` is false (then the `read` scope is needed)."""
    if not state.settings.metrics_open:
        assert state.keys is not None
        key = state.keys.authenticate(presented)
        key.require("read")
    extra = scrape_gauges(state.store.ping if state.store is not None else None,
                          Path(state.settings.home) / "monitor" / "summary.json")
    return Response(state.metrics.render(extra), media_type=CONTENT_TYPE_LATEST)
