# SPDX-License-Identifier: Apache-2.0
"""``run_batch()``: many cases in, one JSON line per case out, streaming end to end.

Cases are read lazily (:mod:`engine.batch.cases`), evaluated in worker processes
(:mod:`engine.batch.pool`, or a Dask cluster with :mod:`engine.batch.cluster`) and written the
moment each one finishes, so memory stays flat whatever the number of cases, and an interrupted run
leaves a valid JSONL of every finished case. ``resume=True`` skips the ids already in ``out`` and
appends the rest (:func:`read_done_ids`; ids are kept unique within a run by :class:`IdGuard`). A
case that is invalid, unreadable, crashes its worker or runs out of time becomes an error record;
only an unusable knowledge base or backend, or an output that cannot be written
(:class:`~engine.batch.cases.OutputError`), stops the batch (it raises). ``out`` and the other
output files named in ``exclude`` are never read as input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from engine.backends.base import DEFAULT_BACKEND
from engine.batch.cases import (
    CaseError,
    CaseInput,
    ResultWriter,
    check_sources,
    error_record,
    iter_cases,
    ok_record,
)
from engine.batch.digests import DigestSet
from engine.batch.grouping import locate
from engine.batch.tables import TableSpec
from engine.batch.worker import Evaluator, Outcome, Task
from engine.errors import InputError
from engine.kb.load import load_knowledge_base

EXECUTORS: tuple[str, ...] = ("local", "dask")
DEFAULT_TIMEOUT = 60.0
DEFAULT_CHUNK = 16

#: Called with each result line as it is written and whether the case succeeded.
RecordCallback = Callable[[str, bool], None]


@dataclass(frozen=True)
class BatchOptions:
    """How to run: knowledge base, backend, parallelism and the per-case time limit."""

    rules: str | None = None
    backend: str = DEFAULT_BACKEND
    workers: int = 0  # 0: one per core
    timeout: float | None = DEFAULT_TIMEOUT  # seconds per case; None or 0: no limit
    chunk_size: int = DEFAULT_CHUNK
    executor: str = "local"
    scheduler: str | None = None  # Dask scheduler address; None: a LocalCluster

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)


@dataclass
class BatchStats:
    """What a run did: cases written (ok or failed) and cases skipped by ``resume``."""

    written: int = 0
    failed: int = 0
    skipped: int = 0


def run_batch(
    paths: Iterable[str | Path], out: str | Path, options: BatchOptions | None = None, *,
    resume: bool = False, on_record: RecordCallback | None = None,
    exclude: Iterable[str | Path] = (), tables: TableSpec | None = None,
) -> BatchStats:  # fmt: skip
    """Evaluate every case under ``paths`` into the JSONL file ``out``.

    Results tables among ``paths`` are joined with the companion tables and renames of
    ``tables`` (:mod:`engine.batch.grouping`).

    ``out`` and the files in ``exclude`` (a summary, a report) are skipped where an input
    directory holds them. Raises :class:`~engine.errors.InputError` for a missing input path, an
    input that is also an output, or an unreadable ``out`` on resume,
    :class:`~engine.errors.KnowledgeBaseError` for an invalid knowledge base,
    :class:`~engine.batch.cases.OutputError` when ``out`` cannot be written (every line written
    before is complete, for ``resume``), and :class:`~engine.errors.LeukodxError` when no worker
    can start.
    """
    opts = options or BatchOptions()
    if opts.executor not in EXECUTORS:
        raise InputError(
            "executor", f"unknown executor '{opts.executor}'", expected=" or ".join(EXECUTORS)
        )
    paths, outputs = list(paths), [out, *exclude]
    check_sources(paths, outputs)  # before ``out`` is opened (and emptied)
    load_knowledge_base(opts.rules)  # fail fast (exit 2) before any worker starts
    guard = IdGuard(read_done_ids(out) if resume else ())
    stats = BatchStats()
    with ResultWriter(out, append=resume) as writer:
        sink = _Sink(writer, stats, on_record)
        pending: dict[int, CaseInput] = {}
        tasks = _tasks(iter_cases(paths, outputs, tables=tables), guard, pending, sink)
        with closing(_executor(opts)(tasks)) as outcomes:  # workers stop even when a write fails
            for outcome in outcomes:
                sink.outcome(pending.pop(outcome.seq), outcome)
    return stats


def _executor(opts: BatchOptions) -> Callable[[Iterator[Task]], Generator[Outcome, None, None]]:
    rules = str(opts.rules) if opts.rules is not None else None
    factory = partial(Evaluator, rules, opts.backend)
    if opts.executor == "dask":
        from engine.batch.cluster import DaskRunner  # optional extra: imported only when asked for

        return DaskRunner(
            factory,
            workers=opts.worker_count,
            timeout=opts.timeout,
            chunk_size=opts.chunk_size,
            scheduler=opts.scheduler,
        ).run
    from engine.batch.pool import LocalPool

    return LocalPool(
        factory, workers=opts.worker_count, timeout=opts.timeout, chunk_size=opts.chunk_size
    ).run


class _Sink:
    """Writes each result line at once and reports it."""

    def __init__(
        self, writer: ResultWriter, stats: BatchStats, on_record: RecordCallback | None
    ) -> None:
        self.writer = writer
        self.stats = stats
        self.on_record = on_record

    def outcome(self, case: CaseInput, outcome: Outcome) -> None:
        if outcome.ok:
            self.emit(ok_record(case, outcome.body, outcome.drugs), True)
        elif case.origins is not None:  # a patient of a table: name the file, line and column
            e = locate(case.origins, outcome.field, outcome.message, case.id)
            self.emit(error_record(case, CaseError(e.field, e.message, e.file, e.line, e.column)),
                      False)  # fmt: skip
        else:
            self.emit(error_record(case, CaseError(outcome.field, outcome.message)), False)

    def emit(self, line: str, ok: bool) -> None:
        self.writer.write(line)
        self.stats.written += 1
        self.stats.failed += not ok
        if self.on_record is not None:
            self.on_record(line, ok)


def _tasks(
    cases: Iterator[CaseInput], guard: IdGuard, pending: dict[int, CaseInput], sink: _Sink
) -> Iterator[Task]:
    """The cases to evaluate; unreadable and duplicate cases are recorded on the way."""
    for seq, case in enumerate(cases):
        admitted = guard.admit(case)
        if admitted is None:
            sink.stats.skipped += 1
        elif admitted.error is not None:
            sink.emit(error_record(admitted, admitted.error), False)
        else:
            pending[seq] = replace(admitted, data=None)
            yield seq, admitted.data


class IdGuard:
    """Keeps ids unique within a run and skips the ids a resumed run has already recorded."""

    def __init__(self, done: DigestSet | Iterable[str] = ()) -> None:
        self.done = done if isinstance(done, DigestSet) else DigestSet(done)
        self.seen = DigestSet()

    def admit(self, case: CaseInput) -> CaseInput | None:
        """The case to run (a duplicate id becomes an error record), or None to skip it."""
        if case.id in self.done:
            return None
        if case.id not in self.seen:
            self.seen.add(case.id)
            return case
        where = f"{case.source_file}:{case.line}" if case.line else case.source_file
        new_id, k = where, 1
        while new_id in self.seen:
            k += 1
            new_id = f"{where}#{k}"
        if new_id in self.done:
            return None
        self.seen.add(new_id)
        error = CaseError(
            "id",
            f"{where}: id: duplicate id '{case.id}' (ids must be unique "
            "within a batch; this case was recorded under its position)",
        )
        return replace(case, id=new_id, data=None, error=error)


def read_done_ids(path: str | Path) -> DigestSet:
    """The ids already recorded in an output file, for ``--resume``.

    A last line cut short by a kill (no newline, not valid JSON) is removed from the file; a
    complete last line missing only its newline gets one. Any other unreadable line is an
    :class:`InputError` naming ``file:line`` (the file is not ours to rewrite).
    """
    p = Path(path)
    done = DigestSet()
    if not p.exists():
        return done
    with p.open("rb+") as fh:
        offset, number = 0, 0
        for raw in fh:
            number += 1
            if not raw.strip():
                offset += len(raw)
                continue
            record = _parse_record(raw)
            if record is None and not raw.endswith(b"\n"):
                fh.truncate(offset)
                break
            if record is None:
                raise InputError(
                    f"{p}:{number}",
                    "not a batch result line",
                    expected='a JSON object with "id" and "ok"',
                )
            if not raw.endswith(b"\n"):
                fh.write(b"\n")
            done.add(record)
            offset += len(raw)
    return done


def _parse_record(raw: bytes) -> str | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if isinstance(record, dict) and "ok" in record:
        case_id = record.get("id")
        return case_id if isinstance(case_id, str) else None
    return None
