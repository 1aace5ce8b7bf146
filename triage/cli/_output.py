"""What every command shares: how it prints, its error line, and the option types.

Human output goes to stdout as plain lines (no wrapping, no markup, so reports that name
a table/row/column stay on one line and stay greppable). `--quiet` keeps only what a
command exists to print (a new API key); `--json` prints one JSON document on stdout at
the end and sends progress lines to stderr. Errors are one line on stderr, `error:` in red
when stderr is a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from triage.cli._progress import Display, PlainDisplay, open_display

__all__ = ["Output", "output", "use_output", "reset_output", "print_error", "TIMESTAMP", "load_data"]


@dataclass
class Output:
    """The output mode of one `triage` invocation (set by the global options)."""

    quiet: bool = False
    json: bool = False
    record: dict[str, Any] = field(default_factory=dict)
    display: Display | None = None

    def say(self, text: str = "", *, err: bool = False) -> None:
        """A human line: shown unless --quiet or --json (stderr lines survive --json)."""
        if self.quiet or (self.json and not err):
            return
        print(text, file=sys.stderr if err else sys.stdout, flush=True)

    def warn(self, text: str) -> None:
        """A line about something missing or odd: always shown, on stderr."""
        print(text, file=sys.stderr, flush=True)

    def essential(self, text: str) -> None:
        """What the command exists to print (e.g. a new key): shown even under --quiet."""
        if not self.json:
            print(text, flush=True)

    def progress(self, message: str, done: float | None = None, total: float | None = None, /) -> None:
        """The core's ``progress=`` callback: a step line, or how far counted work is.

        Shown by the open display (a bar on a terminal, plain lines elsewhere); on stderr
        under --json so stdout stays one document; nothing under --quiet.
        """
        if self.display is None:  # outside a `working` block: a plain line
            if not self.quiet:
                PlainDisplay(sys.stderr if self.json else sys.stdout)(message, done, total)
            return
        self.display(message, done, total)

    @contextmanager
    def working(self, title: str) -> Iterator[Output]:
        """Show progress while the block runs (a bar on a terminal); nests into the open one."""
        if self.display is not None:
            yield self
            return
        _json_logs()
        self.display = open_display(title, quiet=self.quiet, json=self.json)
        try:
            yield self
        finally:
            self.display.close()
            self.display = None

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        """A summary table at the end of a command (rich; plain text off a terminal); not under --quiet/--json."""
        if self.quiet or self.json:
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns, title=title, title_justify="left", header_style="bold")
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console = Console(soft_wrap=True, highlight=False)
        if not console.is_terminal:
            console.width = 160  # CI logs: do not fold the table into 80 columns
        console.print(table)

    def add(self, **fields: Any) -> None:
        """Fields of the --json document."""
        self.record.update(fields)

    def flush(self) -> None:
        if self.json and self.record:
            print(json.dumps(self.record, default=_jsonable, ensure_ascii=False), flush=True)


def _json_logs() -> None:
    """Long-running commands log as the service does: JSON lines on stderr at TRIAGE_LOG_LEVEL."""
    from api.logs import configure_logging
    from triage.settings import get_settings

    configure_logging(get_settings().log_level)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, frozenset | set | tuple):
        return sorted(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


_current: ContextVar[Output | None] = ContextVar("triage_cli_output", default=None)


def output() -> Output:
    """The current invocation's output mode (a default one outside `main`)."""
    return _current.get() or Output()


def use_output(out: Output):
    """Make `out` the current output mode; returns the token to `reset_output` with."""
    return _current.set(out)


def reset_output(token) -> None:
    _current.reset(token)


def print_error(message: str) -> None:
    """One line on stderr; `error:` coloured when stderr is a terminal."""
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(Text.assemble(("error:", "bold red"), " ", message))


def parse_timestamp(value: Any) -> datetime:
    """An ISO-8601 time with a zone, parsed by pandas (imported only when an option has one)."""
    if not isinstance(value, str):
        return value
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a timestamp; use e.g. 2026-03-01T00:00:00Z") from None
    if ts.tzinfo is None:
        raise typer.BadParameter(f"timestamp {value!r} has no time zone; use e.g. 2026-03-01T00:00:00Z")
    return ts.tz_convert("UTC")


TIMESTAMP: dict[str, Any] = {"parser": parse_timestamp, "metavar": "TIMESTAMP"}


def load_data(data: Path, quarantine: Path | None = None):
    """Load a contract folder, honouring --quarantine, and say what was set aside."""
    from triage.contract import load_dataset

    ds = load_dataset(data, quarantine=quarantine)
    if ds.report.rows_quarantined:
        total = sum(ds.report.rows_quarantined.values())
        output().say(f"quarantine: {total} broken rows set aside in {quarantine}", err=True)
        output().add(rows_quarantined=dict(ds.report.rows_quarantined))
    return ds
