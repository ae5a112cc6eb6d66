# SPDX-License-Identifier: Apache-2.0
"""Repeated log lines are rate-limited, so a hostile or broken client cannot flood the log.

A client that sends the same invalid request thousands of times a second would otherwise write
a line per request: the disk fills and the lines that matter are lost among them. Lines are
grouped by level and text with the numbers taken out (the timing of an access line, a count or
a port differs from one repeat to the next); each group may write ``burst`` lines per
``window`` seconds. Beyond that its lines are counted, not written, and the group's next line
written after the window has passed says how many were left out.

A line is also kept to one line: control characters a client put in a path or a field name (a
percent-encoded newline in ``/x%0aERROR: ...``) are written escaped, so no request can forge a
line of its own. And :func:`loggable_field` keeps a field named by the input out of the log
unless it looks like a field of the schema, since a pasted patient's unknown "field" may be a
name or a note.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: A field path of the schema: ``labs[0].value``, ``prefetch.labs``, ``body, line 3``.
_FIELD = re.compile(
    r"(?:\(top level\)|[A-Za-z_][A-Za-z0-9_]{0,40}(?:\.[A-Za-z_][A-Za-z0-9_]{0,40}|\[\d{1,9}\])*)"
    r"(?:, line \d{1,9})?"
)
#: Lines per group and window, and the window, unless configured.
DEFAULT_BURST = 50
DEFAULT_WINDOW = 10.0
#: Groups remembered at most (old ones are forgotten first): the filter's memory is bounded.
MAX_GROUPS = 1024


def loggable_field(field: str) -> str:
    """``field`` when it is shaped like a field path of the schema, else a placeholder: an error
    about an unknown key names that key, and the key is the client's text (which may be patient
    data or a forged log line)."""
    return (
        field if len(field) <= 120 and _FIELD.fullmatch(field) else "(a field named by the input)"
    )


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``), so it stays one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


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
        message = record.getMessage()
        if _CONTROL.search(message):
            record.msg, record.args = one_line(message), None
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
