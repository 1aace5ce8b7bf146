"""The online-state log in Redis, for API replicas on several machines (`TRIAGE_REDIS_URL`).

The same log as `triage.stores.online_sqlite.SqliteLog`, as a Redis Stream: every
replica appends what it observed (XADD) and, before computing an event's features,
reads what the others appended since its last entry id (XREAD, one round trip), then
applies it to its own in-memory indexes. The snapshot (the bootstrap contract dataset)
and its description are two plain keys. Keys start with a prefix (`triage:` by default)
so one Redis can hold several deployments.

The client's failure policy is explicit: a command that meets a broken connection or a
timeout is retried once on a new connection after a short jittered backoff (≤ 50 ms), then
the error reaches `OnlineState`, which decides rules-only (`degraded`) and fails fast for a
second before trying again; a pooled connection idle for `health_check_s` is PINGed before
use, so a Redis restart costs no request its first command on a dead socket.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

__all__ = ["RedisLog"]


class RedisLog:
    """The online-state log at `url` (`redis://host:port/db`)."""

    def __init__(self, url: str, *, prefix: str = "triage:", timeout_s: float = 0.5, retries: int = 1,
                 health_check_s: int = 5) -> None:
        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(ExponentialWithJitterBackoff(cap=0.05, base=0.01), retries),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError],
            health_check_interval=health_check_s,
        )
        self._stream = f"{prefix}online:log"
        self._snap = f"{prefix}online:snapshot"
        self._meta = f"{prefix}online:meta"

    def url_for_humans(self) -> str:
        if "@" in self.url:
            scheme, rest = self.url.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return self.url

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self.client.close()

    # -- the log -----------------------------------------------------------------------
    def start(self) -> str:
        return "0-0"

    def append(self, bodies: list[bytes]) -> list[str]:
        p = self.client.pipeline(transaction=False)
        for b in bodies:
            p.xadd(self._stream, {b"e": b})
        return [i.decode() if isinstance(i, bytes) else str(i) for i in p.execute()]

    def read(self, after: str, limit: int = 5000) -> list[tuple[str, bytes]]:
        # The stub's XReadResponse also covers RESP3 (dicts); this client speaks RESP2 and
        # does not decode, so the reply is [[stream, [(id, {field: value})]]] in bytes.
        got = cast("list[tuple[bytes, list[tuple[bytes | str, dict[bytes, bytes]]]]]",
                   self.client.xread({self._stream: after}, count=limit))
        if not got:
            return []
        out = []
        for _name, entries in got:
            for eid, fields in entries:
                out.append((eid.decode() if isinstance(eid, bytes) else str(eid), fields[b"e"]))
        return out

    def end(self) -> str:
        """The id of the last entry (`start()` when empty)."""
        got = cast("list[tuple[bytes, dict[bytes, bytes]]]", self.client.xrevrange(self._stream, count=1))
        if not got:
            return self.start()
        eid = got[0][0]
        return eid.decode() if isinstance(eid, bytes) else str(eid)

    def follows(self, seq: str, after: str) -> bool:
        return False  # stream ids have gaps: always read

    # -- the snapshot ------------------------------------------------------------------
    def put_snapshot(self, meta: dict[str, Any], body: bytes, reset: bytes) -> None:
        p = self.client.pipeline(transaction=True)
        p.delete(self._stream)
        p.set(self._snap, body)
        p.set(self._meta, json.dumps(meta))
        p.xadd(self._stream, {b"e": reset})
        p.execute()

    def get_meta(self) -> dict[str, Any] | None:
        raw = self.client.get(self._meta)
        return None if raw is None else json.loads(raw)

    def get_snapshot(self) -> tuple[dict[str, Any], bytes] | None:
        # The client is made without decode_responses, so values come back as bytes.
        meta, body = cast("list[bytes | None]", self.client.mget([self._meta, self._snap]))
        return None if meta is None or body is None else (json.loads(meta), bytes(body))

    def clear(self) -> None:
        """Delete every key under the prefix (tests)."""
        batch: list[Any] = []
        for k in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            batch.append(k)
            if len(batch) >= 1000:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)
