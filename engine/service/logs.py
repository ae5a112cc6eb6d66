# SPDX-License-Identifier: Apache-2.0
"""Repeated log lines are rate-limited, so a hostile or broken client cannot flood the log.

A client that sends the same invalid request thousands of times a second would otherwise write
a line per request: the disk fills and the lines that matter are lost among them. Lines are
grouped by level and text with the numbers taken out (the timing of an access line, a count or
a port differs from one repeat to the next); each group may write ``burst`` lines per
``window`` seconds. Beyond that its lines are counted, not written, and the group's next line
written after the window has passed says how many were left out.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
#: Lines per group and window, and the window, unless configured.
DEFAULT_BURST = 50
DEFAULT_WINDOW = 10.0
#: Groups remembered at most (old ones are forgotten first): the filter's memory is bounded.
MAX_GROUPS = 1024


class _Group:
    __slots__ = ("start", "written", "suppressed")

    def __init__(self, start: float) -> None:
        self.start = start
        self.written = 0
        self.suppressed = 0


class RepeatFilter(logging.Filter):
    """A logging filter that lets each group of like lines through ``burst`` times a window."""

    def __init__(
        self,
        burst: int = DEFAULT_BURST,
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if burst < 1 or not window > 0:
            raise ValueError("burst must be at least 1 and window positive")
        self.burst, self.window, self.clock = burst, window, clock
        self._groups: dict[tuple[int, str], _Group] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, _NUMBER.sub("#", record.getMessage()))
        now = self.clock()
        with self._lock:
            group = self._groups.get(key)
            if group is None or now - group.start >= self.window:
                left_out = group.suppressed if group else 0
                self._groups.pop(key, None)
                group = self._groups[key] = _Group(now)
                if len(self._groups) > MAX_GROUPS:
                    self._groups.pop(next(iter(self._groups)))
                if left_out:
                    record.msg = f"{record.getMessage()} ({left_out} like line(s) left out)"
                    record.args = None
            if group.written >= self.burst:
                group.suppressed += 1
                return False
            group.written += 1
            return True
