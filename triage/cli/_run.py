"""Running one `triage` invocation: the exit codes and the one-line errors.

Apart from `triage.cli` (which builds the command and registers every group) so that a
command that runs others — `demo` — can call `run` with its own root command without
importing the package that imports it.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from triage.cli._output import Output, print_error, reset_output, use_output
from triage.errors import TriageError

__all__ = ["run"]


def _command_name(root: Any, argv: list[str]) -> str:
    """The sub-command a command line ran (`train`, `policy tune`), for the one-line error."""
    # typer 0.29 carries its own click: a group is whatever has sub-commands, not a click.Group
    words = [a for a in argv if not a.startswith("-")]
    commands = getattr(root, "commands", None) or {}
    sub = commands.get(words[0]) if words else None
    return " ".join(words[: 2 if getattr(sub, "commands", None) else 1])


def run(root: Any, argv: Sequence[str] | None = None, *, out: Output | None = None) -> int:
    """Run the command `root` (the `triage` group) with `argv` (default: the process
    arguments); returns the exit code.

    Usage errors, `--help` and `--version` are typer's (exit 2 / 0); a `TriageError` from
    the core becomes one `error:` line and exit 1. With `out` (a command running another,
    as `demo` does) the caller owns the output: its mode, its display, its JSON record.
    """
    owner = out is None
    out = out or Output()
    token = use_output(out)
    try:
        root.main(
            args=list(argv) if argv is not None else None, prog_name="triage", standalone_mode=True
        )
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except TriageError as exc:
        print_error(exc.message)
        return 1
    except Exception as exc:  # a bug, not the data: one line for the user, the traceback on request
        if os.environ.get("TRIAGE_DEBUG"):
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        command = _command_name(root, list(argv) if argv is not None else sys.argv[1:])
        print_error(
            f"`triage {command}` failed unexpectedly ({type(exc).__name__}: {exc}, at "
            f"{Path(where.filename).name}:{where.lineno}); this is a bug — please report it with "
            "TRIAGE_DEBUG=1 set for the full traceback"
        )
        return 70  # EX_SOFTWARE: not the user's input (usage errors are 2)
    finally:
        reset_output(token)
    if owner:
        out.flush()
    return code
