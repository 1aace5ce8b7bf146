"""`run_server(settings, host, port, workers)`: uvicorn over `create_app`.

One worker runs the app object in-process. Several workers are separate processes
that rebuild the app from the environment, so the settings are exported as
`TRIAGE_*` variables first, and Prometheus gets a shared multiprocess folder.
"""

from __future__ import annotations

import os
import shutil

from triage.settings import Settings

__all__ = ["run_server", "settings_env"]


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the environment variables that rebuild them."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        key = "TRIAGE_" + name.upper()
        env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def run_server(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    import uvicorn

    from api.logs import configure_logging

    configure_logging(settings.log_level)
    if workers <= 1:
        from api.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_config=None)
        return
    os.environ.update(settings_env(settings))
    prom = (settings.home / "prometheus").resolve()
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
    )
