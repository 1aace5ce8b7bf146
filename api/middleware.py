"""One pure-ASGI middleware for what every request needs.

- a correlation id (the caller's `X-Correlation-ID`/`X-Request-ID` when sane, else a
  new one), returned in `X-Correlation-ID` and attached to every log line;
- the body limit: a `Content-Length` above `max_body_bytes` is refused at once with
  413, and a streamed body is cut off when it passes the limit;
- metrics by route template and status, and one access-log line (made without the
  caller lookup `log.info` does: the JSON line does not show it);
- the last resort: an unexpected exception becomes a generic 500 problem with the
  correlation id; the trace goes to the log, never to the client.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logs import correlation_id
from api.metrics import Metrics
from api.problems import PROBLEM_JSON, problem

__all__ = ["RequestContextMiddleware"]

log = logging.getLogger("triage.api")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        given = (headers.get(b"x-correlation-id") or headers.get(b"x-request-id") or b"").decode("latin-1")
        cid = given if _SANE_ID.match(given) else uuid.uuid4().hex
        token = correlation_id.set(cid)
        scope.setdefault("state", {})["correlation_id"] = cid
        status = 500
        started_response = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlation-id", cid.encode())]
            await send(message)

        try:
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                status = 413
                await self._send_problem(
                    send_wrapper,
                    problem(
                        413,
                        "too_large",
                        f"request body is {int(length)} bytes; the limit is {self.max_body_bytes} (max_body_bytes)",
                        instance=scope.get("path"),
                        correlation_id=cid,
                    ),
                )
                return
            await self.app(scope, self._limited(receive), send_wrapper)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path"), "method": scope.get("method")})
            if started_response:
                raise
            status = 500
            await self._send_problem(
                send_wrapper,
                problem(
                    500,
                    "internal",
                    f"an unexpected error occurred; quote correlation id {cid} when reporting it",
                    instance=scope.get("path"),
                    correlation_id=cid,
                ),
            )
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope.get("method", ""), label, status, elapsed)
            if log.isEnabledFor(logging.INFO):
                # `log.info` would also walk the stack for the caller's file and line, which
                # the JSON line does not carry: the record is made and handled directly
                log.handle(
                    log.makeRecord(
                        log.name, logging.INFO, __file__, 0, "request", (), None,
                        extra={
                            "method": scope.get("method"),
                            "route": label,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 3),
                            "api_key": scope["state"].get("api_key"),
                        },
                    )
                )
            correlation_id.reset(token)

    def _limited(self, receive: Receive) -> Receive:
        limit = self.max_body_bytes
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(
                        413, f"request body exceeds the limit of {limit} bytes (max_body_bytes)"
                    )
            return message

        return wrapped

    @staticmethod
    async def _send_problem(send: Send, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": body["status"],
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
