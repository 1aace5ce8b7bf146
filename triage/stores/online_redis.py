"""The server online feature store: Redis, for API replicas on several machines.

Implements `features.online.OnlineStore`. Per (index, key): a sorted set of entry ids
scored by time, and a hash of the non-zero values; records are JSON strings. Keys
start with a prefix (`triage:` by default) so one Redis can hold several deployments.

Times are kept in microseconds (a Redis score is a double: nanoseconds since 1970 do
not fit its 53 bits exactly; microseconds do, and they are the API's own resolution).
A window [lower, upper) in nanoseconds is the score range [ceil(lower/1000),
ceil(upper/1000)), exact for times on whole microseconds.

`windows()` answers all of one event's aggregations in ONE round trip (a Lua script);
`transaction()` buffers the writes of one observed event into one pipelined round trip,
with reads inside it seeing the buffered writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import redis

from features.online import Window
from triage.stores.online_sqlite import dumps

__all__ = ["RedisOnlineStore"]

_SEP = "\x1f"

# KEYS: none. ARGV: prefix, then per window: index|key (joined), lower_us or "-inf", upper_us.
# Returns per window {count, total as "%.17g" text, last score or false}.
_WINDOWS_LUA = """
local prefix = ARGV[1]
local out = {}
local n = (#ARGV - 1) / 3
for i = 0, n - 1 do
  local name, lo, hi = ARGV[2 + 3 * i], ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  local z = prefix .. 'z:' .. name
  local h = prefix .. 'v:' .. name
  local hi_ex = '(' .. hi
  local count = redis.call('ZCOUNT', z, lo, hi_ex)
  local total = 0
  if count > 0 and redis.call('EXISTS', h) == 1 then
    local ids = redis.call('ZRANGEBYSCORE', z, lo, hi_ex)
    local vals = redis.call('HMGET', h, unpack(ids))
    for j = 1, #vals do
      if vals[j] then total = total + tonumber(vals[j]) end
    end
  end
  local last = false
  if count > 0 then
    local top = redis.call('ZREVRANGEBYSCORE', z, hi_ex, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    last = top[2]
  end
  out[#out + 1] = {count, string.format('%.17g', total), last}
end
return out
"""


def _name(index: str, key: Sequence[str]) -> str:
    return f"{index}|{_SEP.join(key)}"


def _us_ceil(ns: int) -> int:
    return -((-int(ns)) // 1000)


class RedisOnlineStore:
    """`OnlineStore` over Redis at `url` (`redis://host:port/db`)."""

    def __init__(self, url: str, *, prefix: str = "triage:", timeout_s: float = 0.5) -> None:
        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self._windows = self.client.register_script(_WINDOWS_LUA)
        self._tx = threading.local()  # per thread: the open transaction's pipeline and overlay

    def url_for_humans(self) -> str:
        if "@" in self.url:
            scheme, rest = self.url.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return self.url

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self.client.close()

    def clear(self) -> None:
        """Delete every key under the prefix (before a fresh bootstrap; tests)."""
        batch: list[str] = []
        for k in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            batch.append(k)
            if len(batch) >= 1000:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)

    # -- writes, buffered inside a transaction -----------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Buffer writes into one pipeline sent at the end; reads inside see them.

        Per thread: each thread's transaction is its own."""
        if self._pipe is not None:
            yield
            return
        self._tx.pipe = self.client.pipeline(transaction=True)
        self._tx.overlay = {}
        try:
            yield
            self._tx.pipe.execute()
        finally:
            self._tx.pipe = None
            self._tx.overlay = {}

    @property
    def _pipe(self) -> Any:
        return getattr(self._tx, "pipe", None)

    @property
    def _overlay(self) -> dict[tuple, Any]:
        ov = getattr(self._tx, "overlay", None)
        if ov is None:
            ov = self._tx.overlay = {}
        return ov

    def put_entry(self, index: str, key: tuple[str, ...], entry_id: str, time_ns: int, value: float) -> None:
        name = _name(index, key)
        pipe = self._pipe
        if pipe is None:
            p = self.client.pipeline(transaction=True)
            self._put(p, name, entry_id, int(time_ns), float(value))
            p.execute()
        else:
            self._put(pipe, name, entry_id, int(time_ns), float(value))
            self._overlay[("e", name, entry_id)] = int(time_ns)

    def _put(self, p: Any, name: str, entry_id: str, time_ns: int, value: float) -> None:
        p.zadd(f"{self.prefix}z:{name}", {entry_id: time_ns // 1000})
        if value != 0.0:
            p.hset(f"{self.prefix}v:{name}", entry_id, repr(value))
        else:
            p.hdel(f"{self.prefix}v:{name}", entry_id)

    def put_entries(self, index: str, keys: list[tuple[str, ...]], entry_ids: list[str], times_ns: np.ndarray,
                    values: np.ndarray) -> None:
        times = np.asarray(times_ns, np.int64).tolist()
        vals = np.asarray(values, np.float64).tolist()
        p = self.client.pipeline(transaction=False)
        for i, (key, eid) in enumerate(zip(keys, entry_ids, strict=True)):
            self._put(p, _name(index, key), eid, times[i], vals[i])
            if i % 5000 == 4999:
                p.execute()
        p.execute()

    def drop_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> None:
        name = _name(index, key)
        pipe = self._pipe
        p = pipe if pipe is not None else self.client.pipeline(transaction=True)
        if pipe is not None:
            self._overlay[("e", name, entry_id)] = None
        p.zrem(f"{self.prefix}z:{name}", entry_id)
        p.hdel(f"{self.prefix}v:{name}", entry_id)
        if pipe is None:
            p.execute()

    def get_entry(self, index: str, key: tuple[str, ...], entry_id: str) -> int | None:
        name = _name(index, key)
        hit = ("e", name, entry_id)
        if hit in self._overlay:
            return self._overlay[hit]
        score = self.client.zscore(f"{self.prefix}z:{name}", entry_id)
        return None if score is None else int(score) * 1000

    def window(self, index: str, key: tuple[str, ...], lower_ns: int | None, upper_ns: int) -> Window:
        return self.windows([(index, key, lower_ns, upper_ns)])[0]

    def windows(self, requests: Sequence[tuple[str, tuple[str, ...], int | None, int]]) -> list[Window]:
        """All windows of one event in one round trip."""
        if not requests:
            return []
        args: list[Any] = [self.prefix]
        for index, key, lower, upper in requests:
            args += [_name(index, key), "-inf" if lower is None else _us_ceil(lower), _us_ceil(upper)]
        out = []
        for count, total, last in self._windows(args=args):
            out.append(Window(int(count), float(total), None if not last else int(float(last)) * 1000))
        return out

    # -- records -----------------------------------------------------------------------
    def put_record(self, table: str, key: str, record: dict[str, Any]) -> None:
        k = f"{self.prefix}r:{table}:{key}"
        body = dumps(record)
        pipe = self._pipe
        if pipe is not None:
            pipe.set(k, body)
            self._overlay[("r", k)] = body
        else:
            self.client.set(k, body)

    def put_records(self, table: str, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        p = self.client.pipeline(transaction=False)
        for i, (key, rec) in enumerate(records):
            p.set(f"{self.prefix}r:{table}:{key}", dumps(rec))
            if i % 5000 == 4999:
                p.execute()
        p.execute()

    def get_record(self, table: str, key: str) -> dict[str, Any] | None:
        k = f"{self.prefix}r:{table}:{key}"
        overlay = self._overlay
        body = overlay[("r", k)] if ("r", k) in overlay else self.client.get(k)
        return None if body is None else json.loads(body)

    def get_records(self, table: str, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        if not keys:
            return []
        names = [f"{self.prefix}r:{table}:{k}" for k in keys]
        if self._overlay:
            return [self.get_record(table, k) for k in keys]
        return [None if b is None else json.loads(b) for b in self.client.mget(names)]
