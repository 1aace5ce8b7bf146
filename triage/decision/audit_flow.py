"""The write path: idempotency, then the audit record, then the online state.

Kept apart from the decision machinery (`triage.decision.service`) because it is about records,
not scores: `decide_events_async` is the one function the routes call. It applies
idempotency (same key and same body → the stored decision; same key, other body →
`ConflictError`), decides what is new with a `DecisionService`, writes every decision
to the audit store durably *before* returning it (an unreachable store raises
`UnavailableError`: no decision without a record), then updates the online state.
`record_outcome` does the same for outcomes. The record format (`jsonable`, the hashes,
the keys) is `triage.records`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from triage.decision.service import DecisionService
from triage.errors import ConflictError, TriageError
from triage.events import EVENT_ID, EVENT_TIME, EventKind
from triage.records import body_hash, idempotency_key, iso, jsonable, outcome_entity, outcome_hash
from triage.stores import DecisionRecord, OutcomeRecord, Store

__all__ = [
    "ItemResult",
    "decide_events_async",
    "decide_requests_async",
    "record_outcome",
]

log = logging.getLogger("triage.service")  # the name operators filter on, unchanged by the split


def _conflict(kind: str, key: str, existing: DecisionRecord) -> ConflictError:
    stored = f"stored decision {existing.decision_id}"
    if key.startswith(f"{kind}:key:"):
        header = key.removeprefix(f"{kind}:key:")
        return ConflictError(f"Idempotency-Key {header!r} was already used with a different body ({stored})")
    id_field = EVENT_ID[kind]
    return ConflictError(
        f"{id_field} {existing.event_id!r} was already decided with a different body ({stored}); "
        f"an amended {kind} needs a new {id_field}"
    )


@dataclass
class ItemResult:
    """One event's outcome: a decision (new or replayed) or an error."""

    decision: dict[str, Any] | None = None
    replayed: bool = False
    error: TriageError | None = None


@dataclass(frozen=True)
class _Request:
    """What one request brings besides its event (a coalesced group keeps them apart)."""

    received_at: datetime
    header: str | None
    api_key: str | None


@dataclass
class _Plan:
    """`decide_events_async` between deciding and the audit commit."""

    kind: EventKind
    events: Sequence[Mapping[str, Any] | TriageError]
    results: list[ItemResult]
    fresh: dict[str, tuple[int, DecisionRecord]] = field(default_factory=dict)
    repeats: list[tuple[int, str, str]] = field(default_factory=list)


def _plan(
    services: DecisionService,
    kind: EventKind,
    events: Sequence[Mapping[str, Any] | TriageError],
    stored_lookup: Callable[[list[str]], dict[str, DecisionRecord]] | None,
    *,
    received_at: datetime,
    idempotency_header: str | None,
    api_key: str | None,
    stored: dict[str, DecisionRecord] | None = None,
    requests: Sequence[_Request] | None = None,
    headers: Sequence[str | None] | None = None,
) -> _Plan:
    """Idempotency, then the decisions and their records. `requests`: when the events are
    separate requests decided together (`triage.decision.coalesce`), each one's own received time,
    Idempotency-Key header and API key — and they do not see each other's events.
    `headers`: each event's own idempotency key (the bus's event ids), instead of
    `<idempotency_header>#<i>`."""
    results: list[ItemResult] = [ItemResult() for _ in events]
    plan = _Plan(kind, events, results)
    keys: dict[int, tuple[str, str]] = {}
    valid = [i for i, ev in enumerate(events) if not isinstance(ev, TriageError)]
    # each event as JSON, made once: hashed, then audited (one `jsonable` pass for the batch)
    plain: dict[int, Any] = dict(zip(valid, jsonable([events[i] for i in valid]), strict=True))
    for i, ev in enumerate(events):
        if isinstance(ev, TriageError):
            results[i].error = ev
            continue
        if requests is not None:
            header = requests[i].header
        else:
            header = _header(i, len(events), idempotency_header, headers)
        keys[i] = (idempotency_key(kind, ev, header), body_hash(kind, plain[i]))
    if stored is None:
        stored = stored_lookup([k for k, _ in keys.values()]) if stored_lookup is not None and keys else {}
    todo: dict[str, int] = {}  # new idempotency key → the first item that carries it
    for i, (key, digest) in keys.items():
        prior = stored.get(key)
        if prior is not None:
            if prior.body_hash == digest:
                results[i].decision, results[i].replayed = prior.response, True
            else:
                results[i].error = _conflict(kind, key, prior)
        elif key in todo:
            plan.repeats.append((i, key, digest))  # later items of the batch with a key in `todo`
        else:
            todo[key] = i
    if not todo:
        return plan

    order = list(todo.values())
    todo_events: list[Mapping[str, Any]] = [events[i] for i in order]  # type: ignore[misc]
    if requests is not None:
        decided_all = services.decide_many(kind, todo_events, concurrent=True)
    else:
        decided_all = services.decide_many(kind, todo_events)
    received = iso(received_at)
    id_field, time_field = EVENT_ID[kind], EVENT_TIME[kind]
    raw: list[dict[str, Any]] = []
    for i, ev, decided in zip(order, todo_events, decided_all, strict=True):
        if requests is not None:
            received = iso(requests[i].received_at)
        raw.append({
            "decision_id": str(uuid.uuid4()),
            "kind": kind,
            "event_id": str(ev[id_field]),
            **decided.response,
            "timing_ms": round(decided.latency_ms, 3),
            "received_at": received,
        })
    # the responses and the features as JSON: one `jsonable` pass each for the whole batch
    responses = jsonable(raw)
    feature_rows = jsonable([d.features for d in decided_all])
    for i, ev, decided, response, features in zip(order, todo_events, decided_all, responses, feature_rows,
                                                  strict=True):
        key, digest = keys[i]
        if requests is not None:
            received_at, api_key = requests[i].received_at, requests[i].api_key
        decision_id, event_id = response["decision_id"], response["event_id"]
        rec = DecisionRecord(
            decision_id=decision_id,
            kind=kind,
            event_id=event_id,
            event_time=ev[time_field],
            idempotency_key=key,
            body_hash=digest,
            request=plain[i],
            features=features,
            scores=response.get("scores", {}),
            actions=list(response.get("actions", [])),
            reasons=response.get("reasons", []),
            priority=response.get("priority"),
            policy_version=response.get("policy_version"),
            models=response.get("models", {}),
            degraded=bool(response.get("degraded")),
            latency_ms=decided.latency_ms,
            received_at=received_at,
            api_key=api_key,
            response=response,
        )
        plan.fresh[key] = (i, rec)
    return plan


def _header(i: int, n: int, idempotency_header: str | None, headers: Sequence[str | None] | None) -> str | None:
    """Item i's key: its own (`headers`), else the request's header (`<header>#<i>` in a batch)."""
    if headers is not None:
        return headers[i]
    return idempotency_header if n == 1 or not idempotency_header else f"{idempotency_header}#{i}"


def _won(plan: _Plan, written: Sequence[DecisionRecord]) -> list[Mapping[str, Any]]:
    """The events whose records are the stored ones (not beaten by a concurrent request)."""
    by_id = {w.decision_id for w in written}
    return [plan.events[i] for i, rec in plan.fresh.values() if rec.decision_id in by_id]  # type: ignore[misc]


def _finish(plan: _Plan, written: Sequence[DecisionRecord]) -> list[ItemResult]:
    results, kind = plan.results, plan.kind
    by_key = {w.idempotency_key: w for w in written}
    for key, (i, rec) in plan.fresh.items():
        won = by_key[key]
        if won.decision_id != rec.decision_id:  # a concurrent request stored first
            if won.body_hash == rec.body_hash:
                results[i].decision, results[i].replayed = won.response, True
            else:
                results[i].error = _conflict(kind, key, won)
        else:
            results[i].decision = rec.response
    for i, key, digest in plan.repeats:  # the same key twice in one batch: the first one decided
        won = by_key[key]
        if won.body_hash == digest:
            results[i].decision, results[i].replayed = won.response, True
        else:
            results[i].error = _conflict(kind, key, won)
    return results


async def decide_events_async(
    services: DecisionService,
    store: Store,
    kind: EventKind,
    events: Sequence[Mapping[str, Any] | TriageError],
    *,
    received_at: datetime,
    idempotency_header: str | None = None,
    api_key: str | None = None,
    offload: bool = False,
    idempotency_keys: Sequence[str | None] | None = None,
) -> list[ItemResult]:
    """Decide a batch (or one) of validated events, audited before anything is returned.

    An item that is already a `TriageError` (it failed validation) is passed through.
    With a header, item i of a batch uses the key `<header>#<i>` (a single event: the
    header itself); `idempotency_keys` gives each item its own key instead (None: its
    event id), as the bus consumer does with its messages' event ids. Raises `UnavailableError` when the audit store cannot take the
    records: then nothing is returned, and the online state is untouched.

    The CPU part (features, models, policy: well under a millisecond an event) runs inline;
    the audit commit is awaited as a future, so a request waiting for its group's fsync holds
    no thread. Right after the commit, on the audit writer thread and before this returns,
    the won events are appended to the shared online log (`OnlineState.append_many`): any
    worker's next decision sees them; this worker applies them to its indexes at its next
    feature computation instead of on this response's path. A store whose reads are not
    inline (`Store.reads_inline`) is read in the thread pool. `offload=True` (batches: up to
    hundreds of milliseconds of CPU) decides in the thread pool instead of on the loop.
    """
    from starlette.concurrency import run_in_threadpool

    inline = store.reads_inline
    stored: dict[str, DecisionRecord] | None = None
    if len(events) == 1:
        # One event: no lookup before deciding. The insert's ON CONFLICT finds a stored
        # decision under the same key (then `_finish` replays it, or answers 409 for another
        # body), so the semantics are the lookup's; a retry costs one wasted decide
        # (~0.5 ms) instead of every request paying a read. Batches look up first: a whole
        # batch retried would otherwise re-decide a thousand events.
        stored = {}
    elif not inline:
        keys = [idempotency_key(kind, ev, _header(i, len(events), idempotency_header, idempotency_keys))
                for i, ev in enumerate(events) if not isinstance(ev, TriageError)]
        stored = await run_in_threadpool(store.find_decisions, keys) if keys else {}
    if offload:
        plan = await run_in_threadpool(
            lambda: _plan(services, kind, events, store.find_decisions, received_at=received_at,
                          idempotency_header=idempotency_header, api_key=api_key, stored=stored,
                          headers=idempotency_keys))
    else:
        plan = _plan(services, kind, events, store.find_decisions, received_at=received_at,
                     idempotency_header=idempotency_header, api_key=api_key, stored=stored,
                     headers=idempotency_keys)
    return await _commit(services, store, kind, plan)


async def decide_requests_async(
    services: DecisionService,
    store: Store,
    kind: EventKind,
    requests: Sequence[tuple[Mapping[str, Any], _Request]],
) -> list[ItemResult]:
    """Separate single-event requests decided together (`triage.decision.coalesce`): one result each,
    with its own idempotency key, received time and API key; the events do not see each
    other (none is audited yet, as for requests decided one after another in flight). As for
    a single event, nothing is looked up first: the insert's ON CONFLICT finds a stored
    decision. Raises `UnavailableError` (for all of them) when the audit store cannot take
    the records."""
    plan = _plan(services, kind, [e for e, _ in requests], store.find_decisions,
                 received_at=requests[0][1].received_at, idempotency_header=None, api_key=None,
                 stored={}, requests=[r for _, r in requests])
    return await _commit(services, store, kind, plan)


async def _commit(services: DecisionService, store: Store, kind: EventKind, plan: _Plan) -> list[ItemResult]:
    """The plan's records, durably stored; then the won events to the online log."""
    if not plan.fresh:
        return plan.results
    records = [rec for _, rec in plan.fresh.values()]
    online = services.online
    if online is None:
        return _finish(plan, await store.insert_decisions_async(records))

    def after(written: list[DecisionRecord]) -> None:  # on the writer thread, once durable
        try:
            online.append_many(kind, _won(plan, written))
        except Exception:
            log.exception("online log append failed", extra={"kind": kind})

    return _finish(plan, await store.insert_decisions_async(records, after=after))


# ---------------------------------------------------------------------- outcomes


def record_outcome(
    services: DecisionService,
    store: Store,
    outcome: Mapping[str, Any],
    *,
    received_at: datetime,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Keep an outcome as a label (durably) and add it to the online history."""
    entity_id, known_at = outcome_entity(outcome)
    body = jsonable(outcome)
    digest = outcome_hash(body)
    rec = OutcomeRecord(
        outcome_id=str(uuid.uuid4()),
        type=str(outcome["type"]),
        entity_id=entity_id,
        known_at=known_at,
        body_hash=digest,
        body=body,
        received_at=received_at,
        api_key=api_key,
    )
    kept = store.insert_outcome(rec)
    duplicate = kept.outcome_id != rec.outcome_id
    if not duplicate:
        services.observe_outcome(rec.type, outcome)
    return {
        "outcome_id": kept.outcome_id,
        "type": kept.type,
        "entity_id": kept.entity_id,
        "known_at": iso(kept.known_at),
        "duplicate": duplicate,
    }
