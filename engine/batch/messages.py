# SPDX-License-Identifier: Apache-2.0
"""What a batch's main process and its workers send each other.

Kept apart from :mod:`engine.batch.worker` so that the main process, which only numbers cases,
writes lines and adds up figures, does not import the engine (and pydantic) that its workers
run: with two workers on two cores it competes with them, start-up included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.batch.cases import CaseInput

Task = tuple[int, Any]  # (sequence number, CaseRef, CaseInput or patient facts)


class Spilled(NamedTuple):
    """Where a local worker wrote a result line (:mod:`engine.batch.handoff`): a segment file
    of the run's handoff folder, the offset of the line in it and its length in bytes."""

    segment: str
    offset: int
    length: int


@dataclass(frozen=True)
class Outcome:
    """What one case gave. For bare facts, ``body`` is the differential JSON when ``ok``; for a
    case with its head (a :class:`~engine.batch.cases.CaseInput` or
    :class:`~engine.batch.cases.CaseRef`), ``line`` is the whole result line (UTF-8, ending in a
    newline) and ``record`` its metric record (:mod:`engine.batch.slim`); a local worker
    writes that line to a handoff file and sends ``spilled`` instead of ``line``. A failed case
    has ``field`` and ``message``."""

    seq: int
    ok: bool
    body: str = ""
    field: str = ""
    message: str = ""
    drugs: str = ""  # the drug courses as JSON (engine.batch.exposure), "" when none
    line: bytes = b""
    record: dict[str, Any] | None = None
    spilled: Spilled | None = None


@dataclass(frozen=True)
class Heads:
    """The cases of a chunk's :class:`~engine.batch.cases.CaseRef` tasks as read (without their
    facts), in order."""

    cases: list[tuple[int, CaseInput]]
