"""Bounded reads: a time window no wider than `read_max_days`, and opaque keyset cursors.

Every read route whose answer grows with history takes a window (`since`, `until`) and
refuses one wider than the setting (422, naming the field), so no request loads an
unbounded amount; a list route pages through its window with a cursor: the (time, id) of
the last item, opaque to the caller (URL-safe base64 of JSON), so a page costs the same
however deep it is and rows that arrive meanwhile are neither skipped nor repeated.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

import orjson

from triage.errors import ContractError

__all__ = ["Window", "read_window", "encode_cursor", "decode_cursor"]

Window = tuple[datetime, datetime]


def _aware(name: str, ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        raise ContractError(f"{name}: timestamp without time zone; expected ISO 8601 with 'Z' or an offset")
    return ts.astimezone(UTC)


def read_window(since: datetime | None, until: datetime | None, *, now: datetime, max_days: int,
                default_days: int = 7) -> Window:
    """[since, until): both given, or one (the other `default_days` away, `until` never past
    `now` unless given), or neither (the last `default_days`). Wider than `max_days`, or
    empty: `ContractError` (422) saying what is allowed."""
    s, u = _aware("since", since), _aware("until", until)
    days = timedelta(days=min(default_days, max_days))
    if s is None and u is None:
        u = now
        s = u - days
    elif s is None:
        assert u is not None
        s = u - days
    elif u is None:
        u = max(s, min(now, s + timedelta(days=max_days)))
        if u == s:
            u = s + days
    if u <= s:
        raise ContractError(f"until: must be after since ({s.isoformat()}); got {u.isoformat()}")
    if u - s > timedelta(days=max_days):
        raise ContractError(
            f"since/until: a window of at most {max_days} days (read_max_days); got "
            f"{(u - s).total_seconds() / 86400:.1f} days — page through narrower windows")
    return s, u


def encode_cursor(ts: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts.astimezone(UTC).isoformat(), row_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (time, id) a cursor carries; `ContractError` (422) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, row_id = orjson.loads(raw)
        when = datetime.fromisoformat(ts)
        if when.tzinfo is None or not isinstance(row_id, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ContractError("cursor: not a cursor this service made; pass next_cursor from the previous page "
                            "unchanged") from exc
    return when, row_id
