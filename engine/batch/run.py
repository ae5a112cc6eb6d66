# SPDX-License-Identifier: Apache-2.0
"""``run_batch()``: many cases in, one JSON line per case out, streaming end to end.

Cases are listed lazily (:mod:`engine.batch.cases`), read and evaluated in worker processes
(:mod:`engine.batch.pool`, or a Dask cluster with :mod:`engine.batch.cluster`) and written the
moment each one finishes and its id is admitted (:mod:`engine.batch.ledger`), so memory stays flat
whatever the number of cases, and an interrupted run leaves a valid JSONL of the cases written.
Local workers leave each result line in a handoff file and send its place with the small record
the figures need; the kernel copies the line into the results file
(:mod:`engine.batch.handoff`), so the process that writes spends little per case (with two
workers on two cores it competes with them). Dask workers send the line's bytes.
``resume=True`` skips the ids already in ``out`` and appends the rest (:func:`read_done_ids`;
ids are kept unique within a run by :class:`IdGuard`). A case that is invalid, unreadable,
crashes its worker or runs out of time becomes an error record; only an unusable knowledge base
or backend, or an output that cannot be written (:class:`~engine.batch.cases.OutputError`),
stops the batch (it raises). ``out`` and the other output files named in ``exclude`` are never
read as input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends.base import DEFAULT_BACKEND
from engine.batch.cases import CaseInput, CaseRef, ResultWriter, check_sources, iter_case_refs
from engine.batch.digests import DigestSet
from engine.batch.handoff import HandoffFolder
from engine.batch.ledger import BatchStats, DoneCallback, IdGuard, Ledger, RecordCallback
from engine.batch.messages import Heads, Outcome, Task
from engine.batch.metrics import Tally
from engine.batch.tables import TableSpec
from engine.cores import usable_cores
from engine.errors import InputError
from engine.kb.load import load_knowledge_base

if TYPE_CHECKING:
    from engine.batch.worker import CaseEvaluator

__all__ = [
    "BatchOptions", "BatchStats", "DigestSet", "DoneCallback", "IdGuard", "RecordCallback",
    "count_recorded", "read_done_ids", "run_batch",
]  # fmt: skip

EXECUTORS: tuple[str, ...] = ("local", "dask")
DEFAULT_TIMEOUT = 60.0
DEFAULT_CHUNK = 16
#: Outcomes the ledger may hold while an earlier case is being read, before no new case is taken.
HOLD = 256


@dataclass(frozen=True)
class BatchOptions:
    """How to run: knowledge base, backend, parallelism and the per-case time limit."""

    rules: str | None = None
    backend: str = DEFAULT_BACKEND
    workers: int = 0  # 0: one per core the process may use (engine.cores)
    timeout: float | None = DEFAULT_TIMEOUT  # seconds per case; None or 0: no limit
    chunk_size: int = DEFAULT_CHUNK
    executor: str = "local"
    scheduler: str | None = None  # Dask scheduler address; None: a LocalCluster

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else usable_cores()


def run_batch(
    paths: Iterable[str | Path], out: str | Path, options: BatchOptions | None = None, *,
    resume: bool = False, on_record: RecordCallback | None = None,
    exclude: Iterable[str | Path] = (), tables: TableSpec | None = None,
    on_done: DoneCallback | None = None,
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
    stats = BatchStats()
    done = read_done_ids(out, stats.tally) if resume else DigestSet()
    # Workers read the cases, except where the main process must know ids before it sends
    # them out (--resume skips done ids unevaluated), and on Dask (its workers may be on
    # machines that do not have the files).
    read_here = bool(len(done)) or opts.executor != "local"
    with ResultWriter(out, append=resume) as writer, ExitStack() as stack:
        # Local workers leave their result lines in files for the kernel to copy into ``out``
        # (engine.batch.handoff); Dask workers may be on other machines and send them.
        handoff = _handoff_folder(stack) if opts.executor == "local" else None
        ledger = Ledger(writer, IdGuard(done), stats, on_record, on_done=on_done, handoff=handoff)
        items = iter_case_refs(paths, outputs, tables=tables)
        tasks = _tasks(items, ledger, read_here=read_here)
        where = str(handoff.path) if handoff is not None else None
        run = _executor(opts, hold=lambda: ledger.waiting >= HOLD, handoff=where)
        with closing(run(tasks)) as messages:  # workers stop even when a write fails
            for message in messages:
                if isinstance(message, Heads):
                    ledger.heads(message)
                else:
                    ledger.outcome(message)
    return stats


def _handoff_folder(stack: ExitStack) -> HandoffFolder | None:
    """A handoff folder for the local workers, removed with ``stack``; None (lines then travel
    over the workers' pipes, as they always could) when no temporary folder can be made."""
    try:
        return stack.enter_context(HandoffFolder())
    except OSError:
        return None


def _executor(
    opts: BatchOptions, *, hold: Callable[[], bool], handoff: str | None
) -> Callable[[Iterator[Task]], Generator[Outcome | Heads, None, None]]:
    rules = str(opts.rules) if opts.rules is not None else None
    factory = partial(new_evaluator, rules, opts.backend)
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
        factory, workers=opts.worker_count, timeout=opts.timeout, chunk_size=opts.chunk_size,
        hold=hold, handoff=handoff,
    ).run  # fmt: skip


def new_evaluator(rules: str | None, backend: str) -> CaseEvaluator:
    """A worker's :class:`~engine.batch.worker.Evaluator` (called in the worker: the main process
    does not import the engine)."""
    from engine.batch.worker import Evaluator

    return Evaluator(rules, backend)


def _tasks(
    items: Iterator[CaseRef | CaseInput], ledger: Ledger, *, read_here: bool
) -> Iterator[Task]:
    """The cases to evaluate, numbered in input order; what is settled without a worker
    (unreadable, duplicate, done) is recorded by the ledger on the way."""
    for item in items:
        task = ledger.take(item.read() if read_here and isinstance(item, CaseRef) else item)
        if task is not None:
            yield task


def read_done_ids(path: str | Path, tally: Tally | None = None) -> DigestSet:
    """The ids already recorded in an output file, for ``--resume`` (each line is added to
    ``tally`` when given, so the run's figures cover the whole file).

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
            done.add(record["id"])
            if tally is not None:
                tally.add(record)
            offset += len(raw)
    return done


def count_recorded(path: str | Path) -> int:
    """How many complete result lines an output file holds: the cases a ``--resume`` will skip,
    for a progress total. Lines are counted, not parsed (a result line is often 100 KB or more):
    :func:`read_done_ids` parses them once, when the run starts."""
    p = Path(path)
    if not p.exists():
        return 0
    with p.open("rb") as fh:
        return sum(1 for raw in fh if raw.endswith(b"\n") and not raw.isspace())


def _parse_record(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if isinstance(record, dict) and "ok" in record and isinstance(record.get("id"), str):
        return record
    return None
