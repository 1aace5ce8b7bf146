"""Read and write policy files (YAML); turn validation failures into `PolicyError`."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from triage.policy.conditions import CONDITION_KEYS
from triage.policy.errors import PolicyError
from triage.policy.model import Policy

__all__ = [
    "load_policy",
    "parse_policy",
    "write_policy",
    "default_policy_path",
    "default_policy",
    "dump_policy",
]

_TAGS = set(CONDITION_KEYS)


def default_policy_path() -> Path:
    """The policy file shipped with the package."""
    return Path(str(resources.files("triage.policy") / "default.yaml"))


def _key_path(loc: tuple[Any, ...], data: Any, *, missing: bool = False) -> str:
    """pydantic's loc as ``rules[3].when.min``, following the file's own keys.

    pydantic inserts union tags (``score``) and member labels (``float``) that are not
    keys of the file; they are dropped by walking the data alongside the loc.
    """
    out = ""
    node = data
    last = len(loc) - 1
    for i, part in enumerate(loc):
        if isinstance(part, int):
            if isinstance(node, list) and part < len(node):
                out += f"[{part}]"
                node = node[part]
            continue
        if not isinstance(node, dict):
            continue  # a union member label below a leaf
        nxt = loc[i + 1] if i < last else None
        if part in _TAGS and isinstance(nxt, str) and nxt in node:
            continue  # a discriminator tag followed by the real key
        if part in node or (missing and i == last):
            out += f".{part}" if out else str(part)
            node = node.get(part)
    return out


def _describe(err: Any) -> str:
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        return f"expected only known keys here, got unknown key {err['loc'][-1]!r} (check its spelling)"
    if kind == "missing":
        return "expected this key, got nothing"
    msg = err["msg"]
    msg = msg.removeprefix("Value error, ")
    if msg.startswith("Input should be"):
        msg = "expected " + msg.removeprefix("Input should be ").rstrip(".")
    if not msg.startswith("expected"):
        msg = f"expected valid input: {msg}"
    shown = repr(got)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{msg}, got {shown}"


def parse_policy(data: Any, *, source: str | Path | None = None) -> Policy:
    """Validate a mapping (as read from YAML) into a `Policy`, or raise `PolicyError`."""
    if not isinstance(data, dict):
        raise PolicyError(
            f"expected a mapping at the top of the file, got {type(data).__name__}", file=source
        )
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        paths = {_key_path(e["loc"], data, missing=e["type"] == "missing") for e in errors}
        more = len(paths) - 1  # a union reports one problem per member at the same key
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        raise PolicyError(
            _describe(first) + extra,
            path=_key_path(first["loc"], data, missing=first["type"] == "missing"),
            file=source,
        ) from None
    except PolicyError as exc:
        raise exc.in_file(source) if source is not None else exc from None


def load_policy(path: str | Path) -> Policy:
    """Read a policy file; a malformed one raises `PolicyError` naming file, key and problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"expected a readable policy file, got {exc.strerror or exc}", file=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"expected valid YAML, got {exc}", file=path) from None
    return parse_policy(data, source=path)


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The shipped default policy (parsed once per process)."""
    return load_policy(default_policy_path())


def dump_policy(policy: Policy) -> str:
    """The policy as YAML text, keys in declaration order; loads back to an equal policy."""
    data = policy.model_dump(mode="json", by_alias=True, exclude_none=True)
    for rule in data.get("rules", []):
        eff = rule["then"]
        if eff.get("force_review") is False:
            del eff["force_review"]
        if eff.get("forbid") == []:
            del eff["forbid"]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def write_policy(policy: Policy, path: str | Path) -> Path:
    """Write a policy file (YAML) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# triage policy {policy.policy_version}\n" + dump_policy(policy), encoding="utf-8")
    return path
