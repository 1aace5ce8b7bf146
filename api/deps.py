"""The app's state and the dependencies routes declare (`Annotated` aliases).

`AppState` is built by the lifespan: settings, the store, the key ring, metrics, and
the current `DecisionService`. A route takes the services reference once
(`ServicesDep`), so a reload that swaps it mid-request cannot mix generations.

The decision routes take all of it as one dependency, `DecideDep` (a `DecideContext`):
FastAPI solves each dependency of a route on every request (a recursive solve with its
own parameter passes, ~10–20 µs each), and the hot route had seven. Its parameters
still declare the `X-API-Key` security scheme and the `Idempotency-Key` header, so the
OpenAPI document and the header's validation (422) are those of the separate ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from api.metrics import Metrics
from triage.decision.coalesce import Coalescer
from triage.decision.interfaces import OnlineStateProtocol
from triage.decision.model_loading import load_services
from triage.decision.service import DecisionService
from triage.errors import UnavailableError
from triage.keys import ApiKey, KeyRing
from triage.settings import Settings
from triage.stores import Store

__all__ = [
    "AppState",
    "StateDep",
    "ServicesDep",
    "StoreDep",
    "ReceivedAt",
    "IdempotencyKey",
    "require_scope",
    "DecideKey",
    "OutcomesKey",
    "ReadKey",
    "AdminKey",
    "DecideContext",
    "DecideDep",
    "decide_context_of",
]


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    store: Store | None = None
    keys: KeyRing | None = None
    services: DecisionService | None = None
    reload_lock: threading.Lock = field(default_factory=threading.Lock)
    reload_generation: str | None = None
    startup_problems: list[str] = field(default_factory=list)
    loader: Callable[[Settings], DecisionService] = load_services
    online: OnlineStateProtocol | None = None  # triage.stores.online.OnlineState, shared by every reload
    open_online: bool = True  # the default loader: open the online state from settings at start
    coalescer: Coalescer | None = None  # groups the single decisions the loop has at hand (triage.decision.coalesce)
    limiter: Any = None  # api.ratelimit.RateLimiter when `rate_limit_per_second` is set
    store_problem: str | None = None  # why the audit store is not open (retried: api.recovery)
    store_retry_at: float | None = None  # epoch seconds of the next attempt
    fatal: list[str] = field(default_factory=list)  # what the process cannot recover from (/healthz 503)
    supervisor: Any = None  # the asyncio task of api.recovery.supervise


async def get_state(request: Request) -> AppState:  # async: no thread hop for a lookup
    return request.app.state.triage


StateDep = Annotated[AppState, Depends(get_state)]


async def get_store(state: StateDep) -> Store:
    if state.store is None:
        raise UnavailableError(_store_down(state))
    return state.store


def _store_down(state: AppState) -> str:
    why = f": {state.store_problem}" if state.store_problem else ""
    return f"the audit store is not open{why}; the service cannot decide without a record (retrying)"


async def get_services(state: StateDep) -> DecisionService:
    if state.services is None:
        raise UnavailableError(
            "models and policy are not loaded: " + "; ".join(state.startup_problems or ["starting"])
        )
    return state.services


async def received_now() -> datetime:
    """When the request arrived: the only clock the service reads, for the audit."""
    return datetime.now(UTC)


StoreDep = Annotated[Store, Depends(get_store)]
ServicesDep = Annotated[DecisionService, Depends(get_services)]
ReceivedAt = Annotated[datetime, Depends(received_now)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="retry key; without it the event id is the key",
    ),
]

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key with the route's scope"
)


async def _authenticate(request: Request, presented: str | None, scope: str) -> ApiKey:
    state: AppState = request.app.state.triage
    if state.keys is None:
        raise UnavailableError(_store_down(state).replace("audit store", "audit/key store", 1))
    if state.store is not None and state.store.reads_inline:  # a cache hit, or a local SQLite read
        key = state.keys.authenticate(presented)
    else:  # a cache miss may be a network round trip: not on the event loop
        key = await run_in_threadpool(state.keys.authenticate, presented)
    request.state.api_key = key.name
    if state.limiter is not None:
        state.limiter.check(key.name)  # 429 with Retry-After
    key.require(scope)
    return key


def require_scope(scope: str) -> Callable[..., Any]:
    async def dependency(request: Request, presented: Annotated[str | None, Security(_api_key_header)]) -> ApiKey:
        return await _authenticate(request, presented, scope)

    dependency.__name__ = f"require_{scope}"
    return dependency


DecideKey = Annotated[ApiKey, Depends(require_scope("decide"))]
OutcomesKey = Annotated[ApiKey, Depends(require_scope("outcomes"))]
ReadKey = Annotated[ApiKey, Depends(require_scope("read"))]
AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]


@dataclass(frozen=True, slots=True)
class DecideContext:
    """What a decision route needs, solved once: the caller, one services generation,
    the store, the arrival time and the retry key."""

    key: ApiKey
    state: AppState
    services: DecisionService
    store: Store
    received_at: datetime
    idempotency_key: str | None


async def decide_context(
    request: Request,
    presented: Annotated[str | None, Security(_api_key_header)],
    idempotency_key: IdempotencyKey = None,
) -> DecideContext:
    """The `decide` key first (401/403 before anything else), then the services and the
    store (503 when not loaded), then the arrival time."""
    return await decide_context_of(request, presented, idempotency_key)


async def decide_context_of(request: Request, presented: str | None, idempotency_key: str | None) -> DecideContext:
    """`decide_context` from the already-read header values (also `api.fastpath`)."""
    key = await _authenticate(request, presented, "decide")
    state: AppState = request.app.state.triage
    return DecideContext(
        key=key,
        state=state,
        services=await get_services(state),
        store=await get_store(state),
        received_at=await received_now(),
        idempotency_key=idempotency_key,
    )


DecideDep = Annotated[DecideContext, Depends(decide_context)]
