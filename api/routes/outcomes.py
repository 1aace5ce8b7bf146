"""Outcomes as they become known: kept as labels and added to the online history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from api.deps import OutcomesKey, ReceivedAt, ServicesDep, StoreDep
from api.problems import PROBLEM_JSON
from api.schemas import Outcome, OutcomeResponse
from triage.decision.audit_flow import record_outcome

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["outcomes"])
_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "problem+json"}


@router.post(
    "/outcomes",
    response_model=OutcomeResponse,
    responses={s: _PROBLEM for s in (401, 403, 413, 422, 503)},
)
def post_outcome(
    outcome: Annotated[Outcome, Body()],
    key: OutcomesKey,
    services: ServicesDep,
    store: StoreDep,
    received_at: ReceivedAt,
) -> dict[str, Any]:
    """A delivery, cancellation, chargeback, review or inspection; posting the same one twice is harmless."""
    return record_outcome(services, store, outcome.model_dump(), received_at=received_at, api_key=key.name)
