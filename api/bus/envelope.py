"""The message formats: what arrives, what the consumer publishes, what it dead-letters.

In: the message body is the JSON body of the matching HTTP route (`POST
/v1/orders/decisions`, `/v1/returns/decisions`, `/v1/outcomes`), validated by the same
pydantic models. The event id — the idempotency key — is the `Event-Id` header (NATS
header, AMQP header), else on NATS the `Nats-Msg-Id` header (JetStream's own de-duplication
id), else the event's own `order_id` / `return_id`. (Not the AMQP `message_id` property:
clients fill it with a random id per publish, so a producer's retry would be a new event.)
The correlation id is the NATS header `Correlation-Id` / the AMQP `correlation_id`
property, else the event id.

Out (`decision_body`): `{"event_id", "correlation_id", "kind", "source", "replayed",
"decision"}` where `decision` is the HTTP response body, byte for byte the stored one on
a replay. Dead letter (`deadletter_body`): `{"event_id", "correlation_id", "source",
"received_at", "problem", "payload"}` with the problem+json error (RFC 9457, the API's
shape) and the message as it arrived (text, or `payload_base64` when not UTF-8).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import TypeAdapter, ValidationError

from api.problems import field_errors, problem, validation_problem
from api.schemas import OrderEvent, Outcome, ReturnEvent
from triage.events import EVENT_ID

__all__ = ["Inbound", "Decoded", "Rejected", "decode", "decision_body", "deadletter_body", "KIND_OF"]

Source = Literal["orders", "returns", "outcomes"]
KIND_OF: dict[str, str] = {"orders": "order", "returns": "return", "outcomes": "outcome"}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "orders": TypeAdapter(OrderEvent),
    "returns": TypeAdapter(ReturnEvent),
    "outcomes": TypeAdapter(Outcome),
}


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as the adapters hand it over (no broker types past this point)."""

    source: str  # "orders", "returns" or "outcomes"
    subject: str  # the subject / queue it came from
    body: bytes
    message_id: str | None
    correlation_id: str | None
    redelivered: bool


@dataclass(frozen=True, slots=True)
class Decoded:
    """A valid event: the dict the decision core takes, and its ids."""

    event: dict[str, Any]
    event_id: str
    correlation_id: str
    key: str | None  # the idempotency key given to the core (None: the event's own id)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that cannot be decided, with its problem+json body."""

    problem: dict[str, Any]
    event_id: str | None
    correlation_id: str | None
    reason: str  # the dead-letter counter's label: bad_json, validation, conflict, internal


def decode(msg: Inbound) -> Decoded | Rejected:
    """The message's event, validated as the HTTP route validates its body; or why not."""
    instance = msg.subject
    try:
        data = orjson.loads(msg.body)
    except orjson.JSONDecodeError as exc:
        detail = f"{msg.subject}: the message body is not JSON ({exc})"
        return Rejected(problem(400, "bad_json", detail, instance=instance, correlation_id=msg.correlation_id),
                        msg.message_id, msg.correlation_id or msg.message_id, "bad_json")
    try:
        model = _ADAPTERS[msg.source].validate_python(data)
    except ValidationError as exc:
        errs = field_errors([dict(e) for e in exc.errors()])
        body = validation_problem(errs, instance=instance, correlation_id=msg.correlation_id)
        body["detail"] = f"{msg.subject}: {body['detail']}"
        own = data.get(EVENT_ID.get(KIND_OF[msg.source], "")) if isinstance(data, dict) else None
        event_id = msg.message_id or (str(own) if own is not None else None)
        return Rejected(body, event_id, msg.correlation_id or event_id, "validation")
    event = model.model_dump()
    own = event.get(EVENT_ID.get(KIND_OF[msg.source], ""), None)
    event_id = msg.message_id or (str(own) if own is not None else _outcome_id(event))
    return Decoded(event, event_id, msg.correlation_id or event_id, msg.message_id)


def _outcome_id(event: Mapping[str, Any]) -> str:
    for f in ("order_id", "return_id", "node_id"):
        if event.get(f) is not None:
            return f"{event.get('type')}:{event[f]}"
    return str(event.get("type"))


def decision_body(kind: str, source: str, event_id: str, correlation_id: str, decision: Mapping[str, Any],
                  replayed: bool) -> bytes:
    return orjson.dumps({
        "event_id": event_id,
        "correlation_id": correlation_id,
        "kind": kind,
        "source": source,
        "replayed": replayed,
        "decision": decision,
    })


def deadletter_body(msg: Inbound, rejected: Rejected, received_at: str) -> bytes:
    doc: dict[str, Any] = {
        "event_id": rejected.event_id,
        "correlation_id": rejected.correlation_id,
        "source": msg.subject,
        "received_at": received_at,
        "problem": rejected.problem,
    }
    try:
        doc["payload"] = msg.body.decode("utf-8")
    except UnicodeDecodeError:
        doc["payload_base64"] = base64.b64encode(msg.body).decode("ascii")
    return orjson.dumps(doc)
