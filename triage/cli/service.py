"""Service commands: serve, consume, keys, audit purge, online load, export."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from triage.cli._output import TIMESTAMP, output

__all__ = ["register"]

PANEL = "Service"


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    bundle_dir: Annotated[
        Path | None, typer.Option(help="serve model bundles from this folder, not the registry")
    ] = None,
    policy: Annotated[Path | None, typer.Option(help="policy file (default: the active policy setting)")] = None,
    bootstrap: Annotated[
        Path | None, typer.Option(help="load the online feature state from this contract folder")
    ] = None,
) -> None:
    """Start the scoring API (FastAPI under uvicorn)."""
    from api import run_server
    from triage.settings import get_settings

    settings = get_settings()
    if bundle_dir:
        settings = settings.model_copy(update={"bundle_dir": bundle_dir})
    if policy:
        settings = settings.model_copy(update={"policy_path": policy})
    if bootstrap:
        settings = settings.model_copy(update={"bootstrap_dir": bootstrap})
    run_server(settings, host=host, port=port, workers=workers)


def consume(
    broker: Annotated[str, typer.Option(metavar="URL", help="nats://host:4222 or amqp://user:pw@host:5672/")],
    prefix: Annotated[str | None, typer.Option(help="names <prefix>.orders, .returns, .outcomes, .decisions, "
                                                    ".deadletter (triage)")] = None,
    stream: Annotated[str | None, typer.Option(help="NATS: JetStream stream, created over <prefix>.> if absent "
                                                    "(TRIAGE)")] = None,
    durable: Annotated[str | None, typer.Option(help="NATS: durable consumers <durable>-orders, … (triage)")] = None,
    max_in_flight: Annotated[int | None, typer.Option(help="unacknowledged messages per input at most (256)")] = None,
    batch_max: Annotated[int | None, typer.Option(help="messages decided together at most (64)")] = None,
    ack_wait_seconds: Annotated[float | None, typer.Option(help="NATS: redelivery after this without an ack (30)")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="/metrics port, 0 for none (9108)")] = None,
    bundle_dir: Annotated[Path | None, typer.Option(help="model bundles from this folder, not the registry")] = None,
    policy: Annotated[Path | None, typer.Option(help="policy file (default: the active policy setting)")] = None,
    bootstrap: Annotated[
        Path | None, typer.Option(help="load the online feature state from this contract folder")
    ] = None,
    fault: Annotated[str | None, typer.Option(hidden=True, help="stop-before-ack: fault injection for tests")] = None,
) -> None:
    """Decide order and return events from NATS JetStream or RabbitMQ (docs/API.md, "Event bus")."""
    from api.bus import bus_config
    from api.bus import consume as run_consumer
    from triage.settings import get_settings

    settings = get_settings()
    for value, field in ((bundle_dir, "bundle_dir"), (policy, "policy_path"), (bootstrap, "bootstrap_dir")):
        if value:
            settings = settings.model_copy(update={field: value})
    given = {k: v for k, v in (("prefix", prefix), ("stream", stream), ("durable", durable),
                               ("max_in_flight", max_in_flight), ("batch_max", batch_max),
                               ("ack_wait_seconds", ack_wait_seconds), ("metrics_port", metrics_port))
             if v is not None}
    code = run_consumer(settings, broker, bus_config(**given), fault=fault)
    if code:
        raise typer.Exit(code)


keys_app = typer.Typer(help="Create, list or revoke API keys.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="a name for the key's holder, e.g. oms")],
    scopes: Annotated[str, typer.Option(help="comma-separated: decide,outcomes,read,admin,review (review: the review queue and console only)")] = "decide,read",
) -> None:
    """Make a key; prints it once, on the last line."""
    from triage.keys import create_key
    from triage.settings import get_settings

    key = create_key(get_settings(), name, scopes)
    o = output()
    o.say(f"API key {name!r} with scopes {scopes}; shown once, keep it safe:")
    o.essential(key)
    o.add(name=name, scopes=scopes.split(","), key=key)


@keys_app.command("list")
def keys_list(
    all: Annotated[bool, typer.Option("--all", help="show revoked keys too")] = False,
) -> None:
    """List API keys: name, scopes, created, revoked (never the keys themselves)."""
    from triage.keys import list_keys
    from triage.settings import get_settings

    records = [k for k in list_keys(get_settings()) if all or k.revoked_at is None]
    o = output()
    o.add(keys=[
        {"name": k.name, "scopes": sorted(k.scopes), "created_at": k.created_at, "revoked_at": k.revoked_at}
        for k in records
    ])
    if o.quiet or o.json:
        return
    if not records:
        o.say("no API keys" + ("" if all else " (active); --all shows revoked ones too")
              + "; make one with `triage keys create --name NAME`")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "scopes", "created (UTC)", "revoked (UTC)", box=None, header_style="bold")
    for k in records:
        table.add_row(
            k.name, ",".join(sorted(k.scopes)), _when(k.created_at), _when(k.revoked_at) if k.revoked_at else "—"
        )
    Console(soft_wrap=True, highlight=False).print(table)


def _when(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts is not None else ""


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="the key's name")]) -> None:
    """Revoke a key by name."""
    from triage.keys import revoke_key
    from triage.settings import get_settings

    revoke_key(get_settings(), name)
    output().say(f"API key {name!r} revoked")
    output().add(name=name, revoked=True)


audit_app = typer.Typer(help="Audit store housekeeping.", no_args_is_help=True)


@audit_app.command("purge")
def audit_purge(
    before: Annotated[datetime, typer.Option(**TIMESTAMP, help="purge what was received before this")],
) -> None:
    """Delete audited decisions and outcomes received before TS."""
    import pandas as pd

    from triage.audit import purge
    from triage.settings import get_settings

    counts = purge(get_settings(), pd.Timestamp(before).to_pydatetime())
    output().say(", ".join(f"{n} {what} purged" for what, n in counts.items()))
    output().add(purged=dict(counts))


online_app = typer.Typer(help="Online feature state.", no_args_is_help=True)


@online_app.command("load")
def online_load(
    data: Annotated[Path, typer.Argument(help="contract folder")],
    append: Annotated[bool, typer.Option(help="add to the current state instead of replacing it")] = False,
) -> None:
    """Bootstrap the online state from a contract folder."""
    from triage.settings import get_settings
    from triage.stores.online import load_online

    o = output()
    with o.working("online load"):
        summary = load_online(get_settings(), data, replace=not append, progress=o.progress)
    for key, value in summary.items():
        o.say(f"{key}: {value}")
    o.add(**summary)


def export(
    out: Annotated[Path, typer.Argument(help="folder to write the contract tables to")],
    since: Annotated[datetime | None, typer.Option(**TIMESTAMP)] = None,
) -> None:
    """Write audited events and outcomes as a contract folder."""
    import pandas as pd

    from triage.audit import export as run_export
    from triage.settings import get_settings

    o = output()
    with o.working("export"):
        counts = run_export(
            get_settings(), out, pd.Timestamp(since).to_pydatetime() if since is not None else None,
            progress=o.progress,
        )
    for table, n in counts.items():
        o.say(f"{table}: {n} rows")
    o.say(f"wrote {out}; add the retailer's nodes and products tables before training from it")
    o.add(out=out, rows=dict(counts))


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(serve)
    app.command(rich_help_panel=PANEL)(consume)
    app.add_typer(keys_app, name="keys", rich_help_panel=PANEL)
    app.add_typer(audit_app, name="audit", rich_help_panel=PANEL)
    app.add_typer(online_app, name="online", rich_help_panel=PANEL)
    app.command(rich_help_panel=PANEL)(export)
