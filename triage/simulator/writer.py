"""Writes contract tables chunk by chunk: CSV (ISO 8601 `Z` timestamps, true/false) or Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from triage.schema import TABLES

TS = pa.timestamp("s", tz="UTC")
_ARROW = {"string": pa.string(), "category": pa.string(), "float": pa.float64(), "int": pa.int64(),
          "bool": pa.bool_(), "timestamp": TS}
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def ids(prefix: str, n: np.ndarray, width: int) -> pa.Array:
    s = pc.utf8_lpad(pc.cast(pa.array(np.asarray(n, np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, s, "")


def codes(values: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    idx = np.asarray(idx, np.int64)
    return pc.take(pa.array(values, pa.string()), pa.array(idx, mask=idx < 0))


def stamps(t: np.ndarray) -> pa.Array:
    t = np.asarray(t, np.int64)
    return pa.array(t, mask=t < 0).cast(TS)


def floats(x: np.ndarray, decimals: int | None = None) -> pa.Array:
    x = np.asarray(x, np.float64)
    if decimals is not None:
        x = np.round(x, decimals)
    return pa.array(x, from_pandas=True)


def hex_hash(x: np.ndarray, salt: int, width: int = 16) -> pa.Array:
    """A stable pseudo-hash (splitmix64) of integer codes, as lowercase hex text; -1 is null."""
    x = np.asarray(x, np.int64)
    with np.errstate(over="ignore"):
        z = (x.astype(np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    nib = (z[:, None] >> (np.uint64(4) * np.arange(15, -1, -1, dtype=np.uint64))) & np.uint64(15)
    chars = _HEX[nib.astype(np.int64)][:, 16 - width:]
    arr = pa.array(np.ascontiguousarray(chars).view(f"S{width}").ravel(), pa.binary()).cast(pa.string())
    return pc.if_else(pa.array(x < 0), pa.nulls(len(x), pa.string()), arr)


class Writer:
    """One open file per table; rows are appended in the contract's column order."""

    def __init__(self, out_dir: Path, fmt: str) -> None:
        self.dir, self.fmt = Path(out_dir), fmt
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "truth").mkdir(exist_ok=True)
        self._open: dict[str, pacsv.CSVWriter | pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def schema(self, name: str) -> pa.Schema:
        return pa.schema([(c.name, _ARROW[c.kind]) for c in TABLES[name].columns])

    def table(self, name: str, cols: dict[str, pa.Array]) -> None:
        schema = self.schema(name)
        t = pa.table([cols[f.name] for f in schema], schema=schema)
        if self.fmt == "csv":
            arrays = [pc.strftime(c, format="%Y-%m-%dT%H:%M:%SZ") if f.type == TS else c
                      for f, c in zip(schema, t.columns, strict=True)]
            t = pa.table(arrays, names=schema.names)
        self._write(name, self.dir / f"{name}.{self.fmt}", t)

    def truth(self, name: str, cols: dict[str, pa.Array]) -> None:
        self._write(f"truth/{name}", self.dir / "truth" / f"{name}.csv", pa.table(cols), csv=True)

    def _write(self, key: str, path: Path, t: pa.Table, csv: bool | None = None) -> None:
        csv = self.fmt == "csv" if csv is None else csv
        w = self._open.get(key)
        if w is None:
            if csv:
                w = pacsv.CSVWriter(path, t.schema, write_options=pacsv.WriteOptions(quoting_style="needed"))
            else:
                w = pq.ParquetWriter(path, t.schema, compression="zstd")
            self._open[key] = w
        w.write_table(t)
        self.rows[key] = self.rows.get(key, 0) + t.num_rows

    def close(self) -> None:
        for w in self._open.values():
            w.close()
        self._open.clear()

    def finish(self) -> None:
        """Give every contract table a file, with a header even when it has no rows."""
        for name in TABLES:
            if name not in self._open:
                schema = self.schema(name)
                empty = {f.name: pa.array([], f.type) for f in schema}
                self.table(name, empty)
        self.close()
