"""The slim audit row of a decision: what a replay needs, packed.

A decision row used to carry the features as a JSON object (~85 names with their values,
~2.6 KB) and the response in full beside the columns it repeats (scores, actions, reasons,
priority, versions: ~0.8 KB), ~4.7 KB a row in all. Since schema v3 the columns the store
queries stay as they were, and one `packed` column holds, zlib-compressed JSON:

- `q`: the request as received (its JSON form, as hashed for idempotency);
- `fs`, `x`: the features as a vector — their values in the feature set's order — and the
  feature-set version, a digest of the ordered names. The names are stored once per version
  in the `feature_sets` table (written in the same transaction as the first row using it),
  so a row stays readable after the feature set changes;
- `o`, `r`: the response without what its columns hold: `o` spells the response's key order
  (one letter per key taken from a column, "." for the next key of `r`), `r` the rest
  (timing, received_at, anything that differs from its column).

`unpack` gives back the request, features and response exactly as they were written
(values and key order). Rows written before v3 (no `packed`) are read from their JSON
columns as before.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import orjson

__all__ = ["pack", "unpack", "request_of", "feature_set_version", "known_names", "remember_names"]

_FROM_COLUMNS = {"decision_id": "i", "kind": "k", "event_id": "e", "scores": "s", "actions": "a", "reasons": "r",
                 "priority": "p", "policy_version": "v", "models": "m", "degraded": "g"}
_COLUMN_OF = {c: k for k, c in _FROM_COLUMNS.items()}
_OPTS = orjson.OPT_NON_STR_KEYS

_NAMES: dict[str, tuple[str, ...]] = {}  # feature-set version -> ordered names (this process)
_VERSION: dict[tuple[str, ...], str] = {}


def feature_set_version(names: tuple[str, ...]) -> str:
    v = _VERSION.get(names)
    if v is None:
        v = "fs-" + hashlib.blake2b("\x1f".join(names).encode(), digest_size=8).hexdigest()
        _VERSION[names] = v
        _NAMES[v] = names
    return v


def known_names(version: str) -> tuple[str, ...] | None:
    return _NAMES.get(version)


def remember_names(version: str, names: list[str] | tuple[str, ...]) -> None:
    """A version's names read from the store (`feature_sets`)."""
    names = tuple(names)
    if feature_set_version(names) != version:
        raise ValueError(f"feature set {version}: the stored names do not hash to it")


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def pack(rec: Any) -> tuple[bytes, str | None]:
    """A `DecisionRecord`'s request, features and response as the `packed` bytes, and the
    feature-set version it uses (None: no features)."""
    features = rec.features
    fs = x = None
    if features is not None:
        fs = feature_set_version(tuple(features))
        x = list(features.values())
    order = []
    rest = {}
    for k, v in rec.response.items():
        c = _FROM_COLUMNS.get(k)
        if c is not None and _same(v, getattr(rec, k)):
            order.append(c)
        else:
            order.append(".")
            rest[k] = v
    body = {"q": rec.request, "fs": fs, "x": x, "o": "".join(order), "r": rest}
    return zlib.compress(orjson.dumps(body, default=str, option=_OPTS), 6), fs


def request_of(packed: bytes) -> dict[str, Any]:
    """The request alone (log recovery)."""
    return orjson.loads(zlib.decompress(packed))["q"]


def unpack(packed: bytes, columns: Mapping[str, Any], names_of: Callable[[str], tuple[str, ...] | None],
           ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    """(request, features, response) of a packed row; `columns`: the row's other values;
    `names_of(version)`: the feature names of a version not known to this process yet."""
    body = orjson.loads(zlib.decompress(packed))
    features = None
    if body["fs"] is not None:
        names = _NAMES.get(body["fs"]) or names_of(body["fs"])
        if names is None or len(names) != len(body["x"]):
            raise ValueError(f"audit row uses feature set {body['fs']}, which the store does not describe")
        features = dict(zip(names, body["x"], strict=True))
    rest = iter(body["r"].items())
    response: dict[str, Any] = {}
    for c in body["o"]:
        if c == ".":
            k, v = next(rest)
            response[k] = v
        else:
            k = _COLUMN_OF[c]
            response[k] = columns[k]
    return body["q"], features, response
