"""The compiled filing plan (`IndexedStore.plan` / `file`, `_index_core.Plan`) against the
entry-by-entry reference (`MemoryStore` through `features.filing`'s rules) on small hand-made
rows: plain, per-line and distinct indexes, moves, re-filings to nothing, sync entries, undo."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from features.filing import DISTINCT, PER_LINE, PLAIN, IndexSpec, plan_steps, row_entries, sync_id
from features.online import MemoryStore
from triage.stores._index_core import StrTable
from triage.stores.online_index import IndexedStore

SPECS = [
    IndexSpec("orders|customer_id|sum:total", "orders", ("customer_id",), "total", None),
    IndexSpec("orders|customer_id,postcode", "orders", ("customer_id", "postcode"), None, None),
    IndexSpec("orders|device_id|distinct:customer_id", "orders", ("device_id",), None, "customer_id"),
    IndexSpec("orders|vendor_id|sum:total|per-line", "orders", ("vendor_id",), "total", None, True),
]
SYNC = IndexSpec("syncs|fulfillment_node_id", "syncs", ("fulfillment_node_id",), None, None)
FAR = 10**15


def _reference(store: MemoryStore, notes: dict[str, list], stream: str, specs: list[IndexSpec], entry_id: str,
               row: dict[str, Any], t: int | None) -> None:
    """What `OnlineFeatures._file` does for a store without plans (its notes kept here)."""
    for spec in specs:
        for key in notes.pop(f"{spec.name}|{entry_id}", []):
            store.drop_entry(spec.name, key, entry_id)
    if t is None:
        return
    for spec in specs:
        for key, dv, v in row_entries(spec, row):
            if dv is not None:
                first = store.get_entry(spec.name, key, dv)
                if first is None or t < first:
                    store.put_entry(spec.name, key, dv, t, 0.0)
                continue
            store.put_entry(spec.name, key, entry_id, t, v)
            notes.setdefault(f"{spec.name}|{entry_id}", []).append(key)


def _compiled(specs: list[IndexSpec]) -> IndexedStore:
    store = IndexedStore()
    store.plan(specs[0].stream, plan_steps(specs))
    return store


def _reads(store: Any, specs: list[IndexSpec], keys: list[tuple[str, ...]]) -> list[tuple[int, float, int | None]]:
    out = []
    for spec in specs:
        for key in keys:
            for lo, hi in ((None, FAR), (150, 400), (0, 250)):
                w = store.window(spec.name, key, lo, hi)
                out.append((w.count, round(w.total, 9), w.last_ns))
    return out


KEYS = [("C1",), ("C2",), ("C1", "P1"), ("C2", "P1"), ("D1",), ("D2",), ("V1",), ("V2",), ("V3",)]

EVENTS: list[tuple[str, dict[str, Any], int | None]] = [
    ("o1", {"customer_id": "C1", "postcode": "P1", "device_id": "D1", "total": 10.0, "_vendors": ["V1", "V2"]}, 100),
    ("o2", {"customer_id": "C2", "postcode": "P1", "device_id": "D1", "total": 5.0, "_vendors": ["V2"]}, 200),
    ("o3", {"customer_id": "C1", "postcode": None, "device_id": "D2", "total": None, "_vendors": []}, 300),
    # o1 moved later, to another customer and other vendors: its old entries leave every index
    ("o1", {"customer_id": "C2", "postcode": "P1", "device_id": "D1", "total": 7.5, "_vendors": ["V3"]}, 350),
    # C2 seen on D2 before o3's C1: the distinct index files C2's (earlier) first appearance
    ("o4", {"customer_id": "C2", "postcode": "P1", "device_id": "D2", "total": 1.0, "_vendors": ["V1"]}, 50),
    ("o2", {}, None),  # re-filed to nothing: only dropped
    ("o5", {"customer_id": 7, "postcode": float("nan"), "device_id": "D1", "total": 2.0, "_vendors": ["V1", "V1"]},
     250),
]


def test_plan_files_rows_as_the_reference_rules() -> None:
    """Check that filing, moving and dropping rows through the compiled plan leaves every window
    (counts, sums, latest times) as the entry-by-entry reference does, after each event."""
    ref, notes = MemoryStore(), {}
    fast = _compiled(SPECS)
    for entry_id, row, t in EVENTS:
        _reference(ref, notes, "orders", SPECS, entry_id, row, t)
        fast.file("orders", entry_id, dict(row), t)
        assert _reads(fast, SPECS, [*KEYS, ("7",)]) == _reads(ref, SPECS, [*KEYS, ("7",)]), entry_id
    w = fast.window("orders|customer_id|sum:total", ("C2",), None, FAR)
    assert (w.count, w.total, w.last_ns) == (2, 8.5, 350)  # o1 (moved here) and o4; o2 dropped
    assert fast.window("orders|vendor_id|sum:total|per-line", ("V2",), None, FAR).count == 0
    assert fast.get_entry("orders|device_id|distinct:customer_id", ("D2",), "C2") == 50


def test_plan_changes_are_undone_by_scratch() -> None:
    """Check that rows filed, moved and dropped through the plan inside `scratch()` leave every
    window as before on exit."""
    fast = _compiled(SPECS)
    for entry_id, row, t in EVENTS[:3]:
        fast.file("orders", entry_id, dict(row), t)
    before = _reads(fast, SPECS, KEYS)
    with fast.scratch():
        for entry_id, row, t in EVENTS[3:]:
            fast.file("orders", entry_id, dict(row), t)
        assert _reads(fast, SPECS, KEYS) != before
    assert _reads(fast, SPECS, KEYS) == before


def test_sync_entries_are_their_node_and_time() -> None:
    """Check that inventory syncs are filed by (node, time) without ids: the same sync observed
    again is one entry, another time of the node another, as the reference's `node|time` ids;
    undone exactly in scratch; bulk-loaded the same way."""
    ref, notes = MemoryStore(), {}
    fast = _compiled([SYNC])
    rows = [("N1", 100), ("N1", 100), ("N1", 250), ("N2", 100), ("N1", 50)]
    for node, t in rows:
        row = {"fulfillment_node_id": node}
        _reference(ref, notes, "syncs", [SYNC], sync_id(node, t), row, t)
        fast.file("syncs", sync_id(node, t), row, t)
    keys = [("N1",), ("N2",), ("N3",)]
    assert _reads(fast, [SYNC], keys) == _reads(ref, [SYNC], keys)
    assert fast.window(SYNC.name, ("N1",), None, FAR).count == 3
    with fast.scratch():
        fast.file("syncs", sync_id("N1", 250), {"fulfillment_node_id": "N1"}, 250)
        fast.file("syncs", sync_id("N1", 900), {"fulfillment_node_id": "N1"}, 900)
    assert _reads(fast, [SYNC], keys) == _reads(ref, [SYNC], keys)
    bulk, bulk_ref = IndexedStore(), MemoryStore()
    nodes = np.array([n for n, _ in rows], dtype=object)
    times = np.array([t for _, t in rows], dtype=np.int64)
    for s in (bulk, bulk_ref):
        s.put_entries(SYNC.name, [nodes], None, times, np.zeros(len(rows)))
    assert _reads(bulk, [SYNC], keys) == _reads(bulk_ref, [SYNC], keys)


def test_bulk_loaded_ids_are_refiled_by_the_plan() -> None:
    """Check that a row bulk-loaded at bootstrap (`put_entries`) and re-filed under another key
    by the plan leaves its old key (the locations are where it was filed)."""
    fast = _compiled(SPECS[:1])
    fast.put_entries(SPECS[0].name, [np.array(["C1", "C2"], dtype=object)], np.array(["o1", "o2"], dtype=object),
                     np.array([100, 200]), np.array([3.0, 4.0]))
    fast.file("orders", "o1", {"customer_id": "C2", "total": 1.0}, 300)
    assert fast.window(SPECS[0].name, ("C1",), None, FAR).count == 0
    w = fast.window(SPECS[0].name, ("C2",), None, FAR)
    assert (w.count, w.total, w.last_ns) == (2, 5.0, 300)


def test_str_table_codes_strings_in_first_seen_order() -> None:
    """Check that the C string table gives each distinct string one code, in first-seen order,
    across rehashes, and finds nothing it was not given."""
    t = StrTable()
    words = [f"id-{i % 5000}-é" for i in range(12_000)]
    codes = t.codes(words)
    assert len(t) == 5000
    assert codes.tolist() == [i % 5000 for i in range(12_000)]
    assert t.get("id-4999-é") == 4999 and t.get("nope") is None
    assert t.string(17) == "id-17-é"
    with pytest.raises(IndexError):
        t.string(5000)


@pytest.mark.parametrize("rule, spec", [(PLAIN, SPECS[0]), (DISTINCT, SPECS[2]), (PER_LINE, SPECS[3])])
def test_plan_steps_carry_each_rule(rule: int, spec: IndexSpec) -> None:
    """Check that the compiled plan's steps name the index, key, value, rule and distinct column."""
    assert plan_steps([spec]) == [(spec.name, spec.key, spec.value, rule, spec.distinct)]
