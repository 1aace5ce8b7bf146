"""Data commands: simulate, validate, features, and the end-to-end demo."""

from __future__ import annotations

import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from triage.cli._output import TIMESTAMP, load_data, output
from triage.cli.engine import ClusterOpt, Engine, EngineOpt, PartitionsOpt, WorkersOpt, run_job, source

__all__ = ["register", "DataOpt", "QuarantineOpt", "SinceOpt"]

PANEL = "Data"

DataOpt = Annotated[Path, typer.Option("--data", help="contract folder (CSV or Parquet tables)")]
QuarantineOpt = Annotated[
    Path | None, typer.Option(help="write broken rows with their reasons here and go on")
]
SinceOpt = Annotated[
    datetime | None, typer.Option(**TIMESTAMP, help="only events at or after this time (UTC)")
]


class Format(StrEnum):
    csv = "csv"
    parquet = "parquet"


def simulate(
    out: Annotated[Path, typer.Option(help="folder to write the tables to")],
    orders: int = 200_000,
    days: int = 365,
    seed: int = 7,
    format: Annotated[Format, typer.Option("--format")] = Format.csv,
) -> None:
    """Write a simulated retailer's history in the contract shape."""
    from triage.simulator import simulate as run

    o = output()
    started = time.perf_counter()
    with o.working("simulate"):
        summary = run(Path(out), orders=orders, days=days, seed=seed, fmt=format.value, progress=o.progress)
    seconds = time.perf_counter() - started
    o.say(str(summary))
    o.say(f"wrote {out} in {seconds:.1f} s")
    o.add(out=out, seconds=round(seconds, 2), summary=str(summary))


def validate(
    data: Annotated[Path, typer.Argument(help="contract folder")],
    quarantine: Annotated[
        Path | None, typer.Option(help="write broken rows with their reasons here; exit 0")
    ] = None,
) -> None:
    """Check a contract folder and print a report (exit 1 when it has errors)."""
    from triage.contract import load_dataset, validate_dataset

    o = output()
    if quarantine:
        ds = load_dataset(data, quarantine=quarantine)
        o.say(ds.report.to_text())
        o.add(ok=True, **_report_fields(ds.report))
        return
    report = validate_dataset(data)
    o.say(report.to_text())
    o.add(ok=bool(report.ok), **_report_fields(report))
    if not report.ok:
        raise typer.Exit(1)


def _report_fields(report) -> dict:
    """A validation report for --json: problems named by table, column and row numbers."""
    from dataclasses import asdict

    return {
        "rows_read": dict(report.rows_read),
        "rows_quarantined": dict(report.rows_quarantined),
        "problems": [asdict(p) for p in report.problems],
    }


def features(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="folder for order_features/return_features.parquet")],
    quarantine: QuarantineOpt = None,
    since: SinceOpt = None,
    engine: EngineOpt = Engine.local,
    cluster: ClusterOpt = None,
    workers: WorkersOpt = 2,
    partitions: PartitionsOpt = None,
) -> None:
    """Write point-in-time order and return feature tables."""
    from features import build_order_features, build_return_features

    o = output()
    if engine is Engine.dask:  # OUT/order_features/ and OUT/return_features/, partitioned Parquet
        run = run_job("write_features", cluster, workers, data=source(data), out=source(out), since=since,
                      partitions=partitions)
        o.say(f"done in {run.seconds:.1f} s")
        o.add(tables=run.outputs, seconds=round(run.seconds, 2))
        return
    builds = (("order_features", build_order_features), ("return_features", build_return_features))
    tables = {}
    with o.working("features"):
        o.progress(f"loading {data}")
        ds = load_data(data, quarantine)
        out.mkdir(parents=True, exist_ok=True)
        for i, (name, build) in enumerate(builds):
            o.progress(f"features: {name}", i, len(builds))
            started = time.perf_counter()
            frame = build(ds, since=since)
            frame.to_parquet(out / f"{name}.parquet", index=False)
            o.say(f"{name}: {len(frame)} rows × {frame.shape[1]} columns in {time.perf_counter() - started:.1f} s")
            tables[name] = {"rows": len(frame), "columns": frame.shape[1], "path": out / f"{name}.parquet"}
        o.progress("features: tables", len(builds), len(builds))
    o.add(tables=tables)


def demo(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="contract folder (simulated when it has no orders.csv)")] = Path(
        "data/sim"
    ),
    out: Annotated[Path, typer.Option(help="scores and the backtest report go here")] = Path("out"),
    orders: int = 200_000,
    days: int = 365,
    holdout_days: Annotated[
        int, typer.Option(help="days after the training cut-off kept out-of-time for scoring and the backtest")
    ] = 120,
) -> None:
    """Simulate → validate → train → score → backtest, end to end."""
    import pandas as pd

    from triage.cli._output import Output
    from triage.cli._run import run

    o = output()
    steps: list[list[str]] = []
    if not (data / "orders.csv").exists():
        steps.append(["simulate", "--out", str(data), "--orders", str(orders), "--days", str(days)])
    steps.append(["validate", str(data)])
    start = pd.Timestamp("2025-01-01T00:00:00Z")  # the simulator's default start
    cutoff = (start + pd.Timedelta(days=days - holdout_days)).isoformat()
    steps += [
        ["train", "--data", str(data), "--cutoff", cutoff],
        ["score", "--data", str(data), "--out", str(out)],
        ["backtest", "--data", str(data), "--html", str(out / "backtest.html")],
    ]
    done: list[list[str]] = []
    with o.working("demo"):
        for i, step in enumerate(steps):
            o.progress(f"demo: step {i + 1}/{len(steps)}: triage {' '.join(step)}")
            o.progress("demo: steps", i, len(steps))
            # each step shares this display and mode; its --json fields come back in `inner`
            inner = Output(quiet=o.quiet, json=o.json, display=o.display)
            started = time.perf_counter()
            if run(ctx.find_root().command, step, out=inner) != 0:
                raise typer.Exit(1)
            done.append([step[0], f"{time.perf_counter() - started:.1f}", _step_result(step[0], inner.record)])
        o.progress("demo: steps", len(steps), len(steps))
    o.table("demo", ["step", "seconds", "result"], done)
    o.say(
        "\ndone. Next:\n"
        "  triage ui                                   # review the runs and models in MLflow\n"
        f"  triage serve --bootstrap {data}              # the scoring API on http://127.0.0.1:8000/docs"
    )
    o.add(data=data, out=out, backtest_html=out / "backtest.html",
          steps=[{"step": s, "seconds": float(t), "result": r} for s, t, r in done])
    _quickstart_key()


def _step_result(step: str, record: dict) -> str:
    """One cell for the demo's summary table, from what the step put in its --json record."""
    if step == "simulate":
        return f"wrote {record.get('out')}"
    if step == "validate":
        rows = record.get("rows_read", {})
        return f"{rows.get('orders', 0):,} orders, {rows.get('returns', 0):,} returns; {len(record.get('problems', []))} problems"
    if step == "train":
        lines = str(record.get("summary", "")).splitlines()
        return "; ".join(line.strip() for line in lines if ": trained" in line or ": skipped" in line)
    if step == "score":
        return f"{record.get('orders_scored', 0):,} orders, {record.get('returns_scored', 0):,} returns scored"
    if step == "backtest":
        return f"report {record.get('html')}"
    return ""


def _quickstart_key() -> None:
    """The quick start's API key (all scopes), made once; its value is shown only then."""
    from triage.errors import ConflictError
    from triage.keys import create_key
    from triage.settings import get_settings

    o = output()
    try:
        key = create_key(get_settings(), "quickstart", "decide,outcomes,read,admin")
    except ConflictError:
        o.say("API key 'quickstart' exists already (shown when it was made); "
              "`triage keys revoke quickstart` and run again for a new one")
        return
    o.say("API key 'quickstart' (scopes decide,outcomes,read,admin) for X-API-Key; shown once:")
    o.essential(key)
    o.add(key_name="quickstart", key=key)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(simulate)
    app.command(rich_help_panel=PANEL)(demo)
    app.command(rich_help_panel=PANEL)(validate)
    app.command(rich_help_panel=PANEL)(features)
