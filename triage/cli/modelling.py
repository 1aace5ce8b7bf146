"""Model and policy commands: train, score, backtest, policy tune, promote, ui, monitor."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from triage.cli._output import TIMESTAMP, load_data, output
from triage.cli.data import DataOpt, QuarantineOpt, SinceOpt
from triage.cli.engine import ClusterOpt, Engine, EngineOpt, PartitionsOpt, WorkersOpt, run_job, source
from triage.errors import TriageError

__all__ = ["register", "RETURN_SCORE_COLUMNS"]

PANEL = "Models and policy"

RETURN_SCORE_COLUMNS = ["p_restock", "p_refurbish", "p_liquidate", "p_return_to_vendor", "p_recycle", "p_abuse"]


def train(
    data: DataOpt,
    quarantine: QuarantineOpt = None,
    cutoff: Annotated[
        datetime | None,
        typer.Option(**TIMESTAMP, help="where training stands (default: latest event time)"),
    ] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment name")] = "triage",
    fraud_label_window: Annotated[
        int,
        typer.Option(metavar="DAYS", help="days after an order before 'no chargeback' counts as legitimate"),
    ] = 60,
    engine: EngineOpt = Engine.local,
    cluster: ClusterOpt = None,
    workers: WorkersOpt = 2,
    partitions: PartitionsOpt = None,
) -> None:
    """Train, evaluate and register the delay, fraud and returns models."""
    from training import train_all
    from triage.settings import get_settings

    o = output()
    if engine is Engine.dask:
        result = run_job("train_on_engine", cluster, workers, data=str(data), partitions=partitions,
                         quarantine=quarantine, cutoff=cutoff, experiment=experiment,
                         fraud_label_window_days=fraud_label_window, settings=get_settings())
        o.say(result.summary())
        o.add(summary=result.summary(), tracking_uri=get_settings().tracking_uri)
        return
    with o.working("train"):
        o.progress(f"loading {data}")
        ds = load_data(data, quarantine)
        result = train_all(
            ds,
            cutoff=cutoff,
            experiment=experiment,
            fraud_label_window_days=fraud_label_window,
            settings=get_settings(),
            progress=o.progress,
        )
    o.say(result.summary())
    o.table(f"train (cutoff {result.cutoff:%Y-%m-%d}, {result.seconds:.0f} s)",
            ["model", "head", "test metric", "model", "prior", "logistic", "oracle", "registry"], _train_rows(result))
    o.say(f"review the runs: triage ui   (MLflow store: {get_settings().tracking_uri})")
    o.add(summary=result.summary(), tracking_uri=get_settings().tracking_uri)


def _train_rows(result) -> list[list[str]]:
    """One row per trained head (the metric `summary()` reports), one per skipped model."""
    rows = []
    for r in result.models.values():
        state = f"v{r.version}" if r.version else "not registered"
        if r.promoted is not None:
            state += " champion" if r.promoted else " challenger"
        for t, h in r.heads.items():
            key = "log_loss" if t == "disposition" else ("pr_auc" if t in ("fraud", "abuse") else "roc_auc")
            cells = [f"{h.metrics[ref][key]:.4f}" if key in h.metrics.get(ref, {}) else "—"
                     for ref in ("model", "prior", "logistic", "oracle")]
            rows.append([r.name, t, key, *cells, state])
        rows += [[r.name, t, "skipped", why, "", "", "", state] for t, why in r.skipped_heads.items()]
    rows += [[name, "", "skipped", why, "", "", "", ""] for name, why in result.skipped.items()]
    return rows


def _bundles(settings):
    from models.registry import load_champions

    bundles = load_champions(settings)
    for name, bundle in bundles.items():
        if bundle is None:
            output().warn(f"{name}: no champion — its scores stay empty")
    return bundles


def _policy(path: Path | None, settings):
    from triage.policy import default_policy, load_policy

    chosen = path or settings.policy_path
    return load_policy(chosen) if chosen else default_policy()


def _out_of_time(since: datetime | None, bundles):
    """--since, or the end of the champions' training window: scores there are out-of-time."""
    from training.replay import champion_cutoff

    since = since or champion_cutoff(bundles)
    if since is None:
        raise TriageError("no champion model to score with; run `triage train` first")
    output().say(f"replaying events from {since.isoformat()} (out-of-time for the champions)")
    return since


def score(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="folder for order_scores.csv and return_scores.csv")],
    quarantine: QuarantineOpt = None,
    since: SinceOpt = None,
    policy: Annotated[
        Path | None, typer.Option(help="policy file for the decision columns (default: active policy)")
    ] = None,
    scores_only: Annotated[bool, typer.Option(help="write the scores without decision columns")] = False,
    engine: EngineOpt = Engine.local,
    cluster: ClusterOpt = None,
    workers: WorkersOpt = 2,
    partitions: PartitionsOpt = None,
) -> None:
    """Score orders and returns with the champion models, with decisions."""
    from triage.settings import get_settings

    o = output()
    settings = get_settings()
    if engine is Engine.dask:  # the --scores-only columns, as OUT/order_scores/ and OUT/return_scores/
        run = run_job("score_partitioned", cluster, workers, data=source(data), out=source(out),
                      bundles=_bundles(settings), since=since, partitions=partitions)
        o.say(f"done in {run.seconds:.1f} s")
        o.add(outputs=run.outputs, seconds=round(run.seconds, 2))
        return
    with o.working("score"):
        paths, orders, returns = _score(o, settings, data, out, quarantine, since, policy, scores_only)
    for what, path in paths.items():
        o.say(f"{what}: {path}")
    o.add(**{what: path for what, path in paths.items()}, orders_scored=len(orders), returns_scored=len(returns))


def _score(o, settings, data, out, quarantine, since, policy, scores_only):
    o.progress(f"loading {data}")
    ds = load_data(data, quarantine)
    bundles = _bundles(settings)
    if scores_only:
        from training import score_dataset, write_scores

        orders, returns = score_dataset(ds, since=since, bundles=bundles, progress=o.progress)
        paths = write_scores(orders, returns, out)
    else:
        from training.replay import decision_columns, scored_history

        chosen = _policy(policy, settings)
        history = scored_history(ds, bundles, since=since, progress=o.progress)
        started = time.perf_counter()
        orders = history.orders[["order_id", "p_late", "p_fraud"]].join(
            decision_columns(history.orders, "order", chosen)
        )
        returns = history.returns[["return_id", *RETURN_SCORE_COLUMNS]].join(
            decision_columns(history.returns, "return", chosen)
        )
        o.progress(f"decisions: {len(orders) + len(returns)} events in {time.perf_counter() - started:.1f}s")
        out.mkdir(parents=True, exist_ok=True)
        paths = {"orders": out / "order_scores.csv", "returns": out / "return_scores.csv"}
        o.progress("writing scores", 0, 2)
        orders.to_csv(paths["orders"], index=False, float_format="%.6g")
        o.progress("writing scores", 1, 2)
        returns.to_csv(paths["returns"], index=False, float_format="%.6g")
        o.progress("writing scores", 2, 2)
    return paths, orders, returns


def backtest(
    data: DataOpt,
    quarantine: QuarantineOpt = None,
    since: SinceOpt = None,
    policy: Annotated[Path | None, typer.Option(help="policy file (default: the shipped default policy)")] = None,
    against: Annotated[Path | None, typer.Option(help="a second policy file to compare side by side")] = None,
    html: Annotated[
        Path | None, typer.Option(help="HTML report path (default: <TRIAGE_HOME>/reports/backtest.html)")
    ] = None,
) -> None:
    """Replay scored history through a policy and compare."""
    from training.replay import scored_history
    from triage.settings import get_settings

    o = output()
    settings = get_settings()
    chosen = _policy(policy, settings)
    other = _policy(against, settings) if against else None
    with o.working("backtest"):
        o.progress(f"loading {data}")
        ds = load_data(data, quarantine)
        bundles = _bundles(settings)
        history = scored_history(ds, bundles, since=_out_of_time(since, bundles), progress=o.progress)
        report, path = _replay(o, settings, chosen, other, history, html)
    o.say(report.to_text())
    o.table("backtest", *_backtest_table(report))
    o.say(f"HTML report: {path}")
    o.add(report=report.to_text(), html=path)


def _backtest_table(report) -> tuple[list[str], list[list[str]]]:
    """The headline rows of the report: cost, reviews per day (capacity), fraud stopped."""
    cols, body = report.cells()
    keep = [r for r in body if "cost" in r[0] or "reviews / day" in r[0] or "stopped" in r[0]]
    return ["metric", *cols], keep or body


def _replay(o, settings, chosen, other, history, html):
    from triage.tuning.backtest import backtest as run_backtest
    from triage.tuning.plots import backtest_page

    orders = history.orders
    if orders.empty and history.returns.empty:
        raise TriageError("no orders or returns after the champions' training window; use an earlier --since")
    report = run_backtest(chosen, orders, history.returns, against=other, progress=o.progress)
    path = Path(html or Path(settings.home) / "reports" / "backtest.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    o.progress(f"writing {path}")
    backtest_page(report, path)
    return report, path


def policy_tune(
    data: DataOpt,
    quarantine: QuarantineOpt = None,
    since: SinceOpt = None,
    policy: Annotated[Path | None, typer.Option(help="policy to start from (default: the active policy)")] = None,
    out: Annotated[Path | None, typer.Option(help="new policy file (default: <TRIAGE_HOME>/policies/…)")] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="cost-curve plots (default: <TRIAGE_HOME>/reports/policy-tune-<version>.html)"),
    ] = None,
) -> None:
    """Pick cost-minimising thresholds within review capacity."""
    from training.replay import scored_history
    from triage.policy import write_policy
    from triage.settings import get_settings
    from triage.tuning.plots import tune_page
    from triage.tuning.tune import tune_policy

    o = output()
    settings = get_settings()
    start = _policy(policy, settings)
    with o.working("policy tune"):
        o.progress(f"loading {data}")
        ds = load_data(data, quarantine)
        bundles = _bundles(settings)
        since = _out_of_time(since, bundles)
        history = scored_history(ds, bundles, since=since, progress=o.progress)
        o.progress("tuning thresholds")
        result = tune_policy(start, history.orders, since=since)
    o.say(result.to_text())
    path = out or Path(settings.home) / "policies" / f"policy-{result.policy.policy_version}.yaml"
    write_policy(result.policy, path)
    o.say(f"wrote {path} (policy_version {result.policy.policy_version})")
    plots = html or Path(settings.home) / "reports" / f"policy-tune-{result.policy.policy_version}.html"
    tune_page(result, plots)
    o.say(f"cost curves: {plots}")
    o.say(f"make it active: start the service with TRIAGE_POLICY_PATH={path}, or copy it over the running "
          "service's policy file and POST /v1/admin/reload")
    o.add(policy=path, policy_version=result.policy.policy_version, report=result.to_text(), html=plots)


def promote(
    name: Annotated[str, typer.Argument(help="registered name, e.g. triage-fraud")],
    version: Annotated[str, typer.Argument(help="registered version to make champion")],
) -> None:
    """Make a registered model version the champion by hand."""
    from training import promote as run_promote
    from triage.settings import get_settings

    run_promote(name, version, settings=get_settings())
    output().say(f"{name} version {version} is now champion")
    output().add(name=name, version=version, champion=True)


def ui(host: str = "127.0.0.1", port: int = 5000) -> None:
    """Start the MLflow UI on the project's model store."""
    import subprocess

    from triage.mlflow_store import artifact_root
    from triage.settings import get_settings

    settings = get_settings()
    settings.mlruns_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}"
    output().say(f"MLflow UI on {url} (store {settings.tracking_uri}); Ctrl-C stops it")
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", settings.tracking_uri,
        "--default-artifact-root", str(artifact_root(settings) or settings.mlruns_dir.resolve()),
        "--host", host, "--port", str(port), "--workers", "1",
    ]
    code = subprocess.call(command)
    if code:
        raise typer.Exit(code)


class ModelName(StrEnum):
    delay = "triage-delay"
    fraud = "triage-fraud"
    returns = "triage-returns"


def monitor(
    since: Annotated[datetime | None, typer.Option(**TIMESTAMP)] = None,
    until: Annotated[datetime | None, typer.Option(**TIMESTAMP)] = None,
    model: Annotated[ModelName | None, typer.Option(help="only this model")] = None,
    out: Annotated[Path | None, typer.Option(help="report folder (default: <TRIAGE_HOME>/monitor)")] = None,
) -> None:
    """Drift, live quality and exception queue of recent decisions (exit 3 on an alert)."""
    from triage.monitoring.monitor import audited_window
    from triage.settings import get_settings

    o = output()
    settings = get_settings()
    with o.working("monitor"):
        o.progress("reading audited decisions")
        decisions, outcomes = audited_window(settings, since=since, until=until)
        if decisions.empty:
            o.warn("no audited decisions in the window: nothing to monitor")
            raise typer.Exit(1)
        result = _monitor(o, settings, decisions, outcomes, since, until, model, out)
    o.say(result.to_text())
    o.table("monitor", ["model", "version", "decisions", "drifted columns", "live quality", "alerts"],
            _monitor_rows(result))
    o.add(exit_code=result.exit_code, report=result.to_text())
    if result.exit_code:
        raise typer.Exit(int(result.exit_code))


def _monitor_rows(result) -> list[list[str]]:
    rows = []
    for c in result.checks:
        drift = f"{c.drift.share_drifted:.0%}" if c.drift else "—"
        if c.quality and c.quality.labelled:
            quality = ", ".join(f"{k} {c.quality.metrics[k]:.3f}" for k in ("roc_auc", "pr_auc") if k in c.quality.metrics)
        else:
            quality = "no matured labels"
        rows.append([c.name, str(c.version), str(c.drift.current_rows if c.drift else 0), drift, quality,
                     "; ".join(c.alerts) or "ok"])
    return rows


def _monitor(o, settings, decisions, outcomes, since, until, model, out):
    from models.registry import load_champions
    from triage.monitoring.monitor import log_to_mlflow
    from triage.monitoring.monitor import monitor as run_monitor

    as_of = until or decisions["received_at"].max()
    o.progress("loading champions")
    bundles = load_champions(settings)
    result = run_monitor(
        decisions, outcomes, bundles,
        out_dir=Path(out or Path(settings.home) / "monitor"),
        since=since, until=until, as_of=as_of,
        drift_share_threshold=settings.drift_share_threshold,
        quality_drop_threshold=settings.quality_drop_threshold,
        drift_score_threshold=settings.drift_score_threshold,
        min_labels=settings.min_labels_for_quality,
        min_rows=settings.min_rows_for_drift,
        fraud_label_window_days=settings.fraud_label_window_days,
        only=model.value if model else None,
        progress=o.progress,
    )
    o.progress("logging to MLflow")
    log_to_mlflow(result, settings)
    return result


policy_app = typer.Typer(help="Policy tools.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    for command in (train, score, backtest, promote, ui, monitor):
        app.command(rich_help_panel=PANEL)(command)
    policy_app.command("tune")(policy_tune)
    app.add_typer(policy_app, name="policy", rich_help_panel=PANEL)
