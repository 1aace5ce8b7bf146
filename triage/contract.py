"""Load a retailer's history in the canonical contract, checking every rule on the way.

A dataset is a folder of CSV or Parquet files, one per table. `load_dataset` reads it,
coerces each column to its contract kind and checks nulls, bounds, keys, references
and category sets. A broken row either fails the load (the default) or, with a
quarantine file, is written there with its reasons and left out: never dropped
silently. Unseen category values and extra columns are information, not errors.

Loaded frames follow one convention every consumer can rely on:
- `string` and `category` columns: object dtype holding `str`, null as NaN;
- `timestamp`: `datetime64[ns, UTC]`, null as NaT;
- `float`: float64; `int`: int64; `bool`: bool;
- every contract table is present (an absent optional table is an empty frame with
  the contract columns) and `Dataset.present` says which tables the source had;
- an absent optional column is added, all null; extra columns are removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from triage.errors import ContractError
from triage.schema import TABLE_ORDER, TABLES, Column, Table

__all__ = [
    "Dataset",
    "Problem",
    "ValidationReport",
    "load_dataset",
    "validate_dataset",
    "dataset_from_frames",
    "empty_table",
]

_TZ_SUFFIX = r"(?:[Zz]|[+-]\d{2}:?\d{2})$"
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}
_EXAMPLES = 5


@dataclass(frozen=True)
class Problem:
    """One finding: which table, column and rows, and what was expected."""

    severity: str  # "error" or "info"
    table: str
    column: str | None
    message: str
    rows: tuple[int, ...] = ()  # 1-based data row numbers (row 1 is the first after the header)
    count: int = 0

    def __str__(self) -> str:
        where = self.table + (f".{self.column}" if self.column else "")
        if self.count and not self.rows:
            rows = f" — {self.count} row{'s' if self.count != 1 else ''}"
        elif self.count:
            shown = ", ".join(str(r) for r in self.rows[:_EXAMPLES])
            more = f" and {self.count - _EXAMPLES} more" if self.count > _EXAMPLES else ""
            rows = f" — {self.count} row{'s' if self.count != 1 else ''} (row {shown}{more})"
        else:
            rows = ""
        return f"{self.severity.upper():5} {where}: {self.message}{rows}"


@dataclass
class ValidationReport:
    """Everything found while loading, plus how many rows were set aside."""

    problems: list[Problem] = field(default_factory=list)
    rows_read: dict[str, int] = field(default_factory=dict)
    rows_quarantined: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def infos(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "info"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_text(self) -> str:
        lines = [f"{name}: {n} rows" for name, n in self.rows_read.items()]
        lines += [str(p) for p in self.problems]
        n_err = len(self.errors)
        lines.append(f"{n_err} error{'s' if n_err != 1 else ''}, {len(self.infos)} info")
        if self.rows_quarantined:
            total = sum(self.rows_quarantined.values())
            detail = ", ".join(f"{t}: {n}" for t, n in self.rows_quarantined.items())
            lines.append(f"{total} rows set aside in quarantine ({detail})")
        return "\n".join(lines)


@dataclass
class Dataset:
    """A loaded, checked contract dataset: one typed frame per contract table."""

    tables: dict[str, pd.DataFrame]
    present: frozenset[str]
    source: Path | None = None
    report: ValidationReport = field(default_factory=ValidationReport)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def has(self, name: str) -> bool:
        """Whether the source held this table (possibly with zero rows)."""
        return name in self.present

    @property
    def max_event_time(self) -> pd.Timestamp:
        """The latest order or return time: the default 'now' of training."""
        times = [self.tables["orders"]["created_at"].max()]
        if len(self.tables["returns"]):
            times.append(self.tables["returns"]["requested_at"].max())
        return max(t for t in times if pd.notna(t))


class _Checker:
    """Collects problems and broken-row masks for one table."""

    def __init__(self, table: Table, n: int, report: ValidationReport) -> None:
        self.table = table
        self.report = report
        self.broken = np.zeros(n, dtype=bool)
        self.reasons: dict[int, list[str]] = {}

    def error(self, column: str | None, mask: np.ndarray, message: str) -> None:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        self.broken |= mask
        self.report.problems.append(
            Problem("error", self.table.name, column, message, tuple(int(i) + 1 for i in idx[:_EXAMPLES]), len(idx))
        )
        reason = f"{column}: {message}" if column else message
        for i in idx:
            self.reasons.setdefault(int(i), []).append(reason)

    def info(self, column: str | None, message: str, count: int = 0) -> None:
        self.report.problems.append(Problem("info", self.table.name, column, message, (), count))


def _isnull(raw: pd.Series) -> np.ndarray:
    if raw.dtype == object:
        return (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()
    return raw.isna().to_numpy()


def _coerce_timestamp(raw: pd.Series, col: Column, chk: _Checker, null: np.ndarray) -> pd.Series:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        chk.error(col.name, ~null, "timestamp without time zone; expected UTC ('…Z') or an explicit offset")
        return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    text = raw.astype(str).str.strip()
    no_zone = ~null & ~text.str.contains(_TZ_SUFFIX, regex=True).to_numpy()
    chk.error(col.name, no_zone, "timestamp without time zone; expected ISO 8601 with 'Z' or an offset like +02:00")
    parsed = pd.to_datetime(text.where(~null & ~no_zone), utc=True, errors="coerce", format="ISO8601")
    bad = ~null & ~no_zone & parsed.isna().to_numpy()
    chk.error(col.name, bad, "unparseable timestamp; expected ISO 8601 like 2026-03-01T14:05:00Z")
    return parsed.astype("datetime64[ns, UTC]")


def _coerce_number(raw: pd.Series, col: Column, chk: _Checker, null: np.ndarray) -> pd.Series:
    if raw.dtype == bool:
        raw = raw.astype(np.int64)
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    values = num.to_numpy()
    bad = ~null & ~np.isfinite(values)
    what = "an integer" if col.kind == "int" else "a number"
    chk.error(col.name, bad, f"not {what}")
    if col.kind == "int":
        frac = ~null & ~bad & (np.floor(values) != values)
        chk.error(col.name, frac, "not a whole number; expected an integer")
        bad |= frac
    if col.min_value is not None:
        low = ~null & ~bad & (values < col.min_value)
        chk.error(col.name, low, f"below the minimum {col.min_value:g}")
    if col.kind == "int":
        return pd.Series(np.where(np.isfinite(values), values, 0).astype(np.int64), index=raw.index)
    return num


def _coerce_bool(raw: pd.Series, col: Column, chk: _Checker, null: np.ndarray) -> pd.Series:
    if raw.dtype == bool:
        return raw
    text = raw.astype(str).str.strip().str.lower()
    true = text.isin(_TRUE).to_numpy()
    bad = ~null & ~true & ~text.isin(_FALSE).to_numpy()
    chk.error(col.name, bad, "not a boolean; expected true/false or 1/0")
    return pd.Series(true, index=raw.index)


def _coerce_text(raw: pd.Series, col: Column, chk: _Checker, null: np.ndarray) -> pd.Series:
    text = raw.astype(object).where(~null, np.nan)
    mask = pd.Series(~null, index=raw.index)
    text[mask] = text[mask].astype(str).str.strip()
    if col.categories:
        unseen = mask & ~text.isin(col.categories)
        if unseen.any():
            values = sorted(text[unseen].unique())[:_EXAMPLES]
            chk.info(
                col.name,
                f"unseen category values {values} (expected one of {list(col.categories)}); "
                "accepted and treated as unseen",
                int(unseen.sum()),
            )
    return text


_COERCE = {
    "timestamp": _coerce_timestamp,
    "float": _coerce_number,
    "int": _coerce_number,
    "bool": _coerce_bool,
    "string": _coerce_text,
    "category": _coerce_text,
}


def empty_table(name: str) -> pd.DataFrame:
    """A zero-row frame with the contract columns and dtypes of a table."""
    return pd.DataFrame({c.name: pd.Series(dtype=_dtype(c)) for c in TABLES[name].columns})


def _dtype(col: Column) -> str:
    return {
        "timestamp": "datetime64[ns, UTC]",
        "float": "float64",
        "int": "int64",
        "bool": "bool",
    }.get(col.kind, "object")


def _check_table(
    table: Table, raw: pd.DataFrame, clean: Mapping[str, pd.DataFrame], report: ValidationReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce and check one table; return (good rows, broken rows with their reasons)."""
    raw = raw.reset_index(drop=True)
    chk = _Checker(table, len(raw), report)
    extra = [c for c in raw.columns if c not in table.column_names]
    if extra:
        chk.info(None, f"extra columns {extra} are not in the contract and are ignored")
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        if col.name not in raw.columns:
            out[col.name] = pd.Series(np.nan, index=raw.index).astype(_dtype(col))
            if col.kind == "bool":
                out[col.name] = pd.Series(False, index=raw.index)
            continue
        null = _isnull(raw[col.name])
        if not col.nullable:
            chk.error(col.name, null, "missing value; this column may not be empty")
        out[col.name] = _COERCE[col.kind](raw[col.name], col, chk, null)
    frame = pd.DataFrame(out, index=raw.index)

    if table.key:
        dup = frame.duplicated(list(table.key), keep="first").to_numpy() & ~chk.broken
        chk.error(
            ",".join(table.key), dup, f"duplicate key ({', '.join(table.key)}); each must appear once"
        )
    for col in table.columns:
        if not col.references or col.name not in raw.columns:
            continue
        ref_table, ref_col = col.references.split(".")
        known = clean[ref_table][ref_col]
        values = frame[col.name]
        missing = values.notna().to_numpy() & ~values.isin(known).to_numpy()
        chk.error(col.name, missing, f"no matching {ref_table}.{ref_col} (absent, or itself broken)")

    good = frame[~chk.broken].reset_index(drop=True)
    bad_idx = np.flatnonzero(chk.broken)
    broken = pd.DataFrame(
        {
            "table": table.name,
            "row": bad_idx + 1,
            "reasons": ["; ".join(chk.reasons[int(i)]) for i in bad_idx],
            "record": [json.dumps(_jsonable(raw.iloc[int(i)].to_dict()), default=str) for i in bad_idx],
        }
    )
    return good, broken


def _jsonable(row: dict) -> dict:
    return {k: (None if (not isinstance(v, (list, dict)) and pd.isna(v)) else v) for k, v in row.items()}


def _read_raw(folder: Path, report: ValidationReport) -> dict[str, pd.DataFrame]:
    if not folder.is_dir():
        raise ContractError(f"dataset folder {folder} does not exist or is not a folder")
    raw: dict[str, pd.DataFrame] = {}
    for name, table in TABLES.items():
        csv, parquet = folder / f"{name}.csv", folder / f"{name}.parquet"
        if csv.exists() and parquet.exists():
            raise ContractError(f"{folder}: both {csv.name} and {parquet.name} exist; keep one per table")
        if parquet.exists():
            raw[name] = pd.read_parquet(parquet)
        elif csv.exists():
            raw[name] = _read_csv(csv)
        elif table.required:
            report.problems.append(Problem("error", name, None, f"required table missing: no {csv.name} or {parquet.name}"))
        for col in table.columns:
            if name in raw and col.name not in raw[name].columns and not col.optional:
                report.problems.append(Problem("error", name, col.name, "required column missing from the file"))
    return raw


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], engine="c")
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except pd.errors.ParserError as exc:
        raise ContractError(f"{path}: not a readable CSV file ({exc})") from None


def _check_all(raw: Mapping[str, pd.DataFrame], report: ValidationReport) -> tuple[dict, pd.DataFrame]:
    clean: dict[str, pd.DataFrame] = {}
    broken_parts = []
    for name in TABLE_ORDER:
        if name not in raw:
            clean[name] = empty_table(name)
            continue
        frame = raw[name]
        if frame.shape[1] == 0:  # an empty file: no header at all
            frame = pd.DataFrame(columns=TABLES[name].column_names)
        report.rows_read[name] = len(frame)
        clean[name], broken = _check_table(TABLES[name], frame, clean, report)
        if len(broken):
            broken_parts.append(broken)
            report.rows_quarantined[name] = len(broken)
    broken_all = (
        pd.concat(broken_parts, ignore_index=True)
        if broken_parts
        else pd.DataFrame(columns=["table", "row", "reasons", "record"])
    )
    return clean, broken_all


def validate_dataset(folder: str | Path) -> ValidationReport:
    """Check a dataset folder and return the report, without raising on row errors."""
    report = ValidationReport()
    raw = _read_raw(Path(folder), report)
    if report.errors:  # a required table or column is missing: rows cannot be checked
        return report
    _check_all(raw, report)
    report.rows_quarantined.clear()
    return report


def load_dataset(folder: str | Path, *, quarantine: str | Path | None = None) -> Dataset:
    """Load a dataset folder; broken rows fail the load unless a quarantine file takes them.

    Raises ContractError with the full report when the folder cannot be used: a
    required table or column is missing, or rows are broken and no quarantine is given.
    """
    folder = Path(folder)
    report = ValidationReport()
    raw = _read_raw(folder, report)
    if report.errors:
        raise ContractError(f"dataset {folder} cannot be loaded:\n{report.to_text()}")
    clean, broken = _check_all(raw, report)
    if report.errors and quarantine is None:
        report.rows_quarantined.clear()
        raise ContractError(
            f"dataset {folder} has broken rows (use --quarantine FILE to set them aside):\n{report.to_text()}"
        )
    if quarantine is not None and len(broken):
        Path(quarantine).parent.mkdir(parents=True, exist_ok=True)
        broken.to_csv(quarantine, index=False)
    return Dataset(tables=clean, present=frozenset(raw), source=folder, report=report)


def dataset_from_frames(frames: Mapping[str, pd.DataFrame]) -> Dataset:
    """Build a Dataset from in-memory frames (tests, the API's exports), with the same checks.

    Values may be typed already or be contract text; missing optional tables are empty.
    Raises ContractError when a row breaks the contract.
    """
    report = ValidationReport()
    raw = {name: frame for name, frame in frames.items() if name in TABLES}
    for name in TABLES:
        if TABLES[name].required and name not in raw:
            raw[name] = empty_table(name)
    clean, _ = _check_all(raw, report)
    if report.errors:
        raise ContractError(f"frames break the contract:\n{report.to_text()}")
    return Dataset(tables=clean, present=frozenset(raw), source=None, report=report)
