# SPDX-License-Identifier: Apache-2.0
"""engine.cli.progress: a rich bar on a terminal, plain lines otherwise, nothing when quiet."""

from __future__ import annotations

import io

import pytest

from engine.cli.progress import Reporter


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    with Reporter(4, stream=out, interval=0.0) as r:
        for ok in (True, False, True, True):
            r.record(ok)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("leukodx batch: 4/4 cases (100%)")
    assert "cases/s" in lines[-1] and lines[-1].endswith("1 failed")
    assert "ETA" in lines[0]


def test_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = Terminal()
    with Reporter(3, stream=out) as r:
        assert r.mode == "bar"
        for _ in range(3):
            r.record(True)
    text = out.getvalue()
    assert "3/3" in text and "cases/s" in text and "ETA" in text


def test_quiet_prints_nothing() -> None:
    out = Terminal()
    with Reporter(2, quiet=True, stream=out) as r:
        r.record(True)
    assert out.getvalue() == ""
