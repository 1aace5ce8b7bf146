"""The feature list in the docs, generated from the declarations: `docs/FEATURES.md`.

    python -m features.catalog_doc            # rewrite docs/FEATURES.md
    python -m features.catalog_doc --check    # exit 1 if it is out of date

One row per feature: name, entity (the key its history is counted by, or the event's own
row), window (of the aggregations it reads, through any derived intermediates), description.
tests/features/test_catalog.py fails when the file is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from features.declarations import UTC_DAY, Aggregation, FeatureSet

__all__ = ["render", "DOC_PATH"]

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "FEATURES.md"
_KEY_NAMES = {"_all": "retailer"}


def _window(w: pd.Timedelta | str | None) -> str:
    if w is None:
        return "all history"
    if w == UTC_DAY:
        return "UTC day so far"
    assert isinstance(w, pd.Timedelta)
    hours = int(w.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def _sources(fs: FeatureSet, name: str) -> list[Aggregation]:
    """The aggregations a feature reads, directly or through derived values (declared order)."""
    aggs = {a.name: a for a in fs.aggregations}
    derived = {d.name: d for d in fs.derived}
    out: dict[str, Aggregation] = {}
    todo = [name]
    while todo:
        n = todo.pop(0)
        if n in aggs:
            out.setdefault(n, aggs[n])
        elif n in derived:
            todo.extend(derived[n].inputs)
    return [a for a in fs.aggregations if a.name in out]


def _entity_and_window(fs: FeatureSet, name: str) -> tuple[str, str]:
    sources = _sources(fs, name)
    if not sources:
        return f"{fs.entity} (own row)", "—"
    # the feature's own key: the one of its most specific aggregation (priors are retailer-wide)
    keys = list(dict.fromkeys(" × ".join(_KEY_NAMES.get(k, k) for k in a.key)
                              + (" (per basket line)" if a.grain == "line" else "") for a in sources))
    own = [k for k in keys if k != "retailer"] or keys
    windows = list(dict.fromkeys(_window(a.window) for a in sources))
    return ", ".join(own), ", ".join(windows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(feature_sets: tuple[FeatureSet, ...] | None = None) -> str:
    """The Markdown text of the feature list."""
    if feature_sets is None:
        from features import ORDER_FEATURES, RETURN_FEATURES

        feature_sets = (ORDER_FEATURES, RETURN_FEATURES)
    out = ["# Features", "",
           "Generated from the declarations (`features/order_catalog.py`, `features/returns.py`) by "
           "`python -m features.catalog_doc`; do not edit by hand. Every value is as of the event's own "
           "time: history windows are [t − window, t), outcomes count from when they became known.", "",
           "Adding a feature is one entry in its catalog (an `Aggregation` with a description, or a `Derived` "
           "formula from `features/formulas.py` over declared inputs) plus its test; the offline columns, the "
           "online batch and the one-event program are compiled from it (`features/derived.py`). Entity: the "
           "key its history is counted by (the event's own row for row and basket features); window: of the "
           "aggregations it reads, the smoothing prior's included.", ""]
    for fs in feature_sets:
        out += [f"## {fs.name} ({len(fs.features)} features, one row per `{fs.entity}` at `{fs.time_column}`)", "",
                "| name | entity | window | dtype | description |", "|---|---|---|---|---|"]
        for f in fs.features:
            entity, window = _entity_and_window(fs, f.name)
            out.append(f"| `{f.name}` | {_cell(entity)} | {window} | {f.dtype} | {_cell(f.description)} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write (or --check) docs/FEATURES.md from the feature declarations.")
    ap.add_argument("--check", action="store_true", help="exit 1 if the file differs from the declarations")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH} is out of date: run `python -m features.catalog_doc`", file=sys.stderr)
            return 1
        return 0
    DOC_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
