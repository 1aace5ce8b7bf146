"""Progress on long work: plain lines off a terminal, a bar on one, nothing under --quiet."""

from __future__ import annotations

import io
import json

from triage.cli import main
from triage.cli._progress import LiveDisplay, PlainDisplay, open_display
from triage.simulator import simulate


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_display_prints_counted_work_at_start_and_end_only_within_its_interval():
    out = io.StringIO()
    show = PlainDisplay(out, every=3600)
    for done in range(11):
        show("simulate: orders", done, 10)
    show("a step … 1.0s")
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "simulate: orders: 0/10 (0%)", "simulate: orders: 10/10 (100%)", "a step … 1.0s"
    ]


def test_a_terminal_gets_a_live_bar_and_a_pipe_gets_plain_lines(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr("sys.stdout", _Terminal())
    live = open_display("simulate", quiet=False, json=False)
    try:
        assert isinstance(live, LiveDisplay)
        live("simulate: orders", 5, 10)
    finally:
        live.close()
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert isinstance(open_display("simulate", quiet=False, json=False), PlainDisplay)
    assert type(open_display("simulate", quiet=True, json=False)).__name__ == "Display"


def test_simulate_reports_orders_written_up_to_the_total(tmp_path):
    calls = []
    simulate(tmp_path / "sim", orders=1500, days=20, progress=lambda *a: calls.append(a))
    counted = [c for c in calls if len(c) == 3]
    assert counted[0][1] == 0 and counted[-1][1] == counted[-1][2] == 1500
    assert [c[1] for c in counted] == sorted(c[1] for c in counted)


def test_simulate_command_progress_is_plain_on_a_pipe_stderr_under_json_and_absent_under_quiet(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "a"), "--orders", "800", "--days", "10"]) == 0
    out = capsys.readouterr().out
    assert "simulate: orders: 800/800 (100%)" in out and "\x1b[" not in out

    assert main(["--json", "simulate", "--out", str(tmp_path / "b"), "--orders", "800", "--days", "10"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["out"] == str(tmp_path / "b")
    assert "simulate: orders: 800/800" in captured.err

    assert main(["-q", "simulate", "--out", str(tmp_path / "c"), "--orders", "800", "--days", "10"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "simulate: orders" not in captured.err
