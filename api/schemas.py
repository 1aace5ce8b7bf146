"""Request and response models, derived from the contract's declarations (`triage.schema`).

Every contract column becomes a field of its kind: `timestamp` an aware datetime
(a timestamp without zone is refused; offsets are converted to UTC), `int`/`float`
strict numbers with the contract's lower bound (ints also an upper one: `quantity` at most
1,000,000, other counts 10^9), timestamps within pandas' nanosecond range (1677-09-22 …
2262-04-11: what the features can represent), `bool` a JSON boolean, `category` a
string (unseen values are accepted). Nullable columns may be null or left out; the
others are required. Unknown fields are ignored, as the contract says of extra
columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    create_model,
    field_validator,
    model_validator,
)

from triage.schema import TABLES, Column

__all__ = [
    "OrderLine",
    "Customer",
    "OrderEvent",
    "ReturnEvent",
    "Outcome",
    "OUTCOME_MODELS",
    "BatchRequest",
    "DecisionResponse",
    "BatchResponse",
    "OutcomeResponse",
    "DecisionPage",
]


def _iso_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            "expected an ISO 8601 timestamp with a zone, e.g. 2026-03-01T14:05:00Z; got a number"
        )
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# The range a nanosecond timestamp (pandas, the feature pipeline and its indexes) can hold:
# an event outside it could be decided but never filed in the online history.
TIMESTAMP_MIN = datetime(1677, 9, 22, tzinfo=UTC)
TIMESTAMP_MAX = datetime(2262, 4, 11, 23, 47, 16, tzinfo=UTC)
# Ints are bounded by what the business can mean (and always by int64, what the audit's JSON
# and the feature frames hold): a quantity of a line or a return, any other count.
INT_MAX = {"quantity": 1_000_000}
COUNT_MAX = 1_000_000_000


def _in_range(value: datetime) -> datetime:
    if not TIMESTAMP_MIN <= value <= TIMESTAMP_MAX:
        raise ValueError(
            "expected a timestamp between 1677-09-22T00:00:00Z and 2262-04-11T23:47:16Z "
            "(the range the feature pipeline can represent)"
        )
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=1000)

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, v: Any) -> Any:
        return _to_utc(v) if isinstance(v, datetime) else v


def _annotation(col: Column) -> Any:
    ge = col.min_value
    if col.kind == "timestamp":
        return Timestamp
    if col.kind == "int":
        le = INT_MAX.get(col.name, COUNT_MAX)
        return Annotated[StrictInt, Field(ge=int(ge), le=le)] if ge is not None else Annotated[StrictInt, Field(le=le)]
    if col.kind == "float":
        return (
            Annotated[StrictFloat, Field(ge=ge, allow_inf_nan=False)]
            if ge is not None
            else Annotated[StrictFloat, Field(allow_inf_nan=False)]
        )
    if col.kind == "bool":
        return StrictBool
    return Annotated[str, Field(min_length=1)] if not col.nullable else str


def _fields(table: str, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in TABLES[table].columns:
        if col.name in drop:
            continue
        ann = _annotation(col)
        desc = f"{table}.{col.name} ({col.kind})"
        if col.categories:
            desc += f"; listed values {', '.join(col.categories)}; others accepted as unseen"
        if col.nullable or col.optional:
            out[col.name] = (ann | None, Field(default=None, description=desc))
        else:
            out[col.name] = (ann, Field(description=desc))
    return out


OrderLine = create_model(
    "OrderLine",
    __base__=_Event,
    __doc__="One order line (order_id is the order's).",
    **_fields("order_lines", drop=("order_id",)),
)
Customer = create_model(
    "Customer", __base__=_Event, __doc__="A customer the service may not have seen.", **_fields("customers")
)
_OrderBase = create_model("_OrderBase", __base__=_Event, **_fields("orders"))
ReturnEvent = create_model(
    "ReturnEvent",
    __base__=_Event,
    __doc__="A return request: the returns table's fields.",
    **_fields("returns"),
)


class OrderEvent(_OrderBase):  # type: ignore[misc, valid-type]
    """An order: the orders table's fields, its lines, and optionally its customer."""

    lines: list[OrderLine] = Field(min_length=1, max_length=1000)  # type: ignore[valid-type]
    customer: Customer | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _consistent(self) -> OrderEvent:
        data: Any = self
        seen: set[int] = set()
        for i, line in enumerate(data.lines):
            if line.line_no in seen:
                raise ValueError(
                    f"lines[{i}].line_no {line.line_no} repeats an earlier line; line_no must be unique"
                )
            seen.add(line.line_no)
        if data.customer is not None and data.customer.customer_id != data.customer_id:
            raise ValueError(
                f"customer.customer_id must equal customer_id {data.customer_id!r}; "
                f"got {data.customer.customer_id!r}"
            )
        return self


# ---- outcomes: contract outcome rows plus a `type` ----------------------------------


class _Outcome(_Event):
    model_config = ConfigDict(extra="ignore")


class DeliveryOutcome(_Outcome):
    """A fulfillment_outcomes row: shipped and/or delivered (or ready for pickup)."""

    type: Literal["delivery"]
    order_id: Annotated[str, Field(min_length=1)]
    shipped_at: Timestamp | None = None
    delivered_at: Timestamp | None = None
    cancelled: StrictBool = False
    cancelled_at: Timestamp | None = None

    @model_validator(mode="after")
    def _some_time(self) -> DeliveryOutcome:
        if self.delivered_at is None and self.shipped_at is None and self.cancelled_at is None:
            raise ValueError("a delivery outcome needs delivered_at or shipped_at")
        return self


class CancellationOutcome(_Outcome):
    """A fulfillment_outcomes row for a cancelled order."""

    type: Literal["cancellation"]
    order_id: Annotated[str, Field(min_length=1)]
    cancelled_at: Timestamp
    shipped_at: Timestamp | None = None
    cancelled: Literal[True] = True


class ChargebackOutcome(_Outcome):
    """A fraud_labels row: a chargeback (or confirmed fraud) reported at `reported_at`."""

    type: Literal["chargeback"]
    order_id: Annotated[str, Field(min_length=1)]
    fraud_type: Annotated[str, Field(min_length=1)] = "chargeback"
    reported_at: Timestamp


class ReviewOutcome(_Outcome):
    """A manual review's verdict on an order or (with `return_id`) a return: `confirmed=true`
    is fraud (a fraud_labels row, `confirmed_fraud`) or abuse; a cleared review is kept as
    a legitimate verdict (`review_outcomes`) but is not a fraud label."""

    type: Literal["review"]
    order_id: Annotated[str | None, Field(min_length=1)] = None
    return_id: Annotated[str | None, Field(min_length=1)] = None
    fraud_type: Annotated[str, Field(min_length=1)] = "confirmed_fraud"
    confirmed: StrictBool = True
    reported_at: Timestamp

    @model_validator(mode="after")
    def _one_entity(self) -> ReviewOutcome:
        if (self.order_id is None) == (self.return_id is None):
            raise ValueError("a review outcome names exactly one of order_id or return_id")
        return self


class InspectionOutcome(_Outcome):
    """A return_outcomes row: where the returned item went and whether abuse was confirmed."""

    type: Literal["inspection"]
    return_id: Annotated[str, Field(min_length=1)]
    inspected_at: Timestamp
    disposition: Annotated[str, Field(min_length=1)]
    abuse_confirmed: StrictBool


class InventorySyncOutcome(_Outcome):
    """An inventory_syncs row: a node pushed its stock at `synced_at` (feeds the sync-age feature)."""

    type: Literal["inventory_sync"]
    node_id: Annotated[str, Field(min_length=1)]
    synced_at: Timestamp


Outcome = Annotated[
    DeliveryOutcome
    | CancellationOutcome
    | ChargebackOutcome
    | ReviewOutcome
    | InspectionOutcome
    | InventorySyncOutcome,
    Field(discriminator="type"),
]
OUTCOME_MODELS = (
    DeliveryOutcome,
    CancellationOutcome,
    ChargebackOutcome,
    ReviewOutcome,
    InspectionOutcome,
    InventorySyncOutcome,
)


# ---- batches and responses ---------------------------------------------------------


class BatchRequest(BaseModel):
    """Up to `max_batch_items` events; each is validated on its own."""

    items: list[Any] = Field(description="events, each shaped like the single-event body")


class Reason(BaseModel):
    source: Literal["rule", "model"]
    code: str
    text: str


class DecisionResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    decision_id: str
    kind: Literal["order", "return"]
    event_id: str
    scores: dict[str, float | None]
    actions: list[str]
    reasons: list[Reason]
    priority: float | None
    policy_version: str
    models: dict[str, str]
    degraded: bool
    timing_ms: float


class BatchItem(BaseModel):
    index: int
    status: int
    decision: DecisionResponse | None = None
    error: dict[str, Any] | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem]


class OutcomeResponse(BaseModel):
    outcome_id: str
    type: str
    entity_id: str
    known_at: str
    duplicate: bool


class Window(BaseModel):
    since: str
    until: str


class DecisionPage(BaseModel):
    """One page of audited decisions (`GET /v1/decisions`)."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    window: Window
