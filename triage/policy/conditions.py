"""Rule conditions as typed data: field tests, score bands, and all/any/not over them.

A condition is a small mapping with one distinguishing key:

- ``{field: channel, in: [marketplace]}`` — an event field, tested with ``in``, ``not_in``,
  ``in_list``/``not_in_list`` (a named list from ``lists:``), ``eq``, ``ne``, ``min``
  (inclusive) and ``max`` (exclusive), or ``present: true|false``. On a list-valued field
  (``categories``) ``in`` means "any element in", ``not_in`` "no element in".
- ``{score: p_fraud, min: 0.2, max: fraud_hold}`` — a score band, ``min <= p < max``; a bound
  is a number or the name of a threshold in ``thresholds:``.
- ``{score_absent: p_fraud}`` — true when that score is absent (model not configured or failed).
- ``{degraded: true}`` — true when the caller marked the decision degraded.
- ``{all: [...]}``, ``{any: [...]}``, ``{not: {...}}``.

A field or score that is absent makes a test *unknown*, and unknown propagates (Kleene
logic): ``not`` of unknown is unknown, ``all`` is false if any part is false, ``any`` is
true if any part is true. A rule fires only when its condition is true.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from triage.policy.vocab import ScoreName

__all__ = [
    "Condition",
    "AllOf",
    "AnyOf",
    "Not",
    "FieldTest",
    "ScoreBand",
    "ScoreAbsent",
    "DegradedFlag",
    "CONDITION_KEYS",
]

Scalar = str | int | float | bool
Bound = float | str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldTest(_Strict):
    field: str
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in")
    not_in: tuple[Scalar, ...] | None = None
    in_list: str | None = None
    not_in_list: str | None = None
    eq: Scalar | None = None
    ne: Scalar | None = None
    min: float | None = None
    max: float | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _one_test_at_least(self) -> FieldTest:
        tests = ("in_", "not_in", "in_list", "not_in_list", "eq", "ne", "min", "max", "present")
        if all(getattr(self, t) is None for t in tests):
            raise ValueError(
                "expected at least one test (in, not_in, in_list, not_in_list, eq, ne, min, max, present)"
            )
        return self


class ScoreBand(_Strict):
    score: ScoreName
    min: Bound | None = None
    max: Bound | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> ScoreBand:
        if self.min is None and self.max is None:
            raise ValueError("expected min, max or both (a number or a threshold name)")
        return self


class ScoreAbsent(_Strict):
    score_absent: ScoreName


class DegradedFlag(_Strict):
    degraded: bool


class AllOf(_Strict):
    all: tuple[Condition, ...] = Field(min_length=1)


class AnyOf(_Strict):
    any: tuple[Condition, ...] = Field(min_length=1)


class Not(_Strict):
    not_: Condition = Field(alias="not")


CONDITION_KEYS = {
    "all": "all",
    "any": "any",
    "not": "not",
    "field": "field",
    "score": "score",
    "score_absent": "score_absent",
    "degraded": "degraded",
}
_KIND_OF_TYPE: dict[type, str] = {
    AllOf: "all",
    AnyOf: "any",
    Not: "not",
    FieldTest: "field",
    ScoreBand: "score",
    ScoreAbsent: "score_absent",
    DegradedFlag: "degraded",
}


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in CONDITION_KEYS:
            if key in value:
                return key
        return None
    return _KIND_OF_TYPE.get(type(value))


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")]
    | Annotated[FieldTest, Tag("field")]
    | Annotated[ScoreBand, Tag("score")]
    | Annotated[ScoreAbsent, Tag("score_absent")]
    | Annotated[DegradedFlag, Tag("degraded")],
    Discriminator(
        _kind,
        custom_error_type="condition_kind",
        custom_error_message=(
            "expected a condition with one of the keys all, any, not, field, score, score_absent, degraded"
        ),
    ),
]

for _m in (AllOf, AnyOf, Not):
    _m.model_rebuild()
