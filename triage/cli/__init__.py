"""The `triage` command (typer + rich): a thin edge over the domain core.

Each command parses its options, calls one core function and prints what it did; the
commands live by group in `data.py`, `modelling.py` and `service.py`. Heavy imports
(pandas, LightGBM, MLflow) happen inside the commands so that `triage --help` stays
instant. Errors the core raises on purpose print as one line and exit 1; usage errors
exit 2; `validate` exits 1 when the dataset has errors, `monitor` 3 on an alert. Anything
else is a bug: one line naming it, exit 70, the traceback only with `TRIAGE_DEBUG=1`.

`main(argv)` runs one invocation and returns its exit code (tests call it directly);
`python -m triage` and the `triage` script both go through it.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from triage.cli import data, modelling, service
from triage.cli._output import Output, output, print_error, reset_output, use_output
from triage.errors import TriageError

__all__ = ["app", "main"]

app = typer.Typer(
    name="triage",
    help="Exception triage for omnichannel retail: simulate, validate, train, score, decide, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from triage import __version__

        print(f"triage {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only what a command exists to print")] = False,
    json: Annotated[
        bool, typer.Option("--json", help="print one JSON document on stdout (progress goes to stderr)")
    ] = False,
) -> None:
    o = output()
    o.quiet, o.json = o.quiet or quiet, o.json or json  # a nested run keeps its caller's mode


data.register(app)
modelling.register(app)
service.register(app)


def _command_name(argv: list[str]) -> str:
    """The sub-command a command line ran (`train`, `policy tune`), for the one-line error."""
    # typer 0.29 carries its own click: a group is whatever has sub-commands, not a click.Group
    words = [a for a in argv if not a.startswith("-")]
    commands = getattr(typer.main.get_command(app), "commands", None) or {}
    sub = commands.get(words[0]) if words else None
    return " ".join(words[: 2 if getattr(sub, "commands", None) else 1])


def main(argv: Sequence[str] | None = None, *, out: Output | None = None) -> int:
    """Run `triage` with `argv` (default: the process arguments); returns the exit code.

    Usage errors, `--help` and `--version` are typer's (exit 2 / 0); a `TriageError` from
    the core becomes one `error:` line and exit 1. With `out` (a command running another,
    as `demo` does) the caller owns the output: its mode, its display, its JSON record.
    """
    owner = out is None
    out = out or Output()
    token = use_output(out)
    try:
        typer.main.get_command(app).main(
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
        command = _command_name(list(argv) if argv is not None else sys.argv[1:])
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


if __name__ == "__main__":
    sys.exit(main())
