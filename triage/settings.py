"""One typed settings object for every command and the service.

Read from the environment (prefix `TRIAGE_`, plus `MLFLOW_TRACKING_URI`) so that
`triage keys create`, `triage train` and `triage serve` run in the same shell meet the
same stores, over a TOML file (`triage.toml` in the working directory, or the file
`TRIAGE_CONFIG` names) whose keys are the field names (`home = "/var/lib/triage"`);
the environment overrides the file, a key the file misspells is an error naming it.
Built by `get_settings()`; tests build their own `Settings(...)`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from triage.errors import ConfigError

__all__ = ["Settings", "get_settings", "project_root", "config_file"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

MODEL_NAMES = ("triage-delay", "triage-fraud", "triage-returns")


def project_root() -> Path:
    """The source checkout this package runs from, or the working directory.

    MLflow's own default puts `mlflow.db` wherever a command happens to run; we anchor
    the model store to the project so every command finds the same registry.
    """
    here = Path(__file__).resolve().parents[1]
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


def config_file() -> Path:
    """The settings file: `TRIAGE_CONFIG`, else `triage.toml` in the working directory (may not exist)."""
    return Path(os.environ.get("TRIAGE_CONFIG") or "triage.toml")


class _TomlFile(TomlConfigSettingsSource):
    """`triage.toml`: field names as keys; an unknown key is an error naming the file and key."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        self.path = config_file()
        if os.environ.get("TRIAGE_CONFIG") and not self.path.is_file():
            raise ConfigError(f"TRIAGE_CONFIG names {self.path}, which is not a file")
        super().__init__(settings_cls, toml_file=self.path)

    def __call__(self) -> dict[str, Any]:
        unknown = sorted(set(self.toml_data) - set(self.settings_cls.model_fields))
        if unknown:
            raise ConfigError(
                f"{self.path}: unknown setting {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(self.settings_cls.model_fields))}"
            )
        return super().__call__()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", validate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then `triage.toml`, then the defaults."""
        return init_settings, env_settings, _TomlFile(settings_cls)

    log_level: str = Field(default="INFO", description="level of the JSON log lines (DEBUG, INFO, WARNING, ERROR)")

    home: Path = Field(default=Path(".triage"), description="state folder: audit, keys, online store")
    database_url: str | None = Field(default=None, description="audit/key store; default SQLite in home")
    redis_url: str | None = Field(default=None, description="online feature store for several machines")
    redis_prefix: str = Field(default="triage:", min_length=1,
                              description="prefix of the online store's Redis keys (several services on one Redis)")
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "TRIAGE_MLFLOW_TRACKING_URI"),
        description="model registry; default SQLite in <project>/mlruns",
    )
    mlruns_dir: Path = Field(default_factory=lambda: project_root() / "mlruns")
    policy_path: Path | None = Field(default=None, description="active policy file; default the shipped one")
    bundle_dir: Path | None = Field(default=None, description="serve model bundles from here, not the registry")
    bootstrap_dir: Path | None = Field(default=None, description="contract folder that seeds the online state")
    fraud_label_window_days: int = Field(default=60, ge=1, le=365)
    max_batch_items: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=5_000_000, ge=1_000)
    coalesce_max: int = Field(
        default=32, ge=0, le=1000,
        description="single decisions arriving together are decided as one group of up to this many (0: one by one)",
    )
    metrics_open: bool = True
    retention_days: int = Field(default=730, ge=1)
    key_cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="how long a worker trusts a key lookup (revocation delay)"
    )
    key_cache_size: int = Field(default=10_000, ge=1, le=10_000_000, description="valid keys a worker remembers (LRU)")
    rate_limit_per_second: float = Field(
        default=0, ge=0, description="requests a second one API key may make to one worker (0: no limit); 429 above"
    )
    rate_limit_burst: int = Field(default=100, ge=1, description="requests above the rate a key may make at once")
    retry_after_seconds: int = Field(default=2, ge=1, le=3600, description="Retry-After on a 503")
    store_retry_max_seconds: float = Field(
        default=5.0, gt=0, le=300, description="longest wait between two attempts to reach an unreachable store"
    )
    pg_pool_size: int = Field(default=8, ge=1, le=200, description="most PostgreSQL connections per worker")
    pg_pool_timeout_seconds: float = Field(
        default=2.0, gt=0, le=60, description="how long a request waits for a PostgreSQL connection before 503"
    )
    read_max_days: int = Field(default=31, ge=1, le=3660, description="widest since/until window of a read route")
    read_max_rows: int = Field(
        default=200_000, ge=1, description="most decisions one summary may aggregate (422 above: narrow the window)"
    )
    page_max_items: int = Field(default=500, ge=1, le=10_000, description="most items on one page of a list route")
    reload_poll_seconds: float = Field(
        default=2.0, gt=0, le=300, description="how often a worker checks for a reload made by another"
    )
    review_claim_idle_minutes: float = Field(
        default=30.0, gt=0, le=24 * 60, description="a review claim lapses after this long without activity"
    )
    review_lookback_days: int = Field(
        default=30, ge=1, le=3650, description="the review queue looks at decisions with event time this recent"
    )
    drift_share_threshold: float = Field(default=0.5, gt=0, le=1, description="alert above this share of drifted columns")
    drift_score_threshold: float = Field(
        default=2.0, gt=0, description="alert when one column's normalised drift distance exceeds this"
    )
    min_labels_for_quality: int = Field(default=200, ge=1, description="matured labels needed to judge live quality")
    min_rows_for_drift: int = Field(default=200, ge=1, description="recent decisions needed to judge drift")
    quality_drop_threshold: float = Field(default=0.05, ge=0, le=1)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, v: str) -> str:
        if v.upper() not in LOG_LEVELS:
            raise ValueError(f"TRIAGE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}; got {v!r}")
        return v.upper()

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(f"TRIAGE_DATABASE_URL must start with sqlite:/// or postgresql://; got {v!r}")
        return v

    @property
    def tracking_uri(self) -> str:
        """MLflow store: MLFLOW_TRACKING_URI, else SQLite at <project>/mlruns/mlflow.db."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.mlruns_dir / 'mlflow.db').resolve()}"

    @property
    def audit_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'triage.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The settings of this process; a bad value is a `ConfigError` naming the setting and where it came from."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"setting {name!r} (TRIAGE_{name.upper()} or {config_file()}): {first['msg']}"
        ) from None
