"""The review queue (`review` scope): list, read, claim and resolve the items that ask a person.

Thin: each route validates, calls one `triage.decision.reviews.ReviewQueue` method, returns its dict.
The queue is built once per app over its audit store (the review tables migrated then).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ReceivedAt, ServicesDep, StoreDep, require_scope
from api.problems import PROBLEM_JSON
from triage.decision.reviews import QUEUES, ReviewFilters, ReviewQueue
from triage.errors import UnavailableError
from triage.keys import ApiKey
from triage.stores.reviews import ReviewStore

__all__ = ["router", "ResolutionBody"]

router = APIRouter(prefix="/v1", tags=["reviews"])
_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "problem+json"}
_LOCK = threading.Lock()

ReviewKey = Annotated[ApiKey, Depends(require_scope("review"))]


def get_queue(request: Request, store: StoreDep) -> ReviewQueue:
    """The app's queue over its store, made (and the review tables migrated) on first use."""
    with _LOCK:
        queue: ReviewQueue | None = getattr(request.app.state, "review_queue", None)
        if queue is None or queue.store is not store:
            try:
                reviews = ReviewStore(store)
            except TypeError as exc:
                raise UnavailableError(f"the review queue cannot run on this store: {exc}") from exc
            reviews.migrate()
            settings = request.app.state.triage.settings
            queue = ReviewQueue(store=store, reviews=reviews,
                                claim_idle=timedelta(minutes=settings.review_claim_idle_minutes),
                                lookback=timedelta(days=settings.review_lookback_days))
            request.app.state.review_queue = queue
        return queue


QueueDep = Annotated[ReviewQueue, Depends(get_queue)]


class ResolutionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Literal["approve", "decline", "escalate"] = Field(
        description="approve: legitimate; decline: fraud / abuse; escalate: to the escalation queue")
    reason: Annotated[str, Field(min_length=1, max_length=200, description="why, in a few words")]
    note: Annotated[str | None, Field(max_length=2000)] = None


DecisionId = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("/reviews", responses={s: _PROBLEM for s in (401, 403, 422, 503)})
def list_reviews(
    key: ReviewKey,
    queue: QueueDep,
    received_at: ReceivedAt,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
    queue_name: Annotated[str | None, Query(alias="queue", description=f"one of {', '.join(QUEUES)}")] = None,
    channel: Annotated[str | None, Query()] = None,
    fulfillment_node_id: Annotated[str | None, Query()] = None,
    carrier: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query()] = None,
    min_value: Annotated[float | None, Query(ge=0)] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The items that ask a person, by priority then SLA deadline; counts per queue; cursor pages."""
    filters = ReviewFilters(status=status, queue=queue_name, channel=channel,
                            fulfillment_node_id=fulfillment_node_id, carrier=carrier, action=action,
                            min_value=min_value)
    return {**queue.list(filters, now=received_at, cursor=cursor, limit=limit), "reviewer": key.name}


@router.get("/reviews/{decision_id}", responses={s: _PROBLEM for s in (401, 403, 404, 503)})
def get_review(
    decision_id: DecisionId, key: ReviewKey, queue: QueueDep, services: ServicesDep, received_at: ReceivedAt
) -> dict[str, Any]:
    """The item, its full audit record, its claims and resolutions, and the customer's history."""
    return queue.get(decision_id, now=received_at, services=services)


@router.post("/reviews/{decision_id}/claim", responses={s: _PROBLEM for s in (401, 403, 404, 409, 503)})
def claim_review(decision_id: DecisionId, key: ReviewKey, queue: QueueDep, received_at: ReceivedAt) -> dict[str, Any]:
    """Hold the item for the caller's key (409 when another key holds it); claiming again refreshes it."""
    return queue.claim(decision_id, key_name=key.name, now=received_at)


@router.post("/reviews/{decision_id}/resolution",
             responses={s: _PROBLEM for s in (401, 403, 404, 409, 422, 503)})
def resolve_review(
    decision_id: DecisionId,
    body: Annotated[ResolutionBody, Body()],
    key: ReviewKey,
    queue: QueueDep,
    services: ServicesDep,
    received_at: ReceivedAt,
) -> dict[str, Any]:
    """Approve, decline or escalate; the same call again is a replay; another resolution after a
    final one is a 409. Approve/decline write the review outcome (a training label)."""
    return queue.resolve(services, decision_id, key_name=key.name, resolution=body.resolution,
                         reason=body.reason, note=body.note, now=received_at)

