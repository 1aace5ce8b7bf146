"""The decision core behind the API: features, scores, policy, audit, in that order.

`DecisionService` holds what one generation of the service decides with — the policy,
the model bundles, the online feature store — and turns one validated event into a
decision (`decide`). It never fails for a model or the online store: those failures
make the decision rules-only and `degraded`. A reload builds a new `DecisionService`
and swaps the reference; requests in flight finish with the one they started with.

`decide_events_async` is the one function the routes call: it applies idempotency (same
key and same body → the stored decision; same key, other body → `ConflictError`),
decides what is new, writes every decision to the audit store durably *before*
returning it (an unreachable store raises `UnavailableError`: no decision without a
record), then updates the online state. `record_outcome` does the same for outcomes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from triage.errors import ConflictError, TriageError
from triage.policy_fields import policy_fields
from triage.stores import DecisionRecord, OutcomeRecord, Store

__all__ = [
    "EventKind",
    "OnlineFeatures",
    "ModelBundle",
    "DecisionService",
    "Decided",
    "ItemResult",
    "SCORE_KEYS",
    "EVENT_ID",
    "EVENT_TIME",
    "idempotency_key",
    "decide_events_async",
    "record_outcome",
    "outcome_entity",
    "load_services",
]

log = logging.getLogger("triage.service")

EventKind = Literal["order", "return"]
SCORE_KEYS: dict[str, tuple[str, ...]] = {
    "order": ("p_late", "p_fraud"),
    "return": ("p_restock", "p_refurbish", "p_liquidate", "p_return_to_vendor", "p_recycle", "p_abuse"),
}
EVENT_ID = {"order": "order_id", "return": "return_id"}
EVENT_TIME = {"order": "created_at", "return": "requested_at"}


class OnlineFeatures(Protocol):
    """The online state as the service uses it (implemented by `features.online`)."""

    def features(self, kind: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event's features as of its own time (created_at / requested_at)."""

    def observe(self, kind: str, event: Mapping[str, Any]) -> None:
        """Add a decided event to the history."""

    def observe_outcome(self, type_: str, row: Mapping[str, Any]) -> None:
        """Add an outcome to the history."""


class ModelBundle(Protocol):
    """What scoring needs from a model bundle (`models.bundle.Bundle`)."""

    name: str
    entity: str
    versions: dict

    def encode_row(self, values: Mapping[str, object]) -> Any: ...

    def predict_row(self, values: Mapping[str, object], encoded: Any = None) -> dict[str, float]: ...

    def explain_row(self, values: Mapping[str, object], *, k: int = 3, encoded: Any = None,
                    method: str = "path") -> list: ...


PolicyDecide = Callable[..., Any]  # triage.policy.decide_order / decide_return


def bundle_version(bundle: Any) -> str:
    """The registry version, else a local bundle's training time, else "unversioned"."""
    v = getattr(bundle, "versions", None) or {}
    for key in ("registry_version", "version"):
        if v.get(key) is not None:
            return str(v[key])
    if v.get("trained_at"):
        return f"local-{v['trained_at']}"
    return "unversioned"


@dataclass
class Decided:
    """A decision before it is audited: the response body plus what the audit keeps."""

    response: dict[str, Any]
    features: dict[str, Any] | None
    latency_ms: float


@dataclass
class DecisionService:
    """One generation of the decision machinery; immutable once built, swapped on reload."""

    policy: Any
    decide_order: PolicyDecide
    decide_return: PolicyDecide
    bundles: dict[str, list[Any]] = field(default_factory=lambda: {"order": [], "return": []})
    online: OnlineFeatures | None = None
    problems: list[str] = field(default_factory=list)  # load-time: configured but failed (→ degraded)
    aliases: dict[str, str] = field(default_factory=dict)  # model name → registry alias or path
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    generation: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    explain_k: int = 3

    @property
    def policy_version(self) -> str:
        return str(getattr(self.policy, "policy_version", "unknown"))

    def model_versions(self, kind: str | None = None) -> dict[str, str]:
        kinds = [kind] if kind else list(self.bundles)
        return {b.name: bundle_version(b) for k in kinds for b in self.bundles.get(k, [])}

    def failed(self, kind: str) -> bool:
        return any(p.startswith(f"{kind}:") for p in self.problems)

    def describe(self) -> dict[str, Any]:
        return {
            "policy_version": self.policy_version,
            "models": [
                {
                    "name": b.name,
                    "entity": k,
                    "version": bundle_version(b),
                    "alias": self.aliases.get(b.name),
                    "scores": list(getattr(b, "output_columns", []) or []),
                }
                for k in self.bundles
                for b in self.bundles[k]
            ],
            "online_store": _online_name(self.online),
            "problems": list(self.problems),
            "loaded_at": _iso(self.loaded_at),
            "generation": self.generation,
        }

    # ------------------------------------------------------------------ decide
    def decide(self, kind: EventKind, event: Mapping[str, Any]) -> Decided:
        """Features, scores and the policy for one validated event (no audit, no state change)."""
        return self.decide_many(kind, [event])[0]

    def decide_many(self, kind: EventKind, events: Sequence[Mapping[str, Any]]) -> list[Decided]:
        """`decide` for many events at once: features from one look at the online state, ONE
        predict per model head for the whole batch, then the policy per event. Every event
        sees the batch's events strictly before it in event time (never a same-time one), as
        if decided one by one in time order — offline parity (`OnlineState.features_many`);
        the batch reaches the shared state only after its audit commit."""
        if not events:
            return []
        started = time.perf_counter()
        n = len(events)
        degraded = self.failed(kind)
        bundles = self.bundles.get(kind, [])
        feats: list[dict[str, Any] | None] = [None] * n
        if self.online is not None:
            try:
                many = getattr(self.online, "features_many", None)
                got = many(kind, events) if many is not None else [self.online.features(kind, e) for e in events]
                feats = list(got)
            except Exception:
                log.exception("online features failed; deciding rules-only", extra={"kind": kind})
                degraded = True
        elif bundles:
            degraded = True  # models without features cannot score
        scores: list[dict[str, float | None]] = [dict.fromkeys(SCORE_KEYS[kind]) for _ in range(n)]
        encoded: dict[str, Any] = {}  # bundle name → its encoding of all the rows (per head)
        model_failed = False
        if feats[0] is not None:
            rows: list[Mapping[str, Any]] = feats  # type: ignore[assignment]
            for b in bundles:
                try:
                    enc, got = _score_rows(b, rows)
                    encoded[b.name] = enc
                    for i, g in enumerate(got):
                        scores[i].update(g)
                except Exception:
                    log.exception("model failed; its scores are absent", extra={"model": b.name})
                    model_failed = True
        shared_ms = (time.perf_counter() - started) * 1000 / n
        versions = self.model_versions(kind)
        decide = self.decide_order if kind == "order" else self.decide_return
        bad = degraded or model_failed
        bodies: list[Any] = []
        events_for_policy: list[dict[str, Any]] = []
        own_ms: list[float] = []
        for i, event in enumerate(events):
            t0 = time.perf_counter()
            features = feats[i]
            policy_event = {**(features or {}), **_flat(event), **policy_fields(kind, event, features)}
            bodies.append(decide(policy_event, scores[i], self.policy, model_versions=versions, degraded=bad))
            events_for_policy.append(policy_event)
            own_ms.append((time.perf_counter() - t0) * 1000)
        # reason codes only for the decisions that are not a plain release: one attribution
        # call per model for all of them, then those decisions again with their reasons
        want = [i for i, d in enumerate(bodies) if encoded and _wants_reasons(d)]
        if want:
            t0 = time.perf_counter()
            explained = self._explain_many(bundles, [feats[i] or {} for i in want], encoded, want)
            for i, explanations in zip(want, explained, strict=True):
                if explanations:
                    bodies[i] = decide(events_for_policy[i], scores[i], self.policy, explanations=explanations,
                                       model_versions=versions, degraded=bad)
            each = (time.perf_counter() - t0) * 1000 / len(want)
            for i in want:
                own_ms[i] += each
        out = []
        for i, decision in enumerate(bodies):
            body = decision.to_dict() if hasattr(decision, "to_dict") else dict(decision)
            body["models"] = body.pop("model_versions", versions)
            body["scores"] = {k: body.get("scores", {}).get(k, scores[i].get(k)) for k in SCORE_KEYS[kind]}
            out.append(Decided(response=body, features=feats[i], latency_ms=shared_ms + own_ms[i]))
        return out

    def _explain_many(
        self, bundles: Sequence[Any], features: Sequence[Mapping[str, Any]], encoded: Mapping[str, Any],
        rows: Sequence[int],
    ) -> list[list]:
        """Each wanted row's explanations from every bundle that scored it (`rows`: their
        positions in the encoded matrices), one `explain_rows` call per bundle."""
        from triage.policy import Explanation

        out: list[list] = [[] for _ in rows]
        for b in bundles:
            if b.name not in encoded:
                continue
            try:
                enc = encoded[b.name]
                many = getattr(b, "explain_rows", None)
                if isinstance(enc, list):  # a bundle without batch encoding: its own row objects
                    got = [b.explain_row(f, k=self.explain_k, encoded=enc[i], method="path")
                           for f, i in zip(features, rows, strict=True)]
                elif many is not None:
                    sub = {t: m[list(rows)] for t, m in enc.items()}
                    got = many(features, k=self.explain_k, encoded=sub, method="path")
                else:
                    got = [b.explain_row(f, k=self.explain_k, encoded={t: m[[i]] for t, m in enc.items()},
                                         method="path") for f, i in zip(features, rows, strict=True)]
                for acc, rs in zip(out, got, strict=True):
                    acc.extend(Explanation(code=f"{b.name}.{r.code}", text=r.text, weight=r.weight, score=b.name)
                               for r in rs)
            except Exception:
                log.exception("reason codes failed", extra={"model": b.name})
        return out

    def observe_many(self, kind: str, events: Sequence[Mapping[str, Any]]) -> None:
        if self.online is None or not events:
            return
        try:
            many = getattr(self.online, "observe_many", None)
            if many is not None:
                many(kind, events)
            else:
                for e in events:
                    self.online.observe(kind, e)
        except Exception:
            log.exception("online state update failed", extra={"kind": kind})

    def observe(self, kind: str, event: Mapping[str, Any]) -> None:
        if self.online is None:
            return
        try:
            self.online.observe(kind, event)
        except Exception:
            log.exception("online state update failed", extra={"kind": kind})

    def observe_outcome(self, type_: str, row: Mapping[str, Any]) -> None:
        if self.online is None:
            return
        try:
            self.online.observe_outcome(type_, row)
        except Exception:
            log.exception("online state update failed", extra={"outcome_type": type_})


def _online_name(online: Any) -> str | None:
    if online is None:
        return None
    describe = getattr(online, "describe", None)
    return describe() if callable(describe) else type(online).__name__


def _wants_reasons(decision: Any) -> bool:
    """Reason codes are costly: compute them for every decision that is not a plain release."""
    actions = tuple(getattr(decision, "actions", ()) or ())
    return getattr(decision, "kind", "order") == "return" or actions != ("release",)


def _score_rows(bundle: Any, feats: Sequence[Mapping[str, Any]]) -> tuple[Any, list[dict[str, float]]]:
    """One bundle's encoding of all the rows and each row's scores: one vectorised encoding
    ({head: (n, k) matrix}) and ONE predict per head when the bundle offers them
    (`models.bundle.Bundle.encode_rows` / `predict_rows`), else row by row (a list of the
    bundle's own encoded rows)."""
    if hasattr(bundle, "encode_rows") and hasattr(bundle, "predict_rows"):
        if len(feats) == 1:  # a single decision: the cell-by-cell row is cheaper than a column pass
            enc = bundle.encode_row(feats[0])
            return enc, [bundle.predict_row(feats[0], enc)]
        enc = bundle.encode_rows(feats)
        return enc, bundle.predict_rows(enc)
    rows = [bundle.encode_row(f) for f in feats]
    return rows, [bundle.predict_row(f, r) for f, r in zip(feats, rows, strict=True)]


def _flat(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("lines", "customer")}


# ---------------------------------------------------------------------- audit flow


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


_PLAIN = frozenset({str, int, bool, type(None)})


def _jsonable(value: Any) -> Any:
    """A JSON-ready copy: datetimes as ISO text, NaN as None, numpy scalars as Python.
    Exact types are dispatched first (features and bodies are dicts of plain scalars)."""
    t = type(value)
    if t in _PLAIN:
        return value
    if t is float:
        return None if value != value else value
    if t is dict:
        return {k if type(k) is str else str(k): _jsonable(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, float):
        return None if value != value else float(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    return value


def _hash_jsonable(kind: str, plain: Any) -> str:
    canon = json.dumps({"kind": kind, "event": plain}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def idempotency_key(kind: str, event: Mapping[str, Any], header: str | None) -> str:
    if header:
        return f"{kind}:key:{header}"
    return f"{kind}:id:{event[EVENT_ID[kind]]}"


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
) -> _Plan:
    results: list[ItemResult] = [ItemResult() for _ in events]
    plan = _Plan(kind, events, results)
    keys: dict[int, tuple[str, str]] = {}
    plain: dict[int, Any] = {}  # each event as JSON, made once: hashed, then audited
    for i, ev in enumerate(events):
        if isinstance(ev, TriageError):
            results[i].error = ev
            continue
        header = (
            idempotency_header if len(events) == 1 or not idempotency_header else f"{idempotency_header}#{i}"
        )
        plain[i] = _jsonable(ev)
        keys[i] = (idempotency_key(kind, ev, header), _hash_jsonable(kind, plain[i]))
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
    decided_all = services.decide_many(kind, todo_events)
    received = _iso(received_at)
    id_field, time_field = EVENT_ID[kind], EVENT_TIME[kind]
    for i, ev, decided in zip(order, todo_events, decided_all, strict=True):
        key, digest = keys[i]
        decision_id = str(uuid.uuid4())
        event_id = str(ev[id_field])
        response = _jsonable({
            "decision_id": decision_id,
            "kind": kind,
            "event_id": event_id,
            **decided.response,
            "timing_ms": round(decided.latency_ms, 3),
            "received_at": received,
        })
        rec = DecisionRecord(
            decision_id=decision_id,
            kind=kind,
            event_id=event_id,
            event_time=ev[time_field],
            idempotency_key=key,
            body_hash=digest,
            request=plain[i],
            features=_jsonable(decided.features) if decided.features is not None else None,
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
) -> list[ItemResult]:
    """Decide a batch (or one) of validated events, audited before anything is returned.

    An item that is already a `TriageError` (it failed validation) is passed through.
    With a header, item i of a batch uses the key `<header>#<i>` (a single event: the
    header itself). Raises `UnavailableError` when the audit store cannot take the
    records: then nothing is returned, and the online state is untouched.

    The CPU part (features, models, policy: well under a millisecond an event) runs inline;
    the audit commit is awaited as a future, so a request waiting for its group's fsync holds
    no thread. Right after the commit, on the audit writer thread and before this returns,
    the won events are appended to the shared online log (`OnlineState.append_many`): any
    worker's next decision sees them; this worker applies them to its indexes at its next
    feature computation instead of on this response's path. Stores without an async insert
    (wrappers, tests) and their reads run in the thread pool. `offload=True` (batches: up to
    hundreds of milliseconds of CPU) decides in the thread pool instead of on the loop.
    """
    from starlette.concurrency import run_in_threadpool

    inline = bool(getattr(type(store), "reads_inline", False))
    stored: dict[str, DecisionRecord] | None = None
    if len(events) == 1:
        # One event: no lookup before deciding. The insert's ON CONFLICT finds a stored
        # decision under the same key (then `_finish` replays it, or answers 409 for another
        # body), so the semantics are the lookup's; a retry costs one wasted decide
        # (~0.5 ms) instead of every request paying a read. Batches look up first: a whole
        # batch retried would otherwise re-decide a thousand events.
        stored = {}
    elif not inline:
        keys = [idempotency_key(kind, ev, idempotency_header if len(events) == 1 or not idempotency_header
                                else f"{idempotency_header}#{i}")
                for i, ev in enumerate(events) if not isinstance(ev, TriageError)]
        stored = await run_in_threadpool(store.find_decisions, keys) if keys else {}
    if offload:
        plan = await run_in_threadpool(
            lambda: _plan(services, kind, events, store.find_decisions, received_at=received_at,
                          idempotency_header=idempotency_header, api_key=api_key, stored=stored))
    else:
        plan = _plan(services, kind, events, store.find_decisions, received_at=received_at,
                     idempotency_header=idempotency_header, api_key=api_key, stored=stored)
    if not plan.fresh:
        return plan.results
    records = [rec for _, rec in plan.fresh.values()]
    online = services.online
    append = getattr(online, "append_many", None)
    insert_async = getattr(type(store), "insert_decisions_async", None)
    if append is not None and insert_async is not None:

        def after(written: list[DecisionRecord]) -> None:  # on the writer thread, once durable
            try:
                append(kind, _won(plan, written))
            except Exception:
                log.exception("online log append failed", extra={"kind": kind})

        written = await insert_async(store, records, after=after)
    else:
        if insert_async is not None:
            written = await insert_async(store, records)
        else:
            written = await run_in_threadpool(store.insert_decisions, records)
        services.observe_many(kind, _won(plan, written))
    return _finish(plan, written)


# ---------------------------------------------------------------------- outcomes

_OUTCOME_ENTITY = {
    "delivery": ("order_id", ("delivered_at", "shipped_at", "cancelled_at")),
    "cancellation": ("order_id", ("cancelled_at",)),
    "chargeback": ("order_id", ("reported_at",)),
    "review": ("order_id", ("reported_at",)),
    "inspection": ("return_id", ("inspected_at",)),
    "inventory_sync": ("node_id", ("synced_at",)),
}


def outcome_entity(outcome: Mapping[str, Any]) -> tuple[str, datetime]:
    """(entity id, when it became known) for a validated outcome."""
    id_field, time_fields = _OUTCOME_ENTITY[outcome["type"]]
    for f in time_fields:
        if outcome.get(f) is not None:
            return str(outcome[id_field]), outcome[f]
    raise ValueError(f"{outcome['type']} outcome has none of {', '.join(time_fields)}")


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
    body = _jsonable(outcome)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
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
        "known_at": _iso(kept.known_at),
        "duplicate": duplicate,
    }


# ---------------------------------------------------------------------- loading


def _load_bundles(settings: Any) -> tuple[dict[str, list[Any]], list[str], dict[str, str]]:
    """Each risk model's bundle, one at a time: a failure is a problem, not a crash.

    From `settings.bundle_dir` (`<name>.joblib`, as `training.registry.export_bundles`
    writes them) when set, else the registry's `champion` alias. A model with no file
    or no champion is not configured (its scores are null, not degraded).
    """
    from models import SPECS, load_bundle

    bundles: dict[str, list[Any]] = {"order": [], "return": []}
    problems: list[str] = []
    aliases: dict[str, str] = {}
    client = None
    for spec in SPECS.values():
        try:
            if settings.bundle_dir is not None:
                path = settings.bundle_dir / f"{spec.name}.joblib"
                if not path.exists():
                    continue
                bundle, aliases[spec.name] = load_bundle(path), str(path)
            else:
                from training.registry import CHAMPION, configure, load_registered_bundle

                if client is None:
                    client = configure(settings)
                try:
                    mv = client.get_model_version_by_alias(spec.name, CHAMPION)
                except Exception:  # no such model or no champion: not configured
                    continue
                bundle = load_registered_bundle(client, spec.name, str(mv.version))
                aliases[spec.name] = f"models:/{spec.name}@{CHAMPION}"
        except Exception as exc:  # configured but unusable → degraded, and /readyz says why
            problems.append(f"{spec.entity}: model {spec.name} cannot be loaded: {type(exc).__name__}: {exc}")
            log.exception("model cannot be loaded", extra={"model": spec.name})
            continue
        bundles.setdefault(bundle.entity, []).append(bundle)
    return bundles, problems, aliases


def load_services(settings: Any, *, online: OnlineFeatures | None = None) -> DecisionService:
    """Build a `DecisionService` from settings: the active policy, the champion bundles and
    the online state (`online`, else opened from settings: `triage.stores.online.open_online`).

    The policy must load (a broken policy is a `ConfigError`: nothing to decide with).
    A bundle that cannot be loaded is recorded in `problems` — its event kind then
    decides rules-only and `degraded` — rather than failing the start.
    """
    from triage import policy as pol

    policy = pol.load_policy(settings.policy_path) if settings.policy_path else pol.default_policy()
    bundles, problems, aliases = _load_bundles(settings)
    if online is None:
        from triage.stores.online import open_online

        online = open_online(settings)
    return DecisionService(
        policy=policy,
        decide_order=pol.decide_order,
        decide_return=pol.decide_return,
        bundles=bundles,
        online=online,
        problems=problems,
        aliases=aliases,
    )
