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

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from triage.cli import data, modelling, service
from triage.cli._output import Output, output
from triage.cli._run import run

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


def main(argv: Sequence[str] | None = None, *, out: Output | None = None) -> int:
    """Run `triage` with `argv` (default: the process arguments); returns the exit code
    (`triage.cli._run.run`: usage errors, `--help` and `--version` are typer's, exit 2 / 0;
    a `TriageError` from the core is one `error:` line and exit 1)."""
    return run(typer.main.get_command(app), argv, out=out)


if __name__ == "__main__":
    sys.exit(main())
