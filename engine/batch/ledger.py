# SPDX-License-Identifier: Apache-2.0
"""The main process's book of a batch: which case is where, which id it may keep, what to write.

Workers read most cases themselves (:class:`~engine.batch.cases.CaseRef`), so a case's id is
known only when its worker reports what it read (:class:`~engine.batch.worker.Heads`), and
answers come back in the order cases finish. The guarantees of a run do not change with that:

* ids are admitted in input order (:class:`IdGuard`): of two cases with one id the first in the
  input keeps it, whatever order they finish in, and ``--resume`` skips the ids it has;
* a case's result is written as soon as it is both finished and admitted, so an outcome waits
  here only while an earlier case of the input has not been read yet (:attr:`Ledger.waiting`
  is how many do; the pool takes no new cases while too many wait);
* every line written is added to the run's figures (:class:`~engine.batch.metrics.Tally`) from
  the small record its worker made, so the results file is not parsed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from engine.batch.cases import (
    CaseError,
    CaseInput,
    CaseRef,
    ResultWriter,
    encode_line,
    error_fields,
    error_record,
    head_fields,
    ok_record,
    record_head,
)
from engine.batch.digests import DigestSet
from engine.batch.grouping import locate
from engine.batch.handoff import HandoffFolder
from engine.batch.messages import Heads, Outcome, Task
from engine.batch.metrics import Tally
from engine.batch.slim import error_metrics
from engine.errors import LeukodxError

#: Called with each result line as written (UTF-8, ending in a newline) and whether the case
#: succeeded.
RecordCallback = Callable[[bytes, bool], None]
#: Called with whether each case written succeeded (a line's bytes are not read for it).
DoneCallback = Callable[[bool], None]


@dataclass
class BatchStats:
    """What a run did: cases written (ok or failed) and cases skipped by ``resume``; ``tally``
    holds the figures of every line of the results file (those of a resumed run included)."""

    written: int = 0
    failed: int = 0
    skipped: int = 0
    tally: Tally = field(default_factory=Tally)


class IdGuard:
    """Keeps ids unique within a run and skips the ids a resumed run has already recorded."""

    def __init__(self, done: DigestSet | Iterable[str] = ()) -> None:
        self.done = done if isinstance(done, DigestSet) else DigestSet(done)
        self.seen = DigestSet()

    def admit(self, case: CaseInput) -> CaseInput | None:
        """The case to run, or None to skip it. A case whose id an earlier case of the input took
        still runs (a repeated MRN in a line list is routine, and its alerts must not be lost),
        under its position, ``file:line``, naming the id it gave in ``duplicate_of``. On
        ``--resume`` the first case of an id in the input is the one recorded under it, so a
        later case with that id is still run under its position (it used to be skipped as done,
        and lost)."""
        if case.id not in self.seen:  # the first case with this id keeps it, done or not
            self.seen.add(case.id)
            return None if case.id in self.done else case
        where = f"{case.source_file}:{case.line}" if case.line else case.source_file
        new_id, k = where, 1
        while new_id in self.seen:
            k += 1
            new_id = f"{where}#{k}"
        if new_id in self.done:
            return None
        self.seen.add(new_id)
        return replace(case, id=new_id, duplicate_of=case.id)


@dataclass
class _Slot:
    ref: CaseRef | None  # the case to read (without its bytes), until its head comes
    case: CaseInput | None  # the case as read, without its facts
    outcome: Outcome | None = None  # an answer waiting for the case to be admitted
    admitted: bool = False


class Ledger:
    """Takes cases in input order (:meth:`take`), the heads and outcomes workers send
    (:meth:`heads`, :meth:`outcome`), and writes each result line once it may."""

    def __init__(
        self, writer: ResultWriter, guard: IdGuard, stats: BatchStats,
        on_record: RecordCallback | None = None, *, on_done: DoneCallback | None = None,
        handoff: HandoffFolder | None = None,
    ) -> None:  # fmt: skip
        self.writer = writer
        self.guard = guard
        self.stats = stats
        self.on_record = on_record
        self.on_done = on_done
        self.handoff = handoff  # where lines a worker left are (engine.batch.handoff)
        self.waiting = 0
        self._slots: dict[int, _Slot] = {}
        self._taken = 0  # cases taken, and the sequence number of the next one
        self._next = 0  # the first case not admitted yet

    def take(self, item: CaseRef | CaseInput) -> Task | None:
        """Number a case; the task to evaluate it, or None when it is settled here (it could
        not be read, or it is a duplicate or already done)."""
        seq = self._taken
        self._taken += 1
        payload: CaseRef | CaseInput | None
        if isinstance(item, CaseRef):
            self._slots[seq] = _Slot(replace(item, raw=b""), None)
            payload = item
        else:
            self._slots[seq] = _Slot(None, replace(item, data=None))
            payload = None if item.error is not None else replace(item, origins=None)
        self._admit()
        return (seq, payload) if payload is not None and seq in self._slots else None

    def heads(self, heads: Heads) -> None:
        for seq, case in heads.cases:
            slot = self._slots.get(seq)
            if slot is not None and slot.case is None:
                slot.case = case
        self._admit()

    def outcome(self, outcome: Outcome) -> None:
        if outcome.spilled is not None:
            self._handoff().arrived(outcome.spilled)
        slot = self._slots.get(outcome.seq)
        if slot is None:  # skipped or a duplicate: its evaluation is not used
            if outcome.spilled is not None:
                self._handoff().release(outcome.spilled)
            return
        if slot.case is None:  # its worker died or ran out of time before reading it
            slot.case = slot.ref.unread() if slot.ref is not None else None
        if slot.admitted and slot.case is not None:
            del self._slots[outcome.seq]
            self._write(slot.case, outcome)
            return
        if slot.outcome is None:
            self.waiting += 1
        slot.outcome = outcome
        self._admit()

    def _admit(self) -> None:
        """Admit the cases whose turn it is, in input order, while their heads are known."""
        while self._next < self._taken:
            seq = self._next
            slot = self._slots.get(seq)
            if slot is not None:
                if slot.case is None:
                    return
                self._decide(seq, slot, slot.case)
            self._next += 1

    def _decide(self, seq: int, slot: _Slot, case: CaseInput) -> None:
        admitted = self.guard.admit(case)
        if admitted is not None and admitted.error is None:
            slot.admitted = True
            slot.case = admitted  # under the id it may keep (a duplicate: its position)
            if slot.outcome is None:
                return
        del self._slots[seq]
        if slot.outcome is not None:
            self.waiting -= 1
        if admitted is None:
            self.stats.skipped += 1
        elif admitted.error is not None:
            self._error(admitted, admitted.error)
        elif slot.outcome is not None:
            self._write(admitted, slot.outcome)

    def _write(self, case: CaseInput, outcome: Outcome) -> None:
        spilled, record = outcome.spilled, outcome.record
        if (spilled is not None and record is not None and case.duplicate_of is None
                and self.on_record is None):  # fmt: skip
            # the kernel copies the line: it is never read into this process
            self.writer.write_spilled(self._handoff(), spilled)
            self._count(True, record)
            return
        if spilled is not None:  # the line is needed here: re-headed, echoed or parsed
            outcome = replace(outcome, line=self._handoff().take(spilled), spilled=None)
        if outcome.ok and outcome.line and case.duplicate_of is not None:
            outcome = _reheaded(case, outcome)
        if outcome.ok and outcome.line:
            self._emit(outcome.line, True, outcome.record or json.loads(outcome.line))
        elif outcome.ok:  # bare facts were evaluated: the line is made here
            line = ok_record(case, outcome.body, outcome.drugs)
            self._emit(encode_line(line), True, json.loads(line))
        elif case.origins is not None:  # a patient of a table: name the file, line and column
            e = locate(case.origins, outcome.field, outcome.message, case.id)
            self._error(case, CaseError(e.field, e.message, e.file, e.line, e.column))
        else:
            self._error(case, CaseError(outcome.field, outcome.message))

    def _error(self, case: CaseInput, error: CaseError) -> None:
        record = error_metrics(head_fields(case), error_fields(error))
        self._emit(encode_line(error_record(case, error)), False, record)

    def _emit(self, data: bytes, ok: bool, record: dict[str, Any]) -> None:
        self.writer.write_bytes(data)
        self._count(ok, record)
        if self.on_record is not None:
            self.on_record(data, ok)

    def _count(self, ok: bool, record: dict[str, Any]) -> None:
        self.stats.written += 1
        self.stats.failed += not ok
        self.stats.tally.add(record)
        if self.on_done is not None:
            self.on_done(ok)

    def _handoff(self) -> HandoffFolder:
        if self.handoff is None:
            raise LeukodxError("a worker left a result line in a handoff folder this run has not")
        return self.handoff


def _reheaded(case: CaseInput, outcome: Outcome) -> Outcome:
    """A worker's result line made under the id a duplicate gave, put under the id it keeps: the
    head (everything before ``"ok"``) is the only part that names the case."""
    given = replace(case, id=case.duplicate_of or case.id, duplicate_of=None)
    old, new = record_head(given).encode(), record_head(case).encode()
    if outcome.line.startswith(old):
        line = new + outcome.line[len(old) :]
    else:  # the head as the worker wrote it differs: rebuild the line (slower, same content)
        whole = {**head_fields(case), **{k: v for k, v in json.loads(outcome.line).items()
                                         if k not in head_fields(given)}}  # fmt: skip
        line = encode_line(json.dumps(whole, ensure_ascii=False))
    record = dict(outcome.record or {}, id=case.id, duplicate_of=case.duplicate_of)
    return replace(outcome, line=line, record=record)
