"""Decision routes: one order or return, batches of them, and the audited record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import AppState, DecideContext, DecideDep, ReadKey, StateDep, StoreDep
from api.fastpath import DecisionRoute
from api.paging import decode_cursor, encode_cursor, read_window
from api.problems import PROBLEM_JSON, error_problem, field_errors, validation_problem
from api.responses import FastJSONResponse as JSONResponse
from api.schemas import BatchRequest, BatchResponse, DecisionPage, DecisionResponse, OrderEvent, ReturnEvent
from triage.decision.audit_flow import decide_events_async
from triage.errors import ContractError, NotFoundError, PayloadTooLargeError, TriageError
from triage.events import EventKind
from triage.records import iso

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["decisions"])

_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "problem+json"}
_ERRORS: dict[int | str, dict[str, Any]] = {s: _PROBLEM for s in (401, 403, 409, 413, 422, 429, 503)}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "order": TypeAdapter(OrderEvent),
    "return": TypeAdapter(ReturnEvent),
}


class _InvalidItem(ContractError):
    """A batch item that failed validation; carries its problem body."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["detail"])
        self.body = body


async def _one(kind: EventKind, event: Any, ctx: DecideContext) -> JSONResponse:
    coalescer = ctx.state.coalescer  # decides it with the others the loop has at hand (triage.decision.coalesce)
    if coalescer is not None:
        result = await coalescer.decide(ctx.services, ctx.store, kind, event.model_dump(),
                                        received_at=ctx.received_at, idempotency_header=ctx.idempotency_key,
                                        api_key=ctx.key.name)
    else:
        (result,) = await decide_events_async(
            ctx.services,
            ctx.store,
            kind,
            [event.model_dump()],
            received_at=ctx.received_at,
            idempotency_header=ctx.idempotency_key,
            api_key=ctx.key.name,
        )
    if result.error is not None:
        raise result.error
    assert result.decision is not None
    metrics = ctx.state.metrics
    if result.replayed:
        metrics.replays.labels(kind).inc()
        return JSONResponse(result.decision, headers={"Idempotent-Replayed": "true"})
    metrics.observe_decision(kind, result.decision.get("actions", []), result.decision.get("degraded", False))
    return JSONResponse(result.decision)


async def decide_order(event: OrderEvent, ctx: DecideDep) -> JSONResponse:
    """Score and route one order; the decision is audited before it is returned."""
    return await _one("order", event, ctx)


async def decide_return(event: ReturnEvent, ctx: DecideDep) -> JSONResponse:  # type: ignore[valid-type]
    """Score and route one return request; audited before it is returned."""
    return await _one("return", event, ctx)


# the two hot routes: their ordinary requests skip FastAPI's dependency solver (api.fastpath)
for _path, _endpoint in (("/orders/decisions", decide_order), ("/returns/decisions", decide_return)):
    router.add_api_route(_path, _endpoint, methods=["POST"], response_model=DecisionResponse, responses=_ERRORS,
                         route_class_override=DecisionRoute)


async def _batch(kind: EventKind, body: BatchRequest, request: Request, ctx: DecideContext) -> JSONResponse:
    limit = ctx.state.settings.max_batch_items
    if len(body.items) > limit:
        raise PayloadTooLargeError(
            f"items: {len(body.items)} events in one batch; the limit is {limit} (max_batch_items)"
        )
    cid = getattr(request.state, "correlation_id", None)
    # a batch is up to hundreds of milliseconds of CPU: validation, deciding and rendering run
    # in the thread pool so the event loop keeps serving single decisions meanwhile
    events = await run_in_threadpool(_validate_items, kind, body.items, cid)
    results = await decide_events_async(
        ctx.services, ctx.store, kind, events, received_at=ctx.received_at,
        idempotency_header=ctx.idempotency_key, api_key=ctx.key.name, offload=True,
    )
    return await run_in_threadpool(_batch_response, kind, results, ctx.state, cid)


def _validate_items(kind: EventKind, items: list[Any], cid: str | None) -> list[Any]:
    adapter = _ADAPTERS[kind]
    events: list[Any] = []
    for i, item in enumerate(items):
        try:
            events.append(adapter.validate_python(item).model_dump())
        except ValidationError as exc:
            errs = field_errors([dict(e) for e in exc.errors()])
            for e in errs:
                e["field"] = f"items[{i}]" + ("." + e["field"] if e["field"] != "body" else "")
            events.append(_InvalidItem(validation_problem(errs, correlation_id=cid)))
    return events


def _batch_response(kind: EventKind, results: list[Any], state: AppState, cid: str | None) -> JSONResponse:
    out = []
    for i, r in enumerate(results):
        if r.error is not None:
            err: TriageError = r.error
            problem = err.body if isinstance(err, _InvalidItem) else error_problem(err, correlation_id=cid)
            out.append({"index": i, "status": err.status, "error": problem})
        else:
            assert r.decision is not None
            if r.replayed:
                state.metrics.replays.labels(kind).inc()
            else:
                state.metrics.observe_decision(
                    kind, r.decision.get("actions", []), r.decision.get("degraded", False)
                )
            out.append({"index": i, "status": 200, "decision": r.decision})
    return JSONResponse({"results": out})


@router.post("/orders/decisions:batch", response_model=BatchResponse, responses=_ERRORS)
async def decide_orders_batch(body: BatchRequest, request: Request, ctx: DecideDep) -> JSONResponse:
    """Decide up to `max_batch_items` orders; an invalid item gets its own error, the rest are decided."""
    return await _batch("order", body, request, ctx)


@router.post("/returns/decisions:batch", response_model=BatchResponse, responses=_ERRORS)
async def decide_returns_batch(body: BatchRequest, request: Request, ctx: DecideDep) -> JSONResponse:
    """Decide up to `max_batch_items` returns; per-item errors as in the order batch."""
    return await _batch("return", body, request, ctx)


@router.get("/decisions", response_model=DecisionPage, responses=_ERRORS)
def list_decisions(
    key: ReadKey,
    store: StoreDep,
    state: StateDep,
    since: Annotated[datetime | None, Query(description="received from (default: 7 days before until)")] = None,
    until: Annotated[datetime | None, Query(
        description="received before (default: now, or since + read_max_days when since is given)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="items on this page (at most page_max_items)")] = 100,
    cursor: Annotated[str | None, Query(max_length=400, description="next_cursor of the previous page")] = None,
) -> JSONResponse:
    """Audited decisions received in [since, until), oldest first, a page at a time: pass
    `next_cursor` back (with the same window) until it is null. The window is at most
    `read_max_days` wide."""
    start, end = read_window(since, until, now=datetime.now(UTC), max_days=state.settings.read_max_days)
    n = min(limit, state.settings.page_max_items)
    after = decode_cursor(cursor) if cursor else None
    rows = store.page_decisions(since=start, until=end, after=after, limit=n + 1)
    more = len(rows) > n
    rows = rows[:n]
    last = rows[-1] if rows and more else None
    return JSONResponse({
        "items": [r.to_public() for r in rows],
        "next_cursor": encode_cursor(last.received_at, last.decision_id) if last is not None else None,
        "window": {"since": iso(start), "until": iso(end)},
    })


@router.get("/decisions/{decision_id}", responses={**_ERRORS, 404: _PROBLEM})
def get_decision(decision_id: str, key: ReadKey, store: StoreDep) -> JSONResponse:
    """The decision as audited: request, features used, the answer given, timings."""
    rec = store.get_decision(decision_id)
    if rec is None:
        raise NotFoundError(f"no decision with id {decision_id!r}")
    return JSONResponse(rec.to_public())
