# SPDX-License-Identifier: Apache-2.0
"""Batch progress on stderr (part of the command line): a rich bar with cases/s and ETA on a
terminal, a plain line every few seconds otherwise, nothing with ``--quiet``.

Progress never goes to stdout, which may carry the JSONL results. rich is imported only when a
bar is drawn: a quiet or logged run does not pay for it at start-up.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class Reporter:
    """Counts finished cases and shows them; use as a context manager around the run."""

    def __init__(
        self,
        total: int,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
        interval: float = 5.0,
    ) -> None:
        self.total = max(total, 0)
        self.stream = stream or sys.stderr
        self.done = self.failed = 0
        self.interval = interval
        self.mode = "off" if quiet else ("bar" if _interactive(self.stream) else "lines")
        self._start = self._last = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Reporter:
        if self.mode == "bar":
            self._progress = _bar(self.stream)
            self._progress.start()
            self._task = self._progress.add_task("cases", total=self.total or None, failed=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif self.mode == "lines" and self.done:
            self._line()

    def record(self, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, failed=self.failed)
        elif self.mode == "lines" and time.monotonic() - self._last >= self.interval:
            self._line()

    def _line(self) -> None:
        self._last = now = time.monotonic()
        rate = self.done / max(now - self._start, 1e-9)
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        left = max(self.total - self.done, 0)
        eta = f", ETA {_duration(left / rate)}" if self.total and rate > 0 else ""
        self.stream.write(
            f"leukodx batch: {self.done}/{self.total or '?'} cases{share}, "
            f"{rate:.1f} cases/s{eta}, {self.failed} failed\n"
        )
        self.stream.flush()


def _bar(stream: TextIO) -> Progress:
    """The rich progress bar (cases, cases/s, failures, ETA) on ``stream``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Speed(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} cases/s" if speed else "- cases/s")

    return Progress(
        TextColumn("leukodx batch"),
        BarColumn(),
        MofNCompleteColumn(),
        Speed(),
        TextColumn("{task.fields[failed]} failed"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=stream),
        transient=False,
    )


def _interactive(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
