"""Progress display for the CLI: the callback the core's ``progress=`` parameters take.

On a terminal, a rich progress bar (spinner, bar when the work is counted, elapsed time)
sits below the lines a command prints; step lines stay in the scroll-back. Anywhere else
(CI logs, pipes, files) every step is one plain ``[HH:MM:SS] message`` line and counted
work prints a line when it starts, at most every ``every`` seconds, and when it ends, so
logs stay short. Under ``--quiet`` nothing is shown; under ``--json`` the display goes
to stderr so stdout stays one JSON document.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["Display", "PlainDisplay", "LiveDisplay", "open_display", "is_terminal"]


def is_terminal(stream: TextIO) -> bool:
    """A terminal that can redraw a bar (not TERM=dumb, not a pipe or a file)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM", "") != "dumb"


class Display:
    """Silent (``--quiet``): the interface the others share."""

    def __call__(self, message: str, done: float | None = None, total: float | None = None, /) -> None:
        pass

    def close(self) -> None:
        pass


class PlainDisplay(Display):
    """Plain timestamped lines; counted work throttled to one line per ``every`` seconds."""

    def __init__(self, stream: TextIO, *, every: float = 10.0) -> None:
        self.stream, self.every = stream, every
        self._last: tuple[str, float] | None = None  # counted message, when it was last printed

    def _line(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.stream, flush=True)

    def __call__(self, message: str, done: float | None = None, total: float | None = None, /) -> None:
        if done is None:
            self._last = None
            self._line(message)
            return
        now = time.monotonic()
        finished = total is not None and done >= total
        fresh = self._last is None or self._last[0] != message
        if fresh or finished or now - self._last[1] >= self.every:  # type: ignore[index]
            share = f" ({done / total:.0%})" if total else ""
            self._line(f"{message}: {done:,.0f}" + (f"/{total:,.0f}" if total else "") + share)
            self._last = None if finished else (message, now)


class LiveDisplay(Display):
    """A rich progress bar on a terminal; step lines are printed above it."""

    def __init__(self, stream: TextIO, title: str = "working") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=stream, highlight=False, soft_wrap=True),
            transient=True,
        )
        self.title = title
        self._task = self._progress.add_task(title, total=None)
        self._progress.start()

    def __call__(self, message: str, done: float | None = None, total: float | None = None, /) -> None:
        p = self._progress
        if done is None:
            p.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", markup=True)
            p.update(self._task, description=self.title, total=None, completed=0)
        else:
            p.update(self._task, description=message, total=total, completed=done)

    def close(self) -> None:
        self._progress.stop()


def open_display(title: str, *, quiet: bool, json: bool) -> Display:
    """The display for one command: silent, a live bar on a terminal, or plain lines."""
    if quiet:
        return Display()
    stream = sys.stderr if json else sys.stdout
    return LiveDisplay(stream, title) if is_terminal(stream) else PlainDisplay(stream)
