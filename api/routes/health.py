"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response, Security
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import AppState, StateDep, _api_key_header
from api.metrics import CONTENT_TYPE_LATEST, scrape_gauges
from triage.errors import TriageError, UnavailableError

__all__ = ["router"]

router = APIRouter(tags=["health"])


def _unrecoverable(state: AppState) -> list[str]:
    """What this process cannot get over by itself (then only a restart helps)."""
    out = list(state.fatal)
    task = state.supervisor
    if task is not None and task.done():
        exc = None if task.cancelled() else task.exception()
        out.append(f"store supervisor stopped: {type(exc).__name__ if exc else 'cancelled'}: {exc or ''}".rstrip(": "))
    return out


@router.get("/healthz", responses={503: {"description": "the process cannot recover by itself: restart it"}})
async def healthz(state: StateDep) -> JSONResponse:
    """The process is alive and can recover by itself (200), even while a store is down
    (`/readyz` says so); 503 with the reasons when only a restart can help."""
    problems = _unrecoverable(state)
    if problems:
        return JSONResponse({"status": "failed", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/readyz", responses={503: {"description": "not ready: the reasons, and Retry-After"}})
async def readyz(state: StateDep) -> JSONResponse:
    """Ready to decide: the audit store answers and a policy is loaded (503 otherwise).

    A model that failed to load or a down online store leaves the service ready but
    `degraded` (rules-only decisions), with the reasons listed. While the audit store is
    unreachable the reason says when it is tried next.
    """
    problems: list[str] = list(state.startup_problems) + _unrecoverable(state)
    ready = not state.fatal
    if state.store is None:
        ready = False
        retry = ""
        if state.store_retry_at is not None and not state.fatal:
            retry = f" (next attempt in {max(0.0, state.store_retry_at - time.time()):.1f} s)"
        if not state.fatal:
            problems.append(f"audit store: {state.store_problem or 'not open yet'}{retry}")
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
        else:
            try:
                await run_in_threadpool(online.ping)
            except TriageError as exc:
                problems.append(f"online store: {exc.message} (decisions are rules-only, degraded)")
            else:
                if online.lagging:
                    problems.append("online store: catching up with decisions made while it was down")
            if online.bootstrap_problem:
                problems.append(online.bootstrap_problem)
    status = "ready" if ready and not problems else "degraded" if ready else "unavailable"
    body = {
        "status": status,
        "problems": problems,
        "policy_version": services.policy_version if services else None,
        "models": services.model_versions() if services else {},
    }
    if ready:
        return JSONResponse(body)
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(state.settings.retry_after_seconds)})


@router.get("/metrics", response_class=Response)
def metrics(
    request: Request, state: StateDep, presented: Annotated[str | None, Security(_api_key_header)] = None
) -> Response:
    """Prometheus metrics; open unless `metrics_open` is false (then the `read` scope is needed)."""
    if not state.settings.metrics_open:
        if state.keys is None:
            raise UnavailableError("the key store is not open; metrics need a read key")
        key = state.keys.authenticate(presented)
        key.require("read")
    extra = scrape_gauges(state.store.ping if state.store is not None else None,
                          Path(state.settings.home) / "monitor" / "summary.json")
    return Response(state.metrics.render(extra), media_type=CONTENT_TYPE_LATEST)
