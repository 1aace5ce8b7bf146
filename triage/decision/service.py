"""The decision core behind the API: features, scores, policy, in that order.

`DecisionService` holds what one generation of the service decides with — the policy,
the model bundles, the online feature store — and turns one validated event into a
decision (`decide`). It never fails for a model or the online store: those failures
make the decision rules-only and `degraded`. A reload builds a new `DecisionService`
and swaps the reference; requests in flight finish with the one they started with.

It imports nothing of what is built on it: the write path around a decision (idempotency,
the audit record before any state change: `decide_events_async`, `record_outcome`) is
`triage.decision.audit_flow`, building a service from settings (`load_services`) is
`triage.decision.model_loading`; both import this module, never the other way. The event
vocabulary is `triage.events`, the record format `triage.records`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from triage.decision.interfaces import ModelBundle, OnlineStateProtocol
from triage.events import SCORE_KEYS, EventKind
from triage.policy import Decision, Policy, decide_order, decide_orders, with_explanations
from triage.policy.fields import policy_fields
from triage.records import iso

__all__ = ["OnlineStateProtocol", "ModelBundle", "DecisionService", "Decided"]

log = logging.getLogger("triage.service")


PolicyDecide = Callable[..., Any]  # triage.policy.decide_order / decide_return


def bundle_version(bundle: ModelBundle) -> str:
    """The registry version, else a local bundle's training time, else "unversioned"."""
    v = bundle.versions or {}
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

    policy: Policy
    decide_order: PolicyDecide
    decide_return: PolicyDecide
    bundles: dict[str, list[ModelBundle]] = field(default_factory=lambda: {"order": [], "return": []})
    online: OnlineStateProtocol | None = None
    problems: list[str] = field(default_factory=list)  # load-time: configured but failed (→ degraded)
    aliases: dict[str, str] = field(default_factory=dict)  # model name → registry alias or path
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    generation: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    explain_k: int = 3

    @property
    def policy_version(self) -> str:
        return str(self.policy.policy_version)

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
                    "scores": list(b.output_columns),
                }
                for k in self.bundles
                for b in self.bundles[k]
            ],
            "online_store": _online_name(self.online),
            "problems": list(self.problems),
            "loaded_at": iso(self.loaded_at),
            "generation": self.generation,
        }

    # ------------------------------------------------------------------ decide
    def decide(self, kind: EventKind, event: Mapping[str, Any]) -> Decided:
        """Features, scores and the policy for one validated event (no audit, no state change)."""
        return self.decide_many(kind, [event])[0]

    def decide_many(self, kind: EventKind, events: Sequence[Mapping[str, Any]], *,
                    concurrent: bool = False) -> list[Decided]:
        """`decide` for many events at once: features from one look at the online state, ONE
        predict per model head for the whole batch, then the policy per event. Every event
        sees the batch's events strictly before it in event time (never a same-time one), as
        if decided one by one in time order — offline parity (`OnlineState.features_many`);
        the batch reaches the shared state only after its audit commit. `concurrent=True`:
        independent requests decided together (`triage.decision.coalesce`); each sees only the state,
        exactly as if decided alone."""
        if not events:
            return []
        started = time.perf_counter()
        n = len(events)
        degraded = self.failed(kind)
        bundles = self.bundles.get(kind, [])
        feats: list[dict[str, Any] | None] = [None] * n
        if self.online is not None:
            try:
                feats = list(self.online.features_many(kind, events, concurrent=concurrent))
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
        if decide is decide_order:  # the policy's own: the batch at once (`decide_orders`)
            t0 = time.perf_counter()
            for i, event in enumerate(events):
                features = feats[i]
                events_for_policy.append({**(features or {}), **_flat(event), **policy_fields(kind, event, features)})
            bodies = list(decide_orders(events_for_policy, scores, self.policy, model_versions=versions, degraded=bad))
            own_ms = [(time.perf_counter() - t0) * 1000 / n] * n
        else:
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
                if not explanations:
                    continue
                if isinstance(bodies[i], Decision):  # the model's reasons only add to the rules'
                    bodies[i] = with_explanations(bodies[i], explanations, self.policy)
                else:  # another decide function: ask it again, with the explanations
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
        self, bundles: Sequence[ModelBundle], features: Sequence[Mapping[str, Any]], encoded: Mapping[str, Any],
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
                sub = {t: m[list(rows)] for t, m in enc.items()}
                got = b.explain_rows(features, k=self.explain_k, encoded=sub, method="path")
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
            self.online.observe_many(kind, events)
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


def _online_name(online: OnlineStateProtocol | None) -> str | None:
    return None if online is None else online.describe()


def _wants_reasons(decision: Any) -> bool:
    """Reason codes are costly: compute them for every decision that is not a plain release."""
    actions = tuple(getattr(decision, "actions", ()) or ())
    return getattr(decision, "kind", "order") == "return" or actions != ("release",)


def _score_rows(bundle: ModelBundle, feats: Sequence[Mapping[str, Any]]) -> tuple[Any, list[dict[str, float]]]:
    """One bundle's encoding of all the rows ({head: (n, k) matrix}) and each row's scores:
    one vectorised encoding and ONE predict per head (`models.bundle.Bundle.encode_rows` /
    `predict_rows`)."""
    if len(feats) == 1:  # a single decision: the cell-by-cell row is cheaper than a column pass
        enc = bundle.encode_row(feats[0])
        return enc, [bundle.predict_row(feats[0], enc)]
    enc = bundle.encode_rows(feats)
    return enc, bundle.predict_rows(enc)


def _flat(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("lines", "customer")}
