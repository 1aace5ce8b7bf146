"""`DecisionRoute`: the single-decision routes without FastAPI's per-request machinery.

FastAPI's request handler solves the route's dependency tree on every request (the
`DecideContext` dependency, the `X-API-Key` security scheme, the `Idempotency-Key` header,
the body field: ~0.2–0.3 ms of event-loop CPU a request here, more than the decision's own
models and policy). The hot routes' inputs are few and fixed, so `DecisionRoute` reads them
directly when the request is an ordinary one — a JSON body that parses and validates, an
`Idempotency-Key` that is absent or 1–200 characters — with the same steps in the same
order as the dependency solver: the body validated by the route's own body model (pydantic,
`validate_python` of the parsed JSON, as FastAPI does), the key authenticated (401/403/429
raised as `TriageError`s to the same handlers), the services and the store (503), the
arrival time; then the endpoint is called with `(event, ctx)`.

Anything else — a body that is not JSON or fails validation, a header out of bounds, another
content type — goes to FastAPI's own handler for the route, untouched, so every error is the
one FastAPI gives (problem+json by `api.problems`), and the OpenAPI document is the route's
declaration as before. Authentication runs once either way: the fast path authenticates only
after deciding it will serve the request itself.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from api.deps import decide_context_of

__all__ = ["DecisionRoute"]

_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})


class DecisionRoute(APIRoute):
    """An `APIRoute` whose endpoint is `async (event: <body model>, ctx: DecideDep)`; see the
    module doc. The route's body model is read from its declaration."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        regular = super().get_route_handler()  # FastAPI's handler: every unusual request
        body_params = self.dependant.body_params
        if len(body_params) != 1:
            raise TypeError(f"{self.path}: a DecisionRoute takes one body parameter; got {len(body_params)}")
        field = body_params[0]  # its own validator: FastAPI's `validate_python(..., from_attributes=True)`
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            headers = request.headers
            if (headers.get("content-type") or "").lower() not in _JSON_TYPES:
                return await regular(request)
            idem = headers.get("idempotency-key")
            if idem is not None and not 1 <= len(idem) <= 200:
                return await regular(request)
            try:
                parsed = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return await regular(request)  # FastAPI's json_invalid (422)
            event, errors = field.validate(parsed, {}, loc=("body",))
            if errors:
                return await regular(request)  # FastAPI's field errors (422), after authenticating
            ctx = await decide_context_of(request, headers.get("x-api-key") or None, idem)
            response: Response = await endpoint(event, ctx)
            return response

        return handler
