"""What a user sees when a command cannot do what was asked: one line and an exit code."""

from __future__ import annotations

import pytest
import typer

import triage.cli as cli
from triage.cli._run import _command_name
from triage.simulator import simulate
from triage.simulator.shapes import SHAPES, ShapeContext, apply_shape, tables_of, write_dataset


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("TRIAGE_DEBUG", raising=False)
    return tmp_path


def test_an_unexpected_error_is_one_line_and_exit_70_and_the_traceback_only_on_request(env, monkeypatch, capsys):
    import triage.contract

    def broken(*_args, **_kw):
        raise RuntimeError("the disk said no")

    monkeypatch.setattr(triage.contract, "validate_dataset", broken)
    assert cli.main(["validate", str(env)]) == 70
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "`triage validate` failed unexpectedly (RuntimeError: the disk said no" in err
    monkeypatch.setenv("TRIAGE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="the disk said no"):
        cli.main(["validate", str(env)])


def test_the_error_line_names_a_two_word_command_whole():
    """`triage policy tune` failing names `policy tune`, not just the group (typer 0.29's click is
    its own copy, so a check against click.Group never matched)."""
    root = typer.main.get_command(cli.app)
    assert _command_name(root, ["policy", "tune", "--data", "x"]) == "policy tune"
    assert _command_name(root, ["--json", "keys", "list"]) == "keys list"
    assert _command_name(root, ["train", "--data", "x"]) == "train"


def test_commands_on_a_dataset_without_labels_say_what_they_cannot_do(env, capsys):
    from triage.contract import load_dataset

    simulate(env / "sim", orders=300, days=20, seed=2)
    ds = load_dataset(env / "sim")
    folder = write_dataset(
        apply_shape(SHAPES["no_optional_tables"], tables_of(ds), ShapeContext(cutoff=ds.max_event_time)),
        env / "bare",
    )
    assert cli.main(["train", "--data", str(folder)]) == 0
    out = capsys.readouterr().out
    for line in ("triage-delay: skipped — no fulfillment_outcomes table",
                 "triage-fraud: skipped — no fraud_labels table",
                 "triage-returns: skipped — no return_outcomes (no inspected returns)"):
        assert line in out
    for command in (["backtest", "--data", str(folder)], ["policy", "tune", "--data", str(folder)]):
        assert cli.main(command) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1] == "error: no champion model to score with; run `triage train` first", err
        assert not any("Traceback" in line for line in err)
