"""The distributed engine's plumbing: a Dask client, contract tables as partitioned frames, Parquet out.

`--engine dask` runs features, training and scoring on dask.distributed (the optional extra
`pip install -e ".[dask]"`); the embedded default (`local`) is the single-process path and
needs none of this. `connect(None)` starts a local cluster on this machine; an address
(`tcp://scheduler:8786`) joins an existing one. Inputs are contract folders whose tables are
Parquet files or folders of Parquet parts (`orders.parquet`, `orders/part.0.parquet`, …) on a
local path or any fsspec URL the workers can read (`s3://…`, `gs://…`, `abfs://…`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from triage.errors import TriageError

if TYPE_CHECKING:  # the extra is optional: nothing here imports dask at module import
    import dask.dataframe as dd
    from distributed import Client

__all__ = ["ENGINES", "EngineError", "EngineInfo", "connect", "read_tables", "write_parquet", "require_dask",
           "path_join"]

ENGINES = ("local", "dask")
EXTRA_HINT = 'the dask engine needs the optional extra: pip install -e ".[dask]"'


class EngineError(TriageError):
    """The engine cannot run: the extra is missing, the cluster is unreachable, an input is unusable."""


def require_dask() -> None:
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise EngineError(f"{EXTRA_HINT} ({exc})") from None


@dataclass(frozen=True)
class EngineInfo:
    """What ran the job: recorded as MLflow params and printed by the commands."""

    engine: str
    cluster: str  # scheduler address ("local" for a cluster started here)
    workers: int
    threads: int

    def params(self) -> dict[str, str | int]:
        return {"engine": self.engine, "cluster": self.cluster, "cluster_workers": self.workers,
                "cluster_threads": self.threads}


@contextmanager
def connect(
    address: str | None = None, *, workers: int = 2, threads_per_worker: int = 1, processes: bool = True,
    memory_limit: str | None = "auto",
) -> Iterator[tuple[Client, EngineInfo]]:
    """A client on `address`, or on a local cluster of `workers` started (and stopped) here."""
    require_dask()
    import dask
    from distributed import Client, LocalCluster

    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # one line per shuffle otherwise
    # text stays object dtype on the workers, as in the single-process frames (not pyarrow strings)
    dask.config.set({"dataframe.convert-string": False})
    if address:
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise EngineError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            info = _info(client, address)
            yield client, info
        finally:
            client.close()
        return
    with LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=processes,
                      dashboard_address=None, memory_limit=memory_limit) as cluster, Client(cluster) as client:
        yield client, _info(client, "local")


def _info(client: Client, address: str) -> EngineInfo:
    ws = client.scheduler_info(n_workers=-1)["workers"] if _takes_n_workers(client) else \
        client.scheduler_info()["workers"]
    return EngineInfo(engine="dask", cluster=address, workers=len(ws),
                      threads=int(sum(w.get("nthreads", 1) for w in ws.values())))


def _takes_n_workers(client: Client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def path_join(base: str, *parts: str) -> str:
    """`base/part/…` for local paths and fsspec URLs alike."""
    return "/".join([str(base).rstrip("/"), *parts])


def _table_path(folder: str, name: str) -> str | None:
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(folder))
    for candidate in (f"{name}.parquet", name):
        p = path_join(root, candidate)
        if fs.exists(p):
            return path_join(str(folder), candidate)
    if fs.exists(path_join(root, f"{name}.csv")):
        raise EngineError(f"{folder}: table {name} is CSV; the dask engine reads Parquet (write it with "
                          f"`triage simulate --format parquet`, or convert {name}.csv)")
    return None


def _coerce_partition(part: pd.DataFrame, name: str, number: int) -> pd.DataFrame:
    """One partition through the contract's own column checks (types, nulls, categories).

    References between tables are not checked here (they span partitions); `triage validate`
    on the folder checks them. A broken row stops the job, named by table, partition and row.
    """
    from triage.contract import ValidationReport, _check_table
    from triage.schema import TABLES

    table = TABLES[name]
    table = replace(table, columns=tuple(replace(c, references=None) for c in table.columns))
    report = ValidationReport()
    good, broken = _check_table(table, part, {}, report)
    if len(broken):
        first = broken.iloc[0]
        raise EngineError(f"table {name}, partition {number}, row {int(first['row'])}: {first['reasons']} "
                          f"({len(broken)} broken rows in the partition)")
    return good


def read_tables(folder: str, *, partitions: int | None = None) -> tuple[dict[str, dd.DataFrame], frozenset[str]]:
    """The contract tables of a Parquet folder as Dask frames in contract types, and which were present.

    Each frame carries `_row`: the row's position in its table (parts in name order), so a
    result can be put back in the order the single-process path gives. `partitions`
    repartitions every table present (tests; None keeps the files' partitioning).
    """
    require_dask()
    import dask
    import dask.dataframe as dd

    from triage.contract import empty_table
    from triage.schema import TABLE_ORDER, TABLES

    raw: dict[str, dd.DataFrame] = {}
    present: set[str] = set()
    for name in TABLE_ORDER:
        path = _table_path(folder, name)
        if path is None:
            if TABLES[name].required:
                raise EngineError(f"{folder}: required table {name} missing (no {name}.parquet or {name}/)")
            frame = dd.from_pandas(empty_table(name), npartitions=1)
        else:
            present.add(name)
            # a partition per row group (the simulator writes one per chunk): a file is never one task
            frame = dd.read_parquet(path, split_row_groups=True)
            if partitions:
                frame = frame.repartition(npartitions=partitions)
        raw[name] = frame
    # rows per partition, every table in one pass (a broken row is still found by the coercion)
    lengths = dask.compute(*[f.map_partitions(len, meta=(None, "int64")) for f in raw.values()])
    frames = {}
    for (name, frame), counts in zip(raw.items(), lengths, strict=True):
        coerced = frame.map_partitions(_coerce_with_number, name, meta=empty_table(name), partition_info=True)
        frames[name] = _with_row_numbers(coerced, np.asarray(counts, dtype=np.int64))
    return frames, frozenset(present)


def _coerce_with_number(part: pd.DataFrame, name: str, partition_info: dict | None = None) -> pd.DataFrame:
    return _coerce_partition(part, name, (partition_info or {}).get("number", 0))


def _with_row_numbers(frame: dd.DataFrame, lengths: np.ndarray) -> dd.DataFrame:
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    def add(part: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
        start = int(offsets[(partition_info or {}).get("number", 0)])
        return part.assign(_row=np.arange(start, start + len(part), dtype=np.int64))

    return frame.map_partitions(add, meta=frame._meta.assign(_row=np.int64(0)), partition_info=True)


def write_parquet(parts: Sequence[Any], path: str) -> str:
    """A partitioned Parquet folder (`part.00000.parquet`, …: name order is row order), index dropped.

    `parts`: delayed pandas frames, one file each, written by the workers (pyarrow through fsspec).
    """
    import dask
    import fsspec
    from dask import delayed

    fs, root = fsspec.core.url_to_fs(str(path))
    fs.makedirs(root, exist_ok=True)
    for old in fs.glob(path_join(root, "part.*.parquet")):
        fs.rm(old)
    dask.compute(*[delayed(_write_part)(part, str(path), i) for i, part in enumerate(parts)])
    return path


def _write_part(part: pd.DataFrame, path: str, number: int) -> None:
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(path)
    table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, path_join(root, f"part.{number:05d}.parquet"), filesystem=fs, compression="zstd")
