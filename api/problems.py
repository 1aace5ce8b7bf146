"""Every error as `application/problem+json` (RFC 9457), from one place.

`problem()` builds the body; the handlers registered by `install_handlers` map the
`TriageError` family (each carries its status and code), request validation errors
(422, one entry per field: where, what was expected, what arrived) and Starlette's
HTTP errors (404, 405, 413) onto it. Unknown exceptions never reach the client as
text: the middleware answers a generic 500 with the correlation id and logs the trace.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from triage.errors import TriageError

__all__ = ["PROBLEM_JSON", "problem", "problem_response", "field_errors", "install_handlers", "error_problem",
           "retry_after"]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("triage.api")

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "media_type",
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    correlation_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:triage:problem:{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if correlation_id:
        body["correlation_id"] = correlation_id
    body.update(extra)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def _cid(request: Request) -> str | None:
    return getattr(request.state, "correlation_id", None)


def error_problem(
    exc: TriageError, *, instance: str | None = None, correlation_id: str | None = None
) -> dict:
    return problem(exc.status, exc.code, exc.message, instance=instance, correlation_id=correlation_id)


def _field(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def _got(err: dict[str, Any]) -> Any:
    if err.get("type") == "missing":
        return "nothing (the field is missing)"
    value = err.get("input")
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def field_errors(errors: Sequence[dict[str, Any]], *, strip: int = 0) -> list[dict[str, Any]]:
    """Pydantic errors as `{field, expected, got, type}` entries; `strip` drops leading loc parts."""
    out = []
    for e in errors:
        loc = list(e.get("loc", ()))[strip:]
        # drop the discriminator tag pydantic adds for tagged unions (`delivery` in outcomes)
        if (
            len(loc) >= 1
            and isinstance(loc[0], str)
            and loc[0] in {"delivery", "cancellation", "chargeback", "review", "inspection"}
        ):
            loc = loc[1:]
        msg = str(e.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        out.append({"field": _field(loc), "expected": msg, "got": _got(e), "type": e.get("type")})
    return out


def validation_problem(
    errors: list[dict[str, Any]], *, instance: str | None = None, correlation_id: str | None = None
) -> dict[str, Any]:
    first = errors[0] if errors else {"field": "body", "expected": "a valid body", "got": "?"}
    detail = f"{first['field']}: {first['expected']}; got {first['got']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return problem(422, "validation", detail, instance=instance, correlation_id=correlation_id, errors=errors)


def retry_after(request: Request, seconds: float | None = None) -> str:
    """The Retry-After value (whole seconds, at least 1): the error's own, else the setting."""
    if seconds is None:
        state = getattr(request.app.state, "triage", None)
        seconds = getattr(getattr(state, "settings", None), "retry_after_seconds", 2)
    return str(max(1, math.ceil(seconds)))


async def _on_triage_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TriageError)
    headers: dict[str, str] | None = None
    if exc.status == 401:
        headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}
    elif exc.status in (429, 503):  # when to come back: every 503 and 429 says it
        headers = {"Retry-After": retry_after(request, exc.retry_after_s)}
    if exc.status >= 500:
        log.warning("request refused: %s", exc.message, extra={"code": exc.code, "status": exc.status})
    return problem_response(
        error_problem(exc, instance=request.url.path, correlation_id=_cid(request)), headers=headers
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    # FastAPI puts the location first ("body", "header", ...); keep it only when not the body.
    errs = []
    for e in raw:
        loc = list(e.get("loc", ()))
        if loc and loc[0] == "body":
            loc = loc[1:]
        errs.append({**e, "loc": tuple(loc)})
    fields = field_errors(errs)
    log.info("invalid request", extra={"fields": [f["field"] for f in fields]})
    return problem_response(
        validation_problem(fields, instance=request.url.path, correlation_id=_cid(request))
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(status, "error")
    if status == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    body = problem(
        status,
        _CODES.get(status, "http_error"),
        detail,
        instance=request.url.path,
        correlation_id=_cid(request),
    )
    return problem_response(body, headers=getattr(exc, "headers", None))


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TriageError, _on_triage_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
