"""The `triage` command: a thin edge over the domain core.

Each sub-command parses its options, calls one core function and prints what it
did. Heavy imports (pandas, LightGBM, MLflow) happen inside the commands so that
`triage --help` stays instant. Errors the core raises on purpose print as one line
and exit 1; `validate` exits 1 when the dataset has errors. Anything else is a bug:
one line naming it, exit 2, and the traceback only with `TRIAGE_DEBUG=1`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
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


def cmd_train(args: argparse.Namespace) -> int:
    from training import train_all
    from triage.settings import get_settings

    ds = _load(args)
    result = train_all(
        ds,
        cutoff=args.cutoff,
        experiment=args.experiment,
        fraud_label_window_days=args.fraud_label_window,
        settings=get_settings(),
        progress=_progress,
    )
    print(result.summary())
    print(f"review the runs: triage ui   (MLflow store: {get_settings().tracking_uri})")
    return 0


def _bundles(settings):
    from training import load_champions

    bundles = load_champions(settings)
    for name, bundle in bundles.items():
        if bundle is None:
            print(f"{name}: no champion — its scores stay empty", file=sys.stderr)
    return bundles


def cmd_score(args: argparse.Namespace) -> int:
    from triage.settings import get_settings

    ds = _load(args)
    settings = get_settings()
    bundles = _bundles(settings)
    out = Path(args.out)
    if args.scores_only:
        from training import score_dataset, write_scores

        orders, returns = score_dataset(ds, since=args.since, bundles=bundles, progress=_progress)
        paths = write_scores(orders, returns, out)
    else:
        from training.replay import decision_columns, scored_history

        policy = _policy(args.policy, settings)
        history = scored_history(ds, bundles, since=args.since, progress=_progress)
        started = time.perf_counter()
        orders = history.orders[["order_id", "p_late", "p_fraud"]].join(
            decision_columns(history.orders, "order", policy)
        )
        returns = history.returns[["return_id", *RETURN_SCORE_COLUMNS]].join(
            decision_columns(history.returns, "return", policy)
        )
        _progress(f"decisions: {len(orders) + len(returns)} events in {time.perf_counter() - started:.1f}s")
        out.mkdir(parents=True, exist_ok=True)
        paths = {"orders": out / "order_scores.csv", "returns": out / "return_scores.csv"}
        orders.to_csv(paths["orders"], index=False, float_format="%.6g")
        returns.to_csv(paths["returns"], index=False, float_format="%.6g")
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0


RETURN_SCORE_COLUMNS = ["p_restock", "p_refurbish", "p_liquidate", "p_return_to_vendor", "p_recycle", "p_abuse"]


def _policy(path: Path | None, settings):
    from triage.policy import default_policy, load_policy

    chosen = path or settings.policy_path
    return load_policy(chosen) if chosen else default_policy()


def _out_of_time(args: argparse.Namespace, bundles):
    """--since, or the end of the champions' training window: scores there are out-of-time."""
    from training.replay import champion_cutoff

    since = args.since or champion_cutoff(bundles)
    if since is None:
        raise TriageError("no champion model to score with; run `triage train` first")
    print(f"replaying events from {since.isoformat()} (out-of-time for the champions)")
    return since


def cmd_backtest(args: argparse.Namespace) -> int:
    from training.replay import scored_history
    from triage.policy.backtest import backtest
    from triage.settings import get_settings

    settings = get_settings()
    ds = _load(args)
    policy = _policy(args.policy, settings)
    against = _policy(args.against, settings) if args.against else None
    bundles = _bundles(settings)
    history = scored_history(ds, bundles, since=_out_of_time(args, bundles), progress=_progress)
    orders = history.orders
    if orders.empty and history.returns.empty:
        raise TriageError("no orders or returns after the champions' training window; use an earlier --since")
    report = backtest(policy, orders, history.returns, against=against, progress=_progress)
    print(report.to_text())
    html = Path(args.html or Path(settings.home) / "reports" / "backtest.html")
    html.parent.mkdir(parents=True, exist_ok=True)
    report.to_html(html)
    print(f"HTML report: {html}")
    return 0


def cmd_policy_tune(args: argparse.Namespace) -> int:
    from training.replay import scored_history
    from triage.policy import write_policy
    from triage.policy.tune import tune_policy
    from triage.settings import get_settings

    settings = get_settings()
    ds = _load(args)
    policy = _policy(args.policy, settings)
    bundles = _bundles(settings)
    since = _out_of_time(args, bundles)
    history = scored_history(ds, bundles, since=since, progress=_progress)
    result = tune_policy(policy, history.orders, since=since)
    print(result.to_text())
    out = args.out or Path(settings.home) / "policies" / f"policy-{result.policy.policy_version}.yaml"
    write_policy(result.policy, out)
    print(f"wrote {out} (policy_version {result.policy.policy_version})")
    print(f"make it active: start the service with TRIAGE_POLICY_PATH={out}, or copy it over the running "
          "service's policy file and POST /v1/admin/reload")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from training import promote
    from triage.settings import get_settings

    promote(args.name, args.version, settings=get_settings())
    print(f"{args.name} version {args.version} is now champion")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    import subprocess

    from triage.mlflow_store import artifact_root
    from triage.settings import get_settings

    settings = get_settings()
    settings.mlruns_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://{args.host}:{args.port}"
    print(f"MLflow UI on {url} (store {settings.tracking_uri}); Ctrl-C stops it", flush=True)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", settings.tracking_uri,
        "--default-artifact-root", str(artifact_root(settings) or settings.mlruns_dir.resolve()),
        "--host", args.host, "--port", str(args.port), "--workers", "1",
    ]
    return subprocess.call(command)


def cmd_serve(args: argparse.Namespace) -> int:
    from api import run_server
    from triage.settings import get_settings

    settings = get_settings()
    if args.bundle_dir:
        settings = settings.model_copy(update={"bundle_dir": args.bundle_dir})
    if args.policy:
        settings = settings.model_copy(update={"policy_path": args.policy})
    if args.bootstrap:
        settings = settings.model_copy(update={"bootstrap_dir": args.bootstrap})
    run_server(settings, host=args.host, port=args.port, workers=args.workers)
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from triage.keys import create_key
    from triage.settings import get_settings

    key = create_key(get_settings(), args.name, args.scopes)
    print(f"API key {args.name!r} with scopes {args.scopes}; shown once, keep it safe:")
    print(key)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from triage.keys import revoke_key
    from triage.settings import get_settings

    revoke_key(get_settings(), args.name)
    print(f"API key {args.name!r} revoked")
    return 0


def cmd_audit_purge(args: argparse.Namespace) -> int:
    from triage.audit import purge
    from triage.settings import get_settings

    counts = purge(get_settings(), args.before.to_pydatetime())
    print(", ".join(f"{n} {what} purged" for what, n in counts.items()))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from triage.audit import export
    from triage.settings import get_settings

    since = args.since.to_pydatetime() if args.since is not None else None
    counts = export(get_settings(), args.out, since)
    for table, n in counts.items():
        print(f"{table}: {n} rows")
    print(f"wrote {args.out}; add the retailer's nodes and products tables before training from it")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job end to end on the simulated retailer: what the quick start runs."""
    import pandas as pd

    data, out = Path(args.data), Path(args.out)
    steps: list[list[str]] = []
    if not (data / "orders.csv").exists():
        steps.append(["simulate", "--out", str(data), "--orders", str(args.orders), "--days", str(args.days)])
    steps.append(["validate", str(data)])
    for step in steps:
        _progress(f"triage {' '.join(step)}")
        if main(step) != 0:
            return 1
    start = pd.Timestamp("2025-01-01T00:00:00Z")  # the simulator's default start
    cutoff = (start + pd.Timedelta(days=args.days - args.holdout_days)).isoformat()
    for step in (
        ["train", "--data", str(data), "--cutoff", cutoff],
        ["score", "--data", str(data), "--out", str(out)],
        ["backtest", "--data", str(data), "--html", str(out / "backtest.html")],
    ):
        _progress(f"triage {' '.join(step)}")
        if main(step) != 0:
            return 1
    print(
        "\ndone. Next:\n"
        "  triage ui                                   # review the runs and models in MLflow\n"
        f"  triage serve --bootstrap {data}              # the scoring API on http://127.0.0.1:8000/docs"
    )
    _quickstart_key()
    return 0


def _quickstart_key() -> None:
    """The quick start's API key (all scopes), made once; its value is shown only then."""
    from triage.errors import ConflictError
    from triage.keys import create_key
    from triage.settings import get_settings

    try:
        key = create_key(get_settings(), "quickstart", "decide,outcomes,read,admin")
    except ConflictError:
        print("API key 'quickstart' exists already (shown when it was made); "
              "`triage keys revoke quickstart` and run again for a new one")
        return
    print("API key 'quickstart' (scopes decide,outcomes,read,admin) for X-API-Key; shown once:")
    print(key)


def cmd_monitor(args: argparse.Namespace) -> int:
    from training import load_champions
    from triage.monitoring.monitor import audited_window, log_to_mlflow, monitor
    from triage.settings import get_settings

    settings = get_settings()
    decisions, outcomes = audited_window(settings, since=args.since, until=args.until)
    if decisions.empty:
        print("no audited decisions in the window: nothing to monitor", file=sys.stderr)
        return 1
    as_of = args.until or decisions["received_at"].max()
    result = monitor(
        decisions, outcomes, load_champions(settings),
        out_dir=Path(args.out or Path(settings.home) / "monitor"),
        since=args.since, until=args.until, as_of=as_of,
        drift_share_threshold=settings.drift_share_threshold,
        quality_drop_threshold=settings.quality_drop_threshold,
        drift_score_threshold=settings.drift_score_threshold,
        min_labels=settings.min_labels_for_quality,
        min_rows=settings.min_rows_for_drift,
        fraud_label_window_days=settings.fraud_label_window_days,
        only=args.model,
    )
    log_to_mlflow(result, settings)
    print(result.to_text())
    return result.exit_code


def cmd_online_load(args: argparse.Namespace) -> int:
    from triage.settings import get_settings
    from triage.stores.online import load_online

    summary = load_online(get_settings(), args.data, replace=not args.append)
    for key, value in summary.items():
        print(f"{key}: {value}")
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

    p = command("demo", cmd_demo, "simulate → validate → train → score → backtest, end to end")
    p.add_argument("--data", type=Path, default=Path("data/sim"))
    p.add_argument("--out", type=Path, default=Path("out"))
    p.add_argument("--orders", type=int, default=200_000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--holdout-days", type=int, default=120,
                   help="days after the training cut-off kept out-of-time for scoring and the backtest")

    p = command("validate", cmd_validate, "check a contract folder and print a report")
    p.add_argument("data", type=Path)
    p.add_argument("--quarantine", type=Path, help="write broken rows with their reasons here; exit 0")

    p = command("features", cmd_features, "write point-in-time order and return feature tables")
    data_options(p, since=True)
    p.add_argument("--out", required=True, type=Path)

    p = command("train", cmd_train, "train, evaluate and register the delay, fraud and returns models")
    data_options(p)
    p.add_argument("--cutoff", type=_timestamp, help="where training stands (default: latest event time)")
    p.add_argument("--experiment", default="triage", help="MLflow experiment name")
    p.add_argument("--fraud-label-window", type=int, default=60, metavar="DAYS",
                   help="days after an order before 'no chargeback' counts as legitimate")

    p = command("score", cmd_score, "score orders and returns with the champion models, with decisions")
    data_options(p, since=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--policy", type=Path, help="policy file for the decision columns (default: active policy)")
    p.add_argument("--scores-only", action="store_true", help="write the scores without decision columns")

    p = command("backtest", cmd_backtest, "replay scored history through a policy and compare")
    data_options(p, since=True)
    p.add_argument("--policy", type=Path, help="policy file (default: the shipped default policy)")
    p.add_argument("--against", type=Path, help="a second policy file to compare side by side")
    p.add_argument("--html", type=Path, help="HTML report path (default: <TRIAGE_HOME>/reports/backtest.html)")

    policy = sub.add_parser("policy", help="policy tools").add_subparsers(dest="policy_cmd", required=True)
    p = policy.add_parser("tune", help="pick cost-minimising thresholds within review capacity")
    data_options(p, since=True)
    p.add_argument("--policy", type=Path, help="policy to start from (default: the active policy)")
    p.add_argument("--out", type=Path, help="new policy file (default: <TRIAGE_HOME>/policies/…)")
    p.set_defaults(handler=cmd_policy_tune)

    p = command("promote", cmd_promote, "make a registered model version the champion by hand")
    p.add_argument("name", help="registered name, e.g. triage-fraud")
    p.add_argument("version")

    p = command("ui", cmd_ui, "start the MLflow UI on the project's model store")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)

    p = command("serve", cmd_serve, "start the scoring API (FastAPI under uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--bundle-dir", type=Path, help="serve model bundles from this folder, not the registry")
    p.add_argument("--policy", type=Path, help="policy file (default: the active policy setting)")
    p.add_argument("--bootstrap", type=Path, help="load the online feature state from this contract folder")

    keys = sub.add_parser("keys", help="create or revoke API keys").add_subparsers(dest="keys", required=True)
    p = keys.add_parser("create", help="make a key; prints it once, on the last line")
    p.add_argument("--name", required=True)
    p.add_argument("--scopes", default="decide,read", help="comma-separated: decide,outcomes,read,admin")
    p.set_defaults(handler=cmd_keys_create)
    p = keys.add_parser("revoke", help="revoke a key by name")
    p.add_argument("name")
    p.set_defaults(handler=cmd_keys_revoke)

    audit = sub.add_parser("audit", help="audit store housekeeping").add_subparsers(dest="audit", required=True)
    p = audit.add_parser("purge", help="delete audited decisions and outcomes received before TS")
    p.add_argument("--before", required=True, type=_timestamp)
    p.set_defaults(handler=cmd_audit_purge)

    online = sub.add_parser("online", help="online feature state").add_subparsers(dest="online", required=True)
    p = online.add_parser("load", help="bootstrap the online state from a contract folder")
    p.add_argument("data", type=Path)
    p.add_argument("--append", action="store_true", help="add to the current state instead of replacing it")
    p.set_defaults(handler=cmd_online_load)

    p = command("export", cmd_export, "write audited events and outcomes as a contract folder")
    p.add_argument("out", type=Path)
    p.add_argument("--since", type=_timestamp)

    p = command("monitor", cmd_monitor, "drift, live quality and exception queue of recent decisions")
    p.add_argument("--since", type=_timestamp)
    p.add_argument("--until", type=_timestamp)
    p.add_argument("--model", choices=("triage-delay", "triage-fraud", "triage-returns"))
    p.add_argument("--out", type=Path, help="report folder (default: <TRIAGE_HOME>/monitor)")

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
    except Exception as exc:  # a bug, not the data: one line for the user, the traceback on request
        if os.environ.get("TRIAGE_DEBUG"):
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(
            f"error: `triage {args.command}` failed unexpectedly ({type(exc).__name__}: {exc}, at "
            f"{Path(where.filename).name}:{where.lineno}); this is a bug — please report it with "
            "TRIAGE_DEBUG=1 set for the full traceback",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
