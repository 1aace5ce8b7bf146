"""The review queue: the audited decisions that ask a person, claimed and resolved.

An item is the latest decision of an event that asks for a human:

| queue | what the decision said |
|---|---|
| `order_review` | an order held for review (`hold_for_review`) |
| `verification` | an order whose customer is to be verified (`verify_customer`) |
| `return_abuse` | a return sent to manual review (`manual_review`) or flagged for abuse by a reason |
| `return_inspection` | a return refunded only after inspection (`refund_after_inspection`) |
| `escalated` | any of these, escalated by a reviewer |

Items are ordered by priority (highest first), then SLA deadline (soonest first). The
deadline is the event's time plus the queue's SLA (`SLA_HOURS`), for an order never later
than its delivery promise. An item leaves the queue when it is approved or declined here,
or when an outcome that settles it is posted (`CLOSING_OUTCOMES`).

A resolution writes the review outcome through the same path as `POST /v1/outcomes`
(`triage.decision.audit_flow.record_outcome`): a `review` outcome of the order or the return
(`confirmed` true when declined: fraud / abuse; false when approved: legitimate), kept as a
label for training (`triage export` → `review_outcomes`, and `fraud_labels` for a declined
order; a declined inspected return counts as confirmed abuse). Claims, resolutions and
their history (key name and time) are in `triage.stores.reviews`. Time is always passed in
(`now`): only the API edge reads the clock.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from triage.decision.audit_flow import record_outcome
from triage.errors import ConflictError, ContractError, NotFoundError
from triage.records import iso, jsonable
from triage.stores import DecisionRecord, Store
from triage.stores.reviews import FINAL, Claim, Resolution, ReviewStore

if TYPE_CHECKING:
    from triage.decision.service import DecisionService

__all__ = [
    "QUEUES",
    "RESOLUTIONS",
    "SLA_HOURS",
    "CLOSING_OUTCOMES",
    "ReviewFilters",
    "ReviewQueue",
    "queue_of",
]

QUEUES = ("order_review", "verification", "return_abuse", "return_inspection", "escalated")
RESOLUTIONS = ("approve", "decline", "escalate")
SLA_HOURS = {"order_review": 4.0, "verification": 2.0, "return_abuse": 48.0, "return_inspection": 72.0}
# outcomes posted for an event (not through a resolution) that settle its review
CLOSING_OUTCOMES = {"order": frozenset({"review", "chargeback", "cancellation"}),
                    "return": frozenset({"review", "inspection"})}


def queue_of(rec: DecisionRecord) -> str | None:
    """The queue a decision's actions put it in, or None when it asks nobody."""
    actions = set(rec.actions or ())
    if rec.kind == "order":
        if "hold_for_review" in actions:
            return "order_review"
        if "verify_customer" in actions:
            return "verification"
        return None
    abuse = any("abuse" in str(r.get("code", "")) for r in rec.reasons or () if isinstance(r, Mapping))
    if "manual_review" in actions or abuse:
        return "return_abuse"
    if "refund_after_inspection" in actions:
        return "return_inspection"
    return None


def _ts(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _deadline(rec: DecisionRecord, queue: str) -> datetime:
    base = rec.event_time + timedelta(hours=SLA_HOURS[queue])
    promised = _ts(rec.request.get("promised_at")) if rec.kind == "order" else None
    return min(base, promised) if promised is not None else base


def _value(rec: DecisionRecord) -> float:
    req = rec.request or {}
    return float(req.get("order_total") or req.get("refund_amount") or 0.0)


@dataclass(frozen=True, kw_only=True)
class ReviewFilters:
    status: str = "open"  # open | resolved | all
    queue: str | None = None
    channel: str | None = None
    fulfillment_node_id: str | None = None
    carrier: str | None = None
    action: str | None = None
    min_value: float | None = None

    def __post_init__(self) -> None:
        if self.status not in ("open", "resolved", "all"):
            raise ContractError(f"status must be one of open, resolved, all; got {self.status!r}")
        if self.queue is not None and self.queue not in QUEUES:
            raise ContractError(f"queue must be one of {', '.join(QUEUES)}; got {self.queue!r}")


@dataclass
class _Item:
    rec: DecisionRecord
    base_queue: str
    queue: str
    deadline: datetime
    resolution: Resolution | None = None
    claim: Claim | None = None
    closed_by: str | None = None  # an outcome type that settled it outside the console

    @property
    def status(self) -> str:
        if self.resolution is not None and self.resolution.final:
            return "resolved"
        return "closed" if self.closed_by else "open"

    def sort_key(self) -> tuple[float, str, str]:
        return (-float(self.rec.priority or 0.0), iso(self.deadline), self.rec.decision_id)


def _cursor_encode(key: tuple[float, str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[float, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        p, d, i = orjson.loads(raw)
        return (float(p), str(d), str(i))
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise ContractError(f"cursor: not a cursor this service returned ({cursor[:40]!r})") from exc


@dataclass
class ReviewQueue:
    """The queue over the audit store and the review store."""

    store: Store
    reviews: ReviewStore
    claim_idle: timedelta = timedelta(minutes=30)
    lookback: timedelta = timedelta(days=30)
    refresh_s: float = 5.0  # a scan of the audit window serves this long (0: every call reads it)
    _cache: tuple[float, list[DecisionRecord], dict[str, set[str]]] | None = field(default=None, repr=False)
    _closing: dict[str, frozenset[str]] = field(default_factory=lambda: dict(CLOSING_OUTCOMES))

    # -- reading ---------------------------------------------------------------
    def _scan(self, now: datetime) -> tuple[list[DecisionRecord], dict[str, set[str]]]:
        """The latest decision of every event in the look-back that asks a person, and the
        settling outcome types posted per event. Reading the audit window is the queue's whole
        cost (~35 µs a record, `bench/bench_reviews.py`), so a scan serves `refresh_s`
        seconds: a new decision shows within that; claims and resolutions are always read fresh."""
        cached = self._cache
        if cached is not None and time.monotonic() - cached[0] < self.refresh_s:
            start = now - self.lookback
            return [r for r in cached[1] if r.event_time >= start], cached[2]
        # per event, its latest decision; only those that ask a person are kept (holding every
        # record of the window alive made the collector walk them all: 2.7x the read's time)
        latest: dict[tuple[str, str], tuple[datetime, DecisionRecord | None]] = {}
        for rec in self.store.iter_decisions(now - self.lookback):
            k = (rec.kind, rec.event_id)
            prior = latest.get(k)
            if prior is None or rec.received_at >= prior[0]:
                latest[k] = (rec.received_at, rec if queue_of(rec) is not None else None)
        recs = [r for _, r in latest.values() if r is not None]
        settling = self._closing["order"] | self._closing["return"]
        closing: dict[str, set[str]] = {}
        events = {r.event_id for r in recs}
        if events:
            for o in self.store.iter_outcomes(events):
                if o.type in settling:
                    closing.setdefault(o.entity_id, set()).add(o.type)
        self._cache = (time.monotonic(), recs, closing)
        return recs, closing

    def _items(self, now: datetime) -> list[_Item]:
        recs, closing = self._scan(now)
        items: list[_Item] = []
        for rec in recs:
            q = queue_of(rec)
            if q is not None:
                items.append(_Item(rec=rec, base_queue=q, queue=q, deadline=_deadline(rec, q)))
        if not items:
            return items
        ids = [it.rec.decision_id for it in items]
        resolutions = self.reviews.resolutions(ids)
        claims = self.reviews.claims(ids)
        for it in items:
            it.resolution = resolutions.get(it.rec.decision_id)
            c = claims.get(it.rec.decision_id)
            it.claim = c if c is not None and c.active(now, self.claim_idle) else None
            if it.resolution is not None and it.resolution.resolution == "escalate":
                it.queue = "escalated"
            settled = closing.get(it.rec.event_id, set()) & self._closing[it.rec.kind]
            if settled and not (it.resolution is not None and it.resolution.final):
                it.closed_by = min(settled)
        return items

    def _item(self, decision_id: str, now: datetime) -> _Item:
        rec = self.store.get_decision(decision_id)
        if rec is None:
            raise NotFoundError(f"no decision {decision_id!r} in the audit")
        q = queue_of(rec)
        if q is None:
            raise NotFoundError(f"decision {decision_id!r} asks for no review (actions: {', '.join(rec.actions)})")
        it = _Item(rec=rec, base_queue=q, queue=q, deadline=_deadline(rec, q))
        it.resolution = self.reviews.resolutions([decision_id]).get(decision_id)
        c = self.reviews.claims([decision_id]).get(decision_id)
        it.claim = c if c is not None and c.active(now, self.claim_idle) else None
        if it.resolution is not None and it.resolution.resolution == "escalate":
            it.queue = "escalated"
        return it

    def _public(self, it: _Item, now: datetime) -> dict[str, Any]:
        rec, req = it.rec, it.rec.request or {}
        return {
            "decision_id": rec.decision_id,
            "kind": rec.kind,
            "event_id": rec.event_id,
            "queue": it.queue,
            "status": it.status,
            "actions": list(rec.actions),
            "scores": rec.scores,
            "reasons": rec.reasons,
            "priority": rec.priority,
            "value_at_stake": round(_value(rec), 2),
            "customer_id": req.get("customer_id"),
            "channel": req.get("channel") or req.get("return_channel"),
            "fulfillment_node_id": req.get("fulfillment_node_id"),
            "carrier": req.get("carrier"),
            "device_id": req.get("device_id"),
            "ip_country": req.get("ip_country"),
            "card_country": req.get("card_country"),
            "event_time": iso(rec.event_time),
            "received_at": iso(rec.received_at),
            "age_seconds": round((now - rec.event_time).total_seconds()),
            "deadline": iso(it.deadline),
            "time_left_seconds": round((it.deadline - now).total_seconds()),
            "claimed_by": it.claim.key_name if it.claim else None,
            "claim_expires_at": iso(it.claim.expires_at(self.claim_idle)) if it.claim else None,
            "resolution": None if it.resolution is None else {
                "resolution": it.resolution.resolution, "reason": it.resolution.reason,
                "note": it.resolution.note, "by": it.resolution.key_name,
                "at": iso(it.resolution.resolved_at), "outcome_id": it.resolution.outcome_id,
            },
            "closed_by_outcome": it.closed_by,
        }

    def list(self, filters: ReviewFilters, *, now: datetime, cursor: str | None = None,
             limit: int = 50) -> dict[str, Any]:
        """One page of items (sorted by priority, then deadline), the counts per queue over every
        filter but `queue`, and the cursor of the next page (None at the end)."""
        f = filters
        wanted: list[_Item] = []
        counts = dict.fromkeys(QUEUES, 0)
        for it in self._items(now):
            st = it.status
            if f.status == "open" and st != "open" or f.status == "resolved" and st == "open":
                continue
            req = it.rec.request or {}
            if f.channel is not None and (req.get("channel") or req.get("return_channel")) != f.channel:
                continue
            if f.fulfillment_node_id is not None and req.get("fulfillment_node_id") != f.fulfillment_node_id:
                continue
            if f.carrier is not None and req.get("carrier") != f.carrier:
                continue
            if f.action is not None and f.action not in it.rec.actions:
                continue
            if f.min_value is not None and _value(it.rec) < f.min_value:
                continue
            counts[it.queue] += 1
            if f.queue is None or it.queue == f.queue:
                wanted.append(it)
        wanted.sort(key=_Item.sort_key)
        if cursor:
            after = _cursor_decode(cursor)
            wanted = [it for it in wanted if it.sort_key() > after]
        page = wanted[:limit]
        more = len(wanted) > limit
        return {
            "as_of": iso(now),
            "items": [self._public(it, now) for it in page],
            "counts": counts,
            "total": sum(counts[q] for q in QUEUES if f.queue is None or q == f.queue),
            "next_cursor": _cursor_encode(page[-1].sort_key()) if more and page else None,
        }

    def get(self, decision_id: str, *, now: datetime, services: DecisionService | None = None) -> dict[str, Any]:
        """The item with its full audit record, its history of claims and resolutions, and the
        customer's history: as audited at the decision, and from the online state now."""
        it = self._item(decision_id, now)
        out = self._public(it, now)
        out["audit"] = it.rec.to_public()
        out["history"] = [
            {"action": h.action, "by": h.key_name, "at": iso(h.at), "reason": h.reason, "note": h.note}
            for h in self.reviews.history(decision_id)
        ]
        out["customer_history"] = self._customer_history(it.rec, now, services)
        return out

    @staticmethod
    def _customer_history(rec: DecisionRecord, now: datetime, services: DecisionService | None) -> dict[str, Any]:
        at_decision = {k: v for k, v in (rec.features or {}).items() if k.startswith("cust_")}
        current: dict[str, Any] | None = None
        problem = None
        online = services.online if services is not None else None
        if online is not None:
            time_field = "created_at" if rec.kind == "order" else "requested_at"
            event = dict(rec.request)
            event[time_field] = now  # as of now: what the online state knows about the customer
            for k in ("created_at", "requested_at", "promised_at"):
                if isinstance(event.get(k), str):
                    event[k] = _ts(event[k])
            try:
                feats = online.features(rec.kind, event)
                current = jsonable({k: v for k, v in feats.items() if k.startswith("cust_")})  # NaN → null
            except Exception as exc:  # noqa: BLE001 - the page shows the audit without it
                problem = f"the online state could not be read ({type(exc).__name__})"
        return {"at_decision": at_decision, "now": current, "problem": problem}

    # -- writing ---------------------------------------------------------------
    def claim(self, decision_id: str, *, key_name: str, now: datetime) -> dict[str, Any]:
        """Hold the item for `key_name`; 409 if another key holds it or it is resolved."""
        it = self._item(decision_id, now)
        if it.resolution is not None and it.resolution.final:
            r = it.resolution
            raise ConflictError(f"decision {decision_id} was already resolved ({r.resolution}) by {r.key_name} "
                                f"at {iso(r.resolved_at)}")
        c = self.reviews.claim(decision_id, key_name, now=now, idle=self.claim_idle)
        if c.key_name != key_name:
            raise ConflictError(f"decision {decision_id} is claimed by {c.key_name} until "
                                f"{iso(c.expires_at(self.claim_idle))}")
        it.claim = c
        return self._public(it, now)

    def resolve(self, services: DecisionService, decision_id: str, *, key_name: str, resolution: str,
                reason: str, note: str | None, now: datetime) -> dict[str, Any]:
        """Approve, decline or escalate; a final resolution writes the review outcome (label)."""
        if resolution not in RESOLUTIONS:
            raise ContractError(f"resolution must be one of {', '.join(RESOLUTIONS)}; got {resolution!r}")
        it = self._item(decision_id, now)
        wanted = Resolution(decision_id=decision_id, event_id=it.rec.event_id, kind=it.rec.kind,
                            resolution=resolution, reason=reason, note=note, key_name=key_name, resolved_at=now)
        stored, blocking = self.reviews.resolve(wanted, idle=self.claim_idle)
        if blocking is not None:
            raise ConflictError(f"decision {decision_id} is claimed by {blocking.key_name} until "
                                f"{iso(blocking.expires_at(self.claim_idle))}")
        if stored.resolution != resolution:
            raise ConflictError(f"decision {decision_id} was already resolved ({stored.resolution}) by "
                                f"{stored.key_name} at {iso(stored.resolved_at)}; it cannot become {resolution}")
        replayed = stored != wanted
        if stored.final and stored.outcome_id is None:
            # also on a replay: a resolution stored whose outcome write failed gets it now (same body)
            outcome = self._outcome(stored)
            if outcome is not None:
                kept = record_outcome(services, self.store, outcome, received_at=now, api_key=stored.key_name)
                self.reviews.set_outcome(decision_id, kept["outcome_id"])
                stored = Resolution(**{**stored.__dict__, "outcome_id": kept["outcome_id"]})
        if stored.final and not replayed:
            self.reviews.release(decision_id, key_name, now=now)
            it.claim = None
        it.resolution = stored
        if stored.resolution == "escalate":
            it.queue = "escalated"
        out = self._public(it, now)
        out["replayed"] = replayed
        return out

    @staticmethod
    def _outcome(res: Resolution) -> dict[str, Any] | None:
        """The review outcome a final resolution writes, as `POST /v1/outcomes` takes it: for an
        order, declined = fraud (`confirmed`); for a return (`return_id`), declined = abuse."""
        if res.resolution not in FINAL:
            return None
        return {
            "type": "review",
            "order_id": res.event_id if res.kind == "order" else None,
            "return_id": res.event_id if res.kind == "return" else None,
            "fraud_type": "confirmed_fraud",
            "confirmed": res.resolution == "decline",
            "reported_at": res.resolved_at,
            "decision_id": res.decision_id,
            "resolution": res.resolution,
        }
