"""What is loaded, and reloading it without a restart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import AdminKey, ReadKey, ServicesDep, StateDep
from api.problems import PROBLEM_JSON
from api.reload import reload_services

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["models"])
_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "problem+json"}


@router.get("/models", responses={s: _PROBLEM for s in (401, 403, 503)})
def get_models(key: ReadKey, services: ServicesDep) -> dict[str, Any]:
    """Loaded models (names, versions, aliases) and the policy version."""
    return services.describe()


@router.post("/admin/reload", responses={s: _PROBLEM for s in (401, 403, 500, 503)})
async def reload(key: AdminKey, state: StateDep) -> dict[str, Any]:
    """Load the champion models and the active policy again and swap them in atomically.

    Requests in flight finish with what they started with; if loading fails, the
    current models stay and the error is returned. Other workers follow within
    `reload_poll_seconds`.
    """
    services = await run_in_threadpool(reload_services, state, announce=True)
    return {"reloaded": True, **services.describe()}
