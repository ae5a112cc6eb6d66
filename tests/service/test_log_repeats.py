# SPDX-License-Identifier: Apache-2.0
"""Repeated log lines are rate-limited: a flood of like lines cannot fill the log, and what was
left out is counted in the log."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import httpx
import pytest

from engine.service.logs import MAX_GROUPS, RepeatFilter
from tests.service.conftest import free_port

pytest.importorskip("uvicorn")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, *args: object, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("leukodx.service", level, __file__, 1, msg, args, None)


def test_like_lines_beyond_the_burst_are_counted_then_reported() -> None:
    clock = _Clock()
    f = RepeatFilter(burst=3, window=10, clock=clock)
    passed = [f.filter(_record("POST /x 422 %.1f ms", 1.0 + i)) for i in range(10)]
    assert passed == [True] * 3 + [False] * 7  # the timing differs, the line is the same
    clock.now = 10.5
    late = _record("POST /x 422 %.1f ms", 2.0)
    assert f.filter(late)
    assert late.getMessage().endswith("(7 like line(s) left out)")


def test_different_lines_and_levels_are_separate_groups() -> None:
    f = RepeatFilter(burst=1, window=10, clock=_Clock())
    assert f.filter(_record("GET /a 200 1 ms"))
    assert f.filter(_record("GET /b 200 1 ms"))
    assert f.filter(_record("GET /a 200 1 ms", level=logging.WARNING))
    assert not f.filter(_record("GET /a 200 3 ms"))


def test_memory_is_bounded() -> None:
    f = RepeatFilter(burst=1, window=1e9, clock=_Clock())
    for i in range(MAX_GROUPS * 2):
        f.filter(_record(f"line {chr(65 + i % 26)}{'x' * (i // 26)}"))
    assert len(f._groups) <= MAX_GROUPS


@pytest.mark.parametrize("burst, window", [(0, 1.0), (1, 0.0), (1, float("nan"))])
def test_nonsense_settings_are_refused(burst: int, window: float) -> None:
    with pytest.raises(ValueError):
        RepeatFilter(burst=burst, window=window)


def test_a_flood_of_bad_requests_writes_a_bounded_log() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--insecure-no-auth", "--host", "127.0.0.1",
         "--port", str(port), "--log-repeats", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(url + "/cds-services", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        with httpx.Client(timeout=10) as client:
            for _ in range(60):
                client.post(url + "/cds-services/leukodx-patient-view", content=b"{not json")
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    lines = [x for x in out.splitlines() if "POST /cds-services/leukodx-patient-view" in x]
    assert 1 <= len(lines) <= 5, out
