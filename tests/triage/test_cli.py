"""The `triage` command line: version, key management, script output and its error lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_frames, order_row
from triage import __version__
from triage.cli import main
from triage.settings import get_settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh TRIAGE_HOME (its SQLite database holds the keys) for the command's settings."""
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def _broken_folder(root: Path) -> Path:
    """A contract folder whose second order has a non-numeric order_total."""
    folder = root / "broken"
    folder.mkdir()
    frames = make_frames(orders=[order_row("O1"), order_row("O2", "1h", order_total="lots")])
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"triage {__version__}"


def test_python_dash_m_triage_runs_the_same_command():
    done = subprocess.run([sys.executable, "-m", "triage", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"triage {__version__}"


def test_keys_list_shows_active_keys_and_revoke_removes_one(home, capsys):
    assert main(["keys", "create", "--name", "oms", "--scopes", "decide,outcomes"]) == 0
    assert main(["keys", "create", "--name", "bi", "--scopes", "read"]) == 0
    capsys.readouterr()

    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert "oms" in listed and "decide,outcomes" in listed and "bi" in listed
    assert "trg_" not in listed  # never the keys themselves

    assert main(["keys", "revoke", "oms"]) == 0
    assert "API key 'oms' revoked" in capsys.readouterr().out
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert "oms" not in listed and "bi" in listed

    assert main(["--json", "keys", "list", "--all"]) == 0
    keys = {k["name"]: k for k in json.loads(capsys.readouterr().out)["keys"]}
    assert set(keys) == {"oms", "bi"}
    assert keys["oms"]["revoked_at"] is not None and keys["bi"]["revoked_at"] is None
    assert keys["oms"]["scopes"] == ["decide", "outcomes"]


def test_revoking_an_unknown_key_is_one_error_line_and_exit_1(home, capsys):
    assert main(["keys", "revoke", "never-made"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: no active API key named 'never-made'\n"
    assert captured.out == ""


def test_quiet_key_create_prints_only_the_key(home, capsys):
    assert main(["--quiet", "keys", "create", "--name", "script"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("trg_") and out.count("\n") == 1


def test_json_validate_names_table_column_and_row_and_exits_1(tmp_path, capsys):
    folder = _broken_folder(tmp_path)
    assert main(["--json", "validate", str(folder)]) == 1
    report = json.loads(capsys.readouterr().out)  # stdout is one JSON document
    assert report["ok"] is False
    assert {"severity": "error", "table": "orders", "column": "order_total", "message": "not a number",
            "rows": [2], "count": 1} in report["problems"]


def test_a_broken_dataset_is_an_error_line_naming_table_column_and_row(tmp_path, capsys):
    folder = _broken_folder(tmp_path)
    assert main(["features", "--data", str(folder), "--out", str(tmp_path / "f")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: dataset ")
    assert "orders.order_total: not a number — 1 row (row 2)" in captured.err
    assert "Traceback" not in captured.err


def test_a_timestamp_without_zone_is_a_usage_error(tmp_path, capsys):
    code = main(["features", "--data", str(tmp_path), "--out", str(tmp_path / "f"), "--since", "2026-01-01"])
    assert code == 2
    assert "has no time zone" in capsys.readouterr().err


def test_shell_completion_offers_the_sub_commands(monkeypatch, capsys):
    monkeypatch.setenv("_TRIAGE_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "triage keys ")
    monkeypatch.setenv("COMP_CWORD", "2")
    assert main([]) == 0
    assert capsys.readouterr().out.split() == ["create", "list", "revoke"]
