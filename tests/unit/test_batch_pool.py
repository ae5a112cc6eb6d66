# SPDX-License-Identifier: Apache-2.0
"""engine.batch.pool: a crashing or hanging case costs only itself (real worker processes)."""

from __future__ import annotations

from functools import partial

import pytest

from engine.batch.pool import LocalPool
from engine.errors import LeukodxError
from tests.conftest import MINI_KB
from tests.unit.test_batch_support import FailsToStart, Misbehaving, patient


def _tasks(ids: list[str]) -> list[tuple[int, dict[str, object]]]:
    return [(i, {**patient(i), "id": case_id}) for i, case_id in enumerate(ids)]


def test_a_crash_and_a_hang_cost_their_case_only() -> None:
    ids = ["a", "crash", "b", "hang", "c", "d", "e"]
    pool = LocalPool(
        partial(Misbehaving, str(MINI_KB), "experta"), workers=2, timeout=2.0, chunk_size=3
    )
    outcomes = {o.seq: o for o in pool.run(iter(_tasks(ids)))}
    assert sorted(outcomes) == list(range(len(ids)))
    crash, hang = outcomes[1], outcomes[3]
    assert not crash.ok and crash.field == "(crash)" and "exit code 7" in crash.message
    assert not hang.ok and hang.field == "(timeout)" and "2 s" in hang.message
    assert all(outcomes[i].ok for i in (0, 2, 4, 5, 6))


def test_an_invalid_case_is_an_outcome_not_an_exception() -> None:
    pool = LocalPool(
        partial(Misbehaving, str(MINI_KB), "experta"), workers=1, timeout=None, chunk_size=4
    )
    bad = {**patient(0), "labs": [{"test": "anc", "value": 1, "unit": "furlongs"}]}
    [outcome] = list(pool.run(iter([(0, bad)])))
    assert not outcome.ok and outcome.field.startswith("labs[0]")


def test_a_worker_that_cannot_start_stops_the_batch() -> None:
    pool = LocalPool(FailsToStart, workers=1, timeout=None, chunk_size=1)
    with pytest.raises(LeukodxError, match="no knowledge base here"):
        list(pool.run(iter(_tasks(["a"]))))


def test_a_worker_that_died_before_its_next_chunk_costs_no_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker can die between its last answer and the next chunk sent to it: the send then
    broke the pipe and stopped the whole batch (seen once under load, in the crash test above).
    Here the first worker's pipe breaks on its second chunk, as it would after such a death."""
    import engine.batch.pool as pool_module

    started = pool_module.LocalPool._start
    sends = {"n": 0}

    class BreakingConn:
        def __init__(self, conn: object, process: object) -> None:
            self._conn, self._process = conn, process

        def send(self, chunk: object) -> None:
            sends["n"] += 1
            if sends["n"] == 2:
                self._process.kill()  # type: ignore[attr-defined]
                self._process.join()  # type: ignore[attr-defined]
                raise BrokenPipeError(32, "Broken pipe")
            self._conn.send(chunk)  # type: ignore[attr-defined]

        def __getattr__(self, name: str) -> object:
            return getattr(self._conn, name)

    def start_first_breaking(self: LocalPool) -> object:
        worker = started(self)
        if not getattr(self, "_broke", False):
            self._broke = True  # type: ignore[attr-defined]
            worker.conn = BreakingConn(worker.conn, worker.process)  # type: ignore[assignment]
        return worker

    monkeypatch.setattr(pool_module.LocalPool, "_start", start_first_breaking)
    ids = ["a", "b", "c", "d", "e", "f"]
    pool = LocalPool(
        partial(Misbehaving, str(MINI_KB), "experta"), workers=1, timeout=5.0, chunk_size=1
    )
    outcomes = {o.seq: o for o in pool.run(iter(_tasks(ids)))}
    assert sorted(outcomes) == list(range(len(ids)))
    assert all(o.ok for o in outcomes.values()), [o.message for o in outcomes.values()]
