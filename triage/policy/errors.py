"""The error a policy file raises when it cannot be used: file, key path, expected vs got."""

from __future__ import annotations

from pathlib import Path

from triage.errors import ConfigError

__all__ = ["PolicyError"]


class PolicyError(ConfigError):
    """A policy file or policy object is malformed.

    `path` is the key path inside the file (``rules[3].when.min``), `file` the file it came
    from when known. The message reads ``<file>: <path>: expected ..., got ...``.
    """

    code = "policy"

    def __init__(self, problem: str, *, path: str = "", file: str | Path | None = None) -> None:
        self.problem = problem
        self.path = path
        self.file = str(file) if file is not None else None
        where = ": ".join(p for p in (self.file, path) if p)
        super().__init__(f"{where}: {problem}" if where else problem)

    def in_file(self, file: str | Path) -> PolicyError:
        """The same error, naming the file it came from."""
        return PolicyError(self.problem, path=self.path, file=file)
