"""Features on the engine are the single-process features, row for row."""

from __future__ import annotations

import pandas as pd

from features import build_order_features, build_return_features
from features.partitioned import _call, _merged_categories
from training.engine_jobs import write_features
from triage.contract import load_dataset


def test_distributed_features_equal_single_process_parquet(client, sim_parquet, tmp_path):
    # events from `since` on, with all history before it: the harder case of the two
    since = pd.Timestamp("2025-02-01T00:00:00Z")
    ds = load_dataset(sim_parquet)
    single = {"order_features": build_order_features(ds, since=since),
              "return_features": build_return_features(ds, since=since)}
    run = write_features(client, str(sim_parquet), str(tmp_path / "out"), since=since, partitions=2)
    for name, expected in single.items():
        assert len(expected) > 50, "the dataset must give the comparison something to compare"
        expected.to_parquet(tmp_path / f"{name}.parquet", index=False)
        one = pd.read_parquet(tmp_path / f"{name}.parquet")
        parts = sorted((tmp_path / "out" / name).glob("part.*.parquet"))
        assert len(parts) > 1, "the output is a partitioned folder"
        got = pd.read_parquet(tmp_path / "out" / name)
        pd.testing.assert_frame_equal(got, one, check_exact=True)
        assert run.outputs[str(tmp_path / "out" / name)] == len(expected)


def test_categories_merged_as_one_process_orders_them():
    # contract values a, b first; unseen values sorted after them, whichever partition saw them
    assert _merged_categories([["a", "b", "x"], ["a", "b", "c", "z"], ["a", "b"]]) == ["a", "b", "c", "x", "z"]
    assert _merged_categories([["a", "b", "c"], ["a", "b", "c", "d"]]) == ["a", "b", "c", "d"]


def test_pieces_given_in_nested_lists_reach_the_task_in_their_places():
    from dask import delayed

    def piece(i):
        return i

    pieces = [delayed(piece)(i) for i in range(6)]
    task = _call(lambda flat, nested, scalar: (flat, nested, scalar), pieces[:2], [[pieces[2]], [pieces[3], 9]], "x")
    assert task.compute(scheduler="sync") == ([0, 1], [[2], [3, 9]], "x")
    # each piece is a dependency of its own, not a list re-optimised behind one argument
    assert {d for d in task.dask if str(d).startswith("piece-")} == {p.key for p in pieces[:4]}
