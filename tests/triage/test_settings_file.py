"""triage.toml under the environment; TRIAGE_LOG_LEVEL; JSON logs for long-running commands."""

from __future__ import annotations

import json
import logging

import pytest

from triage.cli import main
from triage.errors import ConfigError
from triage.settings import Settings, get_settings


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("TRIAGE_CONFIG", "TRIAGE_HOME", "TRIAGE_LOG_LEVEL", "TRIAGE_MAX_BATCH_ITEMS", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_triage_toml_in_the_working_directory_sets_fields_and_the_environment_overrides_it(workdir, monkeypatch):
    (workdir / "triage.toml").write_text(
        'home = "from-file"\nmax_batch_items = 50\nlog_level = "warning"\n'
        'mlflow_tracking_uri = "sqlite:///file.db"\n'
    )
    s = Settings()
    assert (str(s.home), s.max_batch_items, s.log_level, s.tracking_uri) == (
        "from-file", 50, "WARNING", "sqlite:///file.db"
    )
    monkeypatch.setenv("TRIAGE_HOME", "from-env")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    s = Settings()
    assert (str(s.home), s.max_batch_items, s.tracking_uri) == ("from-env", 50, "sqlite:///env.db")


def test_triage_config_names_another_file_and_a_missing_one_is_an_error(workdir, monkeypatch):
    (workdir / "ops.toml").write_text("coalesce_max = 7\n")
    monkeypatch.setenv("TRIAGE_CONFIG", str(workdir / "ops.toml"))
    assert Settings().coalesce_max == 7
    monkeypatch.setenv("TRIAGE_CONFIG", str(workdir / "missing.toml"))
    with pytest.raises(ConfigError, match="missing.toml"):
        Settings()


def test_a_misspelt_key_or_a_bad_value_is_one_error_line_naming_it(workdir, capsys):
    (workdir / "triage.toml").write_text("hom = 'x'\n")
    assert main(["keys", "list"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: triage.toml: unknown setting 'hom'") and "\n" not in err
    (workdir / "triage.toml").write_text("log_level = 'loud'\n")
    assert main(["keys", "list"]) == 1
    err = capsys.readouterr().err.strip()
    assert "setting 'log_level'" in err and "TRIAGE_LOG_LEVEL" in err and "Traceback" not in err


def test_a_long_running_command_logs_json_lines_at_the_configured_level(workdir, monkeypatch, capsys):
    monkeypatch.setenv("TRIAGE_LOG_LEVEL", "DEBUG")
    assert main(["simulate", "--out", str(workdir / "sim"), "--orders", "300", "--days", "5"]) == 0
    capsys.readouterr()
    logger = logging.getLogger("triage.online")
    logger.debug("checked", extra={"rows": 3})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert json.loads(line) | {"ts": None} == {
        "ts": None, "level": "debug", "logger": "triage.online", "msg": "checked", "rows": 3
    }
