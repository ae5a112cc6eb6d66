# SPDX-License-Identifier: Apache-2.0
"""The cores batch and serve size themselves by: affinity, lowered to a cgroup CPU quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.cores import cgroup_quota, usable_cores


def _v2(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(text)
    return root


def _v1(root: Path, quota: str, period: str, folder: str = "cpu,cpuacct") -> Path:
    (root / folder).mkdir(parents=True)
    (root / folder / "cpu.cfs_quota_us").write_text(quota)
    (root / folder / "cpu.cfs_period_us").write_text(period)
    return root


@pytest.mark.parametrize(
    "text, cores",
    [("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000", 2), ("50000 100000", 1),
     ("", None), ("garbage", None), ("-1 100000", None), ("100000 0", None)],
)  # fmt: skip
def test_cgroup_v2_quota_in_whole_cores(tmp_path: Path, text: str, cores: int | None) -> None:
    assert cgroup_quota(_v2(tmp_path, text)) == cores


@pytest.mark.parametrize(
    "quota, period, cores",
    [("-1", "100000", None), ("400000", "100000", 4), ("250000", "100000", 3), ("x", "1", None)],
)
def test_cgroup_v1_quota_in_whole_cores(
    tmp_path: Path, quota: str, period: str, cores: int | None
) -> None:
    assert cgroup_quota(_v1(tmp_path, quota, period)) == cores


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_quota(tmp_path / "missing") is None


def test_usable_cores_is_the_affinity_lowered_to_the_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(64)), raising=False)
    assert usable_cores(tmp_path / "none") == 64
    assert usable_cores(_v2(tmp_path / "two", "200000 100000")) == 2
    assert usable_cores(_v2(tmp_path / "many", "12800000 100000")) == 64  # quota above affinity
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {3}, raising=False)
    assert usable_cores(tmp_path / "none") == 1


def test_usable_cores_on_this_machine_is_within_the_cpu_count() -> None:
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


@given(st.text(max_size=40))
def test_any_cpu_max_text_gives_a_count_or_none(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "cpu.max").write_text(text, encoding="utf-8", errors="surrogatepass")
        quota = cgroup_quota(root)
        assert quota is None or quota >= 1
