"""A count-only index whose entries are exactly a summed index's is kept as that index
(`IndexedStore.alias`, `features.filing.shared_indexes`): one filing, reads as a count index."""

from __future__ import annotations

import pytest

from features.online import OnlineFeatures, Window
from triage.stores.online_index import IndexedStore


def _store() -> IndexedStore:
    s = IndexedStore()
    s.alias("d|carrier", "d|carrier|sum:is_late")
    s.put_entry("d|carrier|sum:is_late", ("ups",), "o1", 10, 1.0)
    s.put_entry("d|carrier|sum:is_late", ("ups",), "o2", 20, 0.0)
    s.put_entry("d|carrier|sum:is_late", ("ups",), "o3", 30, 1.0)
    return s


def test_alias_reads_the_twins_counts_and_times_with_no_total() -> None:
    """Check that every read of the alias gives the twin's counts and latest times, total 0.0."""
    s = _store()
    assert s.window("d|carrier|sum:is_late", ("ups",), 15, 40) == Window(2, 1.0, 30)
    assert s.window("d|carrier", ("ups",), 15, 40) == Window(2, 0.0, 30)
    assert s.windows([("d|carrier", ("ups",), None, 25), ("d|carrier", ("dhl",), None, 25)]) == [
        Window(2, 0.0, 20), Window(0, 0.0, None)]
    counts, totals, last = s.window_columns("d|carrier", [("ups",), None], [[None, None], [15, 15]], [40, 40])
    assert counts == [[3, 0], [2, 0]] and totals == [[0.0, 0.0], [0.0, 0.0]] and last == [30, None]
    assert s.get_entry("d|carrier", ("ups",), "o2") == 20
    s.drop_entry("d|carrier|sum:is_late", ("ups",), "o3")
    assert s.window("d|carrier", ("ups",), None, 40) == Window(2, 0.0, 20)


def test_filing_the_alias_itself_is_refused() -> None:
    """Check that an entry filed under the alias name is refused (it would part the twins)."""
    with pytest.raises(ValueError, match="kept as d\\|carrier\\|sum:is_late"):
        _store().put_entry("d|carrier", ("ups",), "o9", 40, 0.0)


def test_only_count_indexes_with_a_summed_twin_are_shared() -> None:
    """Check which indexes the online features share: same stream, key and grain, never distinct."""
    online = OnlineFeatures(IndexedStore())
    assert online.aliases["delivery|carrier"] == "delivery|carrier|sum:is_late"
    assert online.aliases["delivery|vendor_id|per-line"] == "delivery|vendor_id|sum:is_late|per-line"
    for name, target in online.aliases.items():
        a, b = online.specs[name], online.specs[target]
        assert (a.stream, a.key, a.per_line) == (b.stream, b.key, b.per_line)
        assert a.value is None and b.value and not a.distinct and not b.distinct
    assert "orders|device_id|distinct:customer_id" not in online.aliases
    assert "orders|email_hash" not in online.aliases  # no summed twin
    filed = {s.name for specs in online._by_stream.values() for s in specs}
    assert not filed & set(online.aliases)
