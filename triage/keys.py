"""API keys: scoped, stored only as a hash, shown once.

A key is `trg_` plus 43 random URL-safe characters (256 bits). The database keeps
its SHA-256: with that much entropy a slow hash adds nothing, and a lookup by hash
reveals nothing about the key through timing. `KeyRing` is what a worker uses to
authenticate requests: it remembers lookups for `Settings.key_cache_seconds`, so a
revocation reaches every worker within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cachetools import TTLCache

from triage.errors import AuthenticationError, ContractError, NotFoundError, PermissionDeniedError
from triage.settings import Settings
from triage.stores import KeyRecord, Store, open_store

__all__ = [
    "SCOPES",
    "ApiKey",
    "KeyRing",
    "create_key",
    "revoke_key",
    "list_keys",
    "hash_key",
    "parse_scopes",
]

SCOPES = ("decide", "outcomes", "read", "admin", "review")  # review: the review queue and console only
KEY_PREFIX = "trg_"
_KEY_SHAPE = re.compile(r"^trg_[A-Za-z0-9_-]{43}$")  # what create_key makes
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ApiKey:
    """The identity a request authenticated as (never the key itself)."""

    name: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            have = ", ".join(sorted(self.scopes)) or "none"
            raise PermissionDeniedError(f"API key {self.name!r} lacks scope {scope!r} (it has: {have})")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(scopes: str | Iterable[str]) -> frozenset[str]:
    """`"decide,read"` or an iterable → a validated set of scopes."""
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    wanted = frozenset(s.strip() for s in items if s.strip())
    unknown = sorted(wanted - set(SCOPES))
    if unknown or not wanted:
        raise ContractError(
            f"scopes must be one or more of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}"
        )
    return wanted


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ContractError(f"key name must be 1-64 letters, digits, '_', '.' or '-'; got {name!r}")


def _store(settings: Settings, store: Store | None) -> tuple[Store, bool]:
    return (store, False) if store is not None else (open_store(settings.audit_url), True)


def create_key(
    settings: Settings, name: str, scopes: str | Iterable[str], *, store: Store | None = None
) -> str:
    """Make a key named `name` with `scopes`; returns the key, which is not stored anywhere.

    Raises `ConflictError` when an active key already has that name.
    """
    _check_name(name)
    wanted = parse_scopes(scopes)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    db, owned = _store(settings, store)
    try:
        db.insert_key(
            KeyRecord(
                key_id=str(uuid.uuid4()),
                name=name,
                key_hash=hash_key(key),
                scopes=wanted,
                created_at=datetime.now(UTC),
            )
        )
    finally:
        if owned:
            db.close()
    return key


def revoke_key(settings: Settings, name: str, *, store: Store | None = None) -> None:
    """Revoke the active key named `name`; `NotFoundError` when there is none."""
    db, owned = _store(settings, store)
    try:
        if db.revoke_key(name, datetime.now(UTC)) == 0:
            raise NotFoundError(f"no active API key named {name!r}")
    finally:
        if owned:
            db.close()


def list_keys(settings: Settings, *, store: Store | None = None) -> list[KeyRecord]:
    """All keys, revoked ones included (hashes, never keys)."""
    db, owned = _store(settings, store)
    try:
        return db.list_keys()
    finally:
        if owned:
            db.close()


class KeyRing:
    """Authenticates `X-API-Key` values against the store, with a short cache.

    Only keys that authenticated are cached (a `cachetools.TTLCache`: least recently used
    out first, each entry trusted `ttl_s`), so a stream of unknown keys neither evicts the
    valid ones nor is ever remembered; a store that fails is never remembered either (the
    error reaches the caller as 503). A value that cannot be a key (not `trg_` + 43
    URL-safe characters) is refused without a database read.
    """

    def __init__(self, store: Store, *, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._cache: TTLCache[str, ApiKey] | None = TTLCache(max_entries, ttl_s) if ttl_s > 0 else None
        self._lock = threading.Lock()
        self.lookups = 0  # store reads (tests, metrics)

    def has_active_keys(self) -> bool:
        return any(k.revoked_at is None for k in self._store.list_keys())

    def authenticate(self, presented: str | None) -> ApiKey:
        if not presented:
            raise AuthenticationError("missing X-API-Key header; create a key with `triage keys create`")
        if not _KEY_SHAPE.match(presented):
            raise AuthenticationError("unknown or revoked API key")
        digest = hash_key(presented)
        cache = self._cache
        if cache is not None:
            with self._lock:  # a TTLCache is not thread-safe; a get also reorders and expires
                hit = cache.get(digest)
            if hit is not None:
                return hit
        found = self._lookup(digest)  # UnavailableError propagates: nothing cached
        if found is None:
            raise AuthenticationError("unknown or revoked API key")
        if cache is not None:
            with self._lock:
                cache[digest] = found
        return found

    def _lookup(self, digest: str) -> ApiKey | None:
        self.lookups += 1
        rec = self._store.find_key(digest)
        if rec is None or rec.revoked_at is not None or not hmac.compare_digest(rec.key_hash, digest):
            return None
        return ApiKey(name=rec.name, scopes=rec.scopes)
