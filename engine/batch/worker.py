# SPDX-License-Identifier: Apache-2.0
"""The worker side of a batch: evaluate cases with a knowledge base compiled once.

:class:`Evaluator` loads and compiles the knowledge base when it is made (once per worker
process) and turns one case into an :class:`Outcome`. Every failure of one case is caught here,
so one bad case never stops a worker. :func:`serve` is the loop of a local worker process;
:func:`evaluate_chunk` is the task a Dask worker runs.

A task's payload is a :class:`~engine.batch.cases.CaseRef` (a case file or JSONL line the worker
reads itself), a :class:`~engine.batch.cases.CaseInput` read by the main process (a patient of a
table), or bare patient facts. For the first two the worker does everything per case that
does not need the whole run: it reads the case, evaluates it, writes the complete result line
as UTF-8 bytes and the small record the figures are computed from (:mod:`engine.batch.slim`),
so that the process writing the results only writes bytes and adds up small records. What it
reads is reported first, one :class:`Heads` message per chunk, before any of the chunk's
outcomes: the main process decides duplicates and ``--resume`` skips by id, in input order.
"""

from __future__ import annotations

import datetime as dt
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from engine.api import WARMUP_FACTS, diagnose
from engine.backends.base import get_matcher
from engine.batch.cases import CaseInput, CaseRef, encode_line, head_fields, ok_record
from engine.batch.exposure import courses_json, drug_courses
from engine.batch.handoff import SegmentWriter
from engine.batch.messages import Heads, Outcome, Task
from engine.batch.slim import ok_metrics
from engine.errors import InputError, LeukodxError
from engine.heap import freeze_long_lived
from engine.kb.load import load_knowledge_base

__all__ = [
    "CaseEvaluator", "ChunkResult", "Evaluator", "EvaluatorFactory", "Heads", "Outcome", "Task",
    "answer", "evaluate_chunk", "evaluate_chunk_guarded", "read_chunk", "serve",
]  # fmt: skip


class CaseEvaluator(Protocol):
    def evaluate(self, seq: int, data: Any) -> Outcome: ...


class Evaluator:
    """Runs :func:`engine.api.diagnose` on each case with one compiled knowledge base."""

    def __init__(self, rules: str | Path | None, backend: str) -> None:
        self.kb = load_knowledge_base(rules)
        self.backend = backend
        get_matcher(self.kb, backend)  # compile now: once per worker, not per case
        # One shorthand patient builds what every differential shares (explain's constants,
        # ask-next's plan) before the worker's long-lived objects are frozen (engine/heap.py).
        diagnose(WARMUP_FACTS, kb=self.kb, backend=backend)

    def evaluate(self, seq: int, data: Any) -> Outcome:
        """Bare facts in, the differential's JSON out."""
        return self._run(seq, data, None)

    def evaluate_case(self, seq: int, case: CaseInput) -> Outcome:
        """A read case in, its result line and metric record out (when it succeeds)."""
        return self._run(seq, case.data, case)

    def _run(self, seq: int, data: Any, case: CaseInput | None) -> Outcome:
        try:
            today = dt.date.today()
            differential = diagnose(data, kb=self.kb, backend=self.backend, today=today)
            body = differential.to_json(indent=None)
            drugs = drug_courses(data, self.kb, today)
        except InputError as exc:
            return Outcome(seq, False, field=exc.field, message=str(exc))
        except LeukodxError as exc:
            return Outcome(seq, False, field="(engine)", message=str(exc))
        except Exception as exc:  # noqa: BLE001 - one case's failure must not stop the batch
            return Outcome(
                seq, False, field="(engine)", message=f"internal error: {type(exc).__name__}: {exc}"
            )
        drugs_json = courses_json(drugs)
        if case is None:
            return Outcome(seq, True, body=body, drugs=drugs_json)
        line = encode_line(ok_record(case, body, drugs_json))
        return Outcome(
            seq, True, line=line, record=ok_metrics(head_fields(case), differential, drugs)
        )


def answer(evaluator: CaseEvaluator, seq: int, payload: Any) -> Outcome:
    """Evaluate one task's payload: a read case (with its head) or bare facts."""
    if isinstance(payload, CaseInput):
        evaluate_case = getattr(evaluator, "evaluate_case", None)
        if evaluate_case is not None:
            return evaluate_case(seq, payload)  # type: ignore[no-any-return]
        return evaluator.evaluate(seq, payload.data)
    return evaluator.evaluate(seq, payload)


def read_chunk(chunk: Sequence[Task]) -> tuple[Heads | None, list[Task]]:
    """Read the :class:`CaseRef` tasks of a chunk: their heads (None when there is none), and the
    tasks left to evaluate (a case that cannot be read is settled by its head)."""
    heads: list[tuple[int, CaseInput]] = []
    todo: list[Task] = []
    for seq, payload in chunk:
        if isinstance(payload, CaseRef):
            case = payload.read()
            heads.append((seq, replace(case, data=None)))
            if case.error is None:
                todo.append((seq, case))
        else:
            todo.append((seq, payload))
    return (Heads(heads) if heads else None), todo


EvaluatorFactory = Callable[[], CaseEvaluator]


def serve(conn: Connection, factory: EvaluatorFactory, handoff: str | None = None) -> None:
    """A local worker: say ready, then answer every chunk: its :class:`Heads` (when it has
    :class:`CaseRef` tasks), then one :class:`Outcome` per case left to evaluate. With a
    ``handoff`` folder, result lines are written there and only their place is sent
    (:mod:`engine.batch.handoff`).

    Ctrl-C is left to the parent, which decides what to keep; a closed pipe ends the worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    segments = SegmentWriter(handoff) if handoff is not None else None
    try:
        evaluator = factory()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("failed", str(exc) if isinstance(exc, LeukodxError) else repr(exc)))
        return
    freeze_long_lived()  # this process's knowledge base lives as long as it does
    conn.send(("ready", ""))
    inbox: queue.SimpleQueue[list[Task] | None] = queue.SimpleQueue()
    threading.Thread(target=_receive, args=(conn, inbox), daemon=True).start()
    try:
        while (chunk := inbox.get()) is not None:
            heads, todo = read_chunk(chunk)
            if heads is not None:
                conn.send(heads)
            for seq, payload in todo:
                conn.send(_handed_off(answer(evaluator, seq, payload), segments))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the parent has gone
    finally:
        if segments is not None:
            segments.close()


def _handed_off(outcome: Outcome, segments: SegmentWriter | None) -> Outcome:
    """The outcome with its result line left in the handoff folder, when there is one and the
    line could be written there (otherwise the line travels in the outcome)."""
    if segments is None or not outcome.line:
        return outcome
    spilled = segments.put(outcome.line)
    return outcome if spilled is None else replace(outcome, line=b"", spilled=spilled)


def _receive(conn: Connection, inbox: queue.SimpleQueue[list[Task] | None]) -> None:
    """Take chunks off the pipe as soon as they come, on a thread of their own: the parent sends
    the next chunk while this worker is still on one (so it never waits for work), and a chunk
    it sends must not block on a full pipe while this worker blocks sending it a result."""
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            chunk = None
        inbox.put(chunk)
        if chunk is None:
            return


_EVALUATORS: dict[str, CaseEvaluator] = {}
_EVALUATORS_LOCK = threading.Lock()


def _evaluator(factory: EvaluatorFactory) -> CaseEvaluator:
    """This process's evaluator for ``factory`` (a picklable partial), made on first use."""
    key = repr(factory)
    with _EVALUATORS_LOCK:
        evaluator = _EVALUATORS.get(key)
        if evaluator is None:
            evaluator = _EVALUATORS[key] = factory()
    return evaluator


def evaluate_chunk(chunk: Sequence[Task], factory: EvaluatorFactory) -> list[Outcome]:
    """A Dask task: evaluate a chunk with this process's evaluator."""
    evaluator = _evaluator(factory)
    return [answer(evaluator, seq, payload) for seq, payload in chunk]


class _Guarded:
    """Evaluates cases on one helper thread, so that a case past its time limit can be left
    behind: the thread is abandoned (a Python thread cannot be killed) and the worker reported
    as stuck, for the caller to restart its process."""

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None

    def run(self, evaluator: CaseEvaluator, chunk: Sequence[Task], timeout: float) -> ChunkResult:
        outcomes: list[Outcome] = []
        stuck = False
        for seq, data in chunk:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(1, thread_name_prefix="leukodx-case")
            future = self.pool.submit(answer, evaluator, seq, data)
            try:
                outcomes.append(future.result(timeout=timeout))
            except FutureTimeout:
                self.pool.shutdown(wait=False)
                self.pool, stuck = None, True
                outcomes.append(
                    Outcome(
                        seq,
                        False,
                        field="(timeout)",
                        message=(f"timed out: no result after {timeout:g} s (worker restarted)"),
                    )
                )
        return ChunkResult(outcomes, _worker_address() if stuck else None)


@dataclass(frozen=True)
class ChunkResult:
    """A Dask task's answer: the outcomes, and the worker to restart when a case got stuck."""

    outcomes: list[Outcome]
    restart: str | None = None


_GUARDS = threading.local()


def evaluate_chunk_guarded(
    chunk: Sequence[Task], factory: EvaluatorFactory, timeout: float | None
) -> ChunkResult:
    """A Dask task with a per-case time limit (``None``: no limit)."""
    if timeout is None:
        return ChunkResult(evaluate_chunk(chunk, factory))
    guard = getattr(_GUARDS, "guard", None)
    if guard is None:
        guard = _GUARDS.guard = _Guarded()
    return guard.run(_evaluator(factory), chunk, timeout)


def _worker_address() -> str | None:
    try:
        from distributed import get_worker
    except ImportError:  # pragma: no cover - only called inside a Dask worker
        return None
    try:
        return str(get_worker().address)
    except ValueError:  # pragma: no cover - not inside a worker
        return None
