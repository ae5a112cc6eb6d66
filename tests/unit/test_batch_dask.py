# SPDX-License-Identifier: Apache-2.0
"""engine.batch.cluster on a real LocalCluster: a crashing or hanging case costs only itself."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import MINI_KB
from tests.unit.test_batch_support import Misbehaving, patient

pytest.importorskip("distributed")


def test_crash_and_hang_on_dask_cost_their_case_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.batch.cluster import DaskRunner

    scratch = tmp_path / "tmp"  # the temporary folder, in this process and in Dask's
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    ids = ["a", "crash", "b", "hang", "c", "d"]
    tasks = [(i, {**patient(i), "id": case_id}) for i, case_id in enumerate(ids)]
    runner = DaskRunner(
        partial(Misbehaving, str(MINI_KB), "experta"),
        workers=2,
        timeout=10.0,  # generous: a loaded 2-core machine must not time out the good cases
        chunk_size=2,
        scheduler=None,
    )
    outcomes = {o.seq: o for o in runner.run(iter(tasks))}
    assert sorted(outcomes) == list(range(len(ids)))
    assert outcomes[1].field == "(crash)" and not outcomes[1].ok
    assert outcomes[3].field == "(timeout)" and "10 s" in outcomes[3].message
    bad = {i: (outcomes[i].field, outcomes[i].message) for i in (0, 2, 4, 5) if not outcomes[i].ok}
    assert not bad, bad  # a good case is never blamed for its neighbours
    # probe 8, D4: Dask left a dask-scratch-space folder behind after every run
    assert [p.name for p in scratch.iterdir()] == []
