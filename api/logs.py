"""Structured JSON logs carrying the request's correlation id, with personal data scrubbed.

Nothing logs request bodies. As a second line of defence the formatter masks
anything in a message or field that looks like an e-mail address or a card number,
and drops fields whose names say they hold addresses, e-mails or cards.

The formatter runs once per request (the access line), so its repeated work is cached:
the scrubbed form of short strings (methods, routes, key names, messages repeat), the
verdict on each field name, and the timestamp's text up to the second; lines are
rendered with orjson.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import orjson

__all__ = ["correlation_id", "JsonFormatter", "configure_logging", "scrub"]

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_SENSITIVE_KEYS = re.compile(r"(e-?mail|card_?number|pan|address|street|postcode|phone)", re.I)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _scrub(text: str) -> str:
    return _CARD.sub("[card]", _EMAIL.sub("[email]", text))


_scrub_short = lru_cache(maxsize=4096)(_scrub)


def scrub(text: str) -> str:
    return _scrub_short(text) if len(text) <= 200 else _scrub(text)


@lru_cache(maxsize=1024)
def _sensitive(key: str) -> bool:
    return _SENSITIVE_KEYS.search(key) is not None


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: ("[redacted]" if _sensitive(str(k)) else _clean(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """UTC ISO text to the millisecond ending in Z; the part up to the second is reused."""
    global _second
    sec = int(created)
    cached_sec, text = _second
    if sec != cached_sec:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _second = (sec, text)
    return f"{text}.{int((created - sec) * 1000):03d}Z"


def _dumps(out: dict[str, Any]) -> str:
    try:
        return orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (an int beyond 64 bits): the standard library's form
        return json.dumps(out, default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        cid = correlation_id.get()
        if cid:
            out["correlation_id"] = cid
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            out[key] = "[redacted]" if _sensitive(key) else _clean(value)
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return _dumps(out)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for our loggers and uvicorn's (the service and long CLI commands)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("triage", "api", "training", "features", "models", "uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False
