"""How long work reports progress: one callback type the core takes, nothing to display it.

A core function that can take more than a few seconds accepts ``progress=`` (default
``None``: silent) and calls it with a message, and — when it knows how far it is — with
``done`` and ``total`` in the same unit. Step lines (``progress("features … 3.1s")``) and
counted work (``progress("simulate: orders", 40_000, 200_000)``) go through the same call;
``print`` is a valid callback for step lines. The CLI turns the calls into rich progress
bars or plain lines (`triage/cli/_progress.py`); the core never imports rich.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "report"]


class Progress(Protocol):
    def __call__(self, message: str, done: float | None = None, total: float | None = None, /) -> None: ...


def report(progress: Progress | None, message: str, done: float | None = None, total: float | None = None) -> None:
    """Call ``progress`` if there is one; counts only when given (so ``print`` works for steps)."""
    if progress is None:
        return
    if done is None:
        progress(message)
    else:
        progress(message, done, total)
