"""The online state's shared log, whichever database holds it (`OnlineLog`), and opening
the configured one (`open_online_log`).

Implemented by `triage.stores.online_sqlite.SqliteLog` (one machine's workers) and
`triage.stores.online_redis.RedisLog` (several machines); every method is required.
Entries are plain data (`triage.stores.plain`: JSON; a dataset, Arrow IPC), never pickle:
`dump_entry` / `load_entry`. A position (`seq`) is the implementation's own (an int, a stream id): callers only pass
back what `start`, `append`, `read` or `end` gave them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from triage.stores import plain

if TYPE_CHECKING:
    from triage.settings import Settings

__all__ = ["OnlineLog", "open_online_log", "dump_entry", "load_entry"]


@runtime_checkable
class OnlineLog(Protocol):
    """A snapshot (the bootstrap dataset) and, after it, every observed entry in order."""

    def url_for_humans(self) -> str:
        """Where the log is, without a password."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...

    def start(self) -> Any:
        """The position before the first entry."""
        ...

    def append(self, bodies: list[bytes]) -> list[Any]:
        """Append entries in one go; their positions."""
        ...

    def read(self, after: Any, limit: int = 5000) -> list[tuple[Any, bytes]]:
        """Up to `limit` entries after position `after`, in order."""
        ...

    def end(self) -> Any:
        """The position of the last entry (what a reader has read up to when it reads nothing more)."""
        ...

    def follows(self, seq: Any, after: Any) -> bool:
        """`seq` is the entry right after `after` (nobody appended in between)."""
        ...

    def put_snapshot(self, meta: dict[str, Any], body: bytes, reset: bytes) -> None:
        """A new snapshot, the log before it forgotten, `reset` its first entry."""
        ...

    def get_meta(self) -> dict[str, Any] | None: ...

    def get_snapshot(self) -> tuple[dict[str, Any], bytes] | None: ...

    def clear(self) -> None: ...


def open_online_log(settings: Settings) -> OnlineLog:
    """The configured log: Redis by `redis_url` (keys under `redis_prefix`), else SQLite in
    `settings.home`."""
    if settings.redis_url:
        from triage.stores.online_redis import RedisLog

        return RedisLog(settings.redis_url, prefix=settings.redis_prefix)
    from triage.stores.online_sqlite import SqliteLog

    return SqliteLog(Path(settings.home) / "online.db")


def dump_entry(entry: tuple) -> bytes:
    """A log entry's bytes: JSON (`triage.stores.plain`); a dataset entry, Arrow IPC."""
    if entry[0] == "dataset":
        return plain.dumps_dataset(entry[1])
    return plain.dumps(entry)


def load_entry(body: bytes) -> Any:
    """A log entry as every worker applies it (lists for tuples, datetimes as ISO text)."""
    if plain.is_dataset(body):
        return ("dataset", plain.loads_dataset(body))
    return plain.loads(body)
