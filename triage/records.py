"""The audit record format: the one JSON form of a body, its hashes, its keys.

`jsonable` is the one JSON form that is hashed (idempotency), stored (audit), written to
the online log (`triage.stores.plain` reads it back) and returned; `body_hash` and
`outcome_hash` are what a retry is matched by; `idempotency_key` and `outcome_entity`
name what a record is about. A leaf module beside `triage.events` (it imports nothing of
the service or the stores), so the write path, the stores' log recovery and the review
queue share the format without importing one another.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from triage.events import EVENT_ID

__all__ = ["iso", "jsonable", "body_hash", "outcome_hash", "idempotency_key", "outcome_entity"]


def iso(ts: datetime) -> str:
    """An aware time as UTC ISO text ending in Z (what records and responses carry)."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


_PLAIN = frozenset({str, int, bool, type(None)})


_ROUND_TRIP = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _round_trip_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    raise TypeError  # anything else: the walk decides


def jsonable(value: Any) -> Any:
    """A JSON-ready copy: datetimes as ISO text, NaN as None, numpy scalars as Python.

    A dict or list (features, bodies, responses: plain scalars, a few datetimes) takes one
    orjson round trip — ~10x cheaper than walking it in Python, the same values (floats
    round-trip exactly; datetimes through `iso`; NaN and, unlike the walk, ±inf become None,
    as every JSON writer here writes them anyway). What orjson refuses (an int beyond 64 bits,
    a lone surrogate, an object) is walked, as is anything else."""
    t = type(value)
    if t is dict or t is list:
        try:
            return orjson.loads(orjson.dumps(value, default=_round_trip_default, option=_ROUND_TRIP))
        except TypeError:
            pass
    return _walk(value)


def _walk(value: Any) -> Any:
    """`jsonable` in Python, a value at a time. Exact types are dispatched first."""
    t = type(value)
    if t in _PLAIN:
        return value
    if t is float:
        return None if value != value else value
    if t is dict:
        return {k if type(k) is str else str(k): _walk(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_walk(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): _walk(v) for k, v in value.items()}
    if isinstance(value, float):
        return None if value != value else float(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _walk(value.item())
    return value


# Where orjson's bytes may differ from `json.dumps(sort_keys=True, separators=(",", ":"))`
# (ensure_ascii): a float below 1e-4 (Python writes 1e-05, orjson 0.00001 or 1e-5), DEL
# (Python escapes it); non-ASCII text is caught by `isascii`. A string that merely looks
# like one of these only takes the slow path.
_MAY_DIFFER = re.compile(rb"0\.0000|\de-|\x7f")


def _canonical(kind: str, plain: Any) -> bytes:
    """The text an event's idempotency hash is taken of: sorted keys, no spaces, ASCII
    (non-ASCII as \\u escapes) — `json.dumps`'s form, in which every stored hash was made,
    so a retry of a body decided by an earlier version still matches (same body → replay,
    not 409). orjson writes the same bytes ~5× faster except in the cases `_MAY_DIFFER`
    and `isascii` catch, which use `json.dumps` itself, and for infinities (orjson writes
    null), which never get here: the event schemas refuse them (`allow_inf_nan=False`)."""
    doc = {"kind": kind, "event": plain}
    try:
        canon = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an int beyond 64 bits, a lone surrogate: the standard library's form
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    if not canon.isascii() or _MAY_DIFFER.search(canon):
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return canon


def body_hash(kind: str, plain: Any) -> str:
    return hashlib.sha256(_canonical(kind, plain)).hexdigest()


def idempotency_key(kind: str, event: Mapping[str, Any], header: str | None) -> str:
    if header:
        return f"{kind}:key:{header}"
    return f"{kind}:id:{event[EVENT_ID[kind]]}"


def outcome_hash(body: Any) -> str:
    """The hash an outcome's JSON form (`jsonable`) is deduplicated by."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


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
    if outcome["type"] == "review" and outcome.get("order_id") is None and outcome.get("return_id") is not None:
        id_field = "return_id"  # a return's review
    for f in time_fields:
        if outcome.get(f) is not None:
            return str(outcome[id_field]), outcome[f]
    raise ValueError(f"{outcome['type']} outcome has none of {', '.join(time_fields)}")
