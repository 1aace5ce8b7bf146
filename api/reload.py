"""Swapping the decision machinery without a restart, in every worker.

A reload builds a complete new `DecisionService` first; only then is the reference
replaced (one assignment), so no request sees half a reload and a failed load leaves
the running one in place. The reload also writes a new generation to the store's
metadata; every worker polls it and reloads when it changes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from api.deps import AppState
from triage.audit import purge_expired
from triage.decision.service import DecisionService

__all__ = ["reload_services", "install_services", "background_loop", "GENERATION_KEY"]

log = logging.getLogger("triage.api")
GENERATION_KEY = "reload_generation"


def install_services(state: AppState, services: DecisionService) -> None:
    state.services = services  # the atomic swap
    state.metrics.set_versions(services.policy_version, services.model_versions())


def reload_services(state: AppState, *, announce: bool) -> DecisionService:
    with state.reload_lock:
        services = state.loader(state.settings)
        install_services(state, services)
        if announce and state.store is not None:
            state.store.set_meta(GENERATION_KEY, services.generation)
        state.reload_generation = services.generation if announce else state.reload_generation
        log.info(
            "services loaded",
            extra={"policy_version": services.policy_version, "models": services.model_versions()},
        )
        return services


def _poll_once(state: AppState) -> None:
    if state.store is None:
        return
    generation = state.store.get_meta(GENERATION_KEY)
    if generation is not None and generation != state.reload_generation:
        log.info("another worker reloaded; following", extra={"generation": generation})
        reload_services(state, announce=False)
        state.reload_generation = generation


def _purge_expired(state: AppState) -> None:
    if state.store is None:
        return
    counts = purge_expired(state.settings, now=datetime.now(UTC), store=state.store)
    if any(counts.values()):
        log.info("retention purge", extra={"retention_days": state.settings.retention_days, **counts})


async def background_loop(state: AppState) -> None:
    """Follow reloads made by other workers; purge audit rows past retention daily."""
    next_purge = 0.0
    next_freeze = 0.0
    loop = asyncio.get_running_loop()
    while True:
        try:
            await run_in_threadpool(_poll_once, state)
            if loop.time() >= next_freeze:
                # objects observed since (new history entries) join the frozen set, so full
                # collections stay short as the state grows; O(1), nothing is scanned
                gc.freeze()
                next_freeze = loop.time() + 600
            if loop.time() >= next_purge:
                await run_in_threadpool(_purge_expired, state)
                next_purge = loop.time() + 86_400
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task failed; retrying")
        await asyncio.sleep(state.settings.reload_poll_seconds)
