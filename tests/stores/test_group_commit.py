"""Group commit awaited from an event loop: results per caller, errors to every caller."""

from __future__ import annotations

import asyncio

import pytest

from triage.stores.group import GroupCommitter


def test_async_callers_get_their_own_results_and_after_runs_first():
    seen: list = []
    g = GroupCommitter(lambda recs: [r * 10 for r in recs])

    async def main() -> list:
        return await asyncio.gather(*(g.submit_async([i, i + 1], after=seen.append) for i in range(0, 20, 2)))

    try:
        got = asyncio.run(main())
    finally:
        g.close()
    assert got == [[i * 10, (i + 1) * 10] for i in range(0, 20, 2)]
    assert sorted(x for r in seen for x in r) == [i * 10 for i in range(20)]  # after() saw each result


def test_a_failed_commit_reaches_every_async_caller():
    def fail(recs):
        raise OSError("disk gone")

    g = GroupCommitter(fail)

    async def main() -> list:
        return await asyncio.gather(*(g.submit_async([i]) for i in range(5)), return_exceptions=True)

    try:
        got = asyncio.run(main())
    finally:
        g.close()
    assert all(isinstance(e, OSError) for e in got)
    with pytest.raises(OSError):
        GroupCommitter(fail).submit([1])
