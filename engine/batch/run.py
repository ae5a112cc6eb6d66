# SPDX-License-Identifier: Apache-2.0
"""``run_batch()``: many cases in, one JSON line per case out, streaming end to end.

Cases are read lazily (:mod:`engine.batch.cases`), evaluated in worker processes
(:mod:`engine.batch.pool`, or a Dask cluster with :mod:`engine.batch.cluster`) and written the
moment each one finishes, so memory stays flat whatever the number of cases, and an interrupted run
leaves a valid JSONL of every finished case. ``resume=True`` skips the ids already in ``out`` and
appends the rest. A case that is invalid, crashes its worker or runs out of time becomes an error
record; only an unusable knowledge base or backend stops the batch (it raises).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from engine.batch.cases import (
    CaseError,
    CaseInput,
    IdGuard,
    ResultWriter,
    error_record,
    iter_cases,
    ok_record,
    read_done_ids,
)
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
    backend: str = "experta"
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
) -> BatchStats:  # fmt: skip
    """Evaluate every case under ``paths`` into the JSONL file ``out``.

    Raises :class:`~engine.errors.InputError` for a missing input path or an unreadable ``out``
    on resume, :class:`~engine.errors.KnowledgeBaseError` for an invalid knowledge base, and
    :class:`~engine.errors.LeukodxError` when no worker can start.
    """
    opts = options or BatchOptions()
    if opts.executor not in EXECUTORS:
        raise InputError(
            "executor", f"unknown executor '{opts.executor}'", expected=" or ".join(EXECUTORS)
        )
    paths = list(paths)
    load_knowledge_base(opts.rules)  # fail fast (exit 2) before any worker starts
    guard = IdGuard(read_done_ids(out) if resume else ())
    stats = BatchStats()
    with ResultWriter(out, append=resume) as writer:
        sink = _Sink(writer, stats, on_record)
        pending: dict[int, CaseInput] = {}
        tasks = _tasks(iter_cases(paths), guard, pending, sink)
        for outcome in _executor(opts)(tasks):
            sink.outcome(pending.pop(outcome.seq), outcome)
    return stats


def _executor(opts: BatchOptions) -> Callable[[Iterator[Task]], Iterator[Outcome]]:
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
            self.emit(ok_record(case, outcome.body), True)
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
