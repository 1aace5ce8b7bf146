"""`create_app(settings)`: the FastAPI app over the decision core.

The lifespan opens the audit/key store (migrating its schema), loads the policy and
models, says how to create a key when there is none, and runs the background loop
that follows reloads made by other workers and applies the retention period.
Tests pass `services=` (and `store=`, `loader=`) to run without models or files.
"""

from __future__ import annotations

import os

# One LightGBM prediction is one row: OpenMP threads only add wake-up latency (measured
# ~0.4 ms a predict with passive waiting vs ~30 µs on one thread). A worker process is
# the unit of parallelism here. Must be set before lightgbm loads its OpenMP runtime.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import asyncio  # noqa: E402
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.deps import AppState
from api.metrics import Metrics
from api.middleware import RequestContextMiddleware
from api.problems import PROBLEM_JSON, install_handlers
from api.ratelimit import RateLimiter
from api.recovery import open_audit_store, supervise
from api.reload import GENERATION_KEY, background_loop, install_services
from api.routes import admin, console, decisions, exceptions, health, outcomes, reviews
from triage import __version__
from triage.decision.coalesce import Coalescer
from triage.decision.model_loading import load_services
from triage.decision.service import DecisionService
from triage.errors import TriageError
from triage.keys import KeyRing
from triage.settings import Settings, get_settings
from triage.stores import Store
from triage.stores.online import OnlineState, open_online

__all__ = ["create_app", "app_from_env"]

log = logging.getLogger("triage.api")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: AppState = app.state.triage
    owned = state.store is None
    online_owned = state.online is None
    if owned:
        if not await run_in_threadpool(open_audit_store, state) and not state.fatal:
            log.error("audit store unavailable; decisions answer 503 until it is (retried in the background)",
                      extra={"reason": state.store_problem})
    elif state.keys is None and state.store is not None:
        state.keys = KeyRing(state.store, ttl_s=state.settings.key_cache_seconds,
                             max_entries=state.settings.key_cache_size)
    if state.services is None:
        if state.online is None and state.open_online:
            state.online = await run_in_threadpool(open_online, state.settings)
        services = await run_in_threadpool(state.loader, state.settings)
    else:
        services = state.services
    install_services(state, services)
    # everything loaded so far (online indexes, models) lives as long as the process: keep it
    # out of the cyclic collector's full passes, which otherwise stall requests ~100 ms
    gc.collect()
    gc.freeze()
    if state.store is not None and state.keys is not None:
        try:
            state.reload_generation = await run_in_threadpool(state.store.get_meta, GENERATION_KEY)
            if not await run_in_threadpool(state.keys.has_active_keys):  # type: ignore[union-attr]
                log.warning(
                    "no API keys exist: every decision route answers 401. Create one with "
                    "`triage keys create --name NAME --scopes decide,read` (same TRIAGE_HOME / TRIAGE_DATABASE_URL)"
                )
        except TriageError as exc:
            log.error("audit store check failed at start", extra={"reason": exc.message})
    log.info(
        "triage API ready",
        extra={
            "audit_store": state.store.url_for_humans() if state.store is not None else None,
            "policy_version": services.policy_version,
            "models": services.model_versions(),
            "problems": services.problems,
        },
    )
    task = asyncio.create_task(background_loop(state))
    state.supervisor = asyncio.create_task(supervise(state))
    try:
        yield
    finally:
        for t in (task, state.supervisor):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if owned and state.store is not None:
            state.store.close()
        if state.online is not None and online_owned:
            state.online.close()


def create_app(
    settings: Settings,
    *,
    services: DecisionService | None = None,
    store: Store | None = None,
    loader: Callable[[Settings], DecisionService] | None = None,
    online: OnlineState | None = None,
) -> FastAPI:
    """The service's app. Without `services`, the lifespan loads them with `loader`
    (default `triage.decision.model_loading.load_services` over the online state: `online`, else opened
    from settings — Redis by `redis_url`, else SQLite in `home`, bootstrapped from
    `bootstrap_dir` if set); without `store`, it opens `settings.audit_url`."""
    metrics = Metrics()
    state = AppState(settings=settings, metrics=metrics, store=store, services=services, online=online,
                     coalescer=Coalescer(settings.coalesce_max, on_group=metrics.group_size.observe)
                     if settings.coalesce_max > 1 else None,
                     limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
                     if settings.rate_limit_per_second > 0 else None)
    if loader is not None:
        state.loader = loader
        state.open_online = False
    elif services is not None:
        state.loader = lambda _s: services  # nothing to load from: reload keeps what was given
    else:
        state.loader = lambda s: load_services(s, online=state.online)
    app = FastAPI(
        title="triage",
        version=__version__,
        summary="Risk scores and rule-bounded routing decisions for orders and returns, audited.",
        lifespan=_lifespan,
        # what any route may answer besides its own: a body that is not JSON (400), too large
        # (413, the middleware), invalid parameters or headers (422), an unexpected error (500)
        responses={s: {"content": {PROBLEM_JSON: {}}, "description": "problem+json"} for s in (400, 413, 422, 500)},
        # FastAPI's native OpenTelemetry hooks: this service exports Prometheus metrics and JSON
        # logs (api/metrics.py, api/logs.py), not OTel; with them on, every request asked the
        # global OTel providers whether anything listens (~10 % of a request's event-loop time
        # in the ASGI profile)
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.triage = state
    install_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    for module in (decisions, outcomes, exceptions, admin, health, reviews, console):
        app.include_router(module.router)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers (`api.app:app_from_env`): settings from the environment."""
    from api.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
