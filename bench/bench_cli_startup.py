"""How long `triage --help` takes, against the interpreter alone and the argparse CLI it replaced.

    .venv/bin/python bench/bench_cli_startup.py [--runs 9] [--baseline c95b69d]

Each line is the median wall time of --runs fresh processes (the first run of each is
dropped as a warm-up for the file cache). The argparse CLI is the file `triage/cli.py` at
--baseline (the commit before the typer CLI), run from a temporary folder in the same run.
`import pandas` is there to show what one heavy import at module level would cost.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--baseline", default="c95b69d", help="commit whose triage/cli.py is the argparse CLI")
    args = parser.parse_args()

    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "argparse_cli.py"
        old.write_text(subprocess.run(["git", "show", f"{args.baseline}:triage/cli.py"], check=True,
                                      capture_output=True, text=True, cwd=ROOT).stdout)
        cases = {
            "python -c pass (interpreter floor)": [py, "-c", "pass"],
            "import triage.errors": [py, "-c", "import triage.errors"],
            f"argparse CLI --help ({args.baseline})": [py, str(old), "--help"],
            "python -m triage --help (typer + rich)": [py, "-m", "triage", "--help"],
            "python -m triage --version": [py, "-m", "triage", "--version"],
            "python -m triage keys --help": [py, "-m", "triage", "keys", "--help"],
            "import pandas (for scale)": [py, "-c", "import pandas"],
        }
        results = {name: median_seconds(command, args.runs) for name, command in cases.items()}
    floor = results["python -c pass (interpreter floor)"]
    baseline = results[f"argparse CLI --help ({args.baseline})"]
    print(f"median of {args.runs} runs each")
    for name, seconds in results.items():
        print(f"  {name:<44} {seconds * 1000:7.0f} ms   {seconds / floor:5.1f}x floor   "
              f"{seconds / baseline:5.2f}x argparse")


if __name__ == "__main__":
    main()
