"""The `triage` command: a thin edge over the domain core.

Each sub-command parses its options, calls one core function and prints what it
did. Heavy imports (pandas, LightGBM, MLflow) happen inside the commands so that
`triage --help` stays instant. Errors the core raises on purpose print as one line
and exit 1; `validate` exits 1 when the dataset has errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from triage.errors import TriageError

__all__ = ["main", "build_parser"]

Handler = Callable[[argparse.Namespace], int]


def _timestamp(text: str):
    import pandas as pd

    ts = pd.Timestamp(text)
    if ts.tzinfo is None:
        raise argparse.ArgumentTypeError(f"timestamp {text!r} has no time zone; use e.g. 2026-03-01T00:00:00Z")
    return ts.tz_convert("UTC")


def _load(args: argparse.Namespace):
    """Load the --data folder, honouring --quarantine, and say what was set aside."""
    from triage.contract import load_dataset

    ds = load_dataset(args.data, quarantine=getattr(args, "quarantine", None))
    if ds.report.rows_quarantined:
        total = sum(ds.report.rows_quarantined.values())
        print(f"quarantine: {total} broken rows set aside in {args.quarantine}", file=sys.stderr)
    return ds


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- commands -----------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    from triage.simulator import simulate

    started = time.perf_counter()
    summary = simulate(Path(args.out), orders=args.orders, days=args.days, seed=args.seed, fmt=args.format)
    print(summary)
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from triage.contract import load_dataset, validate_dataset

    if args.quarantine:
        ds = load_dataset(args.data, quarantine=args.quarantine)
        print(ds.report.to_text())
        return 0
    report = validate_dataset(args.data)
    print(report.to_text())
    return 0 if report.ok else 1


def cmd_features(args: argparse.Namespace) -> int:
    from features import build_order_features, build_return_features

    ds = _load(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, build in (("order_features", build_order_features), ("return_features", build_return_features)):
        started = time.perf_counter()
        frame = build(ds, since=args.since)
        frame.to_parquet(out / f"{name}.parquet", index=False)
        print(f"{name}: {len(frame)} rows × {frame.shape[1]} columns in {time.perf_counter() - started:.1f} s")
    return 0


# --- parser -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triage",
        description="Exception triage for omnichannel retail: simulate, validate, train, score, decide, serve.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    def data_options(p: argparse.ArgumentParser, *, since: bool = False) -> None:
        p.add_argument("--data", required=True, type=Path, help="contract folder (CSV or Parquet tables)")
        p.add_argument(
            "--quarantine", type=Path, help="write broken rows with their reasons here and go on"
        )
        if since:
            p.add_argument("--since", type=_timestamp, help="only events at or after this time (UTC)")

    p = command("simulate", cmd_simulate, "write a simulated retailer's history in the contract shape")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--orders", type=int, default=200_000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")

    p = command("validate", cmd_validate, "check a contract folder and print a report")
    p.add_argument("data", type=Path)
    p.add_argument("--quarantine", type=Path, help="write broken rows with their reasons here; exit 0")

    p = command("features", cmd_features, "write point-in-time order and return feature tables")
    data_options(p, since=True)
    p.add_argument("--out", required=True, type=Path)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except TriageError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
